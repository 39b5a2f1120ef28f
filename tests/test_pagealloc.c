/* test_pagealloc.c - the frame service, single-threaded (the reaper thread
 * aside): the zero-fill guarantee for every order and init policy, the
 * zeroed and dirty pools, the default watermarks and their validation, the
 * reaper's hysteresis (kmem_pa_reaper_run and the thread), direct reclaim,
 * NOWAIT and HIGH, the OOM handler, the shrinker protocol, slab on the frame
 * service, clients (limits, guarantees, shares, OOM victims), reference
 * counts and copy-on-write, misuse through the checked free, and the text
 * forms. Every scenario ends with kmem_pa_check and kmem_buddy_check, and
 * after kmem_pa_destroy every frame is free in the buddy again.
 * Threads are in test_pagealloc_threads.c. */
#include "pa_fixture.h"

#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define PA_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PA_TEST_ASAN 1
#endif
#endif
#ifdef PA_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef KMEM_TEST_HAVE_VALGRIND
#include <memcheck.h>
#endif

#define BIG_BUDGET ((size_t)1 << 20)

/* Whether freed memory p[0..n) (the test's own arena) reads zero. The
 * allocator may have marked free memory inaccessible for memcheck or ASan:
 * such bytes cannot be read by anyone and count as wiped; the others are
 * read without disturbing the annotations. */
static bool freed_reads_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

#ifdef PA_TEST_ASAN
	for (size_t i = 0; i < n; i++)
		if (!__asan_address_is_poisoned(c + i) && c[i])
			return false;
	return true;
#else
#ifdef KMEM_TEST_HAVE_VALGRIND
	if (RUNNING_ON_VALGRIND) {
		unsigned char vb[64];

		for (size_t i = 0; i < n; i += 64) {
			size_t k = n - i < 64 ? n - i : 64;
			bool ok;

			if (VALGRIND_GET_VBITS(c + i, vb, k) != 1)
				continue; /* not addressable: nobody can read it */
			(void)VALGRIND_MAKE_MEM_DEFINED(c + i, k);
			ok = all_zero(c + i, k);
			(void)VALGRIND_SET_VBITS(c + i, vb, k);
			if (!ok)
				return false;
		}
		return true;
	}
#endif
	return all_zero(c, n);
#endif
}

/* Allocate order-0 frames into h (NO_PCP instances) until free == target. */
static void take_until(struct pafx *f, struct hoard *h, size_t target)
{
	size_t fr = pafx_stats(f).free;

	assert_true(fr >= target);
	for (; fr > target; fr--)
		assert_true(hoard_take(h, 0, 0));
	assert_int_equal(pafx_stats(f).free, target);
}

#ifdef KMEM_HAVE_PTHREAD
static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0) {
	}
}
#endif

static struct kmem_cache_stats cstats(struct kmem_cache *c)
{
	struct kmem_cache_stats st;

	kmem_cache_get_stats(c, &st);
	return st;
}

/* ---- defaults, config and watermark validation ------------------------------ */

struct wm_case {
	size_t frame, arena;
	unsigned max_order;
	size_t managed, min, low, high, zero_low, zero_high;
	unsigned batch; /* 0: only check high == 6 * batch and 2^n - 1 */
};

