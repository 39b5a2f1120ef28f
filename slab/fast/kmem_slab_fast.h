/* kmem_slab_fast.h - the slab layer's inline fast paths: a magazine pop and
 * push, and kmalloc's size-class pop and checked push, as static inline
 * functions, for the slab layer itself (slab.c, kmalloc.c, magazine.c) and
 * for a consumer that must inline them to stay fast (the drop-in malloc).
 * One copy: slab's kmem_alloc/kmem_free and kmem_cache_alloc/free are built
 * from these. Not installed, and not the private header: it shows only the
 * fields these paths read; everything else about slabs and caches stays in
 * slab_internal.h, which a consumer cannot include (Meson gives it only
 * this directory).
 *
 * Algorithm (Bonwick & Adams 2001; see magazine.c for the slow paths):
 *   1. A thread's magazines sit in its thread block (kmem_mag_self, one
 *      initial-exec TLS pointer), one struct kmem_mag_slot per cache, at
 *      the cache's slot offset. The slot holds the loaded magazine's top,
 *      base and end pointers (decision 34): pop: top != base, take
 *      *--top; push: top != end, *top++ = p. No magazine header touched,
 *      no lock, no atomic read-modify-write. Slot 0, and every slot of the
 *      shared null thread block, holds the null magazine (no rounds, no
 *      room: top == base == end), so a cache or thread without magazines
 *      fails the same test and takes the slow path.
 *   2. kmalloc pop: class_off[(size - 1) >> 3] is the slot offset of the
 *      class serving size (1..KMEM_KMALLOC_FAST_MAX; 0 where no class with
 *      magazines serves it), then 1.
 *   3. kmalloc push: the owner word of p's frame (kmem/page_source.h) must
 *      be a pointer (not NULL, not a tag: one signed test on 64-bit
 *      targets, kmem_owner_is_ptr_fast) to a slab whose cache is a kmalloc
 *      class with magazines (of this instance: c->kmalloc_of == s, skipped
 *      by kmem_kmalloc_push_sole), and p must start an object: one
 *      multiply, rotate and compare on the cache's first line
 *      (kmem_cache_fast_index: exact division, Granlund & Montgomery 1994;
 *      kobjs 0 for every other cache); then p must not carry the free mark;
 *      then 1. A push counts nothing (struct kmem_mag_slot).
 *   4. The magazine size and depot policy (kmem_slab_config, decision 30)
 *      are the slow paths' business: a magazine carries its own cap.
 * Bound: O(1), about a dozen instructions each (the drop-in's malloc 16,
 * free 31, with its gates and the return; decision 34).
 *
 * Contract for consumers: call these only on an instance made by
 * kmem_slab_init, from any thread; a false return means "take the library
 * call" (kmem_alloc, kmem_free), which does everything the fast path did
 * not (refill, report misuse). They do not annotate for Valgrind or ASan:
 * in builds where KMEM_ANNOT_ENABLED is 1, call the library instead.
 *
 * Locking: none (thread-local state only; the owner word and the slab
 * header fields read here are written before the slab's objects can be
 * handed out, and do not change while it lives).
 */
#ifndef KMEM_SLAB_FAST_H
#define KMEM_SLAB_FAST_H

#include <kmem/page_source.h>
#include <kmem/slab.h>

#include "kmem_annot.h"
#include "kmem_list.h"
#include "kmem_port.h"

#include <string.h>

/* Sizes up to KMEM_KMALLOC_FAST_MAX find their class in the size -> class
 * tables, one entry per 8 bytes (kmalloc.c, K1); larger classes, up to
 * KMEM_KMALLOC_CLASS_LIMIT (KMEM_KMALLOC_MAX_CLASS in builds with
 * -Dkmalloc_big), at most KMEM_KMALLOC_BIG_CLASSES of them, by a scan off
 * the fast paths. */
#define KMEM_KMALLOC_FAST_MAX 8192u
#define KMEM_KMALLOC_INDEX (KMEM_KMALLOC_FAST_MAX / 8)
#define KMEM_KMALLOC_BIG_CLASSES 8u
#if KMEM_KMALLOC_BIG
#define KMEM_KMALLOC_CLASS_LIMIT KMEM_KMALLOC_MAX_CLASS
#else
#define KMEM_KMALLOC_CLASS_LIMIT KMEM_KMALLOC_FAST_MAX
#endif

