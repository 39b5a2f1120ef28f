/* kmem_mem.h - byte-pattern checks for the debug paths (red zones, poison),
 * and a fill that leaves fresh memory alone.
 *
 * kmem_first_not(p, v, n): the first of the n bytes at p that is not v, or
 * NULL if all are. A word at a time (after the bytes up to a word
 * boundary): the debug caches and the drop-in's quarantine check every
 * object they hand out or take back, so this loop is their cost.
 * O(n / sizeof(uintptr_t)). Words are read with memcpy (no aliasing or
 * alignment assumptions; compilers emit one load). Private to the library.
 *
 * kmem_fill_lazy(p, v, n): memset(p, v, n), writing only the 4 KiB pieces
 * (by address) that hold a byte other than v. The instances' set-up
 * clears structures of tens of KiB of which it then uses a few fields
 * (the buddy's 64 region slots, the frame service's per-order state), in
 * memory the drop-in maps fresh: reading it maps the kernel's zero page,
 * writing it would make every page resident (decision 35). O(n); under
 * Valgrind or ASan a plain memset (a read of memory not yet initialised
 * would be an error there).
 */
#ifndef KMEM_MEM_H
#define KMEM_MEM_H

#include "kmem_annot.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline const unsigned char *kmem_first_not(const void *p, int v, size_t n)
{
	const unsigned char *b = p, *end = b + n;
	const unsigned char byte = (unsigned char)v;
	uintptr_t pat = (uintptr_t)-1 / 0xff * byte; /* v in every byte */

	while (b < end && ((uintptr_t)b & (sizeof(uintptr_t) - 1))) {
		if (*b != byte)
			return b;
		b++;
	}
	for (; (size_t)(end - b) >= sizeof(uintptr_t); b += sizeof(uintptr_t)) {
		uintptr_t w;

		memcpy(&w, b, sizeof(w));
		if (w != pat)
			break; /* the byte loop below finds which */
	}
	for (; b < end; b++)
		if (*b != byte)
			return b;
	return NULL;
}

static inline void kmem_fill_lazy(void *p, int v, size_t n)
{
	unsigned char *b = p;

	if (KMEM_ANNOT_ACTIVE()) {
		memset(p, v, n);
		return;
	}
	while (n) {
		size_t len = 4096 - ((uintptr_t)b & 4095);

		if (len > n)
			len = n;
		if (kmem_first_not(b, v, len))
			memset(b, v, len);
		b += len;
		n -= len;
	}
}

#endif /* KMEM_MEM_H */
