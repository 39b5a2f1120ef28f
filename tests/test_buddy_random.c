/* test_buddy_random.c - seeded long random runs against a shadow model, with
 * kmem_buddy_check() after every step.
 *
 * The shadow keeps one owner byte per frame: a block handed out must cover
 * only frames the model thinks are free, and each block carries its id in its
 * first and last bytes, verified at free, so overlapping or recycled-while-
 * live blocks are caught. Reserve/unreserve and misuse are mixed in.
 * KMEM_TEST_SEED=n replays a run.
 */
#include "buddy_fixture.h"

#include <errno.h>

#define KiB ((size_t)1024)

struct live {
	unsigned char *p;
	unsigned order;
	uint32_t id;
};

struct model {
	struct fixture fx;
	struct test_rng rng;
	size_t frame;
	unsigned max_order;
	unsigned char *base[3];
	size_t size[3];
	unsigned nregions;
	struct live *live;
	size_t nlive, cap;
	uint32_t next_id;
	unsigned long expected_errors;
};

static void stamp(struct model *m, struct live *l)
{
	size_t bytes = m->frame << l->order;

	memcpy(l->p, &l->id, sizeof(l->id));
	memcpy(l->p + bytes - sizeof(l->id), &l->id, sizeof(l->id));
}

static void verify_stamp(struct model *m, const struct live *l)
{
	size_t bytes = m->frame << l->order;
	uint32_t a, b;

	memcpy(&a, l->p, sizeof(a));
	memcpy(&b, l->p + bytes - sizeof(b), sizeof(b));
	assert_int_equal(a, l->id);
	assert_int_equal(b, l->id);
}

/* no live block overlaps [p, p + bytes) */
static void assert_disjoint(struct model *m, const unsigned char *p, size_t bytes)
{
	for (size_t i = 0; i < m->nlive; i++) {
		const struct live *l = &m->live[i];
		size_t lb = m->frame << l->order;

		assert_false(p < l->p + lb && l->p < p + bytes);
	}
}

static void op_alloc(struct model *m)
{
	/* small orders much more often, like real page workloads */
	unsigned order = (unsigned)(test_below(&m->rng, 4) ? test_below(&m->rng, 3)
							    : test_below(&m->rng, m->max_order + 1));
	unsigned char *p = kmem_buddy_alloc(m->fx.b, order);
	struct live *l;

	if (!p)
		return;
	assert_true((uintptr_t)p % (m->frame << order) == 0);
	assert_disjoint(m, p, m->frame << order);
	if (m->nlive == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->live = realloc(m->live, m->cap * sizeof(*m->live));
	}
	l = &m->live[m->nlive++];
	*l = (struct live){ p, order, ++m->next_id };
	stamp(m, l);
}

static void op_free(struct model *m)
{
	size_t i;
	struct live l;

	if (!m->nlive)
		return;
	i = (size_t)test_below(&m->rng, m->nlive);
	l = m->live[i];
	verify_stamp(m, &l);
	m->live[i] = m->live[--m->nlive];
	assert_int_equal(kmem_buddy_free_checked(m->fx.b, l.p,
						 test_below(&m->rng, 2) ? (int)l.order
									: KMEM_BUDDY_ANY_ORDER),
			 KMEM_OK);
}

static void op_misuse(struct model *m)
{
	struct kmem_buddy_stats before, after;
	enum kmem_status st;

	if (!m->nlive)
		return;
	kmem_buddy_get_stats(m->fx.b, &before);
	{
		const struct live *l = &m->live[test_below(&m->rng, m->nlive)];

		st = kmem_buddy_free_checked(m->fx.b, l->p + 1 + test_below(&m->rng, m->frame - 1),
					     KMEM_BUDDY_ANY_ORDER);
	}
	assert_int_equal(st, KMEM_INTERIOR_POINTER);
	m->expected_errors++;
	kmem_buddy_get_stats(m->fx.b, &after);
	assert_int_equal(after.used_frames, before.used_frames);
	assert_int_equal(after.free_frames, before.free_frames);
}

