/*
 * mleak: a long allocate/free loop that leaks a little every cycle, after
 * mimalloc-bench's mleak (a program with a slow leak: its heap grows by a
 * few blocks a cycle while almost everything it allocates is freed again).
 * Each of `cycles` cycles allocates `batch` blocks (9 in 10 of 16..512
 * bytes, the rest 1..64 KiB, and one block of 256 KiB..2 MiB), writes the
 * first and last 8 bytes of each (and every page of the big one), then
 * frees them all but `leak` small ones and, every tenth cycle, one medium
 * one, which are never freed (leaked: they stay until exit). What it
 * measures: the CPU time and page faults of a policy that must keep the
 * freed memory for the next cycle (a release to the system is a refault
 * there) while the leaked blocks, scattered across the heap, pin the slabs
 * and pages they sit in; and the peak RSS the leak leaves.
 *
 * usage: wl-mleak [cycles=2000] [batch=4000] [leak=4]
 */
#include <stdbool.h>

#include "wl_common.h"

#define USAGE "[cycles=2000] [batch=4000] [leak=4]"

typedef struct {
	void *p;
	size_t size;
	uint64_t tag;
} blk;

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 3, USAGE);
	size_t cycles = wl_arg(argc, argv, 1, 2000, 1, 1UL << 30, USAGE);
	size_t batch = wl_arg(argc, argv, 2, 4000, 2, 1UL << 24, USAGE);
	size_t leak = wl_arg(argc, argv, 3, 4, 0, 1000, USAGE);
	if (leak > batch - 1)
		leak = batch - 1;

	blk *b = wl_malloc(batch * sizeof *b);
	size_t lcap = cycles * (leak + 1) + 1, ln = 0;
	blk *leaked = wl_malloc(lcap * sizeof *leaked);
	uint64_t sum = 0, serial = 0;
	wl_rng rng;
	wl_seed(&rng, 0x6d6c65616bULL, 0);

	for (size_t c = 0; c < cycles; c++) {
		for (size_t i = 0; i < batch; i++) {
			size_t sz;

			if (i == batch - 1)
				sz = wl_range(&rng, 256 << 10, 2 << 20);
			else if (wl_below(&rng, 10))
				sz = wl_range(&rng, 16, 512);
			else
				sz = wl_range(&rng, 1024, 65536);
			b[i].p = wl_malloc(sz);
			b[i].size = sz;
			b[i].tag = wl_mix(++serial);
			wl_fill(b[i].p, sz, b[i].tag);
			if (i == batch - 1)
				for (size_t o = 4096; o + 8 < sz; o += 4096)
					((char *)b[i].p)[o] = (char)o;
		}
		/* leak: the first `leak` small ones, and a medium one every
		 * tenth cycle (at random places in the batch, so they are
		 * spread over the heap) */
		size_t small_left = leak;
		bool medium = c % 10 == 0;
		for (size_t i = 0; i < batch; i++) {
			size_t j = (i * 7919 + c) % batch; /* a permutation: 7919 is prime */

			if (j != batch - 1 && b[j].p && ((small_left && b[j].size <= 512) || (medium && b[j].size > 512))) {
				if (b[j].size <= 512)
					small_left--;
				else
					medium = false;
				if (ln < lcap)
					leaked[ln++] = b[j];
				b[j].p = NULL;
			}
		}
		for (size_t i = 0; i < batch; i++) {
			if (!b[i].p)
				continue;
			sum += wl_check(b[i].p, b[i].size, b[i].tag);
			free(b[i].p);
		}
	}
	for (size_t i = 0; i < ln; i++)
		sum += wl_check(leaked[i].p, leaked[i].size, leaked[i].tag);
	/* the leak is not freed: exit takes it */
	wl_result("mleak", sum);
	printf("info: leaked_blocks=%zu\n", ln);
	free(leaked);
	free(b);
	return 0;
}
