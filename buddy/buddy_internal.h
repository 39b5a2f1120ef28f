/* buddy_internal.h - private structures of the buddy allocator, shared by
 * buddy.c (allocation, free, regions, reservations) and buddy_info.c (stats,
 * text formats, walk, checker), and by white-box tests.
 *
 * Frame numbers. pfn = address >> frame_shift, as in Linux. A region covers
 * pfns [start_pfn, start_pfn + nframes); frame table index idx = pfn -
 * start_pfn. Natural alignment is on pfns: an order-k block starts at a pfn
 * that is a multiple of 2^k, so its buddy is pfn ^ (1 << k):
 *
 *     order 1 block at pfn 8: buddy is 8 ^ (1 << 1) = 10;  merged: order 2 at 8
 *     order 1 block at pfn 10: buddy is 10 ^ 2 = 8
 *
 * Frame table (per region, outside the managed frames):
 *   tag[idx]  one byte: state in bits 6-7, order in bits 0-5.
 *             TAIL (0) for every frame that is not the first of a block;
 *             FREE/USED/RESERVED plus the order for a block's first frame.
 *   link[idx] {next, prev}: doubly linked free list of the block's order,
 *             as region-local indices; meaningful only for FREE heads.
 *
 * Invariants (kmem_buddy_check() verifies all; asserts cite them):
 *   I1. The blocks of a region tile it: walking head -> head + 2^order from
 *       index 0 visits every head and ends exactly at nframes; every frame
 *       that is not a head has tag TAIL.
 *   I2. A block of order k starts at a pfn that is a multiple of 2^k, lies
 *       inside its region, and k <= max_order.
 *   I3. A FREE block of order k is on exactly one list: region->head[k].
 *   I4. No FREE block of order k < max_order has a FREE buddy of order k
 *       (free buddies are always merged).
 *   I5. Bit r of avail[k] is set iff region r's list k is non-empty; bit k
 *       of order_mask is set iff avail[k] != 0. Without hot-add
 *       (KMEM_BUDDY_HOTADD 0) and no policy avail[] stays zero and bit k of
 *       order_mask is set iff the one region's list k is non-empty.
 *   I6. used_frames and reserved_frames count the frames of USED and
 *       RESERVED blocks; the rest of managed_frames is free (free frames are
 *       derived, never stored); nr_free[k] == number of FREE blocks of order
 *       k over all regions.
 *   I7. by_addr[0..nr_regions) lists region ids sorted by base; regions
 *       never overlap; lowest points to region[by_addr[0]] (NULL if none).
 *   I8. Fast-path gates: with no policy (pol NULL) fast_order_end ==
 *       max_order + 1 and fast_lowest == lowest; with one, fast_order_end
 *       == 0 and fast_lowest == NULL, so both fast paths always divert to
 *       the policy-aware slow paths.
 *
 * Policies (pol != NULL; buddy_policy.c). A list is (region, order) or,
 * with grouping below pageblock order pb, (region, type, order); which list
 * a free block is on follows from its position (list_of()):
 *   P1. (FIFO, ADDRESS) every list's tail is its last block, BUDDY_NIL
 *       when empty.
 *   P2. (ADDRESS) every list is in strictly ascending index order.
 *   G1. (grouping) a FREE block of order k < pb is on the typed list of
 *       its pageblock's type; a FREE block of order >= pb is on the shared
 *       list region->head[k]; shared lists below pb are empty.
 *   G2. bit r of tavail[t][k] is set iff region r's typed list (t, k) is
 *       non-empty; bit k of tmask[t] iff tavail[t][k] != 0; no tmask bit
 *       at or above pb and no order_mask bit below pb is set.
 *   G3. nr_free_t[t][k] counts the FREE blocks of order k whose (first)
 *       pageblock has type t; pageblocks[t] counts the pageblock type
 *       bytes equal to t over all regions; every type byte is < 3.
 *
 * Locking: one lock per instance (b->lock) protects everything below except
 * the immutable configuration (frame_shift, max_order, flags, name, sink
 * pointer). Functions named *_locked expect it held and assert it.
 */
#ifndef KMEM_BUDDY_INTERNAL_H
#define KMEM_BUDDY_INTERNAL_H

#include <kmem/buddy.h>

#include "kmem_port.h"
#include "kmem_report.h"

/* Policies (free-list disciplines, grouping): 0 compiles them out for
 * firmware (-Dbuddy_policies=false); a config asking for one then gets
 * -ENOTSUP. */
#ifndef KMEM_BUDDY_POLICIES
#define KMEM_BUDDY_POLICIES 1
#endif

