/* bench_pagealloc.c - frame service (pagealloc) benchmarks; workloads and
 * sizes in pa_workloads.h (64 MiB arena, 4 KiB frames, zeroed pool target
 * 4096 frames, thread cache batch 31 / high 186).
 *
 * 1. Zeroed order-0 allocation (time per iteration = ns per allocation):
 *    each round allocates B frames on the clock, then frees them and lets
 *    the zeroer refill the zeroed pool off the clock (kmem_pa_reaper_run
 *    with the pool's deficit as budget).
 *      pa_alloc_none/B       KMEM_PA_INIT_NONE: no zeroing (the baseline)
 *      pa_alloc_none_memset/B  as pa_alloc_none, and B frames' worth of
 *                            other memory is memset off the clock after the
 *                            frees: the cache pollution the zeroer causes in
 *                            pa_alloc_zeroed (where it runs on the
 *                            allocating core, between rounds)
 *      pa_alloc_zeroed/B     KMEM_PA_INIT_ON_ALLOC, zeroed pool warm: every
 *                            allocation should be a zeroed-pool hit
 *      pa_alloc_inline/B     KMEM_PA_INIT_ON_ALLOC | KMEM_PA_NO_BGZERO: every
 *                            allocation zeroes its frame inline (memset)
 *      pa_pause_overhead/B   the clock work of one pause+resume per round,
 *                            per iteration: part of every row above
 *    Target: pa_alloc_zeroed <= 1.2 x pa_alloc_none. Counters per
 *    allocation: fast (served by the thread cache without the lock),
 *    zero_hit (handed out already zeroed), inline (frames memset by the
 *    allocating thread).
 * 2. Order-0 alloc+free pairs of one frame (items/s = pairs/s):
 *      pa_pair_none          INIT_NONE: a pure thread-cache hit pair
 *      pa_pair_on_alloc      INIT_ON_ALLOC: every free makes the frame dirty,
 *                            so once the zeroed pool (4096 frames) is used
 *                            up, with no reaper running, each allocation
 *                            zeroes inline: what the pair costs under the
 *                            default policy without background zeroing
 *      buddy_pair_0          kmem_buddy_alloc(0)+free on the same buddy
 *                            (locked, list 0 kept warm), the layer below
 * 3. Zeroing bandwidth (bytes/s): the zeroer (kmem_pa_reaper_run(pa, N)
 *    cleaning N dirty frames into the zeroed pool) against plain memset of
 *    the same N frames.
 *      pa_zeroer/N, memset_frames/N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "pa_workloads.h"

#define PAIR_BATCH 256

struct pa_counts {
	uint64_t allocs, pcp_hits, zero_hits, zeroed_inline;
};

static void pa_counts(struct pw *w, struct pa_counts *c)
{
	struct kmem_pa_stats st;

	kmem_pa_get_stats(w->pa, &st);
	c->allocs = st.allocs;
	c->pcp_hits = st.pcp_hits;
	c->zero_hits = st.zero_hits;
	c->zeroed_inline = st.zeroed_inline;
}

static void report_counts(struct kmem_bench_state *st, const struct pa_counts *a,
			  const struct pa_counts *b)
{
	double n = (double)(b->allocs - a->allocs);

	if (n <= 0)
		return;
	kmem_bench_counter(st, "fast", (double)(b->pcp_hits - a->pcp_hits) / n, 0);
	kmem_bench_counter(st, "zero_hit", (double)(b->zero_hits - a->zero_hits) / n, 0);
	kmem_bench_counter(st, "inline", (double)(b->zeroed_inline - a->zeroed_inline) / n, 0);
}

/* ---- 1. zeroed order-0 allocation -------------------------------------------------- */

