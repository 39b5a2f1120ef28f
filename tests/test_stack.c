/* test_stack.c - the one-call assembly (include/kmem/stack.h): every layer
 * works and checks clean on the assembled stack, with and without the frame
 * service, with and without the slab instance (and with neither: the buddy
 * alone), one shared sink sees every layer's errors, the add_regions
 * callback may set the frame service's config, the upper layers may be
 * destroyed first, bad arguments fail without leaving anything
 * half-made, and the drop-in's heap (kmem_stack_config_malloc) builds with
 * its classes and release step. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kmem_test.h"
#include <kmem/stack.h>

#define HEAP (4u << 20)

static _Alignas(64) unsigned char heap[HEAP];
static _Alignas(4096) unsigned char foreign[4096]; /* never in any region */

static void exercise(struct kmem_stack *st)
{
	void *obj[64], *page, *blk;

	for (int i = 0; i < 64; i++) {
		obj[i] = kmem_alloc(st->slab, (size_t)(8 + i * 37));
		assert_non_null(obj[i]);
		memset(obj[i], 0xa5, (size_t)(8 + i * 37));
	}
	blk = kmem_buddy_alloc(st->buddy, 1);
	assert_non_null(blk);
	if (st->pa) {
		page = kmem_pa_alloc(st->pa, 0, KMEM_PAGE_ZERO);
		assert_non_null(page);
		for (size_t i = 0; i < kmem_buddy_frame_size(st->buddy); i++)
			assert_int_equal(((unsigned char *)page)[i], 0);
		kmem_pa_free(st->pa, page, 0);
		assert_int_equal(kmem_pa_check(st->pa), 0);
	}
	assert_int_equal(kmem_slab_check(st->slab), 0);
	assert_int_equal(kmem_buddy_check(st->buddy), 0);
	for (int i = 0; i < 64; i++)
		kmem_free(st->slab, obj[i]);
	kmem_buddy_free(st->buddy, blk);
	assert_int_equal(kmem_slab_check(st->slab), 0);
	assert_int_equal(kmem_buddy_check(st->buddy), 0);
}

static void test_create_in(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	size_t before;

	(void)state;
	kmem_stack_config_init(&cfg);
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	assert_non_null(st.buddy);
	assert_non_null(st.pa);
	assert_non_null(st.slab);
	/* the instances sit at the buffer's start, the frames after them */
	assert_true((unsigned char *)st.buddy >= heap && (unsigned char *)st.buddy < heap + 4096);
	before = kmem_buddy_free_frames(st.buddy);
	assert_true(before > 0 && before < HEAP / 4096);
	exercise(&st);
	kmem_stack_destroy(&st);
	assert_null(st.buddy);
	assert_null(st.slab);
}

static void test_no_pagealloc(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;

	(void)state;
	kmem_stack_config_init(&cfg);
	cfg.no_pagealloc = true;
	assert_true(kmem_stack_sizeof(&cfg) < kmem_stack_sizeof(&(struct kmem_stack_config){
		.buddy = cfg.buddy }));
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	assert_null(st.pa);
	exercise(&st);
	kmem_stack_destroy(&st);
}

static size_t buddy_used(struct kmem_buddy *b)
{
	struct kmem_buddy_stats bs;

	kmem_buddy_get_stats(b, &bs);
	return bs.used_frames;
}

/* A slab instance of the caller's own on a page source of the stack (what a
 * no_slab consumer may do later): kmalloc works, the owner words are there. */
static void own_slab(const struct kmem_page_source *ps)
{
	struct kmem_slab_config sc;
	struct kmem_slab *s = NULL;
	void *mem = test_aligned(64, kmem_slab_sizeof());
	void *obj[16];

	memset(&sc, 0, sizeof(sc));
	sc.name = "own";
	sc.source = ps;
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), 0);
	for (int i = 0; i < 16; i++) {
		obj[i] = kmem_alloc(s, (size_t)(16 + i * 300));
		assert_non_null(obj[i]);
		memset(obj[i], 0x5a, (size_t)(16 + i * 300));
	}
	assert_int_equal(kmem_slab_check(s), 0);
	for (int i = 0; i < 16; i++)
		kmem_free(s, obj[i]);
	kmem_slab_destroy(s);
	free(mem);
}

