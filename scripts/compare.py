#!/usr/bin/env python3
"""compare.py - variants x workloads, interleaved repetitions, one table.

Each run is `kmem replay --json --no-verify --speed-reps 1 [OPTIONS] TRACE`:
a variant is a set of replay options (a kmem heap configuration or policy),
or a malloc replayed through `--malloc` (the process's, or a preloaded one:
the drop-in or a peer). Runs are interleaved: repetition r runs every
workload under every variant, the variants' order rotated by r, so a slow
phase of a shared machine spreads over all variants instead of hitting one.

Measures, per run (the JSON of kmem replay):
  net     the speed pass's ns per op, the harness (a null allocator's walk
          over the same decoded ops) subtracted: the allocator's speed;
  heap    the speed pass's ns per op, harness included;
  replay  the measured replay's ns per call (id table, tags off,
          fragmentation figures: mostly the harness);
  rss     the process's peak RSS growth over the replay, KiB (the peak after
          minus the peak before; the speed pass comes after and is not in it);
  held    kmem heaps only: the peak bytes held (frames taken from the buddy).
  instr   with --callgrind: instructions per op of the speed pass's heap walk
          less its null walk (one run under callgrind per variant and
          workload, not repeated: the count is deterministic).

Statistics: per workload, variant and measure the median over the
repetitions; the ratio of each median to the baseline's (the first variant,
or -b); and a two-sided Mann-Whitney U test of the variant's samples against
the baseline's, with the normal approximation, the tie correction and a
continuity correction (what Google Benchmark's compare.py reports through
scipy's mannwhitneyu; no scipy needed here). As there, with fewer than 9
repetitions a side the p-value is rough: the table marks it with '~'.
p < alpha (0.05) is marked '*'.

Output: the table on stdout; --json FILE and --csv FILE get every sample and
every summary row.

usage: scripts/compare.py [-v NAME=SPEC]... [-b NAME] [-r N] [-m MEASURES]
                          [--callgrind] [--json F] [--csv F] TRACE...
  SPEC   kmem:OPTIONS      kmem replay with OPTIONS (split on blanks), e.g.
                           "kmem:--heap dropin --discipline fifo"
         malloc            the process's malloc (glibc)
         preload:LIB       --malloc under LD_PRELOAD=LIB
         dropin, jemalloc, tcmalloc, mimalloc
                           --malloc under the drop-in (build/malloc) or the
                           Debian peer's library (scripts/setup.sh)
  default variants: kmem=kmem: (the default heap) and dropin-heap=kmem:--heap dropin
Environment: KMEM (the kmem binary, default build/tools/kmem), KMEM_MALLOC
(the drop-in library, default build/malloc/libkmem-malloc.so).
"""
import argparse
import csv
import glob
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEASURES = ("net", "heap", "replay", "rss", "held", "instr")
PEERS = {
    "jemalloc": "/usr/lib/*/libjemalloc.so.2",
    "tcmalloc": "/usr/lib/*/libtcmalloc_minimal.so.4",
    "mimalloc": "/usr/lib/*/libmimalloc.so.2*",
}


def mann_whitney(a, b):
    """Two-sided Mann-Whitney U test: (U of a, p). Normal approximation
    with the tie correction and a continuity correction (scipy's
    mannwhitneyu, method='asymptotic', use_continuity=True). p is 1.0 when
    either side is empty or every value is the same."""
    n1, n2 = len(a), len(b)
    if not n1 or not n2:
        return float("nan"), 1.0
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2.0 + 1.0
        t = j - i + 1
        ties += t * t * t - t
        i = j + 1
    r1 = sum(r for r, (_, side) in zip(ranks, pooled) if side == 0)
    u1 = r1 - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    mu = n1 * n2 / 2.0
    var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return u1, 1.0
    z = (abs(u1 - mu) - 0.5) / math.sqrt(var)
    if z < 0:
        z = 0.0
    p = math.erfc(z / math.sqrt(2.0))
    return u1, min(1.0, p)


def median(v):
    s = sorted(v)
    if not s:
        return float("nan")
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2.0


