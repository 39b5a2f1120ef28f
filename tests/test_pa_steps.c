/* test_pa_steps.c - the frame service's bounded-time claims
 * (kmem/pagealloc.h), checked by counting (decision 33): this program is
 * built from pagealloc's and the buddy's sources compiled again with
 * KMEM_STEP_COUNT (tests/meson.build), so every loop whose bound a contract
 * states calls kmem_step() (step_check.h) once per iteration;
 * pa_internal.h and buddy_internal.h name the loops. With B_o = max(batch
 * >> o, min(batch, 4)) and H_o = max(high >> o, 1) (a thread cache stack's capacity),
 * the bounds asserted per call are:
 *   kmem_pa_alloc, a thread cache miss: <= B_o blocks tried by the refill,
 *       <= 2 + oom rounds (4 times as many with KMEM_PAGE_NOFAIL) + 4 grow
 *       retries rounds of the slow path, blocks drained from the pools to
 *       the buddy <= the pools' capacity (only when fragmentation leaves no
 *       block of the order anywhere else);
 *   kmem_pa_free, a full stack: <= B_o blocks drained; with
 *       KMEM_PA_RELEASE and no reaper thread, <= 8 blocks released
 *       (PA_REL_INLINE_BLOCKS);
 *   kmem_pa_free_checked: <= pooled blocks of the order + 2 H_o compared;
 *   kmem_pa_drain: one step per pooled or cached block;
 *   kmem_pa_reaper_run(max_zero): frames zeroed <= max_zero (one step per
 *       block), reclaim passes <= high - free + 1;
 *   kmem_pa_reclaim: one step per shrinker.
 * Adversarial sequences reach each bound: the first allocation of each
 * order (a cold refill of B_o blocks), frees that fill a stack to H_o and
 * drain B_o, a zeroer pass cut by its budget and one that fills every
 * zeroed pool to its high target, a reclaim pass over every shrinker, a
 * reaper round whose shrinker gives back one frame per pass from below the
 * low watermark up to high, a checked free that scans full pools and
 * stacks, an allocation nothing satisfies (with a grow hook after which
 * frames are free in blocks too small for it: 4 grow retries before the
 * rounds), a free whose
 * release step finds a debt of more than 8 blocks; then a seeded random
 * mix stays within the bounds. */
#include "step_check.h"

#include "buddy_fixture.h"
#include "buddy_internal.h"
#include "pa_internal.h"

#define FRAME ((size_t)4096)
#define MAX_ORDER 6u
#define ARENA ((size_t)4 << 20) /* 1024 frames */
#define BATCH 15u
#define HIGH 90u

#define GROWN 4u /* grow() calls the slow path makes at most */
#define HOLD5 32u /* order-5 blocks the arena holds */

struct px {
	struct fixture fx; /* the buddy (buddy_fixture.h) and the recording sink */
	struct kmem_pagealloc *pa;
	void *arena, *pinst;
	/* the grow hook (px_grow), while grow_on: frees one of the order-5
	 * blocks held in hold5 a call, the first call 4 */
	bool grow_on;
	unsigned ngrown, nhold5;
	void *hold5[HOLD5];
};

/* The test's clock for the decay (px_decay_ms): advanced by hand. */
static uint64_t px_now = 1000000000ull;

static uint64_t px_clock(void *arg)
{
	(void)arg;
	return px_now;
}

static void px_advance_ms(uint64_t ms)
{
	px_now += ms * 1000000ull;
}

/* Growth that adds nothing while another thread frees meanwhile (a retry
 * as after a growth: kmem_pa_alloc_slow), in every build (one region: no
 * hot-add needed): the hook frees held order-5 blocks whose buddies stay
 * held, so no order-6 block forms, 4 on its first call (the frames free
 * reach the retry's n + low) and 1 on each later one. Its frees' steps
 * are its own, not the allocation's: not counted. */
