/* pa_internal.h - private structures of the frame service (pagealloc),
 * shared by its files and by white-box tests:
 *   pagealloc.c  configuration, init/destroy, watermarks, managed size,
 *                page-source glue;
 *   pool.c       the zeroed and dirty pools, alloc/free fast and slow
 *                paths, checked free, drain, the zeroer;
 *   pcp.c        per-thread frame caches, thread exit, fork adoption;
 *   refs.c       reference counts of shared blocks, copy-on-write;
 *   reclaim.c    reclaim context and passes, shrinkers, OOM, shadow set;
 *   client.c     clients, shares, charged alloc/free;
 *   reaper.c     the reaper step and thread, kicks, lazy start, fork;
 *   pa_info.c    stats, text formats, the checker (kmem_pa_check).
 *
 * Where a free block of order o < PA_ORDERS can be (o >= PA_ORDERS: only in
 * the buddy):
 *
 *   thread cache  pa_pcp.l[o]: z[0..nz) zeroed, d[0..nd) dirty, top = newest
 *      | refill: B_o blocks           ^ drain: the B_o oldest (bottom)
 *      v                              |
 *   pools         zpool[o] zeroed, dpool[o] dirty: bounded LIFOs
 *      | drain_locked (fragmentation, destroy)   ^ overflow: cap reached
 *      v                                         |
 *   buddy         (USED in the buddy while cached or pooled; FREE only here)
 *      | release pass (release.c, orders >= rel_order)   ^ destroy, fragmentation
 *      v                                                 |
 *   released pool rel_head[o]: blocks given back to the system, reading zero,
 *                 linked through their owner words; taken (split to the
 *                 order wanted) only when the buddy has no block
 *
 * Pooled and cached blocks stay USED buddy blocks: the frame service holds
 * them, and counts them as free for the watermarks ("free" = buddy free +
 * zero_frames + dirty_frames + busy_frames; thread caches are not counted,
 * like Linux's NR_FREE_PAGES, which leaves per-CPU pages out), plus
 * rel_frames (released blocks are free memory that costs nothing until used).
 *
 * The reference table holds only shared blocks (two or more references);
 * an allocated block without an entry has one reference. Open addressing,
 * linear probing from pa_ref_slot(addr) = (pfn * 2^64/phi) >> 32 & (cap - 1):
 *   cap 8, entries A (home 3) and B (home 3): A at 3, B at 4; removing A
 *   shifts B back to 3 (no tombstones), so lookups stop at the first empty.
 *
 * Invariants (kmem_pa_check() verifies all at quiescence and cites the
 * number; asserts cite them too):
 *   P1. Every block in zpool[o] or dpool[o], and in the checking thread's
 *       cache l[o], is the start of a USED buddy block of order o, and is
 *       held exactly once: in one pool or stack, once, and never also in
 *       the reference table (a free block has no references).
 *   P2. 0 <= n <= cap for every pool; zero_frames equals the sum over o of
 *       zpool[o].n << o, dirty_frames the same over dpool.
 *   P3. Every block of a zeroed pool and of a cache's zero stack reads all
 *       zero (it got there right after a memset and nobody wrote it since).
 *   P4. The caches are a well-linked list of npcp entries, each of this
 *       instance; every stack's count is within its capacity (nz <= capz,
 *       nd <= capd; capd == 0 under INIT_ON_FREE, so wiped frees reach the
 *       zero stack only), and every capacity is max(high >> o, 1).
 *   P5. nclients equals the number of live clients; a live client's held
 *       is at most its max_frames (when set); the charges of all live
 *       clients sum to at most the frames handed out (the buddy's used
 *       frames minus pooled, busy and cached ones): a charge is taken only
 *       for a block the client holds, and dropped when it frees it.
 *   P6. 0 < wmin < wlow < whigh, whigh <= managed unless the instance can
 *       grow; zlow <= zhigh.
 *   P7. The reference table: ref_cap is 0 (refs NULL) or a power of two
 *       >= 4 (refs a buddy block of ref_order); ref_n equals the occupied
 *       slots and 2 * ref_n <= ref_cap; every entry has refs >= 2, is the
 *       start of a USED buddy block, appears once, and lies on the probe
 *       chain from its home slot (no empty slot between home and entry).
 *   P8. shadow_n equals the number of non-empty shadow slots.
 *   P9. The released pool: every block on rel_head[o] is the start of a
 *       USED buddy block of order o whose first owner word is a source tag
 *       (kmem/page_source.h) linking the next block of the list; the list
 *       holds rel_n[o] blocks; rel_frames equals the sum of rel_n[o] << o;
 *       every released block reads zero (checked at its first and last
 *       words: reading more would bring released memory back) unless its
 *       link marks it unmapped (PA_REL_UNMAPPED: given back with the
 *       as_unmap hook, or never mapped; nothing may read it), which only
 *       an instance with the as_map hook has.
 *
 * Locks, in order, and what they protect:
 *   rel_lock     one release pass at a time (release.c); taken before lock,
 *                never together with shrink_lock.
 *   shrink_lock  the shrinker list and reclaim passes (one reclaimer at a
 *                time); held while shrinkers, client release callbacks and
 *                OOM handlers run, with no other frame-service lock held.
 *                Also held by kmem_pa_client_unregister (no pass may be
 *                calling the client) and the fork handlers.
 *   lock         the pools, zero_frames/dirty_frames/busy_frames (written
 *                under it, read relaxed), the cache list and folded
 *                counters, watermarks (written under it, read relaxed), the
 *                reference table, the shadow set, clients' registration,
 *                the reclaiming/zeroing state. The shrinker list changes
 *                under both locks, so either suffices to read it.
 *   (buddy's own lock, inside kmem_buddy_* calls)
 * The reaper's mutex/condition (rmtx) is a leaf: never held while taking
 * another lock (except in the fork handlers, which take it last).
 * Before all of them: the registry lock of the per-thread context's
 * pagealloc area (kmem_tctx_lock(KMEM_TCTX_PAGEALLOC), process-wide): the
 * slot map, and every thread's pointers to frame caches (taken by thread
 * exit, destroy and fork_prepare, then the instance lock).
 * Functions named *_locked expect pa->lock held by the calling thread and
 * assert it.
 * A thread cache (struct pa_pcp) belongs to its thread: only that thread
 * touches its slots; the counts nz/nd are written with relaxed atomic stores
 * so kmem_pa_get_stats() may read them from elsewhere. A cache's other
 * fields change only in its thread, or under the lock once the thread is
 * gone (thread exit, fork child, destroy). A thread finds its cache of an
 * instance through its pagealloc area (struct pa_thread, the per-thread
 * context's, kmem_tctx.h) at the instance's slot: O(1) for any instance,
 * whichever it used last. Instances created while every slot is taken
 * (KMEM_PA_SLOTS - 1 alive at once) have no thread caches.
 * Client counters (held, peak, allocs, ...) are relaxed atomics, no lock.
 */
