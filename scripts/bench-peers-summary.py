#!/usr/bin/env python3
"""Summarise scripts/bench-peers.sh results as Markdown tables.

Usage: bench-peers-summary.py OUTDIR

Reads OUTDIR/meta.txt, login-<target>-<round>.{json,proc.json,mock.json},
idle-<target>.{json,proc.json}, bridged-<target>.{json,proc.json} and
skipped.txt. Missing results are shown as "n/a", never invented.
"""
import json
import os
import statistics
import sys

from bench_results import load_json

ORDER = ["direct", "gnet", "gnet-enroll", "haproxy", "baseline", "switchyard", "nginx", "dovecot"]


def load_lines(path):
    """The JSON lines written by the script's sampler, by label."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    d = json.loads(line)
                    out[d["label"]] = d
    except (OSError, ValueError):
        pass
    return out


def meta(outdir):
    m = {}
    try:
        with open(os.path.join(outdir, "meta.txt")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if k:
                    m[k] = v
    except OSError:
        pass
    return m


def fmt(v, spec="%.0f"):
    return "n/a" if v is None else spec % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def matrix(title, targets, values, better):
    """A ratio table: row value / column value."""
    ts = [t for t in targets if values.get(t) is not None]
    if len(ts) < 2:
        return
    print("%s (row ÷ column; %s is better)\n" % (title, better))
    print("| | " + " | ".join(ts) + " |")
    print("| --- |" + " --- |" * len(ts))
    for r in ts:
        cells = []
        for c in ts:
            cells.append("–" if r == c else fmt(ratio(values[r], values[c]), "%.2f"))
        print("| **%s** | %s |" % (r, " | ".join(cells)))
    print()


def login_table(outdir, targets, rounds):
    print("### Login storm (32 concurrent clients; connect, AUTHENTICATE PLAIN with SASL-IR, NOOP, LOGOUT)\n")
    print("| target | logins/s (median of %d) | × direct | p50 ms | p99 ms | p99.9 ms | added p50 / p99 ms | "
          "proxy CPU µs/login | backend CPU µs/login | errors |" % rounds)
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rate, p50s, p99s = {}, {}, {}
    rows = {}
    for t in targets:
        runs, cpu, mock = [], [], []
        for r in range(1, rounds + 1):
            base = os.path.join(outdir, "login-%s-%d" % (t, r))
            d = load_json(base + ".json")
            if not d:
                continue
            runs.append(d)
            ok = d.get("ops", 0)
            for name, acc in ((".proc.json", cpu), (".mock.json", mock)):
                s = load_lines(base + name)
                if ok > 0 and "before" in s and "after" in s:
                    acc.append((s["after"]["cpu_s"] - s["before"]["cpu_s"]) * 1e6 / ok)
        if not runs or sum(x.get("ops", 0) for x in runs) == 0:
            rows[t] = None
            if runs:
                kinds = {}
                for x in runs:
                    for k in x.get("errors_by_kind") or []:
                        kinds[k["kind"]] = kinds.get(k["kind"], 0) + k["count"]
                rows[t] = ", ".join("%s: %d" % kv for kv in sorted(kinds.items())) or "no login succeeded"
            continue
        rate[t] = statistics.median(x["ops_per_sec"] for x in runs)
        p50s[t] = statistics.median(x["latency"]["p50_ms"] for x in runs)
        p99s[t] = statistics.median(x["latency"]["p99_ms"] for x in runs)
        p999 = statistics.median(x["latency"]["p99_9_ms"] for x in runs)
        errs = sum(x["errors"] for x in runs)
        kinds = {}
        for x in runs:
            for k in x.get("errors_by_kind") or []:
                kinds[k["kind"]] = kinds.get(k["kind"], 0) + k["count"]
        rows[t] = (runs, cpu, mock, p999, errs, kinds)
    for t in targets:
        if rows.get(t) is None or isinstance(rows[t], str):
            print("| %s | n/a (%s) | | | | | | | | |" % (t, rows.get(t) or "no result"))
            continue
        runs, cpu, mock, p999, errs, kinds = rows[t]
        added = "–"
        ref = "direct-open" if t.endswith("-open") else "direct"
        if t != ref and ref in p50s:
            added = "%.2f / %.2f" % (p50s[t] - p50s[ref], p99s[t] - p99s[ref])
        pcpu = "(the backend)" if t == "direct" else fmt(statistics.median(cpu) if cpu else None)
        e = str(errs)
        if kinds:
            e += " (" + ", ".join("%s: %d" % kv for kv in sorted(kinds.items())) + ")"
        print("| %s | %.0f | %s | %.2f | %.2f | %.2f | %s | %s | %s | %s |" % (
            t, rate[t], fmt(ratio(rate[t], rate.get(ref)), "%.2f"), p50s[t], p99s[t], p999, added,
            pcpu, fmt(statistics.median(mock) if mock else None), e))
    print()
    if any(t.endswith("-open") for t in targets):
        print("Rows `-open`: an open loop, a fixed number of logins started per second whatever the target "
              "does, latency counted from when each was due; added latency against `direct-open`.\n")
    matrix("Login rate ratios", [t for t in targets if not t.endswith("-open")], rate, "higher")


def memory_table(outdir, targets, scenario, title):
    print("### %s\n" % title)
    print("| target | sessions open / asked | alive after hold | processes | RSS start → established | "
          "RSS per session | anon RSS per session | RSS per session, end of hold | fds per session | open rate /s | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    per = {}
    for t in targets:
        d = load_json(os.path.join(outdir, "%s-%s.json" % (scenario, t)))
        s = load_lines(os.path.join(outdir, "%s-%s.proc.json" % (scenario, t)))
        if not d or "start" not in s or "established" not in s:
            print("| %s | n/a (no result) | | | | | | | | | |" % t)
            continue
        n = d.get("established", 0)
        st, es = s["start"], s["established"]
        rss = anon = fds = held = None
        if n > 0 and "held" in s:
            held = (s["held"]["rss_kib"] - st["rss_kib"]) * 1024.0 / n
        if n > 0:
            rss = (es["rss_kib"] - st["rss_kib"]) * 1024.0 / n
            if "anon_kib" in es and "anon_kib" in st:
                anon = (es["anon_kib"] - st["anon_kib"]) * 1024.0 / n
            fds = (es["fds"] - st["fds"]) / n
        if n > 0:
            per[t] = rss
        alive = d.get("alive", -1)
        kinds = ", ".join("%s: %d" % (k["kind"], k["count"]) for k in d.get("errors_by_kind") or [])
        e = str(d.get("errors", 0)) + (" (%s)" % kinds if kinds else "")
        print("| %s | %d / %d | %s | %d | %d KiB → %d KiB | %s B | %s B | %s B | %s | %.0f | %s |" % (
            t, n, d.get("conns", 0), "not checked" if alive < 0 else str(alive), es["procs"],
            st["rss_kib"], es["rss_kib"], fmt(rss), fmt(anon), fmt(held), fmt(fds, "%.2f"), d.get("ops_per_sec", 0), e))
    print()
    matrix("RSS per session ratios", targets, per, "lower")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench-peers-summary.py OUTDIR")
    outdir = sys.argv[1]
    m = meta(outdir)
    def order(t):
        base, _, tls = t.removesuffix("-open").partition("-tls")
        return (t.endswith("-open"), ORDER.index(base) if base in ORDER else len(ORDER), t if tls else "")
    targets = sorted((t for t in m.get("targets", "").split() if t), key=order)
    login_targets = sorted((t for t in m.get("login_targets", m.get("targets", "")).split() if t), key=order)
    rounds = int(m.get("rounds", "1"))
    print("Run: %s rounds × %s s login storm; %s idle pre-auth connections; %s bridged sessions; "
          "held %s s; %s CPUs, Linux %s, %s.\n" % (
              m.get("rounds"), m.get("seconds"), m.get("idle"), m.get("bridged"), m.get("hold"),
              m.get("nproc"), m.get("kernel"), m.get("go")))
    for k in ("haproxy", "nginx", "dovecot"):
        if k in m:
            print("- %s" % m[k])
    print()
    try:
        with open(os.path.join(outdir, "skipped.txt")) as f:
            skipped = [line.strip() for line in f if line.strip()]
    except OSError:
        skipped = []
    if skipped:
        print("Skipped: " + "; ".join(skipped) + "\n")
    login_table(outdir, login_targets, rounds)
    memory_table(outdir, targets, "idle",
                 "Idle pre-auth connections (greeting read, then silent; fresh target; all its processes)")
    memory_table(outdir, targets, "bridged",
                 "Idle authenticated (bridged) sessions (logged in, then silent; fresh target; all its processes)")


if __name__ == "__main__":
    main()
