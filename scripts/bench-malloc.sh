#!/bin/sh
# The drop-in malloc (libkmem-malloc.so) against glibc malloc and the Debian
# peer allocators (jemalloc, tcmalloc, mimalloc; scripts/setup.sh installs
# them) on the workload programs of bench/malloc/ (see the comment at the top
# of each wl_*.c). Every workload runs under every allocator, interleaved
# (repetition, then workload, then allocator in rotating order), through
# bench/malloc/runmeasure, which reports wall time and peak RSS (wait4's
# ru_maxrss). Prints a Markdown table of medians: glibc in absolute numbers,
# the others as ratios to glibc (lower is better), their geometric means, and
# whether kmem meets its targets; CPU time (user + sys) and minor page
# faults per workload, and the idle workload's RSS after its idle period.
# Then, for the workloads that count their
# operations (they print `info: ops=N`: larson, larson-sized, xmalloc, threadtest), a
# table of million operations per second of wall time and per CPU-second
# (runmeasure's user + system time), and the scaling of each pair X-1t,
# X-2t (the same work per thread; rate with two threads over rate with one:
# 2.00 is perfect on two idle cores). A run that crashes, times out, prints a
# checksum different from glibc's or whose LD_PRELOAD did not load is shown
# as FAIL and makes the script exit with status 1. The tables and verdicts
# are scripts/bench_malloc_report.py's, from the measurements (-r FILE).
#
# Builds nothing. Build the release tree first:
#   meson setup build-release --buildtype=release && ninja -C build-release
# (bench/ needs Google Benchmark, libbenchmark-dev; libkmem-malloc.so needs
# -Dmalloc=true, the default). A missing peer or libkmem-malloc.so is skipped
# with a note.
#
# Usage: scripts/bench-malloc.sh [options] [BUILDDIR]   (default build-release)
#   -n REPS    repetitions per workload and allocator, median reported
#              (default 3; 1 with -q)
#   -q         quick mode: workloads about 20 times shorter (smoke use; the
#              numbers mean little)
#   -w REGEX   only the workloads whose name matches (grep -E)
#   -a LIST    only these allocators, comma-separated (glibc is always run:
#              it is the baseline), e.g. -a kmem,mimalloc
#   -k PATH    the kmem library (default BUILDDIR/malloc/libkmem-malloc.so)
#   -B PATH    also run this second kmem library as allocator "kmem-base",
#              interleaved with the others (before/after comparisons of a
#              change in one run: build the old commit's release tree in a
#              git worktree and pass its libkmem-malloc.so); prints the
#              kmem/kmem-base geomeans of time and peak RSS
#   -t SECS    kill a run after SECS seconds (default 120; 30 with -q)
#   -r FILE    also write the raw measurements (one line per run) to FILE
# Full mode took about 70 s per repetition with every allocator on 2 quiet
# cores before larson-1t, larson-sized and xmalloc were added (they add about
# a quarter); the README's run took 19 minutes for 3 repetitions under a load
# average of 15. Quick mode takes a few seconds.
set -eu
cd "$(dirname "$0")/.."

reps=
quick=0
only=
allocs=
kmem_lib=
base_lib=
timeout=
raw=
while getopts n:qw:a:k:B:t:r:h opt; do
	case $opt in
	n) reps=$OPTARG ;;
	q) quick=1 ;;
	w) only=$OPTARG ;;
	a) allocs=$OPTARG ;;
	k) kmem_lib=$OPTARG ;;
	B) base_lib=$OPTARG ;;
	t) timeout=$OPTARG ;;
	r) raw=$OPTARG ;;
	h) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [-n REPS] [-q] [-w REGEX] [-a LIST] [-k PATH] [-B PATH] [-t SECS] [-r FILE] [BUILDDIR]" >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || { echo "bench-malloc: one build directory at most" >&2; exit 2; }
build=${1:-build-release}
[ -n "$reps" ] || reps=$([ $quick = 1 ] && echo 1 || echo 3)
[ -n "$timeout" ] || timeout=$([ $quick = 1 ] && echo 30 || echo 120)
case $reps in '' | *[!0-9]* | 0) echo "bench-malloc: -n wants a positive integer" >&2; exit 2 ;; esac
case $timeout in '' | *[!0-9]* | 0) echo "bench-malloc: -t wants a positive integer" >&2; exit 2 ;; esac
[ -n "$kmem_lib" ] || kmem_lib=$build/malloc/libkmem-malloc.so