/* The firmware profile's compile-outs (Meson features, auto: on in hosted
 * builds, off in freestanding ones; docs/decisions.md 31), 1 or 0 in
 * kmem_config.h (1 where it is not set).
 *   KMEM_BUDDY_HOTADD (-Dbuddy_hotadd) 0: an instance manages one region.
 *     max_regions is 1 (0 means 1; more: -ENOTSUP from init and 0 from
 *     sizeof), a second kmem_buddy_add_region() gets -ENOTSUP. Gone: the
 *     region search (by_addr, the binary search), the per-region avail[]
 *     masks (order_mask alone says where a block is) and the overlap
 *     checks against other regions (the instance's own storage is still
 *     checked).
 *   KMEM_BUDDY_RESERVE (-Dbuddy_reserve) 0: kmem_buddy_reserve() and
 *     kmem_buddy_unreserve() return -ENOTSUP and change nothing; no block is
 *     ever RESERVED.
 *   KMEM_BUDDY_FAST (-Dbuddy_fast_paths) 0: kmem_buddy_alloc() and
 *     kmem_buddy_free() are the general paths (lock, alloc_locked or the
 *     merge loop, unlock), without the separate exact-order and no-merge
 *     copies in front of them: same results, same bounds, a few more
 *     instructions per call, 0.4 KB less of Cortex-M4 text. */
#ifndef KMEM_BUDDY_HOTADD
#define KMEM_BUDDY_HOTADD 1
#endif
#ifndef KMEM_BUDDY_RESERVE
#define KMEM_BUDDY_RESERVE 1
#endif
#ifndef KMEM_BUDDY_FAST
#define KMEM_BUDDY_FAST 1
#endif

/* Loops counted by the instrumented build (KMEM_STEP, kmem_base.h), each
 * with the bound the contracts state (tests/test_buddy_steps.c checks them):
 *   SPLIT   split_slow_locked, one per halving: <= max_order per alloc;
 *   MERGE   merge_locked, one per buddy merged: <= max_order per free;
 *   SEARCH  find_region_slow, one per bisection: <= log2(regions) + 1;
 *   SPAN    kmem_buddy_span_of, one per order tried: <= max_order + 1;
 *   CARVE   carve_locked, one per block laid down: <= max_order per trim. */
enum buddy_step {
	BUDDY_STEP_SPLIT = KMEM_STEP_BUDDY_BASE,
	BUDDY_STEP_MERGE,
	BUDDY_STEP_SEARCH,
	BUDDY_STEP_SPAN,
	BUDDY_STEP_CARVE,
	BUDDY_STEP_KINDS
};
_Static_assert(BUDDY_STEP_KINDS <= KMEM_STEP_SLAB_BASE, "the buddy's step kinds stay below the slab's");

#define BUDDY_MAGIC 0x6b627564u /* "kbud" */
#define BUDDY_NIL UINT32_MAX
#define BUDDY_NAME_MAX 32

enum buddy_tag_state {
	BT_TAIL = 0,
	BT_FREE = KMEM_BUDDY_FREE,
	BT_USED = KMEM_BUDDY_USED,
	BT_RESERVED = KMEM_BUDDY_RESERVED,
};

#define BT_ORDER_MASK 0x3fu
#define BT_STATE_SHIFT 6

static inline uint8_t buddy_tag(enum buddy_tag_state st, unsigned order)
{
	return (uint8_t)(((unsigned)st << BT_STATE_SHIFT) | order);
}
static inline enum buddy_tag_state buddy_tag_state(uint8_t tag)
{
	return (enum buddy_tag_state)(tag >> BT_STATE_SHIFT);
}
static inline unsigned buddy_tag_order(uint8_t tag) { return tag & BT_ORDER_MASK; }

struct buddy_link {
	uint32_t next;
	uint32_t prev;
};

_Static_assert(sizeof(struct buddy_link) + 1 == KMEM_BUDDY_META_PER_FRAME,
	       "frame table entry size must match the documented overhead");
_Static_assert(KMEM_BUDDY_ORDER_LIMIT <= (int)BT_ORDER_MASK, "order must fit a tag");
_Static_assert(KMEM_BUDDY_ORDER_LIMIT < 32, "order_mask is 32 bits");
_Static_assert(KMEM_BUDDY_REGION_LIMIT <= 64, "avail[] is a 64-bit region mask");