#ifndef KMEM_PA_INTERNAL_H
#define KMEM_PA_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kmem_config.h"
#include "kmem_list.h"
#include "kmem_port.h"
#include "kmem_report.h"
#include "kmem_annot.h"
#include <kmem/pagealloc.h>

#define PA_MAGIC 0x50414c43u /* "PALC" */
#define PA_NAME_MAX 32
#define PA_ORDERS KMEM_PA_PCP_ORDERS
/* Orders with pools (0..3: 4 to 32 KiB), which the zeroer keeps filled. The
 * thread caches' last order (64 KiB) has pools of capacity 0: a drained
 * batch goes to the buddy, where the blocks merge and the release step
 * finds them (a pool of each order holds up to zero_high frames that the
 * release step cannot take, and the zeroer writes as many; decision 41). */
#define PA_POOL_ORDERS 4u
#define PA_SHADOW 256u	/* recently reclaimed frames remembered (refaults) */
#define PA_ZERO_BATCH 16u	/* blocks the zeroer takes per lock hold */
#define PA_BATCH_MIN_HIGH 4u	/* B_o's floor (pa_batch_of) */
/* blocks a freeing thread's release step gives back at most (one system
 * call each; the reaper has no bound): the rest is left for the next */
#define PA_REL_INLINE_BLOCKS 8u
#define PA_DEFAULT_ZERO_RATE 65536u
#define PA_THRASH_CYCLES 3u

