#!/usr/bin/env python3
"""security.py - run the heap-misuse corpus (bench/security) under allocators
and classify each allocator's response.

Each program of bench/security/programs.txt commits one misuse (an overflow,
an underflow, a use after free, a double or invalid free, a realloc of a
freed block) and ends with one marker line on stdout if it got that far
(bench/security/sec.h). Each run is classified:

  caught    killed by a signal (SIGABRT, SIGSEGV, ...) or a nonzero exit
            before the marker: the program was stopped before it could use
            the misuse's effects
  reported  the marker, but something on stderr (the allocator's report), or
            an exit after the marker (noticed late, e.g. at exit)
  missed    the marker, exit 0, nothing on stderr
  timeout   still running after --timeout seconds (killed)
  n/a       the scenario does not exist in this process (NOT_APPLICABLE)
  error     the program could not set its scenario up (SETUP_FAILED), or
            ended without a marker and with status 0
  varies    with --repeat N, runs of the same program ended in different
            classes (e.g. an overflow past a mapping that reaches an
            unmapped page or not, as address-space layout randomisation
            places it)

Variants (positional arguments; default: glibc kmem mimalloc jemalloc scudo):
  glibc, kmem, mimalloc, jemalloc, scudo   the allocator alone (kmem:
            LD_PRELOAD of --kmem-lib; the others: their Debian library)
  NAME=VAR=VALUE[ VAR=VALUE...]            a variant of your own: NAME runs
            with these environment variables; in a value, @kmem, @mimalloc,
            @jemalloc and @scudo stand for the libraries' paths. Example:
            'kmem-harden=LD_PRELOAD=@kmem KMEM_HARDEN=1'
A variant whose library is missing is skipped with a note on stderr. The
programs run with the caller's environment minus LD_PRELOAD, GLIBC_TUNABLES,
SCUDO_OPTIONS and MALLOC_*, KMEM_*, MIMALLOC_* variables, plus the variant's.

Output: a table (program x variant: C caught, R reported, . missed,
T timeout, - n/a, E error, V varies), per-kind and per-variant summaries
("missed N (M with an effect)": M of the missed runs observed the misuse's
effect, effect= other than none: a corrupted neighbour, an aliased block, a
forged pointer, stale data), and with --csv/--json the runs with exit
status, effect and the first report line.

--expect FILE (the Meson test security-kmem): for each variant run, every
program FILE lists as caught or reported must still be caught or reported,
and none may time out that FILE does not list as timeout; exit 1 otherwise.
A program FILE lists as varies is not checked.
Programs now detected that FILE lists as missed are listed as improvements
(update FILE with --write-expect). --write-expect FILE writes the first
variant's outcomes in FILE's format.

Usage: scripts/security.py [options] [VARIANT...]     (python3, stdlib only)
Builds build/ first (meson setup if needed, then the corpus and
libkmem-malloc.so) unless --bindir is given. Exit status: 0, or 1 when an
--expect check failed, 2 on a usage or build error.
"""

import argparse
import concurrent.futures
import csv
import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, 'bench', 'security')
KINDS = ['overflow', 'underflow', 'uaf', 'double_free', 'invalid_free', 'realloc_freed']
CLASSES = ['caught', 'reported', 'missed', 'timeout', 'n/a', 'error', 'varies']
CODE = {'caught': 'C', 'reported': 'R', 'missed': '.', 'timeout': 'T', 'n/a': '-',
        'error': 'E', 'varies': 'V'}
DETECTED = ('caught', 'reported')
DEFAULT_VARIANTS = ['glibc', 'kmem', 'mimalloc', 'jemalloc', 'scudo']


def multiarch_dirs():
    dirs = []
    try:
        arch = subprocess.run(['gcc', '-print-multiarch'], capture_output=True,
                              text=True, check=False).stdout.strip()
        if arch:
            dirs.append('/usr/lib/' + arch)
    except OSError:
        pass
    return dirs + ['/usr/lib64', '/usr/lib', '/usr/local/lib']


def find_lib(names):
    for d in multiarch_dirs():
        for n in names:
            if os.path.isfile(os.path.join(d, n)):
                return os.path.join(d, n)
    return None


def find_scudo():
    """LLVM's Scudo, standalone flavour (Debian: libclang-rt-NN-dev), of the
    newest LLVM installed."""
    base = '/usr/lib'
    name = 'libclang_rt.scudo_standalone-%s.so' % os.uname().machine
    try:
        llvms = sorted((d for d in os.listdir(base) if re.fullmatch(r'llvm-\d+', d)),
                       key=lambda d: int(d[5:]), reverse=True)
    except OSError:
        return None
    for llvm in llvms:
        clang = os.path.join(base, llvm, 'lib', 'clang')
        for ver in sorted(os.listdir(clang), reverse=True) if os.path.isdir(clang) else []:
            lib = os.path.join(clang, ver, 'lib', 'linux', name)
            if os.path.isfile(lib):
                return lib
    return None


