/* pcp.c - the frame service's per-thread frame caches (after Linux's
 * per-CPU page lists): creation on first use, refill, drain, fold of the
 * owner-only counters, thread exit and fork adoption.
 *
 * Algorithm (Linux mm/page_alloc.c: rmqueue_pcplist, free_unref_page,
 * free_pcppages_bulk; pcp->batch and pcp->high):
 *   1. A thread's first slow-path call makes its cache: one buddy block
 *      holding struct pa_pcp and, per order o < PA_ORDERS, a zero and a
 *      dirty stack of cap(o) = max(high >> o, 1) slots (capd = 0 under
 *      INIT_ON_FREE: every free wipes and takes the slow path), found
 *      through the thread's pagealloc area at the instance's slot (below);
 *      pagealloc's exit hook returns it at thread exit.
 *   2. refill, after a miss in the slow path: up to B_o (pa_batch_of)
 *      blocks while free frames stay at or above low + 2^o (no hoarding
 *      under pressure): zeroed ones from the zeroed pool only, dirty ones
 *      from the dirty pool, else the buddy.
 *   3. drain, when a free finds its stack full: the k = B_o
 *      oldest blocks (the bottom; the top stays hot) go to the pool of
 *      their kind, the buddy when it is full. One buddy lock hold
 *      validates the whole batch and one frees the overflow
 *      (kmem_buddy_blocks_valid, kmem_buddy_free_bulk), as Linux takes the
 *      zone lock once per batch; a misuse that reached the stack through
 *      the unchecked fast path is reported there, alone.
 *   4. fold: the owner-only counters (frees, and the balances that give
 *      the fast allocations) are added to the instance under its lock at
 *      every slow path, stats call and flush.
 *   5. thread exit (the per-thread context's exit hook), destroy, and a fork child (for the
 *      threads that did not come along): flush every stack, free the cache.
 * Bound: refill and drain O(B_o) pool or buddy operations (drain
 * also memmoves the stack, O(cap)); flush O(cache capacity); creation
 * O(max_order) plus the clearing of one block.
 *
 * Data structures and invariants (P1, P3, P4): see pa_internal.h. A cache
 * is touched only by its thread, except under the lock once the thread is
 * gone; counts are stored relaxed so stats may read them.
 *
 * Per-thread lookup:
 * A thread's caches hang off its pagealloc area of the per-thread context
 * (kmem_tctx.h): struct pa_thread, one pointer per instance slot. An
 * instance takes a slot from the area's slot map at init and gives it back
 * at destroy, after clearing every thread's pointer at that slot (each
 * cache knows its owner area). A slot without a cache names the null cache
 * (null_pcp, capacities 0: both fast paths miss on it). kmem_pa_self
 * is the thread's area, or one of two shared read-only areas naming only
 * the null cache: pa_null_thread (no area yet, or after its exit hook) and
 * pa_reclaiming (a reclaim pass runs: the fast paths miss and pcp_get makes
 * nothing, so frees reach the pools).
 * The registry lock (pa_internal.h) guards every thread's
 * pointers against destroy, thread exit and fork; a thread sets its own
 * pointer under the instance lock when it makes a cache.
 * Locking: pa->lock protects the cache list (npcp, next/prev) and the
 * folded counters; kmem_pa_pcp_fold_locked, kmem_pa_pcp_drain_stack_locked,
 * kmem_pa_pcp_flush_locked, pcp_free_locked, kmem_pa_pcp_adopt_orphans_locked
 * and kmem_pa_pcp_refill_locked expect it held. Cache creation takes it
 * only to link the new cache.
 *
 * Tunables (struct kmem_pa_config): pcp_batch (default clamp(managed / 1024,
 * 1, 31) rounded to 2^n - 1: Linux's zone_batchsize, a batch worth one lock
 * hold that stays small next to the zone), pcp_high (default 6 * batch,
 * Linux's pcp->high: enough to absorb a burst of frees without draining);
 * order o uses batch >> o and high >> o (at least 1): a large block is worth
 * as many frames as 2^o small ones; the batch is at least min(batch, 4)
 * blocks (PA_BATCH_MIN_HIGH, pa_batch_of: a lock hold per block of the
 * high orders cost more than the blocks it moved). KMEM_PA_NO_PCP: no caches.
 */
#include "pa_internal.h"

static const struct pa_pcp null_pcp;

#define PA_NULL_PCP ((struct pa_pcp *)(uintptr_t)&null_pcp)

