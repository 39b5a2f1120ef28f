/* kmem_mem.h - byte-pattern checks for the debug paths (red zones, poison).
 *
 * kmem_first_not(p, v, n): the first of the n bytes at p that is not v, or
 * NULL if all are. A word at a time (after the bytes up to a word
 * boundary): the debug caches and the drop-in's quarantine check every
 * object they hand out or take back, so this loop is their cost.
 * O(n / sizeof(uintptr_t)). Words are read with memcpy (no aliasing or
 * alignment assumptions; compilers emit one load). Private to the library.
 */
#ifndef KMEM_MEM_H
#define KMEM_MEM_H

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

#endif /* KMEM_MEM_H */
