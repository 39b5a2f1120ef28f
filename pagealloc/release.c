/* release.c - the released pool and the release step: free memory given
 * back to the system, held by the frame service until it is needed again.
 *
 * Algorithm:
 *   1. A released block is a USED buddy block the frame service holds whose
 *      memory was given back to the system (kmem_pages_release: madvise
 *      MADV_DONTNEED on Linux) or never touched (a region added with
 *      KMEM_PA_REGION_ZERO): it reads zero and costs no memory until it is
 *      written. The blocks of order o form a LIFO list linked through the
 *      owner word of each block's first frame, a source tag
 *      (KMEM_OWNER_TAG_SOURCE | next block's frame number; 0: end), so the
 *      pool needs no memory of its own and a stray free of a released
 *      block is recognised in O(1).
 *   2. Taking (kmem_pa_rel_take_locked, after the buddy and the dirty pools
 *      failed): the smallest released block of the order wanted or more;
 *      a bigger one is split in the buddy (kmem_buddy_split) and the halves
 *      cut off stay released. Zeroed requests take it without a memset.
 *   3. The policy (kmem_pa_release_excess; decision 29): a decay curve,
 *      jemalloc's dirty_decay_ms. Time is cut in epochs of decay_ns /
 *      KMEM_PA_DECAY_STEPS (10 s / 32 = 312 ms by default); at the end of
 *      an epoch the frames the buddy gained since the last epoch's release
 *      (free now - what that release left) enter a backlog of 32 epochs,
 *      and keep = max(high, sum of backlog[i] * curve[i]), the curve a
 *      falling smootherstep (the newest epoch's frames kept whole, ones
 *      freed decay_ns ago not at all). What the buddy holds beyond keep is
 *      the epoch's debt, released by passes: all at once by the reaper
 *      (it sleeps until the next epoch while memory above high decays), or
 *      PA_REL_INLINE_BLOCKS blocks per call by a freeing thread when no
 *      reaper runs (the rest at its next frees), so no free pays for the
 *      whole heap. decay 0: down to high after every free that leaves more
 *      than high + high / 4 (also while as_tight says address space is
 *      scarce); -1: never (only kmem_pa_release). What a pass could not
 *      pay stays in decay_base (not counted as freed at the next epoch);
 *      once keep is high and 64 KiB blocks did not pay, a whole step (the
 *      reaper's) releases smaller pieces too (decision 36).
 *   4. A pass (release_pass) takes `want` frames out of the buddy, largest
 *      first: blocks of order r = min(floor(log2(left)), max_order), an
 *      exact free block or a bigger one split (the buddy keeps the rest),
 *      r lowered when none is free (the buddy's free counts per order,
 *      followed as blocks are taken, say which orders can give); they are
 *      counted busy (still free for the watermarks), released with no lock
 *      held, and pushed on the pool; a block the system refuses goes back
 *      to the buddy. Nothing else of the buddy is touched.
 *   5. Fragmentation (no block of the order anywhere, only smaller released
 *      ones): released blocks go back to the buddy, smallest order first,
 *      until the buddy can merge a block of the order (they are taken as
 *      dirty from then on: the fewer, the less a later pass mistakes clean
 *      memory for dirty).
 *   6. Address space (the as_* hooks of kmem_pa_config, optional): while
 *      as_tight says address space is scarce (an RLIMIT_AS), the policy
 *      keeps only high frames and a pass unmaps what it releases
 *      (as_unmap; a block it declines is released as usual). An unmapped
 *      block is marked in its link (PA_REL_UNMAPPED) and mapped again
 *      (as_map, lock held) when taken or returned to the buddy; one that
 *      cannot be mapped stays in the pool (as_map_failed: the slow path
 *      does not grow for it). Regions added with KMEM_PA_REGION_UNMAPPED
 *      enter the pool unmapped. A pass that finds the pool holding mapped
 *      blocks while tight (released before the limit came, or fresh
 *      regions mapped whole) unmaps those first (rel_unmap_mapped).
 * Bound: take O(max_order) plus a split; a pass O(blocks released *
 * max_order) lock-held steps plus one system call per block; the policy
 * test O(1) (a clock read and two relaxed loads between epochs), an epoch's
 * reckoning O(KMEM_PA_DECAY_STEPS).
 *
 * Data structures and invariant P9: see pa_internal.h.
 *
 * Locking: rel_lock serialises passes and the decay's state (taken before
 * pa->lock; the policy try-locks it, kmem_pa_release waits; decay_epoch,
 * decay_keep and rel_debt are also read relaxed as hints); the lists and
 * counts change under pa->lock; owner words are written with the buddy's
 * relaxed tag calls.
 * kmem_pa_add_region holds pa->lock from the buddy's add_region to the
 * last claim, so no allocation finds a fresh region's blocks in the buddy
 * before they enter the pool (an unmapped one would be handed out
 * unmapped).
 *
 * Tunables: release_order (64 KiB: smaller blocks are not worth a system
 * call each, and most of a small program's churn is below it); decay_ms
 * (KMEM_PA_DECAY_DEFAULT_MS, 10 s, jemalloc's default: a program between
 * two phases keeps its memory, one that shrank for good gives most of it
 * back in 5 s and all of it in 10); KMEM_PA_DECAY_STEPS (32 epochs);
 * PA_REL_INLINE_BLOCKS (8 system calls at most in a free); decay 0's
 * quarter hysteresis (a pass per free otherwise).
 */
