/* test_port.c - the port layer (common/kmem_port.h): the per-thread context
 * (areas, slot maps, exit hooks run at thread exit in id order), the lock's
 * owner ("held by me" from two threads), the atomic wrappers, threads,
 * condition variables, the clock, page mapping, address-space reservation
 * (commit, decommit), aligned mappings, remapping, fork handlers and the
 * firmware hooks (the lock hooks of builds without threads counted); and
 * one thread alternating between two slab instances, or two frame services,
 * keeps both instances' per-thread caches (no "last instance" cliff); a
 * thread's frame caches go back at its exit.
 * Runs in every build: without threads the thread tests check that thread
 * start and waits say -ENOSYS, and kmem_tctx_release() runs the exit hooks.
 */
#include <errno.h>

#include <kmem/port.h>

#include "kmem_port.h"
#include "pa_fixture.h"
#include "slab_fixture.h"

#ifdef KMEM_HAVE_POSIX /* from kmem_config.h */
#include <sys/wait.h>
#include <unistd.h>
#endif

/* ---- per-thread context ------------------------------------------------ */

struct spare_area {
	uint32_t magic;
	unsigned id;
};

#define SPARE_MAGIC 0x73706172u

/* What the exit hooks saw; written by the exiting thread, read after join
 * (or after kmem_tctx_release in the same thread). */
static struct {
	unsigned log[8];
	unsigned n;
	bool exiting;		/* kmem_tctx_exiting() inside a hook */
	bool below_usable;	/* spare0's hook still found spare1's area */
	bool new_refused;	/* spare0's hook got no new spare1 area */
	unsigned inits;
} hk;

static void spare_init(void *a, unsigned id)
{
	struct spare_area *s = a;

	assert_int_equal(s->magic, 0); /* areas come zeroed */
	s->magic = SPARE_MAGIC;
	s->id = id;
	hk.inits++;
}

static void spare0_init(void *a) { spare_init(a, KMEM_TCTX_SPARE0); }
static void spare1_init(void *a) { spare_init(a, KMEM_TCTX_SPARE1); }

static struct spare_area spare_single[2];
static void spare0_exit(void *a);
static void spare1_exit(void *a);

static const struct kmem_tctx_ops spare0_ops = {
	.id = KMEM_TCTX_SPARE0,
	.size = sizeof(struct spare_area),
	.init = spare0_init,
	.exit = spare0_exit,
	.single = &spare_single[0],
};

static const struct kmem_tctx_ops spare1_ops = {
	.id = KMEM_TCTX_SPARE1,
	.size = sizeof(struct spare_area),
	.nslots = 4,
	.init = spare1_init,
	.exit = spare1_exit,
	.single = &spare_single[1],
};

static void spare0_exit(void *a)
{
	struct spare_area *s = a;
	void *below_before = kmem_tctx_area_peek(KMEM_TCTX_SPARE1);

	assert_int_equal(s->magic, SPARE_MAGIC);
	hk.log[hk.n++] = s->id;
	hk.exiting = kmem_tctx_exiting();
	/* spare1 comes later in the exit order: still there if the thread
	 * made it, and never made now */
	if (below_before)
		hk.below_usable = kmem_tctx_area(&spare1_ops) == below_before;
	else
		hk.new_refused = kmem_tctx_area(&spare1_ops) == NULL;
}

static void spare1_exit(void *a)
{
	struct spare_area *s = a;

	assert_int_equal(s->magic, SPARE_MAGIC);
	hk.log[hk.n++] = s->id;
}

static void hooks_reset(void)
{
	memset(&hk, 0, sizeof(hk));
}

/* Makes spare1's area before spare0's: the hooks still run in id order. */
static void *areas_main(void *arg)
{
	struct spare_area *b = kmem_tctx_area(&spare1_ops), *a;

	(void)arg;
	if (!b || kmem_tctx_area(&spare1_ops) != b)
		return (void *)1;
	a = kmem_tctx_area(&spare0_ops);
	if (!a || a == (void *)b || kmem_tctx_area(&spare0_ops) != a)
		return (void *)2;
	if (kmem_tctx_area_peek(KMEM_TCTX_SPARE0) != a || kmem_tctx_exiting())
		return (void *)3;
	return NULL;
}

static void *spare0_only_main(void *arg)
{
	(void)arg;
	return kmem_tctx_area(&spare0_ops) ? NULL : (void *)1;
}

static void test_exit_hooks_on_thread_exit(void **state)
{
	struct kmem_thrd t;
	void *ret = (void *)-1;

	(void)state;
	hooks_reset();
	if (!KMEM_THREADS) {
		assert_int_equal(kmem_thrd_start(&t, areas_main, NULL), -ENOSYS);
		assert_int_equal(kmem_thrd_join(&t, NULL), -ENOSYS);
		return;
	}
	assert_int_equal(kmem_thrd_start(&t, areas_main, NULL), 0);
	assert_int_equal(kmem_thrd_join(&t, &ret), 0);
	assert_null(ret);
	assert_int_equal(hk.inits, 2);
	assert_int_equal(hk.n, 2); /* each hook once, in id order */
	assert_int_equal(hk.log[0], KMEM_TCTX_SPARE0);
	assert_int_equal(hk.log[1], KMEM_TCTX_SPARE1);
	assert_true(hk.exiting);
	assert_true(hk.below_usable);

	hooks_reset();
	assert_int_equal(kmem_thrd_start(&t, spare0_only_main, NULL), 0);
	assert_int_equal(kmem_thrd_join(&t, &ret), 0);
	assert_null(ret);
	assert_int_equal(hk.n, 1);
	assert_true(hk.new_refused); /* no new area once exiting */
	/* the main thread's context was never touched */
	assert_null(kmem_tctx_area_peek(KMEM_TCTX_SPARE0));
}

