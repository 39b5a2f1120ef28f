/* rp_scan.c - the scan-resistant policies with history: 2Q and ARC.
 *
 * 2Q (T. Johnson, D. Shasha, "2Q: A Low Overhead High Performance Buffer
 * Management Replacement Algorithm", VLDB 1994, the full version, fig. 3):
 *   1. A miss on a page whose number is in the ghost FIFO A1out puts it at
 *      the tail of the LRU list Am (its number leaves A1out); any other miss
 *      puts it at the tail of the FIFO A1in.
 *   2. A hit in Am moves the page to Am's tail; a hit in A1in does nothing
 *      (correlated references).
 *   3. victim: the head of A1in when |A1in| > Kin (or Am is empty), else
 *      the head of Am.
 *   4. A page evicted from A1in leaves its number at the tail of A1out
 *      (the head dropped when A1out holds Kout); one evicted from Am is
 *      forgotten.
 *   Kin = 25% and Kout = 50% of the frames (the paper's recommendation),
 *   both at least 1. O(1) every operation (A1out hashed: expected O(1)).
 *
 * ARC (N. Megiddo, D. S. Modha, "ARC: A Self-Tuning, Low Overhead
 * Replacement Cache", FAST 2003, fig. 4), c = frames, target p in 0..c:
 *   hit (case I): the page moves to the MRU end of T2.
 *   victim(x):
 *     x in B1 (case II):  p = min(c, p + max(|B2| / |B1|, 1));
 *     x in B2 (case III): p = max(0, p - max(|B1| / |B2|, 1));
 *     neither (case IV):  A. |T1| + |B1| == c: if |T1| < c drop B1's LRU
 *                            ghost, else the victim is T1's LRU, forgotten
 *                            (no ghost: stop here);
 *                         B. else if |T1|+|T2|+|B1|+|B2| == 2c drop B2's LRU.
 *     REPLACE: T1's LRU if |T1| >= 1 and (|T1| > p or (x in B2 and
 *     |T1| == p)), else T2's LRU (T1's if T2 is empty).
 *   remove(KMEM_RP_EVICT): a T1 page's number goes to the MRU end of B1,
 *     a T2 page's to B2 (except the case IV.A victim).
 *   insert(x): x in B1 or B2: its ghost goes, the page enters T2's MRU
 *     end (p adapted here if no victim was chosen for x, i.e. a free frame
 *     was used); else T1's MRU end (case IV's trimming done here when no
 *     victim was chosen).
 *   Lists are index lists (LRU at the head); ghosts in a hashed table of
 *   2c entries (kept under 2c: a full table drops B1's LRU ghost, else
 *   B2's). O(1) every operation (expected, hashed ghosts).
 *
 * Invariants:
 *   Q1 (2q) A1in and Am hold exactly the resident frames, where[f] names
 *      the list; |A1out| <= Kout; A1out holds exactly the ghost entries;
 *      the ghost table is consistent; no ghost names a resident page.
 *   ARC1 T1 and T2 hold exactly the resident frames, where[f] naming the
 *      list; B1 and B2 hold exactly the ghost entries, tagged; p <= c;
 *      |T1| + |T2| + |B1| + |B2| <= 2c; no ghost names a resident page.
 *   (No ghost names a resident page assumes the caller's contract: one
 *   page in one frame at a time.)
 *
 * Locking: none (replace.h).
 */
#include <inttypes.h>

#include "replace_internal.h"

#define IN_A 1		/* 2q: A1in (frames), A1out (ghosts); arc: T1, B1 */
#define IN_B 2		/* 2q: Am; arc: T2, B2 */

struct rp_hist {
	uint32_t frames;
	uint32_t kin, kout;		/* 2q */
	uint32_t p;			/* arc: target size of T1 */
	struct rp_list a, b;		/* resident: A1in/Am, T1/T2 */
	struct rp_list ga, gb;		/* ghosts: A1out/-, B1/B2 */
	struct rp_link *lk;
	uint64_t *page;
	uint8_t *where;
	struct rp_ghosts g;
	/* arc: what victim(x) already did for the insert of x */
	bool pend;
	bool pend_adapted;
	uint64_t pend_page;
	uint32_t no_ghost;		/* frame to evict without a ghost, or RP_NIL */
};

