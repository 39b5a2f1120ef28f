/* buddy_info.c - buddy statistics, fragmentation indexes, text formats,
 * block walk and the invariant checker.
 *
 * Algorithm:
 *   1. Stats are a copy of the counters kept by buddy.c, O(max_order).
 *   2. Fragmentation indexes follow Linux mm/vmstat.c exactly (integer
 *      thousandths), from the per-order free block counts: O(max_order).
 *   3. The walk steps head -> head + 2^order through each region (I1).
 *   4. The checker walks every frame of every region (O(frames)) and every
 *      free list (O(free blocks)), and verifies I1-I8 of buddy_internal.h,
 *      and with a policy P1, P2 and G1-G3 (buddy_policy.c's part).
 *   5. Type statistics and the pagetypeinfo text copy the grouping counters
 *      (G3), O(max_order).
 *
 * Locking: every entry point takes b->lock; the walk callback runs under it.
 * A checker failure is reported after the lock is dropped.
 */
#include "buddy_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "kmem_fmt.h"

void kmem_buddy_get_stats(struct kmem_buddy *b, struct kmem_buddy_stats *st)
{
	memset(st, 0, sizeof(*st));
	kmem_lock_acquire(&b->lock);
	st->frame_size = buddy_frame_size(b);
	st->max_order = b->max_order;
	st->nr_regions = b->nr_regions;
	st->managed_frames = b->managed_frames;
	st->free_frames = buddy_free_frames(b);
	st->used_frames = b->used_frames;
	st->reserved_frames = b->reserved_frames;
	st->peak_used_frames = b->peak_used_frames;
	st->meta_bytes = b->meta_bytes;
	for (unsigned k = 0; k <= b->max_order; k++) {
		st->free_blocks[k] = b->nr_free[k];
		st->fail[k] = b->fail[k];
	}
	st->allocs = b->allocs;
	st->frees = b->frees;
	st->trims = b->trims;
	st->fail_too_big = b->fail_too_big;
	st->fail_bad_type = b->fail_bad_type;
	kmem_lock_release(&b->lock);
}

void kmem_buddy_get_type_stats(struct kmem_buddy *b, struct kmem_buddy_type_stats *st)
{
	memset(st, 0, sizeof(*st));
#if KMEM_BUDDY_POLICIES
	kmem_lock_acquire(&b->lock);
	if (b->grouping) {
		const struct buddy_policy *pol = b->pol;

		st->pageblock_order = b->pb_order;
		for (unsigned t = 0; t < KMEM_BUDDY_NR_TYPES; t++) {
			st->pageblocks[t] = pol->pageblocks[t];
			st->allocs[t] = pol->allocs_t[t];
			for (unsigned k = 0; k <= b->max_order; k++) {
				st->free_blocks[t][k] = pol->nr_free_t[t][k];
				st->free_frames[t] += pol->nr_free_t[t][k] << k;
			}
		}
		st->fallbacks = pol->fallbacks;
		st->claims = pol->claims;
	}
	kmem_lock_release(&b->lock);
#else
	(void)b;
#endif
}