/* ---- magazines ---------------------------------------------------------------- */

struct kmem_mag {
	size_t rounds;		/* objects held, obj[0 .. rounds); stale while a slot
				 * has it loaded (struct kmem_mag_slot) */
	size_t cap;		/* 0 only for the null magazine */
	struct kmem_slist_node link;	/* on a depot stack, or a private batch */
	void *obj[];
};

/* A thread's magazines of one cache. The fast paths read and write the
 * slot alone, never the magazine's header: top, base and end bracket the
 * loaded magazine's rounds (obj[0 .. top - base), room up to end), so a pop
 * is a load, a compare, a decrement and a load, and a push a load, a
 * compare, a store and an increment. While a magazine is loaded its
 * `rounds` field is stale; top - base is its count, and the slow paths
 * write it back (magazine.c: slot_sync) before they read it or let the
 * magazine go, and set all three when they load one (slot_load). The null
 * magazine's slot has top == base == end: both tests fail. */
struct kmem_mag_slot {
	void **top;	/* loaded->obj + its rounds: a push stores here, a pop takes top[-1] */
	void **base;	/* loaded->obj: no rounds when top == base */
	void **end;	/* loaded->obj + loaded->cap: no room when top == end */
	/* Fast-path hits, folded into the cache at the slow path. A pop counts
	 * itself; a push does not (one store fewer): the pushes since the last
	 * fold are frees + allocs + (top - base) (mod 2^64), since a pop adds
	 * 1 to allocs and takes 1 from the rounds, and a push adds 1 to the
	 * rounds. The slow paths keep that sum when they change the loaded
	 * magazine (magazine.c: slot_frees, slot_set_frees). */
	uint64_t allocs;
	struct kmem_mag *loaded, *prev;
	uint64_t frees;
	uint64_t pad;	/* 64 bytes: a slot is one cache line of the thread block */
};

struct kmem_thread;	/* a thread block: slot[] at offset 0 (slab_internal.h) */

#ifdef KMEM_HAVE_PTHREAD
#define KMEM_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#define KMEM_TLS
#endif
/* The calling thread's block (the shared null block until its first slow
 * path). */
extern KMEM_TLS KMEM_HIDDEN struct kmem_thread *kmem_mag_self;

/* ---- what the fast paths read of slabs, caches and instances ------------------ */

/* A slab's header, at the slab's base (every frame's owner word points
 * here); the rest of its layout is in slab_internal.h. */
struct slab {
	uint32_t magic;
	uint16_t inuse;
	uint16_t colour;	/* bytes of colour offset / COLOUR_STEP */
	uint16_t hint;		/* first bitmap word that may have a clear bit (S2) */
	uint8_t list;		/* the cache list it is on (S1; slab_internal.h) */
	uint8_t batch;		/* touched by the free batch in progress (cache lock) */
	uint32_t slot_off;	/* cache->slot_off: kmem_free's push needs no cache load */
	struct kmem_slab *kmalloc_of;	/* cache->kmalloc_of, read by kmem_free's fast path */
	struct kmem_cache *cache;
	struct kmem_list_node link;	/* on one list of the cache (S1) */
	char *objs;	/* object 0 (its slot starts obj_off bytes earlier) */
};

/* The first member of struct kmem_cache: a cache pointer converts to it. */
struct kmem_cache_fast {
	uint64_t div_magic;	/* UINT64_MAX / stride + 1: exact-division test */
	size_t span;		/* objs * stride */
	/* kmem_kmalloc_push's object test, one compare (Granlund & Montgomery
	 * 1994, exact division by an invariant integer): with stride =
	 * d * 2^shift, d odd, and inv = d^-1 mod 2^W (W: bits of a pointer),
	 * off = p - objs is j * stride with j < kobjs iff
	 * ror(off * inv, shift) < kobjs, and then that is j. E.g. stride 48 =
	 * 3 * 2^4, inv = 0xaaaa...ab: off 96 -> 96 * inv = 32 -> ror 4 -> 2
	 * (object 2); off 40 -> 40 * inv = 0xaaaa...b8 -> ror 4 -> huge. */
	uintptr_t inv;
	/* kmalloc classes with magazines: the instance's free mark (a copy of
	 * kmem_slab_fast.free_mark, so the push needs no instance load) */
	uintptr_t free_mark;
	const struct kmem_slab *kmalloc_of;	/* kmalloc classes: the instance; else NULL */
	uintptr_t kobjs;	/* kmalloc classes with magazines: objs; else 0 (the push declines) */
	uint8_t shift;		/* trailing zero bits of the stride */
};

