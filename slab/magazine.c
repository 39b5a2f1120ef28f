/* magazine.c - per-thread magazines and the depot (Bonwick & Adams,
 * "Magazines and Vmem", USENIX 2001).
 *
 * Algorithm:
 *   1. Each thread has a thread block, its slab area of the per-thread
 *      context (kmem_tctx.h; mapped on the thread's first slow path), with
 *      two magazines per cache, loaded and previous, at the cache's slot.
 *      The fast paths (kmem_slab_fast.h: kmem_mag_pop_off,
 *      kmem_mag_push_off) pop and push the loaded magazine through the
 *      slot's top, base and end pointers (M5): no lock, no atomic
 *      read-modify-write, no magazine header. Every slow path syncs the
 *      slot first (slot_sync: the loaded magazine's rounds written back)
 *      and loads a magazine with slot_load.
 *   2. alloc miss (loaded empty): previous has rounds -> swap them; else
 *      under the cache lock take a full magazine from the depot (the empty
 *      previous goes to the depot); else refill an empty magazine with up
 *      to cap/2 objects from the slabs in one lock hold.
 *   3. free miss (loaded full): previous has room -> swap; else under the
 *      cache lock take an empty magazine from the depot (the full previous
 *      goes to it), or a new one from the magazine cache; a depot already
 *      holding KMEM_DEPOT_MAX_FULL full magazines gets no more: the full
 *      previous is flushed to the slabs and reused as the empty one.
 *      So at most one slow path per M/2 operations (M rounds per magazine)
 *      in any alloc/free sequence, and the depot lock is taken once per
 *      magazine exchange. The common cases of steps 2 and 3 (a swap, or
 *      one depot exchange with a fixed size and limit) take one short,
 *      frameless path (kmem_mag_alloc_slow, kmem_mag_free_slow); the rest
 *      is alloc_general and free_general (decision 34).
 *   4. Working set: min_full/min_empty record the fewest magazines the
 *      depot held since the last reap; those were not needed, so a reap
 *      frees them (kmem_cache_reap); kmem_cache_shrink frees the whole
 *      depot and the calling thread's magazines.
 *   5. Thread exit (the slab area's exit hook, run by the per-thread
 *      context) returns the thread's magazines to the depots; cache destroy
 *      takes them from every thread's block (registered on the cache's
 *      holder list).
 *   6. Policy (kmem_slab_config.mag_size, .depot_limit; decision 30, M4):
 *      the size is the stride ladder below, a fixed N, or self-tuning:
 *      depot_lock takes the cache lock by a try first and counts a failed
 *      try as contention; KMEM_MAG_CONTENTION of them within
 *      KMEM_MAG_CONTENTION_WINDOW takes grow the size to 2n + 1 (up to
 *      KMEM_MAG_AUTO_MAX), the depot's old-size magazines flushed at once
 *      (mag_grow_locked), threads' ones when they come back
 *      (depot_put_locked). The depot keeps at most depot_max full
 *      magazines (KMEM_DEPOT_MAX_FULL by default); KMEM_DEPOT_AUTO: no
 *      limit, and every KMEM_DEPOT_REAP_OPS exchanges the slow path that
 *      releases the lock runs step 4's reap (depot_unlock, mag_reap).
 *      Magazines over KMEM_MAG_MAX_ROUNDS are flushed in batches of it.
 * Bound: fast paths O(1), about a dozen instructions; slow paths O(1) plus
 * one slab-layer batch of at most M objects.
 *
 * Objects in magazines stay "allocated" in their slab's bitmap (M1): the
 * slab layer only sees magazines being filled and flushed. Flushing
 * validates every object as a checked free would, so an object pushed by
 * the unchecked fast path that was not this cache's is reported then.
 *
 * Process-wide state lives in common/process.c: the slot map and the
 * registry lock are those of the KMEM_TCTX_SLAB area, the thread-exit key is
 * the per-thread context's. Here are only the shared read-only null thread
 * block and kmem_mag_self, the fast paths' initial-exec pointer to the
 * thread's block (a cache of its slab area, reset by the exit hook). Slots
 * are a namespace: up to KMEM_MAG_SLOTS - 1 caches (all instances together)
 * have magazines at a time; caches created beyond that work without them.
 *
 * Compiled out with -Dmagazines=disabled (the default without threads,
 * KMEM_MAGAZINES 0): slab_internal.h turns the calls into the slab layer's,
 * the fast paths always miss, and this file keeps only the fork handlers;
 * no thread block, slot map or null block is linked.
 *
 * Locking: the registry lock protects the slot map, every cache's holder
 * list and every thread block's holders; a thread's own slot contents are
 * touched without a lock by that thread only, and by others (cache destroy,
 * the checker) under the registry lock when the cache is quiescent. Order:
 * registry lock, then cache lock, then the page source.
 */
#include "slab_internal.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

void kmem_slab_hits_uncounted(struct kmem_slab *s)
{
	s->hits_uncounted = true;
}

int kmem_mag_config(struct kmem_slab *s, const struct kmem_slab_config *cfg)
{
	if (cfg->mag_size > KMEM_MAG_ROUNDS_MAX && cfg->mag_size != KMEM_MAG_SIZE_AUTO)
		return -EINVAL;
	s->mag_size = cfg->mag_size;
	s->depot_limit = cfg->depot_limit;
	if (cfg->mag_size == KMEM_MAG_SIZE_AUTO)
		s->mag_rounds_max = KMEM_MAG_AUTO_MAX;
	else if (cfg->mag_size > KMEM_MAG_MAX_ROUNDS)
		s->mag_rounds_max = cfg->mag_size;
	else
		s->mag_rounds_max = KMEM_MAG_MAX_ROUNDS;
	return 0;
}

#if KMEM_MAGAZINES /* else only the fork handlers (slab_internal.h has the rest) */

static const struct kmem_mag null_mag = { 0, 0, { NULL } };