/* Frames through the frame service of a no_slab stack: blocks of orders
 * 0..3, zeroed when asked, all given back. */
static void exercise_frames(struct kmem_stack *st)
{
	size_t frame = kmem_buddy_frame_size(st->buddy);
	unsigned char *blk[32];

	for (unsigned i = 0; i < 32; i++) {
		unsigned order = i % 4;

		blk[i] = kmem_pa_alloc(st->pa, order, i % 2 ? KMEM_PAGE_ZERO : 0);
		assert_non_null(blk[i]);
		if (i % 2)
			for (size_t k = 0; k < frame << order; k++)
				assert_int_equal(blk[i][k], 0);
		memset(blk[i], 0xc3, frame << order);
	}
	assert_int_equal(kmem_pa_check(st->pa), 0);
	assert_int_equal(kmem_buddy_check(st->buddy), 0);
	for (unsigned i = 0; i < 32; i++)
		kmem_pa_free(st->pa, blk[i], i % 4);
	assert_int_equal(kmem_pa_check(st->pa), 0);
	assert_int_equal(kmem_buddy_check(st->buddy), 0);
}

/* no_slab: the frame service on the buddy, no slab instance, less instance
 * memory; frames work through st.pa, a slab instance of one's own can go on
 * the service later, and once the service is destroyed every frame is free
 * in the buddy again. */
static void test_no_slab(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	struct kmem_page_source ps;
	struct test_recorder rec;
	size_t first;

	(void)state;
	test_recorder_init(&rec);
	kmem_stack_config_init(&cfg);
	cfg.no_slab = true;
	cfg.sink = &rec.sink;
	cfg.slab.debug_flags = 0x80000000u; /* ignored: no slab instance */
	assert_true(kmem_stack_sizeof(&cfg) < kmem_stack_sizeof(&(struct kmem_stack_config){
		.buddy = cfg.buddy }));
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	assert_non_null(st.buddy);
	assert_non_null(st.pa);
	assert_null(st.slab);
	assert_ptr_equal(kmem_pa_buddy(st.pa), st.buddy);
	first = kmem_buddy_free_frames(st.buddy);
	exercise_frames(&st);
	kmem_pa_page_source(st.pa, &ps);
	own_slab(&ps);
	exercise_frames(&st);
	/* the shared sink is the service's */
	assert_int_equal(kmem_pa_free_checked(st.pa, foreign, 0), KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_error_count(&rec.sink, KMEM_FOREIGN_POINTER), 1);
	assert_int_equal(kmem_pa_check(st.pa), 0);
	/* destroy the service first: everything is back in the buddy */
	kmem_pa_destroy(st.pa);
	st.pa = NULL;
	assert_int_equal(kmem_buddy_check(st.buddy), 0);
	assert_int_equal(buddy_used(st.buddy), 0);
	kmem_stack_destroy(&st);
	assert_null(st.buddy);
	assert_null(st.pa);
	/* the same memory assembles again, with as many free frames */
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	assert_int_equal(kmem_buddy_free_frames(st.buddy), first);
	exercise_frames(&st);
	kmem_stack_destroy(&st);
	assert_int_equal(kmem_error_total(&rec.sink), 1);
}

/* no_slab with no_pagealloc: the buddy alone, owner words still on (so a
 * slab instance can go on its page source later), the least memory. */
