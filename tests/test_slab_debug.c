/* test_slab_debug.c - the debug flags: red zones, poisoning, caller
 * tracking, and the global default (the instance's debug_flags), each
 * detection with its exact error count, the cache still working and the
 * checker passing afterwards. */
#include <errno.h>

#include "slab_fixture.h"

#define RZ 0xcc		/* red zone byte (include/kmem/slab.h) */
#define POISON 0x6b	/* free object byte */

static void check_clean(struct kmem_cache *c)
{
	assert_int_equal(kmem_cache_check(c), 0);
}

static void test_redzone_overflow_and_underflow(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	unsigned char *p, *q;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "rz", 40, 0, KMEM_CACHE_REDZONE | KMEM_CACHE_STORE_USER, NULL, NULL,
			      NULL);
	assert_non_null(c);
	assert_true(sfx_stats(c).flags & KMEM_CACHE_REDZONE);
	assert_int_equal(sfx_stats(c).mag_size, 0); /* debug caches have no magazines */
	p = kmem_cache_alloc(c);
	q = kmem_cache_alloc(c);
	assert_true((uintptr_t)p % 8 == 0);
	memset(p, 0x11, 40); /* the whole object is usable */
	check_clean(c);

	test_poke(&p[40], 'x'); /* one byte past the end */
	kmem_cache_free(c, p);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 1);
	assert_ptr_equal(f.rec.last.ptr, p);
	assert_report_has(f.rec.detail, "red zone after the object overwritten at offset 40");
	assert_non_null(f.rec.last.alloc_by); /* the records sit before the object: intact */
	assert_int_equal(f.rec.last.size, 40);
	assert_report_has(f.rec.line, "(block of 40 bytes)");
	assert_report_has(f.rec.line, "last allocated by 0x");
	assert_string_equal(f.rec.last.instance, "rz");
	check_clean(c); /* the zone was repaired and the object freed */
	assert_int_equal(sfx_stats(c).active_objs, 1);

	test_poke(&q[-1], 'y'); /* one byte before the start */
	assert_int_equal(kmem_cache_free_checked(c, q), KMEM_OK);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 2);
	assert_report_has(f.rec.detail, "red zone before the object overwritten at offset -1");
	check_clean(c);

	/* the checker finds a damaged zone of a live object */
	p = kmem_cache_alloc(c);
	test_poke(&p[45], 0);
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 3);
	test_poke(&p[45], RZ);
	check_clean(c);
	kmem_cache_free(c, p);
	assert_int_equal(kmem_error_total(&f.rec.sink), 3);
	assert_int_equal(sfx_stats(c).active_objs, 0);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

/* An overflow past a live block that is never freed is found when the
 * object next to it is allocated or freed (the neighbours' zones are
 * checked at every alloc and free of a red-zone cache), reported once
 * (the zone repaired), naming the damaged block. */
static void test_redzone_found_at_neighbour(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	unsigned char *p, *q, *r;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "nb", 48, 0, KMEM_CACHE_REDZONE | KMEM_CACHE_STORE_USER, NULL, NULL,
			      NULL);
	assert_non_null(c);
	p = kmem_cache_alloc(c);
	test_poke(&p[48], 'x'); /* one byte past p, which stays live */
	q = kmem_cache_alloc(c); /* the next object: p's zone checked */
	assert_true(q > p);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 1);
	assert_ptr_equal(f.rec.last.ptr, p);
	assert_report_has(f.rec.detail, "red zone after the object overwritten at offset 48");
	assert_report_has(f.rec.detail, "found at its neighbour");
	r = kmem_cache_alloc(c);
	kmem_cache_free(c, r);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 1); /* repaired: once */
	check_clean(c);

	test_poke(&q[-1], 'y'); /* before q, found when p (its neighbour) is freed */
	kmem_cache_free(c, p);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 2);
	assert_ptr_equal(f.rec.last.ptr, q);
	assert_report_has(f.rec.detail, "red zone before the object overwritten at offset -1");
	kmem_cache_free(c, q);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 2);
	check_clean(c);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

