/* test_pa_pool.c - the zeroed and dirty pools, allocation and free
 * (pagealloc/pool.c): the zero-fill guarantee for every order, init policy
 * and pool flag, the exact pool counts without thread caches (inline
 * zeroing, pool hits, the background zeroer between zero_low and
 * zero_high), NO_BGZERO and INIT_ON_FREE.
 * Every scenario ends with kmem_pa_check and kmem_buddy_check, and after
 * kmem_pa_destroy every frame is free in the buddy again (pa_fixture.h). */

#include "pa_fixture.h"

#ifdef KMEM_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Whether freed memory p[0..n) (the test's own arena) reads zero. The
 * allocator may have marked free memory inaccessible for memcheck or ASan:
 * such bytes cannot be read by anyone and count as wiped; the others are
 * read without disturbing the annotations. */
static bool freed_reads_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

#ifdef KMEM_TEST_ASAN
	for (size_t i = 0; i < n; i++)
		if (!__asan_address_is_poisoned(c + i) && c[i])
			return false;
	return true;
#else
#ifdef KMEM_TEST_HAVE_VALGRIND
	if (RUNNING_ON_VALGRIND) {
		unsigned char vb[64];

		for (size_t i = 0; i < n; i += 64) {
			size_t k = n - i < 64 ? n - i : 64;
			bool ok;

			if (VALGRIND_GET_VBITS(c + i, vb, k) != 1)
				continue; /* not addressable: nobody can read it */
			(void)VALGRIND_MAKE_MEM_DEFINED(c + i, k);
			ok = all_zero(c + i, k);
			(void)VALGRIND_SET_VBITS(c + i, vb, k);
			if (!ok)
				return false;
		}
		return true;
	}
#endif
	return all_zero(c, n);
#endif
}

/* ---- zero-fill on demand ------------------------------------------------------ */

/* Allocate, dirty, free, reallocate every order, with and without
 * KMEM_PAGE_ZERO, with zeroer rounds in between: every block reads zero;
 * with INIT_ON_FREE the freed block reads zero right after the free. */
static void zero_cycle(struct pafx *f, unsigned max_order, bool on_free)
{
	for (unsigned order = 0; order <= max_order; order++) {
		size_t bytes = f->frame << order;

		for (unsigned round = 0; round < 6; round++) {
			unsigned flags = (round & 1) ? KMEM_PAGE_ZERO : 0;
			unsigned char *p[4];

			for (unsigned i = 0; i < 4; i++) {
				p[i] = kmem_pa_alloc(f->pa, order, flags);
				assert_non_null(p[i]);
				assert_int_equal((uintptr_t)p[i] % bytes, 0);
				assert_true(all_zero(p[i], bytes));
				memset(p[i], 0xA5, bytes);
			}
			for (unsigned i = 0; i < 4; i++) {
				kmem_pa_free(f->pa, p[i], order);
				if (on_free)
					assert_true(freed_reads_zero(p[i], bytes));
			}
			if (round == 2)
				(void)kmem_pa_reaper_run(f->pa, 3);
			if (round == 4)
				(void)kmem_pa_reaper_run(f->pa, BIG_BUDGET);
		}
		assert_int_equal(kmem_pa_check(f->pa), 0);
	}
	assert_int_equal(kmem_buddy_check(f->b), 0);
}

