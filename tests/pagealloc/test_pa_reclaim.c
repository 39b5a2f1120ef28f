/* test_pa_reclaim.c - reclaim, shrinkers and OOM (pagealloc/reclaim.c):
 * direct reclaim below min, NOWAIT and HIGH, the OOM handler and NOFAIL,
 * the shrinker protocol (newest first, count 0 skips, unregistering), a
 * slab instance on the frame service as a shrinker, and the rule that no
 * frame-service lock is held while a shrinker, a client's release
 * callback or the OOM handler runs. Clients' own reclaim and OOM victims
 * are in test_pa_client.c; the reaper's background reclaim in
 * test_pa_reaper.c. */

#include "pa_fixture.h"

#include <time.h>

/* ---- direct reclaim, NOWAIT, HIGH, OOM ----------------------------------------- */

static void test_direct_reclaim(void **state)
{
	struct pafx f;
	struct hoard *h;
	struct kmem_pa_stats st;
	void *p, *q;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	h = hoard_new(f.pa, "hoard");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &h->sh), 0);
	take_until(&f, h, 32); /* down to min: no reclaim yet */
	st = pafx_stats(&f);
	assert_int_equal(h->scans, 0);
	assert_int_equal(st.direct_reclaims, 0);
	/* this one would take free below min: the caller reclaims */
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	assert_true(all_zero(p, 4096));
	st = pafx_stats(&f);
	assert_int_equal(st.direct_reclaims, 1);
	assert_true(h->scans >= 1);
	assert_int_equal(h->log[0].level, KMEM_PRESSURE_DIRECT);
	assert_int_equal(h->log[0].bytes_wanted, 4096);
	assert_true(h->log[0].frames >= 1);
	assert_true(h->released >= 1);
	assert_int_equal(st.reclaimed_direct, h->released);
	assert_int_equal(st.reclaimed_bg, 0);
	assert_int_equal(st.free, 32 + h->released - 1);
	assert_int_equal(st.alloc_fails, 0);
	assert_int_equal(st.oom_events, 0);
	/* an order-2 request: bytes_wanted is its size */
	take_until(&f, h, 32);
	q = kmem_pa_alloc(f.pa, 2, 0);
	assert_non_null(q);
	assert_true(all_zero(q, 4 * 4096));
	st = pafx_stats(&f);
	assert_int_equal(st.direct_reclaims, 2);
	assert_int_equal(h->log[h->scans - 1].level, KMEM_PRESSURE_DIRECT);
	assert_int_equal(h->log[h->scans - 1].bytes_wanted, 4 * 4096);
	assert_int_equal(st.reclaimed_direct, h->released);
	kmem_pa_free(f.pa, p, 0);
	kmem_pa_free(f.pa, q, 2);
	kmem_pa_unregister_shrinker(f.pa, &h->sh);
	hoard_free(h);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_nowait_and_high(void **state)
{
	struct pafx f;
	struct hoard *h;
	struct kmem_pa_stats st;
	void *p[16];

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	h = hoard_new(f.pa, "hoard");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &h->sh), 0);
	take_until(&f, h, 32);
	/* NOWAIT: no frame above min, no reclaim: NULL */
	assert_null(kmem_pa_alloc(f.pa, 0, KMEM_PAGE_NOWAIT));
	assert_null(kmem_pa_alloc(f.pa, 0, KMEM_PAGE_NOWAIT | KMEM_PAGE_ZERO));
	st = pafx_stats(&f);
	assert_int_equal(h->scans, 0);
	assert_int_equal(st.nowait_fails, 2);
	assert_int_equal(st.alloc_fails, 2);
	assert_int_equal(st.direct_reclaims, 0);
	assert_int_equal(st.oom_events, 0);
	assert_int_equal(st.free, 32);
	/* HIGH: down to min / 2 = 16 */
	for (unsigned i = 0; i < 16; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, KMEM_PAGE_HIGH | KMEM_PAGE_NOWAIT);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
	}
	st = pafx_stats(&f);
	assert_int_equal(st.free, 16);
	assert_int_equal(st.high_dips, 16);
	assert_null(kmem_pa_alloc(f.pa, 0, KMEM_PAGE_HIGH | KMEM_PAGE_NOWAIT));
	st = pafx_stats(&f);
	assert_int_equal(st.nowait_fails, 3);
	assert_int_equal(st.alloc_fails, 3);
	assert_int_equal(st.high_dips, 16);
	assert_int_equal(h->scans, 0);
	assert_int_equal(st.direct_reclaims, 0);
	for (unsigned i = 0; i < 16; i++)
		kmem_pa_free(f.pa, p[i], 0);
	/* NOWAIT above min works as usual */
	hoard_empty(h);
	p[0] = kmem_pa_alloc(f.pa, 0, KMEM_PAGE_NOWAIT);
	assert_non_null(p[0]);
	kmem_pa_free(f.pa, p[0], 0);
	assert_int_equal(pafx_stats(&f).nowait_fails, 3);
	kmem_pa_unregister_shrinker(f.pa, &h->sh);
	hoard_free(h);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

