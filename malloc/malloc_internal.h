/* malloc_internal.h - the drop-in malloc's private header: the heap
 * structure, its constants, the inline helpers every file uses, and the
 * prototypes shared between its files, grouped by the file that defines
 * them. Only malloc/ includes it.
 *
 * The drop-in: the C allocation API on kmem's layers, for LD_PRELOAD
 * (libkmem-malloc.so) or static linking (libkmem-malloc.a).
 *
 * Algorithm:
 *   1. One process-wide heap (the only global instance in kmem), made on the
 *      first call: a range of address space (the arena, 64 GiB by default)
 *      placed where nothing is mapped and nothing mapped yet
 *      (kmem_pages_place; reserved with kmem_pages_reserve where no range
 *      can be placed: decision 17), a buddy allocator over it with one
 *      owner table for the whole arena (its pages mapped as the arena
 *      grows: km.top, km.frames), a frame service (pagealloc) in front, and a
 *      slab instance on the frame service for kmalloc's size classes,
 *      assembled by kmem_stack_init (heap.c).
 *   2. Sizes up to 14 KiB: kmem_alloc on the slab instance, configured
 *      with the fine classes (KMEM_KMALLOC_FINE: four per doubling, one an
 *      eighth above each power of two from 1 KiB, and 10 to 14 KiB:
 *      16..14336, decision 39; per-thread magazines); malloc and free inline
 *      its fast paths (kmem_slab_fast.h), which serve sizes up to 8 KiB
 *      (malloc's; free's serves every class). 14 KiB < size <= 4 MiB
 *      (8 KiB without -Dkmalloc_big): a block of 2^k frames
 *      from the frame service (per-thread frame caches for k <= 3), its
 *      first frame's owner word a tag holding its frame count (pages.c).
 *      Larger: the huge path (huge.c): a range of address space carved
 *      best-fit from freed ones kept (the huge cache), else its own
 *      mapping, remembered in a hash table; realloc moves it with
 *      kmem_pages_remap (mremap). Decision 38: a power-of-two block of 5
 *      to 25 MiB wastes up to half its size and needs a free block of its
 *      alignment.
 *   3. free(p): the owner word of p's frame (one load, from the buddy's
 *      owner table: the page source's direct lookup) says page block (a
 *      tag), slab object (a pointer) or nothing; outside the arena, the huge table decides
 *      (malloc.c).
 *   4. Growth: when the frame service runs short it calls grow(), which
 *      maps the next piece of the arena and its owner words
 *      (kmem_pages_map_at; kmem_pages_commit when reserved) and adds it as
 *      fresh memory (kmem_pa_add_region, KMEM_PA_REGION_ZERO: 64 MiB, or a
 *      quarter of what is in use, up to 4 GiB: the whole 64 GiB in 35 of
 *      the buddy's 64 regions). Under an address-space limit (RLIMIT_AS,
 *      re-read as the heap grows) the piece is added unmapped
 *      (KMEM_PA_REGION_UNMAPPED, at most the limit) and the frame service
 *      maps each block as it hands it out (the as_map hook). Growth comes
 *      before reclaim (pages.c).
 *   5. Memory back to the OS: the frame service's release step
 *      (KMEM_PA_RELEASE on a decay curve, KMEM_DECAY_MS, 10 s by default:
 *      decision 29) keeps freed memory resident for reuse and gives what
 *      is not reused back gradually, in blocks of 64 KiB and more, holding
 *      them in its released pool; they read zero, so calloc's zeroed
 *      requests take them without a memset. The reaper thread runs it
 *      (started by the first free that leaves memory to decay; so an idle
 *      program returns its memory), or with KMEM_REAPER=0 the freeing
 *      thread, a few blocks per free. Freed huge blocks are kept for
 *      reuse within the decay time too (huge.c, at most 32 ranges and
 *      256 MiB). Under an address-space limit (placed arena: the as_tight
 *      and as_unmap hooks) it keeps only `high` free frames and unmaps the
 *      blocks it releases, so they stop counting against the limit; they
 *      are mapped again before reuse. The drop-in keeps no frame state of
 *      its own.
 * Bounds: malloc/free O(1) plus the layer below (kmem_alloc's fast path is a
 * magazine pop); realloc O(size); the huge path O(1) expected (hash).
 *
 * Files:
 *   malloc.c  the C API (malloc, free, calloc, realloc, the aligned calls,
 *             malloc_usable_size) with the inlined fast paths, and the size
 *             dispatch to slab, page blocks and huge mappings
 *   heap.c    heap set-up: environment (KMEM_*), arena placement, the
 *             layers' configuration, lazy init, the bootstrap arena, error
 *             reports, fork handlers
 *   pages.c   the page path: page blocks, the frame service's grow hook
 *             and address-space hooks, trim, kmem_malloc_trim
 *   huge.c    huge blocks: one mapping each, in a hash table
 *   trace.c   KMEM_TRACE: per-thread record buffers and the trace file
 *   stats.c   checks and statistics (kmem/malloc.h extras, KMEM_STATS and
 *             KMEM_CHECK at exit, glibc's mallinfo, mallinfo2, malloc_stats
 *             and malloc_info)
 *
 * Behaviour where C libraries differ (README "Drop-in malloc"): 16-byte
 * alignment for every block; malloc(0) returns a unique 16-byte block;
 * realloc(p, 0) frees p and returns NULL; sizes over PTRDIFF_MAX fail with
 * ENOMEM; memalign, valloc and pvalloc as glibc 2.36 (an alignment that is
 * not a power of two is rounded up), aligned_alloc as glibc 2.38 (EINVAL for
 * one that is not), posix_memalign EINVAL; free preserves errno; a pointer
 * kmem did not hand out is reported (one line on stderr) and ignored
 * (KMEM_ERROR=abort: abort).
 *
 * Symbols: every function shared between the files is hidden and named
 * kmem_km_* (libkmem-malloc.a hands hidden symbols to the static link,
 * where only kmem_ names are safe); the heap itself is kmem_km, spelt km.
 *
 * Locking (order): slab locks, grow lock, pagealloc locks, huge lock,
 * buddy lock; the trace lock is a leaf (docs/locking.md). The fork handlers
 * (heap.c) take them all in that order.
 */
