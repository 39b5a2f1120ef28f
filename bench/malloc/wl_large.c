/*
 * large: large-block traffic (I/O buffers, decoded images, per-request
 * arenas): blocks of 64 KiB .. 4 MiB, each written on every page after
 * allocation (so fresh memory costs its page faults) and freed soon after.
 * This is where an allocator chooses between mmap/munmap per block, caching
 * freed blocks, and returning their pages to the kernel.
 *
 * A table of `live` blocks is kept; every operation replaces a random one.
 * Sizes are log-uniform: a power of two from min up to max/2 (at random),
 * plus a uniform extra below the same power, clamped to max.
 *
 * usage: wl-large [ops=10000] [live=8] [min_kib=64] [max_kib=4096]
 */
#include "wl_common.h"

#define USAGE "[ops=10000] [live=8] [min_kib=64] [max_kib=4096]"

static size_t pick_size(wl_rng *rng, size_t min, size_t max)
{
	size_t steps = 0;
	while ((min << (steps + 1)) < max)
		steps++;
	size_t base = min << wl_below(rng, steps + 1);
	size_t n = base + wl_below(rng, base);
	return n > max ? max : n;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 4, USAGE);
	size_t ops = wl_arg(argc, argv, 1, 10000, 0, 1UL << 40, USAGE);
	size_t live = wl_arg(argc, argv, 2, 8, 1, 1UL << 20, USAGE);
	size_t min = wl_arg(argc, argv, 3, 64, 1, 1UL << 20, USAGE) * 1024;
	size_t max = wl_arg(argc, argv, 4, 4096, min / 1024, 1UL << 22, USAGE) * 1024;

	wl_rng rng;
	wl_seed(&rng, 0x1a53, 0);
	wl_buf *b = calloc(live, sizeof *b);
	if (b == NULL)
		wl_oom(live * sizeof *b);
	uint64_t sum = 0, gen = 0;
	for (size_t i = 0; i < live; i++) {
		b[i].size = pick_size(&rng, min, max);
		b[i].p = wl_malloc(b[i].size);
		b[i].tag = wl_mix(gen++);
		wl_buf_touch(&b[i]);
	}
	for (size_t k = 0; k < ops; k++) {
		wl_buf *o = &b[wl_below(&rng, live)];
		sum += wl_buf_drop(o, 16);
		o->size = pick_size(&rng, min, max);
		o->p = wl_malloc(o->size);
		o->tag = wl_mix(gen++);
		wl_buf_touch(o);
	}
	for (size_t i = 0; i < live; i++)
		sum += wl_buf_drop(&b[i], 16);
	free(b);
	wl_result("large", sum);
	return 0;
}
