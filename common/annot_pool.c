/* annot_pool.c - memcheck pools by address (kmem_annot.h, "Chunks by
 * address"): which pool a chunk belongs to, for a layer that got the chunk
 * through a page source and resizes it.
 *
 * Algorithm: a table of address ranges, each naming its pool and the pool's
 * is_chunk() check. A new range replaces every range it overlaps (the
 * memory now belongs to the new pool, the old owner was never destroyed);
 * forget drops a pool's ranges. A resize finds the range holding the
 * address, asks the pool whether the address starts a block of the given
 * size it handed out (whatever size its chunk has now), and only then
 * resizes the chunk (a consumer of some other page source, or of a piece of
 * a block, is left alone: resizing what is not a chunk is a memcheck
 * error).
 * Bound: O(ANNOT_RANGES) per call; calls happen only under Valgrind, once
 * per region added and per slab created or released.
 *
 * Data: ranges[0..nranges), unordered. Invariant: no two ranges overlap.
 *
 * Locking: one process-wide lock protects the table (process-wide state,
 * listed in process.c); is_chunk() is called
 * with it released (it takes the pool's own lock, and pools register ranges
 * under theirs).
 */
#include "kmem_annot.h"

#if !defined(KMEM_ANNOT_ASAN) && defined(KMEM_HAVE_VALGRIND)
#include <stdint.h>

#define ANNOT_RANGES 256

struct annot_range {
	uintptr_t lo, hi;
	const void *pool;
	bool (*is_chunk)(const void *pool, const void *q, size_t m);
};

static struct annot_range ranges[ANNOT_RANGES];
static unsigned nranges;
static struct kmem_lock ranges_lock = KMEM_LOCK_INITIALIZER;

static void table_lock(void)
{
	kmem_lock_acquire(&ranges_lock);
}

static void table_unlock(void)
{
	kmem_lock_release(&ranges_lock);
}

/* Drop ranges[i] (table lock held). */
static void drop_locked(unsigned i)
{
	KMEM_ASSERT(kmem_lock_held(&ranges_lock) && "the range table needs its lock");
	ranges[i] = ranges[--nranges];
}

static void forget_locked(const void *pool)
{
	KMEM_ASSERT(kmem_lock_held(&ranges_lock) && "the range table needs its lock");
	for (unsigned i = 0; i < nranges;)
		if (ranges[i].pool == pool)
			drop_locked(i);
		else
			i++;
}

void kmem_annot_pool_create(const void *pool)
{
	if (!RUNNING_ON_VALGRIND)
		return;
	if (VALGRIND_MEMPOOL_EXISTS(pool)) { /* storage reused without a destroy */
		kmem_annot_pool_forget(pool);
		VALGRIND_DESTROY_MEMPOOL(pool);
	}
	VALGRIND_CREATE_MEMPOOL_EXT(pool, 0, 0, VALGRIND_MEMPOOL_METAPOOL);
}

void kmem_annot_pool_range(const void *pool, const void *p, size_t n,
			   bool (*is_chunk)(const void *pool, const void *q, size_t m))
{
	uintptr_t lo = (uintptr_t)p, hi = lo + n;

	if (!RUNNING_ON_VALGRIND || !n)
		return;
	table_lock();
	for (unsigned i = 0; i < nranges;)
		if (ranges[i].lo < hi && lo < ranges[i].hi)
			drop_locked(i);
		else
			i++;
	if (nranges < ANNOT_RANGES) /* else: no resizing there (leak reports less exact) */
		ranges[nranges++] = (struct annot_range){ lo, hi, pool, is_chunk };
	table_unlock();
}

void kmem_annot_pool_forget(const void *pool)
{
	if (!RUNNING_ON_VALGRIND)
		return;
	table_lock();
	forget_locked(pool);
	table_unlock();
}

void kmem_annot_chunk_resize(const void *p, size_t n, size_t to)
{
	struct annot_range r = { 0, 0, NULL, NULL };
	uintptr_t a = (uintptr_t)p;

	table_lock();
	for (unsigned i = 0; i < nranges; i++)
		if (a >= ranges[i].lo && a < ranges[i].hi) {
			r = ranges[i];
			break;
		}
	table_unlock();
	if (r.pool && r.is_chunk(r.pool, p, n))
		VALGRIND_MEMPOOL_CHANGE(r.pool, p, p, to);
}
#else
typedef int kmem_annot_pool_empty; /* ISO C: no empty translation unit */
#endif
