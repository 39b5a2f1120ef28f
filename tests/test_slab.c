/* test_slab.c - object caches: geometry and the waste bound, the
 * constructor/destructor contract, colouring, the partial-list policy,
 * shrink returning frames to buddy, bulk operations, direct caches, every
 * misuse with exact counts, leak reports, slabinfo, the checker. */
#include "slab_fixture.h"

#include <errno.h>

#include "slab_internal.h"

#define KiB ((size_t)1024)

static void test_init_validation(void **state)
{
	struct kmem_slab_config sc;
	struct kmem_page_source ps;
	struct kmem_slab *s;
	struct sfx f;
	void *mem = test_aligned(64, kmem_slab_sizeof());

	(void)state;
	sfx_init(&f);
	memset(&sc, 0, sizeof(sc));
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), -EINVAL); /* no source */
	ps = f.ps;
	ps.get_owner = NULL; /* a source without owner words cannot host slabs */
	sc.source = &ps;
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), -EINVAL);
	sc.source = &f.ps;
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof() - 1, &sc, &s), -ENOSPC);
	assert_int_equal(kmem_slab_init((char *)mem + 8, kmem_slab_sizeof(), &sc, &s), -EINVAL);
	/* bad cache parameters */
	assert_null(kmem_cache_create(f.s, "x", 0, 0, 0, NULL, NULL, NULL));
	assert_null(kmem_cache_create(f.s, "x", 64, 24, 0, NULL, NULL, NULL));
	assert_null(kmem_cache_create(f.s, "x", 64, 0, 0x100, NULL, NULL, NULL));
	assert_null(kmem_cache_create(f.s, "x", (size_t)8 << 20, 0, 0, NULL, NULL, NULL));
	free(mem);
	sfx_fini(&f);
}

/* Every size keeps waste within 1/8 of its slab (or goes direct), and every
 * object is aligned and inside its slab. */
static void test_geometry_and_alignment(void **state)
{
	static const size_t sizes[] = { 1, 7, 8, 24, 64, 96, 100, 192, 250, 512, 1000, 2048,
					3000, 4096, 5000, 8192, 20000, 70000, 300000 };
	static const size_t aligns[] = { 0, 8, 16, 64, 256, 4096 };
	struct sfx f;

	(void)state;
	sfx_init_sized(&f, 4096, 10, (size_t)64 << 20); /* 40 direct 512 KiB blocks fit */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t j = 0; j < sizeof(aligns) / sizeof(aligns[0]); j++) {
			struct kmem_cache *c = kmem_cache_create(f.s, "geo", sizes[i], aligns[j], 0,
								 NULL, NULL, NULL);
			struct kmem_cache_stats st;
			size_t a = aligns[j] ? aligns[j] : 8;
			void *p[40];

			assert_non_null(c);
			st = sfx_stats(c);
			assert_true(st.stride >= sizes[i] && st.stride % a == 0);
			if (!st.direct) {
				assert_true(st.waste_per_slab * 8 <= st.frames_per_slab * 4096);
				assert_true(st.objs_per_slab >= 1);
			} else {
				assert_true(st.frames_per_slab * 4096 >= sizes[i]);
			}
			for (int k = 0; k < 40; k++) {
				p[k] = kmem_cache_alloc(c);
				assert_non_null(p[k]);
				assert_true((uintptr_t)p[k] % a == 0);
				memset(p[k], 0x5a, sizes[i]); /* the whole object is usable */
			}
			assert_int_equal(kmem_cache_check(c), 0);
			for (int k = 0; k < 40; k++)
				kmem_cache_free(c, p[k]);
			(void)kmem_cache_shrink(c); /* the magazines back to the slabs */
			assert_int_equal(sfx_stats(c).active_objs, 0);
			kmem_cache_destroy(c);
		}
	}
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* kmem_slab_config.waste_div: a tighter bound picks larger slabs where the
 * smaller ones waste too much (512-byte objects: 7 to a 4 KiB slab under
 * 1/8, at least 31 to 16 KiB under 1/32), only up to KMEM_SLAB_TIGHT_ORDER,
 * falls back to 1/8 where no such order meets it, and rejects bounds over 64. */
static void test_geometry_waste_div(void **state)
{
	static const size_t sizes[] = { 8, 24, 100, 250, 320, 384, 448, 512, 1000, 1792, 3000,
					4096, 5000, 7168, 8192, 20000 };
	static const unsigned divs[] = { 16, 32, 64 };
	struct kmem_slab_config sc;
	struct sfx f;

	(void)state;
	for (size_t d = 0; d < sizeof(divs) / sizeof(divs[0]); d++) {
		sfx_init_cfg(&f, 4096, 10, (size_t)16 << 20, 0, divs[d]);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct kmem_cache *c = kmem_cache_create(f.s, "geo", sizes[i], 0, 0, NULL,
								 NULL, NULL);
			struct kmem_cache_stats st;
			void *p[8];

			assert_non_null(c);
			st = sfx_stats(c);
			if (!st.direct) {
				size_t bytes = st.frames_per_slab * 4096;

				/* the bound (100..1000-byte objects meet 1/32 in
				 * some order up to KMEM_SLAB_TIGHT_ORDER), or 1/8 */
				assert_true(st.waste_per_slab * 8 <= bytes);
				if (sizes[i] >= 100 && sizes[i] <= 1000 && divs[d] <= 32)
					assert_true(st.waste_per_slab * divs[d] <= bytes);
				if (sizes[i] == 512)
					assert_true(st.objs_per_slab >= (divs[d] >= 32 ? 31u : 15u));
				if (sizes[i] == 4096) /* 7 in 32 KiB (1/8), not 31 in 128 KiB */
					assert_true(st.frames_per_slab <= 8);
			}
			for (int k = 0; k < 8; k++) {
				p[k] = kmem_cache_alloc(c);
				assert_non_null(p[k]);
				memset(p[k], 0x5a, sizes[i]);
			}
			assert_int_equal(kmem_cache_check(c), 0);
			for (int k = 0; k < 8; k++)
				kmem_cache_free(c, p[k]);
			kmem_cache_destroy(c);
		}
		assert_int_equal(kmem_error_total(&f.rec.sink), 0);
		sfx_fini(&f);
	}
	/* out of range */
	sfx_init(&f);
	memset(&sc, 0, sizeof(sc));
	sc.source = &f.ps;
	sc.waste_div = 65;
	{
		void *mem = test_aligned(64, kmem_slab_sizeof());
		struct kmem_slab *s2 = NULL;

		assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s2), -EINVAL);
		free(mem);
	}
	sfx_fini(&f);
}

