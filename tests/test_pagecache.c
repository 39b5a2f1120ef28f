/* test_pagecache.c - the page cache (kmem/pagecache.h) on the frame service:
 * exact fault, hit and write-back accounting in scripted scenarios (the
 * textbook reference strings give the simulator's numbers), page buffering
 * and minor faults, pins, write-back errors, reclaim pressure that never
 * loses a dirty page, local and global scope with shares and limits, the
 * working set, the thrashing response, misuse, SQLite-style operations,
 * reads with the cache lock dropped (other pages go on, a second getter
 * waits, a failed read's waiter retries, truncate waits, a read callback
 * that uses the cache) and a threaded stress test. Every test ends with kmem_pc_check().
 */
#include "pa_fixture.h"

#include <kmem/pagecache.h>

#ifdef KMEM_HAVE_PTHREAD
#include <unistd.h> /* usleep */
#endif

#include "pc_internal.h"

/* ---- a backing store: pages of a "disk" in memory ------------------------------ */

#define DISK_PAGES 4096u

struct disk {
	unsigned char *data;	/* DISK_PAGES pages */
	size_t page;
	unsigned reads, writes;
	int fail_writes;	/* write returns -EIO while set */
	int fail_reads;
	uint64_t last_read, last_write;
};

static void disk_init(struct disk *d, size_t page)
{
	memset(d, 0, sizeof(*d));
	d->page = page;
	d->data = test_aligned(64, DISK_PAGES * page);
	/* every page starts stamped with its own number */
	for (uint64_t p = 0; p < DISK_PAGES; p++) {
		memset(d->data + p * page, 0, page);
		memcpy(d->data + p * page, &p, sizeof(p));
	}
}

static int disk_read(void *arg, uint64_t pgno, void *buf, size_t size)
{
	struct disk *d = arg;

	if (d->fail_reads || pgno >= DISK_PAGES)
		return -EIO;
	assert_int_equal(size, d->page);
	memcpy(buf, d->data + pgno * d->page, size);
	/* reads of different pages run at once (the cache lock is dropped) */
	__atomic_fetch_add(&d->reads, 1u, __ATOMIC_RELAXED);
	__atomic_store_n(&d->last_read, pgno, __ATOMIC_RELAXED);
	return 0;
}

static int disk_write(void *arg, uint64_t pgno, const void *buf, size_t size)
{
	struct disk *d = arg;

	if (d->fail_writes || pgno >= DISK_PAGES)
		return -EIO;
	memcpy(d->data + pgno * d->page, buf, size);
	/* a fault's write-back runs with the cache lock dropped */
	__atomic_fetch_add(&d->writes, 1u, __ATOMIC_RELAXED);
	__atomic_store_n(&d->last_write, pgno, __ATOMIC_RELAXED);
	return 0;
}

static uint64_t stamp_of(const void *data)
{
	uint64_t v;

	memcpy(&v, data, sizeof(v));
	return v;
}

/* ---- the fixture: a frame service, a cache, owners -------------------------------- */

struct pcfx {
	struct pafx f;
	struct kmem_pc *pc;
	void *mem;
	struct disk disk;
	void *omem[4];
	struct kmem_pc_owner *o[4];
	unsigned nowners;
};

static void pcfx_start(struct pcfx *x, const struct kmem_rp_ops *policy, uint32_t pages,
		       uint32_t pool, size_t extra)
{
	struct kmem_pa_config pcfg;
	struct kmem_pc_config cfg;
	size_t sz;

	memset(x, 0, sizeof(*x));
	pafx_setup(&x->f, &pcfg);
	pafx_start(&x->f, &pcfg);
	disk_init(&x->disk, PAFX_FRAME);
	kmem_pc_config_init(&cfg);
	cfg.name = "test-pc";
	cfg.pa = x->f.pa;
	cfg.policy = policy;
	cfg.pages = pages;
	cfg.pool_pages = pool;
	cfg.extra = extra;
	cfg.sink = &x->f.rec.sink;
	sz = kmem_pc_sizeof(&cfg);
	assert_true(sz > 0);
	x->mem = test_aligned(64, sz);
	assert_int_equal(kmem_pc_init(x->mem, sz, &cfg, &x->pc), 0);
}

static struct kmem_pc_owner *pcfx_owner_cfg(struct pcfx *x, struct kmem_pc_owner_config *oc)
{
	size_t sz = kmem_pc_owner_sizeof(x->pc);
	unsigned n = x->nowners++;

	assert_true(n < 4);
	x->omem[n] = test_aligned(64, sz);
	assert_int_equal(kmem_pc_owner_create(x->pc, x->omem[n], sz, oc, &x->o[n]), 0);
	return x->o[n];
}

static struct kmem_pc_owner *pcfx_owner(struct pcfx *x, const char *name, bool store,
					enum kmem_pc_scope scope)
{
	struct kmem_pc_owner_config oc;

	memset(&oc, 0, sizeof(oc));
	oc.name = name;
	oc.scope = scope;
	if (store) {
		oc.read = disk_read;
		oc.write = disk_write;
		oc.arg = &x->disk;
	}
	return pcfx_owner_cfg(x, &oc);
}

static void pcfx_fini(struct pcfx *x)
{
	assert_int_equal(kmem_pc_check(x->pc), 0);
	for (unsigned i = 0; i < x->nowners; i++) {
		if (x->o[i])
			assert_int_equal(kmem_pc_owner_destroy(x->o[i]), 0);
		free(x->omem[i]);
	}
	kmem_pc_destroy(x->pc);
	free(x->mem);
	free(x->disk.data);
	pafx_fini(&x->f);
}

static struct kmem_pc_owner_stats ostats(struct kmem_pc_owner *o)
{
	struct kmem_pc_owner_stats st;

	kmem_pc_owner_get_stats(o, &st);
	return st;
}

/* get and put page p (read access), checking its stamp */
static void touch(struct pcfx *x, struct kmem_pc_owner *o, uint64_t p)
{
	struct kmem_pc_page *pg;

	assert_int_equal(kmem_pc_get(o, p, KMEM_PC_CREATE, &pg), 0);
	assert_int_equal(kmem_pc_page_number(pg), p);
	assert_int_equal(stamp_of(kmem_pc_page_data(pg)), p);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	assert_int_equal(kmem_pc_check(x->pc), 0);
}

static const unsigned silberschatz[] = {7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1};
#define NREFS (sizeof(silberschatz) / sizeof(silberschatz[0]))

/* ---- scripted accounting ------------------------------------------------------ */

/* Three pages, the Silberschatz string: FIFO 15 faults, LRU 12 (the
 * simulator's and the textbook's numbers); every fault reads the disk. */
static void run_textbook(const struct kmem_rp_ops *policy, unsigned faults)
{
	struct pcfx x;
	struct kmem_pc_owner *o;
	struct kmem_pc_owner_stats st;

	pcfx_start(&x, policy, 3, 0, 0);
	o = pcfx_owner(&x, "file", true, KMEM_PC_LOCAL);
	for (unsigned t = 0; t < NREFS; t++)
		touch(&x, o, silberschatz[t]);
	st = ostats(o);
	assert_int_equal(st.pgfault, faults);
	assert_int_equal(st.pgmajfault, faults);
	assert_int_equal(st.pgpgin, faults);
	assert_int_equal(x.disk.reads, faults);
	assert_int_equal(st.hits, NREFS - faults);
	assert_int_equal(st.refs, NREFS);
	assert_int_equal(st.hit_permille, (NREFS - faults) * 1000 / NREFS);
	assert_int_equal(st.pgpgout, 0);
	assert_int_equal(st.resident, 3);
	assert_int_equal(st.evictions, faults - 3);
	pcfx_fini(&x);
}

static void test_textbook_fifo(void **state)
{
	(void)state;
	run_textbook(&kmem_rp_fifo, 15);
}

static void test_textbook_lru(void **state)
{
	(void)state;
	run_textbook(&kmem_rp_lru, 12);
}

