/* reclaim.c - the frame service's reclaim side: shrinkers, reclaim passes,
 * clients (shares, limits, local/global reclaim), OOM handling, and the
 * reaper (one step, kmem_pa_reaper_run(), that the thread or an embedded
 * idle loop drives). Locks: see pa_internal.h; no callback ever runs with
 * the instance lock held, and reclaim passes are serialised by shrink_lock.
 */
#include "pa_internal.h"

#ifdef KMEM_HAVE_PTHREAD
#include <time.h>
#endif

/* ---- reclaim context ------------------------------------------------------- */

/* While a thread reclaims, its frees bypass its thread cache (so reclaimed
 * frames reach the pools and the shadow set) and nested reclaim is off. */
struct reclaim_save {
#ifdef KMEM_HAVE_PTHREAD
	uint64_t id;
	struct pa_pcp *pcp;
#else
	int unused;
#endif
};

bool kmem_pa_in_reclaim(struct kmem_pagealloc *pa)
{
#ifdef KMEM_HAVE_PTHREAD
	(void)pa;
	return kmem_pa_tls.in_reclaim;
#else
	return pa->solo_in_reclaim;
#endif
}

static bool reclaim_enter(struct kmem_pagealloc *pa, struct reclaim_save *sv)
{
#ifdef KMEM_HAVE_PTHREAD
	(void)pa;
	if (kmem_pa_tls.in_reclaim)
		return false;
	sv->id = kmem_pa_tls.id;
	sv->pcp = kmem_pa_tls.pcp;
	kmem_pa_tls.id = 0;
	kmem_pa_tls.in_reclaim = true;
#else
	(void)sv;
	if (pa->solo_in_reclaim)
		return false;
	pa->solo_in_reclaim = true;
#endif
	return true;
}

static void reclaim_exit(struct kmem_pagealloc *pa, const struct reclaim_save *sv)
{
#ifdef KMEM_HAVE_PTHREAD
	(void)pa;
	kmem_pa_tls.in_reclaim = false;
	if (!kmem_pa_tls.gone) {
		kmem_pa_tls.id = sv->id;
		kmem_pa_tls.pcp = sv->pcp;
	}
#else
	(void)sv;
	pa->solo_in_reclaim = false;
#endif
}

/* ---- shrinkers --------------------------------------------------------------- */

int kmem_pa_register_shrinker(struct kmem_pagealloc *pa, struct kmem_shrinker *sh)
{
	int rc = 0;

	if (!sh || !sh->count || !sh->scan)
		return -EINVAL;
	kmem_lock_acquire(&pa->shrink_lock);
	for (struct kmem_shrinker *it = pa->shrinkers; it; it = it->next_)
		if (it == sh)
			rc = -EINVAL;
	if (!rc) {
		sh->calls_ = 0;
		sh->released_ = 0;
		KMEM_ANNOT_BENIGN_RACE(&sh->calls_, 2 * sizeof(uint64_t));
		kmem_lock_acquire(&pa->lock); /* readers of the list hold either lock */
		sh->next_ = pa->shrinkers;
		pa->shrinkers = sh; /* newest first */
		__atomic_store_n(&pa->nshrinkers, pa->nshrinkers + 1, __ATOMIC_RELAXED);
		kmem_lock_release(&pa->lock);
	}
	kmem_lock_release(&pa->shrink_lock);
	return rc;
}

void kmem_pa_unregister_shrinker(struct kmem_pagealloc *pa, struct kmem_shrinker *sh)
{
	kmem_lock_acquire(&pa->shrink_lock);
	for (struct kmem_shrinker **pp = &pa->shrinkers; *pp; pp = &(*pp)->next_)
		if (*pp == sh) {
			kmem_lock_acquire(&pa->lock);
			*pp = sh->next_;
			sh->next_ = NULL;
			__atomic_store_n(&pa->nshrinkers, pa->nshrinkers - 1, __ATOMIC_RELAXED);
			kmem_lock_release(&pa->lock);
			break;
		}
	kmem_lock_release(&pa->shrink_lock);
}

/* ---- clients: shares and reservations ----------------------------------------- */

