/* test_magazine.c - per-thread magazines and the depot, single-threaded:
 * hit counting, the depot limit, working-set reap, misuse found when a
 * magazine is flushed, the checker's magazine invariants (M1, M2, and the
 * depot stacks' and the holder list's links), the slot namespace running out,
 * kmem_free's validation on the fast path, and the magazine policies (fixed
 * and self-tuning sizes, depot limits, the periodic reap; M4).
 * Threads (exit returns magazines, destroy takes them) are in
 * test_slab_threads.c. */
#include <errno.h>

#include "kmem_config.h" /* KMEM_MAG_SLOTS */
#include "slab_fixture.h"
#include "slab_internal.h" /* the depot and holder lists, for the checker tests */

static void test_hits_are_counted(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	struct kmem_cache_stats st;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "hits", 64, 0, 0, NULL, NULL, NULL);
	assert_int_equal(sfx_stats(c).mag_size, 61);
	for (int i = 0; i < 1000; i++) {
		void *p = kmem_cache_alloc(c);

		assert_non_null(p);
		kmem_cache_free(c, p);
	}
	(void)kmem_cache_shrink(c); /* folds this thread's counters */
	st = sfx_stats(c);
	/* every alloc popped a magazine: the first after a refill of 30 (61 / 2) */
	assert_int_equal(st.mag_allocs, 1000);
	assert_int_equal(st.mag_frees, 1000);
	assert_int_equal(st.allocs, 30); /* the slab layer saw one refill ... */
	assert_int_equal(st.frees, 30);	 /* ... and one flush (the shrink) */
	assert_int_equal(st.active_objs, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

static size_t own_loaded_rounds(struct kmem_cache *c);

/* kmem_slab_hits_uncounted (the drop-in's instance, decision 34): pops
 * through kmem_mag_pop_off_uncounted and the library's own leave both hit
 * counts at 0 through swaps, depot exchanges and the shrink's fold, and
 * the magazines stay consistent (the slot's pointers, M1-M5). */
static void test_hits_uncounted(void **state)
{
	struct kmem_cache_stats st;
	struct kmem_cache *c;
	struct sfx f;
	static void *p[500];

	(void)state;
	sfx_init(&f);
	kmem_slab_hits_uncounted(f.s);
	c = kmem_cache_create(f.s, "uncounted", 64, 0, 0, NULL, NULL, NULL);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 500; i++)
			assert_non_null(p[i] = kmem_cache_alloc(c));
		for (int i = 0; i < 500; i++)
			kmem_cache_free(c, p[i]);
		for (int i = 0; i < 500; i++) { /* the drop-in's pop: no count */
			if (kmem_mag_pop_off_uncounted(c->slot_off, &p[i]))
				(void)slab_annot_alloc(c, p[i], c->size); /* as a consumer's library call would */
			else
				assert_non_null(p[i] = kmem_cache_alloc(c));
		}
		assert_int_equal(kmem_cache_check(c), 0);
		for (int i = 0; i < 500; i++)
			kmem_cache_free(c, p[i]);
	}
	(void)own_loaded_rounds(c); /* M5 */
	(void)kmem_cache_shrink(c); /* folds this thread's counters: none */
	st = sfx_stats(c);
	assert_int_equal(st.mag_allocs, 0);
	assert_int_equal(st.mag_frees, 0);
	assert_true(st.depot_gets > 0 && st.depot_puts > 0); /* the exchanges ran */
	assert_int_equal(st.active_objs, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* Fill the depot with n full magazines (or up to its limit). */
static void churn(struct kmem_cache *c, void **p, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = kmem_cache_alloc(c);
	for (int i = 0; i < n; i++)
		kmem_cache_free(c, p[i]);
}

static void test_working_set_reap(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	struct kmem_cache_stats st;
	static void *p[3000];
	size_t used0;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "ws", 32, 0, 0, NULL, NULL, NULL);
	used0 = sfx_used_frames(&f);
	churn(c, p, 600); /* 600 objects: about 8 full magazines end in the depot */
	st = sfx_stats(c);
	assert_true(st.depot_full >= 7 && st.depot_full <= 9);
	assert_int_equal(st.depot_objs, st.depot_full * 61);
	/* first reap opens the interval: the depot has not been idle yet */
	(void)kmem_cache_reap(c);
	assert_int_equal(sfx_stats(c).depot_full, st.depot_full);
	/* use 150 objects during the interval (one depot magazine), give them back */
	churn(c, p, 150);
	assert_int_equal(sfx_stats(c).depot_full, st.depot_full);
	(void)kmem_cache_reap(c); /* frees the magazines not needed in the interval */
	assert_int_equal(sfx_stats(c).depot_full, 1); /* 8 held, 7 never touched */
	assert_int_equal(kmem_cache_check(c), 0);
	(void)kmem_cache_reap(c); /* an idle interval: the rest goes */
	assert_int_equal(sfx_stats(c).depot_full, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	/* the thread's own magazines stay until shrink */
	(void)kmem_cache_shrink(c);
	(void)kmem_slab_shrink(f.s);
	assert_int_equal(sfx_used_frames(&f), used0);
	assert_int_equal(kmem_buddy_check(f.b), 0);
	kmem_cache_destroy(c);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

static void test_depot_limit_bounds_hoarding(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	static void *p[3000];

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "limit", 16, 0, 0, NULL, NULL, NULL);
	churn(c, p, 3000);
	/* at most 16 full magazines in the depot plus two in the thread */
	assert_int_equal(sfx_stats(c).depot_full, 16);
	assert_true(sfx_stats(c).active_objs <= 18 * 61);
	assert_true(sfx_stats(c).mag_flushes > 0);
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c); /* no leak: objects in magazines are free */
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* The checker verifies the depot stacks (M2: length against the counts, a
 * cycle) and the holder list (M3: back links, each holder this cache's). */
static void test_check_depot_and_holders(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	static void *p[600];
	struct kmem_slist_node *last;
	struct kmem_mag_holder *h;
	struct kmem_list_node **pprev;
	unsigned nfull;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "depot", 32, 0, 0, NULL, NULL, NULL);
	churn(c, p, 600);
	nfull = c->nfull;
	assert_true(nfull >= 2);
	assert_int_equal(kmem_cache_check(c), 0);
	c->nfull = nfull - 1; /* the stack is longer than its count */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "M2: the depot's full list is longer");
	c->nfull = nfull + 1; /* shorter */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "the count says");
	c->nfull = nfull;
	last = kmem_slist_first(&c->depot_full);
	assert_non_null(last);
	while (last->next)
		last = last->next;
	last->next = kmem_slist_first(&c->depot_full); /* a cycle: only the bound finds it */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "M2");
	last->next = NULL;
	assert_int_equal(kmem_cache_check(c), 0);

	h = KMEM_LIST_ENTRY(kmem_list_first(&c->holders), struct kmem_mag_holder, link);
	assert_null(h->link.next); /* one thread */
	pprev = h->link.pprev;
	h->link.pprev = &h->link.next;
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "M3: the holder list has a broken link");
	h->link.pprev = pprev;
	h->cache = &f.s->cache_cache; /* on c's list, naming another cache */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "M3");
	h->cache = c;
	assert_int_equal(kmem_cache_check(c), 0);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_CORRUPTION), 5);
	kmem_cache_destroy(c);
	assert_int_equal(kmem_error_total(&f.rec.sink), 5);
	sfx_fini(&f);
}

