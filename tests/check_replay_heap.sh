#!/bin/sh
# `kmem replay`'s heap configurations, knobs and speed pass (tools/replay*.c):
#  1. --heap dropin builds the drop-in's heap (kmem_stack_config_malloc): the
#     fine classes (a 40-byte block is 48 usable, 64 under the default kmalloc
#     heap's Linux classes), slabs to 1/32, max order 13, the release step
#     (the arena starts in the released pool: the buddy counts it used, and
#     held does not), in text and JSON; --release no turns the step off;
#  2. --classes linux|quarter|fine|FILE, --waste-div, --no-pcp, --mag-size,
#     --depot-limit, and the slab policies --partial, --empty-keep,
#     --no-colour: the report names
#     what was built and the sizes follow the table; bad values exit 2;
#     the release step's clock (--op-ns, --decay-ms): released frames follow
#     the trace's records, the same on every run (KMEM_TEST_RELEASE=0: a
#     build whose OS backend cannot give memory back releases none);
#  3. the speed pass: the ops decoded equal the calls replayed (a clean
#     trace), the null allocator's walk makes as many calls, heap - harness
#     = net, --speed-reps 0 drops it, --malloc has it too;
#  4. --min-heap under --heap dropin.
# usage: check_replay_heap.sh KMEM
set -eu
kmem="$1"
run=${MESON_EXE_WRAPPER:-}
. "$(dirname "$0")/lib.sh"
rejects() { # options: replay must refuse them with status 2
	# shellcheck disable=SC2086
	if $run "$kmem" replay $1 "$tmp/t.txt" > /dev/null 2>&1; then
		fail "replay $1 was accepted"
	else
		rc=$?
		[ $rc -eq 2 ] || fail "replay $1 exited $rc, not 2"
	fi
}
json() { # file key: the value of a top-level key (python3)
	python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(json.dumps(v))' "$1" "$2"
}

# a 40-byte and a 20-byte block live at the end, a 100000-byte one freed
printf 'm 40 0x1000\nm 20 0x2000\nm 100000 0x3000\nf 0x3000\nf 0x2000\n' > "$tmp/t.txt"

# A 32 MiB arena where the default's 1 GiB is not what is tested: under
# ASan the heap poisons and unpoisons its whole arena (a second heap for the
# speed pass), 1.3 s of CPU a replay at 1 GiB.
small="--arena 32M"

# 1. the two heaps
$run "$kmem" replay "$tmp/t.txt" > "$tmp/k.txt" || fail "replay (kmalloc heap) exited $?"
has "$tmp/k.txt" "heap: kmem kmalloc, 1024 MiB arena, 4096 B frames, max order 18 (buddy -> pagealloc -> slab/kmalloc)"
has "$tmp/k.txt" "config: classes linux, waste 1/8, pcp batch 15 high 90, release off (high watermark 2048 frames)"
has "$tmp/k.txt" "internal fragmentation at the end: 60.00% (64 bytes usable for 40 requested)"
$run "$kmem" replay --heap dropin "$tmp/t.txt" > "$tmp/d.txt" || fail "replay --heap dropin exited $?"
has "$tmp/d.txt" "heap: kmem dropin, 1024 MiB arena, 4096 B frames, max order 13 (buddy -> pagealloc -> slab/kmalloc)"
has "$tmp/d.txt" "config: classes fine, waste 1/32, pcp batch 15 high 90, release on (high watermark 2048 frames)"
has "$tmp/d.txt" "internal fragmentation at the end: 20.00% (48 bytes usable for 40 requested)"
has "$tmp/d.txt" "check: kmem_buddy_check ok, kmem_pa_check ok, 0 errors reported"
has "$tmp/d.txt" "teardown: 262144 of 262144 frames free"
# the released pool is taken from the buddy: most frames "used" there ...
used=$(sed -n 's/^frames at the end: \([0-9]*\) used.*/\1/p' "$tmp/d.txt")
[ "$used" -gt 200000 ] || fail "--heap dropin: the arena did not start in the released pool ($used used)"
# ... but not held: a few frames of slabs and caches at the peak
held=$(sed -n 's/^held: peak \([0-9]*\) bytes.*/\1/p' "$tmp/d.txt")
[ "$held" -gt 0 ] && [ "$held" -lt $((2 << 20)) ] || fail "--heap dropin: held $held counts the released pool"
$run "$kmem" replay $small --heap dropin --release no "$tmp/t.txt" > "$tmp/dn.txt" || fail "--release no exited $?"
has "$tmp/dn.txt" "config: classes fine, waste 1/32, pcp batch 15 high 90, release off (high watermark 2048 frames)"
used=$(sed -n 's/^frames at the end: \([0-9]*\) used.*/\1/p' "$tmp/dn.txt")
[ "$used" -lt 1000 ] || fail "--release no: $used frames used at the end"
$run "$kmem" replay $small --release yes "$tmp/t.txt" | grep -q 'release on' || fail "--release yes on the kmalloc heap"
# a smaller arena caps the high watermark; --arena is --heap SIZE
$run "$kmem" replay --heap dropin --arena 4M "$tmp/t.txt" > "$tmp/d4.txt" || fail "--arena 4M exited $?"
has "$tmp/d4.txt" "config: classes fine, waste 1/32, pcp batch 15 high 90, release on (high watermark 1024 frames)"
$run "$kmem" replay --heap dropin --json "$tmp/t.txt" > "$tmp/d.json" || fail "--json exited $?"
for kv in '"heap_config":"dropin"' '"classes":"fine"' '"waste_div":32' '"pcp":true' \
	'"release":true' '"wmark_high":2048' '"max_order":13' '"ok":true'; do
	grep -qF -- "$kv" "$tmp/d.json" || fail "no $kv in the JSON: $(cat "$tmp/d.json")"
