#!/usr/bin/env bash
# HTTP/1.1 through switchyard vs straight to the backend vs nginx as a
# reverse proxy, on loopback, every party in its own process, rounds
# interleaved in one run (issue #7: requests/s and p99 added latency for
# small JMAP-like POSTs):
#
#   direct        the load generator straight to the "old" mock backend
#   switchyard    switchyard's http listener: every request routed by the
#                 account in its Authorization header through the mapping
#                 file (odd accounts → "new", the others → "old"), relayed
#                 over plaintext backend legs
#   nginx         nginx (worker_processes auto) proxying everything to
#                 "old": proxy_http_version 1.1 and upstream keepalive, no
#                 per-account routing (nginx cannot route by account
#                 without a module), so the lower bound of any HTTP proxy,
#                 as HAProxy is for the mail protocols
#   switchyard-tls, nginx-tls   with --tls: the same, client leg over TLS
#                 (ECDSA P-256, one handshake per connection)
#
# Two mock backends (switchyard-bench --mock-backend --mock-protocol http:
# bench/mockhttp, Basic auth of user0..user999 / password, a short JSON
# answer naming the backend), one switchyard, one nginx, and
# `switchyard-bench --scenario http` (each client holds a keep-alive
# connection and POSTs a ~300-byte JMAP request to /jmap/api, one at a
# time). The proxy's CPU is read from /proc for its whole process tree
# (nginx's master and workers) around each cell; for direct it is the
# mock's. Every process started here is stopped by its PID at exit; every
# loop is bounded.
#
# Usage: scripts/bench-http.sh [--smoke] [--tls] [ROUNDS] [SECONDS] [CONCURRENCY] [-- EXTRA BENCH FLAGS]
#   defaults: 3 rounds of 5 s, 16 clients; EXTRA flags go to every run
#   (e.g. -- --per-connection 100 --body-size 2000).
#   --smoke: 1 round of 2 s, 4 clients (CI); nginx is skipped when missing.
# nginx: when it is missing and this runs as root, it is installed with
# apt-get (Debian package nginx); otherwise its cells are skipped.
# Environment: BENCH_OUT (raw JSON and logs, default
# /tmp/switchyard-bench-http), BENCH_BIN (where the Go binaries are built,
# default bin). Prints a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

bench_args "[--smoke] [--tls] [ROUNDS] [SECONDS] [CONCURRENCY] [-- EXTRA BENCH FLAGS]" tls=tlsmode -- "$@"
rounds=${pos[0]:-3}; secs=${pos[1]:-5}; conc=${pos[2]:-16}
[ "$smoke" = 1 ] && { rounds=1; secs=2; conc=4; }
num ROUNDS "$rounds" 1 20; num SECONDS "$secs" 1 600; num CONCURRENCY "$conc" 1 5000
need_python

have_nginx=1
if ! command -v nginx >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "$smoke" = 0 ]; then
		echo "nginx not found: installing it with apt-get" >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2
	fi
	command -v nginx >/dev/null || { have_nginx=0; echo "nginx is not installed: its cells are skipped" >&2; }
fi

bench_out /tmp/switchyard-bench-http
bench_bin ./cmd/switchyard ./cmd/switchyard-bench
bench_tmp http
chmod 755 "$tmp" # nginx's workers (user nobody) look up its paths

users=1000
mapping=$out/mapping.txt
{ echo "# account destination (others: old)"; for ((i = 1; i < users; i += 2)); do echo "user$i new"; done; } >"$mapping"
cells=(direct switchyard)
[ "$have_nginx" = 1 ] && cells+=(nginx)
if [ "$tlsmode" = 1 ]; then
	go run ./scripts/gencert "$tmp" >/dev/null
	cells+=(switchyard-tls)
	[ "$have_nginx" = 1 ] && cells+=(nginx-tls)
