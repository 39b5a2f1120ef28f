#!/usr/bin/env python3
"""compare.py - variants x workloads, interleaved repetitions, one table.

A variant is a way to run the workloads: a kmem heap configuration or policy
set for `kmem replay` (kmem:OPTIONS), or a malloc: the process's (glibc), or
one preloaded with LD_PRELOAD (the drop-in or a peer). A workload is one of:

  TRACE               a trace file, run as `kmem replay --json --no-verify
                      --speed-reps 1 [OPTIONS] TRACE` (a malloc variant
                      replays through --malloc);
  gbench:BIN[:REGEX]  a Google Benchmark binary (bench/bench-*), run with
                      --benchmark_format=json [--benchmark_filter=REGEX]
                      under the variant's LD_PRELOAD; each benchmark it
                      reports is a row of its own;
  prog:COMMAND        a program (COMMAND split as the shell would, not run
                      by one), under the variant's LD_PRELOAD;
  wl:NAME ARGS        prog: for a drop-in workload program of bench/malloc
                      (wl:larson 2 3 100k runs BUILD/bench/malloc/wl-larson).

kmem:OPTIONS variants apply to traces only; malloc variants to every kind.
A workload's baseline is -b's variant (default: the first), or, where that
one does not apply, the first variant that does. Runs are interleaved:
repetition r runs every workload under every variant, the variants' order
rotated by r, so a slow phase of a shared machine spreads over all
variants instead of hitting one. A program whose exit status is not 0, or
that prints a `checksum=` different from another variant's, stops the run.

Measures, per run. Traces (the JSON of kmem replay):
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
Benchmarks: time (real time, ns per iteration), cpu (CPU time, ns per
iteration), rss (the binary's peak RSS, KiB, over all its benchmarks).
Programs: time (wall seconds), cpu (user + system seconds), rss (peak RSS,
KiB: wait4's ru_maxrss through bench/malloc/runmeasure, the largest of
the program and the children it waited for), and with --callgrind instr (the program's instructions,
valgrind --tool=callgrind, one run per variant; children not followed).
Without -m: net,rss,held for traces, time,cpu,rss for benchmarks and
programs; with -m, those of the list that a kind has.

Statistics: per workload, variant and measure the median over the
repetitions; the ratio of each median to the baseline's; and a two-sided
Mann-Whitney U test of the variant's samples against the baseline's, with
the normal approximation, the tie correction and a continuity correction
(what Google Benchmark's compare.py reports through scipy's mannwhitneyu;
no scipy needed here). As there, with fewer than 9 repetitions a side the
p-value is rough: the table marks it with '~'. p < alpha (0.05) is marked
'*'.

Output: the table on stdout; --json FILE and --csv FILE get every sample and
every summary row (workload, kind, variant, measure, ...).

usage: scripts/compare.py [-v NAME=SPEC]... [-b NAME] [-r N] [-m MEASURES]
                          [--callgrind] [--gbench-args ARGS] [-t SECS]
                          [--json F] [--csv F] WORKLOAD...
  SPEC   kmem:OPTIONS      kmem replay with OPTIONS (split on blanks), e.g.
                           "kmem:--heap dropin --discipline fifo"
         malloc            the process's malloc (glibc)
         preload:LIB       --malloc under LD_PRELOAD=LIB
         dropin, jemalloc, tcmalloc, mimalloc
                           --malloc under the drop-in (build/malloc) or the
                           Debian peer's library (scripts/setup.sh)
  default variants: kmem=kmem: (the default heap) and dropin-heap=kmem:--heap dropin
Environment: KMEM (the kmem binary, default build/tools/kmem), KMEM_MALLOC
(the drop-in library, default build/malloc/libkmem-malloc.so), KMEM_BUILD
(where wl: finds bench/malloc, default build), RUNMEASURE (the program that
runs and measures benchmarks and programs, default
KMEM_BUILD/bench/malloc/runmeasure).
"""
import argparse
import csv
import glob
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEASURES = ("net", "heap", "replay", "rss", "held", "instr", "time", "cpu")
KIND_MEASURES = {  # what each kind of workload can measure, in table order
    "trace": ("net", "heap", "replay", "rss", "held", "instr"),
    "gbench": ("time", "cpu", "rss"),
    "prog": ("time", "cpu", "rss", "instr"),
}
KIND_DEFAULT = {"trace": ("net", "rss", "held"), "gbench": ("time", "cpu", "rss"),
                "prog": ("time", "cpu", "rss")}