#ifndef KMEM_MALLOC_INTERNAL_H
#define KMEM_MALLOC_INTERNAL_H

#include <kmem/buddy.h>
#include <kmem/malloc.h>
#include <kmem/pagealloc.h>
#include <kmem/slab.h>
#include <kmem/stack.h>
#include <kmem/trace.h>

#include "kmem_annot.h"
#include "kmem_fmt.h"
#include "kmem_port.h"
#include "kmem_slab_fast.h" /* slab's inline kmalloc fast paths (slab/fast) */

#include <stdbool.h>
#include <stdint.h>

#define KM_EXPORT __attribute__((visibility("default")))
#define KM_FRAME_SHIFT 12u
#define KM_FRAME ((size_t)1 << KM_FRAME_SHIFT)
#define KM_MAX_ORDER 13u			/* 32 MiB blocks */
#define KM_BLOCK_MAX (KM_FRAME << KM_MAX_ORDER)
#define KM_PAGE_MAX_ORDER 10u			/* page blocks up to 4 MiB; larger: huge (decision 38) */
#define KM_PAGE_MAX (KM_FRAME << KM_PAGE_MAX_ORDER)
#define KM_SMALL_MAX ((size_t)KMEM_KMALLOC_FAST_MAX)	/* the fast paths' classes */
/* kmalloc's largest class (the fine table's with -Dkmalloc_big, else the
 * quarter table's): sizes up to it are slab objects, larger ones blocks */