static size_t px_grow(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	struct px *x = arg;
	unsigned long saved[KMEM_STEP_KINDS];
	unsigned want;

	assert_true(frames > 0);
	if (!x->grow_on)
		return 0;
	want = x->ngrown++ ? 1 : 4;
	memcpy(saved, step_count, sizeof(saved));
	for (unsigned i = 0; i < x->nhold5 && want; i++) {
		uintptr_t off = (uintptr_t)x->hold5[i] - (uintptr_t)x->arena;

		if (x->hold5[i] && !((off / (FRAME << 5)) & 1)) { /* its buddy is odd */
			kmem_pa_free(pa, x->hold5[i], 5);
			x->hold5[i] = NULL;
			want--;
		}
	}
	assert_int_equal(want, 0);
	memcpy(step_count, saved, sizeof(saved));
	return 0;
}

/* The next px_init's decay time (0: kmem_pa_config_init's) and grow hook
 * (px_grow); they matter only with KMEM_PA_RELEASE and a grow test */
static long px_decay_ms;
static bool px_with_grow;

/* A buddy of 4 KiB frames, max order 6, over 4 MiB, and a frame service on
 * it: watermarks 32/40/48, zeroed pool targets 24/48, batch 15, high 90,
 * with init policy `policy` and flags `flags`, on the test's clock. */
static void px_init(struct px *x, enum kmem_pa_init_policy policy, unsigned flags)
{
	struct kmem_pa_config pc;

	memset(x, 0, sizeof(*x));
	fx_init(&x->fx, FRAME, MAX_ORDER, KMEM_BUDDY_OWNERS);
	x->arena = fx_region(&x->fx, FRAME << MAX_ORDER, 0, ARENA);
	kmem_pa_config_init(&pc);
	pc.name = "steps";
	pc.buddy = x->fx.b;
	pc.init_policy = policy;
	pc.wmark_min = 32;
	pc.wmark_low = 40;
	pc.wmark_high = 48;
	pc.zero_low = 24;
	pc.zero_high = 48;
	pc.pcp_batch = BATCH;
	pc.pcp_high = HIGH;
	pc.flags = flags;
	if (px_decay_ms)
		pc.decay_ms = px_decay_ms;
	pc.clock = px_clock;
	if (px_with_grow) {
		pc.grow = px_grow;
		pc.grow_arg = x;
	}
	x->pinst = test_aligned(64, kmem_pa_sizeof());
	assert_int_equal(kmem_pa_init(x->pinst, kmem_pa_sizeof(), &pc, &x->pa), 0);
}

static void px_fini(struct px *x)
{
	assert_int_equal(kmem_pa_check(x->pa), 0);
	kmem_pa_destroy(x->pa);
	fx_fini(&x->fx);
	assert_int_equal(x->fx.rec.calls, 0); /* no report: the sequences are all legal */
	free(x->pinst);
}

static unsigned long b_of(unsigned o)
{
	return BATCH >> o > PA_BATCH_MIN_HIGH ? BATCH >> o : PA_BATCH_MIN_HIGH; /* BATCH >= the floor */
}

static unsigned long h_of(unsigned o)
{
	return HIGH >> o ? HIGH >> o : 1;
}

static unsigned long pool_caps(const struct kmem_pagealloc *pa)
{
	unsigned long c = 0;

	for (unsigned o = 0; o < PA_ORDERS; o++)
		c += pa->zpool[o].cap + pa->dpool[o].cap;
	return c;
}

/* The stated bounds (kmem/pagealloc.h). The buddy's steps: each block taken
 * from or given to it splits or merges at most max_order times. */
static void bound_alloc(struct step_op *op, const struct kmem_pagealloc *pa, unsigned o)
{
	unsigned long blocks = b_of(o) + 4 + pool_caps(pa);

	step_op_init(op, "pa_alloc (miss)");
	op->bound[PA_STEP_REFILL] = b_of(o);
	op->bound[PA_STEP_ATTEMPT] = 6 + pa->oom_retries;
	op->bound[PA_STEP_DRAIN] = pool_caps(pa);
	op->bound[BUDDY_STEP_SPLIT] = MAX_ORDER * blocks;
	op->bound[BUDDY_STEP_MERGE] = MAX_ORDER * blocks;
}

