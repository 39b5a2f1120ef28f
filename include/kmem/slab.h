/* kmem/slab.h - object caches on page frames (Bonwick's slab allocator).
 *
 * A slab instance (struct kmem_slab) draws slabs, naturally aligned blocks of
 * 2^k frames, from a page source (a buddy instance, or the frame service,
 * kmem/pagealloc.h) and carves them into objects of one cache each. Caches follow the
 * Linux/Solaris API: create with a name, size, alignment, flags and an
 * optional constructor and destructor; allocate; free; shrink; destroy.
 *
 * Object caching contract (Bonwick 1994):
 *   - the constructor runs once per object when its slab is created (the
 *     object first enters the cache), not on every allocation;
 *   - a freed object keeps its constructed state: the allocator writes no
 *     link into free objects (each slab header has a bitmap of its objects),
 *     so kmem_cache_alloc may return it again as it was freed;
 *   - the destructor runs once per free object when its slab goes back to
 *     the page source (shrink, destroy, or beyond the cache's empty-slab
 *     limit): it sees objects in their constructed state only. An object
 *     still allocated when its cache is destroyed is a leak: reported, and
 *     never passed to the destructor (its state is the caller's).
 *
 * Under Valgrind memcheck (builds with its headers, not release builds)
 * and ASan, objects behave like heap blocks: uses after free and red-zone
 * overflows are reported, and under memcheck also leaks and reads of
 * never-written bytes. An object of a cache with a constructor is handed
 * out as initialised, since it keeps constructed state: reads of bytes the
 * constructor left unset are not reported there.
 *
 * Objects map to their slab through the page source's owner words (the
 * source must provide set_owner/get_owner, e.g. a buddy instance with
 * KMEM_BUDDY_OWNERS), so no header precedes an object and a foreign pointer
 * is detected without touching memory outside the source. A frame whose
 * owner word is another owner's tag (kmem/page_source.h: a page block of
 * the drop-in malloc, say) is "not a slab" to every call here.
 *
 * Magazines (Bonwick & Adams 2001): each thread keeps two magazines (arrays
 * of up to 61 object pointers by default; kmem_slab_config.mag_size, with
 * the depot limit, is the instance's policy) per cache, so
 * kmem_cache_alloc/free and kmem_alloc/free usually pop or push a
 * thread-local array with no lock and no atomic read-modify-write; a miss
 * exchanges a magazine with the cache's
 * depot under the cache lock, or fills one from the slabs in one lock hold.
 * A thread's magazines go back to the depots when it exits; the depot
 * tracks its working set, so kmem_cache_reap() frees only magazines that
 * were not used. Objects in magazines count as allocated in the slab
 * statistics. Caches with a debug flag or KMEM_CACHE_NOMAGAZINE have none.
 *
 * The current slab (docs/decisions.md, 42): a cache without magazines
 * (the above, a cache created when every slot was taken, and every cache
 * of a build without magazines, i.e. firmware) whose partial policy is
 * FULLEST takes its objects from one slab, picked by the policy, until it
 * fills, and frees into it with no list change until it empties: each
 * call takes the cache lock once, sets or clears one bitmap bit and
 * checks the object as before (foreign, interior, wrong-cache and double
 * frees are reported at once), but the slab's fullness class is settled
 * only when it stops being current. MRU and LEAST caches settle at every
 * call.
 *
 * Misuse and the fast path: kmem_cache_free() with magazines trusts its
 * argument (like every production slab allocator); a foreign, interior or
 * wrong-cache pointer is reported when its magazine is flushed to the slabs
 * and then dropped, and a double free is caught only if the object is still
 * free in its slab by then. For immediate, exact detection use
 * kmem_cache_free_checked(), a debug flag, or KMEM_CACHE_NOMAGAZINE.
 * kmem_free() always validates foreign, wrong-cache and interior pointers
 * (it must look up the class anyway), and detects a double free at once:
 * a kmalloc object freed into a magazine gets the instance's free mark in
 * its first word (cleared when it is allocated again), so a second free
 * of it, in any thread, is reported and ignored before it can alias. The
 * first word of a freed kmalloc object is therefore not the caller's (use
 * after free reads the mark); objects of kmem_cache_create'd caches keep
 * their constructed state untouched, as above.
 *
 * Thread safety: every function may be called from any thread; each cache
 * has its own lock, the instance a lock for its cache list. Lock order:
 * instance lock, magazine registry lock, cache lock, page source. Hosted
 * builds keep one thread block (64 bytes per magazine slot: 8 KiB by
 * default, mmap'd on a thread's first slow path, unmapped at its exit) per
 * thread that uses magazines, and a process-wide table of magazine slots
 * (-Dmag_slots, 128 by default: 127 caches of all instances together have
 * magazines at once; later ones work without).
 *
 * Bounded time (docs/decisions.md, 33). Each call's worst case in steps,
 * loop iterations that an instrumented build counts (tests/test_slab_steps.c
 * drives each to its bound and asserts it is never exceeded). For a cache:
 * n objects per slab and W = ceil(n / w) words of its bitmap
 * (kmem_cache_stats.objs_per_slab; w = the bits of an unsigned long, 64 on
 * LP64, 32 on a 32-bit target), M its magazine size (.mag_size; 0
 * without magazines; at most 61 by default, KMEM_MAG_ROUNDS_MAX fixed), R =
 * max(M / 2, 1), D its depot limit (.depot_limit). "A slab made" is one
 * page-source allocation and n constructor calls; "a slab released" one
 * page-source free and at most n destructor calls (a buddy source adds at
 * most max_order splits or merges per call, kmem/buddy.h).
 *   kmem_cache_alloc, kmem_alloc: a magazine pop. On a miss: a swap or a
 *     depot exchange (O(1)), or a refill of at most R objects taken from at
 *     most R slabs, W bitmap words looked at in each, and at most
 *     ceil(R / n) slabs made (at most R if other threads take objects
 *     meanwhile, and a slab so emptied by other threads' frees is released
 *     again), plus the magazine filled: one object of the instance's
 *     magazine cache (maybe its slab made). Without magazines: one object
 *     (from the current slab, or the slab the policy picks), at most W
 *     words, at most one slab made.
 *   kmem_cache_free, kmem_free: a magazine push. On a miss: a swap or
 *     exchange (O(1)), or one magazine flushed: at most M objects validated
 *     and freed, in ceil(M / 61) lock holds, each slab they touch settled
 *     once (at most M), at most M slabs released (each emptied beyond the
 *     empty slabs kept); plus a new magazine allocated (maybe a slab made)
 *     or a flushed one freed (maybe a slab released). Without magazines: at
 *     most one slab released.
 *   kmem_cache_free_checked, kmem_free_checked: the double-free search
 *     compares at most (2 + D) * M magazine rounds (the calling thread's
 *     two magazines and the depot's full ones), then at most one slab
 *     released.
 *   kmem_cache_alloc_bulk(k): at most k objects from at most k slabs (W
 *     words each; the current slab settled first, O(1)), at most
 *     ceil(k / n) slabs made (k with other threads).
 *     kmem_cache_free_bulk(k): k checked frees.
 *   kmem_alloc_aligned: at most the number of kmalloc classes tried, then
 *     as kmem_alloc. Sizes above the largest class: one page-source block.
 * O(n) in what they hold, not bounded by the configuration: a self-tuning
 * magazine size's resize and KMEM_DEPOT_AUTO's working-set reap (a slow
 * path that runs one flushes every depot magazine concerned), the depot's
 * magazine count with KMEM_DEPOT_AUTO in a checked free's search,
 * kmem_cache_shrink and kmem_cache_reap (every idle magazine, every empty
 * slab), kmem_slab_shrink, kmem_slab_reap and kmem_slab_shrink_scan (every
 * cache, one step each, then those calls), kmem_cache_destroy,
 * kmem_slab_destroy, kmem_cache_check and the statistics walks.
 */