static void run_alloc(struct kmem_bench_state *st, enum kmem_pa_init_policy policy, unsigned flags,
		      int pollute, const char *label)
{
	unsigned n = (unsigned)kmem_bench_arg(st, 0);
	int bg = policy != KMEM_PA_INIT_NONE && !(flags & KMEM_PA_NO_BGZERO);
	struct pa_counts c0, c1;
	struct pw *w = malloc(sizeof(*w));
	char *junk = NULL;

	if (!w || n > PW_MAX_BLOCKS || pw_setup(w, policy, flags) ||
	    (pollute && (junk = malloc((size_t)n * PW_FRAME)) == NULL)) {
		kmem_bench_error(st, "setup failed");
		free(w);
		return;
	}
	if (junk)
		memset(junk, 0xa5, (size_t)n * PW_FRAME);
	/* warm up: the thread cache exists and has cycled, the pool is full */
	for (int r = 0; r < 2; r++) {
		if (bg)
			pw_rezero(w);
		if (!pw_alloc_batch(w, n)) {
			kmem_bench_error(st, "allocation failed");
			goto out;
		}
		pw_free_batch(w, n);
	}
	if (bg)
		pw_rezero(w);
	pa_counts(w, &c0);
	while (kmem_bench_keep_running_batch(st, n)) {
		if (!pw_alloc_batch(w, n)) {
			kmem_bench_error(st, "allocation failed");
			break;
		}
		kmem_bench_pause(st);
		pw_free_batch(w, n);
		if (junk) /* the zeroer's memory traffic, without the zeroer */
			memset(junk, 0, (size_t)n * PW_FRAME);
		if (bg)
			pw_rezero(w);
		kmem_bench_resume(st);
	}
	pa_counts(w, &c1);
	report_counts(st, &c0, &c1);
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	kmem_bench_label(st, label);
	if (kmem_pa_check(w->pa))
		kmem_bench_error(st, "kmem_pa_check failed");
out:
	pw_teardown(w);
	free(w);
	free(junk);
}

static void pa_alloc_none(struct kmem_bench_state *st)
{
	run_alloc(st, KMEM_PA_INIT_NONE, 0, 0, "INIT_NONE (no zeroing)");
}
static void pa_alloc_none_memset(struct kmem_bench_state *st)
{
	run_alloc(st, KMEM_PA_INIT_NONE, 0, 1, "INIT_NONE, B frames of other memory memset off the clock");
}
static void pa_alloc_zeroed(struct kmem_bench_state *st)
{
	run_alloc(st, KMEM_PA_INIT_ON_ALLOC, 0, 0, "INIT_ON_ALLOC, zeroed pool warm");
}
static void pa_alloc_inline(struct kmem_bench_state *st)
{
	run_alloc(st, KMEM_PA_INIT_ON_ALLOC, KMEM_PA_NO_BGZERO, 0, "INIT_ON_ALLOC|NO_BGZERO (memset)");
}
KMEM_BENCH_ARGS(pa_alloc_none, 1, 256, 1024, 4096)
KMEM_BENCH_ARGS(pa_alloc_none_memset, 1, 256, 1024, 4096)
KMEM_BENCH_ARGS(pa_alloc_zeroed, 1, 256, 1024, 4096)
KMEM_BENCH_ARGS(pa_alloc_inline, 1, 256, 1024, 4096)

/* What the pause/resume around each round of B adds to the time per
 * iteration (Google Benchmark reads the clocks there): subtract it from the
 * pa_alloc_* rows with the same B. */
static void pa_pause_overhead(struct kmem_bench_state *st)
{
	unsigned n = (unsigned)kmem_bench_arg(st, 0);

	while (kmem_bench_keep_running_batch(st, n)) {
		kmem_bench_pause(st);
		kmem_bench_resume(st);
	}
	kmem_bench_label(st, "pause+resume per round of B, per iteration");
}
KMEM_BENCH_ARGS(pa_pause_overhead, 1, 256, 1024, 4096)

/* ---- 2. alloc+free pairs ------------------------------------------------------------- */

static void run_pairs(struct kmem_bench_state *st, enum kmem_pa_init_policy policy,
		      const char *label)
{
	struct pa_counts c0, c1;
	struct pw *w = malloc(sizeof(*w));

	if (!w || pw_setup(w, policy, 0)) {
		kmem_bench_error(st, "setup failed");
		free(w);
		return;
	}
	if (policy != KMEM_PA_INIT_NONE)
		pw_rezero(w);
	pw_pair(w); /* the thread cache is made on first use */
	pa_counts(w, &c0);
	while (kmem_bench_keep_running_batch(st, PAIR_BATCH))
		for (int i = 0; i < PAIR_BATCH; i++)
			pw_pair(w);
	pa_counts(w, &c1);
	report_counts(st, &c0, &c1);
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	kmem_bench_label(st, label);
	if (kmem_pa_check(w->pa))
		kmem_bench_error(st, "kmem_pa_check failed");
	pw_teardown(w);
	free(w);
}