static void bound_free(struct step_op *op, unsigned o)
{
	step_op_init(op, "pa_free (drain)");
	op->bound[PA_STEP_DRAIN] = b_of(o);
	op->bound[BUDDY_STEP_MERGE] = MAX_ORDER * b_of(o);
}

/* 1. The first allocation of each order refills its empty stack with B_o
 * blocks (INIT_NONE: dirty ones, from the buddy). */
static void test_refill(void **state)
{
	struct px x;
	struct step_op al[PA_ORDERS];
	void *p[PA_ORDERS];

	(void)state;
	px_init(&x, KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO);
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		bound_alloc(&al[o], x.pa, o);
		step_begin();
		p[o] = kmem_pa_alloc(x.pa, o, 0);
		step_end(&al[o]);
		assert_non_null(p[o]);
		assert_int_equal(step_count[PA_STEP_REFILL], b_of(o));
		assert_int_equal(step_count[PA_STEP_ATTEMPT], 1);
		step_print(&al[o]);
	}
	for (unsigned o = 0; o < PA_ORDERS; o++)
		kmem_pa_free(x.pa, p[o], o);
	px_fini(&x);
}

/* 2. Frees that fill a stack to its capacity H_o; the next drains B_o of
 * its oldest blocks to the pool (the buddy when the pool is full). */
static void test_drain(void **state)
{
	struct px x;
	struct step_op fr;
	static void *blk[256];

	(void)state;
	px_init(&x, KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO);
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		unsigned long k = h_of(o) + b_of(o) + 1;

		assert_true(k <= 256);
		for (unsigned long i = 0; i < k; i++) {
			blk[i] = kmem_pa_alloc(x.pa, o, 0);
			assert_non_null(blk[i]);
		}
		bound_free(&fr, o);
		for (unsigned long i = 0; i < k; i++) {
			step_begin();
			kmem_pa_free(x.pa, blk[i], o);
			step_end(&fr);
		}
		assert_int_equal(step_worst(&fr, PA_STEP_DRAIN), b_of(o));
		step_print(&fr);
	}
	px_fini(&x);
}

/* 3. The zeroer: a pass cut by its budget zeroes max_zero frames; one with
 * budget to spare fills every zeroed pool to its high target. */
static void test_zeroer(void **state)
{
	struct px x;
	struct step_op rr;
	unsigned long all = 0;

	(void)state;
	px_init(&x, KMEM_PA_INIT_ON_ALLOC, 0);
	step_op_init(&rr, "reaper_run (zero)");
	rr.bound[PA_STEP_ZERO] = 5;
	rr.bound[BUDDY_STEP_SPLIT] = 5 * MAX_ORDER;
	step_begin();
	assert_true(kmem_pa_reaper_run(x.pa, 5) & KMEM_PA_WORK_ZERO);
	step_end(&rr);
	assert_int_equal(step_count[PA_STEP_ZERO], 5);
	step_print(&rr);
	for (unsigned o = 0; o < PA_POOL_ORDERS; o++) {
		size_t hi = x.pa->zhigh >> o;

		all += (hi < x.pa->zpool[o].cap ? hi : x.pa->zpool[o].cap) - x.pa->zpool[o].n;
	}
	step_op_init(&rr, "reaper_run (zero all)");
	rr.bound[PA_STEP_ZERO] = all;
	rr.bound[BUDDY_STEP_SPLIT] = all * MAX_ORDER;
	step_begin();
	(void)kmem_pa_reaper_run(x.pa, 100000);
	step_end(&rr);
	assert_int_equal(step_count[PA_STEP_ZERO], all);
	step_print(&rr);
	px_fini(&x);
}

/* A shrinker that holds order-0 frames and gives back one per scan. */
struct trickle {
	struct kmem_shrinker sh;
	struct kmem_pagealloc *pa;
	void *blk[512];
	unsigned n;
	unsigned long scans;
};

static size_t trickle_count(void *arg)
{
	return ((struct trickle *)arg)->n;
}