#define KM_CLASS_MAX ((size_t)(KMEM_KMALLOC_BIG ? 14336 : 8192))
#define KM_ALIGN 16u
#define KM_REGION_MIN ((size_t)64 << 20)
#define KM_REGION_MAX ((size_t)4 << 30)	/* 64 GiB in 35 regions (buddy: 64 at most) */
#define KM_REGION_FIRST_TIGHT ((size_t)4 << 20)	/* the least first region under an address-space limit */
#define KM_AS_RECHECK_NS 10000000u		/* RLIMIT_AS read again after 10 ms */
#define KM_ARENA_DEFAULT ((size_t)64 << 30)
#define KM_ARENA_MIN ((size_t)64 << 20)
#define KM_BOOT_BYTES ((size_t)256 << 10)
#define KM_TRACE_BATCH 204u			/* records per thread buffer (8 KiB) */
#define KM_REPORT_FD_MIN 512			/* reports' descriptor: stderr's duplicate, this high */
#define KM_Q_CAP 8192u				/* the quarantine's ring: blocks at most */
#define KM_Q_DEFAULT ((size_t)16 << 20)		/* its byte budget (KMEM_QUARANTINE) */
#define KM_Q_GUARDED_MAX ((size_t)1 << 30)	/* guarded blocks held: their address space at most */
#define KM_HCACHE_N 32u				/* freed huge ranges kept for reuse, at most */
#define KM_HCACHE_BYTES ((size_t)256 << 20)	/* and their bytes (resident) at most */
#define KM_HUGE_FREED_N 16u			/* freed huge starts remembered, for reports */

/* Page blocks (pages.c): the owner word of a page block's first frame is
 * a tag holding its frame count (km_tag_set below). */
#define KM_EXACT_MIN_ORDER 4u	/* trims below it keep whole powers of two */

struct km_huge {
	uintptr_t addr;	/* 0: empty; 1: deleted */
	size_t len;	/* mapping length (a guarded block: its whole reservation) */
	size_t size;	/* usable bytes from addr */
	uintptr_t base;	/* the mapping's start: addr, or a guarded block's reservation */
	bool retired;	/* a guarded block in the quarantine: not counted as live */
};

/* A block in the quarantine (quarantine.c). */
struct km_qent {
	void *p;
	size_t size;		/* usable bytes (poisoned, for a slab object) */
	size_t charge;		/* against the budget: size, or a guarded block's page */
	const void *by;		/* the program's call that freed it */
	bool guarded;		/* a guarded block (huge.c), else a slab object */
};

struct km_tbuf {
	unsigned n;
	uint16_t tid;
	struct kmem_trace_rec rec[KM_TRACE_BATCH];
	struct km_tbuf *prev, *next;	/* live threads' buffers (trace lock), for exit */
};

