/*
 * larson: the server model of Larson & Krishnan's benchmark (also in
 * mimalloc-bench): worker threads replace random objects in a table of live
 * objects, and each table outlives the thread working on it, so most objects
 * are freed by a different thread from the one that allocated them, often
 * after that thread has exited.
 *
 * There are `threads` tables of `slots` objects each. In every round,
 * `threads` fresh threads are started; in round r thread i works on table
 * (i + r) % threads: `ops` times it frees a random slot's object (allocated
 * by a thread of an earlier round) and allocates a replacement of a random
 * size in [min, max]. Rounds are separated by joining the threads, so each
 * table is only ever touched by one thread at a time.
 *
 * Prints `info: ops=N` (N = threads x rounds x ops: one free and one malloc
 * each) beside the checksum; scripts/bench-malloc.sh turns it into
 * operations per second of wall and of CPU time, and larson-1t against
 * larson-2t (the same work per thread) into scaling.
 *
 * Built twice: wl-larson calls malloc and free; wl-larson-sized (compiled
 * with WL_LARSON_SIZED, linked with the C++ runtime) allocates with C++
 * `operator new` and frees with the sized `operator delete(void *, size_t)`,
 * as mimalloc-bench's larson-sized does. glibc 2.36 has no free_sized (C23),
 * so the sized delete is the one sized free every allocator here is reached
 * by: jemalloc, tcmalloc and mimalloc export their own (sdallocx,
 * tc_free_sized, mi_free_size behind it); an allocator that does not (glibc,
 * kmem's drop-in today) gets libstdc++'s, which calls free. The operators
 * are called through their mangled names from C (the Itanium C++ ABI's
 * _Znwm and _ZdlPvm; _Znwj and _ZdlPvj where size_t is 32 bits); a failed
 * `operator new` throws, which from C terminates the program.
 *
 * usage: wl-larson [threads=4] [rounds=40] [ops=100k] [slots=5000] [min=16] [max=1000]
 *        wl-larson-sized (the same arguments)
 */
#include "wl_common.h"

#ifdef WL_LARSON_SIZED
#if SIZE_MAX == UINT32_MAX
void *wl_cxx_new(size_t size) __asm__("_Znwj");
void wl_cxx_delete_sized(void *p, size_t size) __asm__("_ZdlPvj");
#else
void *wl_cxx_new(size_t size) __asm__("_Znwm");
void wl_cxx_delete_sized(void *p, size_t size) __asm__("_ZdlPvm");
#endif
#define WL_NAME "larson-sized"
#define wl_alloc(n) wl_cxx_new(n)
#define wl_release(p, n) wl_cxx_delete_sized((p), (n))
#else
#define WL_NAME "larson"
#define wl_alloc(n) wl_malloc(n)
#define wl_release(p, n) ((void)(n), free(p))
#endif

#define USAGE "[threads=4] [rounds=40] [ops=100k] [slots=5000] [min=16] [max=1000]"

typedef struct {
	void *p;
	uint32_t size;
	uint32_t gen;
} slot;

typedef struct {
	slot *s;
	size_t n;
	uint64_t sum;
} table;

typedef struct {
	pthread_t tid;
	table *t;
	unsigned tidx, round;
	size_t ops, min, max;
} worker;

static uint64_t tag_of(unsigned tbl, size_t i, uint32_t gen)
{
	return wl_mix(((uint64_t)tbl << 40) ^ ((uint64_t)gen << 24) ^ i);
}

static void *run(void *arg)
{
	worker *w = arg;
	table *t = w->t;
	wl_rng rng;
	wl_seed(&rng, w->tidx, w->round);
	uint64_t sum = 0;
	for (size_t k = 0; k < w->ops; k++) {
		size_t i = wl_below(&rng, t->n);
		slot *o = &t->s[i];
		sum += wl_check(o->p, o->size, tag_of(w->tidx, i, o->gen));
		wl_release(o->p, o->size);
		size_t n = wl_range(&rng, w->min, w->max);
		o->p = wl_alloc(n);
		o->size = (uint32_t)n;
		o->gen++;
		wl_fill(o->p, n, tag_of(w->tidx, i, o->gen));
	}
	t->sum += sum;
	return NULL;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 6, USAGE);
	size_t threads = wl_arg(argc, argv, 1, 4, 1, 256, USAGE);
	size_t rounds = wl_arg(argc, argv, 2, 40, 0, 1UL << 30, USAGE);
	size_t ops = wl_arg(argc, argv, 3, 100000, 0, 1UL << 40, USAGE);
	size_t slots = wl_arg(argc, argv, 4, 5000, 1, 1UL << 26, USAGE);
	size_t min = wl_arg(argc, argv, 5, 16, 8, 1UL << 30, USAGE);
	size_t max = wl_arg(argc, argv, 6, 1000, min, 1UL << 30, USAGE);

	table *tabs = calloc(threads, sizeof *tabs);
	worker *w = calloc(threads, sizeof *w);
	if (tabs == NULL || w == NULL)
		wl_oom(threads * (sizeof *tabs + sizeof *w));
	/* the main thread fills the tables: round 0 already frees remotely */
	wl_rng rng;
	wl_seed(&rng, 0x1a, 0);
	for (size_t t = 0; t < threads; t++) {
		tabs[t].n = slots;
		tabs[t].s = calloc(slots, sizeof(slot));
		if (tabs[t].s == NULL)
			wl_oom(slots * sizeof(slot));
		for (size_t i = 0; i < slots; i++) {
			size_t n = wl_range(&rng, min, max);
			tabs[t].s[i].p = wl_alloc(n);
			tabs[t].s[i].size = (uint32_t)n;
			wl_fill(tabs[t].s[i].p, n, tag_of((unsigned)t, i, 0));
		}
	}
	for (size_t r = 0; r < rounds; r++) {
		for (size_t i = 0; i < threads; i++) {
			size_t t = (i + r) % threads;
			w[i] = (worker){ .t = &tabs[t], .tidx = (unsigned)t, .round = (unsigned)r,
					 .ops = ops, .min = min, .max = max };
			wl_spawn(&w[i].tid, run, &w[i]);
		}
		for (size_t i = 0; i < threads; i++)
			wl_join(w[i].tid);
	}
	uint64_t sum = 0;
	for (size_t t = 0; t < threads; t++) {
		for (size_t i = 0; i < slots; i++) {
			slot *o = &tabs[t].s[i];
			sum += wl_check(o->p, o->size, tag_of((unsigned)t, i, o->gen));
			wl_release(o->p, o->size);
		}
		free(tabs[t].s);
		sum += tabs[t].sum;
	}
	free(tabs);
	free(w);
	wl_result(WL_NAME, sum);
	printf("info: ops=%zu\n", threads * rounds * ops);
	return 0;
}
