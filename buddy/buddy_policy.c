/* buddy_policy.c - buddy allocation policies: free-list disciplines (FIFO,
 * address-ordered) and anti-fragmentation grouping by allocation type
 * (issue 16; decision 25).
 *
 * Algorithm:
 *   1. Lists. A free block's list follows from its position (list_of()):
 *      with grouping and order k below the pageblock order pb, the typed
 *      list (region, type of its pageblock, k); otherwise the shared list
 *      (region, k) of buddy.c. Each list is doubly linked through the frame
 *      table as in buddy.c; FIFO and ADDRESS also keep a tail.
 *   2. Disciplines. Allocation always takes a list's first block. LIFO
 *      inserts at the head, FIFO at the tail (both O(1)); ADDRESS inserts
 *      in ascending index order: after the tail when the block lies above
 *      it (O(1): frees and splits in ascending order), else by walking
 *      from the head, O(length of the list). ADDRESS also picks the
 *      lowest-addressed region that has a block (by_addr, O(regions)).
 *   3. Grouping (Linux mm/page_alloc.c, __rmqueue): an allocation of type T
 *      and order k takes (a) the smallest typed block of T of order >= k;
 *      else (b) the smallest shared block (order >= pb): the pageblocks the
 *      allocation covers become T, and the split-off halves land on the
 *      lists their positions name; else (c) fallback: the largest typed
 *      block of order pb-1 down to k of T's fallback types in Linux's
 *      order. T may claim that block's pageblock if the block's order is
 *      >= pb / 2 or T is not movable (can_steal_fallback); it does when at
 *      least half the pageblock's frames are free: the pageblock becomes T
 *      and its free blocks move to T's lists (a walk of the pageblock,
 *      O(2^pb)). Otherwise the smallest block of that fallback type is
 *      taken and its pageblock keeps its type.
 *      Worked example, pb = 2 (pageblocks of 4 frames), one unmovable
 *      allocation in an arena of 8 free frames (one order-3 block): (a)
 *      finds nothing, (b) takes the order-3 block, pageblock 0 (frames
 *      0-3) becomes unmovable, frames 4-7 go back shared as an order-2
 *      block, frames 2-3 onto the unmovable order-1 list, frame 1 onto the
 *      unmovable order-0 list, frame 0 is allocated.
 *   4. Free needs no type: merge_locked() in buddy.c unlinks a free buddy
 *      from the list its position names (a block below pb and its buddy
 *      share a pageblock) and pushes the merged block the same way.
 * Bound: O(max_order) per operation, plus an ADDRESS insert's walk and a
 * claim's pageblock walk, as above.
 *
 * Data structures (buddy_internal.h): struct buddy_policy after the region
 * slots (typed masks, counters, per-region struct buddy_pol_region with
 * tails and typed heads); the pageblock types in each region's frame
 * table. Invariants P1, P2, G1-G3 (buddy_internal.h);
 * kmem_buddy_pol_check_locked() verifies them.
 *
 * Locking: everything here runs under b->lock (the _locked suffix); the
 * policy configuration is immutable after init.
 */
#include "buddy_internal.h"

#include <inttypes.h>
#include <string.h>

#include "kmem_fmt.h"

#if KMEM_BUDDY_POLICIES

struct blist {
	uint32_t *head, *tail;	/* tail NULL: LIFO keeps none */
	uint64_t *avail;	/* region mask word (I5 / G2) */
	uint32_t *mask;		/* order mask word */
	size_t *count;		/* per-type count (G3), or NULL */
};

/* Linux's fallbacks[]: whom type T steals from, in order. */
static const uint8_t fallback_types[KMEM_BUDDY_NR_TYPES][2] = {
	[KMEM_BUDDY_UNMOVABLE] = { KMEM_BUDDY_RECLAIMABLE, KMEM_BUDDY_MOVABLE },
	[KMEM_BUDDY_MOVABLE] = { KMEM_BUDDY_RECLAIMABLE, KMEM_BUDDY_UNMOVABLE },
	[KMEM_BUDDY_RECLAIMABLE] = { KMEM_BUDDY_UNMOVABLE, KMEM_BUDDY_MOVABLE },
};

