/* test_buddy_threads.c - threaded stress on one locked buddy instance.
 *
 * Several threads allocate random orders, stamp each block with their thread
 * id and a sequence number, and free (a) their own blocks after verifying the
 * stamp and (b) blocks handed over by other threads through a shared mailbox,
 * so allocation and free happen on different threads. At quiescence the
 * checker passes and the instance is back to its initial buddyinfo. Runs
 * clean under TSan, Helgrind and DRD (the instance lock is a pthread mutex).
 */
#include "buddy_fixture.h"

#include <pthread.h>

#define NTHREADS 4
#define MAILBOX 64
#define KEEP 32

struct shared {
	struct kmem_buddy *b;
	unsigned long iters;
	uint64_t seed;
	pthread_mutex_t mbox_lock;
	void *mbox[MAILBOX];
	unsigned mbox_n;
	unsigned long stamp_errors;
};

struct worker {
	struct shared *sh;
	unsigned id;
};

struct held {
	unsigned char *p;
	unsigned order;
	uint64_t tag;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	struct test_rng rng = { sh->seed + w->id * 7919 };
	struct held keep[KEEP];
	unsigned n = 0;

	for (unsigned long i = 0; i < sh->iters; i++) {
		uint64_t dice = test_below(&rng, 10);

		if (dice < 5 && n < KEEP) {
			unsigned order = (unsigned)test_below(&rng, 4);
			unsigned char *p = kmem_buddy_alloc(sh->b, order);

			if (p) {
				keep[n] = (struct held){ p, order, ((uint64_t)w->id << 48) | i };
				memcpy(p, &keep[n].tag, sizeof(uint64_t));
				memcpy(p + (4096u << order) - 8, &keep[n].tag, sizeof(uint64_t));
				n++;
			}
		} else if (dice < 8 && n > 0) {
			unsigned k = (unsigned)test_below(&rng, n);
			uint64_t a, b;

			memcpy(&a, keep[k].p, 8);
			memcpy(&b, keep[k].p + (4096u << keep[k].order) - 8, 8);
			if (a != keep[k].tag || b != keep[k].tag)
				__atomic_fetch_add(&sh->stamp_errors, 1, __ATOMIC_RELAXED);
			if (kmem_buddy_free_checked(sh->b, keep[k].p, (int)keep[k].order) != KMEM_OK)
				__atomic_fetch_add(&sh->stamp_errors, 1, __ATOMIC_RELAXED);
			keep[k] = keep[--n];
		} else if (n > 0) {
			/* hand a block to whichever thread empties the mailbox */
			void *give = NULL, *take = NULL;

			pthread_mutex_lock(&sh->mbox_lock);
			if (sh->mbox_n < MAILBOX) {
				give = keep[--n].p;
				sh->mbox[sh->mbox_n++] = give;
			}
			if (sh->mbox_n > MAILBOX / 2 && test_below(&rng, 2))
				take = sh->mbox[--sh->mbox_n];
			pthread_mutex_unlock(&sh->mbox_lock);
			if (take)
				kmem_buddy_free(sh->b, take);
		}
	}
	while (n > 0)
		kmem_buddy_free(sh->b, keep[--n].p);
	return NULL;
}

static void test_threads_shared_instance(void **state)
{
	struct fixture fx;
	struct shared sh;
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];
	char before[512], after[512];

	(void)state;
	fx_init(&fx, 4096, 6, 0);
	fx_region(&fx, 256 * 1024, 0, 2 * 1024 * 1024);
	fx_buddyinfo(&fx, before, sizeof(before));
	memset(&sh, 0, sizeof(sh));
	sh.b = fx.b;
	sh.iters = test_scale(40000);
	sh.seed = test_seed(0x7a11, "buddy threads");
	pthread_mutex_init(&sh.mbox_lock, NULL);
	for (unsigned i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ &sh, i + 1 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	while (sh.mbox_n)
		kmem_buddy_free(fx.b, sh.mbox[--sh.mbox_n]);
	pthread_mutex_destroy(&sh.mbox_lock);
	assert_int_equal(sh.stamp_errors, 0);
	assert_int_equal(kmem_error_total(&fx.rec.sink), 0);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	fx_buddyinfo(&fx, after, sizeof(after));
	assert_string_equal(before, after);
	{
		struct kmem_buddy_stats st = fx_stats(&fx);

		assert_int_equal(st.used_frames, 0);
		assert_int_equal(st.allocs, st.frees);
		assert_true(st.allocs > 0);
	}
	fx_fini(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_shared_instance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
