/* slab.c - object caches: slab geometry, allocation, free, shrink, destroy.
 *
 * Algorithm (Bonwick, "The Slab Allocator", USENIX 1994):
 *   1. Geometry: the smallest slab order whose waste (header included) is at
 *      most 1/8 of the slab; objects start after the header, offset by a
 *      colour that cycles through the slack in cache-line steps so that
 *      successive slabs spread their objects over cache lines. No order up
 *      to KMEM_SLAB_MAX_BYTES meets the bound: the cache is direct, one
 *      page-source block per object.
 *   2. alloc: the partial slab the instance's policy picks (FULLEST, the
 *      default: the highest fullness bucket, one clz on partial_mask;
 *      LEAST: the lowest, one ctz; MRU: the front of the one MRU list),
 *      else an empty one, else a new slab from the page source
 *      (constructor on each object); take free objects lowest first from
 *      the bitmap (from the hint word). A batch (a magazine refill, bulk
 *      allocation) takes as many as it needs from that slab before the
 *      next: the slab's list is settled once per slab, not per object.
 *   3. free: the page source's owner word of the object's frame names the
 *      slab (foreign pointers read NULL); check cache, position and used
 *      bit; clear it, lower the hint. A batch (a magazine flush) is freed
 *      grouped by slab: every object's bit, then each slab touched settles
 *      its list once (sl->batch marks it as listed).
 *   4. Settling: a slab's list changes only when its fill crosses one of 16
 *      fullness classes, or it becomes full or empty (MRU: a freed-into
 *      slab also moves to the front). A FULLEST cache without magazines
 *      keeps the slab it picked as its current slab (S7, decision 42): the
 *      one-object alloc and free use it with no settling until it fills,
 *      empties, or a bulk allocation comes. A slab that becomes empty stays
 *      cached up to the instance's empty_keep (KMEM_CACHE_EMPTY_KEEP by
 *      default), so churn reuses slabs; beyond, it goes back to the page
 *      source (destructor on each object). The idle call (kmem_slab_idle,
 *      the frame service's reaper every idle period; decision 36) returns
 *      the depot magazines and the empty slabs, kept ones too, that were
 *      not taken since the previous call (empty_min: the working set).
 * Bound: free O(1); alloc O(1) amortised, O(n / w) words scanned at worst
 * (n objects per slab, w bits a bitmap word: 64 on LP64, 32 on a 32-bit
 * core; at most 8 words on LP64 for 8-byte objects in 4 KiB); a batch of
 * k objects O(k) plus one list update per slab it touches; plus, when a
 * slab is created or released, one page-source call and one
 * constructor/destructor call per object.
 *
 * Policies (kmem_slab_config: partial, empty_keep, no_colour) are copied
 * into every cache at creation and read only here, under the cache lock:
 * the fast paths (kmem_slab_fast.h) do not see them.
 *
 * Data structures and invariants S1-S6: see slab_internal.h.
 *
 * Locking: instance lock (cache list) before cache lock (lists, slab
 * headers, counters) before the page source. Slab creation and release,
 * constructors and destructors run with no slab lock held. Errors are raised
 * with no lock held.
 */
#include "kmem_fmt.h"
#include "slab_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#if KMEM_ERROR_TEXT
void kmem_slab_report(struct kmem_slab *s, const struct kmem_cache *c, enum kmem_status st,
		      const void *ptr, const void *caller, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kmem_vreportf(s->sink, "slab", c ? c->name : s->name, st, ptr, -1, caller, fmt, ap);
	va_end(ap);
}

void kmem_slab_report_who(struct kmem_slab *s, const struct kmem_cache *c, enum kmem_status st,
			  const void *ptr, const void *caller, const struct debug_who *w,
			  const char *fmt, ...)
{
	char detail[KMEM_REPORT_DETAIL];
	struct kmem_error_report r = {
		.status = st, .component = "slab", .instance = c ? c->name : s->name,
		.ptr = ptr, .order = -1, .detail = detail, .caller = caller,
	};
	va_list ap;

	va_start(ap, fmt);
	kmem_vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (w && w->known) {
		r.size = w->req;
		r.alloc_by = w->alloc_by;
		r.free_by = w->free_by;
	}
	kmem_error_raise(s->sink, &r);
}
#else
void kmem_slab_raise(struct kmem_slab *s, const struct kmem_cache *c, enum kmem_status st,
		     const void *ptr, const void *caller, const struct debug_who *w)
{
	const char *name = c ? c->name : s->name;

	if (KMEM_SLAB_DEBUG && w && w->known) { /* only debug caches know */
		const struct kmem_error_report r = {
			.status = st, .component = "slab", .instance = name, .ptr = ptr,
			.order = -1, .detail = "", .caller = caller, .size = w->req,
			.alloc_by = w->alloc_by, .free_by = w->free_by,
		};

		kmem_error_raise(s->sink, &r);
		return;
	}
	kmem_report(s->sink, "slab", name, st, ptr, -1, caller, "");
}
#endif

/* ---- lists (S1) ------------------------------------------------------------ */

/* The slab whose link is n (n not NULL). */
static struct slab *slab_of_link(struct kmem_list_node *n)
{
	return KMEM_LIST_ENTRY(n, struct slab, link);
}

/* Put an unlinked slab at the front of list `list` and record it (S1). */
static void slab_link_locked(struct kmem_cache *c, struct slab *sl, unsigned list)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "slab lists need the cache lock");
	kmem_list_add(slab_list_at(c, list), &sl->link);
	sl->list = (uint8_t)list;
	if (list == SLAB_LIST_EMPTY)
		c->nr_empty++;
	else if (list < SLAB_BUCKETS)
		c->partial_mask |= (uint32_t)1 << list;
}

/* Unlink a slab from the list it records (S1). */
static void slab_unlink_locked(struct kmem_cache *c, struct slab *sl)
{
	unsigned list = sl->list;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "slab lists need the cache lock");
	kmem_list_del(&sl->link);
	if (list == SLAB_LIST_EMPTY) {
		c->nr_empty--;
		if (c->nr_empty < c->empty_min)
			c->empty_min = c->nr_empty; /* the idle call's working set */
	} else if (list < SLAB_BUCKETS && kmem_list_empty(&c->partial[list]))
		c->partial_mask &= ~((uint32_t)1 << list);
}

/* After inuse changed (by one object or a batch): put the slab on the list
 * its fill now belongs on (S1), or, if it emptied with empty_keep empty
 * slabs kept already (S5), unlink it and return it: the caller releases it
 * after unlocking. A slab whose fill stays in its class is not touched,
 * except that `touch` (a free) brings a partial slab to the front under
 * the MRU policy. O(1). */
static struct slab *slab_settle_locked(struct kmem_cache *c, struct slab *sl, bool touch)
{
	unsigned to = slab_target(c, sl->inuse);

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "slab lists need the cache lock");
	if (to == sl->list && (!touch || c->partial_policy != KMEM_SLAB_PARTIAL_MRU || to != 0 ||
			       kmem_list_first(&c->partial[0]) == &sl->link))
		return NULL;
	slab_unlink_locked(c, sl);
	if (to == SLAB_LIST_EMPTY && c->nr_empty >= c->empty_keep) {
		c->nr_slabs--;
		c->slabs_released++;
		return sl;
	}
	slab_link_locked(c, sl, to);
	return NULL;
}

/* ---- geometry -------------------------------------------------------------- */

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static size_t header_bytes(unsigned n)
{
	return sizeof(struct slab) + ((size_t)n + SLAB_WORD_BITS - 1) / SLAB_WORD_BITS * sizeof(unsigned long);
}

/* The smallest slab order up to `top` whose waste is at most 1/div of the
 * slab: sets the geometry and returns true, or false if none. */
