/* pool.c - the frame service's zeroed and dirty pools, the allocation and
 * free paths (fast and slow), checked free, drain, and the zeroer.
 *
 * Algorithm (Linux mm/page_alloc.c: __alloc_pages with the per-CPU fast
 * path, the watermark test, direct reclaim and the OOM killer; zeroing
 * after init_on_alloc/init_on_free and the old idle-page zeroing):
 *   1. alloc fast path (no lock): order < PA_ORDERS and the thread has a
 *      cache: pop the top of its zero stack (zeroing request, or any
 *      request under INIT_ON_ALLOC/ON_FREE) or of its dirty stack.
 *   2. alloc slow path, under the lock: fold the cache's counters; take a
 *      cached block the fast path could not; else the watermark test
 *      free - 2^order >= floor, floor = min (min / 2 for KMEM_PAGE_HIGH)
 *      plus the unmet guarantees of the other clients; then the zeroed
 *      pool (when zero is needed or no dirty block is pooled), the dirty
 *      pool, the buddy, and if all fail the pools drained to the buddy
 *      (dirty first: blocks of other orders may merge) and the buddy again,
 *      the released pool (release.c: reads zero, split to the order),
 *      the zeroed pools drained, every released block back to the buddy;
 *      then refill the cache (pcp.c).
 *   3. No block: grow (no lock held, at most 4 calls per request), kick the
 *      reaper, then direct reclaim once, then OOM rounds (oom_retries,
 *      4 times as many with KMEM_PAGE_NOFAIL, 1 ms naps between), then NULL.
 *   4. A block that must read zero and came from dirty storage is memset
 *      inline (zero-fill on demand: zeroed only where a memset just ran).
 *   5. free fast path (no lock): push on the dirty stack below capd. Slow
 *      path: wipe first under INIT_ON_FREE; with a cache, drain its batch of
 *      oldest blocks when the stack is full (kmem_pa_pool_put_batch_locked:
 *      two buddy lock holds per batch at most), then push; without one,
 *      validate the block with the buddy and pool it (the buddy when the
 *      pool is full; order 4 has no pools: PA_POOL_ORDERS). Orders >=
 *      PA_ORDERS go straight to the buddy.
 *   6. zeroer (kmem_pa_zero_some): per order o < PA_POOL_ORDERS (0..3),
 *      hysteresis zlow >> o .. zhigh >> o; take up to PA_ZERO_BATCH blocks (dirty pool first, then
 *      the buddy while it has more than high + 2^o free) under the lock,
 *      memset them with no lock held (counted in busy_frames, still free),
 *      put them in the zeroed pool.
 *   7. checked free: the buddy classifies a pointer that does not start a
 *      block; a wrong order is refused; a pooled or own-cached block is a
 *      double free; a shared block loses one reference instead.
 * Bound: fast paths O(1), lock-free; slow alloc O(batch + max_order) pool
 * and buddy operations per attempt, O(pooled blocks) when fragmentation
 * drains the pools, plus the memset of the block; slow free O(batch);
 * zeroer O(max_zero frames) of memset; checked free O(pooled blocks of its
 * order + cache size) for the double-free scan. Reclaim and OOM add the
 * callbacks' own work (reclaim.c).
 *
 * Data structures and invariants P1-P8: see pa_internal.h. Pools keep P1-P3
 * (a block enters a zeroed pool only right after a memset, P3); every pool
 * change moves zero_frames/dirty_frames with it (P2).
 *
 * Locking: pa->lock protects the pools and the counters; the *_locked
 * functions here (kmem_pa_pool_put_locked, kmem_pa_pool_put_batch_locked,
 * kmem_pa_pool_take_locked, pool_empty_locked, kmem_pa_drain_locked,
 * kmem_pa_pooled_or_cached_locked, take_locked) expect it held. memset, grow, reclaim, OOM and kicks run with no frame-service
 * lock held; buddy calls nest inside pa->lock.
 *
 * Tunables: the watermarks and zero_low/zero_high (pagealloc.c);
 * oom_retries (3: Linux retries reclaim a few times before OOM);
 * PA_ZERO_BATCH (16 blocks per zeroer lock hold: the memset runs unlocked,
 * so the batch only amortises the lock, and 16 keeps a hold short);
 * grow attempts per request (4: another thread may grow meanwhile);
 * NOFAIL retry factor (4) and nap (1 ms, time for the reaper and other
 * threads to free).
 */
