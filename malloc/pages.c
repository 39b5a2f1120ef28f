/* pages.c - the drop-in's page path: page blocks (8 KiB < size <= 32 MiB),
 * the frame service's grow and release hooks, the dirty bitmap and the
 * clean reserve, and trim.
 *
 * Algorithm:
 *   1. A page block is a block of 2^k frames from the frame service; the
 *      owner word of its first frame is a tag holding its frame count.
 *      A realloc that shrinks one to a quarter or less trims it in place.
 *   2. grow(): the clean reserve first (the smallest block that fits, else
 *      all of it), then a new region of the arena made read-write.
 *   3. release(): when the buddy's free frames exceed what a pass would keep
 *      (max(high, recent peak - used)) by a quarter, take every free block
 *      of 64 KiB and up out of the buddy, keep the dirty ones up to that
 *      amount, madvise the other dirty ones and hold them and the clean ones
 *      in the clean reserve.
 * The dirty bitmap (one bit per arena frame: may hold data) tells calloc
 * which free frames read as zero.
 *
 * Locking: the grow lock serialises growth; the release lock guards the
 * clean reserve and the release scratch (release passes try-lock it).
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

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
 * holding its frame count, set through the buddy (kmem_buddy_set_tag); slab
 * code that reads the word sees "not a slab" without dereferencing it. */

/* ---- the dirty bitmap ---------------------------------------------------------------- */

/* The bitmap word of frame idx and the mask of the frames [idx, idx + *n)
 * it holds; *n becomes how many of them that is. A whole word belongs to
 * the block covering it; a partial one may be shared with a neighbour, so
 * writes to it are atomic read-modify-writes. */
static inline uint64_t *dirty_word(size_t idx, size_t *n, uint64_t *mask)
{
	size_t bit = idx % 64, take = 64 - bit < *n ? 64 - bit : *n;

	*mask = take == 64 ? UINT64_MAX : (((uint64_t)1 << take) - 1) << bit;
	*n = take;
	return &km.dirty[idx / 64];
}

/* Mark frames [idx, idx + n) as holding data. */
static void dirty_set(size_t idx, size_t n)
{
	while (n) {
		size_t take = n;
		uint64_t mask, *w = dirty_word(idx, &take, &mask);

		if ((kmem_atomic_load_relaxed(w) & mask) != mask) {
			if (mask == UINT64_MAX)
				kmem_atomic_store_relaxed(w, UINT64_MAX);
			else
				kmem_atomic_fetch_or_relaxed(w, mask);
		}
		idx += take;
		n -= take;
	}
}

/* How many of the frames [idx, idx + n) may hold data. */
static size_t dirty_count(size_t idx, size_t n)
{
	size_t c = 0;

	while (n) {
		size_t take = n;
		uint64_t mask, *w = dirty_word(idx, &take, &mask);

		c += (size_t)__builtin_popcountll(kmem_atomic_load_relaxed(w) & mask);
		idx += take;
		n -= take;
	}
	return c;
}

/* Whether any of the frames [idx, idx + n) may hold data. */
static bool dirty_any(size_t idx, size_t n)
{
	while (n) {
		size_t take = n;
		uint64_t mask, *w = dirty_word(idx, &take, &mask);

		if (kmem_atomic_load_relaxed(w) & mask)
			return true;
		idx += take;
		n -= take;
	}
	return false;
}

static void dirty_clear(size_t idx, size_t n)
{
	while (n) {
		size_t take = n;
		uint64_t mask, *w = dirty_word(idx, &take, &mask);

		if (mask == UINT64_MAX)
			kmem_atomic_store_relaxed(w, 0);
		else
			kmem_atomic_fetch_and_relaxed(w, ~mask);
		idx += take;
		n -= take;
	}
}
/* ---- growth and release (frame service callbacks) --------------------------------------- */

static void rsv_push(void *blk, unsigned o)
{
	uint32_t u = (uint32_t)(frame_index(blk) >> KM_RELEASE_MIN_ORDER);

	km.rsv_next[u] = km.rsv_head[o];
	km.rsv_head[o] = u;
	km.rsv_frames += (size_t)1 << o;
}

static void *rsv_pop(unsigned o)
{
	uint32_t u = km.rsv_head[o];

	if (u == UINT32_MAX)
		return NULL;
	km.rsv_head[o] = km.rsv_next[u];
	km.rsv_frames -= (size_t)1 << o;
	return (void *)(km.lo + ((uintptr_t)u << (KM_FRAME_SHIFT + KM_RELEASE_MIN_ORDER)));
}

