/* test_pa_check.c - the frame service's checker, white-box: each
 * test builds a small state, breaks one invariant of pa_internal.h (P1-P8)
 * by writing the private structures directly, and asserts that
 * kmem_pa_check() fails with -EFAULT and reports KMEM_CORRUPTION whose
 * detail names that invariant ("P3: ..."); then it repairs the state, the
 * checker passes again and the instance is destroyed cleanly. */
#include "pa_fixture.h"

#include "kmem_annot.h"
#include "pa_internal.h"

/* The checker fails, once, naming invariant inv ("P1:" ...). */
static void expect_broken(struct pafx *f, const char *inv)
{
	unsigned calls = f->rec.calls;

	assert_int_equal(kmem_pa_check(f->pa), -EFAULT);
	assert_int_equal(f->rec.calls, calls + 1);
	assert_int_equal(f->rec.last.status, KMEM_CORRUPTION);
	assert_non_null(f->rec.last.detail);
	if (strncmp(f->rec.last.detail, inv, strlen(inv)) != 0)
		fail_msg("expected %s, the checker said \"%s\"", inv, f->rec.last.detail);
}

static void expect_sound(struct pafx *f)
{
	unsigned calls = f->rec.calls;

	assert_int_equal(kmem_pa_check(f->pa), 0);
	assert_int_equal(f->rec.calls, calls);
}

/* Write one byte of a parked block (NOACCESS for memcheck and ASan). */
static void poke(struct pafx *f, void *blk, size_t off, unsigned char v)
{
	KMEM_ANNOT_UNDEFINED(blk, f->frame);
	((volatile unsigned char *)blk)[off] = v;
	KMEM_ANNOT_NOACCESS(blk, f->frame);
}

/* The calling thread's cache (made by one slow-path allocation). */
static struct pa_pcp *own_cache(struct pafx *f)
{
	struct pa_pcp *me = pa_pcp_self(f->pa);

	if (!me) {
		void *b = kmem_pa_alloc(f->pa, 0, 0);

		assert_non_null(b);
		kmem_pa_free(f->pa, b, 0);
		me = pa_pcp_self(f->pa);
	}
	assert_non_null(me);
	return me;
}

/* One block freed into the order-0 dirty pool (no thread caches). */
static void *pooled_block(struct pafx *f, unsigned flags)
{
	void *b = kmem_pa_alloc(f->pa, 0, flags);

	assert_non_null(b);
	kmem_pa_free(f->pa, b, 0);
	assert_int_equal(f->pa->dpool[0].n, 1);
	assert_ptr_equal(f->pa->dpool[0].blk[0], b);
	return b;
}

/* ---- P1: pooled and cached blocks are used buddy blocks held once --------------------------- */

static void test_p1_pooled_not_a_block(void **state)
{
	struct pafx f;
	void *b;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	b = pooled_block(&f, 0);
	f.pa->dpool[0].blk[0] = (char *)b + f.frame; /* inside the block, not its start */
	expect_broken(&f, "P1:");
	f.pa->dpool[0].blk[0] = b;
	expect_sound(&f);
	pafx_fini(&f);
}

static void test_p1_twice_in_pool(void **state)
{
	struct pafx f;
	void *b;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	b = pooled_block(&f, 0);
	f.pa->dpool[0].blk[1] = b;
	f.pa->dpool[0].n = 2;
	f.pa->dirty_frames++;
	expect_broken(&f, "P1:");
	f.pa->dpool[0].n = 1;
	f.pa->dirty_frames--;
	expect_sound(&f);
	pafx_fini(&f);
}

static void test_p1_in_both_pools(void **state)
{
	struct pafx f;
	struct pa_pool *zp;
	void *b;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	b = pooled_block(&f, KMEM_PAGE_ZERO); /* still reads zero: P3 holds */
	zp = &f.pa->zpool[0];
	zp->blk[zp->n++] = b;
	f.pa->zero_frames++;
	expect_broken(&f, "P1:");
	for (size_t i = 0; i < zp->n; i++)
		if (zp->blk[i] == b)
			zp->blk[i] = zp->blk[--zp->n];
	f.pa->zero_frames--;
	expect_sound(&f);
	pafx_fini(&f);
}