#include "pa_internal.h"

/* ---- buddy and pools ---------------------------------------------------------- */

/* Give a block back to the buddy, accessible again as the buddy handed it
 * out (a pooled block is still one of the buddy's memcheck pool chunks; the
 * buddy's free makes it NOACCESS). Misuse is reported by the buddy. */
static void to_buddy(struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	KMEM_ANNOT_UNDEFINED(blk, pa_blk_bytes(pa, order));
	(void)kmem_buddy_free_checked(pa->b, blk, (int)order);
}

/* Give blks[0..k) (one order) back to the buddy under one hold of its lock;
 * a block the buddy refuses goes alone through kmem_buddy_free_checked,
 * which reports it (and frees it if only the order was wrong), and the
 * rest go on. */
static void to_buddy_bulk(struct kmem_pagealloc *pa, void *const *blks, size_t k, unsigned order)
{
	for (size_t i = 0; i < k; i++) {
		KMEM_STEP(PA_STEP_DRAIN);
		KMEM_ANNOT_UNDEFINED(blks[i], pa_blk_bytes(pa, order));
	}
	while (k) {
		size_t done = kmem_buddy_free_bulk(pa->b, blks, k, order);

		if (done == k)
			return;
		(void)kmem_buddy_free_checked(pa->b, blks[done], (int)order);
		blks += done + 1;
		k -= done + 1;
	}
}

/* A block about to enter a pool: is it an allocated block of this order?
 * If not, the buddy reports it (and frees it if only the order was wrong). */
bool kmem_pa_valid_block(struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	if (kmem_buddy_block_order(pa->b, blk) == (int)order)
		return true;
	(void)kmem_buddy_free_checked(pa->b, blk, (int)order);
	return false;
}

/* Park a validated block in its pool, or give it to the buddy when full. */
void kmem_pa_pool_put_locked(struct kmem_pagealloc *pa, void *blk, unsigned order, bool zeroed)
{
	struct pa_pool *pl = zeroed ? &pa->zpool[order] : &pa->dpool[order];
	size_t n = (size_t)1 << order;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the pools need the instance lock");
	if (pl->n < pl->cap) {
		pa_annot_park(pa, blk, order);
		pl->blk[pl->n++] = blk;
		if (zeroed)
			kmem_relaxed_add_size(&pa->zero_frames, n);
		else
			kmem_relaxed_add_size(&pa->dirty_frames, n);
	} else {
		to_buddy(pa, blk, order);
	}
}

/* Park a drained batch blks[0..k) of one order in its pool, the buddy
 * taking what does not fit: one buddy lock hold validates the whole batch
 * and one frees the overflow (Linux's free_pcppages_bulk takes the zone lock
 * once per batch too). A block that is not an allocated block of this
 * order is reported by the buddy (and freed if only the order was wrong);
 * the others go on. */
void kmem_pa_pool_put_batch_locked(struct kmem_pagealloc *pa, void *const *blks, size_t k,
				   unsigned order, bool zeroed)
{
	struct pa_pool *pl = zeroed ? &pa->zpool[order] : &pa->dpool[order];

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the pools need the instance lock");
	while (k) {
		size_t ok = kmem_buddy_blocks_valid(pa->b, blks, k, order);
		size_t room = pl->cap - pl->n, in = ok < room ? ok : room;

		for (size_t i = 0; i < in; i++) {
			KMEM_STEP(PA_STEP_DRAIN);
			pa_annot_park(pa, blks[i], order);
			pl->blk[pl->n++] = blks[i];
		}
		kmem_relaxed_add_size(zeroed ? &pa->zero_frames : &pa->dirty_frames, in << order);
		if (ok > in)
			to_buddy_bulk(pa, blks + in, ok - in, order);
		if (ok == k)
			return;
		(void)kmem_buddy_free_checked(pa->b, blks[ok], (int)order);
		blks += ok + 1;
		k -= ok + 1;
	}
}

/* Empty one pool into the buddy (one buddy lock hold); returns frames. */
static size_t pool_empty_locked(struct kmem_pagealloc *pa, unsigned order, bool zeroed)
{
	struct pa_pool *pl = zeroed ? &pa->zpool[order] : &pa->dpool[order];
	size_t k = pl->n, frames = k << order;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the pools need the instance lock");
	if (!k)
		return 0;
	pl->n = 0;
	kmem_relaxed_add_size(zeroed ? &pa->zero_frames : &pa->dirty_frames, -frames);
	to_buddy_bulk(pa, pl->blk, k, order);
	return frames;
}

