/* kmem_annot.h - memory-state annotations for Valgrind memcheck and
 * AddressSanitizer, behind neutral names (STYLE.md, "Valgrind and ASan").
 *
 *   KMEM_ANNOT_NOACCESS(p, n)   nobody may touch p[0..n) (free memory)
 *   KMEM_ANNOT_UNDEFINED(p, n)  addressable, contents meaningless
 *   KMEM_ANNOT_DEFINED(p, n)    addressable and initialised (zeroed memory)
 *
 * Pools and blocks (statements), so that memcheck reports a use after free
 * with the block's allocation and free stacks and the leak checker sees
 * blocks nobody points to:
 *
 *   KMEM_ANNOT_POOL_CREATE(pool)       `pool` (an address: the instance)
 *                                      starts handing out chunks that may
 *                                      hold object blocks (a memcheck
 *                                      meta-pool: VALGRIND_MEMPOOL_METAPOOL)
 *   KMEM_ANNOT_POOL_DESTROY(pool)      the pool and every chunk it still
 *                                      has out are forgotten
 *   KMEM_ANNOT_POOL_ALLOC(pool, p, n)  chunk p[0..n) handed out: UNDEFINED
 *   KMEM_ANNOT_POOL_FREE(pool, p, n)   chunk p[0..n) back: NOACCESS
 *   KMEM_ANNOT_POOL_TRIM(pool, p, n)   the chunk at p shrinks to p[0..n)
 *   KMEM_ANNOT_POOL_SPLIT(pool, p, n)  p[0..n), once part of a chunk, a chunk of its
 *                                      own (contents DEFINED); TRIM the old
 *                                      chunk off it first: chunks of a pool
 *                                      never overlap (memcheck checks the
 *                                      pool at every TRIM and prints "Bad
 *                                      mempool", without counting an error)
 *   KMEM_ANNOT_OBJ_ALLOC(p, n, rz)     object p[0..n) handed out, malloc-like,
 *                                      with rz bytes of red zone either side
 *                                      (NOACCESS): UNDEFINED
 *   KMEM_ANNOT_OBJ_FREE(p, n, rz)      object p[0..n) (+ rz either side)
 *                                      back, free-like: NOACCESS
 *   KMEM_ANNOT_STALE(p, n)             p[0..n) is a stale copy of a pointer
 *                                      (a popped stack slot): the leak
 *                                      checker must not count it (memcheck:
 *                                      UNDEFINED; ASan: nothing)
 *   KMEM_ANNOT_NOACCESS_STATE(p)       whether byte p is marked NOACCESS now
 *                                      (a freed object), without a report: 1
 *                                      yes, 0 no, -1 the tool cannot tell
 *                                      (no annotations, or a Valgrind tool
 *                                      other than memcheck: Helgrind, DRD)
 *   KMEM_ANNOT_ACTIVE()                nonzero when annotations act at run
 *                                      time (under Valgrind, or with ASan):
 *                                      guards extra work done only to
 *                                      annotate (validating a pointer first)
 *
 * Rules: OBJ_ALLOC/OBJ_FREE and POOL_ALLOC/POOL_FREE pair up exactly (a
 * free of something memcheck does not know as a block is an "Invalid free"
 * error), so annotate a free only after the allocator validated it. An
 * object block lies inside a chunk of a meta-pool; no chunk or object is
 * annotated twice. POOL_CREATE on the storage of a pool that was never
 * destroyed drops the old pool first (memcheck aborts on a duplicate).
 *
 * Chunks by address (memcheck only). memcheck's leak checker maps each
 * pointer to one block, so a pointer to an object nested in a chunk may be
 * taken for a pointer into the chunk, and the object then reads as lost.
 * A layer that carves object blocks out of a chunk it got through a page
 * source (slab) therefore shrinks the chunk to its own header while it holds
 * it; pools register their ranges so that it can find the chunk's pool:
 *
 *   KMEM_ANNOT_POOL_RANGE(pool, p, n, is_chunk)
 *                        p[0..n) holds chunks of pool; is_chunk(pool, q, m)
 *                        tells whether q starts an allocated block of m
 *                        bytes (it may take the pool's lock: RESIZE's
 *                        callers hold none of the pool's locks)
 *   KMEM_ANNOT_POOL_FORGET(pool)      drop pool's ranges (destroy)
 *   KMEM_ANNOT_CHUNK_RESIZE(p, n, to) if p starts a block of n bytes the
 *                        registered pool handed out (is_chunk), its chunk
 *                        spans p[0..to) from now on (to == n: back to whole)
 *
 * With Valgrind headers (KMEM_HAVE_VALGRIND, -Dvalgrind) these are memcheck
 * client requests: a few instructions when not running under Valgrind, so
 * release builds leave them off. Under ASan (-fsanitize=address) they poison
 * and unpoison (UNDEFINED and DEFINED both unpoison: ASan does not track
 * initialisation; pools are memcheck's alone: ASan only sees the poisoning).
 * Otherwise they compile to nothing. Before the allocator writes into memory
 * it marked NOACCESS, it marks it UNDEFINED first.
 */