static void test_p1_pooled_but_shared(void **state)
{
	struct pafx f;
	void *b;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	b = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(b);
	assert_int_equal(kmem_pa_get(f.pa, b), 0);
	kmem_pa_free(f.pa, b, 0); /* the unchecked free of a shared block */
	expect_broken(&f, "P1:");
	assert_int_equal(kmem_pa_put(f.pa, b, 0), 1); /* the entry goes */
	expect_sound(&f);
	pafx_fini(&f);
}

static void test_p1_cached_and_pooled(void **state)
{
	struct pafx f;
	struct pa_pcp *me;
	struct pa_pool *dp;
	void *b;

	(void)state;
	pafx_init(&f, 0);
	me = own_cache(&f);
	b = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(b);
	kmem_pa_free(f.pa, b, 0); /* top of the dirty stack */
	assert_true(me->l[0].nd > 0);
	assert_ptr_equal(me->l[0].d[me->l[0].nd - 1], b);
	dp = &f.pa->dpool[0];
	dp->blk[dp->n++] = b;
	f.pa->dirty_frames++;
	expect_broken(&f, "P1:");
	for (size_t i = 0; i < dp->n; i++)
		if (dp->blk[i] == b)
			dp->blk[i] = dp->blk[--dp->n];
	f.pa->dirty_frames--;
	expect_sound(&f);
	pafx_fini(&f);
}

/* ---- P2: pool counts ------------------------------------------------------------------------ */

static void test_p2_count_above_cap(void **state)
{
	struct pafx f;
	size_t n;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	(void)pooled_block(&f, 0);
	n = f.pa->dpool[0].n;
	f.pa->dpool[0].n = f.pa->dpool[0].cap + 1;
	expect_broken(&f, "P2:");
	f.pa->dpool[0].n = n;
	expect_sound(&f);
	pafx_fini(&f);
}

static void test_p2_sum(void **state)
{
	struct pafx f;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	(void)pooled_block(&f, 0);
	f.pa->dirty_frames += 2;
	expect_broken(&f, "P2:");
	f.pa->dirty_frames -= 2;
	f.pa->zero_frames++;
	expect_broken(&f, "P2:");
	f.pa->zero_frames--;
	expect_sound(&f);
	pafx_fini(&f);
}

/* ---- P3: zeroed blocks read zero ------------------------------------------------------------ */

static void test_p3_zeroed_pool(void **state)
{
	struct pafx f;
	void *b;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	(void)kmem_pa_reaper_run(f.pa, (size_t)1 << 20); /* the zeroer fills the pools */
	assert_true(f.pa->zpool[0].n > 0);
	b = f.pa->zpool[0].blk[0];
	poke(&f, b, 123, 0x5a);
	expect_broken(&f, "P3:");
	poke(&f, b, 123, 0);
	expect_sound(&f);
	pafx_fini(&f);
}

static void test_p3_zero_stack(void **state)
{
	struct pafx f;
	struct pa_pcp *me;
	void *b;

	(void)state;
	pafx_init_full(&f, 4096, 6, (size_t)4 << 20, 0, KMEM_PA_INIT_ON_FREE);
	me = own_cache(&f);
	b = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(b);
	kmem_pa_free(f.pa, b, 0); /* wiped onto the zero stack */
	assert_true(me->l[0].nz > 0);
	assert_ptr_equal(me->l[0].z[me->l[0].nz - 1], b);
	poke(&f, b, f.frame - 1, 1);
	expect_broken(&f, "P3:");
	poke(&f, b, f.frame - 1, 0);
	expect_sound(&f);
	pafx_fini(&f);
}

/* ---- P4: thread caches ---------------------------------------------------------------------- */

