/* dropin_check.h - for the drop-in's cmocka programs (test_conformance.c,
 * test_heap.c, test_stats.c): CHECK, a failed check with a formatted
 * explanation, and capture(), what a stdio-writing call wrote. Include
 * after <cmocka.h>. A program may define its own CHECK before including
 * this (test_conformance.c's names the expectation it runs under);
 * capture() reports through it then. */
#ifndef KMEM_DROPIN_CHECK_H
#define KMEM_DROPIN_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A failed check: file:line, the condition, a formatted explanation. The
 * abort() is never reached (fail() longjmps); it tells the compiler the
 * failing path ends there. */
#ifndef CHECK
#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			print_error("%s:%d: check failed: %s\n    ", __FILE__, __LINE__, #cond); \
			print_error(__VA_ARGS__);                                          \
			print_error("\n");                                                 \
			fail();                                                            \
			abort();                                                           \
		}                                                                          \
	} while (0)
#endif

/* Call fn with stream fp open on a temporary file; returns what it wrote
 * (malloc'd, NUL-terminated). to_stderr: fd 2 is the file meanwhile. */
static inline char *capture(int (*fn)(FILE *fp), int to_stderr, int *rc)
{
	FILE *f = tmpfile();
	char *out;
	long len;
	int saved = -1;

	CHECK(f != NULL, "tmpfile: %s", strerror(errno));
	if (to_stderr) {
		fflush(stderr);
		saved = dup(2);
		CHECK(saved >= 0 && dup2(fileno(f), 2) == 2, "dup2: %s", strerror(errno));
	}
	*rc = fn(f);
	fflush(to_stderr ? stderr : f);
	if (to_stderr) {
		dup2(saved, 2);
		close(saved);
	}
	len = ftell(f);
	CHECK(len >= 0, "ftell");
	out = malloc((size_t)len + 1);
	CHECK(out != NULL, "malloc");
	rewind(f);
	CHECK(fread(out, 1, (size_t)len, f) == (size_t)len, "fread");
	out[len] = '\0';
	fclose(f);
	return out;
}

#endif /* KMEM_DROPIN_CHECK_H */
