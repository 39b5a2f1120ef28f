#!/bin/sh
# Real Debian programs under the drop-in malloc and its peers: a compiler (cc
# compiling kmem's slab/slab.c: cc1), an interpreter (python3 parsing and
# compiling the standard library's modules), a database (the sqlite3 shell
# inserting, indexing, joining, updating and deleting 200k rows in memory)
# and text tools (grep, sort and awk over a generated 18 MB text file).
#
# Two measurements, both through scripts/compare.py (interleaved
# repetitions, medians, ratios to glibc, Mann-Whitney U):
#  1. the programs themselves, run under LD_PRELOAD of each allocator
#     (glibc: none) through bench/malloc/runmeasure: wall time, CPU time and
#     peak RSS (wait4's ru_maxrss; for cc, its largest process, cc1);
#  2. their allocation traces, recorded on the fly with KMEM_TRACE under the
#     drop-in (the biggest file a command writes is kept: cc1's for cc) and
#     replayed by `kmem replay`: through --malloc under each allocator (the
#     replay's peak RSS growth) and on the drop-in's own heap configuration
#     (`--heap dropin`: the peak bytes it holds).
# Prints a Markdown table for each (glibc absolute, the others as ratios to
# glibc, geometric means) and whether kmem meets issue 18's targets for
# real programs: peak RSS geomean at most glibc's, none above 1.15x.
# Traces and inputs live in a temporary directory (-o DIR keeps them).
#
# Builds nothing. Build the release tree first:
#   meson setup build-release --buildtype=release && ninja -C build-release
# Needs python3, cc, sqlite3 (scripts/setup.sh installs it), grep, sort, awk.
#
# Usage: scripts/bench-traces.sh [options] [BUILDDIR]   (default build-release)
#   -n REPS    repetitions, medians reported (default 3; 1 with -q)
#   -q         quick mode: inputs about ten times smaller (smoke use)
#   -a LIST    only these allocators besides glibc, comma-separated
#              (default kmem,jemalloc,tcmalloc,mimalloc: those installed)
#   -w REGEX   only the programs whose name matches (grep -E): cc1,
#              python3, sqlite3, grep, sort, awk
#   -o DIR     write inputs, traces and compare.py's JSON and CSV into DIR
#              (kept) instead of a temporary directory
#   -t SECS    kill a run after SECS seconds (default 300)
#   -B PATH    also run this second kmem library as allocator "kmem-base",
#              interleaved with the others (before/after comparisons of a
#              change in one run: pass the old build's libkmem-malloc.so);
#              prints the kmem/kmem-base geomean of peak RSS
set -eu
here=$(pwd)
reps=
quick=0
allocs=kmem,jemalloc,tcmalloc,mimalloc
only=
out=
timeout=300
base_lib=
while getopts n:qa:w:o:t:B:h opt; do
	case $opt in
	n) reps=$OPTARG ;;
	q) quick=1 ;;
	a) allocs=$OPTARG ;;
	w) only=$OPTARG ;;
	o) out=$OPTARG ;;
	t) timeout=$OPTARG ;;
	B) base_lib=$OPTARG ;;
	h) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [-n REPS] [-q] [-a LIST] [-w REGEX] [-o DIR] [-t SECS] [-B PATH] [BUILDDIR]" >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || { echo "bench-traces: one build directory at most" >&2; exit 2; }
