/* kmem/buddy.h - power-of-two buddy allocator over page frames in
 * caller-supplied memory.
 *
 * A buddy instance manages one or more regions (any start address, any size)
 * cut into frames of frame_size bytes. It hands out blocks of 2^order frames,
 * 0 <= order <= max_order, each naturally aligned in absolute address terms:
 * (address % (frame_size << order)) == 0. Allocation splits a larger free
 * block; free merges a block with its buddy (the block at address
 * a ^ (frame_size << order)) as long as that buddy is free, up to max_order.
 *
 * Bounds: allocation is O(max_order); free is O(log2(regions) + max_order);
 * nothing scans frames or lists. Metadata lives outside the managed frames in
 * a frame table of 9 bytes per frame (kmem_buddy_region_meta_size()), so free
 * memory is never written by the allocator.
 *
 * No function here allocates memory from anywhere: the caller supplies the
 * instance storage (kmem_buddy_sizeof()) and, optionally, each region's frame
 * table.
 *
 * Thread safety: every function that takes a struct kmem_buddy * may be called
 * from any thread concurrently, unless the instance was created with
 * KMEM_BUDDY_NOLOCK (then the caller serialises all calls). Exceptions are
 * noted per function.
 */
#ifndef KMEM_BUDDY_H
#define KMEM_BUDDY_H

#include <kmem/common.h>
#include <kmem/error.h>
#include <kmem/page_source.h>

KMEM_BEGIN_DECLS

struct kmem_buddy; /* opaque */

/* Largest max_order an instance accepts (2^31 frames per block). */
#define KMEM_BUDDY_ORDER_LIMIT 31
#define KMEM_BUDDY_DEFAULT_ORDER 10		/* like Linux's MAX_ORDER-1 */
#define KMEM_BUDDY_DEFAULT_FRAME 4096u
#define KMEM_BUDDY_MIN_FRAME 64u
#define KMEM_BUDDY_MAX_FRAME 65536u
#define KMEM_BUDDY_DEFAULT_REGIONS 8
#define KMEM_BUDDY_REGION_LIMIT 64
/* Frame-table bytes per managed frame (one tag byte and two 32-bit links),
 * plus sizeof(void *) with KMEM_BUDDY_OWNERS. */
#define KMEM_BUDDY_META_PER_FRAME 9u

/* Compile-time sizing: constant expressions, for static array declarations
 * on firmware (no allocator to ask at start-up).
 *   KMEM_BUDDY_SIZEOF(max_regions): instance storage for kmem_buddy_init()
 *     with that many region slots (1..64): at least kmem_buddy_sizeof() of
 *     any configuration with that many and no policy (add
 *     KMEM_BUDDY_POLICY_BYTES(max_regions) for FIFO, ADDRESS or grouping),
 *     on every target and build (the library checks the bound at compile
 *     time); a few hundred bytes more than the exact size.
 *   KMEM_BUDDY_TABLE_BYTES(nframes, owners): the frame table of a region of
 *     nframes whole frames, owners 1 with KMEM_BUDDY_OWNERS (and no config
 *     owner table), else 0: exactly kmem_buddy_region_meta_size() for a
 *     region of nframes frames (plus KMEM_BUDDY_PAGEBLOCK_BYTES with
 *     grouping). kmem_buddy_create_in() carves the instance
 *     and the table from the front of its arena; size it as
 *     KMEM_BUDDY_SIZEOF(n) + KMEM_BUDDY_TABLE_BYTES(frames, owners) + a
 *     frame for alignment, plus the frames to manage. */
#define KMEM_BUDDY_REGION_BYTES 256u
#define KMEM_BUDDY_HEAD_MAX (768u + 64u * sizeof(void *))
#define KMEM_BUDDY_SIZEOF(max_regions)                                          \
	((size_t)KMEM_BUDDY_HEAD_MAX + (size_t)(max_regions) * KMEM_BUDDY_REGION_BYTES)
#define KMEM_BUDDY_TABLE_BYTES(nframes, owners)                                 \
	((((size_t)(nframes) + 7u) & ~(size_t)7u) + (size_t)(nframes) * 8u +         \
	 ((owners) ? (size_t)(nframes) * sizeof(void *) : 0u))

/* Config flags. */
#define KMEM_BUDDY_NOLOCK 0x1u	/* no internal lock: the caller serialises */
/* Keep an owner word per frame (8 more bytes of frame table per frame), for
 * layers that must map any address to its owner in O(1), as slab and
 * kmalloc do (like Linux's page->slab). See kmem_buddy_set_owner(). */