static void check_defaults(const struct wm_case *c)
{
	struct pafx f;
	struct kmem_pa_stats st;

	pafx_init_full(&f, c->frame, c->max_order, c->arena, 0, KMEM_PA_INIT_ON_ALLOC);
	st = pafx_stats(&f);
	assert_int_equal(st.frame_size, c->frame);
	assert_int_equal(st.managed, c->managed);
	assert_int_equal(st.wmark_min, c->min);
	assert_int_equal(st.wmark_low, c->low);
	assert_int_equal(st.wmark_high, c->high);
	assert_true(st.wmark_min < st.wmark_low && st.wmark_low < st.wmark_high);
	assert_int_equal(st.zero_high, c->zero_high);
	assert_int_equal(st.zero_low, c->zero_low);
	if (c->batch)
		assert_int_equal(st.pcp_batch, c->batch);
	assert_true(st.pcp_batch >= 1 && st.pcp_batch <= 31);
	assert_int_equal(st.pcp_batch & (st.pcp_batch + 1), 0); /* 2^n - 1 */
	assert_int_equal(st.pcp_high, 6 * st.pcp_batch);
	assert_int_equal(st.init_policy, KMEM_PA_INIT_ON_ALLOC);
	assert_int_equal(st.nr_shrinkers, 0);
	assert_int_equal(st.nr_clients, 0);
	assert_false(st.reaper_running);
	assert_int_equal(st.pcp, 0);
#ifdef KMEM_HAVE_PTHREAD
	assert_int_equal(st.pcp_threads, 0); /* created on a thread's first use */
#else
	assert_int_equal(st.pcp_threads, 1); /* the instance's one cache */
#endif
	assert_int_equal(st.zeroed, 0);
	assert_int_equal(st.dirty, 0);
	assert_int_equal(st.allocs, 0);
	assert_int_equal(st.frees, 0);
	/* the pool arrays come from the buddy and are all that is used */
	assert_true(st.used > 0);
	assert_int_equal(st.used, pafx_buddy_used(&f));
	assert_int_equal(st.free, st.managed - st.used);
	assert_ptr_equal(kmem_pa_buddy(f.pa), f.b);
	assert_ptr_equal(kmem_pa_error_sink(f.pa), &f.rec.sink); /* the buddy's */
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_default_watermarks(void **state)
{
	/* 1024 frames of 4 KiB: min_kb = isqrt(65536) = 256 -> 64 frames,
	 * clamped to 1024 / 32 = 32; gap = max(8, 1, 1) */
	static const struct wm_case c4m = { 4096, (size_t)4 << 20, 6, 1024, 32, 40, 48, 24, 48, 1 };
	/* 256 frames: min_kb = 128 -> 32 frames, clamped to 8; gap = 2 */
	static const struct wm_case c1m = { 4096, (size_t)1 << 20, 6, 256, 8, 10, 12, 6, 12, 1 };
	/* 7168 frames of 256 bytes (1792 KiB): min_kb = isqrt(28672) = 169
	 * -> 676 frames, clamped to 224; gap = max(56, 7, 1); batch 7 */
	static const struct wm_case c256 = { 256, (size_t)7168 * 256, 6, 7168, 224, 280, 336, 168, 336, 7 };
	/* 16384 frames of 4 KiB: min_kb = 1024 -> 256 (under 512); gap = 64 */
	static const struct wm_case c64m = { 4096, (size_t)64 << 20, 10, 16384, 256, 320, 384, 192, 384, 0 };

	(void)state;
	check_defaults(&c4m);
	check_defaults(&c1m);
	check_defaults(&c256);
	check_defaults(&c64m);
}

/* zero_low = zero_high / 2, at most managed / 8 */
static void test_zero_targets_follow_watermarks(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct kmem_pa_stats st;

	(void)state;
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
	cfg.wmark_min = 10;
	cfg.wmark_low = 20;
	cfg.wmark_high = 1000;
	pafx_start(&f, &cfg);
	st = pafx_stats(&f);
	assert_int_equal(st.wmark_min, 10);
	assert_int_equal(st.wmark_low, 20);
	assert_int_equal(st.wmark_high, 1000);
	/* "zero_high = high watermark, zero_low = zero_high / 2 (at most
	 * managed / 8)": read as the cap applying to the derived zero_high
	 * (and so to zero_low) */
	assert_int_equal(st.zero_high, 1024 / 8);
	assert_int_equal(st.zero_low, 1024 / 16);
	pafx_fini(&f);

	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
	cfg.zero_low = 3;
	cfg.zero_high = 7;
	pafx_start(&f, &cfg);
	st = pafx_stats(&f);
	assert_int_equal(st.zero_low, 3);
	assert_int_equal(st.zero_high, 7);
	assert_int_equal(st.wmark_high, 48);
	pafx_fini(&f);
}

static int try_init(struct pafx *f, const struct kmem_pa_config *cfg)
{
	struct kmem_pagealloc *pa = NULL;
	int rc = kmem_pa_init(f->pinst, kmem_pa_sizeof(), cfg, &pa);

	if (rc == 0) {
		kmem_pa_destroy(pa);
		return 0;
	}
	assert_null(pa);
	return rc;
}

static void test_config_validation(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg, c;
	struct kmem_pagealloc *pa = NULL;
	size_t used0;
	void *all[16];

	(void)state;
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
	used0 = pafx_buddy_used(&f);
	assert_int_equal(kmem_pa_sizeof() % 16, 0);

	assert_int_equal(kmem_pa_init(f.pinst, kmem_pa_sizeof(), NULL, &pa), -EINVAL);
	assert_int_equal(kmem_pa_init(NULL, kmem_pa_sizeof(), &cfg, &pa), -EINVAL);
	assert_int_equal(kmem_pa_init(f.pinst, kmem_pa_sizeof(), &cfg, NULL), -EINVAL);
	assert_int_equal(kmem_pa_init((char *)f.pinst + 8, kmem_pa_sizeof(), &cfg, &pa), -EINVAL);
	assert_int_equal(kmem_pa_init(f.pinst, kmem_pa_sizeof() - 1, &cfg, &pa), -ENOSPC);
	assert_null(pa);
	c = cfg;
	c.buddy = NULL;
	assert_int_equal(try_init(&f, &c), -EINVAL);
	c = cfg;
	c.flags = 0x100;
	assert_int_equal(try_init(&f, &c), -EINVAL);
	c = cfg;
	c.init_policy = (enum kmem_pa_init_policy)7;
	assert_int_equal(try_init(&f, &c), -EINVAL);
	c = cfg;
	c.share_policy = (enum kmem_pa_share_policy)9;
	assert_int_equal(try_init(&f, &c), -EINVAL);
	c = cfg;
	c.reclaim_scope = (enum kmem_pa_reclaim_scope)5;
	assert_int_equal(try_init(&f, &c), -EINVAL);
	/* watermarks: all 0 or min < low < high <= managed */
	static const size_t bad[][3] = {
		{ 1, 1, 2 }, { 2, 1, 3 }, { 1, 3, 3 }, { 1, 4, 3 }, { 1, 2, 1025 },
		{ 5, 0, 0 }, { 0, 0, 5 }, { 0, 5, 10 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = cfg;
		c.wmark_min = bad[i][0];
		c.wmark_low = bad[i][1];
		c.wmark_high = bad[i][2];
		assert_int_equal(try_init(&f, &c), -EINVAL);
	}
	c = cfg;
	c.wmark_min = 1;
	c.wmark_low = 2;
	c.wmark_high = 1024; /* high == managed is allowed */
	assert_int_equal(try_init(&f, &c), 0);
	c = cfg;
	c.zero_low = 10;
	c.zero_high = 9;
	assert_int_equal(try_init(&f, &c), -EINVAL);
	/* nothing leaked from the buddy by the failures */
	assert_int_equal(pafx_buddy_used(&f), used0);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);

	/* no room for the pool arrays */
	for (unsigned i = 0; i < 16; i++) {
		all[i] = kmem_buddy_alloc(f.b, 6);
		assert_non_null(all[i]);
	}
	assert_int_equal(kmem_buddy_free_frames(f.b), 0);
	assert_int_equal(try_init(&f, &cfg), -ENOMEM);
	for (unsigned i = 0; i < 16; i++)
		kmem_buddy_free(f.b, all[i]);
	assert_int_equal(pafx_buddy_used(&f), 0);

	pafx_start(&f, &cfg);
	pafx_fini(&f);
}

static void test_set_watermarks(void **state)
{
	struct pafx f;
	struct kmem_pa_stats st;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 0, 1, 2), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 5, 5, 6), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 5, 6, 6), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 5, 7, 6), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 6, 5, 7), -EINVAL);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 5, 6, 1025), -EINVAL);
	st = pafx_stats(&f);
	assert_int_equal(st.wmark_min, 32); /* unchanged by the failures */
	assert_int_equal(st.wmark_low, 40);
	assert_int_equal(st.wmark_high, 48);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 1, 2, 1024), 0);
	assert_int_equal(kmem_pa_set_watermarks(f.pa, 100, 200, 300), 0);
	st = pafx_stats(&f);
	assert_int_equal(st.wmark_min, 100);
	assert_int_equal(st.wmark_low, 200);
	assert_int_equal(st.wmark_high, 300);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* ---- zero-fill on demand ------------------------------------------------------ */

