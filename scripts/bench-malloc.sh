#!/bin/sh
# The drop-in malloc (libkmem-malloc.so) against glibc malloc and the Debian
# peer allocators (jemalloc, tcmalloc, mimalloc; scripts/setup.sh installs
# them) on the workload programs of bench/malloc/ (see the comment at the top
# of each wl_*.c). Every workload runs under every allocator, interleaved
# (repetition, then workload, then allocator in rotating order), through
# bench/malloc/runmeasure, which reports wall time and peak RSS (wait4's
# ru_maxrss). Prints a Markdown table of medians: glibc in absolute numbers,
# the others as ratios to glibc (lower is better), their geometric means, and
# whether kmem meets its targets; CPU time (user + sys) and minor page
# faults per workload, and the idle workload's RSS after its idle period.
# Then, for the workloads that count their
# operations (they print `info: ops=N`: larson, larson-sized, xmalloc, threadtest), a
# table of million operations per second of wall time and per CPU-second
# (runmeasure's user + system time), and the scaling of each pair X-1t,
# X-2t (the same work per thread; rate with two threads over rate with one:
# 2.00 is perfect on two idle cores). A run that crashes, times out, prints a
# checksum different from glibc's or whose LD_PRELOAD did not load is shown
# as FAIL and makes the script exit with status 1.
#
# Builds nothing. Build the release tree first:
#   meson setup build-release --buildtype=release && ninja -C build-release
# (bench/ needs Google Benchmark, libbenchmark-dev; libkmem-malloc.so needs
# -Dmalloc=true, the default). A missing peer or libkmem-malloc.so is skipped
# with a note.
#
# Usage: scripts/bench-malloc.sh [options] [BUILDDIR]   (default build-release)
#   -n REPS    repetitions per workload and allocator, median reported
#              (default 3; 1 with -q)
#   -q         quick mode: workloads about 20 times shorter (smoke use; the
#              numbers mean little)
#   -w REGEX   only the workloads whose name matches (grep -E)
#   -a LIST    only these allocators, comma-separated (glibc is always run:
#              it is the baseline), e.g. -a kmem,mimalloc
#   -k PATH    the kmem library (default BUILDDIR/malloc/libkmem-malloc.so)
#   -B PATH    also run this second kmem library as allocator "kmem-base",
#              interleaved with the others (before/after comparisons of a
#              change in one run: build the old commit's release tree in a
#              git worktree and pass its libkmem-malloc.so); prints the
#              kmem/kmem-base geomeans of time and peak RSS
#   -t SECS    kill a run after SECS seconds (default 120; 30 with -q)
#   -r FILE    also write the raw measurements (one line per run) to FILE
# Full mode took about 70 s per repetition with every allocator on 2 quiet
# cores before larson-1t, larson-sized and xmalloc were added (they add about
# a quarter); the README's run took 19 minutes for 3 repetitions under a load
# average of 15. Quick mode takes a few seconds.
set -eu
cd "$(dirname "$0")/.."

reps=
quick=0
only=
allocs=
kmem_lib=
base_lib=
timeout=
raw=
while getopts n:qw:a:k:B:t:r:h opt; do
	case $opt in
	n) reps=$OPTARG ;;
	q) quick=1 ;;
	w) only=$OPTARG ;;
	a) allocs=$OPTARG ;;
	k) kmem_lib=$OPTARG ;;
	B) base_lib=$OPTARG ;;
	t) timeout=$OPTARG ;;
	r) raw=$OPTARG ;;
	h) sed -n '2,/^set -eu/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [-n REPS] [-q] [-w REGEX] [-a LIST] [-k PATH] [-B PATH] [-t SECS] [-r FILE] [BUILDDIR]" >&2
	   exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -le 1 ] || { echo "bench-malloc: one build directory at most" >&2; exit 2; }
build=${1:-build-release}
[ -n "$reps" ] || reps=$([ $quick = 1 ] && echo 1 || echo 3)
[ -n "$timeout" ] || timeout=$([ $quick = 1 ] && echo 30 || echo 120)
case $reps in '' | *[!0-9]* | 0) echo "bench-malloc: -n wants a positive integer" >&2; exit 2 ;; esac
case $timeout in '' | *[!0-9]* | 0) echo "bench-malloc: -t wants a positive integer" >&2; exit 2 ;; esac
[ -n "$kmem_lib" ] || kmem_lib=$build/malloc/libkmem-malloc.so

