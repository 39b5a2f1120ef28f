/* malloc.c - the drop-in's C API: malloc, free, calloc, realloc,
 * reallocarray, the aligned calls, malloc_usable_size, C23's free_sized
 * and free_aligned_sized (and glibc's cfree, malloc_trim), with the inlined
 * fast paths, and the size dispatch to slab objects, page blocks (pages.c)
 * and huge mappings (huge.c).
 *
 * Fast paths: malloc pops the calling thread's magazine of the size class,
 * free pushes onto it after one owner-word load; both inlined here, with
 * everything else in non-inlined functions. Behaviour at the edges: see
 * malloc_internal.h.
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- allocation ------------------------------------------------------------------------------- */

/* caller: the program's return address, recorded by the slab layer's debug
 * tracking and named in reports (every exported entry point passes its
 * own, KMEM_RETURN_ADDRESS(), down). */
static void *km_alloc_once(size_t size, bool zero, const void *caller)
{
	/* the slab instance's size classes; the hardened mode guards every
	 * block over 8 KiB (decision 23), the classes past that too */
	if (KMEM_LIKELY(size <= KM_CLASS_MAX) && (size <= KM_SMALL_MAX || !km.harden)) {
		void *p = kmem_alloc_track_caller(km.s, size ? size : 1, caller);

		if (p && zero)
			memset(p, 0, size);
		return p;
	}
	if (KMEM_UNLIKELY(km.harden)) /* between guard pages (fresh: zero) */
		return size > PTRDIFF_MAX ? NULL : kmem_km_guard_alloc(size, 0);
	if (size <= KM_PAGE_MAX)
		return kmem_km_page_alloc(ceil_log2(pages_of(size)), zero);
	if (size > PTRDIFF_MAX)
		return NULL;
	return kmem_km_huge_alloc(size, 0, zero); /* fresh mappings read zero; cached ones cleared */
}

/* align: a power of two > 16 */
static void *km_alloc_aligned_once(size_t size, size_t align, const void *caller)
{
	size_t want;

	if (size > PTRDIFF_MAX || align > PTRDIFF_MAX / 2 + 1)
		return NULL;
	want = size > align ? size : align;
	if (want <= KM_SMALL_MAX) /* power-of-two classes are aligned to their size */
		return kmem_alloc_aligned_track_caller(km.s, size ? size : 1, align, caller);
	if (KMEM_UNLIKELY(km.harden))
		return kmem_km_guard_alloc(size, align);
	if (want <= KM_PAGE_MAX) /* blocks are aligned to their order's size */
		return kmem_km_page_alloc(ceil_log2(pages_of(want)), false);
	return kmem_km_huge_alloc(size ? size : 1, align, false);
}

/* The hardened mode's allocation: the quarantine swept first (a use after
 * free found before the program goes on), and drained when memory or
 * address space runs out (what it holds is the program's freed memory: an
 * allocation fails only when the heap without the quarantine is full). */
static KMEM_NOINLINE void *km_alloc_hardened(size_t size, size_t align, bool zero,
					     const void *caller)
{
	void *p;

	kmem_km_q_sweep();
	for (;;) {
		p = align ? km_alloc_aligned_once(size, align, caller)
			  : km_alloc_once(size, zero, caller);
		if (p || size > PTRDIFF_MAX || !kmem_km_q_drain()) /* no use draining for that */
			return p;
	}
}

static void *km_alloc(size_t size, bool zero, const void *caller)
{
	if (KMEM_UNLIKELY(km.harden))
		return km_alloc_hardened(size, 0, zero, caller);
	return km_alloc_once(size, zero, caller);
}

/* align: a power of two > 16 */
static void *km_alloc_aligned(size_t size, size_t align, const void *caller)
{
	if (KMEM_UNLIKELY(km.harden))
		return km_alloc_hardened(size, align, false, caller);
	return km_alloc_aligned_once(size, align, caller);
}

/* In the arena an owner word is NULL (no live block starts in that frame),
 * a tag (a page block, pages.c) or a slab's (the slab instance's). */