/* Allocate, dirty, free, reallocate every order, with and without
 * KMEM_PAGE_ZERO, with zeroer rounds in between: every block reads zero;
 * with INIT_ON_FREE the freed block reads zero right after the free. */
static void zero_cycle(struct pafx *f, unsigned max_order, bool on_free)
{
	for (unsigned order = 0; order <= max_order; order++) {
		size_t bytes = f->frame << order;

		for (unsigned round = 0; round < 6; round++) {
			unsigned flags = (round & 1) ? KMEM_PAGE_ZERO : 0;
			unsigned char *p[4];

			for (unsigned i = 0; i < 4; i++) {
				p[i] = kmem_pa_alloc(f->pa, order, flags);
				assert_non_null(p[i]);
				assert_int_equal((uintptr_t)p[i] % bytes, 0);
				assert_true(all_zero(p[i], bytes));
				memset(p[i], 0xA5, bytes);
			}
			for (unsigned i = 0; i < 4; i++) {
				kmem_pa_free(f->pa, p[i], order);
				if (on_free)
					assert_true(freed_reads_zero(p[i], bytes));
			}
			if (round == 2)
				(void)kmem_pa_reaper_run(f->pa, 3);
			if (round == 4)
				(void)kmem_pa_reaper_run(f->pa, BIG_BUDGET);
		}
		assert_int_equal(kmem_pa_check(f->pa), 0);
	}
	assert_int_equal(kmem_buddy_check(f->b), 0);
}

static void zero_case(unsigned flags, enum kmem_pa_init_policy policy)
{
	struct pafx f;
	struct kmem_pa_stats st;

	pafx_init_full(&f, 4096, 6, (size_t)4 << 20, flags, policy);
	zero_cycle(&f, 6, policy == KMEM_PA_INIT_ON_FREE);
	st = pafx_stats(&f);
	assert_int_equal(st.init_policy, policy);
	assert_int_equal(st.allocs, 7 * 6 * 4);
	assert_int_equal(st.frees, 7 * 6 * 4);
	assert_int_equal(st.alloc_fails, 0);
	if (policy == KMEM_PA_INIT_ON_FREE) /* every freed frame wiped: 24 * (2^7 - 1) */
		assert_int_equal(st.zeroed_free, 24 * 127);
	else
		assert_int_equal(st.zeroed_free, 0);
	if (flags & KMEM_PA_NO_BGZERO)
		assert_int_equal(st.zeroed_bg, 0);
	if (flags & KMEM_PA_NO_PCP)
		assert_int_equal(st.used, f.base_used);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_zero_guarantee(void **state)
{
	(void)state;
	zero_case(0, KMEM_PA_INIT_ON_ALLOC);
	zero_case(KMEM_PA_NO_PCP, KMEM_PA_INIT_ON_ALLOC);
	zero_case(KMEM_PA_NO_BGZERO, KMEM_PA_INIT_ON_ALLOC);
	zero_case(KMEM_PA_NO_PCP | KMEM_PA_NO_BGZERO, KMEM_PA_INIT_ON_ALLOC);
	zero_case(0, KMEM_PA_INIT_ON_FREE);
	zero_case(KMEM_PA_NO_PCP, KMEM_PA_INIT_ON_FREE);
}

/* INIT_NONE: KMEM_PAGE_ZERO requests still read zero. */
static void test_init_none_zero_flag(void **state)
{
	struct pafx f;

	(void)state;
	for (unsigned pass = 0; pass < 2; pass++) {
		pafx_init_full(&f, 4096, 6, (size_t)4 << 20, pass ? KMEM_PA_NO_PCP : 0,
			       KMEM_PA_INIT_NONE);
		assert_int_equal(pafx_stats(&f).init_policy, KMEM_PA_INIT_NONE);
		for (unsigned order = 0; order <= 6; order++) {
			size_t bytes = f.frame << order;

			for (unsigned round = 0; round < 3; round++) {
				unsigned char *p[4];

				for (unsigned i = 0; i < 4; i++) {
					p[i] = kmem_pa_alloc(f.pa, order, KMEM_PAGE_ZERO);
					assert_non_null(p[i]);
					assert_true(all_zero(p[i], bytes));
					memset(p[i], 0xA5, bytes);
				}
				for (unsigned i = 0; i < 4; i++)
					kmem_pa_free(f.pa, p[i], order);
				/* a non-ZERO request in between may see old data */
				p[0] = kmem_pa_alloc(f.pa, order, 0);
				assert_non_null(p[0]);
				memset(p[0], 0x5A, bytes);
				kmem_pa_free(f.pa, p[0], order);
				if (round == 1)
					(void)kmem_pa_reaper_run(f.pa, BIG_BUDGET);
			}
		}
		assert_int_equal(pafx_stats(&f).zeroed_free, 0);
		pafx_assert_sane(&f);
		pafx_fini(&f);
	}
}

/* ---- the zeroed and dirty pools (no thread caches: exact counts) --------------- */

static void test_pools_exact(void **state)
{
	struct pafx f;
	struct kmem_pa_stats st;
	void *p[64];
	unsigned ret;
	size_t z;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	/* empty zeroed pool: every frame is zeroed inline */
	for (unsigned i = 0; i < 8; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
		memset(p[i], 0xA5, 4096);
	}
	st = pafx_stats(&f);
	assert_int_equal(st.allocs, 8);
	assert_int_equal(st.zeroed_inline, 8);
	assert_int_equal(st.zero_hits, 0);
	assert_int_equal(st.used, f.base_used + 8);
	assert_int_equal(st.free, 1024 - f.base_used - 8);
	assert_int_equal(st.pcp, 0);
	/* frees go to the dirty pool */
	for (unsigned i = 0; i < 8; i++)
		kmem_pa_free(f.pa, p[i], 0);
	st = pafx_stats(&f);
	assert_int_equal(st.frees, 8);
	assert_int_equal(st.dirty, 8);
	assert_int_equal(st.zeroed, 0);
	assert_int_equal(st.used, f.base_used);
	assert_int_equal(st.free, 1024 - f.base_used);
	pafx_assert_sane(&f);

	/* a budget of 5 frames: 5 dirty frames cleaned, more wanted */
	ret = kmem_pa_reaper_run(f.pa, 5);
	assert_true(ret & KMEM_PA_WORK_ZERO);
	assert_true(ret & KMEM_PA_WORK_PENDING);
	assert_false(ret & KMEM_PA_WORK_RECLAIM);
	st = pafx_stats(&f);
	assert_int_equal(st.zeroed_bg, 5);
	assert_int_equal(st.zeroed, 5);
	assert_int_equal(st.dirty, 3);
	assert_int_equal(st.free, 1024 - f.base_used);
	/* unbounded: the dirty frames first, then the buddy, up to zero_high */
	ret = kmem_pa_reaper_run(f.pa, BIG_BUDGET);
	assert_true(ret & KMEM_PA_WORK_ZERO);
	assert_false(ret & KMEM_PA_WORK_PENDING);
	st = pafx_stats(&f);
	assert_int_equal(st.dirty, 0);
	assert_true(st.zeroed >= st.zero_high);
	assert_int_equal(st.zeroed_bg, st.zeroed);
	assert_int_equal(st.free, 1024 - f.base_used);
	z = st.zeroed;
	pafx_assert_sane(&f);
	/* nothing left to do */
	assert_int_equal(kmem_pa_reaper_run(f.pa, BIG_BUDGET), 0);
	assert_int_equal(pafx_stats(&f).zeroed_bg, z);

	/* a pool hit; the frame comes back dirty; the pool is still above
	 * zero_low, so the zeroer leaves it (between zero_low and zero_high) */
	p[0] = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p[0]);
	st = pafx_stats(&f);
	assert_int_equal(st.zero_hits, 1);
	assert_int_equal(st.zeroed_inline, 8);
	assert_int_equal(st.zeroed, z - 1);
	memset(p[0], 0xA5, 4096);
	kmem_pa_free(f.pa, p[0], 0);
	assert_int_equal(pafx_stats(&f).dirty, 1);
	assert_int_equal(kmem_pa_reaper_run(f.pa, BIG_BUDGET), 0);
	assert_int_equal(pafx_stats(&f).dirty, 1);
	/* 24 more pool hits: 23 < zero_low 24 left in the order-0 pool; the
	 * zeroer refills it to zero_high from the 25 dirty frames */
	for (unsigned i = 0; i < 24; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
		memset(p[i], 0xA5, 4096);
	}
	st = pafx_stats(&f);
	assert_int_equal(st.zero_hits, 25);
	assert_int_equal(st.zeroed, z - 25);
	for (unsigned i = 0; i < 24; i++)
		kmem_pa_free(f.pa, p[i], 0);
	assert_int_equal(pafx_stats(&f).dirty, 25);
	ret = kmem_pa_reaper_run(f.pa, BIG_BUDGET);
	assert_true(ret & KMEM_PA_WORK_ZERO);
	assert_false(ret & KMEM_PA_WORK_PENDING);
	st = pafx_stats(&f);
	assert_int_equal(st.dirty, 0);
	assert_int_equal(st.zeroed, z);
	assert_int_equal(st.zeroed_bg, z + 25);
	assert_int_equal(st.zeroed_inline, 8);

	/* the whole order-0 pool (zero_high frames) is served from the pool */
	for (unsigned i = 0; i < 48; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, i & 1 ? KMEM_PAGE_ZERO : 0);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
	}
	st = pafx_stats(&f);
	assert_int_equal(st.zero_hits, 25 + 48);
	assert_int_equal(st.zeroed_inline, 8);
	assert_int_equal(st.zeroed, z - 48);
	/* with the pools empty, the next one is zeroed inline */
	if (st.zeroed == 0) {
		p[48] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[48]);
		assert_true(all_zero(p[48], 4096));
		st = pafx_stats(&f);
		assert_int_equal(st.zeroed_inline, 9);
		assert_int_equal(st.zero_hits, 25 + 48);
		kmem_pa_free(f.pa, p[48], 0);
	}
	for (unsigned i = 0; i < 48; i++)
		kmem_pa_free(f.pa, p[i], 0);
	st = pafx_stats(&f);
	assert_int_equal(st.used, f.base_used);
	assert_true(st.dirty <= 49);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* NO_BGZERO: the zeroer never runs; every block is zeroed inline. */