/* Loops counted by the instrumented build (KMEM_STEP, kmem_base.h; decision
 * 33), each with what bounds it (kmem/pagealloc.h states the bound of every
 * call; tests/test_pa_steps.c checks them). B_o = pa_batch_of(pa, o) =
 * max(batch >> o, min(batch, 4)), H_o = max(high >> o, 1) (a thread cache
 * stack's capacity):
 *   REFILL   kmem_pa_pcp_refill_locked, one per block tried: <= B_o;
 *   DRAIN    one per block moved in a batch, from a thread cache or a pool
 *            to a pool or the buddy (kmem_pa_pool_put_batch_locked,
 *            to_buddy_bulk): <= B_o for a free's drain, <= H_o per stack
 *            for a flush, <= the pools' capacity for a drain of the pools;
 *   ATTEMPT  kmem_pa_alloc_slow, one per round of its loop: <= 6 + the OOM
 *            rounds (grow 4 times, direct reclaim once, OOM rounds, fail);
 *   ZERO     kmem_pa_zero_some, one per block taken to be zeroed: frames
 *            zeroed <= max_zero;
 *   SHRINK   kmem_pa_reclaim_as, one per shrinker asked: <= shrinkers;
 *   RECLAIM  the reaper round's reclaim loop, one per pass: <= high - free
 *            + 1 (a pass that releases nothing ends it);
 *   RELEASE  release_pass, one per block given back to the system:
 *            <= PA_REL_INLINE_BLOCKS in a free;
 *   SCAN     kmem_pa_pooled_or_cached_locked, one per slot compared: <=
 *            the pools of the order + the thread cache's two stacks. */
enum pa_step {
	PA_STEP_REFILL = KMEM_STEP_PA_BASE,
	PA_STEP_DRAIN,
	PA_STEP_ATTEMPT,
	PA_STEP_ZERO,
	PA_STEP_SHRINK,
	PA_STEP_RECLAIM,
	PA_STEP_RELEASE,
	PA_STEP_SCAN,
	PA_STEP_END
};
_Static_assert(PA_STEP_END <= KMEM_STEP_KINDS, "the frame service's step kinds fit the range");

/* One order of a thread cache: two stacks, dirty blocks d[0..nd) and
 * zeroed blocks z[0..nz), newest on top. capd is 0 under INIT_ON_FREE (every
 * free takes the slow path, which wipes the block onto the zero stack). */
struct pa_list {
	unsigned nd, capd;
	void **d;
	unsigned nz, capz;
	void **z;
};

struct pa_pcp {
	struct pa_list l[PA_ORDERS];
	struct kmem_pagealloc *pa;
	struct kmem_list_node link;	/* on pa->pcps (lock) */
	struct pa_thread *owner;	/* owner->pcp[pa->slot] == this (registry lock
					 * for other threads) */
	/* owner-only counters, folded into the instance under its lock. The
	 * fast paths count nothing but frees; fast allocations follow from
	 * the balances: every push or pop outside the fast paths moves
	 * bal_d/bal_z, so bal - count = blocks the fast paths took since the
	 * last fold (minus, for dirty stacks, what fast frees added). */
	uint64_t frees;
	uint64_t bal_d[PA_ORDERS], bal_z[PA_ORDERS];
	unsigned self_order;	/* order of the block this struct lives in */
	void *slot[];
};

/* A bounded LIFO of blocks of one order. */
struct pa_pool {
	size_t n, cap;
	void **blk;
};

/* A reference-table entry: 16 bytes on LP64, 8 on ILP32. The table's
 * capacity is a power of two by construction (refs.c rounds the entries a
 * frame holds down to one), whatever this size is. */
struct pa_ref {
	uintptr_t addr;	/* 0: empty slot */
	uint32_t refs;	/* >= 2 while present */
};

struct kmem_pa_client {
	struct kmem_pagealloc *pa;
	bool live;
	char name[PA_NAME_MAX];
	size_t min_frames, max_frames, weight;
	int priority, oom_score_adj;
	size_t (*release)(void *arg, const struct kmem_shrink_request *req);
	void *arg;
	size_t held, peak;	/* relaxed atomics */
	uint64_t allocs, frees, limit_fails, local_reclaims, global_reclaims, oom_victim,
		released;	/* relaxed atomics */
};

struct kmem_pagealloc {
	uint32_t magic;
	unsigned flags;
	unsigned slot;		/* thread caches: pa_thread.pcp[slot]; 0: none */
	enum kmem_pa_init_policy policy;
	unsigned zero_all;	/* KMEM_PAGE_ZERO unless INIT_NONE */
	bool wipe;		/* INIT_ON_FREE */
	struct kmem_buddy *b;
	struct kmem_error_sink *sink;
	char name[PA_NAME_MAX];
	size_t frame_size;
	unsigned frame_shift, max_order;
	size_t managed;
	struct kmem_lock lock;
	struct kmem_lock shrink_lock;

