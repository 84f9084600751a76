#!/usr/bin/env bash
# Side-by-side IMAP figures for BENCHMARKS.md, all on loopback:
#   1. login rate and latency, direct to a mock backend vs through switchyard
#      (plaintext and implicit TLS: full handshakes and resumed ones, one
#      client session cache across connections, TLS 1.3 and 1.2), and
#      crypto/tls's own full handshakes (the mock backend itself over
#      implicit TLS, same certificate); interleaved rounds in one run;
#   2. user-space memory and goroutines per idle pre-auth connection at
#      N connections (plaintext, then TLS), each on a freshly started proxy;
#   3. with OPEN_RATE=R, also an open-loop round per round: R logins/s
#      started whatever the target does (latency counted from when each
#      was due), direct and through the proxy, for the latency a login adds
#      at that load.
# Every process it starts is stopped by PID at exit. Usage:
#   scripts/bench-imap.sh [ROUNDS] [SECONDS] [IDLE_CONNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
rounds=${1:-3}; secs=${2:-8}; idle=${3:-10000}
out=${BENCH_OUT:-/tmp/switchyard-bench}; mkdir -p "$out"
go build -o bin/switchyard ./cmd/switchyard
go build -o bin/switchyard-bench ./cmd/switchyard-bench
trap cleanup EXIT

mock=$(port)
bin/switchyard-bench --mock-backend 127.0.0.1:"$mock" --users 1000 --password password --duration 30m >"$out/mock.log" 2>&1 &
pids+=($!); mockpid=$!
waitport "$mock"
cert="$out/cert.pem"; key="$out/key.pem"
[ -f "$cert" ] || go run ./scripts/gencert "$out"
# The same mock over implicit TLS: crypto/tls's own handshake rate.
mocktls=$(port)
bin/switchyard-bench --mock-backend 127.0.0.1:"$mocktls" --mock-implicit-tls --mock-cert "$cert" --mock-key "$key" \
	--users 1000 --password password --duration 30m >"$out/mocktls.log" 2>&1 &
pids+=($!); mocktlspid=$!
waitport "$mocktls"

# The profiler is on the admin API, behind its token (switchyard --pprof).
token="$out/admin.token"
[ -f "$token" ] || head -c 48 /dev/urandom | base64 | tr -d '+/=\n' >"$token"
pcurl() { curl -sk -H "Authorization: Bearer $(cat "$token")" "$@"; }

start_proxy() { # start_proxy NAME [pprof] -> sets proxypid, plain, tlsport (and pprof)
	plain=$(port); tlsport=$(port); pp=$(port)
	local admin="" flags=()
	if [ "${2:-}" = pprof ]; then
		# Only where the profiler is read: [admin] turns the metrics on,
		# which the login figures must not include.
		admin=$(printf '[admin]\nbind = "127.0.0.1:%s"\nbearer_token_file = "%s"\n' "$pp" "$token")
		flags=(--pprof)
	fi
	cat >"$out/$1.toml" <<TOML
[server]
backend_timeout = "5s"
$(sy_cert "$cert" "$key")
$(sy_listener plain imap "$plain")
preauth_timeout = "10m"
max_connections = 19000
max_connections_per_ip = 0
$(sy_listener tls imap "$tlsport" implicit)
preauth_timeout = "10m"
max_connections = 19000
max_connections_per_ip = 0
$(sy_destination mock xclient "imap=$mock")
$(sy_routing mock)
$(sy_plain_auth imap)
$admin
TOML
	bin/switchyard --config "$out/$1.toml" --log-level warn "${flags[@]}" >"$out/$1.log" 2>&1 &
	proxypid=$!; pids+=($proxypid)
	pprof="https://127.0.0.1:$pp/debug/pprof/"
	waitport "$plain"; waitport "$tlsport"
	[ -z "$admin" ] || waitport "$pp"
}
stop_proxy() { kill "$proxypid"; wait "$proxypid" 2>/dev/null || true; }

login() { # login LABEL TARGET PID [extra flags]
	local label=$1 target=$2 pid=$3; shift 3
	bin/switchyard-bench --scenario login --target "$target" --users 1000 --password password \
		--concurrency 32 --duration "${secs}s" --pid "$pid" --json "$out/$label.json" "$@" >"$out/$label.txt" 2>&1
}

start_proxy login
[ "${IDLE_ONLY:-0}" = 1 ] && rounds_run=0 || rounds_run=$rounds
for r in $(seq "$rounds_run"); do
	login "direct-plain-$r" 127.0.0.1:"$mock" "$mockpid"
	login "proxy-plain-$r" 127.0.0.1:"$plain" "$proxypid"
	login "proxy-tls-$r" 127.0.0.1:"$tlsport" "$proxypid" --tls implicit --insecure
	login "direct-tls-$r" 127.0.0.1:"$mocktls" "$mocktlspid" --tls implicit --insecure
	login "proxy-tls-resumed-$r" 127.0.0.1:"$tlsport" "$proxypid" --tls implicit --insecure --tls-resume
	login "proxy-tls12-$r" 127.0.0.1:"$tlsport" "$proxypid" --tls implicit --insecure --tls-max 1.2
	login "proxy-tls12-resumed-$r" 127.0.0.1:"$tlsport" "$proxypid" --tls implicit --insecure --tls-max 1.2 --tls-resume
	if [ "${OPEN_RATE:-0}" != 0 ]; then
		login "direct-open-$r" 127.0.0.1:"$mock" "$mockpid" --rate "$OPEN_RATE" --concurrency 2048
		login "proxy-open-$r" 127.0.0.1:"$plain" "$proxypid" --rate "$OPEN_RATE" --concurrency 2048
	fi
done
stop_proxy

for kind in plain tls; do
	start_proxy "idle-$kind" pprof
	target=127.0.0.1:$plain; extra=()
	[ "$kind" = tls ] && { target=127.0.0.1:$tlsport; extra=(--tls implicit --insecure); }
	pcurl "${pprof}heap?debug=1&gc=1" | grep -E '^# (HeapInuse|HeapAlloc|Stack) = ' >"$out/idle-$kind-heap0.txt"
	bin/switchyard-bench --scenario idle --preauth --target "$target" --conns "$idle" --hold 20s \
		--concurrency 200 --sources 8 --pid "$proxypid" --pprof-url "$pprof" --pprof-token-file "$token" \
		--json "$out/idle-$kind.json" "${extra[@]}" >"$out/idle-$kind.txt" 2>&1 &
	benchpid=$!
	# (--sources 8: 25 handshakes in flight per address, under the
	# engine's per-address cap of 32.)
	# Once every connection is open, take the live heap after a forced GC:
	# RSS alone also counts garbage and freed handshake stacks not yet
	# returned to the kernel.
	for _ in $(seq 150); do
		[ "$(ls /proc/"$proxypid"/fd | wc -l)" -ge "$idle" ] && break
		sleep 0.1
	done
	sleep 2
	pcurl "${pprof}heap?debug=1&gc=1" | grep -E '^# (HeapInuse|HeapAlloc|Stack) = ' >"$out/idle-$kind-heap1.txt"
	wait "$benchpid"
	stop_proxy
done
python3 scripts/bench-summary.py "$out" "$rounds"
