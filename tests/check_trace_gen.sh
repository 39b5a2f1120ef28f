#!/bin/sh
# `kmem trace-gen` (tools/trace_gen.c) and scripts/plot-series.sh:
#  1. seeded: the same options give the same bytes, another seed others;
#  2. the distributions and options do what they say: --ops N gives N
#     mallocs and N frees (none with --keep), fixed:S only size S,
#     uniform:A:B and log:A:B stay in [A, B] and log skews small (more
#     requests below the geometric mean than above the arithmetic one),
#     --max-live B keeps the replay's peak live at or below B, --life
#     forever frees nothing before the end (peak live = all of it), and
#     --phases 4 doubles the sizes in phase 1;
#  3. text output (.txt) replays to the same counts as the binary one;
#  4. the plots of a --series CSV (when gnuplot is installed): four PNGs;
#     scripts/lab-report.sh: one HTML file (python3's parser reads it) with
#     the four plots and two frame maps embedded as PNGs that decode, the summary rows, no
#     link outside (not opened in a browser here: no headless Chromium);
#  5. usage errors exit 2;
#  6. scripts/compare-replay.sh: a table with a row per kmem option set and
#     glibc (the drop-in and the peers when there), kmem rows only with -n.
# usage: check_trace_gen.sh KMEM PLOT_SCRIPT
set -eu
kmem="$1"
plot="$2"
run=${MESON_EXE_WRAPPER:-}
. "$(dirname "$0")/lib.sh"

gen() { # OUT options...
	o="$1"
	shift
	$run "$kmem" trace-gen "$@" "$o" || fail "trace-gen $* exited $?"
}
# the text form's lines: op size
ops() {
	$run "$kmem" trace-convert "$1" - | grep -v '^#'
}

# ---- 1. seeded ------------------------------------------------------------------------
gen "$tmp/a.bin" --seed 7 --ops 5000
gen "$tmp/b.bin" --seed 7 --ops 5000
gen "$tmp/c.bin" --seed 8 --ops 5000
cmp -s "$tmp/a.bin" "$tmp/b.bin" || fail "the same seed gave different traces"
cmp -s "$tmp/a.bin" "$tmp/c.bin" && fail "two seeds gave the same trace"

# ---- 2. the options ---------------------------------------------------------------------
ops "$tmp/a.bin" > "$tmp/a.txt"
[ "$(grep -c '^m ' "$tmp/a.txt")" -eq 5000 ] || fail "--ops 5000: not 5000 mallocs"
[ "$(grep -c '^f ' "$tmp/a.txt")" -eq 5000 ] || fail "--ops 5000: not 5000 frees"
gen "$tmp/k.bin" --ops 1000 --keep --life forever
[ "$(ops "$tmp/k.bin" | grep -c '^f ')" -eq 0 ] || fail "--keep --life forever freed something"
gen "$tmp/f.bin" --ops 1000 --size fixed:123
[ "$(ops "$tmp/f.bin" | awk '$1 == "m" && $2 != 123' | wc -l)" -eq 0 ] || fail "fixed:123"
gen "$tmp/u.bin" --ops 3000 --size uniform:100:200
ops "$tmp/u.bin" | awk '$1 == "m" && ($2 < 100 || $2 > 200) { bad++ } END { exit bad > 0 }' || fail "uniform:100:200 out of range"
gen "$tmp/l.bin" --ops 3000 --size log:16:65536
ops "$tmp/l.bin" | awk '$1 == "m" {
	if ($2 < 16 || $2 > 65536) bad++
	if ($2 < 1024) lo++        # below the geometric mean
	if ($2 > 32776) hi++       # above the arithmetic mean
} END { exit !(bad == 0 && lo > 2 * hi) }' || fail "log:16:65536 does not skew small"
gen "$tmp/m.bin" --ops 20000 --size fixed:1000 --life forever --max-live 1M
$run "$kmem" replay --heap 64M "$tmp/m.bin" > "$tmp/m.rep" 2>&1 || fail "replay of the --max-live trace exited $?"
peak=$(sed -n 's/^peak live: \([0-9]*\) bytes requested.*/\1/p' "$tmp/m.rep")
[ "$peak" -le 1048576 ] && [ "$peak" -gt 1040000 ] || fail "--max-live 1M: peak live $peak"
gen "$tmp/e.bin" --ops 500 --size fixed:1000 --life forever
$run "$kmem" replay --heap 64M "$tmp/e.bin" > "$tmp/e.rep" 2>&1 || fail "replay exited $?"
grep -q '^peak live: 500000 bytes requested in 500 blocks$' "$tmp/e.rep" || fail "--life forever: $(grep '^peak live' "$tmp/e.rep")"
gen "$tmp/p.bin" --ops 4000 --size fixed:100 --phases 4
ops "$tmp/p.bin" | awk '$1 == "m" { n++; if (n <= 1000 && $2 != 100) bad++; if (n > 1000 && n <= 2000 && $2 != 200) bad++; if (n > 2000 && n <= 3000 && $2 != 400) bad++ } END { exit bad > 0 }' ||
	fail "--phases 4: sizes are not 100, 200, 400, 100"

# ---- 3. text output ----------------------------------------------------------------------
gen "$tmp/a2.txt" --seed 7 --ops 5000
$run "$kmem" replay --heap 64M "$tmp/a.bin" > "$tmp/r1" 2>&1 || fail "replay of the binary trace exited $?"
$run "$kmem" replay --heap 64M "$tmp/a2.txt" > "$tmp/r2" 2>&1 || fail "replay of the text trace exited $?"
for key in records replayed "peak live"; do
	[ "$(grep "^$key: " "$tmp/r1")" = "$(grep "^$key: " "$tmp/r2")" ] || fail "text and binary differ: $key"