	/* --- protected by lock (read relaxed where noted) --- */
	struct pa_pool zpool[PA_ORDERS], dpool[PA_ORDERS];
	size_t zero_frames, dirty_frames;	/* relaxed reads */
	size_t busy_frames;	/* being zeroed: out of the pools, still free */
	size_t wmin, wlow, whigh;	/* relaxed reads */
	size_t zlow, zhigh;
	unsigned batch, high;
	size_t zero_rate;
	unsigned oom_retries;
	enum kmem_pa_share_policy share_policy;
	enum kmem_pa_reclaim_scope scope;
	struct kmem_list pcps;	/* the thread caches (struct pa_pcp by link), newest first */
	unsigned npcp;
	bool zeroing[PA_ORDERS];	/* below zlow seen, until zhigh */
	bool reclaiming;	/* below low seen, until high */
	void **pool_mem;	/* the pool arrays' block */
	unsigned pool_order;
	/* reference table (shared blocks only) */
	struct pa_ref *refs;
	size_t ref_cap, ref_n;
	unsigned ref_order;
	/* shadow set of recently reclaimed frames (refault detection) */
	uintptr_t shadow[PA_SHADOW];
	size_t shadow_n;
	uint64_t cycle_reclaimed, cycle_refaults;
	unsigned thrash_run;
	/* clients */
	struct kmem_pa_client client[KMEM_PA_MAX_CLIENTS];
	unsigned nclients;
	/* shrinkers (shrink_lock) */
	struct kmem_shrinker *shrinkers;
	unsigned nshrinkers;

	size_t (*oom_handler)(void *arg, struct kmem_pagealloc *pa,
			      const struct kmem_pa_oom_event *ev);
	void *oom_arg;
	void (*on_thrash)(void *arg, struct kmem_pagealloc *pa);
	void *thrash_arg;
	size_t (*grow)(void *arg, struct kmem_pagealloc *pa, size_t frames);
	void *grow_arg;
	uint64_t grows, grown_frames, releases, released_frames; /* relaxed atomics */
	/* the released pool (release.c; lists and counts under lock) */
	struct kmem_lock rel_lock;	/* one release pass at a time; before lock */
	bool rel_ok;		/* the buddy has owner words: the pool can link */
	unsigned rel_order;	/* smallest order released */
	void *rel_head[KMEM_BUDDY_ORDER_LIMIT + 1];
	size_t rel_n[KMEM_BUDDY_ORDER_LIMIT + 1];
	size_t rel_frames;	/* relaxed reads: counted as free */
	size_t rel_peak;	/* frames in use, peak (relaxed; stats) */
	/* the decay (release.c): written under rel_lock, read relaxed */
	uint64_t decay_ns;	/* decay time; 0: at once; UINT64_MAX: never */
	uint64_t decay_epoch;	/* the current epoch's end (clock's ns) */
	size_t decay_backlog[KMEM_PA_DECAY_STEPS];	/* frames freed per epoch, newest last */
	size_t decay_base;	/* buddy free frames left by the last epoch's release */
	size_t decay_keep;	/* what the curve keeps (high at least), last epoch */
	size_t rel_debt;	/* frames the last epoch left to release */
	bool rel_armed;		/* the reaper sleeps until the next epoch (hint) */
	/* shrinkers' idle calls (reclaim.c; decision 36): written under
	 * shrink_lock, idle_next also read relaxed */
	uint64_t idle_ns;	/* the idle period: decay_ns / 4 (1 s at decay 0; 0: none) */
	uint64_t idle_next;	/* the clock's ns from which the next idle call is due */
	uint64_t idle_calls, idle_frames;	/* relaxed atomics: rounds, frames they gave back */
	uint64_t (*clock)(void *arg);	/* the decay's clock (config; NULL: kmem_now_ns) */
	void *clock_arg;
	uint64_t released_reused;	/* relaxed atomic */
	/* address-space hooks (kmem_pa_config's as_*; NULL: none) */
	int (*as_tight)(void *arg);
	int (*as_unmap)(void *arg, void *block, size_t bytes);
	int (*as_map)(void *arg, void *block, size_t bytes);
	void *as_arg;
	bool as_map_failed;	/* lock: an as_map failed since the slow path last looked */
	size_t rel_mapped;	/* lock: frames of released blocks that are mapped (relaxed reads) */

	/* counters: under lock, or relaxed atomics where no lock is held */
	uint64_t allocs, frees, pcp_hits, pcp_refills, pcp_drains, zero_hits;
	uint64_t zeroed_bg, zeroed_inline, zeroed_free;
	uint64_t reaper_wakeups, reaper_cycles, zeroer_wakeups, reclaimed_bg;
	uint64_t direct_reclaims, reclaimed_direct, oom_events, oom_released;
	uint64_t alloc_fails, nowait_fails, high_dips, refaults, thrash_events;
	uint64_t zero_misses;	/* allocations zeroed inline (blocks); last counter */