/* ---- constructor / destructor -------------------------------------------------- */

struct obj {
	uint32_t magic;
	uint32_t generation;
	char payload[56];
};

struct counts {
	unsigned ctor, dtor;
};

static void obj_ctor(void *p, void *arg)
{
	struct obj *o = p;

	o->magic = 0xc0ffee;
	o->generation = 0;
	((struct counts *)arg)->ctor++;
}

static void obj_dtor(void *p, void *arg)
{
	assert_int_equal(((struct obj *)p)->magic, 0xc0ffee);
	((struct counts *)arg)->dtor++;
}

static void test_ctor_dtor_contract(void **state)
{
	struct counts n = { 0, 0 };
	struct kmem_cache *c;
	struct kmem_cache_stats st;
	struct obj *o, *again;
	struct sfx f;
	unsigned per_slab;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "obj", sizeof(struct obj), 0, 0, obj_ctor, obj_dtor, &n);
	assert_int_equal(n.ctor, 0); /* nothing constructed before a slab exists */
	o = kmem_cache_alloc(c);
	st = sfx_stats(c);
	per_slab = st.objs_per_slab;
	assert_int_equal(n.ctor, per_slab); /* the whole slab, once */
	assert_int_equal(o->magic, 0xc0ffee);
	/* constructed state survives free and reallocation; no new ctor call */
	o->generation = 41;
	kmem_cache_free(c, o);
	again = kmem_cache_alloc(c);
	assert_ptr_equal(again, o);
	assert_int_equal(again->generation, 41);
	assert_int_equal(n.ctor, per_slab);
	assert_int_equal(n.dtor, 0);
	kmem_cache_free(c, again);
	/* shrink gives the slab back: destructor once per object */
	assert_int_equal(kmem_cache_shrink(c), st.frames_per_slab);
	assert_int_equal(n.dtor, per_slab);
	assert_int_equal(sfx_stats(c).total_slabs, 0);
	/* destroy runs the destructor for the free objects of live slabs */
	o = kmem_cache_alloc(c);
	kmem_cache_free(c, o);
	kmem_cache_destroy(c);
	assert_int_equal(n.ctor, 2 * per_slab);
	assert_int_equal(n.dtor, 2 * per_slab);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* kmem_cache_destroy (slab.h): the destructor runs for every free object
 * and never for one still allocated, which is a leak, reported. The live
 * objects' state is the caller's: obj_dtor would fail on their magic. */
static void test_destroy_dtor_contract(void **state)
{
	struct counts n = { 0, 0 };
	struct kmem_cache *c;
	struct obj *live[3], *freed;
	struct sfx f;
	unsigned per_slab;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "obj", sizeof(struct obj), 0, 0, obj_ctor, obj_dtor, &n);
	assert_non_null(c);
	for (int i = 0; i < 3; i++) {
		live[i] = kmem_cache_alloc(c);
		assert_non_null(live[i]);
	}
	freed = kmem_cache_alloc(c);
	assert_non_null(freed);
	per_slab = sfx_stats(c).objs_per_slab;
	assert_true(per_slab > 4);
	assert_int_equal(n.ctor, per_slab); /* one slab */
	kmem_cache_free(c, freed); /* to the thread's magazine: destroy flushes it */
	for (int i = 0; i < 3; i++)
		live[i]->magic = 0xdead; /* the caller's state, not the constructed one */
	kmem_cache_destroy(c);
	assert_int_equal(n.dtor, per_slab - 3);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_LEAK), 3);
	assert_int_equal(kmem_error_total(&f.rec.sink), 3);
	sfx_fini(&f);
}

/* ---- colouring ------------------------------------------------------------------- */

static void test_colouring(void **state)
{
	struct sfx f;
	struct kmem_cache *c, *plain;
	struct kmem_cache_stats st;
	void *first[12];

	(void)state;
	sfx_init(&f);
	/* 250-byte objects (stride 256): 15 per 4 KiB slab after a 56-byte header,
	 * 200 bytes of slack: colour offsets 0, 64, 128, 192 */
	c = kmem_cache_create(f.s, "colour", 250, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	plain = kmem_cache_create(f.s, "plain", 250, 0, KMEM_CACHE_NOCOLOUR | KMEM_CACHE_NOMAGAZINE,
				  NULL, NULL, NULL);
	st = sfx_stats(c);
	assert_int_equal(st.colours, 4);
	assert_int_equal(sfx_stats(plain).colours, 1);
	for (unsigned k = 0; k < 12; k++) {
		/* the first object of each new slab: allocate a whole slab's worth */
		first[k] = kmem_cache_alloc(c);
		for (unsigned i = 1; i < st.objs_per_slab; i++)
			assert_non_null(kmem_cache_alloc(c));
	}
	for (unsigned k = 0; k < 12; k++) {
		size_t off = (uintptr_t)first[k] % 4096, off0 = (uintptr_t)first[0] % 4096;

		/* successive slabs step by one cache line, cycling */
		assert_int_equal(off, off0 + (k % st.colours) * 64);
	}
	for (unsigned k = 0; k < 4; k++) {
		void *p = kmem_cache_alloc(plain), *q;

		for (unsigned i = 1; i < st.objs_per_slab; i++)
			q = kmem_cache_alloc(plain);
		(void)q;
		assert_int_equal((uintptr_t)p % 4096, (uintptr_t)first[0] % 4096);
	}
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c); /* leaks reported: every object is still live */
	kmem_cache_destroy(plain);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_LEAK), 2 * (16 + 1));
	sfx_fini(&f);
}