[ -n "$reps" ] || reps=$([ $quick = 1 ] && echo 1 || echo 3)
case $reps in '' | *[!0-9]* | 0) echo "bench-traces: -n wants a positive integer" >&2; exit 2 ;; esac
case $timeout in '' | *[!0-9]* | 0) echo "bench-traces: -t wants a positive integer" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
src=$PWD
build=${1:-build-release}
case $build in /*) ;; *) build=$src/$build ;; esac
kmem=$build/tools/kmem
dropin=$build/malloc/libkmem-malloc.so
for f in "$kmem" "$dropin" "$build/bench/malloc/runmeasure"; do
	if [ ! -e "$f" ]; then
		echo "bench-traces: $f not built (meson setup $build --buildtype=release && ninja -C $build)" >&2
		exit 1
	fi
done
for p in cc sqlite3 grep sort awk; do
	command -v $p > /dev/null || { echo "bench-traces: $p not installed (scripts/setup.sh)" >&2; exit 1; }
done
# the Debian interpreter, not one earlier in PATH (pyenv, a venv)
py=/usr/bin/python3
[ -x $py ] || py=$(command -v python3)

if [ -n "$out" ]; then
	case $out in /*) w=$out ;; *) w=$here/$out ;; esac
	mkdir -p "$w"
else
	w=$(mktemp -d)
	trap 'rm -rf "$w"' EXIT
fi

# ---- inputs ----
if [ $quick = 1 ]; then lines=30000 rows=20000 pyglob='[a-c]*.py'; else lines=300000 rows=200000 pyglob='*.py'; fi
# text: words from a fixed vocabulary of syllables, mawk/gawk's rand() seeded
awk -v n=$lines 'BEGIN {
	srand(1); split("the ka lo mi nu re sa ti vo wen ya zed ber chu dax fil gor hap", s, " ")
	for (i = 1; i <= n; i++) {
		k = 6 + int(rand() * 7); line = ""
		for (j = 0; j < k; j++) {
			m = 1 + int(rand() * 3); wd = ""
			for (q = 0; q < m; q++) wd = wd s[1 + int(rand() * 18)]
			line = line (j ? " " : "") wd
		}
		print line
	}
}' > "$w/text.txt"
cat > "$w/work.py" <<'EOF'
# python3 work.py DIR GLOB: parse, walk and compile every module matching
import ast, collections, glob, json, os, sys
counts = collections.Counter()
code = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], sys.argv[2]))):
    try:
        with open(f, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), f)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        continue
    for node in ast.walk(tree):
        counts[type(node).__name__] += 1
    code.append(compile(tree, f, "exec"))
text = json.dumps(counts, sort_keys=True)
print(len(code), len(json.loads(text)), sum(counts.values()))
EOF
pylib=$($py -c 'import os, sysconfig; print(sysconfig.get_paths()["stdlib"])')
cat > "$w/work.sql" <<EOF
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER, pad TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $rows)
INSERT INTO t(k, v, pad) SELECT printf('key%08d', (x * 7919) % $rows), x % 1000,
	printf('%0*d', 20 + x % 80, x) FROM c;
CREATE INDEX t_k ON t(k);
CREATE INDEX t_v ON t(v);
SELECT v, count(*), sum(length(pad)) FROM t GROUP BY v ORDER BY 2 DESC, 1 LIMIT 3;
SELECT count(*) FROM t a JOIN t b ON a.k = b.k WHERE a.v < 50;
UPDATE t SET pad = pad || pad WHERE v % 3 = 0;
DELETE FROM t WHERE v % 5 = 0;
SELECT count(*), sum(length(pad)) FROM t;
SELECT k FROM t ORDER BY pad DESC LIMIT 1;
EOF

# name|command: words as the shell splits them (quotes kept), run without a
# shell (compare.py's prog:); paths with blanks are not supported
cat > "$w/programs" <<EOF
cc1|cc -I$src/include -I$src/common -I$build/common -I$build/include -O2 -g -c $src/slab/slab.c -o $w/slab.o
python3|$py $w/work.py $pylib '$pyglob'
sqlite3|sqlite3 :memory: '.read $w/work.sql'
grep|grep -c -E '(the|ka)[a-z]*(ber|zed)\$' $w/text.txt
sort|sort -o $w/sorted.txt $w/text.txt
awk|awk '{ for (i = 1; i <= NF; i++) c[\$i]++ } END { for (x in c) n++; print n }' $w/text.txt
EOF
if [ -n "$only" ]; then
	grep -E "^[^|]*($only)[^|]*\|" "$w/programs" > "$w/p" || true
	mv "$w/p" "$w/programs"
	[ -s "$w/programs" ] || { echo "bench-traces: no program matches '$only'" >&2; exit 2; }
fi

# ---- allocators ----
vs="-v glibc=malloc"
names=glibc
for a in $(echo "$allocs" | tr ',' ' '); do
	case $a in
	kmem) vs="$vs -v kmem=dropin" ;;
	jemalloc | tcmalloc | mimalloc)
		if ! ls /usr/lib/*/lib"$a"*.so.* > /dev/null 2>&1; then
			echo "bench-traces: $a skipped: not installed (scripts/setup.sh installs it)" >&2
			continue
		fi
		vs="$vs -v $a=$a" ;;
	*) echo "bench-traces: unknown allocator '$a'" >&2; exit 2 ;;
	esac
	names="$names $a"
