#!/bin/sh
# `kmem replay`'s fragmentation figures (tools/replay_frag.c) on a trace
# built so that the numbers can be worked out by hand:
#   m 131073 A   a 256 KiB page block (131073 bytes asked: 2^17 + 1)
#   f A
#   m 65536 B, m 65536 C, m 65536 D   three 64 KiB blocks
# Page blocks (over kmalloc's 8 KiB) take exactly their block from the
# buddy with no per-thread frame caches (--no-pcp: with them a 64 KiB block
# brings its cache's refill batch along, decision 41), so the bytes held
# move by 262144, -262144, 65536, 65536, 65536 over a base (the slab's
# frames) that stays put;
#  1. --series 1: five CSV rows; held minus the base is as above; live,
#     usable and internal fragmentation (262144 / 131073 - 1 = 0.999985 in row 0);
#     the columns per order;
#  2. the report: J&W's four measures equal the formulas of replay_frag.c
#     evaluated on the series' own held and live columns (and are four
#     different numbers here); n = 2^2, M = 196608, M2 = 262144, Robson's
#     bound 262144 * 2 - 196608 = 327680, the buddy's guarantee
#     262144 * 3 = 786432; Robson's bound for one size (n = 1: M) and for
#     two (n = 2: Knuth's exact floor((3M - 1) / 2) units for M even);
#  3. JSON series (python3 parses it), the series on stdout moving the
#     report to stderr, a row every 2 records plus the last;
#  4. --min-heap: the answer replays with no failed call, one frame less
#     fails, and it holds at least the 256 KiB block (1024 frames of 256 B);
#  5. --pcp-batch: the default (15) does not move with --heap, Linux's
#     scaling (0) does (the confound the default removes);
#  6. usage errors;
#  7. a progress line on a terminal (script(1)), none otherwise;
#  8. --frame-map: a PGM of the arena (4096 frames of 256 B, 512 x 8),
#     1024 used pixels more after the 256 KiB block than after its free;
#     scripts/plot-frame-map.sh makes it a PNG;
#  9. the buddy's policies (--discipline lifo|fifo|address, --grouping):
#     each replays and passes the checkers, --min-heap runs under one.
# usage: check_replay_frag.sh KMEM
set -eu
kmem="$1"
run=${MESON_EXE_WRAPPER:-}
. "$(dirname "$0")/lib.sh"

printf 'm 131073 0xa\nf 0xa\nm 65536 0xb\nm 65536 0xc\nm 65536 0xd\n' > "$tmp/t.txt"

# ---- 1. the series ----------------------------------------------------------------
$run "$kmem" replay --no-pcp --series 1 --series-out "$tmp/s.csv" "$tmp/t.txt" > "$tmp/r.txt" ||
	fail "replay --series exited $?"
[ "$(wc -l < "$tmp/s.csv")" -eq 6 ] || fail "series: not a header and 5 rows: $(cat "$tmp/s.csv")"
head -n 1 "$tmp/s.csv" | grep -q '^row,record,seq,live_bytes,live_blocks,usable_bytes,internal_frag,held_bytes,free_frames,largest_free_order,largest_free_bytes,jw_now,jw1,jw2,jw3,jw4,free_o0,' ||
	fail "series header: $(head -n 1 "$tmp/s.csv")"