/* ---- partial-list policy ----------------------------------------------------------- */

static void test_fullest_partial_slab_first(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	unsigned n;
	char **a, **b;
	void *p;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "policy", 256, 0, KMEM_CACHE_NOCOLOUR | KMEM_CACHE_NOMAGAZINE, NULL,
			      NULL, NULL);
	n = sfx_stats(c).objs_per_slab;
	assert_true(n >= 8);
	a = calloc(n, sizeof(*a));
	b = calloc(n, sizeof(*b));
	for (unsigned i = 0; i < n; i++)
		a[i] = kmem_cache_alloc(c);
	for (unsigned i = 0; i < n; i++)
		b[i] = kmem_cache_alloc(c);
	/* slab A keeps 1 object, slab B keeps n - 2: B is fuller */
	for (unsigned i = 1; i < n; i++)
		kmem_cache_free(c, a[i]);
	kmem_cache_free(c, b[0]);
	kmem_cache_free(c, b[1]);
	p = kmem_cache_alloc(c);
	assert_true(p == b[0] || p == b[1]);
	kmem_cache_free(c, p);
	kmem_cache_free(c, a[0]);
	for (unsigned i = 2; i < n; i++)
		kmem_cache_free(c, b[i]);
	assert_int_equal(kmem_cache_check(c), 0);
	free(a);
	free(b);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

/* The slab of a 256-byte object (order-0 slabs of 4 KiB). */
static uintptr_t slab_base(const void *p)
{
	return (uintptr_t)p & ~(uintptr_t)4095;
}

/* Three slabs with different fills, A (1 object in use), B (n - 2) and C
 * (n - n/2), C freed into last: FULLEST allocates from B, LEAST from A,
 * MRU from C; then a free into B makes B the most recently used. */
