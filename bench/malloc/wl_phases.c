/*
 * phases: a long-running program whose live set swings (a cache that fills
 * up and is then mostly evicted, a batch job between batches). Each cycle
 * grows the live set to `peak_mib` MiB of requested bytes, churns at that
 * size (replacing random objects by new ones of the same size family),
 * shrinks it to 10%, churns a little at the low level, and the next cycle
 * grows again with objects of the other size family:
 *   even cycles: 16..128 bytes      odd cycles: 256..2048 bytes
 * An allocator that reuses (or returns and takes back) the pages freed by
 * the shrink across size classes peaks at about one cycle's live set; one
 * that keeps freed memory per size class peaks near twice that. The shrink
 * frees whole runs of 1024 consecutively allocated objects and keeps one run
 * in ten (objects allocated together die together), so the freed memory is
 * in large pieces that can be given back to the kernel.
 *
 * Besides the checksum it prints "info: rss_trough_kib=N": the largest RSS
 * measured at the end of a low phase (after a shrink and the low churn),
 * i.e. how much memory the allocator kept after the live set fell to 10%.
 *
 * usage: wl-phases [cycles=4] [peak_mib=64] [ops=500k]
 */
#include <unistd.h>

#include "wl_common.h"

#define USAGE "[cycles=4] [peak_mib=64] [ops=500k]"
#define RUN 1024
#define KEEP_ONE_IN 10

typedef struct {
	void *p;
	uint32_t size;
	uint32_t serial;
} slot;

typedef struct {
	slot *s;
	size_t n, cap;
	size_t bytes;
	uint32_t serial;
	uint64_t sum;
} table;

static size_t pick(wl_rng *rng, int big)
{
	return big ? wl_range(rng, 256, 2048) : wl_range(rng, 16, 128);
}

static void obj_new(table *t, slot *o, size_t n)
{
	o->p = wl_malloc(n);
	o->size = (uint32_t)n;
	o->serial = t->serial++;
	wl_fill(o->p, n, wl_mix(o->serial));
	t->bytes += n;
}

static void obj_free(table *t, slot *o)
{
	t->sum += wl_check(o->p, o->size, wl_mix(o->serial));
	t->bytes -= o->size;
	free(o->p);
}

static void push(table *t, wl_rng *rng, int big)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		slot *s = realloc(t->s, cap * sizeof *s);
		if (s == NULL)
			wl_oom(cap * sizeof *s);
		t->s = s;
		t->cap = cap;
	}
	obj_new(t, &t->s[t->n++], pick(rng, big));
}

/* replace random objects by new ones of the same size family */
static void churn(table *t, wl_rng *rng, size_t ops)
{
	if (t->n == 0)
		return;
	for (size_t k = 0; k < ops; k++) {
		slot *o = &t->s[wl_below(rng, t->n)];
		int big = o->size > 128;
		obj_free(t, o);
		obj_new(t, o, pick(rng, big));
	}
}

static void shrink(table *t, size_t cycle)
{
	size_t keep = 0;
	for (size_t i = 0; i < t->n; i++) {
		if ((i / RUN) % KEEP_ONE_IN == cycle % KEEP_ONE_IN)
			t->s[keep++] = t->s[i];
		else
			obj_free(t, &t->s[i]);
	}
	t->n = keep;
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 3, USAGE);
	size_t cycles = wl_arg(argc, argv, 1, 4, 0, 1UL << 20, USAGE);
	size_t peak = wl_arg(argc, argv, 2, 64, 1, 1UL << 20, USAGE) << 20;
	size_t ops = wl_arg(argc, argv, 3, 500000, 0, 1UL << 40, USAGE);

	wl_rng rng;
	wl_seed(&rng, 0x9a5e, 0);
	table t = { 0 };
	size_t trough = 0;
	for (size_t c = 0; c < cycles; c++) {
		int big = (int)(c & 1);
		while (t.bytes < peak)
			push(&t, &rng, big);
		churn(&t, &rng, ops);
		shrink(&t, c);
		churn(&t, &rng, ops / 4);
		size_t r = wl_rss_kib();
		if (r > trough)
			trough = r;
	}
	for (size_t i = 0; i < t.n; i++)
		obj_free(&t, &t.s[i]);
	free(t.s);
	wl_result("phases", t.sum);
	printf("info: rss_trough_kib=%zu\n", trough);
	return 0;
}
