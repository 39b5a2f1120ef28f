#!/bin/sh
# Instructions per buddy operation under callgrind (deterministic, unlike
# time). Usage: bench/icount.sh PATH/TO/icount-buddy [N]
# Prints one row per scenario: instructions per alloc+free pair (or per
# mixed step), and the issue's target where one applies.
# ICOUNT_ONLY="slab malloc" (any of buddy slab malloc pagealloc pagecache)
# runs those sections only.
set -eu
exe="$1"
n="${2:-100000}"
only="${ICOUNT_ONLY:-buddy slab malloc pagealloc pagecache}"
want() { case " $only " in *" $1 "*) return 0 ;; esac; return 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count() { # scenario order -> instructions per op
	valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/out" \
		"$exe" "$1" "$2" "$n" > /dev/null 2>&1
	total=$(awk '/^totals:/ {print $2}' "$tmp/out")
	awk -v t="$total" -v n="$n" 'BEGIN { printf "%.1f", t / n }'
}

if want buddy; then
printf '%-36s %10s  %s\n' "scenario (per alloc+free pair)" "instr/op" "target"
for o in 0 3 6 9; do
	printf '%-36s %10s  %s\n' "warm order $o (locked)" "$(count warm $o)" \
		"$( [ $o -eq 0 ] && echo '< 150' || echo '< 400')"
done
printf '%-36s %10s  %s\n' "warm order 0 (KMEM_BUDDY_NOLOCK)" "$(count warm-nolock 0)" "< 150"
printf '%-36s %10s  %s\n' "steady order 0 (locked)" "$(count steady 0)" "< 150"
printf '%-36s %10s  %s\n' "steady order 0 (KMEM_BUDDY_NOLOCK)" "$(count steady-nolock 0)" "< 150"
for o in 0 3 6 9 10; do
	printf '%-36s %10s  %s\n' "cold order $o (split+merge to 10)" "$(count cold $o)" "< 400"
done
printf '%-36s %10s  %s\n' "mixed step (free + alloc 0..6)" "$(count mixed 0)" "< 400"
# policies (decision 25): the slow paths every call of such an instance takes
for p in fifo address group; do
	printf '%-36s %10s  %s\n' "steady order 0 (policy: $p)" "$(count steady-$p 0)" "(policy path)"
	printf '%-36s %10s  %s\n' "mixed step (policy: $p)" "$(count mixed-$p 0)" "(policy path)"
done
fi

# slab layer (icount-slab beside icount-buddy)
slab="$(dirname "$exe")/icount-slab"
if [ -x "$slab" ] && want slab; then
	# The allocator's own instructions: the total minus main's self cost
	# (the harness loop and its call setup, about 8 per pair).
	scount() {
		valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/out" \
			"$slab" "$1" "$n" > /dev/null 2>&1
		total=$(awk '/^totals:/ {print $2}' "$tmp/out")
		self=$(callgrind_annotate "$tmp/out" 2>/dev/null | awk '/:main / {gsub(",", "", $1); print $1; exit}')
		awk -v t="$total" -v m="${self:-0}" -v n="$n" 'BEGIN { printf "%.1f", (t - m) / n }'
	}
	echo "slab layer: allocator instructions per pair (harness loop excluded)"
	printf '%-36s %10s  %s\n' "slab cache alloc+free (64 B)" "$(scount cache)" "<= 30"
	printf '%-36s %10s  %s\n' "kmem_alloc(64)+kmem_free" "$(scount kmalloc)" "<= 50"
	printf '%-36s %10s  %s\n' "glibc malloc(64)+free (reference)" "$(scount glibc)" ""
	printf '%-36s %10s  %s\n' "slow: NOMAGAZINE cache alloc+free" "$(scount nomag)" "(cache lock, current slab)"
	printf '%-36s %10s  %s\n' "slow: runs of 1024 allocs, then frees" "$(scount churn)" "(depot, refill, flush)"
	# the drop-in: the same loop with libkmem-malloc.so preloaded
	dropin="$(dirname "$exe")/../malloc/libkmem-malloc.so"
	if [ -f "$dropin" ]; then
		printf '%-36s %10s  %s\n' "drop-in malloc(64)+free" \
			"$(LD_PRELOAD="$(cd "$(dirname "$dropin")" && pwd)/libkmem-malloc.so" scount glibc)" ""
	fi
fi

