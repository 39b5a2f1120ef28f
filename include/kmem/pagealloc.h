/* kmem/pagealloc.h - the frame service: buddy behind per-thread frame caches,
 * a zeroed and a dirty free-frame pool, watermarks, a reaper, shrinkers,
 * clients and OOM handling.
 *
 * A pagealloc instance stands in front of one buddy instance and hands out
 * naturally aligned blocks of 2^order frames, like the buddy, through the
 * same page-source interface (kmem_pa_page_source()), so a slab instance runs
 * on it unchanged and registers itself as a shrinker.
 *
 *   alloc ──► per-thread cache (orders < KMEM_PA_PCP_ORDERS, no lock)
 *               │ refill / drain in batches (instance lock)
 *               ▼
 *             zeroed pool ◄── zeroer (reaper thread, budgeted) ◄── dirty pool
 *               │                                                    ▲ frees
 *               ▼                                                    │
 *             buddy ◄───────────── pools above their caps ───────────┘
 *
 * Zero-fill on demand. With the default policy (KMEM_PA_INIT_ON_ALLOC) no
 * block is ever handed out holding another caller's old data: every block
 * comes from the zeroed pool or is zeroed inline first. Freed blocks go to
 * the dirty pool; the zeroer cleans them in the background at a bounded rate
 * (zero_rate frames per second) and keeps the zeroed pool between zero_low
 * and zero_high. Blocks of orders >= KMEM_PA_PCP_ORDERS bypass the caches
 * and the pools, and the caches' top order (64 KiB blocks) has no pools: a
 * block of it that no thread cache holds comes from the buddy, and is
 * zeroed inline when asked for.
 *
 * Watermarks (in frames; "free" = buddy free + pooled, thread caches not
 * counted, like Linux's NR_FREE_PAGES): min < low < high. Below low the
 * reaper wakes and reclaims (shrinkers at background pressure) until free
 * reaches high, then sleeps (hysteresis). A request that would take free
 * below min reclaims directly in the caller (direct pressure), then calls
 * the OOM handler, retries up to oom_retries times, and fails with NULL.
 * Defaults, after Linux's calculate_min_free_kbytes / watermark_scale_factor:
 *   min_kb = isqrt(16 * managed_kb), clamped to [128, 65536] KiB;
 *   min    = min_kb * 1024 / frame_size, clamped to [1, managed / 32];
 *   gap    = max(min / 4, managed / 1000, 1);
 *   low    = min + gap;  high = min + 2 * gap.
 *
 * Thread safety: every function may be called from any thread unless noted.
 * Locks (lock order): reclaim lock, instance lock, then the buddy's.
 * Shrinker scans, client release callbacks and OOM handlers run with only
 * the reclaim lock held (one reclaim pass at a time): they may allocate,
 * free, read stats and format text, but must not register or unregister
 * shrinkers or clients, or stop the reaper (those wait for the pass). Hosted builds keep one per-thread cache per instance and
 * thread (one frame-sized block from the instance, returned at thread exit);
 * without threads there is one cache per instance.
 *
 * Bounded time (docs/decisions.md, 33). Each call's worst case in steps,
 * loop iterations that an instrumented build counts (tests/test_pa_steps.c
 * drives each to its bound and asserts it is never exceeded). For order o <
 * KMEM_PA_PCP_ORDERS: B_o = max(pcp_batch >> o, min(pcp_batch, 4)) (Linux's
 * nr_pcp_alloc floors high orders too) and H_o = max(pcp_high >> o, 1), a
 * thread cache stack's capacity; a buddy call costs at most
 * max_order splits or merges (kmem/buddy.h).
 *   kmem_pa_alloc: a thread-cache pop. On a miss, rounds of the slow path:
 *     at most 2 + the OOM rounds (oom_retries, 4 times as many with
 *     KMEM_PAGE_NOFAIL) + 4 grow retries; in a round, at most B_o blocks
 *     tried by the refill (a pool take or a buddy allocation each) and, only
 *     when no block of the order is left but in pools of other orders,
 *     every pooled block back to the buddy (at most the pools' capacity)
 *     and the released pool merged (release.c); the first failing round
 *     reclaims directly (kmem_pa_reclaim's bound), each OOM round calls the
 *     handler; then the memset of the block.
 *   kmem_pa_free: a thread-cache push. On a full stack, B_o blocks drained
 *     (to the pool of their kind, the buddy taking what does not fit);
 *     orders >= KMEM_PA_PCP_ORDERS: one buddy free. With KMEM_PA_RELEASE
 *     and no reaper thread, at most 8 blocks given back to the system.
 *   kmem_pa_free_checked: at most the pooled blocks of the order + 2 H_o
 *     thread-cache slots compared (the double-free search), then as
 *     kmem_pa_free.
 *   kmem_pa_reaper_run(max_zero): frames zeroed <= max_zero (one step per
 *     block, in lock holds of at most 16 blocks); reclaim passes <= high -
 *     free + 1 when nothing else allocates meanwhile (a pass that releases
 *     frames raises free by as many, one that releases nothing ends the
 *     round), each a kmem_pa_reclaim; then the release step (below).
 *   kmem_pa_reclaim: one scan per shrinker at most (fewer once enough came
 *     back), plus the scans' own work; at DIRECT and OOM pressure then at
 *     most one release call per client, each pick a walk of the
 *     KMEM_PA_MAX_CLIENTS slots (not counted).
 * O(n) in what they hold, not bounded by the configuration: kmem_pa_drain
 * (every pooled and cached block, one step each), kmem_pa_release and the
 * reaper's release step (every block above the keep), a thread cache's
 * flush at thread exit (every block of its stacks, at most 2 H_o per
 * order), kmem_pa_destroy, kmem_pa_check, the statistics and text formats.
 */
