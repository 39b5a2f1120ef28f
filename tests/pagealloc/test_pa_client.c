/* test_pa_client.c - clients and shares (pagealloc/client.c): client
 * configuration and accounting, limits and guaranteed minimums, the share
 * policies (EQUAL, PROPORTIONAL, PRIORITY), global and local reclaim scope,
 * OOM victims by score and by priority, and a slab instance per client.
 * Every scenario ends with kmem_pa_check and kmem_buddy_check, and after
 * kmem_pa_destroy every frame is free in the buddy again (pa_fixture.h). */

#include "pa_fixture.h"

/* ---- clients -------------------------------------------------------------------- */

struct cstate {
	struct kmem_pa_client *cl;
	void *blk[1024];
	size_t n;
	size_t allow;	/* frames one release call may give back */
	unsigned long calls;
	struct kmem_shrink_request last;
};

static size_t cs_release(void *arg, const struct kmem_shrink_request *req)
{
	struct cstate *cs = arg;
	size_t got = 0;

	cs->calls++;
	cs->last = *req;
	while (cs->n > 0 && got < req->frames && got < cs->allow) {
		kmem_pa_client_free(cs->cl, cs->blk[--cs->n], 0);
		got++;
	}
	return got;
}

static struct cstate *cs_new(struct kmem_pagealloc *pa, struct kmem_pa_client_config *cc)
{
	struct cstate *cs = calloc(1, sizeof(*cs));

	assert_non_null(cs);
	cs->allow = SIZE_MAX;
	if (!cc->release) {
		cc->release = cs_release;
		cc->arg = cs;
	}
	assert_int_equal(kmem_pa_client_register(pa, cc, &cs->cl), 0);
	assert_non_null(cs->cl);
	return cs;
}

static void cs_take(struct cstate *cs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		void *p = kmem_pa_client_alloc(cs->cl, 0, 0);

		assert_non_null(p);
		assert_true(cs->n < 1024);
		cs->blk[cs->n++] = p;
	}
}

static void cs_done(struct cstate *cs)
{
	while (cs->n > 0)
		kmem_pa_client_free(cs->cl, cs->blk[--cs->n], 0);
	kmem_pa_client_unregister(cs->cl);
	free(cs);
}

static struct kmem_pa_client_stats cs_stats(struct cstate *cs)
{
	struct kmem_pa_client_stats st;

	memset(&st, 0xff, sizeof(st));
	kmem_pa_client_get_stats(cs->cl, &st);
	return st;
}