static inline bool has_tails(const struct kmem_buddy *b)
{
	return b->discipline != KMEM_BUDDY_LIFO;
}

static void list_typed(struct kmem_buddy *b, struct buddy_region *r, unsigned order, unsigned t,
		       struct blist *l)
{
	struct buddy_pol_region *pr = &b->pol->region[r->id];

	l->head = &pr->thead[t][order];
	l->tail = has_tails(b) ? &pr->ttail[t][order] : NULL;
	l->avail = &b->pol->tavail[t][order];
	l->mask = &b->pol->tmask[t];
	l->count = &b->pol->nr_free_t[t][order];
}

/* The list a free block of `order` at idx belongs on (G1). */
static void list_of(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx, unsigned order,
		    struct blist *l)
{
	struct buddy_pol_region *pr = &b->pol->region[r->id];

	if (b->grouping && order < b->pb_order) {
		list_typed(b, r, order, buddy_pbtype(b, r, idx), l);
		return;
	}
	l->head = &r->head[order];
	l->tail = has_tails(b) ? &pr->tail[order] : NULL;
	l->avail = &b->avail[order];
	l->mask = &b->order_mask;
	l->count = b->grouping ? &b->pol->nr_free_t[buddy_pbtype(b, r, idx)][order] : NULL;
}

static void insert_locked(struct kmem_buddy *b, struct buddy_region *r, const struct blist *l,
			  uint32_t idx, unsigned order)
{
	struct buddy_link *link = r->link;
	uint32_t first = *l->head;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "free lists need the instance lock");
	r->tag[idx] = buddy_tag(BT_FREE, order);
	if (first == BUDDY_NIL) {
		link[idx].next = BUDDY_NIL;
		link[idx].prev = BUDDY_NIL;
		*l->head = idx;
		if (l->tail)
			*l->tail = idx;
		*l->avail |= r->bit;
		*l->mask |= 1u << order;
	} else if (!l->tail) { /* LIFO */
		link[idx].next = first;
		link[idx].prev = BUDDY_NIL;
		link[first].prev = idx;
		*l->head = idx;
	} else {
		uint32_t after = *l->tail; /* FIFO: append */

		if (b->discipline == KMEM_BUDDY_ADDRESS && idx < after) {
			uint32_t cur = first; /* the first block above idx (the tail is) */

			while (cur < idx)
				cur = link[cur].next;
			KMEM_ASSERT(cur != BUDDY_NIL && cur != idx && "P2: idx is not listed yet");
			after = link[cur].prev;
		}
		link[idx].prev = after;
		if (after == BUDDY_NIL) {
			link[idx].next = first;
			link[first].prev = idx;
			*l->head = idx;
		} else {
			uint32_t next = link[after].next;

			link[idx].next = next;
			if (next != BUDDY_NIL)
				link[next].prev = idx;
			else
				*l->tail = idx;
			link[after].next = idx;
		}
	}
	b->nr_free[order]++;
	if (l->count)
		(*l->count)++;
}

static void delete_locked(struct kmem_buddy *b, struct buddy_region *r, const struct blist *l,
			  uint32_t idx, unsigned order)
{
	struct buddy_link *lk = &r->link[idx];

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "free lists need the instance lock");
	KMEM_ASSERT(r->tag[idx] == buddy_tag(BT_FREE, order) && "I3: only free heads are listed");
	if (lk->prev != BUDDY_NIL)
		r->link[lk->prev].next = lk->next;
	else
		*l->head = lk->next;
	if (lk->next != BUDDY_NIL)
		r->link[lk->next].prev = lk->prev;
	else if (l->tail)
		*l->tail = lk->prev;
	if (*l->head == BUDDY_NIL) {
		*l->avail &= ~r->bit;
		if (!*l->avail)
			*l->mask &= ~(1u << order);
	}
	b->nr_free[order]--;
	if (l->count)
		(*l->count)--;
}