int kmem_buddy_format_pagetypeinfo(struct kmem_buddy *b, char *buf, size_t len)
{
	static const char *const names[KMEM_BUDDY_NR_TYPES] = { "Unmovable", "Movable",
								 "Reclaimable" };
	struct kmem_buddy_type_stats st;
	struct kmem_fmt f;
	unsigned max_order = b->max_order;

	kmem_buddy_get_type_stats(b, &st);
	kmem_fmt_init(&f, buf, len);
	if (!st.pageblock_order) {
		kmem_fmt_printf(&f, "zone %8s: no grouping by type (KMEM_BUDDY_GROUPING)\n", b->name);
		return kmem_fmt_result(&f);
	}
	kmem_fmt_printf(&f, "Page block order: %u\nPages per block:  %zu\n\n", st.pageblock_order,
			(size_t)1 << st.pageblock_order);
	kmem_fmt_printf(&f, "%-43s ", "Free pages count per migrate type at order");
	for (unsigned k = 0; k <= max_order; k++)
		kmem_fmt_printf(&f, "%6u ", k);
	kmem_fmt_printf(&f, "\n");
	for (unsigned t = 0; t < KMEM_BUDDY_NR_TYPES; t++) {
		kmem_fmt_printf(&f, "Node %4d, zone %8s, type %12s ", 0, b->name, names[t]);
		for (unsigned k = 0; k <= max_order; k++)
			kmem_fmt_printf(&f, "%6zu ", st.free_blocks[t][k]);
		kmem_fmt_printf(&f, "\n");
	}
	kmem_fmt_printf(&f, "\n%-23s", "Number of blocks type ");
	for (unsigned t = 0; t < KMEM_BUDDY_NR_TYPES; t++)
		kmem_fmt_printf(&f, "%12s ", names[t]);
	kmem_fmt_printf(&f, "\nNode 0, zone %8s ", b->name);
	for (unsigned t = 0; t < KMEM_BUDDY_NR_TYPES; t++)
		kmem_fmt_printf(&f, "%12zu ", st.pageblocks[t]);
	kmem_fmt_printf(&f, "\n\nFallbacks: %llu, pageblocks claimed: %llu\n",
			(unsigned long long)st.fallbacks, (unsigned long long)st.claims);
	return kmem_fmt_result(&f);
}

/* Linux's contig_page_info for order j. */
struct contig_info {
	uint64_t free_pages, free_blocks_total, free_blocks_suitable;
};

static struct contig_info contig_info(const struct kmem_buddy_stats *st, unsigned j)
{
	struct contig_info ci = { st->free_frames, 0, 0 };

	for (unsigned k = 0; k <= KMEM_BUDDY_ORDER_LIMIT; k++) {
		ci.free_blocks_total += st->free_blocks[k];
		if (k >= j)
			ci.free_blocks_suitable += (uint64_t)st->free_blocks[k] << (k - j);
	}
	return ci;
}

int kmem_buddy_unusable_index(const struct kmem_buddy_stats *st, unsigned order)
{
	unsigned j = order > KMEM_BUDDY_ORDER_LIMIT ? KMEM_BUDDY_ORDER_LIMIT : order;
	struct contig_info ci = contig_info(st, j);

	if (!ci.free_pages)
		return 1000;
	return (int)((ci.free_pages - (ci.free_blocks_suitable << j)) * 1000 / ci.free_pages);
}

int kmem_buddy_extfrag_index(const struct kmem_buddy_stats *st, unsigned order)
{
	unsigned j = order > KMEM_BUDDY_ORDER_LIMIT ? KMEM_BUDDY_ORDER_LIMIT : order;
	struct contig_info ci = contig_info(st, j);

	if (!ci.free_blocks_total)
		return 0;
	if (ci.free_blocks_suitable)
		return -1000;
	return (int)(1000 - (1000 + ci.free_pages * 1000 / ((uint64_t)1 << j)) / ci.free_blocks_total);
}

int kmem_buddy_format_buddyinfo(struct kmem_buddy *b, char *buf, size_t len)
{
	struct kmem_buddy_stats st;
	struct kmem_fmt f;

	kmem_buddy_get_stats(b, &st);
	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "Node 0, zone %8s ", b->name);
	for (unsigned k = 0; k <= st.max_order; k++)
		kmem_fmt_printf(&f, "%6zu ", st.free_blocks[k]);
	kmem_fmt_printf(&f, "\n");
	return kmem_fmt_result(&f);
}

