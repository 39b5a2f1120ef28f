/* rp_classic.c - the textbook policies: FIFO, LRU, second chance (clock),
 * enhanced second chance, aging.
 *
 * Algorithms (references in include/kmem/replace.h):
 *   FIFO   one list in load order; victim = head.                        O(1)
 *   LRU    one list in recency order; a reference moves the page to the
 *          tail; victim = head.                                          O(1)
 *   clock  one list in load order with a reference bit per page (set on
 *          load and on every reference); victim: while the head's bit is
 *          set, clear it and move the head to the tail; then the head.
 *          Amortised O(1): each clear undoes one earlier set.
 *   esc    four lists, one per class (R, D) = (0,0) (0,1) (1,0) (1,1),
 *          each in the order pages entered it. R is "ref_epoch[f] ==
 *          epoch", so clearing every reference bit is epoch++ with the two
 *          referenced lists spliced onto the unreferenced ones: O(1).
 *          victim: head of (0,0), else of (0,1), else clear all and retry.
 *            e.g. (0,0) = {}, (0,1) = {}, (1,0) = {3, 5}, (1,1) = {7}:
 *            clear all -> (0,0) = {3, 5}, (0,1) = {7}: the victim is 3.
 *          A reference that changes the class moves the page to the tail
 *          of its new class; tick clears every reference bit.
 *   aging  an 8-bit counter and a reference bit per page; key = counter *
 *          2 + R (0..511); one list per key in the order pages entered it,
 *          a 512-bit map of non-empty keys; victim = head of the lowest
 *          non-empty key (eight word tests). tick: counter = counter >> 1
 *          | R << 7, R = 0 for every page in load order (a second list),
 *          and the key lists rebuilt in that order. O(1); tick O(resident).
 *
 * Data structures: index lists (replace_internal.h) over the frame table;
 * per frame an "on" byte (the page is on a list) and the policy's bits.
 *
 * Invariants (checked by each policy's check op):
 *   F1 (fifo, lru, clock) the list holds exactly the resident frames, with
 *      consistent links; on[f] == 1 exactly for them.
 *   C1 (clock) ref[f] is 0 or 1, and 0 for every frame not resident.
 *   E1 (esc) the four lists hold exactly the resident frames, each frame on
 *      the list of its class ((ref_epoch == epoch) * 2 + dirty).
 *   G1 (aging) the all-list holds exactly the resident frames; every
 *      resident frame is on the key list of counter * 2 + ref; the map
 *      bit of a key is set exactly when its list is non-empty.
 *
 * Locking: none (replace.h).
 */
#include <inttypes.h>

#include "replace_internal.h"

/* ---- FIFO, LRU, clock: one list ------------------------------------------------------ */

struct rp_queue {
	uint32_t frames;
	struct rp_list l;
	struct rp_link *lk;
	uint8_t *on;
	uint8_t *ref;	/* clock only */
};

static void queue_layout(struct rp_queue *q, struct rp_carve *c, uint32_t frames)
{
	struct rp_queue *self = rp_take(c, sizeof(*q));

	if (self)
		q = self;
	q->frames = frames;
	q->lk = rp_take(c, sizeof(struct rp_link) * (size_t)frames);
	q->on = rp_take(c, frames);
	q->ref = rp_take(c, frames);
}

static size_t queue_size(const struct kmem_rp_config *cfg)
{
	struct rp_queue q;
	struct rp_carve c = { NULL, 0 };

	queue_layout(&q, &c, cfg->frames);
	return c.off;
}

static int queue_init(void *priv, const struct kmem_rp_config *cfg)
{
	struct rp_queue tmp;
	struct rp_carve c = { priv, 0 };
	struct rp_queue *q = priv;

	queue_layout(&tmp, &c, cfg->frames);
	rp_list_init(&q->l);
	return 0;
}

static void queue_insert(void *priv, uint32_t f, uint64_t page, unsigned flags)
{
	struct rp_queue *q = priv;

	(void)page;
	(void)flags;
	q->on[f] = 1;
	q->ref[f] = 1;
	rp_list_push_tail(&q->l, q->lk, f);
}

static void fifo_reference(void *priv, uint32_t f, unsigned flags)
{
	(void)priv;
	(void)f;
	(void)flags;
}

static uint32_t queue_victim(void *priv, uint64_t incoming)
{
	struct rp_queue *q = priv;

	(void)incoming;
	return q->l.head;
}

static void queue_remove(void *priv, uint32_t f, unsigned flags)
{
	struct rp_queue *q = priv;

	(void)flags;
	rp_list_unlink(&q->l, q->lk, f);
	q->on[f] = 0;
	q->ref[f] = 0;
}

