#!/usr/bin/env bash
# Plots switchyard-bench results (--json files) as one PNG of four panels:
#
#   throughput over time      operations/s per interval (the "timeline" of
#                             the JSON, --timeline 1s by default)
#   latency over time         p50 (dashed) and p99 (solid) of each interval
#   target CPU and RSS        the sampled process (--pid): CPU % of a core
#                             (solid, left axis) and RSS in MiB (dashed,
#                             right axis)
#   latency by percentile     the whole run's distribution ("latency_cdf"),
#                             p0 to p99.99 on a log-of-tail axis, to compare
#                             the files (e.g. direct vs switchyard vs nginx)
#
# A mixed-scenario result (--scenario mixed) gives one series per component
# (login-imap, deliver-lmtp, ...); the other scenarios one per file. Label a
# file with LABEL=FILE, otherwise its name without .json is used.
#
# Usage: scripts/bench-plot.sh [--title TEXT] [--size WxH] RESULT.json... OUT.png
#   --size: in pixels, default 1000x740. The plot is drawn anti-aliased
#   (pngcairo), then stored with a 256-colour palette (gnuplot's png
#   terminal): 30-50 KB instead of 80-120 KB.
#
# Needs python3 and gnuplot (Debian package gnuplot-nox); when gnuplot is
# missing and this runs as root, it installs gnuplot-nox with apt-get and
# says so.
set -euo pipefail

title=""; size=1000,740; args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--title) title=${2:-}; shift ;;
	--size) size=${2:-}; shift ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) args+=("$1") ;;
	esac
	shift
done
[ "${#args[@]}" -ge 2 ] || { echo "usage: $0 [--title TEXT] [--size WxH] RESULT.json... OUT.png" >&2; exit 2; }
[[ "$size" =~ ^([0-9]{3,4})[x,]([0-9]{3,4})$ ]] || { echo "$0: --size wants WxH, e.g. 1100x820" >&2; exit 2; }
size="${BASH_REMATCH[1]},${BASH_REMATCH[2]}"
png=${args[-1]}; unset 'args[-1]'
[ "${#args[@]}" -le 12 ] || { echo "$0: at most 12 result files" >&2; exit 2; }
case "$png" in *.png) ;; *) echo "$0: the last argument must be the output .png" >&2; exit 2 ;; esac
command -v python3 >/dev/null || { echo "$0: python3 is not installed" >&2; exit 2; }
if ! command -v gnuplot >/dev/null; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		echo "$0: gnuplot not found: installing gnuplot-nox with apt-get" >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >&2
	else
		echo "$0: gnuplot not found; install it (Debian: apt-get install gnuplot-nox)" >&2
		exit 2
	fi
fi