struct oom_rec {
	unsigned long calls;
	struct kmem_pa_oom_event ev[64];
	struct kmem_pagealloc *pa;
	struct hoard *give;	/* frames the handler may release */
	unsigned release_at;	/* attempt at which it releases `amount` */
	size_t amount;
};

static size_t oom_cb(void *arg, struct kmem_pagealloc *pa, const struct kmem_pa_oom_event *ev)
{
	struct oom_rec *o = arg;
	struct kmem_shrink_request req = { 0, 0, KMEM_PRESSURE_OOM };

	if (o->calls < 64)
		o->ev[o->calls] = *ev;
	o->calls++;
	o->pa = pa;
	if (o->give && ev->attempt == o->release_at) {
		req.frames = o->amount;
		return hoard_scan_cb(o->give, &req);
	}
	return 0;
}

static void test_oom_handler(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct oom_rec o;
	struct hoard *h;
	struct kmem_pa_stats st;
	unsigned long normal;
	void *p;

	(void)state;
	memset(&o, 0, sizeof(o));
	pafx_setup(&f, &cfg);
	cfg.flags = KMEM_PA_NO_PCP;
	cfg.oom_retries = 2;
	cfg.oom_handler = oom_cb;
	cfg.oom_arg = &o;
	pafx_start(&f, &cfg);
	h = hoard_new(f.pa, "plain"); /* not registered: only the handler frees */
	take_until(&f, h, 32);

	/* the handler releases nothing: NULL after at most oom_retries calls */
	assert_null(kmem_pa_alloc(f.pa, 0, 0));
	st = pafx_stats(&f);
	assert_int_equal(o.calls, 2); /* attempts 0 .. oom_retries - 1 */
	assert_int_equal(st.oom_events, o.calls);
	assert_int_equal(st.oom_released, 0);
	assert_int_equal(st.alloc_fails, 1);
	assert_int_equal(st.nowait_fails, 0);
	assert_ptr_equal(o.pa, f.pa);
	for (unsigned i = 0; i < o.calls; i++) {
		assert_int_equal(o.ev[i].order, 0);
		assert_int_equal(o.ev[i].flags, 0);
		assert_null(o.ev[i].client);
		assert_int_equal(o.ev[i].free_frames, 32);
		assert_int_equal(o.ev[i].attempt, i);
	}
	normal = o.calls;
	assert_int_equal(pafx_stats(&f).free, 32);

	/* NOFAIL: four times as many rounds, then still NULL */
	o.calls = 0;
	assert_null(kmem_pa_alloc(f.pa, 0, KMEM_PAGE_NOFAIL));
	assert_int_equal(o.calls, 4 * normal);
	st = pafx_stats(&f);
	assert_int_equal(st.alloc_fails, 2);
	assert_int_equal(st.oom_events, 5 * normal);

	/* NOWAIT never calls the handler */
	o.calls = 0;
	assert_null(kmem_pa_alloc(f.pa, 0, KMEM_PAGE_NOWAIT));
	assert_int_equal(o.calls, 0);

	/* the handler releases 5 frames at its last call: the retry succeeds */
	{
		o.calls = 0;
		o.give = h;
		o.release_at = (unsigned)(normal - 1);
		o.amount = 5;
		p = kmem_pa_alloc(f.pa, 1, KMEM_PAGE_ZERO);
		assert_non_null(p);
		assert_true(all_zero(p, 2 * 4096));
		assert_int_equal(o.calls, normal);
		assert_int_equal(o.ev[0].order, 1);
		assert_int_equal(o.ev[0].flags, KMEM_PAGE_ZERO);
		assert_int_equal(o.ev[normal - 1].attempt, normal - 1);
		st = pafx_stats(&f);
		assert_int_equal(st.oom_released, 5);
		assert_int_equal(st.alloc_fails, 3);
		kmem_pa_free(f.pa, p, 1);
	}
	o.give = NULL;
	hoard_free(h);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* ---- callbacks run without frame-service locks ------------------------------------ */

/* The header: "No frame-service lock is held while a shrinker, client
 * release callback or OOM handler runs". So a callback may read the
 * service's statistics and text forms (an OOM handler dumping vmstat, as
 * Linux's does). Each scenario runs in a thread with a time bound, so a
 * self-deadlock fails the test instead of hanging the suite. */
struct cb_ctx {
	struct pafx f;
	struct hoard *h;
	struct kmem_pa_client *cl;
	void *held[16];
	unsigned nheld;
	char buf[8192];
	unsigned long calls;
	int vm_len;
	size_t seen_free;
	void *result;
};

static void cb_dump(struct cb_ctx *c)
{
	struct kmem_pa_stats st;

	c->calls++;
	kmem_pa_get_stats(c->f.pa, &st);
	c->seen_free = st.free;
	c->vm_len = kmem_pa_format_vmstat(c->f.pa, c->buf, sizeof(c->buf));
	(void)kmem_pa_format_zoneinfo(c->f.pa, c->buf, sizeof(c->buf));
}

static size_t cb_oom(void *arg, struct kmem_pagealloc *pa, const struct kmem_pa_oom_event *ev)
{
	struct cb_ctx *c = arg;

	(void)pa;
	(void)ev;
	cb_dump(c);
	return 0;
}

static size_t cb_scan(void *arg, const struct kmem_shrink_request *req)
{
	struct cb_ctx *c = arg;

	cb_dump(c);
	return hoard_scan_cb(c->h, req);
}

static size_t cb_count(void *arg)
{
	struct cb_ctx *c = arg;

	return hoard_frames(c->h);
}

static size_t cb_release(void *arg, const struct kmem_shrink_request *req)
{
	struct cb_ctx *c = arg;
	size_t got = 0;

	cb_dump(c);
	while (c->nheld > 0 && got < req->frames) {
		kmem_pa_client_free(c->cl, c->held[--c->nheld], 0);
		got++;
	}
	return got;
}

static void cb_run_oom(void *arg)
{
	struct cb_ctx *c = arg;

	c->result = kmem_pa_alloc(c->f.pa, 0, 0);
}

static void cb_run_scan(void *arg)
{
	struct cb_ctx *c = arg;

	c->result = (void *)(uintptr_t)kmem_pa_reclaim(c->f.pa, 4, KMEM_PRESSURE_DIRECT);
}

static void cb_run_release(void *arg)
{
	struct cb_ctx *c = arg;

	c->result = kmem_pa_client_alloc(c->cl, 0, 0);
}

#ifdef KMEM_HAVE_PTHREAD
struct bounded {
	void (*fn)(void *);
	void *arg;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int done;
};

static void *bounded_main(void *a)
{
	struct bounded *b = a;

	b->fn(b->arg);
	pthread_mutex_lock(&b->m);
	b->done = 1;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->m);
	return NULL;
}
#endif