/* Set f's inv and shift for a stride (slab.c, cache creation); kobjs,
 * free_mark and kmalloc_of stay 0 until kmalloc makes the cache a class
 * with magazines (kmalloc.c). stride > 0. */
static inline void kmem_cache_fast_stride(struct kmem_cache_fast *f, size_t stride)
{
	uintptr_t d = stride, inv;
	unsigned k = 0;

	while (!(d & 1u)) {
		d >>= 1;
		k++;
	}
	inv = d; /* Newton's iteration: correct bits double each step (3, 6, ..., 96) */
	for (int i = 0; i < 5; i++)
		inv *= 2u - d * inv;
	f->inv = inv;
	f->shift = (uint8_t)k;
}

/* The index of the object at offset off from objs under f's test, or a
 * number >= kobjs if off starts none (above). */
static inline uintptr_t kmem_cache_fast_index(const struct kmem_cache_fast *f, uintptr_t off)
{
	const unsigned w = sizeof(uintptr_t) * 8;
	uintptr_t q = off * f->inv;

	return (q >> f->shift) | (q << ((w - f->shift) & (w - 1)));
}

/* The first member of struct kmem_slab (immutable after kmem_slab_init). */
struct kmem_slab_fast {
	/* the page source's direct owner lookup (page_source.h; 0 frames: none) */
	uintptr_t owner_base;
	size_t owner_frames;
	void **owner_words;
	unsigned frame_shift;	/* log2(frame size) */
	/* the free mark (kmem_kmalloc_marked): written over the first word of
	 * a kmalloc object with magazines when it is freed, cleared when it is
	 * allocated; odd, and with the top bit set (never a user pointer) */
	uintptr_t free_mark;
	/* (size - 1) >> 3 -> slot offset of the kmalloc class serving size;
	 * 0 (the null magazine) where none with magazines does */
	uint32_t class_off[KMEM_KMALLOC_INDEX];
};

static inline const struct kmem_slab_fast *kmem_slab_fast_of(const struct kmem_slab *s)
{
	return (const struct kmem_slab_fast *)(const void *)s;
}

/* ---- fast paths ---------------------------------------------------------------- */

/* Whether owner word w is a pointer the fast path may follow: one signed
 * test where pointers have 64 bits (NULL is 0, tags have the top bit set,
 * kmem/page_source.h), else NULL and bit 0. False for a pointer with the
 * top bit set: that frame takes the slow path, which tests bit 0 only. */
static inline bool kmem_owner_is_ptr_fast(const void *w)
{
#if UINTPTR_MAX > 0xffffffffu
	return (intptr_t)w > 0;
#else
	return w && !kmem_owner_is_tag(w);
#endif
}

/* Pop from this thread's loaded magazine at slot offset off into *out;
 * false when it is empty. */
static inline bool kmem_mag_pop_off(size_t off, void **out)
{
#if !KMEM_MAGAZINES /* compiled out: every cache has none */
	(void)off;
	(void)out;
	return false;
#else
	struct kmem_mag_slot *ms = (struct kmem_mag_slot *)(void *)((char *)kmem_mag_self + off);
	void **t = ms->top;

	if (KMEM_UNLIKELY(t == ms->base))
		return false;
	ms->top = --t;
	ms->allocs++;
	*out = *t;
	KMEM_ANNOT_STALE(t, sizeof(void *)); /* no reference for the leak checker */
	return true;
#endif
}

/* kmem_mag_pop_off without the count (allocs), for the drop-in's malloc:
 * only for an instance whose hits are uncounted (kmem_slab_hits_uncounted),
 * whose slow paths fold no counts, since the pushes are derived from the
 * pops (struct kmem_mag_slot). */
