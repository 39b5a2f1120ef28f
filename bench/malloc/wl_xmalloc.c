/*
 * xmalloc: producers allocate, consumers free, through one shared queue, in
 * the manner of the xmalloc-test of Lever & Boreham ("malloc() Performance
 * in a Multithreaded Linux Environment", USENIX 2000; in mimalloc-bench).
 * Where prodcons joins one producer to one consumer by a private ring, here
 * every consumer takes whatever batch is next, so an object is freed by any
 * consumer, and the producers' and consumers' numbers scale together: the
 * allocator's remote frees from many threads at once, and its scaling.
 *
 * `threads` producer threads and `threads` consumer threads share a queue
 * (a mutex, two condition variables, a list of at most `depth` x `threads`
 * batches). Each producer allocates its share of `objects` objects of random
 * sizes in [min, max] in batches of `batch`, tags them, and puts each batch
 * (itself a malloc'd block holding the pointers and sizes) on the queue,
 * waiting while the queue is full (until it is half empty again). Each consumer
 * takes a batch, checks and frees its objects and the batch, and waits while
 * the queue is empty (until it is half full again, or every producer is
 * done). The hysteresis keeps a producer and a consumer from waking each
 * other at every batch: the futex round trip would be what is measured. The queue's lock is taken once per batch,
 * not per object, so the allocator's work dominates.
 *
 * Prints `info: ops=N` (N = objects: one malloc and one free each) beside the
 * checksum; scripts/bench-malloc.sh turns it into operations per second of
 * wall and of CPU time, and xmalloc-1t against xmalloc-2t into scaling.
 *
 * usage: wl-xmalloc [threads=1] [objects=4m] [batch=128] [min=8] [max=512] [depth=16]
 */
#include "wl_common.h"

#define USAGE "[threads=1] [objects=4m] [batch=128] [min=8] [max=512] [depth=16]"

typedef struct batch {
	struct batch *next;
	unsigned producer;
	size_t first; /* serial number of obj[0] within its producer */
	size_t n;
	uint32_t *size;
	void *obj[];
} batch;

typedef struct {
	pthread_mutex_t lock;
	pthread_cond_t nonempty, nonfull;
	batch *head, *tail;
	size_t count, limit;
	size_t producing; /* producers not finished */
	unsigned empty_waiters, full_waiters; /* threads in pthread_cond_wait */
} queue;

typedef struct {
	pthread_t tid;
	queue *q;
	unsigned idx;
	size_t objects, batch, min, max;
	uint64_t sum;
} worker;

static void check0(int e, const char *what)
{
	if (e != 0)
		wl_die("%s: %s", what, strerror(e));
}

static uint64_t tag_of(unsigned producer, size_t k)
{
	return wl_mix(((uint64_t)producer << 44) ^ k ^ 0x78);
}

static void *producer(void *arg)
{
	worker *w = arg;
	queue *q = w->q;
	wl_rng rng;
	wl_seed(&rng, 0x78, w->idx);
	for (size_t k = 0; k < w->objects;) {
		size_t n = w->objects - k < w->batch ? w->objects - k : w->batch;
		size_t bytes = sizeof(batch) + n * (sizeof(void *) + sizeof(uint32_t));
		batch *b = wl_malloc(bytes);
		b->next = NULL;
		b->producer = w->idx;
		b->first = k;
		b->n = n;
		b->size = (uint32_t *)(void *)&b->obj[n];
		for (size_t i = 0; i < n; i++) {
			size_t sz = wl_range(&rng, w->min, w->max);
			b->obj[i] = wl_malloc(sz);
			b->size[i] = (uint32_t)sz;
			wl_fill(b->obj[i], sz, tag_of(w->idx, k + i));
		}
		k += n;
		check0(pthread_mutex_lock(&q->lock), "pthread_mutex_lock");
		while (q->count >= q->limit) {
			q->full_waiters++;
			check0(pthread_cond_wait(&q->nonfull, &q->lock), "pthread_cond_wait");
			q->full_waiters--;
		}
		if (q->tail != NULL)
			q->tail->next = b;
		else
			q->head = b;
		q->tail = b;
		q->count++;
		/* hysteresis: idle consumers wake when the queue is half full */
		if (q->empty_waiters > 0 && q->count >= (q->limit + 1) / 2)
			check0(pthread_cond_signal(&q->nonempty), "pthread_cond_signal");
		check0(pthread_mutex_unlock(&q->lock), "pthread_mutex_unlock");
	}
	check0(pthread_mutex_lock(&q->lock), "pthread_mutex_lock");
	if (--q->producing == 0)
		check0(pthread_cond_broadcast(&q->nonempty), "pthread_cond_broadcast");
	check0(pthread_mutex_unlock(&q->lock), "pthread_mutex_unlock");
	return NULL;
}