static void test_p4_count_above_capacity(void **state)
{
	struct pafx f;
	struct pa_pcp *me;
	unsigned nd;

	(void)state;
	pafx_init(&f, 0);
	me = own_cache(&f);
	nd = me->l[2].nd;
	me->l[2].nd = me->l[2].capd + 1;
	expect_broken(&f, "P4:");
	me->l[2].nd = nd;
	expect_sound(&f);
	pafx_fini(&f);
}

static void test_p4_capacity(void **state)
{
	struct pafx f;
	struct pa_pcp *me;

	(void)state;
	pafx_init(&f, 0);
	me = own_cache(&f);
	me->l[1].capz++;
	expect_broken(&f, "P4:");
	me->l[1].capz--;
	expect_sound(&f);
	pafx_fini(&f);
}

static void test_p4_list(void **state)
{
	struct pafx f;
	struct pa_pcp *me;
	struct kmem_list_node **pprev;

	(void)state;
	pafx_init(&f, 0);
	me = own_cache(&f);
	f.pa->npcp++;
	expect_broken(&f, "P4: fewer");
	f.pa->npcp--;
	f.pa->npcp--;
	expect_broken(&f, "P4: more");
	f.pa->npcp++;
	pprev = me->link.pprev;
	me->link.pprev = &me->link.next; /* the first cache's back link must name the head */
	expect_broken(&f, "P4: thread cache list badly linked");
	me->link.pprev = pprev;
	me->link.next = &me->link; /* a cycle */
	expect_broken(&f, "P4:");
	me->link.next = NULL;
	expect_sound(&f);
	pafx_fini(&f);
}

/* ---- P5: clients ---------------------------------------------------------------------------- */

static void test_p5_clients(void **state)
{
	struct kmem_pa_client_config cc;
	struct kmem_pa_client *cl;
	struct pafx f;
	void *b;

	(void)state;
	pafx_init(&f, 0);
	memset(&cc, 0, sizeof(cc));
	cc.name = "c";
	cc.max_frames = 4;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), 0);
	b = kmem_pa_client_alloc(cl, 1, 0);
	assert_non_null(b);
	assert_int_equal(cl->held, 2);
	expect_sound(&f);
	cl->held = 5; /* above max_frames */
	expect_broken(&f, "P5:");
	cl->max_frames = 0;
	cl->held = 100000; /* more than was ever handed out */
	expect_broken(&f, "P5:");
	cl->held = 2;
	cl->max_frames = 4;
	f.pa->nclients++;
	expect_broken(&f, "P5:");
	f.pa->nclients--;
	expect_sound(&f);
	kmem_pa_client_free(cl, b, 1);
	kmem_pa_client_unregister(cl);
	pafx_fini(&f);
}

/* ---- P6: watermarks ------------------------------------------------------------------------- */

static void test_p6_watermarks(void **state)
{
	struct pafx f;
	size_t low, zlow;

	(void)state;
	pafx_init(&f, 0);
	low = f.pa->wlow;
	f.pa->wlow = f.pa->wmin;
	expect_broken(&f, "P6:");
	f.pa->wlow = f.pa->whigh;
	expect_broken(&f, "P6:");
	f.pa->wlow = low;
	zlow = f.pa->zlow;
	f.pa->zlow = f.pa->zhigh + 1;
	expect_broken(&f, "P6:");
	f.pa->zlow = zlow;
	expect_sound(&f);
	pafx_fini(&f);
}

/* ---- P7: the reference table ---------------------------------------------------------------- */

static struct pa_ref *find_ref(struct pafx *f, void *b)
{
	struct pa_ref *e;

	kmem_lock_acquire(&f->pa->lock);
	e = kmem_pa_ref_find_locked(f->pa, (uintptr_t)b);
	kmem_lock_release(&f->pa->lock);
	assert_non_null(e);
	return e;
}