/* Every pooled block back to the buddy (all) or the dirty ones only. */
size_t kmem_pa_drain_locked(struct kmem_pagealloc *pa, bool all)
{
	size_t frames = 0;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the pools need the instance lock");
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		frames += pool_empty_locked(pa, o, false);
		if (all)
			frames += pool_empty_locked(pa, o, true);
	}
	return frames;
}

/* ---- allocation ----------------------------------------------------------------- */

void *kmem_pa_alloc(struct kmem_pagealloc *pa, unsigned order, unsigned flags)
{
	struct pa_pcp *p;

	if (KMEM_LIKELY(PA_PCP_FAST(pa, p) && order < PA_ORDERS)) {
		struct pa_list *l = &p->l[order];
		void *blk;

		if (((flags & KMEM_PAGE_ZERO) | pa->zero_all) == 0) {
			unsigned nd = l->nd;

			if (KMEM_LIKELY(nd != 0)) {
				blk = l->d[nd - 1];
				pa_list_set(&l->nd, nd - 1);
				pa_annot_hand_out(pa, blk, order, false);
				return blk;
			}
		} else {
			unsigned nz = l->nz;

			if (KMEM_LIKELY(nz != 0)) {
				blk = l->z[nz - 1];
				pa_list_set(&l->nz, nz - 1);
				pa_annot_hand_out(pa, blk, order, true);
				return blk;
			}
		}
	}
	return kmem_pa_alloc_slow(pa, NULL, order, flags);
}

/* Take one block from the pools or the buddy (lock held). */
static void *take_locked(struct kmem_pagealloc *pa, unsigned order, bool need_zero, bool *zeroed)
{
	void *blk = NULL;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the pools need the instance lock");
	*zeroed = false;
	if (order < PA_ORDERS) {
		if (pa->zpool[order].n && (need_zero || !pa->dpool[order].n)) {
			blk = kmem_pa_pool_take_locked(pa, order, true);
			*zeroed = true;
		} else {
			blk = kmem_pa_pool_take_locked(pa, order, false);
		}
	}
	if (!blk)
		blk = kmem_buddy_alloc(pa->b, order);
	/* pooled blocks of other orders: back to the buddy to merge or
	 * split, dirty ones first; released memory only once no dirty block
	 * is left (it reads zero, but costs memory again once written) */
	if (!blk && pa->dirty_frames && kmem_pa_drain_locked(pa, false))
		blk = kmem_buddy_alloc(pa->b, order);
	if (!blk && (blk = kmem_pa_rel_take_locked(pa, order)) != NULL)
		*zeroed = true;
	if (!blk && pa->zero_frames && kmem_pa_drain_locked(pa, true))
		blk = kmem_buddy_alloc(pa->b, order);
	/* fragmented: released blocks too small, or blocking merges */
	if (!blk && pa->rel_frames)
		blk = kmem_pa_rel_merge_take_locked(pa, order);
	if (blk && pa->shadow_n)
		kmem_pa_shadow_check_locked(pa, blk);
	return blk;
}

/* Let another thread free something (1 ms); without threads nobody could. */
static void pa_nap(void)
{
	if (KMEM_THREADS)
		kmem_sleep_ns(1000000);
}