static void test_release_runs_hooks_now(void **state)
{
	struct spare_area *a, *b;

	(void)state;
	hooks_reset();
	b = kmem_tctx_area(&spare1_ops);
	a = kmem_tctx_area(&spare0_ops);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(a->id, KMEM_TCTX_SPARE0);
	kmem_tctx_release();
	assert_int_equal(hk.n, 2);
	assert_int_equal(hk.log[0], KMEM_TCTX_SPARE0);
	assert_int_equal(hk.log[1], KMEM_TCTX_SPARE1);
	assert_true(hk.exiting);
	assert_false(kmem_tctx_exiting()); /* a release is not an exit */
	assert_null(kmem_tctx_area_peek(KMEM_TCTX_SPARE0));
	assert_null(kmem_tctx_area_peek(KMEM_TCTX_SPARE1));
	/* a fresh area afterwards */
	hooks_reset();
	a = kmem_tctx_area(&spare0_ops);
	assert_non_null(a);
	assert_int_equal(hk.inits, 1);
	assert_int_equal(a->magic, SPARE_MAGIC);
	kmem_tctx_release();
	assert_int_equal(hk.n, 1);
}

/* Its spare0 area, made in a new thread (which then exits). */
static void *spare0_area_main(void *arg)
{
	(void)arg;
	return kmem_tctx_area(&spare0_ops);
}

/* An exited thread's area is kept for the next thread (no unmap and map per
 * thread: process.c, kept areas), and comes to it zeroed (spare_init asserts
 * that) and initialised again. */
static void test_exited_thread_area_is_kept(void **state)
{
	struct kmem_thrd t;
	void *first = NULL, *second = NULL;

	(void)state;
	if (!KMEM_THREADS)
		skip();
	hooks_reset();
	assert_int_equal(kmem_thrd_start(&t, spare0_area_main, NULL), 0);
	assert_int_equal(kmem_thrd_join(&t, &first), 0);
	assert_non_null(first);
	assert_int_equal(kmem_thrd_start(&t, spare0_area_main, NULL), 0);
	assert_int_equal(kmem_thrd_join(&t, &second), 0);
	assert_ptr_equal(second, first); /* the same memory, no second mapping */
	assert_int_equal(hk.inits, 2);	  /* initialised for each thread, from zero */
	assert_int_equal(hk.n, 2);	  /* and its exit hook ran at each exit */
}

static void test_slot_map(void **state)
{
	struct kmem_lock *l = kmem_tctx_lock(KMEM_TCTX_SPARE1);
	unsigned s[4];

	(void)state;
	kmem_lock_acquire(l);
	for (unsigned i = 0; i < 4; i++)
		s[i] = kmem_tctx_slot_take_locked(&spare1_ops);
	kmem_lock_release(l);
	assert_int_equal(s[0], 1); /* slot 0 is never handed out */
	assert_int_equal(s[1], 2);
	assert_int_equal(s[2], 3);
	assert_int_equal(s[3], 0); /* all taken */
	assert_int_equal(kmem_tctx_slots_used(&spare1_ops), 3);
	kmem_lock_acquire(l);
	kmem_tctx_slot_put_locked(&spare1_ops, 2);
	s[1] = kmem_tctx_slot_take_locked(&spare1_ops);
	kmem_tctx_slot_put_locked(&spare1_ops, s[0]);
	kmem_tctx_slot_put_locked(&spare1_ops, s[1]);
	kmem_tctx_slot_put_locked(&spare1_ops, s[2]);
	kmem_tctx_slot_put_locked(&spare1_ops, 0); /* nothing */
	kmem_lock_release(l);
	assert_int_equal(s[1], 2);
	assert_int_equal(kmem_tctx_slots_used(&spare1_ops), 0);
}

/* ---- lock owner ---------------------------------------------------------- */

static struct {
	struct kmem_lock lock;
	struct kmem_mutex m;
	struct kmem_cond cv;
	int step;		/* m */
	bool held_other;	/* kmem_lock_held() in the other thread while main holds it */
	bool held_mine;		/* ... while it holds it itself */
} lk;

static void step_to(int step)
{
	kmem_mutex_lock(&lk.m);
	lk.step = step;
	kmem_cond_broadcast(&lk.cv);
	kmem_mutex_unlock(&lk.m);
}

static void step_wait(int step)
{
	kmem_mutex_lock(&lk.m);
	while (lk.step < step)
		assert_int_equal(kmem_cond_wait(&lk.cv, &lk.m), 0);
	kmem_mutex_unlock(&lk.m);
}

static void *lock_main(void *arg)
{
	(void)arg;
	step_wait(1); /* main holds the lock */
	lk.held_other = kmem_lock_held(&lk.lock);
	step_to(2);
	kmem_lock_acquire(&lk.lock); /* after main released it */
	lk.held_mine = kmem_lock_held(&lk.lock);
	step_to(3);
	step_wait(4); /* main looked */
	kmem_lock_release(&lk.lock);
	return NULL;
}

