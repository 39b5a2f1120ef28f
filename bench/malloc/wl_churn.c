/*
 * churn: small-object churn against a large live set (the shape of
 * mimalloc-bench's cfrac / espresso: a long-running program holding ~100k
 * small objects and replacing them in random order).
 *
 * Each thread owns a private table of live objects; every operation picks a
 * random slot, checks and frees its object and allocates a new one of a
 * random size in [min, max]. Nothing crosses threads: with threads > 1 this is
 * the thread-local scalability case (per-thread caches, no remote frees).
 * The total work (ops and live set) is split evenly between the threads.
 *
 * usage: wl-churn [threads=1] [ops=5m] [live=100k] [min=16] [max=512]
 */
#include "wl_common.h"

#define USAGE "[threads=1] [ops=5m] [live=100k] [min=16] [max=512]"

typedef struct {
	void *p;
	uint32_t size;
	uint32_t gen;
} slot;

typedef struct {
	pthread_t tid;
	unsigned idx;
	size_t ops, live, min, max;
	uint64_t sum;
} worker;

static uint64_t tag_of(unsigned thread, size_t i, uint32_t gen)
{
	return wl_mix(((uint64_t)thread << 48) ^ ((uint64_t)i << 20) ^ gen);
}

static void *run(void *arg)
{
	worker *w = arg;
	wl_rng rng;
	wl_seed(&rng, 0xc4u, w->idx);
	slot *s = calloc(w->live, sizeof *s);
	if (s == NULL)
		wl_oom(w->live * sizeof *s);
	uint64_t sum = 0;

	for (size_t i = 0; i < w->live; i++) {
		size_t n = wl_range(&rng, w->min, w->max);
		s[i].p = wl_malloc(n);
		s[i].size = (uint32_t)n;
		wl_fill(s[i].p, n, tag_of(w->idx, i, 0));
	}
	for (size_t k = 0; k < w->ops; k++) {
		size_t i = wl_below(&rng, w->live);
		slot *o = &s[i];
		sum += wl_check(o->p, o->size, tag_of(w->idx, i, o->gen));
		free(o->p);
		size_t n = wl_range(&rng, w->min, w->max);
		o->p = wl_malloc(n);
		o->size = (uint32_t)n;
		o->gen++;
		wl_fill(o->p, n, tag_of(w->idx, i, o->gen));
	}
	for (size_t i = 0; i < w->live; i++) {
		sum += wl_check(s[i].p, s[i].size, tag_of(w->idx, i, s[i].gen));
		free(s[i].p);
	}
	free(s);
	w->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 5, USAGE);
	size_t threads = wl_arg(argc, argv, 1, 1, 1, 256, USAGE);
	size_t ops = wl_arg(argc, argv, 2, 5000000, 0, 1UL << 40, USAGE);
	size_t live = wl_arg(argc, argv, 3, 100000, 1, 1UL << 28, USAGE);
	size_t min = wl_arg(argc, argv, 4, 16, 8, 1UL << 30, USAGE);
	size_t max = wl_arg(argc, argv, 5, 512, min, 1UL << 30, USAGE);
	if (live < threads)
		wl_die("live (%zu) must be at least threads (%zu)", live, threads);

	worker *w = calloc(threads, sizeof *w);
	if (w == NULL)
		wl_oom(threads * sizeof *w);
	for (size_t t = 0; t < threads; t++) {
		w[t].idx = (unsigned)t;
		w[t].ops = ops / threads + (t < ops % threads);
		w[t].live = live / threads + (t < live % threads);
		w[t].min = min;
		w[t].max = max;
	}
	if (threads == 1) {
		run(&w[0]);
	} else {
		for (size_t t = 0; t < threads; t++)
			wl_spawn(&w[t].tid, run, &w[t]);
		for (size_t t = 0; t < threads; t++)
			wl_join(w[t].tid);
	}
	uint64_t sum = 0;
	for (size_t t = 0; t < threads; t++)
		sum += w[t].sum;
	free(w);
	wl_result("churn", sum);
	return 0;
}
