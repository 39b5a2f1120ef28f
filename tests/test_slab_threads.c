/* test_slab_threads.c - several threads allocate from shared caches and
 * kmalloc, stamp their objects, and free both their own objects and objects
 * handed over by other threads (alloc here, free there). At quiescence every
 * stamp was intact, the cache checkers and the buddy checker pass, and after
 * destroy every frame is back. Runs clean under TSan, Helgrind and DRD. */
#include "slab_fixture.h"

#include <pthread.h>
#include <stdbool.h>

#define NTHREADS 4
#define MAILBOX 128
#define KEEP 48

struct shared {
	struct kmem_slab *s;
	struct kmem_cache *cache;
	unsigned long iters;
	uint64_t seed;
	pthread_mutex_t mbox_lock;
	struct item {
		void *p;
		uint64_t tag;
		size_t size; /* 0: from the cache */
	} mbox[MAILBOX];
	unsigned mbox_n;
	unsigned long bad;
};

struct worker {
	struct shared *sh;
	unsigned id;
};

static void stamp(void *p, size_t n, uint64_t tag)
{
	memcpy(p, &tag, 8);
	memcpy((char *)p + n - 8, &tag, 8);
}

static bool stamped(const void *p, size_t n, uint64_t tag)
{
	uint64_t a, b;

	memcpy(&a, p, 8);
	memcpy(&b, (const char *)p + n - 8, 8);
	return a == tag && b == tag;
}

static void release(struct shared *sh, struct item *it)
{
	size_t n = it->size ? it->size : 96;

	if (!stamped(it->p, n, it->tag))
		__atomic_fetch_add(&sh->bad, 1, __ATOMIC_RELAXED);
	if (it->size)
		kmem_free(sh->s, it->p);
	else
		kmem_cache_free(sh->cache, it->p);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct test_rng rng = { sh->seed + w->id * 104729 };
	struct item keep[KEEP];
	unsigned n = 0;

	for (unsigned long i = 0; i < sh->iters; i++) {
		uint64_t dice = test_below(&rng, 10);

		if (dice < 5 && n < KEEP) {
			struct item it = { NULL, ((uint64_t)w->id << 48) | i, 0 };

			if (test_below(&rng, 2)) {
				it.size = 16 + (size_t)test_below(&rng, 3000); /* two stamps fit */
				it.p = kmem_alloc(sh->s, it.size);
			} else {
				it.p = kmem_cache_alloc(sh->cache);
			}
			if (it.p) {
				stamp(it.p, it.size ? it.size : 96, it.tag);
				keep[n++] = it;
			}
		} else if (dice < 8 && n > 0) {
			unsigned k = (unsigned)test_below(&rng, n);

			release(sh, &keep[k]);
			keep[k] = keep[--n];
		} else if (n > 0) {
			struct item take = { NULL, 0, 0 };

			pthread_mutex_lock(&sh->mbox_lock);
			if (sh->mbox_n < MAILBOX)
				sh->mbox[sh->mbox_n++] = keep[--n];
			if (sh->mbox_n > MAILBOX / 2 && test_below(&rng, 2))
				take = sh->mbox[--sh->mbox_n];
			pthread_mutex_unlock(&sh->mbox_lock);
			if (take.p)
				release(sh, &take); /* freed on another thread than it was allocated */
		}
	}
	while (n > 0)
		release(sh, &keep[--n]);
	return NULL;
}

static void test_slab_threads(void **state)
{
	struct sfx f;
	struct shared sh;
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];

	(void)state;
	sfx_init_sized(&f, 4096, 10, (size_t)32 << 20);
	memset(&sh, 0, sizeof(sh));
	sh.s = f.s;
	sh.cache = kmem_cache_create(f.s, "shared", 96, 0, 0, NULL, NULL, NULL);
	sh.iters = test_scale(30000);
	sh.seed = test_seed(0x51ab, "slab threads");
	pthread_mutex_init(&sh.mbox_lock, NULL);
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ &sh, i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	while (sh.mbox_n)
		release(&sh, &sh.mbox[--sh.mbox_n]);
	pthread_mutex_destroy(&sh.mbox_lock);
	assert_int_equal(sh.bad, 0);
	if (kmem_error_total(&f.rec.sink))
		print_message("last report: %s\n", f.rec.line);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	assert_int_equal(kmem_cache_check(sh.cache), 0);
	/* the workers' magazines went to the depot when they exited; shrink
	 * flushes it and this thread's magazines */
	(void)kmem_cache_shrink(sh.cache);
	assert_int_equal(sfx_stats(sh.cache).active_objs, 0);
	assert_true(sfx_stats(sh.cache).allocs > 0);
	assert_int_equal(kmem_buddy_check(f.b), 0);
	kmem_cache_destroy(sh.cache);
	sfx_fini(&f); /* no leak reports expected; every frame back */
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
}

/* ---- magazines and thread lifetimes ------------------------------------------------ */

struct churner {
	struct kmem_cache *c;
	int n;
};

static void *churn_main(void *arg)
{
	struct churner *ch = arg;
	void *p[500];

	for (int i = 0; i < ch->n; i++)
		p[i] = kmem_cache_alloc(ch->c);
	for (int i = 0; i < ch->n; i++)
		kmem_cache_free(ch->c, p[i]);
	return NULL;
}

/* A thread that exits gives its magazines back: counters folded, objects
 * in the depot (full magazines) or back in the slabs (partial ones). */
