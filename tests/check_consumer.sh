#!/bin/sh
# kmem as outside projects use it: (1) installed (headers under
# include/kmem/, libkmem, kmem.pc) and found with pkg-config, linked both
# shared and static; (2) as a Meson subproject via dependency('kmem').
# Usage: tests/check_consumer.sh BUILD_DIR
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/root" --quiet > /dev/null
pc=$(find "$tmp/root" -name kmem.pc | head -n 1)
[ -n "$pc" ] || { echo "no kmem.pc installed" >&2; exit 1; }
test -n "$(find "$tmp/root" -path '*/include/kmem/buddy.h')"
export PKG_CONFIG_PATH="$(dirname "$pc")" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
libdir=$(dirname "$(dirname "$pc")") # the installed lib directory, inside the destdir
cc -std=c11 -Wall -Werror -o "$tmp/shared" "$src/tests/consumer/main.c" $(pkg-config --cflags --libs kmem)
LD_LIBRARY_PATH="$libdir" "$tmp/shared" | grep -q '^Node 0, zone    buddy'
cc -std=c11 -Wall -Werror -o "$tmp/static" "$src/tests/consumer/main.c" $(pkg-config --cflags kmem) \
	"$libdir/libkmem.a" $(pkg-config --libs-only-other --static kmem)
"$tmp/static" | grep -q '^Node 0, zone    buddy'
echo "installed + pkg-config (shared and static): ok"

mkdir -p "$tmp/proj/subprojects"
cp "$src/tests/consumer/main.c" "$src/tests/consumer/meson.build" "$tmp/proj/"
ln -s "$src" "$tmp/proj/subprojects/kmem"
meson setup "$tmp/proj/build" "$tmp/proj" -Dkmem:tests=disabled -Dkmem:benchmarks=disabled \
	-Dkmem:tools=false > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
ninja -C "$tmp/proj/build" > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
"$tmp/proj/build/consumer" | grep -q '^Node 0, zone    buddy'
echo "meson subproject: ok"