def library_paths(kmem_lib):
    return {
        'kmem': kmem_lib if kmem_lib and os.path.isfile(kmem_lib) else None,
        'mimalloc': find_lib(['libmimalloc.so.2', 'libmimalloc.so']),
        'jemalloc': find_lib(['libjemalloc.so.2', 'libjemalloc.so']),
        'scudo': find_scudo(),
    }


def parse_variant(arg, libs):
    """A variant argument -> (name, {VAR: VALUE}) or (name, None) when a
    library it needs is missing; raises ValueError on a bad argument."""
    if '=' not in arg:
        if arg == 'glibc':
            return arg, {}
        if arg in libs:
            return arg, ({'LD_PRELOAD': libs[arg]} if libs[arg] else None)
        raise ValueError('unknown variant %r (known: %s; or NAME=VAR=VALUE...)'
                         % (arg, ', '.join(DEFAULT_VARIANTS)))
    name, spec = arg.split('=', 1)
    if not re.fullmatch(r'[A-Za-z0-9_.+-]+', name):
        raise ValueError('bad variant name %r' % name)
    env = {}
    for word in shlex.split(spec):
        if '=' not in word:
            raise ValueError('variant %s: %r is not VAR=VALUE' % (name, word))
        var, value = word.split('=', 1)
        for lib, path in libs.items():
            if '@' + lib in value:
                if not path:
                    return name, None
                value = value.replace('@' + lib, path)
        env[var] = value
    return name, env


def read_programs(path):
    progs = []
    with open(path) as f:
        for line in f:
            line = line.split('#', 1)[0].split()
            if line:
                progs.append((line[0], line[1], line[2:]))
    return progs


def kind_of(name):
    for k in KINDS:
        if name.startswith(k + '_'):
            return k
    return name.split('_')[0]


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_one(exe, args, env, timeout):
    """Run one program; returns (class, status, effect, report)."""
    # the inherited environment without what changes an allocator's
    # behaviour (Meson's tests set MALLOC_PERTURB_): the variant says that
    full_env = {k: v for k, v in os.environ.items()
                if k not in ('LD_PRELOAD', 'GLIBC_TUNABLES', 'SCUDO_OPTIONS')
                and not k.startswith(('MALLOC_', 'KMEM_', 'MIMALLOC_'))}
    # glibc's fatal messages on stderr, not the terminal
    full_env['LIBC_FATAL_STDERR_'] = '1'
    full_env.update(env)
    proc = subprocess.Popen([exe] + args, env=full_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=no_core)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return 'timeout', 'timeout', '', ''
    rc = proc.returncode
    out = out.decode('utf-8', 'replace')
    err = err.decode('utf-8', 'replace')
    status = ('signal %s' % signal.Signals(-rc).name) if rc < 0 else 'exit %d' % rc
    report = next((ln.strip() for ln in err.splitlines() if ln.strip()), '')
    effect = ''
    lines = out.splitlines()
    if any(ln.startswith('SETUP_FAILED') for ln in lines):
        return 'error', status, '', report or next(ln for ln in lines if ln.startswith('SETUP'))
    if any(ln.startswith('NOT_APPLICABLE') for ln in lines) and rc == 0:
        return 'n/a', status, '', report
    marker = [ln for ln in lines if ln.startswith('NOT_CAUGHT')]
    if marker:
        m = re.search(r'effect=(\S+)', marker[-1])
        effect = m.group(1) if m else ''
        if rc == 0 and not err.strip():
            return 'missed', status, effect, ''
        return 'reported', status, effect, report
    if rc != 0:
        return 'caught', status, '', report
    return 'error', status, '', report or 'no marker and exit 0'


def build(builddir):
    """Configure builddir if needed, build the corpus and the drop-in."""
    log = []

    def step(cmd):
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        log.append(r.stdout + r.stderr)
        if r.returncode != 0:
            sys.stderr.write(''.join(log))
            sys.exit('security: %s failed' % ' '.join(cmd))

    if not os.path.isfile(os.path.join(builddir, 'build.ninja')):
        step(['meson', 'setup', builddir])
    rel = 'bench/security/'
    step(['ninja', '-C', builddir, 'malloc/libkmem-malloc.so'] +
         [rel + e for e in ('sec-linear', 'sec-uaf', 'sec-double-free',
                            'sec-invalid-free', 'sec-realloc-freed')])


def read_expect(path):
    exp = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            if len(words) != 2 or words[1] not in CLASSES:
                sys.exit('security: %s:%d: want "PROGRAM CLASS" (%s)'
                         % (path, n, ', '.join(CLASSES)))
            exp[words[0]] = words[1]
    return exp