KIND_TITLE = {"trace": "trace", "gbench": "benchmark", "prog": "program"}
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


def parse_variant_spec(text, kmem_malloc):
    if "=" not in text:
        sys.exit("compare.py: a variant is NAME=SPEC: %r" % text)
    name, spec = text.split("=", 1)
    if spec.startswith("kmem:"):
        return {"name": name, "spec": spec, "opts": shlex.split(spec[5:]), "preload": None,
                "kinds": ("trace",)}
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


def parse_variant(text, kmem_malloc):
    v = parse_variant_spec(text, kmem_malloc)
    v.setdefault("kinds", ("trace", "gbench", "prog"))
    if v["preload"] and not os.path.isfile(v["preload"]):
        sys.exit("compare.py: %s: %s not found" % (v["name"], v["preload"]))
    return v


def parse_workload(text, build):
    """A workload argument -> {"spec", "kind", "name", ...}."""
    if text.startswith("gbench:"):
        rest = text[7:]
        binary, _, regex = rest.partition(":")
        if not os.access(binary, os.X_OK):
            sys.exit("compare.py: %s: not an executable benchmark binary" % binary)
        return {"spec": text, "kind": "gbench", "name": os.path.basename(binary),
                "binary": binary, "filter": regex}
    if text.startswith("prog:") or text.startswith("wl:"):
        try:
            argv = shlex.split(text.split(":", 1)[1])
        except ValueError as e:
            sys.exit("compare.py: %s: %s" % (text, e))
        if not argv:
            sys.exit("compare.py: %s: no command" % text)
        if text.startswith("wl:"):
            argv[0] = os.path.join(build, "bench", "malloc", "wl-" + argv[0])
            if not os.access(argv[0], os.X_OK):
                sys.exit("compare.py: %s: %s not built" % (text, argv[0]))
        return {"spec": text, "kind": "prog", "name": text.split(":", 1)[1].strip(), "argv": argv}
    if not os.path.isfile(text):
        sys.exit("compare.py: %s: no such trace (or a gbench:, prog: or wl: workload)" % text)
    return {"spec": text, "kind": "trace", "name": text}


RUNMEASURE = [None]  # bench/malloc/runmeasure, set in main()


def run_measured(argv, variant, timeout):
    """Run argv with the variant's LD_PRELOAD (and no other); -> (stdout,
    stderr, status, wall s, cpu s, peak RSS KiB), status "exit:N",
    "signal:N" or "timeout". Through bench/malloc/runmeasure, which forks
    the program from a small process: a child of this Python process would
    start from Python's RSS (Linux counts the peak of the memory image an
    exec replaces), and so report at least Python's."""
    with tempfile.TemporaryDirectory() as tmp:
        rep = os.path.join(tmp, "m")
        edit = ["-e", "LD_PRELOAD=" + variant["preload"]] if variant["preload"] else ["-u", "LD_PRELOAD"]
        cmd = [RUNMEASURE[0], "-o", rep, "-t", str(int(math.ceil(timeout)))] + edit + ["--"] + argv
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        res = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out, err = res.stdout.decode(errors="replace"), res.stderr.decode(errors="replace")
        try:
            with open(rep) as f:
                fields = dict(kv.split("=", 1) for kv in f.read().split())
        except (OSError, ValueError):
            sys.exit("compare.py: %s could not be run: %s" % (" ".join(argv), err.strip()[-2000:]))
        return (out, err, fields["status"], float(fields["wall_s"]),
                float(fields["user_s"]) + float(fields["sys_s"]), int(fields["maxrss_kib"]))