/* A user's policy (an ops table of its own) runs as the built-in one does. */
static void test_user_policy(void **state)
{
	struct kmem_rp_ops mine = kmem_rp_fifo;

	(void)state;
	mine.name = "my-fifo";
	run_textbook(&mine, 15);
}

/* Belady's anomaly through the cache: FIFO on 1,2,3,4,1,2,5,1,2,3,4,5
 * faults 9 times with 3 pages and 10 with 4. */
static void test_belady(void **state)
{
	static const unsigned refs[] = {1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5};

	(void)state;
	for (uint32_t pages = 3; pages <= 4; pages++) {
		struct pcfx x;
		struct kmem_pc_owner *o;

		pcfx_start(&x, &kmem_rp_fifo, pages, 0, 0);
		o = pcfx_owner(&x, "file", true, KMEM_PC_LOCAL);
		for (unsigned t = 0; t < 12; t++)
			touch(&x, o, refs[t]);
		assert_int_equal(ostats(o).pgfault, pages == 3 ? 9 : 10);
		pcfx_fini(&x);
	}
}

/* Writes are written back once, before the frame is reused, and read back. */
static void test_writeback_accounting(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg;
	uint64_t v = 1000;

	(void)state;
	pcfx_start(&x, &kmem_rp_fifo, 2, 0, 0);
	o = pcfx_owner(&x, "file", true, KMEM_PC_LOCAL);
	/* page 1 written through a write access, page 2 through a dirty unpin */
	assert_int_equal(kmem_pc_get(o, 1, KMEM_PC_CREATE | KMEM_PC_WRITE, &pg), 0);
	memcpy(kmem_pc_page_data(pg), &v, sizeof(v));
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	assert_int_equal(kmem_pc_get(o, 2, KMEM_PC_CREATE, &pg), 0);
	v = 2000;
	memcpy(kmem_pc_page_data(pg), &v, sizeof(v));
	assert_int_equal(kmem_pc_put(o, pg, KMEM_PC_DIRTY), KMEM_OK);
	assert_int_equal(ostats(o).dirty, 2);
	assert_int_equal(x.disk.writes, 0);
	/* page 3 evicts page 1 (FIFO): one write-back */
	touch(&x, o, 3);
	assert_int_equal(x.disk.writes, 1);
	assert_int_equal(x.disk.last_write, 1);
	assert_int_equal(ostats(o).pgpgout, 1);
	assert_int_equal(ostats(o).dirty, 1);
	/* page 1 comes back from the disk with the written value */
	assert_int_equal(kmem_pc_get(o, 1, KMEM_PC_CREATE, &pg), 0);
	assert_int_equal(stamp_of(kmem_pc_page_data(pg)), 1000);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	assert_int_equal(x.disk.writes, 2);	/* evicting page 2 wrote it */
	assert_int_equal(stamp_of(x.disk.data + 2 * PAFX_FRAME), 2000);
	/* sync writes the rest: nothing dirty now but pages 3 and 1 are clean */
	assert_int_equal(kmem_pc_sync(NULL, o), 0);
	assert_int_equal(x.disk.writes, 2);
	assert_int_equal(ostats(o).pgpgout, 2);
	assert_int_equal(ostats(o).pgmajfault, 4);
	/* an owner without a write callback has no dirty pages */
	{
		struct kmem_pc_owner *anon = pcfx_owner(&x, "anon", false, KMEM_PC_LOCAL);

		assert_int_equal(kmem_pc_get(anon, 5, KMEM_PC_CREATE | KMEM_PC_WRITE, &pg), 0);
		assert_int_equal(stamp_of(kmem_pc_page_data(pg)), 0);	/* zero fill */
		assert_int_equal(kmem_pc_put(anon, pg, KMEM_PC_DIRTY), KMEM_OK);
		assert_int_equal(ostats(anon).dirty, 0);
		assert_int_equal(ostats(anon).pgmajfault, 0);
		assert_int_equal(ostats(anon).pgfault, 1);
	}
	pcfx_fini(&x);
}

/* Page buffering: evicted pages keep their frames until reused; a fault on
 * one is minor (no I/O) and a refault. */
static void test_minor_faults(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner_config oc;
	struct kmem_pc_owner *o;
	struct kmem_pc_owner_stats st;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 64, 1, 0);
	memset(&oc, 0, sizeof(oc));
	oc.name = "file";
	oc.max_pages = 3;
	oc.read = disk_read;
	oc.write = disk_write;
	oc.arg = &x.disk;
	o = pcfx_owner_cfg(&x, &oc);
	touch(&x, o, 1);
	touch(&x, o, 2);
	touch(&x, o, 3);
	/* at its limit: 1 and 2 go to the pool (pool_pages + 1), 1's frame is reused */
	touch(&x, o, 4);
	st = ostats(o);
	assert_int_equal(st.resident, 2);
	assert_int_equal(st.pooled, 1);
	assert_int_equal(st.pgmajfault, 4);
	/* 2 is in the pool: a minor fault, no read */
	touch(&x, o, 2);
	st = ostats(o);
	assert_int_equal(st.pgfault, 5);
	assert_int_equal(st.pgmajfault, 4);
	assert_int_equal(st.minor_pool, 1);
	assert_int_equal(st.workingset_refault, 1);
	assert_int_equal(x.disk.reads, 4);
	/* 1 was evicted recently: a major fault that is a refault too */
	touch(&x, o, 1);
	st = ostats(o);
	assert_int_equal(st.pgmajfault, 5);
	assert_int_equal(st.workingset_refault, 2);
	assert_int_equal(st.resident + st.pooled, 3);
	pcfx_fini(&x);
}

/* A pinned page is never a victim; all pinned: -ENOMEM. */
static void test_pins(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *p1, *p2, *p3, *again;

	(void)state;
	pcfx_start(&x, &kmem_rp_fifo, 2, 0, 0);
	o = pcfx_owner(&x, "file", true, KMEM_PC_LOCAL);
	assert_int_equal(kmem_pc_get(o, 1, KMEM_PC_CREATE, &p1), 0);
	assert_int_equal(kmem_pc_get(o, 2, KMEM_PC_CREATE, &p2), 0);
	assert_int_equal(kmem_pc_get(o, 3, KMEM_PC_CREATE, &p3), -ENOMEM);
	assert_int_equal(kmem_pc_put(o, p2, 0), KMEM_OK);
	/* FIFO names 1, pinned: it is parked and 2 goes */
	assert_int_equal(kmem_pc_get(o, 3, KMEM_PC_CREATE, &p3), 0);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	assert_int_equal(kmem_pc_get(o, 1, 0, &again), 0);	/* still there: a hit */
	assert_ptr_equal(again, p1);
	assert_int_equal(kmem_pc_put(o, again, 0), KMEM_OK);
	assert_int_equal(kmem_pc_get(o, 2, 0, &again), -ENOENT);
	assert_int_equal(ostats(o).lookups_missed, 1);
	/* pin once: a pinned page is not pinned twice */
	assert_int_equal(kmem_pc_get(o, 3, KMEM_PC_PIN_ONCE, &again), 0);
	assert_int_equal(kmem_pc_put(o, p3, 0), KMEM_OK);
	assert_int_equal(ostats(o).pinned, 1);
	assert_int_equal(kmem_pc_put(o, p1, 0), KMEM_OK);	/* back into the policy */
	assert_int_equal(ostats(o).pinned, 0);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	touch(&x, o, 4);
	touch(&x, o, 5);
	assert_int_equal(ostats(o).resident, 2);
	pcfx_fini(&x);
}

/* A failed write-back is counted, the page is kept dirty; once the disk
 * works the same fault succeeds and the data is on the disk. */