/* Put clean reserve blocks back into the buddy (rel lock held): the
 * smallest one of at least 2^order frames, or else all of them (buddies
 * merge back there). Returns the frames put back; *fits: whether a block of
 * 2^order frames was among them. */
static size_t rsv_give(unsigned order, bool *fits)
{
	size_t got = 0;

	*fits = false;
	if (!km.rsv_frames)
		return 0;
	for (unsigned o = order < KM_RELEASE_MIN_ORDER ? KM_RELEASE_MIN_ORDER : order;
	     o <= KM_MAX_ORDER; o++) {
		if (km.rsv_head[o] != UINT32_MAX) {
			kmem_buddy_free(km.b, rsv_pop(o));
			*fits = true;
			return (size_t)1 << o;
		}
	}
	for (unsigned o = KM_RELEASE_MIN_ORDER; o <= KM_MAX_ORDER; o++) {
		void *blk;

		while ((blk = rsv_pop(o)) != NULL) {
			kmem_buddy_free(km.b, blk);
			got += (size_t)1 << o;
		}
	}
	return got;
}

/* Whether the buddy has a free block of 2^order frames right now. */
static bool buddy_has(unsigned order)
{
	void *blk = kmem_buddy_alloc(km.b, order);

	if (blk)
		kmem_buddy_free(km.b, blk);
	return blk != NULL;
}

size_t kmem_km_grow(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	size_t want = frames << KM_FRAME_SHIFT, have, sz, meta_sz, added = 0;
	/* the frame service asks for its block plus the low watermark */
	unsigned order = ceil_log2(frames > KM_WMARK_LOW ? frames - KM_WMARK_LOW : frames);
	bool fits;
	void *meta;
	int err;

	(void)arg;
	(void)pa;
	/* Called when free frames ran low or no free block is big enough
	 * (fragmentation). The clean reserve first (this also waits for a
	 * release pass, which holds blocks out of the buddy for a moment),
	 * then a new region (two threads racing here add two; address space
	 * is cheap). */
	kmem_lock_acquire(&km.rel_lock);
	added = rsv_give(order > KM_MAX_ORDER ? KM_MAX_ORDER : order, &fits);
	kmem_lock_release(&km.rel_lock);
	if (added && (fits || order > KM_MAX_ORDER || buddy_has(order)))
		return added;
	kmem_lock_acquire(&km.grow_lock);
	have = km.next - km.lo;
	sz = have / 4;
	if (sz < KM_REGION_MIN)
		sz = KM_REGION_MIN;
	if (sz > KM_REGION_MAX)
		sz = KM_REGION_MAX;
	if (sz < want)
		sz = want;
	sz = (sz + KM_BLOCK_MAX - 1) & ~(KM_BLOCK_MAX - 1);
	if (sz > km.hi - km.next)
		sz = (km.hi - km.next) & ~(KM_BLOCK_MAX - 1);
	if (sz < want || !sz)
		goto out;
	if (mprotect((void *)km.next, sz, PROT_READ | PROT_WRITE) != 0)
		goto out;
	meta_sz = kmem_buddy_region_meta_size(km.b, (void *)km.next, sz);
	meta = kmem_pages_map(meta_sz);
	if (!meta) {
		(void)mprotect((void *)km.next, sz, PROT_NONE);
		goto out;
	}
	err = kmem_buddy_add_region(km.b, (void *)km.next, sz, meta, meta_sz);
	if (err) {
		kmem_pages_unmap(meta, meta_sz);
		(void)mprotect((void *)km.next, sz, PROT_NONE);
		goto out;
	}
	km.next += sz;
	added += sz >> KM_FRAME_SHIFT;
out:
	kmem_lock_release(&km.grow_lock);
	return added;
}

/* Give memory back to the OS. Take every free block of 64 KiB or more out
 * of the buddy; keep up to `keep` frames of the dirty ones (larger blocks
 * first, the most recently freed first within an order) in the buddy:
 * they are likely reused soon, and releasing them would only make the next
 * allocations fault. madvise the other dirty ones, and move them and the
 * clean ones to the clean reserve. Returns the frames madvised. `wait`:
 * wait for a pass in progress (else return 0). */