static inline bool kmem_mag_pop_off_uncounted(size_t off, void **out)
{
#if !KMEM_MAGAZINES
	(void)off;
	(void)out;
	return false;
#else
	struct kmem_mag_slot *ms = (struct kmem_mag_slot *)(void *)((char *)kmem_mag_self + off);
	void **t = ms->top;

	if (KMEM_UNLIKELY(t == ms->base))
		return false;
	ms->top = --t;
	*out = *t;
	KMEM_ANNOT_STALE(t, sizeof(void *)); /* no reference for the leak checker */
	return true;
#endif
}

/* From now on s's magazine hits are not counted: its caches' mag_allocs
 * and mag_frees stay as they are (kmem_cache_stats), and a consumer may pop
 * with kmem_mag_pop_off_uncounted (one instruction fewer). For the drop-in,
 * whose statistics do not read them (decision 34); call it right after
 * kmem_slab_init, before other threads use s. */
KMEM_HIDDEN void kmem_slab_hits_uncounted(struct kmem_slab *s);

/* Push onto this thread's loaded magazine at slot offset off; false when
 * it is full. */
static inline bool kmem_mag_push_off(size_t off, void *p)
{
#if !KMEM_MAGAZINES
	(void)off;
	(void)p;
	return false;
#else
	struct kmem_mag_slot *ms = (struct kmem_mag_slot *)(void *)((char *)kmem_mag_self + off);
	void **t = ms->top;

	if (KMEM_UNLIKELY(t == ms->end))
		return false;
	*t = p;
	ms->top = t + 1; /* counted: struct kmem_mag_slot */
	return true;
#endif
}

/* The owner word of p's frame through the direct lookup; NULL when p is
 * outside its range (the library then asks the page source). */
static inline const void *kmem_slab_owner_fast(const struct kmem_slab *s, const void *p)
{
	const struct kmem_slab_fast *f = kmem_slab_fast_of(s);
	uintptr_t idx = ((uintptr_t)p - f->owner_base) >> f->frame_shift;

	/* NULL and pointers outside the range fail this test */
	if (KMEM_LIKELY(idx < f->owner_frames))
		return kmem_atomic_load_relaxed(&f->owner_words[idx]);
	return NULL;
}

/* ---- the free mark: double frees of kmalloc objects ----------------------------- */

/* Whether object p carries free mark `mark` (kmem_kmalloc_marked, with the
 * mark given: a caller that has it loaded already). */
static inline bool kmem_kmalloc_marked_with(uintptr_t mark, const void *p)
{
	uintptr_t w;

#if KMEM_ANNOT_ENABLED
	if (KMEM_ANNOT_ACTIVE()) {
		int na = KMEM_ANNOT_NOACCESS_STATE(p);

		if (na >= 0)
			return na;
	}
#endif
	memcpy(&w, p, sizeof(w));
	return w == mark;
}

/* Whether object p (the start of an object of a kmalloc slab of s, already
 * validated) carries the free mark: it was freed and not allocated since,
 * so freeing it again is a double free. Exact except for a live object whose
 * first word the program set to the mark (only by copying freed memory: the
 * mark is the instance's secret). Under memcheck or ASan freed objects are
 * inaccessible, and that is the test instead: the mark word of a live
 * object may be uninitialised there (other Valgrind tools cannot tell: the
 * mark, maintained in every build, decides). */
static inline bool kmem_kmalloc_marked(const struct kmem_slab *s, const void *p)
{
	return kmem_kmalloc_marked_with(kmem_slab_fast_of(s)->free_mark, p);
}

/* Put the free mark on freed object p (before it is annotated as free). */
static inline void kmem_kmalloc_mark(const struct kmem_slab *s, void *p)
{
	memcpy(p, &kmem_slab_fast_of(s)->free_mark, sizeof(uintptr_t));
}

/* Clear the mark of object p on its way to the user: in builds with
 * annotations, after the object was annotated as allocated, and its first
 * word is left undefined again, as a fresh block's. */
static inline void kmem_kmalloc_unmark(void *p)
{
	memset(p, 0, sizeof(uintptr_t));
	KMEM_ANNOT_UNDEFINED(p, sizeof(uintptr_t));
}

/* kmem_alloc's fast path: an object of the class serving size (1 <= size
 * <= KMEM_KMALLOC_FAST_MAX: the caller tests it) from this thread's
 * magazine into *out; false when there is none at hand. The object's free
 * mark is cleared, except in builds with annotations, where the caller
 * annotates the object and then calls kmem_kmalloc_unmark. */
