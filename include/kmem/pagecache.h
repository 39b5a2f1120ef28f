/* kmem/pagecache.h - a page cache on the frame service: pages of a fixed
 * size named by (owner, page number), held in frames from a pagealloc
 * instance, replaced by a replace/ policy.
 *
 * A cache ("pc") holds at most `pages` pages at once. Each page lives in a
 * block of 2^page_order frames taken from the frame service on behalf of
 * its owner, so zero fill, watermarks, the reaper, clients and OOM apply.
 * An owner (a file, a database, a process's address space) is a
 * frame-service client: its shares, min_frames and max_frames bound the
 * frames its pages hold. Each owner has its own instance of the cache's
 * replacement policy (any struct kmem_rp_ops, a user's own too):
 *
 *   kmem_pc_get(owner, pgno, KMEM_PC_CREATE, &pg)
 *     hit        page resident: pinned, the policy told (a reference);
 *     minor      page in the owner's page-buffering pool (evicted, its
 *                frame not reused yet): mapped back, no I/O;
 *     major      page absent and the owner has a read callback: a frame
 *                is found (below), read() fills it;
 *     zero fill  page absent, no read callback: the frame reads zero
 *                (counted as a minor fault, as Linux counts anonymous
 *                first touches).
 *   A frame for a fault: a new block from the frame service (NOWAIT: a
 *   cache replaces rather than pushing the system into reclaim) unless the
 *   owner is at a limit (max_pages, its client's max_frames, the
 *   deactivated limit); else replacement: the oldest page of the victim
 *   owner's pool is reused (written back first if dirty), the pool being
 *   refilled with the policy's victims. The victim owner is the faulting
 *   owner itself (local scope, or global scope while it holds at least its
 *   share), else the owner furthest above its frame-service share (global).
 *   kmem_pc_put(pg, flags)   unpin; KMEM_PC_DIRTY marks the page dirty,
 *                            KMEM_PC_DISCARD drops it.
 *
 * Dirty pages are written back (the owner's write callback) before their
 * frame is reused or given back; a failed write-back is counted, and the
 * page stays in the cache, dirty (it goes back to its owner's policy). An
 * owner without a write callback has no backing store to write to: its
 * pages are never dirty (SQLite's model: the client keeps its own dirty
 * pages pinned).
 *
 * Memory pressure: the cache is a shrinker of the frame service. Its scan
 * gives back frames of clean pages first (pool pages, then policy victims),
 * and at direct and OOM pressure dirty ones too, after writing them back;
 * pinned pages and pages of KMEM_PC_NOEVICT owners are never taken. Each
 * owner's client release callback (the frame service's local reclaim and
 * OOM) gives back that owner's pages the same way.
 *
 * Working set and thrashing (Denning 1968, 1980): every access advances the
 * owner's reference clock t; W(t, delta) is the number of distinct pages of
 * the owner the cache still knows that were referenced in the last delta
 * references (kmem_pc_working_set). The page-fault frequency (PFF) is the
 * faults per thousand references over each window of `window` references.
 * An owner thrashes in a window when its PFF is at least pff_high and at
 * least half of its faults are refaults (workingset_refault: a fault on a
 * page evicted within the last `pages` evictions, remembered in a shadow
 * table, after Linux's mm/workingset.c). The response (kmem_pc_respond,
 * run when the frame service reports thrashing through its on_thrash hook
 * (kmem_pc_on_thrash) or when its thrash counter moved at an owner's window
 * end, or when the caller calls it): if another owner stays active, the
 * lowest-priority thrashing owner (ties: the one holding most) is
 * deactivated, as an OS swaps out a whole process: its unpinned pages are
 * written back and their frames given back, and until it is reactivated it
 * may hold only its pinned pages plus one (each fault replaces within the
 * owner). It is reactivated when a window ends with no active owner
 * thrashing and 2 * window cache references have passed, or by
 * kmem_pc_owner_activate().
 *
 * Misuse (a page pointer that is no page of the cache, a page of another
 * owner, an unpin of a page that is not pinned, a release of a page that
 * was dropped) is reported to the cache's error sink (KMEM_FOREIGN_POINTER,
 * KMEM_WRONG_CACHE, KMEM_NOT_HELD, KMEM_DOUBLE_FREE), counted, and changes
 * nothing.
 *
 * Thread safety: every function may be called from any thread unless
 * noted. One lock per cache serialises its state. The owner's read
 * callback runs WITHOUT it: while one thread reads a page from a slow
 * store, other threads' hits and faults on other pages go on, and a thread
 * that asks for the page being read waits for that read (one read per
 * page; if it fails, the waiter faults the page itself). A read callback
 * may call the cache for other pages; asking for the page it is reading
 * returns -EDEADLK. The write callback runs without the lock when a fault
 * writes back the dirty page whose frame it takes (the page waits as a
 * page being read does), and holding it in kmem_pc_sync, shrinking, limits
 * and owner destroy; it must not call the cache. Page data of a pinned page
 * is the caller's to read and write without the lock.
 * Lock order: the cache lock, then the frame service's locks; the cache's
 * shrinker and release callbacks take the cache lock with a try-lock
 * (skipping the cache when it is busy), so the frame service's reclaim
 * inside a fault cannot wait for the faulting thread.
 */