static void test_poison_use_after_free(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	unsigned char *p, *again;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "uaf", 64, 0, KMEM_CACHE_POISON, NULL, NULL, NULL);
	p = kmem_cache_alloc(c);
	for (int i = 0; i < 64; i++) /* a fresh object reads as poison (uninitialised to memcheck) */
		assert_int_equal(test_peek(&p[i]), POISON);
	memset(p, 0, 64);
	kmem_cache_free(c, p);
	for (int i = 0; i < 64; i++) /* freeing poisons */
		assert_int_equal(test_peek(&p[i]), POISON);
	check_clean(c);

	test_poke(&p[10], 1); /* write after free: the checker sees it */
	assert_int_equal(kmem_cache_check(c), -EFAULT);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_USE_AFTER_FREE), 1);
	assert_report_has(f.rec.detail, "written after it was freed at offset 10");
	/* and the next allocation of that object reports it too */
	again = kmem_cache_alloc(c);
	assert_ptr_equal(again, p); /* lowest free object first */
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_USE_AFTER_FREE), 2);
	assert_ptr_equal(f.rec.last.ptr, p);
	kmem_cache_free(c, again); /* poison restored */
	check_clean(c);
	assert_int_equal(kmem_error_total(&f.rec.sink), 2);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

static int ctor_calls;

static void ctor(void *obj, void *arg)
{
	(void)arg;
	ctor_calls++;
	memset(obj, 0x42, 32);
}

static void test_poison_skipped_with_ctor(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	unsigned char *p;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "ctor", 32, 0, KMEM_CACHE_POISON | KMEM_CACHE_REDZONE, ctor, NULL, NULL);
	assert_false(sfx_stats(c).flags & KMEM_CACHE_POISON);
	assert_true(sfx_stats(c).flags & KMEM_CACHE_REDZONE);
	p = kmem_cache_alloc(c);
	assert_int_equal(p[0], 0x42);
	p[1] = 0x43;
	kmem_cache_free(c, p);
	assert_int_equal(test_peek(&p[1]), 0x43); /* constructed state survives the free */
	check_clean(c);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	kmem_cache_destroy(c);
	sfx_fini(&f);
}

static void test_double_free_and_wrong_cache_report_users(void **state)
{
	struct sfx f;
	struct kmem_cache *c, *d;
	void *p, *q;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "c", 24, 0, KMEM_CACHE_DEBUG, NULL, NULL, NULL);
	d = kmem_cache_create(f.s, "d", 24, 0, KMEM_CACHE_DEBUG, NULL, NULL, NULL);
	p = kmem_cache_alloc(c);
	q = kmem_cache_alloc(d);
	kmem_cache_free(c, p);
	kmem_cache_free(c, p); /* plain free: checked at once on a debug cache */
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_DOUBLE_FREE), 1);
	assert_report_has(f.rec.detail, "already free");
	assert_report_has(f.rec.line, "freed by 0x");
	assert_null(strstr(f.rec.line, "freed by (nil)"));
	assert_non_null(f.rec.last.free_by);
	assert_int_equal(f.rec.last.size, 24);
	kmem_cache_free(c, q);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_WRONG_CACHE), 1);
	assert_report_has(f.rec.detail, "'d'");
	check_clean(c);
	check_clean(d);
	/* still usable */
	p = kmem_cache_alloc(c);
	assert_non_null(p);
	kmem_cache_free(c, p);
	kmem_cache_free(d, q);
	assert_int_equal(kmem_error_total(&f.rec.sink), 2);
	kmem_cache_destroy(c);
	kmem_cache_destroy(d);
	sfx_fini(&f);
}

static void test_leak_report_names_allocator(void **state)
{
	struct sfx f;
	struct kmem_cache *c;
	void *p;

	(void)state;
	sfx_init(&f);
	c = kmem_cache_create(f.s, "leaky", 100, 0, KMEM_CACHE_STORE_USER, NULL, NULL, NULL);
	p = kmem_cache_alloc(c);
	kmem_cache_destroy(c);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_LEAK), 1);
	assert_ptr_equal(f.rec.last.ptr, p);
	assert_non_null(f.rec.last.alloc_by);
	assert_report_has(f.rec.line, "last allocated by 0x");
	sfx_fini(&f);
}

/* The instance-wide default: every kmalloc class gets red zones, and a
 * write past the size asked for (inside the class size) is caught. */
