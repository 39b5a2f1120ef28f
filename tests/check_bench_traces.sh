#!/bin/sh
# scripts/bench-traces.sh end to end, small: grep and awk over the quick
# text, under glibc and the drop-in, one repetition. Checks that each
# program's trace was recorded under the drop-in and kept (-o), that both
# tables have a row per program with a ratio for kmem, and that the
# targets' verdict lines are printed; -B runs the drop-in a second time as
# kmem-base (columns of its own and the kmem/kmem-base line); and that a
# bad option is refused.
# usage: check_bench_traces.sh SCRIPT BUILDDIR
set -eu
script="$1"
build="$2"
. "$(dirname "$0")/lib.sh"
command -v python3 > /dev/null || { echo "check_bench_traces: no python3, skipped"; exit 77; }
for p in cc sqlite3 grep sort awk; do
	command -v $p > /dev/null || { echo "check_bench_traces: no $p, skipped"; exit 77; }
done
"$script" -q -n 1 -a kmem -w 'grep|awk' -B "$build/malloc/libkmem-malloc.so" -o "$tmp/o" "$build" \
	> "$tmp/out.txt" 2> "$tmp/err.txt" ||
	fail "exited $?: $(tail -n 20 "$tmp/err.txt")"
for p in grep awk; do
	[ -s "$tmp/o/$p.trace" ] || fail "no trace of $p kept"
	grep -q "^| $p | [0-9.]* s | [0-9.]* | [0-9.]* | [0-9.]* MiB | [0-9.]* | [0-9.]* |$" "$tmp/out.txt" ||
		fail "no program row for $p: $(cat "$tmp/out.txt")"
	grep -q "^| $p | [0-9][0-9]* | " "$tmp/out.txt" || fail "no trace row for $p: $(cat "$tmp/out.txt")"
done
! grep -q 'sqlite3\|python3' "$tmp/out.txt" || fail "-w let another program through"
grep -q "^- the programs' peak RSS: kmem peak RSS geomean [0-9.]* of glibc's (target <= 1.00: \(yes\|no\)); above 1.15x: " \
	"$tmp/out.txt" || fail "no verdict line: $(cat "$tmp/out.txt")"
grep -q "^- kmem against kmem-base (-B): the programs' peak RSS geomean [0-9.]*, their time [0-9.]*; " \
	"$tmp/out.txt" || fail "no kmem-base line: $(cat "$tmp/out.txt")"
for bad in "-n 0" "-w nothing-matches" "-a nosuchmalloc" "-B $tmp/no-such.so"; do
	# shellcheck disable=SC2086
	if "$script" -q $bad "$build" > /dev/null 2>&1; then
		fail "bench-traces.sh $bad was accepted"
	fi
done
echo "check_bench_traces: ok"