# 1 GiB of 4 KiB frames: max order 18, 19 columns each for free blocks,
# unusable and extfrag indexes; then resident and released bytes, empty
# without the release step
[ "$(head -n 1 "$tmp/s.csv" | tr ',' '\n' | wc -l)" -eq $((16 + 3 * 19 + 2)) ] || fail "series: column count"
head -n 1 "$tmp/s.csv" | grep -q ',extfrag_o18,resident_bytes,released_bytes$' || fail "series: the last columns"
[ "$(sed -n 2p "$tmp/s.csv" | grep -o ',,$')" = ",," ] || fail "series: resident/released without release: $(sed -n 2p "$tmp/s.csv")"
# with the release step (the drop-in's heap) they follow the decay: 16 MiB
# freed, then page blocks cycled at a millisecond a record (--op-ns) on a
# second's decay: resident falls from the 16 MiB touched to about 10 MiB
# (the curve keeps the high watermark, and pieces under 64 KiB stay while
# frees go on), released grows as much; the same on every run (with
# KMEM_TEST_RELEASE=0, the firmware OS backend, nothing is released)
{
	i=0
	while [ $i -lt 16 ]; do echo "m 1048576 $((0x100000 + i * 16))"; i=$((i + 1)); done
	i=0
	while [ $i -lt 16 ]; do echo "f $((0x100000 + i * 16))"; i=$((i + 1)); done
	i=0
	while [ $i -lt 1500 ]; do printf 'm 300000 0x10\nf 0x10\n'; i=$((i + 1)); done
} > "$tmp/dec.txt"
$run "$kmem" replay --heap dropin --arena 32M --decay-ms 1000 --op-ns 1000000 --series 100 \
	--series-out "$tmp/d.csv" "$tmp/dec.txt" > /dev/null || fail "replay --series, dropin heap, exited $?"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "resident_bytes") r = i; if ($i == "released_bytes") x = i } next }
	{ if ($r + $x != 32 * 1048576) { print "resident + released is not the arena: " $0; bad = 1 }
	  if (NR == 2) first = $r; last = $r }
	END { if (rel == 1 && (first < 15 * 1048576 || last > 11 * 1048576 || last < 1048576)) { print "resident " first " -> " last; bad = 1 }
	      if (rel == 0 && first != last) { print "resident moved without an OS backend: " first " -> " last; bad = 1 }
	      exit bad }' rel="${KMEM_TEST_RELEASE:-1}" \
	"$tmp/d.csv" || fail "series: resident/released under the decay"
base=$(sed -n 3p "$tmp/s.csv" | cut -d, -f8)
got=$(awk -F, -v base="$base" 'NR > 1 { printf "%s%d", sep, $8 - base; sep = " " }' "$tmp/s.csv")
[ "$got" = "262144 0 65536 131072 196608" ] || fail "held over the base: $got (base $base)"
got=$(awk -F, 'NR > 1 { printf "%s%s/%s/%s/%s", sep, $4, $5, $6, $7; sep = " " }' "$tmp/s.csv")
[ "$got" = "131073/1/262144/0.999985 0/0/0/ 65536/1/65536/0.000000 131072/2/131072/0.000000 196608/3/196608/0.000000" ] ||
	fail "live/blocks/usable/internal: $got"