static void test_global_default_kmalloc(void **state)
{
	struct sfx f;
	unsigned char *p;
	void *v[64];

	(void)state;
	sfx_init_full(&f, 4096, 10, (size_t)8 << 20, KMEM_CACHE_REDZONE | KMEM_CACHE_POISON);
	p = kmem_alloc(f.s, 50); /* class 64 */
	assert_non_null(p);
	assert_true((uintptr_t)p % 64 == 0); /* class alignment survives the debug layout */
	memset(p, 1, 50);
	test_poke(&p[50], 2); /* within the class, past the request */
	kmem_free(f.s, p);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 1);
	assert_report_has(f.rec.detail, "written past the size asked for at offset 50");
	/* zalloc on a poisoned class still returns zeros */
	for (int i = 0; i < 64; i++) {
		v[i] = kmem_zalloc(f.s, (size_t)i * 7 + 1);
		for (int k = 0; k < i * 7 + 1; k++)
			assert_int_equal(((unsigned char *)v[i])[k], 0);
	}
	for (int i = 0; i < 64; i++)
		kmem_free(f.s, v[i]);
	assert_int_equal(kmem_error_total(&f.rec.sink), 1);
	sfx_fini(&f);
}

/* kmem_check_object_track_caller: a live object's red zones checked now,
 * without freeing it; damage reported once (repaired), naming the caller;
 * a freed object or a foreign pointer is reported as kmem_usable_size
 * reports it; without red zones nothing to check. */
static void test_check_object(void **state)
{
	struct sfx f;
	unsigned char *p, *q;
	int here;

	(void)state;
	sfx_init_full(&f, 4096, 10, (size_t)8 << 20, KMEM_CACHE_REDZONE | KMEM_CACHE_STORE_USER);
	p = kmem_alloc(f.s, 40);
	assert_non_null(p);
	assert_int_equal(kmem_check_object_track_caller(f.s, p, &here), KMEM_OK);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	test_poke(&p[40], 'z'); /* past the size asked for */
	assert_int_equal(kmem_check_object_track_caller(f.s, p, &here), KMEM_REDZONE);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 1);
	assert_ptr_equal(f.rec.last.ptr, p);
	assert_ptr_equal(f.rec.last.caller, &here);
	assert_non_null(strstr(f.rec.detail, "written past the size asked for at offset 40"));
	/* repaired: a second check and the free find nothing more */
	assert_int_equal(kmem_check_object_track_caller(f.s, p, &here), KMEM_OK);
	q = kmem_alloc(f.s, 40);
	kmem_free(f.s, p);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 1);
	/* not live: reported with its own status, nothing changes */
	assert_int_equal(kmem_check_object_track_caller(f.s, p, &here), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_DOUBLE_FREE), 1);
	assert_int_not_equal(kmem_check_object_track_caller(f.s, q + 8, &here), KMEM_OK);
	kmem_free(f.s, q);
	assert_int_equal(kmem_slab_check(f.s), 0);
	sfx_fini(&f);

	sfx_init(&f); /* no red zones: nothing to check */
	p = kmem_alloc(f.s, 40);
	assert_int_equal(kmem_check_object_track_caller(f.s, p, &here), KMEM_OK);
	kmem_free(f.s, p);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	sfx_fini(&f);
}

/* kmem_*_track_caller record the caller passed (a wrapper's caller); an
 * overflow of 64 bytes past a 24-byte block (class 32: 128-byte debug
 * slots) reaches the next slot's
 * records, never the block's own: its report names its size and callers,
 * the neighbour's says its records were overwritten (T1), never prints
 * them; the red zone of an aligned request starts at the size asked for. */
