/*
 * realloc: growing buffers, the way vectors and string builders use the
 * allocator. A set of `live` builders is kept; each step appends to a random
 * one. Half the builders are vectors that double their capacity when full
 * (few reallocs, up to large sizes where an allocator can remap instead of
 * copying); the other half are naive string builders that realloc to the
 * exact new length on every append of 1..32 bytes (many small reallocs, which
 * an allocator can mostly satisfy in place). A builder that reaches its
 * target length is shrunk to fit, its whole contents are verified (realloc
 * must preserve them) and it is freed and replaced by a new one.
 *
 * usage: wl-realloc [steps=6m] [live=64] [max_vec_kib=1024] [max_str=16384]
 */
#include "wl_common.h"

#define USAGE "[steps=6m] [live=64] [max_vec_kib=1024] [max_str=16384]"

typedef struct {
	unsigned char *p;
	size_t len, cap, target;
	uint64_t id, sum;
	int vec;
} builder;

static size_t log_uniform(wl_rng *rng, size_t lo, size_t hi)
{
	size_t steps = 0;
	while ((lo << (steps + 1)) < hi)
		steps++;
	size_t base = lo << wl_below(rng, steps + 1);
	size_t n = base + wl_below(rng, base);
	return n > hi ? hi : n;
}

static void start(builder *b, wl_rng *rng, uint64_t id, size_t max_vec, size_t max_str)
{
	b->id = id;
	b->vec = (int)(id & 1);
	b->len = 0;
	b->sum = 0;
	if (b->vec) {
		b->target = log_uniform(rng, 64, max_vec);
		b->cap = 16;
	} else {
		b->target = log_uniform(rng, 16, max_str);
		b->cap = 1;
	}
	b->p = wl_malloc(b->cap);
}

static uint64_t finish(builder *b)
{
	/* shrink to fit, then verify everything that was appended */
	if (b->len > 0 && b->len < b->cap) {
		unsigned char *q = realloc(b->p, b->len);
		if (q == NULL)
			wl_oom(b->len);
		b->p = q;
	}
	uint64_t sum = 0;
	if (b->vec) {
		for (size_t off = 0; off + 8 <= b->len; off += 8) {
			uint64_t v;
			memcpy(&v, b->p + off, sizeof v);
			sum += v;
		}
	} else {
		for (size_t off = 0; off < b->len; off++)
			sum += b->p[off];
	}
	if (sum != b->sum)
		wl_corrupt(b->p, b->len, b->sum, sum, "contents sum");
	free(b->p);
	return sum ^ (b->len << 1);
}

static void grow(builder *b, size_t need)
{
	size_t cap = b->cap;
	if (b->vec) {
		while (cap < need)
			cap *= 2;
	} else {
		cap = need;
	}
	unsigned char *q = realloc(b->p, cap);
	if (q == NULL)
		wl_oom(cap);
	b->p = q;
	b->cap = cap;
}

static void append(builder *b, wl_rng *rng)
{
	if (b->vec) {
		size_t c = wl_range(rng, 1, 64);
		size_t need = b->len + c * 8;
		if (need > b->cap)
			grow(b, need);
		for (size_t i = 0; i < c; i++) {
			uint64_t v = (b->id << 32) + b->len;
			memcpy(b->p + b->len, &v, sizeof v);
			b->sum += v;
			b->len += 8;
		}
	} else {
		size_t c = wl_range(rng, 1, 32);
		grow(b, b->len + c);
		for (size_t i = 0; i < c; i++) {
			unsigned char v = (unsigned char)(b->id + b->len);
			b->p[b->len++] = v;
			b->sum += v;
		}
	}
}

int main(int argc, char **argv)
{
	wl_usage_check(argc, argv, 4, USAGE);
	size_t steps = wl_arg(argc, argv, 1, 6000000, 0, 1UL << 40, USAGE);
	size_t live = wl_arg(argc, argv, 2, 64, 1, 1UL << 20, USAGE);
	size_t max_vec = wl_arg(argc, argv, 3, 1024, 1, 1UL << 22, USAGE) * 1024;
	size_t max_str = wl_arg(argc, argv, 4, 16384, 16, 1UL << 30, USAGE);

	wl_rng rng;
	wl_seed(&rng, 0x4ea1, 0);
	builder *b = calloc(live, sizeof *b);
	if (b == NULL)
		wl_oom(live * sizeof *b);
	uint64_t id = 0, sum = 0;
	for (size_t i = 0; i < live; i++)
		start(&b[i], &rng, id++, max_vec, max_str);
	for (size_t k = 0; k < steps; k++) {
		builder *o = &b[wl_below(&rng, live)];
		append(o, &rng);
		if (o->len >= o->target) {
			sum += finish(o);
			start(o, &rng, id++, max_vec, max_str);
		}
	}
	for (size_t i = 0; i < live; i++)
		sum += finish(&b[i]);
	free(b);
	wl_result("realloc", sum);
	return 0;
}