#include "pa_internal.h"

/* ---- the list links (owner words) -------------------------------------------- */

/* A link's mark for a block that is not mapped (the as_* hooks): the bit
 * below the source bit, above every frame number (kmem_pa_rel_init checks).
 *   tag value = SOURCE | [UNMAPPED] | next block's frame number (0: end) */
#define PA_REL_UNMAPPED (KMEM_OWNER_TAG_SOURCE >> 1)

static uintptr_t rel_link(const struct kmem_pagealloc *pa, const void *next, bool unmapped)
{
	return KMEM_OWNER_TAG_SOURCE | (unmapped ? PA_REL_UNMAPPED : 0) |
	       (next ? (uintptr_t)next >> pa->frame_shift : 0);
}

static uintptr_t rel_tag(struct kmem_pagealloc *pa, const void *blk)
{
	uintptr_t v = 0;

	(void)kmem_buddy_get_tag(pa->b, blk, &v);
	return v;
}

bool kmem_pa_rel_unmapped(struct kmem_pagealloc *pa, const void *blk)
{
	return (rel_tag(pa, blk) & PA_REL_UNMAPPED) != 0;
}

bool kmem_pa_rel_holds(struct kmem_pagealloc *pa, const void *blk)
{
	uintptr_t v;

	return pa->rel_ok && kmem_buddy_get_tag(pa->b, blk, &v) == 1 &&
	       (v & KMEM_OWNER_TAG_SOURCE) && !((uintptr_t)blk & (pa->frame_size - 1));
}

/* The block after blk on its list (NULL at the end). */
void *kmem_pa_rel_next(struct kmem_pagealloc *pa, const void *blk)
{
	uintptr_t v = rel_tag(pa, blk) & ~(KMEM_OWNER_TAG_SOURCE | PA_REL_UNMAPPED);

	return v ? (void *)(v << pa->frame_shift) : NULL;
}

/* Clear the source tag of blk (a chained block: its link). */
static void rel_untag(struct kmem_pagealloc *pa, void *blk)
{
	int err = kmem_buddy_clear_tag(pa->b, blk, rel_tag(pa, blk));

	KMEM_ASSERT(err == 0 && "a chained block carries its link");
	(void)err;
}

/* Map an unmapped block of order o again (the as_map hook; lock held):
 * true, or false and the failure noted for the slow path (no grow for it). */
static bool rel_map_locked(struct kmem_pagealloc *pa, void *blk, unsigned o)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the released pool needs the instance lock");
	if (pa->as_map(pa->as_arg, blk, pa_blk_bytes(pa, o)) == 0)
		return true;
	pa->as_map_failed = true;
	return false;
}

/* Push a block of order o, already given back or never touched (unmapped:
 * given back with as_unmap, or never mapped). */
