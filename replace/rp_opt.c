/* rp_opt.c - Belady's MIN (OPT): evict the resident page whose next use is
 * farthest in the future (L. A. Belady, IBM Systems Journal 5(2), 1966).
 *
 * Algorithm:
 *   1. The caller precomputes next_use[t] for every position t of the
 *      reference string (kmem_rp_next_uses(), O(n)).
 *   2. Every insert or reference is the access at the next position t
 *      (a counter); the frame's key becomes next_use[t] (KMEM_RP_NEVER past
 *      the end of the table).
 *   3. The resident frames form a binary max-heap on (key, clean); victim =
 *      the root. Pages never used again tie at KMEM_RP_NEVER: a clean one
 *      goes first (no write-back); which one does not change the fault
 *      count, nor the write-backs.
 *   O(log n) insert, reference and remove (sift), O(1) victim.
 *
 * Heap arithmetic: children of slot i are 2i+1 and 2i+2, parent (i-1)/2;
 * pos[f] is frame f's slot, so a reference finds its entry in O(1):
 *   heap = [f7 (key 90), f2 (40), f5 (60)]: a reference to f2 at t with
 *   next_use[t] = 95 sets key 95 and sifts f2 up to slot 0.
 *
 * Invariants:
 *   O1 heap[0..n) are exactly the resident frames; pos[heap[i]] == i, and
 *      pos[f] == RP_NIL for the others.
 *   O2 heap[i] is not above heap[parent(i)] (above(): later next use, or
 *      the same and clean against dirty).
 *
 * Locking: none (replace.h).
 */
#include <inttypes.h>

#include "replace_internal.h"

struct rp_opt {
	uint32_t frames, n;
	uint64_t t;
	const uint64_t *next_use;
	size_t len;
	uint32_t *heap;
	uint32_t *pos;
	uint64_t *key;
	uint8_t *dirty;
};

static void opt_layout(struct rp_opt *o, struct rp_carve *c, uint32_t frames)
{
	struct rp_opt *self = rp_take(c, sizeof(*o));

	if (self)
		o = self;
	o->frames = frames;
	o->heap = rp_take(c, sizeof(uint32_t) * (size_t)frames);
	o->pos = rp_take(c, sizeof(uint32_t) * (size_t)frames);
	o->key = rp_take(c, sizeof(uint64_t) * (size_t)frames);
	o->dirty = rp_take(c, frames);
}

static size_t opt_size(const struct kmem_rp_config *cfg)
{
	struct rp_opt o;
	struct rp_carve c = { NULL, 0 };

	if (!cfg->next_use && cfg->next_use_len)
		return 0;
	opt_layout(&o, &c, cfg->frames);
	return c.off;
}

static int opt_init(void *priv, const struct kmem_rp_config *cfg)
{
	struct rp_opt tmp, *o = priv;
	struct rp_carve c = { priv, 0 };

	opt_layout(&tmp, &c, cfg->frames);
	o->next_use = cfg->next_use;
	o->len = cfg->next_use_len;
	memset(o->pos, 0xff, sizeof(uint32_t) * (size_t)cfg->frames);
	return 0;
}

static inline void put(struct rp_opt *o, uint32_t i, uint32_t f)
{
	o->heap[i] = f;
	o->pos[f] = i;
}

/* f goes before g: its next use is later, or the same (never) and f is
 * clean while g is dirty (no write-back) */
static inline bool above(const struct rp_opt *o, uint32_t f, uint32_t g)
{
	return o->key[f] > o->key[g] || (o->key[f] == o->key[g] && o->dirty[g] > o->dirty[f]);
}

static void sift_up(struct rp_opt *o, uint32_t i)
{
	uint32_t f = o->heap[i];

	while (i > 0 && above(o, f, o->heap[(i - 1) / 2])) {
		put(o, i, o->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	put(o, i, f);
}

static void sift_down(struct rp_opt *o, uint32_t i)
{
	uint32_t f = o->heap[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= o->n)
			break;
		if (c + 1 < o->n && above(o, o->heap[c + 1], o->heap[c]))
			c++;
		if (!above(o, o->heap[c], f))
			break;
		put(o, i, o->heap[c]);
		i = c;
	}
	put(o, i, f);
}

static inline uint64_t next_key(struct rp_opt *o)
{
	uint64_t t = o->t++;

	return t < o->len ? o->next_use[t] : KMEM_RP_NEVER;
}

static void opt_insert(void *priv, uint32_t f, uint64_t page, unsigned flags)
{
	struct rp_opt *o = priv;

	(void)page;
	o->key[f] = next_key(o);
	o->dirty[f] = (flags & KMEM_RP_WRITE) ? 1 : 0;
	put(o, o->n++, f);
	sift_up(o, o->n - 1);
}

static void opt_reference(void *priv, uint32_t f, unsigned flags)
{
	struct rp_opt *o = priv;

	o->key[f] = next_key(o);
	o->dirty[f] |= (flags & KMEM_RP_WRITE) ? 1 : 0;
	sift_up(o, o->pos[f]);
	sift_down(o, o->pos[f]);
}

static void opt_clean(void *priv, uint32_t f)
{
	struct rp_opt *o = priv;

	o->dirty[f] = 0;
	sift_up(o, o->pos[f]);
	sift_down(o, o->pos[f]);
}

static uint32_t opt_victim(void *priv, uint64_t incoming)
{
	struct rp_opt *o = priv;

	(void)incoming;
	return o->heap[0];
}

static void opt_remove(void *priv, uint32_t f, unsigned flags)
{
	struct rp_opt *o = priv;
	uint32_t i = o->pos[f], last = o->heap[--o->n];

	(void)flags;
	o->pos[f] = RP_NIL;
	o->dirty[f] = 0;
	if (last == f)
		return;
	put(o, i, last);
	sift_up(o, i);
	sift_down(o, o->pos[last]);
}

static int opt_check(const void *priv, const struct kmem_rp *rp, char *why, size_t len)
{
	const struct rp_opt *o = priv;
	uint32_t resident = 0;

	for (uint32_t f = 0; f < o->frames; f++) {
		bool held = kmem_rp_resident(rp, f);

		resident += held ? 1 : 0;
		if (held && (o->pos[f] >= o->n || o->heap[o->pos[f]] != f))
			return kmem_rp_fail(why, len, "O1: resident frame %" PRIu32 " not at its heap slot", f);
		if (!held && o->pos[f] != RP_NIL)
			return kmem_rp_fail(why, len, "O1: empty frame %" PRIu32 " has heap slot %" PRIu32, f, o->pos[f]);
	}
	if (resident != o->n)
		return kmem_rp_fail(why, len, "O1: %" PRIu32 " resident, heap holds %" PRIu32, resident, o->n);
	for (uint32_t i = 1; i < o->n; i++)
		if (above(o, o->heap[i], o->heap[(i - 1) / 2]))
			return kmem_rp_fail(why, len, "O2: heap slot %" PRIu32 " above its parent", i);
	return 0;
}

const struct kmem_rp_ops kmem_rp_opt = {
	.name = "opt", .size = opt_size, .init = opt_init, .insert = opt_insert,
	.reference = opt_reference, .victim = opt_victim, .remove = opt_remove,
	.clean = opt_clean, .check = opt_check,
};