__extension__ static const struct pa_thread pa_null_thread = {
	.pcp = { [0 ... KMEM_PA_SLOTS - 1] = PA_NULL_PCP },
};
__extension__ static const struct pa_thread pa_reclaiming = {
	.pcp = { [0 ... KMEM_PA_SLOTS - 1] = PA_NULL_PCP },
};

#define PA_NULL_THREAD ((struct pa_thread *)(uintptr_t)&pa_null_thread)
#define PA_RECLAIMING ((struct pa_thread *)(uintptr_t)&pa_reclaiming)

KMEM_TLS struct pa_thread *kmem_pa_self = PA_NULL_THREAD;

static void pa_thread_exit(void *area);

/* A new area: no caches yet. */
static void pa_thread_init(void *area)
{
	struct pa_thread *t = area;

	for (unsigned s = 0; s < KMEM_PA_SLOTS; s++)
		t->pcp[s] = PA_NULL_PCP;
}

/* Builds without threads: the one thread's area, no mapping needed. */
static struct pa_thread single_thread;

static const struct kmem_tctx_ops pa_tctx = {
	.id = KMEM_TCTX_PAGEALLOC,
	.size = sizeof(struct pa_thread),
	.nslots = KMEM_PA_SLOTS,
	.init = pa_thread_init,
	.exit = pa_thread_exit,
	.single = KMEM_THREADS ? NULL : &single_thread,
};

static struct kmem_lock *registry(void)
{
	return kmem_tctx_lock(KMEM_TCTX_PAGEALLOC);
}

/* ---- thread caches ------------------------------------------------------------ */

void kmem_pa_pcp_fold_locked(struct kmem_pagealloc *pa, struct pa_pcp *p)
{
	uint64_t dirty_pops = p->frees, zero_pops = 0;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "folding a cache needs the instance lock");
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		dirty_pops += p->bal_d[o] - p->l[o].nd;
		zero_pops += p->bal_z[o] - p->l[o].nz;
		p->bal_d[o] = p->l[o].nd;
		p->bal_z[o] = p->l[o].nz;
	}
	pa->allocs += dirty_pops + zero_pops;
	pa->pcp_hits += dirty_pops + zero_pops;
	pa->zero_hits += zero_pops;
	pa->frees += p->frees;
	p->frees = 0;
}

/* Move the k oldest blocks (the bottom) of one stack into its pool. */
void kmem_pa_pcp_drain_stack_locked(struct kmem_pagealloc *pa, struct pa_pcp *p,
				    unsigned order, unsigned k, bool zeroed)
{
	struct pa_list *l = &p->l[order];
	void **stk = zeroed ? l->z : l->d;
	unsigned *n = zeroed ? &l->nz : &l->nd;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "draining a cache needs the instance lock");
	if (k > *n)
		k = *n;
	kmem_pa_pool_put_batch_locked(pa, stk, k, order, zeroed);
	memmove(&stk[0], &stk[k], (*n - k) * sizeof(void *));
	pa_list_set(n, *n - k);
	if (zeroed)
		p->bal_z[order] -= k;
	else
		p->bal_d[order] -= k;
	pa->pcp_drains++;
}

/* Empty a cache completely into the pools (buddy when they are full). */
void kmem_pa_pcp_flush_locked(struct kmem_pagealloc *pa, struct pa_pcp *p)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "flushing a cache needs the instance lock");
	kmem_pa_pcp_fold_locked(pa, p);
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		struct pa_list *l = &p->l[o];

		if (l->nd)
			kmem_pa_pcp_drain_stack_locked(pa, p, o, l->nd, false);
		if (l->nz)
			kmem_pa_pcp_drain_stack_locked(pa, p, o, l->nz, true);
	}
}

static unsigned pcp_cap(const struct kmem_pagealloc *pa, unsigned order)
{
	return (pa->high >> order) ? (pa->high >> order) : 1;
}

static size_t pcp_bytes(const struct kmem_pagealloc *pa)
{
	size_t slots = 0;

	for (unsigned o = 0; o < PA_ORDERS; o++)
		slots += 2 * pcp_cap(pa, o);
	return sizeof(struct pa_pcp) + slots * sizeof(void *);
}

/* A new, empty cache, linked into the instance and set as thread t's
 * cache of pa; NULL if no memory. */
static struct pa_pcp *pcp_create(struct kmem_pagealloc *pa, struct pa_thread *t)
{
	int order = kmem_buddy_size_to_order(pa->b, pcp_bytes(pa));
	struct pa_pcp *p;
	void **slot;