static void test_client_config(void **state)
{
	struct pafx f;
	struct kmem_pa_client_config cc;
	struct kmem_pa_client *cl = NULL, *many[KMEM_PA_MAX_CLIENTS];
	struct kmem_pa_client_stats st;
	char name[32];
	void *p;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP); /* managed 1024, high 48 */
	memset(&cc, 0, sizeof(cc));
	cc.name = "c";
	assert_int_equal(kmem_pa_client_register(f.pa, NULL, &cl), -EINVAL);
	cc.oom_score_adj = 1001;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), -EINVAL);
	cc.oom_score_adj = -1001;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), -EINVAL);
	cc.oom_score_adj = 0;
	cc.min_frames = 10;
	cc.max_frames = 5;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), -EINVAL);
	cc.max_frames = 0; /* no limit: min 10 is fine */
	cc.priority = 1001;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), -EINVAL);
	cc.priority = -1;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), -EINVAL);
	cc.priority = 0;
	/* guaranteed minimums up to managed - high = 976 */
	cc.min_frames = 977;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), -ENOMEM);
	assert_int_equal(pafx_stats(&f).nr_clients, 0);
	cc.min_frames = 976;
	snprintf(name, sizeof(name), "%s", "guaranteed");
	cc.name = name;
	cc.oom_score_adj = -1000;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), 0);
	memset(name, 'x', sizeof(name) - 1); /* the name was copied */
	kmem_pa_client_get_stats(cl, &st);
	assert_string_equal(st.name, "guaranteed");
	assert_int_equal(st.min_frames, 976);
	assert_int_equal(st.max_frames, 0);
	assert_int_equal(st.priority, 1);
	assert_int_equal(st.oom_score_adj, -1000);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.oom_score, -1000);
	cc.name = "one-more";
	cc.min_frames = 1;
	cc.oom_score_adj = 0;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &many[0]), -ENOMEM);
	assert_int_equal(pafx_stats(&f).nr_clients, 1);

	/* accounting */
	p = kmem_pa_client_alloc(cl, 2, KMEM_PAGE_ZERO);
	assert_non_null(p);
	assert_true(all_zero(p, 4 * 4096));
	kmem_pa_client_get_stats(cl, &st);
	assert_int_equal(st.held, 4);
	assert_int_equal(st.peak, 4);
	assert_int_equal(st.allocs, 1);
	assert_int_equal(st.frees, 0);
	assert_int_equal(st.oom_score, 4 * 1000 / 1024 - 1000);
	assert_int_equal(pafx_stats(&f).used, f.base_used + 4);
	kmem_pa_client_free(cl, p, 2);
	kmem_pa_client_get_stats(cl, &st);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.peak, 4);
	assert_int_equal(st.frees, 1);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	kmem_pa_client_unregister(cl);
	assert_int_equal(pafx_stats(&f).nr_clients, 0);

	/* KMEM_PA_MAX_CLIENTS, then -ENOSPC */
	cc.min_frames = 0;
	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++)
		assert_int_equal(kmem_pa_client_register(f.pa, &cc, &many[i]), 0);
	assert_int_equal(pafx_stats(&f).nr_clients, KMEM_PA_MAX_CLIENTS);
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), -ENOSPC);
	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++)
		kmem_pa_client_unregister(many[i]);
	assert_int_equal(pafx_stats(&f).nr_clients, 0);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);

	/* unregistering a client that still holds frames: a leak report */
	cc.name = "leaky";
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), 0);
	p = kmem_pa_client_alloc(cl, 0, 0);
	assert_non_null(p);
	kmem_pa_client_unregister(cl);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_LEAK), 1);
	assert_int_equal(kmem_error_total(&f.rec.sink), 1);
	kmem_pa_free(f.pa, p, 0); /* the frame itself is still ours */
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* Default OOM policy: the client with the highest score releases; adj -1000
 * is never chosen. */
