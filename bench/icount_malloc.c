/* icount_malloc.c - instructions per malloc+free pair of whatever malloc the
 * process has (glibc's, or one preloaded: the drop-in, mimalloc, ...), under
 * callgrind (bench/icount.sh runs it):
 *   valgrind --tool=callgrind --collect-atstart=no icount-malloc MODE N [free]
 * MODE:
 *   simple  glibc-simple's pattern (glibc's benchtests/bench-malloc-simple.c
 *           as mimalloc-bench runs it): for blocks of 16, 32 and 64 bytes,
 *           for batches of 25, 100, 400 and 1600 blocks, N / batch times:
 *           allocate the batch (each block written, int by int), then free
 *           it in the same order; in the main thread, then in a new thread,
 *           then in the main thread again (N = 2000000 there; 3 * 3 * 4 * N
 *           pairs in all, roughly);
 *   pair64  malloc(64) then free, N times.
 * Collection is on only around the measured part; with a third argument
 * "free" the program toggles nothing, for a run with --toggle-collect=free
 * (free's own instructions, inclusive). Prints the number of pairs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <callgrind.h>

static long iters;
static int *arr[1600];
static const int batch[4] = { 25, 100, 400, 1600 };

static void run(size_t size, int n, long *pairs)
{
	for (long j = 0; j < iters / n; j++) {
		for (int i = 0; i < n; i++) {
			arr[i] = malloc(size);
			for (size_t g = 0; g < size / sizeof(int); g++)
				arr[i][g] = (int)g;
		}
		for (int i = 0; i < n; i++)
			free(arr[i]);
		*pairs += n;
	}
}

static long thread_pairs;
static size_t thread_size;
static int toggle;

/* callgrind's collection state is per thread: this one turns its own on */
static void *thread_run(void *arg)
{
	if (toggle)
		CALLGRIND_TOGGLE_COLLECT;
	for (int k = 0; k < 4; k++)
		run(thread_size, batch[k], &thread_pairs);
	if (toggle)
		CALLGRIND_TOGGLE_COLLECT;
	return arg;
}

int main(int argc, char **argv)
{
	long pairs = 0;
	pthread_t t;

	if (argc < 3 || (strcmp(argv[1], "simple") && strcmp(argv[1], "pair64"))) {
		fprintf(stderr, "usage: icount-malloc simple|pair64 N [free]\n");
		return 2;
	}
	iters = strtol(argv[2], NULL, 0);
	toggle = !(argc > 3 && !strcmp(argv[3], "free"));
	for (int i = 0; i < 64; i++) /* first-touch effects out of the count */
		free(malloc(16 + (size_t)(i % 4) * 16));
	if (toggle)
		CALLGRIND_TOGGLE_COLLECT;
	if (!strcmp(argv[1], "pair64")) {
		for (long i = 0; i < iters; i++) {
			void *p = malloc(64);

			__asm__ volatile("" : : "r"(p) : "memory");
			free(p);
		}
		pairs = iters;
	} else {
		for (size_t size = 16; size <= 64; size *= 2) {
			for (int k = 0; k < 4; k++)
				run(size, batch[k], &pairs);
			thread_size = size;
			if (pthread_create(&t, NULL, thread_run, NULL) || pthread_join(t, NULL))
				return 1;
			for (int k = 0; k < 4; k++)
				run(size, batch[k], &pairs);
		}
		pairs += thread_pairs;
	}
	if (toggle)
		CALLGRIND_TOGGLE_COLLECT;
	printf("%ld\n", pairs);
	return 0;
}