#ifndef KMEM_PAGEALLOC_H
#define KMEM_PAGEALLOC_H

#include <kmem/common.h>
#include <kmem/error.h>
#include <kmem/page_source.h>
#include <kmem/buddy.h>

KMEM_BEGIN_DECLS

struct kmem_pagealloc;	/* opaque */
struct kmem_pa_client;	/* opaque */

/* Orders served by the per-thread caches (0..4: Linux's
 * PAGE_ALLOC_COSTLY_ORDER, 3, and one more, 64 KiB with 4 KiB frames, the
 * drop-in's largest common page blocks; decision 41). The pools, and the
 * zeroer, serve orders 0..3: order 4's drained blocks go to the buddy. */
#define KMEM_PA_PCP_ORDERS 5u
/* Clients an instance accepts. */
#define KMEM_PA_MAX_CLIENTS 32u

/* What a freshly allocated block may contain (Linux's init_on_alloc and
 * init_on_free). */
enum kmem_pa_init_policy {
	/* Default, secure: every block handed out reads as zero (from the
	 * zeroed pool, or zeroed inline). Freed blocks are dirty until the
	 * zeroer cleans them. */
	KMEM_PA_INIT_ON_ALLOC = 0,
	/* As INIT_ON_ALLOC, and blocks are wiped when freed, in the freeing
	 * thread: freed data does not linger in free memory either. */
	KMEM_PA_INIT_ON_FREE,
	/* No guarantee: only KMEM_PAGE_ZERO requests get zeroed blocks; other
	 * requests may get any freed block's old contents. For a single trust
	 * domain that wants the last nanosecond. */
	KMEM_PA_INIT_NONE,
};

/* How frames are shared among clients (each client's "share" is the part of
 * the managed frames it is entitled to, clamped to its [min, max]). */
enum kmem_pa_share_policy {
	KMEM_PA_SHARE_EQUAL = 0,	/* managed / clients */
	KMEM_PA_SHARE_PROPORTIONAL,	/* managed * weight / sum of weights */
	KMEM_PA_SHARE_PRIORITY,		/* managed * priority / sum of priorities;
					 * OOM victims: lowest priority first */
};

/* Whom a client's allocation reclaims from when frames run short. */
enum kmem_pa_reclaim_scope {
	/* Global: shrinkers, then the clients holding most above their share.
	 * A client at or above its own share reclaims from itself first. */
	KMEM_PA_RECLAIM_GLOBAL = 0,
	/* Local: a client only ever reclaims from itself (then OOM). */
	KMEM_PA_RECLAIM_LOCAL,
};

/* Config flags. */
#define KMEM_PA_NO_PCP 0x1u	/* no per-thread caches: every call takes the lock */
#define KMEM_PA_NO_BGZERO 0x2u	/* no background zeroing: zero inline only */
/* Start the reaper thread on the first kick (a slow path that finds work for
 * it) instead of at kmem_pa_reaper_start(): a program that never needs it
 * never gets the thread. The kick that starts it runs with no lock held. */
#define KMEM_PA_LAZY_REAPER 0x4u
/* The release step (KMEM_PA_RELEASE) runs in the freeing thread even when a
 * reaper thread exists, in bounded steps (a few blocks a call): with decay
 * 0, memory goes back as soon as a free leaves too much instead of when the
 * reaper gets scheduled. The reaper still reclaims, and runs the step too
 * (an idle program's memory decays only there). */
#define KMEM_PA_RELEASE_INLINE 0x8u
/* Give free memory back to the system (the port layer's page release:
 * madvise(MADV_DONTNEED) on Linux; nothing on firmware without the hook),
 * on a decay curve (decay_ms below; jemalloc's dirty_decay_ms): memory
 * freed into the buddy stays resident and reusable, and what is not
 * reused goes back gradually, a smooth curve over decay_ms from the epoch
 * it was freed in, so a program that frees and allocates again does not
 * fault its memory back in, and one that shrank for good (or went idle,
 * with a reaper thread) returns it within decay_ms. The `high` watermark's
 * worth of free frames is always kept. Blocks of release_order and up are
 * released, largest first (a bigger block is split for the rest); released
 * blocks stay managed, held by the frame service in its released pool:
 * they read zero, so zeroed requests take them without a memset, and they
 * are used only once the buddy has no dirty block. The work is bounded per
 * call: the reaper thread runs the step (woken at each epoch while memory
 * is decaying), or, without one, frees run a bounded step inline (a few
 * blocks a call). Needs a buddy with owner words (KMEM_BUDDY_OWNERS: the
 * pool links blocks through them). */