#ifndef KMEM_SLAB_H
#define KMEM_SLAB_H

#include <kmem/common.h>
#include <kmem/error.h>
#include <kmem/page_source.h>

#include <stdbool.h>

KMEM_BEGIN_DECLS

struct kmem_slab;	/* opaque: the slab allocator instance */
struct kmem_cache;	/* opaque: one object cache */

/* Largest slab a cache uses, in bytes (with 4 KiB frames: order 5; with
 * 64-byte frames: order 11, capped by the source's max order); objects that
 * cannot meet the waste bound within it go straight to the page source, one
 * block per object. */
#define KMEM_SLAB_MAX_BYTES ((size_t)128 * 1024)
/* Largest slab order a waste_div tighter than 1/8 may pick (see below). */
#define KMEM_SLAB_TIGHT_ORDER 3u
/* A slab keeps at most 65535 objects (16-bit indexes). */
#define KMEM_SLAB_MAX_OBJECTS 65535u
/* Empty slabs a cache keeps for reuse before returning more to the source
 * (like SLUB's min_partial), unless kmem_slab_config.empty_keep says
 * otherwise; kmem_cache_shrink() and kmem_cache_reap() return all of them. */
#define KMEM_CACHE_EMPTY_KEEP 4u
/* kmem_slab_config.empty_keep: keep no empty slab. */
#define KMEM_SLAB_KEEP_NONE 0xffffffffu
/* kmem_slab_config.partial: which partial slab a cache allocates from. */
#define KMEM_SLAB_PARTIAL_FULLEST 0u	/* the fullest (the default) */
#define KMEM_SLAB_PARTIAL_MRU 1u	/* the most recently used */
#define KMEM_SLAB_PARTIAL_LEAST 2u	/* the least full */

