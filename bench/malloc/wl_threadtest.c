/*
 * threadtest: Hoard's threadtest (Berger et al., ASPLOS 2000; also in
 * mimalloc-bench): each thread allocates a batch of small objects of one
 * size, then frees the whole batch, again and again. A batch is far larger
 * than any per-thread cache, so most objects go back to the allocator's
 * shared structures (for kmem: magazines overflow the depot and objects
 * return to their slabs) and come out of them again: the slow paths that
 * per-thread caches do not hide, and slabs that empty and refill at every
 * batch.
 *
 * There are `threads` threads, each running `iters` iterations of a batch of
 * `objects` objects of `size` bytes. With remote = 0 a thread frees its own
 * batch. With remote = 1 a thread hands each batch to the next thread (a
 * one-slot mailbox per thread) and frees the batch handed to it by the
 * previous one, so every object is freed by a different thread from the one
 * that allocated it (threads >= 2), both threads allocating all the while.
 * A full or empty mailbox is waited on by spinning briefly, then yielding.
 *
 * Prints `info: ops=N` (N = threads * iters * objects: one malloc and one
 * free each) beside the checksum, for bench-malloc.sh's throughput table.
 *
 * usage: wl-threadtest [threads=2] [iters=50] [objects=50k] [size=8] [remote=0]
 */
#include <sched.h>
#include <stdatomic.h>

#include "wl_common.h"

#define USAGE "[threads=2] [iters=50] [objects=50k] [size=8] [remote=0]"

typedef struct {
	_Alignas(64) _Atomic(void **) box; /* a batch handed to this thread, or NULL */
	pthread_t tid;
	unsigned idx, nthreads;
	size_t iters, objects, size;
	int remote;
	void **batch[3];	/* batch arrays: one being filled, one in the next
				 * thread's mailbox, one it may still be freeing */
	uint64_t sum;
} worker;

static worker *workers;

static void backoff(unsigned *spins)
{
	if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	} else {
		sched_yield();
	}
}

static uint64_t tag_of(unsigned thread, size_t iter, size_t k)
{
	return wl_mix(((uint64_t)thread << 56) ^ ((uint64_t)iter << 28) ^ k);
}

static uint64_t free_batch(void **b, size_t objects, size_t size, unsigned owner, size_t iter)
{
	uint64_t sum = 0;
	for (size_t k = 0; k < objects; k++) {
		sum += wl_check(b[k], size, tag_of(owner, iter, k));
		free(b[k]);
	}
	return sum;
}

static void *run(void *arg)
{
	worker *w = arg;
	worker *next = &workers[(w->idx + 1) % w->nthreads];
	unsigned prev = (w->idx + w->nthreads - 1) % w->nthreads;
	uint64_t sum = 0;

	for (size_t it = 0; it < w->iters; it++) {
		void **b = w->batch[it % 3];
		for (size_t k = 0; k < w->objects; k++) {
			b[k] = wl_malloc(w->size);
			wl_fill(b[k], w->size, tag_of(w->idx, it, k));
		}
		if (!w->remote) {
			sum += free_batch(b, w->objects, w->size, w->idx, it);
			continue;
		}
		/* hand the batch to the next thread, then free the previous one's */
		unsigned spins = 0;
		void **expect = NULL;
		while (!atomic_compare_exchange_weak_explicit(&next->box, &expect, b,
							      memory_order_release,
							      memory_order_relaxed)) {
			expect = NULL;
			backoff(&spins);
		}
		spins = 0;
		void **got;
		while ((got = atomic_exchange_explicit(&w->box, NULL, memory_order_acquire)) == NULL)
			backoff(&spins);
		sum += free_batch(got, w->objects, w->size, prev, it);
	}
	w->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 5, USAGE);
	size_t threads = wl_arg(argc, argv, 1, 2, 1, 256, USAGE);
	size_t iters = wl_arg(argc, argv, 2, 50, 0, 1UL << 32, USAGE);
	size_t objects = wl_arg(argc, argv, 3, 50000, 1, 1UL << 28, USAGE);
	size_t size = wl_arg(argc, argv, 4, 8, 8, 1UL << 20, USAGE);
	int remote = (int)wl_arg(argc, argv, 5, 0, 0, 1, USAGE);

	/* (remote with one thread: it hands each batch to itself) */
	workers = aligned_alloc(64, threads * sizeof *workers);
	if (workers == NULL)
		wl_oom(threads * sizeof *workers);
	for (size_t i = 0; i < threads; i++) {
		worker *w = &workers[i];
		memset(w, 0, sizeof *w);
		atomic_init(&w->box, NULL);
		w->idx = (unsigned)i;
		w->nthreads = (unsigned)threads;
		w->iters = iters;
		w->objects = objects;
		w->size = size;
		w->remote = remote;
		for (int j = 0; j < 3; j++) {
			w->batch[j] = malloc(objects * sizeof(void *));
			if (w->batch[j] == NULL)
				wl_oom(objects * sizeof(void *));
		}
	}
	for (size_t i = 0; i < threads; i++)
		wl_spawn(&workers[i].tid, run, &workers[i]);
	uint64_t sum = 0;
	for (size_t i = 0; i < threads; i++) {
		wl_join(workers[i].tid);
		sum += workers[i].sum;
	}
	for (size_t i = 0; i < threads; i++) {
		for (int j = 0; j < 3; j++)
			free(workers[i].batch[j]);
	}
	free(workers);
	wl_result("threadtest", sum);
	printf("info: ops=%zu\n", threads * iters * objects);
	return 0;
}