static bool slab_fits(struct kmem_cache *c, const struct kmem_page_source *ps, unsigned top,
		      unsigned div)
{
	size_t step = c->align > COLOUR_STEP ? c->align : COLOUR_STEP;

	for (unsigned order = 0; order <= top; order++) {
		size_t bytes = ps->frame_size << order, fit, off;
		unsigned n;

		if (bytes < c->align || bytes <= sizeof(struct slab))
			continue;
		fit = (bytes - sizeof(struct slab)) / c->stride;
		n = (unsigned)(fit > KMEM_SLAB_MAX_OBJECTS ? KMEM_SLAB_MAX_OBJECTS : fit);
		while (n > 0 && align_up(header_bytes(n), c->align) + (size_t)n * c->stride > bytes)
			n--;
		if (n == 0 || (bytes - (size_t)n * c->stride) * div > bytes)
			continue;
		off = align_up(header_bytes(n), c->align);
		c->order = order;
		c->objs = n;
		c->slab_bytes = bytes;
		c->objs_offset = off;
		c->colours = (c->flags & KMEM_CACHE_NOCOLOUR) ? 1
			     : (unsigned)((bytes - off - (size_t)n * c->stride) / step + 1);
		c->direct = false;
		return true;
	}
	return false;
}

static int cache_geometry(struct kmem_cache *c, const struct kmem_page_source *ps)
{
	unsigned top = 0, div = c->owner->waste_div;


	while (top < ps->max_order && (ps->frame_size << (top + 1)) <= KMEM_SLAB_MAX_BYTES)
		top++;
	/* a tighter bound only up to KMEM_SLAB_TIGHT_FRAMES: beyond, the first
	 * slab of a cache would cost a small program more than it saves */
	if (!(c->flags & CACHE_FORCE_DIRECT) &&
	    ((div > 8 && slab_fits(c, ps, top < KMEM_SLAB_TIGHT_ORDER ? top : KMEM_SLAB_TIGHT_ORDER,
				   div)) ||
	     slab_fits(c, ps, top, 8)))
		return 0;
	/* direct: one block per object, aligned by the block's natural alignment */
	for (unsigned order = 0; order <= ps->max_order; order++) {
		size_t bytes = ps->frame_size << order;

		if (bytes >= c->stride && bytes >= c->align) {
			c->order = order;
			c->objs = 1;
			c->slab_bytes = bytes;
			c->objs_offset = 0;
			c->colours = 1;
			c->direct = true;
			return 0;
		}
	}
	return -EINVAL;
}

/* UINT64_MAX / d + 1, the exact-division magic (kmem_slab_fast.h). Where
 * size_t has 32 bits, by schoolbook division, one quotient bit per step:
 * cache creation only, and a firmware image then links no 64-bit division
 * (libgcc's __udivmoddi4 is 700 bytes on Cortex-M4). d > 0. */
static uint64_t div_magic(size_t d)
{
#if SIZE_MAX > UINT32_MAX
	return UINT64_MAX / d + 1;
#else
	uint64_t q = 0, r = 0;

	for (int i = 0; i < 64; i++) { /* every dividend bit is 1 */
		r = (r << 1) | 1u;
		q <<= 1;
		if (r >= d) {
			r -= d;
			q |= 1u;
		}
	}
	return q + 1;
#endif
}

static int cache_init(struct kmem_cache *c, struct kmem_slab *s, const char *name, size_t size,
		      size_t align, unsigned flags, void (*ctor)(void *, void *),
		      void (*dtor)(void *, void *), void *arg)
{
	memset(c, 0, sizeof(*c));
	kmem_strlcpy(c->name, name ? name : "cache", sizeof(c->name));
	c->owner = s;
	c->flags = flags | (s->no_colour ? KMEM_CACHE_NOCOLOUR : 0u);
	c->partial_policy = s->partial_policy;
	c->empty_keep = s->empty_keep;
	c->size = size;
	c->align = align ? align : 8;
	c->stride = align_up(size, c->align);
	c->ctor = ctor;
	c->dtor = dtor;
	c->arg = arg;
	if (flags & CACHE_KMALLOC)
		c->kmalloc_of = s;
	if ((flags & CACHE_DEBUG_FLAGS) && !(flags & CACHE_FORCE_DIRECT))
		kmem_debug_layout(c); /* obj_off, rz_right, track_off, stride */
	if (cache_geometry(c, &s->ps))
		return -EINVAL;
	if (c->direct) { /* debug layouts are for slab objects only */
		c->flags &= ~CACHE_DEBUG_FLAGS;
		c->obj_off = c->rz_right = c->track_off = 0;
		c->dhdr.magic = DIRECT_MAGIC;
		c->dhdr.cache = c;
	}
	c->bucket_mul = ((uint32_t)SLAB_BUCKETS << 16) / c->objs;
	c->fast.div_magic = div_magic(c->stride);
	c->fast.span = (size_t)c->objs * c->stride;
	kmem_cache_fast_stride(&c->fast, c->stride);
	if (kmem_lock_init(&c->lock, true))
		return -ENOMEM;
	kmem_mag_cache_init(c); /* slot and magazine size, or none */
	c->magic = CACHE_MAGIC;
	return 0;
}

/* ---- slabs ----------------------------------------------------------------- */

/* A new slab is written and constructed: everything past the header and
 * bitmap is NOACCESS but the debug tracks (metadata, slab_internal.h). */
static void annot_slab_created(const struct kmem_cache *c, struct slab *sl)
{
	char *meta_end = (char *)sl + header_bytes(c->objs);

	if (!KMEM_ANNOT_ENABLED)
		return;
	KMEM_ANNOT_NOACCESS(meta_end, c->slab_bytes - header_bytes(c->objs));
	if (c->flags & CACHE_DEBUG_FLAGS)
		for (unsigned i = 0; i < c->objs; i++)
			KMEM_ANNOT_DEFINED(sl->objs + (size_t)i * c->stride - c->obj_off + c->track_off,
					   sizeof(struct obj_track));
	/* no object block nested in the page source's chunk (kmem_annot.h) */
	KMEM_ANNOT_CHUNK_RESIZE(sl, c->slab_bytes, header_bytes(c->objs));
}

/* A new slab, constructed; no lock held. NULL when the source is empty. */
static struct slab *slab_create(struct kmem_cache *c)
{
	const struct kmem_page_source *ps = &c->owner->ps;
	void *mem = ps->alloc_pages(ps->ctx, c->order, 0);
	size_t step = c->align > COLOUR_STEP ? c->align : COLOUR_STEP;
	struct slab *sl = mem;
	unsigned long *used;
	unsigned colour, words = slab_words(c);

	if (!mem)
		return NULL;
	KMEM_STEP(SLAB_STEP_GROW);
	if (ps->set_owner(ps->ctx, mem, mem)) {
		ps->free_pages(ps->ctx, mem, c->order);
		return NULL;
	}
	colour = kmem_atomic_fetch_add_relaxed(&c->colour_next, 1u) % c->colours;
	sl->magic = SLAB_MAGIC;
	sl->inuse = 0;
	sl->colour = (uint16_t)colour;
	sl->cache = c;
	sl->kmalloc_of = c->kmalloc_of;
	sl->slot_off = (uint32_t)c->slot_off;
	sl->hint = 0;
	sl->batch = 0;
	sl->objs = (char *)mem + c->objs_offset + colour * step + c->obj_off;
	used = slab_used_bits(sl);
	memset(used, 0, (size_t)words * sizeof(*used));
	if (c->objs % SLAB_WORD_BITS)
		used[words - 1] = ~0UL << (c->objs % SLAB_WORD_BITS); /* padding bits (S2) */
	if (c->flags & CACHE_DEBUG_FLAGS)
		kmem_debug_init_slab(c, sl);
	if (c->ctor)
		for (unsigned i = 0; i < c->objs; i++) {
			KMEM_STEP(SLAB_STEP_CTOR);
			c->ctor(sl->objs + (size_t)i * c->stride, c->arg);
		}
	annot_slab_created(c, sl);
	return sl;
}

static KMEM_ALWAYS_INLINE bool obj_used(struct slab *sl, unsigned idx)
{
	return slab_bit(slab_used_bits(sl), idx);
}

/* Return an unlinked slab to the page source; destructor on its free
 * objects (allocated ones were leaked and are only reclaimed). No lock. */
