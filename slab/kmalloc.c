/* kmalloc.c - general-purpose allocation over size-class caches.
 *
 * Algorithm:
 *   1. Classes 8..8192 (powers of two plus 96 and 192, as in Linux) are
 *      ordinary caches created with the instance; power-of-two classes are
 *      aligned to their size, so aligned requests just pick a class.
 *   2. size -> class: sizes up to 192 through a 24-entry table indexed by
 *      (size - 1) / 8; 256..8192 by ceil(log2(size)). Larger sizes: the
 *      direct cache of the smallest page-source order that holds them.
 *   3. free: the page source's owner word of the pointer's frame names the
 *      slab (or, tagged, the direct cache), hence the class: O(1), no header.
 *      The fast path checks that the slab is a kmalloc slab of this
 *      instance and that p starts an object (range, then an exact-division
 *      test by multiplication: Lemire, Kaser & Kurz, "Faster remainder by
 *      direct computation", 2019) before pushing it onto the magazine.
 * Bound: O(1) plus the cache operation.
 *
 * Invariants: K1. size_index[k] names the smallest class >= 8 * (k + 1).
 *   K2. kmalloc[i] / kmalloc_large[o] are set once at init, never change.
 *
 * Locking: none of its own; the caches lock themselves. The class tables
 * are immutable after init.
 */
#include "slab_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const size_t class_size[KMALLOC_CLASSES] = { 8, 16, 32, 64, 96, 128, 192, 256, 512,
						    1024, 2048, 4096, 8192 };
static const size_t class_align[KMALLOC_CLASSES] = { 8, 16, 32, 64, 32, 128, 64, 256, 512,
						     1024, 2048, 4096, 8192 };

int kmem_kmalloc_init(struct kmem_slab *s)
{
	size_t largest = s->ps.frame_size << s->ps.max_order;
	char name[SLAB_NAME_MAX];

	for (unsigned i = 0; i < KMALLOC_CLASSES; i++) {
		if (class_size[i] > largest)
			break; /* a tiny page source: no class this big */
		if (class_size[i] >= 1024)
			snprintf(name, sizeof(name), "kmalloc-%zuk", class_size[i] >> 10);
		else
			snprintf(name, sizeof(name), "kmalloc-%zu", class_size[i]);
		s->kmalloc[i] = kmem_cache_create_flags(s, name, class_size[i], class_align[i],
							CACHE_KMALLOC);
		if (!s->kmalloc[i])
			return -ENOMEM;
	}
	for (unsigned k = 0; k < KMALLOC_SMALL_MAX / 8; k++) {
		unsigned i = 0;

		while (i < KMALLOC_CLASSES && class_size[i] < 8 * (k + 1))
			i++;
		s->size_index[k] = (uint8_t)i; /* K1 */
		s->small[k] = s->kmalloc[i];
		s->small_off[k] = s->kmalloc[i]->slot_off;
	}
	for (unsigned o = 0; o <= s->ps.max_order && o < KMEM_SLAB_LARGE_ORDERS; o++) {
		size_t bytes = s->ps.frame_size << o;

		if (bytes <= KMEM_KMALLOC_MAX_CLASS)
			continue;
		if (bytes >= ((size_t)1 << 20))
			snprintf(name, sizeof(name), "kmalloc-%zuM", bytes >> 20);
		else
			snprintf(name, sizeof(name), "kmalloc-%zuk", bytes >> 10);
		s->kmalloc_large[o] = kmem_cache_create_flags(s, name, bytes, bytes,
							      CACHE_KMALLOC | CACHE_FORCE_DIRECT);
		if (!s->kmalloc_large[o])
			return -ENOMEM;
	}
	return 0;
}

static unsigned ceil_log2(size_t x)
{
	return x <= 1 ? 0 : kmem_flsptr(x - 1) + 1;
}

/* The cache for `size` bytes (size > 0), or NULL when too large. */
static struct kmem_cache *size_class(struct kmem_slab *s, size_t size)
{
	size_t frames;
	unsigned order;

	if (KMEM_LIKELY(size <= KMALLOC_SMALL_MAX))
		return s->kmalloc[s->size_index[(size - 1) >> 3]];
	if (size <= KMEM_KMALLOC_MAX_CLASS)
		return s->kmalloc[ceil_log2(size) - 1]; /* 256 -> 7, ..., 8192 -> 12 */
	frames = (size >> kmem_flsptr(s->ps.frame_size)) + ((size & (s->ps.frame_size - 1)) != 0);
	order = ceil_log2(frames);
	return order < KMEM_SLAB_LARGE_ORDERS ? s->kmalloc_large[order] : NULL;
}

static KMEM_NOINLINE void *alloc_other(struct kmem_slab *s, size_t size, const void *caller)
{
	struct kmem_cache *c;
	void *p;

	if (!size)
		return NULL;
	c = size_class(s, size);
	if (!c)
		return NULL;
	if (size > KMALLOC_SMALL_MAX && mag_pop(c, &p)) /* small: kmem_alloc missed already */
		return slab_annot_alloc(c, p, size);
	return kmem_mag_alloc_slow(c, size, caller); /* annotates */
}

void *kmem_alloc(struct kmem_slab *s, size_t size)
{
	void *p;

	if (KMEM_LIKELY(size - 1 < KMALLOC_SMALL_MAX)) { /* 1..192; 0 wraps around */
		if (KMEM_LIKELY(mag_pop_off(s->small_off[(size - 1) >> 3], &p)))
			return slab_annot_alloc(s->small[(size - 1) >> 3], p, size);
	}
	return alloc_other(s, size, KMEM_RETURN_ADDRESS());
}

void *kmem_zalloc(struct kmem_slab *s, size_t size)
{
	void *p = kmem_alloc(s, size);

	if (p)
		memset(p, 0, size);
	return p;
}

