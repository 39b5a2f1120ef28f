/* kmalloc.c - general-purpose allocation over size-class caches.
 *
 * Algorithm:
 *   1. The classes are the instance's configuration (kmem/slab.h): Linux's
 *      13, the four-per-doubling table, the fine table (four per doubling
 *      plus a class an eighth above each power of two from 1 KiB, and
 *      classes to 14 KiB: decision 39), or the caller's. Each is an ordinary
 *      cache created with the instance; power-of-two classes are aligned to
 *      their size, so aligned requests just pick a class.
 *   2. size -> class: sizes up to KMEM_KMALLOC_FAST_MAX (8 KiB) through a
 *      table indexed by (size - 1) >> 3 (1024 entries), which also holds
 *      each class's magazine slot offset, so kmem_alloc's fast path is one
 *      load and a magazine pop (kmem_slab_fast.h). Sizes over it up to the
 *      largest class (hosted builds: KMEM_KMALLOC_BIG): the first class
 *      past the index's last one that holds them, a scan of at most
 *      KMEM_KMALLOC_BIG_CLASSES, on the slow path. Larger sizes: the
 *      direct cache of the smallest page-source order that holds them.
 *   3. free: the page source's owner word of the pointer's frame names the
 *      slab (or, for a large block, the direct cache's pseudo header), hence
 *      the class: O(1), no header. The fast path (kmem_slab_fast.h) checks
 *      that the word is a pointer (not NULL, not another owner's tag), that
 *      the slab is one of a kmalloc class of this instance with magazines,
 *      and that p starts an object (one multiplication, a rotation and a
 *      compare: exact division by an invariant integer, Granlund &
 *      Montgomery 1994; the fields are the cache's, K4) before pushing it
 *      onto the magazine.
 * Bound: O(1) plus the cache operation; init O(classes + 1024).
 *
 * Invariants:
 *   K1. For every size 1..min(class_max, KMEM_KMALLOC_FAST_MAX),
 *       size_index[(size - 1) >> 3] names the smallest class >= size, and
 *       fast.class_off[] at that index its cache's slot offset; above
 *       class_max, class_off is 0 (null magazine). Classes over
 *       KMEM_KMALLOC_FAST_MAX (at most KMEM_KMALLOC_BIG_CLASSES of them) are
 *       kmalloc[i] for i past size_index's last entry.
 *   K2. kmalloc[i] / kmalloc_large[o] are set once at init, never change;
 *       kmalloc_large[o] exists only for blocks larger than class_max.
 *   K3. Class sizes ascend strictly and are multiples of 8 (so the index
 *       granule never straddles two classes).
 *   K4. A class with magazines (a slot) and slab objects has fast.kobjs ==
 *       objs, fast.free_mark == the instance's and fast.kmalloc_of == s;
 *       every other cache has kobjs 0, so kmem_kmalloc_push declines its
 *       objects.
 *
 * Locking: none of its own; the caches lock themselves. The class tables
 * are immutable after init.
 */
#include "kmem_fmt.h"
#include "slab_internal.h"

#include <errno.h>
#include <string.h>

/* The built-in class tables, in 16 bits (every class is at most
 * KMEM_KMALLOC_MAX_CLASS): 90 bytes fewer of a firmware image than size_t
 * tables, which class_table copies them into. */
_Static_assert(KMEM_KMALLOC_MAX_CLASS <= UINT16_MAX, "class sizes fit 16 bits");
/* Linux's classes, each aligned by the largest power of two dividing its
 * size (kmalloc-96 at 32, kmalloc-192 at 64; a power of two at its size) */
static const uint16_t linux_size[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512,
				       1024, 2048, 4096, 8192 };
/* four per doubling from 64 bytes, as jemalloc: rounding wastes at most 25% */
static const uint16_t quarter_size[] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768,
	896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
};
_Static_assert(sizeof(quarter_size) / sizeof(quarter_size[0]) <= KMEM_KMALLOC_TABLE_MAX &&
		       sizeof(linux_size) / sizeof(linux_size[0]) <= KMEM_KMALLOC_TABLE_MAX,
	       "the built-in tables fit");