static void rel_push_locked(struct kmem_pagealloc *pa, void *blk, unsigned o, bool unmapped)
{
	int err;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the released pool needs the instance lock");
	err = kmem_buddy_set_tag(pa->b, blk, rel_link(pa, pa->rel_head[o], unmapped));
	KMEM_ASSERT(err == 0 && "P9: a released block takes a source tag");
	(void)err;
	pa_annot_park(pa, blk, o);
	pa->rel_head[o] = blk;
	pa->rel_n[o]++;
	if (!unmapped)
		pa->rel_mapped += (size_t)1 << o;
	kmem_relaxed_add_size(&pa->rel_frames, (size_t)1 << o);
}

/* Pop a block of order o; *unmapped says whether its link marked it. */
static void *rel_pop_locked(struct kmem_pagealloc *pa, unsigned o, bool *unmapped)
{
	void *blk = pa->rel_head[o];
	int err;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the released pool needs the instance lock");
	if (!blk)
		return NULL;
	pa->rel_head[o] = kmem_pa_rel_next(pa, blk);
	*unmapped = kmem_pa_rel_unmapped(pa, blk);
	err = kmem_buddy_clear_tag(pa->b, blk, rel_link(pa, pa->rel_head[o], *unmapped));
	KMEM_ASSERT(err == 0 && "P9: a released block carries its link");
	(void)err;
	pa->rel_n[o]--;
	if (!*unmapped)
		pa->rel_mapped -= (size_t)1 << o;
	kmem_relaxed_add_size(&pa->rel_frames, -((size_t)1 << o));
	return blk;
}

int kmem_pa_rel_init(struct kmem_pagealloc *pa)
{
	struct kmem_page_source ps;
	unsigned o = 0;

	kmem_buddy_page_source(pa->b, &ps);
	pa->rel_ok = ps.set_owner != NULL && pa->frame_shift >= 2;
	while (o < pa->max_order && (pa->frame_size << o) < 65536)
		o++;
	if (pa->rel_order == 0 || pa->rel_order > pa->max_order)
		pa->rel_order = pa->rel_order ? pa->max_order : o;
	if (pa->decay_ns && pa->decay_ns != UINT64_MAX)
		pa->decay_epoch = kmem_pa_clock(pa) + pa->decay_ns / KMEM_PA_DECAY_STEPS;
	if ((UINTPTR_MAX >> pa->frame_shift) >= PA_REL_UNMAPPED) {
		/* frame numbers would reach the mark: no unmapped blocks */
		pa->as_tight = NULL;
		pa->as_unmap = NULL;
		pa->as_map = NULL;
	}
	return kmem_lock_init(&pa->rel_lock, true);
}

/* ---- taking ------------------------------------------------------------------ */

void *kmem_pa_rel_take_locked(struct kmem_pagealloc *pa, unsigned order)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the released pool needs the instance lock");
	if (!pa_relaxed(&pa->rel_frames))
		return NULL;
	for (unsigned o = order; o <= pa->max_order; o++) {
		bool unmapped;
		void *blk = rel_pop_locked(pa, o, &unmapped);

		if (!blk)
			continue;
		if (o > order) {
			int pieces = kmem_buddy_split(pa->b, blk, order);

			KMEM_ASSERT(pieces == (int)(o - order) + 1 && "P9: a released block splits");
			(void)pieces;
			for (unsigned j = order; j < o; j++)
				rel_push_locked(pa, (char *)blk + (pa->frame_size << j), j, unmapped);
		}
		if (unmapped && !rel_map_locked(pa, blk, order)) {
			rel_push_locked(pa, blk, order, true); /* address space is short */
			return NULL;
		}
		pa_count(&pa->released_reused, (uint64_t)1 << order);
		return blk;
	}
	return NULL;
}

/* Released blocks of order o back to the buddy (lock held); frames. */
static size_t rel_return_order_locked(struct kmem_pagealloc *pa, unsigned o)
{
	size_t frames = 0;
	bool unmapped;
	void *blk;

	while ((blk = rel_pop_locked(pa, o, &unmapped)) != NULL) {
		if (unmapped && !rel_map_locked(pa, blk, o)) {
			rel_push_locked(pa, blk, o, true); /* stays released */
			break;
		}
		KMEM_ANNOT_UNDEFINED(blk, pa_blk_bytes(pa, o));
		kmem_buddy_free(pa->b, blk);
		frames += (size_t)1 << o;
	}
	return frames;
}