struct kmem_slab_config {
	const char *name;	/* copied (up to 31 chars); NULL: "slab" */
	/* The page source, copied. Must provide set_owner and get_owner. */
	const struct kmem_page_source *source;
	/* Where errors go. NULL: the instance's own sink (print, continue). */
	struct kmem_error_sink *sink;
	/* Debug flags (KMEM_CACHE_REDZONE, _POISON, _STORE_USER) every cache of
	 * the instance gets, the kmalloc caches included: the global default. */
	unsigned debug_flags;
	/* Slab geometry: each cache uses the smallest slab order whose unused
	 * bytes (header and bitmap included) are at most 1/waste_div of the
	 * slab. 0 or 8: Bonwick's bound of 1/8. Larger values pack objects
	 * tighter into larger slabs (16 or 32 suit a general-purpose malloc:
	 * 512-byte objects fit 7 to a 4 KiB slab, 31 to a 16 KiB one), but
	 * only in slabs of up to 2^KMEM_SLAB_TIGHT_ORDER frames: a cache no
	 * such order satisfies uses the smallest order meeting 1/8 (or is
	 * direct), so that one 4 KiB object does not cost a 128 KiB slab.
	 * At most 64. */
	unsigned waste_div;
	/* kmalloc's size classes (see "kmalloc" below): KMEM_KMALLOC_LINUX (0,
	 * the default), KMEM_KMALLOC_QUARTER, KMEM_KMALLOC_FINE, or
	 * KMEM_KMALLOC_TABLE, which
	 * takes the nr_classes sizes at class_sizes (read during
	 * kmem_slab_init only; unused otherwise). */
	unsigned kmalloc_classes;
	const size_t *class_sizes;
	unsigned nr_classes;
	/* The free mark of kmem_free's double-free detection (see kmem_free): a
	 * word written over the first word of an object when it is freed into a
	 * magazine. 0: one derived from the instance's address. kmem sets its
	 * lowest and highest bits (so it is never a pointer). A caller that
	 * wants it unpredictable passes a random word (the drop-in malloc
	 * does). */
	uintptr_t free_mark;
	/* Magazine size: rounds per magazine for every cache of the instance
	 * with magazines (Bonwick & Adams 2001; docs/decisions.md, 30):
	 *   0                   the default: by object size, 61 rounds for
	 *                       strides up to 256 bytes, 30 up to 1 KiB, 14 up
	 *                       to 4 KiB, 6 above;
	 *   1..KMEM_MAG_ROUNDS_MAX  that many for every cache (magazine objects
	 *                       are 24 + 8 * N bytes on 64-bit targets);
	 *   KMEM_MAG_SIZE_AUTO  self-tuning: each cache starts at the default
	 *                       and doubles its size (2n + 1, up to
	 *                       KMEM_MAG_AUTO_MAX) when its depot lock is found
	 *                       held KMEM_MAG_CONTENTION times within
	 *                       KMEM_MAG_CONTENTION_WINDOW depot exchanges; the
	 *                       depot's magazines of the old size are flushed
	 *                       then, threads' ones when they come back.
	 * Anything else: kmem_slab_init fails with -EINVAL. The fast paths do
	 * not depend on it (a magazine carries its own size). */
	unsigned mag_size;
	/* Depot limit: full magazines a cache's depot keeps; a free that
	 * would put one more flushes a magazine to the slabs instead:
	 *   0                the default, KMEM_DEPOT_DEFAULT (16);
	 *   N                at most N (then the depot's working set is reaped
	 *                    only by kmem_cache_reap);
	 *   KMEM_DEPOT_AUTO  no fixed limit: the working set (the fewest full
	 *                    and empty magazines the depot held) is tracked, and
	 *                    every KMEM_DEPOT_REAP_OPS depot exchanges what was
	 *                    not used since the last reap is flushed to the
	 *                    slabs (Bonwick's reap, run by the slow paths). */
	unsigned depot_limit;
	/* Slab policies (every cache of the instance, its kmalloc classes and
	 * internal caches included). Each 0 is the default, the best measured
	 * (README, Numbers). None is on the fast paths (a magazine pop or
	 * push): they act where a cache goes to its slabs, under its lock, so
	 * a policy not chosen costs nothing.
	 * partial: the partial slab allocation takes objects from (a slab with
	 * both free and allocated objects):
	 *   KMEM_SLAB_PARTIAL_FULLEST (0) the fullest, to 1/16 of a slab
	 *     (Bonwick 1994: nearly empty slabs drain, then go back to the
	 *     source; the least memory held under churn). A cache without
	 *     magazines picks when its current slab fills or empties, and
	 *     stays with it meanwhile (decision 42: frees into it may leave
	 *     a fuller slab behind until then);
	 *   KMEM_SLAB_PARTIAL_MRU the one most recently allocated from or
	 *     freed into (its header and objects are likely in the CPU cache;
	 *     SLUB's behaviour);
	 *   KMEM_SLAB_PARTIAL_LEAST the least full (spreads objects over the
	 *     slabs: the opposite of FULLEST, for comparisons).
	 * With none partial, an empty slab is used, then a new one. Any other
	 * value: kmem_slab_init fails with -EINVAL. */
	unsigned partial;
	/* Empty slabs each cache keeps for reuse (so that churn does not give
	 * slabs back and make them again); one that empties beyond them goes
	 * back to the page source at once (destructors run). 0: the default
	 * (KMEM_CACHE_EMPTY_KEEP); KMEM_SLAB_KEEP_NONE: none. Shrink and reap
	 * give back every empty slab whatever the setting. */
	unsigned empty_keep;
	/* Colouring off: every cache as if created with KMEM_CACHE_NOCOLOUR. */
	bool no_colour;
};

