/* kmem/page_source.h - the narrow interface between kmem layers.
 *
 * A page source hands out naturally aligned blocks of 2^order frames and
 * takes them back. buddy implements it (kmem_buddy_page_source()); the frame
 * service (pagealloc) implements it too; slab consumes it without knowing
 * which one it runs on.
 */
#ifndef KMEM_PAGE_SOURCE_H
#define KMEM_PAGE_SOURCE_H

#include <kmem/common.h>

KMEM_BEGIN_DECLS

/* Allocation flags (a request may combine them). */
#define KMEM_PAGE_ZERO 0x1u	/* every byte of the block reads as zero */
#define KMEM_PAGE_NOWAIT 0x2u	/* never block or reclaim; fail instead */
#define KMEM_PAGE_HIGH 0x4u	/* high priority: may use emergency reserves */
#define KMEM_PAGE_NOFAIL 0x8u	/* may wait for reclaim; fails only on OOM */

struct kmem_shrinker;

struct kmem_page_source {
	/* Return a block of 2^order frames, aligned to frame_size << order,
	 * or NULL. */
	void *(*alloc_pages)(void *ctx, unsigned order, unsigned flags);
	/* Return a block obtained from alloc_pages with the same order. */
	void (*free_pages)(void *ctx, void *block, unsigned order);
	/* Optional (NULL when the source keeps no owner words): set the owner
	 * word of every frame of an allocated block (0, or a negative errno),
	 * and read the owner word of the frame containing any address (NULL
	 * if unset or not the source's memory). Lets a consumer map an object
	 * to its slab in O(1), with foreign pointers reading NULL. An owner
	 * word is NULL, a pointer or a tag (see kmem_owner_tag below). */
	int (*set_owner)(void *ctx, void *block, void *owner);
	void *(*get_owner)(void *ctx, const void *addr);
	void *ctx;
	size_t frame_size;	/* bytes per frame, a power of two */
	unsigned max_order;	/* largest order alloc_pages can satisfy */
	/* Optional direct owner lookup for one address range (owner_words
	 * NULL and owner_frames 0: none): for base <= addr < base +
	 * owner_frames * frame_size, get_owner(addr) equals
	 * owner_words[(addr - owner_base) / frame_size], read with a relaxed
	 * atomic load. Lets a consumer's free path resolve an object without
	 * a call. The range and the array stay valid while the source lives. */
	uintptr_t owner_base;
	size_t owner_frames;
	void **owner_words;
	/* Optional (NULL: the source does no reclaim): register a shrinker the
	 * source calls when it runs short of frames, and remove it again. A
	 * consumer that caches frames (slab) registers itself when it is
	 * created and unregisters before it goes away. register returns 0 or a
	 * negative errno; unregister waits for a scan in progress to end. */
	int (*register_shrinker)(void *ctx, struct kmem_shrinker *sh);
	void (*unregister_shrinker)(void *ctx, struct kmem_shrinker *sh);
};

/* Owner words. A frame's owner word is one of:
 *   NULL        no owner (free, or never set);
 *   a pointer   to its owner's descriptor, at least 2-byte aligned (slab:
 *               the struct slab of the slab holding the frame);
 *   a tag       bit 0 set, the other bits a value of the owner's choosing
 *               (the drop-in malloc: a page block's frame count, in its
 *               first frame; kmem_buddy_set_tag). Where pointers have 64
 *               bits a tag has the top bit set too, so a fast path tells a
 *               pointer from NULL and tags with one signed test (user-space
 *               pointers are below 2^63; a pointer above would only take
 *               the slow path); KMEM_OWNER_TAG holds both bits.
 * Code that reads owner words it did not write tests bit 0
 * (kmem_owner_is_tag) before it dereferences one. KMEM_OWNER_TAG_MAX is
 * the largest value a tag holds. */
#if UINTPTR_MAX > 0xffffffffu
#define KMEM_OWNER_TAG_HIGH ((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1))
#else
#define KMEM_OWNER_TAG_HIGH ((uintptr_t)0)
#endif
#define KMEM_OWNER_TAG (KMEM_OWNER_TAG_HIGH | (uintptr_t)1)
#define KMEM_OWNER_TAG_MAX ((UINTPTR_MAX & ~KMEM_OWNER_TAG_HIGH) >> 1)
/* Tag values are split in two halves. Values with KMEM_OWNER_TAG_SOURCE set
 * are the page source's own: it marks blocks it holds itself, not handed
 * out (the frame service links its released blocks through them). A
 * consumer's tags stay at or below KMEM_OWNER_TAG_USER_MAX, so a consumer
 * that finds a source tag where it expected its own knows the block is not
 * one of its live blocks (a double free). */