static size_t trickle_scan(void *arg, const struct kmem_shrink_request *req)
{
	struct trickle *t = arg;

	(void)req;
	t->scans++;
	if (!t->n)
		return 0;
	kmem_pa_free(t->pa, t->blk[--t->n], 0);
	return 1;
}

static void trickle_init(struct trickle *t, struct kmem_pagealloc *pa, unsigned frames)
{
	memset(t, 0, sizeof(*t));
	t->pa = pa;
	t->sh.name = "trickle";
	t->sh.count = trickle_count;
	t->sh.scan = trickle_scan;
	t->sh.arg = t;
	for (; t->n < frames; t->n++) {
		t->blk[t->n] = kmem_pa_alloc(pa, 0, 0);
		assert_non_null(t->blk[t->n]);
	}
	assert_int_equal(kmem_pa_register_shrinker(pa, &t->sh), 0);
}

static void trickle_fini(struct trickle *t)
{
	kmem_pa_unregister_shrinker(t->pa, &t->sh);
	while (t->n)
		kmem_pa_free(t->pa, t->blk[--t->n], 0);
}

static size_t free_frames(struct px *x)
{
	struct kmem_pa_stats st;

	kmem_pa_get_stats(x->pa, &st);
	return st.free;
}

/* 4. A reclaim pass asks every shrinker; a reaper round below the low
 * watermark whose shrinker gives back one frame a pass runs one pass per
 * frame up to high. */
static void test_reclaim(void **state)
{
	struct px x;
	struct trickle t[5];
	struct step_op rc, rr;
	static void *hold[1024];
	unsigned nhold = 0;
	size_t free0;

	(void)state;
	px_init(&x, KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO);
	for (unsigned i = 0; i < 5; i++)
		trickle_init(&t[i], x.pa, i == 0 ? 200 : 4);
	step_op_init(&rc, "reclaim");
	rc.bound[PA_STEP_SHRINK] = 5;
	rc.bound[PA_STEP_DRAIN] = 5; /* a scan's frees, into the pools (no thread cache in reclaim) */
	rc.bound[BUDDY_STEP_MERGE] = 5 * MAX_ORDER;
	step_begin();
	assert_int_equal(kmem_pa_reclaim(x.pa, 1000, KMEM_PRESSURE_BACKGROUND), 5);
	step_end(&rc);
	assert_int_equal(step_count[PA_STEP_SHRINK], 5);
	step_print(&rc);

	/* one shrinker left, one frame a pass */
	for (unsigned i = 1; i < 5; i++)
		trickle_fini(&t[i]);
	/* below low: take frames (each allocation checks the watermarks) */
	while ((free0 = free_frames(&x)) >= x.pa->wlow) {
		assert_true(nhold < 1024);
		hold[nhold] = kmem_pa_alloc(x.pa, 0, KMEM_PAGE_NOWAIT);
		assert_non_null(hold[nhold]);
		nhold++;
	}
	assert_true(free0 > x.pa->wmin);
	step_op_init(&rr, "reaper_run (reclaim)");
	rr.bound[PA_STEP_RECLAIM] = x.pa->whigh - free0 + 1;
	rr.bound[PA_STEP_SHRINK] = x.pa->whigh - free0 + 1;
	rr.bound[BUDDY_STEP_MERGE] = MAX_ORDER * (x.pa->whigh - free0 + 1);
	step_begin();
	assert_true(kmem_pa_reaper_run(x.pa, 0) & KMEM_PA_WORK_RECLAIM);
	step_end(&rr);
	assert_int_equal(step_count[PA_STEP_RECLAIM], x.pa->whigh - free0);
	assert_int_equal(free_frames(&x), x.pa->whigh);
	step_print(&rr);
	while (nhold)
		kmem_pa_free(x.pa, hold[--nhold], 0);
	trickle_fini(&t[0]);
	px_fini(&x);
}

/* 5. A checked free scans the pools of its order and the thread cache's
 * stacks for a double free; kmem_pa_drain moves every pooled and cached
 * block. */