static void test_lock_held_by_me(void **state)
{
	struct kmem_lock off;
	struct kmem_thrd t;

	(void)state;
	assert_int_equal(kmem_lock_init(&off, false), 0);
	assert_true(kmem_lock_held(&off)); /* locking off: always "held" */
	assert_int_equal(kmem_lock_init(&lk.lock, true), 0);
	assert_int_equal(kmem_mutex_init(&lk.m), 0);
	assert_int_equal(kmem_cond_init(&lk.cv), 0);
	lk.step = 0;
	if (KMEM_LOCK_OWNER)
		assert_false(kmem_lock_held(&lk.lock));
	kmem_lock_acquire(&lk.lock);
	assert_true(kmem_lock_held(&lk.lock));
	if (!KMEM_THREADS) {
		kmem_lock_release(&lk.lock);
		goto out;
	}
	assert_int_equal(kmem_thrd_start(&t, lock_main, NULL), 0);
	step_to(1);
	step_wait(2);
	kmem_lock_release(&lk.lock);
	step_wait(3);
	if (KMEM_LOCK_OWNER) {
		assert_false(lk.held_other); /* held, but not by that thread */
		assert_false(kmem_lock_held(&lk.lock)); /* held by the other one */
	}
	assert_true(lk.held_mine);
	step_to(4);
	assert_int_equal(kmem_thrd_join(&t, NULL), 0);
	if (KMEM_LOCK_OWNER)
		assert_false(kmem_lock_held(&lk.lock));
out:
	kmem_cond_destroy(&lk.cv);
	kmem_mutex_destroy(&lk.m);
	kmem_lock_destroy(&lk.lock);
}

/* A statically initialised lock (the registries') works the same. */
static struct kmem_lock static_lock = KMEM_LOCK_INITIALIZER;

static void test_static_lock(void **state)
{
	(void)state;
	if (KMEM_LOCK_OWNER)
		assert_false(kmem_lock_held(&static_lock));
	assert_true(kmem_lock_try_acquire(&static_lock));
	assert_true(kmem_lock_held(&static_lock));
	kmem_lock_release(&static_lock);
	kmem_lock_acquire(&static_lock);
	kmem_lock_release(&static_lock);
}

/* ---- atomics ------------------------------------------------------------- */

#define ATOMIC_CASES(T, a, b)                                                       \
	do {                                                                        \
		T x = (a);                                                          \
		T e;                                                                \
		assert_true(kmem_atomic_load_relaxed(&x) == (a));                   \
		kmem_atomic_store_relaxed(&x, (b));                                 \
		assert_true(kmem_atomic_load_acquire(&x) == (b));                   \
		kmem_atomic_store_release(&x, (a));                                 \
		assert_true(kmem_atomic_exchange_acquire(&x, (b)) == (a));          \
		assert_true(kmem_atomic_exchange_relaxed(&x, (a)) == (b));          \
		assert_true(kmem_atomic_exchange_acq_rel(&x, (a)) == (a));          \
		e = (b);                                                            \
		assert_false(kmem_atomic_cas_acq_rel(&x, &e, (b)));                 \
		assert_true(e == (a)); /* the value seen */                         \
		assert_true(kmem_atomic_cas_acquire(&x, &e, (b)));                  \
		assert_true(x == (b));                                              \
		e = (b);                                                            \
		assert_true(kmem_atomic_cas_relaxed(&x, &e, (a)));                  \
		e = (a);                                                            \
		while (!kmem_atomic_cas_weak_relaxed(&x, &e, (b)))                  \
			assert_true(e == (a));                                      \
		assert_true(x == (b));                                              \
	} while (0)

#define ARITH_CASES(T, big)                                                         \
	do {                                                                        \
		T x = (big);                                                        \
		assert_true(kmem_atomic_fetch_add_relaxed(&x, 3) == (T)(big));      \
		assert_true(kmem_atomic_add_fetch_relaxed(&x, 2) == (T)((big) + 5)); \
		assert_true(kmem_atomic_fetch_sub_relaxed(&x, 4) == (T)((big) + 5)); \
		assert_true(kmem_atomic_fetch_sub_release(&x, 1) == (T)((big) + 1)); \
		assert_true(kmem_atomic_sub_fetch_release(&x, 1) == (T)((big) - 1)); \
		x = 0xf0;                                                           \
		assert_true(kmem_atomic_fetch_or_relaxed(&x, 0x0f) == 0xf0);        \
		assert_true(kmem_atomic_fetch_and_relaxed(&x, 0x3c) == 0xff);       \
		assert_true(x == 0x3c);                                             \
		x = (big);                                                          \
		kmem_owner_add_relaxed(&x, 7);                                      \
		kmem_owner_add_relaxed(&x, -(T)2);                                  \
		assert_true(x == (T)((big) + 5));                                   \
	} while (0)

static void test_atomics(void **state)
{
	int a, b;

	(void)state;
	ATOMIC_CASES(unsigned, 1u, 0xfffffffeu);
	ATOMIC_CASES(unsigned long, 2ul, ~0ul);
	ATOMIC_CASES(size_t, (size_t)3, SIZE_MAX);
	ATOMIC_CASES(uint64_t, (uint64_t)4, UINT64_MAX - 1); /* all 64 bits, on 32-bit too */
	ATOMIC_CASES(bool, false, true);
	ATOMIC_CASES(int *, &a, &b);
	ARITH_CASES(unsigned, 1000u);
	ARITH_CASES(unsigned long, 1000ul);
	ARITH_CASES(size_t, (size_t)1000);
	ARITH_CASES(uint64_t, (uint64_t)1 << 40);
	/* the older names */
	{
		unsigned long ul = 5;
		size_t sz = 5;

		kmem_atomic_inc_relaxed_ul(&ul);
		assert_int_equal(kmem_atomic_load_relaxed_ul(&ul), 6);
		kmem_atomic_store_relaxed_ul(&ul, 9);
		assert_int_equal(ul, 9);
		kmem_relaxed_add_size(&sz, (size_t)-1);
		assert_int_equal(sz, 4);
	}
}

#define COUNT_THREADS 4
#define COUNT_EACH 20000

static uint64_t counter64;
static size_t counter_sz;