static void *consumer(void *arg)
{
	worker *w = arg;
	queue *q = w->q;
	uint64_t sum = 0;
	for (;;) {
		check0(pthread_mutex_lock(&q->lock), "pthread_mutex_lock");
		while (q->head == NULL && q->producing > 0) {
			q->empty_waiters++;
			check0(pthread_cond_wait(&q->nonempty, &q->lock), "pthread_cond_wait");
			q->empty_waiters--;
		}
		batch *b = q->head;
		if (b != NULL) {
			q->head = b->next;
			if (q->head == NULL)
				q->tail = NULL;
			q->count--;
			/* hysteresis: a full queue's producers wake when it is half empty */
			if (q->full_waiters > 0 && q->count <= q->limit / 2)
				check0(pthread_cond_broadcast(&q->nonfull), "pthread_cond_broadcast");
		}
		check0(pthread_mutex_unlock(&q->lock), "pthread_mutex_unlock");
		if (b == NULL)
			break; /* every producer finished and the queue is empty */
		for (size_t i = 0; i < b->n; i++) {
			sum += wl_check(b->obj[i], b->size[i], tag_of(b->producer, b->first + i));
			free(b->obj[i]);
		}
		free(b);
	}
	w->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 6, USAGE);
	size_t threads = wl_arg(argc, argv, 1, 1, 1, 128, USAGE);
	size_t objects = wl_arg(argc, argv, 2, 4000000, 0, 1UL << 40, USAGE);
	size_t bsize = wl_arg(argc, argv, 3, 128, 1, 1UL << 20, USAGE);
	size_t min = wl_arg(argc, argv, 4, 8, 8, 1UL << 30, USAGE);
	size_t max = wl_arg(argc, argv, 5, 512, min, UINT32_MAX, USAGE);
	size_t depth = wl_arg(argc, argv, 6, 16, 1, 1UL << 20, USAGE);

	queue q = { .limit = depth * threads, .producing = threads };
	check0(pthread_mutex_init(&q.lock, NULL), "pthread_mutex_init");
	check0(pthread_cond_init(&q.nonempty, NULL), "pthread_cond_init");
	check0(pthread_cond_init(&q.nonfull, NULL), "pthread_cond_init");
	worker *w = calloc(2 * threads, sizeof *w);
	if (w == NULL)
		wl_oom(2 * threads * sizeof *w);
	for (size_t i = 0; i < threads; i++) {
		w[i] = (worker){ .q = &q, .idx = (unsigned)i, .batch = bsize, .min = min, .max = max,
				 .objects = objects / threads + (i < objects % threads) };
		w[threads + i] = (worker){ .q = &q, .idx = (unsigned)i };
	}
	for (size_t i = 0; i < threads; i++) {
		wl_spawn(&w[threads + i].tid, consumer, &w[threads + i]);
		wl_spawn(&w[i].tid, producer, &w[i]);
	}
	uint64_t sum = 0;
	for (size_t i = 0; i < 2 * threads; i++) {
		wl_join(w[i].tid);
		sum += w[i].sum;
	}
	free(w);
	wl_result("xmalloc", sum);
	printf("info: ops=%zu\n", objects);
	return 0;
}