	/* the reaper thread (never started without threads) */
	struct kmem_mutex rmtx;	/* leaf */
	struct kmem_cond rcond;
	struct kmem_thrd thread;
	bool running;		/* rmtx */
	bool stop;		/* rmtx */
	bool kicked;		/* rmtx; read relaxed as a hint */
	bool live;		/* the thread exists (relaxed hint for kicks) */
	bool starting;		/* a lazy start is in progress (atomic) */
};

/* KMEM_PA_SIZEOF (kmem/pagealloc.h) bounds kmem_pa_sizeof() (this rounded
 * up to 16) on every target and lock kind: 9080 bytes on x86-64 with
 * pthread locks, 6296 on RV32. */
_Static_assert(((sizeof(struct kmem_pagealloc) + 15) & ~(size_t)15) <= KMEM_PA_SIZEOF,
	       "KMEM_PA_SIZEOF bounds the instance: raise it (kmem/pagealloc.h)");

/* a * b / c without overflow of the product (c > 0; the quotient fits when
 * a <= c or b <= c, as at every call). A 128-bit product where the compiler
 * has one (LP64); a 64-bit one where size_t has at most 32 bits (ILP32
 * targets have no __int128). */
static inline size_t pa_mul_div(size_t a, size_t b, size_t c)
{
#ifdef __SIZEOF_INT128__
	__extension__ typedef unsigned __int128 pa_u128;

	return (size_t)((pa_u128)a * b / c);
#else
	_Static_assert(SIZE_MAX <= UINT32_MAX, "without __int128, size_t has at most 32 bits");
	return (size_t)((uint64_t)a * b / c);
#endif
}

/* A thread's pagealloc area of the per-thread context: its frame cache of
 * each instance, by the instance's slot; the null cache (pcp.c: every
 * capacity and count 0, read-only, so both fast paths miss on it with no
 * extra test, like slab's null magazine) where it has none, and always at
 * slot 0. */
struct pa_thread {
	struct pa_pcp *pcp[KMEM_PA_SLOTS];
};

/* The calling thread's area; a shared read-only one naming only the null
 * cache before its first cache, after its exit hook, and during a reclaim
 * pass. The fast paths' one TLS load (pcp.c). */
extern KMEM_TLS KMEM_HIDDEN struct pa_thread *kmem_pa_self;

/* The calling thread's cache for pa, maybe the null cache (fast paths:
 * always true, it is a statement with a value). */
#define PA_PCP_FAST(pa, p) ((p) = kmem_pa_self->pcp[(pa)->slot], true)

/* The calling thread's cache for pa, or NULL (pcp.c). */
KMEM_HIDDEN struct pa_pcp *kmem_pa_pcp_self(const struct kmem_pagealloc *pa);

static inline struct pa_pcp *pa_pcp_self(const struct kmem_pagealloc *pa)
{
	return kmem_pa_pcp_self(pa);
}

static inline size_t pa_relaxed(const size_t *p)
{
	return kmem_atomic_load_relaxed(p);
}

static inline void pa_count(uint64_t *c, uint64_t n)
{
	(void)kmem_atomic_fetch_add_relaxed(c, n);
}

static inline uint64_t pa_read(const uint64_t *c)
{
	return kmem_atomic_load_relaxed(c);
}

_Static_assert(PA_POOL_ORDERS <= PA_ORDERS, "pools only for orders with thread caches");

/* B_o, the blocks a thread cache's refill takes and a full stack drains at
 * once for order o: batch >> o (a batch is worth as many frames at every
 * order), but at least min(batch, PA_BATCH_MIN_HIGH), as Linux's
 * nr_pcp_alloc floors high orders at 2. Without the floor the drop-in's
 * (batch 15) 32 and 64 KiB stacks moved one block per lock hold: a program
 * that cycles through more such blocks than a stack holds (H_o: 11 and 5)
 * took the instance and buddy locks on most calls (decision 41). */
static inline unsigned pa_batch_of(const struct kmem_pagealloc *pa, unsigned order)
{
	unsigned k = pa->batch >> order;
	unsigned floor = pa->batch < PA_BATCH_MIN_HIGH ? pa->batch : PA_BATCH_MIN_HIGH;

	return k > floor ? k : floor;
}

/* Free frames as the watermarks see them: buddy free + pooled + released. */
static inline size_t pa_free_frames(struct kmem_pagealloc *pa)
{
	return kmem_buddy_free_frames(pa->b) + pa_relaxed(&pa->zero_frames) +
	       pa_relaxed(&pa->dirty_frames) + pa_relaxed(&pa->busy_frames) +
	       pa_relaxed(&pa->rel_frames);
}