static void partial_policy_case(unsigned policy)
{
	struct sfx f;
	struct kmem_cache *c;
	unsigned n;
	char **a, *p, *q;
	uintptr_t sa, sb, sc, want;

	sfx_init_policy(&f, policy, 0, false);
	c = kmem_cache_create(f.s, "policy", 256, 0, KMEM_CACHE_NOCOLOUR | KMEM_CACHE_NOMAGAZINE, NULL,
			      NULL, NULL);
	n = sfx_stats(c).objs_per_slab;
	assert_int_equal(n, 15);
	a = calloc(3 * n, sizeof(*a));
	for (unsigned i = 0; i < 3 * n; i++)
		a[i] = kmem_cache_alloc(c);
	sa = slab_base(a[0]);
	sb = slab_base(a[n]);
	sc = slab_base(a[2 * n]);
	assert_true(sa != sb && sb != sc && sa != sc);
	assert_true(slab_base(a[n - 1]) == sa && slab_base(a[2 * n - 1]) == sb);
	kmem_cache_free(c, a[n]); /* B: n - 2 in use */
	kmem_cache_free(c, a[n + 1]);
	a[n] = a[n + 1] = NULL;
	for (unsigned i = 1; i < n; i++) { /* A: 1 in use */
		kmem_cache_free(c, a[i]);
		a[i] = NULL;
	}
	for (unsigned i = 2 * n; i < 2 * n + n / 2; i++) { /* C: n - n/2 in use, freed last */
		kmem_cache_free(c, a[i]);
		a[i] = NULL;
	}
	assert_int_equal(kmem_cache_check(c), 0);
	want = policy == KMEM_SLAB_PARTIAL_FULLEST ? sb : policy == KMEM_SLAB_PARTIAL_LEAST ? sa : sc;
	p = kmem_cache_alloc(c);
	assert_true(slab_base(p) == want);
	assert_int_equal(kmem_cache_check(c), 0);
	/* one more free into B: MRU now serves B, FULLEST still B, LEAST still A */
	kmem_cache_free(c, a[n + 2]);
	a[n + 2] = NULL;
	q = kmem_cache_alloc(c);
	assert_true(slab_base(q) == (policy == KMEM_SLAB_PARTIAL_LEAST ? sa : sb));
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_free(c, p);
	kmem_cache_free(c, q);
	for (unsigned i = 0; i < 3 * n; i++)
		kmem_cache_free(c, a[i]);
	assert_int_equal(kmem_cache_check(c), 0);
	free(a);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

static void test_partial_policy_fullest(void **state)
{
	(void)state;
	partial_policy_case(KMEM_SLAB_PARTIAL_FULLEST);
}

static void test_partial_policy_mru(void **state)
{
	(void)state;
	partial_policy_case(KMEM_SLAB_PARTIAL_MRU);
}

static void test_partial_policy_least(void **state)
{
	(void)state;
	partial_policy_case(KMEM_SLAB_PARTIAL_LEAST);
}

/* The current slab (S7, decision 42) of a FULLEST cache without
 * magazines: allocation stays in the slab it picked until it fills, even
 * when a free makes another slab fuller; then the fullest is picked. A
 * free that empties the current slab settles it (kept empty). Misuse of
 * its objects is reported at once, as for any slab. */
static void test_current_slab(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	unsigned n;
	char **a, *p;
	uintptr_t sa, sb, sc;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "cur", 256, 0, KMEM_CACHE_NOCOLOUR | KMEM_CACHE_NOMAGAZINE, NULL,
			      NULL, NULL);
	n = sfx_stats(c).objs_per_slab;
	assert_int_equal(n, 15);
	a = calloc(2 * n + 2, sizeof(*a));
	for (unsigned i = 0; i < n + 2; i++) /* A full, B current with 2 in use */
		a[i] = kmem_cache_alloc(c);
	sa = slab_base(a[0]);
	sb = slab_base(a[n]);
	assert_true(sa != sb && slab_base(a[n - 1]) == sa && slab_base(a[n + 1]) == sb);
	assert_ptr_equal(c->cur, (struct slab *)sb);
	assert_int_equal(((struct slab *)sa)->list, SLAB_LIST_FULL);
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_free(c, a[0]); /* A: n - 1 in use, fuller than B */
	a[0] = NULL;
	assert_ptr_equal(c->cur, (struct slab *)sb);
	p = kmem_cache_alloc(c); /* still B: its list is settled only when it changes */
	assert_true(slab_base(p) == sb);
	a[n + 2] = p;
	assert_int_equal(kmem_cache_check(c), 0);
	/* misuse in the current slab: reported, nothing changed */
	assert_int_equal(kmem_cache_free_checked(c, a[n + 1] + 8), KMEM_INTERIOR_POINTER);
	kmem_cache_free(c, a[n + 1]);
	assert_int_equal(kmem_cache_free_checked(c, a[n + 1]), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_DOUBLE_FREE), 1);
	a[n + 1] = kmem_cache_alloc(c); /* the same object back: lowest free first */
	assert_true(slab_base(a[n + 1]) == sb);
	for (unsigned i = n + 3; i < 2 * n; i++) /* B fills: it stops being current */
		a[i] = kmem_cache_alloc(c);
	assert_null(c->cur);
	assert_int_equal(((struct slab *)sb)->list, SLAB_LIST_FULL);
	p = kmem_cache_alloc(c); /* the fullest: A */
	assert_true(slab_base(p) == sa);
	assert_ptr_equal(c->cur, NULL); /* A filled again with that object */
	a[0] = p;
	kmem_cache_free(c, a[1]); /* A: n - 1 */
	p = kmem_cache_alloc(c); /* picked, taken, full again */
	assert_true(slab_base(p) == sa);
	a[1] = p;
	/* a third slab C current; freeing its only object empties it: settled
	 * onto the empty list, not current any more */
	p = kmem_cache_alloc(c);
	sc = slab_base(p);
	assert_true(sc != sa && sc != sb);
	assert_ptr_equal(c->cur, (struct slab *)sc);
	kmem_cache_free(c, p);
	assert_null(c->cur);
	assert_int_equal(((struct slab *)sc)->list, SLAB_LIST_EMPTY);
	assert_int_equal(sfx_stats(c).total_slabs, 3);
	assert_int_equal(kmem_cache_check(c), 0);
	for (unsigned i = 0; i < 2 * n + 2; i++)
		kmem_cache_free(c, a[i]);
	assert_int_equal(sfx_stats(c).active_objs, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	free(a);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

/* Ten slabs emptied: the cache keeps empty_keep of them (S5) and gives the
 * rest back; growing again makes only the ones it did not keep. */
static void empty_keep_case(unsigned setting, unsigned kept)
{
	struct sfx f;
	struct kmem_cache *c;
	struct kmem_cache_stats st;
	void **p;
	unsigned n, total;
	size_t base_used;

	sfx_init_policy(&f, 0, setting, false);
	c = kmem_cache_create(f.s, "keep", 256, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	n = sfx_stats(c).objs_per_slab;
	total = 10 * n;
	p = calloc(total, sizeof(*p));
	base_used = sfx_used_frames(&f);
	for (unsigned i = 0; i < total; i++)
		p[i] = kmem_cache_alloc(c);
	assert_int_equal(sfx_stats(c).total_slabs, 10);
	for (unsigned i = 0; i < total; i++)
		kmem_cache_free(c, p[i]);
	st = sfx_stats(c);
	assert_int_equal(st.total_slabs, kept);
	assert_int_equal(st.active_slabs, 0);
	assert_int_equal(st.slabs_released, 10 - kept);
	assert_int_equal(sfx_used_frames(&f), base_used + kept);
	assert_int_equal(kmem_cache_check(c), 0);
	for (unsigned i = 0; i < total; i++)
		p[i] = kmem_cache_alloc(c);
	st = sfx_stats(c);
	assert_int_equal(st.slabs_created, 10 + (10 - kept)); /* the kept ones reused */
	for (unsigned i = 0; i < total; i++)
		kmem_cache_free(c, p[i]);
	assert_int_equal(kmem_cache_shrink(c), kept); /* shrink gives back every kept slab */
	assert_int_equal(sfx_stats(c).total_slabs, 0);
	free(p);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

static void test_empty_keep(void **state)
{
	(void)state;
	empty_keep_case(0, KMEM_CACHE_EMPTY_KEEP); /* the default */
	empty_keep_case(KMEM_SLAB_KEEP_NONE, 0);
	empty_keep_case(2, 2);
	empty_keep_case(100, 10); /* more than were ever empty: all kept */
}

/* no_colour: every cache as with KMEM_CACHE_NOCOLOUR; bad policies refused. */
static void test_policy_config(void **state)
{
	struct sfx f, g;
	struct kmem_cache *c;
	struct kmem_slab_config sc;
	struct kmem_slab *s;
	void *first[6];
	void *mem = test_aligned(64, kmem_slab_sizeof());
	unsigned n;

	(void)state;
	sfx_init_policy(&f, 0, 0, true);
	c = kmem_cache_create(f.s, "nocolour", 250, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	assert_int_equal(sfx_stats(c).colours, 1);
	assert_true(sfx_stats(c).flags & KMEM_CACHE_NOCOLOUR);
	n = sfx_stats(c).objs_per_slab;
	for (unsigned k = 0; k < 6; k++) {
		first[k] = kmem_cache_alloc(c);
		for (unsigned i = 1; i < n; i++)
			assert_non_null(kmem_cache_alloc(c));
		assert_int_equal((uintptr_t)first[k] % 4096, (uintptr_t)first[0] % 4096);
	}
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c); /* every object leaked: 16 reports and a summary */
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_LEAK), 17);
	/* the kmalloc classes follow the instance's policies too */
	sfx_init_policy(&g, KMEM_SLAB_PARTIAL_MRU, 1, false);
	kmem_free(g.s, kmem_alloc(g.s, 64));
	assert_int_equal(kmem_slab_check(g.s), 0);
	sfx_fini(&g);
	memset(&sc, 0, sizeof(sc));
	sc.source = &f.ps;
	sc.partial = KMEM_SLAB_PARTIAL_LEAST + 1;
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), -EINVAL);
	free(mem);
	sfx_fini(&f);
}

