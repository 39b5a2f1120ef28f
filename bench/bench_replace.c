/* bench_replace.c - the replacement policies (kmem/replace.h) as the paging
 * simulator drives them: references per second per policy. Items are
 * references (a hit: kmem_rp_reference; a miss: victim, remove, insert).
 *   rp_zipf/P   Zipf(0.9) over 65536 pages, 8192 frames: hits and misses
 *   rp_hits/P   a hot set that fits: every reference a hit
 *   rp_loop/P   a loop one page larger than memory: every reference a miss
 *               under LRU-like policies (the scan case)
 * P is the policy's index in kmem_rp_builtin() (0 fifo, 1 lru, 2 opt,
 * 3 clock, 4 esc, 5 aging, 6 2q, 7 arc). The string is 1 Mi references,
 * precomputed; the instance is rebuilt (clock paused) when it wraps, so
 * opt's next-use table stays true. A tick every TICK references (aging's
 * tick is O(resident): with 8192 frames and a tick every 1000 references
 * it costs more than the references). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/replace.h>

#include "bench.h"

#include "kmem_rand.h"

#define LEN (1u << 20)
#define BATCH 256
/* references per tick: a clock interrupt every ~1 ms at 60 M references/s */
#define TICK 65536

struct pager {
	const uint32_t *ref;
	const uint8_t *wr;
	uint64_t *next;
	uint32_t npages, frames, used, t;
	uint32_t *frame_of, *page_in;
	void *mem;
	struct kmem_rp *rp;
	const struct kmem_rp_ops *ops;
};

static int pager_reset(struct pager *p)
{
	struct kmem_rp_config cfg = { .frames = p->frames, .next_use = p->next, .next_use_len = LEN };
	size_t sz = kmem_rp_sizeof(p->ops, &cfg);

	free(p->mem);
	p->mem = aligned_alloc(16, (sz + 15) & ~(size_t)15);
	if (!p->mem || kmem_rp_init(p->mem, sz, p->ops, &cfg, &p->rp))
		return -1;
	memset(p->frame_of, 0, p->npages * sizeof(uint32_t));
	p->used = 0;
	p->t = 0;
	return 0;
}

static inline void pager_step(struct pager *p)
{
	uint32_t id = p->ref[p->t], f;
	unsigned fl = p->wr[p->t];

	if (++p->t % TICK == 0)
		kmem_rp_tick(p->rp);
	if (p->frame_of[id]) {
		(void)kmem_rp_reference(p->rp, p->frame_of[id] - 1, fl);
		return;
	}
	if (p->used < p->frames) {
		f = p->used++;
	} else {
		f = kmem_rp_victim(p->rp, id);
		p->frame_of[p->page_in[f]] = 0;
		(void)kmem_rp_remove(p->rp, f, KMEM_RP_EVICT);
	}
	(void)kmem_rp_insert(p->rp, f, id, fl);
	p->page_in[f] = id;
	p->frame_of[id] = f + 1;
}

static void run(struct kmem_bench_state *st, const uint32_t *ref, uint32_t npages, uint32_t frames)
{
	static uint8_t wr[LEN];
	struct pager p = { .ref = ref, .wr = wr, .npages = npages, .frames = frames };
	uint64_t seed = 3;
	uint64_t *last = malloc(npages * sizeof(*last));

	p.ops = kmem_rp_builtin((unsigned)kmem_bench_arg(st, 0));
	p.next = malloc(LEN * sizeof(*p.next));
	p.frame_of = malloc(npages * sizeof(uint32_t));
	p.page_in = malloc(frames * sizeof(uint32_t));
	for (uint32_t i = 0; i < LEN; i++)
		wr[i] = kmem_splitmix64(&seed) % 4 == 0 ? KMEM_RP_WRITE : KMEM_RP_READ;
	for (uint32_t i = 0; i < npages; i++)
		last[i] = KMEM_RP_NEVER;
	for (uint32_t t = LEN; t-- > 0;) {
		p.next[t] = last[ref[t]];
		last[ref[t]] = t;
	}
	if (!p.ops || pager_reset(&p)) {
		kmem_bench_error(st, "setup failed");
		return;
	}
	kmem_bench_label(st, p.ops->name);
	while (kmem_bench_keep_running_batch(st, BATCH)) {
		if (p.t + BATCH > LEN) {
			kmem_bench_pause(st);
			pager_reset(&p);
			kmem_bench_resume(st);
		}
		for (int i = 0; i < BATCH; i++)
			pager_step(&p);
	}
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	free(p.mem);
	free(p.next);
	free(p.frame_of);
	free(p.page_in);
	free(last);
}

static uint32_t *zipf_string(uint32_t pages, double skew)
{
	static uint32_t *s;
	double *cdf = malloc(pages * sizeof(*cdf)), sum = 0;
	uint64_t seed = 1;

	if (s)
		return s;
	s = malloc(LEN * sizeof(*s));
	for (uint32_t k = 0; k < pages; k++)
		cdf[k] = sum += pow(k + 1.0, -skew);
	for (uint32_t i = 0; i < LEN; i++) {
		double u = (double)(kmem_splitmix64(&seed) >> 11) / 9007199254740992.0 * sum;
		uint32_t lo = 0, hi = pages - 1;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* scatter the ranks over the ids so hot pages are not adjacent */
		s[i] = (uint32_t)(((uint64_t)lo * 40503u) % pages);
	}
	free(cdf);
	return s;
}

static void rp_zipf(struct kmem_bench_state *st)
{
	run(st, zipf_string(65536, 0.9), 65536, 8192);
}
KMEM_BENCH_ARGS(rp_zipf, 1, 0, 1, 2, 3, 4, 5, 6, 7)

static void rp_hits(struct kmem_bench_state *st)
{
	static uint32_t *s;
	uint64_t seed = 2;

	if (!s) {
		s = malloc(LEN * sizeof(*s));
		for (uint32_t i = 0; i < LEN; i++)
			s[i] = (uint32_t)(kmem_splitmix64(&seed) % 4096);
	}
	run(st, s, 4096, 4096);
}
KMEM_BENCH_ARGS(rp_hits, 1, 0, 1, 2, 3, 4, 5, 6, 7)

static void rp_loop(struct kmem_bench_state *st)
{
	static uint32_t *s;

	if (!s) {
		s = malloc(LEN * sizeof(*s));
		for (uint32_t i = 0; i < LEN; i++)
			s[i] = i % 4097;
	}
	run(st, s, 4097, 4096);
}
KMEM_BENCH_ARGS(rp_loop, 1, 0, 1, 2, 3, 4, 5, 6, 7)