static void test_p7_refs(void **state)
{
	struct pafx f;
	struct pa_ref *e, saved;
	size_t i, j, cap;
	void *b;

	(void)state;
	pafx_init(&f, 0);
	b = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(b);
	assert_int_equal(kmem_pa_get(f.pa, b), 0);
	expect_sound(&f);
	e = find_ref(&f, b);
	/* a shared entry with one reference */
	e->refs = 1;
	expect_broken(&f, "P7:");
	e->refs = 2;
	/* the count */
	f.pa->ref_n++;
	expect_broken(&f, "P7:");
	f.pa->ref_n--;
	/* the capacity */
	cap = f.pa->ref_cap;
	f.pa->ref_cap = cap - 1;
	expect_broken(&f, "P7:");
	f.pa->ref_cap = cap;
	/* off its probe chain: the only entry moved one slot on, its home
	 * left empty */
	i = (size_t)(e - f.pa->refs);
	j = (i + 1) & (cap - 1);
	assert_int_equal(f.pa->refs[j].addr, 0);
	saved = *e;
	f.pa->refs[j] = saved;
	e->addr = 0;
	expect_broken(&f, "P7:");
	f.pa->refs[i] = saved;
	f.pa->refs[j].addr = 0;
	/* an entry for a block that is not allocated */
	e->addr = (uintptr_t)b + f.frame / 2;
	expect_broken(&f, "P7:");
	e->addr = (uintptr_t)b;
	expect_sound(&f);
	assert_int_equal(kmem_pa_put(f.pa, b, 0), 1);
	assert_int_equal(kmem_pa_put(f.pa, b, 0), 0);
	pafx_fini(&f);
}

/* ---- P8: the shadow set --------------------------------------------------------------------- */

static void test_p8_shadow(void **state)
{
	struct pafx f;

	(void)state;
	pafx_init(&f, 0);
	f.pa->shadow_n++;
	expect_broken(&f, "P8:");
	f.pa->shadow_n--;
	expect_sound(&f);
	pafx_fini(&f);
}

/* ---- a drained batch with a bad block ------------------------------------------------------- */

/* An unchecked free pushes a foreign pointer onto the thread cache; the
 * drain validates the batch in one buddy call, reports that block alone
 * and parks or frees the others. */
static void test_drain_batch_with_misuse(void **state)
{
	static _Alignas(4096) char foreign[4096];
	struct pafx f;
	void *a, *c;
	size_t used0;
	unsigned calls;

	(void)state;
	pafx_init(&f, 0);
	(void)own_cache(&f);
	(void)kmem_pa_drain(f.pa);
	used0 = pafx_buddy_used(&f);
	a = kmem_pa_alloc(f.pa, 0, 0);
	c = kmem_pa_alloc(f.pa, 0, 0);
	assert_true(a && c);
	kmem_pa_free(f.pa, a, 0);
	kmem_pa_free(f.pa, foreign, 0);
	kmem_pa_free(f.pa, c, 0);
	calls = f.rec.calls;
	(void)kmem_pa_drain(f.pa);
	assert_int_equal(f.rec.calls, calls + 1);
	assert_int_equal(f.rec.last.status, KMEM_FOREIGN_POINTER);
	assert_ptr_equal(f.rec.last.ptr, foreign);
	assert_int_equal(pafx_buddy_used(&f), used0);
	expect_sound(&f);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p1_pooled_not_a_block),
		cmocka_unit_test(test_p1_twice_in_pool),
		cmocka_unit_test(test_p1_in_both_pools),
		cmocka_unit_test(test_p1_pooled_but_shared),
		cmocka_unit_test(test_p1_cached_and_pooled),
		cmocka_unit_test(test_p2_count_above_cap),
		cmocka_unit_test(test_p2_sum),
		cmocka_unit_test(test_p3_zeroed_pool),
		cmocka_unit_test(test_p3_zero_stack),
		cmocka_unit_test(test_p4_count_above_capacity),
		cmocka_unit_test(test_p4_capacity),
		cmocka_unit_test(test_p4_list),
		cmocka_unit_test(test_p5_clients),
		cmocka_unit_test(test_p6_watermarks),
		cmocka_unit_test(test_p7_refs),
		cmocka_unit_test(test_p8_shadow),
		cmocka_unit_test(test_drain_batch_with_misuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
