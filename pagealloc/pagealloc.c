/* pagealloc.c - the frame service's allocation paths: per-thread frame caches
 * (after Linux's per-CPU page lists), the zeroed and dirty pools, the
 * zeroer, reference counts. Reclaim, OOM, clients and the reaper thread are
 * in reclaim.c; stats, text and the checker in pa_info.c. Locks: see
 * pa_internal.h.
 *
 * Zero-fill on demand: a block is "zeroed" only while it sits in a zeroed
 * pool or a cache's zero stack, and reaches those only right after a memset
 * (zeroer, inline, or a wipe at free). Every path that hands out a block
 * under a zeroing policy either takes a zeroed one or memsets it first, so
 * no caller ever sees another caller's data.
 */
#include "pa_internal.h"

#include <stdarg.h>
#include <stdio.h>

#ifdef KMEM_HAVE_PTHREAD
__thread struct pa_tls kmem_pa_tls __attribute__((tls_model("initial-exec")));
#endif

/* Instance ids for the thread-local lookup: never reused, so a thread's
 * stale entry for a destroyed instance can never match a new one. */
static uint64_t pa_next_id = 1;

void kmem_pa_config_init(struct kmem_pa_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg)); /* every default is 0 */
}

size_t kmem_pa_sizeof(void)
{
	return (sizeof(struct kmem_pagealloc) + 15) & ~(size_t)15;
}

void kmem_pa_report(struct kmem_pagealloc *pa, enum kmem_status st, const void *ptr,
		    const char *fmt, ...)
{
	struct kmem_error_report r;
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
#ifdef KMEM_HAVE_STDIO
	vsnprintf(msg, sizeof(msg), fmt, ap);
#else
	msg[0] = '\0';
	(void)fmt;
#endif
	va_end(ap);
	memset(&r, 0, sizeof(r));
	r.status = st;
	r.ptr = ptr;
	r.order = -1;
	r.component = "pagealloc";
	r.instance = pa->name;
	r.detail = msg;
	kmem_error_raise(pa->sink, &r);
}

/* ---- annotations ----------------------------------------------------------- */

static inline size_t blk_bytes(const struct kmem_pagealloc *pa, unsigned order)
{
	return pa->frame_size << order;
}

/* A block enters a pool or cache: nobody may touch it. */
static inline void annot_park(const struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	KMEM_ANNOT_NOACCESS(blk, blk_bytes(pa, order));
	(void)pa, (void)blk, (void)order;
}

static inline void annot_hand_out(const struct kmem_pagealloc *pa, void *blk, unsigned order,
				  bool zeroed)
{
	if (zeroed)
		KMEM_ANNOT_DEFINED(blk, blk_bytes(pa, order));
	else
		KMEM_ANNOT_UNDEFINED(blk, blk_bytes(pa, order));
	(void)pa, (void)blk, (void)order, (void)zeroed;
}

static void zero_block(const struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	KMEM_ANNOT_UNDEFINED(blk, blk_bytes(pa, order));
	memset(blk, 0, blk_bytes(pa, order));
}

/* ---- shadow set: recently reclaimed frames ---------------------------------- */

static inline unsigned shadow_slot(const struct kmem_pagealloc *pa, const void *blk)
{
	uint64_t h = ((uint64_t)(uintptr_t)blk >> pa->frame_shift) * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> 56) % PA_SHADOW;
}

static void shadow_record_locked(struct kmem_pagealloc *pa, void *blk)
{
	unsigned i = shadow_slot(pa, blk);

	if (!pa->shadow[i])
		pa->shadow_n++;
	pa->shadow[i] = (uintptr_t)blk;
}

static void shadow_check_locked(struct kmem_pagealloc *pa, void *blk)
{
	unsigned i = shadow_slot(pa, blk);

	if (pa->shadow[i] == (uintptr_t)blk) {
		pa->shadow[i] = 0;
		pa->shadow_n--;
		pa->refaults++;
		pa->cycle_refaults++;
	}
}

/* ---- buddy and pools ---------------------------------------------------------- */

