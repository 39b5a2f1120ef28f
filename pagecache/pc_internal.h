/* pc_internal.h - the page cache's private structures and invariants.
 * Private to pagecache/ (and its white-box tests).
 *
 * Files:
 *   pagecache.c  instance, owners, look-up and faults, replacement, the
 *                shrinker and client release, working set and thrashing;
 *   pc_info.c    stats, the vmstat text, the checker.
 *
 * Data structures (one block per cache, one per owner, both the caller's):
 *
 *   cache: [struct kmem_pc | desc[pages] (stride bytes each: struct
 *           kmem_pc_page, then `extra` caller bytes) | bucket[nbuckets]
 *           (uint32 slot or PC_NIL) | shadow[nshadow] (uint64)]
 *   owner: [struct kmem_pc_owner | its policy instance (kmem_rp over
 *           frames 0 .. pages-1)]
 *
 *   A page descriptor's slot number i (0 .. pages-1) is also its frame
 *   number in its owner's policy instance (decision 22: policies work on
 *   frame numbers; here the numbers are the cache's descriptor slots).
 *   Descriptor states:
 *     PC_FREE      on the free list (next), owner NULL, no data;
 *     PC_RESIDENT  hashed, data held, in the owner's policy;
 *     PC_PARKED    hashed, data held, pinned, taken out of the policy
 *                  because it was chosen as a victim while pinned (Linux's
 *                  unevictable list: a victim is never pinned, whatever the
 *                  policy); goes back into the policy at its last unpin;
 *     PC_POOL      hashed, data held, unpinned, evicted: on its owner's
 *                  page-buffering pool (prev/next, FIFO by eviction).
 *   A page being read (io set) is PC_PARKED with the faulting thread's pin;
 *   a pool page being written back before its frame is reused is PC_PARKED
 *   and io, unpinned (counted resident meanwhile). Either way it is out of
 *   the policy and the pool, so no replacement, shrinker or release finds
 *   it; a get, truncate or owner destroy that finds it waits for the I/O
 *   (io_wait_locked) and looks again; rekey onto it is -EBUSY.
 *   Hash: chained buckets of slot numbers (hnext), keyed by (owner id,
 *   page number); nbuckets a power of two >= pages.
 *   Shadow: a direct-mapped table of nshadow (power of two >= pages)
 *   fingerprints of evicted pages' keys, for workingset_refault.
 *
 * Invariants (kmem_pc_check cites them):
 *   C1  the free list holds exactly the PC_FREE descriptors, nfree of them.
 *   C2  every other descriptor is on the chain of its key's bucket, once;
 *       no two hashed descriptors share a key; chains hold nothing else.
 *   C3  a PC_POOL page is on its owner's pool list, unpinned; each pool
 *       list's length is its owner's npool, and its links are consistent.
 *   C4  PC_RESIDENT <=> resident in its owner's policy; PC_PARKED pages are
 *       pinned or io; no free, pooled or parked slot is resident in any policy.
 *   C5  per owner: resident = its RESIDENT + PARKED pages, pinned = its
 *       pages with pins > 0, ndirty = its dirty pages; a dirty page's owner
 *       has a write callback; every hashed page has data.
 *   C6  per owner: its frame-service client holds exactly
 *       (resident + npool) << page_order frames.
 *   C7  used + nfree == pages; the owner list has nowners live owners.
 *
 * Locking: pc->lock protects everything in the cache and its owners
 * (counters included), except a page's data while read() fills it (the
 * lock dropped; the page marked io, above). Lock order: pc->lock, then the frame service's (its
 * allocation and free run under pc->lock; docs/locking.md row 4a). The
 * shrinker and the client release callbacks run from the frame service's
 * reclaim (shrink_lock held) and take pc->lock with a try-lock. _locked
 * functions assert pc->lock is held by the caller.
 */
#ifndef KMEM_PC_INTERNAL_H
#define KMEM_PC_INTERNAL_H

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <kmem/pagecache.h>

#include "kmem_fmt.h"
#include "kmem_port.h"
#include "kmem_report.h"

#define PC_NIL UINT32_MAX
#define PC_ALIGN 16u
#define PC_NAME_MAX 32

enum pc_state { PC_FREE = 0, PC_RESIDENT, PC_PARKED, PC_POOL };

struct kmem_pc_page {
	uint64_t pgno;
	struct kmem_pc_owner *owner;	/* NULL when free */
	void *data;			/* the frame block, 2^page_order frames */
	uint64_t last_ref;		/* owner's reference clock at the last access */
	uint32_t hnext;			/* hash chain */
	uint32_t prev, next;		/* pool list; next: free list */
	uint32_t pins;
	uint8_t state;			/* enum pc_state */
	uint8_t dirty;
	uint8_t fresh;			/* data came zeroed from the frame service */
	uint8_t io;			/* read() fills it or write() stores it, the
					 * cache lock dropped: PC_PARKED; nobody else
					 * takes, frees or hands it out */
};

