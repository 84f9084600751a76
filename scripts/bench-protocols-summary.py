#!/usr/bin/env python3
"""Summarise scripts/bench-protocols.sh results as a Markdown table.

Usage: bench-protocols-summary.py OUT_DIR ROUNDS [CONCURRENCY]
Reads OUT_DIR/{direct,proxy}-<protocol>-<round>.json (switchyard-bench
--json) and prints medians over the rounds.
"""
import json
import os
import statistics
import sys

out, rounds = sys.argv[1], int(sys.argv[2])
conc = sys.argv[3] if len(sys.argv) > 3 else "32"
PROTOS = ("pop3", "submission", "managesieve")


def load(label, proto, r):
    with open(os.path.join(out, "%s-%s-%d.json" % (label, proto, r))) as f:
        return json.load(f)


def med(runs, f):
    return statistics.median(f(x) for x in runs)


print("%d rounds × %s clients, medians over the rounds; direct and proxy "
      "interleaved per protocol.\n" % (rounds, conc))
print("| protocol | direct logins/s | proxy logins/s | proxy / direct | proxy CPU µs/login "
      "| p50 ms direct / proxy | p99 ms direct / proxy | errors |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for p in PROTOS:
    d = [load("direct", p, r) for r in range(1, rounds + 1)]
    x = [load("proxy", p, r) for r in range(1, rounds + 1)]
    dr, xr = med(d, lambda j: j["ops_per_sec"]), med(x, lambda j: j["ops_per_sec"])
    cpu = med(x, lambda j: (j.get("target_cost") or {}).get("cpu_us_per_op", 0))
    errs = sum(j["errors"] for j in d + x)
    print("| %s | %.0f | %.0f | %.2f | %.0f | %.2f / %.2f | %.2f / %.2f | %d |" % (
        p, dr, xr, xr / dr if dr else 0, cpu,
        med(d, lambda j: j["latency"]["p50_ms"]), med(x, lambda j: j["latency"]["p50_ms"]),
        med(d, lambda j: j["latency"]["p99_ms"]), med(x, lambda j: j["latency"]["p99_ms"]),
        errs))
print()
spread = []
for p in PROTOS:
    rates = [load("proxy", p, r)["ops_per_sec"] for r in range(1, rounds + 1)]
    spread.append("%s %s" % (p, " / ".join("%.0f" % v for v in rates)))
print("Proxy logins/s per round: " + "; ".join(spread) + ".")
la = []
for name in ("loadavg-start", "loadavg-end"):
    try:
        with open(os.path.join(out, name)) as f:
            la.append(" ".join(f.read().split()[:3]))
    except OSError:
        pass
if len(la) == 2:
    print("Load average (1/5/15 min) at start: %s; at end: %s." % (la[0], la[1]))