void kmem_buddy_pol_push_locked(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx,
				unsigned order)
{
	struct blist l;

	list_of(b, r, idx, order, &l);
	insert_locked(b, r, &l, idx, order);
}

void kmem_buddy_pol_del_locked(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx,
			       unsigned order)
{
	struct blist l;

	list_of(b, r, idx, order, &l);
	delete_locked(b, r, &l, idx, order);
}

/* The region to take a block from, given the mask of regions that have
 * one (non-zero): the lowest id, or with ADDRESS the lowest address. */
static struct buddy_region *pick_region(struct kmem_buddy *b, uint64_t avail)
{
	KMEM_ASSERT(avail && "pick_region needs a region with a block");
	if (b->discipline == KMEM_BUDDY_ADDRESS) {
		for (unsigned i = 0; i < b->nr_regions; i++)
			if ((avail >> b->by_addr[i]) & 1)
				return &b->region[b->by_addr[i]];
	}
	return &b->region[kmem_ctz64(avail)];
}

/* Split the unlisted free block idx of order j down to `order`: the upper
 * halves go on the lists their positions name. */
static void split_locked(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx, unsigned j,
			 unsigned order)
{
	while (j > order) {
		j--;
		kmem_buddy_pol_push_locked(b, r, idx + (1u << j), j);
	}
}

static void set_pbtype(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx, unsigned t)
{
	struct buddy_pol_region *pr = &b->pol->region[r->id];
	uintptr_t i = ((r->start_pfn + idx) >> b->pb_order) - pr->pb_first;
	unsigned old = pr->pbtype[i];

	if (old != t) {
		b->pol->pageblocks[old]--;
		b->pol->pageblocks[t]++;
		pr->pbtype[i] = (uint8_t)t;
	}
}

/* Frames [*s, *e) of r that the pageblock holding idx covers. */
static void pageblock_span(const struct kmem_buddy *b, const struct buddy_region *r, uint32_t idx,
			   uint32_t *s, uint32_t *e)
{
	uintptr_t pb0 = ((r->start_pfn + idx) >> b->pb_order) << b->pb_order;
	uintptr_t pb1 = pb0 + ((uintptr_t)1 << b->pb_order);

	*s = pb0 > r->start_pfn ? (uint32_t)(pb0 - r->start_pfn) : 0;
	*e = pb1 - r->start_pfn < r->nframes ? (uint32_t)(pb1 - r->start_pfn) : r->nframes;
}