static void test_writeback_error(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg;
	uint64_t v = 4242;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 1, 0, 0);
	o = pcfx_owner(&x, "file", true, KMEM_PC_LOCAL);
	assert_int_equal(kmem_pc_get(o, 7, KMEM_PC_CREATE | KMEM_PC_WRITE, &pg), 0);
	memcpy(kmem_pc_page_data(pg), &v, sizeof(v));
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	x.disk.fail_writes = 1;
	assert_int_equal(kmem_pc_get(o, 8, KMEM_PC_CREATE, &pg), -EIO);
	assert_true(ostats(o).writeback_errors >= 1);
	assert_int_equal(ostats(o).dirty, 1);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	assert_int_equal(kmem_pc_sync(NULL, o), -EIO);
	/* the page is still cached with its data */
	assert_int_equal(kmem_pc_get(o, 7, 0, &pg), 0);
	assert_int_equal(stamp_of(kmem_pc_page_data(pg)), 4242);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	x.disk.fail_writes = 0;
	touch(&x, o, 8);
	assert_int_equal(stamp_of(x.disk.data + 7 * PAFX_FRAME), 4242);
	/* a failed read caches nothing */
	x.disk.fail_reads = 1;
	assert_int_equal(kmem_pc_get(o, 9, KMEM_PC_CREATE, &pg), -EIO);
	assert_int_equal(ostats(o).read_errors, 1);
	x.disk.fail_reads = 0;
	assert_int_equal(kmem_pc_check(x.pc), 0);
	pcfx_fini(&x);
}

/* ---- pressure: the reaper and direct reclaim ---------------------------------- */

/* Reclaim through the frame service: background pressure gives back clean
 * pages only; direct pressure writes dirty ones back first; no written page
 * is ever lost. */
static void test_reclaim_pressure(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *o;
	struct kmem_pc_owner_stats st;
	enum { N = 600 };
	void *hog[1024];
	unsigned nhog = 0;
	struct kmem_pa_stats ps;

	(void)state;
	pcfx_start(&x, &kmem_rp_clock, 1024, 0, 0);
	o = pcfx_owner(&x, "file", true, KMEM_PC_GLOBAL);
	for (uint64_t p = 0; p < N; p++) {
		struct kmem_pc_page *pg;
		bool w = p % 2 == 0;

		assert_int_equal(kmem_pc_get(o, p, KMEM_PC_CREATE | (w ? KMEM_PC_WRITE : 0), &pg), 0);
		if (w) {
			uint64_t v = p + 100000;

			memcpy(kmem_pc_page_data(pg), &v, sizeof(v));
		}
		assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	}
	assert_int_equal(ostats(o).dirty, N / 2);
	/* someone else takes frames until free is below low */
	for (;;) {
		ps = pafx_stats(&x.f);
		if (ps.free < ps.wmark_low - 1)
			break;
		hog[nhog] = kmem_pa_alloc(x.f.pa, 0, KMEM_PAGE_NOWAIT);
		if (!hog[nhog])
			break;
		nhog++;
	}
	assert_true(kmem_pa_reaper_run(x.f.pa, 0) & KMEM_PA_WORK_RECLAIM);
	st = ostats(o);
	assert_int_equal(st.pgpgout, 0);		/* clean pages first */
	assert_int_equal(st.dirty, N / 2);
	assert_true(st.resident + st.pooled < N);
	ps = pafx_stats(&x.f);
	assert_true(ps.free >= ps.wmark_high);
	/* direct pressure: dirty pages are written back, then given back */
	assert_true(kmem_pa_reclaim(x.f.pa, 2048, KMEM_PRESSURE_DIRECT) > 0);
	st = ostats(o);
	assert_int_equal(st.pgpgout, N / 2);
	assert_int_equal(st.dirty, 0);
	assert_int_equal(st.resident + st.pooled, 0);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	for (unsigned i = 0; i < nhog; i++)
		kmem_pa_free(x.f.pa, hog[i], 0);
	/* every page reads back what was written */
	for (uint64_t p = 0; p < N; p++) {
		struct kmem_pc_page *pg;

		assert_int_equal(kmem_pc_get(o, p, KMEM_PC_CREATE, &pg), 0);
		assert_int_equal(stamp_of(kmem_pc_page_data(pg)), p % 2 ? p : p + 100000);
		assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	}
	pcfx_fini(&x);
}

/* Dirty pages whose write-back fails survive direct reclaim. */
static void test_reclaim_keeps_unwritable(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *o;

	(void)state;
	pcfx_start(&x, &kmem_rp_esc, 64, 0, 0);
	o = pcfx_owner(&x, "file", true, KMEM_PC_LOCAL);
	for (uint64_t p = 0; p < 20; p++) {
		struct kmem_pc_page *pg;

		assert_int_equal(kmem_pc_get(o, p, KMEM_PC_CREATE | (p < 5 ? KMEM_PC_WRITE : 0), &pg), 0);
		assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	}
	x.disk.fail_writes = 1;
	assert_int_equal(kmem_pa_reclaim(x.f.pa, 1000, KMEM_PRESSURE_DIRECT), 15);
	assert_int_equal(ostats(o).resident + ostats(o).pooled, 5);
	assert_int_equal(ostats(o).dirty, 5);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	x.disk.fail_writes = 0;
	assert_int_equal(kmem_pc_shrink(x.pc, NULL), 5);
	assert_int_equal(x.disk.writes, 5);
	pcfx_fini(&x);
}

/* ---- scope, shares and limits -------------------------------------------------- */

static void test_scope_local_global(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *a, *b;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 16, 0, 0);
	a = pcfx_owner(&x, "local", true, KMEM_PC_LOCAL);
	b = pcfx_owner(&x, "global", true, KMEM_PC_GLOBAL);
	for (uint64_t p = 0; p < 10; p++)
		touch(&x, a, p);
	for (uint64_t p = 100; p < 106; p++)
		touch(&x, b, p);
	/* the cache is full: the local owner replaces its own pages */
	touch(&x, a, 10);
	assert_int_equal(ostats(a).resident, 10);
	assert_int_equal(ostats(b).resident, 6);
	/* the global owner, below its share, takes from the other owner */
	touch(&x, b, 106);
	assert_int_equal(ostats(a).resident, 9);
	assert_int_equal(ostats(b).resident, 7);
	pcfx_fini(&x);
}

/* A client's max_frames bounds its pages: at the limit it replaces its own,
 * even when the cache and the frame service have room. */
static void test_client_limit(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner_config oc;
	struct kmem_pc_owner *a, *b;
	struct kmem_pa_client_stats cs;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 64, 0, 0);
	memset(&oc, 0, sizeof(oc));
	oc.name = "small";
	oc.scope = KMEM_PC_GLOBAL;
	oc.client.max_frames = 4;
	oc.read = disk_read;
	oc.arg = &x.disk;
	a = pcfx_owner_cfg(&x, &oc);
	b = pcfx_owner(&x, "big", true, KMEM_PC_GLOBAL);
	for (uint64_t p = 0; p < 20; p++)
		touch(&x, a, p);
	for (uint64_t p = 0; p < 20; p++)
		touch(&x, b, p);
	assert_int_equal(ostats(a).resident, 4);
	assert_int_equal(ostats(a).pgfault, 20);
	assert_int_equal(ostats(b).resident, 20);
	kmem_pa_client_get_stats(a->client, &cs);
	assert_int_equal(cs.held, 4);
	assert_int_equal(cs.limit_fails, 0);	/* the cache never asked past it */
	/* the SQLite cache-size limit */
	assert_int_equal(kmem_pc_owner_set_max(b, 5), 5);
	for (uint64_t p = 50; p < 60; p++)
		touch(&x, b, p);
	assert_int_equal(ostats(b).resident, 5);
	pcfx_fini(&x);
}

/* Global replacement takes from the owner furthest above its share: with
 * proportional shares the heavier owner keeps more. */