#define NULL_MAG ((struct kmem_mag *)(uintptr_t)&null_mag)
#define NULL_OBJS ((void **)(uintptr_t)null_mag.obj)	/* top, base and end of its slot */

__extension__ static const struct kmem_thread null_thread = {
	.slot = { [0 ... KMEM_MAG_SLOTS - 1] = { NULL_OBJS, NULL_OBJS, NULL_OBJS, 0, NULL_MAG, NULL_MAG, 0,
						 0 } },
};

KMEM_TLS struct kmem_thread *kmem_mag_self = (struct kmem_thread *)(uintptr_t)&null_thread;

static void thread_block_init(void *area);
static void thread_exit(void *area);

/* Builds without threads: the one thread's block, no mapping needed. */
static struct kmem_thread single_block;

/* The slab area of the per-thread context. */
static const struct kmem_tctx_ops slab_tctx = {
	.id = KMEM_TCTX_SLAB,
	.size = sizeof(struct kmem_thread),
	.nslots = KMEM_MAG_SLOTS,
	.init = thread_block_init,
	.exit = thread_exit,
	.single = KMEM_THREADS ? NULL : &single_block,
};

static struct kmem_lock *registry(void)
{
	return kmem_tctx_lock(KMEM_TCTX_SLAB);
}

void kmem_mag_registry_lock(void)
{
	kmem_lock_acquire(registry());
}

void kmem_mag_registry_unlock(void)
{
	kmem_lock_release(registry());
}

bool kmem_mag_registry_held(void)
{
	return kmem_lock_held(registry());
}

/* ---- slots ---------------------------------------------------------------------- */

/* The magazine size a new cache starts with (the instance's policy). */
static unsigned mag_cap_for(const struct kmem_cache *c)
{
	unsigned fixed = c->owner->mag_size;

	if (c->direct || (c->flags & (KMEM_CACHE_NOMAGAZINE | CACHE_DEBUG_FLAGS)))
		return 0; /* direct objects are whole page-source blocks: not hoarded */
	if (fixed && fixed != KMEM_MAG_SIZE_AUTO)
		return fixed;
	if (c->stride <= 256)
		return KMEM_MAG_MAX_ROUNDS;
	if (c->stride <= 1024)
		return 30;
	if (c->stride <= 4096)
		return 14;
	return 6;
}

void kmem_mag_cache_init(struct kmem_cache *c)
{
	c->slot = 0;
	c->slot_off = 0;
	c->mag_cap = kmem_port_lock_hooked() ? 0 : mag_cap_for(c); /* one block, many tasks */
	c->mag_auto = c->owner->mag_size == KMEM_MAG_SIZE_AUTO;
	c->depot_auto = c->owner->depot_limit == KMEM_DEPOT_AUTO;
	c->depot_max = c->depot_auto ? UINT_MAX
				     : c->owner->depot_limit ? c->owner->depot_limit : KMEM_DEPOT_MAX_FULL;
	if (!c->mag_cap)
		return;
	kmem_mag_registry_lock();
	c->slot = kmem_tctx_slot_take_locked(&slab_tctx);
	kmem_mag_registry_unlock();
	if (!c->slot)
		c->mag_cap = 0; /* every slot taken: no magazines for this cache */
	c->slot_off = (size_t)c->slot * sizeof(struct kmem_mag_slot);
}

/* ---- thread blocks ------------------------------------------------------------- */

/* Make m the loaded magazine of slot ms, its rounds field current (the
 * fast paths' pointers: struct kmem_mag_slot). */
static void slot_load(struct kmem_mag_slot *ms, struct kmem_mag *m)
{
	ms->loaded = m;
	ms->base = m->obj;
	ms->top = m->obj + m->rounds;
	ms->end = m->obj + m->cap;
}

/* The rounds of slot ms's loaded magazine (its own field is stale while it
 * is loaded). */
static size_t slot_rounds(const struct kmem_mag_slot *ms)
{
	return (size_t)(ms->top - ms->base);
}

/* Write the loaded magazine's rounds back from the slot: before anything
 * reads that field or the magazine leaves the slot. The slot's owner
 * thread, or another with the registry lock while the cache is quiescent
 * (as every reader of another thread's slot). */
static void slot_sync(struct kmem_mag_slot *ms)
{
	KMEM_ASSERT(ms->base == ms->loaded->obj && ms->end == ms->loaded->obj + ms->loaded->cap &&
		    ms->top >= ms->base && ms->top <= ms->end && "M5: the slot brackets its loaded magazine");
	if (ms->loaded != NULL_MAG) /* read-only, and 0 rounds */
		ms->loaded->rounds = slot_rounds(ms);
}

/* A new slab area: every slot holds the null magazine, no holder. */
static void thread_block_init(void *area)
{
	struct kmem_thread *t = area;

	for (unsigned i = 0; i < KMEM_MAG_SLOTS; i++) {
		slot_load(&t->slot[i], NULL_MAG);
		t->slot[i].prev = NULL_MAG;
		t->slot[i].pad = 0;
		t->slot[i].allocs = t->slot[i].frees = 0;
		t->holder[i].cache = NULL;
		t->holder[i].thread = t;
	}
}

/* The calling thread's block, made on first use; NULL if it cannot have
 * one (no memory, or the thread is exiting). */
static struct kmem_thread *thread_get(void)
{
	struct kmem_thread *t = kmem_mag_self;

	if (t != &null_thread)
		return t;
	t = kmem_tctx_area(&slab_tctx);
	if (t)
		kmem_mag_self = t;
	return t;
}

/* The pushes onto slot ms's magazines since its last fold: a push counts
 * nothing itself (struct kmem_mag_slot, kmem_slab_fast.h). */
static uint64_t slot_frees(const struct kmem_mag_slot *ms)
{
	return ms->frees + ms->allocs + slot_rounds(ms);
}

/* Make slot_frees(ms) f again: a slow path took f = slot_frees(ms), then
 * changed the loaded magazine or its rounds (swap, exchange, refill,
 * flush), and calls this before its own pop or push and on every return. */