/* Hot fields first. The entry is a union of the fields with a
 * BUDDY_REGION_SLOT-byte array, so its size is that power of two by
 * construction, whatever the target's pointer and uint64_t sizes (LP64,
 * ILP32 with 4- or 8-byte uint64_t alignment): &region[i] is a shift. The
 * assertion below fails if the fields ever outgrow the slot. */
#define BUDDY_REGION_SLOT KMEM_BUDDY_REGION_BYTES
struct buddy_region {
	union {
		struct {
			uintptr_t base;		/* address of frame 0 */
			uint8_t *tag;		/* nframes bytes */
			struct buddy_link *link;	/* nframes entries */
			uint64_t bit;		/* 1 << id: this region's bit in avail[] */
			void **owner;		/* nframes owner words (KMEM_BUDDY_OWNERS), or NULL */
			uintptr_t start_pfn;	/* base >> frame_shift */
			uint32_t nframes;
			uint32_t id;		/* index in b->region[] */
			size_t meta_bytes;	/* frame table bytes (for stats) */
			uint32_t head[KMEM_BUDDY_ORDER_LIMIT + 1];	/* free list heads (I3) */
		};
		uint8_t slot[BUDDY_REGION_SLOT];
	};
};

_Static_assert((BUDDY_REGION_SLOT & (BUDDY_REGION_SLOT - 1)) == 0,
	       "the region slot is a power of two");
_Static_assert(sizeof(struct buddy_region) == BUDDY_REGION_SLOT,
	       "region entries are a power of two in size: the fields fit the slot");
_Static_assert(sizeof(struct buddy_link) == 8, "KMEM_BUDDY_TABLE_BYTES counts 8 bytes of links");

#define BUDDY_LISTS (KMEM_BUDDY_ORDER_LIMIT + 1)

/* Per region slot, with a policy. Typed lists exist for orders below pb. */
struct buddy_pol_region {
	uint32_t tail[BUDDY_LISTS];	/* shared lists' tails (P1) */
	uint32_t thead[KMEM_BUDDY_NR_TYPES][BUDDY_LISTS];	/* typed lists (G1) */
	uint32_t ttail[KMEM_BUDDY_NR_TYPES][BUDDY_LISTS];
	uint8_t *pbtype;	/* type per pageblock, in the frame table (grouping) */
	uintptr_t pb_first;	/* start_pfn >> pb: pageblock number of pbtype[0] */
};

/* The policy area, after the region slots; b->pol points to it. */
struct buddy_policy {
	uint32_t tmask[KMEM_BUDDY_NR_TYPES];	/* G2 */
	uint64_t tavail[KMEM_BUDDY_NR_TYPES][BUDDY_LISTS];	/* G2 */
	size_t nr_free_t[KMEM_BUDDY_NR_TYPES][BUDDY_LISTS];	/* G3 */
	size_t pageblocks[KMEM_BUDDY_NR_TYPES];	/* G3 */
	uint64_t allocs_t[KMEM_BUDDY_NR_TYPES];
	uint64_t fallbacks, claims;
	struct buddy_pol_region region[];	/* max_regions entries */
};

_Static_assert(sizeof(struct buddy_pol_region) <= 1024 &&
		       sizeof(struct buddy_policy) <= 1664,
	       "KMEM_BUDDY_POLICY_BYTES bounds the policy area");

struct kmem_buddy {
	uint32_t magic;
	unsigned frame_shift;
	uintptr_t frame_mask;	/* frame_size - 1 */
	unsigned max_order;
	unsigned max_regions;
	unsigned flags;
	char name[BUDDY_NAME_MAX];
	struct kmem_error_sink *sink;
	struct kmem_error_sink own_sink;
	void **owner_tab;	/* config owner table, or NULL (immutable) */
	uintptr_t owner_tab_base;
	size_t owner_tab_frames;
	struct kmem_lock lock;
	/* policies (immutable after init; I8) */
	unsigned fast_order_end;	/* max_order + 1, or 0 with a policy */
	uint8_t discipline;	/* enum kmem_buddy_discipline */
	uint8_t grouping;	/* KMEM_BUDDY_GROUPING set */
	uint8_t pb_order;	/* pageblock order, with grouping */
	struct buddy_policy *pol;	/* NULL: no policy (LIFO, no grouping) */