fi
life=$(( rounds * ${#cells[@]} * (secs + 10) + 120 ))s
declare -A tport tpid
bench_mock mock-old 0 "$life" --mock-protocol http --mock-names old --users "$users"; oldpid=$bgpid; old=$bgport
bench_mock mock-new 0 "$life" --mock-protocol http --mock-names new --users "$users"; new=$bgport
tport[direct]=$old; tpid[direct]=$oldpid

tport[switchyard]=$(port); tport[switchyard-tls]=$(port)
tlsconf=""; tlslisten=""
if [ "$tlsmode" = 1 ]; then
	tlsconf=$(sy_cert "$tmp/cert.pem" "$tmp/key.pem")
	tlslisten=$(sy_listener https http "${tport[switchyard-tls]}" implicit)
fi
cat >"$tmp/switchyard.toml" <<TOML
[server]
backend_timeout = "5s"
$tlsconf
$(sy_listener web http "${tport[switchyard]}")
$tlslisten
[http]
max_keepalive_requests = 100000000
[[http.route]]
match = "/**"
[http.route.extract]
from = "authorization"
$(sy_destination old none "http=$old")
$(sy_destination new none "http=$new")
$(sy_routing old "$mapping")
TOML
sports=("${tport[switchyard]}")
[ "$tlsmode" = 1 ] && sports+=("${tport[switchyard-tls]}")
start_switchyard "$tmp/switchyard.toml" "${sports[@]}"
tpid[switchyard]=$sypid; tpid[switchyard-tls]=$sypid

if [ "$have_nginx" = 1 ]; then
	tport[nginx]=$(port); tport[nginx-tls]=$(port)
	mkdir -p "$tmp/nginx/logs"
	nssl=""
	[ "$tlsmode" = 1 ] && nssl="server {
        listen 127.0.0.1:${tport[nginx-tls]} ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        keepalive_requests 100000000;
        location / { proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    }"
	cat >"$tmp/nginx/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $out/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    upstream mock {
        server 127.0.0.1:$old;
        keepalive 256;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:${tport[nginx]};
        keepalive_requests 100000000;
        location / { proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
    $nssl
}
CONF
	cp "$tmp/nginx/nginx.conf" "$out/nginx.conf"
	bench_start "$out/nginx.log" nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$out/nginx-error.log"
	tpid[nginx]=$bgpid; tpid[nginx-tls]=$bgpid
	waitport "${tport[nginx]}" "$bgpid"
	[ "$tlsmode" = 1 ] && waitport "${tport[nginx-tls]}" "$bgpid"
fi

# cell CELL FILE: one http run against CELL, with the CPU of its process
# tree before and after in FILE.cpu.
cell() {
	local c=$1 f=$2 a b tls=()
	[[ "$c" = *-tls ]] && tls=(--tls implicit --insecure)
	a=$(treecpu "${tpid[$c]}")
	"$bin/switchyard-bench" --scenario http --target 127.0.0.1:"${tport[$c]}" --users "$users" \
		--concurrency "$conc" --duration "${secs}s" --pid "${tpid[$c]}" --progress 0 --json "$f.json" \
		"${tls[@]}" "${extra[@]}" >"$f.txt" 2>&1 || { echo "  $c: bench failed (see $f.txt)" >&2; failed=1; }
	b=$(treecpu "${tpid[$c]}")
	echo "$a $b" >"$f.cpu"
}
loadavg start
failed=0
bench_rounds "$rounds" cell
loadavg end
bench_meta "rounds=$rounds seconds=$secs concurrency=$conc extra=${extra[*]}" "nginx=$(nginx -v 2>&1 | sed 's/.*\///')"

python3 - "$out" "$rounds" "$secs" "$conc" "${cells[@]}" <<'PY'
import json, os, statistics, sys
out, rounds, secs, conc, cells = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]


def load(c, r):
    try:
        with open(os.path.join(out, "%s-%d.json" % (c, r))) as f:
            x = json.load(f)
        with open(os.path.join(out, "%s-%d.cpu" % (c, r))) as f:
            a, b = (float(v) for v in f.read().split())
        x["tree_cpu_s"] = b - a
        return x
    except (OSError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


runs = {c: [x for x in (load(c, r) for r in range(1, rounds + 1)) if x] for c in cells}
first = next((x[0] for x in runs.values() if x), None)
if first is None:
    sys.exit("no run succeeded")
print("%d round(s) × %s s, %s clients on keep-alive connections, POST %s with a %d-byte JSON body and Basic auth; "
      "medians over the rounds, cells interleaved (order rotated each round).\n" % (rounds, secs, conc, first["path"], first["body_size"]))
print("| path | requests/s | × direct | × nginx | p50 ms | p99 ms | p99.9 ms | added p99 ms | proxy CPU µs/request | bench CPU % | errors |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
fig = {}
for c in cells:
    rs = runs[c]
    if not rs:
        print("| %s | failed | | | | | | | | | |" % c)
        continue
    fig[c] = {
        "rate": med([x["ops_per_sec"] for x in rs]),
        "p50": med([x["latency"]["p50_ms"] for x in rs]),
        "p99": med([x["latency"]["p99_ms"] for x in rs]),
        "p999": med([x["latency"]["p99_9_ms"] for x in rs]),
        "cpu": med([x["tree_cpu_s"] * 1e6 / x["ops"] if x["ops"] else None for x in rs]),
        "bench": med([(x.get("bench_cpu") or {}).get("cpu_percent") for x in rs]),
        "errors": sum(x["errors"] for x in rs),
    }
for c in cells:
    if c not in fig:
        continue
    g = fig[c]
    d = fig.get("direct")
    base = "nginx-tls" if c.endswith("-tls") else "nginx"
    ng = fig.get(base)
    xd = "%.2f" % (g["rate"] / d["rate"]) if d and c != "direct" else "–"
    xn = "%.2f" % (g["rate"] / ng["rate"]) if ng and c != base and c != "direct" else "–"
    added = "%+.3f" % (g["p99"] - d["p99"]) if d and c != "direct" else "–"
    who = " (mock)" if c == "direct" else ""
    print("| %s | %.0f | %s | %s | %.3f | %.3f | %.3f | %s | %.1f%s | %.0f | %d |" % (
        c, g["rate"], xd, xn, g["p50"], g["p99"], g["p999"], added, g["cpu"] or 0, who, g["bench"] or 0, g["errors"]))
print()
s, d, ng = fig.get("switchyard"), fig.get("direct"), fig.get("nginx")
parts = []
if s and d:
    parts.append("switchyard / direct %.2f" % (s["rate"] / d["rate"]))
if s and ng:
    parts.append("switchyard / nginx %.2f" % (s["rate"] / ng["rate"]))
    parts.append("CPU per request switchyard / nginx %.2f" % ((s["cpu"] or 0) / (ng["cpu"] or 1)))
if s and d:
    parts.append("added p99: switchyard %+.3f ms" % (s["p99"] - d["p99"]) +
                 (", nginx %+.3f ms" % (ng["p99"] - d["p99"]) if ng else ""))
if parts:
    print("Ratios (same run): " + "; ".join(parts) + ".")
per = []
for c in cells:
    per.append("%s: %s" % (c, " / ".join("%.0f" % x["ops_per_sec"] for x in runs[c]) or "-"))
print("Requests/s per round: " + "; ".join(per) + ".")
spread = {}
for x in runs.get("switchyard", []):
    for k, v in (x.get("backends") or {}).items():
        spread[k] = spread.get(k, 0) + v
if spread:
    print("Backends that answered through switchyard: " + ", ".join("%s %d" % kv for kv in sorted(spread.items())) + ".")
PY
loadavg_line
exit "$failed"