static void slot_set_frees(struct kmem_mag_slot *ms, uint64_t f)
{
	ms->frees = f - ms->allocs - slot_rounds(ms);
}

/* Make sure c's holder in t is registered (so destroy and the checker find
 * the thread's magazines). */
static void holder_attach(struct kmem_thread *t, struct kmem_cache *c)
{
	struct kmem_mag_holder *h = &t->holder[c->slot];

	if (KMEM_LIKELY(h->cache == c))
		return;
	kmem_mag_registry_lock();
	KMEM_ASSERT(!h->cache && "M3: a slot's holder is cleared before the slot is reused");
	h->cache = c;
	kmem_list_add(&c->holders, &h->link);
	kmem_mag_registry_unlock();
}

/* Registry lock held: take holder h's magazines and unlink it. */
static void holder_detach_locked(struct kmem_mag_holder *h, struct kmem_mag **a, struct kmem_mag **b,
				 uint64_t *allocs, uint64_t *frees)
{
	struct kmem_cache *c = h->cache;
	struct kmem_mag_slot *ms = &h->thread->slot[c->slot];

	KMEM_ASSERT(kmem_mag_registry_held() && "holders need the registry lock");
	slot_sync(ms);
	*a = ms->loaded;
	*b = ms->prev;
	*allocs = ms->allocs;
	*frees = slot_frees(ms);
	slot_load(ms, NULL_MAG);
	ms->prev = NULL_MAG;
	ms->allocs = ms->frees = 0;
	kmem_list_del(&h->link);
	h->cache = NULL;
}

/* ---- depot (cache lock held) ------------------------------------------------- */

/* Take the top magazine off one depot stack, keeping its working-set
 * minimum; NULL if the stack is empty. */
static struct kmem_mag *depot_take_locked(struct kmem_cache *c, struct kmem_slist *list, unsigned *n,
					  unsigned *min)
{
	struct kmem_slist_node *top;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the depot needs the cache lock");
	top = kmem_slist_pop(list);
	if (!top)
		return NULL;
	if (--*n < *min)
		*min = *n;
	c->depot_gets++;
	c->depot_ops++;
	return mag_of_link(top);
}

static struct kmem_mag *depot_take_full_locked(struct kmem_cache *c)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the depot needs the cache lock");
	return depot_take_locked(c, &c->depot_full, &c->nfull, &c->min_full);
}

static struct kmem_mag *depot_take_empty_locked(struct kmem_cache *c)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the depot needs the cache lock");
	return depot_take_locked(c, &c->depot_empty, &c->nempty, &c->min_empty);
}

/* Put a real magazine into the depot: on the full list if it is full, on
 * the empty list if it is empty. A partly filled one (thread exit, destroy),
 * a full one over the depot limit, or one of an old size (M2, M4) is
 * returned to the caller to flush and free. */
static struct kmem_mag *depot_put_locked(struct kmem_cache *c, struct kmem_mag *m)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the depot needs the cache lock");
	if (m == NULL_MAG)
		return NULL;
	if (m->cap != c->mag_cap)
		return m; /* the size grew since it was made */
	if (m->rounds == 0) {
		kmem_slist_push(&c->depot_empty, &m->link);
		c->nempty++;
	} else if (m->rounds == m->cap && c->nfull < c->depot_max) {
		kmem_slist_push(&c->depot_full, &m->link);
		c->nfull++;
	} else {
		return m;
	}
	c->depot_puts++;
	c->depot_ops++;
	return NULL;
}

/* Self-tuning size (Bonwick & Adams 2001, 3.4): the next size, 2n + 1 up to
 * what a magazine object holds; the depot's magazines, all of the old size,
 * go to *junk (flushed and freed by depot_unlock), so the depot holds the
 * new size only (M2). Threads' magazines of the old size are dropped as
 * they come back (depot_put_locked). */
static void mag_grow_locked(struct kmem_cache *c, struct kmem_slist *junk)
{
	unsigned cap = c->mag_cap * 2 + 1;
	struct kmem_slist_node *n;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the depot needs the cache lock");
	if (cap > c->owner->mag_rounds_max)
		cap = c->owner->mag_rounds_max;
	if (cap <= c->mag_cap)
		return; /* the largest already */
	c->mag_cap = cap;
	c->mag_resizes++;
	while ((n = kmem_slist_pop(&c->depot_full)) != NULL)
		kmem_slist_push(junk, n);
	while ((n = kmem_slist_pop(&c->depot_empty)) != NULL)
		kmem_slist_push(junk, n);
	c->nfull = c->nempty = c->min_full = c->min_empty = 0;
}

/* Take c's lock for a depot exchange. A take that finds it held counts as
 * contention; with a self-tuning size, KMEM_MAG_CONTENTION of them within
 * KMEM_MAG_CONTENTION_WINDOW takes grow the size (magazines that go to
 * *junk: depot_unlock frees them). */
static inline void depot_lock(struct kmem_cache *c, struct kmem_slist *junk)
{
	if (KMEM_UNLIKELY(!kmem_lock_try_acquire(&c->lock))) {
		kmem_lock_acquire(&c->lock);
		c->depot_contended++;
		c->contended++;
	}
	if (c->mag_auto && c->contended >= KMEM_MAG_CONTENTION) {
		mag_grow_locked(c, junk);
		c->contended = c->depot_takes = 0;
	} else if (++c->depot_takes >= KMEM_MAG_CONTENTION_WINDOW) {
		c->contended = c->depot_takes = 0; /* a new window */
	}
}

static size_t mag_release(struct kmem_cache *c, struct kmem_mag *m);
static size_t mag_list_release(struct kmem_cache *c, struct kmem_slist *list);
static size_t mag_reap(struct kmem_cache *c, bool all, bool periodic);

/* depot_unlock's work after the release: junk to the slabs, the reap. */
/* How the general slow paths find c's lock: not taken yet (they take it
 * with depot_lock), held (the common case below took it and counted the
 * take), or found held by the common case's try (a fixed size: wait for
 * it, and count the contention and the take as depot_lock would). */
