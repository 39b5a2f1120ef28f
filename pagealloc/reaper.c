/* reaper.c - the frame service's reaper: one step, kmem_pa_reaper_run(),
 * that the thread or an embedded idle loop drives; the thread itself, kicks,
 * the lazy start, and the fork handlers.
 *
 * Algorithm (Linux kswapd's low/high hysteresis; workingset thrashing):
 *   1. step: (a) free below low starts a reclaim cycle, which runs
 *      background passes until free reaches high or a pass frees nothing;
 *      a cycle ends with the thrashing test: at least 8 frames reclaimed
 *      and at least half of them refaulted before the next cycle, for
 *      PA_THRASH_CYCLES cycles running, calls on_thrash; (b) free above
 *      high: the release step (kmem_pa_release_excess, release.c), after the
 *      shrinkers' idle calls once per idle period (kmem_pa_idle_shrinkers,
 *      reclaim.c; decision 36); (c) unless KMEM_PA_NO_BGZERO, zero up to
 *      max_zero frames (pool.c).
 *   2. thread: a token bucket of zero_rate frames per second (burst
 *      zero_rate / 20, at least PA_ZERO_BATCH) bounds background zeroing.
 *   3. The wake rule. After a step the thread runs again at once if it
 *      zeroed (tokens left), or if it was kicked during a step that did not
 *      reclaim. Otherwise it sleeps on rcond until a kick or a deadline:
 *      pending zeroing (out of tokens): until PA_ZERO_BATCH tokens accrue;
 *      after a reclaim cycle: 10 ms, and if free is still below low then a
 *      full 10 ms that kicks do not cut short (a reclaim that fell short is
 *      not retried in a busy loop); free memory decaying (the release
 *      step's decay curve, release.c): until its next epoch, with
 *      rel_armed set so frees do not kick meanwhile; idle: until kicked,
 *      1 s at most.
 *   4. kicks: the alloc slow path (free below low, or the order-0 zeroed
 *      pool below zlow while dirty blocks or plenty of free frames exist),
 *      set_watermarks, and kmem_pa_kick_release from frees that leave the
 *      buddy above high + high / 4 (unless rel_armed). With
 *      KMEM_PA_RELEASE_INLINE, or with no thread (none configured, none
 *      possible, or its lazy start failed), the freeing thread runs a
 *      bounded step itself (PA_REL_INLINE_BLOCKS blocks). A kick reads
 *      `kicked` relaxed first and skips the mutex when it is already set.
 *   5. lazy start (KMEM_PA_LAZY_REAPER): the first kick starts the thread;
 *      one caller wins the `starting` flag; a failed start leaves the flag
 *      set, so there is no retry storm.
 *   6. fork: prepare takes rel_lock, shrink_lock, lock, rmtx (after the
 *      thread caches' registry lock); the parent releases
 *      them; the child has no reaper thread: it resets the reaper state,
 *      makes a new condition variable, adopts the caches (pcp.c) and
 *      releases the locks.
 * Bound: a step is one reclaim cycle (passes until high or no progress),
 * one release step and O(max_zero) frames of memset; a kick O(1).
 *
 * Data structures: see pa_internal.h (running, stop, kicked, live,
 * starting; thread and rcond).
 *
 * Locking: rmtx protects running/stop/kicked and pairs with rcond; it is a
 * leaf: taken with no other lock held, except by kmem_pa_fork_prepare, which
 * takes it last. kicked and live are also read relaxed as hints. A step
 * takes pa->lock briefly for the reclaiming state and counters, and runs
 * passes, the release step and on_thrash with no frame-service lock held.
 *
 * Tunables: zero_rate (65536 frames/s: 256 MiB/s of 4 KiB frames, a small
 * part of one core's memset bandwidth); PA_THRASH_CYCLES (3: one bad cycle
 * is noise); the 10 ms reclaim pause and the 1 s idle timeout (kswapd-like
 * pacing that bounds the cost of a reclaim that cannot succeed).
 */
#include "pa_internal.h"

/* ---- the reaper step ------------------------------------------------------------ */

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

			KMEM_STEP(PA_STEP_RECLAIM);
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
	/* the shrinkers' idle calls (once per idle period: what their caches
	 * did not use since the last) before the release step, which then
	 * gives their frames back at once (decision 36) */
	if (kmem_pa_idle_shrinkers(pa))
		work |= KMEM_PA_WORK_RELEASE;
	if (kmem_pa_release_excess(pa, SIZE_MAX))
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

