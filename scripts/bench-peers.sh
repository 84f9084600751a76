#!/usr/bin/env bash
# Side by side, IMAP, on loopback, in one run: switchyard against the proxies
# people would otherwise choose, all in front of the same mock backends
# (switchyard-bench --mock-backend: "old" and "new", accounts
# user0..user999 / password, half of them mapped to "new"):
#
#   direct      straight to the "old" mock backend (the ceiling)
#   haproxy     HAProxy in TCP mode, round robin over both backends
#               (no per-account routing: the lower bound of any proxy)
#   switchyard  bin/switchyard, routing by the mapping file
#   nginx       nginx's mail proxy (libnginx-mod-mail) with bench/authhttp
#               answering auth_http from the same mapping file
#   dovecot     Dovecot's imap-login in proxy mode (passwd-file passdb with
#               proxy=y host= port= nopassword=y from the same mapping),
#               high-performance login processes (service_count = 0)
#   gnet        not a proxy: bench/gnetmock, a bare IMAP responder on gnet
#               with the engine's loop settings, taking every login itself
#               (gnet accepting): what one side of a login costs in the
#               reactor switchyard is built on, its floor
#   gnet-enroll the same, but Go accepts and gnet's Register takes each
#               connection over, as switchyard's engine does (gnet's own
#               accept stops the whole engine on EMFILE)
#
# Scenarios:
#   1. login storm: 32 concurrent clients; connect, AUTHENTICATE PLAIN
#      (SASL-IR), NOOP, LOGOUT; ROUNDS rounds of SECONDS each, interleaved
#      across the targets; CPU of each target's processes from /proc;
#   2. idle pre-auth: IDLE_CONNS connections that only read the greeting,
#      on a freshly started target; RSS (and PSS) summed over all the
#      target's processes, before and with every connection open;
#   3. bridged: BRIDGED_CONNS logged-in idle sessions, likewise.
#
# It installs nothing: a peer whose binaries are missing is skipped and the
# summary says so (Debian: apt-get install haproxy dovecot-imapd nginx-light
# libnginx-mod-mail). Every process it starts is stopped by PID at exit;
# every loop is bounded. Raw JSON and logs go to $BENCH_OUT
# (default /tmp/switchyard-bench-peers), the Markdown tables to stdout.
#
# Usage:
#   scripts/bench-peers.sh [ROUNDS] [SECONDS] [IDLE_CONNS] [BRIDGED_CONNS]
#   scripts/bench-peers.sh --smoke      # ~30 s, switchyard, gnet-enroll and direct (CI)
# Environment: BENCH_OUT, BENCH_BIN (where the Go binaries are built, default
# bin), PEERS (default "haproxy switchyard nginx dovecot gnet gnet-enroll"), HOLD (seconds),
# BASELINE (a git revision: switchyard built from it runs as the peer
# "baseline", the same configuration beside the current tree, for before
# and after figures in one run), TLS=1 (switchyard, the baseline and nginx
# also listen with implicit TLS, one certificate, session tickets on; the
# login storm adds for each a round of full handshakes, "<peer>-tls", and
# one where the client resumes, "<peer>-tls-resumed"; nginx as
# `listen … ssl` with ssl_session_tickets and a shared session cache),
# OPEN_RATE=R (each plaintext target also gets an open-loop round,
# "<target>-open": R logins started per second whatever it does, latency
# counted from when each was due; the added latency at that load).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

smoke=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
rounds=${1:-3}; secs=${2:-6}; idle=${3:-5000}; bridged=${4:-4000}
hold=${HOLD:-8}
peers=${PEERS:-haproxy switchyard nginx dovecot gnet gnet-enroll}
[ -n "${BASELINE:-}" ] && peers="baseline $peers"
if [ "$smoke" = 1 ]; then
	rounds=1; secs=2; idle=200; bridged=200; hold=3; peers="switchyard gnet-enroll"
fi
# Connections come from 16 loopback addresses (--sources 16), under the
# per-address cap of every proxy here (switchyard's max_connections_per_ip
# is 1024 by default; the configuration stays one a baseline also reads).
# Bounds: the descriptor limit here is 20,000 per process, and a proxy holds
# two per bridged session; the bench holds one per connection.
num ROUNDS "$rounds" 1 20; num SECONDS "$secs" 1 120; num IDLE_CONNS "$idle" 1 18000
num BRIDGED_CONNS "$bridged" 1 4000; num HOLD "$hold" 1 600

