/* pagecache.c - the page cache: pages named by (owner, page number) in
 * frames of the frame service, replaced by each owner's replace/ policy.
 *
 * Algorithm (a textbook demand-paging pager, Silberschatz ch. 9, with
 * Linux's page-cache accounting):
 *   1. Look-up: hash (owner id, pgno) to a descriptor slot. Resident: a hit
 *      (pin, kmem_rp_reference). In the owner's pool: a minor fault (back
 *      into the policy with kmem_rp_insert, no I/O).
 *   2. Fault: a frame. Unless the owner is at a limit (max_pages, its
 *      client's max_frames, the deactivated limit pinned + 1) a free slot
 *      and a new block from the frame service (KMEM_PAGE_NOWAIT: a cache
 *      replaces rather than pushing the system into reclaim). Otherwise,
 *      or when that fails, replacement: the victim owner is the faulting
 *      owner (local scope; global scope while it holds at least its share;
 *      or whenever it is at a limit), else the owner furthest above its
 *      frame-service share; its pool is refilled with its policy's victims
 *      up to pool_pages + 1 (a pinned victim is parked, taken out of the
 *      policy, and the policy asked again), and the pool's oldest page is
 *      reused: written back first if dirty (a failure puts it back into
 *      the policy, dirty, and the next one is tried), forgotten, and its
 *      frame moved to the faulting owner's client when the victim owner is
 *      another. Then read() fills it (major, the lock dropped: a get of
 *      the page waits for the read) or it is zeroed.
 *   3. Unpin: the last unpin of a parked page puts it back into the policy.
 *   4. Shrinker scan (try-lock): clean pool pages, then policy victims of
 *      every owner (clean ones freed at once, dirty ones to the pool), then
 *      at direct and OOM pressure the dirty pool pages, written back. The
 *      client release callback does the same for its owner.
 *   5. Windows: every `window` references of an owner its PFF is computed
 *      and its thrashing flag set; the frame service's thrash counter is
 *      read, and a new event runs the response (pagecache.h); deactivated
 *      owners come back when no active owner thrashes.
 * Bound: hit O(1) expected plus the policy's reference; fault O(pool_pages
 * + pinned pages parked) plus the policy's victims and the callbacks;
 * global victim choice O(owners * clients); shrink, truncate and the
 * working set O(pages).
 *
 * Data structures and invariants C1..C7: pc_internal.h.
 *
 * Locking: pc->lock around every call; then the frame service's locks
 * (kmem_pa_client_alloc/free under pc->lock). Callbacks from the frame
 * service's reclaim (shrinker count/scan, client release) try-lock and
 * skip a busy cache; the thrash hook (no frame-service lock held) waits.
 * Misuse is reported after the lock is dropped. A major fault drops
 * pc->lock around read(), and a fault that reuses a dirty page's frame
 * around its write() (the page parked and marked io; waiters sleep on
 * io_cond under io_mutex, taken after pc->lock: io_wait_locked); sync,
 * shrinking, limits and destroy write back holding it.
 *
 * Tunables (struct kmem_pc_config): pages, page_order, extra, pool_pages
 * (0), window (1024), pff_high (500 per mille), the policy (clock).
 */
#include "pc_internal.h"

#define PC_DEFAULT_WINDOW 1024u
#define PC_DEFAULT_PFF_HIGH 500u
#define PC_TRIES 8	/* replacement rounds per fault (write-back failures, transfers) */

static size_t pc_round(size_t n)
{
	return (n + PC_ALIGN - 1) & ~(size_t)(PC_ALIGN - 1);
}

static uint32_t pc_pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* The default policy, clock, found by name: taking the address of the
 * exported table would make this object reference the GOT, which a
 * freestanding libkmem.a must not need (tests/check_freestanding.sh). */
static const struct kmem_rp_ops *pc_policy(const struct kmem_pc_config *cfg)
{
	return cfg->policy ? cfg->policy : kmem_rp_by_name("clock");
}

static void pc_rp_cfg(const struct kmem_pc_config *cfg, struct kmem_rp_config *rc)
{
	if (cfg->policy_cfg)
		*rc = *cfg->policy_cfg;
	else
		memset(rc, 0, sizeof(*rc));
	rc->frames = cfg->pages;
	rc->name = NULL;
	rc->sink = NULL;
}