static void test_client_oom_default_policy(void **state)
{
	struct pafx f;
	struct kmem_pa_client_config cc;
	struct cstate *c1, *c2, *c3;
	struct hoard *h;
	struct kmem_pa_stats st;
	struct kmem_pa_client_stats s1, s2, s3;
	void *p;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP); /* EQUAL: share 1024 / 3 = 341 */
	memset(&cc, 0, sizeof(cc));
	cc.name = "c1";
	c1 = cs_new(f.pa, &cc);
	memset(&cc, 0, sizeof(cc));
	cc.name = "c2";
	cc.oom_score_adj = 500;
	c2 = cs_new(f.pa, &cc);
	memset(&cc, 0, sizeof(cc));
	cc.name = "c3";
	cc.oom_score_adj = -1000;
	c3 = cs_new(f.pa, &cc);
	cs_take(c1, 300);
	cs_take(c2, 100);
	cs_take(c3, 300);
	s1 = cs_stats(c1);
	s2 = cs_stats(c2);
	s3 = cs_stats(c3);
	assert_int_equal(s1.share, 341);
	assert_int_equal(s2.share, 341);
	assert_int_equal(s3.share, 341);
	assert_int_equal(s1.oom_score, 300 * 1000 / 1024);
	assert_int_equal(s2.oom_score, 100 * 1000 / 1024 + 500);
	assert_int_equal(s3.oom_score, 300 * 1000 / 1024 - 1000);
	assert_int_equal(s1.held, 300);
	assert_int_equal(s1.allocs, 300);

	/* the rest goes to a holder outside the clients, down to min */
	h = hoard_new(f.pa, "plain");
	take_until(&f, h, 32);
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	s1 = cs_stats(c1);
	s2 = cs_stats(c2);
	s3 = cs_stats(c3);
	st = pafx_stats(&f);
	assert_int_equal(s2.oom_victim, 1);
	assert_int_equal(s1.oom_victim, 0);
	assert_int_equal(s3.oom_victim, 0);
	assert_int_equal(c2->calls, 1);
	assert_int_equal(c1->calls, 0);
	assert_int_equal(c3->calls, 0);
	assert_true(c2->last.frames >= 1);
	assert_true(s2.released >= 1);
	assert_int_equal(s2.held, 100 - s2.released);
	assert_int_equal(st.oom_events, 1);
	assert_int_equal(st.oom_released, s2.released);
	assert_int_equal(st.direct_reclaims, 1);
	assert_int_equal(st.alloc_fails, 0);
	kmem_pa_free(f.pa, p, 0);

	/* nobody releases: a clean NULL; c3 is still never the victim */
	take_until(&f, h, 32);
	c1->allow = 0;
	c2->allow = 0;
	c3->allow = 0;
	assert_null(kmem_pa_alloc(f.pa, 0, 0));
	st = pafx_stats(&f);
	assert_int_equal(st.alloc_fails, 1);
	assert_true(st.oom_events >= 2 && st.oom_events <= 4); /* oom_retries 3 */
	assert_int_equal(cs_stats(c3).oom_victim, 0);
	assert_int_equal(c3->calls, 0);
	assert_int_equal(cs_stats(c1).oom_victim + cs_stats(c2).oom_victim, st.oom_events);
	assert_int_equal(st.free, 32);
	pafx_assert_sane(&f);

	hoard_free(h);
	cs_done(c1);
	cs_done(c2);
	cs_done(c3);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* GLOBAL scope: direct reclaim asks the client most above its share (no
 * OOM); a client at or above its own share reclaims from itself first. */
static void test_global_reclaim_above_share(void **state)
{
	struct pafx f;
	struct kmem_pa_client_config cc;
	struct cstate *big, *small;
	struct hoard *h;
	struct kmem_pa_stats st;
	void *p;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP); /* EQUAL, 2 clients: share 512 */
	memset(&cc, 0, sizeof(cc));
	cc.name = "big";
	big = cs_new(f.pa, &cc);
	memset(&cc, 0, sizeof(cc));
	cc.name = "small";
	small = cs_new(f.pa, &cc);
	cs_take(big, 600);
	cs_take(small, 100);
	assert_int_equal(cs_stats(big).share, 512);
	h = hoard_new(f.pa, "plain");
	take_until(&f, h, 32);
	/* a plain request: big (88 over its share) is asked, nobody else */
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	assert_int_equal(cs_stats(big).global_reclaims, 1);
	assert_int_equal(big->calls, 1);
	assert_int_equal(big->last.level, KMEM_PRESSURE_DIRECT);
	assert_int_equal(small->calls, 0);
	st = pafx_stats(&f);
	assert_int_equal(st.oom_events, 0);
	assert_int_equal(st.direct_reclaims, 1);
	assert_int_equal(st.reclaimed_direct, cs_stats(big).released);
	kmem_pa_free(f.pa, p, 0);
	/* big's own request at min: it reclaims from itself first */
	take_until(&f, h, 32);
	assert_non_null(p = kmem_pa_client_alloc(big->cl, 0, 0));
	assert_int_equal(cs_stats(big).local_reclaims, 1);
	assert_int_equal(big->calls, 2);
	assert_int_equal(small->calls, 0);
	kmem_pa_client_free(big->cl, p, 0);
	hoard_free(h);
	cs_done(big);
	cs_done(small);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* LOCAL scope: a client only ever reclaims from itself: no shrinker, no
 * other client is asked for its requests. */
