/* test_pa_threads.c - the frame service under threads: workers
 * allocate and free random orders with random flags while the reaper thread
 * runs and a shrinker holds frames the workers donate; every block handed out
 * reads zero (sampled, fully for some) and is stamped, so a block given to
 * two callers at once is caught; a registrar thread registers and
 * unregisters a second shrinker meanwhile (no scan after unregister
 * returns). At quiescence the thread caches are empty (returned at thread
 * exit), the accounting adds up exactly, and both checkers pass. A second
 * test: thread exit gives the thread's cache back.
 * Runs clean under TSan, Helgrind and DRD: pthreads only, shared test state
 * under mutexes or __atomic. */
#include "pa_fixture.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#define NTHREADS 4
#define KEEP 48
#define HOARD_CAP 384 /* frames the shared shrinker holds at most */

static const unsigned flag_table[] = {
	0, 0, 0, KMEM_PAGE_ZERO, KMEM_PAGE_NOWAIT, KMEM_PAGE_HIGH,
	KMEM_PAGE_ZERO | KMEM_PAGE_NOWAIT, KMEM_PAGE_HIGH | KMEM_PAGE_NOWAIT,
};

struct shared {
	struct kmem_pagealloc *pa;
	struct hoard *h;
	unsigned long iters;
	uint64_t seed;
	/* __atomic counters */
	unsigned long bad_zero, bad_stamp, bad_align;
	unsigned long allocs, fails, frees, donated;
	/* registrar */
	unsigned long reg_rounds, reg_bad, reg_fails;
	pthread_mutex_t stop_lock; /* a mutex, not an atomic: Helgrind and DRD see it */
	int stop;
};

static bool stopping(struct shared *sh)
{
	int s;

	pthread_mutex_lock(&sh->stop_lock);
	s = sh->stop;
	pthread_mutex_unlock(&sh->stop_lock);
	return s != 0;
}

struct worker {
	struct shared *sh;
	unsigned id;
};

struct blk {
	unsigned char *p;
	unsigned order;
	unsigned char stamp;
};