bench_out /tmp/switchyard-bench-peers
users=1000

bench_bin ./cmd/switchyard ./cmd/switchyard-bench
go build -o "$bin/switchyard-authhttp" ./bench/authhttp
[ -z "${BASELINE:-}" ] || baseline_bin "$BASELINE"

# Runtime directories (Dovecot's unix sockets need a short path).
tmp=$(mktemp -d /tmp/sy-peers.XXXXXX)
chmod 755 "$tmp" # Dovecot's auth process (user dovecot) reads its passwd-file here
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do stop_tree "$p"; done
	rm -rf "$tmp"
}
forget() { # drop a stopped PID from the list cleanup stops (PIDs get reused)
	local p keep=()
	for p in "${pids[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	pids=("${keep[@]}")
}
trap cleanup EXIT
trap 'exit 130' INT TERM

descendants() { # the PIDs below $1 (children of children too)
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"; descendants "$c"
	done
}
stop_tree() { # SIGTERM a process we started, then its leftover children; bounded
	local root=$1 kids p i
	alive "$root" || { forget "$root"; return 0; }
	kids=$(descendants "$root")
	kill -TERM "$root" 2>/dev/null || true
	for i in $(seq 50); do alive "$root" || break; sleep 0.1; done
	alive "$root" && kill -KILL "$root" 2>/dev/null
	for p in $kids; do alive "$p" && kill -TERM "$p" 2>/dev/null; done
	sleep 0.2
	for p in $kids; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
	wait "$root" 2>/dev/null || true
	forget "$root"
}


# sample FILE LABEL PID...: append one JSON line with the sum over the PIDs
# and all their descendants of CPU seconds (utime+stime), VmRSS, RssAnon (the
# private, anonymous part: not the shared binary and libraries, so it does not
# change when another process maps the same file), PSS (smaps_rollup),
# descriptors and the number of processes. --pid of the bench
# takes one PID; nginx and Dovecot are several processes.
sample() { python3 scripts/bench-proc.py sample "$@"; }

# ---- the mock backends and the shared mapping ------------------------------
old=$(port); new=$(port)
mapping=$out/mapping.txt
{ echo "# account destination (others: old)"; for ((i = 1; i < users; i += 2)); do echo "user$i new"; done; } >"$mapping"
dest_port() { [ "$1" = new ] && echo "$new" || echo "$old"; }

mockpid=
start_mock() {
	"$bin/switchyard-bench" --mock-backend 127.0.0.1:"$old",127.0.0.1:"$new" --users "$users" \
		--password password --duration 30m >>"$out/mock.log" 2>&1 &
	mockpid=$!; pids+=("$mockpid")
	waitport "$old" "$mockpid"; waitport "$new" "$mockpid"
}
restart_mock() { stop_tree "$mockpid"; start_mock; }

# ---- the targets --------------------------------------------------------------
# start_<name> starts a freshly configured peer on port ${tport[name]} and sets
# tpids[name] to the PIDs whose process trees are that peer.
declare -A tport tpids skipped
for t in haproxy switchyard baseline nginx dovecot gnet gnet-enroll; do tport[$t]=$(port); done
tport[direct]=$old
tls=${TLS:-0}
if [ "$tls" = 1 ]; then
	for t in switchyard baseline nginx; do tport[$t-tls]=$(port); done
	go run ./scripts/gencert "$tmp" >/dev/null
fi
# tls_listener NAME: switchyard's implicit TLS listener, with TLS=1.
tls_listener() {
	[ "$tls" = 1 ] || return 0
	sy_cert "$tmp/cert.pem" "$tmp/key.pem"
	sy_listener tls imap "${tport[$1-tls]}" implicit
	printf 'preauth_timeout = "10m"\nmax_connections = 19000\n'
}

start_direct() { tpids[direct]=$mockpid; }

