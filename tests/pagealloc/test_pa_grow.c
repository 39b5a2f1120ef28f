/* test_pa_grow.c - a frame service that grows and shrinks (what the
 * drop-in malloc stands on): a buddy with one owner table for a whole
 * address range, grow() before reclaim, regions added as fresh memory, the
 * release step and the released pool (inline, through kmem_pa_release, and
 * through a lazily started reaper), and the fork handlers of buddy,
 * pagealloc and slab. */
#include "pa_fixture.h"

#include <kmem/slab.h>
#include <kmem/port.h>
#include <kmem/stack.h>

#include <sys/mman.h>
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
	void *inst, *range;
	void **owner;
	void *meta[CHUNKS];
	unsigned added, limit;
	unsigned grow_calls;
	bool zero_regions;	/* grow adds regions with KMEM_PA_REGION_ZERO */
	/* address-space hooks (gfx_as before gfx_init): "unmapped" blocks are
	 * made PROT_NONE, so any read of one faults */
	bool tight, map_fails;
	size_t unmapped_bytes, mapped_bytes;
};

static bool gfx_as;	/* the next gfx_init installs the as_* hooks */
/* the next gfx_init's decay time (the release tests before decision 29's
 * decay expect it at once: 0) and its clock: gfx_now, advanced by hand */
static long gfx_decay;
static uint64_t gfx_now = 1000000000ull;

static uint64_t gfx_clock(void *arg)
{
	(void)arg;
	return __atomic_load_n(&gfx_now, __ATOMIC_RELAXED);
}

static void gfx_advance_ms(uint64_t ms)
{
	__atomic_add_fetch(&gfx_now, ms * 1000000ull, __ATOMIC_RELAXED);
}

static int as_tight(void *arg)
{
	return ((struct gfx *)arg)->tight;
}

static int as_unmap(void *arg, void *block, size_t bytes)
{
	struct gfx *g = arg;

	assert_int_equal(mprotect(block, bytes, PROT_NONE), 0);
	g->unmapped_bytes += bytes;
	return 0;
}

static int as_map(void *arg, void *block, size_t bytes)
{
	struct gfx *g = arg;

	if (g->map_fails)
		return -ENOMEM;
	/* mapped again: fresh zero pages, as the drop-in's map_at gives (no
	 * store into the block, which the frame service holds inaccessible
	 * to ASan and memcheck) */
	assert_ptr_equal(mmap(block, bytes, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
			      -1, 0), block);
	g->mapped_bytes += bytes;
	return 0;
}

static size_t grow_cb(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	struct gfx *g = arg;
	void *base;
	size_t msz;

	g->grow_calls++;
	assert_true(frames > 0);
	if (g->added >= g->limit)
		return 0;
	base = (char *)g->range + g->added * CHUNK;
	msz = kmem_buddy_region_meta_size(g->b, base, CHUNK);
	g->meta[g->added] = test_aligned(64, msz);
	if (g->zero_regions)
		memset(base, 0, CHUNK); /* fresh memory reads zero (malloc's may not) */
	if (pa)
		assert_int_equal(kmem_pa_add_region(pa, base, CHUNK, g->meta[g->added], msz,
						    g->zero_regions ? KMEM_PA_REGION_ZERO : 0),
				 0);
	else
		assert_int_equal(kmem_buddy_add_region(g->b, base, CHUNK, g->meta[g->added], msz), 0);
	g->added++;
	return CHUNK / FR;
}

/* The stack's callback: the first region, before the frame service. */
static int first_region(void *arg, struct kmem_buddy *b)
{
	struct gfx *g = arg;

	g->b = b;
	return grow_cb(g, NULL, 1) == CHUNK / FR ? 0 : -ENOMEM;
}

/* A buddy over `range` (CHUNKS regions' worth) with one owner table, the
 * first region added, and a frame service with the grow hook: a
 * kmem_stack without slab (kmem/stack.h), assembled as the drop-in does. */
static void gfx_init(struct gfx *g, unsigned limit, unsigned flags)
{
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	size_t isz;

	memset(g, 0, sizeof(*g));
	test_recorder_init(&g->rec);
	g->limit = limit;
	g->range = test_aligned(CHUNK, CHUNKS * CHUNK);
	g->owner = calloc(CHUNKS * CHUNK / FR, sizeof(void *));
	assert_non_null(g->owner);
	kmem_stack_config_init(&cfg);
	cfg.no_slab = true;
	cfg.sink = &g->rec.sink;
	cfg.buddy.max_order = 8; /* a region is one max-order block */
	cfg.buddy.owner_table = g->owner;
	cfg.buddy.owner_base = g->range;
	cfg.buddy.owner_frames = CHUNKS * CHUNK / FR;
	cfg.add_regions = first_region;
	cfg.add_regions_arg = g;
	cfg.pa.init_policy = KMEM_PA_INIT_NONE;
	cfg.pa.flags = flags | KMEM_PA_NO_BGZERO;
	cfg.pa.wmark_min = 8;
	cfg.pa.wmark_low = 16;
	cfg.pa.wmark_high = 64;
	cfg.pa.grow = grow_cb;
	cfg.pa.grow_arg = g;
	cfg.pa.decay_ms = gfx_decay;
	cfg.pa.clock = gfx_clock;
	if (gfx_as) {
		cfg.pa.as_tight = as_tight;
		cfg.pa.as_unmap = as_unmap;
		cfg.pa.as_map = as_map;
		cfg.pa.as_arg = g;
	}
	isz = kmem_stack_sizeof(&cfg);
	assert_true(isz > 0);
	g->inst = test_aligned(64, isz);
	assert_int_equal(kmem_stack_init(g->inst, isz, &cfg, NULL, 0, NULL, 0, &st), 0);
	assert_ptr_equal(st.buddy, g->b);
	assert_null(st.slab);
	g->pa = st.pa;
	g->grow_calls = 0;
}

