#!/bin/sh
# Plots of a `kmem replay --series N` CSV with gnuplot (Debian: gnuplot-nox;
# scripts/setup.sh installs it):
#   OUTDIR/memory.png        live (requested), usable and held bytes over time,
#                            and, with the release step, the heap's resident
#                            bytes (what the decay curve has not released)
#   OUTDIR/fragmentation.png J&W's fragmentation now and running #1..#4,
#                            internal fragmentation, in %
#   OUTDIR/free-blocks.png   free blocks per order over time (a heat map,
#                            log2(1 + count)), /proc/buddyinfo sampled
#   OUTDIR/extfrag.png       Linux's extfrag index per order over time (a
#                            heat map; -1: a block of that order is free)
# The x axis is the trace record (time in calls). Columns are found by their
# names in the CSV's header, so the script follows the series' format.
# usage: scripts/plot-series.sh SERIES.csv OUTDIR [TITLE]
set -eu
if [ $# -lt 2 ]; then
	echo "usage: $0 SERIES.csv OUTDIR [TITLE]" >&2
	exit 2
fi
csv="$1"
out="$2"
title="${3:-$(basename "$csv")}"
command -v gnuplot > /dev/null || { echo "plot-series: gnuplot not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -s "$csv" ] || { echo "plot-series: $csv: empty or missing" >&2; exit 1; }
head -n 1 "$csv" | grep -q '^row,record,seq,live_bytes,' || { echo "plot-series: $csv: not a kmem replay --series CSV" >&2; exit 1; }
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# the per-order columns as grids: record order value
awk -F, -v pre=free_o -v lg=1 '
NR == 1 { for (i = 1; i <= NF; i++) if (index($i, pre) == 1) { col[++n] = i; ord[n] = substr($i, length(pre) + 1) } next }
{ for (k = 1; k <= n; k++) { v = $col[k]; if (lg) v = log(1 + v) / log(2); print $2, ord[k], v } print "" }' "$csv" > "$tmp/free.dat"
awk -F, -v pre=extfrag_o '
NR == 1 { for (i = 1; i <= NF; i++) if (index($i, pre) == 1) { col[++n] = i; ord[n] = substr($i, length(pre) + 1) } next }
{ for (k = 1; k <= n; k++) print $2, ord[k], $col[k]; print "" }' "$csv" > "$tmp/extfrag.dat"
maxo=$(head -n 1 "$csv" | tr ',' '\n' | grep -c '^free_o')
# resident_bytes has values only with the release step (empty fields otherwise)
resident=
if head -n 1 "$csv" | tr ',' '\n' | grep -qx resident_bytes &&
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "resident_bytes") c = i; next }
		$c != "" { found = 1; exit } END { exit !found }' "$csv"; then
	resident=', "" using "record":(column("resident_bytes")/1048576.0) with lines dt 3 lw 2 title "resident (not released)"'
fi

gnuplot <<EOF
set datafile separator ","
set terminal pngcairo size 1000,560 font "sans,10"
set key outside right top
set grid
set xlabel "trace record"

set output "$out/memory.png"
set title "$title: memory"
set ylabel "MiB"
plot "$csv" using "record":(column("live_bytes")/1048576.0) with lines lw 2 title "live (requested)", \
     "" using "record":(column("usable_bytes")/1048576.0) with lines title "usable", \
     "" using "record":(column("held_bytes")/1048576.0) with lines lw 2 title "held (frames from the buddy)"$resident

set output "$out/fragmentation.png"
set title "$title: fragmentation (held / requested - 1, Johnstone and Wilson)"
set ylabel "%"
plot "$csv" using "record":(100*column("jw_now")) with lines lw 2 title "now", \
     "" using "record":(100*column("jw1")) with lines title "#1 mean so far", \
     "" using "record":(100*column("jw2")) with lines title "#2 at peak live", \
     "" using "record":(100*column("jw3")) with lines title "#3 at peak held", \
     "" using "record":(100*column("jw4")) with lines title "#4 peaks", \
     "" using "record":(100*column("internal_frag")) with lines dt 2 title "internal"

set datafile separator whitespace
unset grid
set ylabel "order"
set yrange [-0.5:$maxo-0.5]
set ytics 1
set view map
set pm3d map corners2color c1

set output "$out/free-blocks.png"
set title "$title: free blocks per order (log2(1 + count))"
set cblabel "log2(1 + free blocks)"
set palette defined (0 "white", 1 "#9ecae1", 2 "#3182bd", 3 "#08306b")
splot "$tmp/free.dat" using 1:2:3 with pm3d notitle

set output "$out/extfrag.png"
set title "$title: extfrag index per order (-1: a block of that order is free)"
set cblabel "extfrag index"
set cbrange [-1:1]
set palette defined (-1 "#f7f7f7", 0 "#fdd49e", 0.5 "#ef6548", 1 "#7f0000")
splot "$tmp/extfrag.dat" using 1:2:3 with pm3d notitle
EOF
echo "plot-series: $out/memory.png $out/fragmentation.png $out/free-blocks.png $out/extfrag.png"