tmp=$(mktemp -d /tmp/sy-plot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Extract the series into data files and write the gnuplot program.
python3 - "$tmp" "$png" "$title" "$size" "${args[@]}" <<'PY'
import json, math, os, sys

tmp, png, title, size = sys.argv[1:5]
specs = sys.argv[5:]


def q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


files = []
for spec in specs:
    # LABEL=FILE: the label may hold '=' too; the file is what exists.
    label, path = None, spec
    if not os.path.exists(spec):
        for i, ch in enumerate(spec):
            if ch == "=" and os.path.exists(spec[i + 1:]):
                label, path = spec[:i], spec[i + 1:]
                break
    try:
        with open(path) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit("bench-plot: %s: %s" % (path, e))
    if label is None:
        label = os.path.basename(path)
        if label.endswith(".json"):
            label = label[:-5]
    files.append((label, r))

series = []   # (label, timeline, cdf)
targets = []  # (label, timeline)
for label, r in files:
    if r.get("scenario") == "mixed":
        for c in r.get("components", []):
            name = c["name"] if len(files) == 1 else "%s %s" % (label, c["name"])
            tl = c.get("timeline") or []
            series.append((name, tl, c.get("latency_cdf") or []))
    else:
        series.append((label, r.get("timeline") or [], r.get("latency_cdf") or []))
    tl = r.get("timeline") or []
    if any(p.get("target") for p in tl):
        targets.append((label, tl))

if not any(s[1] or s[2] for s in series):
    sys.exit("bench-plot: no timeline and no latency_cdf in these files (run switchyard-bench with --timeline and --json)")


def tail(p):
    return -math.log10(1 - p / 100.0)


for i, (name, tl, cdf) in enumerate(series):
    with open(os.path.join(tmp, "s%d.tl" % i), "w") as f:
        for p in tl:
            # No latency in an interval where nothing completed: a gap, not 0.
            lat = "%g %g" % (p["p50_ms"], p["p99_ms"]) if p.get("ops") else "NaN NaN"
            # Each point at the middle of its interval.
            f.write("%g %g %s %d\n" % (p["t"] - p.get("seconds", 0) / 2, p["ops_per_sec"], lat, p.get("errors", 0)))
    with open(os.path.join(tmp, "s%d.cdf" % i), "w") as f:
        for x in cdf:
            if x["p"] < 100 and x["ms"] > 0:
                f.write("%g %g %g\n" % (tail(x["p"]), x["ms"], x["p"]))
for j, (name, tl) in enumerate(targets):
    with open(os.path.join(tmp, "t%d.tl" % j), "w") as f:
        for p in tl:
            t = p.get("target")
            if t:
                f.write("%g %g %g\n" % (p["t"] - p.get("seconds", 0) / 2, t["cpu_percent"], t["rss_kib"] / 1024.0))

many = len(series) > 2
# Colours that stay apart (Tableau 10), by series index.
colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf", "#bcbd22"]


def lc(i):
    return "lc rgb '%s'" % colours[i % len(colours)]


g = []
g.append("set terminal pngcairo size %s font 'DejaVu Sans,9' noenhanced" % size)
g.append("set output %s" % q(os.path.join(tmp, "full.png")))
g.append("set datafile missing 'NaN'")
g.append("set key top left font ',8' samplen 2 spacing 0.9 opaque box lc rgb '#cccccc'")
g.append("set grid lt 1 lc rgb '#e8e8e8' lw 1 dt solid")
g.append("set border lc rgb '#666666'")
head = title or ", ".join(l for l, _ in files)
g.append("set multiplot layout 2,2 title %s font ',11'" % q(head))


def plots(parts):
    if not parts:  # an empty panel: fixed ranges, a line outside them
        return "set xrange [0:1]; set yrange [0:1]; unset key; plot -1 notitle; set autoscale; set key"
    return "plot " + ", \\\n     ".join(parts)


# 1. throughput
g.append("set title 'throughput (per interval)'")
g.append("set xlabel 'seconds'; set ylabel 'operations/s'; set yrange [0:*]; set xrange [0:*]")
g.append(plots(["%s using 1:2 with lines lw 1.5 %s title %s" % (q(os.path.join(tmp, "s%d.tl" % i)), lc(i), q(n))
                for i, (n, tl, _) in enumerate(series) if tl]))
# 2. latency per interval
g.append("set title 'latency per interval: p99 solid%s'" % ("" if many else ", p50 dashed"))
g.append("set ylabel 'ms'; set yrange [*:*]; set logscale y 10")
parts = []
for i, (n, tl, _) in enumerate(series):
    if not tl:
        continue
    f = q(os.path.join(tmp, "s%d.tl" % i))
    parts.append("%s using 1:4 with lines lw 1.5 %s title %s" % (f, lc(i), q(n + " p99")))
    if not many:
        parts.append("%s using 1:3 with lines lw 1 dt 2 %s title %s" % (f, lc(i), q(n + " p50")))
g.append(plots(parts))
g.append("unset logscale y")
# 3. target CPU and RSS
g.append("set title 'target process: CPU solid (left), RSS dashed (right)'")
g.append("set key bottom right")
g.append("set ylabel 'CPU % of one core'; set yrange [0:*]")
if targets:
    g.append("set y2label 'RSS MiB'; set y2range [0:*]; set y2tics; set ytics nomirror")
parts = []
for j, (n, tl) in enumerate(targets):
    f = q(os.path.join(tmp, "t%d.tl" % j))
    parts.append("%s using 1:2 with lines lw 1.5 %s title %s" % (f, lc(j), q(n + " CPU")))
    parts.append("%s using 1:3 axes x1y2 with lines lw 1 dt (8,4) %s title %s" % (f, lc(j), q(n + " RSS")))
if not parts:
    g.append("set label 1 'no target sampled (--pid)' at graph 0.5,0.5 center")
g.append(plots(parts))
g.append("unset label 1; unset y2tics; unset y2label; set ytics mirror; set key top left")
# 4. latency by percentile
g.append("set title 'latency by percentile (whole run)'")
g.append("set key bottom right")
g.append("set xlabel 'percentile'; set ylabel 'ms'; set yrange [*:*]; set logscale y 10; set xrange [0:4.2]")
g.append("set xtics ('0' 0, '50' %g, '90' 1, '99' 2, '99.9' 3, '99.99' 4)" % tail(50))
g.append(plots(["%s using 1:2 with linespoints lw 1.5 pt 7 ps 0.4 %s title %s" % (q(os.path.join(tmp, "s%d.cdf" % i)), lc(i), q(n))
                for i, (n, _, cdf) in enumerate(series) if cdf]))
g.append("unset multiplot")
g.append("set output")
# Again, the anti-aliased picture as an image, through the palette terminal.
w, h = (int(x) for x in size.split(","))
g.append("reset")
g.append("set terminal png size %d,%d notruecolor" % (w, h))
g.append("set output %s" % q(png))
g.append("unset border; unset tics; unset key; set lmargin at screen 0; set rmargin at screen 1; set tmargin at screen 1; set bmargin at screen 0")
g.append("set xrange [-0.5:%g]; set yrange [-0.5:%g]" % (w - 0.5, h - 0.5))
g.append("plot %s binary filetype=png with rgbimage" % q(os.path.join(tmp, "full.png")))
g.append("set output")
with open(os.path.join(tmp, "plot.gp"), "w") as f:
    f.write("\n".join(g) + "\n")
PY
gnuplot "$tmp/plot.gp"
bytes=$(stat -c %s "$png")
echo "$png: $bytes bytes" >&2
[ "$bytes" -le 100000 ] || echo "$0: $png is over 100 KB; a smaller --size makes it lighter" >&2