#define KMEM_BUDDY_OWNERS 0x2u
/* Anti-fragmentation grouping (Linux's migrate types): allocations are
 * tagged unmovable, movable or reclaimable (kmem_buddy_alloc_type()) and
 * steered into separate pageblocks of 2^pageblock_order frames; see
 * "Policies" below. Off by default. */
#define KMEM_BUDDY_GROUPING 0x4u
#define KMEM_BUDDY_FLAGS_ALL (KMEM_BUDDY_NOLOCK | KMEM_BUDDY_OWNERS | KMEM_BUDDY_GROUPING)
/* other bits: -EINVAL */

/* ---- policies (issue 16), chosen per instance in the config -------------
 *
 * Free-list discipline (config.discipline): which free block of an order an
 * allocation takes. Each region keeps one list per order (per type and
 * order below the pageblock order with grouping); allocation takes the
 * smallest order that has a block, then the list's first block:
 *   KMEM_BUDDY_LIFO     the block freed (or split off) last: cache-warm
 *                       reuse. The default; the fast paths serve only it.
 *                       Insert O(1).
 *   KMEM_BUDDY_FIFO     the block freed first: reuse spread over the
 *                       arena (a block stays free longest). Insert O(1).
 *   KMEM_BUDDY_ADDRESS  the lowest address (regions by address too):
 *                       allocation packs toward low addresses and the top
 *                       stays free in large blocks. Lists are kept sorted:
 *                       an insert after the list's last block is O(1), any
 *                       other insert walks the list from its head, O(free
 *                       blocks of that order in that region); choosing the
 *                       region is O(regions).
 *
 * Grouping (KMEM_BUDDY_GROUPING, config.pageblock_order): every pageblock
 * (2^pageblock_order frames, naturally aligned) has a type, movable when
 * its region is added. A free block smaller than a pageblock sits on the
 * list of its pageblock's type; whole free pageblocks (blocks of
 * pageblock_order and above) are shared. An allocation of type T takes, in
 * this order: (1) the smallest block of type T, (2) a shared block, whose
 * pageblock becomes T, (3) fallback, as Linux's __rmqueue_fallback: the
 * largest block below pageblock order of another type (T's fallbacks in
 * Linux's order: unmovable -> reclaimable, movable; movable ->
 * reclaimable, unmovable; reclaimable -> unmovable, movable). If that
 * block's order is at least pageblock_order / 2, or T is not movable
 * (Linux's can_steal_fallback), T may claim its pageblock: when at least half of the pageblock's frames are free,
 * the pageblock becomes T and all its free blocks move to T's lists
 * (counted in claims); otherwise, or when T may not claim, the smallest
 * block of that other type is taken and its pageblock keeps its type.
 * Every fallback is counted (fallbacks). A claim walks the pageblock's
 * blocks: O(2^pageblock_order) in the worst case; everything else is
 * O(max_order). Without grouping the type is checked and ignored. */
enum kmem_buddy_discipline {
	KMEM_BUDDY_LIFO = 0,
	KMEM_BUDDY_FIFO = 1,
	KMEM_BUDDY_ADDRESS = 2,
};

/* Allocation types, numbered as Linux's migrate types. */
enum kmem_buddy_type {
	KMEM_BUDDY_UNMOVABLE = 0,	/* kmem_buddy_alloc()'s type */
	KMEM_BUDDY_MOVABLE = 1,
	KMEM_BUDDY_RECLAIMABLE = 2,
};
#define KMEM_BUDDY_NR_TYPES 3

/* Instance bytes a policy adds (kmem_buddy_sizeof() includes them): with
 * any policy but the default (FIFO, ADDRESS or grouping), a fixed part and
 * a part per region slot. A bound, as KMEM_BUDDY_SIZEOF; add it to that. */
#define KMEM_BUDDY_POLICY_BYTES(max_regions)                                    \
	((size_t)1664u + (size_t)(max_regions) * 1024u)
/* Frame-table bytes grouping adds to a region of nframes frames with
 * pageblock order pb (one type byte per pageblock the region touches):
 * kmem_buddy_region_meta_size() is KMEM_BUDDY_TABLE_BYTES() plus this. */
#define KMEM_BUDDY_PAGEBLOCK_BYTES(nframes, pb) (((size_t)(nframes) >> (pb)) + 2u)