int kmem_buddy_format_fragindex(struct kmem_buddy *b, char *buf, size_t len)
{
	static const char *const label[2] = { "unusable_index", "extfrag_index" };
	struct kmem_buddy_stats st;
	struct kmem_fmt f;

	kmem_buddy_get_stats(b, &st);
	kmem_fmt_init(&f, buf, len);
	for (unsigned which = 0; which < 2; which++) {
		kmem_fmt_printf(&f, "%s: Node 0, zone %8s ", label[which], b->name);
		for (unsigned k = 0; k <= st.max_order; k++) {
			kmem_fmt_milli(&f, which ? kmem_buddy_extfrag_index(&st, k)
						 : kmem_buddy_unusable_index(&st, k));
			kmem_fmt_printf(&f, " ");
		}
		kmem_fmt_printf(&f, "\n");
	}
	return kmem_fmt_result(&f);
}

int kmem_buddy_format_json(struct kmem_buddy *b, char *buf, size_t len)
{
	struct kmem_buddy_stats st;
	struct kmem_fmt f;

	kmem_buddy_get_stats(b, &st);
	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "{\"name\":");
	kmem_fmt_json_string(&f, b->name);
	kmem_fmt_printf(&f,
			",\"frame_size\":%zu,\"max_order\":%u,\"regions\":%u,"
			"\"managed_frames\":%zu,\"free_frames\":%zu,\"used_frames\":%zu,"
			"\"reserved_frames\":%zu,\"peak_used_frames\":%zu,\"meta_bytes\":%zu,"
			"\"allocs\":%llu,\"frees\":%llu,\"fail_too_big\":%llu,\"fail_bad_type\":%llu",
			st.frame_size, st.max_order, st.nr_regions, st.managed_frames,
			st.free_frames, st.used_frames, st.reserved_frames, st.peak_used_frames,
			st.meta_bytes, (unsigned long long)st.allocs, (unsigned long long)st.frees,
			(unsigned long long)st.fail_too_big, (unsigned long long)st.fail_bad_type);
	kmem_fmt_printf(&f, ",\"free_blocks\":[");
	for (unsigned k = 0; k <= st.max_order; k++)
		kmem_fmt_printf(&f, "%s%zu", k ? "," : "", st.free_blocks[k]);
	kmem_fmt_printf(&f, "],\"fail\":[");
	for (unsigned k = 0; k <= st.max_order; k++)
		kmem_fmt_printf(&f, "%s%llu", k ? "," : "", (unsigned long long)st.fail[k]);
	kmem_fmt_printf(&f, "],\"unusable_index\":[");
	for (unsigned k = 0; k <= st.max_order; k++) {
		kmem_fmt_printf(&f, "%s", k ? "," : "");
		kmem_fmt_milli(&f, kmem_buddy_unusable_index(&st, k));
	}
	kmem_fmt_printf(&f, "],\"extfrag_index\":[");
	for (unsigned k = 0; k <= st.max_order; k++) {
		kmem_fmt_printf(&f, "%s", k ? "," : "");
		kmem_fmt_milli(&f, kmem_buddy_extfrag_index(&st, k));
	}
	kmem_fmt_printf(&f, "]}\n");
	return kmem_fmt_result(&f);
}

int kmem_buddy_walk(struct kmem_buddy *b, int (*fn)(void *arg, const struct kmem_buddy_block *blk),
		    void *arg)
{
	int ret = 0;

	kmem_lock_acquire(&b->lock);
	for (unsigned i = 0; i < b->nr_regions && !ret; i++) {
		const struct buddy_region *r = &b->region[b->by_addr[i]];

		for (uint32_t idx = 0; idx < r->nframes && !ret;) {
			uint8_t t = r->tag[idx];
			struct kmem_buddy_block blk = {
				.addr = buddy_addr(b, r, idx),
				.order = buddy_tag_order(t),
				.state = (enum kmem_buddy_state)buddy_tag_state(t),
				.region = r->id,
			};

			KMEM_ASSERT(buddy_tag_state(t) != BT_TAIL && "I1: blocks tile the region");
			ret = fn(arg, &blk);
			idx += 1u << blk.order;
		}
	}
	kmem_lock_release(&b->lock);
	return ret;
}