done
if [ -n "$base_lib" ]; then
	case $base_lib in /*) ;; *) base_lib=$here/$base_lib ;; esac
	[ -f "$base_lib" ] || { echo "bench-traces: -B $base_lib: no such file" >&2; exit 2; }
	vs="$vs -v kmem-base=preload:$base_lib"
	names="$names kmem-base"
fi

# ---- record the traces ----
traces=
progs=
sep=$(printf '\037') # between compare.py's workloads, which hold blanks and |
while IFS='|' read -r name cmd; do
	rm -f "$w/$name.bin"*
	# shellcheck disable=SC2086 # the command is words (\ keeps a blank in one)
	eval "set -- $cmd"
	(cd "$w" && env LD_PRELOAD="$dropin" KMEM_TRACE="$w/$name.bin" "$@" > "$w/$name.out" 2> "$w/$name.err") || {
		echo "bench-traces: $name failed under the drop-in while tracing:" >&2
		tail -n 5 "$w/$name.err" >&2
		exit 1
	}
	# shellcheck disable=SC2012 # our own file names
	big=$(ls -S "$w/$name.bin"* | head -n 1)
	mv "$big" "$w/$name.trace"
	rm -f "$w/$name.bin"*
	echo "bench-traces: $name: $(head -c 200 "$w/$name.out" | tr '\n' ' ')($(wc -c < "$w/$name.trace") bytes of trace)" >&2
	traces="$traces $w/$name.trace"
	progs="$progs${sep}prog:$cmd"
done < "$w/programs"

# ---- run ----
export KMEM="$kmem" KMEM_MALLOC="$dropin" KMEM_BUILD="$build"
echo "bench-traces: the programs, $reps repetition(s), allocators: $names" >&2
old_ifs=$IFS
IFS=$sep
# shellcheck disable=SC2086
set -- ${progs#"$sep"}
IFS=$old_ifs
# shellcheck disable=SC2086 # $vs is words
(cd "$w" && python3 "$src/scripts/compare.py" -r "$reps" -t "$timeout" $vs -m time,cpu,rss \
	--json "$w/programs.json" --csv "$w/programs.csv" "$@") > "$w/programs.txt"
echo "bench-traces: the traces' replays" >&2
# shellcheck disable=SC2086
python3 "$src/scripts/compare.py" -r "$reps" $vs -v "dropin-heap=kmem:--heap dropin" -b glibc \
	-m net,rss,held --json "$w/traces.json" --csv "$w/traces.csv" $traces > "$w/traces.txt"

# shellcheck disable=SC2086 # $names is words
python3 - "$w/programs.json" "$w/traces.json" "$reps" "$([ $quick = 1 ] && echo quick || echo full)" $names <<'EOF'
import json, math, os, sys

progs, traces, reps, mode, allocs = (json.load(open(sys.argv[1])), json.load(open(sys.argv[2])),
                                     sys.argv[3], sys.argv[4], sys.argv[5:])
others = [a for a in allocs if a != "glibc"]

def summary(d):
    s = {}
    for r in d["summary"]:
        s[(r["workload"], r["variant"], r["measure"])] = r
    return s

def geo(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None

def f2(x):
    return "n/a" if x is None else "%.2f" % x

def targets(label, ratios):
    ok = {w: r for w, r in ratios.items() if r is not None}
    g = geo(list(ok.values()))
    above = ["%s %.2f" % (w, r) for w, r in ok.items() if r > 1.15]
    print("- %s: kmem peak RSS geomean %s of glibc's (target <= 1.00: %s); above 1.15x: %s" % (
        label, f2(g), "n/a" if g is None else ("yes" if g <= 1.0 else "no"),
        "none" if not above else ", ".join(above)))

# 1. the programs
s = summary(progs)
names = []
for w in progs["workloads"]:
    names += w["rows"]
short = {n: n.split()[0].rsplit("/", 1)[-1] for n in names}
for n in names:  # cc's largest process is cc1
    if short[n] == "cc":
        short[n] = "cc1 (cc -O2 -g -c slab.c)"
print("Real programs under LD_PRELOAD (median of %s run(s), %s mode). glibc: absolute (wall s,"
      " peak RSS MiB); others: ratio to glibc, lower is better." % (reps, mode))
print()
print("| program | glibc time | " + " | ".join("%s time" % a for a in others) + " | glibc RSS | " +
      " | ".join("%s RSS" % a for a in others) + " |")
print("|---|" + "--:|" * (2 + 2 * len(others)))
for n in names:
    g = s[(n, "glibc", "time")]["median"], s[(n, "glibc", "rss")]["median"]
    row = [short[n], "%.3f s" % g[0]] + [f2(s[(n, a, "time")]["ratio"]) for a in others] + \
          ["%.1f MiB" % (g[1] / 1024.0)] + [f2(s[(n, a, "rss")]["ratio"]) for a in others]
    print("| " + " | ".join(row) + " |")
row = ["**geomean**", "1.00"] + [f2(geo([s[(n, a, "time")]["ratio"] for n in names])) for a in others] + \
      ["1.00"] + [f2(geo([s[(n, a, "rss")]["ratio"] for n in names])) for a in others]
print("| " + " | ".join(row) + " |")
print()

# 2. the traces
t = summary(traces)
tnames = []
for w in traces["workloads"]:
    tnames += w["rows"]
print("Their traces replayed (`kmem replay --malloc` under LD_PRELOAD): peak RSS growth over the"
      " replay, glibc in MiB, the others as ratios to glibc; the drop-in's heap configuration"
      " (`--heap dropin`): peak MiB held; net ns/op of the heap alone, kmem against glibc.")
print()
print("| trace | records | glibc RSS growth | " + " | ".join("%s" % a for a in others) +
      " | dropin-heap held | net ns/op glibc | kmem |")
print("|---|" + "--:|" * (4 + len(others)) + "--:|")
grow = {}
for n in tnames:
    base = os.path.basename(n).rsplit(".", 1)[0]
    gr = t[(n, "glibc", "rss")]["median"]
    held = t.get((n, "dropin-heap", "held"), {}).get("median")
    net_g = t[(n, "glibc", "net")]["median"]
    net_k = t.get((n, "kmem", "net"), {}).get("ratio")
    row = [base, str((os.path.getsize(n) - 16) // 40), "%.2f MiB" % (gr / 1024.0)]
    for a in others:
        r = t[(n, a, "rss")]["ratio"] if gr > 0 else None
        row.append(f2(r))
        if a == "kmem":
            grow[base] = r
    row += ["-" if held is None else "%.2f MiB" % (held / 1048576.0), "%.1f" % net_g, f2(net_k)]
    print("| " + " | ".join(row) + " |")
row = ["**geomean**", "", "1.00"] + [f2(geo([t[(n, a, "rss")]["ratio"] for n in tnames
                                             if t[(n, "glibc", "rss")]["median"] > 0])) for a in others]
row += ["", "1.00", f2(geo([t.get((n, "kmem", "net"), {}).get("ratio") for n in tnames]))]
print("| " + " | ".join(row) + " |")
print()
if "kmem" in others and "kmem-base" in others:
    print("- kmem against kmem-base (-B): the programs' peak RSS geomean %s, their time %s; the"
          " traces' RSS growth %s" % (
              f2(geo([s[(n, "kmem", "rss")]["median"] / s[(n, "kmem-base", "rss")]["median"] for n in names])),
              f2(geo([s[(n, "kmem", "time")]["median"] / s[(n, "kmem-base", "time")]["median"] for n in names])),
              f2(geo([t[(n, "kmem", "rss")]["median"] / t[(n, "kmem-base", "rss")]["median"] for n in tnames
                      if t[(n, "kmem-base", "rss")]["median"] > 0]))))
if "kmem" in others:
    targets("the programs' peak RSS", {short[n].split()[0]: s[(n, "kmem", "rss")]["ratio"] for n in names})
    targets("the traces' replayed RSS growth", grow)
EOF
echo "bench-traces: compare.py's tables: $w/programs.txt, $w/traces.txt$([ -n "$out" ] || echo ' (removed at exit; -o DIR keeps them)')" >&2
