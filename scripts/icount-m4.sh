#!/bin/bash
# Instructions per operation of the Cortex-M4 build, typical (warm) and worst
# case (cold split from the top order, merge chain, slab refill): the harness
# bench/qemu/icount_m4.c, linked as the example firmware's Cortex-M4 image is
# (examples/firmware/fw_platform_mps2.c and mps2-an386.ld, newlib-nano with
# semihosting) against the firmware build's libkmem.a (build-fp-cortex-m4/,
# configured from cross/cortex-m4.txt with -Db_ndebug=true when missing, as
# scripts/footprint.sh and scripts/firmware.sh do), runs on QEMU's MPS2 AN386
# board (a Cortex-M4) under qemu-system-arm with the TCG plugin
# bench/qemu/insn_plugin.c counting between calls of the harness's marker
# function (mark=ADDR, its address from nm). Each row is one operation's
# count minus the empty bracket's (the marker call itself): the operation
# and its argument set-up at the call site. QEMU counts the instructions
# executed, not cycles (a Cortex-M4 takes 1 to 3 or more cycles for most,
# plus wait states). The run is deterministic: the same build gives the same
# counts. Needs gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm
# and a host C compiler (the plugin).
# Usage: scripts/icount-m4.sh   (prints the table; README, "Instructions per
# operation on the 32-bit build")
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-fp-cortex-m4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" --cross-file cross/cortex-m4.txt --werror -Db_ndebug=true > "$tmp/log" 2>&1 ||
		{ cat "$tmp/log"; exit 1; }
fi
ninja -C "$dir" > "$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
cc -shared -fPIC -O2 -o "$tmp/insn.so" bench/qemu/insn_plugin.c
fw=examples/firmware
arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb --specs=nano.specs --specs=rdimon.specs -nostartfiles \
	-T "$fw/mps2-an386.ld" -Os -ffunction-sections -fdata-sections -Wl,--gc-sections \
	-std=gnu11 -Wall -Wextra -Wpedantic -Werror -Iinclude -o "$tmp/icount-m4.elf" \
	bench/qemu/icount_m4.c "$fw/fw_platform_mps2.c" "$dir/libkmem.a"
mark=$(arm-none-eabi-nm "$tmp/icount-m4.elf" | awk '$3 == "icount_mark" { print $1 }')
[ -n "$mark" ] || { echo "icount-m4: no icount_mark in the image" >&2; exit 1; }
timeout 120 qemu-system-arm -M mps2-an386 -semihosting-config enable=on,target=native -nographic \
	-monitor none -serial none -plugin "$tmp/insn.so,mark=0x$mark" -d plugin \
	-kernel "$tmp/icount-m4.elf" < /dev/null > "$tmp/labels" 2> "$tmp/marks" ||
	{ rc=$?; cat "$tmp/labels" "$tmp/marks"; echo "icount-m4: exit $rc (124: timed out)" >&2; exit 1; }
grep -qx 'icount: ok' "$tmp/labels" || { cat "$tmp/labels"; echo "icount-m4: harness failed" >&2; exit 1; }
grep -v '^icount: ' "$tmp/labels" > "$tmp/rows"
awk '/^mark: / { print $2 }' "$tmp/marks" > "$tmp/counts"
[ "$(wc -l < "$tmp/rows")" -eq "$(wc -l < "$tmp/counts")" ] ||
	{ paste "$tmp/rows" "$tmp/counts"; echo "icount-m4: labels and counts differ in number" >&2; exit 1; }
printf '%-70s %6s\n' "Cortex-M4, -Os, build-fp-cortex-m4 (one operation)" "instr"
paste -d '\t' "$tmp/rows" "$tmp/counts" | awk -F '\t' '
	NR == 1 { base = $2; next }	# the empty bracket
	{ printf "%-70s %6d\n", $1, $2 - base }'