static void slab_release(struct kmem_cache *c, struct slab *sl)
{
	const struct kmem_page_source *ps = &c->owner->ps;

	KMEM_STEP(SLAB_STEP_RELEASE);
	if (c->dtor || (KMEM_ANNOT_ENABLED && sl->inuse))
		for (unsigned i = 0; i < c->objs; i++) {
			void *o = sl->objs + (size_t)i * c->stride;

			KMEM_STEP(SLAB_STEP_CTOR);
			if (obj_used(sl, i)) {
				slab_annot_free(c, o); /* leaked: no longer a block */
			} else if (c->dtor) {
				KMEM_ANNOT_DEFINED(o, c->size); /* constructed state */
				c->dtor(o, c->arg);
			}
		}
	sl->magic = 0;
	(void)ps->set_owner(ps->ctx, sl, NULL);
	KMEM_ANNOT_CHUNK_RESIZE(sl, c->slab_bytes, c->slab_bytes); /* whole again */
	KMEM_ANNOT_UNDEFINED(sl, c->slab_bytes); /* back to the source as it came */
	ps->free_pages(ps->ctx, sl, c->order);
}

/* ---- allocation ------------------------------------------------------------ */

/* The slab the cache's policy takes objects from next: a partial slab
 * (FULLEST: the first of the highest bucket, one clz; LEAST: of the lowest,
 * one ctz; MRU: the first of partial[0], the most recently used), else an
 * empty one; NULL when the cache has no free object. O(1). */
static struct slab *alloc_pick_locked(struct kmem_cache *c)
{
	uint32_t m = c->partial_mask;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "slab lists need the cache lock");
	if (m) {
		unsigned b = c->partial_policy == KMEM_SLAB_PARTIAL_LEAST ? (unsigned)__builtin_ctz(m)
									 : 31u - (unsigned)__builtin_clz(m);

		return slab_of_link(kmem_list_first(&c->partial[b]));
	}
	return kmem_list_empty(&c->empty) ? NULL : slab_of_link(kmem_list_first(&c->empty));
}

/* Take up to `want` free objects of sl, lowest first, into objs (bitmap,
 * hint and inuse updated; the lists are the caller's: slab_settle_locked).
 * Returns how many: min(want, free objects). O(taken + bitmap words). */
static unsigned slab_take_locked(struct kmem_cache *c, struct slab *sl, void **objs, size_t want)
{
	unsigned long *used = slab_used_bits(sl);
	unsigned w = sl->hint, got = 0, room = c->objs - sl->inuse;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "a slab's bitmap needs the cache lock");
	if (want > room)
		want = room;
	while (got < want) {
		unsigned long f = ~used[w];

		KMEM_STEP(SLAB_STEP_WORD);
		KMEM_ASSERT(w < slab_words(c) && "S2: a slab with room has a clear bit");
		while (f && got < want) {
			unsigned b = (unsigned)__builtin_ctzl(f);

			KMEM_STEP(SLAB_STEP_TAKE);
			f &= f - 1;
			used[w] |= 1UL << b;
			objs[got++] = sl->objs + ((size_t)w * SLAB_WORD_BITS + b) * c->stride;
		}
		if (got < want)
			w++; /* word w is full now (S2: no clear bit before the hint) */
	}
	sl->hint = (uint16_t)w;
	sl->inuse = (uint16_t)(sl->inuse + got);
	return got;
}

/* slab_take_locked(c, sl, &p, 1) for a slab with room, in its own few
 * instructions: the one-object paths (and a firmware image, which links
 * no batch) need no loop over a batch. Returns the object. O(words). */
static void *slab_take_one_locked(struct kmem_cache *c, struct slab *sl)
{
	unsigned long *used = slab_used_bits(sl), f;
	unsigned w = sl->hint;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "a slab's bitmap needs the cache lock");
	KMEM_ASSERT(sl->inuse < c->objs && "the slab has room");
	for (;;) {
		KMEM_STEP(SLAB_STEP_WORD);
		KMEM_ASSERT(w < slab_words(c) && "S2: a slab with room has a clear bit");
		f = ~used[w];
		if (f)
			break;
		w++; /* word w is full (S2: no clear bit before the hint) */
	}
	KMEM_STEP(SLAB_STEP_TAKE);
	used[w] |= f & -f; /* the lowest clear bit */
	sl->hint = (uint16_t)w;
	sl->inuse = (uint16_t)(sl->inuse + 1);
	return sl->objs + ((size_t)w * SLAB_WORD_BITS + (unsigned)__builtin_ctzl(f)) * c->stride;
}

/* Take one object from the current slab (S7), else from the slab the
 * policy picks, which then becomes the current one in a cache that keeps
 * one: the next calls take from it and free into it with no list change
 * (it stays on the list it was settled on), until it fills or empties and
 * is settled (S1). NULL when the cache has no free object. Debug caches
 * check and stamp the object; a fault is left in *df for the caller to
 * report after unlocking. */
static void *alloc_locked(struct kmem_cache *c, size_t req, const void *caller,
			  struct debug_fault *df)
{
	struct slab *sl = c->cur;
	void *p;

	if (KMEM_UNLIKELY(!sl) && (sl = alloc_pick_locked(c)) == NULL)
		return NULL;
	p = slab_take_one_locked(c, sl);
	if (sl != c->cur || sl->inuse == c->objs) {
		(void)slab_settle_locked(c, sl, false); /* never releases: inuse > 0 */
		c->cur = c->partial_policy == KMEM_SLAB_PARTIAL_FULLEST &&
				 (!KMEM_MAGAZINES || !c->slot) && sl->inuse < c->objs
				 ? sl : NULL;
	}
	c->active_objs++;
	c->allocs++;
	if (KMEM_UNLIKELY(c->flags & CACHE_DEBUG_FLAGS)) {
		kmem_debug_alloc_locked(c, p, req, caller, df);
		kmem_debug_neighbours_locked(c, sl->objs, slab_used_bits(sl),
					     (unsigned)(((char *)p - sl->objs) / c->stride), df);
	}
	return p;
}

/* The current slab, if any, goes to the list its fill belongs on (S1) and
 * c has none. It has objects in use (S7), so it is never released. */
static void cur_retire_locked(struct kmem_cache *c)
{
	if (c->cur) {
		(void)slab_settle_locked(c, c->cur, false);
		c->cur = NULL;
	}
}

/* Up to n objects into objs, a slab at a time as the policy picks them:
 * one list update per slab, not per object. Returns how many (fewer than n
 * when the cache runs out of free objects). O(n + slabs visited). */
static size_t alloc_batch_locked(struct kmem_cache *c, size_t n, void **objs)
{
	size_t got = 0;
	struct slab *sl;

	cur_retire_locked(c); /* a bulk allocation takes slabs as the policy picks them */
	while (got < n && (sl = alloc_pick_locked(c)) != NULL) {
		KMEM_STEP(SLAB_STEP_PICK);
		got += slab_take_locked(c, sl, objs + got, n - got);
		(void)slab_settle_locked(c, sl, false);
	}
	c->active_objs += got;
	c->allocs += got;
	return got;
}

static void *direct_alloc(struct kmem_cache *c)
{
	const struct kmem_page_source *ps = &c->owner->ps;
	void *p = ps->alloc_pages(ps->ctx, c->order, 0);

	if (p && ps->set_owner(ps->ctx, p, &c->dhdr)) {
		ps->free_pages(ps->ctx, p, c->order);
		p = NULL;
	}
	kmem_lock_acquire(&c->lock);
	if (p) {
		c->active_objs++;
		c->allocs++;
		c->nr_slabs++;
		c->slabs_created++;
	} else {
		c->fails++;
	}
	kmem_lock_release(&c->lock);
	if (p && c->ctor)
		c->ctor(p, c->arg);
	return p;
}

/* Link a slab just made (slab_create, sl not NULL), as an empty one. */
static void grow_link_locked(struct kmem_cache *c, struct slab *sl)
{
	slab_link_locked(c, sl, SLAB_LIST_EMPTY);
	c->nr_slabs++;
	c->slabs_created++;
}

/* After allocating from a cache that grew by sl (NULL: it did not): if
 * other threads' frees meanwhile left sl empty beyond empty_keep (S5),
 * unlink it and return it for release after unlocking. */
static struct slab *grow_trim_locked(struct kmem_cache *c, struct slab *sl)
{
	if (!sl || sl->inuse || c->nr_empty <= c->empty_keep)
		return NULL;
	slab_unlink_locked(c, sl);
	c->nr_slabs--;
	c->slabs_released++;
	return sl;
}