#if KMEM_KMALLOC_BIG
/* the quarter table, plus a class an eighth above each power of two from
 * 1 KiB (a power-of-two payload and a header: the quarter table rounds it up
 * by a quarter) and 10, 12 and 14 KiB (decision 39) */
static const uint16_t fine_size[] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896,
	1024, 1152, 1280, 1536, 1792, 2048, 2304, 2560, 3072, 3584, 4096, 4608, 5120, 6144, 7168,
	8192, 9216, 10240, 12288, 14336,
};
_Static_assert(sizeof(fine_size) / sizeof(fine_size[0]) <= KMEM_KMALLOC_TABLE_MAX,
	       "the fine table fits");
#endif

/* The class table cfg names (sizes, count; *lowbit: Linux's alignment,
 * the size's lowest set bit, else the rule below): a built-in one copied
 * into buf, a KMEM_KMALLOC_TABLE as the caller gave it. */
static const size_t *class_table(const struct kmem_slab_config *cfg,
				 size_t buf[KMEM_KMALLOC_TABLE_MAX], unsigned *n, bool *lowbit)
{
	const uint16_t *t;

	*lowbit = false;
	switch (cfg->kmalloc_classes) {
	case KMEM_KMALLOC_LINUX:
		*n = sizeof(linux_size) / sizeof(linux_size[0]);
		*lowbit = true;
		t = linux_size;
		break;
	case KMEM_KMALLOC_QUARTER:
		*n = sizeof(quarter_size) / sizeof(quarter_size[0]);
		t = quarter_size;
		break;
	case KMEM_KMALLOC_FINE:
#if KMEM_KMALLOC_BIG
		*n = sizeof(fine_size) / sizeof(fine_size[0]);
		t = fine_size;
#else
		*n = sizeof(quarter_size) / sizeof(quarter_size[0]);
		t = quarter_size; /* no classes over 8 KiB built */
#endif
		break;
	case KMEM_KMALLOC_TABLE:
		*n = cfg->nr_classes;
		return cfg->class_sizes;
	default:
		*n = 0;
		return NULL;
	}
	for (unsigned i = 0; i < *n; i++)
		buf[i] = t[i];
	return buf;
}

/* Alignment of a class outside the Linux table: its size for a power of
 * two, else 16 or 8 (the largest of them dividing the size). */
static size_t rule_align(size_t size)
{
	if (kmem_is_pow2(size))
		return size;
	return size % 16 ? 8 : 16;
}

int kmem_kmalloc_check_config(const struct kmem_slab_config *cfg)
{
	size_t buf[KMEM_KMALLOC_TABLE_MAX];
	const size_t *size;
	unsigned n;
	bool lowbit;

	size = class_table(cfg, buf, &n, &lowbit);
	if (!size || n == 0 || n > KMEM_KMALLOC_TABLE_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) /* K3 */
		if (!size[i] || size[i] % 8 || size[i] > KMEM_KMALLOC_CLASS_LIMIT ||
		    (i && size[i] <= size[i - 1]))
			return -EINVAL;
#if KMEM_KMALLOC_BIG
	if (n > KMEM_KMALLOC_BIG_CLASSES && size[n - 1 - KMEM_KMALLOC_BIG_CLASSES] > KMEM_KMALLOC_FAST_MAX)
		return -EINVAL; /* K1: the slow path's scan is bounded */
#endif
	return 0;
}

/* A class cache's name, "kmalloc-<bytes / unit><suffix>" ("kmalloc-96",
 * "kmalloc-2k"), written without the formatter: firmware that prints nothing
 * links none (README, "32-bit and embedded targets"). */
static void class_name(char name[SLAB_NAME_MAX], size_t v, char suffix)
{
	char digits[24];
	unsigned n = 0;
	size_t at = sizeof("kmalloc-") - 1;

	memcpy(name, "kmalloc-", at);
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		name[at++] = digits[--n];
	if (suffix)
		name[at++] = suffix;
	name[at] = '\0';
}

/* Whether kmalloc cache c's free objects carry the free mark (decision 18):
 * caches with magazines (so not debug caches) of objects in slabs. */
static inline bool marks(const struct kmem_cache *c)
{
	return KMEM_MAGAZINES && c->slot && !c->direct; /* slot 0 without magazines */
}