bin=$build/bench/malloc
if [ ! -x "$bin/runmeasure" ]; then
	cat >&2 <<EOF
bench-malloc: $bin/runmeasure not found. Build the release tree first:
  meson setup $build --buildtype=release && ninja -C $build
(bench/ is only built when Google Benchmark is found: apt install libbenchmark-dev)
EOF
	exit 1
fi
if [ -f "$build/meson-info/intro-buildoptions.json" ] &&
	! grep -q '"name": "buildtype", "value": "release"' "$build/meson-info/intro-buildoptions.json"; then
	echo "bench-malloc: note: $build is not a release build (meson setup $build --buildtype=release)" >&2
fi

# The baseline must be the plain C library.
unset LD_PRELOAD

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name | program | arguments | quick-mode arguments (see each program's usage)
cat > "$tmp/workloads" <<'EOF'
churn-1t|wl-churn|1 5m 100k|1 250k 100k
churn-2t|wl-churn|2 8m 100k|2 400k 100k
churn-4t|wl-churn|4 8m 100k|4 400k 100k
larson-1t|wl-larson|1 60 100k|1 3 100k
larson-2t|wl-larson|2 60 100k|2 3 100k
larson-4t|wl-larson|4 30 100k|4 2 100k
larson-sized-1t|wl-larson-sized|1 60 100k|1 3 100k
larson-sized-2t|wl-larson-sized|2 60 100k|2 3 100k
xmalloc-1t|wl-xmalloc|1 4m|1 200k
xmalloc-2t|wl-xmalloc|2 8m|2 400k
prodcons|wl-prodcons|1 8m|1 400k
threadtest-2t|wl-threadtest|2 400 50k 8|2 20 50k 8
threadtest-remote|wl-threadtest|2 400 50k 8 1|2 20 50k 8 1
large|wl-large|10000|500
realloc|wl-realloc|6m|300k
phases|wl-phases|4 64 500k|2 16 50k
short32|wl-short32|1 16m 4|1 800k 4
bigcycle|wl-bigcycle|400|40
idle|wl-idle|300 12 50|32 1 50
mleak|wl-mleak|2000 4000 4|100 4000 4
EOF
if [ -n "$only" ]; then
	grep -E "^[^|]*($only)[^|]*\|" "$tmp/workloads" > "$tmp/w" || true
	mv "$tmp/w" "$tmp/workloads"
	[ -s "$tmp/workloads" ] || { echo "bench-malloc: no workload matches '$only'" >&2; exit 2; }
fi

find_lib() { # soname -> path, or nothing
	for d in "/usr/lib/$(gcc -print-multiarch 2>/dev/null || true)" /usr/lib/x86_64-linux-gnu \
		/usr/lib64 /usr/lib /usr/local/lib; do
		if [ -f "$d/$1" ]; then
			echo "$d/$1"
			return
		fi
	done
}

wanted() { # allocator -> true if selected by -a
	[ -z "$allocs" ] && return 0
	case ",$allocs," in *",$1,"*) return 0 ;; esac
	return 1
}

# A preload that does not load is ignored by ld.so with a message on
# stderr, and the run silently measures glibc: check every run's stderr.
preload_failed() { # stderr file
	grep -q 'cannot be preloaded\|cannot open shared object' "$1"
}

# allocator list: name:library (glibc has none)
list="glibc:"
base=
[ -z "$base_lib" ] || base=kmem-base:
for peer in kmem: $base jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
	name=${peer%%:*}
	wanted "$name" || continue
	if [ "$name" = kmem ]; then
		lib=$kmem_lib
	elif [ "$name" = kmem-base ]; then
		lib=$base_lib
	fi
	if [ "$name" = kmem ] || [ "$name" = kmem-base ]; then
		if [ ! -f "$lib" ]; then
			echo "bench-malloc: $name skipped: $lib not built" >&2
			continue
		fi
		lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
	else
		lib=$(find_lib "${peer#*:}")
		if [ -z "$lib" ]; then
			echo "bench-malloc: $name skipped: ${peer#*:} not found (scripts/setup.sh installs it)" >&2
			continue
		fi
	fi
	# does it load and run at all?
	status=0
	"$bin/runmeasure" -o "$tmp/m" -t 30 -e LD_PRELOAD="$lib" -- "$bin/wl-churn" 1 1000 100 \
		< /dev/null > "$tmp/out" 2> "$tmp/err" || status=$?
	if [ $status -ne 0 ] || preload_failed "$tmp/err"; then
		echo "bench-malloc: $name skipped: a trial run with LD_PRELOAD=$lib failed ($(sed 's/.*status=//' "$tmp/m" 2>/dev/null))" >&2
		head -n 5 "$tmp/err" | sed 's/^/  /' >&2
		continue
	fi
	list="$list $name:$lib"