#define KMEM_OWNER_TAG_SOURCE ((KMEM_OWNER_TAG_MAX >> 1) + 1)
#define KMEM_OWNER_TAG_USER_MAX (KMEM_OWNER_TAG_SOURCE - 1)

/* The tagged owner word holding value (<= KMEM_OWNER_TAG_MAX). O(1). */
static inline void *kmem_owner_tag(uintptr_t value)
{
	return (void *)((value << 1) | KMEM_OWNER_TAG);
}

/* Nonzero if owner word w is a tag (not NULL, not a pointer). O(1). */
static inline int kmem_owner_is_tag(const void *w)
{
	return ((uintptr_t)w & 1) != 0;
}

/* The value of tagged owner word w (meaningless for NULL or a pointer). O(1). */
static inline uintptr_t kmem_owner_tag_value(const void *w)
{
	return ((uintptr_t)w & ~KMEM_OWNER_TAG_HIGH) >> 1;
}

/* Nonzero if tagged owner word w holds a page source's own tag. O(1). */
static inline int kmem_owner_tag_is_source(const void *w)
{
	return (kmem_owner_tag_value(w) & KMEM_OWNER_TAG_SOURCE) != 0;
}

/* Memory pressure, for reclaim (shrinkers): how urgently frames are wanted.
 *   BACKGROUND  the reaper tops up free frames: give back what is idle
 *               (working-set surplus), keep what is in use.
 *   DIRECT      an allocation is waiting: give back everything cached.
 *   OOM         reclaim failed once: give back everything that can go. */
enum kmem_pressure {
	KMEM_PRESSURE_BACKGROUND = 0,
	KMEM_PRESSURE_DIRECT,
	KMEM_PRESSURE_OOM,
};

/* A reclaim request handed to a shrinker's scan: free about `frames`
 * frames; `bytes_wanted` is the allocation that triggered it (0 for
 * background reclaim). */
struct kmem_shrink_request {
	size_t frames;
	size_t bytes_wanted;
	enum kmem_pressure level;
};

/* A shrinker: something that holds frames it could give back (slab's empty
 * slabs and idle magazines, a file cache). The caller owns the storage and
 * fills the first four fields; the frame service owns the rest while the
 * shrinker is registered.
 *   count(arg)       about how many frames scan could release now (cheap;
 *                    0: skip me);
 *   scan(arg, req)   release about req->frames frames, least valuable
 *                    first, as req->level allows; return the number of
 *                    frames actually released (they must already be back
 *                    in the source when scan returns).
 * Both run without any frame-service lock held and may allocate or free
 * frames; they must not register or unregister shrinkers. A scan may be
 * called from a thread that holds the consumer's own locks (a direct
 * reclaim inside the consumer's allocation): take locks with try-lock and
 * skip what is busy, as slab does.
 *   idle(arg, now)   optional (NULL: none; appended last, so initialisers
 *                    that name the first four stay valid): give back what
 *                    sat unused since the previous idle call (a working
 *                    set: caches kept for reuse, not objects in use) and
 *                    return the frames released to the source. The frame
 *                    service's reaper calls it, with the shrink lock held,
 *                    once per idle period (a quarter of the decay time,
 *                    kmem_pa_config.decay_ms), whatever the free frames
 *                    are, so an idle program returns what its caches hold;
 *                    now is the frame service's clock (ns). Not called
 *                    without a reaper step (thread or kmem_pa_reaper_run)
 *                    nor with decay -1 (nothing released but on request). */
struct kmem_shrinker {
	const char *name;
	size_t (*count)(void *arg);
	size_t (*scan)(void *arg, const struct kmem_shrink_request *req);
	void *arg;
	/* private to the frame service */
	struct kmem_shrinker *next_;
	uint64_t calls_;	/* scans */
	uint64_t released_;	/* frames scans reported released */
	/* optional, the caller's (see idle above) */
	size_t (*idle)(void *arg, uint64_t now);
};

KMEM_END_DECLS

#endif /* KMEM_PAGE_SOURCE_H */