static void test_reclaim_scope_local(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct kmem_pa_client_config cc;
	struct cstate *a, *b;
	struct hoard *h;
	void *p;

	(void)state;
	pafx_setup(&f, &cfg);
	cfg.flags = KMEM_PA_NO_PCP;
	cfg.reclaim_scope = KMEM_PA_RECLAIM_LOCAL;
	pafx_start(&f, &cfg);
	memset(&cc, 0, sizeof(cc));
	cc.name = "a";
	a = cs_new(f.pa, &cc);
	memset(&cc, 0, sizeof(cc));
	cc.name = "b";
	b = cs_new(f.pa, &cc);
	cs_take(a, 50);
	cs_take(b, 700); /* far above its share of 512 */
	h = hoard_new(f.pa, "hoard");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &h->sh), 0);
	take_until(&f, h, 32);
	p = kmem_pa_client_alloc(a->cl, 0, 0);
	assert_non_null(p);
	assert_int_equal(cs_stats(a).local_reclaims, 1);
	assert_true(a->calls >= 1);
	assert_int_equal(a->last.level, KMEM_PRESSURE_DIRECT);
	assert_int_equal(b->calls, 0);
	assert_int_equal(cs_stats(b).global_reclaims, 0);
	assert_int_equal(h->scans, 0);
	kmem_pa_client_free(a->cl, p, 0);
	kmem_pa_unregister_shrinker(f.pa, &h->sh);
	hoard_free(h);
	cs_done(a);
	cs_done(b);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* PRIORITY: the OOM victim is the lowest priority, whatever it holds. */
