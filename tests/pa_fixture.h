/* pa_fixture.h - a frame service (pagealloc) over a buddy instance with owner
 * words over a heap arena, reporting to one recording sink, assembled by
 * kmem_stack_init() with no slab instance (tests put their own on the
 * service's page source: pafx_slab); and a "hoard", a test shrinker that
 * holds frames it allocated from the service and gives them back when
 * scanned, recording what it was asked. Shared by the programs in
 * tests/pagealloc/ (one per source file of pagealloc/).
 *
 * Two steps, so a test can adjust the service's config in between:
 * pafx_setup (or pafx_prepare + pafx_config) allocates the arena and fills a
 * default config; pafx_start assembles the stack. A test that needs the
 * buddy before the service starts sets f.before_start (called from the
 * stack's add_regions callback, the region added); one that calls
 * kmem_pa_init() itself takes the buddy alone with pafx_bare instead.
 *
 * The default geometry (pafx_init, pafx_setup): 4 KiB frames, max order 6,
 * a 4 MiB arena: 1024 frames, watermarks 32/40/48, zero_low/high 24/48. */
#ifndef KMEM_PA_FIXTURE_H
#define KMEM_PA_FIXTURE_H

#include <errno.h>
#include <stdbool.h>

#include "kmem_config.h" /* KMEM_HAVE_PTHREAD */
#include "kmem_test.h"

#include <kmem/pagealloc.h>
#include <kmem/stack.h>

#ifdef KMEM_HAVE_PTHREAD
#include <pthread.h>
#endif

struct pafx {
	struct test_recorder rec;
	struct kmem_stack st;	/* buddy + frame service, no slab */
	struct kmem_buddy *b;	/* st.buddy */
	struct kmem_pagealloc *pa; /* st.pa; NULL before pafx_start, and with pafx_bare */
	void *inst, *arena, *meta; /* inst: the stack's instances */
	size_t frame, arena_size;
	unsigned max_order;
	size_t base_used; /* stats.used right after kmem_pa_init: the pool arrays */
	/* Optional, set before pafx_start: runs once the buddy has its region
	 * and before the service starts (f->b is set), e.g. to reserve frames. */
	void (*before_start)(struct pafx *f);
};

/* The arena of the buddy to be (frames of `frame` bytes, owner words, one
 * region); pafx_start or pafx_bare makes it. */
static inline void pafx_prepare(struct pafx *f, size_t frame, unsigned max_order,
				size_t arena_size)
{
	memset(f, 0, sizeof(*f));
	test_recorder_init(&f->rec);
	f->frame = frame;
	f->max_order = max_order;
	f->arena_size = arena_size;
	f->arena = test_aligned(frame << max_order, arena_size);
}

/* kmem_stack's add_regions callback: the arena with its frame table outside
 * it (so the whole arena is frames), then the test's before_start. */
static inline int pafx_add_region(void *arg, struct kmem_buddy *b)
{
	struct pafx *f = arg;
	size_t msz = kmem_buddy_region_meta_size(b, f->arena, f->arena_size);
	int rc;

	f->meta = test_aligned(64, msz);
	rc = kmem_buddy_add_region(b, f->arena, f->arena_size, f->meta, msz);
	if (rc == 0 && f->before_start) {
		f->b = b;
		f->before_start(f);
	}
	return rc;
}

/* Assemble the buddy (name "pa-frames", the recording sink) and, with pc, the
 * frame service on it with pc's config (its buddy is the stack's; its sink
 * NULL means the buddy's, the recording one); pc NULL: the buddy alone. */
static inline void pafx_assemble(struct pafx *f, const struct kmem_pa_config *pc)
{
	struct kmem_stack_config cfg;
	size_t isz;

	kmem_stack_config_init(&cfg);
	cfg.no_slab = true;
	cfg.no_pagealloc = pc == NULL;
	cfg.buddy.name = "pa-frames";
	cfg.buddy.frame_size = f->frame;
	cfg.buddy.max_order = f->max_order;
	cfg.buddy.flags = KMEM_BUDDY_OWNERS;
	cfg.buddy.sink = &f->rec.sink;
	if (pc)
		cfg.pa = *pc;
	cfg.add_regions = pafx_add_region;
	cfg.add_regions_arg = f;
	isz = kmem_stack_sizeof(&cfg);
	f->inst = test_aligned(64, isz);
	assert_int_equal(kmem_stack_init(f->inst, isz, &cfg, NULL, 0, NULL, 0, &f->st), 0);
	f->b = f->st.buddy;
	f->pa = f->st.pa;
}

/* Defaults; the buddy and the sink are left NULL (the stack's buddy, its
 * sink). */
static inline void pafx_config(struct pafx *f, struct kmem_pa_config *cfg)
{
	(void)f;
	kmem_pa_config_init(cfg);
}

static inline struct kmem_pa_stats pafx_stats(struct pafx *f)
{
	struct kmem_pa_stats st;

	memset(&st, 0xff, sizeof(st));
	kmem_pa_get_stats(f->pa, &st);
	return st;
}