#ifndef KMEM_ANNOT_H
#define KMEM_ANNOT_H

#include "kmem_config.h"

#if defined(__SANITIZE_ADDRESS__)
#define KMEM_ANNOT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMEM_ANNOT_ASAN 1
#endif
#endif

#if defined(KMEM_ANNOT_ASAN)
#include <sanitizer/asan_interface.h>
#define KMEM_ANNOT_NOACCESS(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define KMEM_ANNOT_UNDEFINED(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define KMEM_ANNOT_DEFINED(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define KMEM_ANNOT_POOL_CREATE(pool) ((void)(pool))
#define KMEM_ANNOT_POOL_DESTROY(pool) ((void)(pool))
#define KMEM_ANNOT_POOL_ALLOC(pool, p, n) ((void)(pool), ASAN_UNPOISON_MEMORY_REGION((p), (n)))
#define KMEM_ANNOT_POOL_FREE(pool, p, n) ((void)(pool), ASAN_POISON_MEMORY_REGION((p), (n)))
#define KMEM_ANNOT_POOL_TRIM(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define KMEM_ANNOT_POOL_SPLIT(pool, p, n) ((void)(pool), ASAN_UNPOISON_MEMORY_REGION((p), (n)))
#define KMEM_ANNOT_OBJ_ALLOC(p, n, rz) ((void)(rz), ASAN_UNPOISON_MEMORY_REGION((p), (n)))
#define KMEM_ANNOT_OBJ_FREE(p, n, rz) ((void)(rz), ASAN_POISON_MEMORY_REGION((p), (n)))
#define KMEM_ANNOT_STALE(p, n) ((void)(p), (void)(n))
#define KMEM_ANNOT_POOL_RANGE(pool, p, n, is_chunk) ((void)(pool), (void)(p), (void)(n), (void)(is_chunk))
#define KMEM_ANNOT_POOL_FORGET(pool) ((void)(pool))
#define KMEM_ANNOT_CHUNK_RESIZE(p, n, to) ((void)(p), (void)(n), (void)(to))
#define KMEM_ANNOT_ACTIVE() 1
#define KMEM_ANNOT_NOACCESS_STATE(p) (__asan_address_is_poisoned((p)) != 0)
#define KMEM_ANNOT_ENABLED 1
#elif defined(KMEM_HAVE_VALGRIND)
#include <valgrind/memcheck.h>
#define KMEM_ANNOT_NOACCESS(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define KMEM_ANNOT_UNDEFINED(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define KMEM_ANNOT_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
/* no AUTO_FREE: the slab layer frees its object blocks itself (a chunk the
 * page source keeps cached holds none), and an automatic free would leave
 * the slab's own record of which objects are blocks stale */
#define KMEM_ANNOT_POOL_CREATE(pool) kmem_annot_pool_create((pool))
#define KMEM_ANNOT_POOL_DESTROY(pool) \
	do { \
		kmem_annot_pool_forget((pool)); \
		VALGRIND_DESTROY_MEMPOOL((pool)); \
	} while (0)
#define KMEM_ANNOT_POOL_ALLOC(pool, p, n) VALGRIND_MEMPOOL_ALLOC((pool), (p), (n))
#define KMEM_ANNOT_POOL_FREE(pool, p, n) \
	do { \
		VALGRIND_MEMPOOL_FREE((pool), (p)); \
		(void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)); /* all of it, even if resized */ \
	} while (0)
#define KMEM_ANNOT_POOL_TRIM(pool, p, n) VALGRIND_MEMPOOL_CHANGE((pool), (p), (p), (n))
#define KMEM_ANNOT_POOL_SPLIT(pool, p, n) \
	do { \
		VALGRIND_MEMPOOL_ALLOC((pool), (p), (n)); \
		(void)VALGRIND_MAKE_MEM_DEFINED((p), (n)); \
	} while (0)