void *kmem_pa_alloc_slow(struct kmem_pagealloc *pa, struct kmem_pa_client *cl, unsigned order,
			 unsigned flags)
{
	bool need_zero = ((flags & KMEM_PAGE_ZERO) | pa->zero_all) != 0;
	unsigned rounds = pa->oom_retries * ((flags & KMEM_PAGE_NOFAIL) ? 4u : 1u);
	struct pa_pcp *p;
	bool zeroed = false, kick = false, want_grow = false;
	unsigned grows = 0;
	void *blk = NULL;
	size_t n;

	if (order > pa->max_order)
		return NULL;
	n = (size_t)1 << order;
	p = order < PA_ORDERS ? kmem_pa_pcp_get(pa) : NULL;
	for (unsigned attempt = 0;; attempt++) {
		KMEM_STEP(PA_STEP_ATTEMPT);
		kmem_lock_acquire(&pa->lock);
		if (p)
			kmem_pa_pcp_fold_locked(pa, p);
		/* a cache hit the fast path could not take (first use, or a
		 * client's request) */
		if (p && !cl && !need_zero && p->l[order].nd) {
			blk = pa_pop_dirty(p, order);
		} else if (p && !cl && p->l[order].nz) {
			blk = pa_pop_zero(p, order);
			zeroed = true;
		} else {
			size_t free = pa_free_frames(pa);
			size_t floor = (flags & KMEM_PAGE_HIGH) ? pa->wmin / 2 : pa->wmin;

			want_grow = pa->grow && free < n + pa->wlow;

			if (pa->nclients)
				floor += kmem_pa_reserved_for_others(pa, cl);
			pa->as_map_failed = false;
			if (free >= n + floor) {
				blk = take_locked(pa, order, need_zero, &zeroed);
				if (blk && free - n < pa->wmin)
					pa->high_dips++;
				if (blk && p && !cl)
					kmem_pa_pcp_refill_locked(pa, p, order, need_zero);
			}
			/* enough frames but no block this big (fragmented):
			 * growing beats reclaim too */
			if (!blk && pa->grow && !pa->as_map_failed)
				want_grow = true;
			else if (!blk && pa->as_map_failed)
				want_grow = false; /* address space is short, not frames */
			/* short of zeroed blocks: the thread's own dirty
			 * ones are already out of the free count */
			if (!blk && p && p->l[order].nd)
				blk = pa_pop_dirty(p, order);
		}
		if (blk) {
			pa->allocs++;
			kmem_pa_rel_note_used_locked(pa);
			if (zeroed)
				pa->zero_hits++;
			else if (need_zero) {
				pa->zeroed_inline += n;
				pa->zero_misses++;
			}
		}
		{
			size_t free = pa_free_frames(pa);

			kick = free < pa->wlow ||
			       (!(pa->flags & KMEM_PA_NO_BGZERO) && pa->zpool[0].n < pa->zlow &&
				(pa->dpool[0].n || free > pa->whigh));
		}
		kmem_lock_release(&pa->lock);
		if (want_grow && grows < 4) {
			size_t got = pa->grow(pa->grow_arg, pa, n + pa->wlow);

			want_grow = false;
			grows++;
			if (got)
				kmem_pa_grown(pa, got);
			/* grown, or another thread grew meanwhile: retry */
			if (got || pa_free_frames(pa) >= n + pa->wlow) {
				kick = false; /* growth, not reclaim */
				if (!blk) {
					attempt--; /* wraps for attempt 0: the loop's ++ restores it */
					continue;
				}
			}
		}
		if (blk)
			break;
		if (kick)
			kmem_pa_kick(pa);
		if (flags & KMEM_PAGE_NOWAIT) {
			pa_count(&pa->nowait_fails, 1);
			pa_count(&pa->alloc_fails, 1);
			return NULL;
		}
		if (attempt == 0) {
			size_t want = n > pa->batch ? n : pa->batch;
			size_t got;

			pa_count(&pa->direct_reclaims, 1);
			got = kmem_pa_reclaim_as(pa, cl, want, pa->frame_size << order,
						 KMEM_PRESSURE_DIRECT);
			pa_count(&pa->reclaimed_direct, got);
			if (order > 0) { /* pooled order-0 frames may block merging */
				kmem_lock_acquire(&pa->lock);
				kmem_pa_drain_locked(pa, false);
				kmem_lock_release(&pa->lock);
			}
		} else if (attempt <= rounds) {
			kmem_pa_oom(pa, cl, order, flags, attempt - 1);
			if (flags & KMEM_PAGE_NOFAIL)
				pa_nap();
		} else {
			pa_count(&pa->alloc_fails, 1);
			return NULL;
		}
	}
	if (kick)
		kmem_pa_kick(pa);
	if (need_zero && !zeroed)
		pa_zero_block(pa, blk, order);
	pa_annot_hand_out(pa, blk, order, need_zero);
	return blk;
}

/* ---- free --------------------------------------------------------------------------- */

