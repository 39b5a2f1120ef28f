/* test_buddy_policy.c - buddy allocation policies (issue 16): the order in
 * which each free-list discipline hands blocks back, which pageblock a typed
 * allocation lands in and when a fallback claims a pageblock, the type
 * statistics and pagetypeinfo text, every other operation under each
 * policy, misuse with its defined results, and the checker's policy
 * invariants (P1, P2, G1-G3) seeing corruption. */
#include "buddy_fixture.h"

#include <errno.h>

#include "buddy_internal.h"

#define FS ((size_t)4096)

static const unsigned disciplines[] = { KMEM_BUDDY_LIFO, KMEM_BUDDY_FIFO, KMEM_BUDDY_ADDRESS };

static size_t frame_of(const char *base, const void *p)
{
	return (size_t)((const char *)p - base) / FS;
}

static void *frame(char *base, size_t i)
{
	return base + i * FS;
}

/* ---- disciplines ------------------------------------------------------------ */

/* Eight order-0 blocks taken, the even ones freed as 6, 0, 4, 2 (no two
 * are buddies: the odd ones stay allocated), then taken again. */
static void test_discipline_order(void **state)
{
	static const size_t freed[4] = { 6, 0, 4, 2 };
	static const size_t want[3][4] = {
		{ 2, 4, 0, 6 },	/* LIFO: the last freed first */
		{ 6, 0, 4, 2 },	/* FIFO: the first freed first */
		{ 0, 2, 4, 6 },	/* ADDRESS: the lowest address first */
	};

	(void)state;
	for (unsigned d = 0; d < 3; d++) {
		struct fixture fx;
		char *base;
		void *p[8];

		fx_init_policy(&fx, FS, 3, 0, disciplines[d], 0);
		base = fx_region(&fx, 8 * FS, 0, 8 * FS);
		for (size_t i = 0; i < 8; i++) {
			p[i] = kmem_buddy_alloc(fx.b, 0);
			assert_non_null(p[i]);
		}
		/* a fresh arena splits from the bottom under every discipline */
		for (size_t i = 0; i < 8; i++)
			assert_int_equal(frame_of(base, p[i]), i);
		for (size_t i = 0; i < 4; i++) {
			kmem_buddy_free(fx.b, p[freed[i]]);
			assert_int_equal(kmem_buddy_check(fx.b), 0);
		}
		for (size_t i = 0; i < 4; i++) {
			void *q = kmem_buddy_alloc(fx.b, 0);

			assert_int_equal(frame_of(base, q), want[d][i]);
			assert_int_equal(kmem_buddy_check(fx.b), 0);
		}
		for (size_t i = 0; i < 8; i++)
			kmem_buddy_free(fx.b, frame(base, i));
		assert_int_equal(fx_stats(&fx).free_blocks[3], 1);
		assert_int_equal(fx.rec.calls, 0);
		fx_fini(&fx);
	}
}

/* ADDRESS takes the lowest-addressed region first, whatever the order the
 * regions were added in; LIFO the first region added. */
static void test_address_order_across_regions(void **state)
{
	(void)state;
	for (unsigned d = 0; d < 3; d += 2) {
		struct fixture fx;
		char *hi, *lo, *p;

		fx_init_policy(&fx, FS, 2, 0, disciplines[d], 0);
		/* two regions in one allocation, the higher one added first */
		lo = test_aligned(4 * FS, 64 * FS);
		hi = lo + 32 * FS;
		{
			size_t msz = kmem_buddy_region_meta_size(fx.b, hi, 4 * FS);
			void *m1 = test_aligned(64, msz), *m2 = test_aligned(64, msz);

			assert_int_equal(kmem_buddy_add_region(fx.b, hi, 4 * FS, m1, msz), 0);
			assert_int_equal(kmem_buddy_add_region(fx.b, lo, 4 * FS, m2, msz), 0);
			fx.mem[0] = lo;
			fx.meta[0] = m1;
			fx.meta[1] = m2;
			fx.mem[1] = NULL;
			fx.nmem = 2;
		}
		p = kmem_buddy_alloc(fx.b, 0);
		assert_ptr_equal(p, d == 2 ? lo : hi);
		kmem_buddy_free(fx.b, p);
		fx_fini(&fx);
	}
}

