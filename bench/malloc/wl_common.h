/*
 * Shared helpers for the malloc workloads (bench/malloc/wl_*.c).
 *
 * The workloads are plain C + pthreads programs that only call the C
 * allocator (malloc, free, realloc, calloc); scripts/bench-malloc.sh runs them
 * under glibc and under LD_PRELOADed allocators. Nothing here depends on kmem.
 *
 * Every object a workload allocates carries a tag in its first 8 bytes and a
 * tag derived from it in its last 8 bytes; both are checked when the object
 * is freed (a mismatch means the allocator handed out overlapping or moved
 * memory and the program exits with status 3). The tags read back feed a
 * checksum that is printed at the end, so the work cannot be optimised away;
 * the checksum depends only on the arguments, not on the allocator or on
 * thread scheduling, so scripts/bench-malloc.sh compares it across
 * allocators.
 */
#ifndef KMEM_BENCH_WL_COMMON_H
#define KMEM_BENCH_WL_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WL_UNUSED __attribute__((unused))

/* ---- diagnostics ---- */

static WL_UNUSED __attribute__((noreturn, format(printf, 1, 2))) void
wl_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static WL_UNUSED __attribute__((noreturn)) void wl_oom(size_t size)
{
	fprintf(stderr, "out of memory allocating %zu bytes\n", size);
	exit(4);
}

static WL_UNUSED __attribute__((noreturn)) void
wl_corrupt(const void *p, size_t size, uint64_t want, uint64_t got, const char *where)
{
	fprintf(stderr,
		"CORRUPTION: object %p (%zu bytes): %s tag %016" PRIx64 ", expected %016" PRIx64 "\n",
		p, size, where, got, want);
	exit(3);
}

/* ---- arguments: positional unsigned integers with defaults ---- */

/*
 * argv[idx] as an unsigned integer in [min, max] (a "k"/"m" suffix multiplies
 * by 1000 / 1000000), or def when absent or "-".
 */
static WL_UNUSED unsigned long
wl_arg(int argc, char **argv, int idx, unsigned long def, unsigned long min,
       unsigned long max, const char *usage)
{
	if (idx >= argc || strcmp(argv[idx], "-") == 0)
		return def;
	const char *s = argv[idx];
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	unsigned long mul = 1;
	if (*end == 'k' || *end == 'K')
		mul = 1000UL, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1000000UL, end++;
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > ULONG_MAX / mul)
		wl_die("%s: bad argument %d '%s'\nusage: %s %s", argv[0], idx, s, argv[0], usage);
	v *= mul;
	if (v < min || v > max)
		wl_die("%s: argument %d (%lu) out of range [%lu, %lu]\nusage: %s %s", argv[0],
		       idx, v, min, max, argv[0], usage);
	return v;
}

static WL_UNUSED void wl_usage_check(int argc, char **argv, int maxargs, const char *usage)
{
	if (argc > maxargs + 1 ||
	    (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
		fprintf(stderr, "usage: %s %s\n", argv[0], usage);
		exit(argc > maxargs + 1 ? 2 : 0);
	}
}

/* ---- random numbers: splitmix64 (seeding) and xorshift64* ---- */

static inline uint64_t wl_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

typedef struct {
	uint64_t s;
} wl_rng;

static inline void wl_seed(wl_rng *r, uint64_t a, uint64_t b)
{
	r->s = wl_mix(wl_mix(a) ^ (b * 0x2545f4914f6cdd1dULL));
	if (r->s == 0)
		r->s = 1;
}

static inline uint64_t wl_next(wl_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* uniform in [lo, hi] (lo <= hi); the slight modulo bias does not matter */
static inline size_t wl_range(wl_rng *r, size_t lo, size_t hi)
{
	return lo + (size_t)((wl_next(r) >> 11) % (uint64_t)(hi - lo + 1));
}

/* uniform in [0, n) */
static inline size_t wl_below(wl_rng *r, size_t n)
{
	return (size_t)((wl_next(r) >> 11) % (uint64_t)n);
}

/* ---- object tags ---- */

static inline uint64_t wl_tail_tag(uint64_t tag, size_t size)
{
	return ~tag ^ ((uint64_t)size << 17);
}

/* Write the head tag (and the tail tag when size >= 16). size >= 8. */
static inline void wl_fill(void *p, size_t size, uint64_t tag)
{
	memcpy(p, &tag, sizeof tag);
	if (size >= 16) {
		uint64_t t = wl_tail_tag(tag, size);
		memcpy((char *)p + size - 8, &t, sizeof t);
	}
}

/* Check the tags written by wl_fill; returns a value to add to a checksum. */
static inline uint64_t wl_check(const void *p, size_t size, uint64_t tag)
{
	uint64_t h, t = 0;
	memcpy(&h, p, sizeof h);
	if (h != tag)
		wl_corrupt(p, size, tag, h, "head");
	if (size >= 16) {
		memcpy(&t, (const char *)p + size - 8, sizeof t);
		if (t != wl_tail_tag(tag, size))
			wl_corrupt(p, size, wl_tail_tag(tag, size), t, "tail");
	}
	return h + (t >> 1);
}

/* The process's resident set now, KiB (/proc/self/statm; 0 where it is
 * not there). */
static inline size_t wl_rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	long page;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	page = sysconf(_SC_PAGESIZE);
	return (size_t)res * (size_t)(page > 0 ? page : 4096) / 1024;
}

static inline void *wl_malloc(size_t size)
{
	void *p = malloc(size);
	if (p == NULL)
		wl_oom(size);
	return p;
}

/* ---- big buffers (wl_large, wl_bigcycle) ---- */

#define WL_PAGE 4096

/* A buffer of pages: tagged at both ends and written on every page, so
 * that memory an allocator returned to the kernel costs its faults again. */
typedef struct {
	unsigned char *p;
	size_t size;
	uint64_t tag;
} wl_buf;

/* Write b's tags and a byte on each of its pages. */
static inline void wl_buf_touch(wl_buf *b)
{
	wl_fill(b->p, b->size, b->tag);
	for (size_t off = WL_PAGE; off + 8 < b->size; off += WL_PAGE)
		b->p[off] = (unsigned char)(b->tag >> (off / WL_PAGE % 8 * 8));
}

/* Check b's tags, read back every stride-th page, free it; a value to add
 * to a checksum. */
static inline uint64_t wl_buf_drop(wl_buf *b, size_t stride)
{
	uint64_t sum = wl_check(b->p, b->size, b->tag);
	for (size_t off = WL_PAGE; off + 8 < b->size; off += stride * WL_PAGE)
		sum += b->p[off];
	free(b->p);
	return sum;
}

/* ---- threads ---- */

static WL_UNUSED void wl_spawn(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int e = pthread_create(t, NULL, fn, arg);
	if (e != 0)
		wl_die("pthread_create: %s", strerror(e));
}

static WL_UNUSED void wl_join(pthread_t t)
{
	int e = pthread_join(t, NULL);
	if (e != 0)
		wl_die("pthread_join: %s", strerror(e));
}

/* ---- result ---- */

/* The line scripts/bench-malloc.sh compares across allocators. */
static WL_UNUSED void wl_result(const char *name, uint64_t checksum)
{
	printf("%s checksum=%016" PRIx64 "\n", name, checksum);
	fflush(stdout);
}

#endif
