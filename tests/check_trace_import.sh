#!/bin/sh
# Traces from outside the drop-in (tools/trace_text.c, tools/trace_convert.c):
#  1. kmem's text format: the handwritten trace of check_replay.sh as text
#     replays to the same counts; text -> binary -> text gives the same
#     text back, and the binary replays to the same counts;
#  2. a handwritten valgrind --trace-malloc=yes log with every shape
#     Valgrind prints (realloc(NULL, n) with its inner malloc, realloc(p, 0)
#     with its inner free and the result on the next line, C++ operators,
#     memalign, a failed call, Valgrind's own lines, another process's
#     lines): the exact records;
#  3. malformed input in both formats: exit 1, one line naming the file,
#     the line and the problem (no crash); usage errors exit 2;
#  4. real logs, when valgrind and a C compiler are installed: a program
#     run under valgrind --trace-malloc=yes and under the drop-in with
#     KMEM_TRACE gives the same calls (op and size, in order) and replays
#     to the same counts (free(NULL) aside: valgrind logs it, the drop-in
#     does not trace it; and with --run-libc-freeres=no, so that glibc's
#     exit-time frees, which run only under valgrind, are not there);
#     /bin/ls's log replays and passes the checkers.
# usage: check_trace_import.sh KMEM [LIBKMEM_MALLOC_SO]
set -eu
kmem="$1"
run=${MESON_EXE_WRAPPER:-}
preload="${2:-}"
. "$(dirname "$0")/lib.sh"

# ---- 1. kmem's text format ----------------------------------------------------
# the trace of check_replay.sh part 1, in call order (seq = line rank)
cat > "$tmp/hand.txt" <<'EOF'
# kmem trace text: op args result [@tid]
m 100 0x1000
c 64 0x3000 @2
r 0x1000 300 0x2000          # moved
f 0x2000
f 0x9000 @2                  # unknown id
m 0 0x4000
malloc 50 0x4000 @2          # a live id returned again
a 4096 1000 0x5000 @2
r 0x3000 0 0                 # realloc(p, 0)
m 1099511627776 0 @2         # failed in the trace
f 0x3000                     # the drop-in's echo of realloc(p, 0)
r 0xdead000 10 0x6000 @2
f 0x5000
f 0
m 2147483648 0x7000 @2
free 0x7000 @2
EOF
counts_ok() {
	has "$1" "records: 16 (malloc 5, calloc 1, realloc 3, memalign 1, free 6)"
	has "$1" "threads: 2, serialised by seq into one replay thread"
	has "$1" "seq: 0..15, 0 missing, 0 duplicated"
	has "$1" "skipped: 1 free of an unknown id, 1 realloc of an unknown id, 1 failed in the trace, 1 free of NULL"
	has "$1" "echoes: 1 free right after realloc(p, 0) of the same block in the same thread (skipped)"
	has "$1" "replaced: 1 live ids returned again (a lost free)"
	has "$1" "peak live: 2147483708 bytes requested in 3 blocks"
	has "$1" "live at the end: 2 blocks, 60 bytes requested"
	has "$1" "block tags: ok (0 errors)"
}
$run "$kmem" replay "$tmp/hand.txt" > "$tmp/r1.txt" 2> "$tmp/r1.err" ||
	fail "replay of the text trace exited $?: $(cat "$tmp/r1.err")"
