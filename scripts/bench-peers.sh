#!/bin/sh
# kmem against glibc malloc and the Debian peer allocators (jemalloc,
# tcmalloc, mimalloc; scripts/setup.sh installs them). Builds build-release/
# if needed, runs build-release/bench/bench-peers once plainly (glibc) and
# once with each peer's library in LD_PRELOAD (a missing one is skipped with
# a note), then prints ops/s per workload and allocator, and the issue's
# ratios: the kmem cache pair against the malloc pair measured in the same
# process (plain run: glibc; mimalloc run: mimalloc).
# Usage: scripts/bench-peers.sh     (run from anywhere inside the checkout)
# Environment: MIN_TIME (seconds per benchmark, default 0.2), REPS
# (repetitions, randomly interleaved, medians reported; default 5). About
# 1.5 minutes on 2 cores.
set -eu
cd "$(dirname "$0")/.."

min_time="${MIN_TIME:-0.2}"
reps="${REPS:-5}"
filter='^(pair|prodcons|random)_'
exe=build-release/bench/bench-peers

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# build-release/: configure if missing, then build the benchmark program
# (ninja re-runs meson by itself when a meson.build changed).
if [ ! -f build-release/build.ninja ]; then
	meson setup build-release --buildtype=release > "$tmp/log" 2>&1 ||
		{ cat "$tmp/log"; exit 1; }
fi
ninja -C build-release bench/bench-peers > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
[ -x "$exe" ] || { echo "bench-peers: $exe not built (is libbenchmark-dev installed?)" >&2; exit 1; }

find_lib() { # soname -> path, or nothing
	for d in "/usr/lib/$(gcc -print-multiarch 2>/dev/null)" /usr/lib64 /usr/lib /usr/local/lib; do
		if [ -f "$d/$1" ]; then
			echo "$d/$1"
			return
		fi
	done
}

run() { # name preload
	printf 'bench-peers: running %s%s\n' "$1" "${2:+ (LD_PRELOAD=$2)}" >&2
	status=0
	env ${2:+LD_PRELOAD="$2"} "$exe" --benchmark_filter="$filter" \
		--benchmark_min_time="$min_time" --benchmark_repetitions="$reps" \
		--benchmark_enable_random_interleaving=true \
		--benchmark_report_aggregates_only=true \
		--benchmark_format=json > "$tmp/$1.json" 2> "$tmp/$1.err" || status=$?
	if [ "$status" -ne 0 ]; then
		echo "bench-peers: $1 exited with status $status; its stderr:" >&2
		tail -n 5 "$tmp/$1.err" >&2
		echo "$status" > "$tmp/$1.status"
	elif [ -s "$tmp/$1.err" ]; then
		echo "bench-peers: $1 wrote to stderr:" >&2
		head -n 5 "$tmp/$1.err" >&2
	fi
}

runs="glibc"
run glibc ""
for peer in jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
	name=${peer%%:*}
	lib=$(find_lib "${peer#*:}")
	if [ -z "$lib" ]; then
		echo "bench-peers: $name skipped: ${peer#*:} not found (scripts/setup.sh installs it)" >&2
		continue
	fi
	run "$name" "$lib"
	runs="$runs $name:$lib"
done

python3 - "$tmp" "$min_time" "$reps" $runs <<'EOF'
import json, os, sys

tmp, min_time, reps, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
names = [r.split(":", 1)[0] for r in runs]
libs = {r.split(":", 1)[0]: (r.split(":", 1)[1] if ":" in r else "libc.so.6") for r in runs}

