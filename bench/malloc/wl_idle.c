/*
 * idle: a program that goes idle after a mass free (a server after a cache
 * flush, redis after FLUSHALL, an interpreter between requests): it
 * allocates `mib` MiB of small and medium objects (4 in 5 of 16..512 bytes,
 * the rest 1..32 KiB), writes them, frees all but one in `keep_one_in`
 * (at random), and then sleeps for `idle_s` seconds without calling the
 * allocator. What matters is the resident memory after the idle period:
 * an allocator that returns free memory only from inside its own calls
 * (on the next big free, or malloc_trim) keeps it all; one with a
 * background thread or timer returns it while the program sleeps.
 *
 * Besides the checksum it prints one info line:
 *   info: rss_peak_kib=P rss_freed_kib=F rss_idle_kib=I rss_1s_kib=.. rss_3s_kib=..
 * P after the allocation, F right after the free, I at the end of the idle
 * period, and the RSS after 1 and 3 seconds of it (when it lasts that long).
 *
 * usage: wl-idle [mib=300] [idle_s=12] [keep_one_in=50]
 */
#include <time.h>
#include <unistd.h>

#include "wl_common.h"

#define USAGE "[mib=300] [idle_s=12] [keep_one_in=50]"

typedef struct {
	void *p;
	uint32_t size;
	uint32_t serial;
} obj;

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 3, USAGE);
	size_t bytes = wl_arg(argc, argv, 1, 300, 1, 1UL << 20, USAGE) << 20;
	size_t idle_s = wl_arg(argc, argv, 2, 12, 0, 3600, USAGE);
	size_t keep = wl_arg(argc, argv, 3, 50, 1, 1UL << 20, USAGE);

	wl_rng rng;
	wl_seed(&rng, 0x1d1e, 0);
	/* the table first, at its final size (its own memory stays live) */
	size_t cap = bytes / 256 + 16, n = 0, total = 0;
	obj *o = malloc(cap * sizeof *o);
	if (o == NULL)
		wl_oom(cap * sizeof *o);
	uint64_t sum = 0;
	while (total < bytes) {
		if (n == cap) {
			obj *no = realloc(o, 2 * cap * sizeof *o);
			if (no == NULL)
				wl_oom(2 * cap * sizeof *o);
			o = no;
			cap *= 2;
		}
		size_t sz = wl_below(&rng, 5) ? wl_range(&rng, 16, 512) : wl_range(&rng, 1024, 32768);
		o[n].p = wl_malloc(sz);
		o[n].size = (uint32_t)sz;
		o[n].serial = (uint32_t)n;
		memset(o[n].p, (int)(n & 0xff), sz);
		wl_fill(o[n].p, sz, wl_mix(n));
		total += sz;
		n++;
	}
	size_t peak = wl_rss_kib();
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (wl_below(&rng, keep) == 0) {
			o[kept++] = o[i];
			continue;
		}
		sum += wl_check(o[i].p, o[i].size, wl_mix(o[i].serial));
		free(o[i].p);
	}
	size_t freed = wl_rss_kib(), at1 = 0, at3 = 0;
	/* idle: no allocator call until the end */
	for (size_t ms = 0; ms < idle_s * 1000; ms += 100) {
		nap_ms(100);
		if (ms + 100 == 1000)
			at1 = wl_rss_kib();
		if (ms + 100 == 3000)
			at3 = wl_rss_kib();
	}
	size_t idle = wl_rss_kib();
	for (size_t i = 0; i < kept; i++) {
		sum += wl_check(o[i].p, o[i].size, wl_mix(o[i].serial));
		free(o[i].p);
	}
	free(o);
	wl_result("idle", sum);
	printf("info: rss_peak_kib=%zu rss_freed_kib=%zu rss_idle_kib=%zu rss_1s_kib=%zu rss_3s_kib=%zu\n",
	       peak, freed, idle, at1, at3);
	return 0;
}