void *kmem_alloc_aligned(struct kmem_slab *s, size_t size, size_t align)
{
	size_t want;

	if (!size || !kmem_is_pow2(align))
		return NULL;
	if (align <= 8)
		return kmem_alloc(s, size);
	want = size > align ? size : align;
	if (want <= KMEM_KMALLOC_MAX_CLASS) /* a power-of-two class, aligned to its size */
		want = (size_t)1 << ceil_log2(want);
	return kmem_alloc(s, want); /* larger: blocks are aligned to their size */
}

/* The kmalloc cache p belongs to, and its owner word; or the status a free
 * of p reports (and then *cp is NULL). */
static enum kmem_status kmalloc_cache_of(struct kmem_slab *s, const void *p, struct kmem_cache **cp,
					 void **ownp, const char **why)
{
	void *own = slab_owner(s, p);
	struct kmem_cache *c;

	*cp = NULL;
	*ownp = own;
	if (!own) {
		*why = "not from kmalloc of this instance (or a large block freed already)";
		return KMEM_FOREIGN_POINTER;
	}
	{
		const struct slab *sl = own;

		if (sl->magic != SLAB_MAGIC && sl->magic != DIRECT_MAGIC) {
			*why = "frame is owned by something that is not a slab";
			return KMEM_FOREIGN_POINTER;
		}
		c = sl->cache;
	}
	if (c->magic != CACHE_MAGIC || c->owner != s || !(c->flags & CACHE_KMALLOC)) {
		*why = "an object of a kmem_cache_create'd cache, not of kmalloc";
		return KMEM_WRONG_CACHE;
	}
	*cp = c;
	return KMEM_OK;
}

static enum kmem_status free_from(struct kmem_slab *s, void *p, const void *caller)
{
	struct kmem_cache *c;
	const char *why = "";
	void *own;
	enum kmem_status st;

	if (!p)
		return KMEM_OK;
	st = kmalloc_cache_of(s, p, &c, &own, &why);
	if (st != KMEM_OK) {
		kmem_slab_report(s, NULL, st, p, caller, "kmem_free: %s", why);
		return st;
	}
	return kmem_cache_free_from(c, p, caller);
}

/* kmem_free when the fast path could not push: misuse, a large object, a
 * cache without magazines, or a full magazine. */
static KMEM_NOINLINE void free_slow(struct kmem_slab *s, void *p, const void *caller)
{
	struct kmem_cache *c;
	const char *why = "";
	void *own;
	enum kmem_status st;

	if (!p)
		return;
	st = kmalloc_cache_of(s, p, &c, &own, &why);
	if (st == KMEM_OK && c->slot && !c->direct && kmem_cache_obj_state(c, own, p) == KMEM_OK) {
		kmem_mag_free_slow(c, p, caller); /* valid: the magazine path */
		return;
	}
	if (st == KMEM_OK && c->slot && c->direct && !((uintptr_t)p & (c->slab_bytes - 1))) {
		kmem_mag_free_slow(c, p, caller);
		return;
	}
	(void)free_from(s, p, caller); /* checked: reports what is wrong */
}

void kmem_free(struct kmem_slab *s, void *p)
{
	uintptr_t idx = ((uintptr_t)p - s->ps.owner_base) >> s->frame_shift, off;
	const struct slab *sl;
	struct kmem_cache *c;

	/* NULL and pointers outside the owner table's range fail the first test */
	if (KMEM_LIKELY(idx < s->ps.owner_frames)) {
		sl = kmem_atomic_load_relaxed(&s->ps.owner_words[idx]);
		if (KMEM_LIKELY(sl && sl->kmalloc_of == s)) { /* a direct cache's dhdr has NULL */
			c = sl->cache;
			off = (uintptr_t)p - (uintptr_t)sl->objs;
			if (KMEM_LIKELY(off * c->div_magic < c->div_magic && off < c->span &&
					mag_push_off(sl->slot_off, p))) {
				slab_annot_free(c, p); /* validated above */
				return;
			}
		}
	}
	free_slow(s, p, KMEM_RETURN_ADDRESS());
}

enum kmem_status kmem_free_checked(struct kmem_slab *s, void *p)
{
	return free_from(s, p, KMEM_RETURN_ADDRESS());
}

size_t kmem_usable_size(struct kmem_slab *s, const void *p)
{
	struct kmem_cache *c;
	const char *why = "";
	void *own;
	enum kmem_status st;

	if (!p)
		return 0;
	st = kmalloc_cache_of(s, p, &c, &own, &why);
	if (st == KMEM_OK)
		st = kmem_cache_obj_state(c, own, p);
	if (st != KMEM_OK) {
		kmem_slab_report(s, c, st, p, KMEM_RETURN_ADDRESS(), "kmem_usable_size: %s",
				 c ? "not the start of a live object" : why);
		return 0;
	}
	if (c->direct)
		return c->slab_bytes;
	/* red zones guard the bytes past the size asked for: only those are usable */
	return (c->flags & KMEM_CACHE_REDZONE) ? kmem_debug_req(c, p) : c->size;
}

void *kmem_realloc(struct kmem_slab *s, void *p, size_t size)
{
	size_t have;
	void *q;

	if (!p)
		return kmem_alloc(s, size);
	if (!size) {
		kmem_free(s, p);
		return NULL;
	}
	have = kmem_usable_size(s, p);
	if (!have)
		return NULL; /* misuse, reported; p untouched */
	if (size <= have && size > have / 2)
		return p;
	q = kmem_alloc(s, size);
	if (!q)
		return NULL;
	memcpy(q, p, size < have ? size : have);
	kmem_free(s, p);
	return q;
}
