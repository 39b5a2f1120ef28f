/*
 * prodcons: producer-consumer pipelines (a reader thread allocating request
 * buffers that a worker thread consumes and frees). Every object is freed by
 * a different thread from the one that allocated it, while that thread is
 * still running and allocating: the allocator's remote-free path and the
 * return of memory to the producing thread's cache.
 *
 * Each pair is a producer and a consumer joined by a bounded single-producer
 * single-consumer ring of `ring` entries. The producer mallocs `items`
 * objects of random sizes in [min, max], tags them and pushes them; the
 * consumer pops, checks and frees them. A full or empty ring is waited on by
 * spinning briefly, then yielding the CPU.
 *
 * usage: wl-prodcons [pairs=1] [items=8m] [min=16] [max=256] [ring=1024]
 */
#include <sched.h>
#include <stdatomic.h>

#include "wl_common.h"

#define USAGE "[pairs=1] [items=8m] [min=16] [max=256] [ring=1024]"

typedef struct {
	void *p;
	size_t size;
} item;

typedef struct {
	/* producer's line */
	_Alignas(64) _Atomic size_t head;
	size_t tail_cache;
	/* consumer's line */
	_Alignas(64) _Atomic size_t tail;
	size_t head_cache;
	/* read-only */
	_Alignas(64) item *buf;
	size_t cap; /* power of two */
	size_t items, min, max;
	unsigned pair;
	uint64_t sum;
	pthread_t prod, cons;
} ring;

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

static uint64_t tag_of(unsigned pair, size_t k)
{
	return wl_mix(((uint64_t)pair << 48) ^ k);
}

static void *producer(void *arg)
{
	ring *r = arg;
	wl_rng rng;
	wl_seed(&rng, 0x9d, r->pair);
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	for (size_t k = 0; k < r->items; k++) {
		size_t n = wl_range(&rng, r->min, r->max);
		void *p = wl_malloc(n);
		wl_fill(p, n, tag_of(r->pair, k));
		unsigned spins = 0;
		while (head - r->tail_cache == r->cap) {
			r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
			if (head - r->tail_cache == r->cap)
				backoff(&spins);
		}
		r->buf[head & (r->cap - 1)] = (item){ p, n };
		atomic_store_explicit(&r->head, ++head, memory_order_release);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	ring *r = arg;
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t sum = 0;
	for (size_t k = 0; k < r->items; k++) {
		unsigned spins = 0;
		while (tail == r->head_cache) {
			r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
			if (tail == r->head_cache)
				backoff(&spins);
		}
		item it = r->buf[tail & (r->cap - 1)];
		atomic_store_explicit(&r->tail, ++tail, memory_order_release);
		sum += wl_check(it.p, it.size, tag_of(r->pair, k));
		free(it.p);
	}
	r->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 5, USAGE);
	size_t pairs = wl_arg(argc, argv, 1, 1, 1, 128, USAGE);
	size_t items = wl_arg(argc, argv, 2, 8000000, 0, 1UL << 40, USAGE);
	size_t min = wl_arg(argc, argv, 3, 16, 8, 1UL << 30, USAGE);
	size_t max = wl_arg(argc, argv, 4, 256, min, 1UL << 30, USAGE);
	size_t cap = wl_arg(argc, argv, 5, 1024, 1, 1UL << 24, USAGE);
	if ((cap & (cap - 1)) != 0)
		wl_die("ring (%zu) must be a power of two", cap);

	ring *rs = aligned_alloc(64, pairs * sizeof *rs);
	if (rs == NULL)
		wl_oom(pairs * sizeof *rs);
	for (size_t i = 0; i < pairs; i++) {
		ring *r = &rs[i];
		memset(r, 0, sizeof *r);
		atomic_init(&r->head, 0);
		atomic_init(&r->tail, 0);
		r->buf = calloc(cap, sizeof(item));
		if (r->buf == NULL)
			wl_oom(cap * sizeof(item));
		r->cap = cap;
		r->items = items / pairs + (i < items % pairs);
		r->min = min;
		r->max = max;
		r->pair = (unsigned)i;
	}
	for (size_t i = 0; i < pairs; i++) {
		wl_spawn(&rs[i].cons, consumer, &rs[i]);
		wl_spawn(&rs[i].prod, producer, &rs[i]);
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < pairs; i++) {
		wl_join(rs[i].prod);
		wl_join(rs[i].cons);
		sum += rs[i].sum;
		free(rs[i].buf);
	}
	free(rs);
	wl_result("prodcons", sum);
	return 0;
}
