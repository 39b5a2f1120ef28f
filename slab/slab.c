/* slab.c - object caches: slab geometry, allocation, free, shrink, destroy.
 *
 * Algorithm (Bonwick, "The Slab Allocator", USENIX 1994):
 *   1. Geometry: the smallest slab order whose waste (header included) is at
 *      most 1/8 of the slab; objects start after the header, offset by a
 *      colour that cycles through the slack in cache-line steps so that
 *      successive slabs spread their objects over cache lines. No order up
 *      to KMEM_SLAB_MAX_BYTES meets the bound: the cache is direct, one
 *      page-source block per object.
 *   2. alloc: the fullest partial slab (one clz on partial_mask), else an
 *      empty one, else a new slab from the page source (constructor on each
 *      object); take the lowest clear bit of the slab's bitmap (scanning
 *      from the hint word), move the slab to the list its new fill belongs on.
 *   3. free: the page source's owner word of the object's frame names the
 *      slab (foreign pointers read NULL); check cache, position and used
 *      bit; clear it, lower the hint; move the slab. A slab that becomes empty stays
 *      cached up to KMEM_CACHE_EMPTY_KEEP; beyond that it goes back to the
 *      page source (destructor on each object).
 * Bound: free O(1); alloc O(1) amortised, O(n / 64) words scanned at worst
 * (n objects per slab, at most 8 words for 8-byte objects in 4 KiB); plus,
 * when a slab is created or released, one page-source call and one
 * constructor/destructor call per object.
 *
 * Data structures and invariants S1-S4: see slab_internal.h.
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
#if KMEM_ERROR_TEXT
	va_list ap;

	va_start(ap, fmt);
	kmem_vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
#else
	kmem_strlcpy(detail, fmt, sizeof(detail)); /* the error text compiled out */
#endif
	if (w && w->known) {
		r.size = w->req;
		r.alloc_by = w->alloc_by;
		r.free_by = w->free_by;
	}
	kmem_error_raise(s->sink, &r);
}

/* ---- lists (S1) ------------------------------------------------------------ */

/* The slab whose link is n (n not NULL). */
static struct slab *slab_of_link(struct kmem_list_node *n)
{
	return KMEM_LIST_ENTRY(n, struct slab, link);
}

static void slab_link_locked(struct kmem_cache *c, struct slab *sl)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "slab lists need the cache lock");
	kmem_list_add(slab_list(c, sl->inuse), &sl->link);
	if (sl->inuse == 0)
		c->nr_empty++;
	else if (sl->inuse < c->objs)
		c->partial_mask |= (uint64_t)1 << slab_bucket(c, sl->inuse);
}

/* Unlink a slab that is on the list for `inuse` objects. */
static void slab_unlink_locked(struct kmem_cache *c, struct slab *sl, unsigned inuse)
{
	struct kmem_list *head = slab_list(c, inuse);

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "slab lists need the cache lock");
	kmem_list_del(&sl->link);
	if (inuse == 0)
		c->nr_empty--;
	else if (inuse < c->objs && kmem_list_empty(head))
		c->partial_mask &= ~((uint64_t)1 << slab_bucket(c, inuse));
}

/* After inuse changed from `old`: put the slab on the list it now belongs on. */
static void slab_move_locked(struct kmem_cache *c, struct slab *sl, unsigned old)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "slab lists need the cache lock");
	if (slab_list(c, old) == slab_list(c, sl->inuse))
		return;
	slab_unlink_locked(c, sl, old);
	slab_link_locked(c, sl);
}

/* ---- geometry -------------------------------------------------------------- */

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static size_t header_bytes(unsigned n)
{
	return sizeof(struct slab) + ((size_t)n + 63) / 64 * 8;
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
	c->flags = flags;
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
	uint64_t *used;
	unsigned colour, words = slab_words(c);

	if (!mem)
		return NULL;
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
	sl->objs = (char *)mem + c->objs_offset + colour * step + c->obj_off;
	used = slab_used_bits(sl);
	memset(used, 0, (size_t)words * 8);
	if (c->objs % 64)
		used[words - 1] = ~(uint64_t)0 << (c->objs % 64); /* padding bits (S2) */
	if (c->flags & CACHE_DEBUG_FLAGS)
		kmem_debug_init_slab(c, sl);
	if (c->ctor)
		for (unsigned i = 0; i < c->objs; i++)
			c->ctor(sl->objs + (size_t)i * c->stride, c->arg);
	annot_slab_created(c, sl);
	return sl;
}