/* Pass as the order of kmem_buddy_free_checked() to accept any order. */
#define KMEM_BUDDY_ANY_ORDER (-1)

struct kmem_buddy_config {
	const char *name;	/* copied (up to 31 chars); NULL: "buddy" */
	size_t frame_size;	/* power of two, 64..65536; 0: 4096 */
	unsigned max_order;	/* 1..31; 0: 10 (like Linux's MAX_ORDER - 1) */
	unsigned max_regions;	/* 1..64; 0: 8 (1, the only value, without hot-add) */
	unsigned flags;		/* KMEM_BUDDY_* */
	/* Where errors go. NULL: the instance's own sink (print to stderr,
	 * continue). The sink must outlive the instance. */
	struct kmem_error_sink *sink;
	/* Optional, with KMEM_BUDDY_OWNERS: one caller-supplied owner table
	 * for a whole address range [owner_base, owner_base + owner_frames *
	 * frame_size), instead of owner words in each region's frame table.
	 * Every region must then lie inside that range; its owner words are
	 * the slice of owner_table at its frames (not cleared: the table must read
 * zero wherever no region is, e.g. fresh anonymous memory).
	 * The page source (kmem_buddy_page_source()) then reports the whole
	 * range for direct lookup, so regions added later are covered too: a
	 * heap that reserves address space and adds regions inside it on
	 * demand (the drop-in malloc) keeps a one-load owner lookup. The
	 * table must stay valid and must read zero outside regions.
	 * owner_base must be frame-aligned. All NULL/0: per-region words. */
	void **owner_table;
	void *owner_base;
	size_t owner_frames;
	/* Policies (see above); zero is today's behaviour. */
	unsigned discipline;	/* enum kmem_buddy_discipline; others: -EINVAL */
	/* With KMEM_BUDDY_GROUPING: 1..max_order; 0: max_order - 1 (1 when
	 * max_order is 1), as Linux's pageblock_order is one below its
	 * largest order. Nonzero without the flag, or above max_order:
	 * -EINVAL. */
	unsigned pageblock_order;
};

/* Fill cfg with the defaults: frame 4096, max order 10, 8 regions (1 in a
 * library built without hot-add, -Dbuddy_hotadd), locked, own sink (a zeroed
 * struct means the same). O(1). */
KMEM_API void kmem_buddy_config_init(struct kmem_buddy_config *cfg);

/* Bytes of instance storage kmem_buddy_init() needs for cfg (NULL: defaults),
 * or 0 if cfg is invalid. The storage must be aligned to 16 bytes. O(1). */
KMEM_API size_t kmem_buddy_sizeof(const struct kmem_buddy_config *cfg);

/* Create an instance with no regions in mem[0..mem_size).
 * Returns 0 and sets *out, or:
 *   -EINVAL  cfg invalid (frame size not a power of two in range, max_order
 *            > 31 or frame_size << max_order overflows an address, regions
 *            not in 1..64, unknown flags, an owner table without
 *            KMEM_BUDDY_OWNERS or with a misaligned base, an unknown
 *            discipline, a bad pageblock order), mem NULL or misaligned,
 *            out NULL;
 *   -ENOTSUP a policy other than the default in a library built without
 *            them (-Dbuddy_policies=false), or max_regions > 1 in one built
 *            without hot-add (-Dbuddy_hotadd=disabled, the freestanding
 *            default); kmem_buddy_sizeof() says 0 for both;
 *   -ENOSPC  mem_size < kmem_buddy_sizeof(cfg);
 *   other    the lock could not be initialised (negative errno).
 * O(max_regions). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_init(void *mem, size_t mem_size,
					     const struct kmem_buddy_config *cfg,
					     struct kmem_buddy **out);

/* One-call setup for a single arena (a static array on a microcontroller):
 * places the instance and the frame table at the start of base[0..size) and
 * manages the frames that follow. Same errors as kmem_buddy_init() and
 * kmem_buddy_add_region(); -ENOSPC if no whole frame is left.
 * O(max_regions + max_order * (size / (frame_size << max_order) + 1)). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_create_in(void *base, size_t size,
						  const struct kmem_buddy_config *cfg,
						  struct kmem_buddy **out);

/* Tear down: releases the lock. Outstanding blocks are simply forgotten; the
 * instance storage and regions belong to the caller again. Not thread-safe:
 * no other call may be in progress or follow. O(1). */