/* Out of free objects: make a slab with no lock held, then take one. */
static KMEM_NOINLINE void *alloc_grow(struct kmem_cache *c, size_t req, const void *caller,
				      bool count_fail)
{
	struct slab *sl = slab_create(c), *extra;
	struct debug_fault df; /* only st is read until a fault fills the rest (slab_debug.c) */
	void *p;

	df.st = KMEM_OK; /* not { .st = KMEM_OK }: that zeroes 240 bytes a call */
	kmem_lock_acquire(&c->lock);
	if (sl)
		grow_link_locked(c, sl);
	p = alloc_locked(c, req, caller, &df); /* maybe from a slab another thread freed into */
	if (!p && count_fail)
		c->fails++;
	extra = grow_trim_locked(c, sl);
	kmem_lock_release(&c->lock);
	if (df.st != KMEM_OK)
		kmem_debug_report(c, &df, caller);
	if (extra)
		slab_release(c, extra);
	return p;
}

/* kmem_slab_alloc_one for a debug cache: the object checked and stamped,
 * a fault reported after unlocking. */
static KMEM_NOINLINE void *alloc_debug(struct kmem_cache *c, size_t req, const void *caller)
{
	struct debug_fault df; /* only st is read until a fault fills the rest (slab_debug.c) */
	void *p;

	df.st = KMEM_OK; /* not { .st = KMEM_OK }: that zeroes 240 bytes a call */
	kmem_lock_acquire(&c->lock);
	p = alloc_locked(c, req, caller, &df);
	kmem_lock_release(&c->lock);
	if (df.st != KMEM_OK)
		kmem_debug_report(c, &df, caller);
	return p ? p : alloc_grow(c, req, caller, true);
}

void *kmem_slab_alloc_one(struct kmem_cache *c, size_t req, const void *caller)
{
	struct slab *sl;
	void *p;

	if (c->direct)
		return direct_alloc(c);
	if (KMEM_UNLIKELY(c->flags & CACHE_DEBUG_FLAGS))
		return alloc_debug(c, req, caller);
	kmem_lock_acquire(&c->lock);
	sl = c->cur;
	if (KMEM_LIKELY(sl != NULL) && sl->inuse + 1u < c->objs) { /* it stays current (S7) */
		p = slab_take_one_locked(c, sl);
		c->active_objs++;
		c->allocs++;
	} else {
		p = alloc_locked(c, req, caller, NULL); /* no debug flag: no fault to hold */
	}
	kmem_lock_release(&c->lock);
	return p ? p : alloc_grow(c, req, caller, true);
}

size_t kmem_slab_alloc_batch(struct kmem_cache *c, size_t n, void **objs)
{
	const void *caller = KMEM_RETURN_ADDRESS();
	size_t i = 0;

	if (c->direct || (c->flags & CACHE_DEBUG_FLAGS)) {
		while (i < n && (objs[i] = kmem_slab_alloc_one(c, c->size, caller)) != NULL)
			i++;
		return i;
	}
	kmem_lock_acquire(&c->lock);
	i = alloc_batch_locked(c, n, objs);
	kmem_lock_release(&c->lock);
	while (i < n) { /* out of free objects: a slab at a time, made with no lock held */
		struct slab *sl = slab_create(c), *extra;
		size_t got;

		kmem_lock_acquire(&c->lock);
		if (sl)
			grow_link_locked(c, sl);
		got = alloc_batch_locked(c, n - i, objs + i); /* maybe others' frees too */
		if (!got && i == 0)
			c->fails++;
		extra = grow_trim_locked(c, sl);
		kmem_lock_release(&c->lock);
		if (extra)
			slab_release(c, extra);
		if (!got)
			break;
		i += got;
	}
	return i;
}

void *kmem_cache_alloc(struct kmem_cache *c)
{
	void *p;

	if (KMEM_LIKELY(mag_pop(c, &p)))
		return slab_annot_alloc(c, p, c->size);
	if (!KMEM_MAGAZINES || !c->slot) /* none: the current slab (S7), not the magazine layer */
		return slab_annot_alloc(c, kmem_slab_alloc_one(c, c->size, KMEM_RETURN_ADDRESS()),
					c->size);
	return kmem_mag_alloc_slow(c, c->size, KMEM_RETURN_ADDRESS()); /* annotates */
}

size_t kmem_cache_alloc_bulk(struct kmem_cache *c, size_t n, void **objs)
{
	size_t got = kmem_slab_alloc_batch(c, n, objs);

	for (size_t i = 0; KMEM_ANNOT_ENABLED && i < got; i++)
		(void)slab_annot_alloc(c, objs[i], c->size);
	return got;
}

/* ---- free ------------------------------------------------------------------ */

static enum kmem_status direct_free(struct kmem_cache *c, void *p, const void *caller)
{
	const struct kmem_page_source *ps = &c->owner->ps;

	if ((uintptr_t)p & (c->slab_bytes - 1)) {
		kmem_slab_report(c->owner, c, KMEM_INTERIOR_POINTER, p, caller,
				 "%zu bytes into a direct object of %zu bytes",
				 (size_t)((uintptr_t)p & (c->slab_bytes - 1)), c->slab_bytes);
		return KMEM_INTERIOR_POINTER;
	}
	if (c->dtor)
		c->dtor(p, c->arg);
	(void)ps->set_owner(ps->ctx, p, NULL);
	ps->free_pages(ps->ctx, p, c->order);
	kmem_lock_acquire(&c->lock);
	c->active_objs--;
	c->frees++;
	c->nr_slabs--;
	c->slabs_released++;
	kmem_lock_release(&c->lock);
	return KMEM_OK;
}

/* off / c->stride for an offset inside a slab's objects (off < span, so
 * below 2^32): the exact-division magic's high product (Lemire, Kaser &
 * Kurz 2019: exact for 32-bit dividends), one multiplication where a
 * division took 40 cycles of every checked free; by division where there
 * is no 128-bit product. */
static unsigned obj_index(const struct kmem_cache *c, uintptr_t off)
{
	KMEM_ASSERT(off < c->fast.span && "spans are at most KMEM_SLAB_MAX_BYTES");
#ifdef __SIZEOF_INT128__
	__extension__ typedef unsigned __int128 u128;

	return (unsigned)(((u128)c->fast.div_magic * off) >> 64);
#else
	return (unsigned)(off / c->stride);
#endif
}

/* The name of the cache an owner word points to, for reports. */
static const char *owner_cache_name(const struct kmem_cache *oc)
{
	return oc && oc->magic == CACHE_MAGIC ? oc->name : "?";
}

/* free_locate's common case, inline and without reports: p starts an
 * object of a slab of c. Sets *slp and *idxp and returns true, or returns
 * false for anything else (a direct object, misuse), which free_locate
 * then sorts out. A magazine flush validates every object: this is most of
 * its cost per object. */
static KMEM_ALWAYS_INLINE bool free_locate_fast(struct kmem_cache *c, void *p, struct slab **slp,
				    unsigned *idxp)
{
	struct slab *sl = slab_of_owner(slab_owner(c->owner, p));
	uintptr_t off;

	if (KMEM_UNLIKELY(!sl || sl->magic != SLAB_MAGIC || sl->cache != c))
		return false;
	off = (uintptr_t)p - (uintptr_t)sl->objs; /* below objs: wraps past span */
#ifdef __SIZEOF_INT128__
	if (KMEM_UNLIKELY(off >= c->fast.span || off * c->fast.div_magic >= c->fast.div_magic))
		return false;
	*idxp = obj_index(c, off);
#else
	/* no 128-bit product: obj_index divides, and the remainder is the
	 * object-start test (one multiply-subtract, not a 64-bit product) */
	if (KMEM_UNLIKELY(off >= c->fast.span))
		return false;
	*idxp = (unsigned)(off / c->stride);
	if (KMEM_UNLIKELY(off - (uintptr_t)*idxp * c->stride))
		return false;
#endif
	*slp = sl;
	return true;
}

/* Everything about p that needs no lock: the owner word names a slab of c
 * (or c's direct block) and p starts an object. KMEM_OK with *slp and *idxp set
 * (*slp NULL for a direct object), or the status, reported. */
