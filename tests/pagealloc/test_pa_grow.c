/* test_pa_grow.c - the frame service's hooks for a heap that grows
 * and shrinks (what the drop-in malloc stands on): a buddy with one owner
 * table for a whole address range, grow() before reclaim, release() above
 * the high watermark (inline, and through a lazily started reaper), and the
 * fork handlers of buddy, pagealloc and slab. */
#include "pa_fixture.h"

#include <kmem/slab.h>

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FR 4096u
#define CHUNK ((size_t)1 << 20)	/* a region: 256 frames */
#define CHUNKS 8

struct gfx {
	struct test_recorder rec;
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	void *binst, *pinst, *range;
	void **owner;
	void *meta[CHUNKS];
	unsigned added, limit;
	unsigned grow_calls;
	size_t release_calls, release_asked, release_ret;
	/* withdraw mode: release() takes order-4 blocks out of the buddy and
	 * holds them; grow() puts them back before adding regions */
	bool withdraw;
	void *held[128];
	unsigned nheld;
};

static size_t grow_cb(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	struct gfx *g = arg;
	size_t msz;

	(void)pa;
	g->grow_calls++;
	assert_true(frames > 0);
	if (g->nheld) {
		size_t n = 0;

		while (g->nheld && n < frames) {
			kmem_buddy_free(g->b, g->held[--g->nheld]);
			n += 16;
		}
		return n;
	}
	if (g->added >= g->limit)
		return 0;
	msz = kmem_buddy_region_meta_size(g->b, (char *)g->range + g->added * CHUNK, CHUNK);
	g->meta[g->added] = test_aligned(64, msz);
	assert_int_equal(kmem_buddy_add_region(g->b, (char *)g->range + g->added * CHUNK, CHUNK,
					       g->meta[g->added], msz),
			 0);
	g->added++;
	return CHUNK / FR;
}

static size_t release_cb(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	struct gfx *g = arg;

	__atomic_fetch_add(&g->release_calls, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&g->release_asked, frames, __ATOMIC_RELAXED);
	if (g->withdraw) {
		size_t n = 0;
		void *blk;

		while (n < frames && g->nheld < 128 && (blk = kmem_buddy_alloc(g->b, 4)) != NULL) {
			g->held[g->nheld++] = blk;
			n += 16;
		}
		kmem_pa_withdrawn(pa, n);
		return n;
	}
	return g->release_ret;
}

/* A buddy over `range` (CHUNKS regions' worth, none added) with one owner
 * table, the first region added, and a frame service with the hooks. */
static void gfx_init(struct gfx *g, unsigned limit, unsigned flags)
{
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;

	memset(g, 0, sizeof(*g));
	test_recorder_init(&g->rec);
	g->limit = limit;
	g->range = test_aligned(CHUNK, CHUNKS * CHUNK);
	g->owner = calloc(CHUNKS * CHUNK / FR, sizeof(void *));
	assert_non_null(g->owner);
	kmem_buddy_config_init(&bc);
	bc.max_order = 8; /* a region is one max-order block */
	bc.flags = KMEM_BUDDY_OWNERS;
	bc.sink = &g->rec.sink;
	bc.owner_table = g->owner;
	bc.owner_base = g->range;
	bc.owner_frames = CHUNKS * CHUNK / FR;
	g->binst = test_aligned(64, kmem_buddy_sizeof(&bc));
	assert_int_equal(kmem_buddy_init(g->binst, kmem_buddy_sizeof(&bc), &bc, &g->b), 0);
	assert_int_equal(grow_cb(g, NULL, 1), CHUNK / FR);
	g->grow_calls = 0;
	kmem_pa_config_init(&pc);
	pc.buddy = g->b;
	pc.init_policy = KMEM_PA_INIT_NONE;
	pc.flags = flags | KMEM_PA_NO_BGZERO;
	pc.wmark_min = 8;
	pc.wmark_low = 16;
	pc.wmark_high = 64;
	pc.grow = grow_cb;
	pc.grow_arg = g;
	pc.release = release_cb;
	pc.release_arg = g;
	g->pinst = test_aligned(64, kmem_pa_sizeof());
	assert_int_equal(kmem_pa_init(g->pinst, kmem_pa_sizeof(), &pc, &g->pa), 0);
}

