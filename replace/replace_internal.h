/* replace_internal.h - the replacement-policy instance, the index lists and
 * the ghost table the policies share. Private to replace/ (and its tests).
 *
 * Data structures:
 *   struct kmem_rp    the instance: the policy's ops, a state byte per frame
 *                     (RP_HELD, RP_DIRTY), counters, the error sink; the
 *                     policy's private memory follows it in the same block:
 *
 *       [struct kmem_rp | state[frames] (to 16) | policy private (ops->size)]
 *
 *   struct rp_list    a doubly linked list of indices (frames or ghost
 *                     entries) through a caller-owned array of struct
 *                     rp_link, RP_NIL-terminated: head is the oldest (LRU,
 *                     FIFO front), tail the newest.
 *   struct rp_ghosts  a fixed table of page numbers of evicted pages (2q's
 *                     A1out, arc's B1 and B2): entries with links (for the
 *                     policy's lists), chained hash buckets keyed by page,
 *                     a free list. Expected O(1) look-up (load <= 1/2).
 *
 * Invariants of the instance (kmem_rp_check() cites them):
 *   R1  resident == number of frames with RP_HELD.
 *   R2  dirty == number of frames with RP_DIRTY; RP_DIRTY implies RP_HELD.
 *   R3  no state bit other than RP_HELD and RP_DIRTY is set.
 * Each policy numbers its own (F1.., L1.., O1.., C1.., E1.., A1.., Q1..,
 * ARC1..) at the top of its source and checks them in its check op;
 * every policy's first is: the frames it tracks are exactly the RP_HELD
 * frames.
 *
 * Locking: none (the caller serialises, include/kmem/replace.h).
 */
#ifndef KMEM_REPLACE_INTERNAL_H
#define KMEM_REPLACE_INTERNAL_H

#include <errno.h>
#include <string.h>

#include <kmem/replace.h>

#include "kmem_base.h"

#define RP_HELD 0x1u
#define RP_DIRTY 0x2u
#define RP_NIL UINT32_MAX

struct kmem_rp {
	const struct kmem_rp_ops *ops;
	void *priv;
	uint8_t *state;		/* [frames] RP_HELD | RP_DIRTY */
	uint32_t frames, resident, dirty;
	struct kmem_rp_stats st;	/* counters; frames/resident/dirty filled on read */
	struct kmem_error_sink *sink;
	struct kmem_error_sink own_sink;
	char name[32];
};

/* ---- carving a policy's private memory ---------------------------------------- */

/* Bump allocator over priv: take n bytes, 8-byte aligned. With base NULL it
 * only counts (the size op runs the same layout code as init). */
struct rp_carve {
	char *base;
	size_t off;
};

static inline void *rp_take(struct rp_carve *c, size_t n)
{
	size_t at = (c->off + 7) & ~(size_t)7;

	c->off = at + n;
	return c->base ? c->base + at : NULL;
}

/* ---- index lists ------------------------------------------------------------- */

struct rp_link {
	uint32_t prev, next;
};

struct rp_list {
	uint32_t head, tail, len;
};

static inline void rp_list_init(struct rp_list *l)
{
	l->head = l->tail = RP_NIL;
	l->len = 0;
}

static inline void rp_list_push_tail(struct rp_list *l, struct rp_link *lk, uint32_t i)
{
	lk[i].prev = l->tail;
	lk[i].next = RP_NIL;
	if (l->tail != RP_NIL)
		lk[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
	l->len++;
}

static inline void rp_list_unlink(struct rp_list *l, struct rp_link *lk, uint32_t i)
{
	uint32_t p = lk[i].prev, n = lk[i].next;

	if (p != RP_NIL)
		lk[p].next = n;
	else
		l->head = n;
	if (n != RP_NIL)
		lk[n].prev = p;
	else
		l->tail = p;
	lk[i].prev = lk[i].next = RP_NIL;
	l->len--;
}

/* Move i (on l) to l's tail. */
static inline void rp_list_to_tail(struct rp_list *l, struct rp_link *lk, uint32_t i)
{
	if (l->tail == i)
		return;
	rp_list_unlink(l, lk, i);
	rp_list_push_tail(l, lk, i);
}

/* Append all of src to dst's tail; src becomes empty. O(1). */
static inline void rp_list_splice_tail(struct rp_list *dst, struct rp_list *src, struct rp_link *lk)
{
	if (!src->len)
		return;
	if (dst->tail != RP_NIL) {
		lk[dst->tail].next = src->head;
		lk[src->head].prev = dst->tail;
	} else {
		dst->head = src->head;
	}
	dst->tail = src->tail;
	dst->len += src->len;
	rp_list_init(src);
}

/* Walk l over lk[0..n): links consistent both ways, no loop, length len.
 * mark (may be NULL): every member must have mark[i] == tag. Returns 0 or
 * -EFAULT with why filled (what names the list). O(len). */
KMEM_HIDDEN int kmem_rp_list_check(const struct rp_list *l, const struct rp_link *lk, uint32_t n,
			      const uint8_t *mark, uint8_t tag, const char *what, char *why,
			      size_t len);

/* snprintf into why and return -EFAULT: the checkers' failure line. */
KMEM_HIDDEN int kmem_rp_fail(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- the ghost table ------------------------------------------------------------ */

struct rp_ghosts {
	uint32_t cap, bits, used;
	uint32_t free_head;	/* free entries through chain[] */
	uint32_t *bucket;	/* [1 << bits] first entry or RP_NIL */
	uint32_t *chain;	/* [cap] next in bucket (or in the free list) */
	uint64_t *key;		/* [cap] page number */
	struct rp_link *lk;	/* [cap] the owning policy's list links */
	uint8_t *where;		/* [cap] the policy's list tag, 0 when free */
};

/* Lay out a table of cap entries in c (counting only when c->base is NULL). */
KMEM_HIDDEN void kmem_rp_ghosts_carve(struct rp_ghosts *g, struct rp_carve *c, uint32_t cap);
/* Empty table (after carving into zeroed memory). O(cap). */
KMEM_HIDDEN void kmem_rp_ghosts_init(struct rp_ghosts *g);
/* Entry of page, or RP_NIL. Expected O(1). */
KMEM_HIDDEN uint32_t kmem_rp_ghosts_find(const struct rp_ghosts *g, uint64_t page);
/* A new entry for page tagged where (nonzero); the table must not be full
 * (asserted: the policies trim first). O(1). */
KMEM_HIDDEN uint32_t kmem_rp_ghosts_add(struct rp_ghosts *g, uint64_t page, uint8_t where);
/* Free entry i (the caller has unlinked it from its list). Expected O(1). */
KMEM_HIDDEN void kmem_rp_ghosts_del(struct rp_ghosts *g, uint32_t i);
/* Hash chains and free list consistent with where[], used correct. */
KMEM_HIDDEN int kmem_rp_ghosts_check(const struct rp_ghosts *g, char *why, size_t len);

#endif /* KMEM_REPLACE_INTERNAL_H */