size_t kmem_pa_rel_return_all_locked(struct kmem_pagealloc *pa)
{
	size_t frames = 0;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the released pool needs the instance lock");
	for (unsigned o = 0; o <= pa->max_order; o++)
		frames += rel_return_order_locked(pa, o);
	return frames;
}

void *kmem_pa_rel_merge_take_locked(struct kmem_pagealloc *pa, unsigned order)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the released pool needs the instance lock");
	/* smallest first, as few as it takes: blocks returned read as dirty
	 * from then on (the buddy keeps no state), so the fewer the better */
	for (unsigned o = 0; o < order && o <= pa->max_order; o++) {
		void *blk;

		if (!pa->rel_head[o] || !rel_return_order_locked(pa, o))
			continue;
		if ((blk = kmem_buddy_alloc(pa->b, order)) != NULL)
			return blk;
	}
	return NULL;
}

/* ---- regions ----------------------------------------------------------------- */

/* KMEM_PA_ZEROED_BUDDY at init: every free buddy block is fresh memory. */
void kmem_pa_rel_adopt_free(struct kmem_pagealloc *pa)
{
	if (!(pa->flags & KMEM_PA_ZEROED_BUDDY) || !(pa->flags & KMEM_PA_RELEASE) || !pa->rel_ok)
		return;
	kmem_lock_acquire(&pa->lock);
	for (unsigned o = pa->max_order + 1; o-- > 0;) {
		void *blk;

		while ((blk = kmem_buddy_alloc(pa->b, o)) != NULL)
			rel_push_locked(pa, blk, o, false);
	}
	kmem_lock_release(&pa->lock);
}

/* Metadata (a thread cache, the reference table): the buddy, else a
 * released block, else the pools drained to the buddy (lock held when
 * `locked`). No watermark test: metadata is small and rare. */
void *kmem_pa_meta_alloc(struct kmem_pagealloc *pa, unsigned order, bool locked)
{
	void *blk = kmem_buddy_alloc(pa->b, order);

	if (blk)
		return blk;
	if (!locked)
		kmem_lock_acquire(&pa->lock);
	blk = kmem_pa_rel_take_locked(pa, order);
	if (blk)
		KMEM_ANNOT_UNDEFINED(blk, pa_blk_bytes(pa, order));
	else if (kmem_pa_drain_locked(pa, true))
		blk = kmem_buddy_alloc(pa->b, order);
	if (!locked)
		kmem_lock_release(&pa->lock);
	return blk;
}

/* managed = the buddy's frames minus its reserved ones (lock held). */
static void managed_update_locked(struct kmem_pagealloc *pa)
{
	struct kmem_buddy_stats st;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "managed changes under the instance lock");
	kmem_buddy_get_stats(pa->b, &st);
	pa->managed = st.managed_frames - st.reserved_frames;
}

void kmem_pa_grown(struct kmem_pagealloc *pa, size_t frames)
{
	kmem_lock_acquire(&pa->lock);
	managed_update_locked(pa);
	kmem_lock_release(&pa->lock);
	pa_count(&pa->grows, 1);
	pa_count(&pa->grown_frames, frames);
}

int kmem_pa_add_region(struct kmem_pagealloc *pa, void *base, size_t size, void *meta,
		       size_t meta_size, unsigned flags)
{
	bool unmapped = (flags & KMEM_PA_REGION_UNMAPPED) != 0;
	uintptr_t pfn, end, shift = pa->frame_shift;
	int err;

	if (unmapped && (!(pa->flags & KMEM_PA_RELEASE) || !pa->rel_ok || !pa->as_map || !meta))
		return -EINVAL; /* nobody could map its blocks, or the buddy would write it */
	/* under the instance lock, from the buddy's add to the claims below:
	 * take_locked allocates from the buddy under it, and must not find
	 * the region's blocks there before they are claimed (an unmapped one
	 * would be handed out unmapped; a claimed one mapped over while in
	 * use). Lock order: the instance lock, then the buddy's. */
	kmem_lock_acquire(&pa->lock);
	err = kmem_buddy_add_region(pa->b, base, size, meta, meta_size);
	if (err) {
		kmem_lock_release(&pa->lock);
		return err;
	}
	managed_update_locked(pa);
	if ((flags & (KMEM_PA_REGION_ZERO | KMEM_PA_REGION_UNMAPPED)) && (pa->flags & KMEM_PA_RELEASE) &&
	    pa->rel_ok) {
		/* the buddy's greedy cover of the region, claimed block by
		 * block; one it will not give (the frame table carved from
		 * the region) stays in the buddy, taken as dirty */
		pfn = ((uintptr_t)base + pa->frame_size - 1) >> shift;
		end = ((uintptr_t)base + size) >> shift;
		while (pfn < end) {
			unsigned o = pa->max_order;

			if (pfn && kmem_ctzptr(pfn) < o)
				o = kmem_ctzptr(pfn);
			if (kmem_flsptr(end - pfn) < o)
				o = kmem_flsptr(end - pfn);
			if (kmem_buddy_claim(pa->b, (void *)(pfn << shift), o) == 0)
				rel_push_locked(pa, (void *)(pfn << shift), o, unmapped);
			else if (unmapped) /* the buddy keeps it: it must be there */
				(void)pa->as_map(pa->as_arg, (void *)(pfn << shift), pa_blk_bytes(pa, o));
			pfn += (uintptr_t)1 << o;
		}
	}
	kmem_lock_release(&pa->lock);
	return 0;
}