enum depot_state { DEPOT_UNLOCKED, DEPOT_HELD, DEPOT_CONTENDED };

static void depot_lock_state(struct kmem_cache *c, struct kmem_slist *junk, enum depot_state st)
{
	if (st == DEPOT_UNLOCKED) {
		depot_lock(c, junk);
	} else if (st == DEPOT_CONTENDED) {
		KMEM_ASSERT(!c->mag_auto && "the common case runs with a fixed size only");
		kmem_lock_acquire(&c->lock);
		c->depot_contended++;
		c->contended++;
		if (++c->depot_takes >= KMEM_MAG_CONTENTION_WINDOW)
			c->contended = c->depot_takes = 0;
	}
}

static KMEM_NOINLINE void depot_unlock_slow(struct kmem_cache *c, struct kmem_slist *junk, bool reap)
{
	(void)mag_list_release(c, junk);
	if (reap)
		(void)mag_reap(c, false, true);
}

/* Release c's lock after depot_lock: the magazines in *junk go back to the
 * slabs, and with KMEM_DEPOT_AUTO every KMEM_DEPOT_REAP_OPS depot exchanges
 * the working set's excess is reaped. Inlined: usually just the release. */
static inline void depot_unlock(struct kmem_cache *c, struct kmem_slist *junk)
{
	bool reap = c->depot_auto && c->depot_ops >= KMEM_DEPOT_REAP_OPS;

	kmem_lock_release(&c->lock);
	if (KMEM_UNLIKELY(!kmem_slist_empty(junk) || reap))
		depot_unlock_slow(c, junk, reap);
}

void kmem_mag_contention_inject(struct kmem_cache *c, unsigned n)
{
	kmem_lock_acquire(&c->lock);
	c->depot_contended += n;
	c->contended += n;
	kmem_lock_release(&c->lock);
}

/* Fold slot ms's counters into c: its pops, and *frees, its pushes as a
 * slow path took them (slot_frees), which start again from 0. */
static void fold_locked(struct kmem_cache *c, struct kmem_mag_slot *ms, uint64_t *frees)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "counters need the cache lock");
	if (!c->owner->hits_uncounted) {
		c->mag_allocs += ms->allocs;
		c->mag_frees += *frees;
	}
	ms->allocs = 0;
	*frees = 0;
}

/* Objects of a magazine back to the slabs (no lock held), in batches of
 * at most KMEM_MAG_MAX_ROUNDS (the slab layer's bound); it ends empty.
 * Returns frames released. */
static size_t mag_flush(struct kmem_cache *c, struct kmem_mag *m, const char *why)
{
	size_t frames = 0;

	for (size_t i = 0; i < m->rounds; i += KMEM_MAG_MAX_ROUNDS) {
		size_t k = m->rounds - i < KMEM_MAG_MAX_ROUNDS ? m->rounds - i : KMEM_MAG_MAX_ROUNDS;

		KMEM_STEP(SLAB_STEP_BATCH);

		frames += kmem_slab_free_batch(c, m->obj + i, k, why);
	}
	m->rounds = 0;
	return frames;
}

static struct kmem_mag *mag_new(struct kmem_cache *c)
{
	struct kmem_cache *mc = &c->owner->mag_cache;
	struct kmem_mag *m = slab_annot_alloc(mc, kmem_slab_alloc_one(mc, 0, NULL), mc->size);

	if (m) {
		m->rounds = 0;
		m->cap = c->mag_cap;
	}
	return m;
}

static void mag_free(struct kmem_cache *c, struct kmem_mag *m)
{
	(void)kmem_cache_free_from(&c->owner->mag_cache, m, NULL);
}

/* ---- slow paths --------------------------------------------------------------- */

static const char flush_why[] = " (found when its magazine was flushed)";

/* kmem_mag_alloc_slow in every case. locked (enum depot_state): anything
 * but DEPOT_UNLOCKED comes from the common case below, which found the
 * thread's block and c's holder in place and the loaded and the previous
 * magazine empty (and, when it holds the lock, no full magazine of c's size
 * in the depot). Every object returned here reaches the user: each return
 * annotates it. */
static KMEM_NOINLINE void *alloc_general(struct kmem_cache *c, size_t req, const void *caller,
					 enum depot_state locked)
{
	void *p;
	struct kmem_thread *t;
	struct kmem_mag_slot *ms;
	struct kmem_mag *m, *tmp;
	struct kmem_slist junk = KMEM_SLIST_INIT;
	uint64_t f;
	size_t n;

