#!/bin/bash
# The footprint of kmem in a firmware image, per target and component.
#
# Each program of bench/footprint/ (buddy alone; buddy + slab with an object
# cache and kmalloc; buddy + the frame service) is linked as firmware is:
# -Os, --gc-sections, the target's C library (newlib-nano, picolibc), against
# a freestanding libkmem.a built from cross/<target>.txt with assertions off
# (build-fp-<target>/, configured when missing). A row is the image's
# text/data/bss minus those of bench/footprint/empty.c, with the static arena
# and the instance buffers (heap, sbuf, pbuf) taken out of bss: what kmem
# adds, its share of the C library and the compiler's runtime included.
# Then the buddy frame table's bytes per managed KiB at three frame sizes.
# Exits 1 when a Cortex-M4 image is over issue 14's budget (buddy: 3 KiB of
# text; buddy + slab + kmalloc: 8 KiB; each 256 B of data + bss), so CI
# (scripts/test.sh) fails on a change that grows it past.
#
# Usage: scripts/footprint.sh [TARGET...]   (default: cortex-m4 rv32imac rv64imac)
# Needs the cross toolchains (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cortex-m4 rv32imac rv64imac)
tmp=$(mktemp -d)
log="$tmp/log"
trap 'rm -rf "$tmp"' EXIT

flags() { # target -> compiler command and flags, as its cross file has them
	case "$1" in
	cortex-m4) echo "arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb --specs=nano.specs --specs=nosys.specs" ;;
	rv32imac) echo "riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -mcmodel=medany --specs=picolibc.specs" \
		"-Wl,--defsym=__flash_size=0x100000 -Wl,--defsym=__ram_size=0x100000" ;;
	rv64imac) echo "riscv64-unknown-elf-gcc -march=rv64imac -mabi=lp64 -mcmodel=medany --specs=picolibc.specs" \
		"-Wl,--defsym=__flash_size=0x100000 -Wl,--defsym=__ram_size=0x100000" ;;
	*) echo "footprint: unknown target $1" >&2; exit 2 ;;
	esac
}

over=0
printf '%-10s %-34s %8s %8s %8s\n' target "linked (bytes over an empty main)" text data bss
for t in "${targets[@]}"; do
	cc=$(flags "$t")
	prefix=${cc%%gcc *}
	dir=build-fp-$t
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" --cross-file "cross/$t.txt" -Db_ndebug=true --werror > "$log" 2>&1 ||
			{ cat "$log"; exit 1; }
	fi
	ninja -C "$dir" > "$log" 2>&1 || { cat "$log"; exit 1; }
	size() { # elf -> "text data bss", bss without the arena and instance buffers
		read -r text data bss _ < <("${prefix}size" "$1" | tail -n 1)
		excl=$("${prefix}nm" -S -t d "$1" | awk '$4 == "heap" || $4 == "sbuf" || $4 == "pbuf" {s += $2} END {print s + 0}')
		echo "$text $data $((bss - excl))"
	}
	for p in empty buddy slab pagealloc; do
		# shellcheck disable=SC2086
		$cc -Os -ffunction-sections -fdata-sections -Wl,--gc-sections -Iinclude \
			-o "$tmp/$p.elf" "bench/footprint/$p.c" "$dir/libkmem.a" > "$log" 2>&1 ||
			{ cat "$log"; exit 1; }
	done
	read -r et ed eb < <(size "$tmp/empty.elf")
	for p in buddy slab pagealloc; do
		read -r pt pd pb < <(size "$tmp/$p.elf")
		case $p in
		buddy) what="buddy" ;;
		slab) what="buddy + slab (a cache, kmalloc)" ;;
		pagealloc) what="buddy + frame service" ;;
		esac
		printf '%-10s %-34s %8d %8d %8d\n' "$t" "$what" $((pt - et)) $((pd - ed)) $((pb - eb))
		# issue 14's budget, on Cortex-M4: buddy 3 KiB of text, buddy + slab +
		# kmalloc 8 KiB; 256 B of data + bss for either
		limit=
		case $t/$p in
		cortex-m4/buddy) limit=3072 ;;
		cortex-m4/slab) limit=8192 ;;
		esac
		if [ -n "$limit" ] && { [ $((pt - et)) -gt "$limit" ] || [ $((pd - ed + pb - eb)) -gt 256 ]; }; then
			echo "footprint: $t $what over its budget ($limit B of text, 256 B of data + bss)" >&2
			over=1
		fi
	done
done
meta=$(awk '/#define KMEM_BUDDY_META_PER_FRAME/ {sub("u", "", $3); print $3}' include/kmem/buddy.h)
printf '\nbuddy frame table: %s bytes per frame, per managed KiB:' "$meta"
for fs in 256 1024 4096; do
	awk -v m="$meta" -v fs="$fs" 'BEGIN { printf "  %g B at %d B frames", m * 1024 / fs, fs }'
done
echo
[ "$over" = 0 ] || exit 1