static int queue_check(const void *priv, const struct kmem_rp *rp, char *why, size_t len)
{
	const struct rp_queue *q = priv;
	int rc = kmem_rp_list_check(&q->l, q->lk, q->frames, q->on, 1, "F1 list", why, len);

	if (rc)
		return rc;
	for (uint32_t f = 0; f < q->frames; f++) {
		if (q->on[f] != (kmem_rp_resident(rp, f) ? 1 : 0))
			return kmem_rp_fail(why, len, "F1: frame %" PRIu32 " on the list %u, resident %d", f,
				       q->on[f], kmem_rp_resident(rp, f));
		if (q->ref[f] > 1 || (!q->on[f] && q->ref[f]))
			return kmem_rp_fail(why, len, "C1: frame %" PRIu32 " reference bit %u", f, q->ref[f]);
	}
	return 0;
}

const struct kmem_rp_ops kmem_rp_fifo = {
	.name = "fifo", .size = queue_size, .init = queue_init, .insert = queue_insert,
	.reference = fifo_reference, .victim = queue_victim, .remove = queue_remove,
	.check = queue_check,
};

static void lru_reference(void *priv, uint32_t f, unsigned flags)
{
	struct rp_queue *q = priv;

	(void)flags;
	rp_list_to_tail(&q->l, q->lk, f);
}

const struct kmem_rp_ops kmem_rp_lru = {
	.name = "lru", .size = queue_size, .init = queue_init, .insert = queue_insert,
	.reference = lru_reference, .victim = queue_victim, .remove = queue_remove,
	.check = queue_check,
};

static void clock_reference(void *priv, uint32_t f, unsigned flags)
{
	struct rp_queue *q = priv;

	(void)flags;
	q->ref[f] = 1;
}

static uint32_t clock_victim(void *priv, uint64_t incoming)
{
	struct rp_queue *q = priv;
	uint32_t f;

	(void)incoming;
	while (q->ref[f = q->l.head]) { /* ends: each pass clears one bit */
		q->ref[f] = 0;
		rp_list_to_tail(&q->l, q->lk, f);
	}
	return f;
}

const struct kmem_rp_ops kmem_rp_clock = {
	.name = "clock", .size = queue_size, .init = queue_init, .insert = queue_insert,
	.reference = clock_reference, .victim = clock_victim, .remove = queue_remove,
	.check = queue_check,
};

/* ---- enhanced second chance ---------------------------------------------------------------- */

struct rp_esc {
	uint32_t frames;
	uint64_t epoch;
	struct rp_list cls[4];	/* index R * 2 + D */
	struct rp_link *lk;
	uint64_t *ref_epoch;	/* R == (ref_epoch[f] == epoch) */
	uint8_t *dirty;
};

static void esc_layout(struct rp_esc *e, struct rp_carve *c, uint32_t frames)
{
	struct rp_esc *self = rp_take(c, sizeof(*e));

	if (self)
		e = self;
	e->frames = frames;
	e->lk = rp_take(c, sizeof(struct rp_link) * (size_t)frames);
	e->ref_epoch = rp_take(c, sizeof(uint64_t) * (size_t)frames);
	e->dirty = rp_take(c, frames);
}

static size_t esc_size(const struct kmem_rp_config *cfg)
{
	struct rp_esc e;
	struct rp_carve c = { NULL, 0 };

	esc_layout(&e, &c, cfg->frames);
	return c.off;
}

static int esc_init(void *priv, const struct kmem_rp_config *cfg)
{
	struct rp_esc tmp, *e = priv;
	struct rp_carve c = { priv, 0 };

	esc_layout(&tmp, &c, cfg->frames);
	e->epoch = 1; /* ref_epoch 0 (zeroed): never referenced */
	for (int i = 0; i < 4; i++)
		rp_list_init(&e->cls[i]);
	return 0;
}

static inline unsigned esc_class(const struct rp_esc *e, uint32_t f)
{
	return (e->ref_epoch[f] == e->epoch ? 2u : 0u) + e->dirty[f];
}

static void esc_insert(void *priv, uint32_t f, uint64_t page, unsigned flags)
{
	struct rp_esc *e = priv;

	(void)page;
	e->ref_epoch[f] = e->epoch;
	e->dirty[f] = (flags & KMEM_RP_WRITE) ? 1 : 0;
	rp_list_push_tail(&e->cls[esc_class(e, f)], e->lk, f);
}

static void esc_reference(void *priv, uint32_t f, unsigned flags)
{
	struct rp_esc *e = priv;
	unsigned from = esc_class(e, f), to;

	e->ref_epoch[f] = e->epoch;
	e->dirty[f] |= (flags & KMEM_RP_WRITE) ? 1 : 0;
	to = esc_class(e, f);
	if (to != from) {
		rp_list_unlink(&e->cls[from], e->lk, f);
		rp_list_push_tail(&e->cls[to], e->lk, f);
	}
}