static void test_misuse_found_at_flush(void **state)
{
	struct sfx f;
	struct kmem_cache *c, *d;
	char *p, *q, *r;
	long local;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "victim", 64, 0, 0, NULL, NULL, NULL);
	d = kmem_cache_create(f.s, "other", 64, 0, 0, NULL, NULL, NULL);
	p = kmem_cache_alloc(c);
	q = kmem_cache_alloc(d);
	r = kmem_cache_alloc(c);

	/* the checked free looks into this thread's magazines */
	kmem_cache_free(c, r);
	assert_int_equal(kmem_cache_free_checked(c, r), KMEM_DOUBLE_FREE);
	assert_report_has(f.rec.detail, "in a magazine");

	/* the unchecked fast path trusts its argument ... */
	kmem_cache_free(c, &local);
	kmem_cache_free(c, q);
	kmem_cache_free(c, p + 8);
	assert_int_equal(kmem_error_total(&f.rec.sink), 1);
	/* ... and the flush finds every bad one, drops it, keeps the rest */
	(void)kmem_cache_shrink(c);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_FOREIGN_POINTER), 1);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_WRONG_CACHE), 1);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_INTERIOR_POINTER), 1);
	assert_report_has(f.rec.detail, "when its magazine was flushed");
	assert_int_equal(kmem_cache_check(c), 0);
	assert_int_equal(kmem_cache_check(d), 0);
	assert_int_equal(sfx_stats(c).active_objs, 1); /* p */
	(void)kmem_cache_shrink(d); /* d's magazine: the rest of q's refill */
	assert_int_equal(sfx_stats(d).active_objs, 1); /* q was not freed */

	/* a double free through magazines: found when flushed */
	kmem_cache_free(c, p);
	r = kmem_cache_alloc(c);
	assert_ptr_equal(r, p); /* LIFO */
	kmem_cache_free(c, r);
	TEST_MISUSE(kmem_cache_free(c, p)); /* p twice in the magazine */
	assert_int_equal(kmem_cache_check(c), -EFAULT); /* M1 */
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_CORRUPTION), 1);
	assert_report_has(f.rec.detail, "M1");
	(void)kmem_cache_shrink(c);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_DOUBLE_FREE), 2);
	assert_int_equal(kmem_cache_check(c), 0);
	assert_int_equal(sfx_stats(c).active_objs, 0);

	kmem_cache_destroy(c);
	kmem_cache_destroy(d); /* one leak: the q we kept */
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_LEAK), 1);
	assert_int_equal(kmem_error_total(&f.rec.sink), 7);
	sfx_fini(&f);
}

