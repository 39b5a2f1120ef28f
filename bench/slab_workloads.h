/* slab_workloads.h - slab/kmalloc workloads shared by the Google Benchmark
 * program (bench_slab.c) and the callgrind counter (icount_slab.c).
 *  cache pair:   kmem_cache_alloc + kmem_cache_free of a 64-byte object
 *  kmalloc pair: kmem_alloc(64) + kmem_free
 * Both on a slab instance over a 64 MiB buddy arena (4 KiB frames). One
 * object is kept allocated so the slab stays partial (steady state). */
#ifndef KMEM_SLAB_WORKLOADS_H
#define KMEM_SLAB_WORKLOADS_H

#include <stdlib.h>
#include <string.h>

#include <kmem/kmem.h>

struct sw {
	struct kmem_buddy *b;
	struct kmem_slab *s;
	struct kmem_cache *c;
	struct kmem_page_source ps;
	void *binst, *sinst, *arena, *meta, *keep_c, *keep_k;
};

static inline int sw_setup(struct sw *w)
{
	struct kmem_buddy_config bc;
	struct kmem_slab_config sc;
	size_t msz, arena = (size_t)64 << 20;

	memset(w, 0, sizeof(*w));
	kmem_buddy_config_init(&bc);
	bc.flags = KMEM_BUDDY_OWNERS;
	if (posix_memalign(&w->binst, 64, kmem_buddy_sizeof(&bc)) ||
	    kmem_buddy_init(w->binst, kmem_buddy_sizeof(&bc), &bc, &w->b) ||
	    posix_memalign(&w->arena, (size_t)4 << 20, arena))
		return -1;
	msz = kmem_buddy_region_meta_size(w->b, w->arena, arena);
	if (posix_memalign(&w->meta, 64, msz) || kmem_buddy_add_region(w->b, w->arena, arena, w->meta, msz))
		return -1;
	kmem_buddy_page_source(w->b, &w->ps);
	memset(&sc, 0, sizeof(sc));
	sc.source = &w->ps;
	if (posix_memalign(&w->sinst, 64, kmem_slab_sizeof()) ||
	    kmem_slab_init(w->sinst, kmem_slab_sizeof(), &sc, &w->s))
		return -1;
	w->c = kmem_cache_create(w->s, "bench64", 64, 0, 0, NULL, NULL, NULL);
	w->keep_c = kmem_cache_alloc(w->c);
	w->keep_k = kmem_alloc(w->s, 64);
	return w->c && w->keep_c && w->keep_k ? 0 : -1;
}

static inline void sw_teardown(struct sw *w)
{
	kmem_cache_free(w->c, w->keep_c);
	kmem_free(w->s, w->keep_k);
	kmem_cache_destroy(w->c);
	kmem_slab_destroy(w->s);
	kmem_buddy_destroy(w->b);
	free(w->sinst);
	free(w->meta);
	free(w->arena);
	free(w->binst);
}

static inline void sw_cache_pair(struct sw *w)
{
	void *p = kmem_cache_alloc(w->c);

	kmem_cache_free(w->c, p);
}

static inline void sw_kmalloc_pair(struct sw *w)
{
	void *p = kmem_alloc(w->s, 64);

	kmem_free(w->s, p);
}

#ifdef KMEM_BENCH_H
/* Google Benchmark runner for a pair workload (bench.h included first):
 * batches of `batch` pairs on a fresh instance set up outside the clock. */
static inline void sw_run_pairs(struct kmem_bench_state *st, void (*pair)(struct sw *), int batch)
{
	struct sw w;

	if (sw_setup(&w)) {
		kmem_bench_error(st, "setup failed");
		return;
	}
	while (kmem_bench_keep_running_batch(st, (uint64_t)batch))
		for (int i = 0; i < batch; i++)
			pair(&w);
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	sw_teardown(&w);
}
#endif

#endif /* KMEM_SLAB_WORKLOADS_H */
