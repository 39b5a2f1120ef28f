#!/bin/sh
# Install the Debian packages kmem needs (only those missing; apt-get update
# first when something must be installed), then configure and build build/.
# Idempotent and quiet when everything is already there.
# Usage: scripts/setup.sh            (run from anywhere inside the checkout)
set -eu
cd "$(dirname "$0")/.."

# sqlite3 and git: real programs tests/dropin/check_preload.sh runs under the
# drop-in malloc; libsqlite3-dev: libkmem-sqlite (SQLite's page cache on the
# kmem page cache) and its test. The third line: the peer allocators
# scripts/bench-peers.sh preloads. The fourth and fifth: the 32-bit and
# embedded targets (cross/): gcc -m32 with the i386 cmocka, run under
# qemu-i386; the Cortex-M4 (newlib-nano) and RISC-V (picolibc) bare-metal
# toolchains, and qemu-system-arm, which runs the Cortex-M4 firmware image
# on an emulated MPS2 board (scripts/firmware.sh, scripts/icount-m4.sh).
# The last: gnuplot for scripts/plot-series.sh (the plots of
# `kmem replay --series`), chromium for the test that opens
# scripts/lab-report.sh's HTML report in a browser (tests/check_report_browser.sh).
PKGS="meson ninja-build pkg-config gcc g++ binutils libcmocka-dev libbenchmark-dev
valgrind clang libclang-rt-14-dev python3 sqlite3 libsqlite3-dev git cppcheck
libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0
gcc-multilib libcmocka-dev:i386 qemu-user qemu-system-arm
gcc-arm-none-eabi libnewlib-arm-none-eabi gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
gnuplot-nox chromium"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "setup: installing$missing"
	# libcmocka-dev:i386 needs the i386 architecture in dpkg (multiarch)
	case "$missing" in
	*:i386*)
		dpkg --print-foreign-architectures | grep -qx i386 || $sudo dpkg --add-architecture i386
		;;
	esac
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing > /dev/null
fi

# build/: the default build (debugoptimized, assertions on, -Werror); SQLite's
# page cache on kmem's is required there (libsqlite3-dev is installed above).
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if [ ! -f build/build.ninja ]; then
	meson setup build --werror -Dsqlite=enabled > "$log" 2>&1 || { cat "$log"; exit 1; }
fi
ninja -C build > "$log" 2>&1 || { cat "$log"; exit 1; }