/* kmem_slab_config.mag_size and .depot_limit (docs/decisions.md, 30) */
#define KMEM_MAG_ROUNDS_MAX 1021u	/* a magazine of 8 KiB on 64-bit targets */
#define KMEM_MAG_SIZE_AUTO 0xffffffffu
#define KMEM_MAG_AUTO_MAX 253u	/* a self-tuned magazine grows to 2 KiB */
#define KMEM_MAG_CONTENTION 8u	/* contended depot lock takes that grow the size ... */
#define KMEM_MAG_CONTENTION_WINDOW 256u	/* ... within this many depot lock takes */
#define KMEM_DEPOT_DEFAULT 16u
#define KMEM_DEPOT_AUTO 0xffffffffu
#define KMEM_DEPOT_REAP_OPS 256u	/* depot exchanges between working-set reaps (auto) */

/* Bytes of instance storage kmem_slab_init() needs (16-byte aligned). O(1). */
KMEM_API size_t kmem_slab_sizeof(void);

/* Compile-time sizing, for a static array on firmware (no allocator to ask
 * at start-up): at least kmem_slab_sizeof() on every target, build and lock
 * kind (the library checks the bound at compile time), somewhat more than
 * the exact size (7712 bytes on x86-64, 6240 on Cortex-M4 without magazines):
 *   static _Alignas(16) unsigned char slab_mem[KMEM_SLAB_SIZEOF]; */
#define KMEM_SLAB_SIZEOF ((size_t)5632u + 384u * sizeof(void *))

/* Create a slab instance in mem[0..mem_size). Returns 0 and sets *out, or
 * -EINVAL (cfg, source or out NULL; mem NULL or misaligned; the source has no
 * owner words, or its largest block is under 256 bytes; unknown debug
 * flags; an unknown partial policy; an unknown kmalloc_classes, or a class
 * table kmalloc rejects, see KMEM_KMALLOC_TABLE; a mag_size over
 * KMEM_MAG_ROUNDS_MAX other than KMEM_MAG_SIZE_AUTO), -ENOTSUP (debug flags in a build whose debug caches
 * are compiled out: -Dslab_debug, off when freestanding), -ENOSPC (mem_size <
 * kmem_slab_sizeof()), -ENOMEM (the page source has no frame for the kmalloc
 * caches' descriptors). O(max order). */
KMEM_API KMEM_MUST_CHECK int kmem_slab_init(void *mem, size_t mem_size,
					    const struct kmem_slab_config *cfg,
					    struct kmem_slab **out);

/* Destroy every cache still alive (as kmem_cache_destroy(), reporting
 * leaks; the kmalloc caches too), then the instance. Not thread-safe: nothing else may use the
 * instance or its caches meanwhile or afterwards. O(objects + slabs). */
KMEM_API void kmem_slab_destroy(struct kmem_slab *s);

/* Fork support, for pthread_atfork (the drop-in malloc registers them):
 * prepare takes every lock of the instance (instance, magazine registry,
 * every cache), so no cache is half-changed at the fork; call it before the
 * page source's prepare. parent releases them. child releases them and
 * treats the threads that did not come along as exited: their magazines go
 * to the depots, so their objects are not lost to the child (their 8 KiB
 * thread blocks stay mapped). An object a thread was popping from its
 * magazine at the instant of the fork may be lost to the child. O(caches +
 * threads). */
KMEM_API void kmem_slab_fork_prepare(struct kmem_slab *s);
KMEM_API void kmem_slab_fork_parent(struct kmem_slab *s);
KMEM_API void kmem_slab_fork_child(struct kmem_slab *s);

/* Cache flags. */
#define KMEM_CACHE_NOCOLOUR 0x1u /* every slab starts its objects at the same offset */
#define KMEM_CACHE_NOMAGAZINE 0x2u /* no per-thread magazines: every call takes the cache
				    * lock, frees are checked, allocation follows the
				    * slab policy exactly */
/* Debug flags (Linux SLUB's red_zone, poison, store_user). Any of them turns
 * magazines off for the cache, so every free is checked at once. They apply
 * to slab objects; direct (large) objects are whole page-source blocks.
 * Builds with -Dslab_debug=disabled (the freestanding default) compile them
 * out: a cache or instance asking for one is refused. */
#define KMEM_CACHE_REDZONE 0x10u /* 16 guard bytes (0xcc) before and at least 16 after each
				  * object (and, for kmalloc, the bytes past the size
				  * asked for), checked on free and by kmem_cache_check:
				  * KMEM_REDZONE, the zone repaired, the free done */
#define KMEM_CACHE_POISON 0x20u /* free objects filled with 0x6b, checked when the
				 * object is allocated again and by kmem_cache_check:
				 * KMEM_USE_AFTER_FREE, then the poison restored.
				 * Ignored for caches with a constructor (their
				 * free objects keep constructed state) */
#define KMEM_CACHE_STORE_USER 0x40u /* record the return address of each object's last
				     * alloc and free; reports name them */
