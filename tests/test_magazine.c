/* test_magazine.c - per-thread magazines and the depot, single-threaded:
 * hit counting, the depot limit, working-set reap, misuse found when a
 * magazine is flushed, the checker's magazine invariants (M1, M2, and the
 * depot stacks' and the holder list's links), the slot namespace running out, and kmem_free's validation on the fast path.
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
	used0 = sfx_used_frames(&f);
	a = kmem_cache_create(f.s, "older", 32, 0, 0, NULL, NULL, NULL);
	b = kmem_cache_create(f.s, "newer", 32, 0, 0, NULL, NULL, NULL);
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

int main(void)
{
	if (!KMEM_MAGAZINES) { /* 77: Meson's "skipped" */
		printf("test-magazine: skipped: magazines are compiled out of this build "
		       "(-Dmagazines, off without threads)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hits_are_counted),
		cmocka_unit_test(test_working_set_reap),
		cmocka_unit_test(test_depot_limit_bounds_hoarding),
		cmocka_unit_test(test_check_depot_and_holders),
		cmocka_unit_test(test_misuse_found_at_flush),
		cmocka_unit_test(test_kmem_free_validates_on_fast_path),
		cmocka_unit_test(test_slots_run_out),
		cmocka_unit_test(test_slabinfo_tunables),
		cmocka_unit_test(test_shrinker_protocol),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