static void test_scan_and_drain(void **state)
{
	struct px x;
	struct step_op fc, dr;
	static void *blk[256];
	unsigned long k = 200, scan, moved = 0;
	struct pa_pcp *p;
	void *q;

	(void)state;
	px_init(&x, KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO);
	for (unsigned long i = 0; i < k; i++)
		assert_non_null(blk[i] = kmem_pa_alloc(x.pa, 0, 0));
	for (unsigned long i = 0; i < k; i++)
		kmem_pa_free(x.pa, blk[i], 0);
	q = kmem_pa_alloc(x.pa, 0, 0);
	assert_non_null(q);
	p = pa_pcp_self(x.pa);
	assert_non_null(p);
	scan = x.pa->zpool[0].n + x.pa->dpool[0].n + p->l[0].nz + p->l[0].nd;
	assert_true(x.pa->dpool[0].n > 0 && p->l[0].nd > 0);
	step_op_init(&fc, "pa_free_checked");
	fc.bound[PA_STEP_SCAN] = x.pa->zpool[0].cap + x.pa->dpool[0].cap + 2 * h_of(0);
	fc.bound[PA_STEP_DRAIN] = b_of(0);
	fc.bound[BUDDY_STEP_MERGE] = MAX_ORDER * b_of(0);
	fc.bound[BUDDY_STEP_SPAN] = MAX_ORDER + 1;
	step_begin();
	assert_int_equal(kmem_pa_free_checked(x.pa, q, 0), KMEM_OK);
	step_end(&fc);
	assert_int_equal(step_count[PA_STEP_SCAN], scan);
	step_print(&fc);

	for (unsigned o = 0; o < PA_ORDERS; o++)
		moved += x.pa->zpool[o].n + x.pa->dpool[o].n + p->l[o].nz + p->l[o].nd;
	step_op_init(&dr, "pa_drain");
	dr.bound[PA_STEP_DRAIN] = moved;
	dr.bound[BUDDY_STEP_MERGE] = MAX_ORDER * moved;
	step_begin();
	(void)kmem_pa_drain(x.pa);
	step_end(&dr);
	assert_int_equal(step_count[PA_STEP_DRAIN], moved);
	step_print(&dr);
	px_fini(&x);
}

/* 6. An allocation nothing can satisfy runs every round of the slow path:
 * the first (direct reclaim), one per OOM round, the last that fails. */
static void test_attempts(void **state)
{
	struct px x;
	struct step_op al;
	static void *hold[1024];
	unsigned nhold = 0;
	void *p;

	(void)state;
	px_init(&x, KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO);
	while ((p = kmem_pa_alloc(x.pa, 0, KMEM_PAGE_NOWAIT)) != NULL) {
		assert_true(nhold < 1024);
		hold[nhold++] = p;
	}
	bound_alloc(&al, x.pa, MAX_ORDER);
	step_begin();
	assert_null(kmem_pa_alloc(x.pa, MAX_ORDER, 0));
	step_end(&al);
	assert_int_equal(step_count[PA_STEP_ATTEMPT], 2 + x.pa->oom_retries);
	step_print(&al);
	while (nhold)
		kmem_pa_free(x.pa, hold[--nhold], 0);
	px_fini(&x);
}

/* 7. Growth: an allocation nothing satisfies with a grow hook after which
 * frames are free, but in blocks too small for the order-6 block asked
 * for (px_grow): every grow call is followed by a retry (4 of them), then
 * the rounds of test 6 (2 + oom rounds, 4 times as many with
 * KMEM_PAGE_NOFAIL). */