/* ---- annotations ----------------------------------------------------------- */

static inline size_t pa_blk_bytes(const struct kmem_pagealloc *pa, unsigned order)
{
	return pa->frame_size << order;
}

/* A block enters a pool or cache: nobody may touch it. */
static inline void pa_annot_park(const struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	KMEM_ANNOT_NOACCESS(blk, pa_blk_bytes(pa, order));
	(void)pa, (void)blk, (void)order;
}

static inline void pa_annot_hand_out(const struct kmem_pagealloc *pa, void *blk, unsigned order,
				     bool zeroed)
{
	if (zeroed)
		KMEM_ANNOT_DEFINED(blk, pa_blk_bytes(pa, order));
	else
		KMEM_ANNOT_UNDEFINED(blk, pa_blk_bytes(pa, order));
	(void)pa, (void)blk, (void)order, (void)zeroed;
}

static inline void pa_zero_block(const struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	KMEM_ANNOT_UNDEFINED(blk, pa_blk_bytes(pa, order));
	memset(blk, 0, pa_blk_bytes(pa, order));
}

static inline void pa_list_set(unsigned *field, unsigned v)
{
	kmem_atomic_store_relaxed(field, v);
}

/* Pushes and pops outside the fast paths (they keep the balances). */
static inline void *pa_pop_dirty(struct pa_pcp *p, unsigned o)
{
	struct pa_list *l = &p->l[o];

	p->bal_d[o]--;
	pa_list_set(&l->nd, l->nd - 1);
	return l->d[l->nd];
}

static inline void *pa_pop_zero(struct pa_pcp *p, unsigned o)
{
	struct pa_list *l = &p->l[o];

	p->bal_z[o]--;
	pa_list_set(&l->nz, l->nz - 1);
	return l->z[l->nz];
}

static inline void pa_push_dirty(struct pa_pcp *p, unsigned o, void *blk)
{
	struct pa_list *l = &p->l[o];

	p->bal_d[o]++;
	l->d[l->nd] = blk;
	pa_list_set(&l->nd, l->nd + 1);
}

static inline void pa_push_zero(struct pa_pcp *p, unsigned o, void *blk)
{
	struct pa_list *l = &p->l[o];

	p->bal_z[o]++;
	l->z[l->nz] = blk;
	pa_list_set(&l->nz, l->nz + 1);
}

/* While a thread reclaims, its frees bypass its thread cache (so reclaimed
 * frames reach the pools and the shadow set) and nested reclaim is off. */
struct pa_reclaim_save {
	struct pa_thread *self;	/* kmem_pa_self before the pass */
};

static inline size_t pa_held_of(const struct kmem_pa_client *cl)
{
	return pa_relaxed(&cl->held);
}

static inline long pa_oom_score(const struct kmem_pagealloc *pa, const struct kmem_pa_client *c)
{
	return (long)pa_mul_div(pa_held_of(c), 1000, pa->managed) + c->oom_score_adj;
}

/* Home slot of a block in the reference table (ref_cap > 0): Fibonacci
 * hashing of the frame number (refs.c, and the checker's P7). */
static inline size_t pa_ref_slot(const struct kmem_pagealloc *pa, uintptr_t a)
{
	uint64_t h = ((uint64_t)a >> pa->frame_shift) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 32) & (pa->ref_cap - 1);
}

/* Take the newest block of a pool (NULL if empty), lock held. Inline: the
 * refill loop (pcp.c) and take_locked (pool.c) run it once per block. */
static inline void *kmem_pa_pool_take_locked(struct kmem_pagealloc *pa, unsigned order, bool zeroed)
{
	struct pa_pool *pl = zeroed ? &pa->zpool[order] : &pa->dpool[order];
	size_t n = (size_t)1 << order;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the pools need the instance lock");
	if (!pl->n)
		return NULL;
	if (zeroed)
		kmem_relaxed_add_size(&pa->zero_frames, -n);
	else
		kmem_relaxed_add_size(&pa->dirty_frames, -n);
	return pl->blk[--pl->n];
}

/* pool.c */
KMEM_HIDDEN bool kmem_pa_valid_block(struct kmem_pagealloc *pa, void *blk, unsigned order);
KMEM_HIDDEN void kmem_pa_pool_put_locked(struct kmem_pagealloc *pa, void *blk, unsigned order,
					 bool zeroed);
