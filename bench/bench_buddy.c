/* bench_buddy.c - buddy allocator benchmarks (Google Benchmark via bench.h).
 * Items are alloc+free pairs (or mixed-workload steps). glibc's
 * malloc(4096)+free runs in the same process as a reference point.
 * buddy_antifrag measures fragmentation under each policy (below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "buddy_workloads.h"

#define BATCH 256

static void run_pairs(struct kmem_bench_state *st, unsigned flags, int warm)
{
	unsigned order = (unsigned)kmem_bench_arg(st, 0);
	struct bw w;

	if (bw_setup(&w, flags)) {
		kmem_bench_error(st, "setup failed");
		return;
	}
	if (warm)
		bw_warm(&w, order);
	while (kmem_bench_keep_running_batch(st, BATCH))
		for (int i = 0; i < BATCH; i++)
			bw_pair(&w, order);
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	kmem_buddy_free(w.b, w.keep);
	bw_teardown(&w);
}

static void buddy_pair_warm(struct kmem_bench_state *st) { run_pairs(st, 0, 1); }
static void buddy_pair_warm_nolock(struct kmem_bench_state *st) { run_pairs(st, KMEM_BUDDY_NOLOCK, 1); }
static void buddy_pair_cold(struct kmem_bench_state *st) { run_pairs(st, 0, 0); }
KMEM_BENCH_ARGS(buddy_pair_warm, 1, 0, 3, 6, 9)
KMEM_BENCH_ARGS(buddy_pair_warm_nolock, 1, 0)
KMEM_BENCH_ARGS(buddy_pair_cold, 1, 0, 3, 6, 9, 10)

static void buddy_mixed(struct kmem_bench_state *st)
{
	struct bw w;

	if (bw_setup(&w, 0)) {
		kmem_bench_error(st, "setup failed");
		return;
	}
	bw_mixed_init(&w, 42);
	while (kmem_bench_keep_running_batch(st, BATCH))
		for (int i = 0; i < BATCH; i++)
			bw_mixed_step(&w);
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	bw_mixed_fini(&w);
	bw_teardown(&w);
}
KMEM_BENCH(buddy_mixed)

/* Two threads hammering one locked instance: the cost of contention. */
static struct bw shared_w;

static void buddy_pair_contended(struct kmem_bench_state *st)
{
	if (kmem_bench_thread_index(st) == 0) {
		if (bw_setup(&shared_w, 0))
			abort();
		bw_warm(&shared_w, 0);
	}
	while (kmem_bench_keep_running_batch(st, BATCH))
		for (int i = 0; i < BATCH; i++)
			bw_pair(&shared_w, 0);
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	if (kmem_bench_thread_index(st) == 0) {
		kmem_buddy_free(shared_w.b, shared_w.keep);
		bw_teardown(&shared_w);
	}
}
KMEM_BENCH_ARGS(buddy_pair_contended, 2, 0)

/* ---- anti-fragmentation (issue 16) -----------------------------------------
 *
 * A workload mixing long-lived unmovable and short-lived movable
 * allocations, run on a 64 MiB arena (16384 frames of 4 KiB, max order 10,
 * pageblocks of order 9 with grouping) under each policy: the argument is
 * grouping (0/1) + 2 * discipline (LIFO, FIFO, ADDRESS).
 *   1. 200000 steps. One step in 16 touches the unmovable set: below its
 *      target (8% of the frames) it allocates an unmovable order-0 block,
 *      else frees a random one of them (long lives, scattered over time).
 *      The other steps are movable: a queue of blocks of order 0..3 (3.75
 *      frames on average) whose target length swings between 2000 and 4000
 *      blocks (46% to 92% of the arena) and back every 40000 steps; a step
 *      below the target allocates, above it frees the oldest, at it does
 *      both (short lives). At the peaks memory runs out: allocations fail
 *      and, with grouping, types fall back.
 *      Every 1000 steps one order-9 (pageblock-sized) movable allocation
 *      is tried and freed at once: "load_ok_pct" is the share that
 *      succeeded under load.
 *   2. Then every movable block is freed (what compaction or reclaim could
 *      make of them) and order-9 blocks are allocated until one fails:
 *      "hi_ok_pct" is how many were obtained out of the free frames'
 *      worth (free frames >> 9), "unusable" Linux's unusable free space
 *      index at order 9 at that point (0: all free memory in order-9
 *      blocks, 1: none), "fallbacks"/"claims" the grouping counters.
 * Deterministic (a fixed seed): the counters are the same in every
 * iteration; time per iteration is one whole workload. */
#define AF_STEPS 200000
#define AF_RING 4000
#define AF_PERIOD 40000
#define AF_HI 9u

struct af_run {
	struct kmem_buddy *b;
	void *inst, *arena, *meta;
	void **unmov;
	size_t nunmov, unmov_target;
	void *ring[AF_RING];
	unsigned head, live;	/* oldest queue slot, blocks queued */
	uint64_t seed;
};

static uint64_t af_rand(struct af_run *r)
{
	r->seed = r->seed * 6364136223846793005ull + 1442695040888963407ull;
	return r->seed >> 33;
}

