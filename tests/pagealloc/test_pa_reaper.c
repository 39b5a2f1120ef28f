/* test_pa_reaper.c - the reaper (pagealloc/reaper.c): its hysteresis
 * between the low and high watermarks run by hand (kmem_pa_reaper_run),
 * thrash detection, the reaper thread woken below low, and starting and
 * stopping it many times (and into kmem_pa_destroy). Without threads,
 * kmem_pa_reaper_start says -ENOTSUP. */

#include "pa_fixture.h"

#include <time.h>

#ifdef KMEM_HAVE_PTHREAD
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0) {
	}
}
#endif

/* ---- reaper: hysteresis (kmem_pa_reaper_run), the thread ----------------------- */

static void test_reaper_hysteresis(void **state)
{
	struct pafx f;
	struct hoard *h;
	struct kmem_pa_stats st;
	unsigned ret;
	size_t rel;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP); /* 1024 frames: 32 / 40 / 48 */
	h = hoard_new(f.pa, "hoard");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &h->sh), 0);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 1);
	/* above low: the reaper has nothing to reclaim */
	assert_false(kmem_pa_reaper_run(f.pa, 0) & KMEM_PA_WORK_RECLAIM);
	take_until(&f, h, 40);
	assert_false(kmem_pa_reaper_run(f.pa, 0) & KMEM_PA_WORK_RECLAIM);
	st = pafx_stats(&f);
	assert_int_equal(st.reaper_wakeups, 0);
	assert_int_equal(st.reaper_cycles, 0);
	assert_int_equal(h->scans, 0);
	/* below low: one cycle reclaims up to high */
	take_until(&f, h, 39);
	assert_int_equal(h->scans, 0); /* the allocation itself did not reclaim */
	ret = kmem_pa_reaper_run(f.pa, 0);
	assert_true(ret & KMEM_PA_WORK_RECLAIM);
	st = pafx_stats(&f);
	assert_true(st.free >= 48);
	assert_int_equal(st.free, 39 + h->released);
	assert_int_equal(st.reaper_wakeups, 1);
	assert_int_equal(st.reaper_cycles, 1);
	assert_int_equal(st.reclaimed_bg, h->released);
	assert_int_equal(st.direct_reclaims, 0);
	assert_true(h->counts >= 1);
	assert_true(h->scans >= 1);
	assert_int_equal(h->level_mask, 1u << KMEM_PRESSURE_BACKGROUND);
	assert_int_equal(h->log[0].level, KMEM_PRESSURE_BACKGROUND);
	assert_int_equal(h->log[0].bytes_wanted, 0);
	assert_true(h->log[0].frames > 0);
	pafx_assert_sane(&f);

	/* between low and high: asleep (hysteresis) */
	take_until(&f, h, 41);
	assert_false(kmem_pa_reaper_run(f.pa, 0) & KMEM_PA_WORK_RECLAIM);
	take_until(&f, h, 40);
	assert_false(kmem_pa_reaper_run(f.pa, 0) & KMEM_PA_WORK_RECLAIM);
	assert_false(kmem_pa_reaper_run(f.pa, 0) & KMEM_PA_WORK_RECLAIM);
	st = pafx_stats(&f);
	assert_int_equal(st.reaper_wakeups, 1);
	assert_int_equal(st.reaper_cycles, 1);
	/* below low again: a second cycle */
	rel = h->released;
	take_until(&f, h, 39);
	assert_true(kmem_pa_reaper_run(f.pa, 0) & KMEM_PA_WORK_RECLAIM);
	st = pafx_stats(&f);
	assert_true(st.free >= 48);
	assert_int_equal(st.free, 39 + h->released - rel);
	assert_int_equal(st.reaper_wakeups, 2);
	assert_int_equal(st.reaper_cycles, 2);
	assert_int_equal(st.reclaimed_bg, h->released);

	/* nothing comes back (count 0: skip me): the cycle ends short of high */
	h->frozen = true;
	rel = h->scans;
	take_until(&f, h, 39);
	assert_true(kmem_pa_reaper_run(f.pa, 0) & KMEM_PA_WORK_RECLAIM);
	st = pafx_stats(&f);
	assert_int_equal(st.free, 39);
	assert_int_equal(st.reaper_wakeups, 3);
	assert_int_equal(st.reaper_cycles, 3);
	assert_int_equal(h->scans, rel);
	h->frozen = false;

	kmem_pa_unregister_shrinker(f.pa, &h->sh);
	assert_int_equal(pafx_stats(&f).nr_shrinkers, 0);
	hoard_free(h);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

struct thrash_arg {
	unsigned long calls;
	struct kmem_pagealloc *pa;
};

static void on_thrash(void *arg, struct kmem_pagealloc *pa)
{
	struct thrash_arg *t = arg;

	t->calls++;
	t->pa = pa;
}

