/* bench_buddy.c - buddy allocator benchmarks (Google Benchmark via bench.h).
 * Items are alloc+free pairs (or mixed-workload steps). glibc's
 * malloc(4096)+free runs in the same process as a reference point. */
#include <stdio.h>
#include <stdlib.h>

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

/* Reference: glibc malloc/free of one page in the same process. */
static void glibc_malloc_4k_pair(struct kmem_bench_state *st)
{
	kmem_bench_glibc_pairs(st, 4096, BATCH);
}
KMEM_BENCH(glibc_malloc_4k_pair)