/* Give a block back to the buddy, accessible again as the buddy handed it
 * out (a pooled block is still one of the buddy's memcheck pool chunks; the
 * buddy's free makes it NOACCESS). Misuse is reported by the buddy. */
static void to_buddy(struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	KMEM_ANNOT_UNDEFINED(blk, blk_bytes(pa, order));
	(void)kmem_buddy_free_checked(pa->b, blk, (int)order);
}

/* A block about to enter a pool: is it an allocated block of this order?
 * If not, the buddy reports it (and frees it if only the order was wrong). */
static bool valid_block(struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	if (kmem_buddy_block_order(pa->b, blk) == (int)order)
		return true;
	(void)kmem_buddy_free_checked(pa->b, blk, (int)order);
	return false;
}

/* Park a validated block in its pool, or give it to the buddy when full. */
static void pool_put_locked(struct kmem_pagealloc *pa, void *blk, unsigned order, bool zeroed)
{
	struct pa_pool *pl = zeroed ? &pa->zpool[order] : &pa->dpool[order];
	size_t n = (size_t)1 << order;

	if (pl->n < pl->cap) {
		annot_park(pa, blk, order);
		pl->blk[pl->n++] = blk;
		if (zeroed)
			kmem_relaxed_add_size(&pa->zero_frames, n);
		else
			kmem_relaxed_add_size(&pa->dirty_frames, n);
	} else {
		to_buddy(pa, blk, order);
	}
}

static void *pool_take_locked(struct kmem_pagealloc *pa, unsigned order, bool zeroed)
{
	struct pa_pool *pl = zeroed ? &pa->zpool[order] : &pa->dpool[order];
	size_t n = (size_t)1 << order;

	if (!pl->n)
		return NULL;
	if (zeroed)
		kmem_relaxed_add_size(&pa->zero_frames, -n);
	else
		kmem_relaxed_add_size(&pa->dirty_frames, -n);
	return pl->blk[--pl->n];
}

/* Every pooled block back to the buddy (all) or the dirty ones only. */
size_t kmem_pa_drain_locked(struct kmem_pagealloc *pa, bool all)
{
	size_t frames = 0;
	void *blk;

	for (unsigned o = 0; o < PA_ORDERS; o++) {
		while ((blk = pool_take_locked(pa, o, false)) != NULL) {
			to_buddy(pa, blk, o);
			frames += (size_t)1 << o;
		}
		while (all && (blk = pool_take_locked(pa, o, true)) != NULL) {
			to_buddy(pa, blk, o);
			frames += (size_t)1 << o;
		}
	}
	return frames;
}

/* ---- thread caches ------------------------------------------------------------ */

static inline void list_set(unsigned *field, unsigned v)
{
	__atomic_store_n(field, v, __ATOMIC_RELAXED);
}

