#!/usr/bin/env bash
# The mixed scenario (switchyard-bench --scenario mixed) direct to the mock
# backends vs through one switchyard, on loopback, rounds interleaved:
#
#   idle-imap         USERS × 0.7 IMAP sessions logged in, INBOX selected,
#                     in IDLE for the whole run (checked with DONE at the end)
#   login-imap/-pop3/-submission
#                     3 logins/s per 1000 users, split 4:1:1 (connect,
#                     AUTH PLAIN, NOOP, LOGOUT/QUIT; a new connection each)
#   fetch-imap        8 FETCH 1 (BODY[]) per second per 1000 users, of a
#                     16 KiB message, over 4 logged-in sessions
#   deliver-lmtp      5 messages/s per 1000 users (16 KiB, one recipient)
#                     over 4 kept connections: switchyard's lmtp listener
#                     routes each recipient (recipient_routing = true)
#   deliver-smtp      5 messages/s per 1000 users, a connection per message:
#                     switchyard's smtp listener in pass-through mode
#
# Arrivals are Poisson at those rates (open loop); a slow target shows as
# latency and shed operations. One mock backend process per protocol
# (switchyard-bench --mock-backend --mock-protocol P, with XCLIENT where the
# proxy sends it), one switchyard with a listener per protocol
# (forwarding = "xclient", smtp pass-through with forwarding "none"). --pid
# samples the proxy for the switchyard cells and the IMAP mock (which holds
# the idle sessions) for the direct ones. Every process started here is
# stopped by its PID at exit; every loop is bounded.
#
# Usage: scripts/bench-mixed.sh [--smoke] [--sweep] [ROUNDS] [SECONDS] [USERS] [-- EXTRA BENCH FLAGS]
#   defaults: 3 rounds of 20 s, 5000 users (3500 idle sessions, 15 logins/s,
#   40 fetches/s, 25 LMTP + 25 SMTP messages/s); EXTRA flags go to every
#   mixed run (e.g. -- --mixed-login-rate 300 --mixed-idle 3500).
#   --smoke: 1 round of 3 s, 300 users, faster rates, for CI.
#   --sweep: afterwards, through switchyard only and one component at a
#   time (no idle sessions), 10 s at each of several rates: IMAP logins
#   10, 100, 500/s; FETCH 40, 400, 2000/s; LMTP 25, 250, 1000/s; the
#   proxy's CPU per operation against the rate.
# Environment: BENCH_OUT (raw JSON and logs, default
# /tmp/switchyard-bench-mixed), BENCH_BIN (where the Go binaries are built,
# default bin). Prints Markdown tables on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

bench_args "[--smoke] [--sweep] [ROUNDS] [SECONDS] [USERS] [-- EXTRA BENCH FLAGS]" sweep=sweep -- "$@"
rounds=${pos[0]:-3}; secs=${pos[1]:-20}; users=${pos[2]:-5000}
if [ "$smoke" = 1 ]; then
	rounds=1; secs=3; users=300
	extra+=(--mixed-login-rate 30 --mixed-fetch-rate 20 --mixed-lmtp-rate 20 --mixed-smtp-rate 10)
fi
# A proxy holds two descriptors per idle session (20,000 per process here).
num ROUNDS "$rounds" 1 20; num SECONDS "$secs" 1 600; num USERS "$users" 10 12000
need_python

bench_out /tmp/switchyard-bench-mixed
bench_bin ./cmd/switchyard ./cmd/switchyard-bench

bench_tmp mixed

accounts=1000 # user0..user999 / password; idle sessions share them (several devices per account)
size=16384
protos=(imap pop3 submission lmtp smtp)
# The mocks live at most as long as the whole run could take, plus slack.
life=$(( rounds * 2 * (secs + 90) + 120 ))s
declare -A mock mockpid listen
for p in "${protos[@]}"; do
	listen[$p]=$(port)
	flags=(--mock-protocol "$p" --mock-names "mock-$p" --users "$accounts")
	case $p in
	imap) flags+=(--mock-message-size "$size") ;;
	pop3|submission|lmtp) flags+=(--mock-xclient) ;;
	esac
	bench_mock "mock-$p" 0 "$life" "${flags[@]}"
	mockpid[$p]=$bgpid; mock[$p]=$bgport
done