#define KMEM_PA_RELEASE 0x10u
/* With KMEM_PA_RELEASE: the buddy's free memory reads zero at kmem_pa_init
 * and was never written (fresh from the system): it starts in the released
 * pool, as a region added with KMEM_PA_REGION_ZERO does. */
#define KMEM_PA_ZEROED_BUDDY 0x20u
#define KMEM_PA_FLAGS_ALL \
	(KMEM_PA_NO_PCP | KMEM_PA_NO_BGZERO | KMEM_PA_LAZY_REAPER | KMEM_PA_RELEASE_INLINE | \
	 KMEM_PA_RELEASE | KMEM_PA_ZEROED_BUDDY)

/* What an OOM handler is told. */
struct kmem_pa_oom_event {
	unsigned order;		/* the request that could not be met */
	unsigned flags;
	struct kmem_pa_client *client;	/* requesting client, or NULL */
	size_t free_frames;	/* free at the time */
	unsigned attempt;	/* 0 .. oom_retries - 1 */
};

struct kmem_pa_config {
	const char *name;	/* copied (up to 31 chars); NULL: "pagealloc" */
	/* Where frames come from (required). Give it KMEM_BUDDY_OWNERS if a
	 * slab instance will run on this service. Add every region before
	 * kmem_pa_init(): the watermark defaults use the managed size then. */
	struct kmem_buddy *buddy;
	/* Where errors go. NULL: the buddy's sink. */
	struct kmem_error_sink *sink;
	enum kmem_pa_init_policy init_policy;
	/* Watermarks in frames; all 0: derived (see above). Otherwise must
	 * satisfy min < low < high <= managed frames. */
	size_t wmark_min, wmark_low, wmark_high;
	/* Zeroed pool targets for order-0 frames (higher pool orders get the
	 * same targets shifted right by the order): the zeroer starts when the
	 * pool falls below zero_low and fills it to zero_high. 0: zero_high =
	 * min(high watermark, managed / 8), zero_low = zero_high / 2. */
	size_t zero_low, zero_high;
	/* Background zeroing budget, frames per second; 0: 65536 (256 MiB/s
	 * with 4 KiB frames, a fraction of one core's memset bandwidth). */
	size_t zero_rate;
	/* Per-thread cache batch and high mark for order 0 (order k uses
	 * batch >> k, at least min(batch, 4), and high >> k, at least 1);
	 * 0: batch = clamp(managed / 1024, 1, 31) rounded to 2^n - 1,
	 * high = 6 * batch (Linux's zone_batchsize). */
	unsigned pcp_batch, pcp_high;
	unsigned oom_retries;	/* 0: 3 */
	enum kmem_pa_share_policy share_policy;
	enum kmem_pa_reclaim_scope reclaim_scope;
	/* OOM handler; NULL: the default policy: among clients with a release
	 * callback, holding more than their min_frames and not exempt (adj
	 * -1000), ask the one with the highest OOM score (ties: lower
	 * priority; under KMEM_PA_SHARE_PRIORITY the lowest priority first) to
	 * release. Returns the frames it released. Called once per retry:
	 * oom_retries times for a request that nothing helps (4 times as many
	 * with KMEM_PAGE_NOFAIL). Runs with only the reclaim lock held. */
	size_t (*oom_handler)(void *arg, struct kmem_pagealloc *pa,
			      const struct kmem_pa_oom_event *ev);
	void *oom_arg;
	/* Called (no lock held) when thrashing is detected: for three reclaim
	 * cycles running, a cycle reclaimed at least 8 frames and at least
	 * half of them were handed out again before the next cycle. NULL: only
	 * counted. */
	void (*on_thrash)(void *arg, struct kmem_pagealloc *pa);
	void *thrash_arg;
	unsigned flags;		/* KMEM_PA_* */
	/* Optional growth (NULL: the buddy's regions are all there is). When
	 * an allocation would take free frames below the low watermark, the
	 * allocating thread (no frame-service lock held) calls grow(frames):
	 * add at least `frames` frames (kmem_pa_add_region, or
	 * kmem_buddy_add_region) and return how many were added, or 0 if none
	 * can be. Growth comes before reclaim: the reaper and OOM only act
	 * once grow returns 0. Released blocks (KMEM_PA_RELEASE) are used
	 * before grow is called: they count as free. May run in several
	 * threads at once. */
	size_t (*grow)(void *arg, struct kmem_pagealloc *pa, size_t frames);
	void *grow_arg;
	/* With KMEM_PA_RELEASE: the smallest order given back to the system
	 * (0: the order of 64 KiB, or max_order if smaller; capped at
	 * max_order). Smaller blocks are not worth a system call each. */
	unsigned release_order;
	/* Optional address-space hooks (all NULL: none), for a consumer whose
	 * free memory must stop counting against an address-space limit
	 * (RLIMIT_AS: madvise gives the memory back but keeps the mapping,
	 * which still counts). With KMEM_PA_RELEASE:
	 *   as_tight(arg)  asked by the release policy before each check
	 *                  (no lock held, so cheap: a cached value): nonzero
	 *                  while address space is scarce; the policy then
	 *                  keeps only `high` free frames resident (the recent
	 *                  peak keeps nothing: free address space is what
	 *                  other mappings need) and releases through as_unmap.
	 *   as_unmap(arg, block, bytes)  give a block's address space back
	 *                  (munmap): 0, the block is unmapped and the frame
	 *                  service will not touch it until as_map has mapped it
	 *                  again; nonzero: declined or failed, the block is
	 *                  released the ordinary way (kmem_pages_release). Only
	 *                  called while as_tight says so. No lock held.
	 *   as_map(arg, block, bytes)  map an unmapped block again, reading
	 *                  zero (not over anything else: kmem_pages_map_at):
	 *                  0, or nonzero and the block stays unmapped and
	 *                  released (the allocation goes on without it, and
	 *                  grow is not called for it: address space, not
	 *                  frames, is short). Called with the instance lock
	 *                  held, before an unmapped block is handed out or goes
	 *                  back to the buddy.
	 * Required by KMEM_PA_REGION_UNMAPPED. Blocks of a released pool that
	 * are unmapped are marked in their link (P9 does not read them). */
	int (*as_tight)(void *arg);
	int (*as_unmap)(void *arg, void *block, size_t bytes);
	int (*as_map)(void *arg, void *block, size_t bytes);
	void *as_arg;
	/* With KMEM_PA_RELEASE: how long freed memory stays resident for
	 * reuse, in milliseconds (jemalloc's dirty_decay_ms). The frames freed
	 * into the buddy during one epoch (decay_ms / KMEM_PA_DECAY_STEPS) are
	 * kept whole for that epoch and then on a falling smootherstep curve
	 * (6x^5 - 15x^4 + 10x^3) that reaches 0 decay_ms later; what the buddy
	 * holds beyond the curve's sum, and beyond `high`, is released at each
	 * epoch. -1: never released by the policy (kmem_pa_release still
	 * releases, and so does an address-space limit: as_tight); 0: at once,
	 * after every free that leaves more than high + high / 4 free frames;
	 * kmem_pa_config_init sets KMEM_PA_DECAY_DEFAULT_MS (a config filled
	 * otherwise must set it). kmem_pa_init rejects values below -1 or
	 * above KMEM_PA_DECAY_MAX_MS. */
	long decay_ms;
	/* The clock the decay runs on, monotonic nanoseconds (NULL: the port
	 * layer's monotonic clock). For tests, and for a replay that runs on
	 * its trace's time. Called with no lock held, from the freeing
	 * thread or the reaper; must be cheap and thread-safe. */
	uint64_t (*clock)(void *arg);
	void *clock_arg;
};