static void gfx_fini(struct gfx *g)
{
	assert_int_equal(kmem_pa_check(g->pa), 0);
	kmem_pa_destroy(g->pa);
	assert_int_equal(kmem_buddy_check(g->b), 0);
	kmem_buddy_destroy(g->b);
	for (unsigned i = 0; i < g->added; i++)
		free(g->meta[i]);
	free(g->inst);
	free(g->owner);
	assert_int_equal(mprotect(g->range, CHUNKS * CHUNK, PROT_READ | PROT_WRITE), 0);
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
		void *binst = test_aligned(64, 1 << 20);

		kmem_buddy_config_init(&bc);
		bc.owner_table = g.owner;
		bc.owner_base = g.range;
		bc.owner_frames = 16;
		assert_int_equal(kmem_buddy_sizeof(&bc), 0); /* invalid: no KMEM_BUDDY_OWNERS */
		assert_int_equal(kmem_buddy_init(binst, 1 << 20, &bc, &(struct kmem_buddy *){ NULL }),
				 -EINVAL); /* no KMEM_BUDDY_OWNERS */
		bc.flags = KMEM_BUDDY_OWNERS;
		bc.owner_base = (char *)g.range + 1;
		assert_int_equal(kmem_buddy_init(binst, 1 << 20, &bc, &(struct kmem_buddy *){ NULL }),
				 -EINVAL); /* misaligned base */
		free(binst);
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
	TEST_NEEDS(KMEM_BUDDY_HOTADD, "several regions per instance (-Dbuddy_hotadd)");
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

/* Fill a block with a pattern (what a program leaves behind). */
static void scribble(void *blk, unsigned order)
{
	memset(blk, 0xab, (size_t)FR << order);
}

static bool reads_zero(const void *blk, unsigned order)
{
	const unsigned char *p = blk;

	for (size_t i = 0; i < ((size_t)FR << order); i++)
		if (p[i])
			return false;
	return true;
}

/* The inline release step runs in a free's slow path: the tests of it
 * below run without thread caches (KMEM_PA_NO_PCP), so that their 64 KiB
 * frees (an order the caches take: decision 41) reach the buddy at once, as
 * a free of a block past the caches' orders does. */

/* Without a reaper, a free that leaves more than high + high/4 free frames
 * runs the release step in the freeing thread: it keeps max(high, recent
 * peak - used) frames resident and gives the other blocks of 64 KiB and
 * up back; they wait in the released pool, read zero, and serve a zeroed
 * request without a memset, after the dirty blocks. */
static void test_release_inline(void **state)
{
	struct gfx g;
	struct kmem_pa_stats st, st2;
	void *big[12], *z;
	char text[4096];

	(void)state;
	gfx_init(&g, 1, KMEM_PA_RELEASE | KMEM_PA_NO_PCP);
	for (int i = 0; i < 12; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0); /* 16 frames each: no pool, so the buddy */
		assert_non_null(big[i]);
		scribble(big[i], 4);
	}
	assert_int_equal(gstats(&g).releases, 0);
	for (int i = 0; i < 12; i++)
		kmem_pa_free(g.pa, big[i], 4);
	st = gstats(&g);
	assert_true(st.releases >= 1);
	assert_true(st.released_frames > 0);
	assert_int_equal(st.released_held, st.released_frames); /* none reused yet */
	assert_int_equal(st.released_held % 16, 0);		 /* whole 64 KiB blocks */
	/* decay 0 (at once): kept resident, the high watermark, and at
	 * most a quarter more (the step's hysteresis) */
	assert_true(st.buddy_free >= st.wmark_high);
	assert_true(st.buddy_free <= st.wmark_high + st.wmark_high / 4);
	assert_int_equal(st.decay_keep, st.wmark_high);
	/* the released pool counts as free for the watermarks */
	assert_int_equal(st.free, st.buddy_free + st.zeroed + st.dirty + st.released_held);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	assert_true(kmem_pa_format_vmstat(g.pa, text, sizeof(text)) > 0);
	assert_non_null(strstr(text, "released_held_pages "));
	/* dirty first: a zeroed request is met from the buddy with a memset */
	z = kmem_pa_alloc(g.pa, 4, KMEM_PAGE_ZERO);
	assert_non_null(z);
	assert_true(reads_zero(z, 4));
	st2 = gstats(&g);
	assert_int_equal(st2.released_held, st.released_held);
	assert_int_equal(st2.zeroed_inline, st.zeroed_inline + 16);
	kmem_pa_free(g.pa, z, 4);
	assert_int_equal(kmem_error_total(&g.rec.sink), 0);
	gfx_fini(&g);
}

/* kmem_pa_release (malloc_trim): everything of 64 KiB and up beyond `keep`
 * goes back; then the released blocks serve zeroed requests without a
 * memset, split to the order asked for, and a stray free of a released
 * block is reported as a double free and changes nothing. */
static void test_release_now_and_reuse(void **state)
{
	struct gfx g;
	struct kmem_pa_stats st, st2;
	void *big[12], *z, *small;

	(void)state;
	gfx_init(&g, 1, KMEM_PA_RELEASE);
	for (int i = 0; i < 12; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
		scribble(big[i], 4);
	}
	for (int i = 0; i < 12; i++)
		kmem_pa_free(g.pa, big[i], 4);
	(void)kmem_pa_release(g.pa, 0);
	st = gstats(&g);
	assert_true(st.released_held >= 12 * 16);
	assert_true(st.buddy_free < 16 * 2); /* only blocks below 64 KiB stay */
	assert_int_equal(kmem_pa_release(g.pa, 0), 0); /* nothing left to give */
	assert_int_equal(kmem_pa_check(g.pa), 0);
	/* a released block freed again: refused, reported, nothing changes */
	assert_int_equal(kmem_error_total(&g.rec.sink), 0);
	assert_int_equal(kmem_pa_free_checked(g.pa, big[3], 4), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_total(&g.rec.sink), 1);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	/* zeroed requests from the released pool: no memset, all zero, even
	 * where the program had written before the release */
	z = kmem_pa_alloc(g.pa, 5, KMEM_PAGE_ZERO);
	assert_non_null(z);
	assert_true(reads_zero(z, 5));
	st2 = gstats(&g);
	assert_int_equal(st2.zeroed_inline, st.zeroed_inline);
	assert_int_equal(st2.released_reused, st.released_reused + 32);
	/* a small request once the buddy has nothing: a released block split */
	while ((small = kmem_buddy_alloc(g.b, 0)) != NULL) /* empty the buddy */
		;
	small = kmem_pa_alloc(g.pa, 1, KMEM_PAGE_ZERO | KMEM_PAGE_NOWAIT);
	assert_non_null(small);
	assert_true(reads_zero(small, 1));
	assert_int_equal(kmem_pa_check(g.pa), 0);
	kmem_pa_free(g.pa, small, 1);
	kmem_pa_free(g.pa, z, 5);
	/* destroy returns everything (gfx_fini checks the buddy) */
	gfx_fini(&g);
}