static void hist_layout(struct rp_hist *h, struct rp_carve *c, uint32_t frames, uint32_t ghosts)
{
	struct rp_hist *self = rp_take(c, sizeof(*h));

	if (self)
		h = self;
	h->frames = frames;
	h->lk = rp_take(c, sizeof(struct rp_link) * (size_t)frames);
	h->page = rp_take(c, sizeof(uint64_t) * (size_t)frames);
	h->where = rp_take(c, frames);
	kmem_rp_ghosts_carve(&h->g, c, ghosts);
}

static void hist_init_lists(struct rp_hist *h)
{
	rp_list_init(&h->a);
	rp_list_init(&h->b);
	rp_list_init(&h->ga);
	rp_list_init(&h->gb);
	kmem_rp_ghosts_init(&h->g);
	h->no_ghost = RP_NIL;
}

static void ghost_drop(struct rp_hist *h, struct rp_list *l)
{
	uint32_t i = l->head;

	rp_list_unlink(l, h->g.lk, i);
	kmem_rp_ghosts_del(&h->g, i);
}

static void ghost_push(struct rp_hist *h, struct rp_list *l, uint64_t page, uint8_t tag)
{
	uint32_t i = kmem_rp_ghosts_find(&h->g, page);

	if (i != RP_NIL) { /* (only if the caller broke one page, one frame) */
		rp_list_unlink(h->g.where[i] == IN_A ? &h->ga : &h->gb, h->g.lk, i);
		kmem_rp_ghosts_del(&h->g, i);
	}
	if (h->g.used == h->g.cap)
		ghost_drop(h, h->ga.len ? &h->ga : &h->gb);
	rp_list_push_tail(l, h->g.lk, kmem_rp_ghosts_add(&h->g, page, tag));
}

static void hist_unlink(struct rp_hist *h, uint32_t f)
{
	rp_list_unlink(h->where[f] == IN_A ? &h->a : &h->b, h->lk, f);
	h->where[f] = 0;
}

static int hist_check(const struct rp_hist *h, const struct kmem_rp *rp, const char *inv,
		      char *why, size_t len)
{
	uint32_t resident = 0;
	int rc;

	if ((rc = kmem_rp_list_check(&h->a, h->lk, h->frames, h->where, IN_A, "resident list 1", why, len)) ||
	    (rc = kmem_rp_list_check(&h->b, h->lk, h->frames, h->where, IN_B, "resident list 2", why, len)) ||
	    (rc = kmem_rp_list_check(&h->ga, h->g.lk, h->g.cap, h->g.where, IN_A, "ghost list 1", why, len)) ||
	    (rc = kmem_rp_list_check(&h->gb, h->g.lk, h->g.cap, h->g.where, IN_B, "ghost list 2", why, len)) ||
	    (rc = kmem_rp_ghosts_check(&h->g, why, len)))
		return rc;
	for (uint32_t f = 0; f < h->frames; f++) {
		bool held = kmem_rp_resident(rp, f);

		resident += held ? 1 : 0;
		if (held != (h->where[f] != 0))
			return kmem_rp_fail(why, len, "%s: frame %" PRIu32 " listed %u, resident %d", inv, f,
				       h->where[f], held);
		if (held && kmem_rp_ghosts_find(&h->g, h->page[f]) != RP_NIL)
			return kmem_rp_fail(why, len, "%s: page %llu resident and a ghost", inv,
				       (unsigned long long)h->page[f]);
	}
	if (h->ga.len + h->gb.len != h->g.used)
		return kmem_rp_fail(why, len, "%s: %" PRIu32 " ghosts listed, table holds %" PRIu32, inv,
			       h->ga.len + h->gb.len, h->g.used);
	if (resident != h->a.len + h->b.len)
		return kmem_rp_fail(why, len, "%s: %" PRIu32 " resident, %" PRIu32 " listed", inv, resident,
			       h->a.len + h->b.len);
	return 0;
}

/* ---- 2Q ----------------------------------------------------------------------------- */

static uint32_t pct(uint32_t frames, unsigned p, unsigned dflt)
{
	uint64_t v = (uint64_t)frames * (p ? p : dflt) / 100;

	return v ? (uint32_t)(v < UINT32_MAX ? v : UINT32_MAX) : 1;
}

