#!/bin/sh
# Issue 18's idle case: redis after FLUSHALL. For each allocator, starts
# redis-server on loopback (no persistence), fills it with redis-benchmark
# (`-t set -n KEYS -r KEYS -d BYTES`: random keys, so about 63% of KEYS
# distinct ones), reads the server's RSS (VmRSS of /proc/PID/status), runs
# FLUSHALL (synchronous), waits WAIT seconds with no client traffic and reads
# the RSS again. Prints one Markdown row per allocator: RSS filled, right
# after FLUSHALL, after the wait, and the last as a ratio to redis's own
# allocator's.
#
# Allocators (-a, comma-separated):
#   own       redis as it ships (Debian's links libjemalloc.so.2: jemalloc 5.3
#             with redis's own settings, e.g. its background purge thread)
#   kmem      LD_PRELOAD of the drop-in (-k PATH; default
#             BUILDDIR/malloc/libkmem-malloc.so)
#   tcmalloc, mimalloc   LD_PRELOAD of the Debian peers, when installed
#   glibc is not offered: Debian's redis-server calls jemalloc's malloc
#   through its link, and glibc's cannot be preloaded over it.
# Extra environment for the kmem run: -e 'KMEM_DECAY_MS=5000' etc.
#
# Skips (exit 0, one line saying why) when redis-server, redis-cli or
# redis-benchmark is not installed (not in CI: apt-get install redis-server
# redis-tools).
#
# Usage: scripts/redis-flushall.sh [-a LIST] [-k PATH] [-n KEYS] [-d BYTES]
#                                  [-w WAIT] [-p PORT] [-e VAR=VALUE] [BUILDDIR]
#   defaults: -a own,kmem -n 1000000 -d 100 -w 15 -p 6390, BUILDDIR build-rel
set -eu
cd "$(dirname "$0")/.."

allocs=own,kmem
kmem_lib=
keys=1000000
bytes=100
wait_s=15
port=6390
kenv=
while getopts a:k:n:d:w:p:e:h opt; do
	case $opt in
	a) allocs=$OPTARG ;;
	k) kmem_lib=$OPTARG ;;
	n) keys=$OPTARG ;;
	d) bytes=$OPTARG ;;
	w) wait_s=$OPTARG ;;
	p) port=$OPTARG ;;
	e) kenv="$kenv $OPTARG" ;;
	h) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [-a LIST] [-k PATH] [-n KEYS] [-d BYTES] [-w WAIT] [-p PORT] [-e VAR=VALUE] [BUILDDIR]" >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
build=${1:-build-rel}
[ -n "$kmem_lib" ] || kmem_lib=$build/malloc/libkmem-malloc.so

for t in redis-server redis-cli redis-benchmark; do
	if ! command -v $t >/dev/null 2>&1; then
		echo "redis-flushall: skipped: $t is not installed (apt-get install redis-server redis-tools)"
		exit 0
	fi
done

lib_of() { # allocator -> library to preload ("" for none; "-" if missing)
	case $1 in
	own) echo "" ;;
	kmem) [ -f "$kmem_lib" ] && readlink -f "$kmem_lib" || echo - ;;
	tcmalloc) ls /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -n 1 | grep . || echo - ;;
	mimalloc) ls /usr/lib/*/libmimalloc.so.2 2>/dev/null | head -n 1 | grep . || echo - ;;
	jemalloc) ls /usr/lib/*/libjemalloc.so.2 2>/dev/null | head -n 1 | grep . || echo - ;;
	*) echo - ;;
	esac
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || :; }
trap cleanup EXIT INT TERM

own_after=
echo "| allocator | RSS filled | after FLUSHALL | after ${wait_s} s idle | vs own |"
echo "|---|--:|--:|--:|--:|"
for a in $(echo "$allocs" | tr ',' ' '); do
	lib=$(lib_of "$a")
	if [ "$lib" = - ]; then
		echo "| $a | (not installed) | | | |"
		continue
	fi
	if [ -n "$lib" ]; then
		# shellcheck disable=SC2086
		env LD_PRELOAD="$lib" $([ "$a" = kmem ] && echo $kenv) redis-server --port "$port" \
			--bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning \
			>/dev/null 2>&1 &
	else
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--daemonize no --loglevel warning >/dev/null 2>&1 &
	fi
	pid=$!
	i=0
	until redis-cli -p "$port" ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "redis-flushall: $a: the server did not start" >&2; exit 1; }
		sleep 0.1
	done
	redis-benchmark -p "$port" -t set -n "$keys" -r "$keys" -d "$bytes" -q >/dev/null
	filled=$(rss_kib "$pid")
	redis-cli -p "$port" flushall >/dev/null
	flushed=$(rss_kib "$pid")
	sleep "$wait_s"
	after=$(rss_kib "$pid")
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || :
	wait "$pid" 2>/dev/null || :
	pid=
	[ "$a" != own ] || own_after=$after
	ratio=$([ -n "$own_after" ] && awk -v a="$after" -v o="$own_after" 'BEGIN { printf "%.2f", a / o }' || echo "")
	echo "| $a | $(mib "$filled") MiB | $(mib "$flushed") MiB | $(mib "$after") MiB | $ratio |"
done