static void test_no_bgzero(void **state)
{
	struct pafx f;
	struct kmem_pa_stats st;
	void *p[4];

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP | KMEM_PA_NO_BGZERO);
	for (unsigned i = 0; i < 4; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[i]);
		memset(p[i], 0xA5, 4096);
	}
	for (unsigned i = 0; i < 4; i++)
		kmem_pa_free(f.pa, p[i], 0);
	assert_int_equal(kmem_pa_reaper_run(f.pa, BIG_BUDGET), 0);
	st = pafx_stats(&f);
	assert_int_equal(st.zeroed_bg, 0);
	assert_int_equal(st.zeroed, 0);
	for (unsigned i = 0; i < 4; i++) {
		p[i] = kmem_pa_alloc(f.pa, 0, 0);
		assert_non_null(p[i]);
		assert_true(all_zero(p[i], 4096));
	}
	st = pafx_stats(&f);
	assert_int_equal(st.zeroed_inline, 8);
	assert_int_equal(st.zero_hits, 0);
	for (unsigned i = 0; i < 4; i++)
		kmem_pa_free(f.pa, p[i], 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* INIT_ON_FREE: the freeing thread wipes, for pooled and buddy orders. */
static void test_init_on_free_counts(void **state)
{
	struct pafx f;
	unsigned char *p, *q;

	(void)state;
	pafx_init_full(&f, 4096, 6, (size_t)4 << 20, KMEM_PA_NO_PCP, KMEM_PA_INIT_ON_FREE);
	p = kmem_pa_alloc(f.pa, 2, 0);
	q = kmem_pa_alloc(f.pa, 5, 0);
	assert_non_null(p);
	assert_non_null(q);
	memset(p, 0xA5, 4 * 4096);
	memset(q, 0xA5, 32 * 4096);
	assert_int_equal(pafx_stats(&f).zeroed_free, 0);
	kmem_pa_free(f.pa, p, 2);
	assert_int_equal(pafx_stats(&f).zeroed_free, 4);
	assert_true(freed_reads_zero(p, 4 * 4096));
	kmem_pa_free(f.pa, q, 5);
	assert_int_equal(pafx_stats(&f).zeroed_free, 36);
	assert_true(freed_reads_zero(q, 32 * 4096));
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* ---- drain, page source, orders ---------------------------------------------------- */

static void test_drain_and_page_source(void **state)
{
	struct pafx f;
	struct kmem_pa_stats st;
	struct kmem_page_source ps, bps;
	void *p[16];
	size_t pooled, got;

	(void)state;
	pafx_init(&f, 0);
	for (unsigned i = 0; i < 16; i++) {
		p[i] = kmem_pa_alloc(f.pa, i % 4, 0);
		assert_non_null(p[i]);
	}
	for (unsigned i = 0; i < 16; i++)
		kmem_pa_free(f.pa, p[i], i % 4);
	(void)kmem_pa_reaper_run(f.pa, 7);
	st = pafx_stats(&f);
	assert_int_equal(st.allocs, 16);
	assert_int_equal(st.frees, 16);
	assert_true(st.pcp <= 4 * st.pcp_high);
	pooled = st.pcp + st.zeroed + st.dirty;
	assert_true(pooled > 0);
	got = kmem_pa_drain(f.pa);
	assert_int_equal(got, pooled);
	st = pafx_stats(&f);
	assert_int_equal(st.pcp, 0);
	assert_int_equal(st.zeroed, 0);
	assert_int_equal(st.dirty, 0);
	assert_int_equal(st.free, st.buddy_free);
	assert_int_equal(kmem_pa_drain(f.pa), 0);
	pafx_assert_sane(&f);

	/* orders past the buddy's max: NULL, not counted as a failure */
	assert_null(kmem_pa_alloc(f.pa, 7, 0));
	assert_null(kmem_pa_alloc(f.pa, 31, KMEM_PAGE_ZERO));
	assert_int_equal(pafx_stats(&f).alloc_fails, 0);
	kmem_pa_free(f.pa, NULL, 0);
	assert_int_equal(pafx_stats(&f).frees, 16);

	/* the page source: the service's alloc/free, the buddy's owner words */
	memset(&ps, 0, sizeof(ps));
	kmem_pa_page_source(f.pa, &ps);
	kmem_buddy_page_source(f.b, &bps);
	assert_non_null(ps.alloc_pages);
	assert_non_null(ps.free_pages);
	assert_non_null(ps.set_owner);
	assert_non_null(ps.get_owner);
	assert_non_null(ps.register_shrinker);
	assert_non_null(ps.unregister_shrinker);
	assert_int_equal(ps.frame_size, 4096);
	assert_int_equal(ps.max_order, 6);
	assert_int_equal(ps.owner_base, bps.owner_base);
	assert_int_equal(ps.owner_frames, bps.owner_frames);
	assert_ptr_equal(ps.owner_words, bps.owner_words);
	p[0] = ps.alloc_pages(ps.ctx, 3, KMEM_PAGE_ZERO);
	assert_non_null(p[0]);
	assert_int_equal((uintptr_t)p[0] % (8 * 4096), 0);
	assert_true(all_zero(p[0], 8 * 4096));
	assert_int_equal(kmem_buddy_block_order(f.b, p[0]), 3);
	assert_int_equal(ps.set_owner(ps.ctx, p[0], &f), 0);
	assert_ptr_equal(ps.get_owner(ps.ctx, (char *)p[0] + 5 * 4096 + 7), &f);
	assert_int_equal(ps.set_owner(ps.ctx, p[0], NULL), 0);
	assert_int_equal(pafx_stats(&f).allocs, 17);
	ps.free_pages(ps.ctx, p[0], 3);
	assert_int_equal(pafx_stats(&f).frees, 17);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

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
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
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
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
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
	pafx_buddy(&c->f, 4096, 6, (size_t)4 << 20);
	pafx_config(&c->f, &cfg);
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
		struct kmem_shrinker sh = { "dumper", cb_count, cb_scan, c, NULL, 0, 0 };

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
	struct kmem_slab_config sc;
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
	memset(&sc, 0, sizeof(sc));
	sc.name = "on-pa";
	sc.source = &ps;
	sc.sink = &f.rec.sink;
	sinst = test_aligned(64, kmem_slab_sizeof());
	assert_int_equal(kmem_slab_init(sinst, kmem_slab_sizeof(), &sc, &s), 0);
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
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
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
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
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

	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
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
	struct kmem_slab_config sc;
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
	memset(&sc, 0, sizeof(sc));
	sc.name = "subsys-slab";
	sc.source = &ps;
	sc.sink = &f.rec.sink;
	sinst = test_aligned(64, kmem_slab_sizeof());
	assert_int_equal(kmem_slab_init(sinst, kmem_slab_sizeof(), &sc, &s), 0);
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

/* ---- reference counts and copy-on-write ------------------------------------------ */

/* One shared block and back: the reference table may keep a frame once it
 * exists; "used" is compared with the state after this. */
static size_t refcount_warmup(struct pafx *f)
{
	void *p = kmem_pa_alloc(f->pa, 0, 0);

	assert_non_null(p);
	assert_int_equal(kmem_pa_get(f->pa, p), 0);
	assert_int_equal(kmem_pa_put(f->pa, p, 0), 1);
	assert_int_equal(kmem_pa_put(f->pa, p, 0), 0);
	return pafx_stats(f).used;
}

static void test_refcounts(void **state)
{
	struct pafx f;
	unsigned char *p;
	long local = 0;
	size_t base;
	uint64_t frees;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	base = refcount_warmup(&f);
	frees = pafx_stats(&f).frees;
	p = kmem_pa_alloc(f.pa, 1, 0);
	assert_non_null(p);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	assert_int_equal(kmem_pa_get(f.pa, p), 0);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 2);
	assert_int_equal(kmem_pa_get(f.pa, p), 0);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 3);
	assert_int_equal(kmem_pa_put(f.pa, p, 1), 2);
	assert_int_equal(kmem_pa_put(f.pa, p, 1), 1);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	assert_int_equal(pafx_stats(&f).used, base + 2);
	assert_int_equal(pafx_stats(&f).frees, frees);
	assert_int_equal(kmem_pa_put(f.pa, p, 1), 0); /* the last one frees */
	assert_int_equal(pafx_stats(&f).used, base);
	assert_int_equal(pafx_stats(&f).frees, frees + 1);
	/* freed (it sits in the dirty pool): not an allocated block */
	assert_int_equal(kmem_pa_get(f.pa, p), -EINVAL);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 0);

	/* not the start of an allocated block */
	p = kmem_pa_alloc(f.pa, 1, 0);
	assert_non_null(p);
	assert_int_equal(kmem_pa_get(f.pa, p + 4096), -EINVAL);
	assert_int_equal(kmem_pa_get(f.pa, p + 8), -EINVAL);
	assert_int_equal(kmem_pa_get(f.pa, &local), -EINVAL);
	assert_int_equal(kmem_pa_refcount(f.pa, p + 4096), 0);
	assert_int_equal(kmem_pa_refcount(f.pa, &local), 0);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);

	/* a shared block through the checked free loses one reference */
	assert_int_equal(kmem_pa_get(f.pa, p), 0);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 1), KMEM_OK);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	assert_int_equal(pafx_stats(&f).used, base + 2);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 1), KMEM_OK);
	assert_int_equal(pafx_stats(&f).used, base);

	/* many shared blocks at once (the hash table grows) */
	{
		void *q[64];

		for (unsigned i = 0; i < 64; i++) {
			q[i] = kmem_pa_alloc(f.pa, 0, 0);
			assert_non_null(q[i]);
			for (unsigned k = 0; k <= i % 3; k++)
				assert_int_equal(kmem_pa_get(f.pa, q[i]), 0);
		}
		for (unsigned i = 0; i < 64; i++)
			assert_int_equal(kmem_pa_refcount(f.pa, q[i]), 2 + i % 3);
		for (unsigned i = 0; i < 64; i++)
			for (unsigned k = 2 + i % 3; k > 0; k--)
				assert_int_equal(kmem_pa_put(f.pa, q[i], 0), k - 1);
	}
	assert_true(pafx_stats(&f).used >= base); /* the table may have grown */
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