KMEM_API void kmem_buddy_destroy(struct kmem_buddy *b);

/* Fork support (pthread_atfork): prepare takes the instance lock, parent
 * and child release it. Take it after every layer above has taken its own.
 * O(1). */
KMEM_API void kmem_buddy_fork_prepare(struct kmem_buddy *b);
KMEM_API void kmem_buddy_fork_parent(struct kmem_buddy *b);
KMEM_API void kmem_buddy_fork_child(struct kmem_buddy *b);

/* Frame-table bytes kmem_buddy_add_region() needs for a region
 * base[0..size) when the caller supplies the table separately. O(1). */
KMEM_API size_t kmem_buddy_region_meta_size(const struct kmem_buddy *b,
					    const void *base, size_t size);

/* Add (hot-add) a region. Its frames are base rounded up to a frame boundary
 * up to base+size rounded down; each maximal naturally aligned piece becomes
 * a free block (at most max_order), so an unaligned head or tail is still
 * used, in smaller blocks. A frame at address 0 is never managed.
 * meta: the frame table, meta_size >= kmem_buddy_region_meta_size() bytes,
 * 8-byte aligned, outside base[0..size). meta NULL: the table is carved from
 * the start of the region itself.
 * Returns 0, or:
 *   -EINVAL  base NULL, meta misaligned or overlapping the region, or
 *            (with a config owner table) frames outside the table's range;
 *   -ENOSPC  no whole frame in the region (after the table), or meta_size
 *            too small;
 *   -EEXIST  the frames or the table overlap memory the instance already
 *            uses: its own storage, a region's frames or a region's table;
 *   -EMLINK  max_regions regions already added;
 *   -ENOTSUP a region already added, in a library built without hot-add
 *            (-Dbuddy_hotadd=disabled, the freestanding default: an instance
 *            manages one region, and its first add works as described);
 *   -EFBIG   more than 2^32 - 2 frames (split it into several regions).
 * O(log regions + max_order * (frames >> max_order + 1)) plus zeroing the
 * frame table's tag bytes (one per frame). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_add_region(struct kmem_buddy *b, void *base,
						   size_t size, void *meta,
						   size_t meta_size);

/* Reserve addr[0..size), widened to whole frames, so it is never handed out
 * (holes, MMIO windows, firmware tables). Parts already reserved stay so.
 * Returns 0, or:
 *   -EINVAL  size 0, or the range is not inside one region;
 *   -EBUSY   some frame in the range is allocated (nothing is changed);
 *   -ENOTSUP always, nothing changed, in a library built without
 *            reservations (-Dbuddy_reserve=disabled, the freestanding default).
 * O(max_order * blocks touched). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_reserve(struct kmem_buddy *b, const void *addr,
						size_t size);

/* Give a reserved range back to the allocator (e.g. boot memory after
 * init). Every frame of addr[0..size), widened to whole frames, must be
 * reserved, and no reserved block may stick out of the range.
 * Returns 0, or -EINVAL (size 0, not inside one region, or some frame not
 * reserved / a reserved block crossing the range's edge; nothing is
 * changed), or -ENOTSUP without reservations compiled in (as
 * kmem_buddy_reserve()). O(max_order * blocks touched). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_unreserve(struct kmem_buddy *b, const void *addr,
						  size_t size);

/* Allocate 2^order frames, aligned to frame_size << order. Contents are
 * whatever was there. Returns NULL if order > max_order or no free block of
 * that order or larger exists (counted in stats.fail[]; not an error
 * report). O(max_order). */
KMEM_API KMEM_MALLOC_LIKE void *kmem_buddy_alloc(struct kmem_buddy *b, unsigned order);

/* Allocate 2^order frames of allocation type `type` (enum
 * kmem_buddy_type): with KMEM_BUDDY_GROUPING the block comes from a
 * pageblock of that type when one has a block, else as described under
 * "Policies" above; without it, exactly kmem_buddy_alloc(). Free it with
 * any free call (the type is not needed: a block's list follows from its
 * pageblock). Returns NULL for order > max_order (counted in
 * fail_too_big), for type >= KMEM_BUDDY_NR_TYPES (counted in
 * fail_bad_type; nothing else happens, not an error report), or when no
 * block can be found (counted in fail[order]). O(max_order), plus
 * O(2^pageblock_order) when a fallback claims a pageblock, plus the
 * ADDRESS discipline's insertion walks. Thread-safe (the instance lock;
 * with a policy every allocation and free takes it, no fast path). */
