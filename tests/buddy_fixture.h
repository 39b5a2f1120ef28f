/* buddy_fixture.h - a buddy instance with a recording sink and regions whose
 * frame tables live in separate heap memory, for the buddy test programs and
 * the step tests' buddy (test_slab_steps.c, test_pa_steps.c). */
#ifndef KMEM_BUDDY_FIXTURE_H
#define KMEM_BUDDY_FIXTURE_H

#include "kmem_test.h"

#define FX_MAX_REGIONS 8

struct fixture {
	struct test_recorder rec;
	struct kmem_buddy *b;
	void *inst;
	void *mem[FX_MAX_REGIONS];	/* backing allocations we own */
	void *meta[FX_MAX_REGIONS];
	unsigned nmem;
};

/* With policies (issue 16): a free-list discipline and, with
 * KMEM_BUDDY_GROUPING in flags, a pageblock order. */
static inline void fx_init_policy(struct fixture *fx, size_t frame_size, unsigned max_order,
				  unsigned flags, unsigned discipline, unsigned pageblock_order)
{
	struct kmem_buddy_config cfg;
	size_t need;

	memset(fx, 0, sizeof(*fx));
	test_recorder_init(&fx->rec);
	kmem_buddy_config_init(&cfg);
	cfg.name = "test";
	cfg.frame_size = frame_size;
	cfg.max_order = max_order;
	cfg.flags = flags;
	cfg.discipline = discipline;
	cfg.pageblock_order = pageblock_order;
	cfg.sink = &fx->rec.sink;
	need = kmem_buddy_sizeof(&cfg);
	assert_true(need > 0);
	fx->inst = test_aligned(64, need);
	assert_int_equal(kmem_buddy_init(fx->inst, need, &cfg, &fx->b), 0);
}

static inline void fx_init(struct fixture *fx, size_t frame_size, unsigned max_order, unsigned flags)
{
	fx_init_policy(fx, frame_size, max_order, flags, KMEM_BUDDY_LIFO, 0);
}

/* Memory of `size` bytes whose start is `skew` bytes past an address aligned
 * to `align`; the frame table goes elsewhere. Returns the region base. */
static inline char *fx_region(struct fixture *fx, size_t align, size_t skew, size_t size)
{
	char *raw = test_aligned(align, size + skew);
	char *base = raw + skew;
	size_t msz = kmem_buddy_region_meta_size(fx->b, base, size);
	void *meta = test_aligned(64, msz ? msz : 8);

	assert_true(fx->nmem < FX_MAX_REGIONS);
	fx->mem[fx->nmem] = raw;
	fx->meta[fx->nmem] = meta;
	fx->nmem++;
	assert_int_equal(kmem_buddy_add_region(fx->b, base, size, meta, msz), 0);
	return base;
}

static inline void fx_fini(struct fixture *fx)
{
	assert_int_equal(kmem_buddy_check(fx->b), 0);
	kmem_buddy_destroy(fx->b);
	for (unsigned i = 0; i < fx->nmem; i++) {
		free(fx->mem[i]);
		free(fx->meta[i]);
	}
	free(fx->inst);
}

static inline void fx_buddyinfo(struct fixture *fx, char *buf, size_t len)
{
	int n = kmem_buddy_format_buddyinfo(fx->b, buf, len);

	assert_true(n > 0 && (size_t)n < len);
}

static inline struct kmem_buddy_stats fx_stats(struct fixture *fx)
{
	struct kmem_buddy_stats st;

	kmem_buddy_get_stats(fx->b, &st);
	return st;
}

#endif /* KMEM_BUDDY_FIXTURE_H */
