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
# usage: check_compare.sh KMEM COMPARE_PY
set -eu
kmem="$1"
compare="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "check_compare: FAIL: $*" >&2
	exit 1
}
command -v python3 > /dev/null || { echo "check_compare: no python3, skipped"; exit 77; }

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