static size_t km_release_keep(size_t keep, bool wait)
{
	size_t n = 0, released = 0, kept = 0, withdrawn = 0;

	if (wait)
		kmem_lock_acquire(&km.rel_lock);
	else if (!kmem_lock_try_acquire(&km.rel_lock))
		return 0;
	for (unsigned o = KM_MAX_ORDER; o >= KM_RELEASE_MIN_ORDER && n < km.scratch_cap;) {
		void *blk = kmem_buddy_alloc(km.b, o);

		if (!blk) {
			o--;
			continue;
		}
		km.scratch[n++] = (uintptr_t)blk | o;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned o = (unsigned)(km.scratch[i] & 63);
		void *blk = (void *)(km.scratch[i] & ~(uintptr_t)63);
		size_t idx = frame_index(blk), sz = (size_t)1 << o, d = dirty_count(idx, sz);

		if (d) {
			if (kept + d <= keep) {
				kept += d; /* stays resident, back to the buddy below */
				continue;
			}
			KMEM_ANNOT_UNDEFINED(blk, KM_FRAME << o);
			if (kmem_pages_release(blk, KM_FRAME << o) != 0) {
				kept += d; /* cannot release it: keep it usable */
				continue;
			}
			dirty_clear(idx, sz);
			released += d;
		}
		rsv_push(blk, o);
		withdrawn += sz;
		km.scratch[i] = 0;
	}
	/* the kept ones back, last taken first: each order's list keeps its
	 * most recently freed block at the head */
	for (size_t i = n; i-- > 0;)
		if (km.scratch[i])
			kmem_buddy_free(km.b, (void *)(km.scratch[i] & ~(uintptr_t)63));
	kmem_atomic_store_relaxed(&km.rel_next, kmem_buddy_free_frames(km.b) + km.high / 4);
	kmem_lock_release(&km.rel_lock);
	if (withdrawn)
		kmem_pa_withdrawn(km.pa, withdrawn); /* no lock of ours held: fork order */
	return released;
}

/* Monotonic milliseconds (the port layer's clock: CLOCK_MONOTONIC on hosted
 * builds, the firmware hook if one is installed). Read once per release
 * hook call, not per malloc or free. */
static uint64_t now_ms(void)
{
	return kmem_now_ns() / 1000000u;
}

/* The frame service's release hook: free frames passed high + high / 4.
 * A pass runs when the buddy's free frames exceed what it would keep by a
 * quarter, and either the peak decayed since the last check or free frames
 * grew by high / 4 since the last pass (so a buddy full of small free
 * blocks a pass cannot take does not cause a pass per free). */
size_t kmem_km_release(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	size_t free = kmem_buddy_free_frames(km.b), used, peak, keep;
	uint64_t now = now_ms(), last = kmem_atomic_load_relaxed(&km.decay_ms);
	bool decayed = false;

	(void)arg;
	(void)pa;
	(void)frames;
	used = kmem_atomic_load_relaxed(&km.used);
	peak = kmem_atomic_load_relaxed(&km.peak);
	if (now - last >= 1000) {
		uint64_t halvings = (now - last) / 1000;

		if (peak > used) {
			peak = used + ((peak - used) >> (halvings < 63 ? halvings : 63));
			decayed = true;
		}
		kmem_atomic_store_relaxed(&km.peak, peak);
		kmem_atomic_store_relaxed(&km.decay_ms, now);
	}
	keep = peak > used + km.high ? peak - used : km.high;
	if (free <= keep + keep / 4)
		return 0;
	if (!decayed && free < kmem_atomic_load_relaxed(&km.rel_next))
		return 0;
	return km_release_keep(keep, false);
}

/* Account frames handed out (n > 0) or taken back (n < 0). */
static inline void used_add(size_t n)
{
	size_t u = kmem_atomic_add_fetch_relaxed(&km.used, n);

	if (u > kmem_atomic_load_relaxed(&km.peak) && u < (SIZE_MAX >> 1))
		kmem_atomic_store_relaxed(&km.peak, u);
}

/* The slab instance's page source: the frame service, marking what it
 * hands out as dirty. */
void *kmem_km_ps_alloc(void *ctx, unsigned order, unsigned flags)
{
	void *blk = kmem_pa_alloc(ctx, order, flags);

	if (blk) {
		dirty_set(frame_index(blk), (size_t)1 << order);
		used_add((size_t)1 << order);
	}
	return blk;
}

void kmem_km_ps_free(void *ctx, void *block, unsigned order)
{
	used_add(-((size_t)1 << order));
	kmem_pa_free(ctx, block, order);
}

/* ---- the page path --------------------------------------------------------------------------- */

