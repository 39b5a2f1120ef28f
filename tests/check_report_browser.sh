#!/bin/sh
# scripts/lab-report.sh's HTML report opened in a real browser: headless
# Chromium (Debian's chromium; scripts/setup.sh installs it) loads the report
# of a small synthetic trace and
#  1. --dump-dom: a probe script, appended to a copy of the report (the
#     report itself has no scripts), runs at the load event and writes into
#     the DOM, for every <img>: complete, its natural size, its laid-out
#     size, and from its pixels drawn onto a canvas the share of ink (not
#     white) and the number of colours (up to 64). The test wants the six
#     images (four plots, two frame maps) decoded at the size of the PNGs
#     embedded (read from their headers here), laid out on the page, each
#     with ink and colours (gnuplot's lines and heat maps), and the summary
#     table rendered (its "robson" row in the page's text);
#  2. --screenshot of the same page, 1100 x 4000: a PNG of that size with
#     ink down to its bottom. A row is blank when its PNG filter residuals
#     (after the first pixel) are all zero: it repeats the row above, or is
#     one colour. The rendered report (plots 560 pixels high, frame maps
#     1120) had about 2650 rows inked, the last at 3997; the same page with
#     its images broken 1121, the last at 1715. Wanted: over half the rows
#     inked, and ink in the last tenth.
# Chromium runs once (both outputs), under `timeout`; its stderr (dbus
# noise in a container) is shown only on failure. Skips (77) without
# chromium, gnuplot or python3, or in a cross build.
# usage: check_report_browser.sh KMEM
set -eu
kmem="$1"
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/lib.sh"
skip() {
	echo "check_report_browser: SKIP: $*"
	exit 77
}

[ -z "${MESON_EXE_WRAPPER:-}" ] || skip "cross build"
browser=""
for b in chromium chromium-browser; do
	if command -v "$b" > /dev/null; then
		browser=$b
		break
	fi
done
[ -n "$browser" ] || skip "no chromium (apt-get install chromium, or scripts/setup.sh)"
command -v gnuplot > /dev/null || skip "no gnuplot (apt-get install gnuplot-nox)"
command -v python3 > /dev/null || skip "no python3"

# a small trace with phases (the heat maps have something to show)
"$kmem" trace-gen --seed 5 --ops 5000 --phases 3 --size log:16:65536 --life exp:500 "$tmp/t.bin" ||
	fail "trace-gen exited $?"
KMEM="$kmem" sh "$here/../scripts/lab-report.sh" -r 40 -t "browser test" "$tmp/t.bin" "$tmp/r.html" > /dev/null ||
	fail "lab-report.sh exited $?"

# the copy with the probe; the marker text is assembled at run time, so the
# script's own source in the dump cannot match it
python3 - "$tmp/r.html" "$tmp/p.html" <<'PY' || fail "cannot add the probe"
import sys
probe = """<script>
window.addEventListener("load", function () {
  var rows = [], imgs = document.images;
  for (var i = 0; i < imgs.length; i++) {
    var im = imgs[i], r = im.getBoundingClientRect(), ink = 0, colours = 0, seen = {};
    if (im.complete && im.naturalWidth > 0) {
      var c = document.createElement("canvas");
      c.width = im.naturalWidth;
      c.height = im.naturalHeight;
      var g = c.getContext("2d");
      g.drawImage(im, 0, 0);
      var d = g.getImageData(0, 0, c.width, c.height).data;
      for (var k = 0; k < d.length; k += 4) {
        if (d[k] < 240 || d[k + 1] < 240 || d[k + 2] < 240)
          ink++;
        var key = d[k] * 65536 + d[k + 1] * 256 + d[k + 2];
        if (colours < 64 && !seen[key]) {
          seen[key] = 1;
          colours++;
        }
      }
      ink = ink / (d.length / 4);
    }
    rows.push([im.complete ? 1 : 0, im.naturalWidth, im.naturalHeight, Math.round(r.width),
               Math.round(r.height), ink.toFixed(4), colours].join(" "));
  }
  var p = document.createElement("pre");
  p.id = "probe";
  p.textContent = ["kmem", "probe"].join("-") + "\\n" + rows.join("\\n") + "\\n" +
    ["kmem", "text"].join("-") + " " + (document.body.innerText.indexOf("robson") >= 0 ? 1 : 0);
  document.body.appendChild(p);
});
</script>
"""
s = open(sys.argv[1]).read()
assert s.count("</body>") == 1
open(sys.argv[2], "w").write(s.replace("</body>", probe + "</body>"))
PY

