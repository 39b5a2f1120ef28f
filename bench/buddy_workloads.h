/* buddy_workloads.h - the buddy workloads, shared by the Google Benchmark
 * program (bench_buddy.c) and the callgrind instruction counter
 * (icount_buddy.c), so both measure exactly the same code.
 *
 *  warm(k):  alloc+free of order k when the only free order-k block has an
 *            allocated buddy: no split, no merge, but the list empties and
 *            refills each time (its avail bits flip).
 *  steady(k): as warm, with a second such block on the list, so it never
 *            empties: the common steady state of a fragmented heap.
 *  cold(k):  alloc+free of order k in a completely free arena: every alloc
 *            splits a max-order block down to k, every free merges it back
 *            up: the worst case, max_order - k splits and merges.
 *  mixed:    a ring of live blocks; each step frees the oldest and
 *            allocates a random order (50% 0, 25% 1, 12.5% 2, 12.5% 3..6).
 */
#ifndef KMEM_BUDDY_WORKLOADS_H
#define KMEM_BUDDY_WORKLOADS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/buddy.h>

#define BW_ARENA ((size_t)64 << 20)
#define BW_RING 1024
#define BW_SEQ 4096

struct bw {
	struct kmem_buddy *b;
	void *inst, *arena, *meta;
	void *keep, *keep2[3];
	void *ring[BW_RING];
	unsigned ring_order[BW_RING];
	unsigned char seq[BW_SEQ];
	unsigned pos;
};

/* With a policy (issue 16): a free-list discipline, KMEM_BUDDY_GROUPING in
 * flags for grouping by type (default pageblock order). */
static inline int bw_setup_policy(struct bw *w, unsigned flags, unsigned discipline)
{
	struct kmem_buddy_config cfg;
	size_t msz;

	memset(w, 0, sizeof(*w));
	kmem_buddy_config_init(&cfg);
	cfg.name = "bench";
	cfg.flags = flags;
	cfg.discipline = discipline;
	if (posix_memalign(&w->inst, 64, kmem_buddy_sizeof(&cfg)) ||
	    posix_memalign(&w->arena, (size_t)4 << 20, BW_ARENA))
		return -1;
	if (kmem_buddy_init(w->inst, kmem_buddy_sizeof(&cfg), &cfg, &w->b))
		return -1;
	msz = kmem_buddy_region_meta_size(w->b, w->arena, BW_ARENA);
	if (posix_memalign(&w->meta, 64, msz) ||
	    kmem_buddy_add_region(w->b, w->arena, BW_ARENA, w->meta, msz))
		return -1;
	return 0;
}

static inline int bw_setup(struct bw *w, unsigned flags)
{
	return bw_setup_policy(w, flags, KMEM_BUDDY_LIFO);
}

static inline void bw_teardown(struct bw *w)
{
	kmem_buddy_destroy(w->b);
	free(w->meta);
	free(w->arena);
	free(w->inst);
}

/* warm(k): keep one order-k block so its buddy stays on list k. */
static inline void bw_warm(struct bw *w, unsigned order)
{
	w->keep = kmem_buddy_alloc(w->b, order);
}

/* steady(k): two free order-k blocks with allocated buddies on list k. */
static inline void bw_steady(struct bw *w, unsigned order)
{
	void *a = kmem_buddy_alloc(w->b, order), *b = kmem_buddy_alloc(w->b, order);
	void *c = kmem_buddy_alloc(w->b, order), *d = kmem_buddy_alloc(w->b, order);

	/* a/b and c/d are buddy pairs (split from one block, in order) */
	kmem_buddy_free(w->b, b);
	kmem_buddy_free(w->b, d);
	w->keep = a;
	w->keep2[0] = c;
}

static inline void bw_unsteady(struct bw *w)
{
	kmem_buddy_free(w->b, w->keep2[0]);
}

static inline void bw_pair(struct bw *w, unsigned order)
{
	void *p = kmem_buddy_alloc(w->b, order);

	kmem_buddy_free(w->b, p);
}

static inline void bw_mixed_init(struct bw *w, uint64_t seed)
{
	for (unsigned i = 0; i < BW_SEQ; i++) {
		unsigned d;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		d = (unsigned)(seed >> 33) % 16;
		w->seq[i] = (unsigned char)(d < 8 ? 0 : d < 12 ? 1 : d < 14 ? 2 : 3 + (seed >> 40) % 4);
	}
	for (unsigned i = 0; i < BW_RING; i++) {
		w->ring_order[i] = w->seq[i];
		w->ring[i] = kmem_buddy_alloc(w->b, w->seq[i]);
	}
	w->pos = 0;
}

static inline void bw_mixed_step(struct bw *w)
{
	unsigned slot = w->pos % BW_RING, order = w->seq[w->pos % BW_SEQ];

	kmem_buddy_free(w->b, w->ring[slot]);
	w->ring[slot] = kmem_buddy_alloc(w->b, order);
	w->ring_order[slot] = order;
	w->pos++;
}

static inline void bw_mixed_fini(struct bw *w)
{
	for (unsigned i = 0; i < BW_RING; i++)
		kmem_buddy_free(w->b, w->ring[i]);
}

#endif /* KMEM_BUDDY_WORKLOADS_H */