static void zero_case(unsigned flags, enum kmem_pa_init_policy policy)
{
	struct pafx f;
	struct kmem_pa_stats st;

	pafx_init_policy(&f, flags, policy);
	zero_cycle(&f, 6, policy == KMEM_PA_INIT_ON_FREE);
	st = pafx_stats(&f);
	assert_int_equal(st.init_policy, policy);
	assert_int_equal(st.allocs, 7 * 6 * 4);
	assert_int_equal(st.frees, 7 * 6 * 4);
	assert_int_equal(st.alloc_fails, 0);
	if (policy == KMEM_PA_INIT_ON_FREE) /* every freed frame wiped: 24 * (2^7 - 1) */
		assert_int_equal(st.zeroed_free, 24 * 127);
	else
		assert_int_equal(st.zeroed_free, 0);
	if (flags & KMEM_PA_NO_BGZERO)
		assert_int_equal(st.zeroed_bg, 0);
	if (flags & KMEM_PA_NO_PCP)
		assert_int_equal(st.used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_zero_guarantee(void **state)
{
	(void)state;
	zero_case(0, KMEM_PA_INIT_ON_ALLOC);
	zero_case(KMEM_PA_NO_PCP, KMEM_PA_INIT_ON_ALLOC);
	zero_case(KMEM_PA_NO_BGZERO, KMEM_PA_INIT_ON_ALLOC);
	zero_case(KMEM_PA_NO_PCP | KMEM_PA_NO_BGZERO, KMEM_PA_INIT_ON_ALLOC);
	zero_case(0, KMEM_PA_INIT_ON_FREE);
	zero_case(KMEM_PA_NO_PCP, KMEM_PA_INIT_ON_FREE);
}

/* INIT_NONE: KMEM_PAGE_ZERO requests still read zero. */
static void test_init_none_zero_flag(void **state)
{
	struct pafx f;

	(void)state;
	for (unsigned pass = 0; pass < 2; pass++) {
		pafx_init_policy(&f, pass ? KMEM_PA_NO_PCP : 0, KMEM_PA_INIT_NONE);
		assert_int_equal(pafx_stats(&f).init_policy, KMEM_PA_INIT_NONE);
		for (unsigned order = 0; order <= 6; order++) {
			size_t bytes = f.frame << order;

			for (unsigned round = 0; round < 3; round++) {
				unsigned char *p[4];

				for (unsigned i = 0; i < 4; i++) {
					p[i] = kmem_pa_alloc(f.pa, order, KMEM_PAGE_ZERO);
					assert_non_null(p[i]);
					assert_true(all_zero(p[i], bytes));
					memset(p[i], 0xA5, bytes);
				}
				for (unsigned i = 0; i < 4; i++)
					kmem_pa_free(f.pa, p[i], order);
				/* a non-ZERO request in between may see old data */
				p[0] = kmem_pa_alloc(f.pa, order, 0);
				assert_non_null(p[0]);
				memset(p[0], 0x5A, bytes);
				kmem_pa_free(f.pa, p[0], order);
				if (round == 1)
					(void)kmem_pa_reaper_run(f.pa, BIG_BUDGET);
			}
		}
		assert_int_equal(pafx_stats(&f).zeroed_free, 0);
		pafx_assert_sane(&f);
		pafx_fini(&f);
	}
}

/* ---- the zeroed and dirty pools (no thread caches: exact counts) --------------- */

static void test_pools_exact(void **state)
{
	struct pafx f;
	struct kmem_pa_stats st;
	void *p[64];
	unsigned ret;
	size_t z;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	/* empty zeroed pool: every frame is zeroed inline */
	for (unsigned i = 0; i < 8; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
		memset(p[i], 0xA5, 4096);
	}
	st = pafx_stats(&f);
	assert_int_equal(st.allocs, 8);
	assert_int_equal(st.zeroed_inline, 8);
	assert_int_equal(st.zero_hits, 0);
	assert_int_equal(st.used, f.base_used + 8);
	assert_int_equal(st.free, 1024 - f.base_used - 8);
	assert_int_equal(st.pcp, 0);
	/* frees go to the dirty pool */
	for (unsigned i = 0; i < 8; i++)
		kmem_pa_free(f.pa, p[i], 0);
	st = pafx_stats(&f);
	assert_int_equal(st.frees, 8);
	assert_int_equal(st.dirty, 8);
	assert_int_equal(st.zeroed, 0);
	assert_int_equal(st.used, f.base_used);
	assert_int_equal(st.free, 1024 - f.base_used);
	pafx_assert_sane(&f);

	/* a budget of 5 frames: 5 dirty frames cleaned, more wanted */
	ret = kmem_pa_reaper_run(f.pa, 5);
	assert_true(ret & KMEM_PA_WORK_ZERO);
	assert_true(ret & KMEM_PA_WORK_PENDING);
	assert_false(ret & KMEM_PA_WORK_RECLAIM);
	st = pafx_stats(&f);
	assert_int_equal(st.zeroed_bg, 5);
	assert_int_equal(st.zeroed, 5);
	assert_int_equal(st.dirty, 3);
	assert_int_equal(st.free, 1024 - f.base_used);
	/* unbounded: the dirty frames first, then the buddy, up to zero_high */
	ret = kmem_pa_reaper_run(f.pa, BIG_BUDGET);
	assert_true(ret & KMEM_PA_WORK_ZERO);
	assert_false(ret & KMEM_PA_WORK_PENDING);
	st = pafx_stats(&f);
	assert_int_equal(st.dirty, 0);
	assert_true(st.zeroed >= st.zero_high);
	assert_int_equal(st.zeroed_bg, st.zeroed);
	assert_int_equal(st.free, 1024 - f.base_used);
	z = st.zeroed;
	pafx_assert_sane(&f);
	/* nothing left to do */
	assert_int_equal(kmem_pa_reaper_run(f.pa, BIG_BUDGET), 0);
	assert_int_equal(pafx_stats(&f).zeroed_bg, z);

	/* a pool hit; the frame comes back dirty; the pool is still above
	 * zero_low, so the zeroer leaves it (between zero_low and zero_high) */
	p[0] = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p[0]);
	st = pafx_stats(&f);
	assert_int_equal(st.zero_hits, 1);
	assert_int_equal(st.zeroed_inline, 8);
	assert_int_equal(st.zeroed, z - 1);
	memset(p[0], 0xA5, 4096);
	kmem_pa_free(f.pa, p[0], 0);
	assert_int_equal(pafx_stats(&f).dirty, 1);
	assert_int_equal(kmem_pa_reaper_run(f.pa, BIG_BUDGET), 0);
	assert_int_equal(pafx_stats(&f).dirty, 1);
	/* 24 more pool hits: 23 < zero_low 24 left in the order-0 pool; the
	 * zeroer refills it to zero_high from the 25 dirty frames */
	for (unsigned i = 0; i < 24; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
		memset(p[i], 0xA5, 4096);
	}
	st = pafx_stats(&f);
	assert_int_equal(st.zero_hits, 25);
	assert_int_equal(st.zeroed, z - 25);
	for (unsigned i = 0; i < 24; i++)
		kmem_pa_free(f.pa, p[i], 0);
	assert_int_equal(pafx_stats(&f).dirty, 25);
	ret = kmem_pa_reaper_run(f.pa, BIG_BUDGET);
	assert_true(ret & KMEM_PA_WORK_ZERO);
	assert_false(ret & KMEM_PA_WORK_PENDING);
	st = pafx_stats(&f);
	assert_int_equal(st.dirty, 0);
	assert_int_equal(st.zeroed, z);
	assert_int_equal(st.zeroed_bg, z + 25);
	assert_int_equal(st.zeroed_inline, 8);

	/* the whole order-0 pool (zero_high frames) is served from the pool */
	for (unsigned i = 0; i < 48; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, i & 1 ? KMEM_PAGE_ZERO : 0);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
	}
	st = pafx_stats(&f);
	assert_int_equal(st.zero_hits, 25 + 48);
	assert_int_equal(st.zeroed_inline, 8);
	assert_int_equal(st.zeroed, z - 48);
	/* with the pools empty, the next one is zeroed inline */
	if (st.zeroed == 0) {
		p[48] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[48]);
		assert_true(all_zero(p[48], 4096));
		st = pafx_stats(&f);
		assert_int_equal(st.zeroed_inline, 9);
		assert_int_equal(st.zero_hits, 25 + 48);
		kmem_pa_free(f.pa, p[48], 0);
	}
	for (unsigned i = 0; i < 48; i++)
		kmem_pa_free(f.pa, p[i], 0);
	st = pafx_stats(&f);
	assert_int_equal(st.used, f.base_used);
	assert_true(st.dirty <= 49);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* NO_BGZERO: the zeroer never runs; every block is zeroed inline. */