def write_expect(path, variant, spec, progs, results):
    """FILE's format; a program the old FILE lists as varies stays varies
    (chance outcomes seldom show in one run)."""
    old = read_expect(path) if os.path.isfile(path) else {}
    with open(path, 'w') as f:
        f.write('# What kmem does today with each program of the heap-misuse corpus\n'
                '# (bench/security/README.md), variant %s: PROGRAM CLASS.\n'
                '# The Meson test security-%s fails when a program listed caught or\n'
                '# reported is no longer either, or one times out that is not listed\n'
                '# timeout; varies: not checked (the outcome is chance, e.g. a write past a\n'
                '# mapping reaches an unmapped page or another mapping, as address-space\n'
                '# layout randomisation places it). Regenerate when detection improves\n'
                '# (programs listed varies stay varies; edit by hand to drop one):\n'
                '#   scripts/security.py -r 20 --write-expect bench/security/%s \\\n'
                '#       %s\n'
                % (variant, variant, os.path.basename(path), shlex.quote(spec)))
        for name, _, _ in progs:
            cls = 'varies' if old.get(name) == 'varies' else results[(name, variant)][0]
            f.write('%-34s %s\n' % (name, cls))


def check_expect(exp, variants, progs, all_names, results):
    failures, better = [], []
    for name in sorted(set(exp) - set(all_names)):
        failures.append('%s: listed in the expectations, not in the corpus' % name)
    for v in variants:
        for name, _, _ in progs:
            if name not in exp:
                continue
            got = results[(name, v)]
            want = exp[name]
            if want in DETECTED and got[0] not in DETECTED:
                failures.append('%s under %s: %s (%s), expected %s'
                                % (name, v, got[0], got[1], want))
            elif got[0] == 'timeout' and want != 'timeout':
                failures.append('%s under %s: timeout, expected %s' % (name, v, want))
            elif want not in DETECTED + ('varies',) and got[0] in DETECTED:
                better.append('%s under %s: %s, listed %s' % (name, v, got[0], want))
    return failures, better


def combine(runs):
    """The runs of one program under one variant -> one result."""
    classes = [r[0] for r in runs]
    if len(set(classes)) == 1:
        return runs[0]
    seen = sorted(set(classes), key=CLASSES.index)
    return ('varies', ', '.join('%s %d/%d' % (c, classes.count(c), len(runs)) for c in seen),
            ' '.join(sorted({r[2] for r in runs if r[2]})),
            next((r[3] for r in runs if r[3]), ''))