void kmem_pc_config_init(struct kmem_pc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

size_t kmem_pc_sizeof(const struct kmem_pc_config *cfg)
{
	struct kmem_rp_config rc;
	uint32_t nb;

	if (!cfg || !cfg->pages || cfg->pages > KMEM_PC_MAX_PAGES)
		return 0;
	pc_rp_cfg(cfg, &rc);
	if (!kmem_rp_sizeof(pc_policy(cfg), &rc))
		return 0;
	nb = pc_pow2_at_least(cfg->pages < 2 ? 2 : cfg->pages);
	return pc_round(sizeof(struct kmem_pc)) +
	       (size_t)cfg->pages * pc_round(PC_EXTRA_OFF + cfg->extra) +
	       pc_round((size_t)nb * sizeof(uint32_t)) + (size_t)nb * sizeof(uint64_t);
}

/* ---- misuse ----------------------------------------------------------------- */

static KMEM_NOINLINE void pc_misuse(struct kmem_pc *pc, enum kmem_status st, const void *ptr,
				    const void *caller, const char *what)
{
	kmem_report(pc->sink, "pagecache", pc->name, st, ptr, -1, caller, what);
}

/* ---- lists and the hash --------------------------------------------------- */

static void pool_push_tail(struct kmem_pc *pc, struct pc_list *l, uint32_t i)
{
	struct kmem_pc_page *d = pc_desc(pc, i);

	d->prev = l->tail;
	d->next = PC_NIL;
	if (l->tail != PC_NIL)
		pc_desc(pc, l->tail)->next = i;
	else
		l->head = i;
	l->tail = i;
	l->len++;
}

static void pool_unlink(struct kmem_pc *pc, struct pc_list *l, uint32_t i)
{
	struct kmem_pc_page *d = pc_desc(pc, i);

	if (d->prev != PC_NIL)
		pc_desc(pc, d->prev)->next = d->next;
	else
		l->head = d->next;
	if (d->next != PC_NIL)
		pc_desc(pc, d->next)->prev = d->prev;
	else
		l->tail = d->prev;
	d->prev = d->next = PC_NIL;
	l->len--;
}

static inline uint32_t *bucket_of(struct kmem_pc *pc, const struct kmem_pc_owner *o, uint64_t pgno)
{
	return &pc->bucket[pc_bucket(pc, o->hsalt, pgno)];
}

static inline uint32_t hash_find(struct kmem_pc *pc, const struct kmem_pc_owner *o, uint64_t pgno)
{
	uint32_t i = *bucket_of(pc, o, pgno);

	while (i != PC_NIL) {
		const struct kmem_pc_page *d = pc_desc(pc, i);

		if (d->pgno == pgno && d->owner == o)
			return i;
		i = d->hnext;
	}
	return PC_NIL;
}

static void hash_insert(struct kmem_pc *pc, uint32_t i)
{
	struct kmem_pc_page *d = pc_desc(pc, i);
	uint32_t *b = bucket_of(pc, d->owner, d->pgno);

	d->hnext = *b;
	*b = i;
}

static void hash_remove(struct kmem_pc *pc, uint32_t i)
{
	struct kmem_pc_page *d = pc_desc(pc, i);
	uint32_t *p = bucket_of(pc, d->owner, d->pgno);

	while (*p != i) {
		KMEM_ASSERT(*p != PC_NIL && "C2: a hashed page is on its bucket's chain");
		p = &pc_desc(pc, *p)->hnext;
	}
	*p = d->hnext;
	d->hnext = PC_NIL;
}

/* ---- shadow entries (workingset_refault) ---------------------------------- */

static void shadow_record(struct kmem_pc *pc, const struct kmem_pc_page *d)
{
	uint64_t h = pc_key_hash(d->owner->id, d->pgno);

	pc->shadow[h & pc->smask] = h | 1;
}

static bool shadow_test(struct kmem_pc *pc, uint32_t id, uint64_t pgno)
{
	uint64_t h = pc_key_hash(id, pgno);
	uint64_t *s = &pc->shadow[h & pc->smask];

	if (*s != (h | 1))
		return false;
	*s = 0;
	return true;
}

/* ---- frames --------------------------------------------------------------- */

static inline size_t pc_frames(const struct kmem_pc *pc)
{
	return (size_t)1 << pc->order;
}

/* Forget page i: out of the hash, the pool or the policy; its frame goes
 * back to the frame service (uncharged from its owner); the slot is free. */
static void page_free_locked(struct kmem_pc *pc, uint32_t i)
{
	struct kmem_pc_page *d = pc_desc(pc, i);
	struct kmem_pc_owner *o = d->owner;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "page_free_locked needs the cache lock");
	hash_remove(pc, i);
	if (d->state == PC_POOL) {
		pool_unlink(pc, &o->pool, i);
	} else {
		if (d->state == PC_RESIDENT)
			(void)kmem_rp_remove(o->rp, i, 0);
		o->resident--;
	}
	if (d->pins)
		o->pinned--;
	if (d->dirty)
		o->ndirty--;
	kmem_pa_client_free(o->client, d->data, pc->order);
	memset(d, 0, sizeof(*d));
	d->state = PC_FREE;
	d->hnext = d->prev = PC_NIL;
	d->next = pc->free_head;
	pc->free_head = i;
	pc->nfree++;
}

static int io_wait_locked(struct kmem_pc *pc, const struct kmem_pc_page *d);
static void io_wake(struct kmem_pc *pc);

static int writeback_locked(struct kmem_pc *pc, uint32_t i)
{
	struct kmem_pc_page *d = pc_desc(pc, i);
	struct kmem_pc_owner *o = d->owner;
	int rc;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "writeback_locked needs the cache lock");
	rc = o->write(o->arg, d->pgno, d->data, pc->page_size);
	if (rc) {
		o->wb_errors++;
		return rc < 0 ? rc : -EIO;
	}
	d->dirty = 0;
	o->ndirty--;
	o->pgpgout++;
	if (d->state == PC_RESIDENT)
		(void)kmem_rp_clean(o->rp, i);
	return 0;
}

/* Move the policy's victim of o into o's pool (parking pinned victims).
 * Returns its slot, or PC_NIL when o has no unpinned page in its policy. */
static uint32_t evict_to_pool_locked(struct kmem_pc *pc, struct kmem_pc_owner *o, uint64_t incoming)
{
	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "evict_to_pool_locked needs the cache lock");
	while (o->resident > o->pinned) {
		uint32_t f = kmem_rp_victim(o->rp, incoming);
		struct kmem_pc_page *d;

		if (f == KMEM_RP_NONE)
			return PC_NIL;
		d = pc_desc(pc, f);
		if (d->pins) {
			/* never evict a pinned page: park it out of the policy */
			(void)kmem_rp_remove(o->rp, f, 0);
			d->state = PC_PARKED;
			continue;
		}
		(void)kmem_rp_remove(o->rp, f, KMEM_RP_EVICT);
		d->state = PC_POOL;
		pool_push_tail(pc, &o->pool, f);
		o->resident--;
		o->evictions++;
		shadow_record(pc, d);
		return f;
	}
	return PC_NIL;
}

/* Put pool page i back into its owner's policy (a failed write-back). */
static void pool_restore_locked(struct kmem_pc *pc, uint32_t i)
{
	struct kmem_pc_page *d = pc_desc(pc, i);
	struct kmem_pc_owner *o = d->owner;

	pool_unlink(pc, &o->pool, i);
	d->state = PC_RESIDENT;
	o->resident++;
	(void)kmem_rp_insert(o->rp, i, d->pgno, d->dirty ? KMEM_RP_WRITE : KMEM_RP_READ);
}

/* Dirty pool page i, about to be reused: write it back with the cache lock
 * dropped (decision 43), so other threads' hits and faults go on during a
 * slow write. The page leaves the pool and is parked, marked io (a get of
 * it waits; nothing else finds it: it is in no pool and no policy), counted
 * resident meanwhile. Returns 0 with the page clean and still parked (the
 * caller reuses it), or the write's error with the page back in its
 * owner's policy, dirty (pool_restore_locked's outcome). The lock is held
 * again on return; *dropped is set. */
static int writeback_pool_dropped(struct kmem_pc *pc, uint32_t i, bool *dropped)
{
	struct kmem_pc_page *d = pc_desc(pc, i);
	struct kmem_pc_owner *o = d->owner;
	bool wake;
	int rc;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "writeback_pool_dropped needs the cache lock");
	pool_unlink(pc, &o->pool, i);
	d->state = PC_PARKED;
	o->resident++;
	d->io = 1;
	d->last_ref = (uint64_t)kmem_self_id();
	*dropped = true;
	kmem_lock_release(&pc->lock);
	rc = o->write(o->arg, d->pgno, d->data, pc->page_size);
	kmem_lock_acquire(&pc->lock);
	d->io = 0;
	wake = pc->io_waiters != 0;
	pc->io_waiters = 0;
	if (rc) {
		o->wb_errors++;
		d->state = PC_RESIDENT;
		(void)kmem_rp_insert(o->rp, i, d->pgno, KMEM_RP_WRITE);
		rc = rc < 0 ? rc : -EIO;
	} else {
		d->dirty = 0;
		o->ndirty--;
		o->pgpgout++;
	}
	if (wake)
		io_wake(pc); /* under the lock: the order is pc->lock, then io_mutex */
	return rc;
}