# ---- 2. the report ------------------------------------------------------------------
# J&W from the series' columns: #1 mean held / mean live, #2 held at the
# first peak of live, #3 live at the first peak of held, #4 the two peaks
want=$(awk -F, 'NR > 1 {
	sh += $8; sl += $4
	if ($4 > ml) { ml = $4; hl = $8 }
	if ($8 > mh) { mh = $8; lh = $4 }
} END {
	printf "jw (held / requested - 1, Johnstone & Wilson 1998): #1 mean over time %.2f%%, #2 at peak live %.2f%%, #3 at peak held %.2f%%, #4 peak held / peak live %.2f%%",
		100 * (sh / sl - 1), 100 * (hl / ml - 1), 100 * (mh / lh - 1), 100 * (mh / ml - 1)
}' "$tmp/s.csv")
has "$tmp/r.txt" "$want"
jw=$(grep '^jw' "$tmp/r.txt" | grep -o '[0-9.]*%' | sort -u | wc -l)
[ "$jw" -eq 4 ] || fail "J&W's measures are not four different numbers: $(grep '^jw' "$tmp/r.txt")"
has "$tmp/r.txt" "size ratio: n = 262144 / 65536 = 2^2 (smallest and largest request rounded up to powers of two)"
has "$tmp/r.txt" "peak live: M = 196608 bytes requested, M2 = 262144 bytes at powers of two"
grep -q '^robson: 327680 bytes = M2 (1 + log2(n) / 2) - (n - 1) s' "$tmp/r.txt" || fail "robson: $(grep robson "$tmp/r.txt")"
grep -q '^buddy guarantee: 786432 bytes = M2 (1 + log2 n)' "$tmp/r.txt" || fail "buddy guarantee"
# Robson's bound at its small cases (units of s = 64 bytes): one size (n = 1)
# needs M and no more, 3 blocks of 64: 192; two sizes (n = 2), 64 + 128 + 64
# live (M = 4 units): 256 * 3/2 - 64 = 320 bytes, 5 units, Knuth's exact
# N(M, 2) = floor((3M - 1) / 2) = floor(11 / 2) = 5 (TAOCP 2.5, ex. 38)
printf 'm 64 0x1\nm 64 0x2\nm 64 0x3\n' > "$tmp/n1.txt"
printf 'm 64 0x1\nm 128 0x2\nm 64 0x3\n' > "$tmp/n2.txt"
$run "$kmem" replay "$tmp/n1.txt" > "$tmp/n1.out" || fail "replay n1 exited $?"
$run "$kmem" replay "$tmp/n2.txt" > "$tmp/n2.out" || fail "replay n2 exited $?"
has "$tmp/n1.out" "size ratio: n = 64 / 64 = 2^0 (smallest and largest request rounded up to powers of two)"
grep -q '^robson: 192 bytes = ' "$tmp/n1.out" || fail "robson, n = 1: $(grep robson "$tmp/n1.out")"
grep -q '^buddy guarantee: 192 bytes = ' "$tmp/n1.out" || fail "buddy guarantee, n = 1: $(grep buddy "$tmp/n1.out")"
has "$tmp/n2.out" "peak live: M = 256 bytes requested, M2 = 256 bytes at powers of two"
grep -q '^robson: 320 bytes = M2 (1 + log2(n) / 2) - (n - 1) s: some trace with this M2 and n needs that much from any allocator, power-of-two first fit never more (Robson, JACM 1974)$' "$tmp/n2.out" ||
	fail "robson, n = 2: $(grep robson "$tmp/n2.out")"
# M2 rounded up to a multiple of the largest block (256), times 1 + log2 n
grep -q '^buddy guarantee: 512 bytes = ' "$tmp/n2.out" || fail "buddy guarantee, n = 2: $(grep buddy "$tmp/n2.out")"
has "$tmp/r.txt" "headroom: arena 1073741824 bytes = 3276.800 x robson, 1365.333 x buddy guarantee; peak held = $(awk -F, -v r=327680 'NR > 1 && $8 > m { m = $8 } END { printf "%.3f", m / r }' "$tmp/s.csv") x robson"
has "$tmp/r.txt" "internal fragmentation at the end: 0.00% (196608 bytes usable for 196608 requested)"
# JSON report: the same numbers
$run "$kmem" replay --json "$tmp/t.txt" > "$tmp/r.json" || fail "replay --json exited $?"
grep -q '"M":196608,"M2":262144,"smin":65536,"smax":262144,"log2n":2,"robson":327680,"buddy_guarantee":786432' "$tmp/r.json" ||
	fail "JSON report: $(cat "$tmp/r.json")"

# ---- 3. JSON series, stdout, every 2 -------------------------------------------------------
$run "$kmem" replay --series 2 --series-format json "$tmp/t.txt" > "$tmp/s.json" 2> "$tmp/r2.txt" ||
	fail "replay --series 2 to stdout exited $?"
grep -q '^jw ' "$tmp/r2.txt" || fail "the report did not go to stderr"
if command -v python3 > /dev/null; then
	python3 - "$tmp/s.json" <<'EOF' || fail "JSON series"
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["record"] for r in rows] == [1, 3, 4], rows
assert rows[0]["live_bytes"] == 0 and rows[0]["internal_frag"] is None, rows[0]
assert rows[2]["live_blocks"] == 3 and len(rows[2]["free_blocks"]) == 19, rows[2]
assert len(rows[2]["extfrag_index"]) == 19 and len(rows[2]["unusable_index"]) == 19
assert rows[2]["resident_bytes"] is None and rows[2]["released_bytes"] is None, rows[2]
EOF
fi
$run "$kmem" replay --series 1 --series-out "$tmp/s2.json" "$tmp/t.txt" > /dev/null || fail "--series-out x.json"
head -c 2 "$tmp/s2.json" | grep -q '^\[' || fail "--series-out x.json is not JSON"