/* Every reclaimed frame is taken again before the next cycle: thrashing. */
static void test_thrash_detection(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct thrash_arg ta = { 0, NULL };
	struct hoard *h;
	struct kmem_pa_stats st;

	(void)state;
	pafx_setup(&f, &cfg);
	cfg.flags = KMEM_PA_NO_PCP | KMEM_PA_NO_BGZERO;
	cfg.on_thrash = on_thrash;
	cfg.thrash_arg = &ta;
	pafx_start(&f, &cfg);
	h = hoard_new(f.pa, "hoard");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &h->sh), 0);
	for (unsigned cycle = 0; cycle < 6; cycle++) {
		take_until(&f, h, 39);
		assert_true(kmem_pa_reaper_run(f.pa, 0) & KMEM_PA_WORK_RECLAIM);
		assert_true(pafx_stats(&f).free >= 48);
	}
	take_until(&f, h, 39);
	st = pafx_stats(&f);
	assert_int_equal(st.reaper_cycles, 6);
	assert_true(st.refaults > 0);
	/* the last cycle's refaults are judged when the next one begins */
	(void)kmem_pa_reaper_run(f.pa, 0);
	st = pafx_stats(&f);
	assert_true(st.thrash_events >= 1);
	assert_int_equal(ta.calls, st.thrash_events);
	assert_ptr_equal(ta.pa, f.pa);
	kmem_pa_unregister_shrinker(f.pa, &h->sh);
	hoard_free(h);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_reaper_thread(void **state)
{
	struct pafx f;
	struct hoard *h;
	struct kmem_pa_stats st;
	long waited = 0, limit = test_under_valgrind() ? 20000 : 5000;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
#ifdef KMEM_HAVE_PTHREAD
	h = hoard_new(f.pa, "hoard");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &h->sh), 0);
	take_until(&f, h, 40);
	assert_int_equal(kmem_pa_reaper_start(f.pa), 0);
	assert_int_equal(kmem_pa_reaper_start(f.pa), -EALREADY);
	assert_true(pafx_stats(&f).reaper_running);
	assert_true(hoard_take(h, 0, 0)); /* free 39 < low: wakes the reaper */
	for (;;) {
		st = pafx_stats(&f);
		if (st.free >= st.wmark_high || waited >= limit)
			break;
		sleep_ms(1);
		waited++;
	}
	assert_true(st.free >= 48);
	assert_true(st.reaper_wakeups >= 1);
	assert_true(st.reclaimed_bg >= 9);
	kmem_pa_reaper_stop(f.pa);
	assert_false(pafx_stats(&f).reaper_running);
	kmem_pa_reaper_stop(f.pa); /* not running: a no-op */
	hoard_lock(h);
	assert_int_equal(h->level_mask, 1u << KMEM_PRESSURE_BACKGROUND);
	assert_int_equal(pafx_stats(&f).reclaimed_bg, h->released);
	hoard_unlock(h);
	assert_int_equal(pafx_stats(&f).direct_reclaims, 0);
	kmem_pa_unregister_shrinker(f.pa, &h->sh);
	hoard_free(h);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
#else
	(void)h;
	(void)st;
	(void)waited;
	(void)limit;
	assert_int_equal(kmem_pa_reaper_start(f.pa), -ENOTSUP);
	assert_false(pafx_stats(&f).reaper_running);
	kmem_pa_reaper_stop(f.pa);
#endif
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_reaper_start_stop_many(void **state)
{
	struct pafx f;
	unsigned long n = test_scale(50);

	(void)state;
	pafx_init(&f, 0);
#ifdef KMEM_HAVE_PTHREAD
	for (unsigned long i = 0; i < n; i++) {
		void *p;

		assert_int_equal(kmem_pa_reaper_start(f.pa), 0);
		assert_true(pafx_stats(&f).reaper_running);
		p = kmem_pa_alloc(f.pa, (unsigned)(i % 5), 0);
		assert_non_null(p);
		kmem_pa_free(f.pa, p, (unsigned)(i % 5));
		if (i % 3 == 0)
			sleep_ms(1);
		kmem_pa_reaper_stop(f.pa);
		assert_false(pafx_stats(&f).reaper_running);
	}
	/* and left running into destroy, which stops it */
	assert_int_equal(kmem_pa_reaper_start(f.pa), 0);
#else
	(void)n;
	assert_int_equal(kmem_pa_reaper_start(f.pa), -ENOTSUP);
#endif
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	assert_int_equal(kmem_pa_check(f.pa), 0);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reaper_hysteresis),
		cmocka_unit_test(test_thrash_detection),
		cmocka_unit_test(test_reaper_thread),
		cmocka_unit_test(test_reaper_start_stop_many),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_reaper_hysteresis */
	return cmocka_run_group_tests_name("pagealloc-reaper", tests, NULL, NULL);
}