/* A page block of 2^order frames. */
void *kmem_km_page_alloc(unsigned order, bool zero)
{
	void *blk = kmem_pa_alloc(km.pa, order, 0);
	size_t idx, frames = (size_t)1 << order;

	if (!blk)
		return NULL;
	idx = frame_index(blk);
	if (zero && dirty_any(idx, frames))
		memset(blk, 0, frames << KM_FRAME_SHIFT);
	if (KMEM_UNLIKELY(kmem_buddy_set_tag(km.b, blk, frames) != 0)) {
		kmem_pa_free(km.pa, blk, order); /* cannot happen: a block of our arena */
		return NULL;
	}
	dirty_set(idx, frames);
	used_add(frames);
	return blk;
}

/* Free the pieces of a page block of `frames` frames (owner word cleared). */
void kmem_km_page_free(void *p, size_t frames)
{
	char *q = p;

	used_add(-frames);
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
	int err;

	for (unsigned j = ceil_log2(frames) + 1; j-- > 0;) {
		size_t n = (size_t)1 << j;

		if (!(frames & n))
			continue;
		if (off >= nf)
			kmem_pa_free(km.pa, q, j);
		else if (off + n > nf)
			(void)kmem_buddy_trim(km.b, q, (nf - off) << KM_FRAME_SHIFT);
		q += KM_FRAME << j;
		off += n;
	}
	used_add(-(frames - nf));
	err = kmem_buddy_set_tag(km.b, p, nf);
	KMEM_ASSERT(err == 0 && "a page block's first frame takes a tag");
	(void)err;
}

/* The clean reserve's invariants: every block inside the part of the arena
 * in use, aligned to its order, allocated in the buddy at that order (held
 * out of it), reading as zero (no dirty frame) and with no owner; the
 * stacks add up to rsv_frames. Reports each broken one. */
int kmem_km_reserve_check(void)
{
	size_t total = 0, count = 0, limit = km.scratch_cap;
	int bad = 0;

	kmem_lock_acquire(&km.rel_lock);
	for (unsigned o = 0; o <= KM_MAX_ORDER; o++) {
		for (uint32_t u = km.rsv_head[o]; u != UINT32_MAX; u = km.rsv_next[u]) {
			uintptr_t a = km.lo + ((uintptr_t)u << (KM_FRAME_SHIFT + KM_RELEASE_MIN_ORDER));
			const char *what = NULL;

			if (++count > limit) {
				what = "a stack loops";
			} else if (o < KM_RELEASE_MIN_ORDER) {
				what = "a block below the release order";
			} else if (a + (KM_FRAME << o) > km.next || (a - km.lo) & ((KM_FRAME << o) - 1)) {
				what = "a block outside the arena or misaligned";
			} else if (kmem_buddy_block_order(km.b, (void *)a) != (int)o) {
				what = "a block the buddy does not hold out at its order";
			} else if (dirty_any(frame_index((void *)a), (size_t)1 << o)) {
				what = "a block with dirty frames";
			} else if (kmem_buddy_owner(km.b, (void *)a)) {
				what = "a block with an owner";
			}
			if (what) {
				kmem_km_write_all(2, "kmem-malloc: check: clean reserve: ", 35);
				kmem_km_write_all(2, what, strlen(what));
				kmem_km_write_all(2, "\n", 1);
				bad = 1;
				if (count > limit)
					break;
			}
			total += (size_t)1 << o;
		}
	}
	if (!bad && total != km.rsv_frames) {
		static const char msg[] = "kmem-malloc: check: clean reserve: count differs from its blocks\n";

		kmem_km_write_all(2, msg, sizeof(msg) - 1);
		bad = 1;
	}
	kmem_lock_release(&km.rel_lock);
	return bad;
}

void kmem_km_page_stats(size_t mapped, size_t *dirty, size_t *reserve)
{
	*dirty = dirty_count(0, mapped);
	kmem_lock_acquire(&km.rel_lock);
	*reserve = km.rsv_frames;
	kmem_lock_release(&km.rel_lock);
}

KM_EXPORT size_t kmem_malloc_trim(size_t keep)
{
	size_t free, keep_frames = keep >> KM_FRAME_SHIFT, got;

	if (!km_ready())
		return 0;
	(void)kmem_slab_shrink(km.s);
	(void)kmem_pa_drain(km.pa);
	free = kmem_buddy_free_frames(km.b);
	if (free <= keep_frames)
		return 0;
	got = km_release_keep(keep_frames, true);
	return got << KM_FRAME_SHIFT;
}