# ---- 4. --min-heap ----------------------------------------------------------------
$run "$kmem" replay --min-heap --frame 256 --heap 4M "$tmp/t.txt" > "$tmp/m.txt" || fail "--min-heap exited $?"
frames=$(sed -n 's/^min heap: \([0-9]*\) frames = .*, max order 14, pcp batch 15; bisection, [0-9]* replays$/\1/p' "$tmp/m.txt")
[ -n "$frames" ] || fail "--min-heap: $(cat "$tmp/m.txt")"
[ "$frames" -ge 1024 ] || fail "--min-heap: $frames frames cannot hold a 256 KiB block"
has "$tmp/m.txt" "min heap: $((frames - 1)) frames fail the trace"
$run "$kmem" replay --frame 256 --max-order 14 --heap $((frames * 256)) "$tmp/t.txt" > "$tmp/m1.txt" 2>&1 ||
	fail "replay at the minimum ($frames frames) exited $?"
has "$tmp/m1.txt" "replayed: 5 calls, 0 failed in the replay"
# (a failed call is counted and said, not an error: exit 0)
$run "$kmem" replay --frame 256 --max-order 14 --heap $(((frames - 1) * 256)) "$tmp/t.txt" > "$tmp/m2.txt" 2>&1 ||
	fail "replay one frame below the minimum exited $?"
grep -q '^replayed: 5 calls, [1-9][0-9]* failed in the replay$' "$tmp/m2.txt" || fail "below the minimum: $(cat "$tmp/m2.txt")"
# a trace that needs more than --heap: exit 1, said so
set +e
printf 'm 8000000 0x1\n' > "$tmp/big.txt"
$run "$kmem" replay --min-heap --heap 4M "$tmp/big.txt" > /dev/null 2> "$tmp/e.txt"
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "does not replay without a failed call even in 1024 frames" "$tmp/e.txt" ||
	fail "--min-heap on a trace too large: $rc $(cat "$tmp/e.txt")"

# ---- 5. the per-thread batch does not scale with the arena by default ------------------
held() { # heap batch: the base held with nothing live (row 1)
	$run "$kmem" replay --heap "$1" --pcp-batch "$2" --series 1 --series-out - "$tmp/t.txt" 2> /dev/null |
		sed -n 3p | cut -d, -f8
}
[ "$(held 64M 15)" = "$(held 1G 15)" ] || fail "--pcp-batch 15: the base moves with --heap"
[ "$(held 64M 0)" != "$(held 1G 0)" ] || fail "--pcp-batch 0: Linux's scaling did not show"

# ---- 8. frame maps: the 256 KiB block in black, then gone -----------------------------------
$run "$kmem" replay --frame 256 --heap 1M --frame-map 0 --frame-map 1 --frame-map-prefix "$tmp/fm" \
	"$tmp/t.txt" > /dev/null || fail "replay --frame-map exited $?"
for r in 0 1; do
	[ "$(head -n 1 "$tmp/fm-$r.pgm")" = "P5" ] || fail "fm-$r.pgm is not a PGM"
	sed -n 2p "$tmp/fm-$r.pgm" | grep -q "^# kmem frame map after record $r: 4096 frames of 256 B, 1 a pixel$" ||
		fail "fm-$r.pgm: $(sed -n 2p "$tmp/fm-$r.pgm")"
	[ "$(sed -n 3p "$tmp/fm-$r.pgm")" = "512 8" ] || fail "fm-$r.pgm: not 512 x 8"