#define KMEM_ANNOT_OBJ_ALLOC(p, n, rz) VALGRIND_MALLOCLIKE_BLOCK((p), (n), (rz), 0)
#define KMEM_ANNOT_OBJ_FREE(p, n, rz) \
	do { \
		(void)(n); \
		VALGRIND_FREELIKE_BLOCK((p), (rz)); \
	} while (0)
#define KMEM_ANNOT_STALE(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define KMEM_ANNOT_POOL_RANGE(pool, p, n, is_chunk) \
	kmem_annot_pool_range((pool), (p), (n), (is_chunk))
#define KMEM_ANNOT_POOL_FORGET(pool) kmem_annot_pool_forget((pool))
#define KMEM_ANNOT_CHUNK_RESIZE(p, n, to) \
	do { \
		if (RUNNING_ON_VALGRIND) \
			kmem_annot_chunk_resize((p), (n), (to)); \
	} while (0)
#define KMEM_ANNOT_ACTIVE() (RUNNING_ON_VALGRIND != 0)
/* memcheck's GET_VBITS answers 3, and reports nothing, for a byte nobody
 * may touch, 1 for one that may be; other tools answer 0 */
#define KMEM_ANNOT_NOACCESS_STATE(p)                                               \
	__extension__({                                                            \
		char vb_;                                                          \
		unsigned r_ = VALGRIND_GET_VBITS((p), &vb_, 1);                    \
		r_ == 3 ? 1 : r_ == 0 ? -1 : 0;                                    \
	})
#define KMEM_ANNOT_ENABLED 1
#else
#define KMEM_ANNOT_NOACCESS(p, n) ((void)(p), (void)(n))
#define KMEM_ANNOT_UNDEFINED(p, n) ((void)(p), (void)(n))
#define KMEM_ANNOT_DEFINED(p, n) ((void)(p), (void)(n))
#define KMEM_ANNOT_POOL_CREATE(pool) ((void)(pool))
#define KMEM_ANNOT_POOL_DESTROY(pool) ((void)(pool))
#define KMEM_ANNOT_POOL_ALLOC(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define KMEM_ANNOT_POOL_FREE(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define KMEM_ANNOT_POOL_TRIM(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define KMEM_ANNOT_POOL_SPLIT(pool, p, n) ((void)(pool), (void)(p), (void)(n))
#define KMEM_ANNOT_OBJ_ALLOC(p, n, rz) ((void)(p), (void)(n), (void)(rz))
#define KMEM_ANNOT_OBJ_FREE(p, n, rz) ((void)(p), (void)(n), (void)(rz))
#define KMEM_ANNOT_STALE(p, n) ((void)(p), (void)(n))
#define KMEM_ANNOT_POOL_RANGE(pool, p, n, is_chunk) ((void)(pool), (void)(p), (void)(n), (void)(is_chunk))
#define KMEM_ANNOT_POOL_FORGET(pool) ((void)(pool))
#define KMEM_ANNOT_CHUNK_RESIZE(p, n, to) ((void)(p), (void)(n), (void)(to))
#define KMEM_ANNOT_ACTIVE() 0
#define KMEM_ANNOT_NOACCESS_STATE(p) ((void)(p), -1)
#define KMEM_ANNOT_ENABLED 0
#endif

#if !defined(KMEM_ANNOT_ASAN) && defined(KMEM_HAVE_VALGRIND)
#include <stdbool.h>
#include <stddef.h>
#include "kmem_port.h"
/* annot_pool.c */
KMEM_HIDDEN void kmem_annot_pool_create(const void *pool);
KMEM_HIDDEN void kmem_annot_pool_range(const void *pool, const void *p, size_t n,
				       bool (*is_chunk)(const void *pool, const void *q, size_t m));
KMEM_HIDDEN void kmem_annot_pool_forget(const void *pool);
KMEM_HIDDEN void kmem_annot_chunk_resize(const void *p, size_t n, size_t to);
#endif

/* KMEM_ANNOT_BENIGN_RACE(p, n): p[0..n) is shared through relaxed atomics
 * by design; Helgrind and DRD (which do not model atomics) skip it. */
#ifdef KMEM_HAVE_VALGRIND
#include <stddef.h>
#include "kmem_port.h"
KMEM_HIDDEN void kmem_annot_benign_race(const volatile void *p, size_t n);
KMEM_HIDDEN void kmem_annot_benign_race_drd(const volatile void *p, size_t n);
#define KMEM_ANNOT_BENIGN_RACE(p, n) kmem_annot_benign_race((p), (n))
#else
#define KMEM_ANNOT_BENIGN_RACE(p, n) ((void)(p), (void)(n))
#endif

#endif /* KMEM_ANNOT_H */