static void test_bare_buddy(void **state)
{
	struct kmem_stack_config cfg, slab_only;
	struct kmem_stack st;
	struct kmem_page_source ps;
	void *blk[8];

	(void)state;
	kmem_stack_config_init(&cfg);
	cfg.no_slab = true;
	cfg.no_pagealloc = true;
	cfg.buddy.flags = 0; /* the stack puts KMEM_BUDDY_OWNERS back */
	kmem_stack_config_init(&slab_only);
	slab_only.no_pagealloc = true;
	assert_true(kmem_stack_sizeof(&cfg) > 0);
	assert_true(kmem_stack_sizeof(&cfg) < kmem_stack_sizeof(&slab_only));
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	assert_non_null(st.buddy);
	assert_null(st.pa);
	assert_null(st.slab);
	for (unsigned i = 0; i < 8; i++) {
		blk[i] = kmem_buddy_alloc(st.buddy, i % 3);
		assert_non_null(blk[i]);
	}
	assert_int_equal(kmem_buddy_check(st.buddy), 0);
	for (unsigned i = 0; i < 8; i++)
		kmem_buddy_free(st.buddy, blk[i]);
	kmem_buddy_page_source(st.buddy, &ps);
	assert_non_null(ps.set_owner); /* owner words: KMEM_BUDDY_OWNERS */
	own_slab(&ps);
	assert_int_equal(kmem_buddy_check(st.buddy), 0);
	assert_int_equal(buddy_used(st.buddy), 0);
	kmem_stack_destroy(&st);
	assert_null(st.buddy);
}

struct wm_arg {
	struct kmem_stack_config *cfg;
	size_t managed;
};

/* adds the region, then sets the frame service's watermarks from it */
static int add_and_size(void *arg, struct kmem_buddy *b)
{
	struct wm_arg *w = arg;
	int rc = kmem_buddy_add_region(b, heap, HEAP, NULL, 0);

	if (rc)
		return rc;
	w->managed = kmem_buddy_free_frames(b);
	w->cfg->pa.wmark_min = w->managed / 64;
	w->cfg->pa.wmark_low = w->managed / 32;
	w->cfg->pa.wmark_high = w->managed / 16;
	return 0;
}

/* the callback may set cfg->pa from what it added: the service starts with
 * those watermarks */
static void test_callback_sets_pa(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	struct kmem_pa_stats ps;
	struct wm_arg w = { &cfg, 0 };
	size_t need;
	void *mem;

	(void)state;
	kmem_stack_config_init(&cfg);
	cfg.no_slab = true;
	cfg.add_regions = add_and_size;
	cfg.add_regions_arg = &w;
	need = kmem_stack_sizeof(&cfg);
	mem = test_aligned(64, need);
	assert_int_equal(kmem_stack_init(mem, need, &cfg, NULL, 0, NULL, 0, &st), 0);
	assert_true(w.managed > 64);
	kmem_pa_get_stats(st.pa, &ps);
	assert_int_equal(ps.wmark_min, w.managed / 64);
	assert_int_equal(ps.wmark_low, w.managed / 32);
	assert_int_equal(ps.wmark_high, w.managed / 16);
	exercise_frames(&st);
	kmem_stack_destroy(&st);
	free(mem);
}

/* separate instance memory and arena, 1 KiB frames, names passed through */
static void test_init_separate(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	size_t need;
	void *mem;
	char text[256];

	(void)state;
	kmem_stack_config_init(&cfg);
	cfg.buddy.frame_size = 1024;
	cfg.buddy.name = "stk";
	cfg.slab.name = "stk-slab";
	need = kmem_stack_sizeof(&cfg);
	assert_true(need > 0);
	mem = test_aligned(64, need);
	assert_int_equal(kmem_stack_init(mem, need, &cfg, heap, sizeof(heap), NULL, 0, &st), 0);
	assert_int_equal(kmem_buddy_frame_size(st.buddy), 1024);
	assert_true(kmem_buddy_format_buddyinfo(st.buddy, text, sizeof(text)) > 0);
	assert_non_null(strstr(text, "stk"));
	exercise(&st);
	kmem_stack_destroy(&st);
	free(mem);
}

struct regions {
	unsigned calls;
	int fail;
};

static int add_two(void *arg, struct kmem_buddy *b)
{
	struct regions *r = arg;

	r->calls++;
	if (r->fail)
		return r->fail;
	if (kmem_buddy_add_region(b, heap, HEAP / 2, NULL, 0))
		return -EIO;
	return kmem_buddy_add_region(b, heap + HEAP / 2, HEAP / 2, NULL, 0);
}