static void test_track_caller_and_records_survive_overflow(void **state)
{
	const void *const alloc_site = (const void *)(uintptr_t)0x1234560, *const free_site =
		(const void *)(uintptr_t)0x7654320;
	struct sfx f;
	unsigned char *p, *q, *a;

	(void)state;
	sfx_init_full(&f, 4096, 10, (size_t)8 << 20, KMEM_CACHE_DEBUG);
	p = kmem_alloc_track_caller(f.s, 24, alloc_site); /* class 32 */
	q = kmem_alloc_track_caller(f.s, 24, alloc_site);
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal(kmem_usable_size_track_caller(f.s, p, free_site), 24);
	for (int i = 24; i < 24 + 64; i++)
		test_poke(&p[i], 'x');
	kmem_free_track_caller(f.s, p, free_site);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 1);
	assert_ptr_equal(f.rec.last.ptr, p);
	assert_int_equal(f.rec.last.size, 24);
	assert_ptr_equal(f.rec.last.alloc_by, alloc_site);
	assert_ptr_equal(f.rec.last.caller, free_site);
	assert_report_has(f.rec.detail, "written past the size asked for at offset 24");
	assert_null(strstr(f.rec.line, "0x7878787878787878"));
	/* the neighbour (lowest free object first: the next slot, whose
	 * records and left zone the overflow reached): records not believed */
	assert_true(q > p && q - p <= 128);
	assert_int_equal(kmem_slab_check(f.s), -EFAULT); /* the checker sees them too (T1) */
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 2);
	assert_ptr_equal(f.rec.last.ptr, q);
	assert_null(f.rec.last.alloc_by);
	kmem_free_track_caller(f.s, q, free_site);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 3);
	assert_ptr_equal(f.rec.last.ptr, q);
	assert_null(f.rec.last.alloc_by);
	assert_int_equal(f.rec.last.size, 0);
	assert_report_has(f.rec.detail, "overwritten");
	assert_null(strstr(f.rec.line, "0x7878787878787878"));
	assert_int_equal(kmem_slab_check(f.s), 0); /* repaired */
	/* a double free names the size and both callers */
	p = kmem_alloc_track_caller(f.s, 24, alloc_site);
	kmem_free_track_caller(f.s, p, free_site);
	kmem_free_track_caller(f.s, p, free_site);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_DOUBLE_FREE), 1);
	assert_int_equal(f.rec.last.size, 24);
	assert_ptr_equal(f.rec.last.alloc_by, alloc_site);
	assert_ptr_equal(f.rec.last.free_by, free_site);
	/* aligned: class 64, red zone from the 40 bytes asked for */
	a = kmem_alloc_aligned_track_caller(f.s, 40, 64, alloc_site);
	assert_non_null(a);
	assert_true((uintptr_t)a % 64 == 0);
	assert_int_equal(kmem_usable_size(f.s, a), 40);
	test_poke(&a[40], 'y');
	kmem_free_track_caller(f.s, a, free_site);
	assert_int_equal(kmem_error_count(&f.rec.sink, KMEM_REDZONE), 4);
	assert_ptr_equal(f.rec.last.alloc_by, alloc_site);
	assert_int_equal(f.rec.last.size, 40);
	assert_int_equal(kmem_slab_check(f.s), 0);
	sfx_fini(&f);
}

static void test_bad_debug_config(void **state)
{
	struct sfx f;
	struct kmem_slab_config sc;
	struct kmem_slab *s;
	void *mem;

	(void)state;
	sfx_init(&f);
	memset(&sc, 0, sizeof(sc));
	sc.source = &f.ps;
	sc.debug_flags = KMEM_CACHE_NOCOLOUR; /* not a debug flag */
	mem = test_aligned(64, kmem_slab_sizeof());
	assert_int_equal(kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s), -EINVAL);
	free(mem);
	assert_null(kmem_cache_create(f.s, "x", 8, 0, 0x1000, NULL, NULL, NULL));
	sfx_fini(&f);
}

int main(void)
{
	if (!KMEM_SLAB_DEBUG) { /* 77: Meson's "skipped" */
		printf("test-slab-debug: skipped: debug caches are compiled out of this build "
		       "(-Dslab_debug, off when freestanding)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redzone_overflow_and_underflow),
		cmocka_unit_test(test_redzone_found_at_neighbour),
		cmocka_unit_test(test_poison_use_after_free),
		cmocka_unit_test(test_poison_skipped_with_ctor),
		cmocka_unit_test(test_double_free_and_wrong_cache_report_users),
		cmocka_unit_test(test_leak_report_names_allocator),
		cmocka_unit_test(test_global_default_kmalloc),
		cmocka_unit_test(test_check_object),
		cmocka_unit_test(test_track_caller_and_records_survive_overflow),
		cmocka_unit_test(test_bad_debug_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
