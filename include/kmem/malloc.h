/* kmem/malloc.h - extras of the drop-in malloc (libkmem-malloc.so / .a).
 *
 * The drop-in replaces the C library's malloc, free, calloc, realloc,
 * reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
 * malloc_usable_size and malloc_trim; see the README ("Drop-in malloc") for
 * the behaviour where C libraries differ and the KMEM_* environment
 * variables. These functions exist only in the drop-in libraries.
 */
#ifndef KMEM_MALLOC_H
#define KMEM_MALLOC_H

#include <kmem/common.h>

KMEM_BEGIN_DECLS

/* Run the invariant checkers of the process heap (pagealloc and buddy,
 * then every kmalloc cache's slabs). Returns 0, or -EIO after reporting
 * each broken invariant (one line on stderr), or -EAGAIN if the heap is
 * not set up. Only meaningful while no other thread allocates or frees.
 * O(frames + objects). */
KMEM_API int kmem_malloc_check(void);

/* Give memory back to the system now: the calling thread's frame cache,
 * every cache's empty slabs and idle magazines, then every free block of
 * 64 KiB or more beyond `keep` bytes is madvise(MADV_DONTNEED)d. Returns
 * the bytes released to the system. Thread-safe. O(free blocks). */
KMEM_API size_t kmem_malloc_trim(size_t keep);

/* The text forms of the heap's state (snprintf-style: at most len bytes
 * with the NUL; returns the length the whole text needs, or -1 for an
 * unknown what): what is "slabinfo", "buddyinfo", "vmstat" or "zoneinfo".
 * Thread-safe. */
KMEM_API int kmem_malloc_stats(const char *what, char *buf, size_t len);

KMEM_END_DECLS

#endif /* KMEM_MALLOC_H */
