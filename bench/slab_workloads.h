/* slab_workloads.h - slab/kmalloc workloads shared by the Google Benchmark
 * program (bench_slab.c) and the callgrind counter (icount_slab.c).
 *  cache pair:   kmem_cache_alloc + kmem_cache_free of a 64-byte object
 *  kmalloc pair: kmem_alloc(64) + kmem_free
 * Both on a slab instance over a 64 MiB buddy arena (4 KiB frames),
 * assembled by kmem_stack (no frame service). One
 * object is kept allocated so the slab stays partial (steady state). */
#ifndef KMEM_SLAB_WORKLOADS_H
#define KMEM_SLAB_WORKLOADS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/kmem.h>
#include <kmem/stack.h>

struct sw {
	struct kmem_buddy *b;
	struct kmem_slab *s;
	struct kmem_cache *c;
	void *inst, *arena, *meta, *keep_c, *keep_k;
	size_t arena_size;
};

/* kmem_stack's add_regions callback: the arena with its frame table outside
 * it, sized from the buddy just made. */
static inline int sw_add_region(void *arg, struct kmem_buddy *b)
{
	struct sw *w = arg;
	size_t msz = kmem_buddy_region_meta_size(b, w->arena, w->arena_size);

	if (posix_memalign(&w->meta, 64, msz))
		return -ENOMEM;
	return kmem_buddy_add_region(b, w->arena, w->arena_size, w->meta, msz);
}

/* Slab straight on the buddy (no frame service), assembled by kmem_stack. */
static inline int sw_setup(struct sw *w)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	size_t isz;

	memset(w, 0, sizeof(*w));
	kmem_stack_config_init(&cfg);
	cfg.no_pagealloc = true;
	cfg.buddy.flags = KMEM_BUDDY_OWNERS;
	cfg.add_regions = sw_add_region;
	cfg.add_regions_arg = w;
	w->arena_size = (size_t)64 << 20;
	isz = kmem_stack_sizeof(&cfg);
	if (posix_memalign(&w->arena, (size_t)4 << 20, w->arena_size) ||
	    posix_memalign(&w->inst, 64, isz) ||
	    kmem_stack_init(w->inst, isz, &cfg, NULL, 0, NULL, 0, &st))
		return -1;
	w->b = st.buddy;
	w->s = st.slab;
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
	free(w->inst);
	free(w->meta);
	free(w->arena);
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
