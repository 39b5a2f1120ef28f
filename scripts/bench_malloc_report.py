#!/usr/bin/env python3
"""The report of scripts/bench-malloc.sh, from its measurements.

usage: bench_malloc_report.py RESULTS WORKLOADS MODE REPS ALLOC:LIB...

RESULTS has one line per run (a '#' line is a comment):
  workload allocator rep wall_s maxrss_kib status checksum trough_kib cpu_s ops minflt idle_kib
('-' where a workload does not report the field); WORKLOADS has the
workloads in order, one 'name|arguments' line each; the ALLOC:LIB words
name the allocators (glibc, the baseline, first). Prints the Markdown
tables (medians; glibc absolute, the others as ratios to glibc) and the
target lines; exits 1 if a run failed (crash, timeout, wrong checksum) or
an allocator has no run of a workload, else 0.
"""
import math
import sys


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def geo(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main(argv):
    results, workloads_file, mode, reps, runs = argv[1], argv[2], argv[3], argv[4], argv[5:]
    allocs = [r.split(":", 1)[0] for r in runs]
    workloads = [l.split("|")[0] for l in open(workloads_file) if l.strip()]
    others = [a for a in allocs if a != "glibc"]
    peers = [a for a in others if a not in ("kmem", "kmem-base")]

    runs_by = {}  # (workload, alloc) -> [(wall, rss_kib, status, checksum, trough, cpu, ops, minflt, idle)]
    for line in open(results):
        if line.startswith("#") or not line.strip():
            continue
        w, a, _rep, wall, rss, st, cs, tr, cpu, ops, flt, idle = line.split()
        runs_by.setdefault((w, a), []).append((float(wall), int(rss), st, cs, tr, float(cpu),
                                               None if ops == "-" else int(ops), int(flt), idle))

    failed = False
    cell = {}  # (w, a) -> dict(time, rss, noisy, trough, cpu, ops, flt, idle) or dict(fail)
    for w in workloads:
        ref = {r[3] for r in runs_by.get((w, "glibc"), []) if r[2] == "exit:0"}
        for a in allocs:
            rs = runs_by.get((w, a), [])
            bad = [r[2] for r in rs if r[2] != "exit:0"]
            sums = {r[3] for r in rs if r[2] == "exit:0"}
            if rs and not bad and (len(sums) > 1 or (a != "glibc" and ref and sums != ref)):
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

    def fmt_geomean(a, key):
        ok = [r for r in (ratio(w, a, key) for w in workloads) if r is not None and r > 0]
        if not ok:
            return "n/a"
        return "%.2f%s" % (geo(ok), "" if len(ok) == len(workloads) else " (%d/%d)" % (len(ok), len(workloads)))

    def table(keys, names, glibc_cells):
        """A table of two measures: glibc's absolute values, the others' ratios, a geomean row."""
        hdr = ["workload"]
        for key, name in zip(keys, names):
            hdr += ["glibc %s" % name] + ["%s %s" % (a, name) for a in others]
        print("| " + " | ".join(hdr) + " |")
        print("|" + "|".join(["---"] + ["--:"] * (len(hdr) - 1)) + "|")
        for w in workloads:
            g = cell[(w, "glibc")]
            row = [w]
            for key, gcell in zip(keys, glibc_cells):
                row.append("FAIL (%s)" % g["fail"] if "fail" in g else gcell(g))
                row += [fmt_ratio(w, a, key) for a in others]
            print("| " + " | ".join(row) + " |")
        row = ["**geomean**"]
        for key in keys:
            row += ["1.00"] + [fmt_geomean(a, key) for a in others]
        print("| " + " | ".join(row) + " |")
        print()

    print("Median of %s run(s), %s mode. glibc: absolute (wall seconds, peak RSS MiB);"
          " others: ratio to glibc, lower is better." % (reps, mode))
    print()
    table(("time", "rss"), ("time", "RSS"),
          (lambda g: "%.3f s%s" % (g["time"], "~" if g["noisy"] else ""),
           lambda g: "%.1f MiB" % (g["rss"] / 1024)))
    if any(c.get("noisy") for c in cell.values()):
        print("~: the repetitions spread over more than 10% of the median (noisy machine).")
    if any("fail" in c for c in cell.values()):
        print("FAIL: crashed (signal), timed out, exited non-zero, printed a wrong checksum or"
              " its LD_PRELOAD did not load; left out of the geometric mean (n/m: workloads counted).")
    for w, key, what in (("phases", "trough", "RSS kept after the live set fell to 10%"),
                         ("idle", "idle", "RSS at the end of the idle period")):
        if w in workloads:
            vals = [(a, cell[(w, a)].get(key)) for a in allocs]
            if any(v is not None for _, v in vals):
                print("%s, %s (MiB): %s" % (w, what, ", ".join(
                    "%s %s" % (a, "FAIL" if v is None else "%.1f" % (v / 1024)) for a, v in vals)))
    print()
    print("CPU time (user + sys) and minor page faults, medians: glibc absolute, others as ratios to glibc.")
    print()
    table(("cpu", "flt"), ("CPU", "faults"),
          (lambda g: "%.3f s" % g["cpu"], lambda g: "%d" % g["flt"]))

    # Throughput of the workloads that count their operations, and scaling:
    # a workload X-2t beside X-1t does the same work per thread with twice
    # the threads, so rate(2t) / rate(1t) is what a second thread adds.
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
                row.append("FAIL" if rw is None else
                           "%.1f / %s" % (rw / 1e6, "-" if rc is None else "%.1f" % (rc / 1e6)))
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
        pg = []  # kmem against each peer over the workloads both completed
        for p in peers:
            ws = [w for w in workloads if ratio(w, "kmem", "time") and ratio(w, p, "time")]
            if ws:
                pg.append((geo([ratio(w, p, "time") for w in ws]), p,
                           geo([ratio(w, "kmem", "time") for w in ws]), len(ws)))
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
        for key, what in (("time", "time"), ("rss", "peak RSS"), ("cpu", "CPU time"), ("flt", "minor faults")):
            ws = [w for w in workloads if ratio(w, "kmem", key) and ratio(w, "kmem-base", key)]
            if ws:
                rel = [ratio(w, "kmem", key) / ratio(w, "kmem-base", key) for w in ws]
                print("- kmem / kmem-base %s: geomean %.2f (%s)" % (
                    what, geo(rel), ", ".join("%s %.2f" % (w, r) for w, r in zip(ws, rel))))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
