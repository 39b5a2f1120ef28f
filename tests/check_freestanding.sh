#!/bin/sh
# Fail if a freestanding libkmem.a needs a symbol from outside itself other
# than the short list a bare-metal target must provide (README, "32-bit and
# embedded targets"):
#   - from the C library: memset, memcpy, memmove, strncpy;
#   - the compiler's runtime (libgcc): integer helpers (__udivdi3, __ctzdi2,
#     __popcountdi2, __aeabi_uldivmod, ...) and soft-float helpers where the
#     target has no FPU for double (__adddf3, __aeabi_dmul, ...);
#   - RISC-V -Os millicode (__riscv_save_N / __riscv_restore_N).
# Usage: check_freestanding.sh NM LIB   (NM: the target's nm)
set -eu
nm=$1
lib=$2
defined=$(mktemp)
trap 'rm -f "$defined"' EXIT
"$nm" -g --defined-only "$lib" | awk 'NF == 3 {print $3}' | sort -u > "$defined"
if [ ! -s "$defined" ]; then
	echo "no symbols found in $lib" >&2
	exit 1
fi
needed=$("$nm" -u "$lib" | awk '$1 == "U" {print $2}' | sort -u | comm -23 - "$defined")
bad=$(printf '%s\n' "$needed" | grep -v -E \
	'^(memset|memcpy|memmove|strncpy)$|^__aeabi_|^__[a-z]+(di|si|ti|df|sf|tf)[0-9]?$|^__riscv_(save|restore)_[0-9]+$' |
	grep -v '^$' || true)
if [ -n "$bad" ]; then
	echo "$lib needs symbols outside the freestanding list:" >&2
	printf '  %s\n' $bad >&2
	exit 1
fi
echo "$lib needs from outside: $(printf '%s ' $needed)"