/* A magazine's worth of objects from three slabs, interleaved, with one
 * object twice: freed grouped by slab, each slab settled once; the double
 * free reported and skipped; the lists sound afterwards (S1, S4, S5). */
static void test_free_batch_grouped(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	struct kmem_cache_stats st;
	void *p[45], *batch[KMEM_MAG_MAX_ROUNDS];
	unsigned n, k = 0;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "batch", 256, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	n = sfx_stats(c).objs_per_slab;
	assert_int_equal(n, 15);
	for (unsigned i = 0; i < 3 * n; i++)
		p[i] = kmem_cache_alloc(c);
	for (unsigned i = 0; i < n - 1; i++) { /* A, B, C, A, B, C, ...: all but one of each */
		batch[k++] = p[i];
		batch[k++] = p[n + i];
		batch[k++] = p[2 * n + i];
	}
	batch[k++] = p[0]; /* freed twice in one batch */
	for (unsigned i = 0; i < 3 * n; i++) /* what a magazine push tells memcheck and ASan */
		kmem_slab_annot_push(c, p[i]);
	assert_int_equal(kmem_slab_free_batch(c, batch, k, " (test)"), 0);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_DOUBLE_FREE), 1);
	st = sfx_stats(c);
	assert_int_equal(st.active_objs, 3);
	assert_int_equal(st.total_slabs, 3);
	assert_int_equal(kmem_cache_check(c), 0);
	batch[0] = p[n - 1];
	batch[1] = p[2 * n - 1];
	batch[2] = p[3 * n - 1];
	/* three slabs empty: KMEM_CACHE_EMPTY_KEEP (4) keeps them all */
	assert_int_equal(kmem_slab_free_batch(c, batch, 3, " (test)"), 0);
	st = sfx_stats(c);
	assert_int_equal(st.active_objs, 0);
	assert_int_equal(st.active_slabs, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

/* ---- shrink returns frames to buddy -------------------------------------------------- */

static void shrink_case(unsigned flags)
{
	struct sfx f;
	struct kmem_cache *c;
	void *p[2000];
	size_t base_used, frames;
	struct kmem_cache_stats st;

	sfx_init(&f);
	c = kmem_cache_create(f.s, "shrink", 128, 0, flags, NULL, NULL, NULL);
	base_used = sfx_used_frames(&f);
	for (int i = 0; i < 2000; i++)
		p[i] = kmem_cache_alloc(c);
	st = sfx_stats(c);
	/* with magazines, one more frame: the magazine cache's first slab */
	assert_int_equal(sfx_used_frames(&f), base_used + st.total_slabs * st.frames_per_slab +
						      (KMEM_MAGAZINES && !(flags & KMEM_CACHE_NOMAGAZINE)));
	for (int i = 0; i < 2000; i++)
		kmem_cache_free(c, p[i]);
	st = sfx_stats(c);
	if ((flags & KMEM_CACHE_NOMAGAZINE) || !KMEM_MAGAZINES) { /* or compiled out */
		/* beyond KMEM_CACHE_EMPTY_KEEP, empty slabs went back already */
		assert_int_equal(st.total_slabs, KMEM_CACHE_EMPTY_KEEP);
		assert_int_equal(st.active_objs, 0);
	} else {
		/* the depot kept KMEM_DEPOT_MAX_FULL (16) full magazines of 61, the
		 * rest went back to the slabs as the depot overflowed */
		assert_int_equal(st.mag_size, 61);
		assert_int_equal(st.depot_full, 16);
		assert_int_equal(st.depot_objs, 16 * 61);
		assert_true(st.active_objs >= 16 * 61 && st.active_objs <= 16 * 61 + 2 * 61);
		assert_true(st.mag_flushes > 0);
		assert_int_equal(kmem_cache_check(c), 0);
	}
	frames = kmem_cache_shrink(c);
	assert_int_equal(frames, st.total_slabs * st.frames_per_slab);
	st = sfx_stats(c);
	assert_int_equal(st.active_objs, 0);
	assert_int_equal(st.total_slabs, 0);
	assert_int_equal(st.depot_full + st.depot_empty, 0);
	(void)kmem_slab_shrink(f.s); /* the magazine cache's empty slabs */
	assert_int_equal(sfx_used_frames(&f), base_used);
	assert_int_equal(kmem_buddy_check(f.b), 0);
	assert_int_equal(kmem_cache_check(c), 0);
	assert_int_equal(kmem_cache_shrink(c), 0);
	kmem_cache_destroy(c);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

static void test_shrink_returns_frames(void **state)
{
	(void)state;
	shrink_case(KMEM_CACHE_NOMAGAZINE);
	shrink_case(0);
}

/* ---- bulk ------------------------------------------------------------------------------ */

static void test_bulk(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	void *p[1000];

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "bulk", 48, 0, 0, NULL, NULL, NULL);
	assert_int_equal(kmem_cache_alloc_bulk(c, 1000, p), 1000);
	for (int i = 0; i < 1000; i++)
		for (int j = i + 1; j < i + 4 && j < 1000; j++)
			assert_ptr_not_equal(p[i], p[j]);
	assert_int_equal(sfx_stats(c).active_objs, 1000);
	kmem_cache_free_bulk(c, 1000, p);
	assert_int_equal(sfx_stats(c).active_objs, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

/* ---- running out of memory ----------------------------------------------------------------- */

static void test_exhaustion(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	void **p;
	size_t n = 0, cap = 70000;
	struct kmem_cache_stats st;

	(void)state;
	sfx_init_sized(&f, 4096, 4, 256 * KiB);
	c = kmem_cache_create(f.s, "oom", 100, 0, 0, NULL, NULL, NULL);
	p = calloc(cap, sizeof(*p));
	while (n < cap && (p[n] = kmem_cache_alloc(c)) != NULL)
		n++;
	assert_true(n > 1000 && n < cap);
	st = sfx_stats(c);
	assert_int_equal(st.alloc_fails, 1);
	assert_int_equal(st.active_objs, n);
	assert_int_equal(kmem_cache_check(c), 0);
	assert_int_equal(kmem_buddy_check(f.b), 0);
	kmem_cache_free_bulk(c, n, p);
	assert_int_equal(sfx_stats(c).active_objs, 0);
	kmem_cache_destroy(c);
	free(p);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f); /* asserts every frame is back */
}

/* A page source that reclaims before every allocation, as a frame service
 * under pressure does (direct reclaim runs the shrinkers in the allocating
 * thread): slab's shrinker then runs while the thread is inside its own
 * magazine slow path. The magazine it is refilling must not be taken and
 * freed under it (it was, and the objects of the batch leaked). */
struct reclaiming_source {
	struct kmem_page_source inner;
	struct kmem_shrinker *sh;
	enum kmem_pressure level;
	unsigned scans;
};

static void *rs_alloc_pages(void *ctx, unsigned order, unsigned flags)
{
	struct reclaiming_source *r = ctx;

	if (r->sh) {
		struct kmem_shrink_request req = { .frames = 1, .bytes_wanted = 0, .level = r->level };

		(void)r->sh->scan(r->sh->arg, &req);
		r->scans++;
	}
	return r->inner.alloc_pages(r->inner.ctx, order, flags);
}

static void rs_free_pages(void *ctx, void *block, unsigned order)
{
	struct reclaiming_source *r = ctx;

	r->inner.free_pages(r->inner.ctx, block, order);
}

static int rs_set_owner(void *ctx, void *block, void *owner)
{
	struct reclaiming_source *r = ctx;

	return r->inner.set_owner(r->inner.ctx, block, owner);
}

static void *rs_get_owner(void *ctx, const void *addr)
{
	struct reclaiming_source *r = ctx;

	return r->inner.get_owner(r->inner.ctx, addr);
}

static int rs_register(void *ctx, struct kmem_shrinker *sh)
{
	((struct reclaiming_source *)ctx)->sh = sh;
	return 0;
}

static void rs_unregister(void *ctx, struct kmem_shrinker *sh)
{
	struct reclaiming_source *r = ctx;

	if (r->sh == sh)
		r->sh = NULL;
}

static void reclaim_in_slow_path_case(enum kmem_pressure level)
{
	struct sfx f;
	struct reclaiming_source r;
	struct kmem_page_source ps;
	struct kmem_slab_config sc;
	struct kmem_slab *s = NULL;
	struct kmem_cache *c;
	void *mem = test_aligned(64, kmem_slab_sizeof());
	enum { N = 3000 };
	void **p = calloc(N, sizeof(*p));
	size_t n = 0;

	sfx_init_sized(&f, 4096, 4, 512 * KiB); /* runs out: the last refills fail */
	memset(&r, 0, sizeof(r));
	r.inner = f.ps;
	r.level = level;
	ps = f.ps;
	ps.ctx = &r;
	ps.alloc_pages = rs_alloc_pages;
	ps.free_pages = rs_free_pages;
	ps.set_owner = rs_set_owner;
	ps.get_owner = rs_get_owner;
	ps.owner_base = 0;
	ps.owner_frames = 0;
	ps.owner_words = NULL;
	ps.register_shrinker = rs_register;
	ps.unregister_shrinker = rs_unregister;
	memset(&sc, 0, sizeof(sc));
	sc.source = &ps;
	sc.sink = &f.rec.sink;
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), 0);
	assert_non_null(r.sh);
	c = kmem_cache_create(s, "reclaimed", 256, 0, 0, NULL, NULL, NULL);
	assert_non_null(c);
	while (n < N && (p[n] = kmem_cache_alloc(c)) != NULL) {
		memset(p[n], 0x5a, 256);
		n++;
	}
	assert_true(n > 100 && n < N); /* it ran out */
	assert_true(r.scans > 0);
	assert_int_equal(sfx_stats(c).active_objs, n);
	assert_int_equal(kmem_slab_check(s), 0);
	for (size_t i = 0; i < n; i++)
		kmem_cache_free(c, p[i]);
	(void)kmem_cache_shrink(c); /* the magazines back to the slabs */
	assert_int_equal(sfx_stats(c).active_objs, 0);
	assert_int_equal(kmem_slab_check(s), 0);
	kmem_cache_destroy(c); /* reports a leak if a batch was lost */
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	kmem_slab_destroy(s);
	assert_null(r.sh);
	free(mem);
	free(p);
	sfx_fini(&f); /* asserts every frame is back */
}

