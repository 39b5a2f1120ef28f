/* test_slab_steps.c - the slab layer's bounded-time claims (kmem/slab.h),
 * checked by counting (decision 33): this program is built from the slab's
 * and the buddy's sources compiled again with KMEM_STEP_COUNT
 * (tests/meson.build), so every loop whose bound a contract states calls
 * kmem_step() (step_check.h) once per iteration; slab_internal.h and
 * buddy_internal.h name the loops. With n objects per slab, W = ceil(n /
 * SLAB_WORD_BITS) bitmap words (unsigned long), M the magazine size, R = max(M / 2, 1), D the depot limit
 * and max_order the buddy's, the bounds asserted per call are:
 *   kmem_cache_alloc, no magazine (NOMAGAZINE, or a build without them):
 *       1 object taken, <= W words, <= 1 slab made (n constructor calls,
 *       <= max_order buddy splits);
 *   kmem_cache_alloc, a magazine refill: <= R objects from <= R slabs
 *       (<= W words each), <= R + 1 slabs made (the refill's and one of
 *       the magazine cache), n constructor calls and max_order splits each;
 *   kmem_cache_free, no magazine: <= 1 slab released (n destructor calls,
 *       <= max_order merges);
 *   kmem_cache_free, a magazine flush: <= M objects validated, <= M slabs
 *       settled, <= M + 1 slabs released, ceil(M / 61) batches, <= 1 slab
 *       made (a new magazine);
 *   kmem_cache_free_checked: <= (2 + D) * M magazine rounds compared, then
 *       as a free without magazine;
 *   kmem_cache_alloc_bulk(k): <= k objects, picks and slabs made;
 *   kmem_cache_shrink: one release per empty slab (O(empty slabs));
 *   kmem_slab_shrink: one step per cache;
 *   kmem_alloc_aligned: <= the number of classes tried.
 * Adversarial sequences reach each bound: a cold grow that splits the
 * buddy from its top order and a free that merges it back, a bulk
 * allocation that takes every object of fresh slabs (every bitmap word)
 * and one that takes one object from each of k partial slabs, a refill of
 * R objects, a flush of M objects each the last of its slab (M slabs
 * released in one kmem_cache_free), a checked free that scans two full
 * magazines and D full depot magazines; then a seeded random mix stays
 * within the bounds. */
#include "step_check.h"

#include "buddy_fixture.h"
#include "buddy_internal.h"
#include "slab_internal.h"

#define FRAME ((size_t)4096)
#define MAX_ORDER 6u
#define ARENA ((size_t)8 << 20)
#define BIG 1000u /* 4 to an order-0 slab */
#define SMALL 16u /* about 250 to an order-0 slab: 4 bitmap words */
#define MAX_PLUG 256

struct sx {
	struct fixture fx; /* the buddy (buddy_fixture.h) and the recording sink */
	struct kmem_slab *s;
	void *sinst;
	void *plug[MAX_PLUG];
	unsigned plug_order[MAX_PLUG], nplug;
};

/* A buddy of 4 KiB frames and max order 6 over an 8 MiB arena, and a slab
 * instance on it with policy's settings (NULL: the defaults). */
static void sx_init(struct sx *x, const struct kmem_slab_config *policy)
{
	struct kmem_slab_config sc;
	struct kmem_page_source ps;

	memset(x, 0, sizeof(*x));
	fx_init(&x->fx, FRAME, MAX_ORDER, KMEM_BUDDY_OWNERS);
	(void)fx_region(&x->fx, FRAME << MAX_ORDER, 0, ARENA);
	kmem_buddy_page_source(x->fx.b, &ps);
	if (policy)
		sc = *policy;
	else
		memset(&sc, 0, sizeof(sc));
	sc.name = "steps";
	sc.source = &ps;
	sc.sink = &x->fx.rec.sink;
	x->sinst = test_aligned(64, kmem_slab_sizeof());
	assert_int_equal(kmem_slab_init(x->sinst, kmem_slab_sizeof(), &sc, &x->s), 0);
}

/* Take every free buddy block below the top order, so the next page-source
 * allocation splits a top-order block (a cold split, max_order - order
 * steps). */