KMEM_API KMEM_MALLOC_LIKE void *kmem_buddy_alloc_type(struct kmem_buddy *b, unsigned order,
						      unsigned type);

/* Allocate at least size bytes: the smallest order whose block holds size.
 * Returns NULL for size 0, a size above frame_size << max_order (no
 * overflow), or no memory. O(max_order). */
KMEM_API KMEM_MALLOC_LIKE void *kmem_buddy_alloc_size(struct kmem_buddy *b, size_t size);

/* Allocate at least size bytes aligned to align (a power of two; blocks are
 * naturally aligned, so this picks order max(order for size, order for
 * align)). Returns NULL if align is 0 or not a power of two, size is 0, the
 * order needed exceeds max_order, or no memory. O(max_order). */
KMEM_API KMEM_MALLOC_LIKE void *kmem_buddy_alloc_aligned(struct kmem_buddy *b, size_t size,
							 size_t align);

/* Free a block by its address; the order comes from the frame table. NULL is
 * a no-op. A bad pointer is reported to the error sink and nothing changes
 * (see kmem_buddy_free_checked()). O(log regions + max_order). */
KMEM_API void kmem_buddy_free(struct kmem_buddy *b, void *block);

/* Checked free: as kmem_buddy_free(), and if order != KMEM_BUDDY_ANY_ORDER it
 * must equal the block's order. Returns:
 *   KMEM_OK               freed (also for NULL, a no-op);
 *   KMEM_DOUBLE_FREE      block already free (possibly merged into a larger
 *                         free block); nothing changes;
 *   KMEM_FOREIGN_POINTER  not inside any region; nothing changes;
 *   KMEM_INTERIOR_POINTER inside a block but not at its start; nothing changes;
 *   KMEM_RESERVED_FREE    inside a reserved range; nothing changes;
 *   KMEM_WRONG_ORDER      order differs: reported, and the block is freed
 *                         with its true order (the frame table is the truth,
 *                         and the caller was giving the block up anyway).
 * Every status but KMEM_OK is also reported to the error sink.
 * O(log regions + max_order). */
KMEM_API enum kmem_status kmem_buddy_free_checked(struct kmem_buddy *b, void *block,
						  int order);

/* Shrink the allocated block at `block` in place to its first `size` bytes,
 * rounded up to whole frames (Linux's alloc_pages_exact idea): a block of
 * 2^order frames of which k are wanted ends up as k frames allocated, split
 * into one naturally aligned block per set bit of k, largest first from
 * `block` (each freed on its own with kmem_buddy_free(): for k = 11 that
 * is block (8 frames), block + 8 frames (2) and block + 10 frames (1)), and
 * the 2^order - k frames past them free. Contents of the kept frames are
 * unchanged. Returns the number of blocks the kept frames now are (the
 * popcount of k; 1 if nothing was trimmed), or -EINVAL (not reported) if
 * block is not the start of an allocated block, or size is 0 or larger than
 * the block. Under Valgrind the kept blocks become pool chunks of their own
 * (their contents taken as defined) and the freed frames NOACCESS.
 * O(log regions + order). */
KMEM_API int kmem_buddy_trim(struct kmem_buddy *b, void *block, size_t size);

/* Split the allocated block at `block` (2^order frames) into allocated
 * blocks without freeing anything (Linux's split_page, in halves): block
 * itself becomes a block of 2^new_order frames, and the frames past it one
 * block of each order new_order..order-1, at block + (frame_size << j) for
 * order j (the halves a split cuts off, largest last). Each is freed on its
 * own afterwards. Contents are unchanged; owner words are not touched.
 * Returns the number of blocks (order - new_order + 1; 1: nothing to split),
 * or -EINVAL (not reported) if block is not the start of an allocated block
 * or new_order exceeds its order. Under Valgrind the pieces become pool
 * chunks of their own. O(log regions + order - new_order). */
KMEM_API int kmem_buddy_split(struct kmem_buddy *b, void *block, unsigned new_order);