	if (order < 0 || (p = kmem_pa_meta_alloc(pa, (unsigned)order, false)) == NULL)
		return NULL;
	memset(p, 0, sizeof(*p));
	KMEM_ANNOT_BENIGN_RACE(p->l, sizeof(p->l)); /* counts read by stats */
	p->pa = pa;
	p->owner = t;
	p->self_order = (unsigned)order;
	slot = p->slot;
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		unsigned cap = pcp_cap(pa, o);

		p->l[o].capd = pa->wipe ? 0 : cap;
		p->l[o].d = slot;
		slot += cap;
		p->l[o].capz = cap;
		p->l[o].z = slot;
		slot += cap;
	}
	kmem_lock_acquire(&pa->lock);
	kmem_list_add(&pa->pcps, &p->link);
	pa->npcp++;
	t->pcp[pa->slot] = p;
	kmem_lock_release(&pa->lock);
	return p;
}

/* Unlink and free a cache whose blocks are gone (lock held; the registry
 * lock too unless p is the calling thread's): its owner stops naming it. */
static void pcp_free_locked(struct kmem_pagealloc *pa, struct pa_pcp *p)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "thread caches need the instance lock");
	kmem_list_del(&p->link);
	pa->npcp--;
	if (p->owner && p->owner->pcp[pa->slot] == p)
		p->owner->pcp[pa->slot] = PA_NULL_PCP;
	(void)kmem_buddy_free_checked(pa->b, p, (int)p->self_order);
}

/* destroy: every cache (other threads' included) back, then freed. */
void kmem_pa_pcp_release_all(struct kmem_pagealloc *pa)
{
	kmem_lock_acquire(registry());
	kmem_lock_acquire(&pa->lock);
	while (!kmem_list_empty(&pa->pcps)) {
		struct pa_pcp *p = KMEM_LIST_ENTRY(kmem_list_first(&pa->pcps), struct pa_pcp, link);

		kmem_pa_pcp_flush_locked(pa, p);
		pcp_free_locked(pa, p);
	}
	kmem_lock_release(&pa->lock);
	kmem_lock_release(registry());
}

/* In a fork child (lock held, and the registry lock by fork_prepare): the
 * caches of the threads that did not come along go back to the buddy; only
 * the calling thread's stays. */
void kmem_pa_pcp_adopt_orphans_locked(struct kmem_pagealloc *pa)
{
	struct pa_thread *me = kmem_tctx_area_peek(KMEM_TCTX_PAGEALLOC);
	struct pa_pcp *mine = me ? me->pcp[pa->slot] : PA_NULL_PCP;
	struct kmem_list_node *n, *next;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && kmem_lock_held(registry()) &&
		    "adoption needs the registry and instance locks");
	KMEM_LIST_FOR_EACH_SAFE(n, next, &pa->pcps) {
		struct pa_pcp *p = KMEM_LIST_ENTRY(n, struct pa_pcp, link);

		if (p == mine)
			continue;
		kmem_pa_pcp_flush_locked(pa, p);
		pcp_free_locked(pa, p);
	}
}

/* The pagealloc area's exit hook (thread exit, or kmem_tctx_release): the
 * thread's caches go back to their instances' pools. From here on the
 * thread makes no new caches (the per-thread context refuses an exiting
 * thread a new area; later destructors take the slow paths). */
static void pa_thread_exit(void *area)
{
	struct pa_thread *t = area;

	kmem_pa_self = PA_NULL_THREAD;
	kmem_lock_acquire(registry());
	for (unsigned s = 1; s < KMEM_PA_SLOTS; s++) {
		struct pa_pcp *p = t->pcp[s];
		struct kmem_pagealloc *pa;

		if (p == PA_NULL_PCP)
			continue;
		pa = p->pa;
		kmem_lock_acquire(&pa->lock);
		kmem_pa_pcp_flush_locked(pa, p);
		pcp_free_locked(pa, p);
		kmem_lock_release(&pa->lock);
	}
	kmem_lock_release(registry());
}

/* The calling thread's cache, made on first use; NULL if the instance has
 * none (no slot), the thread is exiting or runs a reclaim pass (its frees
 * must reach the pools), or there is no memory for one. */
struct pa_pcp *kmem_pa_pcp_get(struct kmem_pagealloc *pa)
{
	struct pa_thread *t = kmem_pa_self;
	struct pa_pcp *p = t->pcp[pa->slot];

