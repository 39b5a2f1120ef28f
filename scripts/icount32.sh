#!/bin/sh
# Instructions per operation of the 32-bit (i386) build. Callgrind cannot run
# here (a kernel without IA-32 support cannot start Valgrind's x86 tools), so
# bench/icount_buddy.c and bench/icount_slab.c are built with gcc -m32 -O2
# against a release i386 libkmem.a (build-i386-release/, configured from
# cross/i386.txt when missing) and run under qemu-i386 with a TCG plugin that
# counts guest instructions (bench/qemu/insn_plugin.c). A row is
# (count at 2N - count at N) / N: set-up cancels, the harness loop stays in
# (about 8 instructions per pair on x86-64; the README's x86-64 rows take it
# out). Needs gcc-multilib, qemu-user and the valgrind headers (callgrind.h,
# whose client requests are no-ops outside Valgrind).
# Usage: scripts/icount32.sh [N]   (default 100000)
set -eu
cd "$(dirname "$0")/.."
n=${1:-100000}
dir=build-i386-release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" --cross-file cross/i386.txt --buildtype=release -Dtests=disabled \
		-Dbenchmarks=disabled -Dtools=false -Dmalloc=false > "$tmp/log" 2>&1 ||
		{ cat "$tmp/log"; exit 1; }
fi
ninja -C "$dir" > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
cc -shared -fPIC -O2 -o "$tmp/insn.so" bench/qemu/insn_plugin.c
for p in buddy slab; do
	gcc -m32 -O2 -DNDEBUG -std=gnu11 -I/usr/include/valgrind -Iinclude -Icommon -I"$dir/common" \
		-Ibench -Ibuddy -Islab -Islab/fast -o "$tmp/icount-$p" "bench/icount_$p.c" \
		"$dir/libkmem.a" -pthread
done
insns() { # program args... count -> instructions executed
	qemu-i386 -plugin "$tmp/insn.so" -d plugin "$@" 2>&1 > /dev/null | awk '/^insns:/ {print $2}'
}
row() { # label program args...
	label=$1
	shift
	a=$(insns "$@" "$n")
	b=$(insns "$@" $((2 * n)))
	printf '%-44s %8d\n' "$label" $(((b - a) / n))
}
printf '%-44s %8s\n' "i386, release (per alloc+free pair)" "instr"
row "buddy steady order 0 (locked)" "$tmp/icount-buddy" steady 0
row "buddy warm order 0 (locked)" "$tmp/icount-buddy" warm 0
row "buddy warm order 0 (KMEM_BUDDY_NOLOCK)" "$tmp/icount-buddy" warm-nolock 0
row "buddy mixed step" "$tmp/icount-buddy" mixed 0
row "buddy cold order 0 (split from, merge to 10)" "$tmp/icount-buddy" cold 0
row "kmem_cache_alloc + kmem_cache_free" "$tmp/icount-slab" cache
row "kmem_alloc(64) + kmem_free" "$tmp/icount-slab" kmalloc
