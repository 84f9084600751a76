#!/usr/bin/env bash
# Logins per second per protocol (POP3, SMTP submission, ManageSieve),
# direct to a mock backend vs through switchyard, interleaved rounds in one
# run, all on loopback: one mock backend per protocol (bench/mockpop3,
# mocksmtp, mocksieve, advertising XCLIENT), one switchyard with a plaintext
# listener per protocol and forwarding = "xclient", and the load generator's
# --protocol login storm (32 clients; connect, greeting [+ EHLO], AUTH PLAIN
# with initial response, NOOP, QUIT/LOGOUT). Every process it starts is
# stopped by PID at exit. Usage:
#   scripts/bench-protocols.sh [ROUNDS] [SECONDS] [CONCURRENCY]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
rounds=${1:-3}; secs=${2:-6}; conc=${3:-32}
case "$rounds$secs$conc" in *[!0-9]*) echo "usage: $0 [ROUNDS] [SECONDS] [CONCURRENCY]" >&2; exit 2;; esac
[ "$rounds" -ge 1 ] && [ "$rounds" -le 20 ] && [ "$secs" -ge 1 ] && [ "$secs" -le 120 ] && [ "$conc" -ge 1 ] && [ "$conc" -le 1000 ] ||
	{ echo "$0: want 1-20 rounds of 1-120 s, 1-1000 clients" >&2; exit 2; }
out=${BENCH_OUT:-/tmp/switchyard-bench-protocols}; mkdir -p "$out"
go build -o bin/switchyard ./cmd/switchyard
go build -o bin/switchyard-bench ./cmd/switchyard-bench
trap cleanup EXIT

protos=(pop3 submission managesieve)
declare -A mock mockpid listen
# Mocks live at most as long as the whole run could take, plus slack.
life=$(( rounds * 3 * 2 * (secs + 3) + 120 ))s
for p in "${protos[@]}"; do
	mock[$p]=$(port)
	bin/switchyard-bench --mock-backend 127.0.0.1:"${mock[$p]}" --mock-protocol "$p" --mock-xclient \
		--mock-names "mock-$p" --users 1000 --password password --duration "$life" >"$out/mock-$p.log" 2>&1 &
	mockpid[$p]=$!; pids+=($!)
	waitport "${mock[$p]}"
	listen[$p]=$(port)
done

cat >"$out/switchyard.toml" <<TOML
[server]
backend_timeout = "5s"
$(sy_listener pop3 pop3 "${listen[pop3]}")
$(sy_listener submission submission "${listen[submission]}")
$(sy_listener managesieve managesieve "${listen[managesieve]}")
$(sy_destination mock xclient "pop3=${mock[pop3]}" "submission=${mock[submission]}" "managesieve=${mock[managesieve]}")
$(sy_routing mock)
$(sy_plain_auth pop3 submission managesieve)
TOML
bin/switchyard --config "$out/switchyard.toml" --log-level warn >"$out/switchyard.log" 2>&1 &
proxypid=$!; pids+=($proxypid)
for p in "${protos[@]}"; do waitport "${listen[$p]}"; done

login() { # login LABEL PROTOCOL TARGET PID
	bin/switchyard-bench --scenario login --protocol "$2" --target "$3" --users 1000 --password password \
		--concurrency "$conc" --duration "${secs}s" --pid "$4" --progress 0 --json "$out/$1.json" >"$out/$1.txt" 2>&1
}

# Other load on the machine shows in the load average; it is recorded with
# the results.
loadavg start
for r in $(seq "$rounds"); do
	for p in "${protos[@]}"; do
		login "direct-$p-$r" "$p" 127.0.0.1:"${mock[$p]}" "${mockpid[$p]}"
		login "proxy-$p-$r" "$p" 127.0.0.1:"${listen[$p]}" "$proxypid"
	done
done
loadavg end
python3 scripts/bench-protocols-summary.py "$out" "$rounds" "$conc"