struct km_heap {
	int state;		/* 0 none, 1 initialising, 2 ready, -1 failed (atomic) */
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	struct kmem_slab *s;
	struct kmem_error_sink sink;
	uintptr_t lo, hi;	/* the arena's range (placed or reserved) */
	uintptr_t top;		/* [lo, top): owner words readable; grows (atomic, grow lock) */
	uintptr_t next;		/* end of the regions added (grow lock) */
	/* (top - lo) / frame: the free fast path's bound; stored with release
	 * under the grow lock, read there with a plain load (one instruction
	 * fewer than an atomic load, which the compiler will not fold into
	 * the compare): a stale value only sends a block of a region just
	 * added to the slow path, which reads km.top atomically */
	size_t frames;
	/* The fast paths' gates (kmem_km_fast_gates; malloc.c): fast_frames is
	 * frames while not tracing, else 0 (free's bound, read as frames is);
	 * fast_cls the slab instance's size -> magazine slot table while the
	 * heap is ready and not tracing, else a table of zeros (slot 0: the
	 * null magazine, so malloc's pop misses), read with a relaxed load:
	 * its entries are reached through its address (a dependent load) */
	size_t fast_frames;
	const uint32_t *fast_cls;
	void **owner;		/* owner table, one word per arena frame from lo */
	bool placed;		/* the range is placed, not reserved (decision 17) */
	size_t first_region;	/* its size when set-up ran under a limit, else 0 */
	size_t as_limit;	/* RLIMIT_AS as last read (atomic) */
	uint64_t as_read_ns;	/* when (atomic) */
	struct kmem_lock grow_lock, huge_lock, trace_lock;
	struct km_huge *huge;	/* open addressing, huge_cap slots (huge lock) */
	size_t huge_cap, huge_n, huge_used;
	size_t huge_bytes;	/* mapped by live huge blocks (huge lock) */
	size_t huge_max_n, huge_max_bytes;	/* their peaks (huge lock) */
	/* the starts of the last KM_HUGE_FREED_N huge blocks freed (a ring;
	 * huge lock): a second free of one is reported as a double free, not
	 * as a pointer this heap never returned */
	uintptr_t huge_freed[KM_HUGE_FREED_N];
	unsigned huge_freed_i;
	/* freed huge ranges kept for reuse within the decay time (huge.c;
	 * huge lock): by address, best fit, neighbours of a kind joined */
	struct km_hcache {
		uintptr_t addr;
		size_t len;
		uint64_t freed_ns;
		uint64_t seq;	/* put order (the clock may not tell puts apart) */
		bool sealed;	/* PROT_NONE (freed blocks over KM_BLOCK_MAX) */
	} hcache[KM_HCACHE_N];
	uint64_t hcache_seq;
	unsigned hcache_n;
	size_t hcache_bytes;
	uint64_t hcache_hits;
	/* the huge cache aged by the frame service's reaper too (its idle
	 * call, decision 36): registered once the heap is set up */
	struct kmem_shrinker hcache_shrinker;
	/* the hardened mode's quarantine (quarantine.c; q_budget 0: none) */
	struct kmem_lock q_lock;
	struct km_qent *q_ring;	/* q_cap entries, q_n from q_head (quarantine lock) */
	size_t q_cap, q_head, q_n, q_bytes, q_budget;
	size_t q_guarded;	/* bytes of guarded blocks held (address space only) */
	size_t q_guarded_n;	/* how many */
	size_t q_sweep;		/* kmem_km_q_sweep's cursor: an offset from q_head (quarantine lock) */
	uint64_t q_total;	/* blocks that entered (quarantine lock) */
	void **q_set;		/* the pointers in the ring, open addressing (quarantine lock) */
	size_t q_set_cap;
	/* configuration */
	bool reaper, quiet, abort_on_error, check_at_exit, verbose;
	bool harden;	/* hardened mode (decision 23): KMEM_HARDEN, or the build's default */
	/* reports, warnings: stderr (2), or with exit output asked for
	 * (KMEM_STATS, KMEM_CHECK) stderr duplicated at start-up, written only
	 * while it is still that file (report_dev, report_ino: kmem_km_out_fd) */
	int report_fd;
	uint64_t report_dev, report_ino;
	unsigned debug;
	unsigned stats;	/* 1 slabinfo, 2 buddyinfo, 4 vmstat, 8 zoneinfo, 16 heap, 32 magazines */
	int stats_fd;	/* report_fd, or KMEM_STATS_FILE's (stats_dev, stats_ino) */
	uint64_t stats_dev, stats_ino;
	int trace_fd;
	char trace_path[256];	/* KMEM_TRACE, "%p": the pid */
	bool trace_on;
	bool trace_children;	/* no %p: fork children write trace_path.PID */
	uint64_t trace_seq;
	unsigned trace_tids;
	struct km_tbuf *tbufs;
	size_t high;	/* frames */
	long decay_ms;	/* KMEM_DECAY_MS: the release step's decay time (-1 never, 0 at once) */
	unsigned mag_size, depot_limit;	/* KMEM_MAG_SIZE, KMEM_DEPOT_LIMIT (kmem_slab_config) */
	/* bootstrap arena for calls made while the heap is being set up:
	 * kmem_km_boot's bytes used (trace lock) */
	size_t boot_used;
};

/* The heap (defined in heap.c). Every file says km. */
extern KMEM_HIDDEN struct km_heap kmem_km;
#define km kmem_km
/* The bootstrap arena (heap.c): zero-initialised, so in .bss, apart from
 * the heap's initialised fields (.data): a program that never needs it
 * pays nothing for it, where in .data its file pages were mapped around
 * the heap's first touch (decision 35). */
extern KMEM_HIDDEN unsigned char kmem_km_boot[KM_BOOT_BYTES];

