/* sec.h - what the heap-misuse programs of bench/security share: the four
 * block sizes, the outcome markers, and a barrier that hides a pointer's
 * origin from the compiler.
 *
 * Each program commits one misuse (its arguments say which), then, if the
 * allocator let it go on, looks for the misuse's effect and ends with
 * exactly one line on stdout:
 *   NOT_CAUGHT effect=WHAT   the misuse went unnoticed by the program's end
 *                            (exit 0); WHAT names what the program could
 *                            observe: none, neighbour-corrupted, aliased,
 *                            stale-data, forged-pointer, ...
 *   NOT_APPLICABLE WHY       the scenario does not exist in this process
 *                            (exit 0; e.g. a foreign allocator's block when
 *                            no allocator is preloaded)
 *   SETUP_FAILED WHY         the program could not set its scenario up
 *                            (exit 77), not an outcome of the misuse
 * The programs write nothing to stderr: whatever appears there is the
 * allocator's report. scripts/security.py classifies each run from its exit
 * status, this line and stderr (bench/security/README.md).
 *
 * Sizes (argument SIZE): small 32 B (a slab class in kmem), medium 4 KiB
 * (kmem's slab), page 64 KiB (a kmem page block), huge 40 MiB (its own
 * mapping in every allocator measured). Exact class sizes: an overflow
 * reaches the next block at once wherever the allocator packs blocks.
 */
#ifndef KMEM_BENCH_SEC_H
#define KMEM_BENCH_SEC_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pointer p, with its origin unknown to the compiler: no warning and no
 * folding for a free of a stack or global address, or for a write outside
 * the object the compiler believes p points to. */
static inline void *sec_hide(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

/* The bug went unnoticed: the marker line, exit 0. */
_Noreturn static inline void sec_missed(const char *effect)
{
	printf("NOT_CAUGHT effect=%s\n", effect);
	fflush(stdout);
	exit(0);
}

_Noreturn static inline void sec_not_applicable(const char *why)
{
	printf("NOT_APPLICABLE %s\n", why);
	fflush(stdout);
	exit(0);
}

_Noreturn static inline void sec_setup_failed(const char *why)
{
	printf("SETUP_FAILED %s\n", why);
	fflush(stdout);
	exit(77);
}

/* A usage error is a setup failure too (the runner shows it as "error"). */
static inline size_t sec_size(const char *name)
{
	if (!strcmp(name, "small"))
		return 32;
	if (!strcmp(name, "medium"))
		return 4096;
	if (!strcmp(name, "page"))
		return (size_t)64 << 10;
	if (!strcmp(name, "huge"))
		return (size_t)40 << 20;
	sec_setup_failed("SIZE must be small, medium, page or huge");
	return 0;
}

static inline size_t sec_count(const char *arg)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);

	if (end == arg || *end || v == 0 || v > 65536)
		sec_setup_failed("N must be a byte count in 1..65536");
	return (size_t)v;
}

/* malloc that fails the scenario's set-up instead of returning NULL */
static inline char *sec_malloc(size_t n)
{
	char *p = malloc(n);

	if (!p)
		sec_setup_failed("malloc returned NULL");
	return sec_hide(p);
}

/* How much of a block's edge the programs touch: whole small and medium
 * blocks, the first and last pieces of larger ones (a 40 MiB block is not
 * written through). */
#define SEC_EDGE ((size_t)8192)

static inline size_t sec_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Whether [a, a + an) and [b, b + bn) share a byte. */
static inline int sec_overlap(const void *a, size_t an, const void *b, size_t bn)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

	return x < y + bn && y < x + an;
}

#endif /* KMEM_BENCH_SEC_H */