static enum kmem_status free_locate(struct kmem_cache *c, void *p, const void *caller,
				    const char *why, struct slab **slp, unsigned *idxp)
{
	struct kmem_slab *s = c->owner;
	void *own = slab_owner(s, p);
	struct slab *sl;
	uintptr_t off;
	unsigned idx;

	*slp = NULL;
	if (kmem_owner_is_tag(own)) {
		kmem_slab_report(s, c, KMEM_FOREIGN_POINTER, p, caller,
				 "frame is owned by something that is not a slab%s", why);
		return KMEM_FOREIGN_POINTER;
	}
	if (!own) {
		kmem_slab_report(s, c, KMEM_FOREIGN_POINTER, p, caller,
				 "not in a live slab or direct object of this instance "
				 "(never allocated here, or a direct object freed already)%s", why);
		return KMEM_FOREIGN_POINTER;
	}
	sl = own;
	if (sl->magic == DIRECT_MAGIC) {
		const struct kmem_cache *oc = sl->cache;

		if (oc != c) {
			kmem_slab_report(s, c, KMEM_WRONG_CACHE, p, caller,
					 "direct object of cache '%s' freed to this cache%s",
					 owner_cache_name(oc), why);
			return KMEM_WRONG_CACHE;
		}
		return KMEM_OK;
	}
	if (sl->magic != SLAB_MAGIC) {
		kmem_slab_report(s, c, KMEM_FOREIGN_POINTER, p, caller,
				 "frame is owned by something that is not a slab%s", why);
		return KMEM_FOREIGN_POINTER;
	}
	if (sl->cache != c) {
		kmem_slab_report(s, c, KMEM_WRONG_CACHE, p, caller,
				 "object of cache '%s' (slab %p) freed to this cache%s",
				 owner_cache_name(sl->cache), (void *)sl, why);
		return KMEM_WRONG_CACHE;
	}
	if ((char *)p < sl->objs || (off = (uintptr_t)((char *)p - sl->objs)) >= (size_t)c->objs * c->stride) {
		kmem_slab_report(s, c, KMEM_INTERIOR_POINTER, p, caller,
				 "inside the header or slack of slab %p, not an object%s", (void *)sl, why);
		return KMEM_INTERIOR_POINTER;
	}
	idx = obj_index(c, off);
	if (KMEM_UNLIKELY(off * c->fast.div_magic >= c->fast.div_magic)) { /* off % stride */
		kmem_slab_report(s, c, KMEM_INTERIOR_POINTER, p, caller,
				 "%zu bytes into object %u (at %p) of slab %p%s",
				 (size_t)(off % c->stride), idx, (void *)(sl->objs + (size_t)idx * c->stride),
				 (void *)sl, why);
		return KMEM_INTERIOR_POINTER;
	}
	*slp = sl;
	*idxp = idx;
	return KMEM_OK;
}

/* Clear object idx's used bit (S2); the slab's list is the caller's. */
static KMEM_ALWAYS_INLINE void slab_put_locked(struct slab *sl, unsigned idx)
{
	slab_used_bits(sl)[idx / SLAB_WORD_BITS] &= ~SLAB_BIT(idx);
	if (idx / SLAB_WORD_BITS < sl->hint)
		sl->hint = (uint16_t)(idx / SLAB_WORD_BITS);
	sl->inuse = (uint16_t)(sl->inuse - 1);
}

/* Free object idx of sl and settle the slab (S1, S2, S5). Returns the slab
 * if it emptied beyond empty_keep and was unlinked: the caller releases it
 * after unlocking. */
static struct slab *free_locked(struct kmem_cache *c, struct slab *sl, unsigned idx)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "free needs the cache lock");
	slab_put_locked(sl, idx);
	c->active_objs--;
	c->frees++;
	if (sl == c->cur) {
		if (sl->inuse)
			return NULL; /* the current slab: its list waits (S7) */
		c->cur = NULL; /* emptied: settled below */
	}
	return slab_settle_locked(c, sl, true);
}

enum kmem_status kmem_cache_free_from(struct kmem_cache *c, void *p, const void *caller)
{
	struct kmem_slab *s = c->owner;
	struct slab *sl, *release;
	struct debug_fault df; /* only st is read until a fault fills the rest (slab_debug.c) */
	enum kmem_status st;
	unsigned idx = 0;
	bool in_mag;

	df.st = KMEM_OK; /* not { .st = KMEM_OK }: that zeroes 240 bytes a call */
	if (!p)
		return KMEM_OK;
	if (!free_locate_fast(c, p, &sl, &idx)) {
		st = free_locate(c, p, caller, "", &sl, &idx);
		if (st != KMEM_OK)
			return st;
		if (!sl)
			return direct_free(c, p, caller);
	}
	kmem_lock_acquire(&c->lock);
	in_mag = c->slot && kmem_mag_holds_locked(c, p);
	if (in_mag || !obj_used(sl, idx)) {
		struct debug_who who;

		kmem_debug_who(c, p, &who);
		kmem_lock_release(&c->lock);
		kmem_slab_report_who(s, c, KMEM_DOUBLE_FREE, p, caller, &who,
				     "object %u of slab %p is already free%s", idx, (void *)sl,
				     in_mag ? " (in a magazine)" : "");
		return KMEM_DOUBLE_FREE;
	}
	slab_annot_free(c, p); /* validated: the user's block ends here */
	if (KMEM_UNLIKELY(c->flags & CACHE_DEBUG_FLAGS)) {
		kmem_debug_free_locked(c, p, caller, &df);
		kmem_debug_neighbours_locked(c, sl->objs, slab_used_bits(sl), idx, &df);
	}
	release = free_locked(c, sl, idx);
	kmem_lock_release(&c->lock);
	if (df.st != KMEM_OK)
		kmem_debug_report(c, &df, caller);
	if (release)
		slab_release(c, release);
	return KMEM_OK;
}

/* Objects are validated with no lock, then freed under one lock hold
 * grouped by slab: each object clears its bit, and each slab the batch
 * touched (marked by sl->batch, listed once) settles its list once at the
 * end, so a batch costs O(n) plus one list update per slab, not one per
 * object. */
size_t kmem_slab_free_batch(struct kmem_cache *c, void **objs, size_t n, const char *why)
{
	size_t released = 0;
	struct kmem_list release = KMEM_LIST_INIT; /* unlinked empty slabs, newest first */
	struct kmem_list_node *node;
	struct slab *sl;
	size_t i, keep = 0, touched = 0, freed = 0;
	unsigned idx[KMEM_MAG_MAX_ROUNDS];
	struct slab *slabs[KMEM_MAG_MAX_ROUNDS];
	void *bad = NULL;
	unsigned nbad = 0;

	KMEM_ASSERT(n <= KMEM_MAG_MAX_ROUNDS);
	KMEM_ASSERT(!c->cur && "S7: a cache with magazines has no current slab");
	for (i = 0; i < n; i++) { /* validate with no lock (reports allowed) */
		KMEM_STEP(SLAB_STEP_FLUSH);
		if (!free_locate_fast(c, objs[i], &sl, &idx[keep])) {
			if (free_locate(c, objs[i], NULL, why, &sl, &idx[keep]) != KMEM_OK)
				continue;
			if (!sl) {
				(void)direct_free(c, objs[i], NULL);
				continue;
			}
		}
		slabs[keep] = sl;
		objs[keep++] = objs[i];
	}
	kmem_lock_acquire(&c->lock);
	c->mag_flushes++;
	for (i = 0; i < keep; i++) {
		sl = slabs[i];
		if (!obj_used(sl, idx[i])) { /* the same object twice in magazines */
			nbad++;
			bad = objs[i];
			continue;
		}
		slab_put_locked(sl, idx[i]);
		freed++;
		if (!sl->batch) { /* first object of this slab: list it (touched <= i) */
			sl->batch = 1;
			slabs[touched++] = sl;
		}
	}
	c->active_objs -= freed;
	c->frees += freed;
	for (i = 0; i < touched; i++) { /* each slab's list once (S1); sl->batch back to 0 */
		struct slab *r;

		KMEM_STEP(SLAB_STEP_SETTLE);
		slabs[i]->batch = 0;
		r = slab_settle_locked(c, slabs[i], true);
		if (r)
			kmem_list_add(&release, &r->link);
	}
	kmem_lock_release(&c->lock);
	if (nbad)
		kmem_slab_report(c->owner, c, KMEM_DOUBLE_FREE, bad, NULL,
				 "%u object(s) freed twice%s (the last: %p)", nbad, why, bad);
	while ((node = kmem_list_pop(&release)) != NULL) {
		slab_release(c, slab_of_link(node));
		released++;
	}
	return released << c->order;
}