void kmem_pa_pcp_fold_locked(struct kmem_pagealloc *pa, struct pa_pcp *p)
{
	uint64_t dirty_pops = p->frees, zero_pops = 0;

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

/* Pushes and pops outside the fast paths (they keep the balances). */
static void *pop_dirty(struct pa_pcp *p, unsigned o)
{
	struct pa_list *l = &p->l[o];

	p->bal_d[o]--;
	list_set(&l->nd, l->nd - 1);
	return l->d[l->nd];
}

static void *pop_zero(struct pa_pcp *p, unsigned o)
{
	struct pa_list *l = &p->l[o];

	p->bal_z[o]--;
	list_set(&l->nz, l->nz - 1);
	return l->z[l->nz];
}

static void push_dirty(struct pa_pcp *p, unsigned o, void *blk)
{
	struct pa_list *l = &p->l[o];

	p->bal_d[o]++;
	l->d[l->nd] = blk;
	list_set(&l->nd, l->nd + 1);
}

static void push_zero(struct pa_pcp *p, unsigned o, void *blk)
{
	struct pa_list *l = &p->l[o];

	p->bal_z[o]++;
	l->z[l->nz] = blk;
	list_set(&l->nz, l->nz + 1);
}

/* Move the k oldest blocks (the bottom) of one stack into its pool. */
static void pcp_drain_stack_locked(struct kmem_pagealloc *pa, struct pa_pcp *p, unsigned order,
				   unsigned k, bool zeroed)
{
	struct pa_list *l = &p->l[order];
	void **stk = zeroed ? l->z : l->d;
	unsigned *n = zeroed ? &l->nz : &l->nd;

	if (k > *n)
		k = *n;
	for (unsigned i = 0; i < k; i++)
		if (valid_block(pa, stk[i], order))
			pool_put_locked(pa, stk[i], order, zeroed);
	memmove(&stk[0], &stk[k], (*n - k) * sizeof(void *));
	list_set(n, *n - k);
	if (zeroed)
		p->bal_z[order] -= k;
	else
		p->bal_d[order] -= k;
	pa->pcp_drains++;
}

/* Empty a cache completely into the pools (buddy when they are full). */
void kmem_pa_pcp_flush_locked(struct kmem_pagealloc *pa, struct pa_pcp *p)
{
	kmem_pa_pcp_fold_locked(pa, p);
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		struct pa_list *l = &p->l[o];

		if (l->nd)
			pcp_drain_stack_locked(pa, p, o, l->nd, false);
		if (l->nz)
			pcp_drain_stack_locked(pa, p, o, l->nz, true);
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
static struct pa_pcp *pcp_get(struct kmem_pagealloc *pa)
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
static void pcp_refill_locked(struct kmem_pagealloc *pa, struct pa_pcp *p, unsigned order,
			      bool need_zero)
{
	struct pa_list *l = &p->l[order];
	unsigned want = pa->batch >> order ? pa->batch >> order : 1;
	size_t n = (size_t)1 << order;

	for (unsigned i = 0; i < want; i++) {
		void *blk;

		if (pa_free_frames(pa) < pa->wlow + n)
			break;
		if (need_zero) {
			if (l->nz >= l->capz || (blk = pool_take_locked(pa, order, true)) == NULL)
				break;
			push_zero(p, order, blk);
		} else {
			if (l->nd >= l->capd)
				break;
			blk = pool_take_locked(pa, order, false);
			if (!blk)
				blk = kmem_buddy_alloc(pa->b, order);
			if (!blk)
				break;
			annot_park(pa, blk, order);
			push_dirty(p, order, blk);
		}
		if (pa->shadow_n)
			shadow_check_locked(pa, blk);
	}
	pa->pcp_refills++;
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
				list_set(&l->nd, nd - 1);
				annot_hand_out(pa, blk, order, false);
				return blk;
			}
		} else {
			unsigned nz = l->nz;

			if (KMEM_LIKELY(nz != 0)) {
				blk = l->z[nz - 1];
				list_set(&l->nz, nz - 1);
				annot_hand_out(pa, blk, order, true);
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

	*zeroed = false;
	if (order < PA_ORDERS) {
		if (pa->zpool[order].n && (need_zero || !pa->dpool[order].n)) {
			blk = pool_take_locked(pa, order, true);
			*zeroed = true;
		} else {
			blk = pool_take_locked(pa, order, false);
		}
	}
	if (!blk)
		blk = kmem_buddy_alloc(pa->b, order);
	/* pooled blocks of other orders: back to the buddy to merge or
	 * split, dirty ones first */
	if (!blk && pa->dirty_frames && kmem_pa_drain_locked(pa, false))
		blk = kmem_buddy_alloc(pa->b, order);
	if (!blk && pa->zero_frames && kmem_pa_drain_locked(pa, true))
		blk = kmem_buddy_alloc(pa->b, order);
	if (blk && pa->shadow_n)
		shadow_check_locked(pa, blk);
	return blk;
}

#ifdef KMEM_HAVE_PTHREAD
#include <time.h>
static void pa_nap(void)
{
	struct timespec ts = {0, 1000000};

	nanosleep(&ts, NULL);
}
#else
static void pa_nap(void)
{
}
#endif

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
	p = order < PA_ORDERS ? pcp_get(pa) : NULL;
	for (unsigned attempt = 0;; attempt++) {
		kmem_lock_acquire(&pa->lock);
		if (p)
			kmem_pa_pcp_fold_locked(pa, p);
		/* a cache hit the fast path could not take (first use, or a
		 * client's request) */
		if (p && !cl && !need_zero && p->l[order].nd) {
			blk = pop_dirty(p, order);
		} else if (p && !cl && p->l[order].nz) {
			blk = pop_zero(p, order);
			zeroed = true;
		} else {
			size_t free = pa_free_frames(pa);
			size_t floor = (flags & KMEM_PAGE_HIGH) ? pa->wmin / 2 : pa->wmin;

			want_grow = pa->grow && free < n + pa->wlow;

			if (pa->nclients)
				floor += kmem_pa_reserved_for_others(pa, cl);
			if (free >= n + floor) {
				blk = take_locked(pa, order, need_zero, &zeroed);
				if (blk && free - n < pa->wmin)
					pa->high_dips++;
				if (blk && p && !cl)
					pcp_refill_locked(pa, p, order, need_zero);
			}
			/* enough frames but no block this big (fragmented):
			 * growing beats reclaim too */
			if (!blk && pa->grow)
				want_grow = true;
			/* short of zeroed blocks: the thread's own dirty
			 * ones are already out of the free count */
			if (!blk && p && p->l[order].nd)
				blk = pop_dirty(p, order);
		}
		if (blk) {
			pa->allocs++;
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
		zero_block(pa, blk, order);
	annot_hand_out(pa, blk, order, need_zero);
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
			list_set(&l->nd, nd + 1);
			p->frees++;
			annot_park(pa, block, order);
			return;
		}
	}
	if (block)
		kmem_pa_free_slow(pa, block, order);
}

void kmem_pa_grown(struct kmem_pagealloc *pa, size_t frames)
{
	kmem_lock_acquire(&pa->lock);
	pa->managed += frames;
	kmem_lock_release(&pa->lock);
	pa_count(&pa->grows, 1);
	pa_count(&pa->grown_frames, frames);
}

void kmem_pa_withdrawn(struct kmem_pagealloc *pa, size_t frames)
{
	kmem_lock_acquire(&pa->lock);
	pa->managed -= frames < pa->managed ? frames : pa->managed;
	kmem_lock_release(&pa->lock);
	pa_count(&pa->withdrawn_frames, frames);
}

/* After a free reached the buddy: too much free memory? */
static void release_check(struct kmem_pagealloc *pa)
{
	size_t high = pa_relaxed(&pa->whigh);

	if (pa->release && pa_free_frames(pa) > high + high / 4)
		kmem_pa_kick_release(pa);
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
			zero_block(pa, block, order);
			pa_count(&pa->zeroed_free, (uint64_t)1 << order);
		}
		kmem_lock_acquire(&pa->lock);
		pa->frees++;
		if (in_reclaim)
			shadow_record_locked(pa, block);
		kmem_lock_release(&pa->lock);
		to_buddy(pa, block, order);
		release_check(pa);
		return;
	}
	p = pcp_get(pa);
	if (pa->wipe)
		zero_block(pa, block, order);
	kmem_lock_acquire(&pa->lock);
	if (pa->wipe)
		pa->zeroed_free += (uint64_t)1 << order;
	if (in_reclaim)
		shadow_record_locked(pa, block);
	if (p) {
		struct pa_list *l = &p->l[order];
		unsigned k = pa->batch >> order ? pa->batch >> order : 1;

		kmem_pa_pcp_fold_locked(pa, p);
		pa->frees++;
		annot_park(pa, block, order);
		if (pa->wipe) {
			if (l->nz >= l->capz)
				pcp_drain_stack_locked(pa, p, order, k, true);
			push_zero(p, order, block);
		} else {
			if (l->nd >= l->capd)
				pcp_drain_stack_locked(pa, p, order, k, false);
			push_dirty(p, order, block);
		}
	} else {
		pa->frees++;
		if (valid_block(pa, block, order))
			pool_put_locked(pa, block, order, pa->wipe);
	}
	kmem_lock_release(&pa->lock);
	release_check(pa);
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
	for (unsigned o = 0; o < PA_ORDERS; o++) {
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
				void *blk = pool_take_locked(pa, o, false);

				if (!blk && kmem_buddy_free_frames(pa->b) > pa->whigh + n)
					blk = kmem_buddy_alloc(pa->b, o);
				if (!blk)
					break;
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
				zero_block(pa, batch[i], o);
			kmem_lock_acquire(&pa->lock);
			kmem_relaxed_add_size(&pa->busy_frames, -(k * n));
			for (unsigned i = 0; i < k; i++)
				pool_put_locked(pa, batch[i], o, true);
			pa->zeroed_bg += k * n;
			kmem_lock_release(&pa->lock);
			done += k * n;
		}
	}
	return done;
}