static inline bool kmem_kmalloc_pop(const struct kmem_slab *s, size_t size, void **out)
{
	if (!kmem_mag_pop_off(kmem_slab_fast_of(s)->class_off[(size - 1) >> 3], out))
		return false;
#if !KMEM_ANNOT_ENABLED
	memset(*out, 0, sizeof(uintptr_t));
#endif
	return true;
}

/* kmem_alloc_track_caller(s, size, caller) without its pop: for a consumer
 * whose own kmem_kmalloc_pop just missed on a class with magazines (its
 * class_off entry was not 0: 1 <= size <= the largest class), so the miss
 * goes straight to the magazine layer's slow path (kmalloc.c). NULL when
 * no memory is left. */
KMEM_HIDDEN void *kmem_kmalloc_alloc_miss(struct kmem_slab *s, size_t size, const void *caller);

/* The magazine slow path of a free that kmem_kmalloc_push_sole validated
 * (p starts an object of kmalloc class c, which has magazines, and carries
 * no free mark) but found this thread's magazine full: p gets the mark and
 * goes to the magazine layer's exchange (kmalloc.c). caller: for reports.
 * errno is left as it was (the drop-in's free calls this without saving
 * it: magazine.c, free_general). */
KMEM_HIDDEN void kmem_kmalloc_free_full(struct kmem_cache *c, void *p, const void *caller);

/* kmem_kmalloc_push without the instance test: for a consumer whose owner
 * words name slabs of one slab instance only (the drop-in's arena), so a
 * slab of a kmalloc class with magazines is one of that instance's.
 * p, whose frame's owner word is owner, goes onto this thread's magazine
 * if it starts an object of such a slab and does not carry the free mark
 * (then it gets it): returns 1. If all that holds but the magazine is
 * full, *full is set to the cache (for kmem_kmalloc_free_full) and it
 * returns 0; it returns 0 with *full untouched for anything else (NULL, a
 * tag, a slab of another cache or of a class without magazines (kobjs 0),
 * not an object start, marked: a double free). Nothing changed then. */
static inline int kmem_kmalloc_push_sole(const void *owner, void *p, struct kmem_cache **full)
{
	const struct slab *sl = owner;
	const struct kmem_cache_fast *c;
	uintptr_t mark;

	if (KMEM_UNLIKELY(!kmem_owner_is_ptr_fast(sl)))
		return 0;
	c = (const struct kmem_cache_fast *)(const void *)sl->cache;
	if (kmem_cache_fast_index(c, (uintptr_t)p - (uintptr_t)sl->objs) >= c->kobjs)
		return 0;
	mark = c->free_mark; /* once: the push's stores may alias it */
	if (kmem_kmalloc_marked_with(mark, p))
		return 0;
	if (KMEM_UNLIKELY(!kmem_mag_push_off(sl->slot_off, p))) {
		*full = sl->cache;
		return 0;
	}
	memcpy(p, &mark, sizeof(mark));
	return 1;
}

/* kmem_free's fast path: p, whose frame's owner word is owner, onto this
 * thread's magazine if it starts an object of a kmalloc class of s with
 * magazines and does not carry the free mark (then it gets it); false
 * otherwise (NULL, a tag, another slab or instance, not an object start,
 * marked: a double free, or a full magazine), with nothing changed. */
static inline bool kmem_kmalloc_push(const struct kmem_slab *s, const void *owner, void *p)
{
	const struct slab *sl = owner;
	const struct kmem_cache_fast *c;
	uintptr_t mark;

	if (KMEM_UNLIKELY(!kmem_owner_is_ptr_fast(sl)))
		return false;
	c = (const struct kmem_cache_fast *)(const void *)sl->cache;
	if (kmem_cache_fast_index(c, (uintptr_t)p - (uintptr_t)sl->objs) >= c->kobjs ||
	    c->kmalloc_of != s)
		return false;
	mark = c->free_mark;
	if (kmem_kmalloc_marked_with(mark, p) || !kmem_mag_push_off(sl->slot_off, p))
		return false;
	memcpy(p, &mark, sizeof(mark));
	return true;
}

#endif /* KMEM_SLAB_FAST_H */