#ifndef KMEM_PAGECACHE_H
#define KMEM_PAGECACHE_H

#include <stdbool.h>

#include <kmem/common.h>
#include <kmem/error.h>
#include <kmem/pagealloc.h>
#include <kmem/replace.h>

KMEM_BEGIN_DECLS

struct kmem_pc;		/* opaque: a cache */
struct kmem_pc_owner;	/* opaque: an owner of pages */
struct kmem_pc_page;	/* opaque: a page (its descriptor) */

/* Largest number of pages a cache holds at once. */
#define KMEM_PC_MAX_PAGES (1u << 24)

/* Flags of kmem_pc_get(). */
#define KMEM_PC_CREATE 0x1u	/* a miss faults the page in (else -ENOENT) */
#define KMEM_PC_WRITE 0x2u	/* the access writes: the page becomes dirty */
/* With CREATE: fault only if that is easy (SQLite's createFlag 1): no
 * write-back, and not when 90% of the owner's limit is pinned. */
#define KMEM_PC_EASY 0x4u
/* Pin a page at most once: a page already pinned is returned as it is, its
 * pin count unchanged (SQLite's model: pinned is a state, not a count). */
#define KMEM_PC_PIN_ONCE 0x8u
/* Flags of kmem_pc_put(). */
#define KMEM_PC_DIRTY 0x1u	/* the holder wrote the page */
#define KMEM_PC_DISCARD 0x2u	/* drop the page (its contents are not needed) */

/* Cache config flags. */
#define KMEM_PC_NO_SHRINKER 0x1u	/* do not register with the frame service */

struct kmem_pc_config {
	const char *name;		/* copied (31 chars); NULL: "pagecache" */
	struct kmem_pagealloc *pa;	/* where frames come from (required) */
	/* The replacement policy of every owner; NULL: kmem_rp_clock.
	 * policy_cfg (may be NULL) passes 2q's kin/kout percentages or opt's
	 * next-use table; its frames, name and sink are the cache's. */
	const struct kmem_rp_ops *policy;
	const struct kmem_rp_config *policy_cfg;
	uint32_t pages;			/* most pages at once, 1..KMEM_PC_MAX_PAGES */
	unsigned page_order;		/* a page is frame_size << page_order bytes */
	size_t extra;			/* caller bytes per page (kmem_pc_page_extra, 16-byte
					 * aligned), zeroed when a page is created */
	/* Page buffering (Silberschatz 9.4.7): up to this many evicted pages
	 * per owner keep their frame until it is reused, so a fault on one is
	 * a minor fault. 0: none (a victim's frame is reused at once). */
	uint32_t pool_pages;
	uint32_t window;		/* delta of the working set and PFF; 0: 1024 */
	unsigned pff_high;		/* thrashing PFF, faults per 1000 references; 0: 500 */
	struct kmem_error_sink *sink;	/* NULL: the cache's own (print, continue) */
	unsigned flags;			/* KMEM_PC_NO_SHRINKER */
};

/* Fill cfg with the defaults (pa and pages still to be set). O(1). */
KMEM_API void kmem_pc_config_init(struct kmem_pc_config *cfg);

/* Bytes of instance storage for cfg (16-byte aligned), or 0 if cfg is
 * invalid (pages 0 or above KMEM_PC_MAX_PAGES, the policy refuses it).
 * O(1). */
