/* reclaim.c - the frame service's reclaim side: the reclaim context,
 * shrinkers, reclaim passes, OOM handling and the shadow set of recently
 * reclaimed frames (refault detection).
 *
 * Algorithm (Linux mm/vmscan.c shrink_slab and kswapd/direct reclaim, the
 * memcg local/global split, mm/oom_kill.c, and mm/workingset.c's shadow
 * entries):
 *   1. A pass runs in a reclaim context: the thread's cache is out of use
 *      (its frees reach the pools and the shadow set) and a nested pass
 *      returns 0 at once.
 *   2. Under shrink_lock: the requesting client's own release first, when
 *      reclaim is local or the client is at or above its share; local
 *      scope stops there. Then the shrinkers, newest first, skipped when
 *      count() is 0, each asked for what is still missing. At direct
 *      pressure, then the clients most above their share, each once.
 *   3. OOM: a pass at OOM pressure, then the handler, or the default
 *      victim: the client that can release, holds more than its guarantee
 *      and is not exempt, with the highest score held * 1000 / managed +
 *      oom_score_adj (ties: lower priority; priority policy: lowest
 *      priority first), asked to release.
 *   4. Idle calls (decision 36): once per idle period (decay_ns / 4), the
 *      reaper's step calls each shrinker's idle() in a reclaim context
 *      (shrink_lock by try-lock), drains the dirty pools to the buddy, and
 *      makes the frames the calls gave back due at once (kmem_pa_rel_due).
 *   5. Shadow set: a block freed during a pass is remembered in a
 *      PA_SHADOW-slot hash set; taking it again (take_locked, refill) counts
 *      a refault, which the reaper's thrashing test reads (reaper.c).
 * Bound: a pass makes O(shrinkers + clients) callback calls and
 * O(clients^2) share computations (each share is O(clients)); OOM
 * O(clients); shadow record/check O(1). The callbacks' work is theirs.
 *
 * Data structures and invariant P8: see pa_internal.h.
 *
 * Locking: shrink_lock before lock. Callbacks (shrinker count/scan, client
 * release, the OOM handler) run with shrink_lock only. The shrinker list
 * changes under both locks. kmem_pa_shadow_record_locked and
 * kmem_pa_shadow_check_locked expect pa->lock; oom_pick_locked too.
 *
 * Tunables: PA_SHADOW (256 slots, 2 KiB: enough to estimate the refault
 * ratio of a cycle, not to remember every frame); oom_retries and the
 * share policy / reclaim scope of struct kmem_pa_config.
 */
#include "pa_internal.h"

/* ---- reclaim context ------------------------------------------------------- */

/* A reclaim pass is per thread (pcp.c): its frees bypass every thread
 * cache of the calling thread, and nested reclaim is off. */
bool kmem_pa_in_reclaim(struct kmem_pagealloc *pa)
{
	(void)pa;
	return kmem_pa_pcp_in_reclaim();
}

bool kmem_pa_reclaim_enter(struct kmem_pagealloc *pa, struct pa_reclaim_save *sv)
{
	(void)pa;
	return kmem_pa_pcp_reclaim_enter(sv);
}

void kmem_pa_reclaim_exit(struct kmem_pagealloc *pa, const struct pa_reclaim_save *sv)
{
	(void)pa;
	kmem_pa_pcp_reclaim_exit(sv);
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
		kmem_owner_add_relaxed(&pa->nshrinkers, 1u);
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
			kmem_owner_add_relaxed(&pa->nshrinkers, -1u);
			kmem_lock_release(&pa->lock);
			break;
		}
	kmem_lock_release(&pa->shrink_lock);
}

/* ---- idle calls (decision 36) --------------------------------------------------- */

/* Once per idle period: every shrinker's idle call, in a reclaim context
 * (the frames go to the pools and the buddy, not this thread's cache),
 * under shrink_lock taken with a try-lock (a reclaim pass running: next
 * step). What they gave back sat unused a whole period: due at once. */
size_t kmem_pa_idle_shrinkers(struct kmem_pagealloc *pa)
{
	struct pa_reclaim_save sv;
	size_t got = 0;
	uint64_t now;

	if (!pa->idle_ns || !kmem_atomic_load_relaxed(&pa->nshrinkers))
		return 0;
	now = kmem_pa_clock(pa);
	if (now < kmem_atomic_load_relaxed(&pa->idle_next))
		return 0;
	if (!kmem_pa_reclaim_enter(pa, &sv))
		return 0;
	if (!kmem_lock_try_acquire(&pa->shrink_lock)) {
		kmem_pa_reclaim_exit(pa, &sv);
		return 0;
	}
	kmem_atomic_store_relaxed(&pa->idle_next, now + pa->idle_ns);
	for (struct kmem_shrinker *sh = pa->shrinkers; sh; sh = sh->next_)
		if (sh->idle)
			got += sh->idle(sh->arg, now);
	kmem_lock_release(&pa->shrink_lock);
	kmem_pa_reclaim_exit(pa, &sv);
	/* the dirty pools to the buddy too: frames parked there (the
	 * shrinkers' just now among them) keep their 64 KiB blocks from
	 * merging, and the release step takes only buddy blocks; the pools
	 * refill from the buddy (no fault: released frames are the curve's) */
	if (pa->flags & KMEM_PA_RELEASE) {
		kmem_lock_acquire(&pa->lock);
		(void)kmem_pa_drain_locked(pa, false);
		kmem_lock_release(&pa->lock);
	}
	pa_count(&pa->idle_calls, 1);
	pa_count(&pa->idle_frames, got);
	kmem_pa_rel_due(pa, got);
	return got;
}

