/* dropin_util.h - helpers the drop-in test programs share. */
#ifndef KMEM_DROPIN_UTIL_H
#define KMEM_DROPIN_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A value the compiler must not see through (no -Walloc-size-larger-than,
 * no folding of malloc(SIZE_MAX) or of malloc/free pairs). */
static inline size_t hide(size_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

/* A pointer the compiler must not see through (no -Wfree-nonheap-object
 * for a deliberate bad free). */
static inline void *hide_ptr(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

/* Resident bytes of this process (/proc/self/statm), 0 if unreadable. */
static inline size_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Under Valgrind (meson test --setup=valgrind) skip before anything else
 * runs: before the static drop-in's constructor maps its arena, which would
 * make Valgrind's leak scan take most of a minute. Valgrind replaces malloc
 * anyway, so the drop-in is not what would be tested. */
__attribute__((constructor(101))) static void dropin_skip_under_valgrind(void)
{
	static const char msg[] = "skipped: Valgrind replaces malloc, so the drop-in is not what would be tested\n";

	if (getenv("KMEM_TEST_UNDER_VALGRIND")) {
		if (write(1, msg, sizeof(msg) - 1) < 0)
			_exit(77);
		_exit(77);
	}
}

#endif /* KMEM_DROPIN_UTIL_H */
