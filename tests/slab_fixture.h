/* slab_fixture.h - a slab instance on a buddy instance (with owner words)
 * over a heap arena, both reporting to one recording sink. */
#ifndef KMEM_SLAB_FIXTURE_H
#define KMEM_SLAB_FIXTURE_H

#include "kmem_test.h"

struct sfx {
	struct test_recorder rec;
	struct kmem_buddy *b;
	struct kmem_slab *s;
	struct kmem_page_source ps;
	void *binst, *arena, *meta, *sinst;
	size_t arena_size;
};

/* A fixture whose slab instance gives every cache `debug` flags and uses
 * `waste_div` as its geometry bound (0: the default). */
static inline void sfx_init_cfg(struct sfx *f, size_t frame, unsigned max_order, size_t arena_size,
				unsigned debug, unsigned waste_div)
{
	struct kmem_buddy_config bc;
	struct kmem_slab_config sc;
	size_t msz;

	memset(f, 0, sizeof(*f));
	test_recorder_init(&f->rec);
	kmem_buddy_config_init(&bc);
	bc.name = "pages";
	bc.frame_size = frame;
	bc.max_order = max_order;
	bc.flags = KMEM_BUDDY_OWNERS;
	bc.sink = &f->rec.sink;
	f->binst = test_aligned(64, kmem_buddy_sizeof(&bc));
	assert_int_equal(kmem_buddy_init(f->binst, kmem_buddy_sizeof(&bc), &bc, &f->b), 0);
	f->arena_size = arena_size;
	f->arena = test_aligned(frame << max_order, arena_size);
	msz = kmem_buddy_region_meta_size(f->b, f->arena, arena_size);
	f->meta = test_aligned(64, msz);
	assert_int_equal(kmem_buddy_add_region(f->b, f->arena, arena_size, f->meta, msz), 0);
	kmem_buddy_page_source(f->b, &f->ps);
	memset(&sc, 0, sizeof(sc));
	sc.name = "test";
	sc.source = &f->ps;
	sc.sink = &f->rec.sink;
	sc.debug_flags = debug;
	sc.waste_div = waste_div;
	f->sinst = test_aligned(64, kmem_slab_sizeof());
	assert_int_equal(kmem_slab_init(f->sinst, kmem_slab_sizeof(), &sc, &f->s), 0);
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
	free(f->sinst);
	free(f->meta);
	free(f->arena);
	free(f->binst);
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