/* Take v's oldest pool page for reuse (refilling the pool from v's policy
 * first): written back if dirty (the lock dropped meanwhile: *dropped),
 * out of the hash and the pool. The slot keeps its data (still charged to
 * v) and is otherwise blank. Returns the slot, or PC_NIL with *rc set
 * (-ENOMEM: nothing to evict, or easy and dirty; -EIO: write-backs
 * failed). */
static uint32_t reuse_locked(struct kmem_pc *pc, struct kmem_pc_owner *v, uint64_t incoming,
			     bool easy, int *rc, bool *dropped)
{
	unsigned tries = 0;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "reuse_locked needs the cache lock");
	*rc = -ENOMEM;
	while (tries++ < PC_TRIES) {
		uint32_t i;
		struct kmem_pc_page *d;

		while (v->pool.len <= pc->pool_pages)
			if (evict_to_pool_locked(pc, v, incoming) == PC_NIL)
				break;
		i = v->pool.head;
		if (i == PC_NIL)
			return PC_NIL;
		d = pc_desc(pc, i);
		if (d->dirty) {
			if (easy) {
				*rc = -ENOMEM;
				return PC_NIL;
			}
			if (writeback_pool_dropped(pc, i, dropped)) {
				*rc = -EIO;	/* back in the policy, dirty */
				continue;
			}
			hash_remove(pc, i);
			v->resident--;	/* parked while it was written */
		} else {
			hash_remove(pc, i);
			pool_unlink(pc, &v->pool, i);
		}
		d->state = PC_FREE;
		d->owner = NULL;
		d->fresh = 0;
		return i;
	}
	return PC_NIL;
}

static inline uint32_t owner_held(const struct kmem_pc_owner *o)
{
	return o->resident + o->pool.len;
}

static bool owner_evictable(const struct kmem_pc_owner *o)
{
	return !(o->flags & KMEM_PC_NOEVICT) && (o->pool.len || o->resident > o->pinned);
}

static size_t owner_share_pages(struct kmem_pc *pc, struct kmem_pc_owner *o)
{
	struct kmem_pa_client_stats st;

	kmem_pa_client_get_stats(o->client, &st);
	return st.share >> pc->order;
}

/* At a hard limit: the next page must come from the owner's own (the
 * deactivated limit, or its client's max_frames: the client holds exactly
 * held << order frames, C6). */
static bool owner_at_hard_limit(const struct kmem_pc *pc, const struct kmem_pc_owner *o)
{
	uint32_t held = owner_held(o);

	if (o->deactivated && held >= o->pinned + 1)
		return true;
	return o->max_frames && ((size_t)held + 1) << pc->order > o->max_frames;
}

/* At max_pages, a soft limit: replace within the owner, but a fault that
 * finds every page of the owner pinned goes past it (unless easy). */
static bool owner_at_soft_limit(const struct kmem_pc_owner *o)
{
	return o->max_pages && owner_held(o) >= o->max_pages;
}

/* A new block from the frame service and a free slot, or PC_NIL. */
static uint32_t fresh_locked(struct kmem_pc *pc, struct kmem_pc_owner *o)
{
	struct kmem_pc_page *d;
	void *data;
	uint32_t i;

	if (!pc->nfree)
		return PC_NIL;
	data = kmem_pa_client_alloc(o->client, pc->order, KMEM_PAGE_ZERO | KMEM_PAGE_NOWAIT);
	if (!data)
		return PC_NIL;
	i = pc->free_head;
	d = pc_desc(pc, i);
	pc->free_head = d->next;
	pc->nfree--;
	d->next = PC_NIL;
	d->data = data;
	d->fresh = 1;
	return i;
}

/* The owner to take a victim from for o (see the top of the file). */
static struct kmem_pc_owner *victim_owner_locked(struct kmem_pc *pc, struct kmem_pc_owner *o,
						 bool local)
{
	struct kmem_pc_owner *best = NULL;
	long best_excess = 0;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "victim_owner_locked needs the cache lock");
	if (owner_evictable(o) &&
	    (local || o->scope == KMEM_PC_LOCAL || owner_held(o) >= owner_share_pages(pc, o)))
		return o;
	if (local)
		return NULL;
	for (struct kmem_pc_owner *c = pc->owners; c; c = c->next) {
		long ex;

		if (c == o || !owner_evictable(c))
			continue;
		ex = (long)owner_held(c) - (long)owner_share_pages(pc, c);
		if (!best || ex > best_excess) {
			best = c;
			best_excess = ex;
		}
	}
	if (!best && owner_evictable(o))
		best = o;
	return best;
}

/* A slot with a frame charged to o, or PC_NIL with *rc. *dropped is set
 * when the lock was dropped meanwhile (a write-back): the caller's look-up
 * may be stale. */
static uint32_t frame_for_locked(struct kmem_pc *pc, struct kmem_pc_owner *o, uint64_t pgno,
				 unsigned flags, int *rc, bool *dropped)
{
	bool easy = (flags & KMEM_PC_EASY) != 0;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "frame_for_locked needs the cache lock");
	*rc = -ENOMEM;
	for (unsigned tries = 0; tries < PC_TRIES; tries++) {
		bool hard = owner_at_hard_limit(pc, o), soft = owner_at_soft_limit(o);
		struct kmem_pc_owner *v;
		struct kmem_pc_page *d;
		uint32_t i;

		if (!hard && !soft && (i = fresh_locked(pc, o)) != PC_NIL)
			return i;
		v = victim_owner_locked(pc, o, hard || soft);
		if (!v && soft && !hard && !easy) {
			/* every page of the owner is pinned: past max_pages */
			if ((i = fresh_locked(pc, o)) != PC_NIL)
				return i;
			v = victim_owner_locked(pc, o, false);
		}
		if (!v)
			return PC_NIL;
		i = reuse_locked(pc, v, pgno, easy, rc, dropped);
		if (i == PC_NIL) {
			if (*rc == -EIO)
				continue;
			return PC_NIL;
		}
		d = pc_desc(pc, i);
		if (v != o) {
			/* move the frame's charge from v's client to o's */
			kmem_pa_client_free(v->client, d->data, pc->order);
			d->data = kmem_pa_client_alloc(o->client, pc->order, KMEM_PAGE_NOWAIT);
			if (!d->data) {
				d->next = pc->free_head;
				pc->free_head = i;
				pc->nfree++;
				continue;
			}
		}
		return i;
	}
	return PC_NIL;
}

/* ---- windows: PFF, thrashing, the response ---------------------------------- */

static uint64_t pc_refs_locked(struct kmem_pc *pc)
{
	uint64_t t = 0;

	for (const struct kmem_pc_owner *o = pc->owners; o; o = o->next)
		t += o->refs;
	return t;
}

/* Write back (if dirty) and free every unpinned page of o; pages whose
 * write-back fails stay. Returns pages freed. */