bin=$build/bench/malloc
if [ ! -x "$bin/runmeasure" ]; then
	cat >&2 <<EOF
bench-malloc: $bin/runmeasure not found. Build the release tree first:
  meson setup $build --buildtype=release && ninja -C $build
(bench/ is only built when Google Benchmark is found: apt install libbenchmark-dev)
EOF
	exit 1
fi
if [ -f "$build/meson-info/intro-buildoptions.json" ] &&
	! grep -q '"name": "buildtype", "value": "release"' "$build/meson-info/intro-buildoptions.json"; then
	echo "bench-malloc: note: $build is not a release build (meson setup $build --buildtype=release)" >&2
fi

# The baseline must be the plain C library.
unset LD_PRELOAD

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name | program | arguments | quick-mode arguments (see each program's usage)
cat > "$tmp/workloads" <<'EOF'
churn-1t|wl-churn|1 5m 100k|1 250k 100k
churn-2t|wl-churn|2 8m 100k|2 400k 100k
churn-4t|wl-churn|4 8m 100k|4 400k 100k
larson-1t|wl-larson|1 60 100k|1 3 100k
larson-2t|wl-larson|2 60 100k|2 3 100k
larson-4t|wl-larson|4 30 100k|4 2 100k
larson-sized-1t|wl-larson-sized|1 60 100k|1 3 100k
larson-sized-2t|wl-larson-sized|2 60 100k|2 3 100k
xmalloc-1t|wl-xmalloc|1 4m|1 200k
xmalloc-2t|wl-xmalloc|2 8m|2 400k
prodcons|wl-prodcons|1 8m|1 400k
threadtest-2t|wl-threadtest|2 400 50k 8|2 20 50k 8
threadtest-remote|wl-threadtest|2 400 50k 8 1|2 20 50k 8 1
large|wl-large|10000|500
realloc|wl-realloc|6m|300k
phases|wl-phases|4 64 500k|2 16 50k
short32|wl-short32|1 16m 4|1 800k 4
bigcycle|wl-bigcycle|400|40
idle|wl-idle|300 12 50|32 1 50
EOF
if [ -n "$only" ]; then
	grep -E "^[^|]*($only)[^|]*\|" "$tmp/workloads" > "$tmp/w" || true
	mv "$tmp/w" "$tmp/workloads"
	[ -s "$tmp/workloads" ] || { echo "bench-malloc: no workload matches '$only'" >&2; exit 2; }
fi

find_lib() { # soname -> path, or nothing
	for d in "/usr/lib/$(gcc -print-multiarch 2>/dev/null || true)" /usr/lib/x86_64-linux-gnu \
		/usr/lib64 /usr/lib /usr/local/lib; do
		if [ -f "$d/$1" ]; then
			echo "$d/$1"
			return
		fi
	done
}

wanted() { # allocator -> true if selected by -a
	[ -z "$allocs" ] && return 0
	case ",$allocs," in *",$1,"*) return 0 ;; esac
	return 1
}

# A preload that does not load is ignored by ld.so with a message on
# stderr, and the run silently measures glibc: check every run's stderr.
preload_failed() { # stderr file
	grep -q 'cannot be preloaded\|cannot open shared object' "$1"
}

# allocator list: name:library (glibc has none)
list="glibc:"
base=
[ -z "$base_lib" ] || base=kmem-base:
for peer in kmem: $base jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4 mimalloc:libmimalloc.so.2; do
	name=${peer%%:*}
	wanted "$name" || continue
	if [ "$name" = kmem ]; then
		lib=$kmem_lib
	elif [ "$name" = kmem-base ]; then
		lib=$base_lib
	fi
	if [ "$name" = kmem ] || [ "$name" = kmem-base ]; then
		if [ ! -f "$lib" ]; then
			echo "bench-malloc: $name skipped: $lib not built" >&2
			continue
		fi
		lib=$(cd "$(dirname "$lib")" && pwd)/$(basename "$lib")
	else
		lib=$(find_lib "${peer#*:}")
		if [ -z "$lib" ]; then
			echo "bench-malloc: $name skipped: ${peer#*:} not found (scripts/setup.sh installs it)" >&2
			continue
		fi
	fi
	# does it load and run at all?
	status=0
	"$bin/runmeasure" -o "$tmp/m" -t 30 -e LD_PRELOAD="$lib" -- "$bin/wl-churn" 1 1000 100 \
		< /dev/null > "$tmp/out" 2> "$tmp/err" || status=$?
	if [ $status -ne 0 ] || preload_failed "$tmp/err"; then
		echo "bench-malloc: $name skipped: a trial run with LD_PRELOAD=$lib failed ($(sed 's/.*status=//' "$tmp/m" 2>/dev/null))" >&2
		head -n 5 "$tmp/err" | sed 's/^/  /' >&2
		continue
	fi
	list="$list $name:$lib"