void kmem_slab_annot_push(struct kmem_cache *c, void *p)
{
	const struct slab *sl = slab_of_owner(slab_owner(c->owner, p));
	uintptr_t off;

	if (!sl || sl->magic != SLAB_MAGIC || sl->cache != c || (char *)p < sl->objs)
		return;
	off = (uintptr_t)((char *)p - sl->objs);
	if (off < c->fast.span && off % c->stride == 0)
		slab_annot_free(c, p);
}

enum kmem_status kmem_cache_obj_state(struct kmem_cache *c, void *own, const void *p)
{
	struct slab *sl = own;
	uintptr_t off;
	enum kmem_status st;

	if (c->direct)
		return ((uintptr_t)p & (c->slab_bytes - 1)) ? KMEM_INTERIOR_POINTER : KMEM_OK;
	if ((const char *)p < sl->objs)
		return KMEM_INTERIOR_POINTER;
	off = (uintptr_t)((const char *)p - sl->objs);
	if (off >= (size_t)c->objs * c->stride || off % c->stride)
		return KMEM_INTERIOR_POINTER;
	kmem_lock_acquire(&c->lock);
	st = obj_used(sl, (unsigned)(off / c->stride)) ? KMEM_OK : KMEM_DOUBLE_FREE;
	kmem_lock_release(&c->lock);
	return st;
}

enum kmem_status kmem_cache_verify_live(struct kmem_cache *c, void *own, void *p, const void *caller)
{
	struct slab *sl = own;
	struct debug_fault df; /* only st is read until a fault fills the rest (slab_debug.c) */
	unsigned idx;

	df.st = KMEM_OK; /* not { .st = KMEM_OK }: that zeroes 240 bytes a call */
	if (c->direct || !(c->flags & KMEM_CACHE_REDZONE))
		return KMEM_OK;
	idx = (unsigned)(((const char *)p - sl->objs) / c->stride); /* p validated by the caller */
	kmem_lock_acquire(&c->lock);
	kmem_debug_verify_locked(c, p, &df);
	kmem_debug_neighbours_locked(c, sl->objs, slab_used_bits(sl), idx, &df);
	kmem_lock_release(&c->lock);
	if (df.st == KMEM_OK)
		return KMEM_OK;
	kmem_debug_report(c, &df, caller);
	return df.st;
}

void kmem_cache_free(struct kmem_cache *c, void *obj)
{
	if (KMEM_UNLIKELY(obj == NULL))
		return;
	if (KMEM_LIKELY(mag_push(c, obj))) {
		SLAB_ANNOT_PUSH(c, obj);
		return;
	}
	if (!KMEM_MAGAZINES || !c->slot) { /* none: the current slab (S7), not the magazine layer */
		(void)kmem_cache_free_from(c, obj, KMEM_RETURN_ADDRESS());
		return;
	}
	kmem_mag_free_slow(c, obj, KMEM_RETURN_ADDRESS()); /* annotates */
}

enum kmem_status kmem_cache_free_checked(struct kmem_cache *c, void *obj)
{
	return kmem_cache_free_from(c, obj, KMEM_RETURN_ADDRESS());
}

void kmem_cache_free_bulk(struct kmem_cache *c, size_t n, void **objs)
{
	for (size_t i = 0; i < n; i++)
		(void)kmem_cache_free_from(c, objs[i], KMEM_RETURN_ADDRESS());
}

/* ---- shrink and destroy ----------------------------------------------------- */

size_t kmem_cache_release_empty(struct kmem_cache *c)
{
	struct kmem_list list = KMEM_LIST_INIT;
	struct kmem_list_node *pos;
	size_t n = 0;

	kmem_lock_acquire(&c->lock);
	kmem_list_move_all(&list, &c->empty);
	KMEM_LIST_FOR_EACH(pos, &list)
		n++;
	c->nr_empty = 0;
	c->empty_min = 0;
	c->nr_slabs -= n;
	c->slabs_released += n;
	kmem_lock_release(&c->lock);
	while ((pos = kmem_list_pop(&list)) != NULL)
		slab_release(c, slab_of_link(pos));
	return n << c->order;
}

size_t kmem_cache_release_idle(struct kmem_cache *c)
{
	struct kmem_list list = KMEM_LIST_INIT;
	struct kmem_list_node *pos;
	size_t frames = c->slot ? kmem_mag_shrink(c, false) : 0, n, skip;

	kmem_lock_acquire(&c->lock);
	/* the empty list is LIFO: the empty_min slabs at its end were not
	 * taken since the last call; walk past the others (nr_empty <=
	 * empty_keep, S5) */
	n = c->empty_min < c->nr_empty ? c->empty_min : c->nr_empty;
	skip = c->nr_empty - n;
	pos = kmem_list_first(&c->empty);
	while (skip--)
		pos = pos->next;
	while (pos) {
		struct kmem_list_node *next = pos->next;

		kmem_list_del(pos);
		kmem_list_add(&list, pos);
		pos = next;
	}
	c->nr_empty -= n;
	c->nr_slabs -= n;
	c->slabs_released += n;
	c->empty_min = c->nr_empty; /* a new interval */
	kmem_lock_release(&c->lock);
	while ((pos = kmem_list_pop(&list)) != NULL)
		slab_release(c, slab_of_link(pos));
	return frames + (n << c->order);
}

size_t kmem_cache_shrink(struct kmem_cache *c)
{
	size_t frames = c->slot ? kmem_mag_shrink(c, true) : 0;

	return frames + kmem_cache_release_empty(c);
}

size_t kmem_cache_reap(struct kmem_cache *c)
{
	size_t frames = c->slot ? kmem_mag_shrink(c, false) : 0;

	return frames + kmem_cache_release_empty(c);
}

/* Report each allocated object of a slab being torn down (up to `budget`). */
static void report_leaks(struct kmem_cache *c, struct slab *sl, unsigned *budget)
{
	for (unsigned i = 0; i < c->objs && *budget; i++)
		if (obj_used(sl, i)) {
			struct debug_who who;
			void *p = sl->objs + (size_t)i * c->stride;

			(*budget)--;
			kmem_debug_who(c, p, &who);
			kmem_slab_report_who(c->owner, c, KMEM_LEAK, p, NULL, &who,
					     "object %u of slab %p still allocated when the cache is destroyed",
					     i, (void *)sl);
		}
}

/* Tear down every slab of c; the struct itself stays. No lock held. */
static void cache_teardown(struct kmem_cache *c)
{
	struct kmem_list all = KMEM_LIST_INIT;
	struct kmem_list_node *n;
	struct slab *sl;
	size_t live;
	unsigned budget = 16;

	kmem_lock_acquire(&c->lock);
	live = c->active_objs;
	/* one by one, so the release order is as it always was: the empty
	 * list's last slab first, the first partial bucket's first slab last */
	for (unsigned b = 0; b < SLAB_BUCKETS; b++)
		while ((n = kmem_list_pop(&c->partial[b])) != NULL)
			kmem_list_add(&all, n);
	while ((n = kmem_list_pop(&c->full)) != NULL)
		kmem_list_add(&all, n);
	while ((n = kmem_list_pop(&c->empty)) != NULL)
		kmem_list_add(&all, n);
	c->partial_mask = 0;
	c->cur = NULL; /* it was on one of the lists (S7) */
	c->slabs_released += c->direct ? 0 : c->nr_slabs;
	c->nr_slabs = c->direct ? c->nr_slabs : 0;
	c->nr_empty = 0;
	c->empty_min = 0;
	kmem_lock_release(&c->lock);
	if (c->direct && live)
		kmem_slab_report(c->owner, c, KMEM_LEAK, NULL, NULL,
				 "%zu direct objects still allocated when the cache is destroyed; "
				 "their blocks stay allocated in the page source", live);
	while ((n = kmem_list_pop(&all)) != NULL) {
		sl = slab_of_link(n);
		if (sl->inuse)
			report_leaks(c, sl, &budget);
		slab_release(c, sl);
	}
	if (!c->direct && live > 16)
		kmem_slab_report(c->owner, c, KMEM_LEAK, NULL, NULL,
				 "%zu objects were still allocated in all (16 reported)", live);
}