#define KMEM_CACHE_DEBUG (KMEM_CACHE_REDZONE | KMEM_CACHE_POISON | KMEM_CACHE_STORE_USER)

/* Create a cache of objects of `size` bytes aligned to `align` (a power of
 * two; 0: 8, the natural word alignment). ctor/dtor may be NULL; arg is
 * passed to both. The name is copied (up to 31 chars).
 * The instance's debug_flags are added to flags.
 * Returns the cache, or NULL if size is 0 or above what the page source
 * can hold, align is not a power of two or above the source's largest
 * block, flags are unknown, a debug flag in a build without debug caches
 * (-Dslab_debug), or no memory for the cache itself.
 * O(log2(KMEM_SLAB_MAX_BYTES)) plus one object allocation. */
KMEM_API struct kmem_cache *kmem_cache_create(struct kmem_slab *s, const char *name, size_t size,
					      size_t align, unsigned flags,
					      void (*ctor)(void *obj, void *arg),
					      void (*dtor)(void *obj, void *arg), void *arg);

/* Destroy a cache. Every free object (in its slab, the depot or any
 * thread's magazine) is destructed: the destructor runs once for
 * each as its slab goes back to the page source. Objects still allocated
 * are leaks: each is reported as KMEM_LEAK (up to 16 reports, then one
 * summary) and the destructor does NOT run for them: it is for constructed
 * objects (Bonwick 1994), and a live object's state is the caller's, which
 * may already have released what the destructor would release (Solaris
 * and Linux refuse to destroy a non-empty cache instead). A slab cache's
 * leaked objects go back to the page source with their slab; a direct
 * (large-object) cache's leaked blocks stay allocated in the page source
 * (one report). NULL is a no-op. O(objects + slabs). */
KMEM_API void kmem_cache_destroy(struct kmem_cache *c);

/* Allocate one object, constructed (if the cache has a constructor) or as
 * it was freed. Returns NULL when the page source has no memory. O(1): a
 * pop from the thread's magazine; on a miss, a depot exchange or a refill
 * of at most R = max(M / 2, 1) objects from the slabs (30 by default); a
 * new slab costs its page allocation and one constructor call per object
 * (steps: "Bounded time" at the top of this file). */
KMEM_API KMEM_MALLOC_LIKE void *kmem_cache_alloc(struct kmem_cache *c);

/* Free an object of this cache. NULL is a no-op. O(1): a push onto the
 * thread's magazine; on a miss, an exchange or a flush of one magazine (at
 * most M objects, at most M slabs released: "Bounded time" at the top of
 * this file). Without magazines (debug flags, NOMAGAZINE, no slot)
 * misuse is reported and changes nothing, as kmem_cache_free_checked();
 * with magazines it is detected later (see the top of this file). */
KMEM_API void kmem_cache_free(struct kmem_cache *c, void *obj);

/* Checked free, straight to the object's slab (never a magazine).
 * Returns KMEM_OK (also for NULL), or, with nothing changed:
 *   KMEM_DOUBLE_FREE      the object is already free (in its slab, in the
 *                         calling thread's magazines or in the depot; an
 *                         object in another thread's magazine is missed);
 *   KMEM_FOREIGN_POINTER  not in any slab or object of this instance;
 *   KMEM_WRONG_CACHE      an object of another cache;
 *   KMEM_INTERIOR_POINTER inside an object (or slab header), not its start.
 * Every status but KMEM_OK is also reported. O((2 + D) * M) for the
 * search of the magazines (D the depot limit, M the magazine size; O(1)
 * without magazines), plus at most one slab released. */
KMEM_API enum kmem_status kmem_cache_free_checked(struct kmem_cache *c, void *obj);

/* Allocate n objects into objs[]; returns how many were allocated (fewer
 * than n only when memory ran out). Takes the cache lock once per slab
 * rather than once per object. O(n): at most n slabs visited, ceil(n /
 * objects per slab) made. */
KMEM_API size_t kmem_cache_alloc_bulk(struct kmem_cache *c, size_t n, void **objs);

/* Free n objects, each as kmem_cache_free_checked(). O(n). */
KMEM_API void kmem_cache_free_bulk(struct kmem_cache *c, size_t n, void **objs);

/* Give back everything idle: the calling thread's magazines of this cache
 * and every depot magazine are flushed to the slabs, then every empty slab
 * returns to the page source (running destructors). Other threads'
 * magazines stay (they go back when those threads exit). Returns the number
 * of frames released. O(magazines * rounds + empty slabs * objects). */
KMEM_API size_t kmem_cache_shrink(struct kmem_cache *c);

/* Working-set reclaim (Bonwick's reap): free the depot magazines that were
 * not needed since the previous reap (the fewest full and empty magazines
 * the depot held in that interval), then every empty slab. Returns frames
 * released. Meant to be called periodically (the reaper does). */
KMEM_API size_t kmem_cache_reap(struct kmem_cache *c);

/* kmem_cache_shrink / kmem_cache_reap on every cache of the instance, then
 * the instance's own magazine and cache-descriptor caches; frames released.
 * They are kmem_slab_shrink_scan() with no frame target at the OOM and the
 * BACKGROUND level. Thread-safe; O(caches + what each cache call costs). */