static uint32_t owner_evict_all_locked(struct kmem_pc *pc, struct kmem_pc_owner *o, uint32_t want,
				       bool dirty_too)
{
	uint32_t got = 0;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "owner_evict_all_locked needs the cache lock");
	if (o->flags & KMEM_PC_NOEVICT)
		return 0;
	/* clean pool pages first */
	for (uint32_t i = o->pool.head, n; i != PC_NIL && got < want; i = n) {
		n = pc_desc(pc, i)->next;
		if (!pc_desc(pc, i)->dirty) {
			page_free_locked(pc, i);
			got++;
		}
	}
	/* then policy victims: clean ones freed, dirty ones to the pool */
	for (uint32_t budget = o->resident; budget && got < want; budget--) {
		uint32_t i = evict_to_pool_locked(pc, o, UINT64_MAX);

		if (i == PC_NIL)
			break;
		if (!pc_desc(pc, i)->dirty) {
			page_free_locked(pc, i);
			got++;
		}
	}
	if (!dirty_too)
		return got;
	for (uint32_t i = o->pool.head, n; i != PC_NIL && got < want; i = n) {
		n = pc_desc(pc, i)->next;
		if (pc_desc(pc, i)->dirty && writeback_locked(pc, i) != 0) {
			pool_restore_locked(pc, i);	/* kept, dirty */
			continue;
		}
		page_free_locked(pc, i);
		got++;
	}
	return got;
}

static struct kmem_pc_owner *respond_pick_locked(struct kmem_pc *pc)
{
	struct kmem_pc_owner *best = NULL;
	unsigned active = 0;
	bool best_thr = false;

	for (struct kmem_pc_owner *o = pc->owners; o; o = o->next) {
		bool better;

		if (o->deactivated || (o->flags & KMEM_PC_NOEVICT))
			continue;
		active++;
		if (!best)
			better = true;
		else if (o->thrashing != best_thr)
			better = o->thrashing;
		else if (o->priority != best->priority)
			better = o->priority < best->priority;
		else
			better = owner_held(o) > owner_held(best);
		if (better) {
			best = o;
			best_thr = o->thrashing;
		}
	}
	return active >= 2 ? best : NULL;
}

static int respond_locked(struct kmem_pc *pc)
{
	struct kmem_pc_owner *o = respond_pick_locked(pc);

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "respond_locked needs the cache lock");
	if (!o)
		return 0;
	o->deactivated = true;
	o->deact_at = pc_refs_locked(pc);
	o->deactivations++;
	pc->responses++;
	(void)owner_evict_all_locked(pc, o, UINT32_MAX, true);
	return 1;
}

static KMEM_NOINLINE void window_end_locked(struct kmem_pc *pc, struct kmem_pc_owner *o)
{
	struct kmem_pa_stats ps;
	bool any_thrash = false;
	uint64_t now;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "window_end_locked needs the cache lock");
	o->pff = (unsigned)(o->win_faults * 1000 / (o->refs - o->win_start));
	o->thrashing = o->pff >= pc->pff_high && o->win_faults && o->win_refaults * 2 >= o->win_faults;
	if (o->thrashing)
		o->thrash_windows++;
	o->win_start = o->refs;
	o->win_end = o->refs + pc->window;
	o->win_faults = o->win_refaults = 0;
	/* the frame service's refault machinery: a new thrashing event */
	kmem_pa_get_stats(pc->pa, &ps);
	if (ps.thrash_events != pc->pa_thrash_seen) {
		pc->pa_thrash_seen = ps.thrash_events;
		(void)respond_locked(pc);
		return;
	}
	now = pc_refs_locked(pc);
	for (const struct kmem_pc_owner *c = pc->owners; c; c = c->next)
		any_thrash |= !c->deactivated && c->thrashing;
	if (any_thrash)
		return;
	for (struct kmem_pc_owner *c = pc->owners, *best = NULL;; c = c->next) {
		if (!c) {
			if (best)
				best->deactivated = false;
			break;
		}
		if (c->deactivated && now - c->deact_at >= 2 * (uint64_t)pc->window &&
		    (!best || c->priority > best->priority))
			best = c;
	}
}

/* ---- the shrinker and client release --------------------------------------- */

static size_t pc_count(void *arg)
{
	struct kmem_pc *pc = arg;
	size_t n = 0;

	if (!kmem_lock_try_acquire(&pc->lock))
		return 0;
	for (const struct kmem_pc_owner *o = pc->owners; o; o = o->next)
		if (!(o->flags & KMEM_PC_NOEVICT))
			n += o->pool.len + (o->resident - o->pinned);
	kmem_lock_release(&pc->lock);
	return n << pc->order;
}

static size_t pc_scan(void *arg, const struct kmem_shrink_request *req)
{
	struct kmem_pc *pc = arg;
	uint32_t want = (uint32_t)((req->frames + pc_frames(pc) - 1) >> pc->order), got = 0;
	bool dirty = req->level != KMEM_PRESSURE_BACKGROUND;

	if (!want)
		want = 1;
	if (!kmem_lock_try_acquire(&pc->lock))
		return 0;
	pc->shrink_calls++;
	/* clean pages of every owner first, dirty ones only under pressure */
	for (struct kmem_pc_owner *o = pc->owners; o && got < want; o = o->next)
		got += owner_evict_all_locked(pc, o, want - got, false);
	for (struct kmem_pc_owner *o = pc->owners; dirty && o && got < want; o = o->next)
		got += owner_evict_all_locked(pc, o, want - got, true);
	pc->shrink_frames += (uint64_t)got << pc->order;
	kmem_lock_release(&pc->lock);
	return (size_t)got << pc->order;
}

static size_t pc_client_release(void *arg, const struct kmem_shrink_request *req)
{
	struct kmem_pc_owner *o = arg;
	struct kmem_pc *pc = o->pc;
	uint32_t want = (uint32_t)((req->frames + pc_frames(pc) - 1) >> pc->order), got;

	if (!want)
		want = 1;
	if (!kmem_lock_try_acquire(&pc->lock))
		return 0;
	got = owner_evict_all_locked(pc, o, want, false);
	if (got < want && req->level != KMEM_PRESSURE_BACKGROUND)
		got += owner_evict_all_locked(pc, o, want - got, true);
	kmem_lock_release(&pc->lock);
	return (size_t)got << pc->order;
}

/* ---- the cache ---------------------------------------------------------------- */

