/* test_pa_init.c - the frame service's set-up (pagealloc/pagealloc.c): the
 * default watermarks and zeroing targets for several geometries, their
 * validation in kmem_pa_init and kmem_pa_set_watermarks, and every way a
 * configuration is refused without leaking a frame from the buddy; and
 * instances in static storage sized by the compile-time macros
 * (KMEM_BUDDY_SIZEOF, KMEM_PA_SIZEOF, KMEM_SLAB_SIZEOF).
 * Every scenario ends with kmem_pa_check and kmem_buddy_check, and after
 * kmem_pa_destroy every frame is free in the buddy again (pa_fixture.h). */

#include "pa_fixture.h"

/* ---- defaults, config and watermark validation ------------------------------ */

struct wm_case {
	size_t frame, arena;
	unsigned max_order;
	size_t managed, min, low, high, zero_low, zero_high;
	unsigned batch; /* 0: only check high == 6 * batch and 2^n - 1 */
};

static void check_defaults(const struct wm_case *c)
{
	struct pafx f;
	struct kmem_pa_stats st;

	pafx_init_full(&f, c->frame, c->max_order, c->arena, 0, KMEM_PA_INIT_ON_ALLOC);
	st = pafx_stats(&f);
	assert_int_equal(st.frame_size, c->frame);
	assert_int_equal(st.managed, c->managed);
	assert_int_equal(st.wmark_min, c->min);
	assert_int_equal(st.wmark_low, c->low);
	assert_int_equal(st.wmark_high, c->high);
	assert_true(st.wmark_min < st.wmark_low && st.wmark_low < st.wmark_high);
	assert_int_equal(st.zero_high, c->zero_high);
	assert_int_equal(st.zero_low, c->zero_low);
	if (c->batch)
		assert_int_equal(st.pcp_batch, c->batch);
	assert_true(st.pcp_batch >= 1 && st.pcp_batch <= 31);
	assert_int_equal(st.pcp_batch & (st.pcp_batch + 1), 0); /* 2^n - 1 */
	assert_int_equal(st.pcp_high, 6 * st.pcp_batch);
	assert_int_equal(st.init_policy, KMEM_PA_INIT_ON_ALLOC);
	assert_int_equal(st.nr_shrinkers, 0);
	assert_int_equal(st.nr_clients, 0);
	assert_false(st.reaper_running);
	assert_int_equal(st.pcp, 0);
#ifdef KMEM_HAVE_PTHREAD
	assert_int_equal(st.pcp_threads, 0); /* created on a thread's first use */
#else
	assert_int_equal(st.pcp_threads, 1); /* the instance's one cache */
#endif
	assert_int_equal(st.zeroed, 0);
	assert_int_equal(st.dirty, 0);
	assert_int_equal(st.allocs, 0);
	assert_int_equal(st.frees, 0);
	/* the pool arrays come from the buddy and are all that is used */
	assert_true(st.used > 0);
	assert_int_equal(st.used, pafx_buddy_used(&f));
	assert_int_equal(st.free, st.managed - st.used);
	assert_ptr_equal(kmem_pa_buddy(f.pa), f.b);
	assert_ptr_equal(kmem_pa_error_sink(f.pa), &f.rec.sink); /* the buddy's */
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_default_watermarks(void **state)
{
	/* 1024 frames of 4 KiB: min_kb = isqrt(65536) = 256 -> 64 frames,
	 * clamped to 1024 / 32 = 32; gap = max(8, 1, 1) */
	static const struct wm_case c4m = { 4096, (size_t)4 << 20, 6, 1024, 32, 40, 48, 24, 48, 1 };
	/* 256 frames: min_kb = 128 -> 32 frames, clamped to 8; gap = 2 */
	static const struct wm_case c1m = { 4096, (size_t)1 << 20, 6, 256, 8, 10, 12, 6, 12, 1 };
	/* 7168 frames of 256 bytes (1792 KiB): min_kb = isqrt(28672) = 169
	 * -> 676 frames, clamped to 224; gap = max(56, 7, 1); batch 7 */
	static const struct wm_case c256 = { 256, (size_t)7168 * 256, 6, 7168, 224, 280, 336, 168, 336, 7 };
	/* 16384 frames of 4 KiB: min_kb = 1024 -> 256 (under 512); gap = 64 */
	static const struct wm_case c64m = { 4096, (size_t)64 << 20, 10, 16384, 256, 320, 384, 192, 384, 0 };

	(void)state;
	check_defaults(&c4m);
	check_defaults(&c1m);
	check_defaults(&c256);
	check_defaults(&c64m);
}

/* zero_low = zero_high / 2, at most managed / 8 */
static void test_zero_targets_follow_watermarks(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct kmem_pa_stats st;

	(void)state;
	pafx_setup(&f, &cfg);
	cfg.wmark_min = 10;
	cfg.wmark_low = 20;
	cfg.wmark_high = 1000;
	pafx_start(&f, &cfg);
	st = pafx_stats(&f);
	assert_int_equal(st.wmark_min, 10);
	assert_int_equal(st.wmark_low, 20);
	assert_int_equal(st.wmark_high, 1000);
	/* "zero_high = high watermark, zero_low = zero_high / 2 (at most
	 * managed / 8)": read as the cap applying to the derived zero_high
	 * (and so to zero_low) */
	assert_int_equal(st.zero_high, 1024 / 8);
	assert_int_equal(st.zero_low, 1024 / 16);
	pafx_fini(&f);

	pafx_setup(&f, &cfg);
	cfg.zero_low = 3;
	cfg.zero_high = 7;
	pafx_start(&f, &cfg);
	st = pafx_stats(&f);
	assert_int_equal(st.zero_low, 3);
	assert_int_equal(st.zero_high, 7);
	assert_int_equal(st.wmark_high, 48);
	pafx_fini(&f);
}

/* kmem_pa_init() into pinst and, if it succeeds, kmem_pa_destroy(). */
static int try_init(void *pinst, const struct kmem_pa_config *cfg)
{
	struct kmem_pagealloc *pa = NULL;
	int rc = kmem_pa_init(pinst, kmem_pa_sizeof(), cfg, &pa);

	if (rc == 0) {
		kmem_pa_destroy(pa);
		return 0;
	}
	assert_null(pa);
	return rc;
}

static void test_config_validation(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg, c;
	struct kmem_pagealloc *pa = NULL;
	size_t used0;
	void *all[16], *pinst;

	(void)state;
	/* the buddy alone: kmem_pa_init() called here, on it */
	pafx_setup(&f, &cfg);
	pafx_bare(&f);
	cfg.buddy = f.b;
	pinst = test_aligned(64, kmem_pa_sizeof());
	used0 = pafx_buddy_used(&f);
	assert_int_equal(kmem_pa_sizeof() % 16, 0);

	assert_int_equal(kmem_pa_init(pinst, kmem_pa_sizeof(), NULL, &pa), -EINVAL);
	assert_int_equal(kmem_pa_init(NULL, kmem_pa_sizeof(), &cfg, &pa), -EINVAL);
	assert_int_equal(kmem_pa_init(pinst, kmem_pa_sizeof(), &cfg, NULL), -EINVAL);
	assert_int_equal(kmem_pa_init((char *)pinst + 8, kmem_pa_sizeof(), &cfg, &pa), -EINVAL);
	assert_int_equal(kmem_pa_init(pinst, kmem_pa_sizeof() - 1, &cfg, &pa), -ENOSPC);
	assert_null(pa);
	c = cfg;
	c.buddy = NULL;
	assert_int_equal(try_init(pinst, &c), -EINVAL);
	c = cfg;
	c.flags = 0x100;
	assert_int_equal(try_init(pinst, &c), -EINVAL);
	c = cfg;
	c.init_policy = (enum kmem_pa_init_policy)7;
	assert_int_equal(try_init(pinst, &c), -EINVAL);
	c = cfg;
	c.share_policy = (enum kmem_pa_share_policy)9;
	assert_int_equal(try_init(pinst, &c), -EINVAL);
	c = cfg;
	c.reclaim_scope = (enum kmem_pa_reclaim_scope)5;
	assert_int_equal(try_init(pinst, &c), -EINVAL);
	/* watermarks: all 0 or min < low < high <= managed */
	static const size_t bad[][3] = {
		{ 1, 1, 2 }, { 2, 1, 3 }, { 1, 3, 3 }, { 1, 4, 3 }, { 1, 2, 1025 },
		{ 5, 0, 0 }, { 0, 0, 5 }, { 0, 5, 10 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = cfg;
		c.wmark_min = bad[i][0];
		c.wmark_low = bad[i][1];
		c.wmark_high = bad[i][2];
		assert_int_equal(try_init(pinst, &c), -EINVAL);
	}
	c = cfg;
	c.wmark_min = 1;
	c.wmark_low = 2;
	c.wmark_high = 1024; /* high == managed is allowed */
	assert_int_equal(try_init(pinst, &c), 0);
	c = cfg;
	c.zero_low = 10;
	c.zero_high = 9;
	assert_int_equal(try_init(pinst, &c), -EINVAL);
	/* nothing leaked from the buddy by the failures */
	assert_int_equal(pafx_buddy_used(&f), used0);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);

	/* no room for the pool arrays */
	for (unsigned i = 0; i < 16; i++) {
		all[i] = kmem_buddy_alloc(f.b, 6);
		assert_non_null(all[i]);
	}
	assert_int_equal(kmem_buddy_free_frames(f.b), 0);
	assert_int_equal(try_init(pinst, &cfg), -ENOMEM);
	for (unsigned i = 0; i < 16; i++)
		kmem_buddy_free(f.b, all[i]);
	assert_int_equal(pafx_buddy_used(&f), 0);

	/* and after all that, the service starts on the buddy */
	assert_int_equal(try_init(pinst, &cfg), 0);
	free(pinst);
	pafx_fini(&f);
}

static void test_set_watermarks(void **state)
{
	struct pafx f;
	struct kmem_pa_stats st;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 0, 1, 2), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 5, 5, 6), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 5, 6, 6), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 5, 7, 6), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 6, 5, 7), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 5, 6, 1025), -EINVAL);
	st = pafx_stats(&f);
	assert_int_equal(st.wmark_min, 32); /* unchanged by the failures */
	assert_int_equal(st.wmark_low, 40);
	assert_int_equal(st.wmark_high, 48);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 1, 2, 1024), 0);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 100, 200, 300), 0);
	st = pafx_stats(&f);
	assert_int_equal(st.wmark_min, 100);
	assert_int_equal(st.wmark_low, 200);
	assert_int_equal(st.wmark_high, 300);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* ---- static storage (compile-time sizes) -------------------------------------- */

