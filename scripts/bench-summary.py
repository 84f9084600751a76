#!/usr/bin/env python3
"""Summarise scripts/bench-imap.sh results as Markdown tables."""
import json
import os
import statistics
import sys

out, rounds = sys.argv[1], int(sys.argv[2])


def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.load(f)


print("### Login storm (32 concurrent clients; connect, AUTHENTICATE PLAIN, NOOP, LOGOUT)\n")
print("| target | logins/s (median of %d) | p50 ms | p99 ms | target CPU µs/login | errors |" % rounds)
print("| --- | --- | --- | --- | --- | --- |")
med = {}
for label in ("direct-plain", "proxy-plain", "proxy-tls", "direct-tls", "proxy-tls-resumed",
              "proxy-tls12", "proxy-tls12-resumed"):
    runs = [load("%s-%d" % (label, r)) for r in range(1, rounds + 1)]
    rate = statistics.median(r["ops_per_sec"] for r in runs)
    med[label] = rate
    p50 = statistics.median(r["latency"]["p50_ms"] for r in runs)
    p99 = statistics.median(r["latency"]["p99_ms"] for r in runs)
    cpu = statistics.median(r.get("target_cost", {}).get("cpu_us_per_op", 0) for r in runs)
    errs = sum(r["errors"] for r in runs)
    print("| %s | %.0f | %.2f | %.2f | %.0f | %d |" % (label, rate, p50, p99, cpu, errs))
print()
print("Ratio proxy-plain / direct: %.2f; proxy-tls / direct: %.2f (same run, interleaved rounds)\n"
      % (med["proxy-plain"] / med["direct-plain"], med["proxy-tls"] / med["direct-plain"]))
print("TLS: proxy full handshakes / crypto/tls's own (direct-tls): %.2f; resumed / full through the proxy: %.2f\n"
      % (med["proxy-tls"] / med["direct-tls"], med["proxy-tls-resumed"] / med["proxy-tls"]))
print("TLS 1.2 clients: resumed / full through the proxy: %.2f\n"
      % (med["proxy-tls12-resumed"] / med["proxy-tls12"]))

if os.path.exists(os.path.join(out, "direct-open-1.json")):
    print("### Open loop (logins started at a fixed rate; latency from when each was due)\n")
    print("| target | asked logins/s | done logins/s | p50 ms | p99 ms | p99.9 ms | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    p99s = {}
    for label in ("direct-open", "proxy-open"):
        runs = [load("%s-%d" % (label, r)) for r in range(1, rounds + 1)]
        p99s[label] = statistics.median(r["latency"]["p99_ms"] for r in runs)
        print("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %d |" % (
            label, runs[0].get("rate", 0), statistics.median(r["ops_per_sec"] for r in runs),
            statistics.median(r["latency"]["p50_ms"] for r in runs), p99s[label],
            statistics.median(r["latency"]["p99_9_ms"] for r in runs), sum(r["errors"] for r in runs)))
    print()
    print("Added p99 (proxy − direct, medians): %.2f ms\n" % (p99s["proxy-open"] - p99s["direct-open"]))

print("### Idle pre-auth connections\n")
def heap(kind, n):
    vals = {}
    with open(os.path.join(out, "idle-%s-heap%d.txt" % (kind, n))) as f:
        for line in f:
            k, v = line[2:].split(" = ")
            vals[k] = int(v.split(" / ")[0])
    return vals


print("| leg | connections | RSS start → established | RSS per connection | live heap + stacks per connection (after GC) | goroutines start → established |")
print("| --- | --- | --- | --- | --- | --- |")
for kind in ("plain", "tls"):
    d = load("idle-" + kind)
    s = {x["label"]: x for x in d["target_samples"]}
    st, est = s["start"], s["established"]
    per = (est["rss_kib"] - st["rss_kib"]) * 1024 / max(d["established"], 1)
    h0, h1 = heap(kind, 0), heap(kind, 1)
    live = (h1["HeapAlloc"] + h1["Stack"] - h0["HeapAlloc"] - h0["Stack"]) / max(d["established"], 1)
    print("| %s | %d | %d KiB → %d KiB | %.0f B | %.0f B | %s → %s |" % (
        kind, d["established"], st["rss_kib"], est["rss_kib"], per, live,
        st.get("goroutines", "?"), est.get("goroutines", "?")))
