/* pages.c - the drop-in's page path: page blocks (8 KiB < size <= 4 MiB),
 * the frame service's grow hook, and trim.
 *
 * Algorithm:
 *   1. A page block is a block of 2^k frames from the frame service; the
 *      owner word of its first frame is a tag holding its frame count.
 *      calloc asks for a zeroed block (KMEM_PAGE_ZERO): released or never
 *      touched memory comes without a memset. A realloc that shrinks one
 *      to a quarter or less trims it in place (kmem_pa_trim).
 *   2. grow(): a new region of the arena made read-write and added to the
 *      frame service as fresh memory (KMEM_PA_REGION_ZERO: its released
 *      pool, used once no dirty block is left). A placed arena (decision
 *      17) maps the region's owner words first; under an address-space
 *      limit it maps no more: the region goes to the released pool
 *      unmapped (KMEM_PA_REGION_UNMAPPED) and the frame service maps each
 *      block as it takes it (kmem_km_as_map). Sizes: a quarter of what the
 *      arena has, 64 MiB to 4 GiB (64 GiB in 35 regions), at most the
 *      limit; the first one, when set-up runs under a limit, twice the
 *      high watermark within 4 MiB .. limit / 8 (heap.c).
 *   3. Address space back (placed arena, under a limit): the frame
 *      service's release step unmaps the blocks it releases
 *      (kmem_km_as_unmap) and keeps only `high` free frames mapped
 *      (kmem_km_as_tight); without a limit it only madvises them (an
 *      unmapped hole costs a kernel map entry).
 * Giving memory back to the system is the frame service's release step
 * (KMEM_PA_RELEASE on its decay curve, run by the reaper thread or in
 * bounded steps by the freeing thread: decision 29): the heap keeps no
 * frame state of its own.
 *
 * Locking: the grow lock serialises growth (taken before the frame
 * service's locks: the fork handlers take it first).
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <errno.h>
#include <string.h>

/* Page blocks are whole power-of-two blocks when allocated. Trimming them to
 * the frames asked for (Linux's alloc_pages_exact) was tried and lost: the
 * freed tails, taken by other blocks, keep big blocks from merging back, and
 * on 64 KiB..4 MiB traffic (bench/malloc/wl_large.c) peak RSS went from 1.3x
 * to 2.5x glibc's. A realloc that shrinks a block to a quarter or less
 * trims it in place instead of copying: the frames it gives back are at
 * least three quarters of the block, in big pieces. A trimmed block is one
 * buddy block per set bit of its frame count, largest first, rounded up to
 * an eighth of its power of two (so at most three pieces).
 * The owner word of a page block's first frame is a tag (kmem/page_source.h)
 * holding its frame count, stored in the buddy's owner table (km_tag_set,
 * the word kmem_buddy_set_tag would set); slab
 * code that reads the word sees "not a slab" without dereferencing it. */

/* ---- growth (the frame service's hook) ------------------------------------------------ */

size_t kmem_km_as_limit(bool now)
{
	uint64_t t = kmem_now_ns();

	if (now || t - kmem_atomic_load_relaxed(&km.as_read_ns) >= KM_AS_RECHECK_NS) {
		kmem_atomic_store_relaxed(&km.as_limit, kmem_as_limit());
		kmem_atomic_store_relaxed(&km.as_read_ns, t);
	}
	return kmem_atomic_load_relaxed(&km.as_limit);
}

int kmem_km_as_tight(void *arg)
{
	(void)arg;
	return kmem_km_as_limit(false) != SIZE_MAX;
}

int kmem_km_as_unmap(void *arg, void *block, size_t bytes)
{
	(void)arg;
	return kmem_pages_unmap_range(block, bytes);
}

int kmem_km_as_map(void *arg, void *block, size_t bytes)
{
	(void)arg;
	return kmem_pages_map_at(block, bytes);
}

/* Placed arena: map the owner words of [km.top, upto) and publish the new
 * bound (grow lock held). upto - km.lo a multiple of 2 MiB (whole pages of
 * owner words). */
static bool owner_map(uintptr_t upto)
{
	size_t from = (km.top - km.lo) >> KM_FRAME_SHIFT, to = (upto - km.lo) >> KM_FRAME_SHIFT;

	if (upto <= km.top)
		return true;
	if (kmem_pages_map_at(km.owner + from, (to - from) * sizeof(void *)) != 0)
		return false;
	/* readers that see the old bound take the slow path: a block of the
	 * new region reaches a thread only through the frame service's lock,
	 * taken after this */
	kmem_atomic_store_release(&km.frames, to);
	kmem_km_fast_gates(); /* free's bound follows (0 while tracing) */
	kmem_atomic_store_release(&km.top, upto);
	return true;
}