/* the caller's extra bytes follow the descriptor, 16-byte aligned */
#define PC_EXTRA_OFF ((sizeof(struct kmem_pc_page) + PC_ALIGN - 1) & ~(size_t)(PC_ALIGN - 1))

struct pc_list {
	uint32_t head, tail, len;
};

struct kmem_pc_owner {
	struct kmem_pc *pc;
	struct kmem_pc_owner *next;	/* the cache's owner list */
	struct kmem_pa_client *client;
	struct kmem_rp *rp;
	uint32_t id;			/* hash key part, unique in the cache */
	uint64_t hsalt;			/* (uint64_t)id << 40, mixed into the page number */
	enum kmem_pc_scope scope;
	unsigned flags;
	int priority;
	uint32_t max_pages;
	size_t max_frames;		/* its client's, 0: none */
	int (*read)(void *arg, uint64_t pgno, void *buf, size_t size);
	int (*write)(void *arg, uint64_t pgno, const void *buf, size_t size);
	void *arg;
	/* pages now */
	uint32_t resident, pinned, ndirty;
	struct pc_list pool;
	/* the reference clock and the current window */
	uint64_t refs, win_start, win_end, win_faults, win_refaults;	/* win_end = win_start + window */
	unsigned pff;
	bool thrashing, deactivated;
	uint64_t deact_at;
	/* counters */
	uint64_t hits, pgfault, pgmajfault, minor_pool, pgpgin, pgpgout, refaults, evictions;
	uint64_t wb_errors, read_errors, missed, thrash_windows, deactivations;
	char name[PC_NAME_MAX];
};

struct kmem_pc {
	struct kmem_lock lock;
	/* Waiting for reads (the cache lock is dropped around read()): a
	 * thread that finds a page being read counts itself in io_waiters and
	 * takes io_mutex before it drops the lock, then waits on io_cond; the
	 * reader, done, broadcasts under io_mutex when it saw waiters. Order:
	 * lock, then io_mutex. */
	struct kmem_mutex io_mutex;
	struct kmem_cond io_cond;
	uint32_t io_waiters;
	uint64_t io_waits;		/* waits for a read, counted */
	struct kmem_pagealloc *pa;
	const struct kmem_rp_ops *policy;
	struct kmem_rp_config rpcfg;	/* frames = pages; name, sink set per owner */
	size_t page_size, extra, stride, rp_size;
	unsigned order;
	uint32_t pages, nfree, free_head, pool_pages, window;
	unsigned pff_high;
	uint32_t bmask, smask;
	unsigned bshift;		/* 64 - log2(buckets): a bucket is the hash's top bits */
	unsigned char *desc;
	uint32_t *bucket;
	uint64_t *shadow;
	struct kmem_pc_owner *owners;
	unsigned nowners;
	uint32_t next_id;
	uint64_t pa_thrash_seen;
	struct kmem_shrinker shrinker;
	bool shrinker_on;
	uint64_t shrink_calls, shrink_frames, responses, misuse;
	/* counters of destroyed owners, kept in the cache's totals */
	uint64_t gone_refs, gone_hits, gone_fault, gone_maj, gone_in, gone_out, gone_refault;
	struct kmem_error_sink *sink;
	struct kmem_error_sink own_sink;
	char name[PC_NAME_MAX];
};

static inline struct kmem_pc_page *pc_desc(const struct kmem_pc *pc, uint32_t i)
{
	return (struct kmem_pc_page *)(void *)(pc->desc + (size_t)i * pc->stride);
}

static inline uint32_t pc_slot(const struct kmem_pc *pc, const struct kmem_pc_page *d)
{
	return (uint32_t)(((const unsigned char *)d - pc->desc) / pc->stride);
}

static inline uint64_t pc_key_hash(uint32_t id, uint64_t pgno)
{
	uint64_t h = (pgno ^ ((uint64_t)id << 40)) * 0x9e3779b97f4a7c15ull;

	return h ^ (h >> 29);
}

/* The bucket of (owner, pgno): Fibonacci hashing, the top bits of the
 * product (Knuth 6.4), three instructions on the hit path. */
static inline uint32_t pc_bucket(const struct kmem_pc *pc, uint64_t hsalt, uint64_t pgno)
{
	return (uint32_t)(((pgno ^ hsalt) * 0x9e3779b97f4a7c15ull) >> pc->bshift);
}

/* pc_info.c: the checker's walk (pc->lock held); 0 or -EFAULT with why. */
KMEM_HIDDEN int kmem_pc_check_locked(struct kmem_pc *pc, char *why, size_t len);

#endif /* KMEM_PC_INTERNAL_H */