static void gfx_fini(struct gfx *g)
{
	assert_int_equal(kmem_pa_check(g->pa), 0);
	kmem_pa_destroy(g->pa);
	assert_int_equal(kmem_buddy_check(g->b), 0);
	kmem_buddy_destroy(g->b);
	for (unsigned i = 0; i < g->added; i++)
		free(g->meta[i]);
	free(g->pinst);
	free(g->binst);
	free(g->owner);
	free(g->range);
}

static struct kmem_pa_stats gstats(struct gfx *g)
{
	struct kmem_pa_stats st;

	kmem_pa_get_stats(g->pa, &st);
	return st;
}

/* An owner table for a range: regions outside it are refused, lookups of
 * any address in it are one load, untouched words read NULL. */
static void test_owner_table(void **state)
{
	struct gfx g;
	struct kmem_page_source ps;
	void *blk, *outside;
	size_t msz;

	(void)state;
	gfx_init(&g, CHUNKS, 0);
	kmem_buddy_page_source(g.b, &ps);
	assert_ptr_equal((void *)ps.owner_base, g.range);
	assert_int_equal(ps.owner_frames, CHUNKS * CHUNK / FR);
	assert_ptr_equal(ps.owner_words, g.owner);
	/* a region outside the table's range */
	outside = test_aligned(CHUNK, CHUNK);
	msz = kmem_buddy_region_meta_size(g.b, outside, CHUNK);
	g.meta[CHUNKS - 1] = test_aligned(64, msz);
	assert_int_equal(kmem_buddy_add_region(g.b, outside, CHUNK, g.meta[CHUNKS - 1], msz),
			 -EINVAL);
	free(g.meta[CHUNKS - 1]);
	g.meta[CHUNKS - 1] = NULL;
	free(outside);
	/* set and read an owner through the table */
	blk = kmem_buddy_alloc(g.b, 2);
	assert_non_null(blk);
	assert_int_equal(kmem_buddy_set_owner(g.b, blk, &g), 0);
	assert_ptr_equal(kmem_buddy_owner(g.b, (char *)blk + 3 * FR + 5), &g);
	assert_ptr_equal(g.owner[((char *)blk - (char *)g.range) / FR + 3], &g);
	assert_null(kmem_buddy_owner(g.b, (char *)g.range + 5 * CHUNK)); /* no region there */
	assert_int_equal(kmem_buddy_set_owner(g.b, blk, NULL), 0);
	kmem_buddy_free(g.b, blk);
	/* config errors */
	{
		struct kmem_buddy_config bc;

		kmem_buddy_config_init(&bc);
		bc.owner_table = g.owner;
		bc.owner_base = g.range;
		bc.owner_frames = 16;
		assert_int_equal(kmem_buddy_sizeof(&bc), 0); /* invalid: no KMEM_BUDDY_OWNERS */
		assert_int_equal(kmem_buddy_init(g.binst, 1 << 20, &bc, &(struct kmem_buddy *){ NULL }),
				 -EINVAL); /* no KMEM_BUDDY_OWNERS */
		bc.flags = KMEM_BUDDY_OWNERS;
		bc.owner_base = (char *)g.range + 1;
		assert_int_equal(kmem_buddy_init(g.binst, 1 << 20, &bc, &(struct kmem_buddy *){ NULL }),
				 -EINVAL); /* misaligned base */
	}
	gfx_fini(&g);
}

/* Growth comes before reclaim: allocating past the first region adds
 * regions, with no direct reclaim and no OOM; at the limit, allocation
 * fails cleanly and the service stays consistent. */
