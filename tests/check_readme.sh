#!/bin/sh
# Every ```c block of README.md is a complete program, and this keeps it so:
# each block is compiled on its own against the public headers and the built
# static library, as a user would (no private header, no kmem_config.h), with
# the project's warning flags and -Werror, then run; it must exit with 0.
# When the suite runs under memcheck (meson test --setup=valgrind sets
# KMEM_TEST_UNDER_VALGRIND) and KMEM_README_VALGRIND names valgrind, each
# program also runs under memcheck and must be clean, leaks included.
# Blocks that are not meant to compile (shell, output, diagrams) use another
# fence (```sh, ```), never ```c.
# A block that calls a feature the firmware profile compiles out says so on
# the line before its fence, <!-- needs: buddy_hotadd buddy_reserve --> (Meson
# option names); where KMEM_README_COMPILED_OUT lists one of them (the build's
# compiled-out features, tests/meson.build), the block is compiled but not run,
# and a "skip" line names the feature: never a silent pass.
#
# Usage: check_readme.sh README INCLUDE_DIR LIBKMEM_A OUT_DIR CC... -- FLAGS...
#   CC...     the compiler command (several words, e.g. ccache cc)
#   FLAGS...  compile flags, then link flags (-pthread, -fsanitize=...)
# Each block is written to OUT_DIR/readme-L<line>.c (<line>: its first line
# in README; compiler messages cite README lines through #line) and built to
# OUT_DIR/readme-L<line>.
set -eu
[ $# -ge 6 ] || { echo "usage: $0 README INCLUDE_DIR LIBKMEM_A OUT_DIR CC... -- FLAGS..." >&2; exit 2; }
readme=$1 inc=$2 lib=$3 out=$4
shift 4
cc=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	cc="$cc $1"
	shift
done
[ $# -gt 0 ] || { echo "$0: no -- after the compiler" >&2; exit 2; }
shift # the --: "$@" is now the flags

# cross builds: the target's programs run through Meson's exe wrapper (qemu)
run=${MESON_EXE_WRAPPER:-}
mkdir -p "$out"
rm -f "$out"/readme-L*
# Split the ```c blocks into files; print their first lines. An unclosed
# block is an error (exit 3).
# A block's line is followed by ":feature,feature" when it needs some.
lines=$(awk -v out="$out" -v readme="$readme" '
	inblk && /^[ \t]*```/ { inblk = 0; close(f); next }
	inblk { print > f; next }
	/^<!-- needs: .* -->$/ {
		needs = $0; sub(/^<!-- needs: /, "", needs); sub(/ -->$/, "", needs)
		gsub(/ +/, ",", needs); needs_at = NR; next
	}
	/^[ \t]*```c[ \t]*$/ {
		inblk = 1
		f = out "/readme-L" (NR + 1) ".c"
		printf "#line %d \"%s\"\n", NR + 1, readme > f
		print (NR + 1) (needs_at == NR - 1 ? ":" needs : "")
	}
	END { if (inblk) exit 3 }' "$readme") || { echo "$readme: unclosed \`\`\`c block" >&2; exit 1; }
[ -n "$lines" ] || { echo "$readme: no \`\`\`c block found" >&2; exit 1; }

memcheck=
if [ -n "${KMEM_TEST_UNDER_VALGRIND:-}" ] && [ -n "${KMEM_README_VALGRIND:-}" ]; then
	memcheck="$KMEM_README_VALGRIND --quiet --error-exitcode=99 --leak-check=full
		--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect"
fi

status=0 n=0
for entry in $lines; do
	n=$((n + 1))
	l=${entry%%:*}
	src="$out/readme-L$l.c" exe="$out/readme-L$l"
	missing=
	case $entry in
	*:*)
		for feat in $(echo "${entry#*:}" | tr , ' '); do
			case " ${KMEM_README_COMPILED_OUT:-} " in
			*" $feat "*) missing="$missing $feat" ;;
			esac
		done
		;;
	esac
	# $cc and $memcheck are word lists on purpose
	# shellcheck disable=SC2086
	if ! $cc -I "$inc" -o "$exe" "$src" "$lib" "$@" > "$exe.log" 2>&1; then
		echo "FAIL $readme:$l: the C example does not compile:" >&2
		cat "$exe.log" >&2
		status=1
		continue
	fi
	if [ -n "$missing" ]; then
		echo "skip $readme:$l: compiled, not run: needs$missing, compiled out of this build"
		continue
	fi
	# shellcheck disable=SC2086
	if $memcheck $run "$exe" > "$exe.log" 2>&1; then
		echo "ok   $readme:$l${memcheck:+ (memcheck clean)}"
	else
		rc=$?
		echo "FAIL $readme:$l: the C example exited with $rc${memcheck:+ under memcheck}:" >&2
		cat "$exe.log" >&2
		status=1
	fi
done
echo "$n C examples in $readme"
exit $status
