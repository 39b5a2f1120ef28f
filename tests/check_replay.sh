#!/bin/sh
# `kmem replay` and `kmem trace-dump` (tools/replay.c, tools/trace_dump.c) on KMEM_TRACE files:
#  1. a trace written by hand, records out of seq order, with every kind of
#     inconsistency the replayer must survive (a free and a realloc of
#     unknown ids, a live id returned again, a call that failed in the
#     trace, free(NULL), the drop-in's extra free record after realloc(p,
#     0), an allocation the replay heap cannot serve): the exact counts, in
#     text and JSON, against kmem and against malloc;
#  2. broken files (bad magic, version, record size; a truncated header or
#     record; an unknown op; no file): exit 1 with a clear message, no crash;
#  3. real traces from the drop-in malloc (LD_PRELOAD of libkmem-malloc.so,
#     the second argument): /bin/ls, and a small threaded program when a C
#     compiler is around; a program that forks and a shell that execs two
#     programs with KMEM_TRACE without %p (the default follows children:
#     FILE, then FILE.PID each). If the drop-in cannot run a program, that part is
#     reported and skipped; parts 1 and 2 do not need it.
# usage: check_replay.sh KMEM [LIBKMEM_MALLOC_SO]
set -eu
kmem="$1"
# cross builds: the target's binary runs through Meson's exe wrapper (qemu)
run=${MESON_EXE_WRAPPER:-}
preload="${2:-}"
. "$(dirname "$0")/lib.sh"

# Little-endian integers with POSIX printf octal escapes (no Python needed).
le() { # value bytes
	v=$1
	n=$2
	while [ "$n" -gt 0 ]; do
		# shellcheck disable=SC2059
		printf "\\$(printf %o $((v & 255)))"
		v=$((v >> 8))
		n=$((n - 1))
	done
}
header() { # version record_size
	printf 'KMEMTRC1'
	le "$1" 4
	le "$2" 4
}
rec() { # op align_log2 tid flags seq size ptr old
	le "$1" 1; le "$2" 1; le "$3" 2; le "$4" 4
	le "$5" 8; le "$6" 8; le "$7" 8; le "$8" 8
}
MALLOC=1 FREE=2 CALLOC=3 REALLOC=4 MEMALIGN=5 ZERO=1
TIB=1099511627776
BIG=2147483648 # 2 GiB: more than the replay heap (1 GiB), little for malloc

# ---- 1. a handwritten trace ---------------------------------------------------
# seq  tid  call                                  replay
#  0   1    malloc(100)        -> 0x1000          live: 100 B
#  1   2    calloc(64)         -> 0x3000          164 B
#  2   1    realloc(0x1000,300)-> 0x2000          364 B
#  3   1    free(0x2000)                          64 B
#  4   2    free(0x9000)                          unknown id: skipped
#  5   1    malloc(0)          -> 0x4000          64 B, 2 blocks
#  6   2    malloc(50)         -> 0x4000          0x4000 still live: replaced; 114 B
#  7   2    memalign(4096,1000)-> 0x5000          1114 B in 3 blocks (peak blocks)
#  8   1    realloc(0x3000,0)  -> 0 (frees)       1050 B
#  9   2    malloc(1 TiB)      -> 0 (failed)      skipped
# 10   1    free(0x3000)                          the drop-in's echo of seq 8: skipped
# 11   2    realloc(0xdead000,10) -> 0x6000       unknown old id: replayed as malloc; 1060 B
# 12   1    free(0x5000)                          60 B
# 13   1    free(NULL)                            skipped
# 14   2    malloc(2 GiB)      -> 0x7000          kmem's 1 GiB heap fails it; 2 GiB + 60 B (peak)
# 15   2    free(0x7000)                          60 B in 2 blocks at the end
# written out of order, as per-thread batches would be
{
	header 1 40
	rec $FREE 0 1 0 3 0 0x2000 0
	rec $MALLOC 0 1 0 0 100 0x1000 0
	rec $REALLOC 0 1 0 2 300 0x2000 0x1000
	rec $CALLOC 0 2 0 1 64 0x3000 0
	rec $FREE 0 2 0 4 0 0x9000 0
	rec $MALLOC 0 1 $ZERO 5 0 0x4000 0
	rec $MEMALIGN 12 2 0 7 1000 0x5000 0
	rec $MALLOC 0 2 0 6 50 0x4000 0
	rec $REALLOC 0 1 $ZERO 8 0 0 0x3000
	rec $MALLOC 0 2 0 9 $TIB 0 0
	rec $FREE 0 1 0 13 0 0 0
	rec $REALLOC 0 2 0 11 10 0x6000 0xdead000
	rec $FREE 0 1 0 10 0 0x3000 0
	rec $FREE 0 1 0 12 0 0x5000 0
	rec $MALLOC 0 2 0 14 $BIG 0x7000 0
	rec $FREE 0 2 0 15 0 0x7000 0
} > "$tmp/hand.bin"
[ "$(wc -c < "$tmp/hand.bin")" -eq $((16 + 16 * 40)) ] || fail "hand trace has the wrong size"

