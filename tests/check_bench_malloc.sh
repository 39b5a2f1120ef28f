#!/bin/sh
# scripts/bench-malloc.sh and its report (scripts/bench_malloc_report.py):
#   1. the report on measurements written here, whose medians, ratios,
#      geomeans, scaling and verdicts are worked out by hand; a run that
#      crashed or printed another checksum is FAIL, left out of the geomean,
#      and the exit status is 1;
#   2. a quick run of two workloads under glibc and the drop-in: every table
#      has its rows, the checksums agree (exit 0);
#   3. bad options are refused with status 2.
# usage: check_bench_malloc.sh BUILDDIR
set -eu
build="$1"
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
command -v python3 > /dev/null || { echo "check_bench_malloc: no python3, skipped"; exit 77; }
report="$root/scripts/bench_malloc_report.py"

# ---- 1. the report, by hand -----------------------------------------------------------
# w1-1t: glibc 1.0, 1.2, 1.1 s (median 1.1); kmem 0.55 s (0.50), RSS 2048 vs
# 1024 KiB (2.00), CPU 0.5 vs 1.0 s (0.50), faults 50 vs 100 (0.50);
# w1-2t: the same work on two threads: glibc 1.1 s, kmem 0.44 s (0.40);
# w2: kmem prints another checksum (FAIL), mimalloc crashed on one run.
cat > "$tmp/wl" <<'W'
w1-1t|x
w1-2t|x
w2|x
W
cat > "$tmp/res" <<'R'
# workload allocator rep wall_s maxrss_kib status checksum trough_kib cpu_s ops minflt idle_kib
w1-1t glibc 1 1.0 1024 exit:0 aa - 1.0 1000000 100 -
w1-1t glibc 2 1.2 1024 exit:0 aa - 1.0 1000000 100 -
w1-1t glibc 3 1.1 1024 exit:0 aa - 1.0 1000000 100 -
w1-1t kmem 1 0.55 2048 exit:0 aa - 0.5 1000000 50 -
w1-2t glibc 1 1.1 1024 exit:0 bb - 2.0 2000000 100 -
w1-2t kmem 1 0.44 1024 exit:0 bb - 0.8 2000000 100 -
w2 glibc 1 2.0 4096 exit:0 cc - 2.0 - 10 -
w2 kmem 1 1.0 4096 exit:0 dd - 1.0 - 10 -
w1-1t mimalloc 1 0.66 1024 exit:0 aa - 0.6 1000000 100 -
w1-2t mimalloc 1 0.88 1024 exit:0 bb - 1.6 2000000 100 -
w2 mimalloc 1 1.0 4096 signal:11 - - 1.0 - 10 -
R
st=0
python3 "$report" "$tmp/res" "$tmp/wl" full 3 glibc:- kmem:lib mimalloc:lib > "$tmp/r.txt" || st=$?
[ $st -eq 1 ] || fail "report: exit $st with a failed run, not 1"
has "$tmp/r.txt" "| w1-1t | 1.100 s~ | 0.50 | 0.60 | 1.0 MiB | 2.00 | 1.00 |"
has "$tmp/r.txt" "| w2 | 2.000 s | FAIL (checksum) | FAIL (signal:11) | 4.0 MiB | FAIL (checksum) | FAIL (signal:11) |"
# time: kmem 0.50 and 0.40 -> sqrt(0.2) = 0.45 over 2 of 3 workloads
has "$tmp/r.txt" "| **geomean** | 1.00 | 0.45 (2/3) | 0.69 (2/3) | 1.00 | 1.41 (2/3) | 1.00 (2/3) |"
has "$tmp/r.txt" "| w1-1t | 1.000 s | 0.50 | 0.60 | 100 | 0.50 | 1.00 |"
# 1 M ops in 0.55 s wall, 0.5 s CPU; scaling (2 M / 0.44) / (1 M / 0.55) = 2.50
has "$tmp/r.txt" "| w1-1t | 0.9 / 1.0 | 1.8 / 2.0 | 1.5 / 1.7 |"
has "$tmp/r.txt" "| **scaling w1** (2t/1t, wall) | 2.00 | 2.50 | 1.50 |"
has "$tmp/r.txt" "- kmem faster than glibc on every workload: no (not faster: w2 FAIL)"
has "$tmp/r.txt" "- kmem peak RSS <= glibc on every workload: no (above: w1-1t 2.00, w2 FAIL)"
has "$tmp/r.txt" "- kmem two threads faster than one on w1: yes (scaling 2.50)"
has "$tmp/r.txt" "- kmem within 10% of the best peer on the geomean time: yes (kmem 0.45, best peer mimalloc 0.69: kmem/best = 0.65; over the 2 of 3 workloads both completed)"
# without the failures: exit 0
grep -v '^w2 ' "$tmp/res" > "$tmp/res2"
printf 'w1-1t|x\nw1-2t|x\n' > "$tmp/wl2"
python3 "$report" "$tmp/res2" "$tmp/wl2" full 3 glibc:- kmem:lib mimalloc:lib > "$tmp/r2.txt" ||
	fail "report: exit $? with every run good"
# an allocator with no run of a workload is FAIL (missing)
python3 "$report" "$tmp/res2" "$tmp/wl2" full 3 glibc:- kmem:lib tcmalloc:lib > "$tmp/r3.txt" && fail "report: a missing allocator passed"
grep -q "| w1-1t | 1.100 s~ | 0.50 | FAIL (missing) |" "$tmp/r3.txt" || fail "report: no FAIL (missing): $(cat "$tmp/r3.txt")"

# ---- 2. a quick run ----------------------------------------------------------------------
if [ -f "$build/malloc/libkmem-malloc.so" ]; then
	"$root/scripts/bench-malloc.sh" -q -n 1 -a kmem -w 'churn-1t|xmalloc' "$build" \
		> "$tmp/q.txt" 2> "$tmp/q.err" || fail "quick run exited $?: $(cat "$tmp/q.txt" "$tmp/q.err")"
	for w in churn-1t xmalloc-1t xmalloc-2t; do
		grep -Eq "^\| $w \| [0-9.]+ s~? \| [0-9.]+~? \| [0-9.]+ MiB \| [0-9.]+ \|$" "$tmp/q.txt" ||
			fail "quick run: no time/RSS row for $w: $(cat "$tmp/q.txt")"
		grep -Eq "^\| $w \| [0-9.]+ s \| [0-9.]+ \| [0-9]+ \| [0-9.]+ \|$" "$tmp/q.txt" ||
			fail "quick run: no CPU/faults row for $w"
	done
	grep -Eq "^\| \*\*scaling xmalloc\*\* \(2t/1t, wall\) \| [0-9.]+ \| [0-9.]+ \|$" "$tmp/q.txt" ||
		fail "quick run: no scaling row"
	grep -Eq "^- kmem two threads faster than one on xmalloc: (yes|no) \(scaling [0-9.]+\)$" "$tmp/q.txt" ||
		fail "quick run: no scaling verdict"
fi

# ---- 3. bad options ------------------------------------------------------------------------
for bad in "-n 0" "-t x" "-w nothing-matches-this"; do
	# shellcheck disable=SC2086
	if "$root/scripts/bench-malloc.sh" $bad "$build" > /dev/null 2>&1; then
		fail "bench-malloc.sh $bad: accepted"
	else
		st=$?
		[ $st -eq 2 ] || fail "bench-malloc.sh $bad: exit $st, not 2"
	fi
done
echo "check_bench_malloc: ok"