static void test_shares(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner_config oc;
	struct kmem_pc_owner *a, *b, *c;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 24, 0, 0);
	memset(&oc, 0, sizeof(oc));
	oc.scope = KMEM_PC_GLOBAL;
	oc.read = disk_read;
	oc.arg = &x.disk;
	oc.name = "a";
	a = pcfx_owner_cfg(&x, &oc);
	oc.name = "b";
	b = pcfx_owner_cfg(&x, &oc);
	oc.name = "c";
	c = pcfx_owner_cfg(&x, &oc);
	/* a fills the cache; b and c then take from a, the only one above share */
	for (uint64_t p = 0; p < 24; p++)
		touch(&x, a, p);
	for (uint64_t p = 0; p < 6; p++) {
		touch(&x, b, p);
		touch(&x, c, p);
	}
	assert_int_equal(ostats(a).resident, 12);
	assert_int_equal(ostats(b).resident, 6);
	assert_int_equal(ostats(c).resident, 6);
	pcfx_fini(&x);
}

/* ---- working set and thrashing ---------------------------------------------- */

static void test_working_set(void **state)
{
	static const unsigned refs[] = {1, 2, 3, 1, 2, 3, 4};
	struct pcfx x;
	struct kmem_pc_owner *o;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 16, 0, 0);
	o = pcfx_owner(&x, "p", true, KMEM_PC_LOCAL);
	for (unsigned t = 0; t < 7; t++)
		touch(&x, o, refs[t]);
	assert_int_equal(kmem_pc_working_set(o, 1), 1);
	assert_int_equal(kmem_pc_working_set(o, 3), 3);
	assert_int_equal(kmem_pc_working_set(o, 2), 2);
	assert_int_equal(kmem_pc_working_set(o, 4), 4);
	assert_int_equal(kmem_pc_working_set(o, 5), 4);
	assert_int_equal(kmem_pc_working_set(o, 100), 4);
	pcfx_fini(&x);
}

/* A low-priority owner that loops over more pages than it can hold thrashes
 * (PFF and refaults); the response deactivates it and gives its frames back;
 * it comes back once nothing thrashes. */
static void test_thrashing(void **state)
{
	struct pcfx x;
	struct kmem_pc_config cfg;
	struct kmem_pc_owner_config oc;
	struct kmem_pc_owner *lo, *hi;
	struct kmem_pc_owner_stats st;
	size_t sz;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 4, 0, 0);
	/* a second cache with a short window on the same frame service */
	kmem_pc_config_init(&cfg);
	cfg.pa = x.f.pa;
	cfg.policy = &kmem_rp_lru;
	cfg.pages = 32;
	cfg.window = 64;
	cfg.sink = &x.f.rec.sink;
	kmem_pc_destroy(x.pc);
	free(x.mem);
	sz = kmem_pc_sizeof(&cfg);
	x.mem = test_aligned(64, sz);
	assert_int_equal(kmem_pc_init(x.mem, sz, &cfg, &x.pc), 0);
	memset(&oc, 0, sizeof(oc));
	oc.read = disk_read;
	oc.write = disk_write;
	oc.arg = &x.disk;
	oc.name = "lo";
	oc.client.priority = 1;
	oc.max_pages = 8;
	lo = pcfx_owner_cfg(&x, &oc);
	oc.name = "hi";
	oc.client.priority = 5;
	oc.max_pages = 8;
	hi = pcfx_owner_cfg(&x, &oc);
	for (unsigned r = 0; r < 64 * 3; r++) {
		touch(&x, lo, r % 12);	/* 12 pages in 8: LRU faults every time */
		touch(&x, hi, r % 4);	/* fits */
	}
	st = ostats(lo);
	assert_true(st.thrashing);
	assert_true(st.thrash_windows >= 2);
	assert_true(st.pff >= 900);
	assert_false(ostats(hi).thrashing);
	/* the frame service reports thrashing: the response picks lo */
	kmem_pc_on_thrash(x.pc, x.f.pa);
	st = ostats(lo);
	assert_true(st.deactivated);
	assert_int_equal(st.deactivations, 1);
	assert_int_equal(st.resident + st.pooled, 0);
	assert_false(ostats(hi).deactivated);
	/* deactivated: at most pinned + 1 pages */
	touch(&x, lo, 1);
	touch(&x, lo, 2);
	assert_int_equal(ostats(lo).resident, 1);
	/* nothing thrashes for 2 windows: lo comes back */
	for (unsigned r = 0; r < 64 * 3; r++)
		touch(&x, hi, r % 4);
	assert_false(ostats(lo).deactivated);
	/* one active owner: no response */
	assert_int_equal(kmem_pc_respond(x.pc), 1);	/* two active: lo again */
	assert_int_equal(kmem_pc_respond(x.pc), 0);	/* only hi left active */
	kmem_pc_owner_activate(lo);
	assert_false(ostats(lo).deactivated);
	pcfx_fini(&x);
}

/* The frame service's own thrashing detection drives the response: the
 * reaper reclaims the cache's pages, the cache faults them straight back
 * (refaults of the same frames), three cycles running; the frame service
 * counts a thrashing event and the cache deactivates its lowest-priority
 * owner, through the on_thrash hook (hook true) or, without the hook, when
 * an owner's window ends and finds the frame service's counter moved. */
static struct pcfx *thrash_fx;

static void thrash_hook(void *arg, struct kmem_pagealloc *pa)
{
	(void)arg;
	if (thrash_fx && thrash_fx->pc)
		kmem_pc_on_thrash(thrash_fx->pc, pa);
}

static void run_pa_thrash(bool hook)
{
	struct pcfx x;
	struct kmem_pa_config pcfg;
	struct kmem_pc_config cfg;
	struct kmem_pc_owner_config oc;
	struct kmem_pc_owner *lo, *hi;
	struct kmem_pa_stats ps;
	void *hog[1024];
	unsigned nhog = 0, cycles = 0;
	uint64_t next = 0;
	size_t sz;

	memset(&x, 0, sizeof(x));
	thrash_fx = &x;
	pafx_setup(&x.f, &pcfg);
	pcfg.flags = KMEM_PA_NO_PCP;	/* frames straight from the pools: refaults exact */
	if (hook)
		pcfg.on_thrash = thrash_hook;
	pafx_start(&x.f, &pcfg);
	disk_init(&x.disk, PAFX_FRAME);
	kmem_pc_config_init(&cfg);
	cfg.pa = x.f.pa;
	cfg.policy = &kmem_rp_clock;
	cfg.pages = 1024;
	cfg.window = 64;
	cfg.sink = &x.f.rec.sink;
	sz = kmem_pc_sizeof(&cfg);
	x.mem = test_aligned(64, sz);
	assert_int_equal(kmem_pc_init(x.mem, sz, &cfg, &x.pc), 0);
	memset(&oc, 0, sizeof(oc));
	oc.read = disk_read;
	oc.write = disk_write;
	oc.arg = &x.disk;
	oc.scope = KMEM_PC_GLOBAL;
	oc.name = "hi";
	oc.client.priority = 5;
	hi = pcfx_owner_cfg(&x, &oc);
	/* the newest owner is scanned first: the reaper takes lo's pages */
	oc.name = "lo";
	oc.client.priority = 1;
	lo = pcfx_owner_cfg(&x, &oc);
	for (uint64_t p = 0; p < 300; p++) {
		touch(&x, lo, p);
		touch(&x, hi, p);
	}
	/* someone else holds the rest: free just below low */
	for (;;) {
		ps = pafx_stats(&x.f);
		if (ps.free < ps.wmark_low)
			break;
		hog[nhog] = kmem_pa_alloc(x.f.pa, 0, KMEM_PAGE_NOWAIT);
		assert_non_null(hog[nhog]);
		nhog++;
	}
	/* reclaim, fault back, reclaim, ...: every cycle's frames come back */
	for (;;) {
		assert_true(kmem_pa_reaper_run(x.f.pa, 0) & KMEM_PA_WORK_RECLAIM);
		if (pafx_stats(&x.f).thrash_events || ++cycles == 8)
			break;
		/* lo faults its pages back (hi only hits: it does not thrash) */
		while (pafx_stats(&x.f).free >= pafx_stats(&x.f).wmark_low) {
			touch(&x, lo, next % 300);
			touch(&x, hi, 0);
			assert_true(++next < 100000);
		}
	}
	ps = pafx_stats(&x.f);
	assert_int_equal(ps.thrash_events, 1);
	assert_true(ps.refaults >= 8);
	assert_true(cycles >= 3);	/* PA_THRASH_CYCLES reclaim cycles running */
	assert_false(ostats(hi).thrashing);
	if (!hook) {
		/* the cache sees the counter at the next window end */
		assert_false(ostats(lo).deactivated);
		for (unsigned r = 0; r < 64; r++)
			touch(&x, hi, 0);
	}
	assert_true(ostats(lo).deactivated);
	assert_false(ostats(hi).deactivated);
	assert_int_equal(ostats(lo).resident + ostats(lo).pooled, 0);
	for (unsigned i = 0; i < nhog; i++)
		kmem_pa_free(x.f.pa, hog[i], 0);
	thrash_fx = NULL;
	pcfx_fini(&x);
}

