#!/bin/sh
# A self-contained HTML report of one trace (one file, the plots embedded as
# data: URIs, no network, no scripts): kmem replay's summary (records, peak
# live and held, J&W's four measures, n and M, Robson's bound, the buddy's
# guarantee, the headroom), --min-heap, the plots of scripts/plot-series.sh,
# frame maps of the arena at peak held and at the end
# (scripts/plot-frame-map.sh), and with -c the table of
# scripts/compare-replay.sh.
#
# usage: scripts/lab-report.sh [-c] [-a SIZE] [-r ROWS] [-t TITLE] TRACE OUT.html
#   -a SIZE   replay in an arena of SIZE (K/M/G suffixes; default kmem
#             replay's 1G): the arena the trace's program had, so that the
#             extfrag heat map shows where it ran out
#   -c        add the comparison with glibc, the drop-in and the peers
#   -r ROWS   about this many series rows (default 200)
#   -t TITLE  the report's title (default: the trace's name)
# Environment: KMEM (default build/tools/kmem). Needs gnuplot, base64.
set -eu
here=$(pwd)
abs() {
	case $1 in
	/*) echo "$1" ;;
	*) echo "$here/$1" ;;
	esac
}
compare=0
arena=""
rows=200
title=""
while getopts a:cr:t: opt; do
	case $opt in
	a) arena=$OPTARG ;;
	c) compare=1 ;;
	r) rows=$OPTARG ;;
	t) title=$OPTARG ;;
	*) echo "usage: $0 [-c] [-a SIZE] [-r ROWS] [-t TITLE] TRACE OUT.html" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 2 ]; then
	echo "usage: $0 [-c] [-a SIZE] [-r ROWS] [-t TITLE] TRACE OUT.html" >&2
	exit 2
fi
trace=$(abs "$1")
out=$(abs "$2")
[ -n "$title" ] || title=$(basename "$trace")
scripts=$(cd "$(dirname "$0")" && pwd)
kmem=$(abs "${KMEM:-$scripts/../build/tools/kmem}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the records, for the series' step
"$kmem" trace-dump --limit 0 "$trace" > "$tmp/count.txt" || exit 1
n=$(sed -n 's/.*, \([0-9]*\) records of .*/\1/p' "$tmp/count.txt")
[ -n "$n" ] || { echo "lab-report: $trace: cannot count its records" >&2; exit 1; }
every=$((n / rows))
[ "$every" -ge 1 ] || every=1
set --
[ -z "$arena" ] || set -- --arena "$arena"
"$kmem" replay "$@" --series "$every" --series-out "$tmp/series.csv" "$trace" > "$tmp/report.txt" 2> "$tmp/report.err" ||
	{ cat "$tmp/report.err" >&2; exit 1; }
"$kmem" replay --no-verify --min-heap "$trace" > "$tmp/min.txt" 2>&1 || true
sh "$scripts/plot-series.sh" "$tmp/series.csv" "$tmp/plots" "$title" > /dev/null
# frame maps: at the series row of peak held, and at the end
peak=$(awk -F, 'NR > 1 && $8 > m { m = $8; r = $2 } END { print r + 0 }' "$tmp/series.csv")
last=$((n - 1))
"$kmem" replay "$@" --no-verify --frame-map "$peak" --frame-map "$last" --frame-map-prefix "$tmp/map" "$trace" > /dev/null 2>&1 || true
for r in "$peak" "$last"; do
	[ -f "$tmp/map-$r.pgm" ] && sh "$scripts/plot-frame-map.sh" "$tmp/map-$r.pgm" "$tmp/map-$r.png" > /dev/null
done
if [ "$compare" -eq 1 ]; then
	KMEM="$kmem" sh "$scripts/compare-replay.sh" "$trace" > "$tmp/compare.txt" 2> /dev/null ||
		echo "(compare-replay.sh failed)" > "$tmp/compare.txt"
fi

esc() { # HTML-escape stdin
	sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'
}
img() { # file alt
	printf '<figure><img alt="%s" src="data:image/png;base64,' "$2"
	base64 -w0 < "$1"
	printf '"><figcaption>%s</figcaption></figure>\n' "$2"
}
summary() { # prefix ... : the report's lines with those prefixes, as table rows
	for p in "$@"; do
		grep "^$p" "$tmp/report.txt" | esac_line
	done
}
esac_line() {
	while IFS= read -r l; do
		k=${l%%:*}
		v=${l#*: }
		printf '<tr><th>%s</th><td>%s</td></tr>\n' "$(printf '%s' "$k" | esc)" "$(printf '%s' "$v" | esc)"
	done
}

{
	printf '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
	printf '<title>kmem fragmentation report: %s</title>\n' "$(printf '%s' "$title" | esc)"
	printf '<style>body{font-family:sans-serif;max-width:1050px;margin:1em auto}th{text-align:left;padding-right:1em;vertical-align:top}td{font-family:monospace}figure{margin:1em 0}img{max-width:100%%}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}</style>\n'
	printf '</head><body>\n<h1>kmem fragmentation report: %s</h1>\n' "$(printf '%s' "$title" | esc)"
	printf '<p>Trace <code>%s</code>, replayed by <code>kmem replay</code> on a kmem heap (buddy, frame service, slab). Definitions: the README, "The fragmentation lab".</p>\n' "$(printf '%s' "$trace" | esc)"
	printf '<h2>Summary</h2>\n<table>\n'
	summary "records" "heap" "replayed" "peak live" "held" "jw" "size ratio" "robson" "buddy guarantee" "headroom" "internal fragmentation" "check" "teardown"
	grep '^min heap' "$tmp/min.txt" | esac_line
	printf '</table>\n<h2>Over time</h2>\n<p>A row every %s records.</p>\n' "$every"
	img "$tmp/plots/memory.png" "live, usable and held bytes"
	img "$tmp/plots/fragmentation.png" "fragmentation: J&amp;W now and so far, internal"
	img "$tmp/plots/free-blocks.png" "free blocks per order (heat map)"
	img "$tmp/plots/extfrag.png" "extfrag index per order (heat map)"
	printf '<h2>The arena</h2>\n<p>Frame maps (one pixel per group of frames, in address order; black used, free blocks coloured by order) at the series row of peak held (record %s) and at the end (record %s).</p>\n' "$peak" "$last"
	for r in "$peak" "$last"; do
		[ -f "$tmp/map-$r.png" ] && img "$tmp/map-$r.png" "the arena after record $r"
	done
	if [ "$compare" -eq 1 ]; then
		printf '<h2>Against other allocators</h2>\n<pre>'
		esc < "$tmp/compare.txt"
		printf '</pre>\n'
	fi
	printf '<h2>The whole report</h2>\n<pre>'
	esc < "$tmp/report.txt"
	printf '</pre>\n</body></html>\n'
} > "$out"
echo "lab-report: $out"