int kmem_pa_trim(struct kmem_pagealloc *pa, void *block, size_t size)
{
	int r = kmem_buddy_trim(pa->b, block, size);

	if (r > 0)
		kmem_pa_release_check(pa);
	return r;
}

/* ---- the release step ---------------------------------------------------------- */

/* The slow paths note how much is in use (lock held): the peak the policy
 * keeps memory for. */
void kmem_pa_rel_note_used_slow(struct kmem_pagealloc *pa)
{
	size_t free = pa_free_frames(pa), used = pa->managed > free ? pa->managed - free : 0;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the peak changes under the instance lock");
	if (used > pa_relaxed(&pa->rel_peak))
		kmem_atomic_store_relaxed(&pa->rel_peak, used);
}

/* Address space became scarce after blocks were released mapped (madvise)
 * or fresh regions mapped: unmap the released pool's mapped blocks of
 * rel_order and up (rel_lock held; the system calls with no lock, the
 * blocks counted busy meanwhile, as in a pass). Stops at the first block
 * as_unmap declines. O(released blocks of those orders). */
static void rel_unmap_mapped(struct kmem_pagealloc *pa)
{
	void *todo[KMEM_BUDDY_ORDER_LIMIT + 1] = { NULL };
	size_t frames = 0;
	bool refused = false;

	KMEM_ASSERT(kmem_lock_held(&pa->rel_lock) && "a release pass needs the release lock");
	kmem_lock_acquire(&pa->lock);
	for (unsigned o = pa->rel_order; o <= pa->max_order && pa->rel_mapped; o++) {
		void *unm = NULL, *blk;
		bool unmapped;

		/* the mapped ones chained on todo[o] (through their links),
		 * the others back on the list */
		while ((blk = rel_pop_locked(pa, o, &unmapped)) != NULL) {
			void **head = unmapped ? &unm : &todo[o];
			int err = kmem_buddy_set_tag(pa->b, blk, rel_link(pa, *head, false));

			KMEM_ASSERT(err == 0 && "a released block keeps a source tag");
			(void)err;
			*head = blk;
			if (!unmapped)
				frames += (size_t)1 << o;
		}
		for (void *next; unm; unm = next) {
			next = kmem_pa_rel_next(pa, unm);
			rel_untag(pa, unm);
			rel_push_locked(pa, unm, o, true);
		}
	}
	pa->busy_frames += frames; /* still free for the watermarks */
	kmem_lock_release(&pa->lock);
	for (unsigned o = pa->rel_order; o <= pa->max_order; o++) {
		for (void *blk = todo[o], *next; blk; blk = next) {
			bool unmapped;

			next = kmem_pa_rel_next(pa, blk);
			rel_untag(pa, blk);
			unmapped = !refused && pa->as_unmap(pa->as_arg, blk, pa_blk_bytes(pa, o)) == 0;
			refused = !unmapped;
			kmem_lock_acquire(&pa->lock);
			rel_push_locked(pa, blk, o, unmapped);
			pa->busy_frames -= (size_t)1 << o;
			kmem_lock_release(&pa->lock);
		}
	}
}