/* ---- defined in heap.c --------------------------------------------------------- */
/* write(2) all of buf, retrying on EINTR; gives up on an error. */
KMEM_HIDDEN void kmem_km_write_all(int fd, const void *buf, size_t len);
/* The descriptor to write to now for fd, a descriptor the heap opened
 * (its file's st_dev and st_ino when opened): fd while it still is that
 * file; else 2 (the program closed it, as closefrom() does, and may have
 * opened something else under its number: our lines must not go there).
 * fd 0..2 is returned as it is. One fstat(2) for fd > 2. */
KMEM_HIDDEN int kmem_km_out_fd(int fd, uint64_t dev, uint64_t ino);
/* Report a misuse of p to the heap's error sink; caller: the program's
 * return address at the entry point (named in the report), or NULL. */
KMEM_HIDDEN void kmem_km_misuse(enum kmem_status st, const void *p, const char *what,
				const void *caller);
/* Set the heap up (once; other callers wait); false if it failed or the
 * caller is the set-up itself (then: the bootstrap arena). */
KMEM_HIDDEN KMEM_NOINLINE bool kmem_km_init_slow(void);
/* A block of the bootstrap arena (never freed), or NULL when it is full. */
KMEM_HIDDEN void *kmem_km_boot_alloc(size_t size, size_t align);
/* The size a bootstrap block was asked for. */
KMEM_HIDDEN size_t kmem_km_boot_size(const void *p);

/* ---- defined in malloc.c ------------------------------------------------------- */
/* Recompute the fast paths' gates (km.fast_frames, km.fast_cls) from
 * km.state, km.trace_on and km.frames: after any of them changes (the grow
 * lock held, or one thread). */
KMEM_HIDDEN void kmem_km_fast_gates(void);
/* The closed gate's table: KMEM_KMALLOC_INDEX zeros (km.fast_cls's
 * initial value). */
extern KMEM_HIDDEN const uint32_t kmem_km_no_cls[];

/* ---- defined in pages.c -------------------------------------------------------- */
/* The address-space limit (SIZE_MAX: none), read again if `now` or if the
 * last read is KM_AS_RECHECK_NS old. Any thread. */
KMEM_HIDDEN size_t kmem_km_as_limit(bool now);
/* The frame service's address-space hooks (placed arena only). */
KMEM_HIDDEN int kmem_km_as_tight(void *arg);
KMEM_HIDDEN int kmem_km_as_unmap(void *arg, void *block, size_t bytes);
KMEM_HIDDEN int kmem_km_as_map(void *arg, void *block, size_t bytes);
/* The frame service's grow hook (pa NULL: the first region, before it
 * exists). */
KMEM_HIDDEN size_t kmem_km_grow(void *arg, struct kmem_pagealloc *pa, size_t frames);
/* A page block of 2^order frames (zeroed if zero), or NULL. */
KMEM_HIDDEN void *kmem_km_page_alloc(unsigned order, bool zero);
/* Free the pieces of a page block of `frames` frames (its tag cleared). */
KMEM_HIDDEN void kmem_km_page_free(void *p, size_t frames);
/* Shrink a live page block of `frames` frames in place to nf < frames. */
KMEM_HIDDEN void kmem_km_page_shrink(void *p, size_t frames, size_t nf);

/* ---- defined in huge.c --------------------------------------------------------- */
/* A huge block of size bytes aligned to align (0: a frame): a mapping
 * freed within the decay time that fits (zeroed if zero), else a fresh
 * one (reads zero). NULL if there is no memory. */
KMEM_HIDDEN void *kmem_km_huge_alloc(size_t size, size_t align, bool zero);
/* Unmap every cached huge mapping (malloc_trim); the bytes. */
KMEM_HIDDEN size_t kmem_km_huge_cache_flush(void);
/* The huge cache as a shrinker of the frame service (decision 36): its idle
 * call ages the cache (entries freed a decay time ago are unmapped), so an
 * idle program returns them; count and scan give nothing (the mappings are
 * not the frame service's frames). Registered by km_setup. */
