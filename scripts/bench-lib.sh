# shellcheck shell=bash
# Shared by the scripts/bench-*.sh harnesses: argument checks, the output
# and binary directories, starting and stopping the processes a run owns
# (by PID only, every wait bounded), free ports, waiting for a port, a
# switchyard started from a generated configuration, and the load average
# around a run. Source it after `cd` to the repository root:
#
#   . scripts/bench-lib.sh
#
# Variables it uses: out, bin, tmp (set by bench_out, bench_bin,
# bench_tmp) and pids (the processes cleanup stops).

pids=()

# bench_help: print the script's header comment (its usage).
bench_help() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# num NAME VALUE MIN MAX: exit 2 unless VALUE is a whole number in range.
num() { [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] && [ "$2" -le "$4" ] || { echo "$1 must be $3..$4, got '$2'" >&2; exit 2; }; }

# need_python: exit 2 without python3 (free ports, summaries).
need_python() { command -v python3 >/dev/null || { echo "python3 is not installed" >&2; exit 2; }; }

# bench_out DEFAULT: out=$BENCH_OUT or DEFAULT, absolute, emptied of the
# results of an earlier run.
bench_out() {
	out=${BENCH_OUT:-$1}
	mkdir -p "$out"; out=$(cd "$out" && pwd)
	rm -f "$out"/*.json "$out"/*.txt "$out"/*.log
}

# bench_bin [GO PACKAGE...]: bin=$BENCH_BIN or bin, absolute; builds each
# package (./cmd/switchyard → $bin/switchyard).
bench_bin() {
	local p
	bin=${BENCH_BIN:-bin}
	mkdir -p "$bin"; bin=$(cd "$bin" && pwd)
	for p in "$@"; do go build -o "$bin/$(basename "$p")" "$p"; done
}

# baseline_bin REV: builds switchyard at git revision REV, from a worktree
# of its own removed afterwards, into $bin/switchyard-baseline (before and
# after figures in one run).
baseline_bin() {
	local wt
	wt=$(mktemp -d /tmp/sy-baseline.XXXXXX)
	git worktree add -q --detach "$wt" "$1"
	(cd "$wt" && go build -o "$bin/switchyard-baseline" ./cmd/switchyard)
	git worktree remove --force "$wt"
}

# bench_tmp NAME: tmp=/tmp/sy-NAME.XXXXXX; at exit every process in pids
# is stopped and tmp removed; SIGINT/SIGTERM exit 130 (through that trap).
bench_tmp() {
	tmp=$(mktemp -d /tmp/sy-"$1".XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# alive PID: running and not a zombie.
alive() { local st; [ -n "$1" ] && st=$(cat /proc/"$1"/stat 2>/dev/null) && [[ "${st##*) }" != Z* ]]; }

stop() { # SIGTERM one PID we started, SIGKILL after 5 s
	local i
	alive "$1" || return 0
	kill -TERM "$1" 2>/dev/null || true
	for i in $(seq 50); do alive "$1" || break; sleep 0.1; done
	alive "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

cleanup() { local p; for p in "${pids[@]}"; do stop "$p"; done; [ -z "${tmp:-}" ] || rm -rf "$tmp"; rm -f "/tmp/sy-bench-ports.$$"; }

# port: a port on 127.0.0.1 for a listener that cannot bind port 0 and say
# where it is (switchyard's generated configurations, nginx, HAProxy,
# Dovecot; the mocks bind port 0, see bench_mock). It is drawn below the
# kernel's ephemeral range, which every outgoing connection on the machine
# draws from: a port from that range could be taken by some connection
# between this pick and the bind (seen under load). It is free when picked
# and never handed out twice in one run (/tmp/sy-bench-ports.PID).
port() {
	python3 - "/tmp/sy-bench-ports.$$" <<'PY'
import random, socket, sys
seen_path = sys.argv[1]
try:
    seen = set(open(seen_path).read().split())
except OSError:
    seen = set()
with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    low = int(f.read().split()[0])
for _ in range(1000):
    p = random.randrange(10000, max(low, 10001))
    if str(p) in seen:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    with open(seen_path, "a") as f:
        f.write("%d\n" % p)
    print(p)
    sys.exit(0)
sys.exit("no free port below the ephemeral range")
PY
}

waitport() { # waitport PORT [PID]: until PORT accepts, at most 10 s, or PID dies
	local i
	for i in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		[ -z "${2:-}" ] || alive "$2" || { echo "process $2 exited before port $1 opened" >&2; return 1; }
		sleep 0.1
	done
	echo "port $1 never opened" >&2; return 1
}

# bench_start LOG COMMAND...: run COMMAND in the background, output to
# LOG; its PID goes to pids and to bgpid.
bench_start() {
	local log=$1; shift
	"$@" >"$log" 2>&1 &
	bgpid=$!; pids+=("$bgpid")
}

# bench_mock NAME PORT LIFE [FLAG...]: a switchyard-bench mock backend on
# 127.0.0.1:PORT for at most LIFE, log $out/NAME.log; waits until it
# listens and sets bgpid, and bgport to its port. PORT 0: the mock binds
# a port of the kernel's choosing and bgport is read from its log.
bench_mock() {
	local name=$1 p=$2 life=$3 i; shift 3
	bench_start "$out/$name.log" "$bin/switchyard-bench" --mock-backend 127.0.0.1:"$p" --duration "$life" "$@"
	if [ "$p" = 0 ]; then
		for i in $(seq 100); do
			p=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$out/$name.log" | head -1)
			[ -n "$p" ] && break
			alive "$bgpid" || { echo "mock $name exited before it listened" >&2; return 1; }
			sleep 0.1
		done
		[ -n "$p" ] || { echo "mock $name never said where it listens" >&2; return 1; }
	fi
	bgport=$p
	waitport "$p" "$bgpid"
}

# start_switchyard CONFIG PORT...: check CONFIG (written to $tmp), keep a
# copy in $out, start $bin/switchyard (log $out/switchyard.log), wait for
# each PORT; sets sypid.
start_switchyard() {
	local conf=$1 p; shift
	cp "$conf" "$out/switchyard.toml"
	if ! "$bin/switchyard" --config "$conf" --check-config >"$out/switchyard-check.log" 2>&1; then
		echo "switchyard rejects the configuration ($out/switchyard.toml):" >&2
		cat "$out/switchyard-check.log" >&2
		exit 1
	fi
	bench_start "$out/switchyard.log" "$bin/switchyard" --config "$conf" --log-level warn
	sypid=$bgpid
	for p in "$@"; do waitport "$p" "$sypid"; done
}

# bench_rounds ROUNDS FUNC: ROUNDS rounds of FUNC CELL FILE for each cell
# of cells (FILE: $out/CELL-ROUND, without extension), the order rotated by
# one each round so no cell always runs first; prints "round R: CELL,
# $secs s" before each.
bench_rounds() {
	local r i n=${#cells[@]}
	for r in $(seq "$1"); do
		for i in $(seq 0 $((n - 1))); do
			c=${cells[$(( (i + r - 1) % n ))]}
			echo "round $r: $c, ${secs} s" >&2
			"$2" "$c" "$out/$c-$r"
		done
	done
}

# loadavg start|end: record /proc/loadavg in $out/loadavg-start|-end.
loadavg() { cat /proc/loadavg >"$out/loadavg-$1"; }

# loadavg_line: the summary's last line, from what loadavg recorded.
loadavg_line() {
	local a b
	a=$(cut -d' ' -f1-3 "$out/loadavg-start" 2>/dev/null) && b=$(cut -d' ' -f1-3 "$out/loadavg-end" 2>/dev/null) || return 0
	echo "Load average (1/5/15 min) at start: $a; at end: $b."
}

# bench_meta KEY=VALUE...: $out/meta.txt with the machine's facts appended.
bench_meta() { echo "$* nproc=$(nproc) kernel=$(uname -r) go=$(go env GOVERSION)" >"$out/meta.txt"; }

# treecpu PID: CPU seconds (utime+stime) of PID and all its descendants
# (a proxy of several processes, like nginx); scripts/bench-proc.py walks
# the tree, as it does for bench-peers.sh's samples.
treecpu() { python3 scripts/bench-proc.py cpu "$1"; }

# Pieces of the generated switchyard configurations, one place for each
# (print them inside a heredoc with $(...)):
#
# sy_cert CERT KEY: the default certificate, [tls.certificate.bench].
sy_cert() { printf '[tls.certificate.bench]\ncert = "%s"\nkey = "%s"\ndefault = true\n' "$1" "$2"; }

# sy_listener ID PROTOCOL PORT [TLS]: a [listener.ID] on 127.0.0.1, plaintext
# unless TLS ("implicit"); keys printed after it belong to it.
sy_listener() { printf '[listener.%s]\nprotocol = "%s"\nbind = ["127.0.0.1:%s"]\ntls = "%s"\n' "$1" "$2" "$3" "${4:-plain}"; }

# sy_destination ID FORWARDING PROTOCOL=PORT...: [destination.ID] on
# 127.0.0.1 that takes credentials in the clear, with a plaintext
# endpoint per PROTOCOL=PORT; keys printed after it belong to the last.
sy_destination() {
	local id=$1 ep
	printf '[destination.%s]\nhost = "127.0.0.1"\nforwarding = "%s"\nallow_plaintext_auth = true\n' "$id" "$2"
	shift 2
	for ep in "$@"; do
		printf '[destination.%s.protocol.%s]\nport = %s\ntls = "plain"\n' "$id" "${ep%%=*}" "${ep#*=}"
	done
}

# sy_routing DEFAULT [MAPPING]: [routing] to destination DEFAULT, and with
# MAPPING the account mapping file [mapping.file]; keys printed after it
# belong to [routing] (without MAPPING).
sy_routing() {
	printf '[routing]\ndefault_destination = "%s"\n' "$1"
	[ -z "${2:-}" ] || printf '[mapping]\nsource = "file"\n[mapping.file]\npath = "%s"\n' "$2"
}

# sy_plain_auth PROTOCOL...: [capabilities.PROTOCOL] taking credentials
# without TLS, for each PROTOCOL.
sy_plain_auth() { local p; for p in "$@"; do printf '[capabilities.%s]\nallow_plain_auth_without_tls = true\n' "$p"; done; }

# bench_args USAGE FLAG=VAR... -- "$@": the command line of a script that
# takes --smoke (smoke=1), the FLAGs given (--FLAG sets VAR=1; all start
# at 0), -h, up to three positional arguments (in pos) and, after `--`,
# flags for the bench itself (in extra). Anything else exits 2 with USAGE.
bench_args() {
	local usage=$1 f
	local -A flags=()
	shift
	while [ "$1" != -- ]; do flags[--${1%%=*}]=${1#*=}; shift; done
	shift
	smoke=0; pos=(); extra=()
	for f in "${flags[@]}"; do printf -v "$f" 0; done
	while [ $# -gt 0 ]; do
		case "$1" in
		--smoke) smoke=1 ;;
		--) shift; extra=("$@"); break ;;
		-h|--help) bench_help; exit 0 ;;
		-*)
			[ -n "${flags[$1]:-}" ] || { echo "$0: unknown option $1" >&2; exit 2; }
			printf -v "${flags[$1]}" 1
			;;
		*) pos+=("$1") ;;
		esac
		shift
	done
	[ "${#pos[@]}" -le 3 ] || { echo "usage: $0 $usage" >&2; exit 2; }
}