def summarise(progs, variants, results):
    out = []
    width = max(len(p[0]) for p in progs)
    colw = max(3, max(len(v) for v in variants))
    out.append('%-*s  %s' % (width, 'program', ' '.join('%*s' % (colw, v) for v in variants)))
    for name, _, _ in progs:
        out.append('%-*s  %s' % (width, name, ' '.join(
            '%*s' % (colw, CODE[results[(name, v)][0]]) for v in variants)))
    out.append('(C caught, R reported, . missed, T timeout, - n/a, E error, V varies)')
    out.append('')
    out.append('per kind, caught+reported of programs:')
    kinds = []
    for name, _, _ in progs:
        if kind_of(name) not in kinds:
            kinds.append(kind_of(name))
    kw = max(len(k) for k in kinds + ['total'])
    cw = max(colw, 7)
    out.append('%-*s  %s' % (kw, 'kind', ' '.join('%*s' % (cw, v) for v in variants)))
    for k in kinds + ['total']:
        names = [p[0] for p in progs if k == 'total' or kind_of(p[0]) == k]
        cells = []
        for v in variants:
            c = sum(results[(n, v)][0] == 'caught' for n in names)
            r = sum(results[(n, v)][0] == 'reported' for n in names)
            cells.append('%*s' % (cw, '%d+%d/%d' % (c, r, len(names))))
        out.append('%-*s  %s' % (kw, k, ' '.join(cells)))
    out.append('')
    out.append('summary (%d programs):' % len(progs))
    for v in variants:
        counts = {c: sum(results[(p[0], v)][0] == c for p in progs) for c in CLASSES}
        harmed = sum(results[(p[0], v)][0] == 'missed' and results[(p[0], v)][2] not in ('', 'none')
                     for p in progs)
        out.append('  %-*s %s' % (colw, v, '  '.join(
            ('%s %d' % (c, counts[c])) + (' (%d with an effect)' % harmed if c == 'missed' else '')
            for c in CLASSES if counts[c] or c in DETECTED + ('missed',))))
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser(
        description='Run the heap-misuse corpus under allocators (see the file head).',
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('variants', nargs='*', metavar='VARIANT')
    ap.add_argument('-b', '--build', default=os.path.join(ROOT, 'build'),
                    help='build directory (default: build/); built first')
    ap.add_argument('--bindir', help='directory of the corpus executables (no build step)')
    ap.add_argument('--kmem-lib', help='libkmem-malloc.so (default: malloc/ of the build '
                    'directory)')
    ap.add_argument('--programs', default=os.path.join(CORPUS, 'programs.txt'))
    ap.add_argument('-k', '--filter', help='only programs whose name matches this regex')
    ap.add_argument('-t', '--timeout', type=float, default=10.0,
                    help='seconds per run (default 10)')
    ap.add_argument('-r', '--repeat', type=int, default=1,
                    help='runs per program and variant (different classes: varies)')
    ap.add_argument('-j', '--jobs', type=int, default=os.cpu_count() or 1)
    ap.add_argument('--csv', help='write the runs as CSV')
    ap.add_argument('--json', help='write the runs and summaries as JSON')
    ap.add_argument('--expect', help='expected outcomes (see the file head)')
    ap.add_argument('--write-expect', help='write the first variant\'s outcomes here')
    ap.add_argument('-q', '--quiet', action='store_true',
                    help='no table: the summary line per variant and the --expect verdict')
    a = ap.parse_args()

    if a.bindir:
        bindir = a.bindir
        # a build directory's drop-in, next to its corpus
        kmem_lib = a.kmem_lib or os.path.join(bindir, '..', '..', 'malloc', 'libkmem-malloc.so')
    else:
        build(a.build)
        bindir = os.path.join(a.build, 'bench', 'security')
        kmem_lib = a.kmem_lib or os.path.join(a.build, 'malloc', 'libkmem-malloc.so')
    libs = library_paths(os.path.abspath(kmem_lib) if kmem_lib else None)

    variants, envs = [], {}
    for arg in a.variants or DEFAULT_VARIANTS:
        try:
            name, env = parse_variant(arg, libs)
        except ValueError as e:
            ap.error(str(e))
        if env is None:
            print('security: variant %s skipped: its library is missing' % name,
                  file=sys.stderr)
            continue
        if name in envs:
            ap.error('variant %s given twice' % name)
        variants.append(name)
        envs[name] = env
    if not variants:
        ap.error('no variant to run')

    progs = read_programs(a.programs)
    all_names = [p[0] for p in progs]
    if a.filter:
        progs = [p for p in progs if re.search(a.filter, p[0])]
    if not progs:
        ap.error('no program selected')
    for _, exe, _ in progs:
        if not os.access(os.path.join(bindir, exe), os.X_OK):
            print('security: %s not built in %s' % (exe, bindir), file=sys.stderr)
            sys.exit(2)

    start = time.monotonic()
    runs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        futs = {pool.submit(run_one, os.path.join(bindir, exe), args, envs[v], a.timeout):
                (name, v) for _ in range(max(1, a.repeat))
                for v in variants for name, exe, args in progs}
        for f in concurrent.futures.as_completed(futs):
            runs.setdefault(futs[f], []).append(f.result())
    results = {key: combine(r) for key, r in runs.items()}
    elapsed = time.monotonic() - start

    text = summarise(progs, variants, results)
    if a.quiet:
        text = text[text.index('summary ('):]
    print(text)
    print('(%d runs in %.1f s; %s)' % (sum(map(len, runs.values())), elapsed, '; '.join(
        '%s: %s' % (v, ' '.join('%s=%s' % kv for kv in envs[v].items()) or 'no preload')
        for v in variants)))

    rows = [{'program': name, 'kind': kind_of(name), 'variant': v,
             'class': results[(name, v)][0], 'status': results[(name, v)][1],
             'effect': results[(name, v)][2], 'report': results[(name, v)][3]}
            for name, _, _ in progs for v in variants]
    if a.csv:
        with open(a.csv, 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    if a.json:
        summary = {v: {c: sum(results[(p[0], v)][0] == c for p in progs) for c in CLASSES}
                   for v in variants}
        with open(a.json, 'w') as f:
            json.dump({'variants': {v: envs[v] for v in variants}, 'summary': summary,
                       'runs': rows}, f, indent=1)
            f.write('\n')
    if a.write_expect:
        write_expect(a.write_expect, variants[0], a.variants[0] if a.variants else variants[0],
                     progs, results)

    if a.expect:
        failures, better = check_expect(read_expect(a.expect), variants, progs, all_names,
                                        results)
        for b in better:
            print('improved: ' + b)
        if better:
            print('(detected now, listed otherwise: update %s with --write-expect)' % a.expect)
        for fl in failures:
            print('REGRESSION: ' + fl)
        if failures:
            print('security: %d regression(s) against %s' % (len(failures), a.expect))
            return 1
        print('security: no regression against %s' % a.expect)
    return 0


if __name__ == '__main__':
    sys.exit(main())
