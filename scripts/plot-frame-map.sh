#!/bin/sh
# A frame map of `kmem replay --frame-map N` (a PGM: one pixel per group of
# frames, 512 a row, in address order) as a PNG with gnuplot: used frames
# black, reserved dark grey, free blocks coloured by their order (small
# orders warm, large ones cool), past the arena's end white.
# usage: scripts/plot-frame-map.sh MAP.pgm OUT.png [TITLE]
set -eu
if [ $# -lt 2 ]; then
	echo "usage: $0 MAP.pgm OUT.png [TITLE]" >&2
	exit 2
fi
map="$1"
out="$2"
command -v gnuplot > /dev/null || { echo "plot-frame-map: gnuplot not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
[ "$(head -c 2 "$map" 2> /dev/null)" = "P5" ] || { echo "plot-frame-map: $map: not a PGM frame map" >&2; exit 1; }
# the header: P5, a comment, "W H", 255
comment=$(sed -n 2p "$map" | sed 's/^# //')
dims=$(sed -n 3p "$map")
w=${dims% *}
h=${dims#* }
skip=$(head -n 4 "$map" | wc -c)
title="${3:-$comment}"
height=$((h * 1000 / w + 120))
[ "$height" -ge 200 ] || height=200
gnuplot <<EOF
set terminal pngcairo size 1000,$height font "sans,10"
set output "$out"
set title "$title" noenhanced
unset key
unset xtics
set yrange [$h-0.5:-0.5]
set ylabel "row of $w pixels"
set xrange [-0.5:$w-0.5]
set cbrange [0:255]
set cbtics ("used" 0, "reserved" 40, "order 0" 80, "max order" 254)
set rmargin 14
set palette defined (0 "black", 40 "#555555", 80 "#d73027", 150 "#fee090", 254 "#4575b4", 255 "white")
plot "$map" binary skip=$skip array=($w,$h) format="%uchar" with image
EOF
echo "plot-frame-map: $out"