start_haproxy() {
	local d=$tmp/haproxy; mkdir -p "$d"
	cat >"$d/haproxy.cfg" <<CFG
global
    maxconn 9500
    nbthread $(nproc)
defaults
    mode tcp
    timeout connect 5s
    timeout client 30m
    timeout server 30m
frontend imap
    bind 127.0.0.1:${tport[haproxy]}
    default_backend mocks
backend mocks
    balance roundrobin
    server old 127.0.0.1:$old
    server new 127.0.0.1:$new
CFG
	cp "$d/haproxy.cfg" "$out/haproxy.cfg"
	haproxy -db -f "$d/haproxy.cfg" >>"$out/haproxy.log" 2>&1 &
	local p=$!; pids+=("$p"); tpids[haproxy]=$p
	waitport "${tport[haproxy]}" "$p"
}

start_switchyard() { start_sy switchyard "$bin/switchyard"; }
start_baseline() { start_sy baseline "$bin/switchyard-baseline"; }
start_sy() { # start_sy NAME BINARY
	local name=$1 binary=$2 d=$tmp/$1; mkdir -p "$d"
	cat >"$d/switchyard.toml" <<TOML
[server]
backend_timeout = "5s"
$(sy_listener plain imap "${tport[$name]}")
preauth_timeout = "10m"
max_connections = 19000
$(tls_listener "$name")
$(sy_destination old xclient "imap=$old")
$(sy_destination new xclient "imap=$new")
$(sy_routing old "$mapping")
$(sy_plain_auth imap)
TOML
	cp "$d/switchyard.toml" "$out/$name.toml"
	"$binary" --config "$d/switchyard.toml" --log-level warn >>"$out/$name.log" 2>&1 &
	local p=$!; pids+=("$p"); tpids[$name]=$p
	waitport "${tport[$name]}" "$p"
	[ "$tls" = 0 ] || waitport "${tport[$name-tls]}" "$p"
}

nginx_mod=/usr/lib/nginx/modules/ngx_mail_module.so
start_nginx() {
	local d=$tmp/nginx ah tlsserver=""; mkdir -p "$d"
	ah=$(port)
	[ "$tls" = 0 ] || tlsserver="server {
        listen 127.0.0.1:${tport[nginx-tls]} ssl;
        protocol imap;
        proxy on;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_session_cache shared:MAIL:10m;
        ssl_session_tickets on;
    }"
	"$bin/switchyard-authhttp" --listen 127.0.0.1:"$ah" --mapping "$mapping" \
		--dest old=127.0.0.1:"$old" --dest new=127.0.0.1:"$new" --default old >>"$out/authhttp.log" 2>&1 &
	local ap=$!; pids+=("$ap")
	waitport "$ah" "$ap"
	cat >"$d/nginx.conf" <<CONF
load_module $nginx_mod;
daemon off;
master_process on;
worker_processes $(nproc);
worker_rlimit_nofile 20000;
pid $d/nginx.pid;
error_log $d/error.log warn;
events {
    worker_connections 19000;
}
mail {
    auth_http 127.0.0.1:$ah/auth;
    proxy_pass_error_message on;
    imap_capabilities IMAP4rev1 SASL-IR;
    imap_auth plain login;
    timeout 10m;
    proxy_timeout 30m;
    server {
        listen 127.0.0.1:${tport[nginx]};
        protocol imap;
        proxy on;
    }
    $tlsserver
}
CONF
	cp "$d/nginx.conf" "$out/nginx.conf"
	nginx -p "$d" -e "$d/error.log" -c "$d/nginx.conf" >>"$out/nginx.log" 2>&1 &
	local p=$!; pids+=("$p"); tpids[nginx]="$p $ap"
	waitport "${tport[nginx]}" "$p"
	[ "$tls" = 0 ] || waitport "${tport[nginx-tls]}" "$p"
}