/* Fallback for type t below pageblock order (step 3c). */
static struct buddy_region *fallback_locked(struct kmem_buddy *b, unsigned order, unsigned t,
					    uint32_t *idxp)
{
	struct buddy_policy *pol = b->pol;
	struct buddy_region *r;
	unsigned pb = b->pb_order, f = 0, j;
	struct blist l;
	uint32_t idx, m;
	bool found = false;

	for (j = pb; !found && j-- > order;) /* the largest block of a fallback type */
		for (unsigned c = 0; !found && c < 2; c++)
			if ((pol->tmask[fallback_types[t][c]] >> j) & 1) {
				f = fallback_types[t][c];
				found = true;
			}
	if (!found)
		return NULL;
	pol->fallbacks++;
	r = pick_region(b, pol->tavail[f][j]);
	idx = pol->region[r->id].thead[f][j];
	if (j >= pb / 2 || t != KMEM_BUDDY_MOVABLE) {
		uint32_t s, e, pos;
		size_t free = 0;

		pageblock_span(b, r, idx, &s, &e);
		for (pos = s; pos < e; pos += 1u << buddy_tag_order(r->tag[pos])) {
			KMEM_ASSERT(buddy_tag_state(r->tag[pos]) != BT_TAIL && "I1");
			if (buddy_tag_state(r->tag[pos]) == BT_FREE)
				free += (size_t)1 << buddy_tag_order(r->tag[pos]);
		}
		if (2 * free >= ((size_t)1 << pb)) { /* claim: the pageblock becomes t */
			for (pos = s; pos < e; pos += 1u << buddy_tag_order(r->tag[pos]))
				if (buddy_tag_state(r->tag[pos]) == BT_FREE)
					kmem_buddy_pol_del_locked(b, r, pos, buddy_tag_order(r->tag[pos]));
			set_pbtype(b, r, idx, t);
			for (pos = s; pos < e; pos += 1u << buddy_tag_order(r->tag[pos]))
				if (buddy_tag_state(r->tag[pos]) == BT_FREE)
					kmem_buddy_pol_push_locked(b, r, pos, buddy_tag_order(r->tag[pos]));
			pol->claims++;
			kmem_buddy_pol_del_locked(b, r, idx, j);
			split_locked(b, r, idx, j, order);
			*idxp = idx;
			return r;
		}
	}
	/* no claim: the smallest block of that type, its pageblock unchanged */
	m = pol->tmask[f] >> order;
	j = order + kmem_ctz32(m);
	r = pick_region(b, pol->tavail[f][j]);
	list_typed(b, r, j, f, &l);
	idx = *l.head;
	delete_locked(b, r, &l, idx, j);
	split_locked(b, r, idx, j, order);
	*idxp = idx;
	return r;
}

struct buddy_region *kmem_buddy_pol_take_locked(struct kmem_buddy *b, unsigned order,
						unsigned type, uint32_t *idxp)
{
	struct buddy_policy *pol = b->pol;
	struct buddy_region *r;
	unsigned pb = b->pb_order, j;
	struct blist l;
	uint32_t m, idx;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "alloc needs the instance lock");
	KMEM_ASSERT(pol && type < KMEM_BUDDY_NR_TYPES && order <= b->max_order);
	if (b->grouping && order < pb && (m = pol->tmask[type] >> order) != 0) {
		j = order + kmem_ctz32(m); /* (a) T's own smallest block */
		r = pick_region(b, pol->tavail[type][j]);
		list_typed(b, r, j, type, &l);
		idx = *l.head;
		delete_locked(b, r, &l, idx, j);
		split_locked(b, r, idx, j, order);
	} else if ((m = b->order_mask >> order) != 0) {
		j = order + kmem_ctz32(m); /* (b) shared (all lists without grouping) */
		r = pick_region(b, b->avail[j]);
		idx = r->head[j];
		kmem_buddy_pol_del_locked(b, r, idx, j);
		if (b->grouping) { /* the pageblocks the allocation covers become T */
			uint32_t n = (uint32_t)1 << (order > pb ? order : pb);

			for (uint32_t f = 0; f < n; f += 1u << pb)
				set_pbtype(b, r, idx + f, type);
		}
		split_locked(b, r, idx, j, order);
	} else if (b->grouping && order < pb) {
		r = fallback_locked(b, order, type, &idx); /* (c) */
		if (!r)
			return NULL;
	} else {
		return NULL;
	}
	if (b->grouping)
		pol->allocs_t[type]++;
	*idxp = idx;
	return r;
}

size_t kmem_buddy_pol_bytes(unsigned max_regions, bool any)
{
	return any ? sizeof(struct buddy_policy) + max_regions * sizeof(struct buddy_pol_region) : 0;
}

