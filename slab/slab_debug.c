/* slab_debug.c - red zones, poisoning and caller tracking for caches with
 * debug flags (the ideas of Linux SLUB's red_zone, poison and store_user).
 *
 * Layout of an object's slot (see slab_internal.h):
 *   | track | left zone | object (size) | right zone (rz_right) |
 *             ^ p - obj_off + sizeof(track)    ^ p + size
 * Zones hold RED_ACTIVE (0xcc) always; a kmalloc object's bytes between the
 * size asked for and the class size are armed with RED_ACTIVE at alloc and
 * checked at free, so an overflow of one byte past the size the program
 * asked for is caught (a 40-byte block in the 48-byte class: from byte 40).
 * The track (callers, size asked for, a check word: T1) comes before the
 * object, where the object's own overflow cannot reach it; the neighbour's
 * can, and fails T1: such records are reported as overwritten, never
 * printed as callers. A free object of a POISON cache is POISON_FREE (0x6b)
 * in every byte; the poison is checked when the object is handed out again.
 * Bound: O(object size) per alloc/free of a debug cache; nothing at all for
 * other caches (their fast paths never reach this file).
 *
 * Locking: every function runs under the cache lock except
 * kmem_debug_report(), which runs with no lock held.
 */
#include "kmem_fmt.h"
#include "kmem_mem.h"
#include "slab_internal.h"

#include <string.h>

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

void kmem_debug_layout(struct kmem_cache *c)
{
	size_t head = sizeof(struct obj_track) + ((c->flags & KMEM_CACHE_REDZONE) ? REDZONE_BYTES : 0);

	if (c->ctor)
		c->flags &= ~KMEM_CACHE_POISON; /* constructed state must survive a free */
	/* each slot starts with its track: slots aligned for it */
	if (c->align < _Alignof(struct obj_track))
		c->align = _Alignof(struct obj_track);
	c->track_off = 0;
	c->obj_off = align_up(head, c->align);
	c->rz_right = (c->flags & KMEM_CACHE_REDZONE) ? align_up(c->size, 8) - c->size + REDZONE_BYTES : 0;
	c->stride = align_up(c->obj_off + c->size + c->rz_right, c->align);
}

static struct obj_track *track_of(const struct kmem_cache *c, const void *p)
{
	return (struct obj_track *)(void *)((char *)(uintptr_t)p - c->obj_off + c->track_off);
}

/* Bytes of the left zone (between the track and the object). */
static size_t left_bytes(const struct kmem_cache *c)
{
	return c->obj_off - c->track_off - sizeof(struct obj_track);
}

/* T1: the check word of a track (its fields and its address, mixed). */
static uintptr_t track_check(const struct obj_track *t)
{
	uintptr_t x = (uintptr_t)t->alloc_by * 31 ^ (uintptr_t)t->free_by * 131 ^ (uintptr_t)t->req;

	return (uintptr_t)((x ^ (uintptr_t)t) * 0x9e3779b97f4a7c15ull) ^ TRACK_KEY;
}

static bool track_ok(const struct obj_track *t)
{
	return t->check == track_check(t);
}

static void track_set(struct obj_track *t, const void *alloc_by, const void *free_by, size_t req)
{
	t->alloc_by = alloc_by;
	t->free_by = free_by;
	t->req = req;
	t->check = track_check(t);
}

/* Annotations (slab_internal.h): zones and free objects are NOACCESS; the
 * checks here open what they read or write (DEFINED: the allocator wrote
 * it) and close it after. The bytes a user holds are never touched, nor
 * the track (allocator metadata, always DEFINED). */
static void slot_open(const struct kmem_cache *c, char *p)
{
	KMEM_ANNOT_DEFINED(p - left_bytes(c), left_bytes(c) + c->size + c->rz_right);
}

static void slot_close(const struct kmem_cache *c, char *p)
{
	KMEM_ANNOT_NOACCESS(p - left_bytes(c), left_bytes(c) + c->size + c->rz_right);
}

/* The zones of a live object whose user asked for req bytes. */
static void zones_open(const struct kmem_cache *c, char *p, size_t req)
{
	KMEM_ANNOT_DEFINED(p - left_bytes(c), left_bytes(c));
	KMEM_ANNOT_DEFINED(p + req, c->size - req + c->rz_right);
}