KMEM_API size_t kmem_slab_shrink(struct kmem_slab *s);
KMEM_API size_t kmem_slab_reap(struct kmem_slab *s);

/* The slab instance as a shrinker (what the frame service registers).
 * kmem_slab_shrink_count: frames a full shrink would likely release now:
 * empty slabs, plus the depot's objects rounded down to whole frames (an
 * estimate: those frames come back only where whole slabs empty). O(caches).
 * kmem_slab_shrink_scan: release about req->frames frames, least disruptive
 * first, newest cache first:
 *   BACKGROUND  kmem_cache_reap on each cache until enough was released;
 *   DIRECT      reap every cache, then kmem_cache_shrink caches until enough;
 *   OOM         kmem_cache_shrink every cache, and the internal caches.
 * (BACKGROUND and DIRECT also release the internal caches' empty slabs.)
 * Returns the frames released (may exceed req->frames, or fall short).
 * Thread-safe (other threads' magazines are left alone); both wait for the
 * instance lock. The shrinker the instance registers with its page source
 * runs the same with a try-lock instead, and reports 0 for an instance
 * whose lock is busy (its caller holds the frame service's shrink lock,
 * which a fork takes after this instance's: waiting could deadlock). */
KMEM_API size_t kmem_slab_shrink_count(struct kmem_slab *s);
KMEM_API size_t kmem_slab_shrink_scan(struct kmem_slab *s, const struct kmem_shrink_request *req);

/* The instance's idle call (its shrinker's `idle`, kmem/page_source.h;
 * decision 36): on every cache, the depot magazines the depot did not need
 * since the previous call are flushed to the slabs (kmem_cache_reap's
 * working set), then the empty slabs none of which was taken since the
 * previous call (the fewest the cache held in that interval, the kept ones
 * too, least recently emptied first) go back to the page source. Called
 * periodically (the frame service's reaper: every quarter of the decay
 * time), a program that goes idle returns what its caches hold within
 * three calls; one that reuses its magazines and empty slabs within a
 * period keeps them. Returns frames released (0 without waiting when
 * another thread holds the instance lock: a cache being created or
 * destroyed, a fork, a shrink). Thread-safe (other threads' loaded
 * magazines stay); O(caches + what each cache gives back). In a
 * freestanding build the shrinker has no idle call (an image that does
 * not want it does not link it): firmware calls this from its idle loop
 * where it wants it. */
KMEM_API size_t kmem_slab_idle(struct kmem_slab *s);

struct kmem_cache_stats {
	const char *name;	/* valid while the cache lives */
	size_t object_size;	/* as requested */
	size_t align;
	size_t stride;		/* bytes between objects in a slab */
	unsigned objs_per_slab;	/* 1 for direct (large) caches */
	unsigned slab_order;	/* frames per slab = 2^slab_order */
	size_t frames_per_slab;
	size_t waste_per_slab;	/* bytes of a slab that hold no object (header included) */
	unsigned colours;	/* distinct colour offsets cycled through */
	int direct;		/* objects go straight to the page source */
	size_t active_objs;	/* allocated */
	size_t total_objs;	/* in all slabs */
	size_t active_slabs;	/* slabs with at least one allocated object */
	size_t total_slabs;
	uint64_t allocs, frees;	/* objects taken from / returned to slabs (slow path) */
	uint64_t slabs_created, slabs_released;
	uint64_t alloc_fails;
	/* magazines (all 0 for a cache without them) */
	unsigned mag_size;	/* rounds per magazine */
	uint64_t mag_allocs, mag_frees;	/* served by a thread's magazine (fast path);
					 * a thread's count is folded in at its next
					 * slow path or exit; not counted in the
					 * drop-in malloc's own instance */
	uint64_t depot_gets, depot_puts; /* magazine exchanges with the depot */
	uint64_t mag_flushes;	/* magazines emptied into the slabs */
	size_t depot_full, depot_empty;	/* magazines in the depot now */
	size_t depot_objs;	/* objects in the depot's full magazines */
	unsigned depot_limit;	/* full magazines the depot keeps (KMEM_DEPOT_AUTO: no limit) */
	int mag_auto;		/* the magazine size tunes itself (KMEM_MAG_SIZE_AUTO) */
	uint64_t depot_contended;	/* depot lock takes that found it held */
	uint64_t mag_resizes;	/* self-tuning: times the magazine size grew */
	uint64_t depot_reaps;	/* KMEM_DEPOT_AUTO: working-set reaps run by the slow paths */
	unsigned flags;		/* as created, plus the instance's debug flags (and
				 * KMEM_CACHE_NOCOLOUR with its no_colour) */
};

/* Snapshot one cache's counters. O(1). */
KMEM_API void kmem_cache_get_stats(struct kmem_cache *c, struct kmem_cache_stats *st);