void kmem_buddy_pol_region_locked(struct kmem_buddy *b, struct buddy_region *r, uint8_t *pbtype)
{
	struct buddy_pol_region *pr = &b->pol->region[r->id];

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "a region's policy slot needs the instance lock");
	memset(pr->tail, 0xff, sizeof(pr->tail)); /* BUDDY_NIL */
	memset(pr->thead, 0xff, sizeof(pr->thead));
	memset(pr->ttail, 0xff, sizeof(pr->ttail));
	pr->pbtype = pbtype;
	if (b->grouping) {
		uintptr_t n;

		pr->pb_first = r->start_pfn >> b->pb_order;
		n = ((r->start_pfn + r->nframes - 1) >> b->pb_order) - pr->pb_first + 1;
		memset(pbtype, KMEM_BUDDY_MOVABLE, n); /* as Linux at boot */
		b->pol->pageblocks[KMEM_BUDDY_MOVABLE] += n;
	}
}

/* ---- checker (P1, P2, G1-G3) ---------------------------------------------- */

struct pol_fail {
	const void **ptr;
	int *order;
	char *detail;
	size_t len;
};

#define PFAIL(pf, p, o, ...)                                                     \
	do {                                                                     \
		*(pf)->ptr = (p);                                                \
		*(pf)->order = (o);                                              \
		kmem_snprintf((pf)->detail, (pf)->len, __VA_ARGS__);             \
		return false;                                                    \
	} while (0)

/* One list: links, membership (each block's position names this list),
 * P1 and P2. *n: its length. */
static bool check_list(const struct kmem_buddy *b, struct buddy_region *r, const struct blist *l,
		       unsigned order, int type, size_t *n, struct pol_fail *pf)
{
	uint32_t cur = *l->head, prev = BUDDY_NIL;

	*n = 0;
	while (cur != BUDDY_NIL) {
		struct blist want;

		if (cur >= r->nframes || r->tag[cur] != buddy_tag(BT_FREE, order) ||
		    r->link[cur].prev != prev || ++*n > r->nframes)
			PFAIL(pf, NULL, (int)order, "I3: %s list %d/%u of region %" PRIu32 " is broken at %" PRIu32,
			      type < 0 ? "shared" : "typed", type, order, r->id, cur);
		list_of((struct kmem_buddy *)(uintptr_t)b, r, cur, order, &want);
		if (want.head != l->head)
			PFAIL(pf, buddy_addr(b, r, cur), (int)order,
			      "G1: free order-%u block on the %s list %d, its pageblock names another", order,
			      type < 0 ? "shared" : "typed", type);
		if (b->discipline == KMEM_BUDDY_ADDRESS && prev != BUDDY_NIL && prev >= cur)
			PFAIL(pf, buddy_addr(b, r, cur), (int)order,
			      "P2: address-ordered list %u of region %" PRIu32 " is not ascending", order, r->id);
		prev = cur;
		cur = r->link[cur].next;
	}
	if (l->tail && *l->tail != prev)
		PFAIL(pf, NULL, (int)order, "P1: tail of list %d/%u of region %" PRIu32 " is %" PRIu32 ", last %" PRIu32,
		      type, order, r->id, *l->tail, prev);
	if (((*l->avail >> r->id) & 1) != (*n != 0))
		PFAIL(pf, NULL, (int)order, "G2: region bit of list %d/%u of region %" PRIu32 " is wrong", type,
		      order, r->id);
	return true;
}

