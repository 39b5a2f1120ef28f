/* bench_slab.c - object cache and kmalloc benchmarks, with glibc
 * malloc(64)/free in the same process as the reference. */
#include <stdlib.h>

#include "bench.h"
#include "slab_workloads.h"

#define BATCH 256

static void run(struct kmem_bench_state *st, void (*pair)(struct sw *))
{
	struct sw w;

	if (sw_setup(&w)) {
		kmem_bench_error(st, "setup failed");
		return;
	}
	while (kmem_bench_keep_running_batch(st, BATCH))
		for (int i = 0; i < BATCH; i++)
			pair(&w);
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	sw_teardown(&w);
}

static void slab_cache_pair_64(struct kmem_bench_state *st) { run(st, sw_cache_pair); }
static void slab_kmalloc_pair_64(struct kmem_bench_state *st) { run(st, sw_kmalloc_pair); }
KMEM_BENCH(slab_cache_pair_64)
KMEM_BENCH(slab_kmalloc_pair_64)

static void glibc_malloc_pair_64(struct kmem_bench_state *st)
{
	kmem_bench_glibc_pairs(st, 64, BATCH);
}
KMEM_BENCH(glibc_malloc_pair_64)