/* ADDRESS keeps every list ascending, also when blocks are freed in
 * descending order and merges happen; FIFO's and ADDRESS's tails follow. */
static void test_address_lists_sorted(void **state)
{
	struct fixture fx;
	char *base;
	void *p[64];
	struct buddy_region *r;

	(void)state;
	fx_init_policy(&fx, FS, 6, 0, KMEM_BUDDY_ADDRESS, 0);
	base = fx_region(&fx, 64 * FS, 0, 64 * FS);
	for (size_t i = 0; i < 64; i++)
		p[i] = kmem_buddy_alloc(fx.b, 0);
	for (size_t i = 64; i-- > 0;) /* odd frames: no merging; descending */
		if (i & 1) {
			kmem_buddy_free(fx.b, p[i]);
			assert_int_equal(kmem_buddy_check(fx.b), 0);
		}
	r = &fx.b->region[0];
	{
		uint32_t cur = r->head[0], n = 0, prev = 0;

		for (; cur != BUDDY_NIL; cur = r->link[cur].next, n++) {
			assert_true(n == 0 || cur > prev);
			prev = cur;
		}
		assert_int_equal(n, 32);
		assert_int_equal(fx.b->pol->region[0].tail[0], 63);
	}
	for (size_t i = 0; i < 64; i += 2) { /* even frames: everything merges */
		kmem_buddy_free(fx.b, p[i]);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
	}
	assert_int_equal(fx_stats(&fx).free_blocks[6], 1);
	(void)base;
	fx_fini(&fx);
}

/* ---- grouping --------------------------------------------------------------- */

static struct kmem_buddy_type_stats tstats(struct fixture *fx)
{
	struct kmem_buddy_type_stats st;

	kmem_buddy_get_type_stats(fx->b, &st);
	return st;
}

static void *talloc(struct fixture *fx, unsigned order, unsigned type)
{
	void *p = kmem_buddy_alloc_type(fx->b, order, type);

	assert_int_equal(kmem_buddy_check(fx->b), 0);
	return p;
}

/* 16 frames, pageblocks of 4 (pb 2): P0 = 0-3, P1 = 4-7, P2 = 8-11,
 * P3 = 12-15. Typed allocations claim whole free pageblocks first, keep
 * to their own pageblocks, and when every pageblock is taken an unmovable
 * request claims a movable pageblock that is at least half free, while a
 * small movable request only borrows a block (no claim). */