PC = "/1024/real_time/threads:2"
ROWS = [  # (group, variant, benchmark name)
    ("pair 64 B, same thread", "kmem cache", "pair_cache64"),
    ("", "kmem_alloc", "pair_kmalloc64"),
    ("", "malloc", "pair_malloc64"),
    ("prodcons 64 B, 2 threads", "kmem cache", "prodcons_cache64" + PC),
    ("", "kmem_alloc", "prodcons_kmalloc64" + PC),
    ("", "malloc", "prodcons_malloc64" + PC),
    ("", "ring only", "prodcons_ring64" + PC),
    ("random 8..1024 B, 1024 live", "kmem_alloc", "random_kmalloc/1024"),
    ("", "malloc", "random_malloc/1024"),
    ("random 8..8192 B, 1024 live", "kmem_alloc", "random_kmalloc/8192"),
    ("", "malloc", "random_malloc/8192"),
]
RATIOS = [  # (label, kmem benchmark, malloc benchmark)
    ("pair: kmem cache / malloc", "pair_cache64", "pair_malloc64"),
    ("pair: kmem_alloc / malloc", "pair_kmalloc64", "pair_malloc64"),
    ("prodcons: kmem cache / malloc", "prodcons_cache64" + PC, "prodcons_malloc64" + PC),
    ("prodcons: kmem_alloc / malloc", "prodcons_kmalloc64" + PC, "prodcons_malloc64" + PC),
    ("random 1024: kmem_alloc / malloc", "random_kmalloc/1024", "random_malloc/1024"),
    ("random 8192: kmem_alloc / malloc", "random_kmalloc/8192", "random_malloc/8192"),
]

res, notes, context = {}, [], None
for n in names:
    res[n] = {}
    path = os.path.join(tmp, n + ".json")
    st = os.path.join(tmp, n + ".status")
    if os.path.exists(st):
        notes.append("%s: the run exited with status %s" % (n, open(st).read().strip()))
    try:
        doc = json.load(open(path))
    except (OSError, ValueError):
        notes.append("%s: no results (output not valid JSON)" % n)
        continue
    context = context or doc.get("context")
    for b in doc.get("benchmarks", []):
        rn, agg = b.get("run_name", b["name"]), b.get("aggregate_name")
        r = res[n].setdefault(rn, {})
        if b.get("error_occurred"):
            r["error"] = b.get("error_message", "error")
            notes.append("%s: %s: %s" % (n, rn, r["error"]))
        elif agg == "median" and "items_per_second" in b:
            r["ops"] = b["items_per_second"]
            lab, want = b.get("label", ""), os.path.basename(libs[n])
            if lab and lab != want:
                notes.append("%s: %s used malloc from %s, not %s" % (n, rn, lab, want))
        elif agg == "cv" and "items_per_second" in b:
            r["cv"] = b["items_per_second"]

def ops(n, b):
    r = res.get(n, {}).get(b, {})
    return None if "error" in r else r.get("ops")

def cell(n, b):
    r = res.get(n, {}).get(b, {})
    if "error" in r:
        return "error"
    if "ops" not in r:
        return "-"
    s = "%.1f" % (r["ops"] / 1e6)
    if "cv" in r:
        s += " (%.0f%%)" % (r["cv"] * 100)
    return s

if context:
    print("host: %d CPUs at %s MHz, load average %s (first run); build-release" % (
        context.get("num_cpus", 0), context.get("mhz_per_cpu", "?"),
        " ".join("%.2f" % x for x in context.get("load_avg", []))))
print("M ops/s, median of %s repetitions of >= %s s (cv); one column per process: its malloc"
      % (reps, min_time))
print("is that allocator, and the kmem rows were measured in the same process.")
print("ops: pair = alloc+free, prodcons = object passed (wall time), random = free+alloc step")
print()
w0, w1, wc = 29, 11, 13
print("%-*s %-*s" % (w0, "workload", w1, "variant") + "".join("%*s" % (wc, n) for n in names))
for g, v, b in ROWS:
    print("%-*s %-*s" % (w0, g, w1, v) + "".join("%*s" % (wc, cell(n, b)) for n in names))
print()
print("%-*s" % (w0 + w1 + 1, "ratio in the same process") + "".join("%*s" % (wc, n) for n in names))
for lab, k, m in RATIOS:
    row = ""
    for n in names:
        a, c = ops(n, k), ops(n, m)
        row += "%*s" % (wc, "%.2fx" % (a / c) if a and c else "-")
    print("%-*s" % (w0 + w1 + 1, lab) + row)
print()
print("targets (pair 64 B, kmem cache ops/s against the malloc pair in the same process):")
for n, want in (("glibc", 2.0), ("mimalloc", 1.0)):
    a, c = ops(n, "pair_cache64"), ops(n, "pair_malloc64")
    if n not in res:
        print("  %-9s not run" % n)
    elif a and c:
        print("  %-9s %6.2fx  target >= %.0fx  %s" % (n, a / c, want, "met" if a / c >= want else "NOT met"))
    else:
        print("  %-9s no result" % n)
for s in notes:
    print("note: " + s)
EOF
