/* client.c - the frame service's clients: registration, shares and
 * reservations, charged allocation and free, the client page source and
 * client stats.
 *
 * Algorithm (after Linux memcg: memory.min guarantees, memory.max limits,
 * and the share-based proportional split of a cgroup v2 weight):
 *   1. register: a free slot of KMEM_PA_MAX_CLIENTS; the guarantees
 *      (min_frames) of all clients must fit in managed - high.
 *   2. share: managed / n (equal), managed * weight / sum of weights
 *      (proportional), managed * priority / sum of priorities (priority),
 *      clamped to [min_frames, max_frames].
 *   3. alloc: charge held with a compare-and-swap that refuses to pass
 *      max_frames; at the limit, reclaim from the client itself (local
 *      reclaim in a reclaim context, under shrink_lock) and charge again;
 *      then the slow path with the client (its floor adds the other
 *      clients' unmet guarantees, kmem_pa_reserved_for_others); a failure
 *      drops the charge.
 *   4. free: drop the charge, free.
 * Bound: charge O(1) expected (a CAS loop); share and reservation
 * O(KMEM_PA_MAX_CLIENTS); registration O(KMEM_PA_MAX_CLIENTS).
 *
 * Data structures and invariant P5: see pa_internal.h.
 *
 * Locking: registration and unregistration under pa->lock (unregistration
 * also under shrink_lock, so no pass calls the client meanwhile); share and
 * reservation read the client table under pa->lock; held, peak and the
 * counters are relaxed atomics.
 *
 * Tunables: KMEM_PA_MAX_CLIENTS (32); per client min_frames, max_frames,
 * weight (default 1), priority (default 1), oom_score_adj.
 */
#include "pa_internal.h"

/* ---- clients: shares and reservations ----------------------------------------- */

size_t kmem_pa_client_share(struct kmem_pagealloc *pa, const struct kmem_pa_client *cl)
{
	size_t n = 0, sum = 0, mine = 0, share;

	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		const struct kmem_pa_client *c = &pa->client[i];
		size_t w;

		if (!c->live)
			continue;
		n++;
		w = pa->share_policy == KMEM_PA_SHARE_PRIORITY ? (size_t)c->priority : c->weight;
		sum += w;
		if (c == cl)
			mine = w;
	}
	if (!n)
		return 0;
	if (pa->share_policy == KMEM_PA_SHARE_EQUAL)
		share = pa->managed / n;
	else
		share = pa_mul_div(pa->managed, mine, sum);
	if (share < cl->min_frames)
		share = cl->min_frames;
	if (cl->max_frames && share > cl->max_frames)
		share = cl->max_frames;
	return share;
}

size_t kmem_pa_reserved_for_others(struct kmem_pagealloc *pa, const struct kmem_pa_client *cl)
{
	size_t r = 0;

	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		const struct kmem_pa_client *c = &pa->client[i];
		size_t h;

		if (!c->live || c == cl)
			continue;
		h = pa_held_of(c);
		if (h < c->min_frames)
			r += c->min_frames - h;
	}
	return r;
}

size_t kmem_pa_client_release(struct kmem_pa_client *c, size_t frames, size_t bytes,
			      enum kmem_pressure level)
{
	struct kmem_shrink_request req = {frames, bytes, level};
	size_t r = c->release(c->arg, &req);

	pa_count(&c->released, r);
	return r;
}

/* ---- clients ----------------------------------------------------------------------- */

int kmem_pa_client_register(struct kmem_pagealloc *pa, const struct kmem_pa_client_config *cfg,
			    struct kmem_pa_client **out)
{
	struct kmem_pa_client *cl = NULL;
	size_t mins = 0;
	int rc = 0;

	if (!cfg || !out || cfg->oom_score_adj < -1000 || cfg->oom_score_adj > 1000 ||
	    (cfg->max_frames && cfg->min_frames > cfg->max_frames) || cfg->priority < 0 ||
	    cfg->priority > 1000)
		return -EINVAL;
	kmem_lock_acquire(&pa->lock);
	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		if (pa->client[i].live)
			mins += pa->client[i].min_frames;
		else if (!cl)
			cl = &pa->client[i];
	}
	if (!cl)
		rc = -ENOSPC;
	else if (mins + cfg->min_frames > pa->managed - pa->whigh)
		rc = -ENOMEM;
	if (!rc) {
		memset(cl, 0, sizeof(*cl));
		cl->pa = pa;
		strncpy(cl->name, cfg->name ? cfg->name : "client", PA_NAME_MAX - 1);
		cl->min_frames = cfg->min_frames;
		cl->max_frames = cfg->max_frames;
		cl->weight = cfg->weight ? cfg->weight : 1;
		cl->priority = cfg->priority ? cfg->priority : 1;
		cl->oom_score_adj = cfg->oom_score_adj;
		cl->release = cfg->release;
		cl->arg = cfg->arg;
		cl->live = true;
		pa->nclients++;
		*out = cl;
	}
	kmem_lock_release(&pa->lock);
	return rc;
}

