#!/bin/sh
# scripts/compare.py: variants x traces, interleaved repetitions, medians,
# ratios to the baseline, Mann-Whitney U, JSON and CSV:
#  1. the U test against values worked out by hand (complete separation of
#     3 and 3: U = 0, z = (4.5 - 0.5) / sqrt(5.25), p = 0.0809; all ties:
#     p = 1; the tie correction on a mixed sample);
#  2. a run of two kmem variants on a small trace, 3 repetitions: every
#     sample there (variants x traces x reps), the baseline's ratio 1, the
#     other's p in [0, 1], medians between min and max, the CSV's rows the
#     JSON's summary, and held (deterministic) the same in every repetition;
#  3. bad arguments exit non-zero with a message.
# With --workloads (registered by bench/malloc/meson.build, where the
# benchmark binaries and the workload programs are built), instead:
#  4. a Google Benchmark binary as a workload: one row per benchmark it
#     reports, a sample per benchmark, variant and repetition, times and RSS
#     positive, a kmem: variant left out (it runs traces only) and the
#     baseline falling back to the first variant that runs it;
#  5. a drop-in workload program (wl:, prog:) under glibc and the drop-in:
#     samples and CSV rows, the peak RSS of the program itself (under 8 MiB
#     for a small churn: measured through runmeasure, not counting this
#     Python's own RSS), and a program measured under callgrind when
#     valgrind is there (instr positive, the same in every repetition);
#  6. a program that fails, prints different checksums under two variants,
#     or that no variant runs stops the run with a message.
# usage: check_compare.sh KMEM COMPARE_PY
#        check_compare.sh KMEM COMPARE_PY --workloads GBENCH RUNMEASURE WL_CHURN [DROPIN]
set -eu
kmem="$1"
compare="$2"
. "$(dirname "$0")/lib.sh"
command -v python3 > /dev/null || { echo "check_compare: no python3, skipped"; exit 77; }

if [ "${3:-}" = --workloads ]; then
	gbench="$4"
	export RUNMEASURE="$5"
	wl="$6"
	dropin="${7:-}"
	KMEM_BUILD=$(cd "$(dirname "$wl")/../.." && pwd)
	export KMEM_BUILD KMEM="$kmem"
	# 4. a benchmark binary: glibc and a kmem: variant (which does not run it)
	python3 "$compare" -r 2 -v heap=kmem: -v glibc=malloc --gbench-args=--benchmark_min_time=0.001 \
		--json "$tmp/g.json" "gbench:$gbench:slab_cache_pair|glibc_malloc_pair" > "$tmp/g.txt" ||
		fail "compare.py on a benchmark binary exited $?: $(cat "$tmp/g.txt")"
	grep -q '^benchmark: .*baseline glibc' "$tmp/g.txt" || fail "no benchmark table: $(cat "$tmp/g.txt")"
	grep -q '^variant  *time  *ratio  *p  *cpu  *ratio  *p  *rss  *ratio  *p$' "$tmp/g.txt" ||
		fail "no benchmark header: $(cat "$tmp/g.txt")"
	! grep -q '^heap ' "$tmp/g.txt" || fail "a kmem: variant ran a benchmark binary"
	python3 - "$tmp/g.json" <<'PY' || fail "the benchmarks' JSON: $(cat "$tmp/g.json")"
import json, sys
d = json.load(open(sys.argv[1]))
rows = d["workloads"][0]["rows"]
assert d["workloads"][0]["kind"] == "gbench" and len(rows) == 2, d["workloads"]
assert all(r.startswith("bench-slab/") or "/" in r for r in rows), rows
assert len(d["samples"]) == 2 * len(rows), len(d["samples"])  # glibc only, 2 repetitions
for s in d["samples"]:
    assert s["variant"] == "glibc" and s["kind"] == "gbench", s
    assert s["time"] > 0 and s["cpu"] > 0 and s["rss"] > 0, s