/* ---- checker ------------------------------------------------------------- */

struct check_fail {
	const void *ptr;
	int order;
	char detail[160];
};

#define FAIL(cf, p, o, ...)                                                      \
	do {                                                                     \
		(cf)->ptr = (p);                                                 \
		(cf)->order = (o);                                               \
		kmem_snprintf((cf)->detail, sizeof((cf)->detail), __VA_ARGS__);       \
		return false;                                                    \
	} while (0)

/* I1, I2, I4 and I3 for one region; adds to the totals. */
static bool check_region_locked(const struct kmem_buddy *b, const struct buddy_region *r,
				size_t *free_blocks, size_t totals[4], struct check_fail *cf)
{
	size_t on_walk[KMEM_BUDDY_ORDER_LIMIT + 1] = { 0 };
	uint32_t idx = 0;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "the checker needs the instance lock");
	while (idx < r->nframes) {
		uint8_t t = r->tag[idx];
		unsigned o = buddy_tag_order(t);
		uintptr_t pfn = r->start_pfn + idx;
		void *a = buddy_addr(b, r, idx);

		if (buddy_tag_state(t) == BT_TAIL)
			FAIL(cf, a, -1, "I1: frame %" PRIu32 " of region %" PRIu32 " is in no block", idx,
			     r->id);
		if (o > b->max_order || (pfn & (((uintptr_t)1 << o) - 1)) ||
		    (uint64_t)idx + ((uint64_t)1 << o) > r->nframes)
			FAIL(cf, a, (int)o, "I2: block misaligned, too large or past region %" PRIu32, r->id);
		for (uint32_t f = 1; f < (1u << o); f++)
			if (r->tag[idx + f] != BT_TAIL)
				FAIL(cf, buddy_addr(b, r, idx + f), -1,
				     "I1: frame inside the order-%u block at %p has a head tag", o, a);
		totals[buddy_tag_state(t)] += (size_t)1 << o;
		if (buddy_tag_state(t) == BT_FREE) {
			uintptr_t bp = pfn ^ ((uintptr_t)1 << o);

			free_blocks[o]++;
			if (!b->grouping || o >= b->pb_order) /* else typed (G1) */
				on_walk[o]++;
			if (o < b->max_order && bp >= r->start_pfn && bp < r->start_pfn + r->nframes &&
			    r->tag[bp - r->start_pfn] == buddy_tag(BT_FREE, o))
				FAIL(cf, a, (int)o, "I4: free block and its free buddy are not merged");
		}
		idx += 1u << o;
	}
	for (unsigned k = 0; k <= KMEM_BUDDY_ORDER_LIMIT; k++) {
		uint32_t cur = r->head[k], prev = BUDDY_NIL;
		size_t n = 0;
		/* without hot-add (and no policy) order_mask is the one region's mask */
		bool bit = (KMEM_BUDDY_HOTADD || b->pol) ? (b->avail[k] >> r->id) & 1
							  : (b->order_mask >> k) & 1;

		while (cur != BUDDY_NIL) {
			if (cur >= r->nframes || r->tag[cur] != buddy_tag(BT_FREE, k) ||
			    r->link[cur].prev != prev || ++n > on_walk[k])
				FAIL(cf, cur < r->nframes ? buddy_addr(b, r, cur) : NULL, (int)k,
				     "I3: free list %u of region %" PRIu32 " is broken at index %" PRIu32, k, r->id,
				     cur);
			prev = cur;
			cur = r->link[cur].next;
		}
		if (n != on_walk[k])
			FAIL(cf, NULL, (int)k, "I3: %zu free order-%u blocks in region %" PRIu32 ", %zu listed",
			     on_walk[k], k, r->id, n);
		if (bit != (n != 0))
			FAIL(cf, NULL, (int)k, "I5: avail[%u] bit %" PRIu32 " is %d, list has %zu", k, r->id,
			     bit, n);
	}
	return true;
}