KMEM_HIDDEN void kmem_pa_pool_put_batch_locked(struct kmem_pagealloc *pa, void *const *blks,
					       size_t k, unsigned order, bool zeroed);
/* kmem_pa_pool_take_locked: static inline below (the refill loop's per-block
 * step, in pcp.c and pool.c) */
KMEM_HIDDEN size_t kmem_pa_drain_locked(struct kmem_pagealloc *pa, bool all);
KMEM_HIDDEN void *kmem_pa_alloc_slow(struct kmem_pagealloc *pa, struct kmem_pa_client *cl,
				     unsigned order, unsigned flags);
KMEM_HIDDEN void kmem_pa_free_slow(struct kmem_pagealloc *pa, void *block, unsigned order);
KMEM_HIDDEN size_t kmem_pa_zero_some(struct kmem_pagealloc *pa, size_t max_zero, bool *pending);
KMEM_HIDDEN bool kmem_pa_pooled_or_cached_locked(struct kmem_pagealloc *pa, const void *blk,
						 unsigned order);

/* pcp.c */
KMEM_HIDDEN void kmem_pa_pcp_fold_locked(struct kmem_pagealloc *pa, struct pa_pcp *p);
KMEM_HIDDEN void kmem_pa_pcp_drain_stack_locked(struct kmem_pagealloc *pa, struct pa_pcp *p,
						unsigned order, unsigned k, bool zeroed);
KMEM_HIDDEN void kmem_pa_pcp_flush_locked(struct kmem_pagealloc *pa, struct pa_pcp *p);
KMEM_HIDDEN void kmem_pa_pcp_release_all(struct kmem_pagealloc *pa);
KMEM_HIDDEN void kmem_pa_pcp_adopt_orphans_locked(struct kmem_pagealloc *pa);
KMEM_HIDDEN struct pa_pcp *kmem_pa_pcp_get(struct kmem_pagealloc *pa);
KMEM_HIDDEN void kmem_pa_pcp_refill_locked(struct kmem_pagealloc *pa, struct pa_pcp *p,
					   unsigned order, bool need_zero);
KMEM_HIDDEN void kmem_pa_pcp_init(struct kmem_pagealloc *pa);
KMEM_HIDDEN void kmem_pa_pcp_fini(struct kmem_pagealloc *pa);
/* Reclaim passes: the calling thread's caches off, and back on. */
KMEM_HIDDEN bool kmem_pa_pcp_reclaim_enter(struct pa_reclaim_save *sv);
KMEM_HIDDEN void kmem_pa_pcp_reclaim_exit(const struct pa_reclaim_save *sv);
KMEM_HIDDEN bool kmem_pa_pcp_in_reclaim(void);
/* fork_prepare/parent/child: the registry lock (before the instance's). */
KMEM_HIDDEN void kmem_pa_pcp_fork_lock(void);
KMEM_HIDDEN void kmem_pa_pcp_fork_unlock(void);

/* refs.c */
KMEM_HIDDEN struct pa_ref *kmem_pa_ref_find_locked(struct kmem_pagealloc *pa, uintptr_t a);
KMEM_HIDDEN void kmem_pa_ref_remove_locked(struct kmem_pagealloc *pa, struct pa_ref *e);

/* reclaim.c */
KMEM_HIDDEN bool kmem_pa_in_reclaim(struct kmem_pagealloc *pa);
KMEM_HIDDEN bool kmem_pa_reclaim_enter(struct kmem_pagealloc *pa, struct pa_reclaim_save *sv);
KMEM_HIDDEN void kmem_pa_reclaim_exit(struct kmem_pagealloc *pa, const struct pa_reclaim_save *sv);
KMEM_HIDDEN size_t kmem_pa_reclaim_as(struct kmem_pagealloc *pa, struct kmem_pa_client *self,
				      size_t frames, size_t bytes, enum kmem_pressure level);
KMEM_HIDDEN size_t kmem_pa_oom(struct kmem_pagealloc *pa, struct kmem_pa_client *cl,
			       unsigned order, unsigned flags, unsigned attempt);
KMEM_HIDDEN void kmem_pa_shadow_record_locked(struct kmem_pagealloc *pa, void *blk);
KMEM_HIDDEN void kmem_pa_shadow_check_locked(struct kmem_pagealloc *pa, void *blk);

/* client.c */
KMEM_HIDDEN size_t kmem_pa_client_share(struct kmem_pagealloc *pa, const struct kmem_pa_client *cl);
KMEM_HIDDEN size_t kmem_pa_reserved_for_others(struct kmem_pagealloc *pa,
					       const struct kmem_pa_client *cl);