static void test_kmem_free_validates_on_fast_path(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	char *p, *o;
	long local;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "private", 64, 0, 0, NULL, NULL, NULL);
	p = kmem_alloc(f.s, 96);
	o = kmem_cache_alloc(c);
	kmem_free(f.s, p + 32); /* interior: 96 is not a power of two */
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_INTERIOR_POINTER), 1);
	kmem_free(f.s, o);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_WRONG_CACHE), 1);
	kmem_free(f.s, &local);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_FOREIGN_POINTER), 1);
	kmem_free(f.s, NULL);
	kmem_free(f.s, p);
	assert_int_equal(kmem_free_checked(f.s, p), KMEM_DOUBLE_FREE); /* in this thread's magazine */
	assert_int_equal(kmem_error_total(&f.rec.sink), 4);
	kmem_cache_free(c, o);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

/* Slots are a process-wide namespace (127 by default); caches beyond work without. */
static void test_slots_run_out(void **state)
{
	struct sfx f;
	struct kmem_cache *c[200];
	unsigned with = 0, without = 0;

	(void)state;
	sfx_init(&f);
	for (int i = 0; i < 200; i++) {
		void *p;

		c[i] = kmem_cache_create(f.s, "many", 24, 0, 0, NULL, NULL, NULL);
		assert_non_null(c[i]);
		if (sfx_stats(c[i]).mag_size)
			with++;
		else
			without++;
		p = kmem_cache_alloc(c[i]);
		assert_non_null(p);
		kmem_cache_free(c[i], p);
		assert_int_equal(kmem_cache_check(c[i]), 0);
	}
	/* the 13 kmalloc classes hold slots too (kmalloc-8 ... kmalloc-8k) */
	assert_int_equal(with + 13, KMEM_MAG_SLOTS - 1);
	assert_int_equal(without, 200 - with);
	for (int i = 0; i < 200; i++)
		kmem_cache_destroy(c[i]);
	/* the slots are free again */
	c[0] = kmem_cache_create(f.s, "again", 24, 0, 0, NULL, NULL, NULL);
	assert_int_equal(sfx_stats(c[0]).mag_size, 61);
	kmem_cache_destroy(c[0]);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

static void test_slabinfo_tunables(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	char text[8192], *line;
	unsigned limit, batch, shared;
	size_t sharedavail;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "tuned", 200, 0, 0, NULL, NULL, NULL);
	kmem_cache_free(c, kmem_cache_alloc(c));
	assert_true(kmem_slab_format_slabinfo(f.s, text, sizeof(text)) < (int)sizeof(text));
	line = strstr(text, "\ntuned ");
	assert_non_null(line);
	assert_int_equal(sscanf(line + 1, "%*s %*u %*u %*u %*u %*u : tunables %u %u %u : slabdata %*u %*u %zu",
				&limit, &batch, &shared, &sharedavail),
			 4);
	assert_int_equal(limit, 61);
	assert_int_equal(batch, 30);
	assert_int_equal(shared, 1);
	assert_int_equal(sharedavail, 0);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

/* The slab instance as a shrinker: count, then scans at rising pressure. */
static void test_shrinker_protocol(void **state)
{
	struct sfx f;
	struct kmem_cache *a, *b;
	static void *p[3000];
	struct kmem_shrink_request req = { .frames = (size_t)-1 };
	size_t used0, got;

	(void)state;
	sfx_init(&f);
	a = kmem_cache_create(f.s, "older", 32, 0, 0, NULL, NULL, NULL);
	b = kmem_cache_create(f.s, "newer", 32, 0, 0, NULL, NULL, NULL);
	/* after the two descriptors (cache_cache's slabs: how many depends on
	 * struct kmem_cache's size) */
	used0 = sfx_used_frames(&f);
	churn(a, p, 600);
	churn(b, p, 600);
	assert_int_equal(sfx_stats(a).depot_full, 8);
	assert_int_equal(sfx_stats(b).depot_full, 8);
	assert_true(kmem_slab_shrink_count(f.s) >= 2 * (8 * 61 * 32 / 4096));

	/* background: working sets only; the first interval keeps the depots */
	req.level = KMEM_PRESSURE_BACKGROUND;
	(void)kmem_slab_shrink_scan(f.s, &req);
	assert_int_equal(sfx_stats(a).depot_full, 8);
	assert_int_equal(sfx_stats(b).depot_full, 8);
	/* after an idle interval, one frame wanted: the newest cache gives it */
	req.frames = 1;
	got = kmem_slab_shrink_scan(f.s, &req);
	assert_true(got >= 1);
	assert_int_equal(sfx_stats(b).depot_full, 0);
	assert_int_equal(sfx_stats(a).depot_full, 8); /* enough already: a untouched */
	/* direct: everything cached, this thread's magazines too */
	req.level = KMEM_PRESSURE_DIRECT;
	req.frames = (size_t)-1;
	got = kmem_slab_shrink_scan(f.s, &req);
	assert_true(got > 0);
	assert_int_equal(sfx_stats(a).active_objs, 0);
	assert_int_equal(sfx_stats(b).active_objs, 0);
	assert_int_equal(sfx_stats(a).total_slabs, 0);
	assert_int_equal(kmem_slab_shrink_count(f.s), 0);
	/* OOM: the internal caches' empty slabs too; every frame is back */
	churn(a, p, 300);
	req.level = KMEM_PRESSURE_OOM;
	req.frames = 1;
	assert_true(kmem_slab_shrink_scan(f.s, &req) > 0);
	assert_int_equal(sfx_used_frames(&f), used0);
	assert_int_equal(kmem_cache_check(a), 0);
	assert_int_equal(kmem_cache_check(b), 0);
	assert_int_equal(kmem_buddy_check(f.b), 0);
	kmem_cache_destroy(a);
	kmem_cache_destroy(b);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* A page source that reclaims: the buddy's, plus a shrinker list of one. */
static struct kmem_shrinker *captured_shrinker;

static int capture_shrinker(void *ctx, struct kmem_shrinker *sh)
{
	(void)ctx;
	captured_shrinker = sh;
	return 0;
}

static void release_shrinker(void *ctx, struct kmem_shrinker *sh)
{
	(void)ctx;
	if (captured_shrinker == sh)
		captured_shrinker = NULL;
}

/* The shrinker the instance registers try-locks the instance: run (as the
 * frame service runs it, holding its shrink lock) while the instance lock is
 * held (as a fork's prepare handlers hold it), it counts and releases
 * nothing and returns at once, where waiting would deadlock; once the lock
 * is free it releases what the public call would. */
static void test_shrinker_skips_busy_instance(void **state)
{
	struct sfx f;
	struct kmem_page_source ps;
	struct kmem_slab_config sc;
	struct kmem_slab *s = NULL;
	struct kmem_cache *c;
	struct kmem_shrink_request req = { .frames = (size_t)-1, .level = KMEM_PRESSURE_DIRECT };
	static void *p[600];
	void *mem;
	size_t used;

	(void)state;
	sfx_init(&f);
	ps = f.ps;
	ps.register_shrinker = capture_shrinker;
	ps.unregister_shrinker = release_shrinker;
	memset(&sc, 0, sizeof(sc));
	sc.source = &ps;
	sc.sink = &f.rec.sink;
	mem = aligned_alloc(64, (kmem_slab_sizeof() + 63) & ~(size_t)63);
	assert_non_null(mem);
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), 0);
	assert_non_null(captured_shrinker);
	c = kmem_cache_create(s, "busy", 32, 0, 0, NULL, NULL, NULL);
	assert_non_null(c);
	churn(c, p, 600);
	used = sfx_used_frames(&f);

	kmem_lock_acquire(&s->lock); /* a fork's prepare, or a cache being created */
	assert_int_equal(captured_shrinker->count(captured_shrinker->arg), 0);
	assert_int_equal(captured_shrinker->scan(captured_shrinker->arg, &req), 0);
	kmem_lock_release(&s->lock);
	assert_int_equal(sfx_used_frames(&f), used); /* nothing released meanwhile */

	assert_true(captured_shrinker->count(captured_shrinker->arg) > 0);
	assert_true(captured_shrinker->scan(captured_shrinker->arg, &req) > 0);
	assert_true(sfx_used_frames(&f) < used);
	assert_int_equal(sfx_stats(c).active_objs, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	kmem_slab_destroy(s);
	assert_null(captured_shrinker);
	free(mem);
	sfx_fini(&f);
}

/* ---- policies (kmem_slab_config.mag_size, .depot_limit; decision 30) ---- */

/* A second slab instance on the fixture's buddy, with a magazine policy. */
static struct kmem_slab *policy_slab(struct sfx *f, void **mem, unsigned mag_size,
				     unsigned depot_limit)
{
	struct kmem_slab_config sc;
	struct kmem_slab *s = NULL;

	memset(&sc, 0, sizeof(sc));
	sc.source = &f->ps;
	sc.sink = &f->rec.sink;
	sc.mag_size = mag_size;
	sc.depot_limit = depot_limit;
	*mem = aligned_alloc(64, (kmem_slab_sizeof() + 63) & ~(size_t)63);
	assert_non_null(*mem);
	assert_int_equal(kmem_slab_init(*mem, kmem_slab_sizeof(), &sc, &s), 0);
	return s;
}

static void policy_fini(struct kmem_slab *s, void *mem)
{
	kmem_slab_destroy(s);
	free(mem);
}

/* The calling thread's magazine slot of c. */
static struct kmem_mag_slot *own_slot(struct kmem_cache *c)
{
	return &kmem_mag_self->slot[c->slot];
}

/* The rounds of the calling thread's loaded magazine of c: the slot's
 * count (the magazine's own field is stale while it is loaded), checked
 * against the slot's bounds (M5). */
static size_t own_loaded_rounds(struct kmem_cache *c)
{
	const struct kmem_mag_slot *ms = own_slot(c);

	assert_true(ms->base == ms->loaded->obj);
	assert_true(ms->end == ms->loaded->obj + ms->loaded->cap);
	assert_true(ms->top >= ms->base && ms->top <= ms->end);
	return (size_t)(ms->top - ms->base);
}

static void test_policy_config(void **state)
{
	struct kmem_slab_config sc;
	struct kmem_slab *s;
	struct kmem_cache *c;
	struct sfx f;
	void *mem;
	static void *p[3000];

	(void)state;
	sfx_init(&f);
	memset(&sc, 0, sizeof(sc));
	sc.source = &f.ps;
	sc.mag_size = KMEM_MAG_ROUNDS_MAX + 1;
	mem = aligned_alloc(64, (kmem_slab_sizeof() + 63) & ~(size_t)63);
	assert_non_null(mem);
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), -EINVAL);
	sc.mag_size = KMEM_MAG_SIZE_AUTO - 1;
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), -EINVAL);
	free(mem);
	/* the largest fixed size: magazines of 8 KiB, flushed in batches */
	s = policy_slab(&f, &mem, KMEM_MAG_ROUNDS_MAX, 0);
	c = kmem_cache_create(s, "big-mags", 16, 0, 0, NULL, NULL, NULL);
	assert_non_null(c);
	assert_int_equal(sfx_stats(c).mag_size, KMEM_MAG_ROUNDS_MAX);
	assert_int_equal(sfx_stats(c).depot_limit, KMEM_DEPOT_DEFAULT);
	assert_int_equal(sfx_stats(c).mag_auto, 0);
	churn(c, p, 3000);
	assert_int_equal(kmem_cache_check(c), 0);
	assert_true(kmem_cache_shrink(c) > 0); /* 3000 objects flushed, slabs released */
	assert_int_equal(sfx_stats(c).active_objs, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	/* kmalloc's classes follow the policy too */
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	policy_fini(s, mem);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* Size 4: four frees fill the thread's loaded magazine; the 5th finds it
 * full (slow path: a new magazine, the full one becomes the previous);
 * the 9th finds both full and puts the previous into the depot. */
static void test_fixed_size(void **state)
{
	struct sfx f;
	struct kmem_slab *s;
	struct kmem_cache *c;
	struct kmem_cache_stats st;
	void *mem, *p[20];

	(void)state;
	sfx_init(&f);
	s = policy_slab(&f, &mem, 4, 0);
	c = kmem_cache_create(s, "m4", 64, 0, 0, NULL, NULL, NULL);
	assert_int_equal(sfx_stats(c).mag_size, 4);
	for (int i = 0; i < 20; i++)
		assert_non_null(p[i] = kmem_cache_alloc(c));
	assert_int_equal(sfx_stats(c).allocs, 20); /* refills of 4 / 2 */
	for (int i = 0; i < 4; i++)
		kmem_cache_free(c, p[i]);
	assert_int_equal(own_loaded_rounds(c), 4);
	assert_int_equal(own_slot(c)->loaded->cap, 4);
	assert_true(own_slot(c)->prev->cap == 0 || own_slot(c)->prev->rounds == 0);
	kmem_cache_free(c, p[4]); /* the 5th: a new magazine */
	assert_int_equal(own_loaded_rounds(c), 1);
	assert_int_equal(own_slot(c)->prev->rounds, 4);
	assert_int_equal(sfx_stats(c).depot_full, 0);
	for (int i = 5; i < 8; i++)
		kmem_cache_free(c, p[i]);
	st = sfx_stats(c);
	assert_int_equal(st.depot_full, 0);
	assert_int_equal(st.depot_puts, 0);
	kmem_cache_free(c, p[8]); /* the 9th: the full previous to the depot */
	st = sfx_stats(c);
	assert_int_equal(st.depot_full, 1);
	assert_int_equal(st.depot_puts, 1);
	assert_int_equal(st.depot_objs, 4);
	for (int i = 9; i < 20; i++)
		kmem_cache_free(c, p[i]);
	assert_int_equal(kmem_cache_check(c), 0);
	/* a fixed size ignores contention */
	kmem_mag_contention_inject(c, 2 * KMEM_MAG_CONTENTION);
	churn(c, p, 20);
	st = sfx_stats(c);
	assert_int_equal(st.mag_size, 4);
	assert_int_equal(st.mag_resizes, 0);
	assert_true(st.depot_contended >= 2 * KMEM_MAG_CONTENTION);
	kmem_cache_destroy(c);
	policy_fini(s, mem);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* A depot limit of 2: never more than two full magazines in the depot; the
 * rest is flushed to the slabs. The checker knows the limit (M4). */
static void test_depot_limit_policy(void **state)
{
	struct sfx f;
	struct kmem_slab *s;
	struct kmem_cache *c;
	struct kmem_cache_stats st;
	void *mem;
	static void *p[100];

	(void)state;
	sfx_init(&f);
	s = policy_slab(&f, &mem, 4, 2);
	c = kmem_cache_create(s, "limit2", 64, 0, 0, NULL, NULL, NULL);
	churn(c, p, 100);
	st = sfx_stats(c);
	assert_int_equal(st.depot_limit, 2);
	assert_int_equal(st.depot_full, 2);
	assert_true(st.active_objs <= (2 + 2) * 4); /* the depot's and the thread's */
	assert_true(st.mag_flushes > 0);
	assert_int_equal(kmem_cache_check(c), 0);
	c->depot_max = 1; /* the depot holds more than its limit */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "M4: 2 full magazines in the depot, its limit is 1");
	c->depot_max = 2;
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	policy_fini(s, mem);
	assert_int_equal(kmem_error_total(&f.rec.sink), 1);
	sfx_fini(&f);
}

/* KMEM_DEPOT_AUTO: no limit, and the slow paths reap the working set's
 * excess every KMEM_DEPOT_REAP_OPS depot exchanges. */
static void test_depot_auto_reaps(void **state)
{
	struct sfx f;
	struct kmem_slab *s;
	struct kmem_cache *c;
	struct kmem_cache_stats st;
	unsigned before;
	void *mem;
	static void *p[200];
	int i;

	(void)state;
	sfx_init(&f);
	s = policy_slab(&f, &mem, 4, KMEM_DEPOT_AUTO);
	c = kmem_cache_create(s, "auto-depot", 64, 0, 0, NULL, NULL, NULL);
	churn(c, p, 200);
	st = sfx_stats(c);
	assert_int_equal(st.depot_limit, KMEM_DEPOT_AUTO);
	assert_int_equal(st.depot_full, 200 / 4 - 2); /* all but the thread's two */
	assert_int_equal(st.mag_flushes, 0);
	assert_int_equal(kmem_cache_check(c), 0);
	before = (unsigned)st.depot_full;
	/* a small working set (12 objects: a few depot magazines) until a reap */
	for (i = 0; i < 1000 && sfx_stats(c).depot_reaps < 2; i++)
		churn(c, p, 12);
	st = sfx_stats(c);
	assert_true(st.depot_reaps >= 2);
	assert_true(st.depot_full < before);
	assert_true(st.depot_full <= 4); /* what 12 objects need */
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	policy_fini(s, mem);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* KMEM_MAG_SIZE_AUTO: the size starts at the default and grows (2n + 1)
 * once contention on the depot lock is counted (forced here through the
 * test hook), up to KMEM_MAG_AUTO_MAX; the depot then holds the new size
 * only, threads' old magazines are dropped as they come back. */
static void test_mag_size_auto_grows(void **state)
{
	static const unsigned sizes[] = { 123, 247, KMEM_MAG_AUTO_MAX, KMEM_MAG_AUTO_MAX };
	struct sfx f;
	struct kmem_slab *s;
	struct kmem_cache *c;
	struct kmem_cache_stats st;
	struct kmem_mag *m;
	void *mem;
	static void *p[2000];

	(void)state;
	sfx_init(&f);
	s = policy_slab(&f, &mem, KMEM_MAG_SIZE_AUTO, 0);
	c = kmem_cache_create(s, "auto-size", 64, 0, 0, NULL, NULL, NULL);
	st = sfx_stats(c);
	assert_int_equal(st.mag_size, 61);
	assert_int_equal(st.mag_auto, 1);
	churn(c, p, 2000);
	assert_int_equal(sfx_stats(c).mag_size, 61); /* no contention: no change */
	/* fewer than the threshold: no change either */
	kmem_mag_contention_inject(c, KMEM_MAG_CONTENTION - 1);
	churn(c, p, 200);
	assert_int_equal(sfx_stats(c).mag_size, 61);
	kmem_mag_contention_inject(c, 1);
	for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		if (k)
			kmem_mag_contention_inject(c, KMEM_MAG_CONTENTION);
		churn(c, p, 2000);
		st = sfx_stats(c);
		assert_int_equal(st.mag_size, sizes[k]);
		assert_int_equal(st.mag_resizes, k < 3 ? k + 1 : 3);
		KMEM_LIST_FOR_EACH_ENTRY(m, &c->depot_full, struct kmem_mag, link)
			assert_int_equal(m->cap, sizes[k]);
		assert_int_equal(kmem_cache_check(c), 0);
	}
	assert_int_equal(own_slot(c)->loaded->cap, KMEM_MAG_AUTO_MAX); /* new ones since */
	/* M2: depot magazines are of the cache's size */
	c->mag_cap = 61;
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_report_has(f.rec.detail, "M2");
	c->mag_cap = KMEM_MAG_AUTO_MAX;
	assert_int_equal(kmem_cache_check(c), 0);
	kmem_cache_destroy(c);
	policy_fini(s, mem);
	assert_int_equal(kmem_error_total(&f.rec.sink), 1);
	sfx_fini(&f);
}

int main(void)
{
	if (!KMEM_MAGAZINES) { /* 77: Meson's "skipped" */
		printf("test-magazine: skipped: magazines are compiled out of this build "
		       "(-Dmagazines, off without threads)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shrinker_skips_busy_instance),
		cmocka_unit_test(test_hits_are_counted),
		cmocka_unit_test(test_hits_uncounted),
		cmocka_unit_test(test_working_set_reap),
		cmocka_unit_test(test_depot_limit_bounds_hoarding),
		cmocka_unit_test(test_check_depot_and_holders),
		cmocka_unit_test(test_misuse_found_at_flush),
		cmocka_unit_test(test_kmem_free_validates_on_fast_path),
		cmocka_unit_test(test_slots_run_out),
		cmocka_unit_test(test_slabinfo_tunables),
		cmocka_unit_test(test_shrinker_protocol),
		cmocka_unit_test(test_policy_config),
		cmocka_unit_test(test_fixed_size),
		cmocka_unit_test(test_depot_limit_policy),
		cmocka_unit_test(test_depot_auto_reaps),
		cmocka_unit_test(test_mag_size_auto_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