/* Firmware places every instance in static storage, sized by the
 * compile-time macros (constant expressions: these declarations would not
 * compile otherwise): a buddy with one region and owner words, the frame
 * service and a slab instance over it. Each macro is at least the run-time
 * size, and not wildly more. */
#define SS_FRAMES 256
#define SS_FRAME 256
static _Alignas(16) unsigned char ss_buddy[KMEM_BUDDY_SIZEOF(1)];
static _Alignas(8) unsigned char ss_table[KMEM_BUDDY_TABLE_BYTES(SS_FRAMES, 1)];
static _Alignas(SS_FRAMES * SS_FRAME) unsigned char ss_arena[SS_FRAMES * SS_FRAME];
static _Alignas(16) unsigned char ss_pa[KMEM_PA_SIZEOF];
static _Alignas(16) unsigned char ss_slab[KMEM_SLAB_SIZEOF];
_Static_assert(KMEM_PA_SIZEOF % 16 == 0 && KMEM_SLAB_SIZEOF % 16 == 0, "whole 16-byte units");

static void test_static_storage(void **state)
{
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;
	struct kmem_slab_config sc = { .name = "static" };
	struct kmem_page_source ps;
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	struct kmem_slab *s;
	void *p, *q;

	(void)state;
	assert_true(KMEM_PA_SIZEOF >= kmem_pa_sizeof());
	assert_true(KMEM_PA_SIZEOF - kmem_pa_sizeof() < 1024); /* a bound, not a guess */
	assert_true(KMEM_SLAB_SIZEOF >= kmem_slab_sizeof());
	/* one bound for every build: without magazines the instance has no
	 * magazine cache (decision 32), a struct kmem_cache less */
	assert_true(KMEM_SLAB_SIZEOF - kmem_slab_sizeof() < (KMEM_MAGAZINES ? 1024u : 2048u));
	kmem_buddy_config_init(&bc);
	bc.frame_size = SS_FRAME;
	bc.max_order = 8;
	bc.max_regions = 1;
	bc.flags = KMEM_BUDDY_OWNERS;
	assert_int_equal(kmem_buddy_init(ss_buddy, sizeof(ss_buddy), &bc, &b), 0);
	assert_int_equal(kmem_buddy_add_region(b, ss_arena, sizeof(ss_arena), ss_table,
					       sizeof(ss_table)), 0);
	kmem_pa_config_init(&pc);
	pc.buddy = b;
	assert_int_equal(kmem_pa_init(ss_pa, sizeof(ss_pa), &pc, &pa), 0);
	kmem_buddy_page_source(b, &ps);
	sc.source = &ps;
	assert_int_equal(kmem_slab_init(ss_slab, sizeof(ss_slab), &sc, &s), 0);
	p = kmem_pa_alloc(pa, 0, 0);
	q = kmem_alloc(s, 100);
	assert_non_null(p);
	assert_non_null(q);
	kmem_free(s, q);
	kmem_pa_free(pa, p, 0);
	assert_int_equal(kmem_pa_check(pa), 0);
	kmem_slab_destroy(s);
	kmem_pa_destroy(pa);
	assert_int_equal(kmem_buddy_check(b), 0);
	assert_int_equal(kmem_buddy_free_frames(b), SS_FRAMES);
	kmem_buddy_destroy(b);
	/* one byte less than the run-time size: refused */
	assert_int_equal(kmem_buddy_init(ss_buddy, sizeof(ss_buddy), &bc, &b), 0);
	assert_int_equal(kmem_buddy_add_region(b, ss_arena, sizeof(ss_arena), ss_table,
					       sizeof(ss_table)), 0);
	pc.buddy = b;
	assert_int_equal(kmem_pa_init(ss_pa, kmem_pa_sizeof() - 1, &pc, &pa), -ENOSPC);
	assert_int_equal(kmem_slab_init(ss_slab, kmem_slab_sizeof() - 1, &sc, &s), -ENOSPC);
	kmem_buddy_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_watermarks),
		cmocka_unit_test(test_zero_targets_follow_watermarks),
		cmocka_unit_test(test_config_validation),
		cmocka_unit_test(test_set_watermarks),
		cmocka_unit_test(test_static_storage),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_default_watermarks */
	return cmocka_run_group_tests_name("pagealloc-init", tests, NULL, NULL);
}