/* Allocate the particular block block[0..2^order frames), which must be
 * aligned to frame_size << order and lie inside one free block (Linux's
 * take_page_off_buddy): the free block around it is split down to it, the
 * other halves stay free. For a caller that knows where memory is, e.g. to
 * take a newly added region out whole. Counted as an allocation; contents
 * are whatever was there. Returns 0, -EINVAL (not reported: not frame
 * aligned, outside every region, order > max_order) or -EBUSY (not
 * aligned to its order, crossing the region's end, or some frame not free;
 * nothing changed). O(log regions + max_order). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_claim(struct kmem_buddy *b, void *block, unsigned order);

/* Order of the allocated block starting at block, or -1 if block is not the
 * start of an allocated block (not reported). O(log regions). */
KMEM_API int kmem_buddy_block_order(struct kmem_buddy *b, const void *block);

/* Batches, for layers that move blocks in batches (a frame cache's drain):
 * one hold of the instance lock for the whole array instead of one per
 * block.
 *
 * kmem_buddy_blocks_valid: the number of leading entries of blocks[0..n)
 * that each start an allocated block of exactly `order` (n if all do).
 * Nothing changes and nothing is reported; the caller hands the first
 * failing entry, blocks[return value], to kmem_buddy_free_checked() or
 * kmem_buddy_classify() to learn (and report) what it is.
 * kmem_buddy_free_bulk: frees blocks[0], blocks[1], ... while each starts an
 * allocated block of exactly `order`, and returns how many it freed; it
 * stops, reporting nothing, at the first entry that does not (which stays
 * as it was), so the caller can treat that one alone, as above, and go on
 * after it. Equivalent to kmem_buddy_free_checked() on each block in turn
 * for the blocks it frees (merging, statistics, annotations).
 * The same entry twice counts as valid twice in blocks_valid (nothing
 * changes between the tests); free_bulk frees it once and stops at the
 * second. O(n * (log regions + max_order)) under one lock hold. */
KMEM_API size_t kmem_buddy_blocks_valid(struct kmem_buddy *b, void *const *blocks, size_t n,
					unsigned order);
KMEM_API size_t kmem_buddy_free_bulk(struct kmem_buddy *b, void *const *blocks, size_t n,
				     unsigned order);

/* What kmem_buddy_free_checked(b, p, KMEM_BUDDY_ANY_ORDER) would return,
 * without freeing or reporting anything: KMEM_OK (p starts an allocated
 * block), KMEM_DOUBLE_FREE, KMEM_FOREIGN_POINTER, KMEM_INTERIOR_POINTER or
 * KMEM_RESERVED_FREE. For layers above that report to their own sink.
 * O(log regions + max_order). */
KMEM_API enum kmem_status kmem_buddy_classify(struct kmem_buddy *b, const void *p);

/* Smallest order whose block holds size bytes, or -1 if size is 0 or larger
 * than the largest block. O(1). */
KMEM_API int kmem_buddy_size_to_order(const struct kmem_buddy *b, size_t size);

/* Free frames right now (managed - used - reserved), read without the lock:
 * exact when nothing runs concurrently, a recent value otherwise. O(1). */
KMEM_API size_t kmem_buddy_free_frames(struct kmem_buddy *b);

/* Frame size and max order of the instance. O(1), lock-free. */
KMEM_API size_t kmem_buddy_frame_size(const struct kmem_buddy *b);
KMEM_API unsigned kmem_buddy_max_order(const struct kmem_buddy *b);

/* Set the owner word of every frame of the allocated block starting at
 * block (the caller's own data; buddy never interprets it; NULL clears).
 * Owner words persist until set again: an owner clears them before it
 * frees the block. Returns 0, -ENOTSUP (instance without
 * KMEM_BUDDY_OWNERS) or -EINVAL (block is not the start of an allocated
 * block). O(log regions + 2^order). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_set_owner(struct kmem_buddy *b, void *block, void *owner);

/* The owner word of the frame containing addr: NULL if none was set, addr is
 * outside every region, or the instance keeps no owner words. Lock-free with
 * one region (O(1)); O(log regions) otherwise. The result is meaningful only
 * while the caller knows the block stays allocated. */
KMEM_API void *kmem_buddy_owner(struct kmem_buddy *b, const void *addr);