KMEM_HIDDEN void kmem_km_huge_shrinker_init(void);
/* Free a huge block; false if p is not one. */
KMEM_HIDDEN bool kmem_km_huge_free(void *p);
/* Whether p is the start of one of the last KM_HUGE_FREED_N huge blocks
 * freed and no live huge block starts there (a report's wording). */
KMEM_HIDDEN bool kmem_km_huge_was_freed(const void *p);
/* The usable size of huge block p; 0 if p is not one. */
KMEM_HIDDEN size_t kmem_km_huge_size(const void *p);
/* The live huge block whose mapping holds p (guard pages included): its
 * usable size, its start in *start; 0 if none. O(table size): error
 * paths only. */
KMEM_HIDDEN size_t kmem_km_huge_enclosing(const void *p, uintptr_t *start);
/* Resize a huge block (kmem_pages_remap, or map, copy and unmap where the
 * port cannot remap); NULL if that fails (p still valid). */
KMEM_HIDDEN void *kmem_km_huge_realloc(void *p, size_t size);
/* Hardened mode (decision 23): a block of size bytes (any size past the
 * slab classes) in its own reservation, between PROT_NONE guard pages:
 * aligned to align (a power of two; up to 16: the block ends at the upper
 * guard page, its last bytes up to a multiple of 16 canary bytes), the
 * rest of its committed pages canary bytes. Zero-filled. NULL if there is
 * no memory or address space. Its usable size is size. */
KMEM_HIDDEN void *kmem_km_guard_alloc(size_t size, size_t align);
/* Whether p is a guarded block; if it is, its canary bytes are checked
 * (an overwritten one is reported, KMEM_REDZONE, naming caller) and
 * repaired. */
KMEM_HIDDEN bool kmem_km_guard_verify(const void *p, const void *caller);
/* Quarantine a guarded block: its pages go back to the OS and become
 * inaccessible (a use after free faults), the block stays registered
 * until kmem_km_huge_free, no longer counted in kmem_km_huge_stats. */
KMEM_HIDDEN void kmem_km_guard_retire(void *p);
/* The huge cache's invariants (decision 38): entries page ranges sorted
 * by address, none overlapping, adjacent or holding a live huge block,
 * their bytes counted, within the bounds. 0, or the first broken one
 * reported (KMEM_CORRUPTION) and -EIO. O(entries * table size). */
KMEM_HIDDEN int kmem_km_huge_check(void);
/* Live huge blocks, the bytes they map, and the peaks of both. O(1). */
struct km_huge_stats {
	size_t n, bytes, max_n, max_bytes;
	size_t cached_n, cached_bytes;	/* freed mappings kept for reuse */
	uint64_t cache_hits;		/* huge allocations served from them */
};
KMEM_HIDDEN void kmem_km_huge_stats(struct km_huge_stats *st);

/* ---- defined in quarantine.c --------------------------------------------------- */
/* Set the quarantine up with a byte budget (0: none); false if its ring
 * and set cannot be mapped. Set-up only. */
KMEM_HIDDEN bool kmem_km_q_init(size_t budget);
/* Whether p is in the quarantine (freed, not yet given back). Any thread. */
KMEM_HIDDEN bool kmem_km_q_holds(const void *p);
/* Quarantine live block p (validated by the caller) of size usable bytes;
 * guarded: a guarded block. Blocks over the budget leave (checked and freed
 * with kmem_km_free_now). A p already there (a concurrent double free) is
 * reported. Without a quarantine (budget 0) p is freed at once. */
KMEM_HIDDEN void kmem_km_q_free(void *p, size_t size, bool guarded, const void *caller);
/* Hardened allocations: the poison of the two blocks quarantined last and
 * of one more in turn checked; a write after free reported. O(their size). */
KMEM_HIDDEN void kmem_km_q_sweep(void);
/* Out of memory in the hardened mode: every quarantined block leaves
 * (checked and freed, as at eviction), so what the quarantine held can be
 * reused; false if it held nothing. O(blocks held). Any thread. */
KMEM_HIDDEN bool kmem_km_q_drain(void);
/* Blocks held now, the bytes of the slab objects among them (memory the
 * layers count as in use), and blocks that ever entered. */