static void sx_plug(struct sx *x)
{
	struct kmem_buddy_stats st;

	kmem_buddy_get_stats(x->fx.b, &st);
	for (unsigned o = 0; o < MAX_ORDER; o++)
		for (size_t i = 0; i < st.free_blocks[o]; i++) {
			assert_true(x->nplug < MAX_PLUG);
			x->plug[x->nplug] = kmem_buddy_alloc(x->fx.b, o);
			assert_non_null(x->plug[x->nplug]);
			x->plug_order[x->nplug++] = o;
		}
	kmem_buddy_get_stats(x->fx.b, &st);
	for (unsigned o = 0; o < MAX_ORDER; o++)
		assert_int_equal(st.free_blocks[o], 0);
	assert_true(st.free_blocks[MAX_ORDER] > 0);
}

static void sx_fini(struct sx *x)
{
	assert_int_equal(kmem_slab_check(x->s), 0);
	kmem_slab_destroy(x->s);
	while (x->nplug) {
		x->nplug--;
		kmem_buddy_free(x->fx.b, x->plug[x->nplug]);
	}
	fx_fini(&x->fx);
	assert_int_equal(x->fx.rec.calls, 0); /* no report: the sequences are all legal */
	free(x->sinst);
}

static unsigned ctor_calls, dtor_calls;

static void ctor(void *obj, void *arg)
{
	(void)arg;
	memset(obj, 0x5a, 8);
	ctor_calls++;
}

static void dtor(void *obj, void *arg)
{
	(void)obj;
	(void)arg;
	dtor_calls++;
}

/* The geometry the bounds are written in. */
struct geom {
	unsigned long n, w, m, r;
	unsigned long wm; /* bitmap words of a slab of the instance's magazine cache */
};

static struct geom geom_of(struct kmem_cache *c)
{
	struct kmem_cache_stats st;
	struct geom g;

	kmem_cache_get_stats(c, &st);
	g.n = st.objs_per_slab;
	g.w = (g.n + SLAB_WORD_BITS - 1) / SLAB_WORD_BITS;
	g.m = st.mag_size;
	g.r = g.m / 2 ? g.m / 2 : 1;
#if KMEM_MAGAZINES
	g.wm = (c->owner->mag_cache.objs + SLAB_WORD_BITS - 1) / SLAB_WORD_BITS;
#else
	g.wm = 0; /* no magazine cache (decision 32) */
#endif
	return g;
}

static unsigned long empty_slabs(struct kmem_cache *c)
{
	struct kmem_cache_stats st;

	kmem_cache_get_stats(c, &st);
	return st.total_slabs - st.active_slabs;
}

/* The stated bounds (kmem/slab.h), per operation. */
static void bound_alloc(struct step_op *op, struct geom g)
{
	step_op_init(op, g.m ? "alloc (refill)" : "alloc (no magazine)");
	if (!g.m) {
		op->bound[SLAB_STEP_TAKE] = 1;
		op->bound[SLAB_STEP_WORD] = g.w;
		op->bound[SLAB_STEP_GROW] = 1;
		op->bound[SLAB_STEP_CTOR] = 2 * g.n; /* made, and released if others emptied it */
		op->bound[SLAB_STEP_RELEASE] = 1;
		op->bound[BUDDY_STEP_SPLIT] = MAX_ORDER;
		op->bound[BUDDY_STEP_MERGE] = MAX_ORDER;
		return;
	}
	/* the refill, and the magazine it fills (one object of the
	 * magazine cache) */
	op->bound[SLAB_STEP_TAKE] = g.r + 1;
	op->bound[SLAB_STEP_PICK] = g.r;
	op->bound[SLAB_STEP_WORD] = g.r * g.w + g.wm;
	op->bound[SLAB_STEP_GROW] = g.r + 1;
	op->bound[SLAB_STEP_CTOR] = 2 * g.r * g.n;
	op->bound[SLAB_STEP_RELEASE] = g.r;
	op->bound[BUDDY_STEP_SPLIT] = MAX_ORDER * (g.r + 1);
	op->bound[BUDDY_STEP_MERGE] = MAX_ORDER * g.r;
}