static void count(unsigned long *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static unsigned long load(const unsigned long *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Sampled zero check: first and last word, three random bytes; all of it
 * every 16th block. */
static bool looks_zero(const unsigned char *p, size_t bytes, struct test_rng *rng, bool full)
{
	uint64_t a, b;

	if (full)
		return all_zero(p, bytes);
	memcpy(&a, p, 8);
	memcpy(&b, p + bytes - 8, 8);
	if (a || b)
		return false;
	for (unsigned i = 0; i < 3; i++)
		if (p[test_below(rng, bytes)])
			return false;
	return true;
}

static bool stamped(const struct blk *b, size_t frame)
{
	size_t bytes = frame << b->order;

	return b->p[0] == b->stamp && b->p[bytes - 1] == b->stamp && b->p[bytes / 2] == b->stamp;
}

/* Hand a block to the shared shrinker (false: it holds enough). */
static bool donate(struct hoard *h, const struct blk *b)
{
	bool ok = false;

	hoard_lock(h);
	if (h->frames < HOARD_CAP && h->n < HOARD_MAX) {
		h->blk[h->n] = b->p;
		h->ord[h->n] = b->order;
		h->n++;
		h->frames += (size_t)1 << b->order;
		ok = true;
	}
	hoard_unlock(h);
	return ok;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct test_rng rng = { sh->seed + w->id * 7919 };
	struct blk keep[KEEP];
	unsigned n = 0;
	const size_t frame = 4096;

	for (unsigned long i = 0; i < sh->iters; i++) {
		uint64_t dice = test_below(&rng, 10);

		if (dice < 5 && n < KEEP) {
			struct blk b;
			unsigned flags = flag_table[test_below(&rng, sizeof(flag_table) / sizeof(flag_table[0]))];
			size_t bytes;

			if (test_below(&rng, 256) == 0)
				flags |= KMEM_PAGE_NOFAIL;
			b.order = (unsigned)test_below(&rng, 5);
			bytes = frame << b.order;
			b.p = kmem_pa_alloc(sh->pa, b.order, flags);
			if (!b.p) {
				count(&sh->fails);
				continue;
			}
			count(&sh->allocs);
			if ((uintptr_t)b.p % bytes)
				count(&sh->bad_align);
			if (!looks_zero(b.p, bytes, &rng, (i & 15) == 0))
				count(&sh->bad_zero);
			b.stamp = (unsigned char)(0xA0 + w->id * 16 + (i & 15));
			memset(b.p, b.stamp, bytes); /* freed blocks are dirty */
			keep[n++] = b;
		} else if (dice < 9 && n > 0) {
			unsigned k = (unsigned)test_below(&rng, n);

			if (!stamped(&keep[k], frame))
				count(&sh->bad_stamp);
			kmem_pa_free(sh->pa, keep[k].p, keep[k].order);
			count(&sh->frees);
			keep[k] = keep[--n];
		} else if (n > 0) {
			if (!stamped(&keep[n - 1], frame))
				count(&sh->bad_stamp);
			if (donate(sh->h, &keep[n - 1])) {
				count(&sh->donated);
			} else {
				kmem_pa_free(sh->pa, keep[n - 1].p, keep[n - 1].order);
				count(&sh->frees);
			}
			n--;
		}
	}
	while (n > 0) {
		n--;
		if (!stamped(&keep[n], frame))
			count(&sh->bad_stamp);
		kmem_pa_free(sh->pa, keep[n].p, keep[n].order);
		count(&sh->frees);
	}
	return NULL;
}

/* Registers and unregisters a second shrinker over and over; after
 * unregister returns, that shrinker is never scanned again. */
static void *registrar_main(void *arg)
{
	struct shared *sh = arg;
	struct hoard *b = calloc(1, sizeof(*b));
	unsigned long scans_after = 0;

	if (!b) {
		count(&sh->reg_fails);
		return NULL;
	}
	b->pa = sh->pa;
	b->sh.name = "registrar";
	b->sh.count = hoard_count_cb;
	b->sh.scan = hoard_scan_cb;
	b->sh.arg = b;
	pthread_mutex_init(&b->lock, NULL);
	while (!stopping(sh)) {
		for (unsigned i = 0; i < 8; i++) {
			void *p = kmem_pa_alloc(sh->pa, 0, KMEM_PAGE_NOWAIT);

			if (p) {
				hoard_lock(b);
				b->blk[b->n] = p;
				b->ord[b->n] = 0;
				b->n++;
				b->frames++;
				hoard_unlock(b);
			}
		}
		if (kmem_pa_register_shrinker(sh->pa, &b->sh) != 0) {
			count(&sh->reg_fails);
			break;
		}
		sched_yield();
		kmem_pa_unregister_shrinker(sh->pa, &b->sh);
		hoard_lock(b);
		scans_after = b->scans;
		hoard_unlock(b);
		sched_yield();
		hoard_lock(b);
		if (b->scans != scans_after)
			count(&sh->reg_bad);
		hoard_unlock(b);
		count(&sh->reg_rounds);
	}
	hoard_empty(b);
	pthread_mutex_destroy(&b->lock);
	free(b);
	return NULL;
}

/* After the workers: take frames until free falls below low, so the
 * reaper wakes at least once whatever the scheduling was (under Helgrind
 * the workers may run one at a time and never press), then give them back.
 * Waits up to 10 s for the wake-up. */
static void *squeezer_main(void *arg)
{
	struct kmem_pagealloc *pa = arg;
	static void *held[1024];
	struct kmem_pa_stats st;
	size_t n = 0;

	kmem_pa_get_stats(pa, &st);
	while (n < 1024 && st.free >= st.wmark_low) {
		held[n] = kmem_pa_alloc(pa, 0, KMEM_PAGE_NOWAIT);
		if (!held[n])
			break;
		n++;
		kmem_pa_get_stats(pa, &st);
	}
	for (int t = 0; t < 10000 && !st.reaper_wakeups; t++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
		kmem_pa_get_stats(pa, &st);
	}
	while (n)
		kmem_pa_free(pa, held[--n], 0);
	return NULL;
}

static void test_stress(void **state)
{
	struct pafx f;
	struct shared sh;
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS], reg;
	struct kmem_pa_stats st;
	size_t held;

	(void)state;
	pafx_init(&f, 0); /* 1024 frames of 4 KiB, orders up to 6 */
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 32, 128, 256), 0);
	memset(&sh, 0, sizeof(sh));
	sh.pa = f.pa;
	pthread_mutex_init(&sh.stop_lock, NULL);
	sh.h = hoard_new(f.pa, "hoard");
	sh.iters = test_scale(40000);
	sh.seed = test_seed(0x9a9e, "pagealloc threads");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &sh.h->sh), 0);
	assert_int_equal(kmem_pa_reaper_start(f.pa), 0);
	assert_int_equal(pthread_create(&reg, NULL, registrar_main, &sh), 0);
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ &sh, i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(pthread_create(&th[0], NULL, squeezer_main, f.pa), 0);
	assert_int_equal(pthread_join(th[0], NULL), 0);
	pthread_mutex_lock(&sh.stop_lock);
	sh.stop = 1;
	pthread_mutex_unlock(&sh.stop_lock);
	assert_int_equal(pthread_join(reg, NULL), 0);
	pthread_mutex_destroy(&sh.stop_lock);
	kmem_pa_reaper_stop(f.pa);

	print_message("[ info     ] allocs %lu, fails %lu, donated %lu, registrar rounds %lu\n",
		      sh.allocs, sh.fails, sh.donated, sh.reg_rounds);
	assert_int_equal(sh.bad_zero, 0);
	assert_int_equal(sh.bad_stamp, 0);
	assert_int_equal(sh.bad_align, 0);
	assert_int_equal(sh.reg_bad, 0);
	assert_int_equal(sh.reg_fails, 0);
	assert_true(sh.reg_rounds > 0);
	assert_true(sh.allocs > 0);
	if (kmem_error_total(&f.rec.sink))
		print_message("last report: %s\n", f.rec.line);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);

	/* quiescent: every thread that used the service has exited (this one
	 * has not touched it), so no frame sits in a thread cache */
	st = pafx_stats(&f);
	hoard_lock(sh.h);
	held = sh.h->frames;
	hoard_unlock(sh.h);
	assert_false(st.reaper_running);
	assert_int_equal(st.pcp, 0);
	assert_int_equal(st.pcp_threads, 0);
	assert_int_equal(st.free + st.used, st.managed);
	assert_int_equal(st.used, f.base_used + held);
	assert_int_equal(st.nr_shrinkers, 1);
	assert_true(st.allocs >= load(&sh.allocs)); /* plus the registrar's */
	assert_true(st.reaper_wakeups >= 1);
	pafx_assert_sane(&f);

	kmem_pa_unregister_shrinker(f.pa, &sh.h->sh);
	hoard_free(sh.h);
	(void)kmem_pa_drain(f.pa);
	st = pafx_stats(&f);
	assert_int_equal(st.allocs, st.frees);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* ---- thread exit returns the thread's cache ------------------------------------------ */

