/* icount_buddy.c - instruction counts per operation under callgrind.
 *
 *   valgrind --tool=callgrind --collect-atstart=no icount-buddy SCENARIO ORDER N
 *
 * runs N operations of SCENARIO (warm, steady, cold, mixed, and -nolock
 * variants of warm and steady; -fifo, -address and -group variants of any,
 * for the buddy's policies; see
 * buddy_workloads.h) with collection switched on only around the measured
 * loop, so callgrind's total divided by N is instructions per operation.
 * bench/icount.sh runs every scenario and prints the table.
 */
#include <stdio.h>
#include <string.h>

#include <callgrind.h>

#include "buddy_workloads.h"

int main(int argc, char **argv)
{
	struct bw w;
	unsigned order;
	long n;

	if (argc != 4) {
		fprintf(stderr, "usage: icount-buddy warm|warm-nolock|steady|steady-nolock|cold|mixed[-fifo|-address|-group] ORDER N\n");
		return 2;
	}
	order = (unsigned)strtoul(argv[2], NULL, 0);
	n = strtol(argv[3], NULL, 0);
	/* policy suffixes (issue 16): -fifo, -address, -group */
	if (bw_setup_policy(&w,
			    (strstr(argv[1], "-nolock") ? KMEM_BUDDY_NOLOCK : 0) |
				    (strstr(argv[1], "-group") ? KMEM_BUDDY_GROUPING : 0),
			    strstr(argv[1], "-fifo")      ? KMEM_BUDDY_FIFO
			    : strstr(argv[1], "-address") ? KMEM_BUDDY_ADDRESS
							  : KMEM_BUDDY_LIFO))
		return 1;
	if (!strncmp(argv[1], "mixed", 5)) {
		bw_mixed_init(&w, 42);
		for (long i = 0; i < 4096; i++) /* reach steady state */
			bw_mixed_step(&w);
		CALLGRIND_TOGGLE_COLLECT;
		for (long i = 0; i < n; i++)
			bw_mixed_step(&w);
		CALLGRIND_TOGGLE_COLLECT;
		bw_mixed_fini(&w);
	} else {
		if (!strncmp(argv[1], "steady", 6))
			bw_steady(&w, order);
		else if (strcmp(argv[1], "cold"))
			bw_warm(&w, order);
		bw_pair(&w, order); /* first-touch effects out of the count */
		CALLGRIND_TOGGLE_COLLECT;
		for (long i = 0; i < n; i++)
			bw_pair(&w, order);
		CALLGRIND_TOGGLE_COLLECT;
		kmem_buddy_free(w.b, w.keep);
		if (!strncmp(argv[1], "steady", 6))
			bw_unsteady(&w);
	}
	if (kmem_buddy_check(w.b))
		return 1;
	bw_teardown(&w);
	return 0;
}
