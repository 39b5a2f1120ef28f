/*
 * short32: many short-lived fixed-size allocations (temporary nodes, small
 * strings built and dropped at once; fixed-size requests freed soon after, as
 * in xmalloc-test). Each step allocates a burst of 1..`burst` objects of
 * `size` bytes, writes them, and frees them again in reverse order: the live
 * set never exceeds one burst, so with burst <= 7 glibc's per-thread tcache
 * (7 blocks per size) serves every request without touching its arenas. This
 * is the case glibc is built for, in time and in RSS; an allocator should at
 * least not lose much here.
 *
 * usage: wl-short32 [threads=1] [steps=16m] [burst=4] [size=32]
 */
#include "wl_common.h"

#define USAGE "[threads=1] [steps=16m] [burst=4] [size=32]"
#define MAX_BURST 256

typedef struct {
	pthread_t tid;
	unsigned idx;
	size_t steps, burst, size;
	uint64_t sum;
} worker;

static void *run(void *arg)
{
	worker *w = arg;
	wl_rng rng;
	wl_seed(&rng, 0x32, w->idx);
	void *p[MAX_BURST];
	uint64_t sum = 0, serial = (uint64_t)w->idx << 48;
	for (size_t k = 0; k < w->steps; k++) {
		size_t n = wl_range(&rng, 1, w->burst);
		for (size_t i = 0; i < n; i++) {
			p[i] = wl_malloc(w->size);
			wl_fill(p[i], w->size, serial + i);
		}
		for (size_t i = n; i-- > 0;) {
			sum += wl_check(p[i], w->size, serial + i);
			free(p[i]);
		}
		serial += n;
	}
	w->sum = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 4, USAGE);
	size_t threads = wl_arg(argc, argv, 1, 1, 1, 256, USAGE);
	size_t steps = wl_arg(argc, argv, 2, 16000000, 0, 1UL << 40, USAGE);
	size_t burst = wl_arg(argc, argv, 3, 4, 1, MAX_BURST, USAGE);
	size_t size = wl_arg(argc, argv, 4, 32, 8, 1UL << 20, USAGE);

	worker *w = calloc(threads, sizeof *w);
	if (w == NULL)
		wl_oom(threads * sizeof *w);
	for (size_t t = 0; t < threads; t++) {
		w[t].idx = (unsigned)t;
		w[t].steps = steps / threads + (t < steps % threads);
		w[t].burst = burst;
		w[t].size = size;
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
	wl_result("short32", sum);
	return 0;
}