counts_ok() { # report heap
	has "$1" "records: 16 (malloc 5, calloc 1, realloc 3, memalign 1, free 6)"
	has "$1" "threads: 2, serialised by seq into one replay thread"
	has "$1" "seq: 0..15, 0 missing, 0 duplicated"
	has "$1" "skipped: 1 free of an unknown id, 1 realloc of an unknown id, 1 failed in the trace, 1 free of NULL"
	has "$1" "echoes: 1 free right after realloc(p, 0) of the same block in the same thread (skipped)"
	has "$1" "replaced: 1 live ids returned again (a lost free)"
	has "$1" "peak live: $((BIG + 60)) bytes requested in 3 blocks"
	has "$1" "live at the end: 2 blocks, 60 bytes requested"
	has "$1" "block tags: ok (0 errors)"
}

$run "$kmem" replay "$tmp/hand.bin" > "$tmp/hand.txt" 2> "$tmp/hand.err" ||
	fail "replay of the hand trace exited $?: $(cat "$tmp/hand.err")"
has "$tmp/hand.err" "kmem: 1 calls failed in the replay (out of memory: try a larger --heap)"
counts_ok "$tmp/hand.txt"
has "$tmp/hand.txt" "replayed: 12 calls, 1 failed in the replay"
has "$tmp/hand.txt" "heap: kmem kmalloc, 1024 MiB arena, 4096 B frames, max order 18 (buddy -> pagealloc -> slab/kmalloc)"
has "$tmp/hand.txt" "check: kmem_buddy_check ok, kmem_pa_check ok, 0 errors reported"
has "$tmp/hand.txt" "teardown: 262144 of 262144 frames free"
grep -Eq '^time: [0-9]+\.[0-9]{3} ms, [0-9]+\.[0-9] ns/call$' "$tmp/hand.txt" || fail "no time line"
grep -Eq '^peak frames: buddy [1-9][0-9]* \(' "$tmp/hand.txt" || fail "no peak frames line"
grep -Eq '^Node 0, zone +replay( +[0-9]+){19} $' "$tmp/hand.txt" || fail "no buddyinfo line"
grep -Eq '^unusable_index: Node 0, zone +replay ' "$tmp/hand.txt" || fail "no unusable_index line"
grep -Eq '^extfrag_index: Node 0, zone +replay ' "$tmp/hand.txt" || fail "no extfrag_index line"

# a smaller heap and other frames: same counts
$run "$kmem" replay --heap 16M --frame 1024 --sample 1 "$tmp/hand.bin" > "$tmp/hand16.txt" 2> /dev/null ||
	fail "replay --heap 16M exited $?"
counts_ok "$tmp/hand16.txt"
has "$tmp/hand16.txt" "heap: kmem kmalloc, 16 MiB arena, 1024 B frames, max order 14 (buddy -> pagealloc -> slab/kmalloc)"
has "$tmp/hand16.txt" "teardown: 16384 of 16384 frames free"