# the drop-in against the peers on glibc-simple's pattern (icount-malloc
# beside icount-buddy, plain malloc, the allocator preloaded): batches of
# 25..1600 blocks of 16, 32 and 64 bytes allocated and freed, in the main
# thread and in another (icount_malloc.c). "pair": the allocator's
# instructions per malloc+free pair (the program's own functions excluded:
# the loops and the writes to the blocks); "free": free alone, inclusive
# (callgrind --toggle-collect on free), per pair. Issue 18's targets: the
# drop-in's pair <= 50, its free <= 1.2x mimalloc's. ICOUNT_SIMPLE_N sets
# the iterations per batch size (default 100000; glibc's is 2000000).
mexe="$(dirname "$exe")/icount-malloc"
if [ -x "$mexe" ] && want malloc; then
	sn="${ICOUNT_SIMPLE_N:-100000}"
	mcount() { # mode preload -> "pair free"
		pairs=$(LD_PRELOAD="$2" valgrind --tool=callgrind --collect-atstart=no \
			--callgrind-out-file="$tmp/out" "$mexe" "$1" "$sn" 2> /dev/null)
		total=$(awk '/^totals:/ {print $2}' "$tmp/out")
		self=$(callgrind_annotate "$tmp/out" 2>/dev/null |
			awk '/Auto-annotated/ {exit} /\[.*icount-malloc\]/ {gsub(",", "", $1); s += $1} END {print s + 0}')
		LD_PRELOAD="$2" valgrind --tool=callgrind --collect-atstart=no --toggle-collect=free \
			--toggle-collect=mi_free --toggle-collect=tc_free --callgrind-out-file="$tmp/out" \
			"$mexe" "$1" "$sn" free > /dev/null 2>&1
		fr=$(awk '/^totals:/ {print $2}' "$tmp/out")
		awk -v t="$total" -v m="${self:-0}" -v f="$fr" -v n="$pairs" \
			'BEGIN { printf "%.1f %.1f", (t - m) / n, f / n }'
	}
	so="$(cd "$(dirname "$exe")/../malloc" 2>/dev/null && pwd)/libkmem-malloc.so"
	for mode in simple pair64; do
		echo "$mode: allocator instructions per malloc+free pair, and free alone"
		printf '%-36s %10s %10s  %s\n' "allocator" "pair" "free" "target"
		for a in "kmem drop-in:$so" "glibc:" "mimalloc:/usr/lib/x86_64-linux-gnu/libmimalloc.so.2" \
			"jemalloc:/usr/lib/x86_64-linux-gnu/libjemalloc.so.2" \
			"tcmalloc:/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"; do
			name="${a%%:*}"
			lib="${a#*:}"
			[ -z "$lib" ] || [ -f "$lib" ] || continue
			set -- $(mcount $mode "$lib")
			printf '%-36s %10s %10s  %s\n' "$name" "$1" "$2" \
				"$( [ "$name" = "kmem drop-in" ] && [ $mode = simple ] && echo 'pair <= 50, free <= 1.2x mimalloc')"
		done
	done
fi

# frame service (icount-pagealloc beside icount-buddy): allocator
# instructions per op, main's self cost (the harness loop) excluded as for
# the slab rows. pcp rows: alloc+free pairs of one order-0 frame through the
# thread cache; alloc rows: one order-0 allocation (frees uncounted).
pagealloc="$(dirname "$exe")/icount-pagealloc"
if [ -x "$pagealloc" ] && want pagealloc; then
	pcount() {
		valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/out" \
			"$pagealloc" "$1" "$n" > /dev/null 2>&1
		total=$(awk '/^totals:/ {print $2}' "$tmp/out")
		# every main row (with debug info, inlined workload lines are
		# listed under their own file)
		self=$(callgrind_annotate "$tmp/out" 2>/dev/null |
			awk '/Auto-annotated/ {exit} /:main( |$)/ {gsub(",", "", $1); s += $1} END {print s + 0}')
		awk -v t="$total" -v m="${self:-0}" -v n="$n" 'BEGIN { printf "%.1f", (t - m) / n }'
	}
	echo "pagealloc: allocator instructions per op (harness loop excluded)"
	printf '%-36s %10s  %s\n' "pcp alloc+free, INIT_NONE" "$(pcount pcp-none)" "<= 40"
	printf '%-36s %10s  %s\n' "pcp alloc+free, ON_ALLOC warm pool" "$(pcount pcp-zeroed)" "(zeroer uncounted)"
	printf '%-36s %10s  %s\n' "pcp alloc+free, ON_ALLOC NO_BGZERO" "$(pcount pcp-inline)" "(4 KiB memset each)"
	printf '%-36s %10s  %s\n' "order-0 alloc, INIT_NONE" "$(pcount alloc-none)" "(batches of 1024)"
	printf '%-36s %10s  %s\n' "order-0 alloc, ON_ALLOC warm pool" "$(pcount alloc-zeroed)" "(batches of 1024)"
	printf '%-36s %10s  %s\n' "buddy order-0 pair (same buddy)" "$(pcount buddy)" "(reference)"
fi

# page cache (icount-pagecache beside icount-buddy): instructions per hit,
# main's self cost excluded as above; clock is the issue's target policy.
pagecache="$(dirname "$exe")/icount-pagecache"
if [ -x "$pagecache" ] && want pagecache; then
	ccount() {
		valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/out" \
			"$pagecache" "$1" "$2" "$n" > /dev/null 2>&1
		total=$(awk '/^totals:/ {print $2}' "$tmp/out")
		self=$(callgrind_annotate "$tmp/out" 2>/dev/null |
			awk '/Auto-annotated/ {exit} /:main( |$)/ {gsub(",", "", $1); s += $1} END {print s + 0}')
		awk -v t="$total" -v m="${self:-0}" -v n="$n" 'BEGIN { printf "%.1f", (t - m) / n }'
	}
	echo "pagecache: instructions per hit (harness loop excluded)"
	printf '%-36s %10s  %s\n' "hit: kmem_pc_get, clock" "$(ccount hit-get clock)" "<= 100"
	printf '%-36s %10s  %s\n' "hit: kmem_pc_get + kmem_pc_put, clock" "$(ccount hit-pair clock)" ""
	for p in fifo lru arc; do
		printf '%-36s %10s  %s\n' "hit: kmem_pc_get + kmem_pc_put, $p" "$(ccount hit-pair $p)" ""
	done
fi
