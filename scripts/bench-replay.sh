#!/bin/sh
# Replay speed: trace records per second that `kmem replay` drives through
# the kmem heap (buddy -> frame service -> slab/kmalloc), against the lab's
# target of 5 million a second (200 ns a record), so that a real program's
# trace replays in seconds.
#
# Workloads: two synthetic traces written by `kmem trace-gen` (seeded, so
# every run measures the same records) and any trace files given:
#   small   --size log:16:4096 --life exp:1000: small-object churn, slab and
#           kmalloc only;
#   phased  --size log:16:65536 --life exp:20000 --phases 4: larger blocks
#           (page blocks from the buddy above 8 KiB), scattered survivors;
# each replayed REPS times in two modes: `--no-verify` (the heap alone) and
# the default (block tags written and checked: 8 bytes at each end of every
# block, what a fragmentation experiment runs with). The time is the replay
# loop's own (the report's wall_ns: not the trace's loading, sorting or the
# heap's set-up); the best of REPS is reported, the least disturbed by
# other jobs on the machine.
#
# Builds nothing. Measure a release build:
#   meson setup build-release --buildtype=release && ninja -C build-release tools/kmem
# Usage: scripts/bench-replay.sh [-q] [-n REPS] [-o OPS] [-k KMEM] [TRACE...]
#   -k KMEM   the kmem command (default build-release/tools/kmem)
#   -n REPS   replays per workload and mode (default 5; 1 with -q)
#   -o OPS    allocations in each synthetic trace (default 1000000: about
#             2 M records; 20000 with -q)
#   -q        quick: a smoke run, the numbers mean little; replays in a
#             256 MiB arena, not replay's default 1 GiB (a 1 GiB arena
#             aligned to its largest block reserves 2 GiB of address space,
#             which a 32-bit process under qemu often does not have)
# Output: one line per workload and mode (records, best ns a record, M
# records a second), then whether the target is met by the heap alone
# (--no-verify) on every workload. Exit status 1 when a replay fails or
# prints no time; a missed target is reported, not an error (the machine
# may be busy).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kmem=$root/build-release/tools/kmem
reps=""
ops=""
quick=0
while getopts k:n:o:q opt; do
	case $opt in
	k) kmem=$OPTARG ;;
	n) reps=$OPTARG ;;
	o) ops=$OPTARG ;;
	q) quick=1 ;;
	*) echo "usage: $0 [-q] [-n REPS] [-o OPS] [-k KMEM] [TRACE...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ -n "$reps" ] || { [ "$quick" -eq 1 ] && reps=1 || reps=5; }
[ -n "$ops" ] || { [ "$quick" -eq 1 ] && ops=20000 || ops=1000000; }
arena=""
[ "$quick" -eq 0 ] || arena="--arena 256M"
[ -x "$kmem" ] || { echo "bench-replay: no $kmem (build it, or -k KMEM)" >&2; exit 1; }
# cross builds: the target's binary runs through Meson's exe wrapper (qemu)
run=${MESON_EXE_WRAPPER:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

$run "$kmem" trace-gen --seed 1 --ops "$ops" --size log:16:4096 --life exp:1000 "$tmp/small.bin"
$run "$kmem" trace-gen --seed 2 --ops "$ops" --size log:16:65536 --life exp:20000 --phases 4 "$tmp/phased.bin"

# best wall_ns of $reps replays: workload-name mode trace
measure() {
	best=""
	i=0
	while [ "$i" -lt "$reps" ]; do
		# shellcheck disable=SC2086
		$run "$kmem" replay $arena --json $2 "$3" > "$tmp/r.json" 2> "$tmp/r.err" ||
			{ cat "$tmp/r.err" >&2; echo "bench-replay: replay of $1 ($2) failed" >&2; exit 1; }
		ns=$(sed -n 's/.*"wall_ns":\([0-9]*\).*/\1/p' "$tmp/r.json")
		n=$(sed -n 's/.*"records":\([0-9]*\).*/\1/p' "$tmp/r.json")
		[ -n "$ns" ] && [ -n "$n" ] && [ "$ns" -gt 0 ] ||
			{ echo "bench-replay: no wall_ns or records in the report of $1" >&2; exit 1; }
		if [ -z "$best" ] || [ "$ns" -lt "$best" ]; then best=$ns; fi
		i=$((i + 1))
	done
	awk -v w="$1" -v m="${2:-verify}" -v n="$n" -v ns="$best" 'BEGIN {
		printf "%-24s %-12s %10d %10.1f %10.2f\n", w, m, n, ns / n, n / ns * 1000
	}' | tee -a "$tmp/table"
}

printf "%-24s %-12s %10s %10s %10s\n" workload mode records ns/record "M rec/s"
for w in small phased; do
	measure "$w" --no-verify "$tmp/$w.bin"
	measure "$w" "" "$tmp/$w.bin"
done
for t in "$@"; do
	measure "$(basename "$t")" --no-verify "$t"
	measure "$(basename "$t")" "" "$t"
done
awk '$2 == "--no-verify" { n++; if ($5 < 5) miss = miss " " $1 }
END {
	if (miss == "")
		printf "target 5 M records/s (the heap alone, --no-verify): met on all %d workloads\n", n
	else
		printf "target 5 M records/s (the heap alone, --no-verify): missed on%s\n", miss
}' "$tmp/table"