for r in d["summary"]:
    assert r["baseline"] == "glibc" and r["variant"] == "glibc" and r["ratio"] == 1.0, r
    assert r["measure"] in ("time", "cpu", "rss"), r
PY

	# 5. a workload program, under glibc and the drop-in
	vs="-v glibc=malloc"
	[ -z "$dropin" ] || vs="$vs -v dropin=preload:$dropin"
	cg=
	! command -v valgrind > /dev/null || cg=--callgrind
	# shellcheck disable=SC2086 # $vs and $cg are lists of words
	python3 "$compare" -r 3 $vs $cg --json "$tmp/p.json" --csv "$tmp/p.csv" "wl:churn 1 2000 200" \
		"prog:$wl 1 1000 100" > "$tmp/p.txt" || fail "compare.py on programs exited $?: $(cat "$tmp/p.txt")"
	grep -q '^program: churn 1 2000 200 ' "$tmp/p.txt" || fail "no program table: $(cat "$tmp/p.txt")"
	python3 - "$tmp/p.json" "$tmp/p.csv" "$dropin" "$cg" <<'PY' || fail "the programs' JSON or CSV: $(cat "$tmp/p.json")"
import csv, json, sys
d = json.load(open(sys.argv[1]))
nv = 2 if sys.argv[3] else 1
assert [w["kind"] for w in d["workloads"]] == ["prog", "prog"], d["workloads"]
assert len(d["samples"]) == 2 * nv * 3, len(d["samples"])
for s in d["samples"]:
    assert s["time"] > 0 and s["cpu"] >= 0, s
    assert 0 < s["rss"] < 8192, s  # the program's RSS, not this Python's
    if sys.argv[4]:
        assert s["instr"] > 10000, s
if sys.argv[4]:
    for w in ("churn 1 2000 200",):
        for v in {s["variant"] for s in d["samples"]}:
            assert len({s["instr"] for s in d["samples"] if s["workload"] == w and s["variant"] == v}) == 1
ms = {"time", "cpu", "rss"} | ({"instr"} if sys.argv[4] else set())
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == len(d["summary"]) == 2 * nv * len(ms), (len(rows), len(d["summary"]))
assert {r["measure"] for r in rows} == ms and {r["kind"] for r in rows} == {"prog"}
for r in d["summary"]:
    assert r["n"] == 3 and r["min"] <= r["median"] <= r["max"], r
    if r["variant"] == "glibc":
        assert r["ratio"] == 1.0 and r["p"] is None, r
    elif r["measure"] != "instr":
        assert 0.0 <= r["p"] <= 1.0, r
PY

	# 6. failures stop the run
	if python3 "$compare" -r 1 -v glibc=malloc "prog:sh -c 'exit 3'" > /dev/null 2> "$tmp/e.txt"; then
		fail "a failing program was accepted"
	fi
	grep -q 'exit:3' "$tmp/e.txt" || fail "no exit status in the message: $(cat "$tmp/e.txt")"
	if python3 "$compare" -r 1 -v a=malloc -v b=preload:/lib/x86_64-linux-gnu/libc.so.6 \
		"prog:sh -c 'echo checksum=\${LD_PRELOAD:-none}'" > /dev/null 2> "$tmp/e.txt"; then
		[ -f /lib/x86_64-linux-gnu/libc.so.6 ] && fail "different checksums were accepted"
	else
		grep -q 'different checksums' "$tmp/e.txt" || [ ! -f /lib/x86_64-linux-gnu/libc.so.6 ] ||
			fail "no checksum message: $(cat "$tmp/e.txt")"
	fi
	for bad in "-v k=kmem: prog:true" "-v g=malloc prog:" "-v g=malloc gbench:/nonexistent" \
		"-v g=malloc wl:no-such-workload"; do
		# shellcheck disable=SC2086
		if python3 "$compare" -r 1 $bad > /dev/null 2>&1; then
			fail "compare.py $bad was accepted"
		fi
	done
	echo "check_compare: workloads ok"
	exit 0
