/* double_free.c - sec-double-free: a block freed twice (one misuse per run,
 * bench/security/README.md).
 *
 * Usage: sec-double-free immediate|interleaved|delayed|thread SIZE
 *   immediate    free(p); free(p)
 *   interleaved  free(p); free(q); free(p)
 *   delayed      free(p); 64 blocks of other sizes allocated and freed;
 *                free(p) (p itself is not handed out again in between by an
 *                allocator that keeps sizes apart)
 *   thread       a second thread frees p and exits; then the main thread
 *                frees p again
 * Then three blocks of SIZE are allocated: effect=aliased when two of them
 * (or one and a block still live) are the same memory, the corruption a
 * double free leads to.
 * SIZE: small, medium, page, huge (sec.h).
 */
#include "sec.h"

#include <pthread.h>

static void *thread_free(void *p)
{
	free(p);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t size;
	char *p, *q = NULL, *r[3];
	int aliased = 0;

	if (argc != 3)
		sec_setup_failed("usage: sec-double-free immediate|interleaved|delayed|thread SIZE");
	size = sec_size(argv[2]);
	p = sec_malloc(size);
	memset(p, 'P', sec_min(size, 64));

	if (!strcmp(argv[1], "immediate")) {
		free(p);
		free(p);
	} else if (!strcmp(argv[1], "interleaved")) {
		q = sec_malloc(size);
		free(p);
		free(q);
		free(p);
		q = NULL; /* freed: not live */
	} else if (!strcmp(argv[1], "delayed")) {
		/* other sizes: half and a quarter of SIZE, and 200 bytes, so
		 * that p's own size class is left alone */
		size_t other[3] = { size / 2 + 1, size / 4 + 1, 200 };
		char *tmp[64];

		free(p);
		for (int i = 0; i < 64; i++) {
			tmp[i] = sec_malloc(other[i % 3]);
			memset(tmp[i], 'T', 16);
		}
		for (int i = 0; i < 64; i++)
			free(tmp[i]);
		free(p);
	} else if (!strcmp(argv[1], "thread")) {
		pthread_t t;

		if (pthread_create(&t, NULL, thread_free, p) || pthread_join(t, NULL))
			sec_setup_failed("pthread_create");
		free(p);
	} else {
		sec_setup_failed("MODE must be immediate, interleaved, delayed or thread");
	}
	for (int i = 0; i < 3; i++) {
		r[i] = malloc(size);
		for (int j = 0; r[i] && j < i; j++)
			if (r[j] && sec_overlap(r[i], size, r[j], size))
				aliased = 1;
		if (r[i] && q && sec_overlap(r[i], size, q, size))
			aliased = 1;
	}
	sec_missed(aliased ? "aliased" : "none");
	return 0;
}