static void zones_close(const struct kmem_cache *c, char *p, size_t req)
{
	KMEM_ANNOT_NOACCESS(p - left_bytes(c), left_bytes(c));
	KMEM_ANNOT_NOACCESS(p + req, c->size - req + c->rz_right);
}

void kmem_debug_init_slab(struct kmem_cache *c, struct slab *sl)
{
	for (unsigned i = 0; i < c->objs; i++) {
		char *p = sl->objs + (size_t)i * c->stride;

		if (c->flags & KMEM_CACHE_REDZONE) {
			memset(p - left_bytes(c), RED_ACTIVE, left_bytes(c));
			memset(p + c->size, RED_ACTIVE, c->rz_right);
		}
		if (c->flags & KMEM_CACHE_POISON)
			memset(p, POISON_FREE, c->size);
		track_set(track_of(c, p), NULL, NULL, c->size);
	}
}

/* First byte of [p, p + n) that is not v, or NULL. */
static const unsigned char *first_not(const void *p, int v, size_t n)
{
	return kmem_first_not(p, v, n);
}

void kmem_debug_who(const struct kmem_cache *c, const void *p, struct debug_who *w)
{
	const struct obj_track *t;

	memset(w, 0, sizeof(*w));
	if (!(c->flags & CACHE_DEBUG_FLAGS))
		return;
	t = track_of(c, p);
	if (!track_ok(t))
		return; /* T1 broken: overwritten, nothing to believe */
	w->known = true;
	w->req = t->req <= c->size ? t->req : c->size;
	if (c->flags & KMEM_CACHE_STORE_USER) {
		w->alloc_by = t->alloc_by;
		w->free_by = t->free_by;
	}
}

static void fault(struct kmem_cache *c, struct debug_fault *df, enum kmem_status st, const void *p,
		  const char *what, const unsigned char *at)
{
	if (!df || df->st != KMEM_OK)
		return; /* keep the first finding */
	kmem_debug_who(c, p, &df->who);
	df->st = st;
	df->ptr = p;
	kmem_detailf(df->detail, sizeof(df->detail),
		     "%s at offset %td (byte 0x%02x) of a %zu-byte object%s", what,
		     (const char *)at - (const char *)p, *at, c->size,
		     df->who.known ? "" : "; its caller records were overwritten too");
}

/* T1 for object p: a fault if its records were overwritten. */
static bool track_checked(struct kmem_cache *c, char *p, struct debug_fault *df)
{
	const struct obj_track *t = track_of(c, p);

	if (track_ok(t))
		return true;
	fault(c, df, KMEM_REDZONE, p, "caller records before the object overwritten", (const unsigned char *)t);
	return false;
}

/* Check (and repair) the zones of object p; true if all were intact. */
static bool zones_ok(struct kmem_cache *c, char *p, size_t req, struct debug_fault *df, bool repair)
{
	const unsigned char *bad;
	bool ok = true;

	if (!(c->flags & KMEM_CACHE_REDZONE))
		return true;
	if ((bad = first_not(p - left_bytes(c), RED_ACTIVE, left_bytes(c))) != NULL) {
		fault(c, df, KMEM_REDZONE, p, "red zone before the object overwritten", bad);
		ok = false;
	}
	if ((bad = first_not(p + req, RED_ACTIVE, c->size - req + c->rz_right)) != NULL) {
		fault(c, df, KMEM_REDZONE, p,
		      req < c->size ? "written past the size asked for" : "red zone after the object overwritten",
		      bad);
		ok = false;
	}
	if (!ok && repair) {
		memset(p - left_bytes(c), RED_ACTIVE, left_bytes(c));
		memset(p + req, RED_ACTIVE, c->size - req + c->rz_right);
	}
	return ok;
}

void kmem_debug_alloc_locked(struct kmem_cache *c, void *p, size_t req, const void *caller,
			     struct debug_fault *df)
{
	const unsigned char *bad;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "debug state needs the cache lock");
	if (req > c->size || !(c->flags & CACHE_KMALLOC))
		req = c->size;
	slot_open(c, p); /* a free object: the user's block starts at the API */
	if ((c->flags & KMEM_CACHE_POISON) && (bad = first_not(p, POISON_FREE, c->size)) != NULL)
		fault(c, df, KMEM_USE_AFTER_FREE, p, "written after it was freed", bad);
	(void)zones_ok(c, p, c->size, df, true);
	(void)track_checked(c, p, df);
	if (c->flags & KMEM_CACHE_REDZONE)
		memset((char *)p + req, RED_ACTIVE, c->size - req); /* kmalloc tail */
	slot_close(c, p);
	track_set(track_of(c, p), caller, NULL, req);
}

