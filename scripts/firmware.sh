#!/bin/bash
# The example firmware (examples/firmware/firmware.c), built as firmware is:
#   1. ARMv7-A bare metal with semihosting (cross/arm-semihost.txt: newlib's
#      rdimon), run under qemu-arm: it must exit 0, print "firmware: ok", a
#      buddyinfo line with numbers and the slabinfo rows of its two caches;
#   2. linked for Cortex-M4 and RV32IMAC (-Os, --gc-sections, no output:
#      fw_platform_none.c), against the libkmem.a of scripts/footprint.sh's
#      build directories (build-fp-<target>/, configured when missing), and
#      its size printed;
#   3. the Cortex-M4 image run under qemu-system-arm on the MPS2 AN386 board
#      (a Cortex-M4) where it is installed: the same firmware.c and
#      build-fp-cortex-m4/libkmem.a, with the board's start-up code and
#      linker script (fw_platform_mps2.c, mps2-an386.ld) and output and exit
#      through semihosting (newlib-nano's rdimon, fw_platform_stdio.c), in
#      at most 60 seconds; the checks of step 1;
#   4. RV32IMAC run under qemu-riscv32 (qemu-user) where it is installed:
#      the same firmware.c and build-fp-rv32imac/libkmem.a, linked with
#      picolibc and fw_platform_rv32_user.c (its own _start and Linux write
#      and exit calls: picolibc's crt0 is machine-mode code, and qemu-user
#      serves system calls, not semihosting); the checks of step 1;
#   5. on the host, against build/libkmem.a when that exists (CI's first
#      stage), run.
# Usage: scripts/firmware.sh   (needs the cross toolchains, qemu-user and
# qemu-system-arm)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
log="$tmp/log"
trap 'rm -rf "$tmp"' EXIT
fw=examples/firmware
warn=(-std=gnu11 -Wall -Wextra -Wpedantic -Werror -Iinclude)

build() { # dir cross-file meson-options...
	dir=$1
	cross=$2
	shift 2
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" --cross-file "$cross" --werror "$@" > "$log" 2>&1 || { cat "$log"; exit 1; }
	fi
	ninja -C "$dir" > "$log" 2>&1 || { cat "$log"; exit 1; }
}

# 1. semihosting under qemu-arm
build build-fw-arm cross/arm-semihost.txt
arm-none-eabi-gcc -mcpu=cortex-a7 -marm --specs=rdimon.specs -Os -ffunction-sections \
	-fdata-sections -Wl,--gc-sections "${warn[@]}" -o "$tmp/fw-arm.elf" \
	"$fw/firmware.c" "$fw/fw_platform_stdio.c" build-fw-arm/libkmem.a
qemu-arm "$tmp/fw-arm.elf" > "$tmp/out" || { rc=$?; cat "$tmp/out"; echo "firmware: exit $rc" >&2; exit 1; }
check() { # pattern what
	grep -qE "$1" "$tmp/out" || { cat "$tmp/out"; echo "firmware: no $2 in its output" >&2; exit 1; }
}
check_all() { # the output of a run: ok, buddyinfo and the two caches' slabinfo rows
	check '^firmware: ok$' '"firmware: ok"'
	check '^Node 0, zone +ram( +[0-9]+)+ *$' 'buddyinfo line with numbers'
	check '^msg +[0-9]+ +[0-9]+ +64 ' 'slabinfo row of cache msg'
	check '^record +[0-9]+ +[0-9]+ +32 ' 'slabinfo row of cache record'
}
check_all
echo "qemu-arm (ARMv7-A, semihosting): $(grep -c . "$tmp/out") lines, firmware: ok"

# 2. linked for the microcontroller targets
for t in cortex-m4 rv32imac; do
	case $t in
	cortex-m4) cc=(arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb --specs=nano.specs --specs=nosys.specs) ;;
	rv32imac) cc=(riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -mcmodel=medany
		--specs=picolibc.specs -Wl,--defsym=__flash_size=0x100000 -Wl,--defsym=__ram_size=0x100000) ;;
	esac
	build "build-fp-$t" "cross/$t.txt" -Db_ndebug=true
	"${cc[@]}" -Os -ffunction-sections -fdata-sections -Wl,--gc-sections "${warn[@]}" \
		-o "$tmp/fw-$t.elf" "$fw/firmware.c" "$fw/fw_platform_none.c" "build-fp-$t/libkmem.a"
	prefix=${cc[0]%gcc}
	echo "$t: $("${prefix}size" "$tmp/fw-$t.elf" | tail -n 1 | awk '{print "text " $1 ", data " $2 ", bss " $3}') (the arena and instances in bss)"
done

# 3. the Cortex-M4 image on an MPS2 AN386 board under qemu-system-arm
if command -v qemu-system-arm > /dev/null; then
	arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb --specs=nano.specs --specs=rdimon.specs \
		-nostartfiles -T "$fw/mps2-an386.ld" -Os -ffunction-sections -fdata-sections \
		-Wl,--gc-sections "${warn[@]}" -o "$tmp/fw-m4.elf" "$fw/firmware.c" \
		"$fw/fw_platform_stdio.c" "$fw/fw_platform_mps2.c" build-fp-cortex-m4/libkmem.a
	timeout 60 qemu-system-arm -M mps2-an386 -semihosting-config enable=on,target=native \
		-nographic -monitor none -serial none -kernel "$tmp/fw-m4.elf" < /dev/null > "$tmp/out" ||
		{ rc=$?; cat "$tmp/out"; echo "firmware: Cortex-M4 exit $rc (124: timed out)" >&2; exit 1; }
	check_all
	echo "qemu-system-arm -M mps2-an386 (Cortex-M4, semihosting): $(grep -c . "$tmp/out") lines, firmware: ok"
else
	echo "qemu-system-arm: not installed, Cortex-M4 run skipped"
fi

# 4. RV32IMAC under qemu-riscv32
rv32=(riscv64-unknown-elf-gcc -march=rv32imac -mabi=ilp32 -mcmodel=medany --specs=picolibc.specs
	-nostartfiles -Wl,--defsym=__flash=0x80000000 -Wl,--defsym=__flash_size=0x100000
	-Wl,--defsym=__ram=0x80100000 -Wl,--defsym=__ram_size=0x100000)
if command -v qemu-riscv32 > /dev/null; then
	"${rv32[@]}" -Os -ffunction-sections -fdata-sections -Wl,--gc-sections "${warn[@]}" \
		-o "$tmp/fw-rv32.elf" "$fw/firmware.c" "$fw/fw_platform_rv32_user.c" \
		build-fp-rv32imac/libkmem.a
	qemu-riscv32 "$tmp/fw-rv32.elf" > "$tmp/out" ||
		{ rc=$?; cat "$tmp/out"; echo "firmware: RV32 exit $rc" >&2; exit 1; }
	check_all
	echo "qemu-riscv32 (RV32IMAC, picolibc): $(grep -c . "$tmp/out") lines, firmware: ok"
else
	echo "qemu-riscv32: not installed (qemu-user), RV32 run skipped"
fi

# 5. the host
if [ -f build/libkmem.a ]; then
	cc "${warn[@]}" -O2 -o "$tmp/fw-host" "$fw/firmware.c" "$fw/fw_platform_stdio.c" build/libkmem.a \
		-pthread
	"$tmp/fw-host" > "$tmp/out"
	check '^firmware: ok$' '"firmware: ok" on the host'
	echo "host: firmware: ok"
fi