static void op_reserve_cycle(struct model *m)
{
	unsigned r = (unsigned)test_below(&m->rng, m->nregions);
	size_t off = (size_t)test_below(&m->rng, m->size[r]);
	size_t len = 1 + (size_t)test_below(&m->rng, 8 * m->frame);
	unsigned char *a = m->base[r] + off;
	int rc;

	if (off + len > m->size[r])
		len = m->size[r] - off;
	rc = kmem_buddy_reserve(m->fx.b, a, len);
	if (!KMEM_BUDDY_RESERVE) { /* compiled out: refused, nothing changes */
		assert_int_equal(rc, -ENOTSUP);
	} else if (rc == 0) {
		/* reserved frames are never handed out while reserved */
		unsigned char *p = kmem_buddy_alloc(m->fx.b, 0);
		uintptr_t lo = (uintptr_t)a & ~(uintptr_t)(m->frame - 1);

		if (p) {
			assert_false((uintptr_t)p >= lo && (uintptr_t)p < (uintptr_t)a + len);
			kmem_buddy_free(m->fx.b, p);
		}
		assert_int_equal(kmem_buddy_check(m->fx.b), 0);
		assert_int_equal(kmem_buddy_unreserve(m->fx.b, a, len), 0);
	} else {
		/* -EBUSY (something allocated there) or -EINVAL (frame not managed:
		 * the region's table or alignment slack) */
		assert_true(rc == -EBUSY || rc == -EINVAL);
	}
}

static void run_model(size_t frame, unsigned max_order, unsigned nregions, uint64_t seed,
		      unsigned long steps)
{
	struct model m;
	char initial[512], final[512];

	memset(&m, 0, sizeof(m));
	m.rng.s = test_seed(seed, "random run");
	if (!KMEM_BUDDY_HOTADD && nregions > 1) { /* the rest of the run is the same */
		print_message("[ NOTE     ] one region, not %u: hot-add is compiled out (-Dbuddy_hotadd)\n",
			      nregions);
		nregions = 1;
	}
	m.frame = frame;
	m.max_order = max_order;
	m.nregions = nregions;
	fx_init(&m.fx, frame, max_order, 0);
	for (unsigned r = 0; r < nregions; r++) {
		/* odd starts and sizes */
		size_t skew = (size_t)test_below(&m.rng, 4 * frame);
		size_t size = frame * (64 + (size_t)test_below(&m.rng, 512)) +
			      (size_t)test_below(&m.rng, frame);

		m.base[r] = (unsigned char *)fx_region(&m.fx, frame << max_order, skew, size);
		m.size[r] = size;
	}
	fx_buddyinfo(&m.fx, initial, sizeof(initial));
	for (unsigned long step = 0; step < steps; step++) {
		uint64_t dice = test_below(&m.rng, 100);

		if (dice < 50)
			op_alloc(&m);
		else if (dice < 95)
			op_free(&m);
		else if (dice < 98)
			op_misuse(&m);
		else
			op_reserve_cycle(&m);
		assert_int_equal(kmem_buddy_check(m.fx.b), 0);
	}
	while (m.nlive) {
		verify_stamp(&m, &m.live[m.nlive - 1]);
		kmem_buddy_free(m.fx.b, m.live[--m.nlive].p);
	}
	assert_int_equal(kmem_buddy_check(m.fx.b), 0);
	fx_buddyinfo(&m.fx, final, sizeof(final));
	assert_string_equal(initial, final);
	assert_int_equal(kmem_error_total(&m.fx.rec.sink), m.expected_errors);
	free(m.live);
	fx_fini(&m.fx);
}

static void test_random_4k(void **state)
{
	(void)state;
	run_model(4096, 8, 1, 1, test_scale(20000));
}

static void test_random_small_frames_three_regions(void **state)
{
	(void)state;
	run_model(64, 10, 3, 2, test_scale(20000));
}

static void test_random_big_frames(void **state)
{
	(void)state;
	run_model(65536, 4, 2, 3, test_scale(5000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_4k),
		cmocka_unit_test(test_random_small_frames_three_regions),
		cmocka_unit_test(test_random_big_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