static void test_add_regions_callback(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	struct regions r = { 0, 0 };
	struct kmem_buddy_stats bs;
	void *mem;
	size_t need;

	(void)state;
	TEST_NEEDS(KMEM_BUDDY_HOTADD, "several regions per instance (-Dbuddy_hotadd)");
	kmem_stack_config_init(&cfg);
	cfg.add_regions = add_two;
	cfg.add_regions_arg = &r;
	need = kmem_stack_sizeof(&cfg);
	mem = test_aligned(64, need);
	assert_int_equal(kmem_stack_init(mem, need, &cfg, NULL, 0, NULL, 0, &st), 0);
	assert_int_equal(r.calls, 1);
	kmem_buddy_get_stats(st.buddy, &bs);
	assert_int_equal(bs.nr_regions, 2);
	exercise(&st);
	kmem_stack_destroy(&st);

	/* a failing callback: its error comes back, nothing is left made, and
	 * the same memory assembles cleanly afterwards */
	r.fail = -EIO;
	assert_int_equal(kmem_stack_init(mem, need, &cfg, NULL, 0, NULL, 0, &st), -EIO);
	assert_null(st.buddy);
	assert_null(st.slab);
	r.fail = 0;
	assert_int_equal(kmem_stack_init(mem, need, &cfg, NULL, 0, NULL, 0, &st), 0);
	exercise(&st);
	kmem_stack_destroy(&st);
	free(mem);
}

/* One sink for all three layers: a misuse at each layer lands there. */
static void test_shared_sink(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	struct test_recorder rec;
	void *obj, *blk;

	(void)state;
	test_recorder_init(&rec);
	kmem_stack_config_init(&cfg);
	cfg.sink = &rec.sink;
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	obj = kmem_alloc(st.slab, 32);
	assert_non_null(obj);
	TEST_MISUSE(kmem_free(st.slab, (char *)obj + 1));
	assert_int_equal(kmem_error_count(&rec.sink, KMEM_INTERIOR_POINTER), 1);
	kmem_free(st.slab, obj);
	blk = kmem_buddy_alloc(st.buddy, 0);
	assert_non_null(blk);
	kmem_buddy_free(st.buddy, blk);
	TEST_MISUSE(kmem_buddy_free(st.buddy, blk));
	assert_int_equal(kmem_error_count(&rec.sink, KMEM_DOUBLE_FREE), 1);
	assert_int_equal(kmem_pa_free_checked(st.pa, foreign, 0), KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_error_count(&rec.sink, KMEM_FOREIGN_POINTER), 1);
	assert_int_equal(kmem_slab_check(st.slab), 0);
	assert_int_equal(kmem_pa_check(st.pa), 0);
	assert_int_equal(kmem_buddy_check(st.buddy), 0);
	kmem_stack_destroy(&st);
}

static void test_bad_arguments(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	size_t need;

	(void)state;
	kmem_stack_config_init(&cfg);
	need = kmem_stack_sizeof(&cfg);
	memset(&st, 0xff, sizeof(st));
	assert_int_equal(kmem_stack_init(heap, need, NULL, heap + 65536, 65536, NULL, 0, &st), -EINVAL);
	assert_null(st.buddy); /* *out zeroed on failure */
	assert_int_equal(kmem_stack_init(NULL, need, &cfg, heap, 65536, NULL, 0, &st), -EINVAL);
	assert_int_equal(kmem_stack_init(heap + 8, need, &cfg, heap + 65536, 65536, NULL, 0, &st),
			 -EINVAL);
	assert_int_equal(kmem_stack_init(heap, need, &cfg, NULL, 0, NULL, 0, &st), -EINVAL);
	assert_int_equal(kmem_stack_init(heap, need - 1, &cfg, heap + 65536, 65536, NULL, 0, &st),
			 -ENOSPC);
	assert_int_equal(kmem_stack_init(heap, need, &cfg, heap + 65536, 65536, NULL, 0, NULL),
			 -EINVAL);
	/* an arena with no whole frame after its table */
	assert_int_equal(kmem_stack_init(heap, need, &cfg, heap + 65536, 100, NULL, 0, &st), -ENOSPC);
	assert_null(st.buddy);
	/* a buffer that only holds the instances */
	assert_int_equal(kmem_stack_create_in(heap, need, &cfg, &st), -ENOSPC);
	/* an invalid layer config */
	cfg.buddy.frame_size = 3000;
	assert_int_equal(kmem_stack_sizeof(&cfg), 0);
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), -EINVAL);
	kmem_stack_config_init(&cfg);
	cfg.slab.debug_flags = 0x80000000u;
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), -EINVAL);
	assert_null(st.buddy);
	/* the frame service's config rejected with no slab instance above it */
	kmem_stack_config_init(&cfg);
	cfg.no_slab = true;
	cfg.pa.flags = 0x100;
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), -EINVAL);
	assert_null(st.buddy);
	assert_null(st.pa);
	/* and after all that, the memory assembles cleanly */
	kmem_stack_config_init(&cfg);
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	exercise(&st);
	kmem_stack_destroy(&st);
}