static void *count_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < COUNT_EACH; i++) {
		(void)kmem_atomic_fetch_add_relaxed(&counter64, 1);
		(void)kmem_atomic_add_fetch_relaxed(&counter_sz, 2);
	}
	return NULL;
}

static void test_atomics_threads(void **state)
{
	struct kmem_thrd t[COUNT_THREADS];

	(void)state;
	if (!KMEM_THREADS)
		skip();
	for (int i = 0; i < COUNT_THREADS; i++)
		assert_int_equal(kmem_thrd_start(&t[i], count_main, NULL), 0);
	for (int i = 0; i < COUNT_THREADS; i++)
		assert_int_equal(kmem_thrd_join(&t[i], NULL), 0);
	assert_true(kmem_atomic_load_relaxed(&counter64) == (uint64_t)COUNT_THREADS * COUNT_EACH);
	assert_true(kmem_atomic_load_relaxed(&counter_sz) == (size_t)COUNT_THREADS * COUNT_EACH * 2);
}

/* ---- clock, condition variables, pages, firmware hooks ------------------- */

static void test_clock_monotonic(void **state)
{
	uint64_t prev = kmem_now_ns(), t0;

	(void)state;
	for (int i = 0; i < 10000; i++) {
		uint64_t now = kmem_now_ns();

		assert_true(now >= prev);
		prev = now;
	}
#ifdef KMEM_HAVE_POSIX
	t0 = kmem_now_ns();
	kmem_sleep_ns(2000000);
	assert_true(kmem_now_ns() - t0 >= 1000000); /* slept about 2 ms */
#else
	(void)t0;
	assert_true(prev == 0); /* no clock: time does not pass */
#endif
}

static struct {
	struct kmem_mutex m;
	struct kmem_cond cv;
	bool flag;
} cw;

static void *signal_main(void *arg)
{
	(void)arg;
	kmem_mutex_lock(&cw.m);
	cw.flag = true;
	kmem_cond_signal(&cw.cv);
	kmem_mutex_unlock(&cw.m);
	return NULL;
}

static void test_cond_timedwait(void **state)
{
	struct kmem_thrd t;
	uint64_t t0;
	int rc;

	(void)state;
	assert_int_equal(kmem_mutex_init(&cw.m), 0);
	assert_int_equal(kmem_cond_init(&cw.cv), 0);
	kmem_mutex_lock(&cw.m);
	if (!KMEM_THREADS) {
		assert_int_equal(kmem_cond_wait(&cw.cv, &cw.m), -ENOSYS);
		assert_int_equal(kmem_cond_timedwait(&cw.cv, &cw.m, 0), -ENOSYS);
		kmem_mutex_unlock(&cw.m);
		goto out;
	}
	/* a deadline in the past times out at once */
	assert_int_equal(kmem_cond_timedwait(&cw.cv, &cw.m, kmem_now_ns()), -ETIMEDOUT);
	/* nobody signals: the deadline passes (spurious wakes retry) */
	t0 = kmem_now_ns();
	do
		rc = kmem_cond_timedwait(&cw.cv, &cw.m, t0 + 3000000);
	while (rc == 0);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(kmem_now_ns() - t0 >= 3000000);
	/* signalled long before a far deadline */
	cw.flag = false;
	kmem_mutex_unlock(&cw.m);
	assert_int_equal(kmem_thrd_start(&t, signal_main, NULL), 0);
	kmem_mutex_lock(&cw.m);
	t0 = kmem_now_ns();
	while (!cw.flag)
		assert_int_equal(kmem_cond_timedwait(&cw.cv, &cw.m, t0 + 60000000000ull), 0);
	kmem_mutex_unlock(&cw.m);
	assert_int_equal(kmem_thrd_join(&t, NULL), 0);
out:
	kmem_cond_destroy(&cw.cv);
	kmem_mutex_destroy(&cw.m);
}

static void test_pages(void **state)
{
	size_t n = 64 * 1024;
	unsigned char *p = kmem_pages_map(n);

	(void)state;
#ifdef KMEM_HAVE_POSIX
	assert_non_null(p);
	for (size_t i = 0; i < n; i += 512)
		assert_int_equal(p[i], 0);
	memset(p, 0xa5, n);
#if defined(__linux__)
	assert_int_equal(kmem_pages_release(p, n), 0);
	for (size_t i = 0; i < n; i += 512)
		assert_int_equal(p[i], 0); /* released pages read zero */
#endif
	p[0] = 1; /* still mapped */
	kmem_pages_unmap(p, n);
#else
	assert_null(p); /* no mapping without an OS or a hook */
	assert_int_equal(kmem_pages_release(NULL, n), -ENOSYS);
#endif
}

#if defined(KMEM_HAVE_POSIX) && defined(__linux__)
/* The protection of the mapping holding p, from /proc/self/maps ("rw-",
 * "---"), or "" if no mapping holds it. */
static const char *prot_of(const void *p)
{
	static char perms[8];
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	perms[0] = 0;
	if (!f)
		return perms;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char pr[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pr) == 3 && (uintptr_t)p >= lo &&
		    (uintptr_t)p < hi) {
			memcpy(perms, pr, 3);
			perms[3] = 0;
			break;
		}
	}
	fclose(f);
	return perms;
}
/* Under a user-mode emulator (qemu-user, Meson's exe wrapper of a cross
 * build: tests/meson.build sets KMEM_TEST_EMULATED) /proc/self/maps and
 * mremap are the emulator's model of the guest's mappings, which lists no
 * PROT_NONE reservation and may move a shrinking mapping: those checks are
 * the kernel's, and are skipped there. */
#define ASSERT_PROT(p, s)                                                       \
	do {                                                                    \
		if (!getenv("KMEM_TEST_EMULATED"))                              \
			assert_string_equal(prot_of(p), (s));                   \
	} while (0)