static void test_grouping_pageblocks_and_claims(void **state)
{
	struct fixture fx;
	struct kmem_buddy_type_stats ts;
	char *base;
	void *p;

	(void)state;
	fx_init_policy(&fx, FS, 4, KMEM_BUDDY_GROUPING, KMEM_BUDDY_LIFO, 2);
	base = fx_region(&fx, 16 * FS, 0, 16 * FS);
	ts = tstats(&fx);
	assert_int_equal(ts.pageblock_order, 2);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_MOVABLE], 4); /* as Linux at boot */
	assert_int_equal(ts.free_blocks[KMEM_BUDDY_MOVABLE][4], 1);

	/* unmovable: a shared block; P0 becomes unmovable */
	p = talloc(&fx, 0, KMEM_BUDDY_UNMOVABLE);
	assert_int_equal(frame_of(base, p), 0);
	ts = tstats(&fx);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_UNMOVABLE], 1);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_MOVABLE], 3);
	assert_int_equal(ts.free_blocks[KMEM_BUDDY_UNMOVABLE][0], 1); /* frame 1 */
	assert_int_equal(ts.free_blocks[KMEM_BUDDY_UNMOVABLE][1], 1); /* frames 2-3 */
	assert_int_equal(ts.free_frames[KMEM_BUDDY_UNMOVABLE], 3);

	/* movable: not in P0 although it has free frames; P1 */
	p = talloc(&fx, 0, KMEM_BUDDY_MOVABLE);
	assert_int_equal(frame_of(base, p), 4);
	/* the next unmovable one stays in P0 */
	p = talloc(&fx, 0, KMEM_BUDDY_UNMOVABLE);
	assert_int_equal(frame_of(base, p), 1);
	/* movable fills P1, P2, P3 */
	for (size_t want = 5; want < 16; want++) {
		p = talloc(&fx, 0, KMEM_BUDDY_MOVABLE);
		assert_int_equal(frame_of(base, p), want);
	}
	for (size_t want = 2; want < 4; want++) { /* unmovable fills P0 */
		p = talloc(&fx, 0, KMEM_BUDDY_UNMOVABLE);
		assert_int_equal(frame_of(base, p), want);
	}
	ts = tstats(&fx);
	assert_int_equal(ts.fallbacks, 0);
	assert_int_equal(ts.allocs[KMEM_BUDDY_UNMOVABLE], 4);
	assert_int_equal(ts.allocs[KMEM_BUDDY_MOVABLE], 12);

	/* three frames of P1 free: an unmovable request falls back to the
	 * largest movable block (4-5), and P1 is at least half free: claimed */
	kmem_buddy_free(fx.b, frame(base, 4));
	kmem_buddy_free(fx.b, frame(base, 5));
	kmem_buddy_free(fx.b, frame(base, 6));
	assert_int_equal(tstats(&fx).free_frames[KMEM_BUDDY_MOVABLE], 3);
	p = talloc(&fx, 0, KMEM_BUDDY_UNMOVABLE);
	assert_int_equal(frame_of(base, p), 4);
	ts = tstats(&fx);
	assert_int_equal(ts.fallbacks, 1);
	assert_int_equal(ts.claims, 1);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_UNMOVABLE], 2);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_MOVABLE], 2);
	assert_int_equal(ts.free_frames[KMEM_BUDDY_UNMOVABLE], 2); /* 5 and 6 moved */
	assert_int_equal(ts.free_frames[KMEM_BUDDY_MOVABLE], 0);

	/* a movable order-0 request (below pb / 2) may not claim: it borrows
	 * the smallest unmovable block, P1 stays unmovable */
	p = talloc(&fx, 0, KMEM_BUDDY_MOVABLE);
	assert_true(frame_of(base, p) == 5 || frame_of(base, p) == 6);
	ts = tstats(&fx);
	assert_int_equal(ts.fallbacks, 2);
	assert_int_equal(ts.claims, 1);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_UNMOVABLE], 2);
	/* freed, a frame of P1 goes to the unmovable lists (its pageblock's
	 * type), whatever type it was allocated as */
	kmem_buddy_free(fx.b, p);
	assert_int_equal(tstats(&fx).free_frames[KMEM_BUDDY_UNMOVABLE], 2);
	assert_int_equal(kmem_buddy_check(fx.b), 0);

	/* nothing of any type left at order 1: fail, counted */
	assert_null(talloc(&fx, 1, KMEM_BUDDY_RECLAIMABLE));
	assert_int_equal(fx_stats(&fx).fail[1], 1);

	for (size_t i = 0; i < 16; i++)
		if (kmem_buddy_block_order(fx.b, frame(base, i)) >= 0)
			kmem_buddy_free(fx.b, frame(base, i));
	ts = tstats(&fx);
	assert_int_equal(fx_stats(&fx).free_blocks[4], 1); /* all merged back */
	assert_int_equal(ts.free_blocks[KMEM_BUDDY_UNMOVABLE][4], 1); /* P0 was unmovable */
	assert_int_equal(fx.rec.calls, 0);
	fx_fini(&fx);
}

/* Pageblocks of 8 (pb 3): a fallback whose pageblock is less than half
 * free takes a block without claiming; with half free it claims. */
