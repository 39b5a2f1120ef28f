/* test_list.c - the intrusive lists of common/kmem_list.h: kmem_list (add at
 * the front, delete anywhere, pop, move_all, iteration, the checker finding
 * broken back links, cycles and lists longer than a limit) and kmem_slist
 * (LIFO push and pop, the checker's bound); a seeded random sequence of
 * adds and deletes against a model array.
 */
#include "kmem_test.h"

#include "kmem_list.h"

struct item {
	unsigned v;	/* the node is not at offset 0: KMEM_LIST_ENTRY must subtract */
	struct kmem_list_node link;
	struct kmem_slist_node slink;
};

/* The values of l's items, first to last, into out (at most max); returns
 * how many there are. */
static size_t values(const struct kmem_list *l, unsigned *out, size_t max)
{
	const struct item *it;
	size_t n = 0;

	KMEM_LIST_FOR_EACH_ENTRY(it, l, const struct item, link) {
		if (n < max)
			out[n] = it->v;
		n++;
	}
	return n;
}

static void assert_values(const struct kmem_list *l, const unsigned *want, size_t n)
{
	unsigned got[16];
	size_t cnt;
	const struct kmem_list_node *at = (const void *)1;

	assert_true(n <= 16);
	assert_int_equal(values(l, got, 16), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
	assert_int_equal(kmem_list_check(l, n, &cnt, &at), KMEM_LIST_SOUND);
	assert_int_equal(cnt, n);
	assert_null(at);
	assert_int_equal(kmem_list_empty(l), n == 0);
}

static void test_empty(void **state)
{
	struct kmem_list zeroed, l = KMEM_LIST_INIT;
	struct kmem_slist s = KMEM_SLIST_INIT;
	size_t cnt = 99;
	const struct kmem_list_node *at;
	const struct kmem_slist_node *sat;

	(void)state;
	memset(&zeroed, 0, sizeof(zeroed)); /* zero-filled memory is an empty list */
	assert_true(kmem_list_empty(&zeroed));
	assert_true(kmem_list_empty(&l));
	assert_null(kmem_list_first(&l));
	assert_null(kmem_list_pop(&l));
	assert_int_equal(kmem_list_check(&l, 0, &cnt, &at), KMEM_LIST_SOUND);
	assert_int_equal(cnt, 0);
	assert_true(kmem_slist_empty(&s));
	assert_null(kmem_slist_pop(&s));
	assert_int_equal(kmem_slist_check(&s, 0, &cnt, &sat), KMEM_LIST_SOUND);
	assert_int_equal(cnt, 0);
}

static void test_add_front_and_order(void **state)
{
	struct item it[4];
	struct kmem_list l;
	const unsigned want[] = { 3, 2, 1, 0 };

	(void)state;
	kmem_list_init(&l);
	for (unsigned i = 0; i < 4; i++) {
		it[i].v = i;
		kmem_list_add(&l, &it[i].link);
		assert_ptr_equal(kmem_list_first(&l), &it[i].link); /* the newest is first */
	}
	assert_values(&l, want, 4);
	assert_ptr_equal(KMEM_LIST_ENTRY(kmem_list_first(&l), struct item, link), &it[3]);
	assert_null(KMEM_LIST_ENTRY_OR_NULL(it[0].link.next, struct item, link));
}

static void test_del_anywhere(void **state)
{
	struct item it[5];
	struct kmem_list l = KMEM_LIST_INIT;

	(void)state;
	for (unsigned i = 0; i < 5; i++) {
		it[i].v = i;
		kmem_list_add(&l, &it[i].link); /* 4 3 2 1 0 */
	}
	kmem_list_del(&it[2].link); /* middle */
	assert_values(&l, (const unsigned[]){ 4, 3, 1, 0 }, 4);
	kmem_list_del(&it[4].link); /* first */
	assert_values(&l, (const unsigned[]){ 3, 1, 0 }, 3);
	kmem_list_del(&it[0].link); /* last */
	assert_values(&l, (const unsigned[]){ 3, 1 }, 2);
	kmem_list_add(&l, &it[2].link); /* a removed node can go back */
	assert_values(&l, (const unsigned[]){ 2, 3, 1 }, 3);
	assert_ptr_equal(kmem_list_pop(&l), &it[2].link);
	assert_ptr_equal(kmem_list_pop(&l), &it[3].link);
	assert_ptr_equal(kmem_list_pop(&l), &it[1].link);
	assert_null(kmem_list_pop(&l));
	assert_values(&l, NULL, 0);
}

static void test_move_all(void **state)
{
	struct item it[3];
	struct kmem_list from = KMEM_LIST_INIT, to = KMEM_LIST_INIT;

	(void)state;
	kmem_list_move_all(&to, &from); /* empty onto empty */
	assert_true(kmem_list_empty(&to));
	for (unsigned i = 0; i < 3; i++) {
		it[i].v = i;
		kmem_list_add(&from, &it[i].link);
	}
	kmem_list_move_all(&to, &from);
	assert_values(&from, NULL, 0);
	assert_values(&to, (const unsigned[]){ 2, 1, 0 }, 3); /* order kept, first's back link moved */
	kmem_list_del(&it[2].link); /* deleting the first updates to, not from */
	assert_values(&to, (const unsigned[]){ 1, 0 }, 2);
	assert_true(kmem_list_empty(&from));
}

static void test_for_each_safe(void **state)
{
	struct item it[6];
	struct kmem_list l = KMEM_LIST_INIT;
	struct kmem_list_node *pos, *tmp;
	unsigned visited = 0;

	(void)state;
	for (unsigned i = 0; i < 6; i++) {
		it[i].v = i;
		kmem_list_add(&l, &it[i].link);
	}
	KMEM_LIST_FOR_EACH_SAFE(pos, tmp, &l) {
		visited++;
		if (KMEM_LIST_ENTRY(pos, struct item, link)->v % 2)
			kmem_list_del(pos);
	}
	assert_int_equal(visited, 6);
	assert_values(&l, (const unsigned[]){ 4, 2, 0 }, 3);
	visited = 0;
	KMEM_LIST_FOR_EACH(pos, &l)
		visited++;
	assert_int_equal(visited, 3);
}

static void test_check_finds_faults(void **state)
{
	struct item it[4];
	struct kmem_list l = KMEM_LIST_INIT;
	struct kmem_list_node **saved;
	const struct kmem_list_node *at;
	size_t cnt;

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		it[i].v = i;
		kmem_list_add(&l, &it[i].link); /* 3 2 1 0 */
	}
	/* a broken back link in the middle */
	saved = it[1].link.pprev;
	it[1].link.pprev = &it[0].link.next;
	assert_int_equal(kmem_list_check(&l, 10, &cnt, &at), KMEM_LIST_BAD_LINK);
	assert_ptr_equal(at, &it[1].link);
	assert_int_equal(cnt, 2);
	it[1].link.pprev = saved;
	/* the first node's back link must name the head */
	saved = it[3].link.pprev;
	it[3].link.pprev = NULL;
	assert_int_equal(kmem_list_check(&l, 10, &cnt, &at), KMEM_LIST_BAD_LINK);
	assert_ptr_equal(at, &it[3].link);
	assert_int_equal(cnt, 0);
	it[3].link.pprev = saved;
	/* longer than the limit */
	assert_int_equal(kmem_list_check(&l, 3, &cnt, &at), KMEM_LIST_TOO_LONG);
	assert_ptr_equal(at, &it[0].link);
	assert_int_equal(cnt, 3);
	assert_int_equal(kmem_list_check(&l, 4, &cnt, &at), KMEM_LIST_SOUND);
	assert_int_equal(cnt, 4);
	/* a cycle (last -> first): the first node, reached again, has the wrong back link */
	it[0].link.next = &it[3].link;
	assert_int_equal(kmem_list_check(&l, 1000, &cnt, &at), KMEM_LIST_BAD_LINK);
	assert_ptr_equal(at, &it[3].link);
	assert_int_equal(cnt, 4);
	/* the same cycle with consistent-looking back links still cannot pass
	 * the bound */
	assert_int_equal(kmem_list_check(&l, 2, &cnt, &at), KMEM_LIST_TOO_LONG);
	it[0].link.next = NULL;
	assert_int_equal(kmem_list_check(&l, 4, &cnt, &at), KMEM_LIST_SOUND);
}

