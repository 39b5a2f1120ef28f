/* slab_fixture.h - a slab instance on a buddy instance (with owner words)
 * over a heap arena, both reporting to one recording sink; assembled with
 * kmem_stack (no frame service). */
#ifndef KMEM_SLAB_FIXTURE_H
#define KMEM_SLAB_FIXTURE_H

#include "kmem_test.h"

#include <kmem/stack.h>

struct sfx {
	struct test_recorder rec;
	struct kmem_buddy *b;
	struct kmem_slab *s;
	struct kmem_page_source ps;	/* the buddy's, for more slab instances */
	void *inst, *arena, *meta;	/* inst: the stack's buddy + slab instances */
	size_t arena_size;
};

/* kmem_stack's add_regions callback: the arena with its frame table outside
 * it (so the whole arena is frames), sized from the buddy just made. */
static inline int sfx_add_region(void *arg, struct kmem_buddy *b)
{
	struct sfx *f = arg;
	size_t msz = kmem_buddy_region_meta_size(b, f->arena, f->arena_size);

	f->meta = test_aligned(64, msz);
	return kmem_buddy_add_region(b, f->arena, f->arena_size, f->meta, msz);
}

/* A fixture whose slab instance gives every cache `debug` flags, uses
 * `waste_div` as its geometry bound (0: the default), free_mark as its
 * free mark (0: derived) and policy's slab policies (NULL: the defaults). Assembled by
 * kmem_stack_init() with no frame service: slab straight on the buddy. */
static inline void sfx_init_policy_mark(struct sfx *f, size_t frame, unsigned max_order,
					size_t arena_size, unsigned debug, unsigned waste_div,
					uintptr_t free_mark, const struct kmem_slab_config *policy)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	size_t isz;

	memset(f, 0, sizeof(*f));
	test_recorder_init(&f->rec);
	kmem_stack_config_init(&cfg);
	cfg.no_pagealloc = true;
	cfg.sink = &f->rec.sink;
	cfg.buddy.name = "pages";
	cfg.buddy.frame_size = frame;
	cfg.buddy.max_order = max_order;
	cfg.buddy.flags = KMEM_BUDDY_OWNERS;
	cfg.slab.name = "test";
	cfg.slab.debug_flags = debug;
	cfg.slab.waste_div = waste_div;
	cfg.slab.free_mark = free_mark;
	if (policy) { /* the slab policies (issue 16) */
		cfg.slab.partial = policy->partial;
		cfg.slab.empty_keep = policy->empty_keep;
		cfg.slab.no_colour = policy->no_colour;
	}
	cfg.add_regions = sfx_add_region;
	cfg.add_regions_arg = f;
	f->arena_size = arena_size;
	f->arena = test_aligned(frame << max_order, arena_size);
	isz = kmem_stack_sizeof(&cfg);
	f->inst = test_aligned(64, isz);
	assert_int_equal(kmem_stack_init(f->inst, isz, &cfg, NULL, 0, NULL, 0, &st), 0);
	f->b = st.buddy;
	f->s = st.slab;
	kmem_buddy_page_source(f->b, &f->ps);
}

static inline void sfx_init_mark(struct sfx *f, size_t frame, unsigned max_order, size_t arena_size,
				 unsigned debug, unsigned waste_div, uintptr_t free_mark)
{
	sfx_init_policy_mark(f, frame, max_order, arena_size, debug, waste_div, free_mark, NULL);
}

/* The default fixture (4 KiB frames, 8 MiB) with policy's partial,
 * empty_keep and no_colour. */
static inline void sfx_init_policy(struct sfx *f, unsigned partial, unsigned empty_keep,
				   bool no_colour)
{
	struct kmem_slab_config pol = { .partial = partial, .empty_keep = empty_keep,
					.no_colour = no_colour };

	sfx_init_policy_mark(f, 4096, 10, (size_t)8 << 20, 0, 0, 0, &pol);
}

static inline void sfx_init_cfg(struct sfx *f, size_t frame, unsigned max_order, size_t arena_size,
				unsigned debug, unsigned waste_div)
{
	sfx_init_mark(f, frame, max_order, arena_size, debug, waste_div, 0);
}

static inline void sfx_init_full(struct sfx *f, size_t frame, unsigned max_order, size_t arena_size,
				 unsigned debug)
{
	sfx_init_cfg(f, frame, max_order, arena_size, debug, 0);
}

static inline void sfx_init_sized(struct sfx *f, size_t frame, unsigned max_order, size_t arena_size)
{
	sfx_init_full(f, frame, max_order, arena_size, 0);
}

static inline void sfx_init(struct sfx *f)
{
	sfx_init_sized(f, 4096, 10, (size_t)8 << 20);
}

/* Destroy the slab instance; then every frame must be back in the buddy. */
static inline void sfx_fini(struct sfx *f)
{
	struct kmem_buddy_stats st;

	kmem_slab_destroy(f->s);
	assert_int_equal(kmem_buddy_check(f->b), 0);
	kmem_buddy_get_stats(f->b, &st);
	assert_int_equal(st.used_frames, 0);
	kmem_buddy_destroy(f->b);
	free(f->inst);
	free(f->meta);
	free(f->arena);
}

static inline size_t sfx_used_frames(struct sfx *f)
{
	struct kmem_buddy_stats st;

	kmem_buddy_get_stats(f->b, &st);
	return st.used_frames;
}

static inline struct kmem_cache_stats sfx_stats(struct kmem_cache *c)
{
	struct kmem_cache_stats st;

	kmem_cache_get_stats(c, &st);
	return st;
}

#endif /* KMEM_SLAB_FIXTURE_H */