bool kmem_buddy_pol_check_locked(const struct kmem_buddy *b, const void **ptr, int *order,
				 char *detail, size_t len)
{
	struct kmem_buddy *mb = (struct kmem_buddy *)(uintptr_t)b; /* list_of's pointers */
	const struct buddy_policy *pol = b->pol;
	struct pol_fail pf = { ptr, order, detail, len };
	size_t tot[KMEM_BUDDY_NR_TYPES][BUDDY_LISTS];
	size_t pbs[KMEM_BUDDY_NR_TYPES] = { 0 };
	unsigned pb = b->pb_order;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "the checker needs the instance lock");
	memset(tot, 0, sizeof(tot));
	for (unsigned i = 0; i < b->nr_regions; i++) {
		struct buddy_region *r = &mb->region[i];
		const struct buddy_pol_region *pr = &pol->region[i];
		uint32_t cnt[KMEM_BUDDY_NR_TYPES][BUDDY_LISTS];

		memset(cnt, 0, sizeof(cnt));
		if (b->grouping) {
			uintptr_t npb = ((r->start_pfn + r->nframes - 1) >> pb) - pr->pb_first + 1;

			if (pr->pb_first != r->start_pfn >> pb)
				PFAIL(&pf, NULL, -1, "G3: region %u's first pageblock is wrong", i);
			for (uintptr_t k = 0; k < npb; k++) {
				if (pr->pbtype[k] >= KMEM_BUDDY_NR_TYPES)
					PFAIL(&pf, NULL, -1, "G3: pageblock %" PRIuPTR " of region %u has type %u",
					      k, i, pr->pbtype[k]);
				pbs[pr->pbtype[k]]++;
			}
			for (uint32_t idx = 0; idx < r->nframes; idx += 1u << buddy_tag_order(r->tag[idx]))
				if (buddy_tag_state(r->tag[idx]) == BT_FREE)
					cnt[buddy_pbtype(b, r, idx)][buddy_tag_order(r->tag[idx])]++;
		}
		for (unsigned k = 0; k <= KMEM_BUDDY_ORDER_LIMIT; k++) {
			struct blist l;
			size_t n;

			l.head = &r->head[k];
			l.tail = has_tails(b) ? &mb->pol->region[i].tail[k] : NULL;
			l.avail = &mb->avail[k];
			if (b->grouping && k < pb && r->head[k] != BUDDY_NIL)
				PFAIL(&pf, NULL, (int)k, "G1: shared list %u below pageblock order is not empty", k);
			if (!check_list(b, r, &l, k, -1, &n, &pf))
				return false;
			for (unsigned t = 0; b->grouping && k < pb && t < KMEM_BUDDY_NR_TYPES; t++) {
				list_typed(mb, r, k, t, &l);
				if (!check_list(b, r, &l, k, (int)t, &n, &pf))
					return false;
				if (n != cnt[t][k])
					PFAIL(&pf, NULL, (int)k,
					      "G1: %" PRIu32 " free order-%u blocks in type-%u pageblocks of region %u, %zu listed",
					      cnt[t][k], k, t, i, n);
			}
			for (unsigned t = 0; b->grouping && t < KMEM_BUDDY_NR_TYPES; t++)
				tot[t][k] += cnt[t][k];
		}
	}
	if (!b->grouping)
		return true;
	for (unsigned t = 0; t < KMEM_BUDDY_NR_TYPES; t++) {
		if (pbs[t] != pol->pageblocks[t])
			PFAIL(&pf, NULL, -1, "G3: %zu pageblocks of type %u, counted %zu", pbs[t], t,
			      pol->pageblocks[t]);
		if (pol->tmask[t] >> pb)
			PFAIL(&pf, NULL, -1, "G2: tmask[%u] has bits at or above pageblock order", t);
		for (unsigned k = 0; k <= KMEM_BUDDY_ORDER_LIMIT; k++) {
			if (tot[t][k] != pol->nr_free_t[t][k])
				PFAIL(&pf, NULL, (int)k, "G3: nr_free_t[%u][%u] is %zu, found %zu", t, k,
				      pol->nr_free_t[t][k], tot[t][k]);
			if (((pol->tmask[t] >> k) & 1) != (pol->tavail[t][k] != 0))
				PFAIL(&pf, NULL, (int)k, "G2: tmask[%u] bit %u disagrees with tavail", t, k);
		}
	}
	if (pb && (b->order_mask & ((1u << pb) - 1)))
		PFAIL(&pf, NULL, -1, "G2: order_mask has bits below pageblock order");
	return true;
}

#endif /* KMEM_BUDDY_POLICIES */