void kmem_pa_free(struct kmem_pagealloc *pa, void *block, unsigned order)
{
	struct pa_pcp *p;

	if (KMEM_LIKELY(PA_PCP_FAST(pa, p) && order < PA_ORDERS)) {
		struct pa_list *l = &p->l[order];
		unsigned nd = l->nd;

		if (KMEM_LIKELY(nd < l->capd && block != NULL)) {
			l->d[nd] = block;
			pa_list_set(&l->nd, nd + 1);
			p->frees++;
			pa_annot_park(pa, block, order);
			return;
		}
	}
	if (block)
		kmem_pa_free_slow(pa, block, order);
}

void kmem_pa_free_slow(struct kmem_pagealloc *pa, void *block, unsigned order)
{
	struct pa_pcp *p;
	bool in_reclaim = kmem_pa_in_reclaim(pa);

	if (order >= PA_ORDERS) {
		if (order > pa->max_order) {
			/* the buddy reports it (and frees the block if only
			 * the order was wrong) */
			(void)kmem_buddy_free_checked(pa->b, block, (int)order);
			return;
		}
		if (pa->wipe) {
			pa_zero_block(pa, block, order);
			pa_count(&pa->zeroed_free, (uint64_t)1 << order);
		}
		kmem_lock_acquire(&pa->lock);
		pa->frees++;
		if (in_reclaim)
			kmem_pa_shadow_record_locked(pa, block);
		kmem_lock_release(&pa->lock);
		to_buddy(pa, block, order);
		kmem_pa_release_check(pa);
		return;
	}
	p = kmem_pa_pcp_get(pa);
	if (pa->wipe)
		pa_zero_block(pa, block, order);
	kmem_lock_acquire(&pa->lock);
	if (pa->wipe)
		pa->zeroed_free += (uint64_t)1 << order;
	if (in_reclaim)
		kmem_pa_shadow_record_locked(pa, block);
	if (p) {
		struct pa_list *l = &p->l[order];
		unsigned k = pa_batch_of(pa, order);

		kmem_pa_pcp_fold_locked(pa, p);
		pa->frees++;
		pa_annot_park(pa, block, order);
		if (pa->wipe) {
			if (l->nz >= l->capz)
				kmem_pa_pcp_drain_stack_locked(pa, p, order, k, true);
			pa_push_zero(p, order, block);
		} else {
			if (l->nd >= l->capd)
				kmem_pa_pcp_drain_stack_locked(pa, p, order, k, false);
			pa_push_dirty(p, order, block);
		}
	} else {
		pa->frees++;
		if (kmem_pa_valid_block(pa, block, order))
			kmem_pa_pool_put_locked(pa, block, order, pa->wipe);
	}
	kmem_lock_release(&pa->lock);
	kmem_pa_release_check(pa);
}

/* ---- zeroer ------------------------------------------------------------------------- */

/* Zero up to max_zero frames into the zeroed pools while they are below
 * their targets: dirty blocks first, then fresh ones from the buddy while
 * free frames are plentiful (above high). Returns frames zeroed; *pending:
 * more work is wanted. */
size_t kmem_pa_zero_some(struct kmem_pagealloc *pa, size_t max_zero, bool *pending)
{
	size_t done = 0;

	*pending = false;
	for (unsigned o = 0; o < PA_POOL_ORDERS; o++) {
		size_t lo = pa->zlow >> o, hi = pa->zhigh >> o, n = (size_t)1 << o;

		for (;;) {
			void *batch[PA_ZERO_BATCH];
			unsigned k = 0;

			kmem_lock_acquire(&pa->lock);
			if (pa->zpool[o].n < lo && !pa->zeroing[o])
				pa->zeroing[o] = true;
			if (pa->zpool[o].n >= hi || pa->zpool[o].n >= pa->zpool[o].cap)
				pa->zeroing[o] = false;
			while (pa->zeroing[o] && k < PA_ZERO_BATCH &&
			       pa->zpool[o].n + k < hi && done + (k + 1) * n <= max_zero) {
				void *blk = kmem_pa_pool_take_locked(pa, o, false);

				if (!blk && kmem_buddy_free_frames(pa->b) > pa->whigh + n)
					blk = kmem_buddy_alloc(pa->b, o);
				if (!blk)
					break;
				KMEM_STEP(PA_STEP_ZERO);
				batch[k++] = blk;
			}
			if (pa->zeroing[o] && k == 0 && done + n > max_zero &&
			    (pa->dpool[o].n || kmem_buddy_free_frames(pa->b) > pa->whigh + n))
				*pending = true;
			/* blocks being zeroed stay counted as free */
			kmem_relaxed_add_size(&pa->busy_frames, k * n);
			kmem_lock_release(&pa->lock);
			if (!k)
				break;
			for (unsigned i = 0; i < k; i++)
				pa_zero_block(pa, batch[i], o);
			kmem_lock_acquire(&pa->lock);
			kmem_relaxed_add_size(&pa->busy_frames, -(k * n));
			for (unsigned i = 0; i < k; i++)
				kmem_pa_pool_put_locked(pa, batch[i], o, true);
			pa->zeroed_bg += k * n;
			kmem_lock_release(&pa->lock);
			done += k * n;
		}
	}
	return done;
}