/* fn(arg) returned within the bound. On a timeout the stuck thread and
 * everything it uses are left alone (leaked). */
static bool run_bounded(void (*fn)(void *), void *arg)
{
#ifdef KMEM_HAVE_PTHREAD
	struct bounded *b = calloc(1, sizeof(*b));
	struct timespec dl;
	pthread_t t;
	int done;

	assert_non_null(b);
	b->fn = fn;
	b->arg = arg;
	pthread_mutex_init(&b->m, NULL);
	pthread_cond_init(&b->cv, NULL);
	assert_int_equal(pthread_create(&t, NULL, bounded_main, b), 0);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += test_under_valgrind() ? 60 : 5;
	pthread_mutex_lock(&b->m);
	while (!b->done && pthread_cond_timedwait(&b->cv, &b->m, &dl) == 0) {
	}
	done = b->done;
	pthread_mutex_unlock(&b->m);
	if (!done) {
		pthread_detach(t);
		return false;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->m);
	free(b);
	return true;
#else
	fn(arg);
	return true;
#endif
}

static void test_oom_handler_runs_unlocked(void **state)
{
	struct cb_ctx *c;
	struct kmem_pa_config cfg;
	struct hoard *plain;

	(void)state;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	pafx_setup(&c->f, &cfg);
	cfg.flags = KMEM_PA_NO_PCP;
	cfg.oom_handler = cb_oom;
	cfg.oom_arg = c;
	pafx_start(&c->f, &cfg);
	plain = hoard_new(c->f.pa, "plain");
	take_until(&c->f, plain, 32);
	assert_true(run_bounded(cb_run_oom, c)); /* else: deadlock in the OOM handler */
	assert_null(c->result);
	assert_true(c->calls >= 1);
	assert_int_equal(c->seen_free, 32);
	assert_true(c->vm_len > 0);
	hoard_free(plain);
	pafx_fini(&c->f);
	free(c);
}