static bool obj_used(struct slab *sl, unsigned idx)
{
	return (slab_used_bits(sl)[idx / 64] >> (idx % 64)) & 1;
}

/* Return an unlinked slab to the page source; destructor on its free
 * objects (allocated ones were leaked and are only reclaimed). No lock. */
static void slab_release(struct kmem_cache *c, struct slab *sl)
{
	const struct kmem_page_source *ps = &c->owner->ps;

	if (c->dtor || (KMEM_ANNOT_ENABLED && sl->inuse))
		for (unsigned i = 0; i < c->objs; i++) {
			void *o = sl->objs + (size_t)i * c->stride;

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

/* Take the lowest free object of the fullest partial slab (or an empty
 * slab); NULL when the cache has no free object. Debug caches check and
 * stamp the object; a fault is left in *df for the caller to report after
 * unlocking. */
static void *alloc_locked(struct kmem_cache *c, size_t req, const void *caller,
			  struct debug_fault *df)
{
	struct slab *sl;
	uint64_t *used;
	unsigned old, w, idx;
	void *p;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "alloc needs the cache lock");
	if (c->partial_mask)
		sl = slab_of_link(kmem_list_first(&c->partial[63 - (unsigned)__builtin_clzll(c->partial_mask)]));
	else if (!kmem_list_empty(&c->empty))
		sl = slab_of_link(kmem_list_first(&c->empty));
	else
		return NULL;
	used = slab_used_bits(sl);
	for (w = sl->hint; !~used[w]; w++) /* S2: a clear bit exists since inuse < n */
		KMEM_ASSERT(w + 1 < slab_words(c) && "S2: a slab with room has a clear bit");
	idx = w * 64 + kmem_ctz64(~used[w]);
	used[w] |= (uint64_t)1 << (idx % 64);
	sl->hint = w;
	old = sl->inuse;
	sl->inuse = (uint16_t)(old + 1);
	slab_move_locked(c, sl, old);
	c->active_objs++;
	c->allocs++;
	p = sl->objs + (size_t)idx * c->stride;
	if (KMEM_UNLIKELY(c->flags & CACHE_DEBUG_FLAGS)) {
		kmem_debug_alloc_locked(c, p, req, caller, df);
		kmem_debug_neighbours_locked(c, sl->objs, used, idx, df);
	}
	return p;
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

/* Out of free objects: make a slab with no lock held, then take one. */
static KMEM_NOINLINE void *alloc_grow(struct kmem_cache *c, size_t req, const void *caller,
				      bool count_fail)
{
	struct slab *sl = slab_create(c);
	struct debug_fault df = { .st = KMEM_OK };
	void *p;

	kmem_lock_acquire(&c->lock);
	if (sl) {
		slab_link_locked(c, sl);
		c->nr_slabs++;
		c->slabs_created++;
	}
	p = alloc_locked(c, req, caller, &df); /* maybe from a slab another thread freed into */
	if (!p && count_fail)
		c->fails++;
	kmem_lock_release(&c->lock);
	if (df.st != KMEM_OK)
		kmem_debug_report(c, &df, caller);
	return p;
}

void *kmem_slab_alloc_one(struct kmem_cache *c, size_t req, const void *caller)
{
	struct debug_fault df = { .st = KMEM_OK };
	void *p;

	if (c->direct)
		return direct_alloc(c);
	kmem_lock_acquire(&c->lock);
	p = alloc_locked(c, req, caller, &df);
	kmem_lock_release(&c->lock);
	if (df.st != KMEM_OK)
		kmem_debug_report(c, &df, caller);
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
	while (i < n) {
		void *p;

		kmem_lock_acquire(&c->lock);
		while (i < n && (p = alloc_locked(c, 0, NULL, NULL)) != NULL)
			objs[i++] = p;
		kmem_lock_release(&c->lock);
		if (i < n) {
			p = alloc_grow(c, c->size, caller, i == 0);
			if (!p)
				break;
			objs[i++] = p;
		}
	}
	return i;
}

void *kmem_cache_alloc(struct kmem_cache *c)
{
	void *p;

	if (KMEM_LIKELY(mag_pop(c, &p)))
		return slab_annot_alloc(c, p, c->size);
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

/* The name of the cache an owner word points to, for reports. */
static const char *owner_cache_name(const struct kmem_cache *oc)
{
	return oc && oc->magic == CACHE_MAGIC ? oc->name : "?";
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
	idx = (unsigned)(off / c->stride);
	if (off % c->stride) {
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

/* Clear object idx's used bit and move its slab (S1, S2). Returns the slab
 * if it became empty beyond KMEM_CACHE_EMPTY_KEEP and was unlinked: the
 * caller releases it after unlocking. */
static struct slab *free_locked(struct kmem_cache *c, struct slab *sl, unsigned idx)
{
	unsigned old;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "free needs the cache lock");
	slab_used_bits(sl)[idx / 64] &= ~((uint64_t)1 << (idx % 64));
	if (idx / 64 < sl->hint)
		sl->hint = idx / 64;
	old = sl->inuse;
	sl->inuse = (uint16_t)(old - 1);
	slab_move_locked(c, sl, old);
	c->active_objs--;
	c->frees++;
	if (sl->inuse == 0 && c->nr_empty > KMEM_CACHE_EMPTY_KEEP) {
		slab_unlink_locked(c, sl, 0);
		c->nr_slabs--;
		c->slabs_released++;
		return sl;
	}
	return NULL;
}

enum kmem_status kmem_cache_free_from(struct kmem_cache *c, void *p, const void *caller)
{
	struct kmem_slab *s = c->owner;
	struct slab *sl, *release;
	struct debug_fault df = { .st = KMEM_OK };
	enum kmem_status st;
	unsigned idx = 0;
	bool in_mag;

	if (!p)
		return KMEM_OK;
	st = free_locate(c, p, caller, "", &sl, &idx);
	if (st != KMEM_OK)
		return st;
	if (!sl)
		return direct_free(c, p, caller);
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

size_t kmem_slab_free_batch(struct kmem_cache *c, void **objs, size_t n, const char *why)
{
	size_t released = 0;
	struct kmem_list release = KMEM_LIST_INIT; /* unlinked empty slabs, newest first */
	struct kmem_list_node *node;
	struct slab *sl;
	size_t i, keep = 0;
	unsigned idx[KMEM_MAG_MAX_ROUNDS];
	struct slab *slabs[KMEM_MAG_MAX_ROUNDS];
	void *bad = NULL;
	unsigned nbad = 0;

	KMEM_ASSERT(n <= KMEM_MAG_MAX_ROUNDS);
	for (i = 0; i < n; i++) { /* validate with no lock (reports allowed) */
		if (free_locate(c, objs[i], NULL, why, &sl, &idx[keep]) != KMEM_OK)
			continue;
		if (!sl) {
			(void)direct_free(c, objs[i], NULL);
			continue;
		}
		slabs[keep] = sl;
		objs[keep++] = objs[i];
	}
	kmem_lock_acquire(&c->lock);
	c->mag_flushes++;
	for (i = 0; i < keep; i++) {
		struct slab *r;

		if (!obj_used(slabs[i], idx[i])) { /* the same object twice in magazines */
			nbad++;
			bad = objs[i];
			continue;
		}
		r = free_locked(c, slabs[i], idx[i]);
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
	struct debug_fault df = { .st = KMEM_OK };
	unsigned idx;

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
	c->nr_slabs -= n;
	c->slabs_released += n;
	kmem_lock_release(&c->lock);
	while ((pos = kmem_list_pop(&list)) != NULL)
		slab_release(c, slab_of_link(pos));
	return n << c->order;
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
	c->slabs_released += c->direct ? 0 : c->nr_slabs;
	c->nr_slabs = c->direct ? c->nr_slabs : 0;
	c->nr_empty = 0;
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

static size_t slab_shrinker_count(void *arg)
{
	return kmem_slab_shrink_count(arg);
}

static size_t slab_shrinker_scan(void *arg, const struct kmem_shrink_request *req)
{
	return kmem_slab_shrink_scan(arg, req);
}

/* The instance's free mark (kmem_slab_config.free_mark): the caller's, or
 * a mix of the instance's address (a murmur3 finaliser); odd, top bit set. */
static uintptr_t free_mark(uintptr_t want, const struct kmem_slab *s)
{
	uint64_t x = want ? (uint64_t)want : (uint64_t)(uintptr_t)s ^ 0x6b6d656d66726565ull;

	if (!want) {
		x ^= x >> 33;
		x *= 0xff51afd7ed558ccdull;
		x ^= x >> 33;
		x *= 0xc4ceb9fe1a85ec53ull;
		x ^= x >> 33;
	}
	return (uintptr_t)x | 1u | ((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1));
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
	if ((cfg->debug_flags & ~(unsigned)KMEM_CACHE_DEBUG) || cfg->waste_div > 64)
		return -EINVAL;
	if (!KMEM_SLAB_DEBUG && cfg->debug_flags)
		return -ENOTSUP; /* debug caches compiled out (-Dslab_debug) */
	s->debug = cfg->debug_flags;
	s->waste_div = cfg->waste_div ? cfg->waste_div : 8;
	if (kmem_mag_config(s, cfg))
		return -EINVAL;
	err = kmem_lock_init(&s->lock, true);
	if (err)
		return err;
	/* the internal caches never have magazines or debug layouts */
	err = cache_init(&s->cache_cache, s, "kmem_cache", sizeof(struct kmem_cache),
			 _Alignof(struct kmem_cache), KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
	if (!err) {
		err = cache_init(&s->mag_cache, s, "kmem_magazine",
				 kmem_mag_bytes(s), 64,
				 KMEM_CACHE_NOMAGAZINE, NULL, NULL, NULL);
		if (err)
			kmem_lock_destroy(&s->cache_cache.lock);
	}
	if (err) {
		kmem_lock_destroy(&s->lock);
		return err;
	}
	err = kmem_kmalloc_init(s, cfg);
	if (err) {
		kmem_slab_destroy(s);
		return err;
	}
	s->magic = SLAB_INSTANCE_MAGIC;
	/* on a source that reclaims (pagealloc): the instance is a shrinker */
	if (s->ps.register_shrinker) {
		s->shrinker.name = s->name;
		s->shrinker.count = slab_shrinker_count;
		s->shrinker.scan = slab_shrinker_scan;
		s->shrinker.arg = s;
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
	cache_teardown(&s->mag_cache);
	kmem_lock_destroy(&s->mag_cache.lock);
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

size_t kmem_slab_shrink_count(struct kmem_slab *s)
{
	size_t frames = 0;
	struct kmem_cache *c;

	kmem_lock_acquire(&s->lock);
	SLAB_FOR_EACH_CACHE(c, s) {
		kmem_lock_acquire(&c->lock);
		frames += c->nr_empty << c->order;
		frames += (size_t)c->nfull * c->mag_cap * c->stride / s->ps.frame_size;
		kmem_lock_release(&c->lock);
	}
	kmem_lock_release(&s->lock);
	return frames;
}

size_t kmem_slab_shrink_scan(struct kmem_slab *s, const struct kmem_shrink_request *req)
{
	size_t frames = 0;
	struct kmem_cache *c;

	kmem_lock_acquire(&s->lock);
	if (req->level == KMEM_PRESSURE_OOM) {
		SLAB_FOR_EACH_CACHE(c, s)
			frames += kmem_cache_shrink(c);
		frames += kmem_cache_shrink(&s->mag_cache);
		frames += kmem_cache_shrink(&s->cache_cache);
		kmem_lock_release(&s->lock);
		return frames;
	}
	SLAB_FOR_EACH_CACHE(c, s) {
		if (req->level != KMEM_PRESSURE_DIRECT && frames >= req->frames)
			break;
		frames += kmem_cache_reap(c);
	}
	if (req->level == KMEM_PRESSURE_DIRECT)
		SLAB_FOR_EACH_CACHE(c, s) {
			if (frames >= req->frames)
				break;
			frames += kmem_cache_shrink(c);
		}
	frames += kmem_cache_release_empty(&s->mag_cache);
	frames += kmem_cache_release_empty(&s->cache_cache);
	kmem_lock_release(&s->lock);
	return frames;
}

struct kmem_error_sink *kmem_slab_error_sink(struct kmem_slab *s)
{
	return s->sink;
}