/* The buddy and the frame service on it, with cfg. */
static inline void pafx_start(struct pafx *f, const struct kmem_pa_config *cfg)
{
	pafx_assemble(f, cfg);
	assert_non_null(f->pa);
	f->base_used = pafx_stats(f).used;
}

/* The buddy alone (a stack with no frame service either), for tests that
 * call kmem_pa_init() on it themselves; pafx_fini tears it down. */
static inline void pafx_bare(struct pafx *f)
{
	pafx_assemble(f, NULL);
	assert_null(f->pa);
}

static inline void pafx_init_full(struct pafx *f, size_t frame, unsigned max_order,
				  size_t arena_size, unsigned flags,
				  enum kmem_pa_init_policy policy)
{
	struct kmem_pa_config cfg;

	pafx_prepare(f, frame, max_order, arena_size);
	pafx_config(f, &cfg);
	cfg.flags = flags;
	cfg.init_policy = policy;
	pafx_start(f, &cfg);
}

#define PAFX_FRAME 4096
#define PAFX_MAX_ORDER 6
#define PAFX_ARENA ((size_t)4 << 20)

/* The default geometry and a default config (pafx_config), for the caller
 * to adjust before pafx_start. */
static inline void pafx_setup(struct pafx *f, struct kmem_pa_config *cfg)
{
	pafx_prepare(f, PAFX_FRAME, PAFX_MAX_ORDER, PAFX_ARENA);
	pafx_config(f, cfg);
}

/* The default geometry with `flags` and an init policy. */
static inline void pafx_init_policy(struct pafx *f, unsigned flags,
				    enum kmem_pa_init_policy policy)
{
	pafx_init_full(f, PAFX_FRAME, PAFX_MAX_ORDER, PAFX_ARENA, flags, policy);
}

/* The default geometry with `flags`: 1024 frames, watermarks 32/40/48. */
static inline void pafx_init(struct pafx *f, unsigned flags)
{
	pafx_init_policy(f, flags, KMEM_PA_INIT_ON_ALLOC);
}

/* A budget kmem_pa_reaper_run never runs out of. */
#define BIG_BUDGET ((size_t)1 << 20)

static inline size_t pafx_buddy_used(struct pafx *f)
{
	struct kmem_buddy_stats st;

	kmem_buddy_get_stats(f->b, &st);
	return st.used_frames;
}

/* The accounting identities every quiescent snapshot satisfies. */
static inline void pafx_assert_sane(struct pafx *f)
{
	struct kmem_pa_stats st = pafx_stats(f);
	struct kmem_buddy_stats bs;

	kmem_buddy_get_stats(f->b, &bs);
	assert_int_equal(st.free, st.buddy_free + st.zeroed + st.dirty);
	assert_int_equal(st.buddy_free, bs.free_frames);
	assert_int_equal(st.managed, bs.managed_frames - bs.reserved_frames);
	assert_int_equal(st.used, st.managed - st.free - st.pcp);
	assert_int_equal(kmem_pa_check(f->pa), 0);
	assert_int_equal(kmem_buddy_check(f->b), 0);
}

/* Destroy the service (if any); then every frame must be free in the buddy
 * again; then the buddy (kmem_stack_destroy) and the memory. */
static inline void pafx_fini(struct pafx *f)
{
	if (f->pa) {
		assert_int_equal(kmem_pa_check(f->pa), 0);
		assert_int_equal(kmem_buddy_check(f->b), 0);
		kmem_pa_destroy(f->pa);
		f->st.pa = f->pa = NULL;
	}
	assert_int_equal(kmem_buddy_check(f->b), 0);
	assert_int_equal(pafx_buddy_used(f), 0);
	kmem_stack_destroy(&f->st);
	f->b = NULL;
	free(f->inst);
	free(f->meta);
	free(f->arena);
}

static inline bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

/* KMEM_TEST_FILTER=test_name runs only that test of the program. */
static inline void pafx_test_filter(void)
{
	if (getenv("KMEM_TEST_FILTER"))
		cmocka_set_test_filter(getenv("KMEM_TEST_FILTER"));
}

/* ---- a slab instance on the frame service ----------------------------------- */

/* A slab instance named `name` on the page source ps (the service's or a
 * client's), reporting to the fixture's sink; *inst is its memory, for the
 * caller to free after kmem_slab_destroy. */
static inline struct kmem_slab *pafx_slab(struct pafx *f, const struct kmem_page_source *ps,
					  const char *name, void **inst)
{
	struct kmem_slab_config sc;
	struct kmem_slab *s = NULL;

	memset(&sc, 0, sizeof(sc));
	sc.name = name;
	sc.source = ps;
	sc.sink = &f->rec.sink;
	*inst = test_aligned(64, kmem_slab_sizeof());
	assert_int_equal(kmem_slab_init(*inst, kmem_slab_sizeof(), &sc, &s), 0);
	return s;
}

static inline struct kmem_cache_stats cstats(struct kmem_cache *c)
{
	struct kmem_cache_stats st;

	kmem_cache_get_stats(c, &st);
	return st;
}