# the process's malloc: same trace, same counts (whether malloc(2 GiB)
# succeeds depends on the system's overcommit policy: not checked)
$run "$kmem" replay --malloc "$tmp/hand.bin" > "$tmp/handm.txt" 2> /dev/null || fail "replay --malloc exited $?"
counts_ok "$tmp/handm.txt"
has "$tmp/handm.txt" "heap: the process's malloc (--malloc)"
grep -q '^check:' "$tmp/handm.txt" && fail "--malloc ran the kmem checkers"

# JSON
$run "$kmem" replay --json "$tmp/hand.bin" > "$tmp/hand.json" 2> /dev/null || fail "replay --json exited $?"
[ "$(wc -l < "$tmp/hand.json")" -eq 1 ] || fail "JSON is not one line"
for kv in '"records":16' '"ops":{"malloc":5,"calloc":1,"realloc":3,"memalign":1,"free":6}' \
	'"threads":2' '"unknown_free":1' '"unknown_realloc":1' '"trace_failed":1' \
	'"null_free":1' '"realloc0_echo":1' '"replaced":1' '"replayed":12' '"replay_failed":1' \
	"\"peak_live_bytes\":$((BIG + 60))" '"peak_live_blocks":3' '"end_live_blocks":2' \
	'"end_live_bytes":60' '"tag_errors":0' '"check_buddy":true' '"check_pagealloc":true' \
	'"errors":0' '"teardown_free_frames":262144' '"ok":true' '"buddy":{"name":"replay",'; do
	grep -qF -- "$kv" "$tmp/hand.json" || fail "no $kv in the JSON: $(cat "$tmp/hand.json")"
done
if [ -x /usr/bin/python3 ]; then
	/usr/bin/python3 -m json.tool "$tmp/hand.json" > /dev/null || fail "invalid JSON"
fi

# trace-dump: file order, sorted, limited
$run "$kmem" trace-dump "$tmp/hand.bin" > "$tmp/dump.txt" || fail "trace-dump exited $?"
has "$tmp/dump.txt" "# $tmp/hand.bin: kmem trace version 1, 16 records of 40 bytes, in file order"
[ "$(grep -vc '^#' "$tmp/dump.txt")" -eq 16 ] || fail "trace-dump did not print 16 records"
[ "$(sed -n 3p "$tmp/dump.txt")" = "3 1 free 0 0x2000 0" ] || fail "trace-dump: first record"
has "$tmp/dump.txt" "7 2 memalign 1000 0x5000 0 align=4096"
has "$tmp/dump.txt" "8 1 realloc 0 0 0x3000 flags=zero-size,0x1"
has "$tmp/dump.txt" "11 2 realloc 10 0x6000 0xdead000"
$run "$kmem" trace-dump --sort "$tmp/hand.bin" > "$tmp/sorted.txt" || fail "trace-dump --sort exited $?"
grep -v '^#' "$tmp/sorted.txt" | cut -d' ' -f1 | tr '\n' ' ' > "$tmp/seqs"
[ "$(cat "$tmp/seqs")" = "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 " ] || fail "not sorted: $(cat "$tmp/seqs")"
$run "$kmem" trace-dump --limit 2 "$tmp/hand.bin" > "$tmp/lim.txt" || fail "trace-dump --limit exited $?"
[ "$(grep -vc '^#' "$tmp/lim.txt")" -eq 2 ] || fail "trace-dump --limit 2"

# an empty trace (the header only) replays to nothing
header 1 40 > "$tmp/empty.bin"
$run "$kmem" replay "$tmp/empty.bin" > "$tmp/empty.txt" || fail "replay of an empty trace exited $?"
has "$tmp/empty.txt" "records: 0 (malloc 0, calloc 0, realloc 0, memalign 0, free 0)"