struct parked {
	struct kmem_pagealloc *pa;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;	/* threads that have filled their caches */
	int go;		/* main lets them exit */
	unsigned long bad;
};

static void *parked_main(void *arg)
{
	struct parked *pk = arg;
	void *p[20];

	for (unsigned i = 0; i < 20; i++) {
		p[i] = kmem_pa_alloc(pk->pa, 0, 0);
		if (!p[i])
			count(&pk->bad);
	}
	for (unsigned i = 0; i < 20; i++)
		kmem_pa_free(pk->pa, p[i], 0);
	pthread_mutex_lock(&pk->lock);
	pk->ready++;
	pthread_cond_broadcast(&pk->cond);
	while (!pk->go)
		pthread_cond_wait(&pk->cond, &pk->lock);
	pthread_mutex_unlock(&pk->lock);
	return NULL;
}

static void test_thread_exit_returns_cache(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct parked pk;
	struct kmem_pa_stats st, parked;
	pthread_t t[3];

	(void)state;
	pafx_prepare(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
	cfg.pcp_batch = 4;
	cfg.pcp_high = 16;
	pafx_start(&f, &cfg);
	st = pafx_stats(&f);
	assert_int_equal(st.pcp_batch, 4);
	assert_int_equal(st.pcp_high, 16);
	assert_int_equal(st.pcp_threads, 0);
	memset(&pk, 0, sizeof(pk));
	pk.pa = f.pa;
	pthread_mutex_init(&pk.lock, NULL);
	pthread_cond_init(&pk.cond, NULL);
	for (unsigned round = 1; round <= 3; round++) {
		pk.ready = 0;
		pk.go = 0;
		for (unsigned i = 0; i < round; i++)
			assert_int_equal(pthread_create(&t[i], NULL, parked_main, &pk), 0);
		pthread_mutex_lock(&pk.lock);
		while (pk.ready < round)
			pthread_cond_wait(&pk.cond, &pk.lock);
		pthread_mutex_unlock(&pk.lock);
		/* the parked threads are quiescent: their caches hold frames */
		st = pafx_stats(&f);
		assert_int_equal(st.pcp_threads, round);
		assert_true(st.pcp > 0);
		assert_true(st.pcp <= (size_t)16 * round);
		parked = st;
		pthread_mutex_lock(&pk.lock);
		pk.go = 1;
		pthread_cond_broadcast(&pk.cond);
		pthread_mutex_unlock(&pk.lock);
		for (unsigned i = 0; i < round; i++)
			assert_int_equal(pthread_join(t[i], NULL), 0);
		st = pafx_stats(&f);
		assert_int_equal(st.pcp_threads, 0);
		assert_int_equal(st.pcp, 0);
		assert_int_equal(st.used, f.base_used);
		assert_int_equal(st.free + st.used, st.managed);
		assert_int_equal(st.allocs, 20u * (round * (round + 1) / 2));
		assert_int_equal(st.frees, st.allocs);
		pafx_assert_sane(&f);
		/* read while the threads were parked: their cache hits are
		 * folded at their exit (pagealloc.h, kmem_pa_get_stats), so
		 * the parked snapshot may only lag */
		assert_true(parked.allocs <= st.allocs);
		assert_true(parked.frees <= st.frees);
	}
	assert_int_equal(pk.bad, 0);
	pthread_cond_destroy(&pk.cond);
	pthread_mutex_destroy(&pk.lock);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stress),
		cmocka_unit_test(test_thread_exit_returns_cache),
	};

	if (getenv("KMEM_TEST_FILTER")) /* run one test: KMEM_TEST_FILTER=test_cow */
		cmocka_set_test_filter(getenv("KMEM_TEST_FILTER"));
	return cmocka_run_group_tests_name("pagealloc-threads", tests, NULL, NULL);
}