int kmem_pc_init(void *mem, size_t mem_size, const struct kmem_pc_config *cfg, struct kmem_pc **out)
{
	size_t need = kmem_pc_sizeof(cfg), fs;
	struct kmem_pc *pc = mem;
	struct kmem_pa_stats ps;
	unsigned char *p;
	uint32_t nb;
	int rc;

	if (!need || !cfg->pa || !mem || ((uintptr_t)mem & (PC_ALIGN - 1)) || !out)
		return -EINVAL;
	if (cfg->page_order > kmem_buddy_max_order(kmem_pa_buddy(cfg->pa)))
		return -EINVAL;
	if (mem_size < need)
		return -ENOSPC;
	memset(mem, 0, need);
	rc = kmem_lock_init(&pc->lock, true);
	if (rc)
		return rc;
	rc = kmem_mutex_init(&pc->io_mutex);
	if (rc) {
		kmem_lock_destroy(&pc->lock);
		return rc;
	}
	rc = kmem_cond_init(&pc->io_cond);
	if (rc) {
		kmem_mutex_destroy(&pc->io_mutex);
		kmem_lock_destroy(&pc->lock);
		return rc;
	}
	kmem_pa_get_stats(cfg->pa, &ps);
	fs = ps.frame_size;
	pc->pa = cfg->pa;
	pc->pa_thrash_seen = ps.thrash_events;
	pc->policy = pc_policy(cfg);
	pc_rp_cfg(cfg, &pc->rpcfg);
	pc->order = cfg->page_order;
	pc->page_size = fs << cfg->page_order;
	pc->extra = cfg->extra;
	pc->stride = pc_round(PC_EXTRA_OFF + cfg->extra);
	pc->pages = cfg->pages;
	pc->pool_pages = cfg->pool_pages;
	pc->window = cfg->window ? cfg->window : PC_DEFAULT_WINDOW;
	pc->pff_high = cfg->pff_high ? cfg->pff_high : PC_DEFAULT_PFF_HIGH;
	kmem_error_sink_init(&pc->own_sink);
	pc->sink = cfg->sink ? cfg->sink : &pc->own_sink;
	kmem_snprintf(pc->name, sizeof(pc->name), "%s", cfg->name ? cfg->name : "pagecache");
	pc->rp_size = pc_round(kmem_rp_sizeof(pc->policy, &pc->rpcfg));
	nb = pc_pow2_at_least(cfg->pages < 2 ? 2 : cfg->pages);
	pc->bshift = 64 - kmem_ctz32(nb);
	p = (unsigned char *)mem + pc_round(sizeof(*pc));
	pc->desc = p;
	p += (size_t)cfg->pages * pc->stride;
	pc->bucket = (uint32_t *)(void *)p;
	p += pc_round((size_t)nb * sizeof(uint32_t));
	pc->shadow = (uint64_t *)(void *)p;
	pc->bmask = pc->smask = nb - 1;
	for (uint32_t b = 0; b < nb; b++)
		pc->bucket[b] = PC_NIL;
	pc->free_head = PC_NIL;
	for (uint32_t i = cfg->pages; i-- > 0;) {
		struct kmem_pc_page *d = pc_desc(pc, i);

		d->hnext = d->prev = PC_NIL;
		d->next = pc->free_head;
		pc->free_head = i;
	}
	pc->nfree = cfg->pages;
	if (!(cfg->flags & KMEM_PC_NO_SHRINKER)) {
		pc->shrinker.name = pc->name;
		pc->shrinker.count = pc_count;
		pc->shrinker.scan = pc_scan;
		pc->shrinker.arg = pc;
		rc = kmem_pa_register_shrinker(pc->pa, &pc->shrinker);
		if (rc) {
			kmem_cond_destroy(&pc->io_cond);
			kmem_mutex_destroy(&pc->io_mutex);
			kmem_lock_destroy(&pc->lock);
			return rc;
		}
		pc->shrinker_on = true;
	}
	*out = pc;
	return 0;
}

void kmem_pc_destroy(struct kmem_pc *pc)
{
	if (!pc)
		return;
	if (pc->shrinker_on)
		kmem_pa_unregister_shrinker(pc->pa, &pc->shrinker);
	for (const struct kmem_pc_owner *o = pc->owners; o; o = o->next)
		kmem_reportf(pc->sink, "pagecache", pc->name, KMEM_LEAK, o, -1, NULL,
			     "owner %s still holds %" PRIu32 " pages at destroy", o->name, owner_held(o));
	kmem_cond_destroy(&pc->io_cond);
	kmem_mutex_destroy(&pc->io_mutex);
	kmem_lock_destroy(&pc->lock);
}

struct kmem_error_sink *kmem_pc_error_sink(struct kmem_pc *pc)
{
	return pc->sink;
}

/* ---- waiting for a read -------------------------------------------------------- */

/* Page d, being read, was found (pc->lock held): wait until a read ends,
 * with the lock dropped; returns with it released. The caller takes the
 * lock again and looks again (the page may be gone: a failed read frees
 * it). 0, or -EDEADLK when the reader is the calling thread (its read
 * callback asked for the page it is reading: the page's last_ref holds the
 * reader's kmem_self_id() while io is set) or nothing else can end the read
 * (no threads). O(1) plus the wait. */
static int io_wait_locked(struct kmem_pc *pc, const struct kmem_pc_page *d)
{
	int rc;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "io_wait_locked needs the cache lock");
	if (d->last_ref == (uint64_t)kmem_self_id()) {
		kmem_lock_release(&pc->lock);
		return -EDEADLK;
	}
	pc->io_waiters++;
	pc->io_waits++;
	kmem_mutex_lock(&pc->io_mutex); /* before the lock is dropped: no lost wake-up */
	kmem_lock_release(&pc->lock);
	rc = kmem_cond_wait(&pc->io_cond, &pc->io_mutex);
	kmem_mutex_unlock(&pc->io_mutex);
	if (rc == -ENOSYS) {
		kmem_lock_acquire(&pc->lock);
		pc->io_waiters--;
		kmem_lock_release(&pc->lock);
		return -EDEADLK;
	}
	return 0;
}

/* A read ended (pc->lock held, the page's io cleared): the waiters, if
 * any, are woken after the lock is released (io_wake). Returns whether to
 * wake. */
static bool io_done_locked(struct kmem_pc *pc)
{
	bool wake = pc->io_waiters != 0;

	pc->io_waiters = 0; /* every waiter wakes and looks again */
	return wake;
}

static void io_wake(struct kmem_pc *pc)
{
	kmem_mutex_lock(&pc->io_mutex);
	kmem_cond_broadcast(&pc->io_cond);
	kmem_mutex_unlock(&pc->io_mutex);
}

/* ---- owners ---------------------------------------------------------------- */

size_t kmem_pc_owner_sizeof(const struct kmem_pc *pc)
{
	return pc_round(sizeof(struct kmem_pc_owner)) + pc->rp_size;
}