def run_gbench(w, variant, extra, timeout):
    """-> {benchmark name: {time, cpu, rss}}"""
    argv = [w["binary"], "--benchmark_format=json"] + extra
    if w["filter"]:
        argv.append("--benchmark_filter=" + w["filter"])
    out, err, status, _wall, _cpu, rss = run_measured(argv, variant, timeout)
    if status != "exit:0":
        sys.exit("compare.py: %s under %s: %s: %s" % (" ".join(argv), variant["name"],
                                                     status, err.strip()[-2000:]))
    try:
        d = json.loads(out)
    except ValueError:
        sys.exit("compare.py: %s: no JSON on its output" % " ".join(argv))
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    res = {}
    for b in d.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or "real_time" not in b:
            continue
        k = scale.get(b.get("time_unit", "ns"), 1.0)
        res[b["name"]] = {"time": b["real_time"] * k, "cpu": b["cpu_time"] * k, "rss": rss}
    if not res:
        sys.exit("compare.py: %s: no benchmark ran (filter %r)" % (w["binary"], w["filter"]))
    return res


def checksum_of(out):
    for line in out.splitlines():
        if "checksum=" in line:
            return line.split("checksum=", 1)[1].split()[0]
    return None


def run_prog(w, variant, timeout):
    """-> ({time, cpu, rss}, checksum or None)"""
    out, err, status, wall, cpu, rss = run_measured(w["argv"], variant, timeout)
    if status != "exit:0":
        sys.exit("compare.py: %s under %s: %s: %s" % (w["spec"], variant["name"],
                                                     status, err.strip()[-2000:]))
    for line in err.splitlines():
        if "cannot be preloaded" in line or "cannot open shared object" in line:
            sys.exit("compare.py: %s under %s: the preload did not load: %s" % (w["spec"], variant["name"], line))
    return {"time": wall, "cpu": cpu, "rss": rss}, checksum_of(out)


def callgrind_prog(w, variant, timeout):
    """The program's instructions (callgrind's total), children not followed."""
    with tempfile.TemporaryDirectory() as tmp:
        outf = os.path.join(tmp, "cg.out")
        argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + outf] + w["argv"]
        _out, err, status, _wall, _cpu, _rss = run_measured(argv, variant, timeout * 50)
        if status != "exit:0":
            sys.exit("compare.py: callgrind run of %s under %s: %s: %s" % (
                w["spec"], variant["name"], status, err[-2000:]))
        with open(outf) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return float(line.split()[1])
    return float("nan")


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
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.4g" % v


