/* pcp.c - the frame service's per-thread frame caches (after Linux's
 * per-CPU page lists): creation on first use, refill, drain, fold of the
 * owner-only counters, thread exit and fork adoption.
 *
 * Algorithm (Linux mm/page_alloc.c: rmqueue_pcplist, free_unref_page,
 * free_pcppages_bulk; pcp->batch and pcp->high):
 *   1. A thread's first slow-path call makes its cache: one buddy block
 *      holding struct pa_pcp and, per order o < PA_ORDERS, a zero and a
 *      dirty stack of cap(o) = max(high >> o, 1) slots (capd = 0 under
 *      INIT_ON_FREE: every free wipes and takes the slow path). The
 *      thread key's destructor returns it at thread exit; the thread-local
 *      kmem_pa_tls remembers the last instance used, for the fast paths.
 *   2. refill, after a miss in the slow path: up to max(batch >> o, 1)
 *      blocks while free frames stay at or above low + 2^o (no hoarding
 *      under pressure): zeroed ones from the zeroed pool only, dirty ones
 *      from the dirty pool, else the buddy.
 *   3. drain, when a free finds its stack full: the k = max(batch >> o, 1)
 *      oldest blocks (the bottom; the top stays hot) go to the pool of
 *      their kind, the buddy when it is full. One buddy lock hold
 *      validates the whole batch and one frees the overflow
 *      (kmem_buddy_blocks_valid, kmem_buddy_free_bulk), as Linux takes the
 *      zone lock once per batch; a misuse that reached the stack through
 *      the unchecked fast path is reported there, alone.
 *   4. fold: the owner-only counters (frees, and the balances that give
 *      the fast allocations) are added to the instance under its lock at
 *      every slow path, stats call and flush.
 *   5. thread exit (key destructor), destroy, and a fork child (for the
 *      threads that did not come along): flush every stack, free the cache.
 * Bound: refill and drain O(batch >> o) pool or buddy operations (drain
 * also memmoves the stack, O(cap)); flush O(cache capacity); creation
 * O(max_order) plus the clearing of one block.
 *
 * Data structures and invariants (P1, P3, P4): see pa_internal.h. A cache
 * is touched only by its thread, except under the lock once the thread is
 * gone; counts are stored relaxed so stats may read them.
 *
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
 * as many frames as 2^o small ones. KMEM_PA_NO_PCP: no caches.
 */
#include "pa_internal.h"

#ifdef KMEM_HAVE_PTHREAD
__thread struct pa_tls kmem_pa_tls __attribute__((tls_model("initial-exec")));
#endif

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

/* A new, empty cache, linked into the instance; NULL if no memory. */
static struct pa_pcp *pcp_create(struct kmem_pagealloc *pa)
{
	int order = kmem_buddy_size_to_order(pa->b, pcp_bytes(pa));
	struct pa_pcp *p;
	void **slot;

	if (order < 0 || (p = kmem_buddy_alloc(pa->b, (unsigned)order)) == NULL)
		return NULL;
	memset(p, 0, sizeof(*p));
	KMEM_ANNOT_BENIGN_RACE(p->l, sizeof(p->l)); /* counts read by stats */
	p->pa = pa;
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
	p->next = pa->pcps;
	if (pa->pcps)
		pa->pcps->prev = p;
	pa->pcps = p;
	pa->npcp++;
	kmem_lock_release(&pa->lock);
	return p;
}

/* Unlink and free a cache whose blocks are gone (lock held). */
static void pcp_free_locked(struct kmem_pagealloc *pa, struct pa_pcp *p)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the cache list needs the instance lock");
	if (p->prev)
		p->prev->next = p->next;
	else
		pa->pcps = p->next;
	if (p->next)
		p->next->prev = p->prev;
	pa->npcp--;
	(void)kmem_buddy_free_checked(pa->b, p, (int)p->self_order);
}

/* destroy: every cache (other threads' included) back, then freed. */
void kmem_pa_pcp_release_all(struct kmem_pagealloc *pa)
{
	kmem_lock_acquire(&pa->lock);
	while (pa->pcps) {
		struct pa_pcp *p = pa->pcps;

		kmem_pa_pcp_flush_locked(pa, p);
		pcp_free_locked(pa, p);
	}
#ifndef KMEM_HAVE_PTHREAD
	pa->solo = NULL;
#endif
	kmem_lock_release(&pa->lock);
}

/* In a fork child (lock held): the caches of the threads that did not come
 * along go back to the buddy; only the calling thread's stays. */