/* every reference bit cleared: the referenced classes join the others */
static void esc_clear_all(struct rp_esc *e)
{
	rp_list_splice_tail(&e->cls[0], &e->cls[2], e->lk);
	rp_list_splice_tail(&e->cls[1], &e->cls[3], e->lk);
	e->epoch++;
}

static uint32_t esc_victim(void *priv, uint64_t incoming)
{
	struct rp_esc *e = priv;

	(void)incoming;
	if (!e->cls[0].len && !e->cls[1].len)
		esc_clear_all(e);
	return e->cls[0].len ? e->cls[0].head : e->cls[1].head;
}

static void esc_remove(void *priv, uint32_t f, unsigned flags)
{
	struct rp_esc *e = priv;

	(void)flags;
	rp_list_unlink(&e->cls[esc_class(e, f)], e->lk, f);
	e->ref_epoch[f] = 0;
	e->dirty[f] = 0;
}

static void esc_tick(void *priv)
{
	esc_clear_all(priv);
}

static void esc_clean(void *priv, uint32_t f)
{
	struct rp_esc *e = priv;
	unsigned from = esc_class(e, f);

	if (!e->dirty[f])
		return;
	e->dirty[f] = 0;
	rp_list_unlink(&e->cls[from], e->lk, f);
	rp_list_push_tail(&e->cls[from - 1], e->lk, f);
}

static int esc_check(const void *priv, const struct kmem_rp *rp, char *why, size_t len)
{
	const struct rp_esc *e = priv;
	static const char *const names[4] = { "E1 class (0,0)", "E1 class (0,1)",
					      "E1 class (1,0)", "E1 class (1,1)" };
	uint32_t total = 0, resident = 0;

	for (unsigned c = 0; c < 4; c++) {
		int rc = kmem_rp_list_check(&e->cls[c], e->lk, e->frames, NULL, 0, names[c], why, len);

		if (rc)
			return rc;
		for (uint32_t f = e->cls[c].head; f != RP_NIL; f = e->lk[f].next) {
			if (!kmem_rp_resident(rp, f))
				return kmem_rp_fail(why, len, "E1: frame %" PRIu32 " listed but not resident", f);
			if (esc_class(e, f) != c)
				return kmem_rp_fail(why, len, "E1: frame %" PRIu32 " of class %u on list %u", f,
					       esc_class(e, f), c);
			if (e->ref_epoch[f] > e->epoch || e->dirty[f] > 1)
				return kmem_rp_fail(why, len, "E1: frame %" PRIu32 " bits out of range", f);
		}
		total += e->cls[c].len;
	}
	for (uint32_t f = 0; f < e->frames; f++)
		resident += kmem_rp_resident(rp, f) ? 1 : 0;
	if (total != resident)
		return kmem_rp_fail(why, len, "E1: %" PRIu32 " frames listed, %" PRIu32 " resident", total, resident);
	return 0;
}

const struct kmem_rp_ops kmem_rp_esc = {
	.name = "esc", .size = esc_size, .init = esc_init, .insert = esc_insert,
	.reference = esc_reference, .victim = esc_victim, .remove = esc_remove,
	.tick = esc_tick, .clean = esc_clean, .check = esc_check,
};

/* ---- aging --------------------------------------------------------------------------------- */

#define AGE_KEYS 512u

struct rp_aging {
	uint32_t frames;
	uint64_t map[AGE_KEYS / 64];	/* bit k: key list k non-empty */
	struct rp_list key[AGE_KEYS];
	struct rp_list all;		/* load order */
	struct rp_link *lk;		/* key lists */
	struct rp_link *alk;		/* the all-list */
	uint8_t *count;
	uint8_t *ref;
};

static void aging_layout(struct rp_aging *a, struct rp_carve *c, uint32_t frames)
{
	struct rp_aging *self = rp_take(c, sizeof(*a));

	if (self)
		a = self;
	a->frames = frames;
	a->lk = rp_take(c, sizeof(struct rp_link) * (size_t)frames);
	a->alk = rp_take(c, sizeof(struct rp_link) * (size_t)frames);
	a->count = rp_take(c, frames);
	a->ref = rp_take(c, frames);
}

static size_t aging_size(const struct kmem_rp_config *cfg)
{
	struct rp_aging a;
	struct rp_carve c = { NULL, 0 };

	aging_layout(&a, &c, cfg->frames);
	return c.off;
}

static int aging_init(void *priv, const struct kmem_rp_config *cfg)
{
	struct rp_aging tmp, *a = priv;
	struct rp_carve c = { priv, 0 };

	aging_layout(&tmp, &c, cfg->frames);
	for (unsigned k = 0; k < AGE_KEYS; k++)
		rp_list_init(&a->key[k]);
	rp_list_init(&a->all);
	return 0;
}

