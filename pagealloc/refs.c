/* refs.c - the frame service's reference counts of shared blocks and
 * copy-on-write.
 *
 * Algorithm (Linux's page refcount and do_wp_page, with the counts kept
 * aside instead of in a struct page):
 *   1. A block without an entry has one reference. get() inserts an entry
 *      with 2, or adds one; put() drops one, removing the entry at 1 and
 *      freeing the block at 0; a checked free of a shared block drops a
 *      reference instead of freeing.
 *   2. The table is open addressing with linear probing from a Fibonacci
 *      hash of the frame number (Knuth TAOCP 6.4); removal shifts the later
 *      entries of the probe run back (Algorithm R), so there are no
 *      tombstones and a lookup stops at the first empty slot.
 *   3. It doubles (at least one frame's worth rounded down to a power of
 *      two, 4 slots minimum) before the load would pass 1/2, rehashing into
 *      a new buddy block.
 *   4. cow(): a block with at most one reference is returned as is;
 *      otherwise a copy is allocated (a dirty request: memcpy overwrites
 *      it), filled, and the original loses the caller's reference.
 * Bound: get/put/refcount O(1) expected at load <= 1/2, O(ref_cap) worst;
 * a growth O(ref_cap); get and refcount also scan the block's pool and the
 * caller's cache, O(pooled blocks of its order), to refuse free blocks; cow
 * adds the memcpy of the block.
 *
 * Data structures and invariant P7 (and P1: no free block has an entry):
 * see pa_internal.h.
 *
 * Locking: pa->lock protects the table; kmem_pa_ref_find_locked,
 * kmem_pa_ref_remove_locked and ref_insert_locked expect it held. The table
 * grows with buddy calls nested inside it.
 *
 * Tunables: none (the load bound 1/2 keeps linear-probing runs short).
 */
#include "pa_internal.h"

/* ---- reference counts ------------------------------------------------------------- */

struct pa_ref *kmem_pa_ref_find_locked(struct kmem_pagealloc *pa, uintptr_t a)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the reference table needs the instance lock");
	if (!pa->ref_cap)
		return NULL;
	for (size_t i = pa_ref_slot(pa, a);; i = (i + 1) & (pa->ref_cap - 1)) {
		if (pa->refs[i].addr == a)
			return &pa->refs[i];
		if (!pa->refs[i].addr)
			return NULL;
	}
}

/* Remove an entry, shifting later ones of its probe run back. */
void kmem_pa_ref_remove_locked(struct kmem_pagealloc *pa, struct pa_ref *e)
{
	size_t mask = pa->ref_cap - 1, i = (size_t)(e - pa->refs), j = i;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the reference table needs the instance lock");
	pa->refs[i].addr = 0;
	pa->ref_n--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!pa->refs[j].addr)
			return;
		home = pa_ref_slot(pa, pa->refs[j].addr);
		/* move j back to i if its home is not cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			pa->refs[i] = pa->refs[j];
			pa->refs[j].addr = 0;
			i = j;
		}
	}
}

static int ref_insert_locked(struct kmem_pagealloc *pa, uintptr_t a, uint32_t refs)
{
	size_t i;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the reference table needs the instance lock");
	if ((pa->ref_n + 1) * 2 > pa->ref_cap) {
		/* grow: a table twice the size; the first one as many entries as a
		 * frame holds, rounded down to a power of two (P7: with a 12-byte
		 * entry a 4 KiB frame holds 341, and the probe masks need 256) */
		size_t fit = pa->frame_size / sizeof(struct pa_ref);
		size_t ncap = pa->ref_cap ? pa->ref_cap * 2
			      : fit > 4 ? (size_t)1 << kmem_flsptr(fit) : 4;
		int order = kmem_buddy_size_to_order(pa->b, ncap * sizeof(struct pa_ref));
		struct pa_ref *old = pa->refs, *nt;
		size_t ocap = pa->ref_cap;
		unsigned oorder = pa->ref_order;

		KMEM_ASSERT(kmem_is_pow2(ncap) && "P7: the probe masks need a power of two");
		if (order < 0 || (nt = kmem_pa_meta_alloc(pa, (unsigned)order, true)) == NULL)
			return -ENOMEM;
		memset(nt, 0, ncap * sizeof(struct pa_ref));
		pa->refs = nt;
		pa->ref_cap = ncap;
		pa->ref_order = (unsigned)order;
		pa->ref_n = 0;
		for (size_t k = 0; k < ocap; k++)
			if (old[k].addr)
				(void)ref_insert_locked(pa, old[k].addr, old[k].refs);
		if (old)
			(void)kmem_buddy_free_checked(pa->b, old, (int)oorder);
	}
	for (i = pa_ref_slot(pa, a); pa->refs[i].addr; i = (i + 1) & (pa->ref_cap - 1))
		;
	pa->refs[i].addr = a;
	pa->refs[i].refs = refs;
	pa->ref_n++;
	return 0;
}

int kmem_pa_get(struct kmem_pagealloc *pa, void *block)
{
	struct pa_ref *e;
	int rc = 0;

	int o;

	if (!block || (o = kmem_buddy_block_order(pa->b, block)) < 0)
		return -EINVAL;
	kmem_lock_acquire(&pa->lock);
	if (kmem_pa_pooled_or_cached_locked(pa, block, (unsigned)o)) {
		kmem_lock_release(&pa->lock);
		return -EINVAL;
	}
	e = kmem_pa_ref_find_locked(pa, (uintptr_t)block);
	if (e) {
		if (e->refs >= INT32_MAX)
			rc = -EOVERFLOW;
		else
			e->refs++;
	} else {
		rc = ref_insert_locked(pa, (uintptr_t)block, 2);
	}
	kmem_lock_release(&pa->lock);
	return rc;
}

unsigned kmem_pa_put(struct kmem_pagealloc *pa, void *block, unsigned order)
{
	struct pa_ref *e;
	unsigned left = 0;

	if (!block)
		return 0;
	kmem_lock_acquire(&pa->lock);
	e = kmem_pa_ref_find_locked(pa, (uintptr_t)block);
	if (e) {
		left = --e->refs;
		if (left == 1)
			kmem_pa_ref_remove_locked(pa, e);
	}
	kmem_lock_release(&pa->lock);
	if (!left)
		kmem_pa_free(pa, block, order);
	return left;
}

unsigned kmem_pa_refcount(struct kmem_pagealloc *pa, const void *block)
{
	struct pa_ref *e;
	unsigned refs;

	int o;

	if (!block || (o = kmem_buddy_block_order(pa->b, block)) < 0)
		return 0;
	kmem_lock_acquire(&pa->lock);
	e = kmem_pa_ref_find_locked(pa, (uintptr_t)block);
	refs = e ? e->refs : kmem_pa_pooled_or_cached_locked(pa, block, (unsigned)o) ? 0 : 1;
	kmem_lock_release(&pa->lock);
	return refs;
}

void *kmem_pa_cow(struct kmem_pagealloc *pa, void *block, unsigned order, unsigned flags)
{
	void *copy;

	if (kmem_pa_refcount(pa, block) <= 1)
		return block;
	copy = kmem_pa_alloc(pa, order, flags & ~KMEM_PAGE_ZERO);
	if (!copy)
		return NULL;
	memcpy(copy, block, pa_blk_bytes(pa, order));
	(void)kmem_pa_put(pa, block, order);
	return copy;
}