static size_t held_of(const struct kmem_pa_client *cl)
{
	return pa_relaxed(&cl->held);
}

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
		share = (size_t)((pa_u128)pa->managed * mine / sum);
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
		h = held_of(c);
		if (h < c->min_frames)
			r += c->min_frames - h;
	}
	return r;
}

static size_t client_release(struct kmem_pa_client *c, size_t frames, size_t bytes,
			     enum kmem_pressure level)
{
	struct kmem_shrink_request req = {frames, bytes, level};
	size_t r = c->release(c->arg, &req);

	pa_count(&c->released, r);
	return r;
}

/* ---- reclaim passes ----------------------------------------------------------- */

size_t kmem_pa_reclaim_as(struct kmem_pagealloc *pa, struct kmem_pa_client *self, size_t frames,
			  size_t bytes, enum kmem_pressure level)
{
	struct kmem_shrink_request req = {0, bytes, level};
	struct reclaim_save sv;
	size_t got = 0;

	if (!reclaim_enter(pa, &sv))
		return 0;
	kmem_lock_acquire(&pa->shrink_lock);
	if (self && self->live && self->release) {
		kmem_lock_acquire(&pa->lock);
		bool local = pa->scope == KMEM_PA_RECLAIM_LOCAL ||
			     held_of(self) >= kmem_pa_client_share(pa, self);
		kmem_lock_release(&pa->lock);
		if (local) {
			pa_count(&self->local_reclaims, 1);
			got += client_release(self, frames, bytes, level);
		}
	}
	if (self && pa->scope == KMEM_PA_RECLAIM_LOCAL)
		goto out;
	for (struct kmem_shrinker *sh = pa->shrinkers; sh && got < frames; sh = sh->next_) {
		size_t r;

		if (!sh->count(sh->arg))
			continue;
		req.frames = frames - got;
		r = sh->scan(sh->arg, &req);
		pa_count(&sh->calls_, 1);
		pa_count(&sh->released_, r);
		got += r;
	}
	if (level == KMEM_PRESSURE_DIRECT) {
		bool asked[KMEM_PA_MAX_CLIENTS] = {false};

		while (got < frames) {
			struct kmem_pa_client *best = NULL;
			size_t best_excess = 0;

			kmem_lock_acquire(&pa->lock);
			for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
				struct kmem_pa_client *c = &pa->client[i];
				size_t h, share;

				if (!c->live || c == self || !c->release || asked[i])
					continue;
				h = held_of(c);
				share = kmem_pa_client_share(pa, c);
				if (h > share && h - share > best_excess) {
					best = c;
					best_excess = h - share;
				}
			}
			kmem_lock_release(&pa->lock);
			if (!best)
				break;
			asked[best - pa->client] = true;
			pa_count(&best->global_reclaims, 1);
			got += client_release(best, frames - got, bytes, level);
		}
	}
out:
	kmem_lock_release(&pa->shrink_lock);
	reclaim_exit(pa, &sv);
	return got;
}

size_t kmem_pa_reclaim(struct kmem_pagealloc *pa, size_t frames, enum kmem_pressure level)
{
	return kmem_pa_reclaim_as(pa, NULL, frames, 0, level);
}

/* ---- OOM ------------------------------------------------------------------------- */

static long oom_score(const struct kmem_pagealloc *pa, const struct kmem_pa_client *c)
{
	return (long)((pa_u128)held_of(c) * 1000 / pa->managed) + c->oom_score_adj;
}

/* The default policy's victim: a client that can release, holds more than
 * its guarantee and is not exempt (adj -1000); the highest score wins, ties
 * to the lower priority; under the priority policy the lowest priority
 * goes first, then the highest score. */
static struct kmem_pa_client *oom_pick_locked(struct kmem_pagealloc *pa)
{
	struct kmem_pa_client *best = NULL;

	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		struct kmem_pa_client *c = &pa->client[i];
		bool better;

