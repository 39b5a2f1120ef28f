/* sqlite.c - SQLite's pluggable page cache (sqlite3_pcache_methods2) on the
 * kmem page cache: the adaptor of kmem/sqlite.h (libkmem-sqlite).
 *
 * Algorithm: each method maps onto one page-cache call (the table in
 * kmem/sqlite.h). SQLite's page handle (sqlite3_pcache_page: pBuf, pExtra)
 * lives in the kmem page's extra bytes, followed by a back pointer to the
 * kmem page and then SQLite's szExtra bytes:
 *
 *   kmem_pc_page_extra(pg): [sqlite3_pcache_page | struct kmem_pc_page * | pad
 *                            | SQLite's szExtra bytes (zero on a new page)]
 *                            ^ returned by xFetch     ^ pExtra
 *
 * so xUnpin and xRekey get from SQLite's handle to the kmem page with one
 * load. The cache of a page size is made on the first xCreate with that
 * szPage (a page is frame_size << order bytes, order = log2(szPage /
 * frame) or 0).
 *
 * Data structures: one process-wide block `ks` (SQLite's configuration is
 * process-wide): the config, the arena, the stack, up to KS_SIZES page
 * caches by page size, the totals of the last session.
 *
 * Invariants: ks.live while between xInit and xShutdown; every owner
 * belongs to the cache of its page size.
 *
 * Locking: ks.lock (a pthread mutex) serialises making a page cache and
 * xShutdown; everything else is the page cache's own locking. SQLite
 * serialises xInit and xShutdown itself.
 *
 * Tunables: struct kmem_sqlite_config (arena 64 MiB, clock, pages = the
 * arena's frames, no page buffering, local scope).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <kmem/kmem.h>
#include <kmem/sqlite.h>

#define KS_SIZES 8
#define KS_FRAME 4096u
#define KS_MAX_ORDER 6u
#define KS_HEAD 32u	/* sqlite3_pcache_page + back pointer, rounded */
#define KS_EXTRA_MAX 256u	/* SQLite's szExtra is below 250 */

_Static_assert(sizeof(sqlite3_pcache_page) + sizeof(void *) <= KS_HEAD, "the page head fits");

struct ks_cache {	/* a sqlite3_pcache */
	struct kmem_pc *pc;
	struct kmem_pc_owner *o;
	int purgeable;
	_Alignas(16) unsigned char mem[];	/* the owner */
};

static struct {
	pthread_mutex_t lock;
	struct kmem_sqlite_config cfg;
	int live;
	void *arena, *inst;
	struct kmem_stack st;
	struct {
		size_t page_size;
		struct kmem_pc *pc;
		void *mem;
	} pcs[KS_SIZES];
	struct kmem_pc_stats last;	/* totals of the last session */
} ks = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void ks_on_thrash(void *arg, struct kmem_pagealloc *pa)
{
	(void)arg;
	for (unsigned i = 0; i < KS_SIZES; i++) {
		struct kmem_pc *pc = __atomic_load_n(&ks.pcs[i].pc, __ATOMIC_ACQUIRE);

		if (pc)
			kmem_pc_on_thrash(pc, pa);
	}
}

static int ks_init(void *arg)
{
	struct kmem_stack_config sc;
	size_t isz, bytes = ks.cfg.arena_bytes ? ks.cfg.arena_bytes : (size_t)64 << 20;
	int rc;

	(void)arg;
	bytes = (bytes + (KS_FRAME << KS_MAX_ORDER) - 1) & ~(size_t)((KS_FRAME << KS_MAX_ORDER) - 1);
	kmem_stack_config_init(&sc);
	sc.no_slab = true;
	sc.buddy.name = "sqlite-frames";
	sc.buddy.frame_size = KS_FRAME;
	sc.buddy.max_order = KS_MAX_ORDER;
	sc.pa.name = "sqlite";
	sc.pa.flags = KMEM_PA_LAZY_REAPER;
	sc.pa.on_thrash = ks_on_thrash;
	isz = kmem_stack_sizeof(&sc);
	ks.arena = aligned_alloc(KS_FRAME << KS_MAX_ORDER, bytes);
	ks.inst = aligned_alloc(64, (isz + 63) & ~(size_t)63);
	if (!ks.arena || !ks.inst)
		goto fail;
	rc = kmem_stack_init(ks.inst, isz, &sc, ks.arena, bytes, NULL, 0, &ks.st);
	if (rc)
		goto fail;
	memset(ks.pcs, 0, sizeof(ks.pcs));
	memset(&ks.last, 0, sizeof(ks.last));
	ks.live = 1;
	return SQLITE_OK;
fail:
	free(ks.arena);
	free(ks.inst);
	ks.arena = ks.inst = NULL;
	return SQLITE_NOMEM;
}

