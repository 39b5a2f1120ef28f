#!/bin/sh
# One trace against several allocators, one table: kmem's heap under one or
# more named option sets (`kmem replay` options: policies, --pcp-batch,
# --heap, ...), the system's malloc (glibc), the kmem drop-in and the Debian
# peers (jemalloc, tcmalloc, mimalloc, when installed: scripts/setup.sh)
# through `kmem replay --malloc` under LD_PRELOAD.
#
# Columns: ns a record (the replay's wall time over the calls made: mostly
# the harness); net ns an op (kmem replay's speed pass: the heap alone on
# the calls decoded beforehand, a null allocator's walk subtracted); RSS
# growth, the process's peak RSS minus its peak before the replay (the trace
# loaded and sorted, the heap set up), the one footprint every allocator
# has; calls that failed in the replay; and for the kmem heap, the peak
# bytes held (frames taken from its buddy), J&W's #4 (peak held / peak live
# - 1) and the internal fragmentation left at the end. Block tags are off
# (--no-verify) so that every row times the same work.
#
# usage: scripts/compare-replay.sh [-k NAME:OPTIONS]... [-n] [-p] TRACE
#   -k NAME:OPTIONS  a kmem row (repeatable; default one row "kmem" with
#                    no options), e.g. -k batch0:--pcp-batch=0
#   -n               kmem rows only (no glibc, drop-in or peers)
#   -p               nothing preloaded: kmem rows and glibc only (for a kmem
#                    built with a sanitizer, which must come first)
# Environment: KMEM (the kmem binary, default build/tools/kmem), KMEM_MALLOC
# (the drop-in, default build/malloc/libkmem-malloc.so).
set -eu
here=$(pwd)
abs() { # a path given by the user, made absolute against where they ran us
	case $1 in
	/*) echo "$1" ;;
	*) echo "$here/$1" ;;
	esac
}
kmem=$(abs "${KMEM:-}")
dropin=$(abs "${KMEM_MALLOC:-}")
cd "$(dirname "$0")/.."
[ -n "${KMEM:-}" ] || kmem=$PWD/build/tools/kmem
[ -n "${KMEM_MALLOC:-}" ] || dropin=$PWD/build/malloc/libkmem-malloc.so
sets=""
others=1
preloads=1
while getopts k:np opt; do
	case $opt in
	k) sets="$sets
$OPTARG" ;;
	n) others=0 ;;
	p) preloads=0 ;;
	*) echo "usage: $0 [-k NAME:OPTIONS]... [-n] [-p] TRACE" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -ne 1 ]; then
	echo "usage: $0 [-k NAME:OPTIONS]... [-n] [-p] TRACE" >&2
	exit 2
fi
trace=$(abs "$1")
[ -n "$sets" ] || sets="
kmem:"
[ -x "$kmem" ] || { echo "compare-replay: $kmem: not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

find_lib() { # soname -> path, or nothing
	for d in "/usr/lib/$(gcc -print-multiarch 2>/dev/null)" /usr/lib64 /usr/lib /usr/local/lib; do
		if [ -f "$d/$1" ]; then
			echo "$d/$1"
			return
		fi
	done
}

rows=""
row() { # name preload options...
	name=$1
	preload=$2
	shift 2
	if ! LD_PRELOAD="$preload" "$kmem" replay --json --no-verify "$@" "$trace" > "$tmp/$name.json" 2> "$tmp/$name.err"; then
		echo "compare-replay: $name: kmem replay failed:" >&2
		head -n 5 "$tmp/$name.err" >&2
		exit 1
	fi
	rows="$rows $name"
}

echo "$sets" | while IFS= read -r set; do
	[ -n "$set" ] || continue
	echo "$set"
done > "$tmp/sets"
while IFS= read -r set; do
	name=${set%%:*}
	opts=${set#*:}
	# shellcheck disable=SC2086
	row "$name" "" $opts
done < "$tmp/sets"
if [ "$others" -eq 1 ]; then
	row glibc "" --malloc
fi
if [ "$others" -eq 1 ] && [ "$preloads" -eq 1 ]; then
	if [ -f "$dropin" ]; then
		row kmem-malloc "$dropin" --malloc
	else
		echo "compare-replay: kmem-malloc skipped: $dropin not built" >&2
	fi
	for peer in jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
		lib=$(find_lib "${peer#*:}")
		if [ -z "$lib" ]; then
			echo "compare-replay: ${peer%%:*} skipped: ${peer#*:} not found (scripts/setup.sh installs it)" >&2
			continue
		fi
		row "${peer%%:*}" "$lib" --malloc
	done
fi

python3 - "$tmp" "$trace" $rows <<'EOF'
import json, sys
tmp, trace, names = sys.argv[1], sys.argv[2], sys.argv[3:]
def mib(kib):
    return "%.2f" % (kib / 1024.0)
print("trace: %s" % trace)
head = ("allocator", "ns/record", "net ns/op", "RSS growth MiB", "failed", "held peak MiB", "J&W #4", "internal")
print("%-14s %10s %10s %15s %7s %14s %8s %9s" % head)
for n in names:
    r = json.load(open("%s/%s.json" % (tmp, n)))
    growth = r["max_rss_kib"] - r["max_rss_before_kib"]
    if "held_max" in r:
        held = "%.2f" % (r["held_max"] / 1048576.0)
        jw4 = "n/a" if r["jw"][3] is None else "%.1f%%" % (100 * r["jw"][3])
    else:
        held, jw4 = "-", "-"
    internal = "n/a" if r["internal_frag"] is None else "%.1f%%" % (100 * r["internal_frag"])
    net = "%.1f" % r["net_ns_per_op"] if "net_ns_per_op" in r else "-"
    print("%-14s %10.1f %10s %15s %7d %14s %8s %9s" % (n, r["ns_per_call"], net, mib(growth),
                                                    r["replay_failed"], held, jw4, internal))
EOF