	if (!c->slot || (t = thread_get()) == NULL)
		return slab_annot_alloc(c, kmem_slab_alloc_one(c, req, caller), req);
	holder_attach(t, c);
	ms = &t->slot[c->slot];
	slot_sync(ms); /* loaded->rounds is 0 now: it is read below when it moves */
	f = slot_frees(ms);
	if (ms->prev->rounds) { /* 1. the previous magazine has objects */
		tmp = ms->loaded;
		slot_load(ms, ms->prev);
		ms->prev = tmp;
		slot_set_frees(ms, f);
		return slab_annot_alloc(c, mag_pop(c, &p) ? p : NULL, req);
	}
	depot_lock_state(c, &junk, locked);
	fold_locked(c, ms, &f);
	m = depot_take_full_locked(c);
	if (m) { /* 2. a full magazine from the depot; the empty previous goes there */
		tmp = depot_put_locked(c, ms->prev);
		KMEM_ASSERT((!tmp || tmp->cap != c->mag_cap) && "the previous magazine is empty here");
		if (tmp) /* of an old size */
			kmem_slist_push(&junk, &tmp->link);
		ms->prev = ms->loaded;
		slot_load(ms, m);
		depot_unlock(c, &junk);
		slot_set_frees(ms, f);
		return slab_annot_alloc(c, mag_pop(c, &p) ? p : NULL, req);
	}
	/* 3. refill an empty magazine from the slabs */
	m = ms->loaded != NULL_MAG ? ms->loaded : ms->prev != NULL_MAG ? ms->prev
							: depot_take_empty_locked(c);
	/* m leaves the slot while it is filled: growing a slab can reclaim in
	 * this thread (a frame service's direct reclaim runs the shrinkers),
	 * and kmem_mag_shrink takes the slot's magazines */
	if (m == ms->loaded)
		slot_load(ms, NULL_MAG);
	else if (m == ms->prev)
		ms->prev = NULL_MAG;
	depot_unlock(c, &junk);
	slot_set_frees(ms, f); /* f is 0: folded */
	if (!m && (m = mag_new(c)) == NULL)
		return slab_annot_alloc(c, kmem_slab_alloc_one(c, req, caller), req);
	KMEM_ASSERT(m->rounds == 0);
	n = kmem_slab_alloc_batch(c, m->cap / 2 ? m->cap / 2 : 1, m->obj);
	for (size_t i = 0; i < n / 2; i++) { /* pops then come in slab order */
		void *o = m->obj[i];

		m->obj[i] = m->obj[n - 1 - i];
		m->obj[n - 1 - i] = o;
	}
	m->rounds = n;
	/* back in as the loaded one; the slot's other magazines are empty (or
	 * were taken meanwhile) */
	slot_sync(ms); /* the slot may have been used meanwhile (a reclaim's frees) */
	f = slot_frees(ms);
	tmp = ms->loaded;
	slot_load(ms, m);
	if (ms->prev == NULL_MAG) {
		ms->prev = tmp;
	} else if (tmp != NULL_MAG) {
		kmem_lock_acquire(&c->lock);
		tmp = depot_put_locked(c, tmp); /* empty: the depot takes it ... */
		kmem_lock_release(&c->lock);
		KMEM_ASSERT((!tmp || tmp->cap != c->mag_cap) && "an empty magazine always fits the depot");
		if (tmp) /* ... unless the size grew since it was made */
			(void)mag_release(c, tmp);
	}
	slot_set_frees(ms, f); /* the same pushes: m's n rounds came from the slabs */
	if (!n)
		return NULL;
	return slab_annot_alloc(c, mag_pop(c, &p) ? p : NULL, req);
}

/* kmem_mag_free_slow in every case. locked (enum depot_state): anything
 * but DEPOT_UNLOCKED comes from the common case below, which found the
 * thread's block and c's holder in place and the loaded and the previous
 * magazine full (and, when it holds the lock, no empty magazine in the
 * depot or no room there for the previous one). */
static void free_general_body(struct kmem_cache *c, void *p, const void *caller, enum depot_state locked)
{
	struct kmem_thread *t;
	struct kmem_mag_slot *ms;
	struct kmem_mag *m, *tmp, *flush = NULL;
	struct kmem_slist junk = KMEM_SLIST_INIT;
	uint64_t f;

	if (!c->slot || (t = thread_get()) == NULL) {
		(void)kmem_cache_free_from(c, p, caller);
		return;
	}
	holder_attach(t, c);
	ms = &t->slot[c->slot];
	slot_sync(ms); /* loaded->rounds is its cap now: it is read below when it moves */
	f = slot_frees(ms);
	if (ms->prev->rounds < ms->prev->cap) { /* 1. the previous magazine has room */
		tmp = ms->loaded;
		slot_load(ms, ms->prev);
		ms->prev = tmp;
		slot_set_frees(ms, f);
		(void)mag_push(c, p);
		SLAB_ANNOT_PUSH(c, p);
		return;
	}
	depot_lock_state(c, &junk, locked);
	fold_locked(c, ms, &f);
	m = depot_take_empty_locked(c);
	if (!m && c->nfull >= c->depot_max && ms->prev != NULL_MAG) {
		/* the depot has enough full magazines: empty the previous one */
		m = ms->prev;
		ms->prev = NULL_MAG;
		flush = m;
	}
	if (m) { /* 2. swap in an empty magazine; the full previous to the depot */
		tmp = depot_put_locked(c, ms->prev); /* non-NULL: the depot is full */
		ms->prev = ms->loaded;
		slot_load(ms, m);
		depot_unlock(c, &junk);
		if (flush) {
			(void)mag_flush(c, flush, flush_why); /* loaded now, so ours alone */
			slot_load(ms, m); /* its rounds are 0 now */
		}
		slot_set_frees(ms, f);
		if (tmp) {
			(void)mag_flush(c, tmp, flush_why);
			mag_free(c, tmp);
		}
		(void)mag_push(c, p);
		SLAB_ANNOT_PUSH(c, p);
		return;
	}
	depot_unlock(c, &junk);
	slot_set_frees(ms, f); /* f is 0: folded */
	m = mag_new(c); /* 3. a new empty magazine */
	if (!m) {
		(void)kmem_cache_free_from(c, p, caller);
		return;
	}
	depot_lock(c, &junk);
	flush = depot_put_locked(c, ms->prev);
	depot_unlock(c, &junk);
	if (flush) { /* the depot filled up meanwhile */
		(void)mag_flush(c, flush, flush_why);
		mag_free(c, flush);
	}
	ms->prev = ms->loaded;
	slot_load(ms, m);
	slot_set_frees(ms, 0);
	(void)mag_push(c, p);
	SLAB_ANNOT_PUSH(c, p);
}

/* free_general_body, leaving errno as it was: a page source's or the
 * lock's system calls may set it, and the drop-in's free calls
 * kmem_kmalloc_free_full, which ends here, without saving it (the common
 * case below never touches errno). */
static KMEM_NOINLINE void free_general(struct kmem_cache *c, void *p, const void *caller,
				       enum depot_state locked)
{
	int e = errno;

	free_general_body(c, p, caller, locked);
	errno = e;
}

/* The end of the common free's exchange when c's lock has waiters: wake
 * one, errno left as it was (free_general). */