static void test_grouping_claim_needs_half(void **state)
{
	struct fixture fx;
	struct kmem_buddy_type_stats ts;
	char *base;
	void *p;

	(void)state;
	fx_init_policy(&fx, FS, 4, KMEM_BUDDY_GROUPING, KMEM_BUDDY_FIFO, 3);
	base = fx_region(&fx, 16 * FS, 0, 16 * FS);
	for (size_t i = 0; i < 8; i++) /* P0 unmovable */
		assert_int_equal(frame_of(base, talloc(&fx, 0, KMEM_BUDDY_UNMOVABLE)), i);
	for (size_t i = 8; i < 16; i++) /* P1 movable */
		assert_int_equal(frame_of(base, talloc(&fx, 0, KMEM_BUDDY_MOVABLE)), i);
	kmem_buddy_free(fx.b, frame(base, 8));
	kmem_buddy_free(fx.b, frame(base, 9)); /* order-1 block at 8: 2 of 8 free */
	p = talloc(&fx, 0, KMEM_BUDDY_UNMOVABLE);
	assert_int_equal(frame_of(base, p), 8);
	ts = tstats(&fx);
	assert_int_equal(ts.fallbacks, 1);
	assert_int_equal(ts.claims, 0);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_MOVABLE], 1);
	assert_int_equal(ts.free_blocks[KMEM_BUDDY_MOVABLE][0], 1); /* frame 9 */

	kmem_buddy_free(fx.b, frame(base, 10));
	kmem_buddy_free(fx.b, frame(base, 11));
	kmem_buddy_free(fx.b, frame(base, 12)); /* 9, 10-11, 12: 4 of 8 free */
	p = talloc(&fx, 0, KMEM_BUDDY_UNMOVABLE);
	ts = tstats(&fx);
	assert_int_equal(ts.fallbacks, 2);
	assert_int_equal(ts.claims, 1);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_UNMOVABLE], 2);
	assert_int_equal(ts.free_frames[KMEM_BUDDY_UNMOVABLE], 3);
	assert_int_equal(frame_of(base, p), 10); /* the largest block, split */
	for (size_t i = 0; i < 16; i++)
		if (kmem_buddy_block_order(fx.b, frame(base, i)) >= 0)
			kmem_buddy_free(fx.b, frame(base, i));
	fx_fini(&fx);
}

/* Allocations of pageblock order and above come from the shared blocks
 * and type every pageblock they cover; kmem_buddy_alloc is unmovable. */
static void test_grouping_large_and_untyped(void **state)
{
	struct fixture fx;
	struct kmem_buddy_type_stats ts;
	char *base;
	void *p, *q;

	(void)state;
	fx_init_policy(&fx, FS, 4, KMEM_BUDDY_GROUPING, KMEM_BUDDY_ADDRESS, 0); /* pb 3 */
	base = fx_region(&fx, 16 * FS, 0, 16 * FS);
	assert_int_equal(tstats(&fx).pageblock_order, 3);
	p = talloc(&fx, 4, KMEM_BUDDY_RECLAIMABLE);
	assert_ptr_equal(p, base);
	ts = tstats(&fx);
	assert_int_equal(ts.pageblocks[KMEM_BUDDY_RECLAIMABLE], 2);
	/* trimmed to 5 frames, the rest is freed onto reclaimable lists */
	assert_int_equal(kmem_buddy_trim(fx.b, p, 5 * FS), 2);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	ts = tstats(&fx);
	assert_int_equal(ts.free_frames[KMEM_BUDDY_RECLAIMABLE], 11);
	assert_int_equal(ts.free_blocks[KMEM_BUDDY_RECLAIMABLE][3], 1);
	q = kmem_buddy_alloc(fx.b, 0); /* unmovable: the free pageblock P1 */
	assert_int_equal(frame_of(base, q), 8);
	assert_int_equal(tstats(&fx).pageblocks[KMEM_BUDDY_UNMOVABLE], 1);
	kmem_buddy_free(fx.b, q);
	kmem_buddy_free(fx.b, p);
	kmem_buddy_free(fx.b, frame(base, 4));
	assert_int_equal(fx_stats(&fx).free_blocks[4], 1);
	fx_fini(&fx);
}

/* Every other operation under every policy: reserve, unreserve, claim,
 * split, trim, bulk free, hot-add; the checker after each. */
