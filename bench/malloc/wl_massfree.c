/*
 * massfree: a big heap freed at once (a program tearing down its data
 * before exit, a cache dropped): `mib` MiB in blocks of min..max KiB
 * (log-uniform, as wl-large), each written on every page, then all freed
 * in allocation order. The time of the free loop is what matters: an
 * allocator whose free runs a pass over its whole heap (or over every
 * free block) each time it decides to give memory back takes time
 * quadratic in the heap; glibc's free is a munmap or a trim per block.
 *
 * Besides the checksum it prints "info: alloc_s=A free_s=F" (wall seconds
 * of the two loops, CLOCK_MONOTONIC). Not in scripts/bench-malloc.sh (it
 * needs gigabytes); run it by hand:
 *   bench/malloc/runmeasure -e LD_PRELOAD=... -- bench/malloc/wl-massfree 4096
 *
 * usage: wl-massfree [mib=2048] [min_kib=64] [max_kib=1024] [interleave=0]
 */
#include <time.h>

#include "wl_common.h"

#define USAGE "[mib=2048] [min_kib=64] [max_kib=1024] [interleave=0]"
#define PAGE 4096

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 4, USAGE);
	size_t bytes = wl_arg(argc, argv, 1, 2048, 1, 1UL << 22, USAGE) << 20;
	size_t min = wl_arg(argc, argv, 2, 64, 1, 1UL << 20, USAGE) * 1024;
	size_t max = wl_arg(argc, argv, 3, 1024, min / 1024, 1UL << 22, USAGE) * 1024;
	size_t inter = wl_arg(argc, argv, 4, 0, 0, 1, USAGE);

	wl_rng rng;
	wl_seed(&rng, 0x3a55, 0);
	size_t cap = bytes / min + 1, n = 0, total = 0;
	unsigned char **p = malloc(cap * sizeof *p);
	size_t *sz = malloc(cap * sizeof *sz);
	if (p == NULL || sz == NULL)
		wl_oom(cap * sizeof *p);
	size_t steps = 0;
	while ((min << (steps + 1)) < max)
		steps++;
	double t0 = now_s();
	while (total < bytes && n < cap) {
		size_t base = min << wl_below(&rng, steps + 1);
		size_t s = base + wl_below(&rng, base);
		if (s > max)
			s = max;
		p[n] = wl_malloc(s);
		sz[n] = s;
		wl_fill(p[n], s, wl_mix(n));
		for (size_t off = PAGE; off + 8 < s; off += PAGE)
			p[n][off] = (unsigned char)off;
		total += s;
		n++;
	}
	double t1 = now_s();
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += wl_check(p[i], sz[i], wl_mix(i));
	double t2 = now_s();
	for (size_t i = inter; i < n; i += 1 + inter)
		free(p[i]);
	for (size_t i = 0; inter && i < n; i += 2)
		free(p[i]);
	double t3 = now_s();
	free(p);
	free(sz);
	wl_result("massfree", sum);
	printf("info: alloc_s=%.3f free_s=%.3f blocks=%zu\n", t1 - t0, t3 - t2, n);
	return 0;
}