static void test_reclaim_in_slow_path(void **state)
{
	(void)state;
	reclaim_in_slow_path_case(KMEM_PRESSURE_DIRECT);
	reclaim_in_slow_path_case(KMEM_PRESSURE_OOM);
}

/* ---- direct caches ------------------------------------------------------------------------ */

static void test_direct_cache(void **state)
{
	struct sfx f;
	struct kmem_cache *c, *other;
	struct counts n = { 0, 0 };
	char *p, *q;
	size_t used0;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "big", 300000, 0, 0, obj_ctor, obj_dtor, &n);
	other = kmem_cache_create(f.s, "big2", 300000, 0, 0, NULL, NULL, NULL);
	assert_true(sfx_stats(c).direct);
	used0 = sfx_used_frames(&f);
	p = kmem_cache_alloc(c);
	q = kmem_cache_alloc(other);
	assert_int_equal(n.ctor, 1);
	assert_int_equal(sfx_used_frames(&f), used0 + 2 * sfx_stats(c).frames_per_slab);
	assert_int_equal(kmem_cache_free_checked(other, p), KMEM_WRONG_CACHE);
	assert_int_equal(kmem_cache_free_checked(c, p + 4096), KMEM_INTERIOR_POINTER);
	assert_int_equal(kmem_cache_free_checked(c, p), KMEM_OK);
	assert_int_equal(n.dtor, 1);
	/* a direct object freed twice is indistinguishable from a foreign one */
	assert_int_equal(kmem_cache_free_checked(c, p), KMEM_FOREIGN_POINTER);
	kmem_cache_free(other, q);
	assert_int_equal(sfx_used_frames(&f), used0);
	assert_int_equal(kmem_error_total(&f.rec.sink), 3);
	kmem_cache_destroy(c);
	kmem_cache_destroy(other);
	sfx_fini(&f);
}