static void test_operations_under_policies(void **state)
{
	(void)state;
	for (unsigned v = 0; v < 6; v++) {
		struct fixture fx;
		char *base;
		void *p[4];

		fx_init_policy(&fx, FS, 5, v >= 3 ? KMEM_BUDDY_GROUPING : 0, disciplines[v % 3],
			       v >= 3 ? 2 : 0);
		base = fx_region(&fx, 32 * FS, FS, 40 * FS); /* unaligned: partial pageblocks */
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		assert_int_equal(kmem_buddy_reserve(fx.b, base + 3 * FS, 2 * FS), 0);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		assert_int_equal(kmem_buddy_claim(fx.b, base + 15 * FS, 0), 0);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		p[0] = kmem_buddy_alloc_type(fx.b, 3, KMEM_BUDDY_MOVABLE);
		assert_non_null(p[0]);
		assert_int_equal(kmem_buddy_split(fx.b, p[0], 1), 3);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		kmem_buddy_free(fx.b, (char *)p[0] + 4 * FS); /* the order-2 piece */
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		p[1] = kmem_buddy_alloc_type(fx.b, 2, KMEM_BUDDY_RECLAIMABLE);
		assert_non_null(p[1]);
		assert_int_equal(kmem_buddy_trim(fx.b, p[1], FS), 1);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		p[2] = kmem_buddy_alloc(fx.b, 0);
		p[3] = kmem_buddy_alloc(fx.b, 0);
		assert_non_null(p[2]);
		assert_non_null(p[3]);
		assert_int_equal(kmem_buddy_free_bulk(fx.b, &p[2], 2, 0), 2);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		kmem_buddy_free(fx.b, p[0]);
		kmem_buddy_free(fx.b, (char *)p[0] + 2 * FS);
		kmem_buddy_free(fx.b, p[1]);
		kmem_buddy_free(fx.b, base + 15 * FS);
		assert_int_equal(kmem_buddy_unreserve(fx.b, base + 3 * FS, 2 * FS), 0);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		fx_region(&fx, 16 * FS, 0, 16 * FS); /* hot-add */
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		assert_int_equal(fx_stats(&fx).used_frames, 0);
		assert_int_equal(fx.rec.calls, 0);
		fx_fini(&fx);
	}
}

/* ---- misuse and configuration ------------------------------------------------- */