def parse_variant(text, kmem_malloc):
    if "=" not in text:
        sys.exit("compare.py: a variant is NAME=SPEC: %r" % text)
    name, spec = text.split("=", 1)
    if spec.startswith("kmem:"):
        return {"name": name, "spec": spec, "opts": shlex.split(spec[5:]), "preload": None}
    if spec == "malloc":
        return {"name": name, "spec": spec, "opts": ["--malloc"], "preload": None}
    if spec.startswith("preload:"):
        return {"name": name, "spec": spec, "opts": ["--malloc"], "preload": spec[8:]}
    if spec == "dropin":
        return {"name": name, "spec": spec, "opts": ["--malloc"], "preload": kmem_malloc}
    if spec in PEERS:
        libs = sorted(glob.glob(PEERS[spec]))
        if not libs:
            sys.exit("compare.py: %s is not installed (scripts/setup.sh)" % spec)
        return {"name": name, "spec": spec, "opts": ["--malloc"], "preload": libs[0]}
    sys.exit("compare.py: unknown variant spec %r" % spec)


def replay(kmem, variant, trace):
    env = dict(os.environ)
    if variant["preload"]:
        env["LD_PRELOAD"] = variant["preload"]
    cmd = [kmem, "replay", "--json", "--no-verify", "--speed-reps", "1"] + variant["opts"] + [trace]
    res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True)
    if res.returncode != 0 or not res.stdout.strip():
        sys.exit("compare.py: %s exited %d: %s" % (" ".join(shlex.quote(c) for c in cmd),
                                                    res.returncode, res.stderr.strip()))
    d = json.loads(res.stdout.splitlines()[-1])
    out = {
        "net": d["net_ns_per_op"],
        "heap": d["heap_ns_per_op"],
        "replay": d["ns_per_call"],
        "rss": d["max_rss_kib"] - d["max_rss_before_kib"],
    }
    if "held_max" in d:
        out["held"] = d["held_max"]
    return out


def callgrind(kmem, variant, trace):
    """Instructions per op of the heap walk less the null walk's (it runs
    twice: a warm-up and the timed run)."""
    env = dict(os.environ)
    if variant["preload"]:
        env["LD_PRELOAD"] = variant["preload"]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
               "--toggle-collect=speed_walk_heap*", "--toggle-collect=speed_walk_null*",
               kmem, "replay", "--json", "--no-verify", "--speed-reps", "1"] + variant["opts"] + [trace]
        res = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
        if res.returncode != 0:
            sys.exit("compare.py: callgrind run failed: %s" % res.stderr[-2000:])
        ops = json.loads(res.stdout.splitlines()[-1])["speed_ops"]
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True).stdout
    heap = null = None
    for line in ann.splitlines():
        fields = line.split()
        if not fields or not fields[0].replace(",", "").isdigit():
            continue
        count = int(fields[0].replace(",", ""))
        if "speed_walk_heap" in line and heap is None:
            heap = count
        elif "speed_walk_null" in line and null is None:
            null = count
    if heap is None or not ops:
        return float("nan")
    return (heap - (null or 0) / 2.0) / ops


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v) >= 1e5:
        return "%.0f" % v
    return "%.1f" % v