counts_ok "$tmp/r1.txt"
has "$tmp/r1.txt" "replayed: 12 calls, 1 failed in the replay"
# to kmem's binary format and back
$run "$kmem" trace-convert --to kmem "$tmp/hand.txt" "$tmp/hand.bin" || fail "trace-convert --to kmem exited $?"
[ "$(wc -c < "$tmp/hand.bin")" -eq $((16 + 16 * 40)) ] || fail "binary trace has the wrong size"
$run "$kmem" replay "$tmp/hand.bin" > "$tmp/r2.txt" 2> /dev/null || fail "replay of the converted trace exited $?"
counts_ok "$tmp/r2.txt"
$run "$kmem" trace-convert "$tmp/hand.bin" "$tmp/back.txt" || fail "trace-convert to text exited $?"
$run "$kmem" trace-convert "$tmp/back.txt" - > "$tmp/back2.txt" || fail "trace-convert text to text exited $?"
cmp -s "$tmp/back.txt" "$tmp/back2.txt" || fail "text -> text is not stable"
has "$tmp/back.txt" "r 0x3000 0 0"
has "$tmp/back.txt" "a 4096 1000 0x5000 @2"
has "$tmp/back.txt" "m 1099511627776 0 @2"
[ "$(grep -vc '^#' "$tmp/back.txt")" -eq 16 ] || fail "text export: not 16 lines"
# trace-dump reads text too; --format names it
$run "$kmem" trace-dump "$tmp/hand.txt" > "$tmp/d.txt" || fail "trace-dump of text exited $?"
has "$tmp/d.txt" "8 1 realloc 0 0 0x3000 flags=zero-size,0x1"
$run "$kmem" replay --format text "$tmp/hand.txt" > /dev/null 2>&1 || true
$run "$kmem" replay --format kmem "$tmp/hand.txt" > /dev/null 2> "$tmp/e.txt" && fail "--format kmem read text"
grep -qF "not a kmem trace (bad magic" "$tmp/e.txt" || fail "--format kmem: $(cat "$tmp/e.txt")"
# an empty text trace replays to nothing
: > "$tmp/empty.txt"
$run "$kmem" replay "$tmp/empty.txt" > "$tmp/r3.txt" || fail "replay of an empty text trace exited $?"
has "$tmp/r3.txt" "records: 0 (malloc 0, calloc 0, realloc 0, memalign 0, free 0)"

# ---- 2. a handwritten valgrind log ------------------------------------------------
cat > "$tmp/vg.log" <<'EOF'
==4242== Memcheck, a memory error detector
==4242== Command: prog
==4242== 
--4242-- malloc(100) = 0x4A43040
--4242-- calloc(4,16) = 0x4A430F0
--4242-- realloc(0x0,32)malloc(32) = 0x4A43150
--4242-- realloc(0x4A43040,200) = 0x4A431B0
--4242-- realloc(0x4A43150,0)free(0x4A43150)
--4242--  = 0
--4242-- memalign(al 64, size 200) = 0x4A43300
--4242-- _Znwm(24) = 0x4A43400
--4242-- _ZnwmSt11align_val_t(size 40, al 128) = 0x4A43480
--4242-- malloc_usable_size(0x4A43400) = 24
--4242-- REDIR: this is Valgrind talking
--4243-- malloc(7) = 0x5000
--4242-- malloc(70368744177664) = 0x0
--4242-- _ZdlPvm(0x4A43400)
--4242-- _ZdlPvSt11align_val_t(0x4A43480)
--4242-- free(0x4A431B0)
--4242-- free(0x0)
--4242-- free(0x4A43300)
==4242== HEAP SUMMARY:
EOF
$run "$kmem" trace-convert "$tmp/vg.log" "$tmp/vg.txt" 2> "$tmp/vg.err" || fail "trace-convert of the valgrind log exited $?"
has "$tmp/vg.err" "kmem: $tmp/vg.log: warning: 1 lines of other processes skipped (this log has several; read: pid 4242; one log per process: --log-file=NAME.%p)"
grep -v '^#' "$tmp/vg.txt" > "$tmp/vg.ops"
cat > "$tmp/vg.want" <<'EOF'
m 100 0x4a43040
c 64 0x4a430f0
r 0 32 0x4a43150
r 0x4a43040 200 0x4a431b0
r 0x4a43150 0 0
a 64 200 0x4a43300
m 24 0x4a43400
a 128 40 0x4a43480
m 70368744177664 0
f 0x4a43400
f 0x4a43480
f 0x4a431b0
f 0
f 0x4a43300
EOF
diff "$tmp/vg.want" "$tmp/vg.ops" > "$tmp/vg.diff" || fail "valgrind log read as: $(cat "$tmp/vg.diff")"
$run "$kmem" replay "$tmp/vg.log" > "$tmp/r4.txt" 2> /dev/null || fail "replay of the valgrind log exited $?"
has "$tmp/r4.txt" "records: 14 (malloc 3, calloc 1, realloc 3, memalign 2, free 5)"
has "$tmp/r4.txt" "skipped: 0 free of an unknown id, 0 realloc of an unknown id, 1 failed in the trace, 1 free of NULL"
has "$tmp/r4.txt" "live at the end: 1 blocks, 64 bytes requested"

