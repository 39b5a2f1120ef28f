/* test_fmt.c - kmem's own formatter (common/fmt.c): every conversion the
 * library uses, against what C99 requires (the expected strings are written
 * out, not taken from the C library, so the test means the same on every
 * libc and on 32-bit targets); truncation, the returned length, a NULL
 * buffer of length 0; and the struct kmem_fmt appender.
 */
#include "kmem_test.h"

#include <limits.h>

#include "kmem_fmt.h"

#define EXPECT(want, ...)                                                       \
	do {                                                                    \
		char b_[128];                                                   \
		int n_ = kmem_snprintf(b_, sizeof(b_), __VA_ARGS__);            \
		assert_string_equal(b_, (want));                                \
		assert_int_equal(n_, (int)strlen(want));                        \
	} while (0)

static void test_integers(void **state)
{
	(void)state;
	EXPECT("0 1 -1 42", "%d %i %d %u", 0, 1, -1, 42u);
	EXPECT("-2147483648 2147483647", "%d %d", INT_MIN, INT_MAX);
	EXPECT("4294967295", "%u", UINT32_MAX + 0u);
	EXPECT("18446744073709551615", "%llu", ULLONG_MAX);
	EXPECT("-9223372036854775808", "%lld", LLONG_MIN);
	EXPECT("4294967296 1099511627776", "%llu %llu", 1ull << 32, 1ull << 40);
	EXPECT("123456789012", "%llu", 123456789012ull);
	EXPECT("7 -7", "%ld %ld", 7l, -7l);
	EXPECT("12 -3", "%zu %td", (size_t)12, (ptrdiff_t)-3);
	if (sizeof(size_t) == 8)
		EXPECT("18446744073709551615", "%zu", (size_t)-1);
	else
		EXPECT("4294967295", "%zu", (size_t)-1);
	EXPECT("ff FF 0a 00ff deadbeef", "%x %X %02x %04x %x", 255u, 255u, 10u, 255u, 0xdeadbeefu);
	EXPECT("ffffffffffffffff", "%llx", ~0ull);
	/* '#': 0x before a nonzero hex number (the drop-in's symbol offsets) */
	EXPECT("0x1f 0XAB 0 0x00ff   0x10", "%#x %#X %#x %#06x %#6tx", 31u, 171u, 0u, 255u,
	       (ptrdiff_t)16);
	EXPECT("5 200", "%hu %hhu", (unsigned short)5, (unsigned char)200);
}

static void test_width_and_flags(void **state)
{
	(void)state;
	EXPECT("    42|42    |000042", "%6zu|%-6u|%06d", (size_t)42, 42u, 42);
	EXPECT("-00042|   -42|+42| 42", "%06d|%6d|%+d|% d", -42, -42, 42, 42);
	EXPECT("1.005", "%d.%03d", 1, 5);
	EXPECT("1234567", "%4u", 1234567u); /* wider than the width: all of it */
	EXPECT("     7|7     ", "%*d|%-*d", 6, 7, 6, 7);
}

static void test_text(void **state)
{
	const char *volatile none = NULL;
	void *volatile nil = NULL;

	(void)state;
	EXPECT("kmalloc-64 x %", "%s %c %%", "kmalloc-64", 'x');
	EXPECT("    ab|ab    |abc", "%6s|%-6s|%.3s", "ab", "ab", "abcdef");
	EXPECT("ab", "%.*s", 2, "abcdef");
	EXPECT("(null)", "%s", none);
	EXPECT("(nil)", "%p", nil);
	EXPECT("0x1000 0xdeadbee0", "%p %p", (void *)0x1000, (void *)(uintptr_t)0xdeadbee0u);
	EXPECT("", "%s", "");
}

static void test_truncation(void **state)
{
	char b[8];

	(void)state;
	memset(b, 'x', sizeof(b));
	assert_int_equal(kmem_snprintf(b, 5, "%s-%zu", "abc", (size_t)12345), 9);
	assert_string_equal(b, "abc-");
	assert_int_equal(b[5], 'x'); /* nothing past len */
	assert_int_equal(kmem_snprintf(b, 1, "%d", 123), 3);
	assert_string_equal(b, "");
	assert_int_equal(kmem_snprintf(NULL, 0, "%llu", 1ull << 40), 13);
	b[0] = 'x';
	assert_int_equal(kmem_snprintf(b, 0, "abc"), 3);
	assert_int_equal(b[0], 'x');
}

static void test_appender(void **state)
{
	char b[16];
	struct kmem_fmt f;

	(void)state;
	kmem_fmt_init(&f, b, sizeof(b));
	kmem_fmt_printf(&f, "%zu,", (size_t)10);
	kmem_fmt_milli(&f, -1500);
	kmem_fmt_printf(&f, ",");
	kmem_fmt_json_string(&f, "a\"b\n");
	assert_string_equal(b, "10,-1.500,\"a\\\"b");
	assert_int_equal(kmem_fmt_result(&f), (int)strlen("10,-1.500,\"a\\\"b\\u000a\""));
	kmem_fmt_init(&f, b, sizeof(b));
	kmem_fmt_milli(&f, 42);
	assert_string_equal(b, "0.042");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_width_and_flags),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_appender),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