done
# used pixels (0): record 0 holds the 1024 frames of the block more than record 1
used() { tail -c 4096 "$1" | od -An -v -tu1 | tr -s ' ' '\n' | grep -c '^0$'; }
u0=$(used "$tmp/fm-0.pgm")
u1=$(used "$tmp/fm-1.pgm")
[ $((u0 - u1)) -eq 1024 ] || fail "frame map: $u0 used frames after the 256 KiB block, $u1 after its free"
if command -v gnuplot > /dev/null && [ -z "$run" ]; then
	sh "$(dirname "$0")/../scripts/plot-frame-map.sh" "$tmp/fm-0.pgm" "$tmp/fm.png" > /dev/null ||
		fail "plot-frame-map.sh exited $?"
	[ "$(head -c 4 "$tmp/fm.png" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "fm.png is not a PNG"
fi

# ---- 9. the buddy's policies: every one replays, --min-heap runs per policy ------------------
# (builds with the policies compiled out, -Dbuddy_policies: the freestanding
# default, refuse them: KMEM_TEST_BUDDY_POLICIES=0 from tools/meson.build)
if [ "${KMEM_TEST_BUDDY_POLICIES:-1}" = 0 ]; then
	echo "check_replay_frag: SKIP part 9: the buddy's policies are compiled out of this build (-Dbuddy_policies)"
else
	for d in lifo fifo address; do
		for g in "" --grouping; do
			# shellcheck disable=SC2086
			$run "$kmem" replay --discipline $d $g "$tmp/t.txt" > "$tmp/pol.txt" 2>&1 ||
				fail "replay --discipline $d $g exited $?"
			has "$tmp/pol.txt" "policy: $d${g:+, grouping} (buddy free lists)"
			has "$tmp/pol.txt" "check: kmem_buddy_check ok, kmem_pa_check ok, 0 errors reported"
		done
	done
	$run "$kmem" replay --min-heap --frame 256 --heap 4M --discipline address --grouping "$tmp/t.txt" > "$tmp/pm.txt" ||
		fail "--min-heap --discipline address --grouping exited $?"
	has "$tmp/pm.txt" "min heap: heap kmalloc, policy address, grouping"
	grep -q '^min heap: [0-9]* frames = ' "$tmp/pm.txt" || fail "--min-heap per policy: $(cat "$tmp/pm.txt")"
	$run "$kmem" replay --json --discipline fifo "$tmp/t.txt" | grep -q '"policy":"fifo"' || fail "JSON: no policy"
fi

# ---- 7. progress: on a terminal only ---------------------------------------------------
$run "$kmem" trace-gen --ops 600000 --size fixed:64 --life exp:100 "$tmp/long.bin" || fail "trace-gen exited $?"
$run "$kmem" replay --no-verify "$tmp/long.bin" > /dev/null 2> "$tmp/p.err" || fail "replay of the long trace exited $?"
[ ! -s "$tmp/p.err" ] || fail "progress shown without a terminal: $(cat "$tmp/p.err")"
if command -v script > /dev/null && [ -z "$run" ]; then
	script -qc "'$kmem' replay --no-verify '$tmp/long.bin' > /dev/null" /dev/null > "$tmp/p.tty" ||
		fail "replay under script(1) exited $?"
	grep -q 'kmem replay: 1048576 of 1200000 records (87%)' "$tmp/p.tty" || fail "no progress line on a terminal"
else
	echo "check_replay_frag: SKIP progress on a terminal: no script(1)"
fi

# ---- 6. usage errors ------------------------------------------------------------------
for args in "--series 0" "--series x" "--series 1 --malloc" "--min-heap --malloc" "--min-heap --series 5" "--frame-map x" "--frame-map 1 --malloc" \
	"--discipline nope" "--pageblock-order 3" "--grouping --pageblock-order 0" \
	"--series 1 --series-format xml" "--pcp-batch 5000"; do
	set +e
	# shellcheck disable=SC2086
	$run "$kmem" replay $args "$tmp/t.txt" > /dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "replay $args exited $rc, expected 2"
done
echo "kmem replay fragmentation: ok"