static void test_shrinker_scan_runs_unlocked(void **state)
{
	struct cb_ctx *c;

	(void)state;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	pafx_init(&c->f, KMEM_PA_NO_PCP);
	c->h = hoard_new(c->f.pa, "inner");
	for (unsigned i = 0; i < 8; i++)
		assert_true(hoard_take(c->h, 0, 0));
	{
		struct kmem_shrinker sh = { "dumper", cb_count, cb_scan, c, NULL, 0, 0, NULL };

		assert_int_equal(kmem_pa_register_shrinker(c->f.pa, &sh), 0);
		assert_true(run_bounded(cb_run_scan, c)); /* else: deadlock in the scan */
		assert_int_equal((uintptr_t)c->result, 4);
		assert_true(c->calls >= 1);
		kmem_pa_unregister_shrinker(c->f.pa, &sh);
	}
	hoard_free(c->h);
	pafx_fini(&c->f);
	free(c);
}

/* a client's release callback (local reclaim at its limit) */
static void test_client_release_runs_unlocked(void **state)
{
	struct cb_ctx *c;
	struct kmem_pa_client_config cc;

	(void)state;
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	pafx_init(&c->f, KMEM_PA_NO_PCP);
	memset(&cc, 0, sizeof(cc));
	cc.name = "dumper";
	cc.max_frames = 4;
	cc.release = cb_release;
	cc.arg = c;
	assert_int_equal(kmem_pa_client_register(c->f.pa, &cc, &c->cl), 0);
	for (unsigned i = 0; i < 4; i++) {
		c->held[i] = kmem_pa_client_alloc(c->cl, 0, 0);
		assert_non_null(c->held[i]);
	}
	c->nheld = 4;
	assert_true(run_bounded(cb_run_release, c)); /* else: deadlock in release */
	assert_non_null(c->result);
	assert_true(c->calls >= 1);
	kmem_pa_client_free(c->cl, c->result, 0);
	while (c->nheld > 0)
		kmem_pa_client_free(c->cl, c->held[--c->nheld], 0);
	kmem_pa_client_unregister(c->cl);
	assert_int_equal(kmem_error_total(&c->f.rec.sink), 0);
	pafx_fini(&c->f);
	free(c);
}

/* ---- shrinkers --------------------------------------------------------------------- */

static size_t dummy_count(void *arg)
{
	(void)arg;
	return 0;
}

static size_t dummy_scan(void *arg, const struct kmem_shrink_request *req)
{
	(void)arg;
	(void)req;
	return 0;
}

static void test_shrinker_protocol(void **state)
{
	struct pafx f;
	struct hoard *a, *b;
	struct kmem_shrinker bad;
	unsigned long seq = 0;
	size_t got, used, ra, rb;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	memset(&bad, 0, sizeof(bad));
	bad.name = "bad";
	bad.scan = dummy_scan;
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &bad), -EINVAL);
	bad.scan = NULL;
	bad.count = dummy_count;
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &bad), -EINVAL);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 0);

	a = hoard_new(f.pa, "first");
	b = hoard_new(f.pa, "second");
	a->seq = &seq;
	b->seq = &seq;
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &a->sh), 0);
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &b->sh), 0);
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &a->sh), -EINVAL);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 2);
	for (unsigned i = 0; i < 20; i++) {
		assert_true(hoard_take(a, 0, 0));
		assert_true(hoard_take(b, 0, 0));
	}
	/* the newest shrinker is asked first */
	used = pafx_stats(&f).used;
	got = kmem_pa_reclaim(f.pa, 10, KMEM_PRESSURE_BACKGROUND);
	assert_true(b->scans >= 1);
	assert_int_equal(b->seq_at, 1);
	assert_true(a->scans == 0 || a->seq_at > 1);
	assert_int_equal(got, a->released + b->released);
	assert_true(got >= 10);
	assert_true(b->counts >= 1);
	assert_int_equal(b->log[0].level, KMEM_PRESSURE_BACKGROUND);
	assert_int_equal(b->log[0].bytes_wanted, 0);
	assert_true(b->log[0].frames >= 1 && b->log[0].frames <= 10);
	assert_int_equal(pafx_stats(&f).used, used - got);

	/* count 0 skips a shrinker */
	b->frozen = true;
	rb = b->scans;
	ra = a->released;
	got = kmem_pa_reclaim(f.pa, 5, KMEM_PRESSURE_DIRECT);
	assert_int_equal(b->scans, rb);
	assert_true(a->scans >= 1);
	assert_int_equal(a->log[a->scans - 1].level, KMEM_PRESSURE_DIRECT);
	assert_int_equal(got, a->released - ra);
	assert_true(got >= 5);
	ra = a->released;
	got = kmem_pa_reclaim(f.pa, 3, KMEM_PRESSURE_OOM);
	assert_int_equal(a->log[a->scans - 1].level, KMEM_PRESSURE_OOM);
	assert_int_equal(got, a->released - ra);
	b->frozen = false;

	/* unregistered: never asked again */
	kmem_pa_unregister_shrinker(f.pa, &b->sh);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 1);
	rb = b->scans;
	(void)kmem_pa_reclaim(f.pa, 2, KMEM_PRESSURE_OOM);
	assert_int_equal(b->scans, rb);
	kmem_pa_unregister_shrinker(f.pa, &a->sh);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 0);
	ra = a->scans;
	assert_int_equal(kmem_pa_reclaim(f.pa, 2, KMEM_PRESSURE_OOM), 0);
	assert_int_equal(a->scans, ra);
	/* registering again after unregistering is fine */
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &a->sh), 0);
	kmem_pa_unregister_shrinker(f.pa, &a->sh);
	hoard_free(a);
	hoard_free(b);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* A slab instance on the frame service registers itself as a shrinker; its
 * empty slabs and magazines come back under reclaim, directly and on request. */