/* The decay's defaults and bounds (kmem_pa_config.decay_ms). */
#define KMEM_PA_DECAY_DEFAULT_MS 10000L
#define KMEM_PA_DECAY_MAX_MS 86400000L	/* a day */
#define KMEM_PA_DECAY_STEPS 32u		/* epochs in a decay time */

/* Fill cfg with the defaults (buddy still to be set). O(1). */
KMEM_API void kmem_pa_config_init(struct kmem_pa_config *cfg);

/* Bytes of instance storage kmem_pa_init() needs (16-byte aligned). O(1). */
KMEM_API size_t kmem_pa_sizeof(void);

/* Compile-time sizing, for a static array on firmware: at least
 * kmem_pa_sizeof() on every target, build and lock kind (the library checks
 * the bound at compile time), a few hundred bytes more than the exact size
 * (8960 bytes on x86-64, 6288 on Cortex-M4). The pool arrays and the
 * reference table come from the buddy, not from this storage:
 *   static _Alignas(16) unsigned char pa_mem[KMEM_PA_SIZEOF]; */
#define KMEM_PA_SIZEOF ((size_t)3584u + 768u * sizeof(void *))

/* Create an instance in mem[0..mem_size) over cfg->buddy. The pool arrays
 * (8 bytes per pooled block) are allocated from the buddy. The reaper thread
 * is not started (kmem_pa_reaper_start()). Returns 0 and sets *out, or:
 *   -EINVAL  cfg, buddy, mem or out NULL, mem misaligned, watermarks not
 *            min < low < high <= managed, zero_low > zero_high, an
 *            unknown flag or policy, as_map without as_unmap or the
 *            reverse, as_unmap without as_tight;
 *   -ENOSPC  mem_size < kmem_pa_sizeof();
 *   -ENOMEM  the buddy has no room for the pool arrays;
 *   other    a lock or the thread-cache key could not be created.
 * O(pool capacity). */
KMEM_API KMEM_MUST_CHECK int kmem_pa_init(void *mem, size_t mem_size,
					  const struct kmem_pa_config *cfg,
					  struct kmem_pagealloc **out);

/* Stop the reaper, return every cached and pooled frame to the buddy, free
 * the pool arrays. Clients still holding frames are reported (KMEM_LEAK);
 * their frames stay allocated in the buddy. Not thread-safe: no other call on
 * the instance may be in progress or follow; threads that used it may live
 * on (their caches are reclaimed here) but must not be exiting concurrently.
 * O(pooled + cached blocks). */