static void grow_to_bound(unsigned flags)
{
	unsigned rounds;
	struct px x;
	struct step_op al;
	static void *hold[1024];
	unsigned nhold = 0;
	void *p;

	px_with_grow = true;
	px_init(&x, KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO);
	px_with_grow = false;
	rounds = x.pa->oom_retries * ((flags & KMEM_PAGE_NOFAIL) ? 4u : 1u);
	while (x.nhold5 < HOLD5 && (p = kmem_pa_alloc(x.pa, 5, KMEM_PAGE_NOWAIT)) != NULL)
		x.hold5[x.nhold5++] = p;
	while ((p = kmem_pa_alloc(x.pa, 0, KMEM_PAGE_NOWAIT)) != NULL) {
		assert_true(nhold < 1024);
		hold[nhold++] = p;
	}
	x.grow_on = true;
	bound_alloc(&al, x.pa, MAX_ORDER);
	al.name = flags & KMEM_PAGE_NOFAIL ? "pa_alloc (grow, nofail)" : "pa_alloc (grow)";
	al.bound[PA_STEP_ATTEMPT] = 2 + rounds + GROWN;
	step_begin();
	assert_null(kmem_pa_alloc(x.pa, MAX_ORDER, flags));
	step_end(&al);
	assert_int_equal(x.ngrown, GROWN);
	assert_int_equal(step_count[PA_STEP_ATTEMPT], 2 + rounds + GROWN);
	step_print(&al);
	while (nhold)
		kmem_pa_free(x.pa, hold[--nhold], 0);
	for (unsigned i = 0; i < x.nhold5; i++)
		kmem_pa_free(x.pa, x.hold5[i], 5);
	px_fini(&x);
}

static void test_grow(void **state)
{
	(void)state;
	grow_to_bound(0);
	grow_to_bound(KMEM_PAGE_NOFAIL);
}

/* 8. The release step of a free without a reaper thread: with the whole
 * arena free past the decay time, a free's step gives back 8 blocks
 * (PA_REL_INLINE_BLOCKS) of the debt and leaves the rest to the next
 * frees, each within the bound. */
static void test_release_inline(void **state)
{
	struct px x;
	struct step_op fr;
	struct kmem_pa_stats st;
	unsigned long total = 0;
	void *p;

	(void)state;
	px_decay_ms = 1000;
	px_init(&x, KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO | KMEM_PA_RELEASE);
	px_decay_ms = 0;
	bound_free(&fr, MAX_ORDER);
	fr.name = "pa_free (release)";
	fr.bound[PA_STEP_DRAIN] = 0; /* order >= KMEM_PA_PCP_ORDERS: straight to the buddy */
	fr.bound[PA_STEP_RELEASE] = PA_REL_INLINE_BLOCKS;
	fr.bound[BUDDY_STEP_SPLIT] = MAX_ORDER * PA_REL_INLINE_BLOCKS;
	/* the free's merges, and the blocks' if the system refuses them */
	fr.bound[BUDDY_STEP_MERGE] = MAX_ORDER * (1 + PA_REL_INLINE_BLOCKS);
	/* an epoch that sees the arena free, then the decay time with no use */
	px_advance_ms(100);
	p = kmem_pa_alloc(x.pa, MAX_ORDER, 0);
	assert_non_null(p);
	kmem_pa_free(x.pa, p, MAX_ORDER);
	px_advance_ms(2000);
	for (unsigned i = 0; i < 8; i++) {
		p = kmem_pa_alloc(x.pa, MAX_ORDER, 0);
		assert_non_null(p);
		step_begin();
		kmem_pa_free(x.pa, p, MAX_ORDER);
		step_end(&fr);
		total += step_count[PA_STEP_RELEASE];
		if (i == 0)
			assert_int_equal(step_count[PA_STEP_RELEASE], PA_REL_INLINE_BLOCKS);
	}
	kmem_pa_get_stats(x.pa, &st);
	/* the debt's rest paid by the next frees, where the system releases
	 * memory (else the first step's blocks go back to the buddy, and the
	 * debt is dropped until the next epoch) */
	if (st.released_frames)
		assert_true(total > PA_REL_INLINE_BLOCKS);
	assert_int_equal(step_worst(&fr, PA_STEP_RELEASE), PA_REL_INLINE_BLOCKS);
	step_print(&fr);
	px_fini(&x);
}

/* 9. A seeded random mix of allocations and frees of orders 0..5, checked
 * frees, reaper rounds and reclaims: every call within its bound. */
