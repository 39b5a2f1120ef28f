/* slab_internal.h - private structures of the slab layer, shared by slab.c
 * (caches, slabs, alloc, free) and slab_info.c (stats, slabinfo, checker),
 * and by white-box tests.
 *
 * A slab is a naturally aligned page-source block of 2^slab_order frames:
 *
 *   | struct slab | used bitmap | colour | obj 0 | obj 1 | ... | slack |
 *   ^ slab base (every frame's owner word points here)   ^ objs
 *
 *   used bit i   set iff object i is allocated; bits n.. of the last word
 *                are set too (padding), so they are never handed out.
 *   hint         no word before used[hint] has a clear bit: allocation
 *                scans from there (lowest free object first), free lowers it.
 *   Objects hold no links, so constructed state survives a free; the bitmap
 *   costs 1 bit per object, so even 8-byte objects meet the waste bound.
 *
 * Partial slabs sit in 64 fullness buckets, so allocation takes the fullest
 * partial slab (Bonwick: let nearly empty slabs drain) with one clz on
 * partial_mask:
 *   bucket(inuse) = inuse - 1                 when n <= 64 (exact order)
 *                 = inuse * 64 / n            otherwise (to 1/64 of a slab)
 *   e.g. n = 10: a slab with 7 objects in use is in bucket 6, one with 2
 *   in bucket 1; allocation serves bucket 6 first.
 *
 * Direct caches (objects that cannot meet the waste bound in a slab) give
 * each object its own page-source block; its owner word is the cache pointer
 * with bit 0 set (DIRECT_TAG).
 *
 * Invariants (kmem_cache_check() verifies all; asserts cite them):
 *   S1. A slab of cache c is on exactly one list of c: empty iff inuse == 0,
 *       full iff inuse == n, else partial[bucket(inuse)]; bit b of
 *       partial_mask is set iff partial[b] is non-empty.
 *   S2. Exactly inuse of the bits 0..n-1 are set, every padding bit is set,
 *       and no word before used[hint] has a clear bit.
 *   S3. Every frame of a slab has the slab as its owner word.
 *   S4. nr_slabs, nr_empty and active_objs equal what the lists hold.
 *
 * Locking: s->lock protects the instance's cache list; c->lock protects a
 * cache's lists, slabs' headers and counters. Lock order: instance lock,
 * cache lock, page source. Page allocation, constructors and destructors
 * run with no slab lock held (a constructor may allocate from a cache).
 */
#ifndef KMEM_SLAB_INTERNAL_H
#define KMEM_SLAB_INTERNAL_H

#include <kmem/slab.h>

#include "kmem_port.h"

#define SLAB_MAGIC 0x736c6162u	/* "slab" */
#define CACHE_MAGIC 0x63616368u	/* "cach" */
#define SLAB_INSTANCE_MAGIC 0x6b736c62u
#define SLAB_NAME_MAX 32
#define SLAB_BUCKETS 64
#define KMEM_SLAB_LARGE_ORDERS 32
#define DIRECT_TAG ((uintptr_t)1)
#define COLOUR_STEP 64	/* cache line */
#define CACHE_KMALLOC 0x80000000u	/* internal flag: a kmalloc class */
#define CACHE_FORCE_DIRECT 0x40000000u	/* internal flag: one block per object */
#define KMALLOC_CLASSES 13
#define KMALLOC_SMALL_MAX 192	/* sizes up to here map through a table */

struct slab {
	uint32_t magic;
	uint16_t inuse;
	uint16_t colour;	/* bytes of colour offset / COLOUR_STEP */
	uint32_t hint;		/* first bitmap word that may have a clear bit (S2) */
	struct kmem_cache *cache;
	struct slab *next, *prev;	/* on one list of the cache (S1) */
	char *objs;	/* object 0 */
};

struct kmem_cache {
	uint32_t magic;
	unsigned flags;
	char name[SLAB_NAME_MAX];
	struct kmem_slab *owner;
	size_t size, align, stride;
	unsigned order;		/* slab (or direct block) order */
	unsigned objs;		/* objects per slab (n); 1 for direct caches */
	size_t slab_bytes;
	size_t objs_offset;	/* header + stack + bitmap, aligned */
	unsigned colours;
	bool direct;
	void (*ctor)(void *obj, void *arg);
	void (*dtor)(void *obj, void *arg);
	void *arg;
	struct kmem_cache *next, *prev;	/* the instance's cache list */
	struct kmem_lock lock;

	unsigned colour_next;	/* relaxed atomic: next slab's colour */

	/* --- protected by lock --- */
	struct slab *partial[SLAB_BUCKETS];
	uint64_t partial_mask;
	struct slab *full, *empty;
	size_t nr_slabs, nr_empty, active_objs;
	uint64_t allocs, frees, slabs_created, slabs_released, fails;
};

struct kmem_slab {
	uint32_t magic;
	char name[SLAB_NAME_MAX];
	struct kmem_page_source ps;
	struct kmem_error_sink *sink;
	struct kmem_error_sink own_sink;
	struct kmem_lock lock;
	struct kmem_cache *caches;	/* live caches, newest first (lock) */
	struct kmem_cache cache_cache;	/* where struct kmem_cache objects come from */
	/* kmalloc (immutable after init) */
	struct kmem_cache *kmalloc[KMALLOC_CLASSES];
	struct kmem_cache *kmalloc_large[KMEM_SLAB_LARGE_ORDERS];
	uint8_t size_index[KMALLOC_SMALL_MAX / 8];	/* (size - 1) / 8 -> class */
};

static inline uint64_t *slab_used_bits(struct slab *s)
{
	return (uint64_t *)(void *)(s + 1);
}

static inline unsigned slab_words(const struct kmem_cache *c)
{
	return (c->objs + 63) / 64;
}

static inline unsigned slab_bucket(const struct kmem_cache *c, unsigned inuse)
{
	return c->objs <= SLAB_BUCKETS ? inuse - 1 : (unsigned)((uint64_t)inuse * SLAB_BUCKETS / c->objs);
}

/* The list a slab with `inuse` objects belongs on (S1). */
static inline struct slab **slab_list(struct kmem_cache *c, unsigned inuse)
{
	if (inuse == 0)
		return &c->empty;
	if (inuse == c->objs)
		return &c->full;
	return &c->partial[slab_bucket(c, inuse)];
}

/* ---- defined in slab.c ----------------------------------------------------- */
KMEM_HIDDEN enum kmem_status kmem_cache_free_from(struct kmem_cache *c, void *p, const void *caller);
/* Create a cache with internal flags allowed (kmalloc classes). */
KMEM_HIDDEN struct kmem_cache *kmem_cache_create_flags(struct kmem_slab *s, const char *name,
						       size_t size, size_t align, unsigned flags);
/* KMEM_OK if p starts an allocated object of c (owner word `own`), else the
 * status a free of p would report (nothing is reported here). */
KMEM_HIDDEN enum kmem_status kmem_cache_obj_state(struct kmem_cache *c, void *own, const void *p);
/* ---- defined in kmalloc.c ---------------------------------------------------- */
KMEM_HIDDEN int kmem_kmalloc_init(struct kmem_slab *s);
/* Raise a report for cache c (c may be NULL: instance-level). */
KMEM_HIDDEN void kmem_slab_report(struct kmem_slab *s, const struct kmem_cache *c,
				  enum kmem_status st, const void *ptr, const void *caller,
				  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif /* KMEM_SLAB_INTERNAL_H */