int kmem_pc_owner_create(struct kmem_pc *pc, void *mem, size_t mem_size,
			 const struct kmem_pc_owner_config *cfg, struct kmem_pc_owner **out)
{
	struct kmem_pc_owner *o = mem;
	struct kmem_pa_client_config cc;
	struct kmem_rp_config rc;
	int err;

	if (!pc || !mem || !cfg || !out || ((uintptr_t)mem & (PC_ALIGN - 1)) ||
	    (cfg->scope != KMEM_PC_LOCAL && cfg->scope != KMEM_PC_GLOBAL) ||
	    (cfg->flags & ~KMEM_PC_NOEVICT))
		return -EINVAL;
	if (mem_size < kmem_pc_owner_sizeof(pc))
		return -ENOSPC;
	memset(o, 0, sizeof(*o));
	o->pc = pc;
	kmem_snprintf(o->name, sizeof(o->name), "%s", cfg->name ? cfg->name : "owner");
	rc = pc->rpcfg;
	rc.name = o->name;
	rc.sink = pc->sink;
	err = kmem_rp_init((char *)mem + pc_round(sizeof(*o)), pc->rp_size, pc->policy, &rc, &o->rp);
	if (err)
		return err;
	cc = cfg->client;
	if (!cc.name)
		cc.name = o->name;
	cc.release = pc_client_release;
	cc.arg = o;
	err = kmem_pa_client_register(pc->pa, &cc, &o->client);
	if (err)
		return err;
	o->scope = cfg->scope;
	o->flags = cfg->flags;
	o->priority = cfg->client.priority ? cfg->client.priority : 1;
	o->max_pages = cfg->max_pages;
	o->max_frames = cfg->client.max_frames;
	o->read = cfg->read;
	o->write = cfg->write;
	o->arg = cfg->arg;
	o->pool.head = o->pool.tail = PC_NIL;
	o->win_end = pc->window;
	kmem_lock_acquire(&pc->lock);
	o->id = ++pc->next_id;
	o->hsalt = (uint64_t)o->id << 40;
	o->next = pc->owners;
	pc->owners = o;
	pc->nowners++;
	kmem_lock_release(&pc->lock);
	*out = o;
	return 0;
}

int kmem_pc_owner_destroy(struct kmem_pc_owner *o)
{
	struct kmem_pc *pc;
	uint32_t pinned;
	int rc = 0;

	if (!o)
		return 0;
	pc = o->pc;
	kmem_lock_acquire(&pc->lock);
	/* reads in flight (a race the contract forbids, or a thread still in
	 * a fault): their frames are the readers' until the reads end */
	for (uint32_t i = 0; i < pc->pages; i++) {
		const struct kmem_pc_page *d = pc_desc(pc, i);

		if (d->owner != o || !d->io)
			continue;
		rc = io_wait_locked(pc, d);
		if (rc)
			return rc;	/* from its own read callback: nothing done */
		kmem_lock_acquire(&pc->lock);
		i = UINT32_MAX;	/* look again from the start */
	}
	pinned = o->pinned;
	for (uint32_t i = 0; i < pc->pages; i++) {
		struct kmem_pc_page *d = pc_desc(pc, i);

		if (d->owner != o)
			continue;
		if (d->dirty && writeback_locked(pc, i) != 0)
			rc = -EIO;
		page_free_locked(pc, i);
	}
	pc->gone_refs += o->refs;
	pc->gone_hits += o->hits;
	pc->gone_fault += o->pgfault;
	pc->gone_maj += o->pgmajfault;
	pc->gone_in += o->pgpgin;
	pc->gone_out += o->pgpgout;
	pc->gone_refault += o->refaults;
	for (struct kmem_pc_owner **pp = &pc->owners; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			pc->nowners--;
			break;
		}
	kmem_lock_release(&pc->lock);
	if (pinned)
		kmem_reportf(pc->sink, "pagecache", pc->name, KMEM_LEAK, o, -1,
			     KMEM_RETURN_ADDRESS(), "owner %s destroyed with %" PRIu32 " pinned pages",
			     o->name, pinned);
	kmem_pa_client_unregister(o->client);
	return rc;
}

uint32_t kmem_pc_owner_set_max(struct kmem_pc_owner *o, uint32_t max_pages)
{
	struct kmem_pc *pc = o->pc;
	uint32_t held;

	kmem_lock_acquire(&pc->lock);
	o->max_pages = max_pages;
	held = owner_held(o);
	if (max_pages && held > max_pages) {
		(void)owner_evict_all_locked(pc, o, held - max_pages, false);
		held = owner_held(o);
		if (held > max_pages)
			(void)owner_evict_all_locked(pc, o, held - max_pages, true);
		held = owner_held(o);
	}
	kmem_lock_release(&pc->lock);
	return held;
}

void kmem_pc_owner_activate(struct kmem_pc_owner *o)
{
	kmem_lock_acquire(&o->pc->lock);
	o->deactivated = false;
	kmem_lock_release(&o->pc->lock);
}

/* ---- pages --------------------------------------------------------------------- */

void *kmem_pc_page_data(const struct kmem_pc_page *pg)
{
	return pg->data;
}

void *kmem_pc_page_extra(const struct kmem_pc_page *pg)
{
	return (char *)(uintptr_t)pg + PC_EXTRA_OFF;
}

uint64_t kmem_pc_page_number(const struct kmem_pc_page *pg)
{
	return pg->pgno;
}

static int get_locked_slow(struct kmem_pc_owner *o, uint64_t pgno, unsigned flags,
			   struct kmem_pc_page **out);

static KMEM_NOINLINE int get_slow(struct kmem_pc_owner *o, uint64_t pgno, unsigned flags,
				  struct kmem_pc_page **out, uint32_t i)
{
	struct kmem_pc *pc = o->pc;
	struct kmem_pc_page *d;
	bool write = (flags & KMEM_PC_WRITE) && o->write;
	bool wake = false, dropped = false;
	int rc;