static void bound_free(struct step_op *op, struct geom g)
{
	step_op_init(op, g.m ? "free (flush)" : "free (no magazine)");
	op->bound[SLAB_STEP_RELEASE] = 1;
	op->bound[SLAB_STEP_CTOR] = g.n;
	op->bound[BUDDY_STEP_MERGE] = MAX_ORDER;
	if (!g.m)
		return;
	op->bound[SLAB_STEP_FLUSH] = g.m;
	op->bound[SLAB_STEP_SETTLE] = g.m;
	op->bound[SLAB_STEP_BATCH] = (g.m + KMEM_MAG_MAX_ROUNDS - 1) / KMEM_MAG_MAX_ROUNDS;
	op->bound[SLAB_STEP_RELEASE] = g.m + 1;
	op->bound[SLAB_STEP_CTOR] = g.m * g.n;
	op->bound[SLAB_STEP_GROW] = 1; /* a new magazine: one object of the magazine cache */
	op->bound[SLAB_STEP_TAKE] = 1;
	op->bound[SLAB_STEP_WORD] = g.wm;
	op->bound[BUDDY_STEP_SPLIT] = MAX_ORDER;
	op->bound[BUDDY_STEP_MERGE] = MAX_ORDER * (g.m + 1);
}

static void bound_free_checked(struct step_op *op, struct geom g, unsigned long depot)
{
	step_op_init(op, "free_checked");
	op->bound[SLAB_STEP_MAGSCAN] = (2 + depot) * g.m;
	op->bound[SLAB_STEP_RELEASE] = 1;
	op->bound[SLAB_STEP_CTOR] = g.n;
	op->bound[BUDDY_STEP_MERGE] = MAX_ORDER;
}

static void bound_bulk(struct step_op *op, struct geom g, unsigned long k)
{
	step_op_init(op, "alloc_bulk");
	op->bound[SLAB_STEP_TAKE] = k;
	op->bound[SLAB_STEP_PICK] = k;
	op->bound[SLAB_STEP_WORD] = k * g.w;
	op->bound[SLAB_STEP_GROW] = k;
	op->bound[SLAB_STEP_CTOR] = 2 * k * g.n;
	op->bound[SLAB_STEP_RELEASE] = k;
	op->bound[BUDDY_STEP_SPLIT] = MAX_ORDER * k;
	op->bound[BUDDY_STEP_MERGE] = MAX_ORDER * k;
}

/* 1. No magazine: a cold grow splits the buddy from its top order; the
 * free that empties the slab releases it and merges all the way back. */
static void test_cold_grow_and_release(void **state)
{
	struct kmem_slab_config pol = { .empty_keep = KMEM_SLAB_KEEP_NONE };
	struct sx x;
	struct kmem_cache *c;
	struct step_op al, fr;
	struct kmem_cache_stats st;
	struct geom g;
	void *p;

	(void)state;
	sx_init(&x, &pol);
	c = kmem_cache_create(x.s, "big", BIG, 0, KMEM_CACHE_NOMAGAZINE, ctor, dtor, NULL);
	assert_non_null(c);
	g = geom_of(c);
	kmem_cache_get_stats(c, &st);
	assert_int_equal(st.slab_order, 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.m, 0);
	bound_alloc(&al, g);
	bound_free(&fr, g);
	sx_plug(&x);
	ctor_calls = dtor_calls = 0;
	step_begin();
	p = kmem_cache_alloc(c);
	step_end(&al);
	assert_non_null(p);
	assert_int_equal(step_count[BUDDY_STEP_SPLIT], MAX_ORDER);
	assert_int_equal(step_count[SLAB_STEP_GROW], 1);
	assert_int_equal(step_count[SLAB_STEP_CTOR], g.n);
	assert_int_equal(step_count[SLAB_STEP_TAKE], 1);
	assert_int_equal(ctor_calls, g.n);
	step_begin();
	kmem_cache_free(c, p);
	step_end(&fr);
	assert_int_equal(step_count[SLAB_STEP_RELEASE], 1);
	assert_int_equal(step_count[SLAB_STEP_CTOR], g.n);
	assert_int_equal(step_count[BUDDY_STEP_MERGE], MAX_ORDER);
	assert_int_equal(dtor_calls, g.n);
	step_print(&al);
	step_print(&fr);
	kmem_cache_destroy(c);
	sx_fini(&x);
}

