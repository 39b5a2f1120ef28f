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
 *       of order_mask is set iff avail[k] != 0.
 *   I6. used_frames and reserved_frames count the frames of USED and
 *       RESERVED blocks; the rest of managed_frames is free (free frames are
 *       derived, never stored); nr_free[k] == number of FREE blocks of order
 *       k over all regions.
 *   I7. by_addr[0..nr_regions) lists region ids sorted by base; regions
 *       never overlap; lowest points to region[by_addr[0]] (NULL if none).
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

	/* --- protected by lock --- */
	struct buddy_region *lowest;	/* region[by_addr[0]], or NULL (I7) */
	unsigned nr_regions;
	uint32_t order_mask;	/* I5 */
	uint64_t avail[KMEM_BUDDY_ORDER_LIMIT + 1];	/* I5 */
	size_t nr_free[KMEM_BUDDY_ORDER_LIMIT + 1];	/* I6 */
	size_t managed_frames, used_frames, reserved_frames; /* free: derived (I6) */
	size_t peak_used_frames;
	size_t meta_bytes;
	uint64_t allocs, frees, trims, fail_too_big;
	uint64_t fail[KMEM_BUDDY_ORDER_LIMIT + 1];
	uint8_t by_addr[KMEM_BUDDY_REGION_LIMIT];	/* I7 */
	struct buddy_region region[];	/* max_regions entries */
};

/* KMEM_BUDDY_SIZEOF (kmem/buddy.h) is a bound for every target and lock
 * kind: 1144 bytes on x86-64 with the futex lock, 904 on Cortex-M4. */
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

#endif /* KMEM_BUDDY_INTERNAL_H */