static void test_cow(void **state)
{
	struct pafx f;
	unsigned char *p, *q, *r;
	struct hoard *h;
	size_t base;

	(void)state;
	pafx_init(&f, KMEM_PA_NO_PCP);
	base = refcount_warmup(&f);
	for (unsigned order = 0; order <= 2; order++) {
		size_t bytes = (size_t)4096 << order;
		uint64_t allocs;

		p = kmem_pa_alloc(f.pa, order, 0);
		assert_non_null(p);
		for (size_t i = 0; i < bytes; i++)
			p[i] = (unsigned char)(i * 7 + order);
		/* unshared: the block itself, nothing allocated */
		allocs = pafx_stats(&f).allocs;
		assert_ptr_equal(kmem_pa_cow(f.pa, p, order, 0), p);
		assert_int_equal(pafx_stats(&f).allocs, allocs);
		/* shared: a private copy; the old block loses one reference */
		assert_int_equal(kmem_pa_get(f.pa, p), 0);
		q = kmem_pa_cow(f.pa, p, order, 0);
		assert_non_null(q);
		assert_ptr_not_equal(q, p);
		assert_int_equal((uintptr_t)q % bytes, 0);
		assert_memory_equal(p, q, bytes);
		assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
		assert_int_equal(kmem_pa_refcount(f.pa, q), 1);
		assert_int_equal(kmem_buddy_block_order(f.b, q), (int)order);
		memset(q, 0xEE, bytes);
		for (size_t i = 0; i < bytes; i++)
			assert_int_equal(p[i], (unsigned char)(i * 7 + order));
		kmem_pa_free(f.pa, q, order);
		assert_int_equal(kmem_pa_put(f.pa, p, order), 0);
	}
	assert_int_equal(pafx_stats(&f).used, base);

	/* the copy cannot be allocated: NULL, the caller keeps its reference */
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	p[0] = 42;
	assert_int_equal(kmem_pa_get(f.pa, p), 0);
	h = hoard_new(f.pa, "plain");
	take_until(&f, h, 32);
	assert_null(kmem_pa_cow(f.pa, p, 0, KMEM_PAGE_NOWAIT));
	assert_int_equal(kmem_pa_refcount(f.pa, p), 2);
	hoard_free(h);
	r = kmem_pa_cow(f.pa, p, 0, KMEM_PAGE_NOWAIT);
	assert_non_null(r);
	assert_int_equal(r[0], 42);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	kmem_pa_free(f.pa, r, 0);
	kmem_pa_free(f.pa, p, 0);
	assert_int_equal(pafx_stats(&f).used, base);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* ---- misuse --------------------------------------------------------------------- */

static void test_misuse_checked_free(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct test_recorder *rec = &f.rec;
	unsigned char *p, *q, *r, *s, *reserved, *foreign;
	size_t used;

	(void)state;
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	/* the last 16 frames reserved before the service starts */
	reserved = (unsigned char *)f.arena + ((size_t)4 << 20) - 16 * 4096;
	assert_int_equal(kmem_buddy_reserve(f.b, reserved, 16 * 4096), 0);
	pafx_config(&f, &cfg);
	cfg.flags = KMEM_PA_NO_PCP;
	pafx_start(&f, &cfg);
	assert_int_equal(pafx_stats(&f).managed, 1008);
	foreign = test_aligned(4096, 4096);

	assert_int_equal(kmem_pa_free_checked(f.pa, NULL, 0), KMEM_OK);
	assert_int_equal(kmem_error_total(&rec->sink), 0);

	assert_int_equal(kmem_pa_free_checked(f.pa, foreign, 0), KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_FOREIGN_POINTER), 1);
	assert_int_equal(rec->last.status, KMEM_FOREIGN_POINTER);
	assert_ptr_equal(rec->last.ptr, foreign);

	p = kmem_pa_alloc(f.pa, 1, 0);
	assert_non_null(p);
	used = pafx_stats(&f).used;
	assert_int_equal(kmem_pa_free_checked(f.pa, p + 4096, 0), KMEM_INTERIOR_POINTER);
	assert_ptr_equal(rec->last.ptr, p + 4096);
	assert_int_equal(kmem_pa_free_checked(f.pa, p + 8, KMEM_BUDDY_ANY_ORDER),
			 KMEM_INTERIOR_POINTER);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_INTERIOR_POINTER), 2);
	/* wrong order: reported, nothing freed */
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 0), KMEM_WRONG_ORDER);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 2), KMEM_WRONG_ORDER);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_WRONG_ORDER), 2);
	assert_ptr_equal(rec->last.ptr, p);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1);
	assert_int_equal(pafx_stats(&f).used, used);
	assert_int_equal(pafx_stats(&f).frees, 0);
	assert_int_equal(kmem_pa_check(f.pa), 0);
	/* the right order frees; again is a double free (the block is pooled) */
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 1), KMEM_OK);
	assert_int_equal(pafx_stats(&f).used, used - 2);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 1), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, KMEM_BUDDY_ANY_ORDER), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 2);
	assert_int_equal(pafx_stats(&f).frees, 1);
	assert_int_equal(kmem_pa_check(f.pa), 0);

	/* a block the zeroer moved to the zeroed pool */
	q = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(q);
	kmem_pa_free(f.pa, q, 0);
	(void)kmem_pa_reaper_run(f.pa, BIG_BUDGET);
	assert_true(pafx_stats(&f).zeroed > 0);
	assert_int_equal(kmem_pa_free_checked(f.pa, q, 0), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 3);
	/* a block of a buddy order (no pool): free in the buddy */
	r = kmem_pa_alloc(f.pa, 5, 0);
	assert_non_null(r);
	assert_int_equal(kmem_pa_free_checked(f.pa, r, 5), KMEM_OK);
	assert_int_equal(kmem_pa_free_checked(f.pa, r, 5), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 4);
	/* a reserved frame */
	assert_int_equal(kmem_pa_free_checked(f.pa, reserved + 4096, 0), KMEM_RESERVED_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_RESERVED_FREE), 1);
	assert_int_equal(pafx_stats(&f).used, f.base_used);
	/* a shared block is not double-freed by its second reference */
	s = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(s);
	assert_int_equal(kmem_pa_get(f.pa, s), 0);
	assert_int_equal(kmem_pa_free_checked(f.pa, s, 0), KMEM_OK);
	assert_int_equal(kmem_pa_free_checked(f.pa, s, 0), KMEM_OK);
	assert_int_equal(kmem_pa_free_checked(f.pa, s, 0), KMEM_DOUBLE_FREE);

	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 5);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_CORRUPTION), 0);
	assert_int_equal(kmem_error_total(&rec->sink), 1 + 2 + 2 + 5 + 1);
	pafx_assert_sane(&f);
	assert_int_equal(kmem_error_total(&rec->sink), 11);
	free(foreign);
	pafx_fini(&f);
}