static void test_thrash_via_hook(void **state)
{
	(void)state;
	run_pa_thrash(true);
}

static void test_thrash_via_counter(void **state)
{
	(void)state;
	run_pa_thrash(false);
}

/* ---- SQLite-style operations --------------------------------------------------- */

static void test_rekey_truncate_shrink(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg, *other;
	unsigned char *extra;

	(void)state;
	pcfx_start(&x, &kmem_rp_arc, 32, 2, 40);
	o = pcfx_owner(&x, "db", false, KMEM_PC_LOCAL);
	for (uint64_t p = 1; p <= 10; p++) {
		assert_int_equal(kmem_pc_get(o, p, KMEM_PC_CREATE, &pg), 0);
		extra = kmem_pc_page_extra(pg);
		for (unsigned i = 0; i < 40; i++)
			assert_int_equal(extra[i], 0);	/* zeroed at creation */
		memset(extra, (int)p, 40);
		assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	}
	/* rekey 3 -> 20, then 4 -> 5 (5 is dropped first) */
	assert_int_equal(kmem_pc_get(o, 3, 0, &pg), 0);
	assert_int_equal(kmem_pc_rekey(o, pg, 20), 0);
	assert_int_equal(kmem_pc_page_number(pg), 20);
	assert_int_equal(((unsigned char *)kmem_pc_page_extra(pg))[0], 3);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	assert_int_equal(kmem_pc_get(o, 3, 0, &pg), -ENOENT);
	assert_int_equal(kmem_pc_get(o, 4, 0, &pg), 0);
	assert_int_equal(kmem_pc_get(o, 5, 0, &other), 0);
	assert_int_equal(kmem_pc_rekey(o, pg, 5), -EBUSY);	/* 5 is pinned */
	assert_int_equal(kmem_pc_put(o, other, 0), KMEM_OK);
	assert_int_equal(kmem_pc_rekey(o, pg, 5), 0);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	assert_int_equal(ostats(o).resident, 9);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	/* truncate drops 8.., pinned ones included */
	assert_int_equal(kmem_pc_get(o, 9, 0, &pg), 0);
	assert_int_equal(kmem_pc_truncate(o, 8), 4);	/* 8, 9, 10, 20 */
	assert_int_equal(ostats(o).resident, 5);
	assert_int_equal(ostats(o).pinned, 0);
	/* the dropped page's release is a double release */
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_DOUBLE_FREE);
	/* discard drops at the last unpin */
	assert_int_equal(kmem_pc_get(o, 1, 0, &pg), 0);
	assert_int_equal(kmem_pc_put(o, pg, KMEM_PC_DISCARD), KMEM_OK);
	assert_int_equal(kmem_pc_get(o, 1, 0, &pg), -ENOENT);
	/* shrink gives every unpinned frame back */
	assert_int_equal(kmem_pc_get(o, 2, 0, &pg), 0);
	assert_int_equal(kmem_pc_shrink(x.pc, o), 3);
	assert_int_equal(ostats(o).resident, 1);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	pcfx_fini(&x);
}

/* ---- misuse ----------------------------------------------------------------------- */

static void test_misuse(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *a, *b;
	struct kmem_pc_page *pg, *dropped;
	struct kmem_pc_stats st;
	unsigned long calls;
	char junk[64];

	(void)state;
	pcfx_start(&x, &kmem_rp_clock, 8, 0, 0);
	a = pcfx_owner(&x, "a", true, KMEM_PC_LOCAL);
	b = pcfx_owner(&x, "b", true, KMEM_PC_LOCAL);
	assert_int_equal(kmem_pc_get(a, 1, KMEM_PC_CREATE, &pg), 0);
	assert_int_equal(kmem_pc_put(a, pg, 0), KMEM_OK);
	calls = x.f.rec.calls;
	/* unpin of an unpinned page */
	assert_int_equal(kmem_pc_put(a, pg, 0), KMEM_NOT_HELD);
	assert_int_equal(x.f.rec.calls, calls + 1);
	assert_int_equal(x.f.rec.last.status, KMEM_NOT_HELD);
	assert_non_null(strstr(x.f.rec.line, "pagecache 'test-pc'"));
	/* a page of another owner */
	assert_int_equal(kmem_pc_get(a, 1, 0, &pg), 0);
	assert_int_equal(kmem_pc_put(b, pg, 0), KMEM_WRONG_CACHE);
	assert_int_equal(x.f.rec.last.status, KMEM_WRONG_CACHE);
	assert_int_equal(kmem_pc_put(a, pg, 0), KMEM_OK);
	/* not a page at all, and an interior pointer */
	assert_int_equal(kmem_pc_put(a, (struct kmem_pc_page *)(void *)junk, 0), KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_pc_put(a, (struct kmem_pc_page *)(void *)((char *)pg + 8), 0),
			 KMEM_FOREIGN_POINTER);
	/* double release: the page was dropped */
	assert_int_equal(kmem_pc_get(a, 2, KMEM_PC_CREATE, &dropped), 0);
	assert_int_equal(kmem_pc_put(a, dropped, KMEM_PC_DISCARD), KMEM_OK);
	assert_int_equal(kmem_pc_put(a, dropped, 0), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_pc_rekey(a, dropped, 9), -EINVAL);
	kmem_pc_get_stats(x.pc, &st);
	assert_int_equal(st.misuse, 6);
	assert_int_equal(x.f.rec.calls, calls + 6);
	assert_int_equal(kmem_error_count(&x.f.rec.sink, KMEM_DOUBLE_FREE), 2);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	/* still usable */
	touch(&x, a, 3);
	assert_int_equal(kmem_pc_get(NULL, 1, 0, &pg), -EINVAL);
	pcfx_fini(&x);
}

/* Bad configurations get defined errors. */
static void test_config_errors(void **state)
{
	struct pcfx x;
	struct kmem_pc_config cfg;
	struct kmem_pc_owner_config oc;
	struct kmem_pc *pc;
	struct kmem_pc_owner *o;
	void *mem;

	(void)state;
	pcfx_start(&x, NULL, 8, 0, 0);
	kmem_pc_config_init(&cfg);
	cfg.pa = x.f.pa;
	assert_int_equal(kmem_pc_sizeof(&cfg), 0);	/* pages 0 */
	cfg.pages = KMEM_PC_MAX_PAGES + 1;
	assert_int_equal(kmem_pc_sizeof(&cfg), 0);
	cfg.pages = 4;
	mem = test_aligned(64, kmem_pc_sizeof(&cfg));
	assert_int_equal(kmem_pc_init(mem, 16, &cfg, &pc), -ENOSPC);
	assert_int_equal(kmem_pc_init((char *)mem + 8, kmem_pc_sizeof(&cfg), &cfg, &pc), -EINVAL);
	cfg.page_order = 30;
	assert_int_equal(kmem_pc_init(mem, kmem_pc_sizeof(&cfg), &cfg, &pc), -EINVAL);
	cfg.page_order = 0;
	cfg.pa = NULL;
	assert_int_equal(kmem_pc_init(mem, kmem_pc_sizeof(&cfg), &cfg, &pc), -EINVAL);
	free(mem);
	memset(&oc, 0, sizeof(oc));
	mem = test_aligned(64, kmem_pc_owner_sizeof(x.pc));
	oc.scope = (enum kmem_pc_scope)7;
	assert_int_equal(kmem_pc_owner_create(x.pc, mem, kmem_pc_owner_sizeof(x.pc), &oc, &o), -EINVAL);
	oc.scope = KMEM_PC_LOCAL;
	assert_int_equal(kmem_pc_owner_create(x.pc, mem, 8, &oc, &o), -ENOSPC);
	oc.client.oom_score_adj = 5000;
	assert_int_equal(kmem_pc_owner_create(x.pc, mem, kmem_pc_owner_sizeof(x.pc), &oc, &o), -EINVAL);
	free(mem);
	pcfx_fini(&x);
}

