/* test_pa_pcp.c - the per-thread frame caches (pagealloc/pcp.c) on one
 * thread: kmem_pa_drain empties the caches and the pools back into the
 * buddy, orders past the buddy's, the page source over the caches, and a
 * bad block found when it leaves a cache. A thread's exit returning its
 * cache is in test_pa_threads.c. */

#include "pa_fixture.h"

/* ---- drain, page source, orders ---------------------------------------------------- */

static void test_drain_and_page_source(void **state)
{
	struct pafx f;
	struct kmem_pa_stats st;
	struct kmem_page_source ps, bps;
	void *p[16];
	size_t pooled, got;

	(void)state;
	pafx_init(&f, 0);
	for (unsigned i = 0; i < 16; i++) {
		p[i] = kmem_pa_alloc(f.pa, i % 4, 0);
		assert_non_null(p[i]);
	}
	for (unsigned i = 0; i < 16; i++)
		kmem_pa_free(f.pa, p[i], i % 4);
	(void)kmem_pa_reaper_run(f.pa, 7);
	st = pafx_stats(&f);
	assert_int_equal(st.allocs, 16);
	assert_int_equal(st.frees, 16);
	assert_true(st.pcp <= 4 * st.pcp_high);
	pooled = st.pcp + st.zeroed + st.dirty;
	assert_true(pooled > 0);
	got = kmem_pa_drain(f.pa);
	assert_int_equal(got, pooled);
	st = pafx_stats(&f);
	assert_int_equal(st.pcp, 0);
	assert_int_equal(st.zeroed, 0);
	assert_int_equal(st.dirty, 0);
	assert_int_equal(st.free, st.buddy_free);
	assert_int_equal(kmem_pa_drain(f.pa), 0);
	pafx_assert_sane(&f);

	/* orders past the buddy's max: NULL, not counted as a failure */
	assert_null(kmem_pa_alloc(f.pa, 7, 0));
	assert_null(kmem_pa_alloc(f.pa, 31, KMEM_PAGE_ZERO));
	assert_int_equal(pafx_stats(&f).alloc_fails, 0);
	kmem_pa_free(f.pa, NULL, 0);
	assert_int_equal(pafx_stats(&f).frees, 16);

	/* the page source: the service's alloc/free, the buddy's owner words */
	memset(&ps, 0, sizeof(ps));
	kmem_pa_page_source(f.pa, &ps);
	kmem_buddy_page_source(f.b, &bps);
	assert_non_null(ps.alloc_pages);
	assert_non_null(ps.free_pages);
	assert_non_null(ps.set_owner);
	assert_non_null(ps.get_owner);
	assert_non_null(ps.register_shrinker);
	assert_non_null(ps.unregister_shrinker);
	assert_int_equal(ps.frame_size, 4096);
	assert_int_equal(ps.max_order, 6);
	assert_int_equal(ps.owner_base, bps.owner_base);
	assert_int_equal(ps.owner_frames, bps.owner_frames);
	assert_ptr_equal(ps.owner_words, bps.owner_words);
	p[0] = ps.alloc_pages(ps.ctx, 3, KMEM_PAGE_ZERO);
	assert_non_null(p[0]);
	assert_int_equal((uintptr_t)p[0] % (8 * 4096), 0);
	assert_true(all_zero(p[0], 8 * 4096));
	assert_int_equal(kmem_buddy_block_order(f.b, p[0]), 3);
	assert_int_equal(ps.set_owner(ps.ctx, p[0], &f), 0);
	assert_ptr_equal(ps.get_owner(ps.ctx, (char *)p[0] + 5 * 4096 + 7), &f);
	assert_int_equal(ps.set_owner(ps.ctx, p[0], NULL), 0);
	assert_int_equal(pafx_stats(&f).allocs, 17);
	ps.free_pages(ps.ctx, p[0], 3);
	assert_int_equal(pafx_stats(&f).frees, 17);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* With thread caches: a double free into the caller's cache is found; the
 * unchecked fast path reports a bad block when it leaves the cache. */
static void test_misuse_thread_cache(void **state)
{
	struct pafx f;
	struct test_recorder *rec = &f.rec;
	unsigned char *p, *foreign;

	(void)state;
	pafx_init(&f, 0);
	foreign = test_aligned(4096, 4096);
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	kmem_pa_free(f.pa, p, 0);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 0), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 1);
	assert_int_equal(kmem_pa_check(f.pa), 0);

	kmem_pa_free(f.pa, foreign, 0);
	(void)kmem_pa_drain(f.pa);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_FOREIGN_POINTER), 1);
	p = kmem_pa_alloc(f.pa, 1, 0);
	assert_non_null(p);
	kmem_pa_free(f.pa, p + 4096, 0);
	(void)kmem_pa_drain(f.pa);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_INTERIOR_POINTER), 1);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1); /* still allocated */
	assert_int_equal(kmem_error_total(&rec->sink), 3);
	assert_int_equal(kmem_pa_check(f.pa), 0);
	kmem_pa_free(f.pa, p, 1);
	(void)kmem_pa_drain(f.pa);
	assert_int_equal(pafx_stats(&f).pcp, 0);
	assert_int_equal(kmem_error_total(&rec->sink), 3);
	pafx_assert_sane(&f);
	free(foreign);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drain_and_page_source),
		cmocka_unit_test(test_misuse_thread_cache),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_drain_and_page_source */
	return cmocka_run_group_tests_name("pagealloc-pcp", tests, NULL, NULL);
}