static size_t q2_size(const struct kmem_rp_config *cfg)
{
	struct rp_hist h;
	struct rp_carve c = { NULL, 0 };

	if (cfg->kin_pct > 100 || cfg->kout_pct > 400)
		return 0;
	hist_layout(&h, &c, cfg->frames, pct(cfg->frames, cfg->kout_pct, 50));
	return c.off;
}

static int q2_init(void *priv, const struct kmem_rp_config *cfg)
{
	struct rp_hist tmp, *h = priv;
	struct rp_carve c = { priv, 0 };

	hist_layout(&tmp, &c, cfg->frames, pct(cfg->frames, cfg->kout_pct, 50));
	h->kin = pct(cfg->frames, cfg->kin_pct, 25);
	h->kout = pct(cfg->frames, cfg->kout_pct, 50);
	hist_init_lists(h);
	return 0;
}

static void q2_insert(void *priv, uint32_t f, uint64_t page, unsigned flags)
{
	struct rp_hist *h = priv;
	uint32_t g = kmem_rp_ghosts_find(&h->g, page);

	(void)flags;
	h->page[f] = page;
	if (g != RP_NIL) {
		rp_list_unlink(&h->ga, h->g.lk, g);
		kmem_rp_ghosts_del(&h->g, g);
		h->where[f] = IN_B;
		rp_list_push_tail(&h->b, h->lk, f);
	} else {
		h->where[f] = IN_A;
		rp_list_push_tail(&h->a, h->lk, f);
	}
}

static void q2_reference(void *priv, uint32_t f, unsigned flags)
{
	struct rp_hist *h = priv;

	(void)flags;
	if (h->where[f] == IN_B)
		rp_list_to_tail(&h->b, h->lk, f);
}

static uint32_t q2_victim(void *priv, uint64_t incoming)
{
	struct rp_hist *h = priv;

	(void)incoming;
	if (h->a.len > h->kin || !h->b.len)
		return h->a.head;
	return h->b.head;
}

static void q2_remove(void *priv, uint32_t f, unsigned flags)
{
	struct rp_hist *h = priv;

	if ((flags & KMEM_RP_EVICT) && h->where[f] == IN_A) {
		if (h->ga.len >= h->kout)
			ghost_drop(h, &h->ga);
		ghost_push(h, &h->ga, h->page[f], IN_A);
	}
	hist_unlink(h, f);
}

static int q2_check(const void *priv, const struct kmem_rp *rp, char *why, size_t len)
{
	const struct rp_hist *h = priv;

	if (h->gb.len || h->ga.len > h->kout)
		return kmem_rp_fail(why, len, "Q1: A1out holds %" PRIu32 " of %" PRIu32 " (and %" PRIu32 " stray)", h->ga.len,
			       h->kout, h->gb.len);
	return hist_check(h, rp, "Q1", why, len);
}

const struct kmem_rp_ops kmem_rp_2q = {
	.name = "2q", .size = q2_size, .init = q2_init, .insert = q2_insert,
	.reference = q2_reference, .victim = q2_victim, .remove = q2_remove,
	.check = q2_check,
};

/* ---- ARC ------------------------------------------------------------------------------ */

static size_t arc_size(const struct kmem_rp_config *cfg)
{
	struct rp_hist h;
	struct rp_carve c = { NULL, 0 };

	hist_layout(&h, &c, cfg->frames, 2 * cfg->frames);
	return c.off;
}

static int arc_init(void *priv, const struct kmem_rp_config *cfg)
{
	struct rp_hist tmp, *h = priv;
	struct rp_carve c = { priv, 0 };

	hist_layout(&tmp, &c, cfg->frames, 2 * cfg->frames);
	hist_init_lists(h);
	return 0;
}

/* cases II and III: move the target p on a ghost hit g */
static void arc_adapt(struct rp_hist *h, uint32_t g)
{
	if (h->g.where[g] == IN_A) {
		uint32_t d = h->gb.len / h->ga.len;

		d = d > 1 ? d : 1;
		h->p = h->frames - h->p > d ? h->p + d : h->frames;
	} else {
		uint32_t d = h->ga.len / h->gb.len;

		d = d > 1 ? d : 1;
		h->p = h->p > d ? h->p - d : 0;
	}
}