static inline unsigned age_key(const struct rp_aging *a, uint32_t f)
{
	return (unsigned)a->count[f] * 2u + a->ref[f];
}

static inline void age_push(struct rp_aging *a, uint32_t f)
{
	unsigned k = age_key(a, f);

	rp_list_push_tail(&a->key[k], a->lk, f);
	a->map[k / 64] |= 1ull << (k % 64);
}

static inline void age_pull(struct rp_aging *a, uint32_t f)
{
	unsigned k = age_key(a, f);

	rp_list_unlink(&a->key[k], a->lk, f);
	if (!a->key[k].len)
		a->map[k / 64] &= ~(1ull << (k % 64));
}

static void aging_insert(void *priv, uint32_t f, uint64_t page, unsigned flags)
{
	struct rp_aging *a = priv;

	(void)page;
	(void)flags;
	a->count[f] = 0;
	a->ref[f] = 1;
	age_push(a, f);
	rp_list_push_tail(&a->all, a->alk, f);
}

static void aging_reference(void *priv, uint32_t f, unsigned flags)
{
	struct rp_aging *a = priv;

	(void)flags;
	if (a->ref[f])
		return;
	age_pull(a, f);
	a->ref[f] = 1;
	age_push(a, f);
}

static uint32_t aging_victim(void *priv, uint64_t incoming)
{
	struct rp_aging *a = priv;

	(void)incoming;
	for (unsigned w = 0; w < AGE_KEYS / 64; w++)
		if (a->map[w])
			return a->key[w * 64 + kmem_ctz64(a->map[w])].head;
	KMEM_ASSERT(0 && "aging: a victim is asked for with pages resident");
	return a->all.head;
}

static void aging_remove(void *priv, uint32_t f, unsigned flags)
{
	struct rp_aging *a = priv;

	(void)flags;
	age_pull(a, f);
	rp_list_unlink(&a->all, a->alk, f);
	a->count[f] = 0;
	a->ref[f] = 0;
}

static void aging_tick(void *priv)
{
	struct rp_aging *a = priv;

	for (unsigned k = 0; k < AGE_KEYS; k++)
		rp_list_init(&a->key[k]);
	memset(a->map, 0, sizeof(a->map));
	for (uint32_t f = a->all.head; f != RP_NIL; f = a->alk[f].next) {
		a->count[f] = (uint8_t)((a->count[f] >> 1) | (a->ref[f] << 7));
		a->ref[f] = 0;
		age_push(a, f);
	}
}

static int aging_check(const void *priv, const struct kmem_rp *rp, char *why, size_t len)
{
	const struct rp_aging *a = priv;
	uint32_t listed = 0, resident = 0;
	int rc = kmem_rp_list_check(&a->all, a->alk, a->frames, NULL, 0, "G1 all-list", why, len);

	if (rc)
		return rc;
	for (uint32_t f = a->all.head; f != RP_NIL; f = a->alk[f].next)
		if (!kmem_rp_resident(rp, f) || a->ref[f] > 1)
			return kmem_rp_fail(why, len, "G1: frame %" PRIu32 " listed but not resident", f);
	for (uint32_t f = 0; f < a->frames; f++)
		resident += kmem_rp_resident(rp, f) ? 1 : 0;
	if (resident != a->all.len)
		return kmem_rp_fail(why, len, "G1: %" PRIu32 " resident, all-list %" PRIu32, resident, a->all.len);
	for (unsigned k = 0; k < AGE_KEYS; k++) {
		rc = kmem_rp_list_check(&a->key[k], a->lk, a->frames, NULL, 0, "G1 key list", why, len);
		if (rc)
			return rc;
		if (!!(a->map[k / 64] & (1ull << (k % 64))) != (a->key[k].len != 0))
			return kmem_rp_fail(why, len, "G1: map bit of key %u wrong", k);
		for (uint32_t f = a->key[k].head; f != RP_NIL; f = a->lk[f].next)
			if (age_key(a, f) != k || !kmem_rp_resident(rp, f))
				return kmem_rp_fail(why, len, "G1: frame %" PRIu32 " on key list %u", f, k);
		listed += a->key[k].len;
	}
	if (listed != resident)
		return kmem_rp_fail(why, len, "G1: %" PRIu32 " on key lists, %" PRIu32 " resident", listed, resident);
	return 0;
}

const struct kmem_rp_ops kmem_rp_aging = {
	.name = "aging", .size = aging_size, .init = aging_init, .insert = aging_insert,
	.reference = aging_reference, .victim = aging_victim, .remove = aging_remove,
	.tick = aging_tick, .check = aging_check,
};
