/* test_pa_info.c - statistics and their text forms (pagealloc/pa_info.c):
 * kmem_pa_format_vmstat ("name value" lines, as /proc/vmstat) and
 * kmem_pa_format_zoneinfo (as /proc/zoneinfo), checked against
 * kmem_pa_get_stats, with snprintf semantics for short buffers. */

#include "pa_fixture.h"

/* ---- text forms --------------------------------------------------------------------- */

/* The number after the whole word `key` (then an optional colon and blanks)
 * in text, or -1. */
static long long value_of(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *s = strstr(text, key); s; s = strstr(s + 1, key)) {
		const char *e = s + kl;

		if (s != text && s[-1] != ' ' && s[-1] != '\n' && s[-1] != '\t')
			continue;
		if (*e == ':') /* "batch: 1", as in /proc/zoneinfo */
			e++;
		if (*e != ' ' && *e != '\t')
			continue;
		while (*e == ' ' || *e == '\t')
			e++;
		if ((*e >= '0' && *e <= '9') || *e == '-')
			return strtoll(e, NULL, 10);
	}
	return -1;
}

/* "name value\n" lines only */
static void check_vmstat_lines(const char *text)
{
	const char *s = text;

	assert_true(*s != '\0');
	while (*s) {
		const char *nl = strchr(s, '\n');
		const char *sp = strchr(s, ' ');

		assert_non_null(nl);
		assert_non_null(sp);
		assert_true(sp > s && sp < nl);
		for (const char *d = sp + 1; d < nl; d++)
			assert_true((*d >= '0' && *d <= '9') || (*d == '-' && d == sp + 1));
		assert_true(nl > sp + 1);
		s = nl + 1;
	}
}

static void check_snprintf(int (*fmt)(struct kmem_pagealloc *, char *, size_t),
			   struct kmem_pagealloc *pa, const char *full, int n)
{
	char small[17], mark = 'X';

	memset(small, '#', sizeof(small));
	assert_int_equal(fmt(pa, small, 16), n);
	assert_int_equal(small[15], '\0');
	assert_int_equal(small[16], '#');
	assert_memory_equal(small, full, 15);
	assert_int_equal(fmt(pa, &mark, 0), n);
	assert_int_equal(mark, 'X');
	assert_int_equal(fmt(pa, small, 1), n);
	assert_int_equal(small[0], '\0');
}

static void test_stats_text(void **state)
{
	struct pafx f;
	struct kmem_pa_config cfg;
	struct kmem_pa_client_config cc;
	struct kmem_pa_client *cl;
	struct kmem_pa_stats st;
	struct hoard *h;
	char *buf;
	size_t cap = 65536;
	int n;
	void *p;

	(void)state;
	pafx_setup(&f, &cfg);
	cfg.name = "pa-test";
	cfg.flags = KMEM_PA_NO_PCP;
	pafx_start(&f, &cfg);
	h = hoard_new(f.pa, "hoard");
	assert_int_equal(kmem_pa_register_shrinker(f.pa, &h->sh), 0);
	memset(&cc, 0, sizeof(cc));
	cc.name = "client-a";
	assert_int_equal(kmem_pa_client_register(f.pa, &cc, &cl), 0);
	p = kmem_pa_client_alloc(cl, 0, 0);
	assert_non_null(p);
	for (unsigned i = 0; i < 30; i++)
		assert_true(hoard_take(h, 0, 0));
	assert_true(kmem_pa_reclaim(f.pa, 7, KMEM_PRESSURE_BACKGROUND) >= 7);
	(void)kmem_pa_reaper_run(f.pa, 11);
	st = pafx_stats(&f);
	buf = malloc(cap);
	assert_non_null(buf);

	n = kmem_pa_format_vmstat(f.pa, buf, cap);
	assert_true(n > 0 && (size_t)n < cap);
	assert_int_equal(strlen(buf), (size_t)n);
	check_vmstat_lines(buf);
	assert_int_equal(value_of(buf, "nr_free_pages"), (long long)st.free);
	assert_int_equal(value_of(buf, "nr_zeroed_pages"), (long long)st.zeroed);
	assert_int_equal(value_of(buf, "pgalloc"), (long long)st.allocs); /* all order 0 */
	assert_int_equal(value_of(buf, "pgzero_background"), (long long)st.zeroed_bg);
	assert_int_equal(value_of(buf, "shrinker_hoard_reclaimed"), (long long)h->released);
	check_snprintf(kmem_pa_format_vmstat, f.pa, buf, n);

	n = kmem_pa_format_zoneinfo(f.pa, buf, cap);
	assert_true(n > 0 && (size_t)n < cap);
	assert_int_equal(strlen(buf), (size_t)n);
	assert_true(strncmp(buf, "Node 0, zone", 12) == 0);
	{
		const char *s = buf + 12;

		while (*s == ' ')
			s++;
		assert_true(strncmp(s, "pa-test", 7) == 0);
	}
	assert_int_equal(value_of(buf, "free"), (long long)st.free);
	assert_int_equal(value_of(buf, "min"), (long long)st.wmark_min);
	assert_int_equal(value_of(buf, "low"), (long long)st.wmark_low);
	assert_int_equal(value_of(buf, "high"), (long long)st.wmark_high); /* before pcp's */
	assert_int_equal(value_of(buf, "managed"), (long long)st.managed);
	assert_int_equal(value_of(buf, "batch"), (long long)st.pcp_batch);
	assert_non_null(strstr(buf, "client-a"));
	check_snprintf(kmem_pa_format_zoneinfo, f.pa, buf, n);

	kmem_pa_client_free(cl, p, 0);
	kmem_pa_client_unregister(cl);
	kmem_pa_unregister_shrinker(f.pa, &h->sh);
	hoard_free(h);
	free(buf);
	assert_int_equal(kmem_error_total(&f.rec.sink), 0);
	pafx_assert_sane(&f);
	pafx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats_text),
	};

	pafx_test_filter(); /* run one test: KMEM_TEST_FILTER=test_stats_text */
	return cmocka_run_group_tests_name("pagealloc-info", tests, NULL, NULL);
}