size_t kmem_km_grow(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	size_t want = frames << KM_FRAME_SHIFT, have, sz, meta_sz, limit, added = 0;
	bool lazy = false;
	void *meta;
	int err;

	(void)arg;
	/* Called when free frames ran low or no free block is big enough
	 * (fragmentation): a new region (two threads racing here add two;
	 * address space is cheap). pa is NULL for the first region, added
	 * before the frame service exists. */
	kmem_lock_acquire(&km.grow_lock);
	limit = kmem_km_as_limit(true);
	have = km.next - km.lo;
	sz = have / 4;
	if (sz < KM_REGION_MIN)
		sz = KM_REGION_MIN;
	if (sz > KM_REGION_MAX)
		sz = KM_REGION_MAX;
	if (km.placed && limit != SIZE_MAX) {
		/* under an address-space limit: the region's range is mapped
		 * block by block as the frame service takes it (its
		 * metadata, 0.4% of it, is all it costs until then), and is
		 * no larger than the limit; the first one (taken from by the
		 * layers' set-up before the frame service exists) is mapped,
		 * and small */
		size_t cap = limit & ~(KM_BLOCK_MAX - 1);

		if (sz > cap)
			sz = cap > KM_BLOCK_MAX ? cap : KM_BLOCK_MAX;
		lazy = pa != NULL;
		if (!pa && km.first_region)
			sz = km.first_region;
	}
	if (sz < want)
		sz = want;
	if (pa || !km.first_region) /* regions end on a largest-block boundary */
		sz = ((km.next + sz + KM_BLOCK_MAX - 1) & ~(KM_BLOCK_MAX - 1)) - km.next;
	if (sz > km.hi - km.next)
		sz = km.hi - km.next;
	if (sz < want || !sz)
		goto out;
	if (km.placed) {
		if (!owner_map(km.next + sz))
			goto out;
		if (!lazy) {
			err = kmem_pages_map_at((void *)km.next, sz);
			if (err == -ENOMEM && pa)
				lazy = true; /* a limit lowered since: map as taken */
			else if (err)
				goto out;
		}
	} else if (kmem_pages_commit((void *)km.next, sz) != 0) {
		goto out;
	}
	meta_sz = kmem_buddy_region_meta_size(km.b, (void *)km.next, sz);
	meta = kmem_pages_map(meta_sz);
	err = -ENOMEM;
	if (meta && pa)
		err = kmem_pa_add_region(pa, (void *)km.next, sz, meta, meta_sz,
					 lazy ? KMEM_PA_REGION_UNMAPPED : KMEM_PA_REGION_ZERO);
	else if (meta)
		err = kmem_buddy_add_region(km.b, (void *)km.next, sz, meta, meta_sz);
	if (err) {
		if (meta)
			kmem_pages_unmap(meta, meta_sz);
		if (!km.placed)
			(void)kmem_pages_decommit((void *)km.next, sz);
		else if (!lazy)
			(void)kmem_pages_unmap_range((void *)km.next, sz);
		goto out;
	}
	km.next += sz;
	added += sz >> KM_FRAME_SHIFT;
out:
	kmem_lock_release(&km.grow_lock);
	return added;
}

/* ---- the page path --------------------------------------------------------------------------- */

/* A page block of 2^order frames. */
void *kmem_km_page_alloc(unsigned order, bool zero)
{
	void *blk = kmem_pa_alloc(km.pa, order, zero ? KMEM_PAGE_ZERO : 0);
	size_t frames = (size_t)1 << order;

	if (!blk)
		return NULL;
	km_tag_set(blk, frames);
	return blk;
}

/* Free the pieces of a page block of `frames` frames (owner word cleared). */
void kmem_km_page_free(void *p, size_t frames)
{
	char *q = p;

	if (KMEM_LIKELY(!(frames & (frames - 1)))) { /* untrimmed: one piece */
		kmem_pa_free(km.pa, p, ceil_log2(frames));
		return;
	}
	for (unsigned j = ceil_log2(frames) + 1; j-- > 0;) {
		if (frames & ((size_t)1 << j)) {
			kmem_pa_free(km.pa, q, j);
			q += KM_FRAME << j;
		}
	}
}

/* Shrink a live page block of `frames` frames in place to nf < frames
 * (nf a valid exact size of its order): pieces past nf are freed, the one
 * holding the new end is trimmed, the pieces keep the "one per set bit"
 * layout. */
void kmem_km_page_shrink(void *p, size_t frames, size_t nf)
{
	char *q = p;
	size_t off = 0;

	for (unsigned j = ceil_log2(frames) + 1; j-- > 0;) {
		size_t n = (size_t)1 << j;

		if (!(frames & n))
			continue;
		if (off >= nf)
			kmem_pa_free(km.pa, q, j);
		else if (off + n > nf)
			(void)kmem_pa_trim(km.pa, q, (nf - off) << KM_FRAME_SHIFT);
		q += KM_FRAME << j;
		off += n;
	}
	km_tag_set(p, nf);
}

KM_EXPORT size_t kmem_malloc_trim(size_t keep)
{
	size_t huge;

	if (!km_ready())
		return 0;
	huge = kmem_km_huge_cache_flush(); /* freed huge mappings kept for reuse */
	(void)kmem_slab_shrink(km.s);
	(void)kmem_pa_drain(km.pa);
	return huge + (kmem_pa_release(km.pa, keep >> KM_FRAME_SHIFT) << KM_FRAME_SHIFT);
}