done
# shellcheck disable=SC2086 # $list is a list of words
nalloc=$(echo $list | wc -w)

mode=$([ $quick = 1 ] && echo quick || echo full)
echo "bench-malloc: $mode mode, $reps repetition(s), $(wc -l < "$tmp/workloads") workloads," \
	"allocators: $(for a in $list; do printf '%s ' "${a%%:*}"; done)" >&2

# results: workload allocator rep wall_s maxrss_kib status checksum trough_kib cpu_s minflt idle_kib
: > "$tmp/results"
failures=0
rep=1
while [ $rep -le "$reps" ]; do
	wi=0
	while IFS='|' read -r wname prog full qargs; do
		args=$full
		[ $quick = 1 ] && args=$qargs
		# rotate the allocator order by repetition and workload
		# shellcheck disable=SC2086
		set -- $list
		shift_by=$(( (rep + wi) % nalloc ))
		i=0
		while [ $i -lt $shift_by ]; do
			first=$1
			shift
			set -- "$@" "$first"
			i=$((i + 1))
		done
		line="rep $rep/$reps $wname:"
		for a in "$@"; do
			name=${a%%:*}
			lib=${a#*:}
			if [ -n "$lib" ]; then
				envop=-e envarg="LD_PRELOAD=$lib"
			else
				envop=-u envarg=LD_PRELOAD
			fi
			rm -f "$tmp/m"
			status=0
			# shellcheck disable=SC2086 # args are words
			"$bin/runmeasure" -o "$tmp/m" -t "$timeout" "$envop" "$envarg" -- \
				"$bin/$prog" $args < /dev/null > "$tmp/out" 2> "$tmp/err" || status=$?
			wall=$(sed -n 's/.*wall_s=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			rss=$(sed -n 's/.*maxrss_kib=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			st=$(sed -n 's/.*status=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			sum=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$tmp/out")
			trough=$(sed -n 's/.*rss_trough_kib=\([0-9]*\).*/\1/p' "$tmp/out")
			user=$(sed -n 's/.*user_s=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			sys=$(sed -n 's/.*sys_s=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			cpu=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN { printf "%.6f", u + s }')
			ops=$(sed -n 's/^info: ops=\([0-9]*\).*/\1/p' "$tmp/out")
			idle=$(sed -n 's/.*rss_idle_kib=\([0-9]*\).*/\1/p' "$tmp/out")
			minflt=$(sed -n 's/.*minflt=\([0-9]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			[ -n "$st" ] || st="no-report"
			if [ "$st" = "exit:0" ] && preload_failed "$tmp/err"; then
				st="preload-failed"
			fi
			if [ "$st" = "exit:0" ] && [ -z "$sum" ]; then
				st="no-checksum"
			fi
			if [ "$st" != "exit:0" ]; then
				failures=$((failures + 1))
				echo "bench-malloc: $wname under $name: $st ($prog $args); stderr:" >&2
				tail -n 5 "$tmp/err" | sed 's/^/  /' >&2
			elif [ -s "$tmp/err" ]; then
				echo "bench-malloc: $wname under $name wrote to stderr:" >&2
				head -n 3 "$tmp/err" | sed 's/^/  /' >&2
			fi
			echo "$wname $name $rep ${wall:-0} ${rss:-0} $st ${sum:--} ${trough:--} $cpu ${ops:--} ${minflt:-0} ${idle:--}" >> "$tmp/results"
			line="$line $name $(printf '%.2fs' "${wall:-0}")"
		done
		echo "$line" >&2
		wi=$((wi + 1))
	done < "$tmp/workloads"
	rep=$((rep + 1))
done

if [ -n "$raw" ]; then
	{
		echo "# workload allocator rep wall_s maxrss_kib status checksum rss_trough_kib cpu_s ops minflt rss_idle_kib"
		cat "$tmp/results"
	} > "$raw"
fi

status=0
# shellcheck disable=SC2086
python3 scripts/bench_malloc_report.py "$tmp/results" "$tmp/workloads" "$mode" "$reps" $list || status=$?
if [ $failures -gt 0 ] || [ $status -ne 0 ]; then
	exit 1
fi