/* Why p, in the arena, in a frame whose owner word is w (NULL, or the frame
 * service's tag of a released block), is not a live block: reported with
 * the label that fits, `call` naming the entry point. A live page block
 * that covers p makes it an interior pointer (its tag is on the block's
 * first frame, at an address aligned to the block's power-of-two size: at
 * most KM_MAX_ORDER + 1 probes, on this error path only); a frame-aligned p
 * that no live block covers is a block freed already (or never handed
 * out); anything else is no block's start. */
static KMEM_NOINLINE void km_not_live(const void *p, const void *w, const char *call,
				       const void *caller)
{
	char what[160];

	for (unsigned k = 0; !w && k <= KM_MAX_ORDER; k++) {
		uintptr_t start = (uintptr_t)p & ~((KM_FRAME << k) - 1);
		const void *o;
		size_t frames;

		if (start < km.lo)
			break;
		o = kmem_atomic_load_relaxed(&km.owner[frame_index((const void *)start)]);
		if (!o)
			continue;
		frames = kmem_owner_is_tag(o) ? kmem_owner_tag_value(o) : 0;
		if (frames - 1 < (KM_BLOCK_MAX >> KM_FRAME_SHIFT) &&
		    (uintptr_t)p - start < (frames << KM_FRAME_SHIFT)) {
			snprintf(what, sizeof(what), "%s of a pointer %zu bytes inside the block at %p of %zu bytes",
				 call, (size_t)((uintptr_t)p - start), (void *)start, frames << KM_FRAME_SHIFT);
			kmem_km_misuse(KMEM_INTERIOR_POINTER, p, what, caller);
			return;
		}
		break; /* another block ends before p */
	}
	if ((uintptr_t)p & (KM_FRAME - 1)) {
		snprintf(what, sizeof(what), "%s of a pointer no block of this heap starts at", call);
		kmem_km_misuse(KMEM_FOREIGN_POINTER, p, what, caller);
		return;
	}
	snprintf(what, sizeof(what), "%s of a block that is not allocated (freed already)", call);
	kmem_km_misuse(KMEM_DOUBLE_FREE, p, what, caller);
}

/* Why p, outside the arena and the bootstrap arena, is not a huge block:
 * inside one (an interior pointer), one of the last huge blocks freed (a
 * double free), or no block of this heap at all. */
static KMEM_NOINLINE void km_not_huge(const void *p, const char *call, const void *caller)
{
	uintptr_t start;
	size_t n = kmem_km_huge_enclosing(p, &start);
	char what[160];

	if (n) {
		snprintf(what, sizeof(what), "%s of a pointer %td bytes %s the block at %p of %zu bytes", call,
			 (uintptr_t)p >= start ? (ptrdiff_t)((uintptr_t)p - start) : (ptrdiff_t)(start - (uintptr_t)p),
			 (uintptr_t)p >= start ? "inside" : "before", (void *)start, n);
		kmem_km_misuse(KMEM_INTERIOR_POINTER, p, what, caller);
		return;
	}
	if (kmem_km_huge_was_freed(p)) {
		snprintf(what, sizeof(what), "%s of a huge block that is not allocated (freed already)", call);
		kmem_km_misuse(KMEM_DOUBLE_FREE, p, what, caller);
		return;
	}
	snprintf(what, sizeof(what), "%s of a pointer this heap never returned", call);
	kmem_km_misuse(KMEM_FOREIGN_POINTER, p, what, caller);
}

/* The usable size of a live block, or 0 with a report (naming `call`) if
 * p is not one; caller is the program's return address for the report. */