fi

# 1. the test statistic
python3 - "$compare" <<'PY' || fail "Mann-Whitney U"
import importlib.util, math, sys
spec = importlib.util.spec_from_file_location("compare", sys.argv[1])
c = importlib.util.module_from_spec(spec)
spec.loader.exec_module(c)
u, p = c.mann_whitney([1, 2, 3], [4, 5, 6])
assert u == 0 and abs(p - math.erfc((4.5 - 0.5) / math.sqrt(5.25) / math.sqrt(2))) < 1e-12, (u, p)
assert abs(p - 0.0809) < 1e-3, p
u, p = c.mann_whitney([5, 5, 5], [5, 5])
assert p == 1.0, p
# ties: ranks 1.5 1.5 3 4.5 4.5 6; a = {1,1,3}: R1 = 6, U1 = 0; tie term 2 * (8 - 2) = 12
u, p = c.mann_whitney([1, 1, 2], [3, 3, 4])
var = 9 / 12.0 * (7 - 12 / 30.0)
assert u == 0 and abs(p - math.erfc((4.5 - 0.5) / math.sqrt(var) / math.sqrt(2))) < 1e-12, p
u, p = c.mann_whitney([1, 2, 3], [1, 2, 3])
assert p == 1.0, p
assert c.median([3, 1, 2]) == 2 and c.median([4, 1, 2, 3]) == 2.5
PY

# 2. a run
{
	i=0
	while [ $i -lt 300 ]; do
		echo "m $((i * 53 % 3000 + 1)) $((0x1000 + i))"
		i=$((i + 1))
	done
	i=0
	while [ $i -lt 300 ]; do
		echo "f $((0x1000 + i))"
		i=$((i + 3))
	done
} > "$tmp/t.txt"
KMEM="$kmem" python3 "$compare" -r 3 -v lifo=kmem: -v dropin="kmem:--heap dropin --waste-div 16" \
	--json "$tmp/c.json" --csv "$tmp/c.csv" "$tmp/t.txt" > "$tmp/out.txt" || fail "compare.py exited $?"
grep -q '^variant  *net  *ratio  *p  *rss  *ratio  *p  *held  *ratio  *p$' "$tmp/out.txt" ||
	fail "no table header: $(cat "$tmp/out.txt")"
grep -q '^lifo ' "$tmp/out.txt" && grep -q "^dropin " "$tmp/out.txt" || fail "a variant's row is missing"
python3 - "$tmp/c.json" "$tmp/c.csv" <<'PY' || fail "the JSON or CSV: $(cat "$tmp/c.json")"
import csv, json, sys
d = json.load(open(sys.argv[1]))
assert d["baseline"] == "lifo" and d["reps"] == 3
assert len(d["samples"]) == 2 * 3, len(d["samples"])
for v in ("lifo", "dropin"):
    reps = sorted(s["rep"] for s in d["samples"] if s["variant"] == v)
    assert reps == [0, 1, 2], reps
    held = {s["held"] for s in d["samples"] if s["variant"] == v}
    assert len(held) == 1, held  # deterministic
for r in d["summary"]:
    assert r["n"] == 3
    assert r["min"] <= r["median"] <= r["max"], r
    if r["variant"] == "lifo":
        assert r["p"] is None, r
        assert r["ratio"] == 1.0 or (r["median"] == 0 and r["ratio"] is None), r
    else:
        assert 0.0 <= r["p"] <= 1.0, r
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == len(d["summary"]) == 2 * 3, len(rows)
assert {r["measure"] for r in rows} == {"net", "rss", "held"}
PY

# 3. bad arguments
for bad in "-v nonsense" "-v a=bogus" "-b nobody" "-r 0" "-m speed"; do
	# shellcheck disable=SC2086
	if KMEM="$kmem" python3 "$compare" $bad "$tmp/t.txt" > /dev/null 2>&1; then
		fail "compare.py $bad was accepted"
	fi
done
echo "check_compare: ok"
