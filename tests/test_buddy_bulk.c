/* test_buddy_bulk.c - the buddy's batch calls, kmem_buddy_blocks_valid and
 * kmem_buddy_free_bulk (one lock hold per array): the index of the first
 * entry that is not an allocated block of the order (interior, free, wrong
 * order, foreign, NULL, a duplicate), nothing reported and nothing changed
 * by a refusal, and frees equivalent to freeing each block in turn. */
#include "buddy_fixture.h"

#define FRAME 4096u

static size_t used(struct fixture *fx)
{
	return fx_stats(fx).used_frames;
}

static void test_blocks_valid(void **state)
{
	static char foreign[2 * FRAME];
	struct fixture fx;
	void *blk[6], *arr[6];
	char *base;

	(void)state;
	fx_init(&fx, FRAME, 6, 0);
	base = fx_region(&fx, (size_t)FRAME << 6, 0, (size_t)64 * FRAME);
	assert_non_null(base);
	for (int i = 0; i < 6; i++)
		assert_non_null(blk[i] = kmem_buddy_alloc(fx.b, 1));
	memcpy(arr, blk, sizeof(arr));
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 6, 1), 6);
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 0, 1), 0);
	/* wrong order for every one */
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 6, 0), 0);
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 6, 2), 0);
	/* interior, foreign, NULL, free: the index of the first */
	arr[3] = (char *)blk[3] + FRAME;
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 6, 1), 3);
	arr[3] = foreign;
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 6, 1), 3);
	arr[3] = NULL;
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 6, 1), 3);
	arr[3] = blk[3];
	kmem_buddy_free(fx.b, blk[4]);
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 6, 1), 4);
	/* a duplicate is valid twice: nothing changes between the tests */
	arr[4] = blk[0];
	assert_int_equal(kmem_buddy_blocks_valid(fx.b, arr, 6, 1), 6);
	/* nothing was reported, nothing changed */
	assert_int_equal(fx.rec.calls, 0);
	assert_int_equal(used(&fx), 10);
	for (int i = 0; i < 6; i++)
		if (i != 4)
			kmem_buddy_free(fx.b, blk[i]);
	assert_int_equal(used(&fx), 0);
	fx_fini(&fx);
}

static void test_free_bulk(void **state)
{
	struct fixture fx;
	void *blk[16];
	struct kmem_buddy_stats st;

	(void)state;
	fx_init(&fx, FRAME, 4, 0);
	fx_region(&fx, (size_t)FRAME << 4, 0, (size_t)16 * FRAME);
	for (int i = 0; i < 16; i++)
		assert_non_null(blk[i] = kmem_buddy_alloc(fx.b, 0));
	assert_null(kmem_buddy_alloc(fx.b, 0));
	/* all at once: merged back into the one max-order block */
	assert_int_equal(kmem_buddy_free_bulk(fx.b, blk, 16, 0), 16);
	st = fx_stats(&fx);
	assert_int_equal(st.used_frames, 0);
	assert_int_equal(st.free_blocks[4], 1);
	assert_int_equal(st.frees, 16);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	assert_int_equal(fx.rec.calls, 0);
	assert_int_equal(kmem_buddy_free_bulk(fx.b, blk, 0, 0), 0);
	fx_fini(&fx);
}

static void test_free_bulk_stops(void **state)
{
	struct fixture fx;
	void *a, *b, *c, *d, *arr[4];

	(void)state;
	fx_init(&fx, FRAME, 4, 0);
	fx_region(&fx, (size_t)FRAME << 4, 0, (size_t)16 * FRAME);
	a = kmem_buddy_alloc(fx.b, 1);
	b = kmem_buddy_alloc(fx.b, 1);
	c = kmem_buddy_alloc(fx.b, 1);
	d = kmem_buddy_alloc(fx.b, 0);
	assert_true(a && b && c && d);
	/* a duplicate: freed once, the second is refused */
	arr[0] = a, arr[1] = b, arr[2] = a, arr[3] = c;
	assert_int_equal(kmem_buddy_free_bulk(fx.b, arr, 4, 1), 2);
	assert_int_equal(used(&fx), 3); /* c and d */
	assert_int_equal(kmem_buddy_block_order(fx.b, c), 1);
	/* a block of another order is refused and stays allocated */
	arr[0] = c, arr[1] = d;
	assert_int_equal(kmem_buddy_free_bulk(fx.b, arr, 2, 1), 1);
	assert_int_equal(kmem_buddy_block_order(fx.b, d), 0);
	/* an interior pointer likewise */
	arr[0] = (char *)d + FRAME / 2;
	assert_int_equal(kmem_buddy_free_bulk(fx.b, arr, 1, 0), 0);
	assert_int_equal(fx.rec.calls, 0); /* refusals are not reported */
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	/* the refused entry through the checked free reports what it is */
	assert_int_equal(kmem_buddy_free_checked(fx.b, a, 1), KMEM_DOUBLE_FREE);
	assert_int_equal(fx.rec.calls, 1);
	kmem_buddy_free(fx.b, d);
	assert_int_equal(used(&fx), 0);
	fx_fini(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks_valid),
		cmocka_unit_test(test_free_bulk),
		cmocka_unit_test(test_free_bulk_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