/* Call fn(arg, st) with the snapshot (kmem_cache_get_stats) of every cache
 * of the instance that holds callers' objects: the kmem_cache_create'd
 * caches and the kmalloc classes, in creation order (not the instance's own
 * magazine and cache-descriptor caches). fn runs with the instance lock
 * held: it must not create or destroy caches of s. Returns the number of
 * caches visited. Thread-safe; O(caches + depot magazines). */
KMEM_API size_t kmem_slab_walk_stats(struct kmem_slab *s,
				     void (*fn)(void *arg, const struct kmem_cache_stats *st),
				     void *arg);

/* Full invariant walk of one cache: every slab's header, lists and bucket
 * placement; every object exactly one of free in its slab, in one magazine
 * (depot or any thread's) or allocated; counters equal to what the walk
 * finds; with debug flags, every red zone intact and every free object's
 * poison intact. Returns 0, or reports the first violation (KMEM_CORRUPTION,
 * KMEM_REDZONE or KMEM_USE_AFTER_FREE) and returns -EFAULT.
 * Call it at quiescence: no other thread may use the cache meanwhile (it
 * reads other threads' magazines). O(slabs * objects per slab + magazines). */
KMEM_API KMEM_MUST_CHECK int kmem_cache_check(struct kmem_cache *c);
/* kmem_cache_check() on every cache of the instance (the kmalloc caches
 * too); returns 0 or the first failure's code (each failure is reported).
 * Takes the instance lock. O(objects + slabs). */
KMEM_API KMEM_MUST_CHECK int kmem_slab_check(struct kmem_slab *s);

/* /proc/slabinfo version 2.1 text for every cache of the instance (header
 * lines included), snprintf-style: writes at most len bytes including the
 * NUL, returns the length the whole text needs. O(caches). */
KMEM_API int kmem_slab_format_slabinfo(struct kmem_slab *s, char *buf, size_t len);

/* The instance's error sink. */
KMEM_API struct kmem_error_sink *kmem_slab_error_sink(struct kmem_slab *s);

/* ---- kmalloc: general-purpose allocation --------------------------------------
 *
 * Size classes are configuration of the instance (kmem_slab_config
 * .kmalloc_classes), one cache each, created with the instance (slabs come
 * on first use) and named kmalloc-<size> (kmalloc-<n>k for multiples of
 * 1 KiB from 1 KiB):
 *   KMEM_KMALLOC_LINUX    (the default) Linux's 13: 8, 16, 32, 64, 96, 128,
 *                         192, 256, 512, 1024, 2048, 4096 and 8192 bytes;
 *                         rounding wastes up to 50%. 96 is aligned to 32,
 *                         192 to 64.
 *   KMEM_KMALLOC_QUARTER  four per doubling, as jemalloc: 16, 32, 48, 64,
 *                         80, 96, 112, 128, 160, 192, 224, 256, 320, ...,
 *                         7168, 8192 (32 classes); rounding wastes at most
 *                         25%. Classes that are not powers of two are
 *                         aligned to 16 (what the drop-in malloc uses).
 *   KMEM_KMALLOC_FINE     the quarter table plus a class an eighth above
 *                         each power of two from 1 KiB (1152, 2304, 4608,
 *                         9216: a power-of-two payload with a header, which
 *                         the quarter table rounds up by a quarter) and 10,
 *                         12 and 14 KiB (39 classes, 16 .. 14336; what the
 *                         drop-in malloc uses; decision 39). In builds
 *                         without classes over 8 KiB (-Dkmalloc_big, off
 *                         when freestanding) it is the quarter table.
 *   KMEM_KMALLOC_TABLE    the caller's: class_sizes[0 .. nr_classes), strictly
 *                         ascending multiples of 8, at most
 *                         KMEM_KMALLOC_MAX_CLASS bytes (8192 in builds
 *                         without -Dkmalloc_big), at most 8 of them over
 *                         8192, 1 to KMEM_KMALLOC_TABLE_MAX of them (else
 *                         kmem_slab_init fails with -EINVAL). A class that
 *                         is not a power of two is aligned to 16 if it is a
 *                         multiple of 16, else to 8. Sizes up to 8192 find
 *                         their class in one table load; larger ones by a
 *                         scan of the classes over 8192, off the fast path.
 * In every table a power-of-two class is naturally aligned (an object of
 * class n is aligned to n), so aligned requests pick the smallest
 * power-of-two class that holds them. Classes larger than the page source's
 * largest block are left out. Each class takes a magazine slot (see the top
 * of this file). Requests larger than the largest class get a page-source
 * block of the smallest order that holds them (caches kmalloc-16k,
 * kmalloc-32k, ... for 4 KiB frames; naturally aligned to their size).
 * Every object maps to its class through the page source's owner word, in
 * O(1), with no header before it. */
#define KMEM_KMALLOC_MAX_CLASS 16384u	/* the largest class size of any table */
#define KMEM_KMALLOC_TABLE_MAX 64u	/* classes in a KMEM_KMALLOC_TABLE at most */
#define KMEM_KMALLOC_LINUX 0u
#define KMEM_KMALLOC_QUARTER 1u
#define KMEM_KMALLOC_TABLE 2u
#define KMEM_KMALLOC_FINE 3u