done
# shellcheck disable=SC2086 # $list is a list of words
nalloc=$(echo $list | wc -w)

mode=$([ $quick = 1 ] && echo quick || echo full)
echo "bench-malloc: $mode mode, $reps repetition(s), $(wc -l < "$tmp/workloads") workloads," \
	"allocators: $(for a in $list; do printf '%s ' "${a%%:*}"; done)" >&2

# results: workload allocator rep wall_s maxrss_kib status checksum trough_kib cpu_s minflt idle_kib
: > "$tmp/results"
failures=0
rep=1
while [ $rep -le "$reps" ]; do
	wi=0
	while IFS='|' read -r wname prog full qargs; do
		args=$full
		[ $quick = 1 ] && args=$qargs
		# rotate the allocator order by repetition and workload
		# shellcheck disable=SC2086
		set -- $list
		shift_by=$(( (rep + wi) % nalloc ))
		i=0
		while [ $i -lt $shift_by ]; do
			first=$1
			shift
			set -- "$@" "$first"
			i=$((i + 1))
		done
		line="rep $rep/$reps $wname:"
		for a in "$@"; do
			name=${a%%:*}
			lib=${a#*:}
			if [ -n "$lib" ]; then
				envop=-e envarg="LD_PRELOAD=$lib"
			else
				envop=-u envarg=LD_PRELOAD
			fi
			rm -f "$tmp/m"
			status=0
			# shellcheck disable=SC2086 # args are words
			"$bin/runmeasure" -o "$tmp/m" -t "$timeout" "$envop" "$envarg" -- \
				"$bin/$prog" $args < /dev/null > "$tmp/out" 2> "$tmp/err" || status=$?
			wall=$(sed -n 's/.*wall_s=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			rss=$(sed -n 's/.*maxrss_kib=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			st=$(sed -n 's/.*status=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			sum=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$tmp/out")
			trough=$(sed -n 's/.*rss_trough_kib=\([0-9]*\).*/\1/p' "$tmp/out")
			user=$(sed -n 's/.*user_s=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			sys=$(sed -n 's/.*sys_s=\([^ ]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			cpu=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN { printf "%.6f", u + s }')
			ops=$(sed -n 's/^info: ops=\([0-9]*\).*/\1/p' "$tmp/out")
			idle=$(sed -n 's/.*rss_idle_kib=\([0-9]*\).*/\1/p' "$tmp/out")
			minflt=$(sed -n 's/.*minflt=\([0-9]*\).*/\1/p' "$tmp/m" 2>/dev/null)
			[ -n "$st" ] || st="no-report"
			if [ "$st" = "exit:0" ] && preload_failed "$tmp/err"; then
				st="preload-failed"
			fi
			if [ "$st" = "exit:0" ] && [ -z "$sum" ]; then
				st="no-checksum"
			fi
			if [ "$st" != "exit:0" ]; then
				failures=$((failures + 1))
				echo "bench-malloc: $wname under $name: $st ($prog $args); stderr:" >&2
				tail -n 5 "$tmp/err" | sed 's/^/  /' >&2
			elif [ -s "$tmp/err" ]; then
				echo "bench-malloc: $wname under $name wrote to stderr:" >&2
				head -n 3 "$tmp/err" | sed 's/^/  /' >&2
			fi
			echo "$wname $name $rep ${wall:-0} ${rss:-0} $st ${sum:--} ${trough:--} $cpu ${ops:--} ${minflt:-0} ${idle:--}" >> "$tmp/results"
			line="$line $name $(printf '%.2fs' "${wall:-0}")"
		done
		echo "$line" >&2
		wi=$((wi + 1))
	done < "$tmp/workloads"
	rep=$((rep + 1))
done

if [ -n "$raw" ]; then
	{
		echo "# workload allocator rep wall_s maxrss_kib status checksum rss_trough_kib cpu_s ops minflt rss_idle_kib"
		cat "$tmp/results"
	} > "$raw"
fi

status=0
# shellcheck disable=SC2086
python3 - "$tmp/results" "$tmp/workloads" "$mode" "$reps" $list <<'EOF' || status=$?
import math, sys

results, workloads_file, mode, reps, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
allocs = [r.split(":", 1)[0] for r in runs]
workloads = [l.split("|")[0] for l in open(workloads_file) if l.strip()]
others = [a for a in allocs if a != "glibc"]
peers = [a for a in others if a not in ("kmem", "kmem-base")]

runs_by = {}  # (workload, alloc) -> list of (wall, rss_kib, status, checksum, trough, cpu, ops, minflt, idle)
for line in open(results):
    w, a, _rep, wall, rss, st, cs, tr, cpu, ops, flt, idle = line.split()
    runs_by.setdefault((w, a), []).append((float(wall), int(rss), st, cs, tr, float(cpu),
                                           None if ops == "-" else int(ops), int(flt), idle))

def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

failed = False
cell = {}  # (w, a) -> dict(time, rss, noisy, fail)
for w in workloads:
    ref = {r[3] for r in runs_by.get((w, "glibc"), []) if r[2] == "exit:0"}
    for a in allocs:
        rs = runs_by.get((w, a), [])
        bad = [r[2] for r in rs if r[2] != "exit:0"]
        sums = {r[3] for r in rs if r[2] == "exit:0"}
        if not bad and (len(sums) > 1 or (a != "glibc" and ref and sums != ref)):
            bad = ["checksum"]
        if bad or not rs:
            cell[(w, a)] = {"fail": bad[0] if bad else "missing"}
            failed = True
            continue
        t = [r[0] for r in rs]
        m = median(t)
        cell[(w, a)] = {
            "time": m,
            "rss": median([r[1] for r in rs]),
            "noisy": m > 0 and (max(t) - min(t)) / m > 0.10,
            "trough": median([int(r[4]) for r in rs]) if rs[0][4] != "-" else None,
            "cpu": median([r[5] for r in rs]),
            "ops": rs[0][6],
            "flt": median([r[7] for r in rs]),
            "idle": median([int(r[8]) for r in rs]) if rs[0][8] != "-" else None,
        }

def ratio(w, a, key):
    c, g = cell[(w, a)], cell[(w, "glibc")]
    if "fail" in c or "fail" in g or g[key] <= 0:
        return None
    return c[key] / g[key]

def fmt_ratio(w, a, key):
    c = cell[(w, a)]
    if "fail" in c:
        return "FAIL (%s)" % c["fail"]
    r = ratio(w, a, key)
    if r is None:
        return "n/a"
    return "%.2f%s" % (r, "~" if key == "time" and c["noisy"] else "")

def geomean(a, key):
    rs = [ratio(w, a, key) for w in workloads]
    ok = [r for r in rs if r is not None and r > 0]
    if not ok:
        return None, 0
    return math.exp(sum(math.log(r) for r in ok) / len(ok)), len(ok)

print("Median of %s run(s), %s mode. glibc: absolute (wall seconds, peak RSS MiB);"
      " others: ratio to glibc, lower is better." % (reps, mode))
print()
hdr = ["workload", "glibc time"] + ["%s time" % a for a in others] + \
      ["glibc RSS"] + ["%s RSS" % a for a in others]
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join(["---"] + ["--:"] * (len(hdr) - 1)) + "|")
for w in workloads:
    g = cell[(w, "glibc")]
    if "fail" in g:
        gt = gr = "FAIL (%s)" % g["fail"]
    else:
        gt = "%.3f s%s" % (g["time"], "~" if g["noisy"] else "")
        gr = "%.1f MiB" % (g["rss"] / 1024)
    row = [w, gt] + [fmt_ratio(w, a, "time") for a in others] + \
          [gr] + [fmt_ratio(w, a, "rss") for a in others]
    print("| " + " | ".join(row) + " |")

geo = {}
row = ["**geomean**", "1.00"]
for key in ("time", "rss"):
    if key == "rss":
        row.append("1.00")
    for a in others:
        gm, n = geomean(a, key)
        geo[(a, key)] = gm
        if gm is None:
            row.append("n/a")
        else:
            row.append("%.2f%s" % (gm, "" if n == len(workloads) else " (%d/%d)" % (n, len(workloads))))
print("| " + " | ".join(row) + " |")
print()
if any(c.get("noisy") for c in cell.values()):
    print("~: the repetitions spread over more than 10% of the median (noisy machine).")
if any("fail" in c for c in cell.values()):
    print("FAIL: crashed (signal), timed out, exited non-zero, printed a wrong checksum or"
          " its LD_PRELOAD did not load; left out of the geometric mean (n/m: workloads counted).")

if "phases" in workloads:
    troughs = [(a, cell[("phases", a)].get("trough")) for a in allocs]
    if any(t is not None for _, t in troughs):
        print("phases, RSS kept after the live set fell to 10%% (MiB): %s" %
              ", ".join("%s %s" % (a, "FAIL" if t is None else "%.1f" % (t / 1024))
                        for a, t in troughs))
if "idle" in workloads:
    idles = [(a, cell[("idle", a)].get("idle")) for a in allocs]
    if any(t is not None for _, t in idles):
        print("idle, RSS at the end of the idle period (MiB): %s" %
              ", ".join("%s %s" % (a, "FAIL" if t is None else "%.1f" % (t / 1024))
                        for a, t in idles))
print()
print("CPU time (user + sys) and minor page faults, medians: glibc absolute, others as ratios to glibc.")
print()
hdr = ["workload", "glibc CPU"] + ["%s CPU" % a for a in others] + \
      ["glibc faults"] + ["%s faults" % a for a in others]
print("| " + " | ".join(hdr) + " |")
print("|" + "|".join(["---"] + ["--:"] * (len(hdr) - 1)) + "|")
for w in workloads:
    g = cell[(w, "glibc")]
    if "fail" in g:
        gc = gf = "FAIL (%s)" % g["fail"]
    else:
        gc = "%.3f s" % g["cpu"]
        gf = "%d" % g["flt"]
    row = [w, gc] + [fmt_ratio(w, a, "cpu") for a in others] + \
          [gf] + [fmt_ratio(w, a, "flt") for a in others]
    print("| " + " | ".join(row) + " |")
row = ["**geomean**", "1.00"]
for key in ("cpu", "flt"):
    if key == "flt":
        row.append("1.00")
    for a in others:
        gm, n = geomean(a, key)
        row.append("n/a" if gm is None else
                   "%.2f%s" % (gm, "" if n == len(workloads) else " (%d/%d)" % (n, len(workloads))))
print("| " + " | ".join(row) + " |")
print()

# Throughput of the workloads that count their operations, and scaling:
# a workload X-2t beside X-1t does the same work per thread with twice the
# threads, so rate(2t) / rate(1t) is what a second thread adds.
rated = [w for w in workloads
         if any("fail" not in cell[(w, a)] and cell[(w, a)].get("ops") for a in allocs)]
def rate(w, a, key):
    c = cell.get((w, a), {})
    if "fail" in c or not c.get("ops") or c.get(key, 0) <= 0:
        return None
    return c["ops"] / c[key]
scaling = {}  # (family, alloc) -> rate(2t) / rate(1t), wall time
families = [w[:-3] for w in rated if w.endswith("-1t") and w[:-3] + "-2t" in rated]
for f in families:
    for a in allocs:
        r1, r2 = rate(f + "-1t", a, "time"), rate(f + "-2t", a, "time")
        scaling[(f, a)] = r2 / r1 if r1 and r2 else None
if rated:
    print("Throughput: million operations (a malloc and a free each) per second of wall time,"
          " and per CPU-second (user + system) after the slash; higher is better.")
    print()
    print("| workload | " + " | ".join(allocs) + " |")
    print("|---|" + "--:|" * len(allocs))
    for w in rated:
        row = [w]
        for a in allocs:
            rw, rc = rate(w, a, "time"), rate(w, a, "cpu")
            row.append("FAIL" if rw is None else "%.1f / %s" % (rw / 1e6, "-" if rc is None else "%.1f" % (rc / 1e6)))
        print("| " + " | ".join(row) + " |")
    for f in families:
        row = ["**scaling %s** (2t/1t, wall)" % f]
        for a in allocs:
            v = scaling[(f, a)]
            row.append("n/a" if v is None else "%.2f" % v)
        print("| " + " | ".join(row) + " |")
    print()

if "kmem" not in allocs:
    print("kmem: not measured (libkmem-malloc.so missing, not loading, or not selected).")
else:
    slower = []
    for w in workloads:
        r = ratio(w, "kmem", "time")
        if r is None or r >= 1.0:
            slower.append("%s %s" % (w, "FAIL" if r is None else "%.2f" % r))
    print("- kmem faster than glibc on every workload: %s" %
          ("yes" if not slower else "no (not faster: %s)" % ", ".join(slower)))
    # kmem against each peer over the workloads both completed
    def common_geo(a, b):
        ws = [w for w in workloads if ratio(w, a, "time") and ratio(w, b, "time")]
        if not ws:
            return None, None, 0
        g = lambda x: math.exp(sum(math.log(ratio(w, x, "time")) for w in ws) / len(ws))
        return g(a), g(b), len(ws)
    pg = []
    for p in peers:
        kg, peg, n = common_geo("kmem", p)
        if kg is not None:
            pg.append((peg, p, kg, n))
    if not pg:
        print("- kmem within 10%% of the best peer on the geomean time: n/a (%s)" %
              ("no peer measured" if not peers else "no workload completed by kmem and a peer"))
    else:
        best, bp, kg, n = min(pg)
        print("- kmem within 10%% of the best peer on the geomean time: %s "
              "(kmem %.2f, best peer %s %.2f: kmem/best = %.2f%s)" %
              ("yes" if kg <= 1.10 * best else "no", kg, bp, best, kg / best,
               "" if n == len(workloads) else
               "; over the %d of %d workloads both completed" % (n, len(workloads))))
    above = []
    for w in workloads:
        r = ratio(w, "kmem", "rss")
        if r is None or r > 1.0:
            above.append("%s %s" % (w, "FAIL" if r is None else "%.2f" % r))
    print("- kmem peak RSS <= glibc on every workload: %s" %
          ("yes" if not above else "no (above: %s)" % ", ".join(above)))
if "kmem" in allocs and families:
    for f in families:
        k = scaling[(f, "kmem")]
        je = scaling.get((f, "jemalloc"))
        print("- kmem two threads faster than one on %s: %s%s" % (
            f, "n/a" if k is None else ("yes" if k > 1.0 else "no"),
            "" if k is None else " (scaling %.2f%s)" % (
                k, "" if je is None else "; jemalloc %.2f: %s" % (
                    je, "at least jemalloc's" if k >= je else "below jemalloc's"))))
if "kmem" in allocs and "kmem-base" in allocs:
    for key, what in (("time", "time"), ("rss", "peak RSS")):
        ws = [w for w in workloads if ratio(w, "kmem", key) and ratio(w, "kmem-base", key)]
        if ws:
            per = ["%s %.2f" % (w, ratio(w, "kmem", key) / ratio(w, "kmem-base", key)) for w in ws]
            gm = math.exp(sum(math.log(ratio(w, "kmem", key) / ratio(w, "kmem-base", key))
                              for w in ws) / len(ws))
            print("- kmem / kmem-base %s: geomean %.2f (%s)" % (what, gm, ", ".join(per)))
    for key, what in (("cpu", "CPU time"), ("flt", "minor faults")):
        ws = [w for w in workloads if ratio(w, "kmem", key) and ratio(w, "kmem-base", key)]
        if ws:
            per = ["%s %.2f" % (w, ratio(w, "kmem", key) / ratio(w, "kmem-base", key)) for w in ws]
            gm = math.exp(sum(math.log(ratio(w, "kmem", key) / ratio(w, "kmem-base", key))
                              for w in ws) / len(ws))
            print("- kmem / kmem-base %s: geomean %.2f (%s)" % (what, gm, ", ".join(per)))
sys.exit(1 if failed else 0)
EOF
if [ $failures -gt 0 ] || [ $status -ne 0 ]; then
	exit 1
fi