int kmem_kmalloc_init(struct kmem_slab *s, const struct kmem_slab_config *cfg)
{
	size_t largest = s->ps.frame_size << s->ps.max_order;
	size_t buf[KMEM_KMALLOC_TABLE_MAX];
	const size_t *size;
	char name[SLAB_NAME_MAX];
	unsigned n;
	bool lowbit;

	size = class_table(cfg, buf, &n, &lowbit); /* checked by kmem_kmalloc_check_config */
	for (unsigned i = 0; i < n; i++) {
		if (size[i] > largest)
			break; /* a tiny page source: no class this big */
		if (size[i] >= 1024 && size[i] % 1024 == 0)
			class_name(name, size[i] >> 10, 'k');
		else
			class_name(name, size[i], 0);
		s->kmalloc[i] = kmem_cache_create_flags(s, name, size[i],
							lowbit ? size[i] & (~size[i] + 1u)
								: rule_align(size[i]),
							CACHE_KMALLOC);
		if (!s->kmalloc[i])
			return -ENOMEM;
		if (marks(s->kmalloc[i])) { /* the push's fields (K4) */
			s->kmalloc[i]->fast.kobjs = s->kmalloc[i]->objs;
			s->kmalloc[i]->fast.free_mark = s->fast.free_mark;
			s->kmalloc[i]->fast.kmalloc_of = s;
		}
		s->nr_classes = i + 1;
		s->class_max = size[i];
	}
	for (unsigned k = 0, i = 0; k < KMEM_KMALLOC_INDEX; k++) { /* K1 */
		if ((size_t)8 * (k + 1) > s->class_max) {
			s->fast.class_off[k] = 0;
			continue;
		}
		while (size[i] < (size_t)8 * (k + 1))
			i++;
		s->size_index[k] = (uint8_t)i;
		s->fast.class_off[k] = (uint32_t)s->kmalloc[i]->slot_off;
	}
	for (unsigned o = 0; o <= s->ps.max_order && o < KMEM_SLAB_LARGE_ORDERS; o++) {
		size_t bytes = s->ps.frame_size << o;

		if (bytes <= s->class_max) /* K2 */
			continue;
		if (bytes >= ((size_t)1 << 20))
			class_name(name, bytes >> 20, 'M');
		else
			class_name(name, bytes >> 10, 'k');
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

	if (KMEM_LIKELY(size <= s->class_max)) {
#if KMEM_KMALLOC_BIG
		if (size > KMEM_KMALLOC_FAST_MAX) { /* K1: past the index, a few classes */
			unsigned i = s->size_index[KMEM_KMALLOC_INDEX - 1];

			while (s->kmalloc[i]->size < size) {
				KMEM_STEP(SLAB_STEP_CLASS);
				i++;
			}
			return s->kmalloc[i];
		}
#endif
		return s->kmalloc[s->size_index[(size - 1) >> 3]];
	}
	frames = (size >> kmem_flsptr(s->ps.frame_size)) + ((size & (s->ps.frame_size - 1)) != 0);
	order = ceil_log2(frames);
	return order < KMEM_SLAB_LARGE_ORDERS ? s->kmalloc_large[order] : NULL;
}

/* Object p of kmalloc cache c, annotated as allocated, on its way to the
 * caller: its free mark cleared. */
static inline void *unmarked(const struct kmem_cache *c, void *p)
{
	if (p && marks(c))
		kmem_kmalloc_unmark(p);
	return p;
}

/* kmem_alloc when the fast path missed: an empty magazine, a cache without
 * magazines, a large size, or size 0. */
static KMEM_NOINLINE void *alloc_other(struct kmem_slab *s, size_t size, const void *caller)
{
	struct kmem_cache *c;

	if (!size)
		return NULL;
	c = size_class(s, size);
	if (!c)
		return NULL;
#if KMEM_KMALLOC_BIG
	if (size > KMEM_KMALLOC_FAST_MAX && c->slot) { /* a class no fast path pops */
		void *p;

		if (mag_pop(c, &p))
			return unmarked(c, slab_annot_alloc(c, p, size));
	}
#endif
	return unmarked(c, kmem_mag_alloc_slow(c, size, caller)); /* annotates */
}

/* kmem_alloc's fast path: the pop, and in builds with annotations the
 * annotation and then the mark cleared (the pop could not: the object was
 * not addressable). */
static inline bool fast_pop(struct kmem_slab *s, size_t size, void **out)
{
	/* 1..KMEM_KMALLOC_FAST_MAX; 0 wraps around */
	if (!(KMEM_LIKELY(size - 1 < KMEM_KMALLOC_FAST_MAX) && KMEM_LIKELY(kmem_kmalloc_pop(s, size, out))))
		return false;
#if KMEM_ANNOT_ENABLED
	(void)slab_annot_alloc(s->kmalloc[s->size_index[(size - 1) >> 3]], *out, size);
	kmem_kmalloc_unmark(*out);
#endif
	return true;
}

void *kmem_alloc(struct kmem_slab *s, size_t size)
{
	void *p;

	if (fast_pop(s, size, &p))
		return p;
	return alloc_other(s, size, KMEM_RETURN_ADDRESS());
}

void *kmem_zalloc(struct kmem_slab *s, size_t size)
{
	void *p = kmem_alloc(s, size);

	if (p)
		memset(p, 0, size);
	return p;
}

void *kmem_alloc_track_caller(struct kmem_slab *s, size_t size, const void *caller)
{
	void *p;

	if (fast_pop(s, size, &p))
		return p;
	return alloc_other(s, size, caller);
}

void *kmem_kmalloc_alloc_miss(struct kmem_slab *s, size_t size, const void *caller)
{
	struct kmem_cache *c = s->kmalloc[s->size_index[(size - 1) >> 3]];

	KMEM_ASSERT(size - 1 < s->class_max && c->slot && "a class with magazines serves size");
	return unmarked(c, kmem_mag_alloc_slow(c, size, caller)); /* annotates */
}

void *kmem_alloc_aligned_track_caller(struct kmem_slab *s, size_t size, size_t align, const void *caller)
{
	size_t want;

	if (!size || !kmem_is_pow2(align))
		return NULL;
	if (align <= 8)
		return kmem_alloc_track_caller(s, size, caller);
	want = size > align ? size : align;
	if (want <= s->class_max) {
		/* the smallest power-of-two class that holds it: aligned to its
		 * size; the size asked for is what its red zone guards (past
		 * the index, a block) */
		for (unsigned i = (!KMEM_KMALLOC_BIG || want <= KMEM_KMALLOC_FAST_MAX)
					  ? s->size_index[(want - 1) >> 3]
					  : s->nr_classes;
		     i < s->nr_classes; i++) {
			struct kmem_cache *c = s->kmalloc[i];
			void *p;

			KMEM_STEP(SLAB_STEP_CLASS);
			if (!kmem_is_pow2(c->size))
				continue;
			if (mag_pop(c, &p))
				return unmarked(c, slab_annot_alloc(c, p, size));
			return unmarked(c, kmem_mag_alloc_slow(c, size, caller)); /* annotates */
		}
		want = s->class_max + 1; /* none: a block */
	}
	return alloc_other(s, want, caller); /* larger: blocks are aligned to their size */
}

void *kmem_alloc_aligned(struct kmem_slab *s, size_t size, size_t align)
{
	return kmem_alloc_aligned_track_caller(s, size, align, KMEM_RETURN_ADDRESS());
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
		*why = KMEM_DETAIL("not from kmalloc of this instance (or a large block freed already)");
		return KMEM_FOREIGN_POINTER;
	}
	{
		const struct slab *sl = slab_of_owner(own);

		if (!sl || (sl->magic != SLAB_MAGIC && sl->magic != DIRECT_MAGIC)) {
			*why = KMEM_DETAIL("frame is owned by something that is not a slab");
			return KMEM_FOREIGN_POINTER;
		}
		c = sl->cache;
	}
	if (c->magic != CACHE_MAGIC || c->owner != s || !(c->flags & CACHE_KMALLOC)) {
		*why = KMEM_DETAIL("an object of a kmem_cache_create'd cache, not of kmalloc");
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
	/* first the mark: an object in another thread's magazine is still
	 * "used" in its slab's bitmap */
	if (marks(c) && kmem_cache_obj_state(c, own, p) == KMEM_OK && kmem_kmalloc_marked(s, p)) {
		kmem_slab_report(s, c, KMEM_DOUBLE_FREE, p, caller,
				 "kmem_free: object of %zu bytes freed twice (it is free: freed and not "
				 "allocated since)", c->size);
		return KMEM_DOUBLE_FREE;
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
	if (st == KMEM_OK && marks(c) && kmem_cache_obj_state(c, own, p) == KMEM_OK &&
	    !kmem_kmalloc_marked(s, p)) {
		kmem_kmalloc_mark(s, p);
		kmem_mag_free_slow(c, p, caller); /* valid: the magazine path */
		return;
	}
	if (KMEM_MAGAZINES && st == KMEM_OK && c->slot && c->direct &&
	    !((uintptr_t)p & (c->slab_bytes - 1))) {
		kmem_mag_free_slow(c, p, caller);
		return;
	}
	(void)free_from(s, p, caller); /* checked: reports what is wrong */
}

void kmem_kmalloc_free_full(struct kmem_cache *c, void *p, const void *caller)
{
	kmem_kmalloc_mark(c->owner, p);
	kmem_mag_free_slow(c, p, caller); /* annotates */
}

void kmem_free(struct kmem_slab *s, void *p)
{
	const void *own = kmem_slab_owner_fast(s, p);

	if (KMEM_LIKELY(kmem_kmalloc_push(s, own, p))) {
		slab_annot_free(((const struct slab *)own)->cache, p); /* validated */
		return;
	}
	free_slow(s, p, KMEM_RETURN_ADDRESS());
}

void kmem_free_track_caller(struct kmem_slab *s, void *p, const void *caller)
{
	const void *own = kmem_slab_owner_fast(s, p);

	if (KMEM_LIKELY(kmem_kmalloc_push(s, own, p))) {
		slab_annot_free(((const struct slab *)own)->cache, p); /* validated */
		return;
	}
	free_slow(s, p, caller);
}

enum kmem_status kmem_free_checked(struct kmem_slab *s, void *p)
{
	return free_from(s, p, KMEM_RETURN_ADDRESS());
}

/* What kmem_usable_size and kmem_check_object say of an object of a cache
 * that is not live. */
static const char *not_live_why(enum kmem_status st)
{
	if (st == KMEM_DOUBLE_FREE)
		return "the object is free (freed and not allocated since)";
	if (st == KMEM_INTERIOR_POINTER)
		return "not the start of an object";
	return "not the start of a live object";
}

size_t kmem_usable_size(struct kmem_slab *s, const void *p)
{
	return kmem_usable_size_track_caller(s, p, KMEM_RETURN_ADDRESS());
}

size_t kmem_usable_size_track_caller(struct kmem_slab *s, const void *p, const void *caller)
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
	if (st == KMEM_OK && marks(c) && kmem_kmalloc_marked(s, p))
		st = KMEM_DOUBLE_FREE; /* freed: in a magazine */
	if (st != KMEM_OK) {
		kmem_slab_report(s, c, st, p, caller, "kmem_usable_size: %s", c ? not_live_why(st) : why);
		return 0;
	}
	if (c->direct)
		return c->slab_bytes;
	/* red zones guard the bytes past the size asked for: only those are usable */
	return (c->flags & KMEM_CACHE_REDZONE) ? kmem_debug_req(c, p) : c->size;
}

enum kmem_status kmem_check_object_track_caller(struct kmem_slab *s, void *p, const void *caller)
{
	struct kmem_cache *c;
	const char *why = "";
	void *own;
	enum kmem_status st;

	st = kmalloc_cache_of(s, p, &c, &own, &why);
	if (st == KMEM_OK)
		st = kmem_cache_obj_state(c, own, p);
	if (st == KMEM_OK && marks(c) && kmem_kmalloc_marked(s, p))
		st = KMEM_DOUBLE_FREE; /* freed: in a magazine */
	if (st != KMEM_OK) {
		kmem_slab_report(s, c, st, p, caller, "kmem_check_object: %s", c ? not_live_why(st) : why);
		return st;
	}
	return kmem_cache_verify_live(c, own, p, caller);
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