/* The thread, its mutex and condition variable, and the clock come from the
 * port layer (kmem_thread.h): without threads the thread never starts
 * (reaper_start says -ENOTSUP), kicks find no thread and the freeing thread
 * releases excess memory itself; the embedded idle loop calls
 * kmem_pa_reaper_run() instead. */

static bool flag_get(const bool *f)
{
	return kmem_atomic_load_relaxed(f);
}

static void flag_set(bool *f, bool v)
{
	kmem_atomic_store_relaxed(f, v);
}

/* The thread: run steps while there is work, within the zeroing budget
 * (a token bucket of zero_rate frames per second, burst of 1/20 s); sleep
 * until kicked, or until tokens accrue when zeroing is pending. */
static void *reaper_main(void *arg)
{
	struct kmem_pagealloc *pa = arg;
	double burst = (double)pa->zero_rate / 20.0, tokens;
	uint64_t last = kmem_now_ns();
	bool slept = false;

	if (burst < PA_ZERO_BATCH)
		burst = PA_ZERO_BATCH;
	tokens = burst;
	kmem_mutex_lock(&pa->rmtx);
	while (!pa->stop) {
		unsigned work;
		size_t zeroed;
		uint64_t now, wait_ns, deadline, rel_wait;

		flag_set(&pa->kicked, false);
		kmem_mutex_unlock(&pa->rmtx);
		now = kmem_now_ns();
		tokens += (double)(now - last) * 1e-9 * (double)pa->zero_rate;
		if (tokens > burst)
			tokens = burst;
		last = now;
		work = reaper_step(pa, (size_t)tokens, &zeroed);
		tokens -= (double)zeroed;
		if (slept && (work & KMEM_PA_WORK_ZERO))
			pa_count(&pa->zeroer_wakeups, 1);
		kmem_mutex_lock(&pa->rmtx);
		slept = false;
		if (pa->stop)
			break;
		if (work & KMEM_PA_WORK_ZERO)
			continue; /* tokens left: keep going */
		if (pa->kicked && !(work & KMEM_PA_WORK_RECLAIM))
			continue;
		/* pending zeroing: until a batch worth of tokens; a reclaim
		 * cycle that just ran: at least 10 ms before the next; free
		 * memory decaying: until the next epoch (kicks for the release
		 * step are not needed meanwhile: rel_armed); idle: until
		 * kicked (1 s at most) */
		rel_wait = kmem_pa_release_wait_ns(pa);
		if (work & KMEM_PA_WORK_PENDING)
			wait_ns = (uint64_t)(1e9 * PA_ZERO_BATCH / (double)pa->zero_rate) + 1000;
		else if (work & KMEM_PA_WORK_RECLAIM)
			wait_ns = 10000000;
		else
			wait_ns = 1000000000;
		if (rel_wait && rel_wait < wait_ns)
			wait_ns = rel_wait;
		flag_set(&pa->rel_armed, rel_wait != 0);
		deadline = kmem_now_ns() + wait_ns;
		if ((work & KMEM_PA_WORK_RECLAIM) && pa_free_frames(pa) < pa_relaxed(&pa->wlow)) {
			/* reclaim fell short: no new cycle for 10 ms, kicks
			 * or not (only stop ends the pause) */
			while (!pa->stop &&
			       kmem_cond_timedwait(&pa->rcond, &pa->rmtx, deadline) != -ETIMEDOUT)
				;
		} else if (!pa->kicked) {
			(void)kmem_cond_timedwait(&pa->rcond, &pa->rmtx, deadline);
		}
		slept = true;
	}
	kmem_mutex_unlock(&pa->rmtx);
	return NULL;
}

int kmem_pa_reaper_init(struct kmem_pagealloc *pa)
{
	int rc = kmem_mutex_init(&pa->rmtx);

	KMEM_ANNOT_BENIGN_RACE(&pa->kicked, 2 * sizeof(bool)); /* kicked, live: hints */
	if (rc)
		return rc;
	rc = kmem_cond_init(&pa->rcond);
	if (rc) {
		kmem_mutex_destroy(&pa->rmtx);
		return rc;
	}
	return 0;
}

void kmem_pa_reaper_fini(struct kmem_pagealloc *pa)
{
	kmem_cond_destroy(&pa->rcond);
	kmem_mutex_destroy(&pa->rmtx);
}