static void test_thread_exit_returns_magazines(void **state)
{
	struct sfx f;
	struct churner ch;
	pthread_t t;
	struct kmem_cache_stats st;

	(void)state;
	sfx_init(&f);
	ch.c = kmem_cache_create(f.s, "exit", 64, 0, 0, NULL, NULL, NULL);
	ch.n = 500;
	for (int round = 0; round < 3; round++) {
		assert_int_equal(pthread_create(&t, NULL, churn_main, &ch), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		st = sfx_stats(ch.c);
		assert_int_equal(st.mag_allocs, 500u * (round + 1));
		assert_int_equal(st.mag_frees, 500u * (round + 1));
		/* nothing is left in a thread: every allocated object sits in the depot */
		assert_int_equal(st.active_objs, st.depot_objs);
		assert_true(st.depot_full > 0);
		assert_int_equal(kmem_cache_check(ch.c), 0);
	}
	(void)kmem_cache_shrink(ch.c);
	assert_int_equal(sfx_stats(ch.c).active_objs, 0);
	kmem_cache_destroy(ch.c);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

struct holder {
	struct kmem_cache *a, *b;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int phase;
};

static void wait_phase(struct holder *h, int phase)
{
	pthread_mutex_lock(&h->m);
	while (h->phase < phase)
		pthread_cond_wait(&h->cv, &h->m);
	pthread_mutex_unlock(&h->m);
}

static void set_phase(struct holder *h, int phase)
{
	pthread_mutex_lock(&h->m);
	h->phase = phase;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->m);
}

static void *holder_main(void *arg)
{
	struct holder *h = arg;
	struct churner ch = { h->a, 100 };

	churn_main(&ch); /* 100 free objects of a in this thread's magazines */
	set_phase(h, 1);
	wait_phase(h, 2); /* meanwhile a is destroyed, b created (a's slot again) */
	ch.c = h->b;
	churn_main(&ch);
	return NULL;
}

/* Destroying a cache takes its objects out of a live thread's magazines;
 * the slot then serves a new cache in that thread. */
static void test_destroy_while_thread_holds_magazines(void **state)
{
	struct sfx f;
	struct holder h;
	pthread_t t;
	struct kmem_cache_stats st;

	(void)state;
	sfx_init(&f);
	memset(&h, 0, sizeof(h));
	pthread_mutex_init(&h.m, NULL);
	pthread_cond_init(&h.cv, NULL);
	h.a = kmem_cache_create(f.s, "a", 48, 0, 0, NULL, NULL, NULL);
	assert_int_equal(pthread_create(&t, NULL, holder_main, &h), 0);
	wait_phase(&h, 1);
	st = sfx_stats(h.a);
	assert_true(st.active_objs >= 100); /* in the thread's magazines */
	kmem_cache_destroy(h.a); /* no leak: those objects are free */
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	h.b = kmem_cache_create(f.s, "b", 48, 0, 0, NULL, NULL, NULL);
	assert_int_equal(sfx_stats(h.b).mag_size, 61);
	set_phase(&h, 2);
	assert_int_equal(pthread_join(t, NULL), 0);
	st = sfx_stats(h.b);
	assert_int_equal(st.mag_allocs, 100);
	assert_int_equal(kmem_cache_check(h.b), 0);
	kmem_cache_destroy(h.b);
	pthread_cond_destroy(&h.cv);
	pthread_mutex_destroy(&h.m);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* A kmalloc object freed into another thread's magazine (still "used" in
 * its slab's bitmap) and freed again here: the free mark catches it, at
 * once, through kmem_free and kmem_free_checked; nothing aliases after the
 * thread exits and its magazines go back. */
struct xfree {
	struct holder h;
	struct kmem_slab *s;
	void *p[4];
};

static void *xfree_main(void *arg)
{
	struct xfree *x = arg;

	for (unsigned i = 0; i < 4; i++)
		kmem_free(x->s, x->p[i]); /* into this thread's magazine */
	set_phase(&x->h, 1);
	wait_phase(&x->h, 2);
	return NULL;
}

static void test_double_free_across_threads(void **state)
{
	struct sfx f;
	struct xfree x;
	pthread_t t;
	void *q[64];

	(void)state;
	sfx_init(&f);
	memset(&x, 0, sizeof(x));
	pthread_mutex_init(&x.h.m, NULL);
	pthread_cond_init(&x.h.cv, NULL);
	x.s = f.s;
	for (unsigned i = 0; i < 4; i++)
		x.p[i] = kmem_alloc(f.s, i < 2 ? 24 : 3000);
	assert_int_equal(pthread_create(&t, NULL, xfree_main, &x), 0);
	wait_phase(&x.h, 1);
	kmem_free(f.s, x.p[0]);
	kmem_free(f.s, x.p[2]);
	assert_int_equal(kmem_free_checked(f.s, x.p[1]), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_free_checked(f.s, x.p[3]), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_DOUBLE_FREE), 4);
	set_phase(&x.h, 2);
	assert_int_equal(pthread_join(t, NULL), 0); /* its magazines to the depot */
	for (unsigned i = 0; i < 64; i++) {
		q[i] = kmem_alloc(f.s, i % 2 ? 24 : 3000);
		for (unsigned j = 0; j < i; j++)
			assert_ptr_not_equal(q[i], q[j]);
	}
	assert_int_equal(kmem_slab_check(f.s), 0);
	for (unsigned i = 0; i < 64; i++)
		kmem_free(f.s, q[i]);
	assert_int_equal(kmem_error_total(&f.rec.sink), 4);
	pthread_cond_destroy(&x.h.cv);
	pthread_mutex_destroy(&x.h.m);
	sfx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slab_threads),
		cmocka_unit_test(test_thread_exit_returns_magazines),
		cmocka_unit_test(test_destroy_while_thread_holds_magazines),
		cmocka_unit_test(test_double_free_across_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