/* case IV's trimming of the ghost lists before a new page enters; returns
 * true when T1 is full (case IV.A with |T1| == c) */
static bool arc_trim(struct rp_hist *h)
{
	if (h->a.len + h->ga.len >= h->frames) {
		if (h->ga.len)
			ghost_drop(h, &h->ga);
		else
			return h->a.len >= h->frames;
	} else if (h->a.len + h->b.len + h->ga.len + h->gb.len >= 2 * h->frames && h->gb.len) {
		ghost_drop(h, &h->gb);
	}
	return false;
}

static uint32_t arc_victim(void *priv, uint64_t x)
{
	struct rp_hist *h = priv;
	uint32_t g = kmem_rp_ghosts_find(&h->g, x);
	bool in_b2 = g != RP_NIL && h->g.where[g] == IN_B;

	h->pend = true;
	h->pend_page = x;
	h->pend_adapted = g != RP_NIL;
	h->no_ghost = RP_NIL;
	if (g != RP_NIL) {
		arc_adapt(h, g);
	} else if (h->a.len + h->ga.len >= h->frames && h->a.len >= h->frames) {
		h->no_ghost = h->a.head; /* case IV.A, T1 full: evicted, forgotten */
		return h->a.head;
	} else {
		arc_trim(h);
	}
	if (h->a.len && (h->a.len > h->p || (in_b2 && h->a.len == h->p)))
		return h->a.head;
	return h->b.len ? h->b.head : h->a.head;
}

static void arc_remove(void *priv, uint32_t f, unsigned flags)
{
	struct rp_hist *h = priv;

	if ((flags & KMEM_RP_EVICT) && f != h->no_ghost) {
		if (h->where[f] == IN_A)
			ghost_push(h, &h->ga, h->page[f], IN_A);
		else
			ghost_push(h, &h->gb, h->page[f], IN_B);
	}
	h->no_ghost = RP_NIL;
	hist_unlink(h, f);
}

static void arc_insert(void *priv, uint32_t f, uint64_t x, unsigned flags)
{
	struct rp_hist *h = priv;
	uint32_t g = kmem_rp_ghosts_find(&h->g, x);
	bool chosen = h->pend && h->pend_page == x;

	(void)flags;
	h->pend = false;
	h->no_ghost = RP_NIL;
	h->page[f] = x;
	if (g != RP_NIL) {
		if (!(chosen && h->pend_adapted))
			arc_adapt(h, g);
		rp_list_unlink(h->g.where[g] == IN_A ? &h->ga : &h->gb, h->g.lk, g);
		kmem_rp_ghosts_del(&h->g, g);
		h->where[f] = IN_B;
		rp_list_push_tail(&h->b, h->lk, f);
		return;
	}
	if (!chosen)
		arc_trim(h);
	h->where[f] = IN_A;
	rp_list_push_tail(&h->a, h->lk, f);
}

static void arc_reference(void *priv, uint32_t f, unsigned flags)
{
	struct rp_hist *h = priv;

	(void)flags;
	if (h->where[f] == IN_A) {
		rp_list_unlink(&h->a, h->lk, f);
		h->where[f] = IN_B;
		rp_list_push_tail(&h->b, h->lk, f);
	} else {
		rp_list_to_tail(&h->b, h->lk, f);
	}
}

static int arc_check(const void *priv, const struct kmem_rp *rp, char *why, size_t len)
{
	const struct rp_hist *h = priv;

	if (h->p > h->frames)
		return kmem_rp_fail(why, len, "ARC1: p %" PRIu32 " > c %" PRIu32, h->p, h->frames);
	if ((uint64_t)h->a.len + h->b.len + h->ga.len + h->gb.len > 2ull * h->frames)
		return kmem_rp_fail(why, len, "ARC1: |T1|+|T2|+|B1|+|B2| = %" PRIu32 " > 2c",
			       h->a.len + h->b.len + h->ga.len + h->gb.len);
	return hist_check(h, rp, "ARC1", why, len);
}

const struct kmem_rp_ops kmem_rp_arc = {
	.name = "arc", .size = arc_size, .init = arc_init, .insert = arc_insert,
	.reference = arc_reference, .victim = arc_victim, .remove = arc_remove,
	.check = arc_check,
};