	/* --- protected by lock --- */
	struct buddy_region *fast_lowest;	/* lowest, or NULL with a policy (I8) */
	struct buddy_region *lowest;	/* region[by_addr[0]], or NULL (I7) */
	unsigned nr_regions;
	uint32_t order_mask;	/* I5 */
	uint64_t avail[KMEM_BUDDY_ORDER_LIMIT + 1];	/* I5 */
	size_t nr_free[KMEM_BUDDY_ORDER_LIMIT + 1];	/* I6 */
	size_t managed_frames, used_frames, reserved_frames; /* free: derived (I6) */
	size_t peak_used_frames;
	size_t meta_bytes;
	uint64_t allocs, frees, trims, fail_too_big, fail_bad_type;
	uint64_t fail[KMEM_BUDDY_ORDER_LIMIT + 1];
	uint8_t by_addr[KMEM_BUDDY_REGION_LIMIT];	/* I7 */
	struct buddy_region region[];	/* max_regions entries */
};

/* KMEM_BUDDY_SIZEOF (kmem/buddy.h) is a bound for every target and lock
 * kind: 1192 bytes on x86-64 with the futex lock, 936 on Cortex-M4. */
_Static_assert(sizeof(struct kmem_buddy) <= KMEM_BUDDY_HEAD_MAX,
	       "KMEM_BUDDY_SIZEOF bounds the instance: raise KMEM_BUDDY_HEAD_MAX");

static inline uintptr_t buddy_frame_size(const struct kmem_buddy *b)
{
	return (uintptr_t)1 << b->frame_shift;
}

static inline size_t buddy_free_frames(const struct kmem_buddy *b)
{
	return b->managed_frames - b->used_frames - b->reserved_frames;
}

static inline void *buddy_addr(const struct kmem_buddy *b, const struct buddy_region *r,
			       uint32_t idx)
{
	return (void *)(r->base + ((uintptr_t)idx << b->frame_shift));
}

/* A pointer's place: its region, frame index and offset into the frame. */
struct buddy_locus {
	struct buddy_region *r;	/* NULL: outside every region */
	uint32_t idx;
	uintptr_t offset;	/* bytes into frame idx */
};

/* The block containing a frame. */
struct buddy_span {
	uint32_t head;
	unsigned order;
	enum buddy_tag_state state;
};

/* ---- defined in buddy.c -------------------------------------------------- */
/* Block containing frame idx of r (I1 guarantees one). O(max_order). */
KMEM_HIDDEN struct buddy_span kmem_buddy_span_of(const struct kmem_buddy *b,
						 const struct buddy_region *r, uint32_t idx);

#if KMEM_BUDDY_POLICIES
/* ---- defined in buddy_policy.c ------------------------------------------- */
/* Type of the pageblock holding frame idx of r (grouping). */
static inline unsigned buddy_pbtype(const struct kmem_buddy *b, const struct buddy_region *r,
				    uint32_t idx)
{
	const struct buddy_pol_region *pr = &b->pol->region[r->id];

	return pr->pbtype[((r->start_pfn + idx) >> b->pb_order) - pr->pb_first];
}

/* Policy-aware list operations (any discipline, grouping), lock held:
 * push a FREE block of `order` at idx onto the list its position names,
 * tagging it FREE; unlink one. O(1), an ADDRESS insert O(list). */
KMEM_HIDDEN void kmem_buddy_pol_push_locked(struct kmem_buddy *b, struct buddy_region *r,
					    uint32_t idx, unsigned order);
KMEM_HIDDEN void kmem_buddy_pol_del_locked(struct kmem_buddy *b, struct buddy_region *r,
					   uint32_t idx, unsigned order);
/* Take a free block of exactly `order` for `type` off the lists (splitting
 * a larger one, the halves back on their lists); NULL when none can be
 * found. The caller marks it USED and counts it. */
KMEM_HIDDEN struct buddy_region *kmem_buddy_pol_take_locked(struct kmem_buddy *b, unsigned order,
							    unsigned type, uint32_t *idx);
/* Bytes of policy area for a config's geometry (0: no policy). */
KMEM_HIDDEN size_t kmem_buddy_pol_bytes(unsigned max_regions, bool any);
/* Set up region r's policy slot; its pageblock types live at pbtype
 * (grouping: KMEM_BUDDY_PAGEBLOCK_BYTES of the frame table). Before any
 * block of r is pushed. */
KMEM_HIDDEN void kmem_buddy_pol_region_locked(struct kmem_buddy *b, struct buddy_region *r,
					      uint8_t *pbtype);
/* The checker's part for policies: P1, P2, G1-G3 over every region.
 * false and a message in detail (len bytes) on the first violation. */
KMEM_HIDDEN bool kmem_buddy_pol_check_locked(const struct kmem_buddy *b, const void **ptr,
					     int *order, char *detail, size_t len);
#endif

#endif /* KMEM_BUDDY_INTERNAL_H */