/* Regions added as fresh memory start in the released pool: allocations
 * use the dirty memory first, the new region only once it is gone. */
static void test_add_region_zero(void **state)
{
	enum { N = 4 * CHUNK / FR };
	static void *blk[N];
	struct gfx g;
	struct kmem_pa_stats st;
	size_t n = 0, in_second = 0;

	(void)state;
	TEST_NEEDS(KMEM_BUDDY_HOTADD, "several regions per instance (-Dbuddy_hotadd)");
	gfx_init(&g, 4, KMEM_PA_RELEASE);
	g.zero_regions = true;
	assert_int_equal(grow_cb(&g, g.pa, 1), CHUNK / FR);
	st = gstats(&g);
	assert_int_equal(st.released_held, CHUNK / FR);
	assert_int_equal(st.managed, 2 * CHUNK / FR);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	/* the first region's (dirty) frames go first */
	while (n < CHUNK / FR / 2 && (blk[n] = kmem_pa_alloc(g.pa, 0, 0)) != NULL)
		n++;
	for (size_t i = 0; i < n; i++)
		in_second += (char *)blk[i] >= (char *)g.range + CHUNK;
	assert_int_equal(in_second, 0);
	/* then the fresh region, then growth */
	while (n < N && (blk[n] = kmem_pa_alloc(g.pa, 0, 0)) != NULL)
		n++;
	st = gstats(&g);
	assert_true(st.released_reused > 0);
	assert_true(g.added >= 3);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	for (size_t i = 0; i < n; i++)
		kmem_pa_free(g.pa, blk[i], 0);
	assert_int_equal(kmem_error_total(&g.rec.sink), 0);
	gfx_fini(&g);
}

#ifdef KMEM_HAVE_POSIX
/* The address-space hooks (decision 17): while as_tight says so, the
 * release step unmaps what it releases (PROT_NONE here: a read of an
 * unmapped block faults, so the checker's P9 walk and every take prove
 * they read nothing unmapped) and keeps only `high`; taken blocks are
 * mapped again and read zero; a block that cannot be mapped stays released
 * and the allocation fails without growing; a region added unmapped enters
 * the pool unmapped; without tightness blocks are only released, and a pass
 * once tight unmaps those. */
static void test_release_unmapped(void **state)
{
	struct gfx g;
	struct kmem_pa_stats st;
	void *big[12], *z, *blk;
	unsigned calls;
	size_t msz, mapped;

	(void)state;
	gfx_as = true;
	gfx_init(&g, 2, KMEM_PA_RELEASE);
	gfx_as = false;
	/* not tight: released, not unmapped */
	for (int i = 0; i < 12; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
		scribble(big[i], 4);
	}
	for (int i = 0; i < 12; i++)
		kmem_pa_free(g.pa, big[i], 4);
	assert_true(kmem_pa_release(g.pa, 0) > 0);
	assert_int_equal(g.unmapped_bytes, 0);
	/* a limit comes: the next pass unmaps what was released mapped */
	g.tight = true;
	(void)kmem_pa_release(g.pa, 0);
	assert_true(g.unmapped_bytes >= 12 * 16 * FR);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	g.unmapped_bytes = 0;
	/* tight: released blocks are unmapped */
	for (int i = 0; i < 12; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
		scribble(big[i], 4);
	}
	assert_true(g.mapped_bytes >= 12 * 16 * FR); /* taken: mapped again first */
	for (int i = 0; i < 12; i++)
		kmem_pa_free(g.pa, big[i], 4);
	assert_true(kmem_pa_release(g.pa, 0) > 0);
	assert_true(g.unmapped_bytes >= 12 * 16 * FR);
	assert_int_equal(kmem_pa_check(g.pa), 0); /* P9 skips the unmapped ones */
	/* taken: mapped again, reading zero without a memset of ours */
	z = kmem_pa_alloc(g.pa, 5, KMEM_PAGE_ZERO);
	assert_non_null(z);
	assert_true(g.mapped_bytes >= 32 * FR);
	assert_true(reads_zero(z, 5));
	scribble(z, 5);
	/* mapping fails: NULL, no growth for it, the pool intact */
	while ((blk = kmem_buddy_alloc(g.b, 0)) != NULL) /* empty the buddy */
		;
	g.map_fails = true;
	calls = g.grow_calls;
	assert_null(kmem_pa_alloc(g.pa, 3, KMEM_PAGE_NOWAIT));
	assert_int_equal(g.grow_calls, calls);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	g.map_fails = false;
	/* mapped now: taken from the pool (the buddy is empty), readable and
	 * zero; it asks for zero, as INIT_NONE requires for reading it (a
	 * request without KMEM_PAGE_ZERO is handed out UNDEFINED, whatever it
	 * holds, and memcheck rightly reports reading it) */
	st = gstats(&g);
	mapped = g.mapped_bytes;
	blk = kmem_pa_alloc(g.pa, 3, KMEM_PAGE_NOWAIT | KMEM_PAGE_ZERO);
	assert_non_null(blk);
	assert_true(g.mapped_bytes >= mapped + 8 * FR);
	assert_true(gstats(&g).released_reused >= st.released_reused + 8);
	assert_int_equal(gstats(&g).zeroed_inline, st.zeroed_inline); /* no memset of ours */
	assert_true(reads_zero(blk, 3));
	kmem_pa_free(g.pa, blk, 3);
	kmem_pa_free(g.pa, z, 5);
	/* a region added unmapped: needs its meta, enters the pool unmapped */
	{
		char *base = (char *)g.range + g.added * CHUNK;

		st = gstats(&g);
		msz = kmem_buddy_region_meta_size(g.b, base, CHUNK);
		assert_int_equal(kmem_pa_add_region(g.pa, base, CHUNK, NULL, 0, KMEM_PA_REGION_UNMAPPED),
				 -EINVAL);
		g.meta[g.added] = test_aligned(64, msz);
		assert_int_equal(mprotect(base, CHUNK, PROT_NONE), 0);
		assert_int_equal(kmem_pa_add_region(g.pa, base, CHUNK, g.meta[g.added], msz,
						    KMEM_PA_REGION_UNMAPPED),
				 0);
		g.added++;
		assert_int_equal(gstats(&g).released_held, st.released_held + CHUNK / FR);
		assert_int_equal(kmem_pa_check(g.pa), 0);
	}
	assert_int_equal(kmem_error_total(&g.rec.sink), 0);
	gfx_fini(&g); /* destroy maps every unmapped block back to the buddy */
}
#endif