static size_t km_usable(const void *p, const char *call, const void *caller)
{
	if (KMEM_UNLIKELY(km.harden) && kmem_km_q_holds(p)) {
		char what[128];

		snprintf(what, sizeof(what), "%s of a block freed already (in the quarantine: freed, not yet "
			 "reused)", call);
		kmem_km_misuse(KMEM_DOUBLE_FREE, p, what, caller);
		return 0;
	}
	if (in_arena(p)) {
		const void *w = kmem_atomic_load_relaxed(&km.owner[frame_index(p)]);

		if (kmem_owner_is_tag(w)) {
			size_t frames = kmem_owner_tag_value(w);

			if (frames - 1 >= (KM_BLOCK_MAX >> KM_FRAME_SHIFT)) {
				/* the frame service's own tag: a released block */
				km_not_live(p, w, call, caller);
				return 0;
			}
			if ((uintptr_t)p & ((KM_FRAME << ceil_log2(frames)) - 1)) {
				km_not_live(p, NULL, call, caller);
				return 0;
			}
			return frames << KM_FRAME_SHIFT;
		}
		if (!w) {
			km_not_live(p, w, call, caller);
			return 0;
		}
		return kmem_usable_size_track_caller(km.s, p, caller); /* reports what is wrong */
	}
	if (in_boot(p))
		return kmem_km_boot_size(p);
	{
		size_t n = kmem_km_huge_size(p);

		if (!n)
			km_not_huge(p, call, caller);
		return n;
	}
}

void kmem_km_free_now(void *p, const void *caller)
{
	if (KMEM_LIKELY(in_arena(p))) {
		const void *w = kmem_atomic_load_relaxed(&km.owner[frame_index(p)]);

		if (kmem_owner_is_tag(w)) {
			size_t frames = kmem_owner_tag_value(w);

			if (KMEM_UNLIKELY(frames - 1 >= (KM_BLOCK_MAX >> KM_FRAME_SHIFT))) {
				/* the frame service's own tag: a released block */
				km_not_live(p, w, "free", caller);
				return;
			}
			if ((uintptr_t)p & ((KM_FRAME << ceil_log2(frames)) - 1)) {
				km_not_live(p, NULL, "free", caller);
				return;
			}
			if (!km_tag_clear(p, frames)) {
				kmem_km_misuse(KMEM_DOUBLE_FREE, p, "page block freed twice at once", caller);
				return;
			}
			kmem_km_page_free(p, frames);
			return;
		}
		if (!w) {
			km_not_live(p, w, "free", caller);
			return;
		}
		kmem_free_track_caller(km.s, p, caller); /* a slab object, or reported */
		return;
	}
	if (!p || in_boot(p))
		return;
	if (!kmem_km_huge_free(p))
		km_not_huge(p, "free", caller);
}

/* Hardened mode: a live block goes to the quarantine (quarantine.c) after
 * its checks (a guarded block's canaries); anything else is reported as
 * kmem_km_free_now would. */
static KMEM_NOINLINE void km_free_hardened(void *p, const void *caller)
{
	size_t n;

	if (!p || in_boot(p))
		return;
	n = km_usable(p, "free", caller); /* 0: reported (freed already, not a block, ...) */
	if (!n)
		return;
	if (in_arena(p)) {
		const void *w = kmem_atomic_load_relaxed(&km.owner[frame_index(p)]);

		if (!kmem_owner_is_tag(w)) {
			/* a slab object: its red zones now, not when it leaves */
			if (kmem_check_object_track_caller(km.s, p, caller) == KMEM_OK ||
			    !km.abort_on_error)
				kmem_km_q_free(p, n, false, caller);
			return;
		}
	} else if (kmem_km_guard_verify(p, caller)) {
		kmem_km_q_free(p, n, true, caller);
		return;
	}
	kmem_km_free_now(p, caller); /* page and huge blocks from before: as ever */
}

static void km_free(void *p, const void *caller)
{
	if (KMEM_UNLIKELY(km.harden))
		km_free_hardened(p, caller);
	else
		kmem_km_free_now(p, caller);
}

KM_EXPORT int malloc_trim(size_t pad)
{
	return kmem_malloc_trim(pad) != 0;
}

/* ---- the C API ---------------------------------------------------------------------------------- */

static KMEM_NOINLINE void *malloc_slow(size_t size, const void *caller);

/* The caller's return address, read where this stands: the empty volatile
 * asm keeps the compiler from hoisting the read above the fast path's
 * return (it did: one more instruction per malloc and per free). */
