#!/usr/bin/env bash
# How the IMAP login figures change with switchyard's event loops
# ([server] threads = N), on loopback, rounds interleaved in one run:
#
#   direct            the load generator straight to the mock backend
#   threads=1         switchyard with one gnet event loop
#   threads=2         switchyard with two event loops (one per CPU here)
#   threads=1,gmp=1   one event loop and GOMAXPROCS=1: the whole proxy,
#                     dials and splice engine included, on one core's worth
#                     of Go scheduler
#
# The three proxies run side by side (same configuration but threads), in
# front of one mock backend (switchyard-bench --mock-backend, plaintext,
# forwarding = "xclient"); a cell loads one of them while the others sit
# idle. Each cell is the login storm of scripts/bench-imap.sh: CONCURRENCY
# clients, connect, AUTHENTICATE PLAIN (SASL-IR), NOOP, LOGOUT; --pid
# samples the loaded proxy (or the mock, for direct). The order of the cells
# rotates from round to round. Every process started here is stopped by its
# PID at exit; every loop is bounded.
#
# Usage: scripts/bench-cores.sh [ROUNDS] [SECONDS] [CONCURRENCY]
#   defaults: 3 rounds of 8 s, 32 clients.
# Environment: BENCH_OUT (raw JSON, default /tmp/switchyard-bench-cores),
# BENCH_BIN (where the Go binaries are built, default bin). Prints a
# Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
case "${1:-}" in -h|--help) bench_help; exit 0 ;; esac
[ $# -le 3 ] || { echo "usage: $0 [ROUNDS] [SECONDS] [CONCURRENCY]" >&2; exit 2; }
rounds=${1:-3}; secs=${2:-8}; conc=${3:-32}
num ROUNDS "$rounds" 1 20; num SECONDS "$secs" 1 120; num CONCURRENCY "$conc" 1 1000
need_python

bench_out /tmp/switchyard-bench-cores
bench_bin ./cmd/switchyard ./cmd/switchyard-bench

bench_tmp cores

users=1000
cells=(direct threads1 threads2 threads1-gmp1)
life=$(( rounds * ${#cells[@]} * (secs + 5) + 120 ))s
bench_mock mock 0 "$life" --users "$users" --password password; mockpid=$bgpid; mock=$bgport

declare -A tport tpid
tport[direct]=$mock; tpid[direct]=$mockpid
start_proxy() { # start_proxy CELL THREADS [GOMAXPROCS]
	local cell=$1 threads=$2 gmp=${3:-} p
	tport[$cell]=$(port)
	cat >"$tmp/$cell.toml" <<TOML
[server]
threads = $threads
backend_timeout = "5s"
$(sy_listener plain imap "${tport[$cell]}")
max_connections = 19000
max_connections_per_ip = 0
$(sy_destination mock xclient "imap=$mock")
$(sy_routing mock)
$(sy_plain_auth imap)
TOML
	cp "$tmp/$cell.toml" "$out/$cell.toml"
	if [ -n "$gmp" ]; then
		GOMAXPROCS=$gmp "$bin/switchyard" --config "$tmp/$cell.toml" --log-level warn >"$out/$cell.log" 2>&1 &
	else
		"$bin/switchyard" --config "$tmp/$cell.toml" --log-level warn >"$out/$cell.log" 2>&1 &
	fi
	p=$!; pids+=("$p"); tpid[$cell]=$p
	waitport "${tport[$cell]}" "$p"
}
start_proxy threads1 1
start_proxy threads2 2
start_proxy threads1-gmp1 1 1

# cell CELL FILE: one login storm against CELL's proxy.
cell() {
	local c=$1 f=$2
	"$bin/switchyard-bench" --scenario login --target 127.0.0.1:"${tport[$c]}" --users "$users" --password password \
		--concurrency "$conc" --duration "${secs}s" --pid "${tpid[$c]}" --progress 0 --json "$f.json" >"$f.txt" 2>&1 ||
		{ echo "  $c: bench failed (see $f.txt)" >&2; failed=1; }
}
loadavg start
failed=0
bench_rounds "$rounds" cell
loadavg end
for c in threads1 threads2 threads1-gmp1; do
	grep -E '^Threads' /proc/"${tpid[$c]}"/status | sed "s/^/$c /" >>"$out/os-threads.txt" || true
done
bench_meta "rounds=$rounds seconds=$secs concurrency=$conc"

python3 -B - "$out" "$rounds" "$conc" "${cells[@]}" <<'PY'
import os, statistics, sys
from scripts.bench_results import load_json
out, rounds, conc, cells = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
label = {"direct": "direct (mock backend)", "threads1": "switchyard, threads = 1", "threads2": "switchyard, threads = 2",
         "threads1-gmp1": "switchyard, threads = 1, GOMAXPROCS=1"}


def load(c, r):
    return load_json(os.path.join(out, "%s-%d.json" % (c, r)))


def med(xs):
    return statistics.median(xs) if xs else 0.0


print("%d rounds × %s clients, medians over the rounds, cells interleaved (order rotated each round).\n" % (rounds, conc))
print("| target | logins/s | × threads = 1 | p50 ms | p99 ms | target CPU % of one core | target CPU µs/login | errors |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
rate = {}
for c in cells:
    runs = [x for x in (load(c, r) for r in range(1, rounds + 1)) if x]
    if not runs:
        print("| %s | failed | | | | | | |" % label[c])
        continue
    rate[c] = med([x["ops_per_sec"] for x in runs])
    cost = [x.get("target_cost") or {} for x in runs]
    rel = "%.2f" % (rate[c] / rate["threads1"]) if rate.get("threads1") and c != "direct" else "–"
    print("| %s | %.0f | %s | %.2f | %.2f | %.0f | %.0f | %d |" % (
        label[c], rate[c], rel, med([x["latency"]["p50_ms"] for x in runs]), med([x["latency"]["p99_ms"] for x in runs]),
        med([k.get("cpu_percent", 0) for k in cost]), med([k.get("cpu_us_per_op", 0) for k in cost]), sum(x["errors"] for x in runs)))
print()
per = []
for c in cells:
    vals = [x["ops_per_sec"] for x in (load(c, r) for r in range(1, rounds + 1)) if x]
    per.append("%s: %s" % (c, " / ".join("%.0f" % v for v in vals) or "-"))
print("Logins/s per round: " + "; ".join(per) + ".")
try:
    with open(os.path.join(out, "os-threads.txt")) as f:
        print("OS threads of each proxy at the end: " + "; ".join(l.split()[0] + " " + l.split()[-1] for l in f if l.strip()) + ".")
except OSError:
    pass
PY
loadavg_line
exit "$failed"