void kmem_pa_client_unregister(struct kmem_pa_client *cl)
{
	struct kmem_pagealloc *pa;
	size_t held;

	if (!cl)
		return;
	pa = cl->pa;
	/* no reclaim pass may be calling the client meanwhile */
	kmem_lock_acquire(&pa->shrink_lock);
	kmem_lock_acquire(&pa->lock);
	held = pa_held_of(cl);
	cl->live = false;
	pa->nclients--;
	kmem_lock_release(&pa->lock);
	kmem_lock_release(&pa->shrink_lock);
	if (held)
		kmem_pa_report(pa, KMEM_LEAK, NULL,
			       "client %s unregistered while holding %zu frames", cl->name, held);
}

/* Charge n frames to the client if its hard limit allows. */
static bool client_charge(struct kmem_pa_client *cl, size_t n)
{
	size_t h = pa_held_of(cl);

	do {
		if (cl->max_frames && h + n > cl->max_frames)
			return false;
	} while (!kmem_atomic_cas_weak_relaxed(&cl->held, &h, h + n));
	h += n;
	for (size_t pk = pa_relaxed(&cl->peak); h > pk;)
		if (kmem_atomic_cas_weak_relaxed(&cl->peak, &pk, h))
			break;
	return true;
}

void *kmem_pa_client_alloc(struct kmem_pa_client *cl, unsigned order, unsigned flags)
{
	struct kmem_pagealloc *pa = cl->pa;
	size_t n;
	void *blk;

	if (order > pa->max_order)
		return NULL;
	n = (size_t)1 << order;
	if (!client_charge(cl, n)) {
		/* at the limit: reclaim from itself first (local reclaim) */
		if (cl->release && !(flags & KMEM_PAGE_NOWAIT)) {
			struct pa_reclaim_save sv;

			if (kmem_pa_reclaim_enter(pa, &sv)) {
				kmem_lock_acquire(&pa->shrink_lock);
				pa_count(&cl->local_reclaims, 1);
				(void)kmem_pa_client_release(cl,
							     pa_held_of(cl) + n - cl->max_frames,
							     pa->frame_size << order,
							     KMEM_PRESSURE_DIRECT);
				kmem_lock_release(&pa->shrink_lock);
				kmem_pa_reclaim_exit(pa, &sv);
			}
		}
		if (!client_charge(cl, n)) {
			pa_count(&cl->limit_fails, 1);
			return NULL;
		}
	}
	blk = kmem_pa_alloc_slow(pa, cl, order, flags);
	if (!blk) {
		(void)kmem_atomic_fetch_sub_relaxed(&cl->held, n);
		return NULL;
	}
	pa_count(&cl->allocs, 1);
	return blk;
}

void kmem_pa_client_free(struct kmem_pa_client *cl, void *block, unsigned order)
{
	if (!block)
		return;
	(void)kmem_atomic_fetch_sub_relaxed(&cl->held, (size_t)1 << order);
	pa_count(&cl->frees, 1);
	kmem_pa_free(cl->pa, block, order);
}

static void *cps_alloc(void *ctx, unsigned order, unsigned flags)
{
	return kmem_pa_client_alloc(ctx, order, flags);
}

static void cps_free(void *ctx, void *block, unsigned order)
{
	kmem_pa_client_free(ctx, block, order);
}

static int cps_set_owner(void *ctx, void *block, void *owner)
{
	return kmem_buddy_set_owner(((struct kmem_pa_client *)ctx)->pa->b, block, owner);
}

static void *cps_get_owner(void *ctx, const void *addr)
{
	return kmem_buddy_owner(((struct kmem_pa_client *)ctx)->pa->b, addr);
}

static int cps_register(void *ctx, struct kmem_shrinker *sh)
{
	return kmem_pa_register_shrinker(((struct kmem_pa_client *)ctx)->pa, sh);
}

static void cps_unregister(void *ctx, struct kmem_shrinker *sh)
{
	kmem_pa_unregister_shrinker(((struct kmem_pa_client *)ctx)->pa, sh);
}

void kmem_pa_client_page_source(struct kmem_pa_client *cl, struct kmem_page_source *ps)
{
	kmem_buddy_page_source(cl->pa->b, ps);
	ps->alloc_pages = cps_alloc;
	ps->free_pages = cps_free;
	ps->ctx = cl;
	if (ps->set_owner) {
		ps->set_owner = cps_set_owner;
		ps->get_owner = cps_get_owner;
	}
	ps->register_shrinker = cps_register;
	ps->unregister_shrinker = cps_unregister;
}

void kmem_pa_client_get_stats(struct kmem_pa_client *cl, struct kmem_pa_client_stats *st)
{
	struct kmem_pagealloc *pa = cl->pa;

	memset(st, 0, sizeof(*st));
	kmem_lock_acquire(&pa->lock);
	st->share = kmem_pa_client_share(pa, cl);
	kmem_lock_release(&pa->lock);
	st->name = cl->name;
	st->held = pa_held_of(cl);
	st->peak = pa_relaxed(&cl->peak);
	st->min_frames = cl->min_frames;
	st->max_frames = cl->max_frames;
	st->priority = cl->priority;
	st->oom_score_adj = cl->oom_score_adj;
	st->oom_score = pa_oom_score(pa, cl);
	st->allocs = pa_read(&cl->allocs);
	st->frees = pa_read(&cl->frees);
	st->limit_fails = pa_read(&cl->limit_fails);
	st->local_reclaims = pa_read(&cl->local_reclaims);
	st->global_reclaims = pa_read(&cl->global_reclaims);
	st->oom_victim = pa_read(&cl->oom_victim);
	st->released = pa_read(&cl->released);
}
