/* test_pa_misuse.c - misuse of the frame service reported through its
 * error sink (pagealloc/pool.c, pagealloc/pagealloc.c): the checked free
 * of a foreign, interior, wrong-order, double-freed (pooled, zeroed or in
 * the buddy), reserved or shared block, each counted exactly; and a
 * configured sink taking the reports instead of the buddy's. A bad block
 * found when it leaves a thread cache is in test_pa_pcp.c. */

#include "pa_fixture.h"

/* ---- misuse --------------------------------------------------------------------- */

/* before the service starts: the arena's last 16 frames reserved */
static void reserve_tail(struct pafx *f)
{
	unsigned char *tail = (unsigned char *)f->arena + f->arena_size - 16 * f->frame;

	/* with reservations compiled out (-Dbuddy_reserve): refused, and the
	 * test goes on without the reserved frames */
	assert_int_equal(kmem_buddy_reserve(f->b, tail, 16 * f->frame), KMEM_BUDDY_RESERVE ? 0 : -ENOTSUP);
}

static void test_misuse_checked_free(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct test_recorder *rec = &f.rec;
	unsigned char *p, *q, *r, *s, *reserved, *foreign;
	size_t used;

	(void)state;
	pafx_setup(&f, &cfg);
	/* the last 16 frames reserved before the service starts */
	f.before_start = reserve_tail;
	reserved = (unsigned char *)f.arena + ((size_t)4 << 20) - 16 * 4096;
	cfg.flags = KMEM_PA_NO_PCP;
	pafx_start(&f, &cfg);
	assert_int_equal(pafx_stats(&f).managed, KMEM_BUDDY_RESERVE ? 1008 : 1024);
	foreign = test_aligned(4096, 4096);

	assert_int_equal(kmem_pa_free_checked(f.pa, NULL, 0), KMEM_OK);
	assert_int_equal(kmem_error_total(&rec->sink), 0);

	assert_int_equal(kmem_pa_free_checked(f.pa, foreign, 0), KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_FOREIGN_POINTER), 1);
	assert_int_equal(rec->last.status, KMEM_FOREIGN_POINTER);
	assert_ptr_equal(rec->last.ptr, foreign);

	p = kmem_pa_alloc(f.pa, 1, 0);
	assert_non_null(p);
	used = pafx_stats(&f).used;
	assert_int_equal(kmem_pa_free_checked(f.pa, p + 4096, 0), KMEM_INTERIOR_POINTER);
	assert_ptr_equal(rec->last.ptr, p + 4096);
	assert_int_equal(kmem_pa_free_checked(f.pa, p + 8, KMEM_BUDDY_ANY_ORDER),
			 KMEM_INTERIOR_POINTER);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_INTERIOR_POINTER), 2);
	/* wrong order: reported, nothing freed */
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 0), KMEM_WRONG_ORDER);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 2), KMEM_WRONG_ORDER);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_WRONG_ORDER), 2);
	assert_ptr_equal(rec->last.ptr, p);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	assert_int_equal(pafx_stats(&f).used, used);
	assert_int_equal(pafx_stats(&f).frees, 0);
	assert_int_equal(kmem_pa_check(f.pa), 0);
	/* the right order frees; again is a double free (the block is pooled) */
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 1), KMEM_OK);
	assert_int_equal(pafx_stats(&f).used, used - 2);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 1), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, KMEM_BUDDY_ANY_ORDER), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 2);
	assert_int_equal(pafx_stats(&f).frees, 1);
	assert_int_equal(kmem_pa_check(f.pa), 0);

	/* a block the zeroer moved to the zeroed pool */
	q = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(q);
	kmem_pa_free(f.pa, q, 0);
	(void)kmem_pa_reaper_run(f.pa, BIG_BUDGET);
	assert_true(pafx_stats(&f).zeroed > 0);
	assert_int_equal(kmem_pa_free_checked(f.pa, q, 0), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 3);
	/* a block of a buddy order (no pool): free in the buddy */
	r = kmem_pa_alloc(f.pa, 5, 0);
	assert_non_null(r);
	assert_int_equal(kmem_pa_free_checked(f.pa, r, 5), KMEM_OK);
	assert_int_equal(kmem_pa_free_checked(f.pa, r, 5), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 4);
	/* a reserved frame */
	if (KMEM_BUDDY_RESERVE)
		assert_int_equal(kmem_pa_free_checked(f.pa, reserved + 4096, 0), KMEM_RESERVED_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_RESERVED_FREE), KMEM_BUDDY_RESERVE ? 1 : 0);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	/* a shared block is not double-freed by its second reference */
	s = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(s);
	assert_int_equal(kmem_pa_get(f.pa, s), 0);
	assert_int_equal(kmem_pa_free_checked(f.pa, s, 0), KMEM_OK);
	assert_int_equal(kmem_pa_free_checked(f.pa, s, 0), KMEM_OK);
	assert_int_equal(kmem_pa_free_checked(f.pa, s, 0), KMEM_DOUBLE_FREE);

	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 5);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_CORRUPTION), 0);
	assert_int_equal(kmem_error_total(&rec->sink), 1 + 2 + 2 + 5 + KMEM_BUDDY_RESERVE);
	pafx_assert_sane(&f);
	assert_int_equal(kmem_error_total(&rec->sink), 10 + KMEM_BUDDY_RESERVE);
	free(foreign);
	pafx_fini(&f);
}


/* A configured sink takes the reports instead of the buddy's. */
static void test_own_sink(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct test_recorder mine;
	long local[8];

	(void)state;
	test_recorder_init(&mine);
	pafx_setup(&f, &cfg);
	cfg.sink = &mine.sink;
	pafx_start(&f, &cfg);
	assert_ptr_equal(kmem_pa_error_sink(f.pa), &mine.sink);
	assert_int_equal(kmem_pa_free_checked(f.pa, local, 0), KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_error_count(&mine.sink, KMEM_FOREIGN_POINTER), 1);
	assert_int_equal(mine.calls, 1);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_misuse_checked_free),
		cmocka_unit_test(test_own_sink),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_misuse_checked_free */
	return cmocka_run_group_tests_name("pagealloc-misuse", tests, NULL, NULL);
}