KMEM_API void kmem_pa_destroy(struct kmem_pagealloc *pa);

/* ---- frames ---------------------------------------------------------------- */

/* Allocate 2^order frames, aligned to frame_size << order. flags
 * (KMEM_PAGE_*, page_source.h):
 *   ZERO    every byte reads zero (always so unless KMEM_PA_INIT_NONE);
 *   NOWAIT  never reclaim, never call the OOM handler: fail instead (the
 *           reaper is still woken);
 *   HIGH    may take free frames down to min / 2 (an atomic-context
 *           reserve);
 *   NOFAIL  retry reclaim and OOM 4 times as often, waiting 1 ms between
 *           rounds (hosted); still fails after that, never hangs.
 * Returns NULL when order > the buddy's max order, or no block could be
 * found after reclaim and OOM handling (counted in alloc_fail). Per-thread
 * cache hit: O(1), no lock, no atomic read-modify-write. Otherwise
 * O(batch + max_order), plus zeroing, plus reclaim when short (steps:
 * "Bounded time" at the top of this file). */
KMEM_API KMEM_MALLOC_LIKE void *kmem_pa_alloc(struct kmem_pagealloc *pa, unsigned order,
					      unsigned flags);

/* Free a block from kmem_pa_alloc() with its order. NULL is a no-op. The
 * fast path trusts its arguments (a bad pointer or order is found when the
 * block leaves the thread cache, and reported there); use
 * kmem_pa_free_checked() to validate first. A block shared with
 * kmem_pa_get() must be released with kmem_pa_put(). O(1) on a cache hit;
 * O(batch + max_order) otherwise: a drain of B_order blocks (above). */
KMEM_API void kmem_pa_free(struct kmem_pagealloc *pa, void *block, unsigned order);

/* Flags of kmem_pa_add_region. */
#define KMEM_PA_REGION_ZERO 0x1u	/* the memory reads zero and is not resident
					 * yet (fresh from the system) */
/* The region's address range is not mapped yet (a placed range): its blocks
 * go to the released pool as unmapped blocks, mapped through the as_map
 * hook when taken. Implies KMEM_PA_REGION_ZERO; needs KMEM_PA_RELEASE, the
 * as_map hook and an external frame table (meta not NULL). */
#define KMEM_PA_REGION_UNMAPPED 0x2u

/* Add a region to the instance's buddy (kmem_buddy_add_region: the same
 * arguments and errors; meta NULL carves the frame table from the region)
 * and count its frames as managed; for a grow() hook, or any time. With
 * KMEM_PA_REGION_ZERO and KMEM_PA_RELEASE the region's blocks go to the
 * released pool instead of the buddy (they read zero and cost no memory
 * until used; allocations take dirty blocks first); with
 * KMEM_PA_REGION_UNMAPPED they go there unmapped. Returns 0 or the buddy's
 * negative errno; -EINVAL for KMEM_PA_REGION_UNMAPPED without
 * KMEM_PA_RELEASE, the as_map hook, owner words or meta (nothing added). Thread-safe; O(buddy's add_region + blocks of
 * the region * log regions). */
KMEM_API KMEM_MUST_CHECK int kmem_pa_add_region(struct kmem_pagealloc *pa, void *base, size_t size,
						void *meta, size_t meta_size, unsigned flags);

/* Release now (malloc_trim): the buddy's free frames beyond `keep` are
 * given back to the system, in blocks of release_order and up (largest
 * first; a bigger free block is split for the last piece), and move to the
 * released pool. Waits for a release pass in progress. Returns the frames
 * released; 0 without KMEM_PA_RELEASE or when the system cannot release (no
 * port hook). Call kmem_pa_drain() first to include pooled blocks.
 * Thread-safe; O(blocks released * max_order) plus one system call per
 * block, made with no frame-service lock held (the blocks count as free
 * meanwhile). */
KMEM_API size_t kmem_pa_release(struct kmem_pagealloc *pa, size_t keep);

/* Shrink the allocated block at `block` in place to its first `size` bytes
 * (kmem_buddy_trim: the kept frames become one block per set bit of their
 * count, each freed on its own later with its order; the rest goes back to
 * the buddy, and may trigger the release step). Returns the number of
 * blocks kept, or -EINVAL (not the start of an allocated block, size 0 or
 * larger than the block). Thread-safe; O(log regions + order). */
KMEM_API int kmem_pa_trim(struct kmem_pagealloc *pa, void *block, size_t size);

/* Checked free: validates block against the buddy first (order may be
 * KMEM_BUDDY_ANY_ORDER). Returns KMEM_OK (freed; also for NULL), or
 * KMEM_FOREIGN_POINTER, KMEM_INTERIOR_POINTER, KMEM_DOUBLE_FREE (the block
 * is free in the buddy or sits in a pool or the caller's cache),
 * KMEM_RESERVED_FREE or KMEM_WRONG_ORDER (reported; nothing freed: a block of
 * the wrong size in a pool would corrupt the pool). Every status but KMEM_OK
 * is reported to the error sink. A shared block (kmem_pa_get()) only loses
 * one reference. O(pool size) for the double-free search: the pooled
 * blocks of the order and the calling thread's two stacks. */