static void test_vmstat(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *o;
	char buf[2048];
	int n;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 3, 0, 0);
	o = pcfx_owner(&x, "file", true, KMEM_PC_LOCAL);
	for (unsigned t = 0; t < NREFS; t++)
		touch(&x, o, silberschatz[t]);
	n = kmem_pc_format_vmstat(x.pc, buf, sizeof(buf));
	assert_true(n > 0 && (size_t)n < sizeof(buf));
	assert_non_null(strstr(buf, "\npgmajfault 12\n"));
	assert_non_null(strstr(buf, "pgfault 12\n"));
	assert_non_null(strstr(buf, "file_pgpgin 12\n"));
	assert_non_null(strstr(buf, "file_hit_permille 400\n"));
	assert_int_equal(kmem_pc_format_vmstat(x.pc, buf, 8), n);
	pcfx_fini(&x);
}

/* The checker finds a broken invariant and names it. */
static void test_checker_catches(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *o;

	(void)state;
	pcfx_start(&x, &kmem_rp_lru, 8, 0, 0);
	o = pcfx_owner(&x, "file", true, KMEM_PC_LOCAL);
	touch(&x, o, 1);
	o->pinned++;
	assert_int_equal(kmem_pc_check(x.pc), -EFAULT);
	assert_int_equal(x.f.rec.last.status, KMEM_CORRUPTION);
	assert_non_null(strstr(x.f.rec.detail, "C5"));
	o->pinned--;
	x.pc->nfree--;
	assert_int_equal(kmem_pc_check(x.pc), -EFAULT);
	assert_non_null(strstr(x.f.rec.detail, "C1"));
	x.pc->nfree++;
	pcfx_fini(&x);
}

/* ---- reads with the cache lock dropped ------------------------------------------ */

/* A read callback that uses the cache: reading page 5 it asks for page 5
 * itself (-EDEADLK: it is the reader), faults page 6 in (the lock is not
 * held during a read, so the callback may), and truncates from 5 (page 6
 * is dropped; page 5, being read by this thread, is left). */
struct reent {
	struct disk *disk;
	struct kmem_pc_owner *o;
	int self_rc, other_rc;
	uint32_t truncated;
	unsigned calls;
};

static int reent_read(void *arg, uint64_t pgno, void *buf, size_t size)
{
	struct reent *r = arg;

	if (pgno == 5) {
		struct kmem_pc_page *pg = NULL;

		r->calls++;
		r->self_rc = kmem_pc_get(r->o, 5, KMEM_PC_CREATE, &pg);
		r->other_rc = kmem_pc_get(r->o, 6, KMEM_PC_CREATE, &pg);
		if (r->other_rc == 0 &&
		    (stamp_of(kmem_pc_page_data(pg)) != 6 || kmem_pc_put(r->o, pg, 0) != KMEM_OK))
			r->other_rc = -1;
		r->truncated = kmem_pc_truncate(r->o, 5);
	}
	return disk_read(r->disk, pgno, buf, size);
}

static void test_read_reentrant(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner_config oc;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg;
	struct reent r = { 0 };

	(void)state;
	pcfx_start(&x, NULL, 8, 0, 0);
	memset(&oc, 0, sizeof(oc));
	oc.name = "reent";
	oc.scope = KMEM_PC_LOCAL;
	oc.read = reent_read;
	oc.arg = &r;
	r.disk = &x.disk;
	o = pcfx_owner_cfg(&x, &oc);
	r.o = o;
	assert_int_equal(kmem_pc_get(o, 5, KMEM_PC_CREATE, &pg), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.self_rc, -EDEADLK);
	assert_int_equal(r.other_rc, 0);
	assert_int_equal(r.truncated, 1);
	assert_int_equal(stamp_of(kmem_pc_page_data(pg)), 5);
	assert_int_equal(ostats(o).pgmajfault, 2);	/* 5 and 6 */
	assert_int_equal(ostats(o).resident, 1);	/* 6 truncated */
	assert_int_equal(kmem_pc_check(x.pc), 0);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	/* -EDEADLK is a return, not a misuse report */
	assert_int_equal(kmem_error_total(&x.f.rec.sink), 0);
	pcfx_fini(&x);
}

#ifdef KMEM_HAVE_PTHREAD
/* A store whose reads of one page block until the test opens them, so a
 * read can be held in flight while other threads use the cache. */
struct slow {
	struct disk *disk;
	pthread_mutex_t m;
	pthread_cond_t c;
	uint64_t pgno;		/* the page whose reads block */
	uint64_t wpgno;		/* the page whose writes block (UINT64_MAX: none) */
	unsigned entered;	/* reads or writes of them begun */
	bool open;
	int fail_once;		/* the next blocked read or write fails (-EIO) */
};

/* A read or write of the blocking page: count it, wait until opened;
 * returns whether it is to fail. */
static int slow_block(struct slow *s)
{
	int fail;

	pthread_mutex_lock(&s->m);
	s->entered++;
	pthread_cond_broadcast(&s->c);
	while (!s->open)
		pthread_cond_wait(&s->c, &s->m);
	fail = s->fail_once;
	s->fail_once = 0;
	pthread_mutex_unlock(&s->m);
	return fail;
}

static int slow_read(void *arg, uint64_t pgno, void *buf, size_t size)
{
	struct slow *s = arg;

	if (pgno == s->pgno && slow_block(s))
		return -EIO;
	return disk_read(s->disk, pgno, buf, size);
}

static int slow_write(void *arg, uint64_t pgno, const void *buf, size_t size)
{
	struct slow *s = arg;

	if (pgno == s->wpgno && slow_block(s))
		return -EIO;
	return disk_write(s->disk, pgno, buf, size);
}

struct getter {
	struct kmem_pc_owner *o;
	uint64_t pgno;
	struct kmem_pc_page *pg;
	int rc;
	bool truncate;		/* truncate from pgno instead of a get */
	uint32_t dropped;
};

static void *getter_run(void *arg)
{
	struct getter *g = arg;

	if (g->truncate)
		g->dropped = kmem_pc_truncate(g->o, g->pgno);
	else
		g->rc = kmem_pc_get(g->o, g->pgno, KMEM_PC_CREATE, &g->pg);
	return NULL;
}

static void slow_wait_entered(struct slow *s, unsigned n)
{
	pthread_mutex_lock(&s->m);
	while (s->entered < n)
		pthread_cond_wait(&s->c, &s->m);
	pthread_mutex_unlock(&s->m);
}

/* Liveness, not timing: poll until the cache has counted n waits. */
static void wait_io_waits(struct kmem_pc *pc, uint64_t n)
{
	struct kmem_pc_stats st;

	for (unsigned spins = 0;; spins++) {
		kmem_pc_get_stats(pc, &st);
		if (st.io_waits >= n)
			return;
		assert_true(spins < 600000); /* a minute: the waiter never came */
		usleep(100);
	}
}

static void slow_open(struct slow *s)
{
	pthread_mutex_lock(&s->m);
	s->open = true;
	pthread_cond_broadcast(&s->c);
	pthread_mutex_unlock(&s->m);
}

