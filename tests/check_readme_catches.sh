#!/bin/sh
# check_readme.sh's own test: it must fail a README whose C example ignores a
# warn_unused_result (KMEM_MUST_CHECK) result, as the README's examples once
# did (issue 13: five warnings with plain -Wall), or exits non-zero, and pass
# the good example next to them. A fixture README with three ```c blocks is
# written to OUT_DIR and checked with the flags readme-examples uses.
#
# Usage: check_readme_catches.sh CHECK_README INCLUDE_DIR LIBKMEM_A OUT_DIR CC... -- FLAGS...
set -eu
[ $# -ge 6 ] || { echo "usage: $0 CHECK_README INCLUDE_DIR LIBKMEM_A OUT_DIR CC... -- FLAGS..." >&2; exit 2; }
check=$1 inc=$2 lib=$3 out=$4
shift 4
mkdir -p "$out"
readme="$out/README.md"
# the line numbers below are the blocks' first lines (after each ```c)
cat > "$readme" <<'MD'
# fixture

A good example (line 6):

```c
#include <kmem/kmem.h>
static _Alignas(16) unsigned char heap[1 << 20];
int main(void)
{
    struct kmem_buddy *b;
    if (kmem_buddy_create_in(heap, sizeof heap, NULL, &b))
        return 1;
    kmem_buddy_destroy(b);
    return 0;
}
```

An example that ignores a result it must check (line 21):

```c
#include <kmem/kmem.h>
static _Alignas(16) unsigned char heap[1 << 20];
int main(void)
{
    struct kmem_buddy *b = NULL;
    kmem_buddy_create_in(heap, sizeof heap, NULL, &b);
    kmem_buddy_destroy(b);
    return 0;
}
```

An example that fails when it runs (line 35):

```c
int main(void)
{
    return 3;
}
```
MD
rc=0
"$check" "$readme" "$inc" "$lib" "$out/ex" "$@" > "$out/log" 2>&1 || rc=$?
cat "$out/log"
fail=0
expect() {
	if ! grep -q -e "$1" "$out/log"; then
		echo "check_readme.sh did not say: $1" >&2
		fail=1
	fi
}
[ "$rc" -eq 1 ] || { echo "check_readme.sh exited with $rc, want 1" >&2; fail=1; }
expect "^ok   $readme:6\$"
expect "^FAIL $readme:21: the C example does not compile"
expect "unused-result\|warn_unused_result"
expect "^FAIL $readme:35: the C example exited with 3"
expect "^3 C examples in $readme\$"
[ "$fail" -eq 0 ] && echo "check_readme.sh catches an ignored result and a failing example"
exit "$fail"