static void test_priority_oom_victim(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct kmem_pa_client_config cc;
	struct cstate *lo, *hi;
	struct hoard *h;
	void *p;

	(void)state;
	pafx_setup(&f, &cfg);
	cfg.flags = KMEM_PA_NO_PCP;
	cfg.share_policy = KMEM_PA_SHARE_PRIORITY;
	pafx_start(&f, &cfg);
	memset(&cc, 0, sizeof(cc));
	cc.name = "low";
	cc.priority = 100;
	lo = cs_new(f.pa, &cc);
	memset(&cc, 0, sizeof(cc));
	cc.name = "high";
	cc.priority = 900;
	cc.oom_score_adj = 1000;
	hi = cs_new(f.pa, &cc);
	cs_take(lo, 10);
	cs_take(hi, 500);
	assert_int_equal(cs_stats(lo).share, 102);
	assert_int_equal(cs_stats(hi).share, 921);
	h = hoard_new(f.pa, "plain");
	take_until(&f, h, 32);
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	assert_int_equal(cs_stats(lo).oom_victim, 1);
	assert_int_equal(cs_stats(hi).oom_victim, 0);
	assert_int_equal(hi->calls, 0);
	kmem_pa_free(f.pa, p, 0);
	hoard_free(h);
	cs_done(lo);
	cs_done(hi);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_client_limits(void **state)
{
	struct pafx f;
	struct kmem_pa_client_config cc;
	struct cstate *cs;
	struct kmem_pa_client_stats st;
	void *p;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	memset(&cc, 0, sizeof(cc));
	cc.name = "limited";
	cc.max_frames = 10;
	cs = cs_new(f.pa, &cc);
	cs_take(cs, 10);
	/* at the limit, the client's own release gives nothing: NULL */
	cs->allow = 0;
	assert_null(kmem_pa_client_alloc(cs->cl, 0, 0));
	st = cs_stats(cs);
	assert_int_equal(st.limit_fails, 1);
	assert_int_equal(st.local_reclaims, 1);
	assert_int_equal(cs->calls, 1);
	assert_true(cs->last.frames >= 1);
	assert_int_equal(st.held, 10);
	assert_int_equal(st.max_frames, 10);
	/* an order-1 request past the limit */
	assert_null(kmem_pa_client_alloc(cs->cl, 1, 0));
	st = cs_stats(cs);
	assert_int_equal(st.limit_fails, 2);
	assert_int_equal(st.local_reclaims, 2);
	assert_int_equal(st.held, 10);
	/* local reclaim frees room: the request is met within the limit */
	cs->allow = SIZE_MAX;
	p = kmem_pa_client_alloc(cs->cl, 0, 0);
	assert_non_null(p);
	st = cs_stats(cs);
	assert_int_equal(st.limit_fails, 2);
	assert_int_equal(st.local_reclaims, 3);
	assert_true(st.released >= 1);
	assert_int_equal(st.held, 10 - st.released + 1);
	assert_true(st.held <= 10);
	assert_int_equal(st.peak, 10);
	assert_int_equal(st.global_reclaims, 0);
	assert_int_equal(st.oom_victim, 0);
	kmem_pa_client_free(cs->cl, p, 0);
	/* plain allocations are not charged */
	p = kmem_pa_alloc(f.pa, 3, 0);
	assert_non_null(p);
	assert_int_equal(cs_stats(cs).held, cs->n);
	kmem_pa_free(f.pa, p, 3);
	cs_done(cs);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* min_frames: other allocations stop at min + the unmet guarantee; the
 * guaranteed client still gets its frames. */
static void test_client_min_guarantee(void **state)
{
	struct pafx f;
	struct kmem_pa_client_config cc;
	struct kmem_pa_client *g, *o;
	void *gp[100], **op;
	size_t no = 0;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	memset(&cc, 0, sizeof(cc));
	cc.name = "guaranteed";
	cc.min_frames = 100;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &g), 0);
	memset(&cc, 0, sizeof(cc));
	cc.name = "other";
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &o), 0);
	op = calloc(1100, sizeof(*op));
	assert_non_null(op);
	while (no < 1100) {
		void *p = kmem_pa_client_alloc(o, 0, 0);

		if (!p)
			break;
		op[no++] = p;
	}
	assert_true(no < 1100);
	assert_int_equal(pafx_stats(&f).free, 32 + 100);
	/* plain allocations cannot take the guaranteed frames either */
	assert_null(kmem_pa_alloc(f.pa, 0, KMEM_PAGE_NOWAIT));
	assert_null(kmem_pa_client_alloc(o, 0, KMEM_PAGE_NOWAIT));
	/* the guaranteed client gets all of them */
	for (unsigned i = 0; i < 100; i++) {
		gp[i] = kmem_pa_client_alloc(g, 0, 0);
		assert_non_null(gp[i]);
	}
	assert_int_equal(pafx_stats(&f).free, 32);
	/* half given back: others still stop at min + the 50 unmet */
	for (unsigned i = 50; i < 100; i++)
		kmem_pa_client_free(g, gp[i], 0);
	assert_null(kmem_pa_client_alloc(o, 0, KMEM_PAGE_NOWAIT));
	assert_int_equal(pafx_stats(&f).free, 32 + 50);
	for (unsigned i = 50; i < 100; i++) {
		gp[i] = kmem_pa_client_alloc(g, 0, KMEM_PAGE_NOWAIT);
		assert_non_null(gp[i]);
	}
	pafx_assert_sane(&f);
	for (unsigned i = 0; i < 100; i++)
		kmem_pa_client_free(g, gp[i], 0);
	while (no > 0)
		kmem_pa_client_free(o, op[--no], 0);
	free(op);
	kmem_pa_client_unregister(g);
	kmem_pa_client_unregister(o);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void share_case(enum kmem_pa_share_policy pol, const struct kmem_pa_client_config *cc,
		       unsigned n, const size_t *want)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct kmem_pa_client *cl[8];
	struct kmem_pa_client_stats st;

	pafx_setup(&f, &cfg);
	cfg.share_policy = pol;
	pafx_start(&f, &cfg);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(kmem_pa_client_register(f.pa, &cc[i], &cl[i]), 0);
	for (unsigned i = 0; i < n; i++) {
		kmem_pa_client_get_stats(cl[i], &st);
		assert_string_equal(st.name, cc[i].name);
		assert_int_equal(st.share, want[i]);
	}
	for (unsigned i = 0; i < n; i++)
		kmem_pa_client_unregister(cl[i]);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_fini(&f);
}

