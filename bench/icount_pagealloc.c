/* icount_pagealloc.c - instructions per frame-service operation under
 * callgrind:
 *   valgrind --tool=callgrind --collect-atstart=no icount-pagealloc SCENARIO N
 * Collection is on only around the measured operations (see bench/icount.sh,
 * which also subtracts main's own instructions: the harness loop).
 * Workloads and sizes: pa_workloads.h. Scenarios (ops counted):
 *   pcp-none     N alloc+free pairs of the same order-0 frame, INIT_NONE:
 *                the thread-cache hit pair (the headline, target <= 40)
 *   pcp-zeroed   N pairs under INIT_ON_ALLOC with the zeroed pool kept warm:
 *                every 1024 pairs the zeroer refills the pool with
 *                collection off. Each free leaves a dirty frame, so the
 *                pair cannot be a pure pool hit: the count includes the
 *                refills, drains and whatever the allocator does when its
 *                cache holds dirty frames it may not hand out.
 *   pcp-inline   N pairs under INIT_ON_ALLOC | KMEM_PA_NO_BGZERO: every
 *                allocation memsets its frame (4 KiB) inline
 *   alloc-none   N order-0 allocations (batches of 1024; frees uncounted),
 *                INIT_NONE
 *   alloc-zeroed N order-0 allocations under INIT_ON_ALLOC, zeroed pool warm
 *                (batches of 1024; frees and the zeroer uncounted): what
 *                bench-pagealloc's pa_alloc_zeroed times
 *   buddy        N kmem_buddy_alloc(0)+free pairs on the same buddy (list 0
 *                kept warm), the layer below
 */
#include <stdio.h>
#include <string.h>

#include <callgrind.h>

#include "pa_workloads.h"

#define ROUND 1024u

static struct pw w;

int main(int argc, char **argv)
{
	enum kmem_pa_init_policy policy = KMEM_PA_INIT_ON_ALLOC;
	unsigned flags = 0;
	const char *sc;
	long n;

	if (argc != 3) {
		fprintf(stderr, "usage: icount-pagealloc "
				"pcp-none|pcp-zeroed|pcp-inline|alloc-none|alloc-zeroed|buddy N\n");
		return 2;
	}
	sc = argv[1];
	n = strtol(argv[2], NULL, 0);
	if (!strcmp(sc, "pcp-none") || !strcmp(sc, "alloc-none") || !strcmp(sc, "buddy"))
		policy = KMEM_PA_INIT_NONE;
	else if (!strcmp(sc, "pcp-inline"))
		flags = KMEM_PA_NO_BGZERO;
	else if (strcmp(sc, "pcp-zeroed") && strcmp(sc, "alloc-zeroed")) {
		fprintf(stderr, "icount-pagealloc: unknown scenario %s\n", sc);
		return 2;
	}
	if (pw_setup(&w, policy, flags))
		return 1;
	if (!strcmp(sc, "buddy")) {
		pw_buddy_warm(&w);
		pw_buddy_pair(&w); /* first-touch effects out of the count */
		CALLGRIND_TOGGLE_COLLECT;
		for (long i = 0; i < n; i++)
			pw_buddy_pair(&w);
		CALLGRIND_TOGGLE_COLLECT;
	} else if (!strncmp(sc, "alloc-", 6)) {
		int bg = policy != KMEM_PA_INIT_NONE;

		for (int r = 0; r < 2; r++) { /* warm up as bench-pagealloc does */
			if (bg)
				pw_rezero(&w);
			if (!pw_alloc_batch(&w, ROUND))
				return 1;
			pw_free_batch(&w, ROUND);
		}
		for (long done = 0; done < n; done += ROUND) {
			unsigned k = n - done < (long)ROUND ? (unsigned)(n - done) : ROUND;

			if (bg)
				pw_rezero(&w);
			CALLGRIND_TOGGLE_COLLECT;
			for (unsigned i = 0; i < k; i++)
				w.blk[i] = kmem_pa_alloc(w.pa, 0, 0);
			CALLGRIND_TOGGLE_COLLECT;
			for (unsigned i = 0; i < k; i++)
				if (!w.blk[i])
					return 1;
			pw_free_batch(&w, k);
		}
	} else {
		int bg = !strcmp(sc, "pcp-zeroed");

		if (bg)
			pw_rezero(&w);
		pw_pair(&w); /* the thread cache is made on first use */
		for (long done = 0; done < n; done += ROUND) {
			long k = n - done < (long)ROUND ? n - done : (long)ROUND;

			if (bg)
				pw_rezero(&w);
			CALLGRIND_TOGGLE_COLLECT;
			for (long i = 0; i < k; i++)
				pw_pair(&w);
			CALLGRIND_TOGGLE_COLLECT;
		}
	}
	if (kmem_pa_check(w.pa))
		return 1;
	if (getenv("ICOUNT_PA_STATS")) {
		char buf[4096];

		kmem_pa_format_vmstat(w.pa, buf, sizeof(buf));
		fputs(buf, stderr);
	}
	pw_teardown(&w);
	return 0;
}
