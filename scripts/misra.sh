#!/bin/bash
# The MISRA C:2012 report of the freestanding library: Debian's cppcheck with
# its misra addon over every source file of libkmem.a as a freestanding build
# compiles it (the files, defines and include paths of its
# compile_commands.json, so its kmem_config.h: no threads, no stdio, the
# firmware profile's features compiled out), on a 32-bit platform. Prints
# the count of findings per rule, most frequent first, and the total; with
# -v also every finding (file:line: rule). docs/misra.md records the counts
# and explains each rule's deviation.
#
# Report-only: it exits 0 whatever it finds (the deviations are documented,
# not fixed); it fails only if cppcheck or the addon cannot run. The rule
# texts are MISRA's (copyrighted, not shipped): findings are by number, and
# docs/misra.md says in its own words what each rule asks.
#
# Usage: scripts/misra.sh [-v] [BUILD_DIR]
#   BUILD_DIR  a freestanding build (default build-nothreads/, configured as
#              scripts/test.sh's firmware-profile stage when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
verbose=
if [ "${1:-}" = -v ]; then
	verbose=1
	shift
fi
dir=${1:-build-nothreads}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" --werror -Dthreads=disabled -Dstdio=false -Dfreestanding=enabled \
		-Dlock=hooks -Dbenchmarks=disabled -Dmag_slots=16 > "$tmp/log" 2>&1 ||
		{ cat "$tmp/log"; exit 1; }
fi
grep -q '#define KMEM_FREESTANDING' "$dir/common/kmem_config.h" ||
	{ echo "misra: $dir is not a freestanding build" >&2; exit 2; }

# the library's own sources (its component libraries), not tests or tools
python3 - "$dir/compile_commands.json" "$tmp/project.json" <<'EOF'
import json, sys
parts = ('libkmem_common.a.p', 'libkmem_buddy.a.p', 'libkmem_slab.a.p', 'libkmem_pagealloc.a.p',
         'libkmem_stack.a.p', 'libkmem_replace.a.p', 'libkmem_pagecache.a.p')
cmds = [e for e in json.load(open(sys.argv[1])) if any(p in e['output'] for p in parts)]
json.dump(cmds, open(sys.argv[2], 'w'))
print('misra: %d source files of libkmem.a' % len(cmds), file=sys.stderr)
EOF

# -D__GNUC__: the library's attribute macros take their GCC branch, as the
# compiler does; the addon's own checks run on the preprocessed code.
# --cppcheck-build-dir: the addon's dump and ctu-info files go there, not
# next to the sources
mkdir "$tmp/cppcheck"
cppcheck -q -j 2 --project="$tmp/project.json" --addon=misra --platform=unix32 -D__GNUC__ \
	--cppcheck-build-dir="$tmp/cppcheck" \
	--template='{file}:{line}: {id}' --suppress=incorrectStringBooleanError \
	--suppress='*:/usr/*' 2> "$tmp/findings" || { cat "$tmp/findings"; exit 1; }
grep -q 'misra-c2012-' "$tmp/findings" || { cat "$tmp/findings"; echo "misra: no findings at all: did the addon run?" >&2; exit 1; }
# a finding in a header is reported once per file that includes it: count
# each place once
grep 'misra-c2012-' "$tmp/findings" | sed "s|^$PWD/||; s|^\.\./||" | sort -u > "$tmp/unique"
[ -z "$verbose" ] || cat "$tmp/unique"
printf '%-8s %s\n' rule findings
sed 's/.*misra-c2012-//' "$tmp/unique" | sort | uniq -c | sort -k1,1nr -k2,2V |
	awk '{ printf "%-8s %d\n", $2, $1; n += $1 } END { printf "%-8s %d\n", "total", n }'