#define KM_CALLER()                                                     \
	__extension__                                                   \
	({                                                              \
		const void *km_ra_;                                     \
		__asm__ volatile("" ::: "memory");                      \
		km_ra_ = KMEM_RETURN_ADDRESS();                         \
		__asm__ volatile("" : "+r"(km_ra_));                    \
		km_ra_;                                                 \
	})

/* The fast paths: the slab instance's kmalloc pop and push
 * (kmem_slab_fast.h), inlined: the same steps as kmem_alloc/kmem_free,
 * without the calls. Builds with Valgrind/ASan annotations take the library
 * calls, which annotate. */
/* Gates (decision 30): while the heap is not ready, or traces, malloc's
 * table is all zeros (every class's slot is the null magazine's: the pop
 * misses) and free's bound is 0, so neither fast path needs a test of its
 * own for those states. */
const uint32_t kmem_km_no_cls[KMEM_KMALLOC_INDEX];

void kmem_km_fast_gates(void)
{
	bool on = kmem_atomic_load_acquire(&km.state) == 2 && !km.trace_on;

	kmem_atomic_store_release(&km.fast_frames, km.trace_on ? 0 : km.frames);
	kmem_atomic_store_release(&km.fast_cls, on ? kmem_slab_fast_of(km.s)->class_off : kmem_km_no_cls);
}

/* The pop of kmem_kmalloc_pop, through the gate's table. */
static inline bool fast_alloc(size_t size, void **out)
{
#if KMEM_ANNOT_ENABLED
	(void)size;
	(void)out;
	return false;
#else
	const uint32_t *cls;

	if (KMEM_UNLIKELY(size - 1 >= KM_SMALL_MAX))
		return false;
	cls = kmem_atomic_load_relaxed(&km.fast_cls);
	if (!kmem_mag_pop_off_uncounted(cls[(size - 1) >> 3], out)) /* hits uncounted (heap.c) */
		return false;
	memset(*out, 0, sizeof(uintptr_t)); /* the free mark cleared */
	return true;
#endif
}

/* The push of kmem_kmalloc_push_sole; *full: see there. */
static inline bool fast_free(void *p, struct kmem_cache **full)
{
#if KMEM_ANNOT_ENABLED
	(void)p;
	(void)full;
	return false;
#else
	size_t idx = ((uintptr_t)p - km.lo) >> KM_FRAME_SHIFT;

	if (KMEM_UNLIKELY(idx >= km.fast_frames))
		return false;
	/* the owner table is the buddy's (page source's) direct lookup; every
	 * slab in the arena is km.s's */
	return kmem_kmalloc_push_sole(kmem_atomic_load_relaxed(&km.owner[idx]), p, full);
#endif
}

/* malloc for the program's call at caller (the exported entry points
 * that end in malloc pass their own caller). */
static inline void *malloc_from(size_t size, const void *caller)
{
	void *p;

	if (fast_alloc(size, &p))
		return p;
	return malloc_slow(size, caller);
}

KM_EXPORT void *malloc(size_t size)
{
	void *p;

	if (fast_alloc(size, &p))
		return p;
	return malloc_slow(size, KM_CALLER());
}

/* A pop that missed on a class's slot (the gate's table has one: the heap
 * is ready, not tracing, not hardened, and the class has magazines):
 * straight to the magazine layer's refill, none of malloc_other's tests. */
static KMEM_NOINLINE void *malloc_miss(size_t size, const void *caller)
{
	void *p;

	KMEM_ASSERT(km_ready() && !km.harden && !km.trace_on);
	p = kmem_kmalloc_alloc_miss(km.s, size, caller);
	if (KMEM_UNLIKELY(!p))
		errno = ENOMEM;
	return p;
}

static KMEM_NOINLINE void *malloc_other(size_t size, const void *caller);

/* Where fast_alloc's false goes: malloc_miss if the pop missed on a slot
 * of the gate's table (read again: the fast path keeps no register for
 * it), else malloc_other. Both tail calls: no frame here. */