done

# 2. the knobs
printf '# three classes\n16, 48\n8192\n' > "$tmp/cl.txt"
$run "$kmem" replay $small --classes "$tmp/cl.txt" --no-pcp --waste-div 16 "$tmp/t.txt" > "$tmp/c.txt" ||
	fail "--classes FILE exited $?"
has "$tmp/c.txt" "config: classes table $tmp/cl.txt (3 sizes), waste 1/16, pcp off, release off (high watermark 2048 frames)"
has "$tmp/c.txt" "internal fragmentation at the end: 20.00% (48 bytes usable for 40 requested)"
$run "$kmem" replay $small --heap dropin --classes linux "$tmp/t.txt" > "$tmp/cd.txt" || fail "--classes linux exited $?"
has "$tmp/cd.txt" "internal fragmentation at the end: 60.00% (64 bytes usable for 40 requested)"
$run "$kmem" replay $small --classes quarter "$tmp/t.txt" | grep -q '^config: classes quarter,' || fail "--classes quarter"
$run "$kmem" replay $small --classes fine "$tmp/t.txt" | grep -q '^config: classes fine,' || fail "--classes fine"
printf '16 24 20\n' > "$tmp/bad.txt" # not increasing: kmem_slab_init refuses it
$run "$kmem" replay --classes "$tmp/bad.txt" "$tmp/t.txt" > /dev/null 2> "$tmp/bad.err" &&
	fail "a decreasing class table was accepted"
grep -q 'heap setup failed' "$tmp/bad.err" || fail "bad table: $(cat "$tmp/bad.err")"
# the magazine policy (decision 30): the heap's, fixed, self-tuning
has "$tmp/d.txt" "magazines: size default (by object size), depot limit 32"
has "$tmp/k.txt" "magazines: size default (by object size), depot limit default (16)"
$run "$kmem" replay --mag-size 4 --depot-limit 2 "$tmp/t.txt" > "$tmp/m4.txt" || fail "--mag-size 4 exited $?"
has "$tmp/m4.txt" "magazines: size 4, depot limit 2"
$run "$kmem" replay --heap dropin --mag-size auto --depot-limit auto --json "$tmp/t.txt" > "$tmp/ma.json" ||
	fail "--mag-size auto exited $?"
for kv in '"mag_size":-1' '"depot_limit":-1' '"ok":true'; do
	grep -qF -- "$kv" "$tmp/ma.json" || fail "no $kv in the JSON: $(cat "$tmp/ma.json")"
done
for bad in "--heap bogus" "--waste-div 65" "--release maybe" "--classes $tmp/none" \
	"--speed-reps 65" "--malloc --heap dropin" "--malloc --classes linux" \
	"--mag-size 1022" "--mag-size x" "--depot-limit -1" "--malloc --mag-size 4"; do
	rejects "$bad"
done

# the slab policies (issue 16): the defaults named, each flag reaches the heap
has "$tmp/k.txt" "slab: partial fullest, empty slabs kept 4, colour on"
$run "$kmem" replay --partial mru --empty-keep 0 --no-colour "$tmp/t.txt" > "$tmp/sp.txt" ||
	fail "--partial mru exited $?"
has "$tmp/sp.txt" "slab: partial mru, empty slabs kept 0, colour off"
$run "$kmem" replay --partial least --empty-keep 64 --json "$tmp/t.txt" > "$tmp/sp.json" ||
	fail "--partial least exited $?"