/* Tagged owner words (kmem/page_source.h), for an owner that describes its
 * blocks by a number rather than a descriptor (the drop-in malloc: a page
 * block's frame count). Only the owner word of the block's first frame is
 * written, with a relaxed atomic and no lock, so a tag costs O(1) whatever
 * the block's size. The caller must hold the block allocated; that is not
 * checked (it would need the lock). With a config owner table, block must
 * lie in the table's range; otherwise in a region.
 *
 * kmem_buddy_set_tag: the first frame's owner word becomes
 * kmem_owner_tag(value). Returns 0, -ENOTSUP (no KMEM_BUDDY_OWNERS) or
 * -EINVAL (block not frame-aligned, outside the table or every region, or
 * value > KMEM_OWNER_TAG_MAX). O(1) with an owner table or one region,
 * else O(log regions) (and the lock, to find the region). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_set_tag(struct kmem_buddy *b, void *block, uintptr_t value);

/* Clear the first frame's owner word if it is still kmem_owner_tag(value),
 * atomically (compare-and-swap): of two threads freeing the same block, one
 * gets 0, the other -EALREADY. Returns 0; -EALREADY (the word is not that
 * tag: nothing changed); -ENOTSUP or -EINVAL as kmem_buddy_set_tag. Cost as
 * kmem_buddy_set_tag. */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_clear_tag(struct kmem_buddy *b, void *block, uintptr_t value);

/* If the owner word of the frame containing addr is a tag, store its value
 * in *value and return 1; else (NULL, a pointer, no owner words, addr in no
 * region) return 0. Lock-free as kmem_buddy_owner(). */
KMEM_API int kmem_buddy_get_tag(struct kmem_buddy *b, const void *addr, uintptr_t *value);

/* The instance's error sink (its own or the configured one). */
KMEM_API struct kmem_error_sink *kmem_buddy_error_sink(struct kmem_buddy *b);

/* Fill *ps with a page source backed by this instance: alloc_pages honours
 * KMEM_PAGE_ZERO (memset of the block) and ignores the other flags (a buddy
 * never waits); set_owner/get_owner are provided with KMEM_BUDDY_OWNERS,
 * else NULL. O(1). */
KMEM_API void kmem_buddy_page_source(struct kmem_buddy *b, struct kmem_page_source *ps);

/* ---- statistics ---------------------------------------------------------- */

struct kmem_buddy_stats {
	size_t frame_size;
	unsigned max_order;
	unsigned nr_regions;
	size_t managed_frames;	/* frames in all regions */
	size_t free_frames;
	size_t used_frames;	/* allocated */
	size_t reserved_frames;
	size_t peak_used_frames;	/* high-water mark of used_frames */
	size_t meta_bytes;	/* frame tables + instance */
	/* free_blocks[k]: free blocks of exactly order k (buddyinfo). */
	size_t free_blocks[KMEM_BUDDY_ORDER_LIMIT + 1];
	uint64_t allocs;	/* successful allocations */
	uint64_t frees;		/* successful frees */
	uint64_t trims;		/* kmem_buddy_trim() calls that freed frames */
	/* fail[k]: failed allocations of order k (requests above max_order
	 * are counted in fail_too_big). */
	uint64_t fail[KMEM_BUDDY_ORDER_LIMIT + 1];
	uint64_t fail_too_big;
	uint64_t fail_bad_type;	/* kmem_buddy_alloc_type() with an unknown type */
};

/* Snapshot the counters. O(max_order). */
KMEM_API void kmem_buddy_get_stats(struct kmem_buddy *b, struct kmem_buddy_stats *st);

/* Linux's unusable free space index for order j, in thousandths (0..1000):
 * the share of free frames that sits in blocks smaller than 2^j,
 * (F - S_j * 2^j) / F with F free frames and S_j free blocks of order >= j
 * counted in order-j units; 1000 when nothing is free. O(max_order). */
KMEM_API int kmem_buddy_unusable_index(const struct kmem_buddy_stats *st, unsigned order);

/* Linux's external fragmentation index for order j, in thousandths:
 * -1000 when a free block of order >= j exists (a request would succeed);
 * 0 when nothing is free; otherwise 1000 - (1000 + F * 1000 / 2^j) / B with
 * F free frames and B free blocks, in integer arithmetic exactly as Linux
 * computes it. That lies in (-1000, 1000]: near 1000 a failure is due to
 * fragmentation, near 0 to lack of memory, and it dips below 0 when a few
 * small blocks hold much of the free memory. O(max_order). */
KMEM_API int kmem_buddy_extfrag_index(const struct kmem_buddy_stats *st, unsigned order);

