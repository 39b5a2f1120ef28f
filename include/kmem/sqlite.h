/* kmem/sqlite.h - SQLite's page cache on the kmem page cache
 * (libkmem-sqlite, built when SQLite's development files are found).
 *
 * kmem_sqlite_install() hands SQLite a sqlite3_pcache_methods2 table
 * (SQLITE_CONFIG_PCACHE2) whose caches are owners of a kmem page cache
 * (kmem/pagecache.h) on a frame service of its own:
 *
 *   xInit      a buddy and a frame service over an arena of arena_bytes
 *              (kmem_stack_init; the reaper starts on first need), the
 *              frame service's on_thrash tied to the page caches;
 *   xCreate    an owner (a frame-service client) of the page cache for
 *              szPage (one kmem_pc per page size, made on first use, with
 *              room for SQLite's szExtra < 250 bytes per page); a cache
 *              with bPurgeable false is KMEM_PC_NOEVICT;
 *   xCachesize kmem_pc_owner_set_max (purgeable caches only): pages above
 *              the limit are given back at once, and the owner replaces
 *              its own pages at the limit;
 *   xPagecount the owner's pages, pinned and unpinned;
 *   xFetch     kmem_pc_get with KMEM_PC_PIN_ONCE (SQLite's pins do not
 *              count); createFlag 0: look-up only, 1: KMEM_PC_CREATE |
 *              KMEM_PC_EASY, 2: KMEM_PC_CREATE; new pages' extra bytes
 *              read zero;
 *   xUnpin     kmem_pc_put, KMEM_PC_DISCARD when asked;
 *   xRekey     kmem_pc_rekey (the page is pinned; a page cached under the
 *              new key is dropped);
 *   xTruncate  kmem_pc_truncate (pinned pages implicitly unpinned);
 *   xShrink    kmem_pc_shrink of the owner: every unpinned page's frame
 *              goes back to the frame service;
 *   xDestroy   truncate to 0, then kmem_pc_owner_destroy;
 *   xShutdown  the page caches, the frame service and the arena go.
 * SQLite's unpinned pages are clean (its pager keeps dirty pages pinned),
 * so owners have no backing-store callbacks: an evicted page is re-read by
 * SQLite's pager, and the cache counts its faults as minor (zero fill).
 *
 * Thread safety: install and the stats calls are not thread-safe against
 * sqlite3_initialize/sqlite3_shutdown (call them when SQLite is shut down,
 * or between statements); the methods themselves are (kmem_pc's lock).
 * The adaptor keeps its state in one process-wide block (SQLite's page
 * cache configuration is process-wide too).
 */
#ifndef KMEM_SQLITE_H
#define KMEM_SQLITE_H

#include <kmem/pagecache.h>

KMEM_BEGIN_DECLS

struct kmem_sqlite_config {
	size_t arena_bytes;		/* the frame service's memory; 0: 64 MiB */
	const struct kmem_rp_ops *policy;	/* NULL: kmem_rp_clock */
	uint32_t pages;			/* pages per kmem_pc; 0: the arena's frames */
	uint32_t pool_pages;		/* page buffering per owner (0: none) */
	enum kmem_pc_scope scope;	/* of every SQLite cache */
};

/* Configure SQLite to use the kmem page cache with cfg (NULL: defaults).
 * Call before sqlite3_initialize() or after sqlite3_shutdown(). Returns
 * SQLITE_OK (0) or sqlite3_config's error (SQLITE_MISUSE while SQLite is
 * initialised). O(1); the set-up happens in xInit. */
KMEM_API int kmem_sqlite_install(const struct kmem_sqlite_config *cfg);

/* The page caches' totals (every page size) since the last xInit, the
 * caches of closed connections included; after sqlite3_shutdown() those of
 * the session it ended; zeroes before the first xInit. O(owners). */
KMEM_API void kmem_sqlite_get_stats(struct kmem_pc_stats *st);

/* kmem_pc_check() of every page cache and kmem_pa_check() of the frame
 * service: 0 or -EFAULT (reported to the sinks). 0 before xInit. */
KMEM_API int kmem_sqlite_check(void);

KMEM_END_DECLS

#endif /* KMEM_SQLITE_H */