#else
#define ASSERT_PROT(p, s) ((void)(p))
#endif

/* inline: unused where there is no POSIX backend (freestanding builds) */
static inline void assert_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i += 256)
		assert_int_equal(p[i], v);
	assert_int_equal(p[n - 1], v);
}

/* Reserve, commit a piece, write it, decommit part of it: the rest keeps its
 * data, the decommitted part is inaccessible and reads zero once committed
 * again. */
static void test_reserve_commit(void **state)
{
	const size_t r = (size_t)4 << 20, pg = 4096, n = 16 * pg;
	unsigned char *p = kmem_pages_reserve(r), *c;

	(void)state;
#ifdef KMEM_HAVE_POSIX
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % pg, 0);
	ASSERT_PROT(p, "---");
	c = p + r / 2;
	assert_int_equal(kmem_pages_commit(c, n), 0);
	ASSERT_PROT(c, "rw-");
	ASSERT_PROT(c + n, "---");
	ASSERT_PROT(c - pg, "---");
	assert_bytes(c, n, 0); /* never written: zero */
	memset(c, 0xa5, n);
	/* the middle quarter back to the OS */
	assert_int_equal(kmem_pages_decommit(c + n / 4, n / 2), 0);
	ASSERT_PROT(c + n / 4, "---");
	ASSERT_PROT(c + n / 4 + n / 2 - 1, "---");
	ASSERT_PROT(c, "rw-");
	ASSERT_PROT(c + n - 1, "rw-");
	assert_bytes(c, n / 4, 0xa5);
	assert_bytes(c + n / 4 + n / 2, n / 4, 0xa5);
	assert_int_equal(kmem_pages_commit(c + n / 4, n / 2), 0);
	assert_bytes(c + n / 4, n / 2, 0); /* decommitted memory comes back zero */
	assert_bytes(c, n / 4, 0xa5);
	/* committing again changes nothing */
	assert_int_equal(kmem_pages_commit(c, n), 0);
	assert_bytes(c, n / 4, 0xa5);
	/* the whole reservation goes, committed parts and all */
	kmem_pages_unreserve(p, r);
	/* an impossible reservation fails */
	assert_null(kmem_pages_reserve(SIZE_MAX - pg));
#else
	assert_null(p); /* no reservations without an OS */
	(void)c;
	(void)n;
	assert_int_equal(kmem_pages_commit((void *)(uintptr_t)pg, pg), -ENOSYS);
	assert_int_equal(kmem_pages_decommit((void *)(uintptr_t)pg, pg), -ENOSYS);
#endif
}

/* Aligned mappings: the address a multiple of the alignment, zeroed,
 * read-write, unmapped whole; at most a page of alignment is a plain map. */
static void test_map_aligned(void **state)
{
	const size_t n = (size_t)3 << 20, al = (size_t)2 << 20;
	unsigned char *p = kmem_pages_map_aligned(n, al), *q;

	(void)state;
#ifdef KMEM_HAVE_POSIX
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % al, 0);
	assert_bytes(p, n, 0);
	memset(p, 1, n);
	ASSERT_PROT(p + n - 1, "rw-");
	kmem_pages_unmap(p, n);
	q = kmem_pages_map_aligned(8192, 4096);
	assert_non_null(q);
	assert_int_equal((uintptr_t)q % 4096, 0);
	q[8191] = 1;
	kmem_pages_unmap(q, 8192);
#else
	assert_null(p);
	(void)q;
	(void)n;
	(void)al;
#endif
}

/* Remapping keeps the contents and zero-fills the growth (Linux); elsewhere
 * it says -ENOSYS and leaves the mapping alone. */
static void test_remap(void **state)
{
	const size_t n = (size_t)1 << 20;
	unsigned char *p = kmem_pages_map(n);
	void *q = NULL;
	int rc;

	(void)state;
#ifdef KMEM_HAVE_POSIX
	assert_non_null(p);
	memset(p, 0x3c, n);
	rc = kmem_pages_remap(p, n, 4 * n, &q);
#if defined(__linux__)
	assert_int_equal(rc, 0);
	assert_non_null(q);
	assert_bytes(q, n, 0x3c);
	assert_bytes((unsigned char *)q + n, 3 * n, 0);
	memset((unsigned char *)q + n, 0x3d, 3 * n);
	p = q;
	/* shrink: in place (the kernel's mremap; see ASSERT_PROT) */
	assert_int_equal(kmem_pages_remap(p, 4 * n, n / 2, &q), 0);
	if (!getenv("KMEM_TEST_EMULATED"))
		assert_ptr_equal(q, p);
	assert_bytes(q, n / 2, 0x3c);
	kmem_pages_unmap(q, n / 2);
#else
	assert_int_equal(rc, -ENOSYS);
	assert_null(q);
	assert_bytes(p, n, 0x3c);
	kmem_pages_unmap(p, n);
#endif
#else
	assert_null(p);
	assert_int_equal(kmem_pages_remap(NULL, n, 2 * n, &q), -ENOSYS);
	(void)rc;
#endif
}

/* Fork handlers run in POSIX's order: prepares in reverse order of
 * registration, parent and child handlers in order. Without threads nothing
 * is registered (there is no lock another thread could hold). */
static char fork_log[16];
static unsigned fork_n;

static void fk_prep_a(void) { fork_log[fork_n++ % 16] = 'a'; }
static void fk_prep_b(void) { fork_log[fork_n++ % 16] = 'b'; }
static void fk_parent_a(void) { fork_log[fork_n++ % 16] = 'A'; }
static void fk_parent_b(void) { fork_log[fork_n++ % 16] = 'B'; }
static void fk_child_a(void) { fork_log[fork_n++ % 16] = 'x'; }
static void fk_child_b(void) { fork_log[fork_n++ % 16] = 'y'; }