void kmem_pa_pcp_adopt_orphans_locked(struct kmem_pagealloc *pa)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "adopting caches needs the instance lock");
#ifdef KMEM_HAVE_PTHREAD
	struct pa_pcp *mine = pa->key_ok ? pthread_getspecific(pa->key) : NULL, *p, *next;

	for (p = pa->pcps; p; p = next) {
		next = p->next;
		if (p == mine)
			continue;
		kmem_pa_pcp_flush_locked(pa, p);
		pcp_free_locked(pa, p);
	}
#else
	(void)pa;
#endif
}

#ifdef KMEM_HAVE_PTHREAD
/* pthread key destructor: the exiting thread's cache goes back. From here
 * on the thread makes no new caches (later destructors use the slow path). */
static void pcp_thread_exit(void *arg)
{
	struct pa_pcp *p = arg;
	struct kmem_pagealloc *pa = p->pa;

	kmem_pa_tls.gone = true;
	if (kmem_pa_tls.pcp == p) {
		kmem_pa_tls.id = 0;
		kmem_pa_tls.pcp = NULL;
	}
	kmem_lock_acquire(&pa->lock);
	kmem_pa_pcp_flush_locked(pa, p);
	pcp_free_locked(pa, p);
	kmem_lock_release(&pa->lock);
}
#endif

/* The calling thread's cache, made on first use; NULL if the instance has
 * none, the thread is exiting or runs a reclaim pass (its frees must reach
 * the pools), or there is no memory for one. */
struct pa_pcp *kmem_pa_pcp_get(struct kmem_pagealloc *pa)
{
#ifdef KMEM_HAVE_PTHREAD
	struct pa_pcp *p;

	if (kmem_pa_tls.id == pa->id)
		return kmem_pa_tls.pcp;
	if (!pa->key_ok || kmem_pa_tls.gone || kmem_pa_tls.in_reclaim)
		return NULL;
	p = pthread_getspecific(pa->key);
	if (!p) {
		p = pcp_create(pa);
		if (!p)
			return NULL;
		if (pthread_setspecific(pa->key, p)) {
			kmem_lock_acquire(&pa->lock);
			pcp_free_locked(pa, p);
			kmem_lock_release(&pa->lock);
			return NULL;
		}
	}
	kmem_pa_tls.id = pa->id;
	kmem_pa_tls.pcp = p;
	return p;
#else
	return pa_pcp_self(pa);
#endif
}

/* Fill a cache list after a miss: up to batch >> order blocks while free
 * frames stay at or above low (no hoarding under pressure). */
void kmem_pa_pcp_refill_locked(struct kmem_pagealloc *pa, struct pa_pcp *p,
			       unsigned order, bool need_zero)
{
	struct pa_list *l = &p->l[order];
	unsigned want = pa->batch >> order ? pa->batch >> order : 1;
	size_t n = (size_t)1 << order;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "refilling a cache needs the instance lock");
	for (unsigned i = 0; i < want; i++) {
		void *blk;

		if (pa_free_frames(pa) < pa->wlow + n)
			break;
		if (need_zero) {
			if (l->nz >= l->capz ||
			    (blk = kmem_pa_pool_take_locked(pa, order, true)) == NULL)
				break;
			pa_push_zero(p, order, blk);
		} else {
			if (l->nd >= l->capd)
				break;
			blk = kmem_pa_pool_take_locked(pa, order, false);
			if (!blk)
				blk = kmem_buddy_alloc(pa->b, order);
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

/* init: the per-thread cache machinery (the key, or the one cache). */
void kmem_pa_pcp_init(struct kmem_pagealloc *pa)
{
#ifdef KMEM_HAVE_PTHREAD
	if (!(pa->flags & KMEM_PA_NO_PCP))
		pa->key_ok = pthread_key_create(&pa->key, pcp_thread_exit) == 0;
#else
	if (!(pa->flags & KMEM_PA_NO_PCP))
		pa->solo = pcp_create(pa);
#endif
}

/* destroy: no thread finds the instance's caches any more; every cache
 * back and freed. */
void kmem_pa_pcp_fini(struct kmem_pagealloc *pa)
{
#ifdef KMEM_HAVE_PTHREAD
	if (pa->key_ok)
		pthread_key_delete(pa->key);
	if (kmem_pa_tls.id == pa->id) {
		kmem_pa_tls.id = 0;
		kmem_pa_tls.pcp = NULL;
	}
#endif
	kmem_pa_pcp_release_all(pa);
}