static void test_grow(void **state)
{
	enum { N = CHUNKS * CHUNK / FR };
	static void *blk[N];
	struct gfx g;
	struct kmem_pa_stats st;
	size_t n = 0;

	(void)state;
	gfx_init(&g, 4, 0);
	while (n < N && (blk[n] = kmem_pa_alloc(g.pa, 0, 0)) != NULL)
		n++;
	st = gstats(&g);
	assert_int_equal(g.added, 4);
	assert_int_equal(st.grows, 3);
	assert_int_equal(st.grown_frames, 3 * CHUNK / FR);
	assert_int_equal(st.managed, 4 * CHUNK / FR);
	/* everything but what the watermark keeps back was handed out */
	assert_true(n >= 4 * CHUNK / FR - 64);
	assert_true(g.grow_calls > 3); /* the last ones found no more room */
	assert_true(st.alloc_fails >= 1);
	/* every block is inside the range and owned by nobody yet */
	for (size_t i = 0; i < n; i++) {
		assert_true((char *)blk[i] >= (char *)g.range &&
			    (char *)blk[i] < (char *)g.range + 4 * CHUNK);
		assert_null(kmem_buddy_owner(g.b, blk[i]));
	}
	for (size_t i = 0; i < n; i++)
		kmem_pa_free(g.pa, blk[i], 0);
	(void)kmem_pa_drain(g.pa);
	st = gstats(&g);
	assert_int_equal(st.used, st.managed - st.free - st.pcp);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	assert_int_equal(kmem_error_total(&g.rec.sink), 0);
	gfx_fini(&g);
}

/* Without a reaper, a free that leaves more than high + high/4 free frames
 * calls release() in the freeing thread, asking for the excess. */
static void test_release_inline(void **state)
{
	struct gfx g;
	struct kmem_pa_stats st;
	void *big[8];

	(void)state;
	gfx_init(&g, 1, 0);
	g.release_ret = 7;
	for (int i = 0; i < 8; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0); /* 16 frames each: the buddy path */
		assert_non_null(big[i]);
	}
	assert_int_equal(g.release_calls, 0);
	for (int i = 0; i < 8; i++)
		kmem_pa_free(g.pa, big[i], 4);
	st = gstats(&g);
	assert_true(g.release_calls >= 1);
	assert_true(g.release_asked > 0);
	assert_true(g.release_asked <= st.free - st.wmark_high);
	assert_int_equal(st.releases, g.release_calls);
	assert_int_equal(st.released_frames, 7 * g.release_calls);
	/* nothing more above high after a reaper run: release asked again */
	g.release_calls = 0;
	(void)kmem_pa_reaper_run(g.pa, 0);
	assert_int_equal(g.release_calls, 1);
	assert_int_equal(g.release_asked, gstats(&g).free - 64);
	gfx_fini(&g);
}

/* A release() that takes blocks out of the buddy and reports them with
 * kmem_pa_withdrawn(): they stop counting as managed (the checker accepts a
 * growable instance managing less than high), and grow() putting them back
 * makes them managed again. */
static void test_release_withdraw(void **state)
{
	struct gfx g;
	struct kmem_pa_stats st0, st1, st2;
	void *big[8];
	char text[4096];

	(void)state;
	gfx_init(&g, 1, 0);
	g.withdraw = true;
	st0 = gstats(&g);
	assert_int_equal(st0.managed, 256);
	for (int i = 0; i < 8; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
	}
	for (int i = 0; i < 8; i++)
		kmem_pa_free(g.pa, big[i], 4);
	st1 = gstats(&g);
	assert_true(g.nheld > 0);
	assert_int_equal(st1.withdrawn_frames, 16 * g.nheld);
	assert_int_equal(st1.managed, 256 - 16 * g.nheld);
	assert_int_equal(st1.free + st1.pcp + 16 * g.nheld, st0.free + st0.pcp);
	assert_int_equal(st1.used, st0.used); /* the frame service's own table frame */
	assert_true(kmem_pa_format_vmstat(g.pa, text, sizeof(text)) > 0);
	assert_non_null(strstr(text, "withdrawn_pages "));
	/* take more than high out: managed below high, still consistent */
	g.release_asked = 0;
	(void)release_cb(&g, g.pa, 160);
	st1 = gstats(&g);
	assert_true(st1.managed < st1.wmark_high);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	/* allocations short of frames: grow() returns the held blocks first */
	g.withdraw = false;
	for (int i = 0; i < 8; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
	}
	st2 = gstats(&g);
	assert_int_equal(g.added, 1); /* no region added: the held ones came back */
	assert_int_equal(st2.managed + 16 * g.nheld, 256);
	assert_int_equal(st2.used, st0.used + 8 * 16);
	for (int i = 0; i < 8; i++)
		kmem_pa_free(g.pa, big[i], 4);
	while (g.nheld)
		kmem_buddy_free(g.b, g.held[--g.nheld]);
	assert_int_equal(kmem_error_total(&g.rec.sink), 0);
	gfx_fini(&g);
}