void kmem_cache_destroy(struct kmem_cache *c)
{
	struct kmem_slab *s;

	if (!c)
		return;
	s = c->owner;
	kmem_lock_acquire(&s->lock);
	kmem_list_del(&c->link);
	kmem_lock_release(&s->lock);
	kmem_mag_cache_fini(c); /* magazines back to the slabs, the slot released */
	cache_teardown(c);
	kmem_lock_destroy(&c->lock);
	c->magic = 0;
	(void)kmem_cache_free_from(&s->cache_cache, c, NULL);
}

/* ---- instance and cache creation --------------------------------------------- */

size_t kmem_slab_sizeof(void)
{
	return sizeof(struct kmem_slab);
}

static size_t shrink_count_locked(struct kmem_slab *s);
static size_t shrink_scan_locked(struct kmem_slab *s, const struct kmem_shrink_request *req);

/* The shrinker's calls, run by the frame service holding its shrink lock,
 * try-lock the instance: a fork's prepare handlers take this instance's
 * lock before the frame service's (the lock order, docs/locking.md), so
 * waiting here could deadlock against a fork; a busy instance (a fork, a
 * cache being created or destroyed, another shrink) counts and gives 0
 * this pass, and reclaim goes on to the next shrinker or round. */
static size_t slab_shrinker_count(void *arg)
{
	struct kmem_slab *s = arg;
	size_t frames;

	if (!kmem_lock_try_acquire(&s->lock))
		return 0;
	frames = shrink_count_locked(s);
	kmem_lock_release(&s->lock);
	return frames;
}

static size_t slab_shrinker_scan(void *arg, const struct kmem_shrink_request *req)
{
	struct kmem_slab *s = arg;
	size_t frames;

	if (!kmem_lock_try_acquire(&s->lock))
		return 0;
	frames = shrink_scan_locked(s, req);
	kmem_lock_release(&s->lock);
	return frames;
}

#ifndef KMEM_FREESTANDING
static size_t slab_shrinker_idle(void *arg, uint64_t now)
{
	(void)now; /* the working set is per call: the caller paces them */
	return kmem_slab_idle(arg);
}
#endif

/* The instance's free mark (kmem_slab_config.free_mark): the caller's, or
 * a mix of the instance's address (a murmur3 finaliser: the 32-bit one
 * where addresses have 32 bits, no 64-bit multiplications); odd, top bit
 * set. */
static uintptr_t free_mark(uintptr_t want, const struct kmem_slab *s)
{
#if UINTPTR_MAX <= UINT32_MAX
	uint32_t x = want ? (uint32_t)want : (uint32_t)(uintptr_t)s ^ 0x6b6d656du;

	if (!want) {
		x ^= x >> 16;
		x *= 0x85ebca6bu;
		x ^= x >> 13;
		x *= 0xc2b2ae35u;
		x ^= x >> 16;
	}
	return (uintptr_t)x | 1u | ((uintptr_t)1 << 31);
#else
	uint64_t x = want ? (uint64_t)want : (uint64_t)(uintptr_t)s ^ 0x6b6d656d66726565ull;

	if (!want) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdull;
		x ^= x >> 33;
		x *= 0xc4ceb9fe1a85ec53ull;
		x ^= x >> 33;
	}
	return (uintptr_t)x | 1u | ((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1));
#endif
}

/* Undo kmem_slab_init once its caches exist (kmem_kmalloc_init failed). No
 * object was handed out yet, so each cache goes back to cache_cache as
 * kmem_cache_destroy puts it, without the teardown's walk of slabs and its
 * leak reports, and the internal caches' slabs, empty now, go back to the
 * source: firmware that never destroys an instance links no teardown. */
static void slab_init_undo(struct kmem_slab *s)
{
	while (!kmem_list_empty(&s->caches)) {
		struct kmem_cache *c = KMEM_LIST_ENTRY(kmem_list_first(&s->caches),
						       struct kmem_cache, link);

		kmem_list_del(&c->link);
		kmem_mag_cache_fini(c); /* its magazine slot */
		kmem_lock_destroy(&c->lock);
		c->magic = 0;
		(void)kmem_cache_free_from(&s->cache_cache, c, NULL);
	}
	(void)kmem_cache_release_empty(&s->cache_cache);
	kmem_lock_destroy(&s->cache_cache.lock);
#if KMEM_MAGAZINES
	(void)kmem_cache_release_empty(&s->mag_cache);
	kmem_lock_destroy(&s->mag_cache.lock);
#endif
	kmem_lock_destroy(&s->lock);
}

int kmem_slab_init(void *mem, size_t mem_size, const struct kmem_slab_config *cfg,
		   struct kmem_slab **out)
{
	struct kmem_slab *s = mem;
	const struct kmem_page_source *ps = cfg ? cfg->source : NULL;
	int err;