def main():
    ap = argparse.ArgumentParser(description="kmem replay variants x traces, interleaved, with statistics",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("-v", "--variant", action="append", default=[], metavar="NAME=SPEC")
    ap.add_argument("-b", "--baseline", metavar="NAME")
    ap.add_argument("-r", "--reps", type=int, default=5)
    ap.add_argument("-m", "--measures", default="net,rss,held",
                    help="comma-separated, of %s (default net,rss,held)" % ",".join(MEASURES))
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--callgrind", action="store_true", help="add instr: instructions per op")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--csv", metavar="FILE")
    ap.add_argument("traces", nargs="+", metavar="TRACE")
    a = ap.parse_args()
    kmem = os.environ.get("KMEM") or os.path.join(ROOT, "build", "tools", "kmem")
    kmem_malloc = os.environ.get("KMEM_MALLOC") or os.path.join(ROOT, "build", "malloc", "libkmem-malloc.so")
    if not os.access(kmem, os.X_OK):
        sys.exit("compare.py: %s: not built" % kmem)
    measures = [m for m in a.measures.split(",") if m]
    for m in measures:
        if m not in MEASURES or m == "instr":
            sys.exit("compare.py: unknown measure %r (instr comes with --callgrind)" % m)
    if a.callgrind:
        measures.append("instr")
    if a.reps < 1:
        sys.exit("compare.py: --reps must be at least 1")
    variants = [parse_variant(v, kmem_malloc) for v in
                (a.variant or ["kmem=kmem:", "dropin-heap=kmem:--heap dropin"])]
    names = [v["name"] for v in variants]
    if len(set(names)) != len(names):
        sys.exit("compare.py: two variants named alike")
    base = a.baseline or names[0]
    if base not in names:
        sys.exit("compare.py: no variant %r to be the baseline" % base)

    samples = []  # {trace, variant, rep, measure: value...}
    for r in range(a.reps):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for t in a.traces:
            for v in order:
                s = replay(kmem, v, t)
                s.update({"trace": t, "variant": v["name"], "rep": r})
                samples.append(s)
    if a.callgrind:
        for t in a.traces:
            for v in variants:
                ir = callgrind(kmem, v, t)
                for s in samples:
                    if s["trace"] == t and s["variant"] == v["name"]:
                        s["instr"] = ir

    rows = []
    for t in a.traces:
        for v in names:
            for m in measures:
                xs = [s[m] for s in samples if s["trace"] == t and s["variant"] == v and m in s]
                bs = [s[m] for s in samples if s["trace"] == t and s["variant"] == base and m in s]
                med, bmed = median(xs), median(bs)
                ratio = med / bmed if xs and bs and bmed else float("nan")
                if m == "instr" or v == base or not xs or not bs:
                    u, p = float("nan"), float("nan")
                else:
                    u, p = mann_whitney(xs, bs)
                rows.append({"trace": t, "variant": v, "measure": m, "n": len(xs), "median": med,
                             "min": min(xs) if xs else float("nan"),
                             "max": max(xs) if xs else float("nan"),
                             "ratio": ratio, "u": u, "p": p})

    for t in a.traces:
        print("trace: %s  (%d repetitions, interleaved; baseline %s; p: two-sided Mann-Whitney U)"
              % (t, a.reps, base))
        head = "%-16s" % "variant"
        for m in measures:
            head += " %12s %7s %8s" % (m, "ratio", "p")
        print(head)
        for v in names:
            line = "%-16s" % v
            for m in measures:
                row = [x for x in rows if x["trace"] == t and x["variant"] == v and x["measure"] == m][0]
                if row["n"] == 0:
                    line += " %12s %7s %8s" % ("-", "-", "")
                    continue
                p = row["p"]
                if math.isnan(p):
                    ptxt = ""
                else:
                    ptxt = "%s%.3f%s" % ("~" if a.reps < 9 else "", p, "*" if p < a.alpha else "")
                line += " %12s %7s %8s" % (fmt(row["median"]),
                                           "-" if math.isnan(row["ratio"]) else "%.3f" % row["ratio"],
                                           ptxt)
            print(line)
        print()
    print("medians; ratio = median / %s's; * p < %g; ~ fewer than 9 repetitions (rough p)" % (base, a.alpha))
    print("net: ns/op of the heap less the harness; rss: KiB of peak RSS growth; held: peak bytes "
          "held by a kmem heap; instr: instructions/op under callgrind")

    def clean(x):
        return None if isinstance(x, float) and math.isnan(x) else x

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"baseline": base, "reps": a.reps, "alpha": a.alpha,
                       "variants": [{"name": v["name"], "spec": v["spec"]} for v in variants],
                       "traces": a.traces, "measures": measures,
                       "samples": [{k: clean(x) for k, x in s.items()} for s in samples],
                       "summary": [{k: clean(x) for k, x in r.items()} for r in rows]}, f, indent=1)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["trace", "variant", "measure", "n", "median", "min", "max", "ratio", "u", "p"])
            for r in rows:
                w.writerow([r["trace"], r["variant"], r["measure"], r["n"]] +
                           ["" if clean(r[k]) is None else r[k] for k in ("median", "min", "max", "ratio", "u", "p")])


if __name__ == "__main__":
    main()
