#!/bin/sh
# `kmem paging` (tools/paging*.c), the page-replacement simulator:
#  1. the textbook results (FIFO 9 and 10 faults on Belady's string with 3
#     and 4 frames, reported as Belady's anomaly; FIFO 15, OPT 9, LRU 12 on
#     the Silberschatz string), in CSV, text and JSON;
#  2. inputs: a file with comments and R/W suffixes (write-backs counted),
#     stdin, a handwritten lackey log (instruction, load, store, modify,
#     an access across a page boundary, Valgrind's own lines), seeded
#     generators (same seed, same output; another seed, another), the
#     working set W(t, delta) on a known string;
#  3. malformed input: exit 1 and one line naming the file, the line and
#     the problem; usage errors exit 2;
#  4. a real lackey trace of /bin/true when valgrind is installed.
# usage: check_paging.sh KMEM
set -eu
kmem="$1"
# cross builds: the target's binary runs through Meson's exe wrapper (qemu)
run=${MESON_EXE_WRAPPER:-}
. "$(dirname "$0")/lib.sh"

# bad STATUS MESSAGE ARGS...: kmem paging ARGS exits STATUS and says MESSAGE
bad() {
	want=$1
	msg=$2
	shift 2
	set +e
	$run "$kmem" paging "$@" > "$tmp/out" 2> "$tmp/err"
	st=$?
	set -e
	[ "$st" -eq "$want" ] || fail "kmem paging $* exited $st, not $want"
	grep -qF -- "$msg" "$tmp/err" || {
		cat "$tmp/err" >&2
		fail "kmem paging $*: no '$msg' on stderr"
	}
	[ ! -s "$tmp/out" ] || fail "kmem paging $*: printed a report"
}

# ---- 1. textbook -----------------------------------------------------------------
$run "$kmem" paging -p fifo,lru,opt -f 3-4 -o csv 1 2 3 4 1 2 5 1 2 3 4 5 > "$tmp/b.csv"
has "$tmp/b.csv" "policy,frames,faults,fault_rate,writebacks,eat_ns,anomaly"
has "$tmp/b.csv" "fifo,3,9,0.750000,0,6000025.0,0"
has "$tmp/b.csv" "fifo,4,10,0.833333,0,6666683.3,1"
has "$tmp/b.csv" "lru,4,8,0.666667,0,5333366.7,0"
has "$tmp/b.csv" "opt,3,7,0.583333,0,4666708.3,0"
$run "$kmem" paging -p fifo,lru -f 1-5 --refs 1,2,3,4,1,2,5,1,2,3,4,5 > "$tmp/b.txt"
has "$tmp/b.txt" "  fifo: 3 frames 9 faults, 4 frames 10 faults"
grep -q "lru: 3 frames" "$tmp/b.txt" && fail "an anomaly reported for LRU"
$run "$kmem" paging -p fifo,opt,lru -f 3 -o csv 7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1 > "$tmp/s.csv"
grep -q '^fifo,3,15,' "$tmp/s.csv" || fail "FIFO is not 15 on the Silberschatz string"
grep -q '^opt,3,9,' "$tmp/s.csv" || fail "OPT is not 9 on the Silberschatz string"
grep -q '^lru,3,12,' "$tmp/s.csv" || fail "LRU is not 12 on the Silberschatz string"
$run "$kmem" paging -p fifo -f 3-4 -o json 1 2 3 4 1 2 5 1 2 3 4 5 > "$tmp/b.json"
grep -qF '"anomalies":[{"policy":"fifo","frames":4,"faults":10,"previous_frames":3,"previous_faults":9}]' "$tmp/b.json" ||
	fail "no anomaly in the JSON"
if command -v python3 > /dev/null; then
	python3 -m json.tool "$tmp/b.json" > /dev/null || fail "the JSON does not parse"
fi
# every policy runs (and passes its checker) over every frame count
$run "$kmem" paging -f 1-12 -o csv -g phases -n 20000 --pages 200 --write-pct 30 > "$tmp/all.csv"
[ "$(grep -c , "$tmp/all.csv")" -eq $((8 * 12 + 1)) ] || fail "not 8 policies x 12 frame counts"

# ---- 2. inputs ------------------------------------------------------------------------
cat > "$tmp/refs.txt" << 'END'
# a write, then two reads: with one frame page 1 is evicted dirty
1w 2r
3   # trailing comment
0x10,16
END
$run "$kmem" paging -p fifo -f 1 -o csv -i "$tmp/refs.txt" > "$tmp/f.csv"
has "$tmp/f.csv" "fifo,1,4,0.800000,1,6400020.0,0"
$run "$kmem" paging -p fifo -f 1 -o csv -i - < "$tmp/refs.txt" > "$tmp/f2.csv"
cmp "$tmp/f.csv" "$tmp/f2.csv" || fail "stdin and the file differ"

cat > "$tmp/lackey.log" << 'END'
==42== Lackey, an example Valgrind tool
==42== Command: ./a.out
==42== 
I  00400000,4
 L 00001000,8
 S 00002ffe,4
 M 00003000,8