/* ---- reference counts ------------------------------------------------------------- */

static bool pooled_or_cached_locked(struct kmem_pagealloc *pa, const void *blk, unsigned order);

static size_t ref_slot(const struct kmem_pagealloc *pa, uintptr_t a)
{
	uint64_t h = ((uint64_t)a >> pa->frame_shift) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (pa->ref_cap - 1);
}

static struct pa_ref *ref_find_locked(struct kmem_pagealloc *pa, uintptr_t a)
{
	if (!pa->ref_cap)
		return NULL;
	for (size_t i = ref_slot(pa, a);; i = (i + 1) & (pa->ref_cap - 1)) {
		if (pa->refs[i].addr == a)
			return &pa->refs[i];
		if (!pa->refs[i].addr)
			return NULL;
	}
}

/* Remove an entry, shifting later ones of its probe run back. */
static void ref_remove_locked(struct kmem_pagealloc *pa, struct pa_ref *e)
{
	size_t mask = pa->ref_cap - 1, i = (size_t)(e - pa->refs), j = i;

	pa->refs[i].addr = 0;
	pa->ref_n--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!pa->refs[j].addr)
			return;
		home = ref_slot(pa, pa->refs[j].addr);
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

	if ((pa->ref_n + 1) * 2 > pa->ref_cap) {
		/* grow: a table twice the size (at least one frame) */
		size_t ncap = pa->ref_cap ? pa->ref_cap * 2 : pa->frame_size / sizeof(struct pa_ref);
		int order = kmem_buddy_size_to_order(pa->b, ncap * sizeof(struct pa_ref));
		struct pa_ref *old = pa->refs, *nt;
		size_t ocap = pa->ref_cap;
		unsigned oorder = pa->ref_order;

		if (ncap < 4)
			ncap = 4, order = kmem_buddy_size_to_order(pa->b, ncap * sizeof(struct pa_ref));
		if (order < 0 || (nt = kmem_buddy_alloc(pa->b, (unsigned)order)) == NULL)
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
	for (i = ref_slot(pa, a); pa->refs[i].addr; i = (i + 1) & (pa->ref_cap - 1))
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
	if (pooled_or_cached_locked(pa, block, (unsigned)o)) {
		kmem_lock_release(&pa->lock);
		return -EINVAL;
	}
	e = ref_find_locked(pa, (uintptr_t)block);
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
	e = ref_find_locked(pa, (uintptr_t)block);
	if (e) {
		left = --e->refs;
		if (left == 1)
			ref_remove_locked(pa, e);
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
	e = ref_find_locked(pa, (uintptr_t)block);
	refs = e ? e->refs : pooled_or_cached_locked(pa, block, (unsigned)o) ? 0 : 1;
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
	memcpy(copy, block, blk_bytes(pa, order));
	(void)kmem_pa_put(pa, block, order);
	return copy;
}

/* ---- checked free, drain ------------------------------------------------------------ */

static bool pooled_or_cached_locked(struct kmem_pagealloc *pa, const void *blk, unsigned order)
{
	struct pa_pcp *p = pa_pcp_self(pa);

	if (order >= PA_ORDERS)
		return false;
	for (size_t i = 0; i < pa->zpool[order].n; i++)
		if (pa->zpool[order].blk[i] == blk)
			return true;
	for (size_t i = 0; i < pa->dpool[order].n; i++)
		if (pa->dpool[order].blk[i] == blk)
			return true;
	if (p) {
		const struct pa_list *l = &p->l[order];

		for (unsigned i = 0; i < l->nz; i++)
			if (l->z[i] == blk)
				return true;
		for (unsigned i = 0; i < l->nd; i++)
			if (l->d[i] == blk)
				return true;
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
	dup = pooled_or_cached_locked(pa, block, (unsigned)o);
	e = dup ? NULL : ref_find_locked(pa, (uintptr_t)block);
	if (e && --e->refs == 1)
		ref_remove_locked(pa, e);
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

struct kmem_buddy *kmem_pa_buddy(struct kmem_pagealloc *pa)
{
	return pa->b;
}

struct kmem_error_sink *kmem_pa_error_sink(struct kmem_pagealloc *pa)
{
	return pa->sink;
}

/* ---- page source ------------------------------------------------------------------ */

static void *ps_alloc(void *ctx, unsigned order, unsigned flags)
{
	return kmem_pa_alloc(ctx, order, flags);
}

static void ps_free(void *ctx, void *block, unsigned order)
{
	kmem_pa_free(ctx, block, order);
}

static int ps_set_owner(void *ctx, void *block, void *owner)
{
	return kmem_buddy_set_owner(((struct kmem_pagealloc *)ctx)->b, block, owner);
}

static void *ps_get_owner(void *ctx, const void *addr)
{
	return kmem_buddy_owner(((struct kmem_pagealloc *)ctx)->b, addr);
}

static int ps_register(void *ctx, struct kmem_shrinker *sh)
{
	return kmem_pa_register_shrinker(ctx, sh);
}

static void ps_unregister(void *ctx, struct kmem_shrinker *sh)
{
	kmem_pa_unregister_shrinker(ctx, sh);
}

void kmem_pa_page_source(struct kmem_pagealloc *pa, struct kmem_page_source *ps)
{
	kmem_buddy_page_source(pa->b, ps); /* owner words and table */
	ps->alloc_pages = ps_alloc;
	ps->free_pages = ps_free;
	ps->ctx = pa;
	ps->register_shrinker = ps_register;
	ps->unregister_shrinker = ps_unregister;
	if (ps->set_owner) { /* owner words live in the buddy */
		ps->set_owner = ps_set_owner;
		ps->get_owner = ps_get_owner;
	}
}

/* ---- init / destroy ----------------------------------------------------------------- */

static size_t isqrt(size_t x)
{
	size_t r = 0, bit = (size_t)1 << (sizeof(size_t) * 8 - 2);

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

static void default_watermarks(size_t managed, size_t frame, size_t *min, size_t *low,
			       size_t *high)
{
	size_t kb = managed * (frame / 64) / 16; /* managed KiB, overflow-safe */
	size_t min_kb = isqrt(kb * 16), gap;

	if (min_kb < 128)
		min_kb = 128;
	if (min_kb > 65536)
		min_kb = 65536;
	*min = min_kb * 1024 / frame;
	if (*min > managed / 32)
		*min = managed / 32;
	if (*min < 1)
		*min = 1;
	gap = *min / 4;
	if (gap < managed / 1000)
		gap = managed / 1000;
	if (gap < 1)
		gap = 1;
	*low = *min + gap;
	*high = *min + 2 * gap;
}

static bool watermarks_ok(size_t managed, size_t min, size_t low, size_t high)
{
	return min > 0 && min < low && low < high && high <= managed;
}

int kmem_pa_set_watermarks(struct kmem_pagealloc *pa, size_t min, size_t low, size_t high)
{
	if (!watermarks_ok(pa->managed, min, low, high))
		return -EINVAL;
	kmem_lock_acquire(&pa->lock);
	__atomic_store_n(&pa->wmin, min, __ATOMIC_RELAXED);
	__atomic_store_n(&pa->wlow, low, __ATOMIC_RELAXED);
	__atomic_store_n(&pa->whigh, high, __ATOMIC_RELAXED);
	kmem_lock_release(&pa->lock);
	kmem_pa_kick(pa);
	return 0;
}

int kmem_pa_init(void *mem, size_t mem_size, const struct kmem_pa_config *cfg,
		 struct kmem_pagealloc **out)
{
	struct kmem_pagealloc *pa = mem;
	struct kmem_buddy_stats bst;
	size_t slots = 0, batch;
	void **slot;
	int order, rc;

	if (!cfg || !cfg->buddy || !mem || ((uintptr_t)mem & 15) || !out ||
	    (cfg->flags & ~KMEM_PA_FLAGS_ALL) || (unsigned)cfg->init_policy > KMEM_PA_INIT_NONE ||
	    (unsigned)cfg->share_policy > KMEM_PA_SHARE_PRIORITY ||
	    (unsigned)cfg->reclaim_scope > KMEM_PA_RECLAIM_LOCAL)
		return -EINVAL;
	if (mem_size < kmem_pa_sizeof())
		return -ENOSPC;
	kmem_buddy_get_stats(cfg->buddy, &bst);
	memset(pa, 0, sizeof(*pa));
	pa->b = cfg->buddy;
	pa->managed = bst.managed_frames - bst.reserved_frames;
	pa->frame_size = bst.frame_size;
	pa->frame_shift = kmem_ctzptr(bst.frame_size);
	pa->max_order = bst.max_order;
	if (cfg->wmark_min || cfg->wmark_low || cfg->wmark_high) {
		if (!watermarks_ok(pa->managed, cfg->wmark_min, cfg->wmark_low, cfg->wmark_high))
			return -EINVAL;
		pa->wmin = cfg->wmark_min;
		pa->wlow = cfg->wmark_low;
		pa->whigh = cfg->wmark_high;
	} else {
		if (pa->managed < 8)
			return -EINVAL;
		default_watermarks(pa->managed, pa->frame_size, &pa->wmin, &pa->wlow, &pa->whigh);
	}
	pa->zhigh = cfg->zero_high ? cfg->zero_high : pa->whigh;
	if (!cfg->zero_high && pa->zhigh > pa->managed / 8)
		pa->zhigh = pa->managed / 8;
	pa->zlow = cfg->zero_low ? cfg->zero_low : pa->zhigh / 2;
	if (pa->zlow > pa->zhigh || pa->zhigh > pa->managed)
		return -EINVAL;
	batch = cfg->pcp_batch ? cfg->pcp_batch : pa->managed / 1024;
	if (!cfg->pcp_batch) {
		if (batch > 31)
			batch = 31;
		if (batch < 1)
			batch = 1;
		batch = ((size_t)1 << kmem_flsptr(batch + 1)) - 1; /* 2^n - 1 */
		if (batch > 31)
			batch = 31;
	}
	pa->batch = (unsigned)batch;
	pa->high = cfg->pcp_high ? cfg->pcp_high : 6 * pa->batch;
	if (pa->high < pa->batch || pa->batch == 0)
		return -EINVAL;
	pa->zero_rate = cfg->zero_rate ? cfg->zero_rate : PA_DEFAULT_ZERO_RATE;
	pa->oom_retries = cfg->oom_retries ? cfg->oom_retries : 3;
	pa->share_policy = cfg->share_policy;
	pa->scope = cfg->reclaim_scope;
	pa->policy = cfg->init_policy;
	pa->zero_all = cfg->init_policy == KMEM_PA_INIT_NONE ? 0 : KMEM_PAGE_ZERO;
	pa->wipe = cfg->init_policy == KMEM_PA_INIT_ON_FREE;
	pa->flags = cfg->flags;
	pa->sink = cfg->sink ? cfg->sink : kmem_buddy_error_sink(cfg->buddy);
	pa->oom_handler = cfg->oom_handler;
	pa->oom_arg = cfg->oom_arg;
	pa->on_thrash = cfg->on_thrash;
	pa->thrash_arg = cfg->thrash_arg;
	pa->grow = cfg->grow;
	pa->grow_arg = cfg->grow_arg;
	pa->release = cfg->release;
	pa->release_arg = cfg->release_arg;
	strncpy(pa->name, cfg->name ? cfg->name : "pagealloc", PA_NAME_MAX - 1);
	/* pool arrays: zeroed pools hold zero_high >> order blocks, dirty
	 * pools as many */
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		size_t cap = (pa->zhigh >> o) ? (pa->zhigh >> o) : 1;

		pa->zpool[o].cap = cap;
		pa->dpool[o].cap = cap;
		slots += 2 * cap;
	}
	order = kmem_buddy_size_to_order(pa->b, slots * sizeof(void *));
	if (order < 0 || (pa->pool_mem = kmem_buddy_alloc(pa->b, (unsigned)order)) == NULL)
		return -ENOMEM;
	pa->pool_order = (unsigned)order;
	slot = pa->pool_mem;
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		pa->zpool[o].blk = slot;
		slot += pa->zpool[o].cap;
		pa->dpool[o].blk = slot;
		slot += pa->dpool[o].cap;
	}
	rc = kmem_lock_init(&pa->lock, true);
	if (!rc && (rc = kmem_lock_init(&pa->shrink_lock, true)) != 0)
		kmem_lock_destroy(&pa->lock);
	if (rc) {
		(void)kmem_buddy_free_checked(pa->b, pa->pool_mem, (int)pa->pool_order);
		return rc;
	}
	/* fields shared through relaxed atomics on purpose (Helgrind, DRD) */
	KMEM_ANNOT_BENIGN_RACE(&pa->zero_frames, 3 * sizeof(size_t));
	KMEM_ANNOT_BENIGN_RACE(&pa->wmin, 3 * sizeof(size_t));
	KMEM_ANNOT_BENIGN_RACE(&pa->allocs, (size_t)((char *)(&pa->zero_misses + 1) -
						     (char *)&pa->allocs));
	KMEM_ANNOT_BENIGN_RACE(&pa->nshrinkers, sizeof(pa->nshrinkers));
	KMEM_ANNOT_BENIGN_RACE(pa->client, sizeof(pa->client));
	pa->id = __atomic_fetch_add(&pa_next_id, 1, __ATOMIC_RELAXED);
	pa->magic = PA_MAGIC;
	rc = kmem_pa_reaper_init(pa);
	if (rc) {
		kmem_lock_destroy(&pa->shrink_lock);
		kmem_lock_destroy(&pa->lock);
		(void)kmem_buddy_free_checked(pa->b, pa->pool_mem, (int)pa->pool_order);
		return rc;
	}
#ifdef KMEM_HAVE_PTHREAD
	if (!(pa->flags & KMEM_PA_NO_PCP))
		pa->key_ok = pthread_key_create(&pa->key, pcp_thread_exit) == 0;
#else
	if (!(pa->flags & KMEM_PA_NO_PCP))
		pa->solo = pcp_create(pa);
#endif
	*out = pa;
	return 0;
}

void kmem_pa_destroy(struct kmem_pagealloc *pa)
{
	kmem_pa_reaper_stop(pa);
	kmem_pa_reaper_fini(pa);
#ifdef KMEM_HAVE_PTHREAD
	if (pa->key_ok)
		pthread_key_delete(pa->key);
	if (kmem_pa_tls.id == pa->id) {
		kmem_pa_tls.id = 0;
		kmem_pa_tls.pcp = NULL;
	}
#endif
	kmem_pa_pcp_release_all(pa);
	kmem_lock_acquire(&pa->lock);
	kmem_pa_drain_locked(pa, true);
	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		struct kmem_pa_client *cl = &pa->client[i];

		if (cl->live && pa_relaxed(&cl->held))
			kmem_pa_report(pa, KMEM_LEAK, NULL,
				       "client %s still holds %zu frames when the instance is destroyed",
				       cl->name, pa_relaxed(&cl->held));
	}
	if (pa->refs)
		(void)kmem_buddy_free_checked(pa->b, pa->refs, (int)pa->ref_order);
	(void)kmem_buddy_free_checked(pa->b, pa->pool_mem, (int)pa->pool_order);
	kmem_lock_release(&pa->lock);
	kmem_lock_destroy(&pa->shrink_lock);
	kmem_lock_destroy(&pa->lock);
	pa->magic = 0;
}