	if (!mem || ((uintptr_t)mem & 15) || !out || !ps || !ps->alloc_pages || !ps->free_pages ||
	    !ps->set_owner || !ps->get_owner || !kmem_is_pow2(ps->frame_size))
		return -EINVAL;
	if (mem_size < sizeof(*s))
		return -ENOSPC;
	if ((ps->frame_size << ps->max_order) < 256 || (ps->owner_frames && !ps->owner_words))
		return -EINVAL; /* kmalloc's small classes need blocks of 256 bytes */
	if (kmem_kmalloc_check_config(cfg))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	kmem_strlcpy(s->name, cfg->name ? cfg->name : "slab", sizeof(s->name));
	s->ps = *ps;
	s->fast.owner_base = ps->owner_base;
	s->fast.owner_frames = ps->owner_frames;
	s->fast.owner_words = ps->owner_words;
	s->fast.frame_shift = kmem_ctzptr(ps->frame_size);
	s->fast.free_mark = free_mark(cfg->free_mark, s);
	kmem_error_sink_init(&s->own_sink);
	s->sink = cfg->sink ? cfg->sink : &s->own_sink;
	if ((cfg->debug_flags & ~(unsigned)KMEM_CACHE_DEBUG) || cfg->waste_div > 64 ||
	    cfg->partial > KMEM_SLAB_PARTIAL_LEAST)
		return -EINVAL;
	if (!KMEM_SLAB_DEBUG && cfg->debug_flags)
		return -ENOTSUP; /* debug caches compiled out (-Dslab_debug) */
	s->debug = cfg->debug_flags;
	s->waste_div = cfg->waste_div ? cfg->waste_div : 8;
	s->partial_policy = cfg->partial;
	s->empty_keep = cfg->empty_keep == 0 ? KMEM_CACHE_EMPTY_KEEP
		      : cfg->empty_keep == KMEM_SLAB_KEEP_NONE ? 0 : cfg->empty_keep;
	s->no_colour = cfg->no_colour;
	if (kmem_mag_config(s, cfg))
		return -EINVAL;
	err = kmem_lock_init(&s->lock, true);
	if (err)
		return err;
	/* the internal caches never have magazines or debug layouts; with
	 * magazines (threads) every cache descriptor starts a cache line, so
	 * its first line (struct kmem_cache_fast, what every free reads) holds
	 * nothing that changes: packed at their size, a descriptor's first
	 * line shared a line with the previous one's depot counters, written
	 * at every magazine exchange, by whichever thread made it */
	_Static_assert(sizeof(struct kmem_cache_fast) <= COLOUR_STEP, "the fast fields fit one line");
	err = cache_init(&s->cache_cache, s, "kmem_cache", sizeof(struct kmem_cache),
			 KMEM_MAGAZINES ? COLOUR_STEP : _Alignof(struct kmem_cache), KMEM_CACHE_NOMAGAZINE,
			 NULL, NULL, NULL);
#if KMEM_MAGAZINES
	if (!err) {
		err = cache_init(&s->mag_cache, s, "kmem_magazine",
				 kmem_mag_bytes(s), 64,
				 KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
		if (err)
			kmem_lock_destroy(&s->cache_cache.lock);
	}
#endif
	if (err) {
		kmem_lock_destroy(&s->lock);
		return err;
	}
	err = kmem_kmalloc_init(s, cfg);
	if (err) {
		slab_init_undo(s);
		return err;
	}
	s->magic = SLAB_INSTANCE_MAGIC;
	/* on a source that reclaims (pagealloc): the instance is a shrinker */
	if (s->ps.register_shrinker) {
		s->shrinker.name = s->name;
		s->shrinker.count = slab_shrinker_count;
		s->shrinker.scan = slab_shrinker_scan;
		s->shrinker.arg = s;
#ifndef KMEM_FREESTANDING /* firmware calls kmem_slab_idle itself: the image keeps it only then */
		s->shrinker.idle = slab_shrinker_idle;
#endif
		s->shrinker_on = s->ps.register_shrinker(s->ps.ctx, &s->shrinker) == 0;
	}
	*out = s;
	return 0;
}

void kmem_slab_destroy(struct kmem_slab *s)
{
	if (!s)
		return;
	if (s->shrinker_on) /* first: waits for a scan in progress */
		s->ps.unregister_shrinker(s->ps.ctx, &s->shrinker);
	s->shrinker_on = false;
	while (!kmem_list_empty(&s->caches))
		kmem_cache_destroy(KMEM_LIST_ENTRY(kmem_list_first(&s->caches), struct kmem_cache, link));
#if KMEM_MAGAZINES
	cache_teardown(&s->mag_cache);
	kmem_lock_destroy(&s->mag_cache.lock);
#endif
	cache_teardown(&s->cache_cache);
	kmem_lock_destroy(&s->cache_cache.lock);
	kmem_lock_destroy(&s->lock);
	s->magic = 0;
}

static struct kmem_cache *cache_create(struct kmem_slab *s, const char *name, size_t size,
				       size_t align, unsigned flags, void (*ctor)(void *obj, void *arg),
				       void (*dtor)(void *obj, void *arg), void *arg)
{
	struct kmem_cache *c;

	if (!size || (align && !kmem_is_pow2(align)) || size > (s->ps.frame_size << s->ps.max_order) ||
	    align > (s->ps.frame_size << s->ps.max_order))
		return NULL;
	c = slab_annot_alloc(&s->cache_cache,
			     kmem_slab_alloc_one(&s->cache_cache, sizeof(*c), KMEM_RETURN_ADDRESS()),
			     sizeof(*c));
	if (!c)
		return NULL;
	if (cache_init(c, s, name, size, align, flags | s->debug, ctor, dtor, arg)) {
		(void)kmem_cache_free_from(&s->cache_cache, c, NULL);
		return NULL;
	}
	kmem_lock_acquire(&s->lock);
	kmem_list_add(&s->caches, &c->link);
	kmem_lock_release(&s->lock);
	return c;
}

struct kmem_cache *kmem_cache_create(struct kmem_slab *s, const char *name, size_t size,
				     size_t align, unsigned flags, void (*ctor)(void *obj, void *arg),
				     void (*dtor)(void *obj, void *arg), void *arg)
{
	if (flags & ~(KMEM_CACHE_NOCOLOUR | KMEM_CACHE_NOMAGAZINE | KMEM_CACHE_DEBUG))
		return NULL;
	if (!KMEM_SLAB_DEBUG && (flags & KMEM_CACHE_DEBUG))
		return NULL; /* debug caches compiled out (-Dslab_debug) */
	return cache_create(s, name, size, align, flags, ctor, dtor, arg);
}

struct kmem_cache *kmem_cache_create_flags(struct kmem_slab *s, const char *name, size_t size,
					   size_t align, unsigned flags)
{
	return cache_create(s, name, size, align, flags, NULL, NULL, NULL);
}

/* Both are shrink_scan with no frame target: reap is the background level
 * (working-set reclaim of every cache), shrink the OOM level (everything
 * idle). */
size_t kmem_slab_shrink(struct kmem_slab *s)
{
	const struct kmem_shrink_request req = { SIZE_MAX, SIZE_MAX, KMEM_PRESSURE_OOM };

	return kmem_slab_shrink_scan(s, &req);
}

size_t kmem_slab_reap(struct kmem_slab *s)
{
	const struct kmem_shrink_request req = { SIZE_MAX, SIZE_MAX, KMEM_PRESSURE_BACKGROUND };

	return kmem_slab_shrink_scan(s, &req);
}

/* instance lock held */
static size_t shrink_count_locked(struct kmem_slab *s)
{
	size_t frames = 0;
	struct kmem_cache *c;

	SLAB_FOR_EACH_CACHE(c, s) {
		KMEM_STEP(SLAB_STEP_CACHE);
		kmem_lock_acquire(&c->lock);
		frames += c->nr_empty << c->order;
		frames += (size_t)c->nfull * c->mag_cap * c->stride / s->ps.frame_size;
		kmem_lock_release(&c->lock);
	}
	return frames;
}

size_t kmem_slab_shrink_count(struct kmem_slab *s)
{
	size_t frames;

	kmem_lock_acquire(&s->lock);
	frames = shrink_count_locked(s);
	kmem_lock_release(&s->lock);
	return frames;
}

/* instance lock held */
static size_t shrink_scan_locked(struct kmem_slab *s, const struct kmem_shrink_request *req)
{
	size_t frames = 0;
	struct kmem_cache *c;

	if (KMEM_MAGAZINES && req->level == KMEM_PRESSURE_OOM) {
		SLAB_FOR_EACH_CACHE(c, s) {
			KMEM_STEP(SLAB_STEP_CACHE);
			frames += kmem_cache_shrink(c);
		}
#if KMEM_MAGAZINES
		frames += kmem_cache_shrink(&s->mag_cache);
#endif
		frames += kmem_cache_shrink(&s->cache_cache);
		return frames;
	}
	/* background: reap until enough; direct, and OOM without magazines
	 * (where a shrink is a reap: both release the empty slabs), every cache */
	SLAB_FOR_EACH_CACHE(c, s) {
		KMEM_STEP(SLAB_STEP_CACHE);
		if (req->level == KMEM_PRESSURE_BACKGROUND && frames >= req->frames)
			break;
		frames += kmem_cache_reap(c);
	}
	if (KMEM_MAGAZINES && req->level == KMEM_PRESSURE_DIRECT)
		SLAB_FOR_EACH_CACHE(c, s) {
			KMEM_STEP(SLAB_STEP_CACHE);
			if (frames >= req->frames)
				break;
			frames += kmem_cache_shrink(c);
		}
#if KMEM_MAGAZINES
	frames += kmem_cache_release_empty(&s->mag_cache);
#endif
	frames += kmem_cache_release_empty(&s->cache_cache);
	return frames;
}

size_t kmem_slab_shrink_scan(struct kmem_slab *s, const struct kmem_shrink_request *req)
{
	size_t frames;

	kmem_lock_acquire(&s->lock);
	frames = shrink_scan_locked(s, req);
	kmem_lock_release(&s->lock);
	return frames;
}

size_t kmem_slab_idle(struct kmem_slab *s)
{
	size_t frames = 0;
	struct kmem_cache *c;

	/* a try-lock: the frame service calls this holding its shrink lock,
	 * which a fork's prepare handlers take after this instance's lock
	 * (the lock order); a busy instance is skipped until the next call */
	if (!kmem_lock_try_acquire(&s->lock))
		return 0;
	SLAB_FOR_EACH_CACHE(c, s)
		frames += kmem_cache_release_idle(c);
#if KMEM_MAGAZINES
	frames += kmem_cache_release_idle(&s->mag_cache); /* after: the magazines flushed */
#endif
	frames += kmem_cache_release_idle(&s->cache_cache);
	kmem_lock_release(&s->lock);
	return frames;
}

struct kmem_error_sink *kmem_slab_error_sink(struct kmem_slab *s)
{
	return s->sink;
}