static int af_setup(struct af_run *r, unsigned variant)
{
	struct kmem_buddy_config cfg;
	size_t msz;

	memset(r, 0, sizeof(*r));
	kmem_buddy_config_init(&cfg);
	cfg.name = "antifrag";
	cfg.flags = (variant & 1) ? KMEM_BUDDY_GROUPING : 0;
	cfg.discipline = variant >> 1;
	if (posix_memalign(&r->inst, 64, kmem_buddy_sizeof(&cfg)) ||
	    posix_memalign(&r->arena, (size_t)4 << 20, BW_ARENA) ||
	    kmem_buddy_init(r->inst, kmem_buddy_sizeof(&cfg), &cfg, &r->b))
		return -1;
	msz = kmem_buddy_region_meta_size(r->b, r->arena, BW_ARENA);
	if (posix_memalign(&r->meta, 64, msz) ||
	    kmem_buddy_add_region(r->b, r->arena, BW_ARENA, r->meta, msz))
		return -1;
	r->unmov_target = (BW_ARENA / 4096) * 8 / 100;
	r->unmov = calloc(r->unmov_target, sizeof(void *));
	r->seed = 1;
	return r->unmov ? 0 : -1;
}

static void af_teardown(struct af_run *r)
{
	kmem_buddy_destroy(r->b);
	free(r->unmov);
	free(r->meta);
	free(r->arena);
	free(r->inst);
}

struct af_result {
	double load_ok_pct, hi_ok_pct, unusable;
	uint64_t fallbacks, claims;
};

static void af_once(struct af_run *r, struct af_result *res)
{
	unsigned tries = 0, oks = 0;
	struct kmem_buddy_stats st;
	struct kmem_buddy_type_stats ts;
	size_t ideal, got = 0;
	void **hi;

	for (unsigned i = 0; i < AF_STEPS; i++) {
		if (af_rand(r) % 16 == 0) {
			if (r->nunmov < r->unmov_target) {
				void *p = kmem_buddy_alloc_type(r->b, 0, KMEM_BUDDY_UNMOVABLE);

				if (p)
					r->unmov[r->nunmov++] = p;
			} else {
				size_t k = af_rand(r) % r->nunmov;

				kmem_buddy_free(r->b, r->unmov[k]);
				r->unmov[k] = r->unmov[--r->nunmov];
			}
		} else {
			unsigned phase = i % AF_PERIOD, half = AF_PERIOD / 2;
			unsigned target = AF_RING / 2 + (unsigned)((uint64_t)(AF_RING / 2) *
								 (phase < half ? phase : AF_PERIOD - phase) / half);

			if (r->live >= target) { /* free the oldest */
				kmem_buddy_free(r->b, r->ring[r->head]); /* NULL: a no-op */
				r->head = (r->head + 1) % AF_RING;
				r->live--;
			}
			if (r->live <= target && r->live < AF_RING) { /* NULL when full */
				r->ring[(r->head + r->live) % AF_RING] = kmem_buddy_alloc_type(
					r->b, (unsigned)(af_rand(r) % 4), KMEM_BUDDY_MOVABLE);
				r->live++;
			}
		}
		if (i % 1000 == 999) {
			void *p = kmem_buddy_alloc_type(r->b, AF_HI, KMEM_BUDDY_MOVABLE);

			tries++;
			if (p) {
				oks++;
				kmem_buddy_free(r->b, p);
			}
		}
	}
	for (; r->live; r->live--, r->head = (r->head + 1) % AF_RING)
		kmem_buddy_free(r->b, r->ring[r->head]);
	kmem_buddy_get_stats(r->b, &st);
	ideal = st.free_frames >> AF_HI;
	res->unusable = kmem_buddy_unusable_index(&st, AF_HI) / 1000.0;
	hi = calloc(ideal + 1, sizeof(void *));
	while (hi && got < ideal && (hi[got] = kmem_buddy_alloc_type(r->b, AF_HI, KMEM_BUDDY_MOVABLE)))
		got++;
	for (size_t i = 0; i < got; i++)
		kmem_buddy_free(r->b, hi[i]);
	free(hi);
	for (size_t i = 0; i < r->nunmov; i++)
		kmem_buddy_free(r->b, r->unmov[i]);
	r->nunmov = 0;
	kmem_buddy_get_type_stats(r->b, &ts);
	res->load_ok_pct = 100.0 * oks / tries;
	res->hi_ok_pct = ideal ? 100.0 * (double)got / (double)ideal : 0;
	res->fallbacks = ts.fallbacks;
	res->claims = ts.claims;
}

static void buddy_antifrag(struct kmem_bench_state *st)
{
	unsigned variant = (unsigned)kmem_bench_arg(st, 0);
	static const char *const names[] = { "lifo", "lifo+grouping", "fifo", "fifo+grouping",
					     "address", "address+grouping" };
	struct af_result res = { 0 };
	struct af_run r;

	while (kmem_bench_keep_running_batch(st, 1)) {
		if (af_setup(&r, variant)) {
			kmem_bench_error(st, "setup failed");
			return;
		}
		af_once(&r, &res);
		if (kmem_buddy_check(r.b) != 0 || kmem_buddy_free_frames(r.b) != BW_ARENA / 4096) {
			kmem_bench_error(st, "the workload left the instance inconsistent");
			af_teardown(&r);
			return;
		}
		af_teardown(&r);
	}
	kmem_bench_label(st, names[variant % 6]);
	kmem_bench_counter(st, "load_ok_pct", res.load_ok_pct, 0);
	kmem_bench_counter(st, "hi_ok_pct", res.hi_ok_pct, 0);
	kmem_bench_counter(st, "unusable", res.unusable, 0);
	kmem_bench_counter(st, "fallbacks", (double)res.fallbacks, 0);
	kmem_bench_counter(st, "claims", (double)res.claims, 0);
}
KMEM_BENCH_ARGS(buddy_antifrag, 1, 0, 1, 2, 3, 4, 5)

/* Reference: glibc malloc/free of one page in the same process. */
static void glibc_malloc_4k_pair(struct kmem_bench_state *st)
{
	kmem_bench_glibc_pairs(st, 4096, BATCH);
}
KMEM_BENCH(glibc_malloc_4k_pair)