for kv in '"partial":"least"' '"empty_keep":64' '"colour":true' '"ok":true'; do
	grep -qF -- "$kv" "$tmp/sp.json" || fail "no $kv in the JSON: $(cat "$tmp/sp.json")"
done
for bad in "--partial newest" "--empty-keep 65536" "--malloc --partial mru" "--malloc --no-colour"; do
	rejects "$bad"
done

# the release step's clock (--op-ns, --decay-ms): 40 MiB freed, then 3,000
# cycles of a 300 KB block (frees that reach the release step). At 1 ns a
# record the whole trace is 6 us, far inside a second's decay: nothing is
# released; at 1 ms a record it is 6 s, and the release brings the free
# memory down to the high watermark (2,048 frames: 8 MiB of the 40 MiB); the
# same on every run (the clock is the trace's, not the machine's).
{
	i=0
	while [ $i -lt 40 ]; do echo "m 1048576 $((0x100000 + i * 16))"; i=$((i + 1)); done
	i=0
	while [ $i -lt 40 ]; do echo "f $((0x100000 + i * 16))"; i=$((i + 1)); done
	i=0
	while [ $i -lt 3000 ]; do printf 'm 300000 0x10\nf 0x10\n'; i=$((i + 1)); done
} > "$tmp/dec.txt"
released() { sed -n 's/^release: \([0-9]*\) frames released in \([0-9]*\) passes.*/\1 \2/p' "$1"; }
has "$tmp/d.txt" "decay: 10000 ms, on the replay's clock: 1000 ns a record"
$run "$kmem" replay --heap dropin --arena 64M --decay-ms 1000 --op-ns 1 "$tmp/dec.txt" > "$tmp/c1.txt" ||
	fail "--op-ns 1 exited $?"
has "$tmp/c1.txt" "decay: 1000 ms, on the replay's clock: 1 ns a record"
[ "$(released "$tmp/c1.txt")" = "0 0" ] || fail "--op-ns 1 released: $(grep '^release' "$tmp/c1.txt")"
for k in 1 2; do
	$run "$kmem" replay --heap dropin --arena 64M --decay-ms 1000 --op-ns 1000000 "$tmp/dec.txt" \
		> "$tmp/c$k.txt" || fail "--op-ns 1000000 exited $?"
	has "$tmp/c$k.txt" "check: kmem_buddy_check ok, kmem_pa_check ok, 0 errors reported"
done
set -- $(released "$tmp/c1.txt")
if [ "${KMEM_TEST_RELEASE:-1}" = 1 ]; then
	[ "$1" -ge $((8000 - 2048 - 256)) ] && [ "$1" -le 8000 ] && [ "$2" -gt 0 ] ||
		fail "--op-ns 1000000: $(grep '^release' "$tmp/c1.txt")"
else	# the firmware OS backend cannot give memory back: nothing is released
	[ "$1 $2" = "0 0" ] || fail "--op-ns 1000000 released without an OS backend: $(grep '^release' "$tmp/c1.txt")"
fi
[ "$(grep '^release' "$tmp/c1.txt")" = "$(grep '^release' "$tmp/c2.txt")" ] ||
	fail "the release differs between two runs on the replay's clock"
# decay 0 releases at once whatever the clock; never keeps everything
$run "$kmem" replay --heap dropin --arena 64M --decay-ms 0 --op-ns 1 "$tmp/dec.txt" > "$tmp/c0.txt" ||
	fail "--decay-ms 0 exited $?"
set -- $(released "$tmp/c0.txt")
if [ "${KMEM_TEST_RELEASE:-1}" = 1 ]; then
	[ "$1" -gt 4000 ] || fail "--decay-ms 0: $(grep '^release' "$tmp/c0.txt")"
else
	[ "$1" -eq 0 ] || fail "--decay-ms 0 released without an OS backend: $(grep '^release' "$tmp/c0.txt")"
fi
$run "$kmem" replay --heap dropin --arena 64M --decay-ms -1 --op-ns 1000000 "$tmp/dec.txt" > "$tmp/cn.txt" ||
	fail "--decay-ms -1 exited $?"
has "$tmp/cn.txt" "decay: never (free memory kept until a trim), on the replay's clock: 1000000 ns a record"
[ "$(released "$tmp/cn.txt")" = "0 0" ] || fail "--decay-ms -1 released: $(grep '^release' "$tmp/cn.txt")"
$run "$kmem" replay --heap dropin --arena 64M --op-ns 0 --json "$tmp/dec.txt" > "$tmp/cw.json" ||
	fail "--op-ns 0 exited $?"