/* Text forms; all snprintf-style: write at most len bytes including the NUL,
 * return the length the whole text needs. O(max_order).
 *   buddyinfo: /proc/buddyinfo line, "Node 0, zone <name> n0 n1 ... nMAX\n";
 *   fragindex: two lines in Linux's debugfs extfrag format, each prefixed
 *              with the file's name: "unusable_index: Node 0, zone <name>
 *              0.000 ...\n" and "extfrag_index: Node 0, zone <name> -1.000 ...\n";
 *   json:      one JSON object with every counter and both indexes. */
KMEM_API int kmem_buddy_format_buddyinfo(struct kmem_buddy *b, char *buf, size_t len);
KMEM_API int kmem_buddy_format_fragindex(struct kmem_buddy *b, char *buf, size_t len);
KMEM_API int kmem_buddy_format_json(struct kmem_buddy *b, char *buf, size_t len);

/* Grouping statistics (KMEM_BUDDY_GROUPING), as /proc/pagetypeinfo. A free
 * block below pageblock order is counted under its pageblock's type; a
 * larger one (whole free pageblocks, shared by all types) under its first
 * pageblock's type, which is the type it had when last used. */
struct kmem_buddy_type_stats {
	unsigned pageblock_order;	/* 0: the instance does not group */
	size_t pageblocks[KMEM_BUDDY_NR_TYPES];	/* pageblocks of each type */
	size_t free_frames[KMEM_BUDDY_NR_TYPES];
	size_t free_blocks[KMEM_BUDDY_NR_TYPES][KMEM_BUDDY_ORDER_LIMIT + 1];
	uint64_t allocs[KMEM_BUDDY_NR_TYPES];	/* successful typed allocations */
	uint64_t fallbacks;	/* allocations served from another type's pageblock */
	uint64_t claims;	/* pageblocks a fallback converted to its type */
};

/* Snapshot the grouping counters; all zero (pageblock_order 0) for an
 * instance without KMEM_BUDDY_GROUPING. Cannot fail. O(max_order) under
 * the instance lock: a consistent snapshot. */
KMEM_API void kmem_buddy_get_type_stats(struct kmem_buddy *b, struct kmem_buddy_type_stats *st);

/* /proc/pagetypeinfo's form, snprintf-style as the formats above (write at
 * most len bytes including the NUL, return the length the whole text
 * needs): "Page block order: N", "Pages per block: 2^N", the free block
 * counts per type and order ("Node    0, zone <name>, type    Unmovable
 * n0 n1 ..."), the pageblock counts per type, and the fallback and claim
 * counters. Without grouping: one line saying so. Cannot fail (a short
 * buffer truncates). O(max_order); thread-safe as get_type_stats. */
KMEM_API int kmem_buddy_format_pagetypeinfo(struct kmem_buddy *b, char *buf, size_t len);

/* ---- walking and checking ------------------------------------------------ */

enum kmem_buddy_state {
	KMEM_BUDDY_FREE = 1,
	KMEM_BUDDY_USED = 2,
	KMEM_BUDDY_RESERVED = 3
};

struct kmem_buddy_block {
	void *addr;
	unsigned order;
	enum kmem_buddy_state state;
	unsigned region;	/* index in the order regions were added */
};

/* Call fn for every block (free, used, reserved) of every region, in address
 * order. The blocks tile each region exactly. fn runs with
 * the instance lock held and must not call this instance; a nonzero return
 * stops the walk and is returned. Returns 0 when the walk completes.
 * O(blocks). */
KMEM_API int kmem_buddy_walk(struct kmem_buddy *b,
			     int (*fn)(void *arg, const struct kmem_buddy_block *blk),
			     void *arg);

/* Full invariant walk. Verifies, per region:
 *   every frame belongs to exactly one block; blocks are aligned to their
 *   order and lie inside the region; every free block is on exactly one
 *   list, the one of its order, with consistent links; no two free buddies
 *   are left unmerged; the per-order region masks match the lists; and
 *   globally free + used + reserved == managed frames and every counter
 *   matches what the walk found. With policies: list tails (FIFO,
 *   ADDRESS), ascending addresses on every list (ADDRESS), and with
 *   grouping every free block below pageblock order on the list of its
 *   pageblock's type, the typed masks, per-type counts and pageblock
 *   counts.
 * Returns 0 if all hold; otherwise reports the first violation to the error
 * sink as KMEM_CORRUPTION (naming the invariant) and returns -EFAULT.
 * O(frames + regions * max_order). */
KMEM_API KMEM_MUST_CHECK int kmem_buddy_check(struct kmem_buddy *b);

KMEM_END_DECLS

#endif /* KMEM_BUDDY_H */