/* kmem_cache_destroy of a direct cache (slab.h): a live direct object is a
 * leak, reported once, never passed to the destructor, and its block stays
 * allocated in the page source (the caller may still free it there); free
 * direct objects were destructed when they were freed. */
static void test_direct_destroy_leak(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	struct counts n = { 0, 0 };
	struct obj *live, *freed;
	size_t used0, per;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "big", 300000, 0, 0, obj_ctor, obj_dtor, &n);
	assert_non_null(c);
	assert_true(sfx_stats(c).direct);
	per = sfx_stats(c).frames_per_slab;
	used0 = sfx_used_frames(&f);
	live = kmem_cache_alloc(c);
	freed = kmem_cache_alloc(c);
	assert_non_null(live);
	assert_non_null(freed);
	assert_int_equal(n.ctor, 2);
	kmem_cache_free(c, freed); /* direct objects are never hoarded: destructed now */
	assert_int_equal(n.dtor, 1);
	live->magic = 0xdead; /* the caller's state: obj_dtor would fail on it */
	kmem_cache_destroy(c);
	assert_int_equal(n.dtor, 1);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_LEAK), 1);
	assert_int_equal(kmem_error_total(&f.rec.sink), 1);
	assert_int_equal(sfx_used_frames(&f), used0 + per); /* the leaked block stays allocated */
	kmem_buddy_free(f.b, live);
	assert_int_equal(sfx_used_frames(&f), used0);
	sfx_fini(&f);
}

/* ---- misuse ---------------------------------------------------------------------------------- */

static void test_misuse(void **state)
{
	struct sfx f;
	struct kmem_cache *c, *d;
	struct kmem_cache_stats before, after;
	char *p, *q, *page;
	int local;

	(void)state;
	sfx_init(&f);
	/* without magazines every free is checked at once */
	c = kmem_cache_create(f.s, "victim", 64, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	d = kmem_cache_create(f.s, "other", 64, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	p = kmem_cache_alloc(c);
	q = kmem_cache_alloc(d);
	kmem_cache_free(c, kmem_cache_alloc(c)); /* a free object in c's slab */
	before = sfx_stats(c);

	assert_int_equal(kmem_cache_free_checked(c, q), KMEM_WRONG_CACHE);
	assert_report_has(f.rec.detail, "'other'");
	assert_int_equal(kmem_cache_free_checked(c, &local), KMEM_FOREIGN_POINTER);
	page = kmem_buddy_alloc(f.b, 0); /* buddy memory no slab owns */
	assert_int_equal(kmem_cache_free_checked(c, page), KMEM_FOREIGN_POINTER);
	kmem_buddy_free(f.b, page);
	assert_int_equal(kmem_cache_free_checked(c, p + 8), KMEM_INTERIOR_POINTER);
	assert_report_has(f.rec.detail, "8 bytes into object");
	assert_int_equal(kmem_cache_free_checked(c, (char *)((uintptr_t)p & ~(uintptr_t)4095) + 4),
			 KMEM_INTERIOR_POINTER); /* the slab header */
	assert_int_equal(kmem_cache_free_checked(c, p), KMEM_OK);
	before.frees++;
	before.active_objs--;
	assert_int_equal(kmem_cache_free_checked(c, p), KMEM_DOUBLE_FREE);
	kmem_cache_free(c, p);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_WRONG_CACHE), 1);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_FOREIGN_POINTER), 2);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_INTERIOR_POINTER), 2);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_DOUBLE_FREE), 2);
	assert_string_equal(f.rec.last.component, "slab");
	assert_string_equal(f.rec.last.instance, "victim");
	after = sfx_stats(c);
	assert_int_equal(after.active_objs, before.active_objs);
	assert_int_equal(after.frees, before.frees);
	assert_int_equal(kmem_cache_check(c), 0);
	assert_int_equal(kmem_cache_check(d), 0);
	/* the caches still work */
	p = kmem_cache_alloc(c);
	assert_non_null(p);
	kmem_cache_free(c, p);
	kmem_cache_free(d, q);
	kmem_cache_destroy(c);
	kmem_cache_destroy(d);
	assert_int_equal(kmem_error_total(&f.rec.sink), 7);
	sfx_fini(&f);
}

/* A report's detail (decision 32): with the error text, the clause with its
 * values; compiled out (-Derror_text, the freestanding default), "" and
 * nothing else of the report changes: status, pointer, instance, caller,
 * and the formatted line still names the status and the cache. */
static void test_report_detail(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	char *p;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "detail", 64, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	p = kmem_cache_alloc(c);
	assert_non_null(p);
	assert_int_equal(kmem_cache_free_checked(c, p + 8), KMEM_INTERIOR_POINTER);
	assert_int_equal(f.rec.calls, 1);
	assert_int_equal(f.rec.last.status, KMEM_INTERIOR_POINTER);
	assert_ptr_equal(f.rec.last.ptr, p + 8);
	assert_string_equal(f.rec.last.instance, "detail");
	assert_non_null(f.rec.last.caller);
	assert_non_null(f.rec.last.detail);
	assert_non_null(strstr(f.rec.line, "interior-pointer"));
	assert_non_null(strstr(f.rec.line, "'detail'"));
	if (KMEM_ERROR_TEXT)
		assert_non_null(strstr(f.rec.detail, "8 bytes into object 0"));
	else
		assert_string_equal(f.rec.detail, "");
	kmem_cache_free(c, p);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

static void test_leak_report_on_destroy(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	void *p[3];

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "leaky", 32, 0, 0, NULL, NULL, NULL);
	for (int i = 0; i < 3; i++)
		p[i] = kmem_cache_alloc(c);
	kmem_cache_free(c, p[1]);
	kmem_cache_destroy(c); /* p[0] and p[2] leak */
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_LEAK), 2);
	assert_ptr_equal(f.rec.last.ptr, p[2]);
	assert_report_has(f.rec.detail, "still allocated");
	sfx_fini(&f); /* the memory itself went back to buddy */
}

