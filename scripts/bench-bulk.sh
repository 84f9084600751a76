#!/usr/bin/env bash
# Bulk transfer through the bridge, side by side with HAProxy, every party in
# its own process, on loopback:
#
#   direct           the client straight to the mock backend (the ceiling)
#   haproxy          HAProxy in TCP mode (nbthread 2) in front of the mock
#   switchyard-plain switchyard's plaintext listener: after login the
#                    session is bridged by the splice engine
#   switchyard-tls   switchyard's implicit-TLS listener: the proxy decrypts
#                    the client leg and copies into the plaintext backend leg
#
# One mock backend (switchyard-bench --mock-backend) whose INBOX message is
# SIZE bytes; each cell runs `switchyard-bench --scenario fetch` (log in,
# SELECT INBOX, FETCH 1 (BODY[]) again and again, literal read and
# discarded) with 1 and with 16 clients for SECONDS, cells interleaved.
# --pid samples the target from /proc: for direct the mock backend itself,
# for the proxies the proxy process only (not the mock, not the client).
# Every process started here is stopped by its PID at exit.
#
# Usage: scripts/bench-bulk.sh [SECONDS] [SIZE]     (defaults: 6, 16777216)
# Environment: BENCH_OUT (raw JSON and logs, default /tmp/switchyard-bench-bulk),
# BENCH_BIN (where the Go binaries are built, default bin), BASELINE (a git
# revision: switchyard built from it runs beside, as baseline-plain and
# baseline-tls, for before and after figures in one run).
# Prints a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh

secs=${1:-6}; size=${2:-16777216}
num SECONDS "$secs" 1 600; num SIZE "$size" 1024 1073741824
command -v haproxy >/dev/null || { echo "haproxy is not installed" >&2; exit 2; }

bench_out /tmp/switchyard-bench-bulk
bench_bin ./cmd/switchyard ./cmd/switchyard-bench
[ -z "${BASELINE:-}" ] || baseline_bin "$BASELINE"

bench_tmp bulk

users=16
hport=$(port); splain=$(port); stls=$(port); bplain=$(port); btls=$(port)
go run ./scripts/gencert "$tmp" >/dev/null

bench_mock mock 0 2h --mock-names mock --users "$users" --password password --mock-message-size "$size"
mockpid=$bgpid; mock=$bgport

cat >"$tmp/haproxy.cfg" <<CFG
global
    maxconn 1000
    nbthread 2
defaults
    mode tcp
    timeout connect 5s
    timeout client 10m
    timeout server 10m
frontend imap
    bind 127.0.0.1:$hport
    default_backend mock
backend mock
    server mock 127.0.0.1:$mock
CFG
cp "$tmp/haproxy.cfg" "$out/haproxy.cfg"
bench_start "$out/haproxy.log" haproxy -db -f "$tmp/haproxy.cfg"; hapid=$bgpid
waitport "$hport" "$hapid"

sy_config() { # sy_config PLAIN_PORT TLS_PORT
	cat <<TOML
[server]
backend_timeout = "5s"
$(sy_cert "$tmp/cert.pem" "$tmp/key.pem")
$(sy_listener plain imap "$1")
$(sy_listener tls imap "$2" implicit)
$(sy_destination mock none "imap=$mock")
$(sy_routing mock)
$(sy_plain_auth imap)
TOML
}
sy_config "$splain" "$stls" >"$tmp/switchyard.toml"
start_switchyard "$tmp/switchyard.toml" "$splain" "$stls"

targets=(direct haproxy switchyard-plain switchyard-tls)
declare -A tport=([direct]=$mock [haproxy]=$hport [switchyard-plain]=$splain [switchyard-tls]=$stls)
declare -A tpid=([direct]=$mockpid [haproxy]=$hapid [switchyard-plain]=$sypid [switchyard-tls]=$sypid)
if [ -n "${BASELINE:-}" ]; then
	sy_config "$bplain" "$btls" >"$tmp/baseline.toml"
	bench_start "$out/baseline.log" "$bin/switchyard-baseline" --config "$tmp/baseline.toml" --log-level warn
	waitport "$bplain" "$bgpid"; waitport "$btls" "$bgpid"
	targets=(direct haproxy baseline-plain switchyard-plain baseline-tls switchyard-tls)
	tport[baseline-plain]=$bplain; tport[baseline-tls]=$btls
	tpid[baseline-plain]=$bgpid; tpid[baseline-tls]=$bgpid
fi

for streams in 1 16; do
	for t in "${targets[@]}"; do
		echo "fetch: $t, $streams stream(s), ${secs} s" >&2
		extra=()
		[[ "$t" = *-tls ]] && extra=(--tls implicit --insecure)
		f=$out/fetch-$t-$streams
		"$bin/switchyard-bench" --scenario fetch --target 127.0.0.1:"${tport[$t]}" --users "$users" --password password \
			--auth login --concurrency "$streams" --duration "${secs}s" --pid "${tpid[$t]}" --progress 0 \
			--json "$f.json" "${extra[@]}" >"$f.txt" 2>&1 || echo "  $t: bench failed (see $f.txt)" >&2
	done
done

{
	echo "seconds=$secs size=$size nproc=$(nproc) kernel=$(uname -r) go=$(go env GOVERSION)"
	haproxy -v | sed -n 1p
} >"$out/meta.txt"

python3 -B - "$out" "${targets[@]}" <<'PY'
import os, sys
from scripts.bench_results import load_json
out = sys.argv[1]
targets = sys.argv[2:]
def load(t, n):
    return load_json(os.path.join(out, "fetch-%s-%d.json" % (t, n)))
print("| target | streams | MB/s | × direct | × haproxy | proxy CPU-s/GB |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for n in (1, 16):
    r = {t: load(t, n) for t in targets}
    for t in targets:
        x = r[t]
        if x is None:
            print("| %s | %d | failed | | | |" % (t, n))
            continue
        mb = x.get("mb_per_sec", 0)
        def rel(o):
            y = r.get(o)
            return "%.2f" % (mb / y["mb_per_sec"]) if y and y.get("mb_per_sec") else "-"
        cpu = x.get("cpu_s_per_gb")
        cs = ("%.2f" % cpu) if cpu else "-"
        if t == "direct" and cpu:
            cs += " (mock backend)"
        errs = " (%d errors)" % x["errors"] if x.get("errors") else ""
        print("| %s | %d | %.0f%s | %s | %s | %s |" % (t, n, mb, errs, rel("direct"), rel("haproxy"), cs))
PY