I  00400004,4
==42== 
END
$run "$kmem" paging --lackey "$tmp/lackey.log" -p lru -f 8 > "$tmp/l.txt"
# I(page 0x400), L(1), S across 2/3 (two writes), M(3, a write), I(0x400): 6 references to 4 pages
grep -q '^kmem paging: 6 references (3 writes) to 4 pages from ' "$tmp/l.txt" || {
	cat "$tmp/l.txt" >&2
	fail "lackey references"
}
# with 64 KiB pages and no instructions: L, S, M all in page 0: 3 references
$run "$kmem" paging --lackey "$tmp/lackey.log" --no-instr --page-size 64K -p lru -f 8 > "$tmp/l2.txt"
grep -q '^kmem paging: 3 references (2 writes) to 1 pages from ' "$tmp/l2.txt" || fail "lackey --no-instr --page-size"

$run "$kmem" paging -g zipf -n 5000 --pages 300 -s 7 -f 10-50:20 > "$tmp/g1"
$run "$kmem" paging -g zipf -n 5000 --pages 300 -s 7 -f 10-50:20 > "$tmp/g2"
$run "$kmem" paging -g zipf -n 5000 --pages 300 -s 8 -f 10-50:20 > "$tmp/g3"
cmp "$tmp/g1" "$tmp/g2" || fail "same seed, different output"
cmp -s "$tmp/g1" "$tmp/g3" && fail "different seeds, same output"
for kind in uniform loop phases; do
	$run "$kmem" paging -g $kind -n 3000 --pages 100 -f 10-90:40 -o json > "$tmp/$kind.json"
	grep -q '"references":3000' "$tmp/$kind.json" || fail "generator $kind"
done
# a loop of 100 pages with 90 frames: LRU faults on every reference
$run "$kmem" paging -g loop -n 1000 --pages 100 -p lru -f 90 -o csv > "$tmp/loop.csv"
has "$tmp/loop.csv" "lru,90,1000,1.000000,0,8000000.0,0"
# W(t, 3) of 1 2 1 3 4 4: 1 2 2 3 3 2
$run "$kmem" paging -w 3 --samples 6 -p lru -f 1 1 2 1 3 4 4 > "$tmp/ws.txt"
has "$tmp/ws.txt" "  W(0)=1 W(1)=2 W(2)=2 W(3)=3 W(4)=3 W(5)=2"
grep -q '^working set W(t, 3): mean 2.2 pages, max 3 ' "$tmp/ws.txt" || fail "working-set mean"

# ---- 3. malformed input and usage ----------------------------------------------------------
printf '1 2\n3 4\n5 12x 6\n' > "$tmp/bad.txt"
bad 1 "kmem: $tmp/bad.txt: line 3: '12x' is not a page number (digits, an optional R or W)" -i "$tmp/bad.txt"
bad 1 "kmem: --refs: line 1: 'abc' is not a page number" --refs 1,abc
bad 1 "kmem: command line: line 1: '-' is not a page number" -- 1 -
bad 1 "kmem: $tmp/none.txt: cannot open" -i "$tmp/none.txt"
printf '# nothing\n' > "$tmp/empty.txt"
bad 1 "kmem: $tmp/empty.txt: no references" -i "$tmp/empty.txt"
printf '1 2\0 3\n' > "$tmp/bin.txt"
bad 1 "binary data" -i "$tmp/bin.txt"
printf '==1== hello\nI  00400000,4\nX 1234,4\n' > "$tmp/badl.log"
bad 1 "kmem: $tmp/badl.log: line 3: not a lackey record" -l "$tmp/badl.log"
printf ' L zz,4\n' > "$tmp/badl2.log"
bad 1 "kmem: $tmp/badl2.log: line 1: bad address in a lackey record" -l "$tmp/badl2.log"
printf ' L 1000,0\n' > "$tmp/badl3.log"
bad 1 "line 1: bad size in a lackey record" -l "$tmp/badl3.log"
bad 2 "unknown policy 'nope'" -p lru,nope 1 2 3
bad 2 "--frames 5-3" -f 5-3 1 2 3
bad 2 "--frames 0" -f 0 1 2 3
bad 2 "give one reference string" --refs 1,2 -g uniform
bad 2 "give one reference string"
bad 2 "unknown format 'xml'" -o xml 1 2
bad 2 "not a whole number" -n 12q -g uniform
bad 2 "--page-size 3000: not a power of two" --page-size 3000 -l "$tmp/lackey.log"
bad 1 "unknown generator 'gauss'" -g gauss
$run "$kmem" paging --help | grep -q '^usage: kmem paging' || fail "--help"
$run "$kmem" --help | grep -q 'kmem paging \[options\]' || fail "kmem --help lists paging"

# ---- 4. a real lackey trace ------------------------------------------------------------------
if command -v valgrind > /dev/null && [ -x /bin/true ]; then
	if valgrind --tool=lackey --trace-mem=yes --log-file="$tmp/true.log" /bin/true 2> /dev/null; then
		$run "$kmem" paging -l "$tmp/true.log" -f 8-64:8 -p lru,clock,arc -o json > "$tmp/true.json"
		grep -q '"references":[1-9][0-9]*' "$tmp/true.json" || fail "lackey trace of /bin/true"
	else
		echo "check_paging: valgrind could not run /bin/true: part 4 skipped"
	fi
fi
echo "check_paging: ok"