static void test_share_policies(void **state)
{
	/* EQUAL: 1024 / 4 = 256, clamped to [min, max] */
	static const struct kmem_pa_client_config eq[4] = {
		{ .name = "a" },
		{ .name = "b", .max_frames = 100 },
		{ .name = "c", .min_frames = 300 },
		{ .name = "d", .weight = 7, .priority = 9 },
	};
	static const size_t eq_want[4] = { 256, 100, 300, 256 };
	/* PROPORTIONAL: weights 1 (0 counts as 1), 3, 4 of 8 */
	static const struct kmem_pa_client_config pr[3] = {
		{ .name = "w1", .weight = 0 },
		{ .name = "w3", .weight = 3 },
		{ .name = "w4", .weight = 4 },
	};
	static const size_t pr_want[3] = { 128, 384, 512 };
	/* PRIORITY: 100, 300, 600 of 1000 */
	static const struct kmem_pa_client_config pp[3] = {
		{ .name = "p100", .priority = 100 },
		{ .name = "p300", .priority = 300 },
		{ .name = "p600", .priority = 600 },
	};
	static const size_t pp_want[3] = { 102, 307, 614 };

	(void)state;
	share_case(KMEM_PA_SHARE_EQUAL, eq, 4, eq_want);
	share_case(KMEM_PA_SHARE_PROPORTIONAL, pr, 3, pr_want);
	share_case(KMEM_PA_SHARE_PRIORITY, pp, 3, pp_want);
}

/* A slab instance per client: its frames are charged, its limit holds. */
static void test_client_page_source_slab(void **state)
{
	struct pafx f;
	struct kmem_pa_client_config cc;
	struct kmem_pa_client *cl;
	struct kmem_pa_client_stats st;
	struct kmem_page_source ps;
	struct kmem_slab *s;
	struct kmem_cache *c;
	void *sinst, *obj[2000];
	size_t n = 0;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	memset(&cc, 0, sizeof(cc));
	cc.name = "subsys";
	cc.max_frames = 40;
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), 0);
	kmem_pa_client_page_source(cl, &ps);
	assert_int_equal(ps.frame_size, 4096);
	assert_int_equal(ps.max_order, 6);
	assert_non_null(ps.set_owner);
	s = pafx_slab(&f, &ps, "subsys-slab", &sinst);
	c = kmem_cache_create(s, "objs", 1024, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	assert_non_null(c);
	while (n < 2000) {
		void *p = kmem_cache_alloc(c);

		if (!p)
			break;
		obj[n++] = p;
	}
	assert_true(n > 0 && n < 2000);
	kmem_pa_client_get_stats(cl, &st);
	assert_true(st.held <= 40);
	assert_true(st.held + cstats(c).frames_per_slab > 40); /* within one slab of it */
	assert_true(st.limit_fails >= 1);
	assert_int_equal(pafx_stats(&f).used, f.base_used + st.held);
	assert_int_equal(kmem_cache_check(c), 0);
	pafx_assert_sane(&f);
	while (n > 0)
		kmem_cache_free(c, obj[--n]);
	kmem_cache_destroy(c);
	kmem_slab_destroy(s);
	kmem_pa_client_get_stats(cl, &st);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.allocs, st.frees);
	kmem_pa_client_unregister(cl);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 0);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	free(sinst);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_config),
		cmocka_unit_test(test_client_oom_default_policy),
		cmocka_unit_test(test_global_reclaim_above_share),
		cmocka_unit_test(test_reclaim_scope_local),
		cmocka_unit_test(test_priority_oom_victim),
		cmocka_unit_test(test_client_limits),
		cmocka_unit_test(test_client_min_guarantee),
		cmocka_unit_test(test_share_policies),
		cmocka_unit_test(test_client_page_source_slab),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_client_config */
	return cmocka_run_group_tests_name("pagealloc-client", tests, NULL, NULL);
}
