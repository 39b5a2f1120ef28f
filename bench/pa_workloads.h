/* pa_workloads.h - frame service (pagealloc) workloads, shared by the Google
 * Benchmark program (bench_pagealloc.c) and the callgrind counter
 * (icount_pagealloc.c), so both measure exactly the same code.
 *
 * Every instance runs over a 64 MiB arena of 4 KiB frames (16384 frames) in
 * a buddy with KMEM_BUDDY_OWNERS and max order 10, assembled by kmem_stack
 * (no slab instance; the frame table outside the arena). The arena is touched once
 * at setup, so no workload pays first-touch page faults. Pool and cache
 * sizes: zero_high = zero_low = 4096 frames (the zeroer refills the order-0
 * zeroed pool whenever it is below 4096; zero_low = zero_high turns the
 * hysteresis off, so a reaper step after B allocations puts back exactly B),
 * pcp_batch 31, pcp_high 186.
 *
 *  pair:       kmem_pa_alloc(0) + kmem_pa_free of the same frame, through
 *              the calling thread's cache.
 *  alloc batch: B order-0 allocations (the measured part of the zeroed-pool
 *              benchmarks), then pw_free_batch + pw_rezero outside the
 *              clock.
 *  rezero:     kmem_pa_reaper_run() with exactly the zeroed pool's order-0
 *              deficit as the budget, so only order 0 is refilled.
 *  buddy pair: kmem_buddy_alloc(0) + kmem_buddy_free on the same buddy,
 *              with one order-0 block kept allocated (its buddy stays on
 *              list 0: no split, no merge), as buddy_workloads.h's warm(0).
 */
#ifndef KMEM_PA_WORKLOADS_H
#define KMEM_PA_WORKLOADS_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/kmem.h>

#define PW_ARENA ((size_t)64 << 20)
#define PW_FRAME ((size_t)4096)
#define PW_ZERO_HIGH 4096u
#define PW_PCP_BATCH 31u
#define PW_PCP_HIGH 186u
#define PW_MAX_BLOCKS 4096u

struct pw {
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	struct kmem_stack st;		/* buddy + frame service, no slab */
	void *inst, *arena, *meta;	/* inst: the stack's instances */
	void *keep;			/* buddy pair: the block that keeps list 0 warm */
	void *blk[PW_MAX_BLOCKS];
};

/* kmem_stack's add_regions callback: the arena with its frame table outside
 * it, sized from the buddy just made. */
static inline int pw_add_region(void *arg, struct kmem_buddy *b)
{
	struct pw *w = arg;
	size_t msz = kmem_buddy_region_meta_size(b, w->arena, PW_ARENA);

	if (posix_memalign(&w->meta, 64, msz))
		return -ENOMEM;
	return kmem_buddy_add_region(b, w->arena, PW_ARENA, w->meta, msz);
}

/* policy: KMEM_PA_INIT_*; flags: KMEM_PA_NO_PCP, KMEM_PA_NO_BGZERO. */
static inline int pw_setup(struct pw *w, enum kmem_pa_init_policy policy, unsigned flags)
{
	struct kmem_stack_config cfg;
	size_t isz;

	memset(w, 0, sizeof(*w));
	kmem_stack_config_init(&cfg);
	cfg.no_slab = true;
	cfg.buddy.name = "bench";
	cfg.buddy.frame_size = PW_FRAME;
	cfg.buddy.max_order = 10;
	cfg.buddy.flags = KMEM_BUDDY_OWNERS;
	cfg.pa.name = "bench";
	cfg.pa.init_policy = policy;
	cfg.pa.zero_high = PW_ZERO_HIGH;
	cfg.pa.zero_low = PW_ZERO_HIGH;
	cfg.pa.pcp_batch = PW_PCP_BATCH;
	cfg.pa.pcp_high = PW_PCP_HIGH;
	cfg.pa.flags = flags;
	cfg.add_regions = pw_add_region;
	cfg.add_regions_arg = w;
	isz = kmem_stack_sizeof(&cfg);
	if (posix_memalign(&w->arena, (size_t)4 << 20, PW_ARENA))
		return -1;
	memset(w->arena, 0xa5, PW_ARENA); /* fault every frame in now */
	if (posix_memalign(&w->inst, 64, isz) ||
	    kmem_stack_init(w->inst, isz, &cfg, NULL, 0, NULL, 0, &w->st))
		return -1;
	w->b = w->st.buddy;
	w->pa = w->st.pa;
	return 0;
}

static inline void pw_teardown(struct pw *w)
{
	if (w->keep)
		kmem_buddy_free(w->b, w->keep);
	kmem_stack_destroy(&w->st);
	free(w->inst);
	free(w->meta);
	free(w->arena);
}

/* Frames in the zeroed pools (only order 0 is ever refilled here). */
static inline size_t pw_zeroed(struct pw *w)
{
	struct kmem_pa_stats st;

	kmem_pa_get_stats(w->pa, &st);
	return st.zeroed;
}

/* Refill the order-0 zeroed pool to zero_high (dirty pool first, then fresh
 * frames from the buddy). Returns the frames zeroed. */
static inline size_t pw_rezero(struct pw *w)
{
	size_t have = pw_zeroed(w), before;
	struct kmem_pa_stats st;

	if (have >= PW_ZERO_HIGH)
		return 0;
	kmem_pa_get_stats(w->pa, &st);
	before = (size_t)st.zeroed_bg;
	(void)kmem_pa_reaper_run(w->pa, PW_ZERO_HIGH - have);
	kmem_pa_get_stats(w->pa, &st);
	return (size_t)st.zeroed_bg - before;
}

static inline void pw_pair(struct pw *w)
{
	void *p = kmem_pa_alloc(w->pa, 0, 0);

	kmem_pa_free(w->pa, p, 0);
}

/* B order-0 allocations; 0 if one failed. */
static inline int pw_alloc_batch(struct pw *w, unsigned n)
{
	int ok = 1;

	for (unsigned i = 0; i < n; i++) {
		w->blk[i] = kmem_pa_alloc(w->pa, 0, 0);
		ok &= w->blk[i] != NULL;
	}
	return ok;
}

static inline void pw_free_batch(struct pw *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		kmem_pa_free(w->pa, w->blk[i], 0);
}

static inline void pw_buddy_warm(struct pw *w)
{
	w->keep = kmem_buddy_alloc(w->b, 0);
}

static inline void pw_buddy_pair(struct pw *w)
{
	void *p = kmem_buddy_alloc(w->b, 0);

	kmem_buddy_free(w->b, p);
}

#endif /* KMEM_PA_WORKLOADS_H */