static struct kmem_pc_owner *slow_owner(struct pcfx *x, struct slow *s, uint64_t pgno)
{
	struct kmem_pc_owner_config oc;

	memset(s, 0, sizeof(*s));
	s->disk = &x->disk;
	s->pgno = pgno;
	s->wpgno = UINT64_MAX;
	assert_int_equal(pthread_mutex_init(&s->m, NULL), 0);
	assert_int_equal(pthread_cond_init(&s->c, NULL), 0);
	memset(&oc, 0, sizeof(oc));
	oc.name = "slow";
	oc.scope = KMEM_PC_LOCAL;
	oc.read = slow_read;
	oc.write = slow_write;
	oc.arg = s;
	return pcfx_owner_cfg(x, &oc);
}

static void slow_fini(struct slow *s)
{
	pthread_cond_destroy(&s->c);
	pthread_mutex_destroy(&s->m);
}

/* While thread A's read of page 1 is held in flight: the main thread
 * faults page 2 in, dirties it and hits it (the cache lock is not held
 * across the read: if it were, this would never return), the checker
 * passes, and thread B's get of page 1 waits instead of reading it again.
 * Opened, A and B have the same page, read once. */
static void test_read_unlocked(void **state)
{
	struct pcfx x;
	struct slow s;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg;
	struct getter a, b;
	pthread_t ta, tb;
	struct kmem_pc_owner_stats st;

	(void)state;
	pcfx_start(&x, NULL, 16, 0, 0);
	o = slow_owner(&x, &s, 1);
	a = (struct getter){ .o = o, .pgno = 1 };
	b = a;
	assert_int_equal(pthread_create(&ta, NULL, getter_run, &a), 0);
	slow_wait_entered(&s, 1);
	assert_int_equal(kmem_pc_get(o, 2, KMEM_PC_CREATE | KMEM_PC_WRITE, &pg), 0);
	assert_int_equal(stamp_of(kmem_pc_page_data(pg)), 2);
	assert_int_equal(kmem_pc_put(o, pg, KMEM_PC_DIRTY), KMEM_OK);
	assert_int_equal(kmem_pc_get(o, 2, 0, &pg), 0);	/* a hit */
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	assert_int_equal(kmem_pc_sync(x.pc, o), 0);	/* page 2 written; page 1 untouched */
	assert_int_equal(kmem_pc_check(x.pc), 0);
	st = ostats(o);
	assert_int_equal(st.resident, 2);	/* page 1, parked while read, counts */
	assert_int_equal(st.pinned, 1);		/* by its reader */
	assert_int_equal(st.pgpgout, 1);
	assert_int_equal(kmem_pc_working_set(o, 1000), 1);	/* page 2; page 1 not yet referenced */
	assert_int_equal(pthread_create(&tb, NULL, getter_run, &b), 0);
	wait_io_waits(x.pc, 1);
	slow_open(&s);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_ptr_equal(a.pg, b.pg);
	assert_int_equal(stamp_of(kmem_pc_page_data(a.pg)), 1);
	assert_int_equal(s.entered, 1);		/* one read of page 1 */
	st = ostats(o);
	assert_int_equal(st.pgmajfault, 2);
	assert_int_equal(st.hits, 2);		/* the main thread's and B's */
	assert_int_equal(st.pinned, 1);
	assert_int_equal(kmem_pc_put(o, a.pg, 0), KMEM_OK);
	assert_int_equal(kmem_pc_put(o, b.pg, 0), KMEM_OK);
	assert_int_equal(ostats(o).pinned, 0);
	assert_int_equal(kmem_error_total(&x.f.rec.sink), 0);
	pcfx_fini(&x);
	slow_fini(&s);
}

/* A read that fails while another thread waits for it: the reader gets
 * -EIO, nothing is cached, and the waiter faults the page itself (a second
 * read, which succeeds). */
static void test_read_fails_waiter_retries(void **state)
{
	struct pcfx x;
	struct slow s;
	struct kmem_pc_owner *o;
	struct getter a, b;
	pthread_t ta, tb;
	struct kmem_pc_owner_stats st;

	(void)state;
	pcfx_start(&x, NULL, 16, 0, 0);
	o = slow_owner(&x, &s, 3);
	s.fail_once = 1;
	a = (struct getter){ .o = o, .pgno = 3 };
	b = a;
	assert_int_equal(pthread_create(&ta, NULL, getter_run, &a), 0);
	slow_wait_entered(&s, 1);
	assert_int_equal(pthread_create(&tb, NULL, getter_run, &b), 0);
	wait_io_waits(x.pc, 1);
	slow_open(&s);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(a.rc, -EIO);
	assert_int_equal(b.rc, 0);
	assert_int_equal(stamp_of(kmem_pc_page_data(b.pg)), 3);
	assert_int_equal(s.entered, 2);
	st = ostats(o);
	assert_int_equal(st.read_errors, 1);
	assert_int_equal(st.pgmajfault, 1);
	assert_int_equal(st.resident, 1);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	assert_int_equal(kmem_pc_put(o, b.pg, 0), KMEM_OK);
	pcfx_fini(&x);
	slow_fini(&s);
}

/* A truncate over a page being read waits for the read, then drops the
 * page (its frame was the reader's until then); a put of the page the
 * reader got is then a report, not a change. */
static void test_truncate_waits_for_read(void **state)
{
	struct pcfx x;
	struct slow s;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg;
	struct getter a, t;
	pthread_t ta, tt;

	(void)state;
	pcfx_start(&x, NULL, 16, 0, 0);
	o = slow_owner(&x, &s, 7);
	assert_int_equal(kmem_pc_get(o, 8, KMEM_PC_CREATE, &pg), 0);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	a = (struct getter){ .o = o, .pgno = 7 };
	t = (struct getter){ .o = o, .pgno = 7, .truncate = true };
	assert_int_equal(pthread_create(&ta, NULL, getter_run, &a), 0);
	slow_wait_entered(&s, 1);
	assert_int_equal(pthread_create(&tt, NULL, getter_run, &t), 0);
	wait_io_waits(x.pc, 1);
	slow_open(&s);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tt, NULL), 0);
	assert_int_equal(a.rc, 0);
	assert_int_equal(t.dropped, 2);		/* 7 (after its read) and 8 */
	assert_int_equal(kmem_pc_get(o, 7, 0, &pg), -ENOENT);
	assert_int_equal(ostats(o).resident, 0);
	assert_int_equal(ostats(o).pinned, 0);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	assert_int_equal(kmem_pc_put(o, a.pg, 0), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_total(&x.f.rec.sink), 1);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	pcfx_fini(&x);
	slow_fini(&s);
}
/* A fault that must reuse a dirty page's frame writes it back with the
 * lock dropped: while thread A's write-back of page 1 is held in flight,
 * the main thread hits page 2 and the checker passes (page 1 parked, io,
 * unpinned); thread B's get of page 1 waits for the write and then faults
 * it back from the store, where it finds the data written. With fail set,
 * the write fails: page 1 goes back to the policy dirty (B gets it as a
 * hit, the data unwritten) and A takes the next victim. */