start_dovecot() {
	local d=$tmp/dovecot i dest; mkdir -p "$d"
	# passdb: every account with the proxy fields of its destination; an
	# empty password with nopassword=y accepts any password here, and the
	# login process forwards the client's password to the backend.
	declare -A m=()
	while read -r a b; do [[ "$a" = \#* || -z "$a" ]] || m[$a]=$b; done <"$mapping"
	for ((i = 0; i < users; i++)); do
		dest=${m[user$i]:-old}
		echo "user$i:::::::proxy=y host=127.0.0.1 port=$(dest_port "$dest") nopassword=y"
	done >"$d/passwd"
	cat >"$d/dovecot.conf" <<CONF
# Generated by scripts/bench-peers.sh. Standalone: no includes.
instance_name = sy-bench-peers-$$
base_dir = $d/run
state_dir = $d/state
log_path = $out/dovecot-server.log
# One "proxy(user): started proxying" info line per login is still sent to
# the log process; it is not written anywhere.
info_log_path = /dev/null
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = $d/passwd
}
# Never consulted when proxying; Dovecot wants one.
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=/nonexistent
}
# High-performance mode: long-lived login processes (one per core), each
# serving many clients, instead of one process per connection.
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${tport[dovecot]}
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = $(nproc)
  client_limit = 9500
  vsz_limit = 2G
}
service imap-urlauth-login {
  inet_listener imap-urlauth {
    port = 0
  }
}
CONF
	cp "$d/dovecot.conf" "$out/dovecot.conf"
	dovecot -F -c "$d/dovecot.conf" >>"$out/dovecot.log" 2>&1 &
	local p=$!; pids+=("$p"); tpids[dovecot]=$p
	waitport "${tport[dovecot]}" "$p"
}

start_gnet() { start_gnetmock gnet imap-gnet; }
start_gnet-enroll() { start_gnetmock gnet-enroll imap-gnet-enroll; }
start_gnetmock() { # start_gnetmock NAME MOCK-PROTOCOL
	"$bin/switchyard-bench" --mock-backend 127.0.0.1:"${tport[$1]}" --mock-protocol "$2" --mock-names "$1" \
		--duration 30m >>"$out/$1.log" 2>&1 &
	local p=$!; pids+=("$p"); tpids[$1]=$p
	waitport "${tport[$1]}" "$p"
}

stop_target() { # stop_target NAME (the mock of "direct" keeps running)
	local p
	[ "$1" = direct ] && return 0
	for p in ${tpids[$1]}; do stop_tree "$p"; done
	tpids[$1]=
}

# Which peers can run here?
targets=(direct)
for t in $peers; do
	case $t in
	haproxy) command -v haproxy >/dev/null || { skipped[$t]="haproxy not installed"; continue; } ;;
	nginx) command -v nginx >/dev/null && [ -f "$nginx_mod" ] || { skipped[$t]="nginx or $nginx_mod not installed (libnginx-mod-mail)"; continue; } ;;
	dovecot) command -v dovecot >/dev/null && id dovenull >/dev/null 2>&1 && id dovecot >/dev/null 2>&1 ||
		{ skipped[$t]="dovecot or its dovecot/dovenull users not installed"; continue; }
		[ "$(id -u)" = 0 ] || { skipped[$t]="dovecot needs root here (login processes run as dovenull)"; continue; } ;;
	switchyard | baseline | gnet | gnet-enroll) ;;
	*) echo "unknown peer $t" >&2; exit 2 ;;
	esac
	targets+=("$t")
done

start_mock
started=()
for t in "${targets[@]}"; do
	if "start_$t"; then started+=("$t"); else skipped[$t]="did not start (see $out/$t.log)"; stop_target "$t"; fi
done
targets=("${started[@]}")
{
	for t in "${!skipped[@]}"; do echo "$t: ${skipped[$t]}"; done
} >"$out/skipped.txt"
echo "targets: ${targets[*]}; skipped: $(cut -d: -f1 "$out/skipped.txt" | tr '\n' ' ')" >&2

bench() { "$bin/switchyard-bench" --users "$users" --password password "$@"; }

# ---- 1. login storm, interleaved ---------------------------------------------
# With TLS=1 a peer that terminates TLS is also driven as <peer>-tls (full
# handshakes) and <peer>-tls-resumed (the client resumes with its tickets).
login_targets=()
for t in "${targets[@]}"; do
	login_targets+=("$t")
	[ "$tls" = 1 ] && [ -n "${tport[$t-tls]:-}" ] && login_targets+=("$t-tls" "$t-tls-resumed")
	[ "${OPEN_RATE:-0}" = 0 ] || login_targets+=("$t-open")
