#!/usr/bin/env bash
# Mail delivery (port 25 SMTP and LMTP) through switchyard vs straight to the
# backend, on loopback, every party in its own process:
#
#   direct-lmtp       the load generator straight to the mock LMTP backend
#   routing-lmtp      switchyard's lmtp listener with recipient_routing = true:
#                     the proxy speaks the envelope, routes each RCPT through
#                     the mapping (no mapping here: every recipient goes to
#                     the default destination, so no 452 4.5.3), opens a
#                     backend leg, replays LHLO, MAIL, RCPT, relays DATA
#   direct-smtp       straight to the mock SMTP backend
#   passthrough-smtp  switchyard's smtp listener in pass-through mode
#                     (routing.smtp_passthrough_destination, forwarding =
#                     "none": the connection is bridged raw)
#
# Two mock backends (switchyard-bench --mock-backend --mock-protocol lmtp /
# smtp: bench/mocksmtp without AUTH, counting messages), one switchyard, and
# `switchyard-bench --scenario deliver` (each client: one connection,
# LHLO/EHLO, then MAIL, RCPT × RECIPIENTS, DATA, the message, the final
# reply[s], again and again; MAIL, RCPT and DATA pipelined) with 1 KiB and
# 1 MiB messages, cells interleaved round by round. --pid samples the target
# from /proc: for direct the mock itself, for switchyard the proxy only.
# Every process started here is stopped by its PID at exit.
#
# Usage: scripts/bench-deliver.sh [--direct-only] [--recipients K] [--per-connection N]
#                                 [ROUNDS] [SECONDS] [CONCURRENCY]
#   defaults: 3 rounds of 5 s, 8 clients, 1 recipient, all messages of a
#   client on one connection (--per-connection 1: a new connection each).
#   --direct-only skips switchyard (the direct cells alone).
# Environment: BENCH_OUT (raw JSON and logs, default
# /tmp/switchyard-bench-deliver), BENCH_BIN (where the Go binaries are built,
# default bin). Prints Markdown tables on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

direct_only=0; rcpts=1; perconn=0; pos=()
while [ $# -gt 0 ]; do
	case "$1" in
	--direct-only) direct_only=1 ;;
	--recipients) rcpts=${2:-}; shift ;;
	--per-connection) perconn=${2:-}; shift ;;
	-h|--help) bench_help; exit 0 ;;
	-*) echo "$0: unknown option $1" >&2; exit 2 ;;
	*) pos+=("$1") ;;
	esac
	shift
done
[ "${#pos[@]}" -le 3 ] || { echo "usage: $0 [--direct-only] [--recipients K] [--per-connection N] [ROUNDS] [SECONDS] [CONCURRENCY]" >&2; exit 2; }
rounds=${pos[0]:-3}; secs=${pos[1]:-5}; conc=${pos[2]:-8}
num ROUNDS "$rounds" 1 20; num SECONDS "$secs" 1 120; num CONCURRENCY "$conc" 1 1000
num --recipients "$rcpts" 1 100; num --per-connection "$perconn" 0 1000000
need_python

bench_out /tmp/switchyard-bench-deliver
builds=(./cmd/switchyard ./cmd/switchyard-bench)
[ "$direct_only" = 1 ] && builds=(./cmd/switchyard-bench)
bench_bin "${builds[@]}"

bench_tmp deliver