static void ks_totals(struct kmem_pc_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < KS_SIZES; i++) {
		struct kmem_pc_stats s;

		if (!ks.pcs[i].pc)
			continue;
		kmem_pc_get_stats(ks.pcs[i].pc, &s);
		t->pages += s.pages;
		t->used += s.used;
		t->free += s.free;
		t->page_size = s.page_size;
		t->owners += s.owners;
		t->refs += s.refs;
		t->hits += s.hits;
		t->pgfault += s.pgfault;
		t->pgmajfault += s.pgmajfault;
		t->pgpgin += s.pgpgin;
		t->pgpgout += s.pgpgout;
		t->workingset_refault += s.workingset_refault;
		t->shrink_calls += s.shrink_calls;
		t->shrink_frames += s.shrink_frames;
		t->responses += s.responses;
		t->misuse += s.misuse;
	}
	t->hit_permille = t->refs ? (unsigned)(t->hits * 1000 / t->refs) : 0;
}

static void ks_shutdown(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ks.lock);
	if (ks.live) {
		ks_totals(&ks.last);
		for (unsigned i = 0; i < KS_SIZES; i++)
			if (ks.pcs[i].pc) {
				kmem_pc_destroy(ks.pcs[i].pc);
				free(ks.pcs[i].mem);
				ks.pcs[i].pc = NULL;
			}
		kmem_stack_destroy(&ks.st);
		free(ks.arena);
		free(ks.inst);
		ks.arena = ks.inst = NULL;
		ks.live = 0;
	}
	pthread_mutex_unlock(&ks.lock);
}

/* The page cache for pages of size bytes, made on first use. */
static struct kmem_pc *ks_pc_for(size_t size)
{
	struct kmem_pc *pc = NULL;