static void test_no_bgzero(void **state)
{
	struct pafx f;
	struct kmem_pa_stats st;
	void *p[4];

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP | KMEM_PA_NO_BGZERO);
	for (unsigned i = 0; i < 4; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[i]);
		memset(p[i], 0xA5, 4096);
	}
	for (unsigned i = 0; i < 4; i++)
		kmem_pa_free(f.pa, p[i], 0);
	assert_int_equal(kmem_pa_reaper_run(f.pa, BIG_BUDGET), 0);
	st = pafx_stats(&f);
	assert_int_equal(st.zeroed_bg, 0);
	assert_int_equal(st.zeroed, 0);
	for (unsigned i = 0; i < 4; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
	}
	st = pafx_stats(&f);
	assert_int_equal(st.zeroed_inline, 8);
	assert_int_equal(st.zero_hits, 0);
	for (unsigned i = 0; i < 4; i++)
		kmem_pa_free(f.pa, p[i], 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* INIT_ON_FREE: the freeing thread wipes, for pooled and buddy orders. */
static void test_init_on_free_counts(void **state)
{
	struct pafx f;
	unsigned char *p, *q;

	(void)state;
	pafx_init_policy(&f, KMEM_PA_NO_PCP, KMEM_PA_INIT_ON_FREE);
	p = kmem_pa_alloc(f.pa, 2, 0);
	q = kmem_pa_alloc(f.pa, 5, 0);
	assert_non_null(p);
	assert_non_null(q);
	memset(p, 0xA5, 4 * 4096);
	memset(q, 0xA5, 32 * 4096);
	assert_int_equal(pafx_stats(&f).zeroed_free, 0);
	kmem_pa_free(f.pa, p, 2);
	assert_int_equal(pafx_stats(&f).zeroed_free, 4);
	assert_true(freed_reads_zero(p, 4 * 4096));
	kmem_pa_free(f.pa, q, 5);
	assert_int_equal(pafx_stats(&f).zeroed_free, 36);
	assert_true(freed_reads_zero(q, 32 * 4096));
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zero_guarantee),
		cmocka_unit_test(test_init_none_zero_flag),
		cmocka_unit_test(test_pools_exact),
		cmocka_unit_test(test_no_bgzero),
		cmocka_unit_test(test_init_on_free_counts),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_zero_guarantee */
	return cmocka_run_group_tests_name("pagealloc-pool", tests, NULL, NULL);
}