done

# ---- 4. plots ---------------------------------------------------------------------------
if command -v gnuplot > /dev/null && [ -z "$run" ]; then
	gen "$tmp/g.bin" --ops 20000 --phases 3 --size log:16:65536 --life exp:2000
	$run "$kmem" replay --heap 256M --series 500 --series-out "$tmp/g.csv" "$tmp/g.bin" > /dev/null ||
		fail "replay --series exited $?"
	sh "$plot" "$tmp/g.csv" "$tmp/plots" "test" > /dev/null || fail "plot-series.sh exited $?"
	for p in memory fragmentation free-blocks extfrag; do
		f="$tmp/plots/$p.png"
		[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "$p.png is not a PNG"
		[ "$(wc -c < "$f")" -gt 5000 ] || fail "$p.png is nearly empty"
	done
	# the HTML report: one file, four PNGs inside that decode, the summary
	report="$(dirname "$plot")/lab-report.sh"
	KMEM="$kmem" sh "$report" -r 50 -t "test <report>" "$tmp/g.bin" "$tmp/r.html" > /dev/null ||
		fail "lab-report.sh exited $?"
	if command -v python3 > /dev/null; then
		python3 - "$tmp/r.html" <<'PY' || fail "the HTML report"
import base64, html.parser, sys
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.th, self.title, self.intitle = [], [], "", False
    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        self.intitle = tag == "title"
    def handle_endtag(self, tag):
        self.intitle = False
    def handle_data(self, data):
        if self.intitle:
            self.title += data
p = P()
text = open(sys.argv[1]).read()
p.feed(text)
assert p.title == "kmem fragmentation report: test <report>", p.title
assert len(p.imgs) == 6, len(p.imgs)  # four plots, two frame maps
for src in p.imgs:
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
for key in ("<th>records</th>", "<th>robson</th>", "<th>buddy guarantee</th>", "<th>min heap</th>",
            "Johnstone &amp; Wilson"):
    assert key in text, key
assert "http" not in text.replace("http-equiv", ""), "the report reaches out"
PY
	fi
	set +e
	sh "$plot" "$tmp/a.txt" "$tmp/plots2" > /dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" -eq 1 ] || fail "plot-series.sh on a non-series file exited $rc"
else
	echo "check_trace_gen: SKIP plots: no gnuplot (apt-get install gnuplot-nox)"
fi

# ---- 6. compare: one table ------------------------------------------------------------------
compare="$(dirname "$plot")/compare-replay.sh"
if command -v python3 > /dev/null && [ -z "$run" ]; then
	# a kmem built with a sanitizer cannot have another malloc preloaded
	nopre=""
	if ldd "$kmem" 2> /dev/null | grep -Eq 'lib(a|t|ub)san'; then
		nopre=-p
	fi
	KMEM="$kmem" sh "$compare" $nopre -k kmem: -k batch0:--pcp-batch=0 "$tmp/a.bin" > "$tmp/cmp.txt" 2> "$tmp/cmp.err" ||
		fail "compare-replay.sh exited $?: $(cat "$tmp/cmp.err")"
	grep -q '^allocator  *ns/record  *net ns/op  *RSS growth MiB  *failed  *held peak MiB  *J&W #4  *internal$' "$tmp/cmp.txt" ||
		fail "compare: no header: $(cat "$tmp/cmp.txt")"
	for name in kmem batch0; do
		grep -Eq "^$name +[0-9.]+ +-?[0-9.]+ +-?[0-9.]+ +0 +[0-9.]+ +[0-9.]+% +([0-9.]+%|n/a)$" "$tmp/cmp.txt" || fail "compare: no $name row: $(cat "$tmp/cmp.txt")"
	done
	grep -Eq '^glibc +[0-9.]+ +-?[0-9.]+ +-?[0-9.]+ +0 +- +- +([0-9.]+%|n/a)$' "$tmp/cmp.txt" || fail "compare: no glibc row: $(cat "$tmp/cmp.txt")"
	if [ -z "$nopre" ]; then
		for peer in jemalloc tcmalloc mimalloc; do
			if grep -q "^$peer " "$tmp/cmp.txt"; then
				grep -Eq "^$peer +[0-9.]+ +-?[0-9.]+ +-?[0-9.]+ +0 +- +- " "$tmp/cmp.txt" || fail "compare: $peer row"
			fi
		done
	fi
	KMEM="$kmem" sh "$compare" -n "$tmp/a.bin" > "$tmp/cmp2.txt" 2> /dev/null || fail "compare-replay.sh -n exited $?"
	[ "$(grep -vc '^trace\|^allocator' "$tmp/cmp2.txt")" -eq 1 ] || fail "compare -n: not one row: $(cat "$tmp/cmp2.txt")"
else
	echo "check_trace_gen: SKIP compare: no python3 (or a cross build)"
fi

# ---- 5. usage errors ----------------------------------------------------------------------
for args in "--size nope" "--size log:0:10" "--size uniform:5:1" "--life exp:0" "--phases 0" "--ops x"; do
	set +e
	# shellcheck disable=SC2086
	$run "$kmem" trace-gen $args "$tmp/x.bin" > /dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "trace-gen $args exited $rc, expected 2"
done
echo "kmem trace-gen: ok"