# Recipients user0..user999@example.org; the mocks accept any recipient.
users=1000
sizes=(1024 1048576)
# The mocks live at most as long as the whole run could take, plus slack.
life=$(( rounds * ${#sizes[@]} * 4 * (secs + 5) + 120 ))s
declare -A mock mockpid
for p in lmtp smtp; do
	bench_mock "mock-$p" 0 "$life" --mock-protocol "$p" --mock-names "mock-$p"
	mockpid[$p]=$bgpid; mock[$p]=$bgport
done

cells=(direct-lmtp direct-smtp)
declare -A tport=([direct-lmtp]=${mock[lmtp]} [direct-smtp]=${mock[smtp]})
declare -A tpid=([direct-lmtp]=${mockpid[lmtp]} [direct-smtp]=${mockpid[smtp]})
declare -A tproto=([direct-lmtp]=lmtp [direct-smtp]=smtp [routing-lmtp]=lmtp [passthrough-smtp]=smtp)
if [ "$direct_only" = 0 ]; then
	llmtp=$(port); lsmtp=$(port)
	cat >"$tmp/switchyard.toml" <<TOML
[server]
backend_timeout = "5s"
$(sy_listener lmtp lmtp "$llmtp")
recipient_routing = true
$(sy_listener smtp smtp "$lsmtp")
[destination.mock]
host = "127.0.0.1"
forwarding = "none"
[destination.mock.protocol.lmtp]
port = ${mock[lmtp]}
tls = "plain"
[destination.mock.protocol.smtp]
port = ${mock[smtp]}
tls = "plain"
$(sy_routing mock)
smtp_passthrough_destination = "mock"
TOML
	start_switchyard "$tmp/switchyard.toml" "$llmtp" "$lsmtp"
	cells=(direct-lmtp routing-lmtp direct-smtp passthrough-smtp)
	tport[routing-lmtp]=$llmtp; tport[passthrough-smtp]=$lsmtp
	tpid[routing-lmtp]=$sypid; tpid[passthrough-smtp]=$sypid
fi

loadavg start
failed=0
for r in $(seq "$rounds"); do
	for size in "${sizes[@]}"; do
		for c in "${cells[@]}"; do
			echo "round $r: $c, $size-byte messages, ${secs} s" >&2
			f=$out/$c-$size-$r
			"$bin/switchyard-bench" --scenario deliver --protocol "${tproto[$c]}" --target 127.0.0.1:"${tport[$c]}" \
				--users "$users" --recipients "$rcpts" --per-connection "$perconn" --message-size "$size" \
				--concurrency "$conc" --duration "${secs}s" --pid "${tpid[$c]}" --progress 0 \
				--json "$f.json" >"$f.txt" 2>&1 || { echo "  $c: bench failed (see $f.txt)" >&2; failed=1; }
		done
	done
done
loadavg end
bench_meta "rounds=$rounds seconds=$secs concurrency=$conc recipients=$rcpts per_connection=$perconn"
for p in "${!mockpid[@]}"; do stop "${mockpid[$p]}"; done # their logs get the message counts

python3 -B - "$out" "$rounds" "$secs" "$conc" "$rcpts" "$perconn" "${cells[@]}" <<'PY'
import os, statistics, sys
from scripts.bench_results import load_json, mock_accepted
out, rounds, secs, conc, rcpts, perconn = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
cells = sys.argv[7:]
base = {"routing-lmtp": "direct-lmtp", "passthrough-smtp": "direct-smtp"}
sizes = (1024, 1048576)


def load(c, size, r):
    return load_json(os.path.join(out, "%s-%d-%d.json" % (c, size, r)))


def med(xs):
    return statistics.median(xs) if xs else 0.0


print("%d rounds × %s s, %s clients, %s recipient(s) per message, %s; medians over the rounds, "
      "cells interleaved.\n" % (rounds, secs, conc, rcpts,
                               "a new connection every %d messages" % perconn if perconn else "one connection per client"))
print("| messages | path | messages/s | × direct | MB/s | p50 ms | p99 ms | target CPU s | CPU µs/message | errors |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
rate = {}
for size in sizes:
    label = "1 KiB" if size == 1024 else "1 MiB"
    for c in cells:
        runs = [x for x in (load(c, size, r) for r in range(1, rounds + 1)) if x]
        if not runs:
            print("| %s | %s | failed | | | | | | | |" % (label, c))
            continue
        rate[(c, size)] = med([x["ops_per_sec"] for x in runs])
        cost = [x.get("target_cost") or {} for x in runs]
        rel = "-"
        b = rate.get((base.get(c), size))
        if b:
            rel = "%.2f" % (rate[(c, size)] / b)
        who = " (mock)" if c.startswith("direct") else ""
        errs = "%d" % sum(x["errors"] for x in runs)
        if len(runs) < rounds:
            errs += " (%d runs failed)" % (rounds - len(runs))
        print("| %s | %s | %.0f | %s | %.1f | %.3f | %.3f | %.2f%s | %.1f | %s |" % (
            label, c, rate[(c, size)], rel, med([x.get("mb_per_sec", 0) for x in runs]),
            med([x["latency"]["p50_ms"] for x in runs]), med([x["latency"]["p99_ms"] for x in runs]),
            med([k.get("cpu_seconds", 0) for k in cost]), who, med([k.get("cpu_us_per_op", 0) for k in cost]), errs))
print()
spread = []
for size in sizes:
    for c in cells:
        vals = [x["ops_per_sec"] for x in (load(c, size, r) for r in range(1, rounds + 1)) if x]
        spread.append("%s %s: %s" % (c, "1 KiB" if size == 1024 else "1 MiB", " / ".join("%.0f" % v for v in vals) or "-"))
print("Messages/s per round: " + "; ".join(spread) + ".")
# Every message the bench counted as delivered must have reached a mock.
check = []
for p in ("lmtp", "smtp"):
    sent = sum(x["ops"] + x.get("partial", 0) for x in (load(c, size, r) for c in cells if c.endswith(p)
               for size in sizes for r in range(1, rounds + 1)) if x)
    check.append("%s %s accepted / %d sent" % (p, mock_accepted(out, p), sent))
print("Mock backends: " + "; ".join(check) + ".")
PY
loadavg_line
exit "$failed"