static void test_slab_on_pagealloc(void **state)
{
	struct pafx f;
	struct kmem_page_source ps;
	struct kmem_slab *s;
	struct kmem_cache *c;
	struct kmem_pa_stats st;
	struct hoard *h;
	void *sinst, **obj;
	size_t n = 3000, got, used;
	void *p;

	(void)state;
	pafx_init_full(&f, 4096, 6, (size_t)8 << 20, KMEM_PA_NO_PCP, KMEM_PA_INIT_ON_ALLOC);
	kmem_pa_page_source(f.pa, &ps);
	s = pafx_slab(&f, &ps, "on-pa", &sinst);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 1);
	c = kmem_cache_create(s, "objs", 256, 0, 0, NULL, NULL, NULL);
	assert_non_null(c);
	obj = calloc(n, sizeof(*obj));
	assert_non_null(obj);

	/* on request: DIRECT, then OOM */
	for (size_t i = 0; i < n; i++) {
		obj[i] = kmem_cache_alloc(c);
		assert_non_null(obj[i]);
	}
	for (size_t i = 0; i < n; i++)
		kmem_cache_free(c, obj[i]);
	used = pafx_stats(&f).used;
	got = kmem_pa_reclaim(f.pa, 1024, KMEM_PRESSURE_DIRECT);
	assert_true(got > 0);
	assert_int_equal(pafx_stats(&f).used, used - got);
	used -= got;
	got = kmem_pa_reclaim(f.pa, 1024, KMEM_PRESSURE_OOM);
	assert_int_equal(pafx_stats(&f).used, used - got);
	assert_int_equal(cstats(c).total_slabs, 0);
	assert_int_equal(cstats(c).active_objs, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	pafx_assert_sane(&f);

	/* direct reclaim in another allocation finds the slab's empty slabs */
	for (size_t i = 0; i < n; i++) {
		obj[i] = kmem_cache_alloc(c);
		assert_non_null(obj[i]);
	}
	for (size_t i = 0; i < n; i++)
		kmem_cache_free(c, obj[i]);
	assert_true(kmem_slab_shrink_count(s) > 0);
	h = hoard_new(f.pa, "plain"); /* not registered */
	take_until(&f, h, pafx_stats(&f).wmark_min);
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	st = pafx_stats(&f);
	assert_int_equal(st.direct_reclaims, 1);
	assert_true(st.reclaimed_direct > 0);
	assert_int_equal(st.alloc_fails, 0);
	kmem_pa_free(f.pa, p, 0);
	hoard_free(h);
	assert_int_equal(kmem_cache_check(c), 0);
	pafx_assert_sane(&f);

	kmem_cache_destroy(c);
	kmem_slab_destroy(s);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 0);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	free(obj);
	free(sinst);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_reclaim),
		cmocka_unit_test(test_nowait_and_high),
		cmocka_unit_test(test_oom_handler),
		cmocka_unit_test(test_oom_handler_runs_unlocked),
		cmocka_unit_test(test_shrinker_scan_runs_unlocked),
		cmocka_unit_test(test_client_release_runs_unlocked),
		cmocka_unit_test(test_shrinker_protocol),
		cmocka_unit_test(test_slab_on_pagealloc),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_direct_reclaim */
	return cmocka_run_group_tests_name("pagealloc-reclaim", tests, NULL, NULL);
}