KMEM_API size_t kmem_pc_sizeof(const struct kmem_pc_config *cfg);

/* Create an empty cache in mem[0..mem_size) (16-byte aligned; stays the
 * caller's until kmem_pc_destroy) and register its shrinker with cfg->pa.
 * Returns 0 and sets *out, or -EINVAL (cfg invalid as for kmem_pc_sizeof,
 * pa NULL, page_order above the frame service's max order, mem NULL or
 * misaligned, out NULL), -ENOSPC (mem_size too small), or the shrinker
 * registration's error. O(pages). */
KMEM_API KMEM_MUST_CHECK int kmem_pc_init(void *mem, size_t mem_size,
					  const struct kmem_pc_config *cfg, struct kmem_pc **out);

/* Unregister the shrinker. Every owner must be destroyed first (owners
 * left are reported as KMEM_LEAK and their frames stay allocated). Not
 * thread-safe: no other call on the cache may run or follow. O(owners). */
KMEM_API void kmem_pc_destroy(struct kmem_pc *pc);

/* ---- owners ----------------------------------------------------------------- */

enum kmem_pc_scope {
	KMEM_PC_LOCAL = 0,	/* victims only from the owner's own pages */
	KMEM_PC_GLOBAL,		/* from the owner furthest above its share */
};

/* Owner flags. */
#define KMEM_PC_NOEVICT 0x1u	/* pages are never evicted (SQLite's non-purgeable caches) */

struct kmem_pc_owner_config {
	const char *name;		/* copied (31 chars) */
	/* The frame-service client's limits (name, min_frames, max_frames,
	 * weight, priority, oom_score_adj); release and arg are the cache's. */
	struct kmem_pa_client_config client;
	enum kmem_pc_scope scope;
	/* Most pages (resident + pool); 0: none. A soft limit: at it the owner
	 * replaces its own pages, and a fault without KMEM_PC_EASY that finds
	 * all of them pinned goes past it (SQLite's createFlag 2). */
	uint32_t max_pages;
	unsigned flags;			/* KMEM_PC_NOEVICT */
	/* Backing store. read fills buf (page_size bytes) with page pgno; NULL:
	 * new pages read zero. write stores it; NULL: pages are never dirty.
	 * Both return 0 or a negative errno. read runs without the cache lock,
	 * and so does the write-back a fault makes to reuse a dirty page's
	 * frame: reads and writes of different pages may run at once in
	 * several threads (never two of the same page). read may get other
	 * pages (getting pgno itself gives -EDEADLK); write must not call the
	 * cache (kmem_pc_sync and reclaim call it with the lock held). */
	int (*read)(void *arg, uint64_t pgno, void *buf, size_t size);
	int (*write)(void *arg, uint64_t pgno, const void *buf, size_t size);
	void *arg;
};

/* Bytes of storage for an owner of pc (16-byte aligned). O(1). */
KMEM_API size_t kmem_pc_owner_sizeof(const struct kmem_pc *pc);

/* Create an owner in mem[0..mem_size) and register it as a frame-service
 * client. Returns 0 and sets *out, or -EINVAL (NULL argument, mem
 * misaligned, an unknown scope or flag), -ENOSPC (mem_size too small), or
 * kmem_pa_client_register's error (-EINVAL, -ENOSPC, -ENOMEM). O(pages). */
KMEM_API KMEM_MUST_CHECK int kmem_pc_owner_create(struct kmem_pc *pc, void *mem, size_t mem_size,
						  const struct kmem_pc_owner_config *cfg,
						  struct kmem_pc_owner **out);

/* Write back every dirty page of the owner, drop all its pages (pinned ones
 * are reported as KMEM_LEAK first) and unregister its client; mem is the
 * caller's again. Returns 0, or -EIO if a write-back failed (that page's
 * data is lost: the owner is going away). Must not race with calls on the
 * same owner; a read still in flight is waited for (-EDEADLK, nothing done,
 * when called from that read's callback). O(pages of the owner + pages). */
KMEM_API int kmem_pc_owner_destroy(struct kmem_pc_owner *o);

/* Set the owner's page limit (SQLite's xCachesize); 0: none. Unpinned
 * pages above it are evicted (written back if dirty). Returns the pages the
 * owner holds afterwards. O(pages evicted). */
