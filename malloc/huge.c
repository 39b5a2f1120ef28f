/* huge.c - the drop-in's huge path: blocks over 32 MiB (the largest page
 * block), each its own anonymous mapping, remembered in an open-addressing
 * hash table (address -> length, usable size); realloc moves one with
 * mremap. O(1) expected per call.
 *
 * Locking: the huge lock guards the table; mmap/munmap run outside it
 * where they can.
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <sys/mman.h>

/* ---- the huge path: one mapping per block ------------------------------------------------- */

static size_t huge_slot(uintptr_t a, size_t cap)
{
	return (size_t)((a >> 12) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

/* huge lock held */
static bool huge_insert_locked(uintptr_t a, size_t len, size_t size)
{
	if ((km.huge_used + 1) * 4 >= km.huge_cap * 3) {
		size_t ncap = km.huge_cap ? km.huge_cap * 2 : 256;
		struct km_huge *nt = kmem_pages_map(ncap * sizeof(*nt));

		if (!nt)
			return false;
		for (size_t i = 0; i < km.huge_cap; i++) {
			const struct km_huge *e = &km.huge[i];

			if (e->addr > 1) {
				size_t j = huge_slot(e->addr, ncap);

				while (nt[j].addr)
					j = (j + 1) & (ncap - 1);
				nt[j] = *e;
			}
		}
		if (km.huge)
			kmem_pages_unmap(km.huge, km.huge_cap * sizeof(*km.huge));
		km.huge = nt;
		km.huge_cap = ncap;
		km.huge_used = km.huge_n;
	}
	{
		size_t j = huge_slot(a, km.huge_cap);

		while (km.huge[j].addr > 1)
			j = (j + 1) & (km.huge_cap - 1);
		if (!km.huge[j].addr)
			km.huge_used++;
		km.huge[j].addr = a;
		km.huge[j].len = len;
		km.huge[j].size = size;
		km.huge_n++;
	}
	return true;
}

static struct km_huge *huge_find_locked(uintptr_t a)
{
	if (!km.huge_cap)
		return NULL;
	for (size_t j = huge_slot(a, km.huge_cap);; j = (j + 1) & (km.huge_cap - 1)) {
		struct km_huge *e = &km.huge[j];

		if (e->addr == a)
			return e;
		if (!e->addr)
			return NULL;
	}
}

void *kmem_km_huge_alloc(size_t size, size_t align)
{
	size_t len, extra = align > KM_FRAME ? align : 0;
	uintptr_t a, b;
	void *p;

	if (size > SIZE_MAX - KM_FRAME - extra)
		return NULL;
	len = (size + KM_FRAME - 1) & ~(KM_FRAME - 1);
	p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uintptr_t)p;
	if (extra) { /* trim to the alignment */
		b = (a + align - 1) & ~(align - 1);
		if (b > a)
			munmap(p, b - a);
		if (b + len < a + len + extra)
			munmap((void *)(b + len), a + extra - b);
		a = b;
	}
	kmem_lock_acquire(&km.huge_lock);
	if (!huge_insert_locked(a, len, len)) {
		kmem_lock_release(&km.huge_lock);
		munmap((void *)a, len);
		return NULL;
	}
	kmem_lock_release(&km.huge_lock);
	return (void *)a;
}

/* Free a huge block; false if p is not one. */
bool kmem_km_huge_free(void *p)
{
	struct km_huge *e;
	size_t len;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked((uintptr_t)p);
	if (!e) {
		kmem_lock_release(&km.huge_lock);
		return false;
	}
	len = e->len;
	e->addr = 1;
	km.huge_n--;
	kmem_lock_release(&km.huge_lock);
	munmap(p, len);
	return true;
}

size_t kmem_km_huge_size(const void *p)
{
	struct km_huge *e;
	size_t n = 0;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked((uintptr_t)p);
	if (e)
		n = e->size;
	kmem_lock_release(&km.huge_lock);
	return n;
}

/* Resize a huge block in place or by moving its pages (mremap); NULL if
 * that fails (p still valid). */
void *kmem_km_huge_realloc(void *p, size_t size)
{
	size_t len = (size + KM_FRAME - 1) & ~(KM_FRAME - 1);
	struct km_huge *e;
	void *q;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked((uintptr_t)p);
	if (!e) {
		kmem_lock_release(&km.huge_lock);
		return NULL;
	}
	q = mremap(p, e->len, len, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		kmem_lock_release(&km.huge_lock);
		return NULL;
	}
	if (q == p) {
		e->len = e->size = len;
	} else {
		e->addr = 1;
		km.huge_n--;
		if (!huge_insert_locked((uintptr_t)q, len, len)) {
			/* no room to remember it: give it back as a copy cannot be made */
			kmem_lock_release(&km.huge_lock);
			munmap(q, len);
			return NULL;
		}
	}
	kmem_lock_release(&km.huge_lock);
	return q;
}

void kmem_km_huge_stats(size_t *n, size_t *bytes)
{
	size_t b = 0;

	kmem_lock_acquire(&km.huge_lock);
	*n = km.huge_n;
	for (size_t i = 0; i < km.huge_cap; i++)
		if (km.huge[i].addr > 1)
			b += km.huge[i].len;
	kmem_lock_release(&km.huge_lock);
	*bytes = b;
}