static KMEM_NOINLINE void depot_wake_free(struct kmem_cache *c)
{
	int e = errno;

	kmem_lock_wake(&c->lock);
	errno = e;
}

/* The end of the common case's exchange when c's lock has waiters: wake
 * one, then hand p on (a tail call keeps the common case frameless). */
static KMEM_NOINLINE void *depot_wake(struct kmem_cache *c, void *p)
{
	kmem_lock_wake(&c->lock);
	return p;
}

/* The common misses, in few instructions (decision 34): a thread with its
 * block and c's holder in place, a real loaded magazine that the fast path
 * found empty (alloc) or full (free), a fixed magazine size and depot
 * limit. Then the previous magazine swaps in, or one depot exchange
 * under the lock: exactly steps 1 and 2 of alloc_general / free_general,
 * which take everything else (and the exchange when the depot cannot
 * serve it, with the lock held). The slot's count: frees + allocs +
 * rounds stays the pushes since the fold (struct kmem_mag_slot). */
void *kmem_mag_alloc_slow(struct kmem_cache *c, size_t req, const void *caller)
{
	struct kmem_thread *t = kmem_mag_self;
	struct kmem_mag_slot *ms = &t->slot[c->slot];
	struct kmem_mag *loaded = ms->loaded, *prev = ms->prev, *m;
	void *p;

	if (KMEM_UNLIKELY(!c->slot)) /* no magazines: the slab layer */
		return slab_annot_alloc(c, kmem_slab_alloc_one(c, req, caller), req);
	/* the null block's holders name no cache */
	if (KMEM_UNLIKELY(t->holder[c->slot].cache != c || loaded == NULL_MAG || ms->top != ms->base))
		return alloc_general(c, req, caller, DEPOT_UNLOCKED);
	loaded->rounds = 0; /* slot_sync: it is empty */
	if (prev->rounds) { /* 1. swap: loaded's 0 rounds for prev's */
		ms->frees -= prev->rounds;
		ms->prev = loaded;
		slot_load(ms, prev);
		p = *--ms->top; /* mag_pop */
		ms->allocs++;
		KMEM_ANNOT_STALE(ms->top, sizeof(void *));
		return slab_annot_alloc(c, p, req);
	}
	if (KMEM_UNLIKELY(c->mag_auto || c->depot_auto))
		return alloc_general(c, req, caller, DEPOT_UNLOCKED);
	/* depot_lock, for a fixed size: the take counted in its window */
	if (KMEM_UNLIKELY(!kmem_lock_try_acquire(&c->lock)))
		return alloc_general(c, req, caller, DEPOT_CONTENDED);
	if (KMEM_UNLIKELY(++c->depot_takes >= KMEM_MAG_CONTENTION_WINDOW))
		c->contended = c->depot_takes = 0;
	if (KMEM_UNLIKELY(!c->nfull || prev->cap != c->mag_cap))
		return alloc_general(c, req, caller, DEPOT_HELD);
	/* 2. a full magazine from the depot; the empty previous goes there
	 * (what depot_take_full_locked and depot_put_locked would do) */
	if (!c->owner->hits_uncounted) { /* fold_locked */
		c->mag_allocs += ms->allocs;
		c->mag_frees += ms->frees + ms->allocs; /* slot_frees: no rounds loaded */
	}
	m = mag_of_link(kmem_slist_pop(&c->depot_full));
	if (--c->nfull < c->min_full)
		c->min_full = c->nfull;
	kmem_slist_push(&c->depot_empty, &prev->link);
	c->nempty++;
	c->depot_gets++;
	c->depot_puts++;
	c->depot_ops += 2;
	ms->prev = loaded;
	slot_load(ms, m);
	ms->frees = -(uint64_t)m->rounds; /* slot_set_frees(ms, 0) */
	p = *--ms->top; /* mag_pop */
	ms->allocs = 1;
	KMEM_ANNOT_STALE(ms->top, sizeof(void *));
	/* depot_unlock: no junk, no reap (a fixed depot limit) */
	if (KMEM_UNLIKELY(!kmem_lock_release_nowake(&c->lock)))
		return slab_annot_alloc(c, depot_wake(c, p), req);
	return slab_annot_alloc(c, p, req);
}

void kmem_mag_free_slow(struct kmem_cache *c, void *p, const void *caller)
{
	struct kmem_thread *t = kmem_mag_self;
	struct kmem_mag_slot *ms = &t->slot[c->slot];
	struct kmem_mag *loaded = ms->loaded, *prev = ms->prev, *m;

	if (KMEM_UNLIKELY(!c->slot)) { /* no magazines: the slab layer (never the drop-in's classes) */
		(void)kmem_cache_free_from(c, p, caller);
		return;
	}
	if (KMEM_UNLIKELY(t->holder[c->slot].cache != c || loaded == NULL_MAG || ms->top != ms->end)) {
		free_general(c, p, caller, DEPOT_UNLOCKED);
		return;
	}
	loaded->rounds = loaded->cap; /* slot_sync: it is full */
	if (prev->rounds < prev->cap) { /* 1. swap: loaded's cap rounds for prev's */
		ms->frees += loaded->cap - prev->rounds;
		ms->prev = loaded;
		slot_load(ms, prev);
		*ms->top++ = p; /* mag_push */
		SLAB_ANNOT_PUSH(c, p);
		return;
	}
	if (KMEM_UNLIKELY(c->mag_auto || c->depot_auto)) {
		free_general(c, p, caller, DEPOT_UNLOCKED);
		return;
	}
	if (KMEM_UNLIKELY(!kmem_lock_try_acquire(&c->lock))) {
		free_general(c, p, caller, DEPOT_CONTENDED);
		return;
	}
	if (KMEM_UNLIKELY(++c->depot_takes >= KMEM_MAG_CONTENTION_WINDOW))
		c->contended = c->depot_takes = 0;
	if (KMEM_UNLIKELY(!c->nempty || c->nfull >= c->depot_max || prev->cap != c->mag_cap)) {
		free_general(c, p, caller, DEPOT_HELD);
		return;
	}
	/* 2. an empty magazine from the depot; the full previous goes there
	 * (what depot_take_empty_locked and depot_put_locked would do) */
	if (!c->owner->hits_uncounted) { /* fold_locked */
		c->mag_allocs += ms->allocs;
		c->mag_frees += ms->frees + ms->allocs + loaded->cap; /* slot_frees */
	}
	ms->allocs = 0;
	m = mag_of_link(kmem_slist_pop(&c->depot_empty));
	if (--c->nempty < c->min_empty)
		c->min_empty = c->nempty;
	kmem_slist_push(&c->depot_full, &prev->link);
	c->nfull++;
	c->depot_gets++;
	c->depot_puts++;
	c->depot_ops += 2;
	ms->prev = loaded;
	slot_load(ms, m);
	ms->frees = 0; /* slot_set_frees(ms, 0): no rounds loaded */
	*ms->top++ = p; /* mag_push */
	SLAB_ANNOT_PUSH(c, p);
	/* depot_unlock: no junk, no reap (a fixed depot limit) */
	if (KMEM_UNLIKELY(!kmem_lock_release_nowake(&c->lock)))
		depot_wake_free(c);
}