static bool check_locked(const struct kmem_buddy *b, struct check_fail *cf)
{
	size_t free_blocks[KMEM_BUDDY_ORDER_LIMIT + 1] = { 0 };
	size_t totals[4] = { 0 }, managed = 0;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "the checker needs the instance lock");
	if (b->magic != BUDDY_MAGIC)
		FAIL(cf, b, -1, "instance magic is wrong (not initialised or destroyed)");
	if (b->lowest != (b->nr_regions ? &b->region[b->by_addr[0]] : NULL))
		FAIL(cf, b->lowest, -1, "I7: lowest does not point to the lowest region");
	if (b->fast_lowest != (b->pol ? NULL : b->lowest) ||
	    b->fast_order_end != (b->pol ? 0 : b->max_order + 1))
		FAIL(cf, b->fast_lowest, -1, "I8: fast-path gates disagree with the policy");
	for (unsigned i = 0; i < b->nr_regions; i++) {
		const struct buddy_region *r = &b->region[i];

		if (r->id != i || r->bit != (uint64_t)1 << i)
			FAIL(cf, NULL, -1, "region %u has id %" PRIu32, i, r->id);
		if (!check_region_locked(b, r, free_blocks, totals, cf))
			return false;
		managed += r->nframes;
		if (i > 0) {
			const struct buddy_region *p = &b->region[b->by_addr[i - 1]];
			const struct buddy_region *q = &b->region[b->by_addr[i]];

			if (p->base + ((uintptr_t)p->nframes << b->frame_shift) > q->base)
				FAIL(cf, (void *)q->base, -1, "I7: regions unsorted or overlapping");
		}
	}
	for (unsigned k = 0; k <= KMEM_BUDDY_ORDER_LIMIT; k++) {
		if ((KMEM_BUDDY_HOTADD || b->pol) && ((b->order_mask >> k) & 1) != (b->avail[k] != 0))
			FAIL(cf, NULL, (int)k, "I5: order_mask bit %u disagrees with avail", k);
		if (b->nr_regions < 64 && (b->avail[k] >> b->nr_regions))
			FAIL(cf, NULL, (int)k, "I5: avail[%u] names a region that does not exist", k);
		if (free_blocks[k] != b->nr_free[k])
			FAIL(cf, NULL, (int)k, "I6: nr_free[%u] is %zu, lists hold %zu", k,
			     b->nr_free[k], free_blocks[k]);
	}
#if KMEM_BUDDY_POLICIES
	if (b->pol && !kmem_buddy_pol_check_locked(b, &cf->ptr, &cf->order, cf->detail,
						   sizeof(cf->detail)))
		return false;
#endif
	if (managed != b->managed_frames || totals[BT_USED] != b->used_frames ||
	    totals[BT_RESERVED] != b->reserved_frames || totals[BT_FREE] != buddy_free_frames(b) ||
	    b->used_frames + b->reserved_frames > b->managed_frames)
		FAIL(cf, NULL, -1,
		     "I6: counters used %zu reserved %zu managed %zu, walk found free %zu used %zu reserved %zu managed %zu",
		     b->used_frames, b->reserved_frames, b->managed_frames, totals[BT_FREE],
		     totals[BT_USED], totals[BT_RESERVED], managed);
	return true;
}

int kmem_buddy_check(struct kmem_buddy *b)
{
	struct check_fail cf = { 0 };
	bool ok;

	kmem_lock_acquire(&b->lock);
	ok = check_locked(b, &cf);
	kmem_lock_release(&b->lock);
	if (!ok) {
		kmem_report(b->sink, "buddy", b->name, KMEM_CORRUPTION, cf.ptr, cf.order,
			    KMEM_RETURN_ADDRESS(), cf.detail);
		return -EFAULT;
	}
	return 0;
}