#ifdef KMEM_HAVE_PTHREAD
/* kmem_pa_add_region(KMEM_PA_REGION_UNMAPPED) while other threads allocate
 * from an empty service: the region's blocks must never be handed out
 * before they are claimed into the released pool unmapped (they would be
 * handed out unmapped: the write below faults; the drop-in hit this under
 * RLIMIT_AS). Each region is PROT_NONE until the as_map hook maps a block. */
#define RACE_REGIONS 48
#define RACE_CHUNK ((size_t)256 << 10)	/* 64 frames */
#define RACE_WORKERS 3

struct race {
	struct kmem_pagealloc *pa;
	struct kmem_buddy *b;
	void *range, **owner, *inst;
	void *meta[RACE_REGIONS];
	int adding;	/* atomic: the adder is still adding */
	size_t got[RACE_WORKERS];
};

static int race_map(void *arg, void *block, size_t bytes)
{
	(void)arg;
	return mprotect(block, bytes, PROT_READ | PROT_WRITE) ? -ENOMEM : 0;
}

static int race_unmap(void *arg, void *block, size_t bytes)
{
	(void)arg;
	return mprotect(block, bytes, PROT_NONE) ? -ENOMEM : 0;
}

static int race_tight(void *arg)
{
	(void)arg;
	return 1;
}

static int race_first(void *arg, struct kmem_buddy *b)
{
	struct race *r = arg;
	size_t msz = kmem_buddy_region_meta_size(b, r->range, RACE_CHUNK);

	r->b = b;
	r->meta[0] = test_aligned(64, msz);
	return kmem_buddy_add_region(b, r->range, RACE_CHUNK, r->meta[0], msz);
}

struct race_arg {
	struct race *r;
	unsigned id;
};

static void *race_alloc(void *arg)
{
	struct race_arg *a = arg;
	struct race *r = a->r;
	unsigned order = a->id % 3;

	/* allocate until the adder is done and the service is empty: every
	 * block is written (a block handed out unmapped faults) and kept */
	for (;;) {
		unsigned char *blk = kmem_pa_alloc(r->pa, order, KMEM_PAGE_NOWAIT);

		if (blk) {
			blk[0] = 1;
			blk[((size_t)FR << order) - 1] = 2;
			r->got[a->id] += (size_t)1 << order;
		} else if (!__atomic_load_n(&r->adding, __ATOMIC_ACQUIRE)) {
			if (!kmem_pa_alloc(r->pa, 0, KMEM_PAGE_NOWAIT))
				break;
			r->got[a->id]++;
		}
	}
	return NULL;
}

static void test_add_region_race(void **state)
{
	struct race r;
	struct race_arg args[RACE_WORKERS];
	pthread_t t[RACE_WORKERS];
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	struct test_recorder rec;
	size_t isz, total = 0;

	(void)state;
	memset(&r, 0, sizeof(r));
	test_recorder_init(&rec);
	r.range = test_aligned(RACE_CHUNK, RACE_REGIONS * RACE_CHUNK);
	r.owner = calloc(RACE_REGIONS * RACE_CHUNK / FR, sizeof(void *));
	assert_non_null(r.owner);
	assert_int_equal(mprotect((char *)r.range + RACE_CHUNK, (RACE_REGIONS - 1) * RACE_CHUNK, PROT_NONE), 0);
	kmem_stack_config_init(&cfg);
	cfg.no_slab = true;
	cfg.sink = &rec.sink;
	cfg.buddy.max_order = 6; /* a region is one max-order block */
	cfg.buddy.max_regions = 64;
	cfg.buddy.owner_table = r.owner;
	cfg.buddy.owner_base = r.range;
	cfg.buddy.owner_frames = RACE_REGIONS * RACE_CHUNK / FR;
	cfg.add_regions = race_first;
	cfg.add_regions_arg = &r;
	cfg.pa.init_policy = KMEM_PA_INIT_NONE;
	cfg.pa.flags = KMEM_PA_RELEASE | KMEM_PA_NO_BGZERO;
	cfg.pa.release_order = 0;
	cfg.pa.wmark_min = 1;
	cfg.pa.wmark_low = 2;
	cfg.pa.wmark_high = 4;
	cfg.pa.as_tight = race_tight;
	cfg.pa.as_unmap = race_unmap;
	cfg.pa.as_map = race_map;
	cfg.pa.as_arg = &r;
	isz = kmem_stack_sizeof(&cfg);
	r.inst = test_aligned(64, isz);
	assert_int_equal(kmem_stack_init(r.inst, isz, &cfg, NULL, 0, NULL, 0, &st), 0);
	r.pa = st.pa;
	__atomic_store_n(&r.adding, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < RACE_WORKERS; i++) {
		args[i].r = &r;
		args[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, race_alloc, &args[i]), 0);
	}
	for (unsigned i = 1; i < RACE_REGIONS; i++) {
		char *base = (char *)r.range + i * RACE_CHUNK;
		size_t msz = kmem_buddy_region_meta_size(r.b, base, RACE_CHUNK);

		r.meta[i] = test_aligned(64, msz);
		assert_int_equal(kmem_pa_add_region(r.pa, base, RACE_CHUNK, r.meta[i], msz,
						    KMEM_PA_REGION_UNMAPPED),
				 0);
		nanosleep(&(struct timespec){ 0, 200000 }, NULL); /* the workers empty it again */
	}
	__atomic_store_n(&r.adding, 0, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < RACE_WORKERS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		total += r.got[i];
	}
	/* every frame of the 47 regions added was handed out and written */
	assert_true(total >= (RACE_REGIONS - 1) * RACE_CHUNK / FR);
	assert_int_equal(kmem_error_total(&rec.sink), 0);
	/* the frames stay allocated: tear down without frees */
	kmem_pa_destroy(r.pa);
	kmem_buddy_destroy(r.b);
	assert_int_equal(mprotect(r.range, RACE_REGIONS * RACE_CHUNK, PROT_READ | PROT_WRITE), 0);
	for (unsigned i = 0; i < RACE_REGIONS; i++)
		free(r.meta[i]);
	free(r.inst);
	free(r.owner);
	free(r.range);
}
#endif