/* The drop-in's heap as a configuration (kmem_stack_config_malloc): its
 * classes, slab bound and release step are what the stack builds. */
static void test_malloc_config(void **state)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	struct kmem_pa_stats ps;
	void *p;

	(void)state;
	kmem_stack_config_malloc(&cfg);
	assert_int_equal(cfg.buddy.frame_size, KMEM_STACK_MALLOC_FRAME);
	assert_int_equal(cfg.buddy.max_order, KMEM_STACK_MALLOC_MAX_ORDER);
	assert_true(cfg.buddy.flags & KMEM_BUDDY_OWNERS);
	assert_int_equal(cfg.slab.kmalloc_classes, KMEM_KMALLOC_FINE);
	assert_int_equal(cfg.slab.waste_div, 32);
	assert_true(cfg.pa.flags & KMEM_PA_RELEASE);
	assert_int_equal(cfg.pa.wmark_high, KMEM_STACK_MALLOC_HIGH / KMEM_STACK_MALLOC_FRAME);
	assert_int_equal(cfg.pa.pcp_batch, 15);
	assert_int_equal(cfg.pa.pcp_high, 90);
	assert_null(cfg.add_regions);
	/* on a 4 MiB buffer: a smaller max order, the high watermark lowered */
	cfg.buddy.max_order = 8;
	cfg.pa.wmark_high = 512;
	memset(heap, 0, sizeof(heap)); /* KMEM_PA_ZEROED_BUDDY: the arena must read zero */
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	/* the fresh arena starts in the released pool (KMEM_PA_ZEROED_BUDDY) */
	kmem_pa_get_stats(st.pa, &ps);
	assert_true(ps.released_held > 0);
	assert_int_equal(kmem_pa_released_frames(st.pa), ps.released_held);
	p = kmem_alloc(st.slab, 40);
	assert_non_null(p);
	assert_int_equal(kmem_usable_size(st.slab, p), 48); /* four classes a doubling */
	kmem_free(st.slab, p);
	p = kmem_alloc(st.slab, 4368); /* a power of two and a header: an eighth above */
	assert_int_equal(kmem_usable_size(st.slab, p), KMEM_KMALLOC_BIG ? 4608 : 5120);
	kmem_free(st.slab, p);
	assert_int_equal(kmem_pa_check(st.pa), 0);
	kmem_stack_destroy(&st);
	/* without the release step nothing is released */
	kmem_stack_config_init(&cfg);
	assert_int_equal(kmem_stack_create_in(heap, sizeof(heap), &cfg, &st), 0);
	assert_int_equal(kmem_pa_released_frames(st.pa), 0);
	kmem_stack_destroy(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_in),
		cmocka_unit_test(test_no_pagealloc),
		cmocka_unit_test(test_no_slab),
		cmocka_unit_test(test_bare_buddy),
		cmocka_unit_test(test_callback_sets_pa),
		cmocka_unit_test(test_init_separate),
		cmocka_unit_test(test_add_regions_callback),
		cmocka_unit_test(test_shared_sink),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_malloc_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