void kmem_debug_free_locked(struct kmem_cache *c, void *p, const void *caller, struct debug_fault *df)
{
	struct obj_track *t = track_of(c, p);
	/* records that fail T1 do not know the size: check the class's zones */
	size_t req = track_ok(t) && t->req <= c->size ? t->req : c->size;
	const void *alloc_by = track_ok(t) ? t->alloc_by : NULL;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "debug state needs the cache lock");
	slot_open(c, p); /* the user's block ended already */
	(void)zones_ok(c, p, req, df, true);
	(void)track_checked(c, p, df);
	if (c->flags & KMEM_CACHE_POISON)
		memset(p, POISON_FREE, c->size);
	else if (c->flags & KMEM_CACHE_REDZONE)
		memset((char *)p + req, RED_ACTIVE, c->size - req);
	slot_close(c, p);
	track_set(t, alloc_by, caller, req); /* the size stays known: double-free reports name it */
}

bool kmem_debug_check_locked(struct kmem_cache *c, void *p, bool allocated, struct debug_fault *df)
{
	const struct obj_track *t = track_of(c, p);
	size_t req = allocated && track_ok(t) && t->req <= c->size ? t->req : c->size;
	const unsigned char *bad = NULL;
	bool ok;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "debug state needs the cache lock");
	if (allocated)
		zones_open(c, p, req);
	else
		slot_open(c, p);
	ok = zones_ok(c, p, req, df, false);
	ok = track_checked(c, p, df) && ok;
	if (ok && !allocated && (c->flags & KMEM_CACHE_POISON) &&
	    (bad = first_not(p, POISON_FREE, c->size)) != NULL) {
		fault(c, df, KMEM_USE_AFTER_FREE, p, "written after it was freed", bad);
		ok = false;
	}
	if (allocated)
		zones_close(c, p, req);
	else
		slot_close(c, p);
	return ok;
}

void kmem_debug_neighbours_locked(struct kmem_cache *c, char *objs, const unsigned long *used, unsigned idx,
				  struct debug_fault *df)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "debug state needs the cache lock");
	if (!(c->flags & KMEM_CACHE_REDZONE))
		return;
	for (unsigned k = 0; k < 2 && df->st == KMEM_OK; k++) {
		unsigned j = k ? idx + 1 : idx - 1; /* idx - 1 wraps for object 0: skipped */
		bool allocated;
		size_t req;
		char *q;

		if (j >= c->objs)
			continue;
		q = objs + (size_t)j * c->stride;
		allocated = slab_bit(used, j);
		req = allocated ? kmem_debug_req(c, q) : c->size;
		if (allocated)
			zones_open(c, q, req);
		else
			slot_open(c, q);
		if (track_checked(c, q, df))
			(void)zones_ok(c, q, req, df, true);
		if (allocated)
			zones_close(c, q, req);
		else
			slot_close(c, q);
		if (df->st != KMEM_OK) {
			size_t n = strlen(df->detail);

			kmem_detailf(df->detail + n, sizeof(df->detail) - n, " (found at its neighbour %p)",
				     (void *)(objs + (size_t)idx * c->stride));
		}
	}
}

void kmem_debug_verify_locked(struct kmem_cache *c, char *p, struct debug_fault *df)
{
	size_t req = kmem_debug_req(c, p);

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "debug state needs the cache lock");
	zones_open(c, p, req);
	if (track_checked(c, p, df))
		(void)zones_ok(c, p, req, df, true);
	zones_close(c, p, req);
}

size_t kmem_debug_req(const struct kmem_cache *c, const void *p)
{
	const struct obj_track *t = track_of(c, p);

	return track_ok(t) && t->req <= c->size ? t->req : c->size;
}

void kmem_debug_report(struct kmem_cache *c, const struct debug_fault *df, const void *caller)
{
	kmem_slab_report_who(c->owner, c, df->st, df->ptr, caller, &df->who, "%s", df->detail);
}