/* Give back up to `want` of the buddy's free frames in blocks of order
 * floor (rel_order, or 0 once the curve keeps nothing: decision 36) and
 * up, at most max_blocks of them (rel_lock held). Greedy, largest
 * first: a block of order r = min(floor(log2(left)), max_order) from the
 * buddy (an exact one, or a bigger free block split: the rest stays free),
 * r lowered when there is none. The blocks leave the buddy under the lock
 * (counted busy: still free for the watermarks), are released with no lock
 * held, and pushed on the pool; a block the system refuses goes back.
 * Returns frames released. O(blocks * max_order) lock-held steps plus one
 * system call per block; nothing else of the buddy is touched. */
static size_t release_pass(struct kmem_pagealloc *pa, size_t want, size_t max_blocks, unsigned floor)
{
	void *out[KMEM_BUDDY_ORDER_LIMIT + 1] = { NULL };
	struct kmem_buddy_stats st;
	size_t left = want, out_frames = 0, released = 0, blocks = 0;
	bool refused = false, tight = pa->as_unmap && pa->as_tight(pa->as_arg);
	unsigned r;

	KMEM_ASSERT(kmem_lock_held(&pa->rel_lock) && "a release pass needs the release lock");
	if (tight && pa_relaxed(&pa->rel_mapped))
		rel_unmap_mapped(pa);
	if (left >> floor == 0 || !max_blocks)
		return 0;
	kmem_lock_acquire(&pa->lock);
	/* the buddy's free blocks per order, followed as blocks are taken
	 * (a split: one fewer of order o, one more of each order r..o-1), so
	 * no allocation is tried that would fail (and count as a failure) */
	kmem_buddy_get_stats(pa->b, &st);
	r = kmem_flsptr(left) < pa->max_order ? kmem_flsptr(left) : pa->max_order;
	/* chains through the owner words (source tags: a stray free of one
	 * is refused meanwhile) */
	while (left && r >= floor && blocks < max_blocks) {
		unsigned o = r;
		void *blk;
		int err;

		while (o <= pa->max_order && !st.free_blocks[o])
			o++;
		if (o > pa->max_order || (blk = kmem_buddy_alloc(pa->b, r)) == NULL) {
			if (r-- == 0)
				break;
			continue;
		}
		st.free_blocks[o]--;
		while (o-- > r)
			st.free_blocks[o]++;
		err = kmem_buddy_set_tag(pa->b, blk, rel_link(pa, out[r], false));
		KMEM_ASSERT(err == 0 && "a block of a release pass takes a source tag");
		(void)err;
		out[r] = blk;
		out_frames += (size_t)1 << r;
		left -= (size_t)1 << r;
		blocks++;
		KMEM_STEP(PA_STEP_RELEASE);
		if (left >> r == 0)
			r = kmem_flsptr(left | 1);
	}
	pa->busy_frames += out_frames; /* still free for the watermarks */
	kmem_lock_release(&pa->lock);

	for (unsigned o = floor; o <= pa->max_order; o++) {
		for (void *blk = out[o], *next; blk; blk = next) {
			size_t bytes = pa_blk_bytes(pa, o);
			bool unmapped = false;
			int rc = -1;

			next = kmem_pa_rel_next(pa, blk);
			rel_untag(pa, blk);
			KMEM_ANNOT_UNDEFINED(blk, bytes);
			/* no lock held: address space back under a limit, else
			 * the memory only (a split mapping costs a map entry) */
			if (tight && pa->as_unmap(pa->as_arg, blk, bytes) == 0) {
				rc = 0;
				unmapped = true;
			} else if (!refused) {
				rc = kmem_pages_release(blk, bytes);
			}
			kmem_lock_acquire(&pa->lock);
			if (rc == 0) {
				rel_push_locked(pa, blk, o, unmapped);
				released += (size_t)1 << o;
			} else {
				refused = true; /* no release on this system: keep it */
				kmem_buddy_free(pa->b, blk);
			}
			pa->busy_frames -= (size_t)1 << o;
			kmem_lock_release(&pa->lock);
		}
	}
	if (released) {
		pa_count(&pa->releases, 1);
		pa_count(&pa->released_frames, released);
	}
	return released;
}

uint64_t kmem_pa_clock(struct kmem_pagealloc *pa)
{
	return pa->clock ? pa->clock(pa->clock_arg) : kmem_now_ns();
}