# ---- 3. malformed input -------------------------------------------------------------
# bad TEXT MESSAGE: replay and trace-convert exit 1 with MESSAGE on stderr
bad() {
	printf '%s\n' "$1" > "$tmp/bad"
	for cmd in replay trace-convert; do
		set +e
		if [ "$cmd" = replay ]; then
			$run "$kmem" replay "$tmp/bad" > /dev/null 2> "$tmp/err"
		else
			$run "$kmem" trace-convert "$tmp/bad" "$tmp/bad.out" 2> "$tmp/err"
		fi
		rc=$?
		set -e
		[ "$rc" -eq 1 ] || fail "$cmd on '$1' exited $rc, expected 1"
		grep -qxF -- "kmem: $tmp/bad: $2" "$tmp/err" || fail "$cmd on '$1': expected '$2', got: $(cat "$tmp/err")"
	done
	[ ! -e "$tmp/bad.out" ] || fail "trace-convert left an output behind"
}
bad "m 10 0x10
x 1 2" "line 2: unknown operation 'x' (expected m, c, a, r or f) (text trace)"
bad "m 10" "line 1: missing fields: expected 'm SIZE ID [@TID]' (text trace)"
bad "f 1 2" "line 1: too many fields: expected 'f ID [@TID]' (text trace)"
bad "m ten 0x10" "line 1: size 'ten' is not a number (text trace)"
bad "r 0xzz 1 2" "line 1: old id '0xzz' is not a number (text trace)"
bad "a 24 10 0x10" "line 1: alignment 24 is not a power of two (text trace)"
bad "m 99999999999999999999 1" "line 1: size '99999999999999999999' does not fit 64 bits (text trace)"
bad "f 0x10 @0" "line 1: thread 0 out of range 1..65535 (text trace)"
bad "--1-- malloc(10) = 0x10
--1-- malloc(10" "line 2: 'malloc(' has no closing parenthesis (valgrind trace)"
bad "--1-- malloc(10) = zz" "line 1: bad result after 'malloc(...)' (expected ' = POINTER') (valgrind trace)"
bad "--1-- frob(10) = 0x1" "line 1: unknown call 'frob' (not one valgrind --trace-malloc=yes prints) (valgrind trace)"
bad "--1-- realloc(0x10,0)free(0x10)" "line 1: 'realloc(...)' has no result (the log ends) (valgrind trace)"
bad "--1--  = 0x5" "line 1: a result with no call waiting for one (valgrind trace)"
bad "--1-- calloc(1) = 0x5" "line 1: bad arguments in 'calloc(1)' (valgrind trace)"
bad "--1-- free(0x10) = 0x5" "line 1: 'free' returns nothing, but a result follows it (valgrind trace)"
bad "==1== only Valgrind's words" "line 1: no valgrind --trace-malloc=yes lines (\"--PID-- malloc(N) = PTR\") (valgrind trace)"
set +e
$run "$kmem" trace-convert --to valgrind "$tmp/hand.txt" - > /dev/null 2>&1; rc1=$?
$run "$kmem" trace-convert "$tmp/hand.txt" > /dev/null 2>&1; rc2=$?
$run "$kmem" replay --format nope "$tmp/hand.txt" > /dev/null 2>&1; rc3=$?
set -e
if [ "$rc1" -ne 2 ] || [ "$rc2" -ne 2 ] || [ "$rc3" -ne 2 ]; then
	fail "usage errors exited $rc1 $rc2 $rc3, expected 2"
fi

# ---- 4. real logs -------------------------------------------------------------------
vg=$(command -v valgrind || true)
cc=$(command -v cc || command -v gcc || true)
if [ -z "$vg" ] || [ -n "$run" ]; then
	echo "check_trace_import: SKIP real valgrind logs: no valgrind (or a cross build)"
	echo "kmem trace import: ok"
	exit 0
fi
if "$vg" -q --trace-malloc=yes --log-file="$tmp/ls.log" /bin/ls / > /dev/null 2>&1; then
	"$kmem" replay "$tmp/ls.log" > "$tmp/ls.txt" 2> "$tmp/ls.err" || fail "replay of ls's valgrind log exited $?: $(cat "$tmp/ls.err")"
	has "$tmp/ls.txt" "check: kmem_buddy_check ok, kmem_pa_check ok, 0 errors reported"
	grep -Eq '^records: [1-9][0-9]* \(malloc [1-9]' "$tmp/ls.txt" || fail "ls's log: no records"
	has "$tmp/ls.txt" "skipped: 0 free of an unknown id, 0 realloc of an unknown id, 0 failed in the trace, $(grep -c 'free(0x0)' "$tmp/ls.log") free of NULL"
	sed -n 's/^records: /check_trace_import: valgrind log of \/bin\/ls: /p' "$tmp/ls.txt"
else
	echo "check_trace_import: SKIP /bin/ls under valgrind failed"
fi
if [ -z "$cc" ] || [ -z "$preload" ] || [ ! -f "$preload" ]; then
	echo "check_trace_import: SKIP valgrind against KMEM_TRACE: no C compiler or no drop-in"
	echo "kmem trace import: ok"
	exit 0
fi
cat > "$tmp/p.c" <<'EOF'
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

int main(void)
{
	void *keep[32] = { 0 };
	unsigned s = 12345;

	for (int i = 0; i < 3000; i++) {
		unsigned k;

		s = s * 1103515245u + 12345u;
		k = (s >> 8) % 32;
		if (keep[k] && (s & 1)) {
			free(keep[k]);
			keep[k] = NULL;
		} else if (keep[k]) {
			void *q = realloc(keep[k], (s >> 4) % 9000 + 1);

			if (q)
				keep[k] = q;
		} else if (s & 2) {
			keep[k] = malloc((s >> 12) % 20000 + 1);
		} else if (s & 4) {
			keep[k] = calloc(1 + (s >> 20) % 4, (s >> 12) % 500 + 1);
		} else if (posix_memalign(&keep[k], (size_t)16 << ((s >> 9) % 6), (s >> 12) % 3000 + 1)) {
			keep[k] = NULL;
		}
		if (keep[k])
			memset(keep[k], 1, 1);
	}
	sink = realloc(NULL, 77);
	sink = realloc(sink, 0);
	for (int k = 0; k < 32; k++)
		free(keep[k]);
	return 0;
}
EOF
if ! "$cc" -O1 -o "$tmp/p" "$tmp/p.c" 2> "$tmp/cc.err"; then
	echo "check_trace_import: SKIP valgrind against KMEM_TRACE: $cc cannot build a test program"
	echo "kmem trace import: ok"
	exit 0
fi
# glibc's and libstdc++'s exit-time frees run only under valgrind: off
"$vg" -q --trace-malloc=yes --run-libc-freeres=no --run-cxx-freeres=no --log-file="$tmp/p.log" "$tmp/p" ||
	fail "the program under valgrind exited $?"
LD_PRELOAD="$preload" KMEM_TRACE="$tmp/p.bin" "$tmp/p" || fail "the program under the drop-in exited $?"
# the calls, op and size (and alignment / old-is-NULL), in order; without
# free(NULL), which valgrind logs and the drop-in does not trace
calls() {
	"$kmem" trace-convert "$1" - | awk '!/^#/ && !($1 == "f" && $2 == "0") { if ($1 == "r") print $1, ($2 == "0" ? "null" : "p"), $3; else if ($1 == "f") print $1, "p"; else if ($1 == "a") print $1, $2, $3; else print $1, $2 }'
}
calls "$tmp/p.log" > "$tmp/p.vg"
calls "$tmp/p.bin" > "$tmp/p.km"
[ "$(wc -l < "$tmp/p.vg")" -gt 3000 ] || fail "valgrind log of the program: only $(wc -l < "$tmp/p.vg") calls"
diff "$tmp/p.km" "$tmp/p.vg" > "$tmp/p.diff" || fail "valgrind and KMEM_TRACE differ: $(head -n 20 "$tmp/p.diff")"
"$kmem" replay "$tmp/p.log" > "$tmp/pv.txt" 2> /dev/null || fail "replay of the valgrind log exited $?"
"$kmem" replay "$tmp/p.bin" > "$tmp/pk.txt" 2> /dev/null || fail "replay of the KMEM_TRACE exited $?"
for key in records skipped replaced replayed "peak live" "live at the end"; do
	a=$(grep "^$key: " "$tmp/pv.txt" | sed -e 's/, free [0-9]*)$/)/' -e 's/^records: [0-9]*//' -e 's/, [0-9]* free of NULL$//')
	b=$(grep "^$key: " "$tmp/pk.txt" | sed -e 's/, free [0-9]*)$/)/' -e 's/^records: [0-9]*//' -e 's/, [0-9]* free of NULL$//')
	[ "$a" = "$b" ] || fail "valgrind log and KMEM_TRACE replay differently: '$a' / '$b'"
done
sed -n 's/^records: /check_trace_import: the same program under valgrind and KMEM_TRACE: /p' "$tmp/pv.txt"
echo "kmem trace import: ok"