KMEM_API enum kmem_status kmem_pa_free_checked(struct kmem_pagealloc *pa, void *block, int order);

/* Fill *ps with a page source backed by this instance: alloc_pages and
 * free_pages are kmem_pa_alloc/kmem_pa_free, owner words and the owner table
 * come from the buddy, and register_shrinker/unregister_shrinker are
 * kmem_pa_register_shrinker/kmem_pa_unregister_shrinker. O(1). */
KMEM_API void kmem_pa_page_source(struct kmem_pagealloc *pa, struct kmem_page_source *ps);

/* Return the calling thread's cached frames and every pooled block to the
 * buddy (so they can merge into larger blocks). Returns frames returned.
 * O(pooled + cached). */
KMEM_API size_t kmem_pa_drain(struct kmem_pagealloc *pa);

/* The buddy behind the instance. */
KMEM_API struct kmem_buddy *kmem_pa_buddy(struct kmem_pagealloc *pa);

/* Frames in the released pool now (KMEM_PA_RELEASE: given back to the
 * system or never touched; free, and taken from the buddy): what
 * kmem_pa_get_stats reports as released_held, without its lock, for a
 * caller that reads it often (kmem replay, at every record). 0 without
 * KMEM_PA_RELEASE. One relaxed load: exact when no other thread allocates
 * or frees meanwhile. O(1), any thread. */
KMEM_API size_t kmem_pa_released_frames(struct kmem_pagealloc *pa);

/* ---- reference counts and copy-on-write ----------------------------------- */

/* Take one more reference to an allocated block (any order; its first
 * frame). A block starts with one reference (kmem_pa_alloc). Returns 0,
 * -EINVAL (block is not the start of an allocated block), -EOVERFLOW (2^31
 * references), or -ENOMEM (no frame for the reference table). Shared blocks
 * are kept in a hash table of the instance; unshared blocks cost nothing.
 * O(1) expected. */
KMEM_API KMEM_MUST_CHECK int kmem_pa_get(struct kmem_pagealloc *pa, void *block);

/* Drop one reference; the last one frees the block (with its order, as
 * kmem_pa_free()). Returns the references left (0: freed). O(1) expected. */
KMEM_API unsigned kmem_pa_put(struct kmem_pagealloc *pa, void *block, unsigned order);

/* References to block: 1 for an allocated unshared block, more when shared;
 * 0 if block is not the start of an allocated block. O(log regions). */
KMEM_API unsigned kmem_pa_refcount(struct kmem_pagealloc *pa, const void *block);

/* Copy-on-write: the caller holds one reference to block and wants to write.
 * Unshared (1 reference): returns block itself. Shared: allocates a new block
 * of the same order (flags as kmem_pa_alloc), copies the contents, drops the
 * caller's reference to the old block and returns the private copy; NULL if
 * the allocation fails (the caller's reference to block is kept). O(block
 * size) when copying. */
KMEM_API void *kmem_pa_cow(struct kmem_pagealloc *pa, void *block, unsigned order,
			   unsigned flags);

/* ---- watermarks, reaper, shrinkers ---------------------------------------- */

/* Set the watermarks (frames). Returns 0, or -EINVAL unless
 * 0 < min < low < high <= managed. O(1). */
KMEM_API KMEM_MUST_CHECK int kmem_pa_set_watermarks(struct kmem_pagealloc *pa, size_t min,
						    size_t low, size_t high);

/* Start the reaper thread. Returns 0, -EALREADY (running), -ENOTSUP (built
 * without threads: call kmem_pa_reaper_run() instead) or a negative errno
 * from pthread_create. */
KMEM_API KMEM_MUST_CHECK int kmem_pa_reaper_start(struct kmem_pagealloc *pa);

/* Stop the reaper thread and wait for it; no-op if it is not running. Start
 * and stop may alternate any number of times. Must not be called from a
 * shrinker or OOM handler. */
KMEM_API void kmem_pa_reaper_stop(struct kmem_pagealloc *pa);

/* Fork support (pthread_atfork order: prepare before fork; parent or child
 * after). prepare takes the instance's locks (reclaim lock, lock, reaper
 * mutex), so nothing is half-done at the fork; parent releases them. child
 * releases them too, forgets the reaper thread (it did not come along; a
 * KMEM_PA_LAZY_REAPER instance starts a new one on demand, others need
 * kmem_pa_reaper_start()), and returns the frame caches of the threads
 * that did not come along to the buddy. A frame a thread was taking out of
 * its cache at the instant of the fork may be lost to the child. Call
 * prepare before the buddy's own lock is taken. O(threads) in the child. */
KMEM_API void kmem_pa_fork_prepare(struct kmem_pagealloc *pa);
KMEM_API void kmem_pa_fork_parent(struct kmem_pagealloc *pa);
KMEM_API void kmem_pa_fork_child(struct kmem_pagealloc *pa);