		if (!c->live || !c->release || c->oom_score_adj <= -1000 ||
		    held_of(c) <= c->min_frames)
			continue;
		if (!best) {
			best = c;
			continue;
		}
		if (pa->share_policy == KMEM_PA_SHARE_PRIORITY && c->priority != best->priority)
			better = c->priority < best->priority;
		else if (oom_score(pa, c) != oom_score(pa, best))
			better = oom_score(pa, c) > oom_score(pa, best);
		else
			better = c->priority < best->priority;
		if (better)
			best = c;
	}
	return best;
}

size_t kmem_pa_oom(struct kmem_pagealloc *pa, struct kmem_pa_client *cl, unsigned order,
		   unsigned flags, unsigned attempt)
{
	size_t n = (size_t)1 << order, want = n > pa->batch ? n : pa->batch, got;
	struct reclaim_save sv;

	pa_count(&pa->oom_events, 1);
	got = kmem_pa_reclaim_as(pa, NULL, want, pa->frame_size << order, KMEM_PRESSURE_OOM);
	if (!reclaim_enter(pa, &sv))
		return got;
	kmem_lock_acquire(&pa->shrink_lock);
	if (pa->oom_handler) {
		struct kmem_pa_oom_event ev = {order, flags, cl, pa_free_frames(pa), attempt};

		got += pa->oom_handler(pa->oom_arg, pa, &ev);
	} else {
		struct kmem_pa_client *victim;

		kmem_lock_acquire(&pa->lock);
		victim = oom_pick_locked(pa);
		kmem_lock_release(&pa->lock);
		if (victim) {
			pa_count(&victim->oom_victim, 1);
			got += client_release(victim, want, pa->frame_size << order,
					      KMEM_PRESSURE_OOM);
		}
	}
	kmem_lock_release(&pa->shrink_lock);
	reclaim_exit(pa, &sv);
	pa_count(&pa->oom_released, got);
	return got;
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
	held = held_of(cl);
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
	size_t h = held_of(cl);

	do {
		if (cl->max_frames && h + n > cl->max_frames)
			return false;
	} while (!__atomic_compare_exchange_n(&cl->held, &h, h + n, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	h += n;
	for (size_t pk = pa_relaxed(&cl->peak); h > pk;)
		if (__atomic_compare_exchange_n(&cl->peak, &pk, h, true, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
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
			struct reclaim_save sv;

			if (reclaim_enter(pa, &sv)) {
				kmem_lock_acquire(&pa->shrink_lock);
				pa_count(&cl->local_reclaims, 1);
				(void)client_release(cl, held_of(cl) + n - cl->max_frames,
						     pa->frame_size << order, KMEM_PRESSURE_DIRECT);
				kmem_lock_release(&pa->shrink_lock);
				reclaim_exit(pa, &sv);
			}
		}
		if (!client_charge(cl, n)) {
			pa_count(&cl->limit_fails, 1);
			return NULL;
		}
	}
	blk = kmem_pa_alloc_slow(pa, cl, order, flags);
	if (!blk) {
		__atomic_fetch_sub(&cl->held, n, __ATOMIC_RELAXED);
		return NULL;
	}
	pa_count(&cl->allocs, 1);
	return blk;
}

void kmem_pa_client_free(struct kmem_pa_client *cl, void *block, unsigned order)
{
	if (!block)
		return;
	__atomic_fetch_sub(&cl->held, (size_t)1 << order, __ATOMIC_RELAXED);
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
	st->held = held_of(cl);
	st->peak = pa_relaxed(&cl->peak);
	st->min_frames = cl->min_frames;
	st->max_frames = cl->max_frames;
	st->priority = cl->priority;
	st->oom_score_adj = cl->oom_score_adj;
	st->oom_score = oom_score(pa, cl);
	st->allocs = pa_read(&cl->allocs);
	st->frees = pa_read(&cl->frees);
	st->limit_fails = pa_read(&cl->limit_fails);
	st->local_reclaims = pa_read(&cl->local_reclaims);
	st->global_reclaims = pa_read(&cl->global_reclaims);
	st->oom_victim = pa_read(&cl->oom_victim);
	st->released = pa_read(&cl->released);
}

/* ---- the reaper step ------------------------------------------------------------ */

/* Free frames above high: ask release() to give their memory back. */
size_t kmem_pa_release_excess(struct kmem_pagealloc *pa)
{
	size_t free = pa_free_frames(pa), high = pa_relaxed(&pa->whigh), got;

	if (!pa->release || free <= high)
		return 0;
	got = pa->release(pa->release_arg, pa, free - high);
	if (got) {
		pa_count(&pa->releases, 1);
		pa_count(&pa->released_frames, got);
	}
	return got;
}

/* One reaper round; *zeroed: frames zeroed. */
static unsigned reaper_step(struct kmem_pagealloc *pa, size_t max_zero, size_t *zeroed)
{
	unsigned work = 0;
	bool rec;

	*zeroed = 0;
	kmem_lock_acquire(&pa->lock);
	if (!pa->reclaiming && pa_free_frames(pa) < pa->wlow) {
		pa->reclaiming = true;
		pa->reaper_wakeups++;
	}
	rec = pa->reclaiming;
	kmem_lock_release(&pa->lock);
	if (rec) {
		size_t total = 0, free;
		bool thrash = false;

		while ((free = pa_free_frames(pa)) < pa_relaxed(&pa->whigh)) {
			size_t got = kmem_pa_reclaim_as(pa, NULL, pa_relaxed(&pa->whigh) - free, 0,
							KMEM_PRESSURE_BACKGROUND);

			total += got;
			if (!got)
				break;
		}
		kmem_lock_acquire(&pa->lock);
		pa->reclaiming = false;
		pa->reaper_cycles++;
		pa->reclaimed_bg += total;
		/* thrashing: most of last cycle's frames came back out */
		if (pa->cycle_reclaimed >= 8 && pa->cycle_refaults * 2 >= pa->cycle_reclaimed) {
			if (++pa->thrash_run >= PA_THRASH_CYCLES) {
				pa->thrash_run = 0;
				pa->thrash_events++;
				thrash = true;
			}
		} else {
			pa->thrash_run = 0;
		}
		pa->cycle_reclaimed = total;
		pa->cycle_refaults = 0;
		kmem_lock_release(&pa->lock);
		if (thrash && pa->on_thrash)
			pa->on_thrash(pa->thrash_arg, pa);
		work |= KMEM_PA_WORK_RECLAIM;
	}
	if (pa->release && kmem_pa_release_excess(pa))
		work |= KMEM_PA_WORK_RELEASE;
	if (!(pa->flags & KMEM_PA_NO_BGZERO)) {
		bool pending;

		*zeroed = kmem_pa_zero_some(pa, max_zero, &pending);
		if (*zeroed)
			work |= KMEM_PA_WORK_ZERO;
		if (pending)
			work |= KMEM_PA_WORK_PENDING;
	}
	return work;
}

unsigned kmem_pa_reaper_run(struct kmem_pagealloc *pa, size_t max_zero)
{
	size_t zeroed;

	return reaper_step(pa, max_zero, &zeroed);
}

/* ---- the reaper thread ------------------------------------------------------------- */

#ifdef KMEM_HAVE_PTHREAD
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void deadline_in(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ns += (uint64_t)ts->tv_nsec;
	ts->tv_sec += (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

static bool flag_get(const bool *f)
{
	return __atomic_load_n(f, __ATOMIC_RELAXED);
}

static void flag_set(bool *f, bool v)
{
	__atomic_store_n(f, v, __ATOMIC_RELAXED);
}

/* The thread: run steps while there is work, within the zeroing budget
 * (a token bucket of zero_rate frames per second, burst of 1/20 s); sleep
 * until kicked, or until tokens accrue when zeroing is pending. */
static void *reaper_main(void *arg)
{
	struct kmem_pagealloc *pa = arg;
	double burst = (double)pa->zero_rate / 20.0, tokens;
	uint64_t last = now_ns();
	bool slept = false;

	if (burst < PA_ZERO_BATCH)
		burst = PA_ZERO_BATCH;
	tokens = burst;
	pthread_mutex_lock(&pa->rmtx);
	while (!pa->stop) {
		unsigned work;
		size_t zeroed;
		uint64_t now, wait_ns;
		struct timespec ts;

		flag_set(&pa->kicked, false);
		pthread_mutex_unlock(&pa->rmtx);
		now = now_ns();
		tokens += (double)(now - last) * 1e-9 * (double)pa->zero_rate;
		if (tokens > burst)
			tokens = burst;
		last = now;
		work = reaper_step(pa, (size_t)tokens, &zeroed);
		tokens -= (double)zeroed;
		if (slept && (work & KMEM_PA_WORK_ZERO))
			pa_count(&pa->zeroer_wakeups, 1);
		pthread_mutex_lock(&pa->rmtx);
		slept = false;
		if (pa->stop)
			break;
		if (work & KMEM_PA_WORK_ZERO)
			continue; /* tokens left: keep going */
		if (pa->kicked && !(work & KMEM_PA_WORK_RECLAIM))
			continue;
		/* pending zeroing: until a batch worth of tokens; a reclaim
		 * cycle that just ran: at least 10 ms before the next; idle:
		 * until kicked (1 s at most) */
		if (work & KMEM_PA_WORK_PENDING)
			wait_ns = (uint64_t)(1e9 * PA_ZERO_BATCH / (double)pa->zero_rate) + 1000;
		else if (work & KMEM_PA_WORK_RECLAIM)
			wait_ns = 10000000;
		else
			wait_ns = 1000000000;
		deadline_in(&ts, wait_ns);
		if ((work & KMEM_PA_WORK_RECLAIM) && pa_free_frames(pa) < pa_relaxed(&pa->wlow)) {
			/* reclaim fell short: no new cycle for 10 ms, kicks
			 * or not (only stop ends the pause) */
			while (!pa->stop &&
			       pthread_cond_timedwait(&pa->rcond, &pa->rmtx, &ts) != ETIMEDOUT)
				;
		} else if (!pa->kicked) {
			pthread_cond_timedwait(&pa->rcond, &pa->rmtx, &ts);
		}
		slept = true;
	}
	pthread_mutex_unlock(&pa->rmtx);
	return NULL;
}

int kmem_pa_reaper_init(struct kmem_pagealloc *pa)
{
	pthread_condattr_t ca;
	int rc = pthread_mutex_init(&pa->rmtx, NULL);

	KMEM_ANNOT_BENIGN_RACE(&pa->kicked, 2 * sizeof(bool)); /* kicked, live: hints */
	if (rc)
		return -rc;
	rc = pthread_condattr_init(&ca);
	if (!rc) {
		rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (!rc)
			rc = pthread_cond_init(&pa->rcond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (rc) {
		pthread_mutex_destroy(&pa->rmtx);
		return -rc;
	}
	return 0;
}

void kmem_pa_reaper_fini(struct kmem_pagealloc *pa)
{
	pthread_cond_destroy(&pa->rcond);
	pthread_mutex_destroy(&pa->rmtx);
}

int kmem_pa_reaper_start(struct kmem_pagealloc *pa)
{
	int rc = 0;

	pthread_mutex_lock(&pa->rmtx);
	if (pa->running) {
		rc = -EALREADY;
	} else {
		pa->stop = false;
		rc = -pthread_create(&pa->thread, NULL, reaper_main, pa);
		if (!rc) {
			pa->running = true;
			flag_set(&pa->live, true);
		}
	}
	pthread_mutex_unlock(&pa->rmtx);
	return rc;
}

void kmem_pa_reaper_stop(struct kmem_pagealloc *pa)
{
	pthread_t t;

	pthread_mutex_lock(&pa->rmtx);
	if (!pa->running) {
		pthread_mutex_unlock(&pa->rmtx);
		return;
	}
	pa->stop = true;
	t = pa->thread;
	pthread_cond_signal(&pa->rcond);
	pthread_mutex_unlock(&pa->rmtx);
	pthread_join(t, NULL);
	pthread_mutex_lock(&pa->rmtx);
	pa->running = false;
	flag_set(&pa->live, false);
	pthread_mutex_unlock(&pa->rmtx);
}

/* Start the thread on a kick (KMEM_PA_LAZY_REAPER). One thread wins the
 * `starting` flag; a failed start leaves the flag set (no retry storm). */
static bool lazy_start(struct kmem_pagealloc *pa)
{
	bool no = false;

	if (!(pa->flags & KMEM_PA_LAZY_REAPER) ||
	    !__atomic_compare_exchange_n(&pa->starting, &no, true, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return false;
	if (kmem_pa_reaper_start(pa) != 0)
		return false;
	__atomic_store_n(&pa->starting, false, __ATOMIC_RELEASE);
	return true;
}

void kmem_pa_kick_release(struct kmem_pagealloc *pa)
{
	if (pa->flags & KMEM_PA_RELEASE_INLINE)
		(void)kmem_pa_release_excess(pa);
	else if (flag_get(&pa->live) || lazy_start(pa))
		kmem_pa_kick(pa);
	else if (!(pa->flags & KMEM_PA_LAZY_REAPER))
		(void)kmem_pa_release_excess(pa); /* no thread: the freeing thread does it */
}

void kmem_pa_fork_prepare(struct kmem_pagealloc *pa)
{
	kmem_lock_acquire(&pa->shrink_lock);
	kmem_lock_acquire(&pa->lock);
	pthread_mutex_lock(&pa->rmtx);
}

void kmem_pa_fork_parent(struct kmem_pagealloc *pa)
{
	pthread_mutex_unlock(&pa->rmtx);
	kmem_lock_release(&pa->lock);
	kmem_lock_release(&pa->shrink_lock);
}

void kmem_pa_fork_child(struct kmem_pagealloc *pa)
{
	pthread_condattr_t ca;

	/* the reaper thread does not exist here; start again lazily */
	pa->running = false;
	pa->stop = false;
	flag_set(&pa->live, false);
	flag_set(&pa->kicked, false);
	__atomic_store_n(&pa->starting, false, __ATOMIC_RELAXED);
	pa->reclaiming = false;
	pthread_mutex_unlock(&pa->rmtx);
	if (pthread_condattr_init(&ca) == 0) {
		if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0)
			(void)pthread_cond_init(&pa->rcond, &ca);
		pthread_condattr_destroy(&ca);
	}
	kmem_pa_pcp_adopt_orphans_locked(pa);
	kmem_lock_release(&pa->lock);
	kmem_lock_release(&pa->shrink_lock);
}

void kmem_pa_kick(struct kmem_pagealloc *pa)
{
	if (!flag_get(&pa->live) && !lazy_start(pa))
		return;
	if (flag_get(&pa->kicked))
		return;
	pthread_mutex_lock(&pa->rmtx);
	flag_set(&pa->kicked, true);
	pthread_cond_signal(&pa->rcond);
	pthread_mutex_unlock(&pa->rmtx);
}

bool kmem_pa_reaper_running(struct kmem_pagealloc *pa)
{
	return flag_get(&pa->live);
}
#else
int kmem_pa_reaper_init(struct kmem_pagealloc *pa)
{
	(void)pa;
	return 0;
}

void kmem_pa_reaper_fini(struct kmem_pagealloc *pa)
{
	(void)pa;
}

int kmem_pa_reaper_start(struct kmem_pagealloc *pa)
{
	(void)pa;
	return -ENOTSUP;
}

void kmem_pa_reaper_stop(struct kmem_pagealloc *pa)
{
	(void)pa;
}

void kmem_pa_kick(struct kmem_pagealloc *pa)
{
	(void)pa;
}

void kmem_pa_kick_release(struct kmem_pagealloc *pa)
{
	(void)kmem_pa_release_excess(pa);
}

void kmem_pa_fork_prepare(struct kmem_pagealloc *pa)
{
	(void)pa;
}

void kmem_pa_fork_parent(struct kmem_pagealloc *pa)
{
	(void)pa;
}

void kmem_pa_fork_child(struct kmem_pagealloc *pa)
{
	(void)pa;
}

bool kmem_pa_reaper_running(struct kmem_pagealloc *pa)
{
	(void)pa;
	return false;
}
#endif