static void test_slist_lifo_and_check(void **state)
{
	struct item it[5];
	struct kmem_slist s;
	const struct kmem_slist_node *at;
	struct kmem_slist_node *n;
	size_t cnt;
	unsigned v = 4;

	(void)state;
	kmem_slist_init(&s);
	for (unsigned i = 0; i < 5; i++) {
		it[i].v = i;
		kmem_slist_push(&s, &it[i].slink);
		assert_ptr_equal(kmem_slist_first(&s), &it[i].slink);
	}
	KMEM_LIST_FOR_EACH(n, &s) /* top to bottom: newest first */
		assert_int_equal(KMEM_LIST_ENTRY(n, struct item, slink)->v, v--);
	assert_int_equal(kmem_slist_check(&s, 5, &cnt, &at), KMEM_LIST_SOUND);
	assert_int_equal(cnt, 5);
	assert_int_equal(kmem_slist_check(&s, 4, &cnt, &at), KMEM_LIST_TOO_LONG);
	assert_ptr_equal(at, &it[0].slink);
	assert_int_equal(cnt, 4);
	/* a cycle: only the bound finds it */
	it[0].slink.next = &it[4].slink;
	assert_int_equal(kmem_slist_check(&s, 100, &cnt, &at), KMEM_LIST_TOO_LONG);
	assert_int_equal(cnt, 100);
	it[0].slink.next = NULL;
	for (unsigned i = 5; i-- > 0;)
		assert_ptr_equal(KMEM_LIST_ENTRY(kmem_slist_pop(&s), struct item, slink), &it[i]);
	assert_null(kmem_slist_pop(&s));
	assert_true(kmem_slist_empty(&s));
}