/* Work the reaper does, bits of kmem_pa_reaper_run()'s result. */
#define KMEM_PA_WORK_RECLAIM 0x1u	/* a reclaim cycle ran (free < low seen) */
#define KMEM_PA_WORK_ZERO 0x2u		/* frames were zeroed */
#define KMEM_PA_WORK_PENDING 0x4u	/* more zeroing is wanted (out of budget) */
#define KMEM_PA_WORK_RELEASE 0x8u	/* the release step gave frames back to the system */

/* One round of the reaper's work in the caller, for builds without threads
 * (an idle loop or an RTOS task) and for tests: if free < low, reclaim until
 * free >= high (or nothing more comes back); then zero up to max_zero frames
 * from the dirty pool (or the buddy, while it has more than high free) into
 * the zeroed pools: once a pool fell below zero_low, until it reaches
 * zero_high. The reaper thread runs exactly this with its time budget. Safe
 * to call while the thread runs. Returns KMEM_PA_WORK_* bits, 0 if idle. */
KMEM_API unsigned kmem_pa_reaper_run(struct kmem_pagealloc *pa, size_t max_zero);

/* Register a shrinker (fill name, count, scan, arg first; the storage must
 * stay valid until unregistered). Returns 0 or -EINVAL (NULL callbacks, or
 * already registered). Scans are called newest shrinker first. O(1). */
KMEM_API KMEM_MUST_CHECK int kmem_pa_register_shrinker(struct kmem_pagealloc *pa,
						       struct kmem_shrinker *sh);

/* Remove a shrinker; waits for a reclaim pass in progress. Not from a
 * shrinker callback. O(shrinkers). */
KMEM_API void kmem_pa_unregister_shrinker(struct kmem_pagealloc *pa, struct kmem_shrinker *sh);

/* Reclaim now, in the caller: ask the shrinkers (then, at DIRECT and OOM,
 * the clients above their share) for about `frames` frames at `level`.
 * Returns frames released. The reaper and direct reclaim use this.
 * O(shrinkers + clients) calls. */
KMEM_API size_t kmem_pa_reclaim(struct kmem_pagealloc *pa, size_t frames, enum kmem_pressure level);

/* ---- clients ---------------------------------------------------------------- */

struct kmem_pa_client_config {
	const char *name;	/* copied (up to 31 chars) */
	size_t min_frames;	/* guaranteed: others cannot take these frames */
	size_t max_frames;	/* hard limit; 0: none */
	size_t weight;		/* size for KMEM_PA_SHARE_PROPORTIONAL; 0: 1 */
	int priority;		/* for KMEM_PA_SHARE_PRIORITY, 1..1000; 0: 1 */
	/* Added to the OOM score (frames held in thousandths of managed),
	 * -1000..1000; -1000: never chosen as the OOM victim. */
	int oom_score_adj;
	/* Release about req->frames of this client's frames (back through
	 * kmem_pa_client_free); returns frames released. NULL: the client
	 * cannot release. Runs without frame-service locks held. */
	size_t (*release)(void *arg, const struct kmem_shrink_request *req);
	void *arg;
};

/* Register a client. Returns 0 and sets *out, or -EINVAL (bad config:
 * NULL, adj out of range, min > max, priority out of range), -ENOSPC
 * (KMEM_PA_MAX_CLIENTS registered) or -ENOMEM (the guaranteed minimums
 * would exceed managed - high watermark). O(clients). */
KMEM_API KMEM_MUST_CHECK int kmem_pa_client_register(struct kmem_pagealloc *pa,
						     const struct kmem_pa_client_config *cfg,
						     struct kmem_pa_client **out);

/* Unregister. A client still holding frames is reported (KMEM_LEAK) and its
 * frames are forgotten by the accounting (they stay allocated). Must not race
 * with the client's own calls. O(clients). */
KMEM_API void kmem_pa_client_unregister(struct kmem_pa_client *cl);

/* Allocate / free on behalf of a client: as kmem_pa_alloc/kmem_pa_free, with
 * the frames counted against the client. A request past max_frames first
 * asks the client itself to release (local reclaim); if that made room the
 * request goes on, otherwise it fails with NULL (counted in limit_fails).
 * Guaranteed minimums: every request (a plain kmem_pa_alloc() too) must
 * leave free frames at or above the min watermark plus the unmet minimums
 * (min_frames - held, when positive) of every other client. */
KMEM_API KMEM_MALLOC_LIKE void *kmem_pa_client_alloc(struct kmem_pa_client *cl, unsigned order,
						     unsigned flags);
KMEM_API void kmem_pa_client_free(struct kmem_pa_client *cl, void *block, unsigned order);

/* A page source whose frames are charged to the client (a slab instance per
 * subsystem, each with its own limits). O(1). */
KMEM_API void kmem_pa_client_page_source(struct kmem_pa_client *cl, struct kmem_page_source *ps);

struct kmem_pa_client_stats {
	const char *name;
	size_t held;		/* frames held now */
	size_t peak;
	size_t share;		/* entitlement under the share policy */
	size_t min_frames, max_frames;
	int priority, oom_score_adj;
	long oom_score;		/* held * 1000 / managed + adj (victim: highest) */
	uint64_t allocs, frees;
	uint64_t limit_fails;	/* requests refused at max_frames */
	uint64_t local_reclaims;	/* times asked to release for itself */
	uint64_t global_reclaims;	/* times asked to release for others */
	uint64_t oom_victim;	/* times chosen by the OOM policy */
	uint64_t released;	/* frames its release callback reported */
};