	if (i != PC_NIL) {
		/* minor fault: evicted, its frame not reused yet */
		d = pc_desc(pc, i);
		pool_unlink(pc, &o->pool, i);
		d->state = PC_RESIDENT;
		o->resident++;
		(void)kmem_rp_insert(o->rp, i, pgno,
				     d->dirty || write ? KMEM_RP_WRITE : KMEM_RP_READ);
		(void)shadow_test(pc, o->id, pgno);
		o->minor_pool++;
		o->refaults++;
		o->win_refaults++;
		goto faulted;
	}
	o->refs--;	/* the clock counts pages got: hits + faults */
	if (!(flags & KMEM_PC_CREATE)) {
		o->missed++;
		kmem_lock_release(&pc->lock);
		return -ENOENT;
	}
	if ((flags & KMEM_PC_EASY) && o->max_pages &&
	    (uint64_t)o->pinned * 10 >= (uint64_t)o->max_pages * 9) {
		kmem_lock_release(&pc->lock);
		return -ENOMEM;
	}
	i = frame_for_locked(pc, o, pgno, flags, &rc, &dropped);
	if (dropped && hash_find(pc, o, pgno) != PC_NIL) {
		/* another thread faulted the page in while a write-back had the
		 * lock dropped: give the frame back and look again */
		if (i != PC_NIL) {
			d = pc_desc(pc, i);
			kmem_pa_client_free(o->client, d->data, pc->order);
			d->data = NULL;
			d->next = pc->free_head;
			pc->free_head = i;
			pc->nfree++;
		}
		return get_locked_slow(o, pgno, flags, out);	/* counts the reference again */
	}
	if (i == PC_NIL) {
		kmem_lock_release(&pc->lock);
		return rc;
	}
	d = pc_desc(pc, i);
	d->owner = o;
	d->pgno = pgno;
	d->pins = 0;
	d->dirty = 0;
	d->state = PC_RESIDENT;
	hash_insert(pc, i);
	o->resident++;
	o->refs++;
	if (pc->extra)
		memset(kmem_pc_page_extra(d), 0, pc->extra);
	if (o->read) {
		/* Read with the lock dropped, so other pages' hits and faults go
		 * on meanwhile: the page is hashed (a get of it waits), parked
		 * and pinned (no replacement, shrinker or release takes it), and
		 * marked io with the reader named in last_ref. */
		d->state = PC_PARKED;
		d->pins = 1;
		o->pinned++;
		d->io = 1;
		d->last_ref = (uint64_t)kmem_self_id();
		kmem_lock_release(&pc->lock);
		rc = o->read(o->arg, pgno, d->data, pc->page_size);
		kmem_lock_acquire(&pc->lock);
		d->io = 0;
		wake = io_done_locked(pc);
		if (rc) {
			o->read_errors++;
			o->refs--;
			page_free_locked(pc, i);	/* parked and pinned: both undone */
			kmem_lock_release(&pc->lock);
			if (wake)
				io_wake(pc);
			return rc < 0 ? rc : -EIO;
		}
		d->pins = 0;	/* the pin is taken again below, as for every fault */
		o->pinned--;
		d->state = PC_RESIDENT;
		o->pgmajfault++;
		o->pgpgin++;
	} else if (!d->fresh) {
		memset(d->data, 0, pc->page_size);
	}
	(void)kmem_rp_insert(o->rp, i, pgno, write ? KMEM_RP_WRITE : KMEM_RP_READ);
	if (shadow_test(pc, o->id, pgno)) {
		o->refaults++;
		o->win_refaults++;
	}
faulted:
	o->pgfault++;
	o->win_faults++;
	if (!d->pins++)
		o->pinned++;
	if (write && !d->dirty) {
		d->dirty = 1;
		o->ndirty++;
	}
	d->last_ref = o->refs;
	*out = d;
	if (o->refs >= o->win_end)
		window_end_locked(pc, o);
	kmem_lock_release(&pc->lock);
	if (wake)
		io_wake(pc);
	return 0;
}

/* Every case of kmem_pc_get, the cache lock held (released on return). */
static KMEM_NOINLINE int get_locked_slow(struct kmem_pc_owner *o, uint64_t pgno, unsigned flags,
					 struct kmem_pc_page **out)
{
	struct kmem_pc *pc = o->pc;
	struct kmem_pc_page *d;
	uint32_t i;
	bool write = (flags & KMEM_PC_WRITE) && o->write;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "get_locked_slow needs the cache lock");
	for (;;) {
		int rc;

		i = hash_find(pc, o, pgno);
		if (i == PC_NIL || !pc_desc(pc, i)->io)
			break;
		/* being read by another thread: wait, then look again */
		rc = io_wait_locked(pc, pc_desc(pc, i));
		if (rc)
			return rc;
		kmem_lock_acquire(&pc->lock);
	}
	o->refs++;
	if (i == PC_NIL || pc_desc(pc, i)->state == PC_POOL)
		return get_slow(o, pgno, flags, out, i);
	d = pc_desc(pc, i);
	if (d->state == PC_RESIDENT)
		(void)kmem_rp_reference(o->rp, i, write ? KMEM_RP_WRITE : KMEM_RP_READ);
	if (write && !d->dirty) {
		d->dirty = 1;
		o->ndirty++;
	}
	if (!d->pins)
		o->pinned++;
	if (!d->pins || !(flags & KMEM_PC_PIN_ONCE))
		d->pins++;
	o->hits++;
	d->last_ref = o->refs;
	*out = d;
	if (o->refs >= o->win_end)
		window_end_locked(pc, o);
	kmem_lock_release(&pc->lock);
	return 0;
}

static KMEM_NOINLINE int get_slow_entry(struct kmem_pc_owner *o, uint64_t pgno, unsigned flags,
					struct kmem_pc_page **out)
{
	if (!o || !out)
		return -EINVAL;
	kmem_lock_acquire(&o->pc->lock);
	return get_locked_slow(o, pgno, flags, out);
}

/* The hit path: a read access (flags 0) to a resident page inside the
 * current window takes one lock hold, the hash, the policy's reference and
 * the counters; everything else goes to get_locked_slow. */
int kmem_pc_get(struct kmem_pc_owner *o, uint64_t pgno, unsigned flags, struct kmem_pc_page **out)
{
	struct kmem_pc *pc;
	struct kmem_pc_page *d;
	uint64_t refs;
	uint32_t i;

	if (KMEM_UNLIKELY(!o || !out || flags))
		return get_slow_entry(o, pgno, flags, out);
	pc = o->pc;
	if (KMEM_UNLIKELY(!kmem_lock_try_acquire(&pc->lock)))
		return get_slow_entry(o, pgno, flags, out);
	i = hash_find(pc, o, pgno);
	if (KMEM_UNLIKELY(i == PC_NIL))
		return get_locked_slow(o, pgno, flags, out);
	d = pc_desc(pc, i);
	refs = o->refs + 1;
	if (KMEM_UNLIKELY(d->state != PC_RESIDENT || refs >= o->win_end))
		return get_locked_slow(o, pgno, flags, out);
	o->refs = refs;
	o->pinned += d->pins++ == 0;
	o->hits++;
	d->last_ref = refs;
	*out = d;
	(void)kmem_rp_reference(o->rp, i, KMEM_RP_READ);
	kmem_lock_release(&pc->lock);
	return 0;
}

/* The page of pg, validated: 0 and the slot, or the misuse status. */
static enum kmem_status page_check_locked(struct kmem_pc *pc, struct kmem_pc_owner *o,
					  const struct kmem_pc_page *pg, uint32_t *slot)
{
	uintptr_t a = (uintptr_t)pg, base = (uintptr_t)pc->desc;
	const struct kmem_pc_page *d;

	if (a < base || a >= base + (uintptr_t)pc->pages * pc->stride || (a - base) % pc->stride)
		return KMEM_FOREIGN_POINTER;
	*slot = (uint32_t)((a - base) / pc->stride);
	d = pc_desc(pc, *slot);
	if (d->state == PC_FREE)
		return KMEM_DOUBLE_FREE;
	if (d->owner != o)
		return KMEM_WRONG_CACHE;
	if (!d->pins || d->io)	/* being read: no caller holds it yet */
		return KMEM_NOT_HELD;
	return KMEM_OK;
}

static const char *page_misuse_text(enum kmem_status st)
{
	switch (st) {
	case KMEM_FOREIGN_POINTER:
		return "not a page of this cache";
	case KMEM_DOUBLE_FREE:
		return "page was already released (dropped)";
	case KMEM_WRONG_CACHE:
		return "page belongs to another owner";
	default:
		return "page is not pinned";
	}
}