KMEM_API uint32_t kmem_pc_owner_set_max(struct kmem_pc_owner *o, uint32_t max_pages);

/* Reactivate an owner the thrashing response deactivated. O(1). */
KMEM_API void kmem_pc_owner_activate(struct kmem_pc_owner *o);

/* ---- pages -------------------------------------------------------------------- */

/* Find page pgno of owner o and pin it. Returns 0 with *out set, or:
 *   -ENOENT  not in the cache and no KMEM_PC_CREATE (not a fault);
 *   -ENOMEM  no frame: every page the owner could give up is pinned, or
 *            the frame service refused and nothing could be replaced (or
 *            KMEM_PC_EASY and the fault was not easy);
 *   -EIO     read() failed (counted; nothing cached), or every candidate
 *            victim's write-back failed;
 *   -EDEADLK the calling thread is reading this very page (a read
 *            callback asked for its own page): nothing changed;
 *   -EINVAL  o or out NULL.
 * A page another thread is reading is waited for (the read ends it: its
 * data, or its failure and then a fault of our own).
 * A page may be pinned many times (each kmem_pc_get one pin). Hit: O(1)
 * expected (hash), the policy's reference; fault: the policy's victim plus
 * the callbacks. Thread-safe. */
KMEM_API KMEM_MUST_CHECK int kmem_pc_get(struct kmem_pc_owner *o, uint64_t pgno, unsigned flags,
					 struct kmem_pc_page **out);

/* Unpin a page (KMEM_PC_DIRTY: it was written; KMEM_PC_DISCARD: drop it,
 * unwritten, if this was its last pin; with pins left the discard is
 * ignored). An owner over max_pages (it went past while all its pages were
 * pinned) gives back clean unpinned pages until it is under it again.
 * Returns 0, or reports and
 * returns KMEM_FOREIGN_POINTER (not a page of o's cache),
 * KMEM_WRONG_CACHE (a page of another owner), KMEM_NOT_HELD (not pinned),
 * KMEM_DOUBLE_FREE (the page was dropped), with nothing changed. O(1)
 * expected; discard O(1). Thread-safe. */
KMEM_API enum kmem_status kmem_pc_put(struct kmem_pc_owner *o, struct kmem_pc_page *pg,
				      unsigned flags);

/* The page's data (page_size bytes), extra bytes, number and owner. Valid
 * while the page is pinned. O(1). */
KMEM_API void *kmem_pc_page_data(const struct kmem_pc_page *pg);
KMEM_API void *kmem_pc_page_extra(const struct kmem_pc_page *pg);
KMEM_API uint64_t kmem_pc_page_number(const struct kmem_pc_page *pg);

/* Give pinned page pg the number pgno (SQLite's xRekey). A page already
 * cached as pgno is dropped first (it must not be pinned: -EBUSY then,
 * nothing changed). Returns 0, -EBUSY or the put statuses' errors as
 * -EINVAL (reported as for kmem_pc_put). O(1) expected. */
KMEM_API int kmem_pc_rekey(struct kmem_pc_owner *o, struct kmem_pc_page *pg, uint64_t pgno);

/* Drop every page of o numbered limit or above, pinned ones too (they are
 * implicitly unpinned: SQLite's xTruncate), without writing them back. A
 * page being read is waited for and then dropped (left, if the calling
 * thread's own read callback is reading it). Returns pages dropped.
 * O(pages of the cache) plus the waits. */
KMEM_API uint32_t kmem_pc_truncate(struct kmem_pc_owner *o, uint64_t limit);

/* Write back every dirty page of o (all owners: o NULL, pc given). Returns
 * 0 or -EIO (the first failure; every page is tried, failed ones stay
 * dirty). O(pages). */
KMEM_API int kmem_pc_sync(struct kmem_pc *pc, struct kmem_pc_owner *o);

/* Give back the frames of every unpinned page of o (all owners: o NULL),
 * writing dirty ones back first (SQLite's xShrink). Returns frames given
 * back. O(pages of the cache). */
KMEM_API size_t kmem_pc_shrink(struct kmem_pc *pc, struct kmem_pc_owner *o);