static void test_atfork(void **state)
{
	(void)state;
	assert_int_equal(kmem_atfork(fk_prep_a, fk_parent_a, fk_child_a), 0);
	assert_int_equal(kmem_atfork(fk_prep_b, fk_parent_b, fk_child_b), 0);
	assert_int_equal(kmem_atfork(NULL, NULL, NULL), 0);
#if defined(KMEM_HAVE_POSIX) && defined(KMEM_HAVE_PTHREAD)
	{
		pid_t pid;
		int status = 0;

		memset(fork_log, 0, sizeof(fork_log));
		fork_n = 0;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(strcmp(fork_log, "baxy") == 0 ? 0 : 1);
		assert_string_equal(fork_log, "baAB");
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0); /* the child saw "baxy" */
	}
#else
	assert_int_equal(fork_n, 0);
#endif
	kmem_thrd_yield(); /* returns */
}

/* The fatal hook: a misuse reported to a KMEM_ERROR_ABORT sink ends in it
 * (before abort() or a trap), with the status name and no file. The hook
 * here longjmps out, as firmware might to a recovery point. */
static struct {
	jmp_buf back;
	void *ctx;
	const char *what, *file;
	int line, calls;
} fatal_seen;

static void fw_fatal(void *ctx, const char *what, const char *file, int line)
{
	fatal_seen.ctx = ctx;
	fatal_seen.what = what;
	fatal_seen.file = file;
	fatal_seen.line = line;
	fatal_seen.calls++;
	longjmp(fatal_seen.back, 1);
}

static void test_fatal_hook(void **state)
{
	struct kmem_port_hooks h = { .fatal = fw_fatal, .ctx = &fatal_seen };
	struct kmem_error_report r = {
		.status = KMEM_DOUBLE_FREE, .component = "test", .instance = "fatal",
		.ptr = NULL, .order = -1, .detail = "raised by the test",
	};
	static struct kmem_error_sink sink; /* static: survives the longjmp */

	(void)state;
	memset(&fatal_seen, 0, sizeof(fatal_seen));
	kmem_error_sink_init(&sink);
	sink.flags = KMEM_ERROR_ABORT | KMEM_ERROR_QUIET;
	kmem_port_set_hooks(&h);
	if (setjmp(fatal_seen.back) == 0) {
		kmem_error_raise(&sink, &r);
		fail_msg("kmem_error_raise returned with KMEM_ERROR_ABORT");
	}
	kmem_port_set_hooks(NULL);
	assert_int_equal(fatal_seen.calls, 1);
	assert_ptr_equal(fatal_seen.ctx, &fatal_seen);
	assert_string_equal(fatal_seen.what, kmem_status_name(KMEM_DOUBLE_FREE));
	assert_null(fatal_seen.file);
	assert_int_equal(fatal_seen.line, 0);
	assert_int_equal(kmem_error_count(&sink, KMEM_DOUBLE_FREE), 1); /* counted first */
}

static struct {
	uint64_t now;
	unsigned maps, unmaps, releases, sleeps;
	unsigned char buf[256];
} fw;

static uint64_t fw_now(void *ctx)
{
	assert_ptr_equal(ctx, &fw);
	return fw.now;
}

static void fw_sleep(void *ctx, uint64_t ns)
{
	(void)ctx;
	fw.now += ns;
	fw.sleeps++;
}

static void *fw_map(void *ctx, size_t bytes)
{
	(void)ctx;
	fw.maps++;
	return bytes <= sizeof(fw.buf) ? fw.buf : NULL;
}

static void fw_unmap(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	(void)bytes;
	assert_ptr_equal(p, fw.buf);
	fw.unmaps++;
}

static int fw_release(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	memset(p, 0, bytes);
	fw.releases++;
	return 0;
}

static void test_firmware_hooks(void **state)
{
	struct kmem_port_hooks h = {
		.now_ns = fw_now, .sleep_ns = fw_sleep, .map = fw_map, .unmap = fw_unmap,
		.release = fw_release, .ctx = &fw,
	};
	struct kmem_port_hooks clock_only = { .now_ns = fw_now, .ctx = &fw };
	void *p;

	(void)state;
	memset(&fw, 0, sizeof(fw));
	fw.now = 1000;
	kmem_port_set_hooks(&h);
	assert_true(kmem_now_ns() == 1000);
	kmem_sleep_ns(500);
	assert_true(kmem_now_ns() == 1500);
	p = kmem_pages_map(128);
	assert_ptr_equal(p, fw.buf);
	assert_null(kmem_pages_map(4096));
	memset(p, 7, 128);
	assert_int_equal(kmem_pages_release(p, 128), 0);
	assert_int_equal(fw.buf[5], 0);
	kmem_pages_unmap(p, 128);
	assert_int_equal(fw.maps, 2);
	assert_int_equal(fw.unmaps, 1);
	assert_int_equal(fw.releases, 1);
	assert_int_equal(fw.sleeps, 1);
	/* a hook left NULL uses the built-in backend */
	kmem_port_set_hooks(&clock_only);
	assert_true(kmem_now_ns() == 1500);
	p = kmem_pages_map(4096);
#ifdef KMEM_HAVE_POSIX
	assert_non_null(p);
	kmem_pages_unmap(p, 4096);
#else
	assert_null(p);
#endif
	assert_int_equal(fw.maps, 2);
	kmem_port_set_hooks(NULL); /* built-in again */
#ifdef KMEM_HAVE_POSIX
	assert_true(kmem_now_ns() != 1500); /* CLOCK_MONOTONIC: far past 1.5 us */
#else
	assert_true(kmem_now_ns() == 0);
#endif
}