/* Random adds (front) and deletes (anywhere) on two lists against a model:
 * model[k] lists the values of list k, first to last. */
static void test_random_against_model(void **state)
{
	enum { N = 64 };
	struct item it[N];
	struct kmem_list l[2] = { KMEM_LIST_INIT, KMEM_LIST_INIT };
	unsigned model[2][N], len[2] = { 0, 0 }, got[N];
	int where[N];	/* -1: on no list */
	struct test_rng r = { test_seed(12, "list model") };
	unsigned long steps = test_scale(20000);

	(void)state;
	for (unsigned i = 0; i < N; i++) {
		it[i].v = i;
		where[i] = -1;
	}
	for (unsigned long s = 0; s < steps; s++) {
		unsigned i = (unsigned)test_below(&r, N);

		if (where[i] < 0) {
			unsigned k = (unsigned)test_below(&r, 2);

			kmem_list_add(&l[k], &it[i].link);
			memmove(&model[k][1], &model[k][0], len[k] * sizeof(unsigned));
			model[k][0] = i;
			len[k]++;
			where[i] = (int)k;
		} else {
			unsigned k = (unsigned)where[i], j = 0;

			kmem_list_del(&it[i].link);
			while (model[k][j] != i)
				j++;
			memmove(&model[k][j], &model[k][j + 1], (len[k] - j - 1) * sizeof(unsigned));
			len[k]--;
			where[i] = -1;
		}
		if (s % 97 == 0 || s + 1 == steps)
			for (unsigned k = 0; k < 2; k++) {
				size_t cnt;
				const struct kmem_list_node *at;

				assert_int_equal(kmem_list_check(&l[k], N, &cnt, &at), KMEM_LIST_SOUND);
				assert_int_equal(cnt, len[k]);
				assert_int_equal(values(&l[k], got, N), len[k]);
				assert_memory_equal(got, model[k], len[k] * sizeof(unsigned));
			}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_add_front_and_order),
		cmocka_unit_test(test_del_anywhere),
		cmocka_unit_test(test_move_all),
		cmocka_unit_test(test_for_each_safe),
		cmocka_unit_test(test_check_finds_faults),
		cmocka_unit_test(test_slist_lifo_and_check),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