done
for r in $(seq "$rounds"); do
	for lt in "${login_targets[@]}"; do
		echo "login storm round $r/$rounds: $lt" >&2
		f=$out/login-$lt-$r
		t=${lt%%-tls*}; t=${t%-open}; port=${tport[$t]}; extra=()
		case $lt in
		*-open) extra=(--rate "$OPEN_RATE" --concurrency 2048) ;;
		*-tls) port=${tport[$t-tls]}; extra=(--tls implicit --insecure) ;;
		*-tls-resumed) port=${tport[$t-tls]}; extra=(--tls implicit --insecure --tls-resume) ;;
		esac
		# shellcheck disable=SC2086
		sample "$f.proc.json" before ${tpids[$t]}
		sample "$f.mock.json" before "$mockpid"
		bench --scenario login --target 127.0.0.1:"$port" --concurrency 32 "${extra[@]}" \
			--duration "${secs}s" --progress 0 --json "$f.json" >"$f.txt" 2>&1 || echo "  $lt: bench failed (see $f.txt)" >&2
		# shellcheck disable=SC2086
		sample "$f.proc.json" after ${tpids[$t]}
		sample "$f.mock.json" after "$mockpid"
	done
done
for t in "${targets[@]}"; do stop_target "$t"; done

# ---- 2. and 3. idle sessions, each on a fresh target and a fresh backend -----
idle_run() { # idle_run SCENARIO TARGET CONNS [flags]
	local sc=$1 t=$2 n=$3 f bp i; shift 3
	f=$out/$sc-$t
	restart_mock
	if ! "start_$t"; then echo "  $t did not start" >&2; stop_target "$t"; return 0; fi
	sleep 1
	# shellcheck disable=SC2086
	sample "$f.proc.json" start ${tpids[$t]}
	bench --scenario idle --target 127.0.0.1:"${tport[$t]}" --conns "$n" --hold "${hold}s" \
		--concurrency 200 --sources 16 --progress 1s --json "$f.json" "$@" >"$f.txt" 2>"$f.err" &
	bp=$!; pids+=("$bp")
	# Every session is open once the bench says it is holding them.
	for i in $(seq 1800); do
		grep -q holding "$f.err" 2>/dev/null && break
		alive "$bp" || break
		sleep 0.1
	done
	# shellcheck disable=SC2086
	sample "$f.proc.json" established ${tpids[$t]}
	# Again near the end of the hold, once transient memory had time to go.
	local until=$((SECONDS + hold - 3))
	for i in $(seq $((10 * hold))); do [ "$SECONDS" -lt "$until" ] && alive "$bp" || break; sleep 0.1; done
	# shellcheck disable=SC2086
	alive "$bp" && sample "$f.proc.json" held ${tpids[$t]}
	wait "$bp" || echo "  $t: bench failed (see $f.txt)" >&2
	forget "$bp"
	stop_target "$t"
}
for t in "${targets[@]}"; do
	echo "idle pre-auth: $t ($idle connections)" >&2
	idle_run idle "$t" "$idle" --preauth
done
for t in "${targets[@]}"; do
	echo "bridged sessions: $t ($bridged sessions)" >&2
	idle_run bridged "$t" "$bridged"
done

{
	echo "targets=${targets[*]}"
	echo "login_targets=${login_targets[*]}"
	[ -n "${BASELINE:-}" ] && echo "baseline=$(git rev-parse --short "$BASELINE")"
	printf '%s\n' "rounds=$rounds" "seconds=$secs" "idle=$idle" "bridged=$bridged" "hold=$hold" "users=$users"
	echo "nproc=$(nproc)"
	echo "kernel=$(uname -r)"
	echo "go=$(go env GOVERSION)"
	command -v haproxy >/dev/null && echo "haproxy=$(haproxy -v | head -1)"
	command -v nginx >/dev/null && echo "nginx=$(nginx -v 2>&1)"
	command -v dovecot >/dev/null && echo "dovecot=Dovecot $(dovecot --version)"
} >"$out/meta.txt"
python3 -B scripts/bench-peers-summary.py "$out"