/* With thread caches: a double free into the caller's cache is found; the
 * unchecked fast path reports a bad block when it leaves the cache. */
static void test_misuse_thread_cache(void **state)
{
	struct pafx f;
	struct test_recorder *rec = &f.rec;
	unsigned char *p, *foreign;

	(void)state;
	pafx_init(&f, 0);
	foreign = test_aligned(4096, 4096);
	p = kmem_pa_alloc(f.pa, 0, 0);
	assert_non_null(p);
	kmem_pa_free(f.pa, p, 0);
	assert_int_equal(kmem_pa_free_checked(f.pa, p, 0), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_DOUBLE_FREE), 1);
	assert_int_equal(kmem_pa_check(f.pa), 0);

	kmem_pa_free(f.pa, foreign, 0);
	(void)kmem_pa_drain(f.pa);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_FOREIGN_POINTER), 1);
	p = kmem_pa_alloc(f.pa, 1, 0);
	assert_non_null(p);
	kmem_pa_free(f.pa, p + 4096, 0);
	(void)kmem_pa_drain(f.pa);
	assert_int_equal(kmem_error_count(&rec->sink, KMEM_INTERIOR_POINTER), 1);
	assert_int_equal(kmem_pa_refcount(f.pa, p), 1); /* still allocated */
	assert_int_equal(kmem_error_total(&rec->sink), 3);
	assert_int_equal(kmem_pa_check(f.pa), 0);
	kmem_pa_free(f.pa, p, 1);
	(void)kmem_pa_drain(f.pa);
	assert_int_equal(pafx_stats(&f).pcp, 0);
	assert_int_equal(kmem_error_total(&rec->sink), 3);
	pafx_assert_sane(&f);
	free(foreign);
	pafx_fini(&f);
}