/* 2. Bulk allocation at its largest: every object of fresh slabs (every
 * bitmap word of each), then one object from each of k partial slabs (k
 * picks); the checked frees that empty slabs release them. */
static void test_bulk(void **state)
{
	struct sx x;
	struct kmem_cache *c;
	struct step_op bk, fr;
	struct geom g;
	static void *objs[2048];
	unsigned long k;

	(void)state;
	sx_init(&x, NULL);
	c = kmem_cache_create(x.s, "small", SMALL, 0, 0, ctor, dtor, NULL);
	assert_non_null(c);
	g = geom_of(c);
	assert_true(g.n > 128 && g.w >= 3);
	k = 2 * g.n;
	assert_true(k <= 2048);
	bound_bulk(&bk, g, k);
	step_begin();
	assert_int_equal(kmem_cache_alloc_bulk(c, k, objs), k);
	step_end(&bk);
	assert_int_equal(step_count[SLAB_STEP_GROW], 2);
	assert_int_equal(step_count[SLAB_STEP_PICK], 2);
	assert_int_equal(step_count[SLAB_STEP_TAKE], k);
	assert_int_equal(step_count[SLAB_STEP_WORD], 2 * g.w);
	assert_int_equal(step_count[SLAB_STEP_CTOR], 2 * g.n);
	kmem_cache_free_bulk(c, k, objs);

	/* k partial slabs with one free object each: a bulk of k picks k */
	{
		struct kmem_cache *b = kmem_cache_create(x.s, "big", BIG, 0, 0, NULL, NULL, NULL);
		struct geom gb;
		unsigned long slabs = 16;

		assert_non_null(b);
		gb = geom_of(b);
		assert_int_equal(kmem_cache_alloc_bulk(b, slabs * gb.n, objs), slabs * gb.n);
		for (unsigned long i = 0; i < slabs; i++)
			assert_int_equal(kmem_cache_free_checked(b, objs[i * gb.n]), KMEM_OK);
		bound_bulk(&bk, gb, slabs);
		step_begin();
		assert_int_equal(kmem_cache_alloc_bulk(b, slabs, objs + slabs * gb.n), slabs);
		step_end(&bk);
		assert_int_equal(step_count[SLAB_STEP_PICK], slabs);
		assert_int_equal(step_count[SLAB_STEP_TAKE], slabs);
		assert_int_equal(step_count[SLAB_STEP_GROW], 0);
		/* frees straight to the slabs: the last of each releases it
		 * beyond the empty slabs kept */
		bound_free_checked(&fr, gb, gb.m ? KMEM_DEPOT_DEFAULT : 0);
		for (unsigned long i = 0; i < slabs * gb.n + slabs; i++) {
			void *p = objs[i];

			if (i < slabs * gb.n && i % gb.n == 0)
				continue; /* freed above, allocated again into the tail */
			step_begin();
			assert_int_equal(kmem_cache_free_checked(b, p), KMEM_OK);
			step_end(&fr);
		}
		assert_int_equal(step_worst(&fr, SLAB_STEP_RELEASE), 1);
		step_print(&fr);
		kmem_cache_destroy(b);
	}
	step_print(&bk);
	kmem_cache_destroy(c);
	sx_fini(&x);
}

/* 3. A refill at its largest: R objects into an empty magazine, from slabs
 * the refill has to make (ceil(R / n) of them). */
static void test_refill(void **state)
{
	struct kmem_slab_config pol = { .mag_size = 16 };
	struct sx x;
	struct kmem_cache *c;
	struct step_op al;
	struct geom g;
	void *p;

	(void)state;
	TEST_NEEDS(KMEM_MAGAZINES, "magazines (-Dmagazines)");
	sx_init(&x, &pol);
	c = kmem_cache_create(x.s, "big", BIG, 0, 0, ctor, NULL, NULL);
	assert_non_null(c);
	g = geom_of(c);
	assert_int_equal(g.m, 16);
	assert_int_equal(g.n, 4);
	bound_alloc(&al, g);
	sx_plug(&x);
	step_begin();
	p = kmem_cache_alloc(c);
	step_end(&al);
	assert_non_null(p);
	assert_int_equal(step_count[SLAB_STEP_TAKE], g.r + 1); /* and the magazine */
	/* the refill's slabs, and the magazine cache's first slab */
	assert_int_equal(step_count[SLAB_STEP_GROW], (g.r + g.n - 1) / g.n + 1);
	assert_int_equal(step_count[SLAB_STEP_CTOR], g.r);
	/* the first slab made is a cold split from the top order */
	assert_true(step_count[BUDDY_STEP_SPLIT] >= MAX_ORDER);
	kmem_cache_free(c, p);
	step_print(&al);
	kmem_cache_destroy(c);
	sx_fini(&x);
}