def main():
    ap = argparse.ArgumentParser(description="variants x workloads (traces, benchmarks, programs), "
                                 "interleaved, with statistics",
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("-v", "--variant", action="append", default=[], metavar="NAME=SPEC")
    ap.add_argument("-b", "--baseline", metavar="NAME")
    ap.add_argument("-r", "--reps", type=int, default=5)
    ap.add_argument("-m", "--measures",
                    help="comma-separated, of %s (default per kind: see below)" % ",".join(MEASURES))
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--callgrind", action="store_true", help="add instr: instructions per op (traces) "
                    "or per run (programs)")
    ap.add_argument("--gbench-args", default="", metavar="ARGS",
                    help="more arguments for gbench: binaries, e.g. --benchmark_min_time=0.05")
    ap.add_argument("-t", "--timeout", type=float, default=600, metavar="SECS",
                    help="kill a benchmark or program run after SECS (default 600)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--csv", metavar="FILE")
    ap.add_argument("workloads", nargs="+", metavar="WORKLOAD")
    a = ap.parse_args()
    kmem = os.environ.get("KMEM") or os.path.join(ROOT, "build", "tools", "kmem")
    kmem_malloc = os.environ.get("KMEM_MALLOC") or os.path.join(ROOT, "build", "malloc", "libkmem-malloc.so")
    build = os.environ.get("KMEM_BUILD") or os.path.join(ROOT, "build")
    if a.measures is not None:
        asked = [m for m in a.measures.split(",") if m]
        for m in asked:
            if m not in MEASURES or m == "instr":
                sys.exit("compare.py: unknown measure %r (instr comes with --callgrind)" % m)
        if not asked:
            sys.exit("compare.py: -m names no measure")
    if a.reps < 1:
        sys.exit("compare.py: --reps must be at least 1")
    if a.timeout <= 0:
        sys.exit("compare.py: --timeout must be positive")
    variants = [parse_variant(v, kmem_malloc) for v in
                (a.variant or ["kmem=kmem:", "dropin-heap=kmem:--heap dropin"])]
    names = [v["name"] for v in variants]
    if len(set(names)) != len(names):
        sys.exit("compare.py: two variants named alike")
    base = a.baseline or names[0]
    if base not in names:
        sys.exit("compare.py: no variant %r to be the baseline" % base)
    workloads = [parse_workload(w, build) for w in a.workloads]
    if any(w["kind"] == "trace" for w in workloads) and not os.access(kmem, os.X_OK):
        sys.exit("compare.py: %s: not built" % kmem)
    if a.callgrind and any(w["kind"] != "gbench" for w in workloads) and shutil.which("valgrind") is None:
        sys.exit("compare.py: --callgrind: valgrind is not installed")
    gbench_extra = shlex.split(a.gbench_args)
    RUNMEASURE[0] = os.environ.get("RUNMEASURE") or os.path.join(build, "bench", "malloc", "runmeasure")
    if any(w["kind"] != "trace" for w in workloads) and not os.access(RUNMEASURE[0], os.X_OK):
        sys.exit("compare.py: %s: not built (benchmarks and programs are measured through it; "
                 "RUNMEASURE names another)" % RUNMEASURE[0])

    def measures_of(kind):
        if a.measures is None:
            ms = list(KIND_DEFAULT[kind])
        else:
            ms = [m for m in a.measures.split(",") if m and m in KIND_MEASURES[kind]]
        if a.callgrind and "instr" in KIND_MEASURES[kind]:
            ms.append("instr")
        return ms

    def applies(v, w):
        return w["kind"] in v["kinds"]

    def baseline_of(w):
        vb = [v for v in variants if v["name"] == base][0]
        if applies(vb, w):
            return base
        ok = [v["name"] for v in variants if applies(v, w)]
        return ok[0] if ok else None

    for w in workloads:
        if not any(applies(v, w) for v in variants):
            sys.exit("compare.py: no variant runs %s (kmem: variants run traces only; "
                     "add malloc, dropin or a peer)" % w["spec"])

    samples = []  # {workload, kind, variant, rep, measure: value...}
    rows_of = {}  # workload spec -> its row names, in order (a gbench binary has several)
    sums = {}     # program spec -> {checksum: variant}
    for r in range(a.reps):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for w in workloads:
            for v in order:
                if not applies(v, w):
                    continue
                if w["kind"] == "trace":
                    got = {w["name"]: replay(kmem, v, w["name"])}
                elif w["kind"] == "gbench":
                    got = {"%s/%s" % (w["name"], b): m
                           for b, m in run_gbench(w, v, gbench_extra, a.timeout).items()}
                else:
                    m, cs = run_prog(w, v, a.timeout)
                    if cs is not None:
                        seen = sums.setdefault(w["spec"], {})
                        seen.setdefault(cs, v["name"])
                        if len(seen) > 1:
                            sys.exit("compare.py: %s printed different checksums: %s" % (
                                w["spec"], ", ".join("%s under %s" % kv for kv in seen.items())))
                    got = {w["name"]: m}
                names_w = rows_of.setdefault(w["spec"], [])
                for n, m in got.items():
                    if n not in names_w:
                        names_w.append(n)
                    s = {k: x for k, x in m.items()}
                    s.update({"workload": n, "kind": w["kind"], "variant": v["name"], "rep": r})
                    samples.append(s)
    if a.callgrind:
        for w in workloads:
            if w["kind"] == "gbench":
                continue
            for v in variants:
                if not applies(v, w):
                    continue
                ir = callgrind(kmem, v, w["name"]) if w["kind"] == "trace" else callgrind_prog(w, v, a.timeout)
                for s in samples:
                    if s["workload"] == w["name"] and s["variant"] == v["name"]:
                        s["instr"] = ir

    rows = []
    for w in workloads:
        wbase = baseline_of(w)
        for n in rows_of.get(w["spec"], []):
            for v in names:
                if not applies([x for x in variants if x["name"] == v][0], w):
                    continue
                for m in measures_of(w["kind"]):
                    xs = [s[m] for s in samples if s["workload"] == n and s["variant"] == v and m in s]
                    bs = [s[m] for s in samples if s["workload"] == n and s["variant"] == wbase and m in s]
                    med, bmed = median(xs), median(bs)
                    ratio = med / bmed if xs and bs and bmed else float("nan")
                    if m == "instr" or v == wbase or not xs or not bs:
                        u, p = float("nan"), float("nan")
                    else:
                        u, p = mann_whitney(xs, bs)
                    rows.append({"workload": n, "kind": w["kind"], "variant": v, "baseline": wbase,
                                 "measure": m, "n": len(xs), "median": med,
                                 "min": min(xs) if xs else float("nan"),
                                 "max": max(xs) if xs else float("nan"),
                                 "ratio": ratio, "u": u, "p": p})

    for w in workloads:
        wbase = baseline_of(w)
        ms = measures_of(w["kind"])
        for n in rows_of.get(w["spec"], []):
            print("%s: %s  (%d repetitions, interleaved; baseline %s; p: two-sided Mann-Whitney U)"
                  % (KIND_TITLE[w["kind"]], n, a.reps, wbase))
            head = "%-16s" % "variant"
            for m in ms:
                head += " %12s %7s %8s" % (m, "ratio", "p")
            print(head)
            for v in names:
                vr = [x for x in rows if x["workload"] == n and x["variant"] == v]
                if not vr:
                    continue
                line = "%-16s" % v
                for m in ms:
                    row = [x for x in vr if x["measure"] == m][0]
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
    print("medians; ratio = median / the baseline's; * p < %g; ~ fewer than 9 repetitions (rough p)" % a.alpha)
    kinds = {w["kind"] for w in workloads}
    if "trace" in kinds:
        print("traces: net: ns/op of the heap less the harness; rss: KiB of peak RSS growth; held: peak "
              "bytes held by a kmem heap; instr: instructions/op under callgrind")
    if "gbench" in kinds:
        print("benchmarks: time, cpu: ns per iteration (real, CPU); rss: the binary's peak RSS, KiB")
    if "prog" in kinds:
        print("programs: time: wall s; cpu: user + system s; rss: peak RSS, KiB; instr: instructions "
              "under callgrind")

    def clean(x):
        return None if isinstance(x, float) and math.isnan(x) else x

    if a.json:
        with open(a.json, "w") as f:
            json.dump({"baseline": base, "reps": a.reps, "alpha": a.alpha,
                       "variants": [{"name": v["name"], "spec": v["spec"]} for v in variants],
                       "workloads": [{"spec": w["spec"], "kind": w["kind"],
                                      "rows": rows_of.get(w["spec"], [])} for w in workloads],
                       "samples": [{k: clean(x) for k, x in s.items()} for s in samples],
                       "summary": [{k: clean(x) for k, x in r.items()} for r in rows]}, f, indent=1)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["workload", "kind", "variant", "baseline", "measure", "n", "median", "min", "max",
                        "ratio", "u", "p"])
            for r in rows:
                w.writerow([r["workload"], r["kind"], r["variant"], r["baseline"], r["measure"], r["n"]] +
                           ["" if clean(r[k]) is None else r[k] for k in ("median", "min", "max", "ratio", "u", "p")])


if __name__ == "__main__":
    main()