/* ---- shrink, thread exit, destroy ------------------------------------------- */

/* Flush a magazine to the slabs and free it; no lock held. Returns
 * frames released. */
static size_t mag_release(struct kmem_cache *c, struct kmem_mag *m)
{
	size_t frames = mag_flush(c, m, flush_why);

	mag_free(c, m);
	return frames;
}

/* mag_release every magazine of a private batch, top first; no lock held. */
static size_t mag_list_release(struct kmem_cache *c, struct kmem_slist *list)
{
	struct kmem_slist_node *n;
	size_t frames = 0;

	while ((n = kmem_slist_pop(list)) != NULL)
		frames += mag_release(c, mag_of_link(n));
	return frames;
}

/* kmem_mag_shrink; periodic: the slow paths' working-set reap
 * (KMEM_DEPOT_AUTO), which runs only if no other thread ran it since the
 * interval filled. */
static size_t mag_reap(struct kmem_cache *c, bool all, bool periodic)
{
	struct kmem_thread *t = kmem_mag_self;
	struct kmem_slist list = KMEM_SLIST_INIT;
	struct kmem_mag *m;
	unsigned nf, ne;

	kmem_lock_acquire(&c->lock);
	if (periodic) {
		if (c->depot_ops < KMEM_DEPOT_REAP_OPS) {
			kmem_lock_release(&c->lock); /* another thread reaped */
			return 0;
		}
		c->depot_reaps++;
	}
	if (all && t != &null_thread && t->holder[c->slot].cache == c) {
		struct kmem_mag_slot *ms = &t->slot[c->slot];
		uint64_t f = slot_frees(ms);

		fold_locked(c, ms, &f);
		slot_sync(ms);
		if (ms->loaded != NULL_MAG)
			kmem_slist_push(&list, &ms->loaded->link);
		if (ms->prev != NULL_MAG)
			kmem_slist_push(&list, &ms->prev->link);
		slot_load(ms, NULL_MAG);
		ms->prev = NULL_MAG;
		slot_set_frees(ms, f);
	}
	nf = all ? c->nfull : c->min_full;
	ne = all ? c->nempty : c->min_empty;
	while (nf-- && (m = depot_take_full_locked(c)) != NULL)
		kmem_slist_push(&list, &m->link);
	while (ne-- && (m = depot_take_empty_locked(c)) != NULL)
		kmem_slist_push(&list, &m->link);
	c->min_full = c->nfull; /* a new working-set interval */
	c->min_empty = c->nempty;
	c->depot_ops = 0;
	kmem_lock_release(&c->lock);
	return mag_list_release(c, &list);
}

size_t kmem_mag_shrink(struct kmem_cache *c, bool all)
{
	return mag_reap(c, all, false);
}

/* Registry lock held: holder h's magazines go to c's depot as if its
 * thread had exited; partly filled ones, or those over the depot limit, are
 * flushed to the slabs (still under the registry lock, so c cannot be
 * destroyed meanwhile). */
static void holder_return_locked(struct kmem_mag_holder *h, struct kmem_cache *c)
{
	struct kmem_mag *a, *b, *fa, *fb;
	uint64_t al, fr;

	KMEM_ASSERT(kmem_mag_registry_held() && "holders need the registry lock");
	holder_detach_locked(h, &a, &b, &al, &fr);
	kmem_lock_acquire(&c->lock);
	if (!c->owner->hits_uncounted) {
		c->mag_allocs += al;
		c->mag_frees += fr;
	}
	fa = depot_put_locked(c, a);
	fb = depot_put_locked(c, b);
	kmem_lock_release(&c->lock);
	if (fa)
		(void)mag_release(c, fa);
	if (fb)
		(void)mag_release(c, fb);
}

/* The slab area's exit hook (thread exit, or kmem_tctx_release): the
 * thread's magazines go back to their depots. From here on the thread uses
 * the slab layer directly (a later destructor may still allocate or free;
 * the per-thread context makes no new area for an exiting thread). The
 * context frees the block afterwards. */
static void thread_exit(void *area)
{
	struct kmem_thread *t = area;

	kmem_mag_self = (struct kmem_thread *)(uintptr_t)&null_thread;
	kmem_mag_registry_lock();
	for (unsigned i = 1; i < KMEM_MAG_SLOTS; i++) {
		struct kmem_mag_holder *h = &t->holder[i];
		struct kmem_cache *c = h->cache;

		if (c)
			holder_return_locked(h, c);
	}
	kmem_mag_registry_unlock();
}

#endif /* KMEM_MAGAZINES */

/* ---- fork ------------------------------------------------------------------- */

/* Lock order as documented: instance lock, registry lock, cache locks
 * (magazine and descriptor caches last). */