/* The clock tick of every owner's policy (aging shifts, esc clears). O(owners)
 * plus the policies' ticks. */
KMEM_API void kmem_pc_tick(struct kmem_pc *pc);

/* ---- working set and thrashing ---------------------------------------------- */

/* W(t, delta): pages of o referenced in its last delta references, among the
 * pages the cache still holds (resident or pooled). O(pages). */
KMEM_API uint32_t kmem_pc_working_set(struct kmem_pc_owner *o, uint64_t delta);

/* The thrashing response (see the top of this file). Returns 1 if an owner
 * was deactivated, 0 if not. O(owners + pages of the deactivated owner). */
KMEM_API int kmem_pc_respond(struct kmem_pc *pc);

/* For struct kmem_pa_config's on_thrash, with thrash_arg the cache: runs
 * kmem_pc_respond(arg) (the frame service calls it with no lock held). */
KMEM_API void kmem_pc_on_thrash(void *arg, struct kmem_pagealloc *pa);

/* ---- statistics and checking ------------------------------------------------- */

struct kmem_pc_owner_stats {
	const char *name;
	uint32_t resident, pooled, pinned, dirty;	/* pages now */
	uint32_t max_pages;
	size_t share;			/* frame-service share, in frames */
	uint64_t refs;			/* the reference clock t: hits + pgfault */
	uint64_t hits;
	uint64_t pgfault;		/* every fault: minor + major */
	uint64_t pgmajfault;		/* faults that read the backing store */
	uint64_t minor_pool;		/* faults served from the page-buffering pool */
	uint64_t pgpgin, pgpgout;	/* pages read, pages written back */
	uint64_t workingset_refault;	/* faults on recently evicted pages */
	uint64_t evictions;		/* pages that left the policy (to the pool or out) */
	uint64_t writeback_errors, read_errors;
	uint64_t lookups_missed;	/* -ENOENT returns */
	unsigned hit_permille;		/* hits * 1000 / refs (0 with no refs) */
	/* (a kmem_pc_get that returns an error is no reference) */
	unsigned pff;			/* faults per 1000 references, last window */
	bool thrashing;			/* the last window thrashed */
	bool deactivated;
	uint64_t thrash_windows, deactivations;
	const char *policy;
};

struct kmem_pc_stats {
	uint32_t pages, used, free;		/* descriptors */
	size_t page_size;
	unsigned owners;
	uint64_t refs, hits, pgfault, pgmajfault, pgpgin, pgpgout, workingset_refault;
	uint64_t shrink_calls, shrink_frames;	/* shrinker scans, frames they gave back */
	uint64_t responses;			/* owners deactivated by the thrashing response */
	uint64_t misuse;			/* calls refused (each reported) */
	unsigned hit_permille;
	uint64_t io_waits;			/* waits for a page another thread was reading */
};

/* Snapshots, exact (taken under the cache lock); the cache's event
 * counters include its destroyed owners'. O(owners) / O(1). */
KMEM_API void kmem_pc_get_stats(struct kmem_pc *pc, struct kmem_pc_stats *st);
KMEM_API void kmem_pc_owner_get_stats(struct kmem_pc_owner *o, struct kmem_pc_owner_stats *st);

/* /proc/vmstat-style text, snprintf-style (returns the length the whole
 * text needs): pgfault, pgmajfault, pgpgin, pgpgout, workingset_refault,
 * hit_permille for the cache, then the same per owner, prefixed
 * "<owner>_". O(owners). */
KMEM_API int kmem_pc_format_vmstat(struct kmem_pc *pc, char *buf, size_t len);

/* Invariant walk (C1..C7 of pagecache/pc_internal.h): descriptors, hash
 * chains, pools, counts, every resident page's policy state, the clients'
 * frames, then each owner's kmem_rp_check(). Returns 0, or reports
 * KMEM_CORRUPTION and returns -EFAULT. O(owners * pages + buckets), for
 * tests and fuzzers. Thread-safe (takes the lock; a failing policy check
 * reports to the sink with it held). */
KMEM_API KMEM_MUST_CHECK int kmem_pc_check(struct kmem_pc *pc);

KMEM_API struct kmem_error_sink *kmem_pc_error_sink(struct kmem_pc *pc);

KMEM_END_DECLS

#endif /* KMEM_PAGECACHE_H */