/* ---- text forms --------------------------------------------------------------------- */

/* The number after the whole word `key` (then an optional colon and blanks)
 * in text, or -1. */
static long long value_of(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *s = strstr(text, key); s; s = strstr(s + 1, key)) {
		const char *e = s + kl;

		if (s != text && s[-1] != ' ' && s[-1] != '\n' && s[-1] != '\t')
			continue;
		if (*e == ':') /* "batch: 1", as in /proc/zoneinfo */
			e++;
		if (*e != ' ' && *e != '\t')
			continue;
		while (*e == ' ' || *e == '\t')
			e++;
		if ((*e >= '0' && *e <= '9') || *e == '-')
			return strtoll(e, NULL, 10);
	}
	return -1;
}

/* "name value\n" lines only */
static void check_vmstat_lines(const char *text)
{
	const char *s = text;

	assert_true(*s != '\0');
	while (*s) {
		const char *nl = strchr(s, '\n');
		const char *sp = strchr(s, ' ');

		assert_non_null(nl);
		assert_non_null(sp);
		assert_true(sp > s && sp < nl);
		for (const char *d = sp + 1; d < nl; d++)
			assert_true((*d >= '0' && *d <= '9') || (*d == '-' && d == sp + 1));
		assert_true(nl > sp + 1);
		s = nl + 1;
	}
}

static void check_snprintf(int (*fmt)(struct kmem_pagealloc *, char *, size_t),
			   struct kmem_pagealloc *pa, const char *full, int n)
{
	char small[17], mark = 'X';

	memset(small, '#', sizeof(small));
	assert_int_equal(fmt(pa, small, 16), n);
	assert_int_equal(small[15], '\0');
	assert_int_equal(small[16], '#');
	assert_memory_equal(small, full, 15);
	assert_int_equal(fmt(pa, &mark, 0), n);
	assert_int_equal(mark, 'X');
	assert_int_equal(fmt(pa, small, 1), n);
	assert_int_equal(small[0], '\0');
}