static void pa_pair_none(struct kmem_bench_state *st)
{
	run_pairs(st, KMEM_PA_INIT_NONE, "INIT_NONE, thread-cache hit");
}
static void pa_pair_on_alloc(struct kmem_bench_state *st)
{
	run_pairs(st, KMEM_PA_INIT_ON_ALLOC, "INIT_ON_ALLOC, no reaper: dirty frees, inline zeroing");
}
KMEM_BENCH(pa_pair_none)
KMEM_BENCH(pa_pair_on_alloc)

static void buddy_pair_0(struct kmem_bench_state *st)
{
	struct pw *w = malloc(sizeof(*w));

	if (!w || pw_setup(w, KMEM_PA_INIT_NONE, 0)) {
		kmem_bench_error(st, "setup failed");
		free(w);
		return;
	}
	pw_buddy_warm(w);
	pw_buddy_pair(w);
	while (kmem_bench_keep_running_batch(st, PAIR_BATCH))
		for (int i = 0; i < PAIR_BATCH; i++)
			pw_buddy_pair(w);
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	kmem_bench_label(st, "kmem_buddy_alloc(0)+free, locked");
	pw_teardown(w);
	free(w);
}
KMEM_BENCH(buddy_pair_0)

/* ---- 3. zeroing bandwidth -------------------------------------------------------------- */

/* No thread cache: frees go straight to the dirty pool. Each iteration (off
 * the clock) takes the N zeroed frames out and frees them dirty, then (on
 * the clock) one reaper step zeroes them back. */
static void pa_zeroer(struct kmem_bench_state *st)
{
	unsigned n = (unsigned)kmem_bench_arg(st, 0);
	struct pw *w = malloc(sizeof(*w));
	struct kmem_pa_stats s;
	uint64_t before;

	if (!w || n > PW_ZERO_HIGH || pw_setup(w, KMEM_PA_INIT_NONE, KMEM_PA_NO_PCP)) {
		kmem_bench_error(st, "setup failed");
		free(w);
		return;
	}
	(void)kmem_pa_reaper_run(w->pa, n);
	kmem_pa_get_stats(w->pa, &s);
	before = s.zeroed_bg;
	while (kmem_bench_keep_running_batch(st, 1)) {
		kmem_bench_pause(st);
		if (!pw_alloc_batch(w, n)) {
			kmem_bench_error(st, "allocation failed");
			break;
		}
		pw_free_batch(w, n);
		kmem_bench_resume(st);
		(void)kmem_pa_reaper_run(w->pa, n);
	}
	kmem_pa_get_stats(w->pa, &s);
	if (s.zeroed_bg - before != (uint64_t)kmem_bench_iterations(st) * n)
		kmem_bench_error(st, "the reaper did not zero N frames per step");
	kmem_bench_set_bytes_processed(st, kmem_bench_iterations(st) * (int64_t)n * (int64_t)PW_FRAME);
	kmem_bench_label(st, "kmem_pa_reaper_run(pa, N): N dirty frames into the zeroed pool");
	pw_teardown(w);
	free(w);
}
KMEM_BENCH_ARGS(pa_zeroer, 1, 256, 4096)

/* The same N frames (allocated from the same instance), memset directly. */
static void memset_frames(struct kmem_bench_state *st)
{
	unsigned n = (unsigned)kmem_bench_arg(st, 0);
	struct pw *w = malloc(sizeof(*w));

	if (!w || n > PW_MAX_BLOCKS || pw_setup(w, KMEM_PA_INIT_NONE, KMEM_PA_NO_PCP) ||
	    !pw_alloc_batch(w, n)) {
		kmem_bench_error(st, "setup failed");
		free(w);
		return;
	}
	while (kmem_bench_keep_running_batch(st, 1)) {
		for (unsigned i = 0; i < n; i++)
			memset(w->blk[i], 0, PW_FRAME);
		__asm__ volatile("" : : : "memory");
	}
	kmem_bench_set_bytes_processed(st, kmem_bench_iterations(st) * (int64_t)n * (int64_t)PW_FRAME);
	kmem_bench_label(st, "memset of the same N frames");
	pw_free_batch(w, n);
	pw_teardown(w);
	free(w);
}
KMEM_BENCH_ARGS(memset_frames, 1, 256, 4096)