/* ---- slabinfo and the checker -------------------------------------------------------------- */

static void test_slabinfo(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	char text[4096], name[32], *line;
	size_t active, num, objsize, active_slabs, num_slabs;
	unsigned perslab, pages;
	void *p[10];

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "dentry", 192, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	for (int i = 0; i < 10; i++)
		p[i] = kmem_cache_alloc(c);
	assert_true(kmem_slab_format_slabinfo(f.s, text, sizeof(text)) < (int)sizeof(text));
	assert_int_equal(strncmp(text, "slabinfo - version: 2.1\n# name ", 31), 0);
	line = strstr(text, "\ndentry ");
	assert_non_null(line);
	assert_int_equal(sscanf(line + 1, "%31s %zu %zu %zu %u %u : tunables %*u %*u %*u : slabdata %zu %zu",
				name, &active, &num, &objsize, &perslab, &pages, &active_slabs, &num_slabs),
			 8);
	assert_string_equal(name, "dentry");
	assert_int_equal(active, 10);
	assert_int_equal(num, perslab);
	assert_int_equal(objsize, 192);
	assert_int_equal(pages, 1);
	assert_int_equal(active_slabs, 1);
	assert_int_equal(num_slabs, 1);
	assert_non_null(strstr(text, "\nkmem_cache "));
	kmem_cache_free_bulk(c, 10, p);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

static void test_check_detects_corruption(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	struct slab *sl;
	struct kmem_list_node **pprev;
	void *p, *q;
	unsigned long saved; /* a bitmap word (slab_internal.h) */

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "corrupt", 64, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	p = kmem_cache_alloc(c);
	q = kmem_cache_alloc(c);
	sl = (struct slab *)((uintptr_t)p & ~(uintptr_t)4095);
	sl->inuse++; /* S2 */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	sl->inuse--;
	saved = slab_used_bits(sl)[0];
	slab_used_bits(sl)[0] |= 1u << 5; /* S2: a free object marked used */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "S2");
	slab_used_bits(sl)[0] = saved;
	sl->hint = 1; /* S2: the hint skips a word with free objects */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	sl->hint = 0;
	c->active_objs++; /* S4 */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "S4");
	c->active_objs--;
	pprev = sl->link.pprev;
	sl->link.pprev = &sl->link.next; /* S1: a back link that does not name the head */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "S1: broken list links");
	sl->link.pprev = pprev;
	assert_null(sl->link.next); /* the cache's only slab */
	sl->link.next = &sl->link; /* S1: a cycle */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "S1");
	sl->link.next = NULL;
	c->nr_slabs--; /* S1: more slabs on the lists than the cache counts */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "S1: more slabs");
	c->nr_slabs++;
	assert_int_equal(kmem_buddy_set_owner(f.b, sl, NULL), 0); /* S3 */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "S3");
	assert_int_equal(kmem_buddy_set_owner(f.b, sl, sl), 0);
	assert_ptr_equal(c->cur, sl); /* S7: the current slab, 2 of its objects in use */
	c->cur = (struct slab *)((uintptr_t)sl + 4096); /* S7: not a slab on the cache's lists */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "S7");
	c->cur = sl;
	assert_int_equal(kmem_cache_check(c), 0);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_CORRUPTION), 9);
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_free(c, p);
	kmem_cache_free(c, q);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

/* kmem_slab_check verifies the instance's cache list before walking it. */
static void test_check_cache_list(void **state)
{
	struct sfx f;
	struct kmem_cache *a, *b;
	struct kmem_list_node **pprev;

	(void)state;
	sfx_init(&f);
	a = kmem_cache_create(f.s, "a", 32, 0, 0, NULL, NULL, NULL);
	b = kmem_cache_create(f.s, "b", 32, 0, 0, NULL, NULL, NULL);
	assert_ptr_equal(kmem_list_first(&f.s->caches), &b->link); /* newest first */
	assert_ptr_equal(b->link.next, &a->link);
	assert_int_equal(kmem_slab_check(f.s), 0);
	pprev = a->link.pprev;
	a->link.pprev = &f.s->caches.first; /* a's back link skips b */
	assert_int_equal(kmem_slab_check(f.s), -EFAULT);
	assert_report_has(f.rec.detail, "cache list");
	assert_ptr_equal(f.rec.last.ptr, a);
	a->link.pprev = pprev;
	assert_int_equal(kmem_slab_check(f.s), 0);
	kmem_cache_destroy(b);
	assert_ptr_equal(kmem_list_first(&f.s->caches), &a->link);
	assert_int_equal(kmem_slab_check(f.s), 0);
	kmem_cache_destroy(a);
	sfx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_validation),
		cmocka_unit_test(test_geometry_and_alignment),
		cmocka_unit_test(test_geometry_waste_div),
		cmocka_unit_test(test_ctor_dtor_contract),
		cmocka_unit_test(test_destroy_dtor_contract),
		cmocka_unit_test(test_colouring),
		cmocka_unit_test(test_fullest_partial_slab_first),
		cmocka_unit_test(test_partial_policy_fullest),
		cmocka_unit_test(test_partial_policy_mru),
		cmocka_unit_test(test_partial_policy_least),
		cmocka_unit_test(test_current_slab),
		cmocka_unit_test(test_empty_keep),
		cmocka_unit_test(test_policy_config),
		cmocka_unit_test(test_free_batch_grouped),
		cmocka_unit_test(test_shrink_returns_frames),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_exhaustion),
		cmocka_unit_test(test_reclaim_in_slow_path),
		cmocka_unit_test(test_direct_cache),
		cmocka_unit_test(test_direct_destroy_leak),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_report_detail),
		cmocka_unit_test(test_leak_report_on_destroy),
		cmocka_unit_test(test_slabinfo),
		cmocka_unit_test(test_check_detects_corruption),
		cmocka_unit_test(test_check_cache_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