/* ---- reclaim passes ----------------------------------------------------------- */

size_t kmem_pa_reclaim_as(struct kmem_pagealloc *pa, struct kmem_pa_client *self, size_t frames,
			  size_t bytes, enum kmem_pressure level)
{
	struct kmem_shrink_request req = {0, bytes, level};
	struct pa_reclaim_save sv;
	size_t got = 0;

	if (!kmem_pa_reclaim_enter(pa, &sv))
		return 0;
	kmem_lock_acquire(&pa->shrink_lock);
	if (self && self->live && self->release) {
		kmem_lock_acquire(&pa->lock);
		bool local = pa->scope == KMEM_PA_RECLAIM_LOCAL ||
			     pa_held_of(self) >= kmem_pa_client_share(pa, self);
		kmem_lock_release(&pa->lock);
		if (local) {
			pa_count(&self->local_reclaims, 1);
			got += kmem_pa_client_release(self, frames, bytes, level);
		}
	}
	if (self && pa->scope == KMEM_PA_RECLAIM_LOCAL)
		goto out;
	for (struct kmem_shrinker *sh = pa->shrinkers; sh && got < frames; sh = sh->next_) {
		size_t r;

		KMEM_STEP(PA_STEP_SHRINK);
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
				h = pa_held_of(c);
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
			got += kmem_pa_client_release(best, frames - got, bytes, level);
		}
	}
out:
	kmem_lock_release(&pa->shrink_lock);
	kmem_pa_reclaim_exit(pa, &sv);
	return got;
}

size_t kmem_pa_reclaim(struct kmem_pagealloc *pa, size_t frames, enum kmem_pressure level)
{
	return kmem_pa_reclaim_as(pa, NULL, frames, 0, level);
}

/* ---- OOM ------------------------------------------------------------------------- */

/* The default policy's victim: a client that can release, holds more than
 * its guarantee and is not exempt (adj -1000); the highest score wins, ties
 * to the lower priority; under the priority policy the lowest priority
 * goes first, then the highest score. */
static struct kmem_pa_client *oom_pick_locked(struct kmem_pagealloc *pa)
{
	struct kmem_pa_client *best = NULL;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the client table needs the instance lock");
	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		struct kmem_pa_client *c = &pa->client[i];
		bool better;

		if (!c->live || !c->release || c->oom_score_adj <= -1000 ||
		    pa_held_of(c) <= c->min_frames)
			continue;
		if (!best) {
			best = c;
			continue;
		}
		if (pa->share_policy == KMEM_PA_SHARE_PRIORITY && c->priority != best->priority)
			better = c->priority < best->priority;
		else if (pa_oom_score(pa, c) != pa_oom_score(pa, best))
			better = pa_oom_score(pa, c) > pa_oom_score(pa, best);
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
	struct pa_reclaim_save sv;

	pa_count(&pa->oom_events, 1);
	got = kmem_pa_reclaim_as(pa, NULL, want, pa->frame_size << order, KMEM_PRESSURE_OOM);
	if (!kmem_pa_reclaim_enter(pa, &sv))
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
			got += kmem_pa_client_release(victim, want, pa->frame_size << order,
						      KMEM_PRESSURE_OOM);
		}
	}
	kmem_lock_release(&pa->shrink_lock);
	kmem_pa_reclaim_exit(pa, &sv);
	pa_count(&pa->oom_released, got);
	return got;
}

/* ---- shadow set: recently reclaimed frames ---------------------------------- */

static inline unsigned shadow_slot(const struct kmem_pagealloc *pa, const void *blk)
{
	uint64_t h = ((uint64_t)(uintptr_t)blk >> pa->frame_shift) * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> 56) % PA_SHADOW;
}

void kmem_pa_shadow_record_locked(struct kmem_pagealloc *pa, void *blk)
{
	unsigned i = shadow_slot(pa, blk);

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the shadow set needs the instance lock");
	if (!pa->shadow[i])
		pa->shadow_n++;
	pa->shadow[i] = (uintptr_t)blk;
}

void kmem_pa_shadow_check_locked(struct kmem_pagealloc *pa, void *blk)
{
	unsigned i = shadow_slot(pa, blk);

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the shadow set needs the instance lock");
	if (pa->shadow[i] == (uintptr_t)blk) {
		pa->shadow[i] = 0;
		pa->shadow_n--;
		pa->refaults++;
		pa->cycle_refaults++;
	}
}