static void run_writeback_unlocked(bool fail)
{
	struct pcfx x;
	struct slow s;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg;
	struct getter a, b;
	pthread_t ta, tb;
	struct kmem_pc_owner_stats st;
	const uint64_t mark = 0x5eed5eedull;

	pcfx_start(&x, &kmem_rp_fifo, 2, 0, 0);
	o = slow_owner(&x, &s, UINT64_MAX);
	s.wpgno = 1;
	s.fail_once = fail;
	assert_int_equal(kmem_pc_get(o, 1, KMEM_PC_CREATE | KMEM_PC_WRITE, &pg), 0);
	memcpy((char *)kmem_pc_page_data(pg) + 64, &mark, sizeof(mark));
	assert_int_equal(kmem_pc_put(o, pg, KMEM_PC_DIRTY), KMEM_OK);
	assert_int_equal(kmem_pc_get(o, 2, KMEM_PC_CREATE, &pg), 0);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	a = (struct getter){ .o = o, .pgno = 3 };
	b = (struct getter){ .o = o, .pgno = 1 };
	assert_int_equal(pthread_create(&ta, NULL, getter_run, &a), 0);	/* FIFO: page 1 goes */
	slow_wait_entered(&s, 1);
	assert_int_equal(kmem_pc_get(o, 2, 0, &pg), 0);	/* a hit while page 1 is written */
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	st = ostats(o);
	assert_int_equal(st.resident, 2);
	assert_int_equal(st.pinned, 0);
	assert_int_equal(st.dirty, 1);
	assert_int_equal(pthread_create(&tb, NULL, getter_run, &b), 0);
	wait_io_waits(x.pc, 1);
	slow_open(&s);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(a.rc, 0);
	assert_int_equal(stamp_of(kmem_pc_page_data(a.pg)), 3);
	assert_int_equal(b.rc, 0);
	assert_int_equal(stamp_of(kmem_pc_page_data(b.pg)), 1);
	/* the mark: written to the store and read back, or never written */
	assert_memory_equal((char *)kmem_pc_page_data(b.pg) + 64, &mark, sizeof(mark));
	assert_int_equal(memcmp(x.disk.data + x.disk.page + 64, &mark, sizeof(mark)) == 0, !fail);
	st = ostats(o);
	assert_int_equal(st.writeback_errors, fail ? 1 : 0);
	assert_int_equal(st.pgpgout, fail ? 0 : 1);
	assert_int_equal(st.dirty, fail ? 1 : 0);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	assert_int_equal(kmem_pc_put(o, a.pg, 0), KMEM_OK);
	assert_int_equal(kmem_pc_put(o, b.pg, 0), KMEM_OK);
	s.wpgno = UINT64_MAX; /* the owner's destroy writes page 1 back if it is dirty */
	pcfx_fini(&x);
	slow_fini(&s);
}

static void test_writeback_unlocked(void **state)
{
	(void)state;
	run_writeback_unlocked(false);
	run_writeback_unlocked(true);
}
/* While thread A's fault of page 3 writes back page 1 with the lock
 * dropped, thread B faults page 3 itself (another frame: page 2's). A,
 * resuming, finds page 3 cached: it gives its frame back and takes B's
 * page (a hit), so page 3 is cached once and read once. */
static void test_writeback_fault_race(void **state)
{
	struct pcfx x;
	struct slow s;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg;
	struct getter a, b;
	pthread_t ta, tb;
	unsigned reads;

	(void)state;
	pcfx_start(&x, &kmem_rp_fifo, 2, 0, 0);
	o = slow_owner(&x, &s, UINT64_MAX);
	s.wpgno = 1;
	assert_int_equal(kmem_pc_get(o, 1, KMEM_PC_CREATE | KMEM_PC_WRITE, &pg), 0);
	assert_int_equal(kmem_pc_put(o, pg, KMEM_PC_DIRTY), KMEM_OK);
	assert_int_equal(kmem_pc_get(o, 2, KMEM_PC_CREATE, &pg), 0);
	assert_int_equal(kmem_pc_put(o, pg, 0), KMEM_OK);
	reads = x.disk.reads;
	a = (struct getter){ .o = o, .pgno = 3 };
	b = a;
	assert_int_equal(pthread_create(&ta, NULL, getter_run, &a), 0);
	slow_wait_entered(&s, 1);
	assert_int_equal(pthread_create(&tb, NULL, getter_run, &b), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);	/* B needs nothing A holds */
	assert_int_equal(b.rc, 0);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	slow_open(&s);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(a.rc, 0);
	assert_ptr_equal(a.pg, b.pg);
	assert_int_equal(stamp_of(kmem_pc_page_data(a.pg)), 3);
	assert_int_equal(x.disk.reads - reads, 1);
	assert_int_equal(ostats(o).pgpgout, 1);
	assert_int_equal(ostats(o).resident, 1);	/* page 3; page 1's frame went back */
	assert_int_equal(kmem_pc_check(x.pc), 0);
	assert_int_equal(kmem_pc_put(o, a.pg, 0), KMEM_OK);
	assert_int_equal(kmem_pc_put(o, b.pg, 0), KMEM_OK);
	pcfx_fini(&x);
	slow_fini(&s);
}
#endif

/* ---- threads ----------------------------------------------------------------------- */

#ifdef KMEM_HAVE_PTHREAD
struct worker {
	struct pcfx *x;
	struct kmem_pc_owner *own, *shared;
	uint64_t seed;
	unsigned iters;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct test_rng r = {w->seed};

	for (unsigned i = 0; i < w->iters; i++) {
		struct kmem_pc_owner *o = test_below(&r, 3) ? w->own : w->shared;
		uint64_t p = test_below(&r, 96);
		struct kmem_pc_page *pg;
		int rc = kmem_pc_get(o, p, KMEM_PC_CREATE, &pg);

		if (rc == -ENOMEM)
			continue;	/* all pinned by the others, for a moment */
		if (rc != 0 || stamp_of(kmem_pc_page_data(pg)) != p) {
			fprintf(stderr, "worker: page %llu rc %d\n", (unsigned long long)p, rc);
			abort();
		}
		if (kmem_pc_put(o, pg, 0) != KMEM_OK)
			abort();
		if (i % 512 == 0)
			kmem_pc_tick(w->x->pc);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct pcfx x;
	struct kmem_pc_owner *shared;
	struct worker w[4];
	pthread_t t[4];
	uint64_t seed = test_seed(15, "pagecache threads");

	(void)state;
	pcfx_start(&x, &kmem_rp_arc, 64, 4, 0);
	assert_int_equal(kmem_pa_reaper_start(x.f.pa), 0);
	shared = pcfx_owner(&x, "shared", true, KMEM_PC_GLOBAL);
	for (unsigned i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "t%u", i);
		w[i].own = pcfx_owner(&x, name, true, i % 2 ? KMEM_PC_GLOBAL : KMEM_PC_LOCAL);
	}
	for (unsigned i = 0; i < 3; i++) {
		w[i].x = &x;
		w[i].shared = shared;
		w[i].seed = seed + i;
		w[i].iters = (unsigned)test_scale(20000);
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	/* the main thread adds pressure: shrink and reclaim now and then */
	for (unsigned i = 0; i < test_scale(200); i++) {
		(void)kmem_pc_shrink(x.pc, NULL);
		(void)kmem_pa_reclaim(x.f.pa, 16, KMEM_PRESSURE_BACKGROUND);
	}
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	kmem_pa_reaper_stop(x.f.pa);
	assert_int_equal(kmem_pc_check(x.pc), 0);
	assert_int_equal(kmem_error_total(&x.f.rec.sink), 0);
	pcfx_fini(&x);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_textbook_fifo),
		cmocka_unit_test(test_textbook_lru),
		cmocka_unit_test(test_user_policy),
		cmocka_unit_test(test_belady),
		cmocka_unit_test(test_writeback_accounting),
		cmocka_unit_test(test_minor_faults),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_writeback_error),
		cmocka_unit_test(test_reclaim_pressure),
		cmocka_unit_test(test_reclaim_keeps_unwritable),
		cmocka_unit_test(test_scope_local_global),
		cmocka_unit_test(test_client_limit),
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_working_set),
		cmocka_unit_test(test_thrashing),
		cmocka_unit_test(test_thrash_via_hook),
		cmocka_unit_test(test_thrash_via_counter),
		cmocka_unit_test(test_rekey_truncate_shrink),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_vmstat),
		cmocka_unit_test(test_checker_catches),
		cmocka_unit_test(test_read_reentrant),
#ifdef KMEM_HAVE_PTHREAD
		cmocka_unit_test(test_read_unlocked),
		cmocka_unit_test(test_read_fails_waiter_retries),
		cmocka_unit_test(test_truncate_waits_for_read),
		cmocka_unit_test(test_writeback_unlocked),
		cmocka_unit_test(test_writeback_fault_race),
		cmocka_unit_test(test_threads),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