#ifdef KMEM_HAVE_PTHREAD
/* KMEM_PA_LAZY_REAPER: no thread until a kick finds work; then the thread
 * runs release(). */
static void test_release_lazy_reaper(void **state)
{
	struct gfx g;
	void *big[8];

	(void)state;
	gfx_init(&g, 1, KMEM_PA_LAZY_REAPER);
	assert_int_equal(gstats(&g).reaper_running, 0);
	for (int i = 0; i < 8; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
	}
	assert_int_equal(gstats(&g).reaper_running, 0); /* growth, not reclaim */
	for (int i = 0; i < 8; i++)
		kmem_pa_free(g.pa, big[i], 4);
	for (int t = 0; t < 2000 && !__atomic_load_n(&g.release_calls, __ATOMIC_RELAXED); t++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(gstats(&g).reaper_running, 1);
	assert_true(__atomic_load_n(&g.release_calls, __ATOMIC_RELAXED) >= 1);
	kmem_pa_reaper_stop(g.pa);
	gfx_fini(&g);
}

/* KMEM_PA_RELEASE_INLINE with a lazy reaper: the freeing thread runs
 * release() itself, before kmem_pa_free returns, and starts no thread. */
static void test_release_inline_with_reaper(void **state)
{
	struct gfx g;
	void *big[8];

	(void)state;
	gfx_init(&g, 1, KMEM_PA_LAZY_REAPER | KMEM_PA_RELEASE_INLINE);
	for (int i = 0; i < 8; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
	}
	for (int i = 0; i < 8; i++)
		kmem_pa_free(g.pa, big[i], 4);
	assert_true(__atomic_load_n(&g.release_calls, __ATOMIC_RELAXED) >= 1); /* already */
	assert_int_equal(gstats(&g).reaper_running, 0);
	gfx_fini(&g);
}

/* Fork: a second thread holds frames in its cache and objects in its
 * magazines at the fork; the child adopts both, passes every checker and
 * allocates at once; the parent goes on as before. */
struct forker {
	struct kmem_pagealloc *pa;
	struct kmem_slab *s;
	struct kmem_cache *c;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int phase;	/* 1: caches filled; 2: may exit */
};

static void *holder_main(void *arg)
{
	struct forker *fk = arg;
	void *f[8], *o[32];

	for (int i = 0; i < 8; i++)
		f[i] = kmem_pa_alloc(fk->pa, 0, 0);
	for (int i = 0; i < 8; i++)
		kmem_pa_free(fk->pa, f[i], 0); /* into this thread's frame cache */
	for (int i = 0; i < 32; i++)
		o[i] = kmem_cache_alloc(fk->c);
	for (int i = 0; i < 32; i++)
		kmem_cache_free(fk->c, o[i]); /* into this thread's magazines */
	pthread_mutex_lock(&fk->mu);
	fk->phase = 1;
	pthread_cond_broadcast(&fk->cv);
	while (fk->phase != 2)
		pthread_cond_wait(&fk->cv, &fk->mu);
	pthread_mutex_unlock(&fk->mu);
	return NULL;
}

static void test_fork(void **state)
{
	struct gfx g;
	struct forker fk = { .phase = 0 };
	struct kmem_page_source ps;
	struct kmem_slab_config sc;
	struct kmem_cache_stats cs;
	void *sinst = test_aligned(64, kmem_slab_sizeof());
	pthread_t t;
	pid_t pid;
	int status;

	(void)state;
	gfx_init(&g, 4, 0);
	kmem_pa_page_source(g.pa, &ps);
	memset(&sc, 0, sizeof(sc));
	sc.source = &ps;
	sc.sink = &g.rec.sink;
	assert_int_equal(kmem_slab_init(sinst, kmem_slab_sizeof(), &sc, &fk.s), 0);
	fk.c = kmem_cache_create(fk.s, "forkobj", 96, 0, 0, NULL, NULL, NULL);
	assert_non_null(fk.c);
	fk.pa = g.pa;
	pthread_mutex_init(&fk.mu, NULL);
	pthread_cond_init(&fk.cv, NULL);
	assert_int_equal(pthread_create(&t, NULL, holder_main, &fk), 0);
	pthread_mutex_lock(&fk.mu);
	while (fk.phase != 1)
		pthread_cond_wait(&fk.cv, &fk.mu);
	pthread_mutex_unlock(&fk.mu);
	assert_true(gstats(&g).pcp >= 1); /* the holder's cache (small: 256 managed frames) */

	kmem_slab_fork_prepare(fk.s);
	kmem_pa_fork_prepare(g.pa);
	kmem_buddy_fork_prepare(g.b);
	pid = fork();
	if (pid == 0) {
		struct kmem_pa_stats st;
		void *o[100], *f[100];
		int bad = 0;

		kmem_buddy_fork_child(g.b);
		kmem_pa_fork_child(g.pa);
		kmem_slab_fork_child(fk.s);
		kmem_pa_get_stats(g.pa, &st);
		bad |= st.pcp != 0;		/* the holder's cache was adopted */
		kmem_cache_get_stats(fk.c, &cs);
		bad |= (cs.active_objs != 0) << 1; /* its magazines too (in the depot: free) */
		bad |= (kmem_pa_check(g.pa) != 0) << 2;
		bad |= (kmem_slab_check(fk.s) != 0) << 3;
		for (int i = 0; i < 100; i++) {
			o[i] = kmem_cache_alloc(fk.c);
			f[i] = kmem_pa_alloc(g.pa, 1, 0);
			bad |= (!o[i] || !f[i]) << 4;
		}
		for (int i = 0; i < 100; i++) {
			kmem_cache_free(fk.c, o[i]);
			kmem_pa_free(g.pa, f[i], 1);
		}
		bad |= (kmem_pa_check(g.pa) != 0) << 5;
		/* the child's copy goes away cleanly too (memcheck follows forks) */
		kmem_slab_destroy(fk.s);
		kmem_pa_destroy(g.pa);
		bad |= (kmem_buddy_check(g.b) != 0) << 6;
		bad |= (kmem_error_total(&g.rec.sink) != 0) << 7;
		_exit(bad);
	}
	kmem_buddy_fork_parent(g.b);
	kmem_pa_fork_parent(g.pa);
	kmem_slab_fork_parent(fk.s);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the parent still allocates; the holder exits and returns its caches */
	{
		void *o = kmem_cache_alloc(fk.c);

		assert_non_null(o);
		kmem_cache_free(fk.c, o);
	}
	pthread_mutex_lock(&fk.mu);
	fk.phase = 2;
	pthread_cond_broadcast(&fk.cv);
	pthread_mutex_unlock(&fk.mu);
	pthread_join(t, NULL);
	assert_int_equal(kmem_slab_check(fk.s), 0);
	kmem_slab_destroy(fk.s);
	free(sinst);
	assert_int_equal(kmem_error_total(&g.rec.sink), 0);
	gfx_fini(&g);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_table),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_release_inline),
		cmocka_unit_test(test_release_withdraw),
#ifdef KMEM_HAVE_PTHREAD
		cmocka_unit_test(test_release_lazy_reaper),
		cmocka_unit_test(test_release_inline_with_reaper),
		cmocka_unit_test(test_fork),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
