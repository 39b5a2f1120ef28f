/* bench_slab.c - object cache and kmalloc benchmarks, with glibc
 * malloc(64)/free in the same process as the reference. */
#include <stdlib.h>

#include "bench.h"
#include "slab_workloads.h"

#define BATCH 256

static void slab_cache_pair_64(struct kmem_bench_state *st) { sw_run_pairs(st, sw_cache_pair, BATCH); }
static void slab_kmalloc_pair_64(struct kmem_bench_state *st) { sw_run_pairs(st, sw_kmalloc_pair, BATCH); }
KMEM_BENCH(slab_cache_pair_64)
KMEM_BENCH(slab_kmalloc_pair_64)

static void glibc_malloc_pair_64(struct kmem_bench_state *st)
{
	kmem_bench_glibc_pairs(st, 64, BATCH);
}
KMEM_BENCH(glibc_malloc_pair_64)