int kmem_pa_reaper_start(struct kmem_pagealloc *pa)
{
	int rc = 0;

	if (!KMEM_THREADS) /* before the thread's code: firmware links none of it */
		return -ENOTSUP; /* (nor its soft-float token bucket) */
	kmem_mutex_lock(&pa->rmtx);
	if (pa->running) {
		rc = -EALREADY;
	} else {
		pa->stop = false;
		rc = kmem_thrd_start(&pa->thread, reaper_main, pa);
		if (!rc) {
			pa->running = true;
			flag_set(&pa->live, true);
		}
	}
	kmem_mutex_unlock(&pa->rmtx);
	return rc == -ENOSYS ? -ENOTSUP : rc; /* built without threads */
}

void kmem_pa_reaper_stop(struct kmem_pagealloc *pa)
{
	struct kmem_thrd t;

	kmem_mutex_lock(&pa->rmtx);
	if (!pa->running) {
		kmem_mutex_unlock(&pa->rmtx);
		return;
	}
	pa->stop = true;
	t = pa->thread;
	kmem_cond_signal(&pa->rcond);
	kmem_mutex_unlock(&pa->rmtx);
	(void)kmem_thrd_join(&t, NULL);
	kmem_mutex_lock(&pa->rmtx);
	pa->running = false;
	flag_set(&pa->live, false);
	flag_set(&pa->rel_armed, false);
	kmem_mutex_unlock(&pa->rmtx);
}

/* Start the thread on a kick (KMEM_PA_LAZY_REAPER). One thread wins the
 * `starting` flag; a failed start leaves the flag set (no retry storm). */
static bool lazy_start(struct kmem_pagealloc *pa)
{
	bool no = false;

	if (!(pa->flags & KMEM_PA_LAZY_REAPER) || !kmem_atomic_cas_acq_rel(&pa->starting, &no, true))
		return false;
	if (kmem_pa_reaper_start(pa) != 0)
		return false;
	kmem_atomic_store_release(&pa->starting, false);
	return true;
}

void kmem_pa_kick_release(struct kmem_pagealloc *pa)
{
	if (pa->flags & KMEM_PA_RELEASE_INLINE) {
		(void)kmem_pa_release_excess(pa, PA_REL_INLINE_BLOCKS);
	} else if (flag_get(&pa->live)) {
		if (!flag_get(&pa->rel_armed)) /* else it wakes at the epoch anyway */
			kmem_pa_kick(pa);
	} else if (lazy_start(pa)) {
		kmem_pa_kick(pa);
	} else {
		/* no thread (none configured, none possible, its start failed
		 * or is under way in another thread): the freeing thread does
		 * a bounded step */
		(void)kmem_pa_release_excess(pa, PA_REL_INLINE_BLOCKS);
	}
}

/* Lock order: the registry lock of the thread caches, then the instance's. */
void kmem_pa_fork_prepare(struct kmem_pagealloc *pa)
{
	kmem_pa_pcp_fork_lock();
	kmem_lock_acquire(&pa->rel_lock);
	kmem_lock_acquire(&pa->shrink_lock);
	kmem_lock_acquire(&pa->lock);
	kmem_mutex_lock(&pa->rmtx);
}

void kmem_pa_fork_parent(struct kmem_pagealloc *pa)
{
	kmem_mutex_unlock(&pa->rmtx);
	kmem_lock_release(&pa->lock);
	kmem_lock_release(&pa->shrink_lock);
	kmem_lock_release(&pa->rel_lock);
	kmem_pa_pcp_fork_unlock();
}

void kmem_pa_fork_child(struct kmem_pagealloc *pa)
{
	/* the reaper thread does not exist here; start again lazily */
	pa->running = false;
	pa->stop = false;
	flag_set(&pa->live, false);
	flag_set(&pa->kicked, false);
	flag_set(&pa->rel_armed, false);
	kmem_atomic_store_relaxed(&pa->starting, false);
	pa->reclaiming = false;
	kmem_mutex_unlock(&pa->rmtx);
	(void)kmem_cond_init(&pa->rcond);
	kmem_pa_pcp_adopt_orphans_locked(pa);
	kmem_lock_release(&pa->lock);
	kmem_lock_release(&pa->shrink_lock);
	kmem_lock_release(&pa->rel_lock);
	kmem_pa_pcp_fork_unlock();
}

void kmem_pa_kick(struct kmem_pagealloc *pa)
{
	if (!flag_get(&pa->live) && !lazy_start(pa))
		return;
	if (flag_get(&pa->kicked))
		return;
	kmem_mutex_lock(&pa->rmtx);
	flag_set(&pa->kicked, true);
	kmem_cond_signal(&pa->rcond);
	kmem_mutex_unlock(&pa->rmtx);
}

bool kmem_pa_reaper_running(struct kmem_pagealloc *pa)
{
	return flag_get(&pa->live);
}
