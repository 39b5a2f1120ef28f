/* kmem/malloc.h - extras of the drop-in malloc (libkmem-malloc.so / .a).
 *
 * The drop-in replaces the C library's malloc, free, calloc, realloc,
 * reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
 * malloc_usable_size and malloc_trim, and glibc's statistics calls
 * mallinfo, mallinfo2, malloc_stats and malloc_info (with kmem's numbers);
 * see the README ("Drop-in malloc") for the behaviour where C libraries
 * differ, what each statistic means, and the KMEM_* environment variables.
 * These functions exist only in the drop-in libraries.
 */
#ifndef KMEM_MALLOC_H
#define KMEM_MALLOC_H

#include <kmem/common.h>

KMEM_BEGIN_DECLS

/* Run the invariant checkers of the process heap (pagealloc and buddy,
 * every size-class cache's slabs, then the clean reserve: each block held
 * out of the buddy at its order, zero-reading, unowned, and the counts add
 * up), then the huge cache (its ranges sorted, apart, not joined to a
 * neighbour, no live huge block inside, counted). Returns 0, or -EIO after
 * reporting each broken invariant (one line on stderr), or -EAGAIN if the
 * heap is not set up. Only meaningful while no other thread allocates or
 * frees. O(frames + objects + cached ranges * huge blocks). */
KMEM_API int kmem_malloc_check(void);

/* Give memory back to the system now: the calling thread's frame cache,
 * every cache's empty slabs and idle magazines, then every free block of
 * 64 KiB or more beyond `keep` bytes of dirty ones is madvise(MADV_DONTNEED)d
 * and moved to the clean reserve (free blocks held out of the buddy, which
 * later allocations take only when no dirty free memory fits). Returns the
 * bytes released to the system. Without calls to it, the heap releases by
 * itself: see the README (KMEM_HIGH). Thread-safe. O(free blocks). */
KMEM_API size_t kmem_malloc_trim(size_t keep);

/* The text forms of the heap's state (snprintf-style: at most len bytes
 * with the NUL; returns the length the whole text needs, or -1 for an
 * unknown what): what is "slabinfo", "buddyinfo", "vmstat", "zoneinfo" or
 * "heap". "heap" gives the drop-in's own "name value" lines: arena_bytes
 * (address space reserved), mapped_bytes (the arena's regions added so
 * far: made read-write, or under an address-space limit mapped block by
 * block as handed out; mallinfo2's arena), used_pages (4 KiB frames held
 * by live blocks and slabs), peak_pages (their recent peak as the frame
 * service's release policy sees it, halving its distance to used_pages
 * every second), dirty_pages (mapped frames not in the released pool,
 * which may hold data: an upper bound of the resident heap),
 * released_pages (frames given back to the system or never touched, held
 * by the frame service: they read zero), high_pages (KMEM_HIGH),
 * huge_blocks and huge_bytes (blocks over 4 MiB, outside the arena, each
 * a range of its own), huge_cached_blocks and huge_cached_bytes (the freed
 * ranges kept for reuse), huge_cache_hits (huge blocks carved from them).
 * Thread-safe; "heap" is O(max_order). */
KMEM_API int kmem_malloc_stats(const char *what, char *buf, size_t len);

KMEM_END_DECLS

#endif /* KMEM_MALLOC_H */
