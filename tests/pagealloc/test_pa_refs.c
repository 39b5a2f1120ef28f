/* test_pa_refs.c - reference counts and copy-on-write (pagealloc/refs.c):
 * kmem_pa_get/put/refcount on blocks of several orders, the checked free
 * of a shared block, many shared blocks at once (the table grows), and
 * kmem_pa_cow with and without a frame for the copy. */

#include "pa_fixture.h"

/* ---- reference counts and copy-on-write ------------------------------------------ */

/* One shared block and back: the reference table may keep a frame once it
 * exists; "used" is compared with the state after this. */
static size_t refcount_warmup(struct pafx *f)
{
	void *p = kmem_pa_alloc(f->pa, 0, 0);

	assert_non_null(p);
	assert_int_equal(kmem_pa_get(f->pa, p), 0);
	assert_int_equal(kmem_pa_put(f->pa, p, 0), 1);
	assert_int_equal(kmem_pa_put(f->pa, p, 0), 0);
	return pafx_stats(f).used;
}

static void test_refcounts(void **state)
{
	struct pafx f;
	unsigned char *p;
	long local = 0;
	size_t base;
	uint64_t frees;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	base = refcount_warmup(&f);
	frees = pafx_stats(&f).frees;
	p = kmem_pa_alloc(f.pa, 1, 0);
	assert_non_null(p);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	assert_int_equal(kmem_pa_get(f.pa, p), 0);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 2);
	assert_int_equal(kmem_pa_get(f.pa, p), 0);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 3);
	assert_int_equal(kmem_pa_put(f.pa, p, 1), 2);
	assert_int_equal(kmem_pa_put(f.pa, p, 1), 1);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	assert_int_equal(pafx_stats(&f).used, base + 2);
	assert_int_equal(pafx_stats(&f).frees, frees);
	assert_int_equal(kmem_pa_put(f.pa, p, 1), 0); /* the last one frees */
	assert_int_equal(pafx_stats(&f).used, base);
	assert_int_equal(pafx_stats(&f).frees, frees + 1);
	/* freed (it sits in the dirty pool): not an allocated block */
	assert_int_equal(kmem_pa_get(f.pa, p), -EINVAL);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 0);

	/* not the start of an allocated block */
	p = kmem_pa_alloc(f.pa, 1, 0);
	assert_non_null(p);
	assert_int_equal(kmem_pa_get(f.pa, p + 4096), -EINVAL);
	assert_int_equal(kmem_pa_get(f.pa, p + 8), -EINVAL);
	assert_int_equal(kmem_pa_get(f.pa, &local), -EINVAL);
	assert_int_equal(kmem_pa_refcount(f.pa, p + 4096), 0);
	assert_int_equal(kmem_pa_refcount(f.pa, &local), 0);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);

	/* a shared block through the checked free loses one reference */
	assert_int_equal(kmem_pa_get(f.pa, p), 0);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 1), KMEM_OK);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	assert_int_equal(pafx_stats(&f).used, base + 2);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 1), KMEM_OK);
	assert_int_equal(pafx_stats(&f).used, base);

	/* many shared blocks at once (the hash table grows) */
	{
		void *q[64];

		for (unsigned i = 0; i < 64; i++) {
			q[i] = kmem_pa_alloc(f.pa, 0, 0);
			assert_non_null(q[i]);
			for (unsigned k = 0; k <= i % 3; k++)
				assert_int_equal(kmem_pa_get(f.pa, q[i]), 0);
		}
		for (unsigned i = 0; i < 64; i++)
			assert_int_equal(kmem_pa_refcount(f.pa, q[i]), 2 + i % 3);
		for (unsigned i = 0; i < 64; i++)
			for (unsigned k = 2 + i % 3; k > 0; k--)
				assert_int_equal(kmem_pa_put(f.pa, q[i], 0), k - 1);
	}
	assert_true(pafx_stats(&f).used >= base); /* the table may have grown */
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_cow(void **state)
{
	struct pafx f;
	unsigned char *p, *q, *r;
	struct hoard *h;
	size_t base;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	base = refcount_warmup(&f);
	for (unsigned order = 0; order <= 2; order++) {
		size_t bytes = (size_t)4096 << order;
		uint64_t allocs;

		p = kmem_pa_alloc(f.pa, order, 0);
		assert_non_null(p);
		for (size_t i = 0; i < bytes; i++)
			p[i] = (unsigned char)(i * 7 + order);
		/* unshared: the block itself, nothing allocated */
		allocs = pafx_stats(&f).allocs;
		assert_ptr_equal(kmem_pa_cow(f.pa, p, order, 0), p);
		assert_int_equal(pafx_stats(&f).allocs, allocs);
		/* shared: a private copy; the old block loses one reference */
		assert_int_equal(kmem_pa_get(f.pa, p), 0);
		q = kmem_pa_cow(f.pa, p, order, 0);
		assert_non_null(q);
		assert_ptr_not_equal(q, p);
		assert_int_equal((uintptr_t)q % bytes, 0);
		assert_memory_equal(p, q, bytes);
		assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
		assert_int_equal(kmem_pa_refcount(f.pa, q), 1);
		assert_int_equal(kmem_buddy_block_order(f.b, q), (int)order);
		memset(q, 0xEE, bytes);
		for (size_t i = 0; i < bytes; i++)
			assert_int_equal(p[i], (unsigned char)(i * 7 + order));
		kmem_pa_free(f.pa, q, order);
		assert_int_equal(kmem_pa_put(f.pa, p, order), 0);
	}
	assert_int_equal(pafx_stats(&f).used, base);

	/* the copy cannot be allocated: NULL, the caller keeps its reference */
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	p[0] = 42;
	assert_int_equal(kmem_pa_get(f.pa, p), 0);
	h = hoard_new(f.pa, "plain");
	take_until(&f, h, 32);
	assert_null(kmem_pa_cow(f.pa, p, 0, KMEM_PAGE_NOWAIT));
	assert_int_equal(kmem_pa_refcount(f.pa, p), 2);
	hoard_free(h);
	r = kmem_pa_cow(f.pa, p, 0, KMEM_PAGE_NOWAIT);
	assert_non_null(r);
	assert_int_equal(r[0], 42);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	kmem_pa_free(f.pa, r, 0);
	kmem_pa_free(f.pa, p, 0);
	assert_int_equal(pafx_stats(&f).used, base);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refcounts),
		cmocka_unit_test(test_cow),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_refcounts */
	return cmocka_run_group_tests_name("pagealloc-refs", tests, NULL, NULL);
}