	if (p != PA_NULL_PCP)
		return p;
	if (!pa->slot || t == PA_RECLAIMING)
		return NULL;
	if (t == PA_NULL_THREAD) {
		t = kmem_tctx_area(&pa_tctx);
		if (!t)
			return NULL;
		kmem_pa_self = t;
		if ((p = t->pcp[pa->slot]) != PA_NULL_PCP)
			return p;
	}
	return pcp_create(pa, t);
}

struct pa_pcp *kmem_pa_pcp_self(const struct kmem_pagealloc *pa)
{
	struct pa_pcp *p = kmem_pa_self->pcp[pa->slot];

	return p != PA_NULL_PCP ? p : NULL;
}

bool kmem_pa_pcp_reclaim_enter(struct pa_reclaim_save *sv)
{
	if (kmem_pa_self == PA_RECLAIMING)
		return false;
	sv->self = kmem_pa_self;
	kmem_pa_self = PA_RECLAIMING;
	return true;
}

void kmem_pa_pcp_reclaim_exit(const struct pa_reclaim_save *sv)
{
	kmem_pa_self = sv->self;
}

bool kmem_pa_pcp_in_reclaim(void)
{
	return kmem_pa_self == PA_RECLAIMING;
}

void kmem_pa_pcp_fork_lock(void)
{
	kmem_tctx_fork_lock(KMEM_TCTX_PAGEALLOC);
}

void kmem_pa_pcp_fork_unlock(void)
{
	kmem_tctx_fork_unlock(KMEM_TCTX_PAGEALLOC);
}

/* Fill a cache list after a miss: up to B_o blocks while free
 * frames stay at or above low (no hoarding under pressure). */
void kmem_pa_pcp_refill_locked(struct kmem_pagealloc *pa, struct pa_pcp *p,
			       unsigned order, bool need_zero)
{
	struct pa_list *l = &p->l[order];
	unsigned want = pa_batch_of(pa, order);
	size_t n = (size_t)1 << order, free = pa_free_frames(pa);

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "refilling a cache needs the instance lock");
	/* free only falls by what this loop takes (frees elsewhere may
	 * raise it meanwhile: the estimate errs low) */
	for (unsigned i = 0; i < want; i++, free -= n) {
		void *blk;

		KMEM_STEP(PA_STEP_REFILL);
		if (free < pa->wlow + n)
			break;
		if (need_zero) {
			if (l->nz >= l->capz)
				break;
			blk = kmem_pa_pool_take_locked(pa, order, true);
			if (!blk && (blk = kmem_pa_rel_take_locked(pa, order)) != NULL)
				pa_annot_park(pa, blk, order); /* reads zero (P3 holds) */
			if (!blk)
				break;
			pa_push_zero(p, order, blk);
		} else {
			if (l->nd >= l->capd)
				break;
			blk = kmem_pa_pool_take_locked(pa, order, false);
			if (!blk)
				blk = kmem_buddy_alloc(pa->b, order);
			if (!blk)
				blk = kmem_pa_rel_take_locked(pa, order);
			if (!blk)
				break;
			pa_annot_park(pa, blk, order);
			pa_push_dirty(p, order, blk);
		}
		if (pa->shadow_n)
			kmem_pa_shadow_check_locked(pa, blk);
	}
	pa->pcp_refills++;
}

/* init: a slot for the instance's thread caches (none with NO_PCP, or
 * when every slot is taken: the instance works without them; nor with
 * the firmware's lock hooks in a build without threads, where the one
 * cache would be shared by every RTOS task: kmem/port.h). */
void kmem_pa_pcp_init(struct kmem_pagealloc *pa)
{
	pa->slot = 0;
	if ((pa->flags & KMEM_PA_NO_PCP) || kmem_port_lock_hooked())
		return;
	kmem_lock_acquire(registry());
	pa->slot = kmem_tctx_slot_take_locked(&pa_tctx);
	kmem_lock_release(registry());
	/* without threads the one thread's cache is made now, as part of the
	 * instance (its memory is then counted in "used" from the start) */
	if (!KMEM_THREADS && pa->slot)
		(void)kmem_pa_pcp_get(pa);
}

/* destroy: every cache back and freed, every thread's pointer at the slot
 * cleared (pcp_free_locked), then the slot given back. */
void kmem_pa_pcp_fini(struct kmem_pagealloc *pa)
{
	kmem_pa_pcp_release_all(pa);
	kmem_lock_acquire(registry());
	kmem_tctx_slot_put_locked(&pa_tctx, pa->slot);
	kmem_lock_release(registry());
	pa->slot = 0;
}