# ---- 2. broken traces: exit 1 and say why ------------------------------------
# expect_fail MESSAGE FILE: both subcommands exit 1 (not a crash) and print MESSAGE
expect_fail() {
	for cmd in replay trace-dump; do
		set +e
		$run "$kmem" "$cmd" "$2" > "$tmp/out" 2> "$tmp/err"
		rc=$?
		set -e
		[ "$rc" -eq 1 ] || fail "$cmd on $(basename "$2") exited $rc, expected 1"
		grep -qF -- "$1" "$tmp/err" || fail "$cmd on $(basename "$2"): no '$1' in: $(cat "$tmp/err")"
	done
}
{ printf 'KMEMTRC2'; le 1 4; le 40 4; } > "$tmp/magic.bin"
expect_fail "not a kmem trace (bad magic" "$tmp/magic.bin"
header 2 40 > "$tmp/version.bin"
expect_fail "unsupported trace version 2" "$tmp/version.bin"
header 1 48 > "$tmp/recsize.bin"
expect_fail "unsupported record size 48" "$tmp/recsize.bin"
head -c 10 "$tmp/hand.bin" > "$tmp/short.bin"
expect_fail "truncated trace: 10 bytes" "$tmp/short.bin"
head -c $((16 + 40 * 4 + 17)) "$tmp/hand.bin" > "$tmp/trunc.bin"
expect_fail "truncated record at offset 176: 17 trailing bytes after 4 whole records" "$tmp/trunc.bin"
{
	cat "$tmp/hand.bin"
	rec 9 0 1 0 16 8 0x8000 0
} > "$tmp/op.bin"
expect_fail "record 16 (offset 656, seq 16): unknown op (op 9" "$tmp/op.bin"
expect_fail "No such file or directory" "$tmp/missing.bin"
expect_fail "not a regular file" "$tmp"
# trace-dump still shows what it can of a truncated trace
set +e
$run "$kmem" trace-dump "$tmp/trunc.bin" > "$tmp/tdump.txt" 2> /dev/null
set -e
[ "$(grep -vc '^#' "$tmp/tdump.txt")" -eq 4 ] || fail "trace-dump of a truncated trace"
# usage errors exit 2
set +e
$run "$kmem" replay > /dev/null 2>&1; rc1=$?
$run "$kmem" replay --heap x "$tmp/hand.bin" > /dev/null 2>&1; rc2=$?
$run "$kmem" trace-dump --limit x "$tmp/hand.bin" > /dev/null 2>&1; rc3=$?
set -e
if [ "$rc1" -ne 2 ] || [ "$rc2" -ne 2 ] || [ "$rc3" -ne 2 ]; then
	fail "usage errors exited $rc1 $rc2 $rc3, expected 2"
fi

# ---- 3. real traces from the drop-in malloc -----------------------------------
# check_real TRACE: trace-dump and replay (kmem and malloc) succeed on it
check_real() {
	$run "$kmem" trace-dump "$1" > "$tmp/real.dump" || fail "trace-dump of $1 exited $?"
	n=$(grep -vc '^#' "$tmp/real.dump" || true)
	[ "$n" -gt 0 ] || fail "trace-dump of $1 printed no records"
	$run "$kmem" replay "$1" > "$tmp/real.txt" || fail "replay of $1 exited $?: $(cat "$tmp/real.txt")"
	has "$tmp/real.txt" "check: kmem_buddy_check ok, kmem_pa_check ok, 0 errors reported"
	has "$tmp/real.txt" "block tags: ok (0 errors)"
	grep -Eq "^records: $n \(malloc [1-9]" "$tmp/real.txt" || fail "replay of $1: record count"
	grep -Eq '^teardown: ([0-9]+) of \1 frames free$' "$tmp/real.txt" || fail "replay of $1: teardown"
	$run "$kmem" replay --malloc "$1" > "$tmp/realm.txt" || fail "replay --malloc of $1 exited $?"
}

if [ -z "$preload" ] || [ ! -f "$preload" ]; then
	echo "check_replay: SKIP drop-in part: libkmem-malloc.so not built"