/* The decay curve: smootherstep (6x^5 - 15x^4 + 10x^3, jemalloc's default)
 * at x = (i + 1) / KMEM_PA_DECAY_STEPS, in 1/65536: the share of the frames
 * freed i + 1 epochs before the newest that is kept (the newest, i = 31,
 * whole; 32 epochs old, nothing). */
static const uint32_t pa_decay_curve[KMEM_PA_DECAY_STEPS] = {
	19, 145, 467, 1052, 1951, 3196, 4806, 6784, 9121, 11797, 14781,
	18036, 21515, 25168, 28938, 32768, 36598, 40368, 44021, 47500, 50755, 53739,
	56415, 58752, 60730, 62340, 63585, 64484, 65069, 65391, 65517, 65536,
};
_Static_assert(KMEM_PA_DECAY_STEPS == 32, "the curve's table has 32 steps");

/* Advance the epoch to `now` (rel_lock held): shift the backlog by the
 * n epochs that ended, the frames the buddy gained since the last epoch's
 * release in the newest entry (jemalloc's decay_backlog_update: memory
 * first seen now counts as freed now, so a late look keeps it longer,
 * never shorter), then keep = max(high, the curve's sum) and the debt:
 * what the buddy holds beyond keep. O(KMEM_PA_DECAY_STEPS).
 *   backlog [.. 0 0 512], 1 epoch ends: [.. 0 512 g]: keep 512 * 65517 /
 *   65536 (511 frames) + g, the frames gained since; 16 epochs end at once:
 *   [.. 512@15 0 .. 0 g]: keep 512 * 32768 / 65536 + g */
static void decay_advance(struct kmem_pagealloc *pa, uint64_t now, size_t free, size_t high)
{
	uint64_t step = pa->decay_ns / KMEM_PA_DECAY_STEPS, n;
	size_t *bl = pa->decay_backlog, keep = 0;

	KMEM_ASSERT(kmem_lock_held(&pa->rel_lock) && "the decay advances under the release lock");
	if (step == 0)
		step = 1;
	n = (now - pa->decay_epoch) / step + 1; /* epochs that ended */
	if (n >= KMEM_PA_DECAY_STEPS) {
		memset(bl, 0, sizeof(pa->decay_backlog));
	} else {
		size_t k = (size_t)n; /* < KMEM_PA_DECAY_STEPS */

		memmove(bl, bl + k, (KMEM_PA_DECAY_STEPS - k) * sizeof(*bl));
		memset(bl + KMEM_PA_DECAY_STEPS - k, 0, k * sizeof(*bl));
	}
	bl[KMEM_PA_DECAY_STEPS - 1] = free > pa->decay_base ? free - pa->decay_base : 0;
	for (unsigned i = 0; i < KMEM_PA_DECAY_STEPS; i++)
		keep += pa_mul_div(bl[i], pa_decay_curve[i], 65536);
	if (keep < high)
		keep = high;
	kmem_atomic_store_relaxed(&pa->decay_epoch, pa->decay_epoch + n * step);
	kmem_atomic_store_relaxed(&pa->decay_keep, keep);
	kmem_atomic_store_relaxed(&pa->rel_debt, free > keep ? free - keep : 0);
	pa->decay_base = free < keep ? free : keep;
}