/* ---- the firmware's lock hooks (builds without threads) ------------------- */

/* Counting lock hooks: each handle is a slot of hkl.state; they record every
 * call and catch what a real RTOS mutex would not survive (a lock taken
 * twice: a deadlock; an unlock of a lock not held; a destroy of a held or
 * unknown lock). */
#define HOOK_LOCKS 512
static struct {
	unsigned created, destroyed, locks, unlocks, depth, max_depth, misuse;
	bool fail_next;
	unsigned char state[HOOK_LOCKS]; /* 0 never made, 1 free, 2 held, 3 destroyed */
} hkl;

static unsigned hook_index(void *ctx, void *lock)
{
	unsigned char *p = lock;

	assert_ptr_equal(ctx, &hkl);
	assert_true(p >= hkl.state && p < hkl.state + HOOK_LOCKS);
	return (unsigned)(p - hkl.state);
}

static void *hook_lock_create(void *ctx)
{
	assert_ptr_equal(ctx, &hkl);
	if (hkl.fail_next) {
		hkl.fail_next = false;
		return NULL;
	}
	assert_true(hkl.created < HOOK_LOCKS);
	hkl.state[hkl.created] = 1;
	return &hkl.state[hkl.created++];
}

static void hook_lock_destroy(void *ctx, void *lock)
{
	unsigned i = hook_index(ctx, lock);

	hkl.misuse += hkl.state[i] != 1;
	hkl.state[i] = 3;
	hkl.destroyed++;
}

static void hook_lock(void *ctx, void *lock)
{
	unsigned i = hook_index(ctx, lock);

	hkl.misuse += hkl.state[i] != 1;
	hkl.state[i] = 2;
	hkl.locks++;
	if (++hkl.depth > hkl.max_depth)
		hkl.max_depth = hkl.depth;
}

static void hook_unlock(void *ctx, void *lock)
{
	unsigned i = hook_index(ctx, lock);

	hkl.misuse += hkl.state[i] != 2;
	hkl.state[i] = 1;
	hkl.unlocks++;
	hkl.depth--;
}

#ifdef KMEM_LOCK_HOOKS /* -Dlock=hooks, builds without threads */
#define HOOKS_BUILT 1
#else
#define HOOKS_BUILT 0
#endif

/* Buddy, slab (a cache and kmalloc) and the frame service, created with the
 * lock hooks installed: in a -Dlock=hooks build every lock goes through
 * them, balanced and never nested on itself, the frame service has no
 * per-thread cache (every task would share the one), and destroy frees
 * every lock; a lock_create failure fails the init. Other builds (threads,
 * or no locks) never call them. */
static void test_lock_hooks(void **state)
{
	const struct kmem_port_hooks h = {
		.lock_create = hook_lock_create, .lock_destroy = hook_lock_destroy,
		.lock = hook_lock, .unlock = hook_unlock, .ctx = &hkl,
	};
	struct sfx sf;
	struct pafx pf;
	struct kmem_cache *c;
	struct kmem_pa_stats ps;
	struct kmem_buddy_config bc;
	struct kmem_buddy *tb = NULL;
	void *p, *q, *inst;
	unsigned before;

	(void)state;
	memset(&hkl, 0, sizeof(hkl));
	kmem_port_set_hooks(&h);
	sfx_init(&sf);
	pafx_init_full(&pf, 4096, 6, (size_t)4 << 20, 0, KMEM_PA_INIT_NONE);
	if (!HOOKS_BUILT) { /* kmem's own locks, or none */
		assert_int_equal(hkl.created, 0);
		assert_int_equal(hkl.locks, 0);
	} else {
		assert_true(hkl.created > 3); /* buddy, slab instance, its caches, ... */
		assert_int_equal(hkl.locks, hkl.unlocks);
	}
	before = hkl.locks;
	c = kmem_cache_create(sf.s, "hooked", 48, 0, 0, NULL, NULL, NULL);
	assert_non_null(c);
	for (int i = 0; i < 100; i++) {
		p = kmem_cache_alloc(c);
		q = kmem_alloc(sf.s, 100);
		assert_non_null(p);
		assert_non_null(q);
		kmem_cache_free(c, p);
		kmem_free(sf.s, q);
		p = kmem_pa_alloc(pf.pa, 0, 0);
		assert_non_null(p);
		kmem_pa_free(pf.pa, p, 0);
	}
	assert_int_equal(kmem_cache_check(c), 0);
	ps = pafx_stats(&pf);
	if (HOOKS_BUILT) {
		assert_true(hkl.locks >= before + 4 * 100); /* every call locked */
		assert_int_equal(hkl.locks, hkl.unlocks);
		assert_int_equal(hkl.depth, 0);
		assert_true(hkl.max_depth >= 1);
		assert_int_equal(ps.pcp_hits, 0); /* no per-thread cache */
		assert_int_equal(ps.pcp, 0);
	}
	kmem_cache_destroy(c);
	pafx_fini(&pf);
	sfx_fini(&sf);
	assert_int_equal(hkl.destroyed, hkl.created); /* every lock freed */
	assert_int_equal(hkl.misuse, 0);
	/* lock_create fails: so does the init, and nothing leaks */
	kmem_buddy_config_init(&bc);
	inst = test_aligned(64, kmem_buddy_sizeof(&bc));
	hkl.fail_next = true;
	assert_int_equal(kmem_buddy_init(inst, kmem_buddy_sizeof(&bc), &bc, &tb),
			 HOOKS_BUILT ? -ENOMEM : 0);
	if (!HOOKS_BUILT)
		kmem_buddy_destroy(tb);
	free(inst);
	kmem_port_set_hooks(NULL);
	assert_int_equal(hkl.destroyed, hkl.created);
}