static void test_stats_text(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct kmem_pa_client_config cc;
	struct kmem_pa_client *cl;
	struct kmem_pa_stats st;
	struct hoard *h;
	char *buf;
	size_t cap = 65536;
	int n;
	void *p;

	(void)state;
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
	cfg.name = "pa-test";
	cfg.flags = KMEM_PA_NO_PCP;
	pafx_start(&f, &cfg);
	h = hoard_new(f.pa, "hoard");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &h->sh), 0);
	memset(&cc, 0, sizeof(cc));
	cc.name = "client-a";
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), 0);
	p = kmem_pa_client_alloc(cl, 0, 0);
	assert_non_null(p);
	for (unsigned i = 0; i < 30; i++)
		assert_true(hoard_take(h, 0, 0));
	assert_true(kmem_pa_reclaim(f.pa, 7, KMEM_PRESSURE_BACKGROUND) >= 7);
	(void)kmem_pa_reaper_run(f.pa, 11);
	st = pafx_stats(&f);
	buf = malloc(cap);
	assert_non_null(buf);

	n = kmem_pa_format_vmstat(f.pa, buf, cap);
	assert_true(n > 0 && (size_t)n < cap);
	assert_int_equal(strlen(buf), (size_t)n);
	check_vmstat_lines(buf);
	assert_int_equal(value_of(buf, "nr_free_pages"), (long long)st.free);
	assert_int_equal(value_of(buf, "nr_zeroed_pages"), (long long)st.zeroed);
	assert_int_equal(value_of(buf, "pgalloc"), (long long)st.allocs); /* all order 0 */
	assert_int_equal(value_of(buf, "pgzero_background"), (long long)st.zeroed_bg);
	assert_int_equal(value_of(buf, "shrinker_hoard_reclaimed"), (long long)h->released);
	check_snprintf(kmem_pa_format_vmstat, f.pa, buf, n);

	n = kmem_pa_format_zoneinfo(f.pa, buf, cap);
	assert_true(n > 0 && (size_t)n < cap);
	assert_int_equal(strlen(buf), (size_t)n);
	assert_true(strncmp(buf, "Node 0, zone", 12) == 0);
	{
		const char *s = buf + 12;

		while (*s == ' ')
			s++;
		assert_true(strncmp(s, "pa-test", 7) == 0);
	}
	assert_int_equal(value_of(buf, "free"), (long long)st.free);
	assert_int_equal(value_of(buf, "min"), (long long)st.wmark_min);
	assert_int_equal(value_of(buf, "low"), (long long)st.wmark_low);
	assert_int_equal(value_of(buf, "high"), (long long)st.wmark_high); /* before pcp's */
	assert_int_equal(value_of(buf, "managed"), (long long)st.managed);
	assert_int_equal(value_of(buf, "batch"), (long long)st.pcp_batch);
	assert_non_null(strstr(buf, "client-a"));
	check_snprintf(kmem_pa_format_zoneinfo, f.pa, buf, n);

	kmem_pa_client_free(cl, p, 0);
	kmem_pa_client_unregister(cl);
	kmem_pa_unregister_shrinker(f.pa, &h->sh);
	hoard_free(h);
	free(buf);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

/* A configured sink takes the reports instead of the buddy's. */
static void test_own_sink(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct test_recorder mine;
	long local[8];

	(void)state;
	test_recorder_init(&mine);
	pafx_buddy(&f, 4096, 6, (size_t)4 << 20);
	pafx_config(&f, &cfg);
	cfg.sink = &mine.sink;
	pafx_start(&f, &cfg);
	assert_ptr_equal(kmem_pa_error_sink(f.pa), &mine.sink);
	assert_int_equal(kmem_pa_free_checked(f.pa, local, 0), KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_error_count(&mine.sink, KMEM_FOREIGN_POINTER), 1);
	assert_int_equal(mine.calls, 1);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_watermarks),
		cmocka_unit_test(test_zero_targets_follow_watermarks),
		cmocka_unit_test(test_config_validation),
		cmocka_unit_test(test_set_watermarks),
		cmocka_unit_test(test_zero_guarantee),
		cmocka_unit_test(test_init_none_zero_flag),
		cmocka_unit_test(test_pools_exact),
		cmocka_unit_test(test_no_bgzero),
		cmocka_unit_test(test_init_on_free_counts),
		cmocka_unit_test(test_drain_and_page_source),
		cmocka_unit_test(test_reaper_hysteresis),
		cmocka_unit_test(test_thrash_detection),
		cmocka_unit_test(test_reaper_thread),
		cmocka_unit_test(test_reaper_start_stop_many),
		cmocka_unit_test(test_direct_reclaim),
		cmocka_unit_test(test_nowait_and_high),
		cmocka_unit_test(test_oom_handler),
		cmocka_unit_test(test_oom_handler_runs_unlocked),
		cmocka_unit_test(test_shrinker_scan_runs_unlocked),
		cmocka_unit_test(test_client_release_runs_unlocked),
		cmocka_unit_test(test_shrinker_protocol),
		cmocka_unit_test(test_slab_on_pagealloc),
		cmocka_unit_test(test_client_config),
		cmocka_unit_test(test_client_oom_default_policy),
		cmocka_unit_test(test_global_reclaim_above_share),
		cmocka_unit_test(test_reclaim_scope_local),
		cmocka_unit_test(test_priority_oom_victim),
		cmocka_unit_test(test_client_limits),
		cmocka_unit_test(test_client_min_guarantee),
		cmocka_unit_test(test_share_policies),
		cmocka_unit_test(test_client_page_source_slab),
		cmocka_unit_test(test_refcounts),
		cmocka_unit_test(test_cow),
		cmocka_unit_test(test_misuse_checked_free),
		cmocka_unit_test(test_misuse_thread_cache),
		cmocka_unit_test(test_stats_text),
		cmocka_unit_test(test_own_sink),
	};

	if (getenv("KMEM_TEST_FILTER")) /* run one test: KMEM_TEST_FILTER=test_cow */
		cmocka_set_test_filter(getenv("KMEM_TEST_FILTER"));
	return cmocka_run_group_tests_name("pagealloc", tests, NULL, NULL);
}