for kv in '"decay_ms":10000' '"op_ns":0' '"released_frames":' '"ok":true'; do
	grep -qF -- "$kv" "$tmp/cw.json" || fail "no $kv in the JSON: $(cat "$tmp/cw.json")"
done
grep -q '^decay' "$tmp/k.txt" && fail "a decay line without the release step"
for bad in "--op-ns x" "--op-ns 1000000001" "--decay-ms -2" "--decay-ms 86400001" \
	"--malloc --op-ns 5" "--malloc --decay-ms 5"; do
	rejects "$bad"
done

# 3. the speed pass, on a trace with every call kind and no inconsistency
{
	echo "m 100 0x10"
	echo "c 4000 0x20"
	echo "a 64 200 0x30"
	echo "r 0x10 300 0x40"
	echo "r 0 50 0x50"
	i=0
	while [ $i -lt 200 ]; do
		echo "m $((i * 37 % 5000 + 1)) $((0x1000 + i))"
		i=$((i + 1))
	done
	i=0
	while [ $i -lt 200 ]; do
		echo "f $((0x1000 + i))"
		i=$((i + 2))
	done
	echo "f 0x20"
} > "$tmp/s.txt"
for heap in "--heap kmalloc $small" "--heap dropin $small" "--malloc"; do
	# shellcheck disable=SC2086
	$run "$kmem" replay $heap --no-verify --speed-reps 3 --json "$tmp/s.txt" > "$tmp/s.json" ||
		fail "replay $heap --speed-reps 3 exited $?"
	replayed=$(json "$tmp/s.json" replayed)
	[ "$replayed" -eq 306 ] || fail "$heap: $replayed calls replayed, not 306"
	for k in speed_ops speed_calls speed_null_calls; do
		[ "$(json "$tmp/s.json" $k)" = "$replayed" ] || fail "$heap: $k is not the $replayed calls"
	done
	[ "$(json "$tmp/s.json" speed_reps)" = 3 ] || fail "$heap: speed_reps"
	python3 - "$tmp/s.json" <<'PY' || fail "$heap: the speed figures do not add up: $(cat "$tmp/s.json")"
import json, sys
d = json.load(open(sys.argv[1]))
ops = d["speed_ops"]
heap, null, net = d["heap_ns_per_op"], d["harness_ns_per_op"], d["net_ns_per_op"]
assert d["speed_heap_ns"] > 0 and d["speed_harness_ns"] > 0
assert abs(heap - d["speed_heap_ns"] / ops) < 0.01, "heap"
assert abs(null - d["speed_harness_ns"] / ops) < 0.01, "harness"
assert abs(net - (heap - null)) < 0.02, "net"
assert d["speed_slots"] == 204, d["speed_slots"]  # the peak of live blocks
PY
done
$run "$kmem" replay $small --no-verify "$tmp/s.txt" > "$tmp/s.txt.out" || fail "replay exited $?"
grep -Eq '^speed: 306 ops decoded before the clock, median of 1 runs: heap [0-9.]+ ns/op, harness \(null allocator\) [0-9.]+ ns/op, net -?[0-9.]+ ns/op$' "$tmp/s.txt.out" ||
	fail "no speed line: $(cat "$tmp/s.txt.out")"
$run "$kmem" replay $small --speed-reps 0 --json "$tmp/s.txt" > "$tmp/s0.json" || fail "--speed-reps 0 exited $?"
grep -q '"speed_' "$tmp/s0.json" && fail "--speed-reps 0 still ran the speed pass"
# the hand trace's inconsistencies: a replaced id is one more free
printf 'm 10 0x10\nm 20 0x10\nf 0x99\nf 0x10\n' > "$tmp/r.txt"
$run "$kmem" replay $small --json "$tmp/r.txt" > "$tmp/r.json" || fail "replay of r.txt exited $?"
[ "$(json "$tmp/r.json" replaced)" = 1 ] && [ "$(json "$tmp/r.json" replayed)" = 3 ] &&
	[ "$(json "$tmp/r.json" speed_ops)" = 4 ] || fail "replaced: $(cat "$tmp/r.json")"

# 4. the smallest arena of the drop-in's heap
$run "$kmem" replay --min-heap --heap dropin --arena 8M "$tmp/s.txt" > "$tmp/m.txt" || fail "--min-heap exited $?"
has "$tmp/m.txt" "min heap: heap dropin, policy lifo"
grep -q '^min heap: [0-9]* frames = .* max order 11,' "$tmp/m.txt" || fail "--min-heap: $(cat "$tmp/m.txt")"
echo "check_replay_heap: ok"