/* ---- two instances used alternately by one thread ------------------------ */

/* A thread alternating between caches of two slab instances keeps both
 * caches' magazines: after the first refill of each, every operation is a
 * magazine hit, none reaches the slab layer. */
static void test_two_instances_alternating(void **state)
{
	struct sfx fa, fb;
	struct kmem_cache *ca, *cb;
	struct kmem_cache_stats sa, sb;
	const int rounds = 2000;

	(void)state;
	sfx_init(&fa);
	sfx_init(&fb);
	ca = kmem_cache_create(fa.s, "alt-a", 64, 0, 0, NULL, NULL, NULL);
	cb = kmem_cache_create(fb.s, "alt-b", 64, 0, 0, NULL, NULL, NULL);
	assert_non_null(ca);
	assert_non_null(cb);
	for (int i = 0; i < rounds; i++) {
		void *p = kmem_cache_alloc(ca), *q = kmem_cache_alloc(cb);

		assert_non_null(p);
		assert_non_null(q);
		kmem_cache_free(ca, p);
		kmem_cache_free(cb, q);
	}
	kmem_cache_get_stats(ca, &sa);
	kmem_cache_get_stats(cb, &sb);
	/* one refill each (half a magazine from the slabs), then hits only;
	 * unless the build's few slots (-Dmag_slots=16: two instances' kmalloc
	 * classes take them all) left these caches without magazines */
	if (sa.mag_size && sb.mag_size) {
		assert_true(sa.allocs <= sa.mag_size);
		assert_true(sb.allocs <= sb.mag_size);
		assert_true(sa.depot_gets + sb.depot_gets == 0);
	} else {
		assert_true(KMEM_MAG_SLOTS < 64);
	}
	assert_int_equal(kmem_cache_check(ca), 0);
	assert_int_equal(kmem_cache_check(cb), 0);
	kmem_cache_destroy(ca);
	kmem_cache_destroy(cb);
	sfx_fini(&fa);
	sfx_fini(&fb);
}

/* The same for two frame services: each keeps the thread's frame cache
 * (found by the instance's slot, not "the last instance used"), so after the
 * first refill of each every allocation is a fast-path cache hit. */
static void test_two_frame_services_alternating(void **state)
{
	struct pafx fa, fb;
	struct kmem_pa_stats sa, sb;
	const unsigned rounds = 2000;

	(void)state;
	pafx_init_full(&fa, 4096, 6, (size_t)4 << 20, 0, KMEM_PA_INIT_NONE);
	pafx_init_full(&fb, 4096, 6, (size_t)4 << 20, 0, KMEM_PA_INIT_NONE);
	for (unsigned i = 0; i < rounds; i++) {
		void *p = kmem_pa_alloc(fa.pa, 0, 0), *q = kmem_pa_alloc(fb.pa, 0, 0);

		assert_non_null(p);
		assert_non_null(q);
		kmem_pa_free(fa.pa, p, 0);
		kmem_pa_free(fb.pa, q, 0);
	}
	sa = pafx_stats(&fa);
	sb = pafx_stats(&fb);
	assert_int_equal(sa.pcp_refills, 1);
	assert_int_equal(sb.pcp_refills, 1);
	/* all but the first allocation of each came from the fast path */
	assert_true(sa.pcp_hits >= rounds - 1);
	assert_true(sb.pcp_hits >= rounds - 1);
	pafx_assert_sane(&fa);
	pafx_assert_sane(&fb);
	pafx_fini(&fa);
	pafx_fini(&fb);
}

/* Thread exit hands a thread's frame caches back to their instances. */
static void *pa_user_main(void *arg)
{
	struct pafx *f = arg;
	void *p = kmem_pa_alloc(f->pa, 0, 0);

	kmem_pa_free(f->pa, p, 0);
	return p ? NULL : (void *)1;
}

static void test_frame_cache_back_at_thread_exit(void **state)
{
	struct pafx f;
	struct kmem_thrd t;
	void *ret = (void *)1;

	(void)state;
	if (!KMEM_THREADS)
		skip();
	pafx_init_full(&f, 4096, 6, (size_t)4 << 20, 0, KMEM_PA_INIT_NONE);
	assert_int_equal(kmem_thrd_start(&t, pa_user_main, &f), 0);
	assert_int_equal(kmem_thrd_join(&t, &ret), 0);
	assert_null(ret);
	assert_int_equal(pafx_stats(&f).pcp, 0); /* nothing left in thread caches */
	assert_int_equal(pafx_stats(&f).pcp_drains > 0, 1);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_hooks_on_thread_exit),
		cmocka_unit_test(test_release_runs_hooks_now),
		cmocka_unit_test(test_exited_thread_area_is_kept),
		cmocka_unit_test(test_slot_map),
		cmocka_unit_test(test_lock_held_by_me),
		cmocka_unit_test(test_static_lock),
		cmocka_unit_test(test_atomics),
		cmocka_unit_test(test_atomics_threads),
		cmocka_unit_test(test_clock_monotonic),
		cmocka_unit_test(test_cond_timedwait),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_map_aligned),
		cmocka_unit_test(test_remap),
		cmocka_unit_test(test_atfork),
		cmocka_unit_test(test_firmware_hooks),
		cmocka_unit_test(test_fatal_hook),
		cmocka_unit_test(test_lock_hooks),
		cmocka_unit_test(test_two_instances_alternating),
		cmocka_unit_test(test_two_frame_services_alternating),
		cmocka_unit_test(test_frame_cache_back_at_thread_exit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