/* ---- checked free, drain ------------------------------------------------------------ */

bool kmem_pa_pooled_or_cached_locked(struct kmem_pagealloc *pa, const void *blk, unsigned order)
{
	struct pa_pcp *p = pa_pcp_self(pa);

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the pools need the instance lock");
	if (kmem_pa_rel_holds(pa, blk))
		return true; /* released: freed before */
	if (order >= PA_ORDERS)
		return false;
	for (size_t i = 0; i < pa->zpool[order].n; i++) {
		KMEM_STEP(PA_STEP_SCAN);
		if (pa->zpool[order].blk[i] == blk)
			return true;
	}
	for (size_t i = 0; i < pa->dpool[order].n; i++) {
		KMEM_STEP(PA_STEP_SCAN);
		if (pa->dpool[order].blk[i] == blk)
			return true;
	}
	if (p) {
		const struct pa_list *l = &p->l[order];

		for (unsigned i = 0; i < l->nz; i++) {
			KMEM_STEP(PA_STEP_SCAN);
			if (l->z[i] == blk)
				return true;
		}
		for (unsigned i = 0; i < l->nd; i++) {
			KMEM_STEP(PA_STEP_SCAN);
			if (l->d[i] == blk)
				return true;
		}
	}
	return false;
}

enum kmem_status kmem_pa_free_checked(struct kmem_pagealloc *pa, void *block, int order)
{
	int o;
	bool dup;
	struct pa_ref *e;

	if (!block)
		return KMEM_OK;
	o = kmem_buddy_block_order(pa->b, block);
	if (o < 0) { /* not an allocated block: the buddy tells what it is */
		enum kmem_status st = kmem_buddy_classify(pa->b, block);

		if (st == KMEM_OK) /* allocated meanwhile: a race in the caller */
			st = KMEM_DOUBLE_FREE;
		kmem_pa_report(pa, st, block, "free of %p (order %d): %s", block, order,
			       st == KMEM_FOREIGN_POINTER ? "not inside any region of the buddy"
			       : st == KMEM_DOUBLE_FREE   ? "the block is already free"
			       : st == KMEM_RESERVED_FREE ? "inside a reserved range"
							  : "not the start of a block");
		return st;
	}
	if (order != KMEM_BUDDY_ANY_ORDER && order != o) {
		kmem_pa_report(pa, KMEM_WRONG_ORDER, block,
			       "free of %p with order %d, but the block has order %d (not freed)",
			       block, order, o);
		return KMEM_WRONG_ORDER;
	}
	kmem_lock_acquire(&pa->lock);
	dup = kmem_pa_pooled_or_cached_locked(pa, block, (unsigned)o);
	e = dup ? NULL : kmem_pa_ref_find_locked(pa, (uintptr_t)block);
	if (e && --e->refs == 1)
		kmem_pa_ref_remove_locked(pa, e);
	kmem_lock_release(&pa->lock);
	if (dup) {
		kmem_pa_report(pa, KMEM_DOUBLE_FREE, block,
			       "double free of %p (order %d): the block is already free", block, o);
		return KMEM_DOUBLE_FREE;
	}
	if (!e)
		kmem_pa_free(pa, block, (unsigned)o);
	return KMEM_OK;
}

size_t kmem_pa_drain(struct kmem_pagealloc *pa)
{
	struct pa_pcp *p = pa_pcp_self(pa);
	size_t frames;

	kmem_lock_acquire(&pa->lock);
	if (p)
		kmem_pa_pcp_flush_locked(pa, p);
	frames = kmem_pa_drain_locked(pa, true);
	kmem_lock_release(&pa->lock);
	return frames;
}