/* Without KMEM_PA_RELEASE nothing is released, whatever is free. */
static void test_release_off(void **state)
{
	struct gfx g;
	void *big[12];

	(void)state;
	gfx_init(&g, 1, 0);
	for (int i = 0; i < 12; i++)
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
	for (int i = 0; i < 12; i++)
		kmem_pa_free(g.pa, big[i], 4);
	assert_int_equal(kmem_pa_release(g.pa, 0), 0);
	assert_int_equal(gstats(&g).released_held, 0);
	assert_int_equal(gstats(&g).releases, 0);
	gfx_fini(&g);
}

/* The buddy calls the released pool is built on: split keeps every piece
 * allocated; claim takes a particular free block out. */
static void test_buddy_split_claim(void **state)
{
	struct gfx g;
	char *blk, *want;
	size_t free0;

	(void)state;
	gfx_init(&g, 1, 0);
	blk = kmem_buddy_alloc(g.b, 4);
	assert_non_null(blk);
	free0 = kmem_buddy_free_frames(g.b);
	assert_int_equal(kmem_buddy_split(g.b, blk, 1), 4); /* 2 + 2 + 4 + 8 frames */
	assert_int_equal(kmem_buddy_free_frames(g.b), free0);
	assert_int_equal(kmem_buddy_block_order(g.b, blk), 1);
	assert_int_equal(kmem_buddy_block_order(g.b, blk + 2 * FR), 1);
	assert_int_equal(kmem_buddy_block_order(g.b, blk + 4 * FR), 2);
	assert_int_equal(kmem_buddy_block_order(g.b, blk + 8 * FR), 3);
	assert_int_equal(kmem_buddy_split(g.b, blk, 2), -EINVAL); /* bigger than it is */
	assert_int_equal(kmem_buddy_split(g.b, blk + FR, 0), -EINVAL); /* not a block start */
	assert_int_equal(kmem_buddy_check(g.b), 0);
	kmem_buddy_free(g.b, blk + 8 * FR);
	kmem_buddy_free(g.b, blk);
	kmem_buddy_free(g.b, blk + 4 * FR);
	kmem_buddy_free(g.b, blk + 2 * FR);
	assert_int_equal(kmem_buddy_free_frames(g.b), free0 + 16); /* merged back */
	/* claim: a block inside a free one; its neighbours stay free */
	want = (char *)g.range + CHUNK - 8 * FR;
	assert_int_equal(kmem_buddy_claim(g.b, want, 2), 0);
	assert_int_equal(kmem_buddy_block_order(g.b, want), 2);
	assert_int_equal(kmem_buddy_free_frames(g.b), free0 + 16 - 4);
	assert_int_equal(kmem_buddy_claim(g.b, want, 2), -EBUSY);	/* taken */
	assert_int_equal(kmem_buddy_claim(g.b, want + FR, 1), -EBUSY); /* misaligned for 1 */
	assert_int_equal(kmem_buddy_claim(g.b, want + 1, 0), -EINVAL); /* not a frame */
	assert_int_equal(kmem_buddy_claim(g.b, (char *)g.range + 3 * CHUNK, 0), -EINVAL);
	assert_int_equal(kmem_buddy_check(g.b), 0);
	kmem_buddy_free(g.b, want);
	assert_int_equal(kmem_buddy_free_frames(g.b), free0 + 16);
	assert_int_equal(kmem_buddy_check(g.b), 0);
	gfx_fini(&g);
}

#ifdef KMEM_HAVE_PTHREAD
/* KMEM_PA_LAZY_REAPER: no thread until a kick finds work; then the thread
 * runs the release step. */