else
	rm -f "$tmp/ls.bin"
	if LD_PRELOAD="$preload" KMEM_TRACE="$tmp/ls.bin" /bin/ls / > "$tmp/ls.out" 2> "$tmp/ls.err" &&
		[ -s "$tmp/ls.bin" ] && [ "$(wc -c < "$tmp/ls.bin")" -gt 16 ]; then
		check_real "$tmp/ls.bin"
		sed -n 's/^records: /check_replay: \/bin\/ls traced: /p' "$tmp/real.txt"
		# a shell running two programs, KMEM_TRACE without %p: each
		# exec'd program writes FILE.PID (KMEM_TRACE=FILE.%p in its
		# environment), none truncates FILE
		mkdir "$tmp/sh.d"
		LD_PRELOAD="$preload" KMEM_TRACE="$tmp/sh.d/sh.bin" /bin/sh -c \
			'/bin/ls / > /dev/null; /bin/ls / > /dev/null; echo "$KMEM_TRACE"' > "$tmp/sh.out" ||
			fail "sh -c under the drop-in exited $?"
		has "$tmp/sh.out" "$tmp/sh.d/sh.bin.%p"
		[ -f "$tmp/sh.d/sh.bin" ] || fail "sh: the shell's own file is missing"
		nf=$(ls "$tmp/sh.d" | grep -c '^sh\.bin\.[0-9][0-9]*$' || true)
		[ "$nf" -ge 2 ] || fail "sh: $nf files sh.bin.PID, expected one per ls"
		for f in "$tmp/sh.d"/sh.bin.*; do
			check_real "$f"
		done
		echo "check_replay: sh -c 'ls; ls' without %p: $nf per-process files"
		# the same trace on the drop-in itself, through --malloc
		LD_PRELOAD="$preload" $run "$kmem" replay --malloc "$tmp/ls.bin" > "$tmp/lsm.txt" ||
			fail "replay --malloc under the drop-in exited $?"
		has "$tmp/lsm.txt" "block tags: ok (0 errors)"

		# threads: per-thread batches, a file out of seq order; and a TLS
		# destructor of the program's, run after the drop-in's per-thread
		# context has gone (its key is older), still allocating in two
		# destructor rounds: those records go straight to the file
		cc=$(command -v cc || command -v gcc || command -v clang || true)
		if [ -n "$cc" ]; then
			cat > "$tmp/mt.c" <<'EOF'
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_key_t late_key;
static void *volatile sink;

static void late(void *arg)
{
	unsigned *rounds = arg;
	void *a = malloc(333), *b = malloc(77777), *c = calloc(1, 4321);

	sink = a;
	sink = b;
	sink = c;
	free(b);
	free(a);
	free(c);
	if (++*rounds < 2)
		pthread_setspecific(late_key, rounds);
}

static void *work(void *arg)
{
	void *keep[64] = { 0 };
	unsigned s = (unsigned)(size_t)arg;
	static unsigned rounds[8];

	pthread_setspecific(late_key, &rounds[s % 8]);

	for (int i = 0; i < 5000; i++) {
		unsigned k;

		s = s * 1103515245u + 12345u;
		k = (s >> 8) % 64;
		if (keep[k] && (s & 1)) {
			free(keep[k]);
			keep[k] = NULL;
		} else if (keep[k]) {
			void *q = realloc(keep[k], (s >> 4) % 3000 + 1);

			if (q)
				keep[k] = q;
		} else {
			keep[k] = (s & 2) ? malloc((s >> 12) % 20000 + 1) : calloc(1, (s >> 12) % 500 + 1);
		}
		if (keep[k])
			memset(keep[k], 1, 1);
	}
	for (int k = 0; k < 64; k++)
		free(keep[k]);
	return NULL;
}