static KMEM_NOINLINE void *malloc_slow(size_t size, const void *caller)
{
	/* builds with annotations have no fast path: the pop was not tried */
	if (!KMEM_ANNOT_ENABLED && KMEM_LIKELY(size - 1 < KM_SMALL_MAX) &&
	    kmem_atomic_load_relaxed(&km.fast_cls)[(size - 1) >> 3] != 0)
		return malloc_miss(size, caller);
	return malloc_other(size, caller);
}

static KMEM_NOINLINE void *malloc_other(size_t size, const void *caller)
{
	void *p;

	if (KMEM_UNLIKELY(!km_ready()))
		return kmem_km_boot_alloc(size ? size : 1, KM_ALIGN);
	p = km_alloc(size, false, caller);
	if (KMEM_UNLIKELY(!p))
		errno = ENOMEM;
	TRACE(KMEM_TRACE_MALLOC, size, p, NULL, 0, size ? 0 : KMEM_TRACE_F_ZERO_SIZE);
	return p;
}

static KMEM_NOINLINE void free_slow(void *p, const void *caller);

/* A block the fast path validated, whose magazine was full goes straight
 * to the magazine exchange (kmem_kmalloc_free_full, which leaves errno as
 * it was), not through free_slow's checks again. */
static inline void free_from(void *p, const void *caller)
{
	struct kmem_cache *full = NULL;

	if (fast_free(p, &full))
		return;
	if (full)
		kmem_kmalloc_free_full(full, p, caller);
	else
		free_slow(p, caller); /* out of line: the fast path saves no registers */
}

KM_EXPORT void free(void *p)
{
	struct kmem_cache *full = NULL;

	if (fast_free(p, &full))
		return;
	if (full)
		kmem_kmalloc_free_full(full, p, KM_CALLER());
	else
		free_slow(p, KM_CALLER()); /* out of line: the fast path saves no registers */
}

static KMEM_NOINLINE void free_slow(void *p, const void *caller)
{
	int e;

	if (!p)
		return;
	e = errno;
	if (KMEM_LIKELY(kmem_atomic_load_acquire(&km.state) == 2)) {
		TRACE(KMEM_TRACE_FREE, 0, p, NULL, 0, 0);
		km_free(p, caller);
	}
	errno = e;
}

KM_EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t n;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	if (KMEM_UNLIKELY(!km_ready()))
		return kmem_km_boot_alloc(n ? n : 1, KM_ALIGN); /* static storage: zero */
	p = km_alloc(n, true, KMEM_RETURN_ADDRESS());
	if (KMEM_UNLIKELY(!p))
		errno = ENOMEM;
	TRACE(KMEM_TRACE_CALLOC, n, p, NULL, 0, n ? 0 : KMEM_TRACE_F_ZERO_SIZE);
	return p;
}

static void *km_realloc(void *p, size_t size, const void *caller)
{
	size_t have;
	void *q;

	if (!p || in_boot(p)) {
		q = km_alloc(size, false, caller);
		if (!q)
			errno = ENOMEM;
		else if (p)
			memcpy(q, p, kmem_km_boot_size(p) < size ? kmem_km_boot_size(p) : size);
		return q;
	}
	have = km_usable(p, "realloc", caller);
	if (!have) {
		errno = EINVAL; /* reported: p is not a live block */
		return NULL;
	}
	if (KMEM_UNLIKELY(km.harden)) {
		/* always a new block (guarded blocks are never resized in place),
		 * the old one to the quarantine */
		q = km_alloc(size, false, caller);
		if (!q) {
			errno = ENOMEM;
			return NULL;
		}
		memcpy(q, p, have < size ? have : size);
		km_free(p, caller);
		return q;
	}
	if (size <= have) {
		if (have <= KM_CLASS_MAX) {
			if (size > have / 2 || size <= KM_ALIGN)
				return p;
		} else if (!in_arena(p)) {
			if (size > have / 4)
				return p;
		} else if (size > have / 4) {
			return p;
		} else if (size > KM_CLASS_MAX) {
			/* a page block shrinking to a quarter or less: give the
			 * frames past the new end back */
			size_t frames = have >> KM_FRAME_SHIFT, nf = exact_frames(pages_of(size));

			if (nf < frames)
				kmem_km_page_shrink(p, frames, nf);
			return p;
		}
		/* else to a slab object */
	} else if (!in_arena(p) && size > KM_PAGE_MAX) {
		q = kmem_km_huge_realloc(p, size);
		if (!q)
			errno = ENOMEM;
		return q;
	}
	q = km_alloc(size, false, caller);
	if (!q) {
		errno = ENOMEM; /* p stays as it was */
		return NULL;
	}
	memcpy(q, p, have < size ? have : size);
	km_free(p, caller);
	return q;
}