/* Allocate at least size bytes from the smallest class that holds them,
 * aligned to 8 (to the class's alignment, see above). Returns NULL for size
 * 0, a size larger than the page source's largest block, or no memory. O(1)
 * (kmem_cache_alloc). */
KMEM_API KMEM_MALLOC_LIKE void *kmem_alloc(struct kmem_slab *s, size_t size);

/* kmem_alloc, then the first size bytes set to zero. */
KMEM_API KMEM_MALLOC_LIKE void *kmem_zalloc(struct kmem_slab *s, size_t size);

/* Allocate at least size bytes aligned to align (a power of two). Returns
 * NULL as kmem_alloc, and for an align that is not a power of two or larger
 * than the page source's largest block. */
KMEM_API KMEM_MALLOC_LIKE void *kmem_alloc_aligned(struct kmem_slab *s, size_t size, size_t align);

/* Free a kmem_alloc'ed object. NULL is a no-op; misuse is reported and
 * changes nothing (see kmem_free_checked). A double free is detected while
 * the object is free, whichever thread freed it first (the free mark, see
 * the top of this file and kmem_slab_config.free_mark); a live object whose
 * first word the program set to the mark (only by copying a freed object's
 * memory) is taken for a free one: reported, not freed. O(1). Thread-safe. */
KMEM_API void kmem_free(struct kmem_slab *s, void *p);

/* Checked kmem_free: KMEM_OK, or KMEM_FOREIGN_POINTER (not from kmalloc of
 * this instance, or a large block freed already), KMEM_WRONG_CACHE (an
 * object of a kmem_cache_create'd cache), KMEM_INTERIOR_POINTER or
 * KMEM_DOUBLE_FREE, each with nothing changed. */
KMEM_API enum kmem_status kmem_free_checked(struct kmem_slab *s, void *p);

/* Resize: p NULL acts as kmem_alloc(size); size 0 frees p and returns NULL.
 * Keeps p when size still fits its class and is more than half of it;
 * otherwise allocates, copies min(old usable size, size) bytes and frees p.
 * On failure returns NULL and p is unchanged (still allocated). */
KMEM_API void *kmem_realloc(struct kmem_slab *s, void *p, size_t size);

/* Bytes usable at p (its class size, or its block size for large objects;
 * with KMEM_CACHE_REDZONE, the size asked for, since the rest is red zone);
 * 0 for NULL or a pointer that is not the start of a live kmalloc object
 * (reported). O(1). */
KMEM_API size_t kmem_usable_size(struct kmem_slab *s, const void *p);

/* ---- kmalloc for wrappers: the caller passed down ------------------------------
 *
 * kmem_alloc and friends record their own return address as the caller
 * (KMEM_CACHE_STORE_USER's "last allocated by", "freed by", and the
 * [caller] of every report). A wrapper whose callers are the ones that
 * matter (the drop-in malloc: the program's call of malloc, not the
 * drop-in's call of kmem_alloc) passes its own caller's address with these,
 * in the spirit of Linux's kmalloc_track_caller. caller is only recorded
 * and printed, never dereferenced; NULL is allowed (printed as such). Each
 * behaves exactly as the call it is named after otherwise: same results,
 * failures, complexity and thread safety. */

/* kmem_alloc, with caller recorded for the allocation. */
KMEM_API KMEM_MALLOC_LIKE void *kmem_alloc_track_caller(struct kmem_slab *s, size_t size,
							 const void *caller);

/* kmem_alloc_aligned, with caller recorded. With KMEM_CACHE_REDZONE the
 * red zone starts at size (not at the class or alignment the request was
 * rounded to), so kmem_usable_size reports size; kmem_alloc_aligned does
 * the same. */
KMEM_API KMEM_MALLOC_LIKE void *kmem_alloc_aligned_track_caller(struct kmem_slab *s, size_t size,
								 size_t align, const void *caller);

/* kmem_free, with caller recorded for the free and named in its reports. */
KMEM_API void kmem_free_track_caller(struct kmem_slab *s, void *p, const void *caller);

/* kmem_usable_size, with caller named in its report (a pointer that is not
 * a live kmalloc object). */
KMEM_API size_t kmem_usable_size_track_caller(struct kmem_slab *s, const void *p, const void *caller);

/* Check live kmalloc object p now, as kmem_free would, without freeing it:
 * in a cache with KMEM_CACHE_REDZONE its red zones (from the size asked
 * for) and caller records, and those of the objects on either side. A
 * damaged zone is reported (KMEM_REDZONE, naming caller) and repaired, so
 * it is reported once. Returns KMEM_OK (intact, or a cache without red
 * zones: nothing to check), KMEM_REDZONE (reported), or the status of a p
 * that is not a live kmalloc object (reported, as kmem_usable_size).
 * For a wrapper that holds freed blocks back before freeing them (the
 * drop-in's quarantine): the damage is found when the program frees, not
 * when the block is finally given back. O(object size); takes the cache
 * lock. Thread-safe. */
KMEM_API enum kmem_status kmem_check_object_track_caller(struct kmem_slab *s, void *p, const void *caller);

KMEM_END_DECLS

#endif /* KMEM_SLAB_H */