/* ---- the hoard: a test shrinker --------------------------------------------- */

#define HOARD_MAX 4096
#define HOARD_LOG 64

struct hoard {
	struct kmem_shrinker sh;
	struct kmem_pagealloc *pa;
#ifdef KMEM_HAVE_PTHREAD
	pthread_mutex_t lock;
#endif
	void *blk[HOARD_MAX];
	unsigned ord[HOARD_MAX];
	size_t n;		/* blocks held */
	size_t frames;		/* frames held */
	bool frozen;		/* scan releases nothing */
	/* what it was asked (under lock) */
	unsigned long counts, scans;
	size_t released;	/* frames its scans released */
	unsigned level_mask;	/* 1 << level for every scan seen */
	struct kmem_shrink_request log[HOARD_LOG]; /* the first scans */
	unsigned long *seq;	/* optional: a shared call sequence */
	unsigned long seq_at;	/* value of *seq at its last scan */
};

static inline void hoard_lock(struct hoard *h)
{
#ifdef KMEM_HAVE_PTHREAD
	pthread_mutex_lock(&h->lock);
#else
	(void)h;
#endif
}

static inline void hoard_unlock(struct hoard *h)
{
#ifdef KMEM_HAVE_PTHREAD
	pthread_mutex_unlock(&h->lock);
#else
	(void)h;
#endif
}

static inline size_t hoard_count_cb(void *arg)
{
	struct hoard *h = arg;
	size_t n;

	hoard_lock(h);
	h->counts++;
	n = h->frozen ? 0 : h->frames;
	hoard_unlock(h);
	return n;
}

/* Release whole blocks, newest first, until req->frames frames are back. */
static inline size_t hoard_scan_cb(void *arg, const struct kmem_shrink_request *req)
{
	struct hoard *h = arg;
	void *out[256];
	unsigned oord[256];
	unsigned k = 0;
	size_t got = 0;

	hoard_lock(h);
	if (h->scans < HOARD_LOG)
		h->log[h->scans] = *req;
	h->scans++;
	h->level_mask |= 1u << req->level;
	if (h->seq)
		h->seq_at = ++*h->seq;
	while (!h->frozen && h->n > 0 && got < req->frames && k < 256) {
		h->n--;
		out[k] = h->blk[h->n];
		oord[k] = h->ord[h->n];
		got += (size_t)1 << oord[k];
		k++;
	}
	h->frames -= got;
	h->released += got;
	hoard_unlock(h);
	for (unsigned i = 0; i < k; i++)
		kmem_pa_free(h->pa, out[i], oord[i]);
	return got;
}

static inline struct hoard *hoard_new(struct kmem_pagealloc *pa, const char *name)
{
	struct hoard *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	h->pa = pa;
	h->sh.name = name;
	h->sh.count = hoard_count_cb;
	h->sh.scan = hoard_scan_cb;
	h->sh.arg = h;
#ifdef KMEM_HAVE_PTHREAD
	assert_int_equal(pthread_mutex_init(&h->lock, NULL), 0);
#endif
	return h;
}

static inline void hoard_push(struct hoard *h, void *p, unsigned order)
{
	hoard_lock(h);
	assert_true(h->n < HOARD_MAX);
	h->blk[h->n] = p;
	h->ord[h->n] = order;
	h->n++;
	h->frames += (size_t)1 << order;
	hoard_unlock(h);
}

/* Allocate one block (flags) into the hoard; false if the service said NULL. */
static inline bool hoard_take(struct hoard *h, unsigned order, unsigned flags)
{
	void *p = kmem_pa_alloc(h->pa, order, flags);

	if (!p)
		return false;
	hoard_push(h, p, order);
	return true;
}

static inline size_t hoard_frames(struct hoard *h)
{
	size_t n;

	hoard_lock(h);
	n = h->frames;
	hoard_unlock(h);
	return n;
}

static inline unsigned long hoard_scans(struct hoard *h)
{
	unsigned long n;

	hoard_lock(h);
	n = h->scans;
	hoard_unlock(h);
	return n;
}

/* Free everything still held (not counted as released). */
static inline void hoard_empty(struct hoard *h)
{
	hoard_lock(h);
	while (h->n > 0) {
		h->n--;
		kmem_pa_free(h->pa, h->blk[h->n], h->ord[h->n]);
	}
	h->frames = 0;
	hoard_unlock(h);
}

static inline void hoard_free(struct hoard *h)
{
	hoard_empty(h);
#ifdef KMEM_HAVE_PTHREAD
	pthread_mutex_destroy(&h->lock);
#endif
	free(h);
}

/* Allocate order-0 frames into h (NO_PCP instances) until free == target. */
static inline void take_until(struct pafx *f, struct hoard *h, size_t target)
{
	size_t fr = pafx_stats(f).free;

	assert_true(fr >= target);
	for (; fr > target; fr--)
		assert_true(hoard_take(h, 0, 0));
	assert_int_equal(pafx_stats(f).free, target);
}

#endif /* KMEM_PA_FIXTURE_H */