static void test_release_lazy_reaper(void **state)
{
	struct gfx g;
	void *big[12];

	(void)state;
	gfx_init(&g, 1, KMEM_PA_LAZY_REAPER | KMEM_PA_RELEASE);
	assert_int_equal(gstats(&g).reaper_running, 0);
	for (int i = 0; i < 12; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
	}
	assert_int_equal(gstats(&g).reaper_running, 0); /* growth, not reclaim */
	for (int i = 0; i < 12; i++)
		kmem_pa_free(g.pa, big[i], 4);
	for (int t = 0; t < 2000 && !gstats(&g).releases; t++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(gstats(&g).reaper_running, 1);
	assert_true(gstats(&g).releases >= 1);
	kmem_pa_reaper_stop(g.pa);
	gfx_fini(&g);
}

/* KMEM_PA_RELEASE_INLINE with a lazy reaper: the freeing thread runs the
 * release step itself, before kmem_pa_free returns, and starts no thread. */
static void test_release_inline_with_reaper(void **state)
{
	struct gfx g;
	void *big[12];

	(void)state;
	gfx_init(&g, 1, KMEM_PA_LAZY_REAPER | KMEM_PA_RELEASE_INLINE | KMEM_PA_RELEASE);
	for (int i = 0; i < 12; i++) {
		big[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(big[i]);
	}
	for (int i = 0; i < 12; i++)
		kmem_pa_free(g.pa, big[i], 4);
	assert_true(gstats(&g).releases >= 1); /* already */
	assert_int_equal(gstats(&g).reaper_running, 0);
	gfx_fini(&g);
}
#endif

/* ---- the decay (decision 29): gfx_decay ms on gfx_now's clock ------------ */

/* 12 blocks of 16 frames (192) allocated, scribbled on and freed: the
 * memory the decay has to return. */
static void decay_fill_free(struct gfx *g)
{
	void *big[12];

	for (int i = 0; i < 12; i++) {
		big[i] = kmem_pa_alloc(g->pa, 4, 0);
		assert_non_null(big[i]);
		scribble(big[i], 4);
	}
	for (int i = 0; i < 12; i++)
		kmem_pa_free(g->pa, big[i], 4);
}

/* A free that reaches the buddy: the release check (and, without a
 * reaper, the inline step). */
static void decay_poke(struct gfx *g)
{
	void *p = kmem_pa_alloc(g->pa, 4, 0);

	assert_non_null(p);
	kmem_pa_free(g->pa, p, 4);
}

/* Without a reaper, frees run the step: freed memory is kept within the
 * decay window (however often frees look), about half of it goes back
 * half-way through the curve, all but `high` after it; the clock is the
 * test's (no sleeps). */
static void test_decay_inline(void **state)
{
	struct gfx g;
	struct kmem_pa_stats st0, st1, st2, st3;

	(void)state;
	gfx_decay = 1000; /* epochs of 31.25 ms */
	gfx_init(&g, 1, KMEM_PA_RELEASE | KMEM_PA_NO_PCP);
	gfx_decay = 0;
	decay_fill_free(&g);
	st0 = gstats(&g);
	assert_true(st0.buddy_free >= 12 * 16);
	for (int i = 0; i < 10; i++) { /* 0.1 s: in the window, not a frame */
		gfx_advance_ms(10);
		decay_poke(&g);
	}
	st1 = gstats(&g);
	assert_int_equal(st1.releases, 0);
	assert_int_equal(st1.released_held, st0.released_held);
	/* the curve's first epochs keep 99.3% and up: what it does not keep
	 * is less than a released block (16 frames), so it stays (and is not
	 * counted as freed again at the next epoch: decision 36) */
	assert_true(st1.decay_keep + 16 > st1.buddy_free);
	/* half-way (the curve at 0.5: half kept) */
	gfx_advance_ms(400);
	decay_poke(&g);
	st2 = gstats(&g);
	assert_true(st2.releases >= 1);
	assert_true(st2.buddy_free > st2.wmark_high + 16);	/* not all */
	assert_true(st2.buddy_free < st0.buddy_free - 48);	/* a good part */
	assert_int_equal(st2.released_held % 16, 0);		/* 64 KiB blocks and up */
	/* past the decay time: everything above high */
	gfx_advance_ms(1100);
	decay_poke(&g);
	st3 = gstats(&g);
	assert_true(st3.buddy_free < st3.wmark_high + 16);
	assert_true(st3.buddy_free >= st3.wmark_high);
	assert_int_equal(st3.decay_keep, st3.wmark_high);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	assert_int_equal(kmem_error_total(&g.rec.sink), 0);
	gfx_fini(&g);
}

/* decay -1: never released by the policy, however long; kmem_pa_release
 * (malloc_trim) still releases. 0 is test_release_inline (at once). An
 * out-of-range decay is refused. */
static void test_decay_never(void **state)
{
	struct gfx g;
	struct kmem_stack_config cfg;

	(void)state;
	gfx_decay = -1;
	gfx_init(&g, 1, KMEM_PA_RELEASE);
	gfx_decay = 0;
	decay_fill_free(&g);
	for (int i = 0; i < 5; i++) {
		gfx_advance_ms(60000);
		decay_poke(&g);
	}
	assert_int_equal(gstats(&g).releases, 0);
	assert_true(gstats(&g).buddy_free >= 12 * 16);
	assert_true(kmem_pa_release(g.pa, 0) >= 12 * 16);
	assert_true(gstats(&g).buddy_free < 16);
	gfx_fini(&g);
	/* kmem_pa_init's bounds (the stack passes its -EINVAL on) */
	kmem_stack_config_init(&cfg);
	assert_int_equal(cfg.pa.decay_ms, KMEM_PA_DECAY_DEFAULT_MS);
}

/* Many separate free blocks past the decay time: a freeing thread's step
 * releases at most PA_REL_INLINE_BLOCKS (8) blocks a call; later calls
 * pay the rest. */
static void test_decay_inline_bounded(void **state)
{
	struct gfx g;
	void *b[32];
	uint64_t rel0, rel1;
	size_t held0, held1;

	(void)state;
	TEST_NEEDS(KMEM_BUDDY_HOTADD, "several regions per instance (-Dbuddy_hotadd)");
	gfx_decay = 1000;
	gfx_init(&g, 3, KMEM_PA_RELEASE | KMEM_PA_NO_PCP);
	gfx_decay = 0;
	/* the buddy to hold only what is freed here: the first region
	 * released, the next ones added as fresh memory */
	(void)kmem_pa_release(g.pa, 0);
	g.zero_regions = true;
	for (int i = 0; i < 32; i++) {
		b[i] = kmem_pa_alloc(g.pa, 4, 0);
		assert_non_null(b[i]);
	}
	for (int i = 0; i < 32; i += 2) /* 16 blocks that cannot merge */
		kmem_pa_free(g.pa, b[i], 4);
	gfx_advance_ms(100);
	decay_poke(&g); /* the epoch that saw them */
	gfx_advance_ms(2000);
	rel0 = gstats(&g).released_frames;
	held0 = gstats(&g).released_held;
	decay_poke(&g);
	rel1 = gstats(&g).released_frames;
	held1 = gstats(&g).released_held;
	assert_true(rel1 > rel0);
	assert_true(rel1 - rel0 <= 8 * 16); /* 8 blocks of 16 frames at most */
	assert_true(held1 - held0 <= 8 * 16);
	for (int i = 0; i < 4; i++)
		decay_poke(&g);
	assert_true(gstats(&g).buddy_free < gstats(&g).wmark_high + 16);
	for (int i = 1; i < 32; i += 2)
		kmem_pa_free(g.pa, b[i], 4);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	gfx_fini(&g);
}

#ifdef KMEM_HAVE_PTHREAD
/* With a reaper (started lazily by the first free that leaves memory to
 * decay), the thread runs the step and frees do not: nothing goes back
 * within the window, all but high once the clock has passed it, with no
 * further free (an idle program). Waits poll; nothing is timed. */
static void test_decay_reaper(void **state)
{
	struct gfx g;
	int t;

	(void)state;
	gfx_decay = 1000;
	gfx_init(&g, 1, KMEM_PA_LAZY_REAPER | KMEM_PA_RELEASE);
	gfx_decay = 0;
	decay_fill_free(&g);
	for (t = 0; t < 5000 && !gstats(&g).reaper_running; t++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(gstats(&g).reaper_running, 1);
	/* the reaper wakes at each epoch (31 ms of real time while the test
	 * clock stands still): nothing is due */
	{
		struct timespec ts = { 0, 100000000 };

		nanosleep(&ts, NULL);
	}
	assert_int_equal(gstats(&g).releases, 0);
	/* the next epoch: the reaper sees the freed memory (whole: the
	 * newest on the curve) */
	gfx_advance_ms(40);
	for (t = 0; t < 10000 && gstats(&g).decay_keep < 12 * 16; t++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_true(gstats(&g).decay_keep >= 12 * 16);
	assert_int_equal(gstats(&g).releases, 0);
	gfx_advance_ms(1500); /* no free from here on */
	/* (releases counts a pass once its blocks are released: after they
	 * left the buddy) */
	for (t = 0; t < 10000 && (gstats(&g).buddy_free >= gstats(&g).wmark_high + 16 ||
				  !gstats(&g).releases); t++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	assert_true(gstats(&g).buddy_free < gstats(&g).wmark_high + 16);
	assert_true(gstats(&g).releases >= 1);
	kmem_pa_reaper_stop(g.pa);
	gfx_fini(&g);
}

/* kmem_pa_reaper_run (an embedded idle loop's reaper): the same step with
 * no thread; frees kick nobody (KMEM_PA_LAZY_REAPER whose start is
 * refused is covered by the inline fallback). */
static void test_decay_reaper_run(void **state)
{
	struct gfx g;

	(void)state;
	gfx_decay = 1000;
	gfx_init(&g, 1, KMEM_PA_RELEASE | KMEM_PA_RELEASE_INLINE);
	gfx_decay = 0;
	decay_fill_free(&g);
	assert_int_equal(kmem_pa_reaper_run(g.pa, 0) & KMEM_PA_WORK_RELEASE, 0);
	gfx_advance_ms(40); /* the epoch that saw them */
	assert_int_equal(kmem_pa_reaper_run(g.pa, 0) & KMEM_PA_WORK_RELEASE, 0);
	assert_true(gstats(&g).decay_keep >= 12 * 16);
	gfx_advance_ms(1200);
	assert_true(kmem_pa_reaper_run(g.pa, 0) & KMEM_PA_WORK_RELEASE);
	assert_true(gstats(&g).buddy_free < gstats(&g).wmark_high + 16);
	assert_int_equal(gstats(&g).reaper_running, 0);
	gfx_fini(&g);
}

/* ---- idle calls (decision 36): the shrinkers' working set on the test's clock ---- */

struct idle_slab {
	struct kmem_slab *s;
	struct kmem_cache *c;
	void *mem;
	void *obj[2000];
};

static void idle_slab_init(struct gfx *g, struct idle_slab *is)
{
	struct kmem_page_source ps;
	struct kmem_slab_config sc;

	is->mem = test_aligned(64, kmem_slab_sizeof());
	kmem_pa_page_source(g->pa, &ps);
	memset(&sc, 0, sizeof(sc));
	sc.source = &ps;
	sc.sink = &g->rec.sink;
	assert_int_equal(kmem_slab_init(is->mem, kmem_slab_sizeof(), &sc, &is->s), 0);
	is->c = kmem_cache_create(is->s, "idleobj", 64, 0, 0, NULL, NULL, NULL);
	assert_non_null(is->c);
}

static void idle_slab_fini(struct gfx *g, struct idle_slab *is)
{
	assert_int_equal(kmem_slab_check(is->s), 0);
	kmem_cache_destroy(is->c);
	kmem_slab_destroy(is->s);
	free(is->mem);
	assert_int_equal(kmem_error_total(&g->rec.sink), 0);
}

/* 2000 objects of 64 bytes allocated and freed every other one first (the
 * magazines and the depot end up holding objects of many slabs). */
static void idle_churn(struct idle_slab *is)
{
	for (int i = 0; i < 2000; i++) {
		is->obj[i] = kmem_cache_alloc(is->c);
		assert_non_null(is->obj[i]);
	}
	for (int i = 0; i < 2000; i += 2)
		kmem_cache_free(is->c, is->obj[i]);
	for (int i = 1; i < 2000; i += 2)
		kmem_cache_free(is->c, is->obj[i]);
}

static struct kmem_cache_stats idle_cstats(struct idle_slab *is)
{
	struct kmem_cache_stats cs;

	kmem_cache_get_stats(is->c, &cs);
	return cs;
}

/* A cache left alone: the first idle call marks the working set, the
 * second flushes the depot's magazines nobody took (their objects' slabs
 * empty; beyond empty_keep they go back at once), the third the empty
 * slabs kept (none taken since); the frames go back to the system in the
 * same step (due, not new to the curve). Between calls (less than an
 * idle period, a quarter of the decay time) nothing happens. */
static void test_idle_slab(void **state)
{
	struct gfx g;
	struct idle_slab is;
	struct kmem_cache_stats c0, c1, c2, c3;
	size_t held0;

	(void)state;
	gfx_decay = 1000; /* an idle period of 250 ms */
	gfx_init(&g, 4, KMEM_PA_RELEASE);
	gfx_decay = 0;
	idle_slab_init(&g, &is);
	idle_churn(&is);
	c0 = idle_cstats(&is);
	assert_true(c0.depot_full > 0);		/* objects parked in the depot */
	assert_true(c0.total_slabs > 4);	/* ... keep their slabs */
	(void)kmem_pa_reaper_run(g.pa, 0);	/* the first idle call: marks */
	c1 = idle_cstats(&is);
	assert_int_equal(c1.depot_full, c0.depot_full);
	assert_int_equal(c1.total_slabs, c0.total_slabs);
	gfx_advance_ms(100);			/* within the period: nothing */
	(void)kmem_pa_reaper_run(g.pa, 0);
	assert_int_equal(idle_cstats(&is).depot_full, c0.depot_full);
	held0 = gstats(&g).released_held;
	gfx_advance_ms(200);			/* a period: the second call */
	(void)kmem_pa_reaper_run(g.pa, 0);
	c2 = idle_cstats(&is);
	assert_int_equal(c2.depot_full, 0);
	assert_true(c2.total_slabs < c0.total_slabs);
	assert_true(c2.total_slabs - c2.active_slabs <= 4); /* empty_keep */
	assert_true(gstats(&g).released_held >= held0 + 16); /* back at once, not on the curve */
	gfx_advance_ms(300);			/* the third: the kept empty slabs */
	(void)kmem_pa_reaper_run(g.pa, 0);
	c3 = idle_cstats(&is);
	assert_int_equal(c3.total_slabs, c3.active_slabs);
	/* what is left: the objects of this thread's own two magazines */
	assert_true(c3.active_slabs <= c3.active_objs);
	assert_true(c3.active_objs <= 2 * c3.mag_size);
	assert_int_equal(kmem_pa_check(g.pa), 0);
	idle_slab_fini(&g, &is);
	gfx_fini(&g);
}

/* A cache that reuses its depot within each period keeps it: a cycle of
 * frees and allocations between idle calls flushes no magazine. */
static void test_idle_slab_reused(void **state)
{
	struct gfx g;
	struct idle_slab is;
	struct kmem_cache_stats c0, c1;

	(void)state;
	gfx_decay = 1000;
	gfx_init(&g, 4, KMEM_PA_RELEASE);
	gfx_decay = 0;
	idle_slab_init(&g, &is);
	idle_churn(&is);
	c0 = idle_cstats(&is);
	(void)kmem_pa_reaper_run(g.pa, 0);
	for (int round = 0; round < 3; round++) {
		idle_churn(&is); /* every depot magazine taken, then put back */
		gfx_advance_ms(300);
		(void)kmem_pa_reaper_run(g.pa, 0);
	}
	c1 = idle_cstats(&is);
	assert_int_equal(c1.depot_full, c0.depot_full);
	/* no slab of the depot's objects made again (a flush would free
	 * about 30 and the next round make them again); an empty slab the
	 * rounds did not take may go and come back (at most empty_keep) */
	assert_true(c1.slabs_created - c0.slabs_created <= 4);
	idle_slab_fini(&g, &is);
	gfx_fini(&g);
}

/* The curve ran out but the buddy's free memory is in pieces below the
 * release order (every other frame of a region in use): the reaper's step
 * releases the pieces (a frame each), and what it cannot release is not
 * counted as freed again, so the keep reaches high. */
static void test_decay_small_pieces(void **state)
{
	struct gfx g;
	void *f[256];
	size_t n = 0, held0;

	(void)state;
	gfx_decay = 1000;
	gfx_init(&g, 1, KMEM_PA_RELEASE | KMEM_PA_NO_PCP);
	gfx_decay = 0;
	(void)kmem_pa_release(g.pa, 0);
	while (n < 256 && (f[n] = kmem_pa_alloc(g.pa, 0, 0)) != NULL)
		scribble(f[n++], 0);
	assert_true(n > 128);
	for (size_t i = 0; i < n; i += 2)
		kmem_pa_free(g.pa, f[i], 0); /* order-0 pieces that cannot merge */
	(void)kmem_pa_reaper_run(g.pa, 0);
	gfx_advance_ms(40);
	(void)kmem_pa_reaper_run(g.pa, 0); /* the epoch that saw them */
	held0 = gstats(&g).released_held;
	for (int i = 0; i < 40; i++) { /* 1.2 s: past the decay time */
		gfx_advance_ms(30);
		(void)kmem_pa_reaper_run(g.pa, 0);
	}
	assert_int_equal(gstats(&g).decay_keep, gstats(&g).wmark_high);
	assert_true(gstats(&g).released_held > held0);
	assert_true(gstats(&g).buddy_free <= gstats(&g).wmark_high + 1);
	for (size_t i = 1; i < n; i += 2)
		kmem_pa_free(g.pa, f[i], 0);
	assert_int_equal(kmem_pa_check(g.pa), 0);
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
	size_t own_pcp;
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
	own_pcp = gstats(&g).pcp; /* this thread's (creating the cache may fill it) */
	assert_int_equal(pthread_create(&t, NULL, holder_main, &fk), 0);
	pthread_mutex_lock(&fk.mu);
	while (fk.phase != 1)
		pthread_cond_wait(&fk.cv, &fk.mu);
	pthread_mutex_unlock(&fk.mu);
	assert_true(gstats(&g).pcp > own_pcp); /* the holder's cache (small: 256 managed frames) */

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
		/* read before slab adopts the holder's magazines: flushing a partly
		 * filled one may free an emptied slab into this thread's cache */
		kmem_pa_get_stats(g.pa, &st);
		bad |= st.pcp != own_pcp;	/* the holder's cache was adopted; ours stays */
		kmem_slab_fork_child(fk.s);
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

#ifndef KMEM_HAVE_POSIX
/* No OS backend (freestanding builds): the release a firmware supplies
 * through kmem/port.h, zeroing the range as the hook's contract asks. */
static int fw_release(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	memset(p, 0, bytes);
	return 0;
}
#endif

int main(void)
{
#ifndef KMEM_HAVE_POSIX
	static const struct kmem_port_hooks fw = { .release = fw_release };

	kmem_port_set_hooks(&fw);
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_table),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_release_inline),
		cmocka_unit_test(test_release_now_and_reuse),
		cmocka_unit_test(test_add_region_zero),
		cmocka_unit_test(test_release_off),
#ifdef KMEM_HAVE_POSIX /* an address-space limit and unmapping: an OS's */
		cmocka_unit_test(test_release_unmapped),
#ifdef KMEM_HAVE_PTHREAD
		cmocka_unit_test(test_add_region_race),
#endif
#endif
		cmocka_unit_test(test_buddy_split_claim),
		cmocka_unit_test(test_decay_inline),
		cmocka_unit_test(test_decay_never),
		cmocka_unit_test(test_decay_inline_bounded),
#ifdef KMEM_HAVE_PTHREAD
		cmocka_unit_test(test_decay_reaper),
		cmocka_unit_test(test_decay_reaper_run),
		cmocka_unit_test(test_idle_slab),
		cmocka_unit_test(test_idle_slab_reused),
		cmocka_unit_test(test_decay_small_pieces),
		cmocka_unit_test(test_release_lazy_reaper),
		cmocka_unit_test(test_release_inline_with_reaper),
		cmocka_unit_test(test_fork),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
