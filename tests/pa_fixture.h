/* pa_fixture.h - a frame service (pagealloc) over a buddy instance with owner
 * words over a heap arena, reporting to one recording sink; and a "hoard", a
 * test shrinker that holds frames it allocated from the service and gives
 * them back when scanned, recording what it was asked. Shared by the
 * programs in tests/pagealloc/ (one per source file of pagealloc/).
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

#ifdef KMEM_HAVE_PTHREAD
#include <pthread.h>
#endif

struct pafx {
	struct test_recorder rec;
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	void *binst, *arena, *meta, *pinst;
	size_t frame, arena_size;
	size_t base_used; /* stats.used right after kmem_pa_init: the pool arrays */
};

/* The buddy only (frames of `frame` bytes, owner words, one region). */
static inline void pafx_buddy(struct pafx *f, size_t frame, unsigned max_order, size_t arena_size)
{
	struct kmem_buddy_config bc;
	size_t msz;

	memset(f, 0, sizeof(*f));
	test_recorder_init(&f->rec);
	kmem_buddy_config_init(&bc);
	bc.name = "pa-frames";
	bc.frame_size = frame;
	bc.max_order = max_order;
	bc.flags = KMEM_BUDDY_OWNERS;
	bc.sink = &f->rec.sink;
	f->binst = test_aligned(64, kmem_buddy_sizeof(&bc));
	assert_int_equal(kmem_buddy_init(f->binst, kmem_buddy_sizeof(&bc), &bc, &f->b), 0);
	f->frame = frame;
	f->arena_size = arena_size;
	f->arena = test_aligned(frame << max_order, arena_size);
	msz = kmem_buddy_region_meta_size(f->b, f->arena, arena_size);
	f->meta = test_aligned(64, msz);
	assert_int_equal(kmem_buddy_add_region(f->b, f->arena, arena_size, f->meta, msz), 0);
	f->pinst = test_aligned(64, kmem_pa_sizeof());
}

/* Defaults with the fixture's buddy; the sink is left NULL (the buddy's). */
static inline void pafx_config(struct pafx *f, struct kmem_pa_config *cfg)
{
	kmem_pa_config_init(cfg);
	cfg->buddy = f->b;
}

static inline struct kmem_pa_stats pafx_stats(struct pafx *f)
{
	struct kmem_pa_stats st;

	memset(&st, 0xff, sizeof(st));
	kmem_pa_get_stats(f->pa, &st);
	return st;
}

static inline void pafx_start(struct pafx *f, const struct kmem_pa_config *cfg)
{
	assert_int_equal(kmem_pa_init(f->pinst, kmem_pa_sizeof(), cfg, &f->pa), 0);
	assert_non_null(f->pa);
	f->base_used = pafx_stats(f).used;
}

static inline void pafx_init_full(struct pafx *f, size_t frame, unsigned max_order,
				  size_t arena_size, unsigned flags,
				  enum kmem_pa_init_policy policy)
{
	struct kmem_pa_config cfg;

	pafx_buddy(f, frame, max_order, arena_size);
	pafx_config(f, &cfg);
	cfg.flags = flags;
	cfg.init_policy = policy;
	pafx_start(f, &cfg);
}

#define PAFX_FRAME 4096
#define PAFX_MAX_ORDER 6
#define PAFX_ARENA ((size_t)4 << 20)

/* The default geometry's buddy and a default config (pafx_config), for the
 * caller to adjust before pafx_start. */
static inline void pafx_setup(struct pafx *f, struct kmem_pa_config *cfg)
{
	pafx_buddy(f, PAFX_FRAME, PAFX_MAX_ORDER, PAFX_ARENA);
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

/* Destroy the service; then every frame must be free in the buddy again. */
static inline void pafx_fini(struct pafx *f)
{
	assert_int_equal(kmem_pa_check(f->pa), 0);
	assert_int_equal(kmem_buddy_check(f->b), 0);
	kmem_pa_destroy(f->pa);
	assert_int_equal(kmem_buddy_check(f->b), 0);
	assert_int_equal(pafx_buddy_used(f), 0);
	kmem_buddy_destroy(f->b);
	free(f->pinst);
	free(f->meta);
	free(f->arena);
	free(f->binst);
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
