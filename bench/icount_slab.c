/* icount_slab.c - instructions per slab operation under callgrind:
 *   valgrind --tool=callgrind --collect-atstart=no icount-slab cache|kmalloc|glibc N
 * Collection is on only around the measured loop (see bench/icount.sh). */
#include <stdio.h>
#include <string.h>

#include <callgrind.h>

#include "slab_workloads.h"

int main(int argc, char **argv)
{
	struct sw w;
	long n;

	if (argc != 3) {
		fprintf(stderr, "usage: icount-slab cache|kmalloc|glibc N\n");
		return 2;
	}
	n = strtol(argv[2], NULL, 0);
	if (sw_setup(&w))
		return 1;
	sw_cache_pair(&w); /* first-touch effects out of the count */
	sw_kmalloc_pair(&w);
	free(malloc(64));
	CALLGRIND_TOGGLE_COLLECT;
	if (!strcmp(argv[1], "cache"))
		for (long i = 0; i < n; i++)
			sw_cache_pair(&w);
	else if (!strcmp(argv[1], "kmalloc"))
		for (long i = 0; i < n; i++)
			sw_kmalloc_pair(&w);
	else
		for (long i = 0; i < n; i++) {
			void *p = malloc(64);

			__asm__ volatile("" : : "r"(p) : "memory");
			free(p);
		}
	CALLGRIND_TOGGLE_COLLECT;
	if (kmem_cache_check(w.c))
		return 1;
	sw_teardown(&w);
	return 0;
}
