/* icount_slab.c - instructions per slab operation under callgrind:
 *   valgrind --tool=callgrind --collect-atstart=no icount-slab MODE N
 * MODE: cache, kmalloc, glibc (fast-path pairs), or one of the slow paths
 *   nomag  alloc+free pairs of a KMEM_CACHE_NOMAGAZINE cache: every
 *          operation takes the cache lock and checks the object, and
 *          takes from or frees into the cache's current slab (decision
 *          42: the slab lists are not touched while it neither fills nor
 *          empties; no magazine in front);
 *   churn  64-byte objects of the magazine cache allocated in runs of 1024
 *          and freed again: magazine exchanges with the depot, refills and
 *          flushes, slabs made and released (N pairs in all).
 * Collection is on only around the measured loop (see bench/icount.sh). */
#include <stdio.h>
#include <string.h>

#include <callgrind.h>

#include "slab_workloads.h"

int main(int argc, char **argv)
{
	static void *run[1024];
	struct kmem_cache *nomag;
	void *keep;
	struct sw w;
	long n;

	if (argc != 3) {
		fprintf(stderr, "usage: icount-slab cache|kmalloc|glibc|nomag|churn N\n");
		return 2;
	}
	n = strtol(argv[2], NULL, 0);
	if (sw_setup(&w))
		return 1;
	nomag = kmem_cache_create(w.s, "nomag64", 64, 0, KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	if (!nomag || !(keep = kmem_cache_alloc(nomag)))
		return 1; /* kept: the slab stays partial */
	sw_cache_pair(&w); /* first-touch effects out of the count */
	sw_kmalloc_pair(&w);
	kmem_cache_free(nomag, kmem_cache_alloc(nomag));
	free(malloc(64));
	CALLGRIND_TOGGLE_COLLECT;
	if (!strcmp(argv[1], "cache"))
		for (long i = 0; i < n; i++)
			sw_cache_pair(&w);
	else if (!strcmp(argv[1], "kmalloc"))
		for (long i = 0; i < n; i++)
			sw_kmalloc_pair(&w);
	else if (!strcmp(argv[1], "nomag"))
		for (long i = 0; i < n; i++)
			kmem_cache_free(nomag, kmem_cache_alloc(nomag));
	else if (!strcmp(argv[1], "churn"))
		for (long done = 0, k; done < n; done += k) {
			k = n - done < 1024 ? n - done : 1024;
			for (long i = 0; i < k; i++)
				run[i] = kmem_cache_alloc(w.c);
			for (long i = 0; i < k; i++)
				kmem_cache_free(w.c, run[i]);
		}
	else
		for (long i = 0; i < n; i++) {
			void *p = malloc(64);

			__asm__ volatile("" : : "r"(p) : "memory");
			free(p);
		}
	CALLGRIND_TOGGLE_COLLECT;
	if (kmem_cache_check(w.c) || kmem_cache_check(nomag))
		return 1;
	kmem_cache_free(nomag, keep);
	kmem_cache_destroy(nomag);
	sw_teardown(&w);
	return 0;
}