cat >"$tmp/switchyard.toml" <<TOML
[server]
backend_timeout = "5s"
$(sy_listener imap imap "${listen[imap]}")
max_connections = 19000
max_connections_per_ip = 0
$(sy_listener pop3 pop3 "${listen[pop3]}")
$(sy_listener submission submission "${listen[submission]}")
$(sy_listener lmtp lmtp "${listen[lmtp]}")
recipient_routing = true
$(sy_listener smtp smtp "${listen[smtp]}")
$(sy_destination mock xclient "imap=${mock[imap]}" "pop3=${mock[pop3]}" "submission=${mock[submission]}" "lmtp=${mock[lmtp]}" "smtp=${mock[smtp]}")
forwarding = "none"
$(sy_routing mock)
smtp_passthrough_destination = "mock"
$(sy_plain_auth imap pop3 submission)
TOML
ports=(); for p in "${protos[@]}"; do ports+=("${listen[$p]}"); done
start_switchyard "$tmp/switchyard.toml" "${ports[@]}"

mixed() { # mixed LABEL PID PORT...(imap pop3 submission lmtp smtp)
	local label=$1 pid=$2
	"$bin/switchyard-bench" --scenario mixed --users "$accounts" --mixed-users "$users" --message-size "$size" \
		--target 127.0.0.1:"$3" --target-pop3 127.0.0.1:"$4" --target-submission 127.0.0.1:"$5" \
		--target-lmtp 127.0.0.1:"$6" --target-smtp 127.0.0.1:"$7" --concurrency 100 \
		--duration "${secs}s" --pid "$pid" --progress 0 --json "$out/$label.json" "${extra[@]}" >"$out/$label.txt" 2>&1
}

loadavg start
failed=0
for r in $(seq "$rounds"); do
	order=(direct switchyard)
	[ $((r % 2)) = 0 ] && order=(switchyard direct)
	for c in "${order[@]}"; do
		echo "round $r: $c, ${secs} s" >&2
		if [ "$c" = direct ]; then
			mixed "direct-$r" "${mockpid[imap]}" "${mock[imap]}" "${mock[pop3]}" "${mock[submission]}" "${mock[lmtp]}" "${mock[smtp]}" ||
				{ echo "  direct: bench failed (see $out/direct-$r.txt)" >&2; failed=1; }
		else
			mixed "switchyard-$r" "$sypid" "${listen[imap]}" "${listen[pop3]}" "${listen[submission]}" "${listen[lmtp]}" "${listen[smtp]}" ||
				{ echo "  switchyard: bench failed (see $out/switchyard-$r.txt)" >&2; failed=1; }
		fi
	done