void kmem_slab_fork_prepare(struct kmem_slab *s)
{
	struct kmem_cache *c;

	kmem_lock_acquire(&s->lock);
#if KMEM_MAGAZINES
	kmem_tctx_fork_lock(KMEM_TCTX_SLAB); /* the registry; nests across instances */
#endif
	SLAB_FOR_EACH_CACHE(c, s)
		kmem_lock_acquire(&c->lock);
	kmem_lock_acquire(&s->cache_cache.lock);
#if KMEM_MAGAZINES
	kmem_lock_acquire(&s->mag_cache.lock);
#endif
}

static void fork_unlock_caches(struct kmem_slab *s)
{
	struct kmem_cache *c;

#if KMEM_MAGAZINES
	kmem_lock_release(&s->mag_cache.lock);
#endif
	kmem_lock_release(&s->cache_cache.lock);
	SLAB_FOR_EACH_CACHE(c, s)
		kmem_lock_release(&c->lock);
}

void kmem_slab_fork_parent(struct kmem_slab *s)
{
	fork_unlock_caches(s);
#if KMEM_MAGAZINES
	kmem_tctx_fork_unlock(KMEM_TCTX_SLAB);
#endif
	kmem_lock_release(&s->lock);
}

#if KMEM_MAGAZINES
/* Child: the magazines of threads that did not come along go to the depots
 * (or back to the slabs), as if those threads had exited. Their thread
 * blocks stay mapped (other instances' caches may still name them).
 * Without threads every holder is the calling thread's: nothing to do. */
static void fork_adopt_locked(struct kmem_cache *c)
{
	struct kmem_list_node *n, *next;

	KMEM_ASSERT(kmem_mag_registry_held() && "holders need the registry lock");
	KMEM_LIST_FOR_EACH_SAFE(n, next, &c->holders) {
		struct kmem_mag_holder *h = KMEM_LIST_ENTRY(n, struct kmem_mag_holder, link);

		if (h->thread != kmem_mag_self)
			holder_return_locked(h, c);
	}
}

void kmem_slab_fork_child(struct kmem_slab *s)
{
	struct kmem_cache *c;

	fork_unlock_caches(s);
	SLAB_FOR_EACH_CACHE(c, s)
		if (c->slot)
			fork_adopt_locked(c);
	kmem_tctx_fork_unlock(KMEM_TCTX_SLAB);
	kmem_lock_release(&s->lock);
}

void kmem_mag_cache_fini(struct kmem_cache *c)
{
	struct kmem_slist list = KMEM_SLIST_INIT;

	if (!c->slot)
		return;
	kmem_mag_registry_lock();
	while (!kmem_list_empty(&c->holders)) {
		struct kmem_mag *a, *b;
		uint64_t al, fr;

		holder_detach_locked(KMEM_LIST_ENTRY(kmem_list_first(&c->holders), struct kmem_mag_holder, link),
				     &a, &b, &al, &fr);
		if (!c->owner->hits_uncounted) {
			c->mag_allocs += al;
			c->mag_frees += fr;
		}
		if (a != NULL_MAG)
			kmem_slist_push(&list, &a->link);
		if (b != NULL_MAG)
			kmem_slist_push(&list, &b->link);
	}
	kmem_tctx_slot_put_locked(&slab_tctx, c->slot);
	kmem_mag_registry_unlock();
	(void)mag_list_release(c, &list);
	(void)kmem_mag_shrink(c, true); /* the depot; no thread holds c's slot any more */
	c->slot = 0;
	c->slot_off = 0;
}

/* ---- queries ----------------------------------------------------------------- */

static bool mag_has(const struct kmem_mag *m, const void *p)
{
	for (size_t i = 0; i < m->rounds; i++) {
		KMEM_STEP(SLAB_STEP_MAGSCAN);
		if (m->obj[i] == p)
			return true;
	}
	return false;
}

bool kmem_mag_holds_locked(struct kmem_cache *c, const void *p)
{
	struct kmem_thread *t = kmem_mag_self;
	const struct kmem_mag *m;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the depot needs the cache lock");
	if (t->holder[c->slot].cache == c) {
		slot_sync(&t->slot[c->slot]);
		if (mag_has(t->slot[c->slot].loaded, p) || mag_has(t->slot[c->slot].prev, p))
			return true;
	}
	KMEM_LIST_FOR_EACH_ENTRY(m, &c->depot_full, const struct kmem_mag, link)
		if (mag_has(m, p))
			return true;
	return false;
}

size_t kmem_mag_depot_objs_locked(const struct kmem_cache *c)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the depot needs the cache lock");
	return (size_t)c->nfull * c->mag_cap;
}

bool kmem_mag_walk_locked(struct kmem_cache *c,
			  bool (*fn)(struct kmem_cache *c, struct kmem_mag *m, void *arg), void *arg)
{
	struct kmem_mag *m;
	struct kmem_mag_holder *h;

	KMEM_ASSERT(kmem_mag_registry_held() && kmem_lock_held(&c->lock) &&
		    "the walk needs the registry and cache locks");
	KMEM_LIST_FOR_EACH_ENTRY(m, &c->depot_full, struct kmem_mag, link)
		if (!fn(c, m, arg))
			return false;
	KMEM_LIST_FOR_EACH_ENTRY(m, &c->depot_empty, struct kmem_mag, link)
		if (!fn(c, m, arg))
			return false;
	KMEM_LIST_FOR_EACH_ENTRY(h, &c->holders, struct kmem_mag_holder, link) {
		struct kmem_mag_slot *ms = &h->thread->slot[c->slot];

		slot_sync(ms);
		if ((ms->loaded != NULL_MAG && !fn(c, ms->loaded, arg)) ||
		    (ms->prev != NULL_MAG && !fn(c, ms->prev, arg)))
			return false;
	}
	return true;
}
#else /* !KMEM_MAGAZINES */
void kmem_slab_fork_child(struct kmem_slab *s)
{
	fork_unlock_caches(s);
	kmem_lock_release(&s->lock);
}
#endif /* KMEM_MAGAZINES */