KMEM_HIDDEN void kmem_km_q_stats(size_t *n, size_t *slab_bytes, uint64_t *total);
/* fork: take / release the quarantine lock (heap.c's handlers). */
KMEM_HIDDEN void kmem_km_q_fork_prepare(void);
KMEM_HIDDEN void kmem_km_q_fork_release(void);

/* ---- defined in malloc.c ------------------------------------------------------- */
/* Free live block p now (the layers' own checks run), caller: the program's
 * call that freed it. */
KMEM_HIDDEN void kmem_km_free_now(void *p, const void *caller);

/* ---- defined in trace.c -------------------------------------------------------- */
/* Open the trace file (km.trace_path, "%p": the pid) and write its header;
 * -1 if it cannot be opened. */
KMEM_HIDDEN int kmem_km_trace_open(void);
/* One record into the calling thread's buffer (TRACE below). */
KMEM_HIDDEN KMEM_NOINLINE void kmem_km_trace(unsigned op, size_t size, const void *ptr,
					     const void *old, unsigned align_log2, unsigned flags);
/* Flush every thread's buffer (at exit). */
KMEM_HIDDEN void kmem_km_trace_flush_all(void);
/* fork child: its own trace file (KMEM_TRACE with %p) or none. */
KMEM_HIDDEN void kmem_km_trace_fork_child(void);

#define TRACE(op, size, ptr, old, al, fl)                                          \
	do {                                                                       \
		if (KMEM_UNLIKELY(km.trace_on))                                    \
			kmem_km_trace((op), (size), (ptr), (old), (al), (fl));          \
	} while (0)


/* ---- defined in stats.c -------------------------------------------------------- */
/* atexit handler: flush the trace, KMEM_CHECK, KMEM_STATS. */
KMEM_HIDDEN void kmem_km_atexit(void);

/* ---- inline helpers ---------------------------------------------------------------- */

static inline unsigned ceil_log2(size_t x)
{
	return x <= 1 ? 0 : kmem_flsptr(x - 1) + 1;
}

static inline bool in_arena(const void *p)
{
	return (uintptr_t)p - km.lo < kmem_atomic_load_relaxed(&km.top) - km.lo;
}

static inline size_t frame_index(const void *p)
{
	return ((uintptr_t)p - km.lo) >> KM_FRAME_SHIFT;
}

static inline bool km_ready(void)
{
	return KMEM_LIKELY(kmem_atomic_load_acquire(&km.state) == 2) || kmem_km_init_slow();
}

static inline bool in_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)kmem_km_boot < KM_BOOT_BYTES;
}

static inline size_t pages_of(size_t size)
{
	return size ? (size + KM_FRAME - 1) >> KM_FRAME_SHIFT : 1;
}

/* The tag of a page block at blk, allocated to this heap, of `frames`
 * frames: stored in its first frame's owner word, straight into the owner
 * table the heap gave the buddy (cfg.buddy.owner_table), the word
 * kmem_buddy_set_tag finds, without that call's region lookup and checks
 * (blk is a frame-aligned block of the arena by construction; 80
 * instructions a page-block pair were the two calls; decision 41). */
static inline void km_tag_set(const void *blk, size_t frames)
{
	kmem_atomic_store_relaxed(&km.owner[frame_index(blk)], kmem_owner_tag(frames));
}

/* Clear the tag km_tag_set stored for a block of `frames` frames at p;
 * false (nothing changed) if the word no longer holds it: a free racing
 * another free of the block (kmem_buddy_clear_tag's test, in one CAS). */
static inline bool km_tag_clear(const void *p, size_t frames)
{
	void *expect = kmem_owner_tag(frames);

	return kmem_atomic_cas_relaxed(&km.owner[frame_index(p)], &expect, NULL);
}

/* Frames a trimmed block keeps for `frames` asked for (see pages.c). */
static inline size_t exact_frames(size_t frames)
{
	unsigned order = ceil_log2(frames);
	size_t g = (size_t)1 << (order >= KM_EXACT_MIN_ORDER ? order - 3 : order);

	return (frames + g - 1) & ~(g - 1);
}

#endif /* KMEM_MALLOC_INTERNAL_H */