KMEM_HIDDEN size_t kmem_pa_client_release(struct kmem_pa_client *c, size_t frames, size_t bytes,
					  enum kmem_pressure level);

/* release.c */
KMEM_HIDDEN int kmem_pa_rel_init(struct kmem_pagealloc *pa);
KMEM_HIDDEN void *kmem_pa_rel_take_locked(struct kmem_pagealloc *pa, unsigned order);
KMEM_HIDDEN size_t kmem_pa_rel_return_all_locked(struct kmem_pagealloc *pa);
KMEM_HIDDEN void *kmem_pa_rel_merge_take_locked(struct kmem_pagealloc *pa, unsigned order);
KMEM_HIDDEN bool kmem_pa_rel_holds(struct kmem_pagealloc *pa, const void *blk);
KMEM_HIDDEN void *kmem_pa_rel_next(struct kmem_pagealloc *pa, const void *blk);
/* Whether released block blk is unmapped (its link's mark; P9). */
KMEM_HIDDEN bool kmem_pa_rel_unmapped(struct kmem_pagealloc *pa, const void *blk);
KMEM_HIDDEN void kmem_pa_rel_note_used_slow(struct kmem_pagealloc *pa);
KMEM_HIDDEN void kmem_pa_rel_adopt_free(struct kmem_pagealloc *pa);
KMEM_HIDDEN void *kmem_pa_meta_alloc(struct kmem_pagealloc *pa, unsigned order, bool locked);
/* The release step (the decay policy): advance the epoch when it is due
 * and release what the curve does not keep, at most max_blocks blocks
 * (SIZE_MAX: all; the freeing thread's inline step passes a few). Returns
 * frames released. Skips (0) while another thread runs a pass. */
KMEM_HIDDEN size_t kmem_pa_release_excess(struct kmem_pagealloc *pa, size_t max_blocks);
/* Nanoseconds until the release step has work again (the next epoch, while
 * free memory above `high` is decaying); 0 when it has none. */
KMEM_HIDDEN uint64_t kmem_pa_release_wait_ns(struct kmem_pagealloc *pa);
/* The decay's clock. */
KMEM_HIDDEN uint64_t kmem_pa_clock(struct kmem_pagealloc *pa);
/* Frames that the shrinkers' idle calls just gave back (they sat unused a
 * whole idle period): due at once, not new to the decay curve (they join
 * rel_debt and decay_base). */
KMEM_HIDDEN void kmem_pa_rel_due(struct kmem_pagealloc *pa, size_t frames);
/* The shrinkers' idle calls (reclaim.c), once per idle period, from the
 * reaper step: frames they gave back (made due: kmem_pa_rel_due). Skips
 * (0) while a reclaim pass runs. */
KMEM_HIDDEN size_t kmem_pa_idle_shrinkers(struct kmem_pagealloc *pa);

/* reaper.c */
KMEM_HIDDEN int kmem_pa_reaper_init(struct kmem_pagealloc *pa);
KMEM_HIDDEN void kmem_pa_reaper_fini(struct kmem_pagealloc *pa);
KMEM_HIDDEN bool kmem_pa_reaper_running(struct kmem_pagealloc *pa);
KMEM_HIDDEN void kmem_pa_kick(struct kmem_pagealloc *pa);
KMEM_HIDDEN void kmem_pa_kick_release(struct kmem_pagealloc *pa);

/* pagealloc.c */
KMEM_HIDDEN void kmem_pa_report(struct kmem_pagealloc *pa, enum kmem_status st, const void *ptr,
				const char *fmt, ...) __attribute__((format(printf, 4, 5)));
KMEM_HIDDEN void kmem_pa_grown(struct kmem_pagealloc *pa, size_t frames);

/* The slow paths note how much is in use (lock held): the peak the release
 * policy keeps memory for (release.c). Only with KMEM_PA_RELEASE. */
static inline void kmem_pa_rel_note_used_locked(struct kmem_pagealloc *pa)
{
	if (pa->flags & KMEM_PA_RELEASE)
		kmem_pa_rel_note_used_slow(pa);
}

/* After a free reached the buddy: worth a release pass? (reaper.c runs it
 * inline or kicks the reaper.) */
static inline void kmem_pa_release_check(struct kmem_pagealloc *pa)
{
	size_t high;

	if (!(pa->flags & KMEM_PA_RELEASE))
		return;
	high = pa_relaxed(&pa->whigh);
	if (kmem_buddy_free_frames(pa->b) > high + high / 4)
		kmem_pa_kick_release(pa);
}

#endif /* KMEM_PA_INTERNAL_H */