done
if [ "$sweep" = 1 ]; then
	none=(--mixed-idle 0 --mixed-login-rate 0 --mixed-fetch-rate 0 --mixed-lmtp-rate 0 --mixed-smtp-rate 0)
	for spec in login:10 login:100 login:500 fetch:40 fetch:400 fetch:2000 lmtp:25 lmtp:250 lmtp:1000; do
		k=${spec%%:*}; v=${spec#*:}
		echo "sweep: $k at $v/s, 10 s" >&2
		"$bin/switchyard-bench" --scenario mixed --users "$accounts" --message-size "$size" --mixed-login-mix 1:0:0 \
			--target 127.0.0.1:"${listen[imap]}" --target-lmtp 127.0.0.1:"${listen[lmtp]}" "${none[@]}" --mixed-"$k"-rate "$v" \
			--duration 10s --pid "$sypid" --progress 0 --json "$out/sweep-$k-$v.json" >"$out/sweep-$k-$v.txt" 2>&1 ||
			{ echo "  sweep $k $v: bench failed (see $out/sweep-$k-$v.txt)" >&2; failed=1; }
	done
fi
loadavg end
bench_meta "rounds=$rounds seconds=$secs users=$users extra=${extra[*]}"
for p in lmtp smtp; do stop "${mockpid[$p]}"; done # their logs get the message counts

python3 -B - "$out" "$rounds" <<'PY'
import os, statistics, sys
from scripts.bench_results import load_json, mock_accepted
out, rounds = sys.argv[1], int(sys.argv[2])


def load(c, r):
    return load_json(os.path.join(out, "%s-%d.json" % (c, r)))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


runs = {c: [x for x in (load(c, r) for r in range(1, rounds + 1)) if x] for c in ("direct", "switchyard")}
if not runs["switchyard"]:
    sys.exit("no switchyard run succeeded")
first = runs["switchyard"][0]
with open(os.path.join(out, "meta.txt")) as f:
    meta = dict(kv.split("=", 1) for kv in f.read().split() if "=" in kv)
print("%d round(s) × %.0f s measured, %d users; medians over the rounds, direct and switchyard interleaved.\n"
      % (rounds, first["wall_seconds"], first["users"]))
print("| component | asked/s | done/s direct / switchyard | p50 ms direct / switchyard | p99 ms direct / switchyard | p99.9 ms switchyard | added p50 / p99 ms | errors | shed |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
names = [c["name"] for c in first["components"]]


def comp(run, name):
    for c in run["components"]:
        if c["name"] == name:
            return c
    return None


def f(x, fmt="%.2f"):
    return "–" if x is None else fmt % x


for n in names:
    row = {}
    for c in ("direct", "switchyard"):
        cs = [comp(x, n) for x in runs[c]]
        cs = [x for x in cs if x]
        row[c] = cs
    d, s = row["direct"], row["switchyard"]
    p50 = [med([x["latency"]["p50_ms"] for x in cs]) if cs else None for cs in (d, s)]
    p99 = [med([x["latency"]["p99_ms"] for x in cs]) if cs else None for cs in (d, s)]
    p999 = med([x["latency"]["p99_9_ms"] for x in s])
    errs = "%d / %d" % (sum(x["errors"] for x in d), sum(x["errors"] for x in s))
    shed = "%d / %d" % (sum(x.get("shed", 0) for x in d), sum(x.get("shed", 0) for x in s))
    added = "–"
    if None not in p50 and None not in p99:
        added = "%+.2f / %+.2f" % (p50[1] - p50[0], p99[1] - p99[0])
    if n == "idle-imap":
        est = "%s / %s sessions" % (f(med([x["established"] for x in d]), "%d"), f(med([x["established"] for x in s]), "%d"))
        alive = med([x.get("alive", 0) for x in s])
        print("| idle-imap (opening; %s alive at the end) | – | %s | %s / %s | %s / %s | %s | %s | %s | – |" % (
            f(alive, "%d"), est, f(p50[0]), f(p50[1]), f(p99[0]), f(p99[1]), f(p999), added, errs))
        continue
    rate = med([x.get("rate_per_sec") for x in s])
    done = [med([x["ops_per_sec"] for x in cs]) if cs else None for cs in (d, s)]
    print("| %s | %s | %s / %s | %s / %s | %s / %s | %s | %s | %s | %s |" % (
        n, f(rate, "%.1f"), f(done[0], "%.1f"), f(done[1], "%.1f"), f(p50[0]), f(p50[1]), f(p99[0]), f(p99[1]), f(p999), added, errs, shed))
print()
cost = [x.get("target_cost") or {} for x in runs["switchyard"]]
ops = med([x["ops_per_sec"] for x in runs["switchyard"]])
print("switchyard over the measured phase: %s operations/s, CPU %s %% of one core, %s µs per operation (medians)."
      % (f(ops, "%.0f"), f(med([c.get("cpu_percent") for c in cost]), "%.1f"), f(med([c.get("cpu_us_per_op") for c in cost]), "%.0f")))
c1 = (load("switchyard", 1) or {}).get("target_cost") or {}
if c1.get("rss_per_idle_kib"):
    print("Round 1 ran on a freshly started proxy: %.1f → %.1f MiB over the ramp, %.2f KiB of RSS per idle session "
          "(later rounds reuse memory the first one freed, so their growth says little)."
          % (c1["rss_start_kib"] / 1024, c1["rss_established_kib"] / 1024, c1["rss_per_idle_kib"]))
bench = med([(x.get("bench_cpu") or {}).get("cpu_percent") for x in runs["switchyard"]])
print("The load generator itself used %s %% of one core in the switchyard runs." % f(bench, "%.0f"))
check = []
for p in ("lmtp", "smtp"):
    sweeps = [x for x in (load("sweep-" + p, v) for v in (25, 250, 1000)) if x]
    sent = sum(c["ops"] + c.get("partial", 0) for cc in list(runs.values()) + [sweeps] for x in cc
               for c in x["components"] if c["name"] == "deliver-" + p)
    check.append("%s %s accepted / %d sent" % (p, mock_accepted(out, p), sent))
print("Mock backends: " + "; ".join(check) + ".")
sweep = []
for k, rates in (("login", (10, 100, 500)), ("fetch", (40, 400, 2000)), ("lmtp", (25, 250, 1000))):
    for v in rates:
        x = load_json(os.path.join(out, "sweep-%s-%d.json" % (k, v)))
        if x is None:
            continue
        c = x["components"][0] if x.get("components") else None
        if c:
            sweep.append((c["name"], c.get("rate_per_sec", 0), c, x.get("target_cost") or {}))
if sweep:
    print()
    print("One component at a time through switchyard (no idle sessions), 10 s per rate:\n")
    print("| component | asked/s | done/s | p50 ms | p99 ms | shed | errors | proxy CPU % of one core | proxy CPU µs/op |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, rate, c, k in sweep:
        print("| %s | %.0f | %.0f | %.2f | %.2f | %d | %d | %.1f | %.0f |" % (name, rate, c["ops_per_sec"], c["latency"]["p50_ms"],
              c["latency"]["p99_ms"], c.get("shed", 0), c["errors"], k.get("cpu_percent", 0), k.get("cpu_us_per_op", 0)))
    print()
PY
loadavg_line
exit "$failed"