	pthread_mutex_lock(&ks.lock);
	for (unsigned i = 0; i < KS_SIZES && !pc; i++) {
		if (ks.pcs[i].pc && ks.pcs[i].page_size == size) {
			pc = ks.pcs[i].pc;
		} else if (!ks.pcs[i].pc) {
			struct kmem_pc_config cfg;
			unsigned order = 0;
			size_t sz;

			while (((size_t)KS_FRAME << order) < size)
				order++;
			kmem_pc_config_init(&cfg);
			cfg.name = "sqlite";
			cfg.pa = ks.st.pa;
			cfg.policy = ks.cfg.policy;
			cfg.pages = ks.cfg.pages ? ks.cfg.pages
						 : (uint32_t)(ks.cfg.arena_bytes ? ks.cfg.arena_bytes
										  : (size_t)64 << 20) /
						   KS_FRAME;
			cfg.page_order = order;
			cfg.extra = KS_HEAD + KS_EXTRA_MAX;
			cfg.pool_pages = ks.cfg.pool_pages;
			sz = kmem_pc_sizeof(&cfg);
			ks.pcs[i].mem = sz ? aligned_alloc(64, (sz + 63) & ~(size_t)63) : NULL;
			if (!ks.pcs[i].mem || kmem_pc_init(ks.pcs[i].mem, sz, &cfg, &pc) != 0) {
				free(ks.pcs[i].mem);
				ks.pcs[i].mem = NULL;
				pc = NULL;
				break;
			}
			ks.pcs[i].page_size = size;
			__atomic_store_n(&ks.pcs[i].pc, pc, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&ks.lock);
	return pc;
}

static sqlite3_pcache *ks_create(int szPage, int szExtra, int bPurgeable)
{
	struct kmem_pc_owner_config oc;
	struct kmem_pc *pc;
	struct ks_cache *c;
	size_t osz;

	if (szPage <= 0 || szExtra < 0 || (unsigned)szExtra > KS_EXTRA_MAX ||
	    !(pc = ks_pc_for((size_t)szPage)))
		return NULL;
	osz = kmem_pc_owner_sizeof(pc);
	c = aligned_alloc(64, (sizeof(*c) + osz + 63) & ~(size_t)63);
	if (!c)
		return NULL;
	memset(&oc, 0, sizeof(oc));
	oc.name = bPurgeable ? "db" : "memdb";
	oc.scope = ks.cfg.scope;
	oc.flags = bPurgeable ? 0 : KMEM_PC_NOEVICT;
	c->pc = pc;
	c->purgeable = bPurgeable;
	if (kmem_pc_owner_create(pc, c->mem, osz, &oc, &c->o) != 0) {
		free(c);
		return NULL;
	}
	return (sqlite3_pcache *)(void *)c;
}

static void ks_cachesize(sqlite3_pcache *p, int n)
{
	struct ks_cache *c = (struct ks_cache *)(void *)p;

	if (c->purgeable)
		(void)kmem_pc_owner_set_max(c->o, n > 0 ? (uint32_t)n : 0);
}

static int ks_pagecount(sqlite3_pcache *p)
{
	struct ks_cache *c = (struct ks_cache *)(void *)p;
	struct kmem_pc_owner_stats st;

	kmem_pc_owner_get_stats(c->o, &st);
	return (int)(st.resident + st.pooled);
}

static sqlite3_pcache_page *ks_fetch(sqlite3_pcache *p, unsigned key, int createFlag)
{
	struct ks_cache *c = (struct ks_cache *)(void *)p;
	unsigned flags = KMEM_PC_PIN_ONCE;
	struct kmem_pc_page *pg;
	sqlite3_pcache_page *sp;
	unsigned char *x;

	if (createFlag == 1)
		flags |= KMEM_PC_CREATE | KMEM_PC_EASY;
	else if (createFlag == 2)
		flags |= KMEM_PC_CREATE;
	if (kmem_pc_get(c->o, key, flags, &pg) != 0)
		return NULL;
	x = kmem_pc_page_extra(pg);
	sp = (sqlite3_pcache_page *)(void *)x;
	sp->pBuf = kmem_pc_page_data(pg);
	sp->pExtra = x + KS_HEAD;
	memcpy(x + sizeof(*sp), &pg, sizeof(pg));
	return sp;
}

static struct kmem_pc_page *ks_page(sqlite3_pcache_page *sp)
{
	struct kmem_pc_page *pg;

	memcpy(&pg, (unsigned char *)sp + sizeof(*sp), sizeof(pg));
	return pg;
}

static void ks_unpin(sqlite3_pcache *p, sqlite3_pcache_page *sp, int discard)
{
	struct ks_cache *c = (struct ks_cache *)(void *)p;

	(void)kmem_pc_put(c->o, ks_page(sp), discard ? KMEM_PC_DISCARD : 0);
}

static void ks_rekey(sqlite3_pcache *p, sqlite3_pcache_page *sp, unsigned oldKey, unsigned newKey)
{
	struct ks_cache *c = (struct ks_cache *)(void *)p;

	(void)oldKey;
	(void)kmem_pc_rekey(c->o, ks_page(sp), newKey);
}

static void ks_truncate(sqlite3_pcache *p, unsigned limit)
{
	struct ks_cache *c = (struct ks_cache *)(void *)p;

	(void)kmem_pc_truncate(c->o, limit);
}

static void ks_destroy(sqlite3_pcache *p)
{
	struct ks_cache *c = (struct ks_cache *)(void *)p;

	(void)kmem_pc_truncate(c->o, 0);
	(void)kmem_pc_owner_destroy(c->o);
	free(c);
}

static void ks_shrink(sqlite3_pcache *p)
{
	struct ks_cache *c = (struct ks_cache *)(void *)p;

	(void)kmem_pc_shrink(NULL, c->o);
}

int kmem_sqlite_install(const struct kmem_sqlite_config *cfg)
{
	static const sqlite3_pcache_methods2 methods = {
		.iVersion = 1,
		.xInit = ks_init,
		.xShutdown = ks_shutdown,
		.xCreate = ks_create,
		.xCachesize = ks_cachesize,
		.xPagecount = ks_pagecount,
		.xFetch = ks_fetch,
		.xUnpin = ks_unpin,
		.xRekey = ks_rekey,
		.xTruncate = ks_truncate,
		.xDestroy = ks_destroy,
		.xShrink = ks_shrink,
	};
	int rc = sqlite3_config(SQLITE_CONFIG_PCACHE2, &methods);

	if (rc == SQLITE_OK) {
		if (cfg)
			ks.cfg = *cfg;
		else
			memset(&ks.cfg, 0, sizeof(ks.cfg));
	}
	return rc;
}

void kmem_sqlite_get_stats(struct kmem_pc_stats *st)
{
	pthread_mutex_lock(&ks.lock);
	if (ks.live)
		ks_totals(st);
	else
		*st = ks.last;
	pthread_mutex_unlock(&ks.lock);
}

int kmem_sqlite_check(void)
{
	int rc = 0;

	pthread_mutex_lock(&ks.lock);
	if (ks.live) {
		for (unsigned i = 0; i < KS_SIZES; i++)
			if (ks.pcs[i].pc && kmem_pc_check(ks.pcs[i].pc) != 0)
				rc = -EFAULT;
		if (kmem_pa_check(ks.st.pa) != 0)
			rc = -EFAULT;
	}
	pthread_mutex_unlock(&ks.lock);
	return rc;
}