enum kmem_status kmem_pc_put(struct kmem_pc_owner *o, struct kmem_pc_page *pg, unsigned flags)
{
	struct kmem_pc *pc = o->pc;
	enum kmem_status st;
	struct kmem_pc_page *d;
	uint32_t i = 0;

	kmem_lock_acquire(&pc->lock);
	st = page_check_locked(pc, o, pg, &i);
	if (KMEM_UNLIKELY(st != KMEM_OK)) {
		pc->misuse++;
		kmem_lock_release(&pc->lock);
		pc_misuse(pc, st, pg, KMEM_RETURN_ADDRESS(), page_misuse_text(st));
		return st;
	}
	d = pc_desc(pc, i);
	if ((flags & KMEM_PC_DIRTY) && o->write && !d->dirty) {
		d->dirty = 1;
		o->ndirty++;
		if (d->state == PC_RESIDENT)
			(void)kmem_rp_reference(o->rp, i, KMEM_RP_WRITE);
	}
	if (!--d->pins) {
		o->pinned--;
		if (flags & KMEM_PC_DISCARD) {
			page_free_locked(pc, i);
		} else if (d->state == PC_PARKED) {
			d->state = PC_RESIDENT;
			(void)kmem_rp_insert(o->rp, i, d->pgno,
					     d->dirty ? KMEM_RP_WRITE : KMEM_RP_READ);
		}
		/* past max_pages while everything was pinned: back under it */
		if (KMEM_UNLIKELY(o->max_pages && owner_held(o) > o->max_pages))
			(void)owner_evict_all_locked(pc, o, owner_held(o) - o->max_pages, false);
	}
	kmem_lock_release(&pc->lock);
	return KMEM_OK;
}

int kmem_pc_rekey(struct kmem_pc_owner *o, struct kmem_pc_page *pg, uint64_t pgno)
{
	struct kmem_pc *pc = o->pc;
	enum kmem_status st;
	struct kmem_pc_page *d;
	uint32_t i = 0, j;

	kmem_lock_acquire(&pc->lock);
	st = page_check_locked(pc, o, pg, &i);
	if (st != KMEM_OK) {
		pc->misuse++;
		kmem_lock_release(&pc->lock);
		pc_misuse(pc, st, pg, KMEM_RETURN_ADDRESS(), page_misuse_text(st));
		return -EINVAL;
	}
	d = pc_desc(pc, i);
	if (d->pgno == pgno) {
		kmem_lock_release(&pc->lock);
		return 0;
	}
	j = hash_find(pc, o, pgno);
	if (j != PC_NIL) {
		if (pc_desc(pc, j)->pins || pc_desc(pc, j)->io) {	/* held, or being read or written */
			kmem_lock_release(&pc->lock);
			return -EBUSY;
		}
		page_free_locked(pc, j);
	}
	hash_remove(pc, i);
	d->pgno = pgno;
	hash_insert(pc, i);
	if (d->state == PC_RESIDENT) {
		/* the policy's history (ghosts) is keyed by page number */
		(void)kmem_rp_remove(o->rp, i, 0);
		(void)kmem_rp_insert(o->rp, i, pgno, d->dirty ? KMEM_RP_WRITE : KMEM_RP_READ);
	}
	kmem_lock_release(&pc->lock);
	return 0;
}

uint32_t kmem_pc_truncate(struct kmem_pc_owner *o, uint64_t limit)
{
	struct kmem_pc *pc = o->pc;
	uint32_t n = 0;

	kmem_lock_acquire(&pc->lock);
	for (uint32_t i = 0; i < pc->pages; i++) {
		struct kmem_pc_page *d = pc_desc(pc, i);

		if (d->owner != o || d->pgno < limit)
			continue;
		if (d->io) {
			/* being read: its frame is the reader's until the read
			 * ends; wait and look at this slot again (the calling
			 * thread's own read: -EDEADLK, left as it is) */
			if (io_wait_locked(pc, d) == 0)
				i--;
			kmem_lock_acquire(&pc->lock);
			continue;
		}
		page_free_locked(pc, i);
		n++;
	}
	kmem_lock_release(&pc->lock);
	return n;
}

int kmem_pc_sync(struct kmem_pc *pc, struct kmem_pc_owner *o)
{
	int rc = 0;

	if (o)
		pc = o->pc;
	kmem_lock_acquire(&pc->lock);
	for (uint32_t i = 0; i < pc->pages; i++) {
		struct kmem_pc_page *d = pc_desc(pc, i);
		int w;

		if (d->state == PC_FREE || !d->dirty || d->io || (o && d->owner != o))
			continue;
		w = writeback_locked(pc, i);
		if (w && !rc)
			rc = w;
	}
	kmem_lock_release(&pc->lock);
	return rc;
}

size_t kmem_pc_shrink(struct kmem_pc *pc, struct kmem_pc_owner *o)
{
	uint32_t got = 0;

	if (o)
		pc = o->pc;
	kmem_lock_acquire(&pc->lock);
	for (struct kmem_pc_owner *c = pc->owners; c; c = c->next)
		if (!o || c == o)
			got += owner_evict_all_locked(pc, c, UINT32_MAX, true);
	kmem_lock_release(&pc->lock);
	return (size_t)got << pc->order;
}

void kmem_pc_tick(struct kmem_pc *pc)
{
	kmem_lock_acquire(&pc->lock);
	for (struct kmem_pc_owner *o = pc->owners; o; o = o->next)
		kmem_rp_tick(o->rp);
	kmem_lock_release(&pc->lock);
}

uint32_t kmem_pc_working_set(struct kmem_pc_owner *o, uint64_t delta)
{
	struct kmem_pc *pc = o->pc;
	uint32_t w = 0;

	kmem_lock_acquire(&pc->lock);
	for (uint32_t i = 0; i < pc->pages; i++) {
		const struct kmem_pc_page *d = pc_desc(pc, i);

		/* referenced at clock values refs - delta + 1 .. refs */
		if (d->owner == o && !d->io && d->last_ref + delta > o->refs)
			w++;
	}
	kmem_lock_release(&pc->lock);
	return w;
}

int kmem_pc_respond(struct kmem_pc *pc)
{
	int r;

	kmem_lock_acquire(&pc->lock);
	r = respond_locked(pc);
	kmem_lock_release(&pc->lock);
	return r;
}

void kmem_pc_on_thrash(void *arg, struct kmem_pagealloc *pa)
{
	struct kmem_pc *pc = arg;
	struct kmem_pa_stats ps;

	kmem_lock_acquire(&pc->lock);
	kmem_pa_get_stats(pa, &ps);
	pc->pa_thrash_seen = ps.thrash_events;	/* this event is answered here */
	(void)respond_locked(pc);
	kmem_lock_release(&pc->lock);
}