static void *realloc_from(void *p, size_t size, const void *caller)
{
	void *q;

	if (KMEM_UNLIKELY(!km_ready())) {
		q = kmem_km_boot_alloc(size ? size : 1, KM_ALIGN);
		if (q && p)
			memcpy(q, p, kmem_km_boot_size(p) < size ? kmem_km_boot_size(p) : size);
		return q;
	}
	if (p && !size) {
		int e = errno;

		TRACE(KMEM_TRACE_REALLOC, 0, NULL, p, 0, KMEM_TRACE_F_ZERO_SIZE);
		km_free(p, caller); /* one record: the REALLOC */
		errno = e;
		return NULL;
	}
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	q = km_realloc(p, size, caller); /* sets errno when it fails */
	TRACE(KMEM_TRACE_REALLOC, size, q, p, 0, size ? 0 : KMEM_TRACE_F_ZERO_SIZE);
	return q;
}

KM_EXPORT void *realloc(void *p, size_t size)
{
	return realloc_from(p, size, KMEM_RETURN_ADDRESS());
}

KM_EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc_from(p, n, KMEM_RETURN_ADDRESS());
}

/* align: a power of two; returns the block or NULL (errno untouched). */
static void *km_memalign(size_t align, size_t size, const void *caller)
{
	void *p;

	if (KMEM_UNLIKELY(!km_ready()))
		return kmem_km_boot_alloc(size ? size : 1, align);
	if (align <= KM_ALIGN)
		p = km_alloc(size, false, caller);
	else
		p = km_alloc_aligned(size, align, caller);
	TRACE(KMEM_TRACE_MEMALIGN, size, p, NULL, kmem_flsptr(align), size ? 0 : KMEM_TRACE_F_ZERO_SIZE);
	return p;
}

KM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (!kmem_is_pow2(align) || align % sizeof(void *))
		return EINVAL;
	p = km_memalign(align, size, KMEM_RETURN_ADDRESS());
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* C11 aligned_alloc as glibc 2.38 has it: an alignment that is not a power
 * of two (0 included) fails with EINVAL (glibc 2.36 treated it as memalign
 * does); any size is accepted (C17 dropped "a multiple of the alignment"). */
KM_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	void *p;

	if (!kmem_is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	p = km_memalign(align, size, KMEM_RETURN_ADDRESS());
	if (!p)
		errno = ENOMEM;
	return p;
}

/* memalign as glibc 2.36 documents and does (_mid_memalign): an alignment
 * up to 16 (0 included) is malloc's; one above SIZE_MAX / 2 + 1 fails with
 * EINVAL; any other is rounded up to the next power of two
 * (memalign(24, n) is 32-aligned). */
static void *memalign_from(size_t align, size_t size, const void *caller)
{
	void *p;

	if (align <= KM_ALIGN)
		return malloc_from(size, caller);
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!kmem_is_pow2(align))
		align = (size_t)1 << (kmem_flsptr(align) + 1);
	p = km_memalign(align, size, caller);
	if (!p)
		errno = ENOMEM;
	return p;
}

KM_EXPORT void *memalign(size_t align, size_t size)
{
	return memalign_from(align, size, KMEM_RETURN_ADDRESS());
}

/* valloc(n) is memalign(page, n); pvalloc(n) is memalign(page, n rounded up
 * to a whole page), ENOMEM when the rounding overflows (glibc 2.36). The
 * page is the drop-in's frame, 4 KiB. */