static void test_policy_misuse(void **state)
{
	struct kmem_buddy_config cfg;
	struct fixture fx;
	char text[2048];

	(void)state;
	kmem_buddy_config_init(&cfg);
	assert_int_equal(cfg.discipline, KMEM_BUDDY_LIFO);
	assert_int_equal(cfg.pageblock_order, 0);
	cfg.discipline = 3;
	assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
	cfg.discipline = KMEM_BUDDY_FIFO;
	assert_true(kmem_buddy_sizeof(&cfg) > kmem_buddy_sizeof(NULL));
	assert_true(kmem_buddy_sizeof(&cfg) <=
		    KMEM_BUDDY_SIZEOF(KMEM_BUDDY_DEFAULT_REGIONS) +
			    KMEM_BUDDY_POLICY_BYTES(KMEM_BUDDY_DEFAULT_REGIONS));
	cfg.pageblock_order = 3; /* without the flag */
	assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
	cfg.flags = KMEM_BUDDY_GROUPING;
	assert_true(kmem_buddy_sizeof(&cfg) > 0);
	cfg.pageblock_order = 11; /* above max order 10 */
	assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
	cfg.pageblock_order = 10;
	cfg.max_regions = KMEM_BUDDY_REGION_LIMIT;
	assert_true(kmem_buddy_sizeof(&cfg) <= KMEM_BUDDY_SIZEOF(KMEM_BUDDY_REGION_LIMIT) +
						       KMEM_BUDDY_POLICY_BYTES(KMEM_BUDDY_REGION_LIMIT));

	/* grouping's frame table: one type byte per pageblock more */
	fx_init_policy(&fx, FS, 4, KMEM_BUDDY_GROUPING, KMEM_BUDDY_LIFO, 2);
	assert_int_equal(kmem_buddy_region_meta_size(fx.b, (void *)(64 * FS), 100 * FS),
			 KMEM_BUDDY_TABLE_BYTES(100, 0) + KMEM_BUDDY_PAGEBLOCK_BYTES(100, 2));
	fx_fini(&fx);

	/* a bad type: NULL, counted, no report, nothing changes; with and
	 * without grouping. A too-big order likewise, in fail_too_big. */
	for (unsigned g = 0; g < 2; g++) {
		struct kmem_buddy_stats a, b;

		fx_init_policy(&fx, FS, 4, g ? KMEM_BUDDY_GROUPING : 0, KMEM_BUDDY_LIFO, 0);
		fx_region(&fx, 16 * FS, 0, 16 * FS);
		a = fx_stats(&fx);
		assert_null(kmem_buddy_alloc_type(fx.b, 0, KMEM_BUDDY_NR_TYPES));
		assert_null(kmem_buddy_alloc_type(fx.b, 0, ~0u));
		assert_null(kmem_buddy_alloc_type(fx.b, 5, KMEM_BUDDY_MOVABLE));
		b = fx_stats(&fx);
		assert_int_equal(b.fail_bad_type, 2);
		assert_int_equal(b.fail_too_big, 1);
		assert_int_equal(b.free_frames, a.free_frames);
		assert_int_equal(b.allocs, a.allocs);
		assert_int_equal(fx.rec.calls, 0);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		/* pagetypeinfo says whether the instance groups */
		assert_true(kmem_buddy_format_pagetypeinfo(fx.b, text, sizeof(text)) > 0);
		if (g) {
			assert_non_null(strstr(text, "Page block order: 3\n"));
			assert_non_null(strstr(text, "Node    0, zone     test, type      Movable      0      0      0      0      1 \n"));
			assert_non_null(strstr(text, "Number of blocks type     Unmovable      Movable  Reclaimable \n"));
			assert_non_null(strstr(text, "Node 0, zone     test            0            2            0 \n"));
		} else {
			assert_non_null(strstr(text, "no grouping"));
			assert_int_equal(tstats(&fx).pageblock_order, 0);
		}
		/* the text is snprintf-style */
		{
			int need = kmem_buddy_format_pagetypeinfo(fx.b, NULL, 0);

			assert_int_equal(need, (int)strlen(text));
			assert_int_equal(kmem_buddy_format_pagetypeinfo(fx.b, text, 8), need);
			assert_int_equal(strlen(text), 7);
		}
		fx_fini(&fx);
	}
}

/* ---- the checker sees broken policy invariants ---------------------------- */

static void expect_corruption(struct fixture *fx, const char *inv)
{
	unsigned before = fx->rec.calls;

	assert_int_equal(kmem_buddy_check(fx->b), -EFAULT);
	assert_int_equal(fx->rec.calls, before + 1);
	assert_int_equal(fx->rec.last.status, KMEM_CORRUPTION);
	if (!strstr(fx->rec.last.detail, inv))
		fail_msg("expected %s, got: %s", inv, fx->rec.last.detail);
}