static void test_random(void **state)
{
	struct px x;
	struct trickle t;
	struct step_op al[MAX_ORDER + 1], fr[MAX_ORDER + 1], rr, rc;
	struct test_rng rng;
	static void *live[2048];
	static unsigned live_order[2048];
	unsigned nlive = 0;

	(void)state;
	rng.s = test_seed(33, "pagealloc steps");
	px_init(&x, KMEM_PA_INIT_ON_ALLOC, 0);
	trickle_init(&t, x.pa, 100);
	for (unsigned o = 0; o <= MAX_ORDER; o++) {
		if (o < PA_ORDERS) {
			bound_alloc(&al[o], x.pa, o);
			bound_free(&fr[o], o);
		} else { /* straight to the buddy */
			bound_alloc(&al[o], x.pa, o);
			al[o].bound[PA_STEP_REFILL] = 0;
			bound_free(&fr[o], o);
			fr[o].bound[PA_STEP_DRAIN] = 0;
			fr[o].bound[BUDDY_STEP_MERGE] = MAX_ORDER;
		}
		/* the slow path's reclaim asks the shrinker once (a frame back) */
		al[o].bound[PA_STEP_SHRINK] = 1 + (6 + x.pa->oom_retries);
		al[o].bound[PA_STEP_DRAIN] += 1;
	}
	step_op_init(&rr, "reaper_run (random)");
	rr.bound[PA_STEP_ZERO] = 16;
	rr.bound[PA_STEP_RECLAIM] = x.pa->whigh + 1;
	rr.bound[PA_STEP_SHRINK] = x.pa->whigh + 1;
	rr.bound[PA_STEP_DRAIN] = x.pa->whigh + 1;
	rr.bound[BUDDY_STEP_SPLIT] = 16 * MAX_ORDER;
	rr.bound[BUDDY_STEP_MERGE] = (x.pa->whigh + 1) * MAX_ORDER;
	step_op_init(&rc, "reclaim (random)");
	rc.bound[PA_STEP_SHRINK] = 1;
	rc.bound[PA_STEP_DRAIN] = 1;
	rc.bound[BUDDY_STEP_MERGE] = MAX_ORDER;
	for (unsigned long step = 0; step < test_scale(30000); step++) {
		unsigned dice = (unsigned)test_below(&rng, 100);

		if (dice < 50 && nlive < 2048) {
			unsigned o = dice < 3 ? 4 + (unsigned)test_below(&rng, 3)
					      : (unsigned)test_below(&rng, PA_ORDERS);
			void *p;

			step_begin();
			p = kmem_pa_alloc(x.pa, o, KMEM_PAGE_NOWAIT);
			step_end(&al[o]);
			if (p) {
				live_order[nlive] = o;
				live[nlive++] = p;
			}
		} else if (dice < 97 && nlive) {
			unsigned i = (unsigned)test_below(&rng, nlive);

			step_begin();
			kmem_pa_free(x.pa, live[i], live_order[i]);
			step_end(&fr[live_order[i]]);
			live[i] = live[--nlive];
			live_order[i] = live_order[nlive];
		} else if (dice < 99) {
			step_begin();
			(void)kmem_pa_reaper_run(x.pa, 16);
			step_end(&rr);
		} else {
			step_begin();
			(void)kmem_pa_reclaim(x.pa, 1, KMEM_PRESSURE_BACKGROUND);
			step_end(&rc);
		}
	}
	while (nlive) {
		nlive--;
		kmem_pa_free(x.pa, live[nlive], live_order[nlive]);
	}
	for (unsigned o = 0; o <= MAX_ORDER; o++) {
		step_print(&al[o]);
		step_print(&fr[o]);
	}
	step_print(&rr);
	step_print(&rc);
	trickle_fini(&t);
	px_fini(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_drain),
		cmocka_unit_test(test_zeroer),
		cmocka_unit_test(test_reclaim),
		cmocka_unit_test(test_scan_and_drain),
		cmocka_unit_test(test_attempts),
		cmocka_unit_test(test_grow),
		cmocka_unit_test(test_release_inline),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
