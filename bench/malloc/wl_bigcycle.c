/*
 * bigcycle: big buffers replaced in a cycle (mimalloc-bench's malloc-large:
 * decoded images, I/O buffers, per-request arenas of megabytes): `live`
 * buffers of min..max MiB, one replaced at random each cycle, the new one
 * allocated before the old one is freed (as unique_ptr::reset does), and
 * written on every page (so memory an allocator gave back to the kernel
 * costs its page faults again). An allocator that keeps recently freed
 * memory for reuse faults only while the working set grows; one that
 * returns it at once (or maps and unmaps each buffer) faults every page of
 * every cycle.
 *
 * Sizes are uniform in [min, max] MiB, rounded to 4 KiB.
 *
 * usage: wl-bigcycle [cycles=1000] [live=20] [min_mib=5] [max_mib=25]
 */
#include "wl_common.h"

#define USAGE "[cycles=1000] [live=20] [min_mib=5] [max_mib=25]"

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 4, USAGE);
	size_t cycles = wl_arg(argc, argv, 1, 1000, 0, 1UL << 40, USAGE);
	size_t live = wl_arg(argc, argv, 2, 20, 1, 1UL << 16, USAGE);
	size_t min = wl_arg(argc, argv, 3, 5, 1, 1UL << 14, USAGE) << 20;
	size_t max = wl_arg(argc, argv, 4, 25, min >> 20, 1UL << 14, USAGE) << 20;

	wl_rng rng;
	wl_seed(&rng, 0xb16c, 0);
	wl_buf *b = calloc(live, sizeof *b);
	if (b == NULL)
		wl_oom(live * sizeof *b);
	uint64_t sum = 0, gen = 0;
	for (size_t i = 0; i < live; i++) {
		b[i].size = wl_range(&rng, min, max) & ~(size_t)(WL_PAGE - 1);
		b[i].p = wl_malloc(b[i].size);
		b[i].tag = wl_mix(gen++);
		wl_buf_touch(&b[i]);
	}
	for (size_t k = 0; k < cycles; k++) {
		wl_buf nb, *o = &b[wl_below(&rng, live)];
		nb.size = wl_range(&rng, min, max) & ~(size_t)(WL_PAGE - 1);
		nb.p = wl_malloc(nb.size); /* the new one first, then the old one goes */
		nb.tag = wl_mix(gen++);
		wl_buf_touch(&nb);
		sum += wl_buf_drop(o, 64);
		*o = nb;
	}
	for (size_t i = 0; i < live; i++)
		sum += wl_buf_drop(&b[i], 64);
	free(b);
	wl_result("bigcycle", sum);
	return 0;
}