static void test_check_detects_policy_corruption(void **state)
{
	struct fixture fx;
	struct buddy_region *r;
	char *base;
	void *p[8];
	uint32_t a, c;

	(void)state;
	/* P2: swap two blocks of an address-ordered list */
	fx_init_policy(&fx, FS, 3, 0, KMEM_BUDDY_ADDRESS, 0);
	base = fx_region(&fx, 8 * FS, 0, 8 * FS);
	for (size_t i = 0; i < 8; i++)
		p[i] = kmem_buddy_alloc(fx.b, 0);
	for (size_t i = 0; i < 8; i += 2)
		kmem_buddy_free(fx.b, p[i]);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	r = &fx.b->region[0];
	a = r->head[0];			/* 0 -> 2 -> 4 -> 6 */
	c = r->link[a].next;
	r->head[0] = c;			/* 2 -> 0 -> 4 -> 6 */
	r->link[c].prev = BUDDY_NIL;
	r->link[a].next = r->link[c].next;
	r->link[r->link[c].next].prev = a;
	r->link[c].next = a;
	r->link[a].prev = c;
	expect_corruption(&fx, "P2");
	/* P1: a wrong tail */
	r->head[0] = a;
	r->link[a].prev = BUDDY_NIL;
	r->link[a].next = c;
	r->link[c].prev = a;
	r->link[c].next = 4;
	r->link[4].prev = c;
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	fx.b->pol->region[0].tail[0] = 4;
	expect_corruption(&fx, "P1");
	fx.b->pol->region[0].tail[0] = 6;
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	/* I8: a fast-path gate open under a policy */
	fx.b->fast_order_end = 4;
	expect_corruption(&fx, "I8");
	fx.b->fast_order_end = 0;
	for (size_t i = 1; i < 8; i += 2)
		kmem_buddy_free(fx.b, p[i]);
	(void)base;
	fx_fini(&fx);

	/* G1 / G3: a pageblock's type changed behind the lists' back */
	fx_init_policy(&fx, FS, 4, KMEM_BUDDY_GROUPING, KMEM_BUDDY_LIFO, 2);
	base = fx_region(&fx, 16 * FS, 0, 16 * FS);
	p[0] = kmem_buddy_alloc_type(fx.b, 0, KMEM_BUDDY_UNMOVABLE);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	fx.b->pol->region[0].pbtype[0] = KMEM_BUDDY_RECLAIMABLE;
	expect_corruption(&fx, "G");
	fx.b->pol->region[0].pbtype[0] = KMEM_BUDDY_UNMOVABLE;
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	fx.b->pol->nr_free_t[KMEM_BUDDY_MOVABLE][2]++;
	expect_corruption(&fx, "G3");
	fx.b->pol->nr_free_t[KMEM_BUDDY_MOVABLE][2]--;
	fx.b->pol->tmask[KMEM_BUDDY_MOVABLE] |= 1u << 3; /* at pageblock order */
	expect_corruption(&fx, "G2");
	fx.b->pol->tmask[KMEM_BUDDY_MOVABLE] &= ~(1u << 3);
	kmem_buddy_free(fx.b, p[0]);
	(void)base;
	fx_fini(&fx);
}

/* A library built with -Dbuddy_policies=disabled refuses every policy
 * with -ENOTSUP (kmem_buddy_sizeof: 0) and still serves the default. */
static void test_compiled_out(void **state)
{
	struct kmem_buddy_config cfg;
	struct kmem_buddy *b;
	static _Alignas(64) char mem[KMEM_BUDDY_SIZEOF(KMEM_BUDDY_DEFAULT_REGIONS) +
				      KMEM_BUDDY_POLICY_BYTES(KMEM_BUDDY_DEFAULT_REGIONS)];

	(void)state;
	kmem_buddy_config_init(&cfg);
	cfg.discipline = KMEM_BUDDY_FIFO;
	assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
	assert_int_equal(kmem_buddy_init(mem, sizeof(mem), &cfg, &b), -ENOTSUP);
	cfg.discipline = KMEM_BUDDY_LIFO;
	cfg.flags = KMEM_BUDDY_GROUPING;
	assert_int_equal(kmem_buddy_init(mem, sizeof(mem), &cfg, &b), -ENOTSUP);
	cfg.flags = 0;
	assert_int_equal(kmem_buddy_init(mem, sizeof(mem), &cfg, &b), 0);
	assert_null(kmem_buddy_alloc_type(b, 0, KMEM_BUDDY_NR_TYPES));
	kmem_buddy_destroy(b);
}

int main(void)
{
	const struct CMUnitTest out[] = { cmocka_unit_test(test_compiled_out) };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_discipline_order),
		cmocka_unit_test(test_address_order_across_regions),
		cmocka_unit_test(test_address_lists_sorted),
		cmocka_unit_test(test_grouping_pageblocks_and_claims),
		cmocka_unit_test(test_grouping_claim_needs_half),
		cmocka_unit_test(test_grouping_large_and_untyped),
		cmocka_unit_test(test_operations_under_policies),
		cmocka_unit_test(test_policy_misuse),
		cmocka_unit_test(test_check_detects_policy_corruption),
	};

	if (!KMEM_BUDDY_POLICIES)
		return cmocka_run_group_tests(out, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
