#!/bin/sh
# The main job: `kmem` runs a seeded workload and prints buddyinfo, the
# fragmentation indexes (at the peak of the last round, where extfrag rises
# above 0, and after it) and a summary, then the slab and pagealloc phases.
# Same seed, same output; another seed,
# another output; everything coalesces after the drain; bad options exit 2;
# --report writes the fragmentation lab's HTML report of the demo's calls.
set -eu
kmem="$1"
# cross builds: the target's binary runs through Meson's exe wrapper (qemu)
run=${MESON_EXE_WRAPPER:-}
. "$(dirname "$0")/lib.sh"

$run "$kmem" > "$tmp/a"
$run "$kmem" demo --seed 1 > "$tmp/b"
cmp "$tmp/a" "$tmp/b"
$run "$kmem" --seed 2 > "$tmp/c"
if cmp -s "$tmp/a" "$tmp/c"; then echo "different seeds gave the same output" >&2; exit 1; fi

grep -q '^kmem demo: buddy allocator, 64.0 MiB arena, 4096 B frames, max order 10, seed 1$' "$tmp/a"
grep -Eq '^Node 0, zone +demo( +[0-9]+){11} $' "$tmp/a"
grep -q '^  check: ok$' "$tmp/a"
# the indexes at the peak of the last round (filled until an allocation
# failed): the high orders ran out, so extfrag is above 0 there (it read
# -1.000 at every order when only the state after a free phase was shown)
n=$(awk '/^fragmentation at the peak/ { on = 1; next } on && /^$/ { on = 0 }
	on && $1 ~ /^[0-9]+$/ && $4 + 0 > 0 && $4 + 0 <= 1 { n++ } END { print n + 0 }' "$tmp/a")
[ "$n" -ge 1 ] || { echo "no extfrag index above 0 at the peak" >&2; exit 1; }
grep -q '^fragmentation after the last free phase:$' "$tmp/a"
grep -q '^  managed       16384 frames' "$tmp/a"
# the slab phase: slabinfo 2.1 with the demo's caches and kmalloc classes
grep -q '^slabinfo - version: 2.1$' "$tmp/a"
grep -Eq '^inode_cache +[0-9]+ +[0-9]+ +592 ' "$tmp/a" # sizeof(struct inode)
grep -Eq '^dentry +[0-9]+ +[0-9]+ +192 ' "$tmp/a"
grep -Eq '^kmalloc-64 ' "$tmp/a"
grep -Eq '^slab: [0-9]+ object allocations' "$tmp/a"
# the pagealloc phase: a frame service over its own buddy, a slab on top,
# the reaper driven by hand (zeroing, then one reclaim cycle via the shrinker)
grep -Eq '^pagealloc: frame service over a 16 MiB buddy, 4096 B frames, policy init_on_alloc;$' "$tmp/a"
grep -Eq '^zero-fill: [1-9][0-9]* blocks checked, 0 with old data$' "$tmp/a"
grep -Eq '^  then 64 order-0 allocations: 64 zeroed-pool hits, 0 frames zeroed inline$' "$tmp/a"
grep -Eq '^  reaper_run\([0-9]+\): reclaim' "$tmp/a"
grep -q '^Node 0, zone pagealloc$' "$tmp/a"
grep -Eq '^        managed  4096$' "$tmp/a"
grep -Eq '^  pgzero_background [1-9][0-9]*$' "$tmp/a"
grep -q '^  reaper_wake 1$' "$tmp/a"
grep -q '^  reaper_cycles 1$' "$tmp/a"
grep -Eq '^  shrinker_slab_reclaimed [1-9][0-9]*$' "$tmp/a"
grep -q '^  direct_reclaim 0$' "$tmp/a"
grep -q '^pagealloc check: ok$' "$tmp/a"
grep -q '^pagealloc teardown: slab and service destroyed, 4096 of 4096 frames free$' "$tmp/a"
# after the drain: 16 whole order-10 blocks and nothing else
tail -n 1 "$tmp/a" | grep -Eq '^Node 0, zone +demo( +0){10} +16 $'

$run "$kmem" --json --arena 8M --frame 1024 --max-order 6 > "$tmp/j"
grep -q '^{"name":"demo","frame_size":1024,"max_order":6,' "$tmp/j"
if command -v python3 >/dev/null; then python3 -m json.tool "$tmp/j" > /dev/null; fi

# --report FILE: the demo's calls as a trace, scripts/lab-report.sh's HTML
# report of it. The demo's output is unchanged but for the script's line; the
# report counts the calls the demo printed: every free (buddy phase, the
# blocks its drain frees, slab phase, the objects live at its end), and
# every allocation plus the failed ones (the buddy phase prints its own;
# the slab phase ends a round at a failed one: at most one a round).
if command -v gnuplot > /dev/null && command -v python3 > /dev/null && [ -z "$run" ]; then
	mkdir "$tmp/td"
	TMPDIR="$tmp/td" KMEM_LAB_REPORT="$(dirname "$0")/../scripts/lab-report.sh" "$kmem" --report "$tmp/r.html" > "$tmp/d" ||
		{ echo "kmem --report exited $?" >&2; exit 1; }
	[ "$(tail -n 1 "$tmp/d")" = "lab-report: $tmp/r.html" ] || { echo "--report: last line $(tail -n 1 "$tmp/d")" >&2; exit 1; }
	head -n -1 "$tmp/d" | cmp - "$tmp/a" || { echo "--report changed the demo's output" >&2; exit 1; }
	python3 - "$tmp/a" "$tmp/r.html" <<'PY' || { echo "the demo's report" >&2; exit 1; }
import base64, html, re, sys
out, rep = open(sys.argv[1]).read(), open(sys.argv[2]).read()
b_alloc, b_free, b_fail = map(int, re.search(r"; (\d+) allocations, (\d+) frees, (\d+) failed", out).groups())
b_live = int(re.search(r"^  used .* in (\d+) blocks$", out, re.M).group(1))
s_alloc, s_free, s_live = map(int, re.search(r"^slab: (\d+) object allocations, (\d+) frees, (\d+) live", out, re.M).groups())
rows = dict((html.unescape(k), html.unescape(v)) for k, v in re.findall(r"<tr><th>(.*?)</th><td>(.*?)</td></tr>", rep))
n, m, f = map(int, re.match(r"(\d+) \(malloc (\d+), calloc 0, realloc 0, memalign 0, free (\d+)\)$", rows["records"]).groups())
assert f == b_free + b_live + s_free + s_live, (f, b_free, b_live, s_free, s_live)
assert 0 <= m - (b_alloc + b_fail + s_alloc) <= 8, (m, b_alloc, b_fail, s_alloc)
assert n == m + f
replayed, rfail = map(int, re.match(r"(\d+) calls, (\d+) failed in the replay$", rows["replayed"]).groups())
assert replayed == n - (m - b_alloc - s_alloc), (replayed, n)  # the failed calls are skipped
# replayed in the demo's own arena (lab-report.sh -a): the demo filled it,
# so the replay runs out too, and must stay consistent doing so
assert b_fail > 0 and rfail > 0, (b_fail, rfail)
assert rows["heap"].startswith("kmem kmalloc, 64 MiB arena"), rows["heap"]
assert re.match(r"kmem_buddy_check ok, kmem_pa_check ok, 0 errors reported$", rows["check"]), rows["check"]
t_free, t_all = map(int, re.match(r"(\d+) of (\d+) frames free$", rows["teardown"]).groups())
assert t_free == t_all, rows["teardown"]
assert "<title>kmem fragmentation report: kmem demo, seed 1</title>" in rep
imgs = re.findall(r'src="data:image/png;base64,([^"]*)"', rep)
assert len(imgs) == 6 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in imgs), len(imgs)
PY
	# no trace left behind, and a script that is not there: exit 1, said so
	set +e
	TMPDIR="$tmp/td" KMEM_LAB_REPORT="$tmp/nope.sh" "$kmem" --rounds 1 --report "$tmp/r2.html" > /dev/null 2> "$tmp/e"
	rc=$?
	set -e
	[ "$rc" -eq 1 ] && grep -q "nope.sh: --report needs scripts/lab-report.sh" "$tmp/e" ||
		{ echo "--report without the script: $rc $(cat "$tmp/e")" >&2; exit 1; }
	[ ! -e "$tmp/r2.html" ] || { echo "--report wrote a report without the script" >&2; exit 1; }
	[ -z "$(ls -A "$tmp/td")" ] || { echo "--report left its trace behind: $(ls "$tmp/td")" >&2; exit 1; }
else
	echo "check_demo: SKIP --report: needs gnuplot and python3 (not in cross builds)"
fi

set +e
$run "$kmem" --frame 1000 > /dev/null 2>&1; rc1=$?
$run "$kmem" --bogus > /dev/null 2>&1; rc2=$?
set -e
[ "$rc1" -eq 2 ] && [ "$rc2" -eq 2 ]
echo "kmem demo: ok"