KMEM_API void kmem_pa_client_get_stats(struct kmem_pa_client *cl, struct kmem_pa_client_stats *st);

/* ---- statistics and checking ---------------------------------------------- */

struct kmem_pa_stats {
	size_t frame_size;
	size_t managed;		/* frames the buddy manages (reserved excluded) */
	size_t free;		/* buddy free + pooled + released (watermarked) */
	size_t buddy_free;
	size_t zeroed;		/* frames in the zeroed pools */
	size_t dirty;		/* frames in the dirty pools */
	size_t pcp;		/* frames in per-thread caches */
	size_t used;		/* managed - free - pcp: held by callers */
	size_t wmark_min, wmark_low, wmark_high;
	size_t zero_low, zero_high;
	unsigned pcp_batch, pcp_high, pcp_threads;
	unsigned nr_shrinkers, nr_clients;
	int reaper_running;	/* 1 while the reaper thread runs */
	enum kmem_pa_init_policy init_policy;
	uint64_t allocs, frees;		/* every successful call */
	uint64_t pcp_hits;		/* allocs served by a thread cache (folded) */
	uint64_t pcp_refills, pcp_drains;
	uint64_t zero_hits;		/* allocs served already zeroed */
	uint64_t zeroed_bg;		/* frames zeroed by the zeroer */
	uint64_t zeroed_inline;		/* frames zeroed in an allocating thread */
	uint64_t zeroed_free;		/* frames wiped at free (INIT_ON_FREE) */
	uint64_t reaper_wakeups;	/* free fell below low: a reclaim cycle began */
	uint64_t reaper_cycles;		/* reclaim cycles finished */
	uint64_t zeroer_wakeups;	/* the thread woke for zeroing work */
	uint64_t reclaimed_bg;		/* frames reclaimed by the reaper */
	uint64_t direct_reclaims;	/* direct reclaim passes (even fruitless ones) */
	uint64_t reclaimed_direct;
	uint64_t oom_events;		/* OOM handler calls */
	uint64_t oom_released;		/* frames OOM handling released */
	uint64_t alloc_fails;		/* NULL returns (order too big excluded) */
	uint64_t nowait_fails;		/* of which NOWAIT requests */
	uint64_t high_dips;		/* HIGH requests served below min */
	uint64_t refaults;		/* reclaimed frames handed out again soon */
	uint64_t thrash_events;
	uint64_t grows;			/* grow() calls that added frames */
	uint64_t grown_frames;		/* frames they added */
	uint64_t releases;		/* release passes that released frames */
	uint64_t released_frames;	/* frames they gave back to the system */
	size_t released_held;		/* frames in the released pool now (free) */
	size_t used_peak;		/* the highest used seen by the slow paths */
	size_t decay_keep;		/* free frames the decay curve keeps now
					 * (at the last epoch; high at least) */
	uint64_t released_reused;	/* frames handed out from the released pool */
};

/* Snapshot. Frame counts are exact at quiescence (other threads' cache
 * sizes are read with relaxed loads). Event counters include the calling
 * thread's cache hits; another thread's cache hits are added at its next
 * slow path, its kmem_pa_drain() or its exit (the fast paths count nothing
 * another thread could read without a data race or an atomic operation).
 * O(threads + shrinkers + clients). */
KMEM_API void kmem_pa_get_stats(struct kmem_pagealloc *pa, struct kmem_pa_stats *st);

/* Text forms, snprintf-style (at most len bytes with the NUL; returns the
 * length the whole text needs):
 *   vmstat:   "name value\n" lines after /proc/vmstat (nr_free_pages,
 *             nr_zeroed_pages, pgalloc, pgzero_background, ... and one
 *             "shrinker_<name>_reclaimed N" line per shrinker);
 *   zoneinfo: a /proc/zoneinfo-style block ("Node 0, zone <name>", pages
 *             free/min/low/high/managed, pcp count/high/batch, pools, then
 *             one line per client). */
KMEM_API int kmem_pa_format_vmstat(struct kmem_pagealloc *pa, char *buf, size_t len);
KMEM_API int kmem_pa_format_zoneinfo(struct kmem_pagealloc *pa, char *buf, size_t len);

/* Invariant walk (at quiescence for exact results): every pooled and the
 * caller's cached block is allocated in the buddy with its order and held
 * exactly once; every zeroed-pool and zero-cached block reads all zero; pool
 * counts match; watermarks ordered; client accounting adds up; then
 * kmem_buddy_check(). Returns 0, or reports KMEM_CORRUPTION and returns
 * -EFAULT. O(pooled bytes + pooled blocks * log). */
KMEM_API KMEM_MUST_CHECK int kmem_pa_check(struct kmem_pagealloc *pa);

KMEM_API struct kmem_error_sink *kmem_pa_error_sink(struct kmem_pagealloc *pa);

KMEM_END_DECLS

#endif /* KMEM_PAGEALLOC_H */