/* 4. A flush at its largest: the magazine a kmem_cache_free flushes holds M
 * objects, each the last allocated object of its slab, so one free
 * releases M slabs (empty_keep none). With depot limit 1 and magazines
 * emptied by a shrink, frees 1..M fill a first magazine, M+1..2M a second,
 * 2M+1..3M a third (the first goes to the depot, which is then full), and
 * free 3M+1 flushes the second. */
static void test_flush(void **state)
{
	struct kmem_slab_config pol = { .mag_size = 8, .depot_limit = 1,
					.empty_keep = KMEM_SLAB_KEEP_NONE };
	struct sx x;
	struct kmem_cache *c;
	struct step_op fr;
	struct geom g;
	static void *fill[64], *sole[64];
	static void *tmp[256];
	unsigned long m;

	(void)state;
	TEST_NEEDS(KMEM_MAGAZINES, "magazines (-Dmagazines)");
	sx_init(&x, &pol);
	c = kmem_cache_create(x.s, "big", BIG, 0, 0, NULL, dtor, NULL);
	assert_non_null(c);
	g = geom_of(c);
	m = g.m;
	assert_int_equal(m, 8);
	/* fillers first (full slabs: 3m is a multiple of n), then m slabs
	 * with one object left each */
	assert_int_equal(3 * m % g.n, 0);
	assert_int_equal(kmem_cache_alloc_bulk(c, 3 * m, fill), 3 * m);
	assert_int_equal(kmem_cache_alloc_bulk(c, m * g.n, tmp), m * g.n);
	for (unsigned long i = 0; i < m * g.n; i++) {
		if (i % g.n == 0)
			sole[i / g.n] = tmp[i];
		else
			assert_int_equal(kmem_cache_free_checked(c, tmp[i]), KMEM_OK);
	}
	(void)kmem_cache_shrink(c); /* this thread's magazines and the depot: none */
	bound_free(&fr, g);
	for (unsigned long i = 0; i < 3 * m; i++) {
		void *p = i < m ? fill[i] : i < 2 * m ? sole[i - m] : fill[i - m];

		step_begin();
		kmem_cache_free(c, p);
		step_end(&fr);
		assert_int_equal(step_count[SLAB_STEP_RELEASE], 0);
	}
	dtor_calls = 0;
	step_begin();
	kmem_cache_free(c, fill[2 * m]);
	step_end(&fr);
	assert_int_equal(step_count[SLAB_STEP_FLUSH], m);
	assert_int_equal(step_count[SLAB_STEP_SETTLE], m);
	assert_int_equal(step_count[SLAB_STEP_BATCH], 1);
	assert_int_equal(step_count[SLAB_STEP_RELEASE], m);
	assert_int_equal(step_count[SLAB_STEP_CTOR], m * g.n);
	assert_int_equal(dtor_calls, m * g.n);
	step_print(&fr);
	for (unsigned long i = 2 * m + 1; i < 3 * m; i++)
		assert_int_equal(kmem_cache_free_checked(c, fill[i]), KMEM_OK);
	kmem_cache_destroy(c);
	sx_fini(&x);
}

/* 5. A checked free's double-free search at its largest: the calling
 * thread's two magazines and D depot magazines full, the object in none. */
