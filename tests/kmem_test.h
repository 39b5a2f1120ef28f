/* kmem_test.h - helpers shared by the kmem test programs (cmocka).
 *
 * - a recording error sink (counts, last report, last formatted line);
 * - a seeded PRNG (splitmix64); the seed comes from KMEM_TEST_SEED or a
 *   fixed default and is printed, so a failing run can be replayed;
 * - test_scale(n): shrink iteration counts under Valgrind;
 * - test_peek/test_poke/TEST_MISUSE: deliberate misuse that memcheck or ASan
 *   would report (the allocator annotates its memory, kmem_annot.h).
 */
#ifndef KMEM_TEST_H
#define KMEM_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <kmem/kmem.h>

#include "kmem_config.h" /* KMEM_MAGAZINES, KMEM_SLAB_DEBUG, KMEM_ERROR_TEXT, KMEM_BUDDY_*, KMEM_KMALLOC_BIG */
#include "kmem_rand.h"

#ifdef KMEM_TEST_HAVE_VALGRIND
#include <memcheck.h>
#include <valgrind.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define KMEM_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMEM_TEST_ASAN 1
#endif
#endif

static inline int test_under_valgrind(void)
{
#ifdef KMEM_TEST_HAVE_VALGRIND
	if (RUNNING_ON_VALGRIND)
		return 1;
#endif
	return getenv("KMEM_TEST_UNDER_VALGRIND") != NULL;
}

/* Skip the calling test, with a line saying why, when a feature it needs is
 * compiled out of this build (the firmware profile: -Dmagazines,
 * -Dslab_debug, -Derror_text, -Dbuddy_hotadd, -Dbuddy_reserve,
 * meson_options.txt). Never a silent pass. */
#define TEST_NEEDS(feature, what)                                                         \
	do {                                                                              \
		if (!(feature)) {                                                         \
			print_message("[ SKIP     ] %s: needs %s, compiled out of this build\n", \
				      __func__, what);                                    \
			skip();                                                           \
			return;                                                           \
		}                                                                         \
	} while (0)

/* A report's detail or formatted line holds text. With the error text
 * compiled out (-Derror_text, the freestanding default) a detail is ""
 * (decision 32; test_slab's test_report_detail asserts it): there the
 * check is only that the text exists (the status and the counters, which
 * the tests assert beside, are the same in both builds). */
#if KMEM_ERROR_TEXT
#define assert_report_has(text, what) assert_non_null(strstr((text), (what)))
#else
#define assert_report_has(text, what) assert_true((text) != NULL && (what) != NULL)
#endif

/* ---- deliberate misuse ------------------------------------------------------
 * Tests of the allocator's own checks (red zones, poison, double frees found
 * at a magazine flush) touch memory the allocator marked off limits for
 * memcheck and ASan: freed objects, red zones, the poison in a fresh object.
 * These do it without an error from the tool and leave the tool's view of
 * the memory as it was; the allocator's own findings are asserted as before.
 * (tests/annot checks that the tools do report such accesses.) */
#ifdef KMEM_TEST_ASAN /* uninstrumented (so never inlined into instrumented code) */
#define KMEM_TEST_UNCHECKED_FN static __attribute__((no_sanitize_address, noinline, unused))
#else
#define KMEM_TEST_UNCHECKED_FN static inline
#endif

static inline void test_tool_errors_off(void)
{
#ifdef KMEM_TEST_HAVE_VALGRIND
	VALGRIND_DISABLE_ERROR_REPORTING;
#endif
}

static inline void test_tool_errors_on(void)
{
#ifdef KMEM_TEST_HAVE_VALGRIND
	VALGRIND_ENABLE_ERROR_REPORTING;
#endif
}

/* The byte at p, whatever memcheck or ASan think of it. */
KMEM_TEST_UNCHECKED_FN unsigned char test_peek(const void *p)
{
	unsigned char v;

	test_tool_errors_off();
	v = *(const volatile unsigned char *)p;
	test_tool_errors_on();
#ifdef KMEM_TEST_HAVE_VALGRIND
	(void)VALGRIND_MAKE_MEM_DEFINED(&v, 1); /* the test compares it */
#endif
	return v;
}

/* Store v at p, whatever memcheck or ASan think of it. */
KMEM_TEST_UNCHECKED_FN void test_poke(void *p, unsigned char v)
{
	test_tool_errors_off();
	*(volatile unsigned char *)p = v;
	test_tool_errors_on();
}

/* A call that misuses the allocator on purpose in a way memcheck reports
 * by itself (a double free through an unchecked magazine push, which
 * memcheck sees as an invalid free): the test asserts the allocator's own
 * finding instead. */
#define TEST_MISUSE(stmt)                                                       \
	do {                                                                    \
		test_tool_errors_off();                                         \
		stmt;                                                           \
		test_tool_errors_on();                                          \
	} while (0)

/* n normally, n / 10 (at least 1) under Valgrind: never skip, only shrink. */
static inline unsigned long test_scale(unsigned long n)
{
	return test_under_valgrind() ? (n / 10 ? n / 10 : 1) : n;
}

struct test_rng {
	uint64_t s;
};

static inline uint64_t test_seed(uint64_t dflt, const char *what)
{
	const char *e = getenv("KMEM_TEST_SEED");
	uint64_t seed = e ? strtoull(e, NULL, 0) : dflt;

	print_message("[ seed     ] %s: KMEM_TEST_SEED=%llu\n", what, (unsigned long long)seed);
	return seed;
}

static inline uint64_t test_rand(struct test_rng *r)
{
	return kmem_splitmix64(&r->s);
}

/* uniform in [0, n) for n > 0 */
static inline uint64_t test_below(struct test_rng *r, uint64_t n)
{
	return test_rand(r) % n;
}

struct test_recorder {
	struct kmem_error_sink sink;
	unsigned calls;
	struct kmem_error_report last;
	char detail[256];
	char line[512];
};

static inline void test_recorder_cb(void *arg, const struct kmem_error_report *r)
{
	struct test_recorder *rec = arg;

	rec->calls++;
	rec->last = *r;
	snprintf(rec->detail, sizeof(rec->detail), "%s", r->detail);
	rec->last.detail = rec->detail;
	kmem_error_format(r, rec->line, sizeof(rec->line));
}

static inline void test_recorder_init(struct test_recorder *rec)
{
	memset(rec, 0, sizeof(*rec));
	kmem_error_sink_init(&rec->sink);
	rec->sink.report = test_recorder_cb;
	rec->sink.arg = rec;
}

/* Memory aligned to `align` (a power of two >= sizeof(void *)). */
static inline void *test_aligned(size_t align, size_t size)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, align, size), 0);
	return p;
}

#endif /* KMEM_TEST_H */