int main(void)
{
	pthread_t t[4];

	sink = malloc(1); /* the drop-in's thread-exit key first */
	free(sink);
	if (pthread_key_create(&late_key, late))
		return 1;
	for (size_t i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, work, (void *)(i + 1)))
			return 1;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return 0;
}
EOF
			if "$cc" -O1 -pthread -o "$tmp/mt" "$tmp/mt.c" 2> "$tmp/cc.err"; then
				LD_PRELOAD="$preload" KMEM_TRACE="$tmp/mt.bin" "$tmp/mt" ||
					fail "the threaded program under the drop-in exited $?"
				check_real "$tmp/mt.bin"
				threads=$(sed -n 's/^threads: \([0-9]*\),.*/\1/p' "$tmp/real.txt")
				[ "$threads" -ge 4 ] || fail "threaded trace: $threads threads"
				grep -Eq '^seq: .*, 0 missing, 0 duplicated$' "$tmp/real.txt" ||
					fail "threaded trace: records missing or duplicated"
				# every worker's two late rounds, under its own thread id
				late=$(awk '$3 == "malloc" && $4 == 333 { print $2 }' "$tmp/real.dump" |
					sort | uniq -c | awk '$1 == 2' | wc -l)
				[ "$late" -eq 4 ] || fail "threaded trace: late records of $late threads, not 4"
				sed -n -e 's/^records: /check_replay: threaded program traced: /p' \
					-e 's/^\(skipped\|replaced\|seq\): /check_replay:   \1: /p' "$tmp/real.txt"
			else
				echo "check_replay: SKIP threaded trace: $cc cannot build a test program"
			fi
			# fork with KMEM_TRACE=...%p: the child traces into its own file
			# from seq 0, the parent goes on in its own
			cat > "$tmp/fk.c" <<'EOF'
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *volatile sink;

static void *work(void *arg)
{
	for (int i = 0; i < 3000; i++) {
		sink = malloc((size_t)i % 700 + 1);
		free(sink);
	}
	return arg;
}

int main(void)
{
	pthread_t t;
	pid_t pid;
	int st;

	sink = malloc(10);
	free(sink);
	if (pthread_create(&t, NULL, work, NULL))
		return 1;
	pid = fork(); /* while the thread allocates */
	if (pid < 0)
		return 1;
	for (int i = 0; i < 500; i++) {
		sink = i & 1 ? calloc(1, (size_t)i + 1) : malloc((size_t)i * 9 + 1);
		free(sink);
	}
	if (pid == 0)
		exit(0);
	pthread_join(t, NULL);
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
EOF
			if "$cc" -O1 -pthread -o "$tmp/fk" "$tmp/fk.c" 2> "$tmp/cc.err"; then
				mkdir "$tmp/fk.d"
				LD_PRELOAD="$preload" KMEM_TRACE="$tmp/fk.d/%p.bin" "$tmp/fk" ||
					fail "the forking program under the drop-in exited $?"
				nf=$(ls "$tmp/fk.d" | wc -l)
				[ "$nf" -eq 2 ] || fail "fork: $nf trace files, not 2"
				for f in "$tmp/fk.d"/*.bin; do
					check_real "$f"
					grep -Eq '^seq: 0\.\.[0-9]+, 0 missing, 0 duplicated$' "$tmp/real.txt" ||
						fail "fork: $f: records missing or duplicated"
				done
				echo "check_replay: fork traced: the parent's and the child's files replay"
				# without %p: the parent writes the file, the child FILE.PID
				mkdir "$tmp/fk2.d"
				LD_PRELOAD="$preload" KMEM_TRACE="$tmp/fk2.d/t.bin" "$tmp/fk" ||
					fail "the forking program (no %p) under the drop-in exited $?"
				[ -s "$tmp/fk2.d/t.bin" ] || fail "fork, no %p: the parent's file is missing"
				nf=$(ls "$tmp/fk2.d" | grep -c '^t\.bin\.[0-9][0-9]*$' || true)
				[ "$nf" -eq 1 ] || fail "fork, no %p: $nf child files t.bin.PID, not 1"
				for f in "$tmp/fk2.d"/*; do
					check_real "$f"
				done
				echo "check_replay: fork traced without %p: FILE and FILE.PID"
			else
				echo "check_replay: SKIP fork trace: $cc cannot build a test program"
			fi
		else
			echo "check_replay: SKIP threaded trace: no C compiler"
		fi
	else
		echo "check_replay: SKIP drop-in part: LD_PRELOAD=$preload KMEM_TRACE=... /bin/ls / failed:"
		sed 's/^/  /' "$tmp/ls.err" | head -n 5
	fi
fi
echo "kmem replay: ok"