static void test_checked_scan(void **state)
{
	struct kmem_slab_config pol = { .mag_size = 8, .depot_limit = 2 };
	struct sx x;
	struct kmem_cache *c;
	struct step_op fc;
	struct geom g;
	static void *objs[64];
	unsigned long m, d = 2, k;

	(void)state;
	TEST_NEEDS(KMEM_MAGAZINES, "magazines (-Dmagazines)");
	sx_init(&x, &pol);
	c = kmem_cache_create(x.s, "big", BIG, 0, 0, NULL, NULL, NULL);
	assert_non_null(c);
	g = geom_of(c);
	m = g.m;
	k = (2 + d) * m;
	assert_true(k + 1 <= 64);
	assert_int_equal(kmem_cache_alloc_bulk(c, k + 1, objs), k + 1);
	(void)kmem_cache_shrink(c);
	for (unsigned long i = 0; i < k; i++)
		kmem_cache_free(c, objs[i]);
	bound_free_checked(&fc, g, d);
	step_begin();
	assert_int_equal(kmem_cache_free_checked(c, objs[k]), KMEM_OK);
	step_end(&fc);
	assert_int_equal(step_count[SLAB_STEP_MAGSCAN], k);
	step_print(&fc);
	kmem_cache_destroy(c);
	sx_fini(&x);
}

static void count_cache(void *arg, const struct kmem_cache_stats *st)
{
	(void)arg;
	(void)st;
}

/* 6. Shrinks: one release per empty slab; the instance's walks one step
 * per cache. kmem_alloc_aligned tries at most every class. */
static void test_shrink_and_classes(void **state)
{
	static const size_t classes[] = { 24, 40, 56, 72, 128 };
	struct kmem_slab_config pol = { .kmalloc_classes = KMEM_KMALLOC_TABLE,
					.class_sizes = classes, .nr_classes = 5 };
	struct sx x;
	struct kmem_cache *c;
	struct step_op sh, ss, al;
	static void *objs[64];
	unsigned long empty, caches;
	void *p;

	(void)state;
	sx_init(&x, &pol);
	c = kmem_cache_create(x.s, "big", BIG, 0, KMEM_CACHE_NOMAGAZINE, NULL, dtor, NULL);
	assert_non_null(c);
	assert_int_equal(kmem_cache_alloc_bulk(c, 40, objs), 40);
	kmem_cache_free_bulk(c, 40, objs); /* 10 slabs emptied, 4 kept */
	empty = empty_slabs(c);
	assert_int_equal(empty, KMEM_CACHE_EMPTY_KEEP);
	step_op_init(&sh, "cache_shrink");
	sh.bound[SLAB_STEP_RELEASE] = empty;
	sh.bound[SLAB_STEP_CTOR] = empty * geom_of(c).n;
	sh.bound[BUDDY_STEP_MERGE] = empty * MAX_ORDER;
	step_begin();
	assert_int_equal(kmem_cache_shrink(c), empty);
	step_end(&sh);
	assert_int_equal(step_count[SLAB_STEP_RELEASE], empty);
	step_print(&sh);

	caches = kmem_slab_walk_stats(x.s, count_cache, NULL);
	assert_true(caches >= 6);
	step_op_init(&ss, "slab_shrink");
	for (unsigned k = 0; k < KMEM_STEP_KINDS; k++)
		ss.bound[k] = (unsigned long)-1; /* each cache's own call: as above */
	ss.bound[SLAB_STEP_CACHE] = caches;
	step_begin();
	(void)kmem_slab_shrink(x.s);
	step_end(&ss);
	assert_int_equal(step_count[SLAB_STEP_CACHE], caches);
	step_begin();
	(void)kmem_slab_reap(x.s);
	step_end(&ss);
	step_begin();
	assert_true(kmem_slab_shrink_count(x.s) < (size_t)-1);
	step_end(&ss);

	/* 16 bytes aligned to 16: 24, 40, 56 and 72 are tried and passed
	 * over, 128 taken */
	step_op_init(&al, "alloc_aligned");
	for (unsigned k = 0; k < KMEM_STEP_KINDS; k++)
		al.bound[k] = (unsigned long)-1; /* then as kmem_cache_alloc */
	al.bound[SLAB_STEP_CLASS] = 5;
	step_begin();
	p = kmem_alloc_aligned(x.s, 16, 16);
	step_end(&al);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p & 15, 0);
	assert_int_equal(step_count[SLAB_STEP_CLASS], 5);
	assert_int_equal(kmem_usable_size(x.s, p), 128);
	kmem_free(x.s, p);
	kmem_cache_destroy(c);
	sx_fini(&x);
