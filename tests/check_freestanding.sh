#!/bin/sh
# Fail if a freestanding libkmem.a needs a symbol from outside itself other
# than the short list a bare-metal target must provide (README, "32-bit and
# embedded targets"):
#   - from the C library: memset, memcpy, memmove, strncpy, strlen;
#   - the compiler's runtime (libgcc): its integer helpers (__udivdi3,
#     __ctzdi2, __popcountdi2, __aeabi_uldivmod, ...); no floating point
#     (the soft-float routines, __adddf3 or __aeabi_dmul, are refused);
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
	'^(memset|memcpy|memmove|strncpy|strlen)$|^__aeabi_(u?ldivmod|u?idivmod|u?idiv|l[sl]sl|llsr|lasr)$|^__[a-z]+(di|si|ti)[0-9]?$|^__riscv_(save|restore)_[0-9]+$' |
	grep -v '^$' || true)
# libgcc's conversions between floating point and integers (__fixunsdfdi)
# pass the integer pattern above: refused by name
bad="$bad $(printf '%s\n' "$needed" | grep -E '^__[a-z]*(df|sf|tf|xf)[a-z0-9]*$' || true)"
bad=$(printf '%s\n' $bad | sort -u)
if [ -n "$bad" ]; then
	echo "$lib needs symbols outside the freestanding list:" >&2
	printf '  %s\n' $bad >&2
	exit 1
fi
echo "$lib needs from outside: $(printf '%s ' $needed)"