size_t kmem_pa_release_excess(struct kmem_pagealloc *pa, size_t max_blocks)
{
	size_t free, high = pa_relaxed(&pa->whigh), want, got;
	bool tight, epoch;

	if (!(pa->flags & KMEM_PA_RELEASE) || !pa->rel_ok)
		return 0;
	free = kmem_buddy_free_frames(pa->b);
	tight = pa->as_tight && pa->as_tight(pa->as_arg);
	if (tight || pa->decay_ns == 0) {
		/* at once (or address space is scarce: keep no more than high
		 * mapped): down to high, once a quarter of it is over */
		if (free <= high + high / 4)
			return 0;
		if (!kmem_lock_try_acquire(&pa->rel_lock))
			return 0; /* a pass is running */
		kmem_atomic_store_relaxed(&pa->decay_keep, high);
		free = kmem_buddy_free_frames(pa->b);
		got = free > high ? release_pass(pa, free - high, max_blocks, pa->rel_order) : 0;
		kmem_lock_release(&pa->rel_lock);
		return got;
	}
	if (pa->decay_ns == UINT64_MAX)
		return 0;
	/* between epochs with no debt: nothing to do (the cheap test) */
	if (!pa_relaxed(&pa->rel_debt) &&
	    kmem_pa_clock(pa) < kmem_atomic_load_relaxed(&pa->decay_epoch))
		return 0;
	if (!kmem_lock_try_acquire(&pa->rel_lock))
		return 0;
	{
		uint64_t now = kmem_pa_clock(pa);

		free = kmem_buddy_free_frames(pa->b);
		epoch = now >= pa->decay_epoch;
		if (epoch)
			decay_advance(pa, now, free, high);
	}
	/* the debt, at most what is above high now (allocations may have
	 * taken some since the epoch) */
	want = pa->rel_debt;
	if (want > (free > high ? free - high : 0))
		want = free > high ? free - high : 0;
	got = release_pass(pa, want, max_blocks, pa->rel_order);
	/* the curve keeps nothing but high (what is above it was freed a
	 * decay time ago and not reused: the program shrank or is idle) and
	 * blocks of rel_order did not pay the debt: the smaller pieces go
	 * too, a system call each, once, in a whole step (the reaper, not a
	 * freeing thread's bounded one; decision 36) */
	if (epoch && got < want && pa->decay_keep == high && max_blocks == SIZE_MAX)
		got += release_pass(pa, want - got, max_blocks, 0);
	/* decay_base is what the buddy holds after this epoch's release: an
	 * epoch's reckoning set it as if the debt were paid, so what stays
	 * (pieces below rel_order, blocks the system refused, the inline
	 * step's bound) is added back, and a later pass of that debt takes
	 * it off; otherwise the next epoch would count what stayed as newly
	 * freed, and the curve would keep it again, every epoch (decision 36) */
	if (epoch)
		pa->decay_base += want - got;
	else
		pa->decay_base -= got < pa->decay_base ? got : pa->decay_base;
	/* paid, or nothing more can be (pieces below rel_order, a refusal):
	 * the rest waits for the next epoch's reckoning */
	kmem_atomic_store_relaxed(&pa->rel_debt,
				  got && got < want && want - got >= ((size_t)1 << pa->rel_order) ?
					  pa->rel_debt - got : 0);
	kmem_lock_release(&pa->rel_lock);
	return got;
}

void kmem_pa_rel_due(struct kmem_pagealloc *pa, size_t frames)
{
	if (!frames || !(pa->flags & KMEM_PA_RELEASE) || !pa->rel_ok || pa->decay_ns == 0 ||
	    pa->decay_ns == UINT64_MAX)
		return; /* decay 0 releases down to high anyway; -1 never */
	kmem_lock_acquire(&pa->rel_lock);
	pa->decay_base += frames; /* not new at the next epoch's reckoning */
	kmem_atomic_store_relaxed(&pa->rel_debt, pa->rel_debt + frames);
	kmem_lock_release(&pa->rel_lock);
}

uint64_t kmem_pa_release_wait_ns(struct kmem_pagealloc *pa)
{
	size_t high = pa_relaxed(&pa->whigh);
	uint64_t now, end;

	if (!(pa->flags & KMEM_PA_RELEASE) || !pa->rel_ok || pa->decay_ns == 0 ||
	    pa->decay_ns == UINT64_MAX)
		return 0;
	if (kmem_buddy_free_frames(pa->b) <= high + ((size_t)1 << pa->rel_order))
		return 0; /* nothing above high to decay */
	now = kmem_pa_clock(pa);
	end = kmem_atomic_load_relaxed(&pa->decay_epoch);
	return end > now ? end - now : 1;
}

size_t kmem_pa_release(struct kmem_pagealloc *pa, size_t keep)
{
	size_t got, free;

	if (!(pa->flags & KMEM_PA_RELEASE) || !pa->rel_ok)
		return 0;
	kmem_lock_acquire(&pa->rel_lock);
	free = kmem_buddy_free_frames(pa->b);
	got = release_pass(pa, free > keep ? free - keep : 0, SIZE_MAX, pa->rel_order);
	kmem_lock_release(&pa->rel_lock);
	return got;
}