#if KMEM_KMALLOC_BIG
	{
		/* past the fast index (decision 39): 8 KiB, 9, 10 and 12 KiB
		 * passed over, 14 KiB taken; at most KMEM_KMALLOC_BIG_CLASSES */
		struct kmem_slab_config fine = { .kmalloc_classes = KMEM_KMALLOC_FINE };

		sx_init(&x, &fine);
		step_op_init(&al, "alloc past the index");
		for (unsigned k = 0; k < KMEM_STEP_KINDS; k++)
			al.bound[k] = (unsigned long)-1; /* then as kmem_cache_alloc */
		al.bound[SLAB_STEP_CLASS] = KMEM_KMALLOC_BIG_CLASSES;
		step_begin();
		p = kmem_alloc(x.s, 14000);
		step_end(&al);
		assert_non_null(p);
		assert_int_equal(step_count[SLAB_STEP_CLASS], 4);
		assert_int_equal(kmem_usable_size(x.s, p), 14336);
		kmem_free(x.s, p);
		sx_fini(&x);
	}
#endif
}

/* 7. A seeded random mix of allocations, frees, bulk calls and checked
 * frees over two caches: every call within its bound. */
static void test_random(void **state)
{
	struct kmem_slab_config pol = { .mag_size = 8, .depot_limit = 2 };
	struct sx x;
	struct kmem_cache *cs[2];
	struct geom g[2];
	struct step_op al[2], fr[2], fc[2], bk[2];
	struct test_rng rng;
	static void *live[2][4096];
	unsigned nlive[2] = { 0, 0 };
	void *tmp[16];

	(void)state;
	rng.s = test_seed(33, "slab steps");
	sx_init(&x, &pol);
	cs[0] = kmem_cache_create(x.s, "small", SMALL, 0, 0, ctor, dtor, NULL);
	cs[1] = kmem_cache_create(x.s, "big", BIG, 0, 0, ctor, dtor, NULL);
	for (unsigned i = 0; i < 2; i++) {
		assert_non_null(cs[i]);
		g[i] = geom_of(cs[i]);
		bound_alloc(&al[i], g[i]);
		bound_free(&fr[i], g[i]);
		bound_free_checked(&fc[i], g[i], 2);
		bound_bulk(&bk[i], g[i], 16);
	}
	for (unsigned long step = 0; step < test_scale(40000); step++) {
		unsigned i = (unsigned)test_below(&rng, 2), dice = (unsigned)test_below(&rng, 100);

		if (dice < 45 && nlive[i] < 4096) {
			void *p;

			step_begin();
			p = kmem_cache_alloc(cs[i]);
			step_end(&al[i]);
			assert_non_null(p);
			live[i][nlive[i]++] = p;
		} else if (dice < 50 && nlive[i] + 16 <= 4096) {
			unsigned long k = 1 + (unsigned long)test_below(&rng, 16);

			step_begin();
			assert_int_equal(kmem_cache_alloc_bulk(cs[i], k, tmp), k);
			step_end(&bk[i]);
			for (unsigned long j = 0; j < k; j++)
				live[i][nlive[i]++] = tmp[j];
		} else if (nlive[i]) {
			unsigned j = (unsigned)test_below(&rng, nlive[i]);
			void *p = live[i][j];

			live[i][j] = live[i][--nlive[i]];
			step_begin();
			if (dice < 95) {
				kmem_cache_free(cs[i], p);
				step_end(&fr[i]);
			} else {
				assert_int_equal(kmem_cache_free_checked(cs[i], p), KMEM_OK);
				step_end(&fc[i]);
			}
		}
	}
	for (unsigned i = 0; i < 2; i++) {
		while (nlive[i]) {
			step_begin();
			kmem_cache_free(cs[i], live[i][--nlive[i]]);
			step_end(&fr[i]);
		}
		step_print(&al[i]);
		step_print(&fr[i]);
		step_print(&fc[i]);
		step_print(&bk[i]);
		kmem_cache_destroy(cs[i]);
	}
	sx_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cold_grow_and_release),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_checked_scan),
		cmocka_unit_test(test_shrink_and_classes),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