set +e
timeout 240 "$browser" --headless --disable-gpu --no-sandbox --no-first-run \
	--user-data-dir="$tmp/profile" --window-size=1100,4000 --hide-scrollbars \
	--screenshot="$tmp/shot.png" --dump-dom "file://$tmp/p.html" > "$tmp/dom.html" 2> "$tmp/browser.err"
rc=$?
set -e
[ "$rc" -eq 0 ] || { cat "$tmp/browser.err" >&2; fail "$browser exited $rc"; }

python3 - "$tmp/r.html" "$tmp/dom.html" "$tmp/shot.png" <<'PY' || { tail -n 20 "$tmp/browser.err" >&2; fail "the report in $browser"; }
import base64, html, re, struct, sys, zlib

def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])

# the PNGs the report embeds, in page order
report = open(sys.argv[1]).read()
srcs = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]*)"', report)
assert len(srcs) == 6, "%d images in the report, not 6" % len(srcs)
sizes = [png_size(base64.b64decode(s)) for s in srcs]

# 1. what the browser made of them
dom = open(sys.argv[2]).read()
m = re.search(r'<pre id="probe">kmem-probe\n(.*?)\nkmem-text (\d)</pre>', dom, re.S)
assert m, "no probe output in the DOM (the load event did not run it)"
rows = html.unescape(m.group(1)).split("\n")
assert len(rows) == 6, rows
for i, (row, (w, h)) in enumerate(zip(rows, sizes)):
    done, nw, nh, lw, lh, ink, colours = row.split()
    assert done == "1", "image %d not complete: %s" % (i, row)
    assert (int(nw), int(nh)) == (w, h), "image %d decoded at %sx%s, its PNG is %dx%d" % (i, nw, nh, w, h)
    assert int(lw) > 0 and int(lh) > 0, "image %d not laid out: %s" % (i, row)
    assert abs(int(lw) * h - int(lh) * w) <= w, "image %d distorted: %s" % (i, row)
    assert 0.005 < float(ink) < 0.99, "image %d: ink %s (blank or solid)" % (i, ink)
    assert int(colours) >= 4, "image %d: %s colours" % (i, colours)
assert m.group(2) == "1", "the summary's robson row is not in the page's text"

# 2. the screenshot
shot = open(sys.argv[3], "rb").read()
w, h = png_size(shot)
assert (w, h) == (1100, 4000), "screenshot %dx%d" % (w, h)
bit_depth, colour_type, interlace = shot[24], shot[25], shot[28]
assert bit_depth == 8 and interlace == 0 and colour_type in (2, 6), (bit_depth, colour_type, interlace)
pos, idat = 8, b""
while pos < len(shot):
    n, kind = struct.unpack(">I4s", shot[pos:pos + 8])
    if kind == b"IDAT":
        idat += shot[pos + 8:pos + 8 + n]
    pos += 12 + n
raw = zlib.decompress(idat)
bpp = 3 if colour_type == 2 else 4
stride = w * bpp + 1
assert len(raw) == stride * h, "screenshot: %d bytes of pixel data" % len(raw)
# a row's residuals after its filter byte and first pixel (which Sub and
# Average leave non-zero in a white row): all zero means nothing new
inked = sum(1 for y in range(1, h) if raw[y * stride + 1 + bpp:(y + 1) * stride].strip(b"\0"))
last = max((y for y in range(1, h) if raw[y * stride + 1 + bpp:(y + 1) * stride].strip(b"\0")), default=0)
assert inked > h // 2 and last > h * 9 // 10, "screenshot: %d of %d rows inked, the last %d" % (inked, h, last)
print("check_report_browser: 6 images decoded and drawn; screenshot %d of %d rows inked, the last %d" % (inked, h, last))
PY
echo "report in $browser: ok"