KM_EXPORT void *valloc(size_t size)
{
	return memalign_from(KM_FRAME, size, KMEM_RETURN_ADDRESS());
}

KM_EXPORT void *pvalloc(size_t size)
{
	size_t n;

	if (__builtin_add_overflow(size, KM_FRAME - 1, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return memalign_from(KM_FRAME, n & ~(KM_FRAME - 1), KMEM_RETURN_ADDRESS());
}

KM_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p || !km_ready())
		return p && in_boot(p) ? kmem_km_boot_size(p) : 0;
	return km_usable(p, "malloc_usable_size", KMEM_RETURN_ADDRESS());
}

/* C23's sized frees (decision 36). free_sized(p, size): size must be what
 * the call that returned p was asked for (malloc, calloc's product,
 * realloc); free_aligned_sized(p, align, size): align and size as given to
 * aligned_alloc (or memalign, posix_memalign). The drop-in checks them
 * against the block, in every mode: a size above the block's usable size
 * (malloc_usable_size: its class, page block or mapping; the size asked
 * for under KMEM_DEBUG=redzone), an alignment that is not a power of two
 * or that p does not have, is reported (KMEM_WRONG_ORDER: "free_sized
 * with a size of N bytes: the block ... holds M") and the block is NOT
 * freed: it stays allocated, as a misused free changes nothing (with
 * KMEM_ERROR=abort, or KMEM_HARDEN=1, the report aborts). A pointer that
 * is not a live block is reported as free reports it. A size below the
 * block's is accepted (realloc keeps a block it shrinks to more than half
 * of its class, and the size to pass is then the smaller one). NULL does
 * nothing. The check reads the block's size: about malloc_usable_size's
 * cost on top of free's; the size does not speed the free up. */
static KMEM_NOINLINE void free_sized_from(void *p, size_t size, bool aligned, size_t align,
					  const char *call, const void *caller)
{
	size_t have;
	int e;

	if (!p)
		return;
	e = errno;
	if (KMEM_UNLIKELY(kmem_atomic_load_acquire(&km.state) != 2) || in_boot(p)) {
		errno = e; /* as free: bootstrap blocks are never freed */
		return;
	}
	have = km_usable(p, call, caller); /* 0: reported (not a live block) */
	if (have && (size > have || (aligned && (!kmem_is_pow2(align) || ((uintptr_t)p & (align - 1)))))) {
		char what[200];

		if (aligned)
			snprintf(what, sizeof(what), "%s with an alignment of %zu and a size of %zu bytes: "
				 "the block at %p holds %zu%s; not freed", call, align, size, p, have,
				 !kmem_is_pow2(align) ? " (the alignment is not a power of two)" :
				 ((uintptr_t)p & (align - 1)) ? " and is not so aligned" : "");
		else
			snprintf(what, sizeof(what), "%s with a size of %zu bytes: the block at %p holds %zu; "
				 "not freed", call, size, p, have);
		kmem_km_misuse(KMEM_WRONG_ORDER, p, what, caller);
		have = 0;
	}
	if (have) {
		TRACE(KMEM_TRACE_FREE, 0, p, NULL, 0, 0);
		km_free(p, caller);
	}
	errno = e;
}

KM_EXPORT void free_sized(void *p, size_t size);
KM_EXPORT void free_sized(void *p, size_t size)
{
	free_sized_from(p, size, false, 0, "free_sized", KMEM_RETURN_ADDRESS());
}

KM_EXPORT void free_aligned_sized(void *p, size_t align, size_t size);
KM_EXPORT void free_aligned_sized(void *p, size_t align, size_t size)
{
	free_sized_from(p, size, true, align, "free_aligned_sized", KMEM_RETURN_ADDRESS());
}

/* glibc's names for the same functions, so code that calls them directly
 * (or a library that interposes on them) stays on this heap. */
KM_EXPORT void cfree(void *p);
KM_EXPORT void cfree(void *p)
{
	free_from(p, KMEM_RETURN_ADDRESS());
}

