/* test_conformance.c - the C allocation API as a drop-in malloc must serve it.
 *
 * One source, run four ways (tests/dropin/meson.build, README.md):
 *   - linked with libkmem-malloc.a                  (KMEM_DROPIN_EXPECT=kmem)
 *   - the same with KMEM_DEBUG=redzone,poison,user and the reaper thread
 *   - plain, i.e. glibc's malloc: the reference     (KMEM_DROPIN_EXPECT=glibc)
 *   - plain under LD_PRELOAD=libkmem-malloc.so      (KMEM_DROPIN_EXPECT=kmem,
 *     KMEM_DROPIN_PRELOAD=the .so: the test sets LD_PRELOAD and re-executes)
 * A check failing on the kmem side only is a drop-in bug; failing on both
 * sides, a test bug. The first test proves which malloc actually serves the
 * process, so a kmem run cannot silently pass on glibc.
 *
 * Where the drop-in documents a behaviour glibc 2.36 does not have
 * (aligned_alloc with a non-power-of-two alignment: NULL + EINVAL as glibc
 * 2.38, where 2.36 rounds the alignment up as memalign does), the glibc run
 * accepts glibc's answer.
 *
 * Seeded (KMEM_TEST_SEED); skipped under Valgrind, which replaces malloc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dropin_util.h"

#ifndef DROPIN_DEFAULT_EXPECT
#define DROPIN_DEFAULT_EXPECT "glibc"
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define MIN_ALIGN ((size_t)16) /* the drop-in's (and glibc's) alignment on 64-bit */

static int expect_kmem;           /* kmem's malloc must serve this process */
static const char *expect_name;   /* "kmem" or "glibc" */
static uint64_t base_seed;

/* A failed check: file:line, the condition, a formatted explanation. The
 * abort() is never reached (fail() longjmps); it tells the compiler the
 * failing path ends there. */
#define CHECK(cond, ...)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			print_error("%s:%d: check failed: %s\n    [%s] ", __FILE__, __LINE__, \
				    #cond, expect_name);                              \
			print_error(__VA_ARGS__);                                     \
			print_error("\n");                                            \
			fail();                                                       \
			abort();                                                      \
		}                                                                     \
	} while (0)

#include "dropin_check.h" /* capture(), through the CHECK above */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return mix64(r->s);
}

static size_t below(struct rng *r, size_t n)
{
	return n ? (size_t)(rnd(r) % n) : 0;
}

/* ---- patterns: byte i of a block is byte i%8 (little end first) of mix64(seed + i/8) -- */

static unsigned char pattern_byte(uint64_t seed, size_t i)
{
	return (unsigned char)(mix64(seed + i / 8) >> (8 * (i % 8)));
}

static void fill_range(void *block, size_t from, size_t to, uint64_t seed)
{
	unsigned char *p = block;
	size_t i = from;

	for (; i < to && (i % 8 != 0 || to - i < 8); i++)
		p[i] = pattern_byte(seed, i);
	for (; i + 8 <= to; i += 8) { /* the compiler merges these into one store */
		uint64_t w = mix64(seed + i / 8);

		for (unsigned k = 0; k < 8; k++)
			p[i + k] = (unsigned char)(w >> (8 * k));
	}
	for (; i < to; i++)
		p[i] = pattern_byte(seed, i);
}

/* the first offset in [from, to) not holding the pattern, or SIZE_MAX */
static size_t check_range(const void *block, size_t from, size_t to, uint64_t seed)
{
	const unsigned char *p = block;
	size_t i = from;

	for (; i < to && (i % 8 != 0 || to - i < 8); i++)
		if (p[i] != pattern_byte(seed, i))
			return i;
	for (; i + 8 <= to; i += 8) {
		uint64_t w = mix64(seed + i / 8), got = 0;

		for (unsigned k = 0; k < 8; k++)
			got |= (uint64_t)p[i + k] << (8 * k);
		if (got != w)
			break; /* the byte loop below finds the offset */
	}
	for (; i < to; i++)
		if (p[i] != pattern_byte(seed, i))
			return i;
	return SIZE_MAX;
}

static void fill(void *p, size_t n, uint64_t seed)
{
	fill_range(p, 0, n, seed);
}

static size_t check(const void *p, size_t n, uint64_t seed)
{
	return check_range(p, 0, n, seed);
}

/* only the first and last 128 bytes: for workloads that should spend their
 * time in the allocator */
static void fill_ends(void *p, size_t n, uint64_t seed)
{
	fill_range(p, 0, n < 128 ? n : 128, seed);
	if (n > 128)
		fill_range(p, n > 256 ? n - 128 : 128, n, seed);
}

static size_t check_ends(const void *p, size_t n, uint64_t seed)
{
	size_t bad = check_range(p, 0, n < 128 ? n : 128, seed);

	return bad != SIZE_MAX || n <= 128 ? bad : check_range(p, n > 256 ? n - 128 : 128, n, seed);
}

/* the first non-zero byte in [0, n), or SIZE_MAX */
static size_t first_nonzero(const void *block, size_t n)
{
	const unsigned char *p = block;
	size_t i = 0;
	static const unsigned char zero[4096];

	while (i < n) {
		size_t m = n - i < sizeof(zero) ? n - i : sizeof(zero);

		if (memcmp(p + i, zero, m) != 0) {
			for (;; i++)
				if (p[i])
					return i;
		}
		i += m;
	}
	return SIZE_MAX;
}

static int aligned_to(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t vm_bytes(void)
{
	unsigned long size = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu", &size) != 1)
			size = 0;
		fclose(f);
	}
	return (size_t)size * page_size();
}

/* ---- the sizes every per-size check walks ------------------------------------------- */

#define MAX_SIZES 2048
static size_t sizes[MAX_SIZES];
static size_t nsizes;

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* 0..1100 densely, then around every power of two (and 1.5x) up to 128 KiB,
 * then around each 4 KiB multiple up to 70000 */
static void build_sizes(void)
{
	static const int deltas[] = {-17, -16, -15, -9, -8, -7, -2, -1, 0, 1, 2, 7, 8, 9, 15, 16, 17};
	size_t n = 0, out = 0;

	for (size_t s = 0; s <= 1100; s++)
		sizes[n++] = s;
	for (unsigned k = 10; k <= 17; k++) {
		for (size_t d = 0; d < sizeof(deltas) / sizeof(deltas[0]); d++) {
			sizes[n++] = ((size_t)1 << k) + (size_t)(ptrdiff_t)deltas[d];
			sizes[n++] = ((size_t)3 << (k - 1)) + (size_t)(ptrdiff_t)deltas[d];
		}
	}
	for (size_t s = 4096; s <= 70000; s += 4096) {
		sizes[n++] = s - 1;
		sizes[n++] = s;
		sizes[n++] = s + 1;
	}
	sizes[n++] = 70000;
	qsort(sizes, n, sizeof(sizes[0]), cmp_size);
	for (size_t i = 0; i < n; i++)
		if (out == 0 || sizes[out - 1] != sizes[i])
			sizes[out++] = sizes[i];
	nsizes = out;
}

struct blk {
	unsigned char *p;
	size_t req, usable;
	uint64_t seed;
};

static int cmp_blk(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct blk *)a)->p, y = (uintptr_t)((const struct blk *)b)->p;

	return x < y ? -1 : x > y;
}

/* blocks sorted by address must not overlap (usable ranges) and must still
 * hold their patterns */
static void check_blocks(struct blk *b, size_t n, const char *what)
{
	qsort(b, n, sizeof(*b), cmp_blk);
	for (size_t i = 0; i < n; i++) {
		size_t bad = check(b[i].p, b[i].usable, b[i].seed);

		CHECK(bad == SIZE_MAX, "%s: block %p (request %zu, usable %zu) changed at offset %zu "
		      "while other blocks were written", what, (void *)b[i].p, b[i].req, b[i].usable, bad);
		if (i > 0)
			CHECK(b[i - 1].p + b[i - 1].usable <= b[i].p,
			      "%s: blocks overlap: %p+%zu (request %zu) and %p (request %zu)", what,
			      (void *)b[i - 1].p, b[i - 1].usable, b[i - 1].req, (void *)b[i].p, b[i].req);
	}
}

/* ---- which malloc serves this process ----------------------------------------------- */

static const char *const api_names[] = {
	"malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign",
	"aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
	"mallinfo", "mallinfo2", "malloc_stats", "malloc_info",
};

static int stats_child(void)
{
	void *p[64];

	for (size_t i = 0; i < 64; i++) {
		p[i] = malloc(hide(i * 97 + 1));
		if (!p[i])
			return 3;
		memset(p[i], 1, i * 97 + 1);
	}
	for (size_t i = 0; i < 64; i++)
		free(p[i]);
	return 0;
}

/* run this program as `--stats-child` with KMEM_STATS=stats (NULL: unset);
 * returns the child's stderr (malloc'd) */
static char *run_stats_child(const char *stats, int *status)
{
	int fd[2];
	pid_t pid;
	char *out = NULL;
	size_t len = 0, cap = 0;

	if (pipe(fd) != 0)
		return NULL;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		char *const argv[] = {(char *)"test-dropin", (char *)"--stats-child", NULL};

		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		if (stats)
			setenv("KMEM_STATS", stats, 1);
		else
			unsetenv("KMEM_STATS");
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *q = realloc(out, cap + 65536);

			if (!q)
				break;
			out = q;
			cap += 65536;
		}
		n = read(fd[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd[0]);
	if (out)
		out[len] = '\0';
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	return out;
}

static const int self_marker = 1; /* an address inside the test program */

static void test_which_malloc(void **state)
{
	Dl_info self, libc_info;
	int status = 0;
	char *err;
	(void)state;

	CHECK(dladdr(&self_marker, &self) != 0, "dladdr of the test program failed");
	CHECK(dladdr((void *)dlsym(RTLD_NEXT, "getpid"), &libc_info) != 0, "dladdr of getpid failed");
	for (size_t i = 0; i < sizeof(api_names) / sizeof(api_names[0]); i++) {
		void *f = dlsym(RTLD_DEFAULT, api_names[i]);
		Dl_info where;
		int in_self, in_libc, in_kmem;

		CHECK(f != NULL, "%s is not defined in the process", api_names[i]);
		CHECK(dladdr(f, &where) != 0, "dladdr(%s) failed", api_names[i]);
		in_self = where.dli_fbase == self.dli_fbase;
		in_libc = where.dli_fbase == libc_info.dli_fbase;
		in_kmem = where.dli_fname && strstr(where.dli_fname, "libkmem-malloc") != NULL;
		print_message("[ info     ] %-18s -> %s\n", api_names[i],
			      in_self ? "the test program (static drop-in)" :
			      where.dli_fname ? where.dli_fname : "?");
		if (expect_kmem)
			CHECK(in_self || in_kmem,
			      "%s resolves to %s, not to the drop-in: libc's own allocations (strdup, "
			      "fopen, ...) and this program's calls would mix two heaps (is the symbol "
			      "exported from libkmem-malloc with default visibility?)",
			      api_names[i], where.dli_fname ? where.dli_fname : "?");
		else
			CHECK(in_libc, "%s resolves to %s, not to libc", api_names[i],
			      where.dli_fname ? where.dli_fname : "?");
	}

	/* KMEM_STATS: only kmem prints statistics at exit, and only when asked */
	err = run_stats_child(NULL, &status);
	CHECK(err != NULL, "could not run the stats child");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "stats child (KMEM_STATS unset) status %#x, stderr:\n%s",
	      (unsigned)status, err);
	CHECK(err[0] == '\0', "without KMEM_STATS nothing may be printed, got:\n%s", err);
	free(err);
	err = run_stats_child("slabinfo,buddyinfo,vmstat", &status);
	CHECK(err != NULL, "could not run the stats child");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "stats child (KMEM_STATS set) status %#x, stderr:\n%s",
	      (unsigned)status, err);
	if (expect_kmem) {
		CHECK(strstr(err, "slabinfo") != NULL,
		      "KMEM_STATS=slabinfo,buddyinfo,vmstat printed no slabinfo at exit; stderr:\n%s", err);
		print_message("[ info     ] KMEM_STATS output: %zu bytes, starting %.60s...\n", strlen(err), err);
	} else {
		CHECK(err[0] == '\0', "glibc printed something for KMEM_STATS:\n%s", err);
	}
	free(err);
	/* KMEM_STATS=magazines: the header, a line per class with traffic and
	 * the sums, whose refills are those of the class lines */
	err = run_stats_child("magazines", &status);
	CHECK(err != NULL, "could not run the stats child");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "stats child (KMEM_STATS=magazines) status %#x, stderr:\n%s",
	      (unsigned)status, err);
	if (expect_kmem) {
		unsigned long long v[6] = { 0 }, refilled = 0;
		const char *line = strstr(err, "\ntotal ");
		char name[32];
		unsigned size;

		CHECK(strstr(err, "# class") != NULL && line != NULL,
		      "KMEM_STATS=magazines printed no header or no total line:\n%s", err);
		CHECK(sscanf(line + 1, "total - %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
			     &v[5]) == 6,
		      "KMEM_STATS=magazines: the total line does not parse:\n%s", err);
		for (const char *q = strstr(err, "\nkmalloc-"); q && q < line; q = strstr(q + 1, "\nkmalloc-")) {
			unsigned long long g, p, fl, c, r, fr;

			CHECK(sscanf(q + 1, "%31s %u %llu %llu %llu %llu %llu %llu", name, &size, &g, &p, &fl, &c, &r,
				     &fr) == 8,
			      "KMEM_STATS=magazines: a class line does not parse:\n%s", err);
			refilled += r;
		}
		CHECK(refilled == v[4], "KMEM_STATS=magazines: the classes refilled %llu objects, the total says %llu",
		      refilled, v[4]);
	}
	free(err);
}

/* ---- malloc, calloc, realloc(NULL): every size ------------------------------------- */

static void *alloc_by(int how, size_t n)
{
	switch (how) {
	case 0:
		return malloc(hide(n));
	case 1:
		return calloc(hide(1), n);
	case 2:
		return realloc(NULL, hide(n));
	default:
		return reallocarray(NULL, hide(n), 1);
	}
}

static void test_every_size(void **state)
{
	static const char *const names[] = {"malloc", "calloc", "realloc(NULL)", "reallocarray(NULL)"};
	struct blk *b = calloc(nsizes, sizeof(*b));
	(void)state;

	CHECK(b != NULL, "calloc of the block table failed");
	for (int how = 0; how < 4; how++) {
		for (size_t i = 0; i < nsizes; i++) {
			size_t n = sizes[i];
			unsigned char *p = alloc_by(how, n);

			CHECK(p != NULL, "%s(%zu) returned NULL", names[how], n);
			CHECK(aligned_to(p, MIN_ALIGN), "%s(%zu) = %p is not %zu-byte aligned", names[how], n,
			      (void *)p, MIN_ALIGN);
			b[i].p = p;
			b[i].req = n;
			b[i].usable = malloc_usable_size(p);
			b[i].seed = base_seed + n * 8 + (size_t)how;
			CHECK(b[i].usable >= n, "%s(%zu): malloc_usable_size %zu < request", names[how], n,
			      b[i].usable);
			if (how == 1) {
				size_t nz = first_nonzero(p, n);

				CHECK(nz == SIZE_MAX, "calloc(1, %zu): byte %zu is not zero", n, nz);
			}
			fill(p, b[i].usable, b[i].seed);
		}
		check_blocks(b, nsizes, names[how]);
		for (size_t i = 0; i < nsizes; i++)
			free(b[i].p);
	}
	free(b);
}

/* ---- posix_memalign, aligned_alloc, memalign, valloc, pvalloc ---------------------- */

static void test_aligned_family(void **state)
{
	struct blk b[64];
	size_t pg = page_size();
	(void)state;

	for (unsigned k = 0; k <= 22; k++) {
		size_t a = (size_t)1 << k;
		size_t want = a > MIN_ALIGN ? a : MIN_ALIGN;
		const size_t sz[] = {0, 1, 8, 15, 16, 17, 100, a - 1, a, a + 1, a + a / 2, 4096, 70000};
		size_t nb = 0;

		for (int fn = 0; fn < 3; fn++) {
			for (size_t j = 0; j < sizeof(sz) / sizeof(sz[0]); j++) {
				size_t n = sz[j];
				void *p = (void *)&b; /* a sentinel posix_memalign must not change on failure */
				const char *name = fn == 0 ? "posix_memalign" : fn == 1 ? "aligned_alloc" : "memalign";

				if (fn == 0) {
					int rc;

					errno = EXDEV;
					rc = posix_memalign(&p, hide(a), hide(n));
					if (a < sizeof(void *)) {
						CHECK(rc == EINVAL, "posix_memalign(align %zu, %zu) returned %d, want EINVAL",
						      a, n, rc);
						CHECK(errno == EXDEV, "posix_memalign(align %zu) changed errno to %d", a, errno);
						CHECK(p == (void *)&b, "failed posix_memalign(align %zu) changed *memptr", a);
						continue;
					}
					CHECK(rc == 0, "posix_memalign(align %zu, %zu) returned %d", a, n, rc);
				} else {
					errno = 0;
					p = fn == 1 ? aligned_alloc(hide(a), hide(n)) : memalign(hide(a), hide(n));
				}
				if (n == 0 && p == NULL)
					continue; /* allowed for size 0 (glibc and kmem return a block) */
				CHECK(p != NULL, "%s(align %zu, %zu) returned NULL, errno %d", name, a, n, errno);
				CHECK(aligned_to(p, want), "%s(align %zu, %zu) = %p is not %zu-aligned", name, a, n, p,
				      want);
				b[nb].p = p;
				b[nb].req = n;
				b[nb].usable = malloc_usable_size(p);
				b[nb].seed = base_seed ^ ((uint64_t)k << 40) ^ ((uint64_t)fn << 36) ^ n;
				CHECK(b[nb].usable >= n, "%s(align %zu, %zu): malloc_usable_size %zu < request", name,
				      a, n, b[nb].usable);
				fill(p, b[nb].usable, b[nb].seed);
				nb++;
			}
		}
		check_blocks(b, nb, "aligned family");
		/* realloc of an aligned block keeps the data */
		for (size_t i = 0; i < nb; i += 5) {
			size_t n = b[i].req + 4096 + i;
			unsigned char *q = realloc(b[i].p, n);
			size_t keep = b[i].usable < n ? b[i].usable : n, bad;

			CHECK(q != NULL, "realloc(aligned block of %zu, %zu) failed", b[i].req, n);
			bad = check(q, keep, b[i].seed);
			CHECK(bad == SIZE_MAX, "realloc of a %zu-aligned block lost byte %zu of %zu", a, bad, keep);
			b[i].p = q;
		}
		for (size_t i = 0; i < nb; i++)
			free(b[i].p);
	}

	/* valloc: page aligned; pvalloc: page aligned and a whole number of pages */
	for (size_t i = 0; i < nsizes; i += 7) {
		size_t n = sizes[i], round = (n + pg - 1) / pg * pg;
		unsigned char *v = valloc(hide(n)), *pv = pvalloc(hide(n));
		size_t uv, upv;

		CHECK(v != NULL && pv != NULL, "valloc/pvalloc(%zu) returned %p/%p", n, (void *)v, (void *)pv);
		CHECK(aligned_to(v, pg), "valloc(%zu) = %p is not page aligned", n, (void *)v);
		CHECK(aligned_to(pv, pg), "pvalloc(%zu) = %p is not page aligned", n, (void *)pv);
		uv = malloc_usable_size(v);
		upv = malloc_usable_size(pv);
		CHECK(uv >= n, "valloc(%zu): usable %zu", n, uv);
		CHECK(upv >= round, "pvalloc(%zu): usable %zu < %zu (size rounded up to a page)", n, upv, round);
		fill(v, uv, 1);
		fill(pv, upv, 2);
		CHECK(check(v, uv, 1) == SIZE_MAX && check(pv, upv, 2) == SIZE_MAX, "valloc/pvalloc(%zu) overlap", n);
		free(v);
		free(pv);
	}
}

/* alignments up to a page with a fifth of the per-size list (0..196 KiB) each */
static void test_aligned_dense(void **state)
{
	(void)state;

	for (unsigned k = 0; k <= 12; k++) {
		size_t a = (size_t)1 << k, want = a > MIN_ALIGN ? a : MIN_ALIGN;

		for (size_t i = k % 5; i < nsizes; i += 5) {
			size_t n = sizes[i];
			void *p[3] = {NULL, NULL, NULL};
			int rc = posix_memalign(&p[0], hide(a), hide(n));

			if (a < sizeof(void *)) {
				CHECK(rc == EINVAL && p[0] == NULL, "posix_memalign(align %zu) = %d", a, rc);
			} else {
				CHECK(rc == 0, "posix_memalign(align %zu, %zu) returned %d", a, n, rc);
			}
			p[1] = aligned_alloc(hide(a), hide(n));
			p[2] = memalign(hide(a), hide(n));
			for (int fn = 0; fn < 3; fn++) {
				size_t u;

				if (!p[fn] && (n == 0 || (fn == 0 && a < sizeof(void *))))
					continue;
				CHECK(p[fn] != NULL, "%s(align %zu, %zu) returned NULL",
				      fn == 0 ? "posix_memalign" : fn == 1 ? "aligned_alloc" : "memalign", a, n);
				CHECK(aligned_to(p[fn], want), "%s(align %zu, %zu) = %p is not %zu-aligned",
				      fn == 0 ? "posix_memalign" : fn == 1 ? "aligned_alloc" : "memalign", a, n, p[fn],
				      want);
				u = malloc_usable_size(p[fn]);
				CHECK(u >= n, "align %zu, %zu: usable %zu", a, n, u);
				fill(p[fn], u, n + (uint64_t)fn);
			}
			for (int fn = 0; fn < 3; fn++) {
				if (p[fn]) {
					size_t bad = check(p[fn], malloc_usable_size(p[fn]), n + (uint64_t)fn);

					CHECK(bad == SIZE_MAX, "align %zu, size %zu: block %d changed at %zu", a, n, fn, bad);
				}
				free(p[fn]);
			}
		}
	}
}

static void test_bad_alignment(void **state)
{
	static const size_t bad_pm[] = {0, 1, 2, 4, 3, 12, 24, 40, 48, 72, 96, 4104, 3 * 4096, SIZE_MAX,
					SIZE_MAX / 2, ((size_t)1 << 40) + 8};
	static const size_t bad_aa[] = {3, 5, 12, 24, 48, 100, 4097, 3 * 4096, 3 * MiB};
	(void)state;

	for (size_t i = 0; i < sizeof(bad_pm) / sizeof(bad_pm[0]); i++) {
		void *p = (void *)&p;
		int rc;

		errno = EXDEV;
		rc = posix_memalign(&p, hide(bad_pm[i]), hide(64));
		CHECK(rc == EINVAL, "posix_memalign(align %zu, 64) returned %d, want EINVAL (%d)", bad_pm[i], rc,
		      EINVAL);
		CHECK(errno == EXDEV, "posix_memalign(align %zu) must not touch errno, it is %d", bad_pm[i], errno);
		CHECK(p == (void *)&p, "failed posix_memalign(align %zu) changed *memptr to %p", bad_pm[i], p);
	}
	/* aligned_alloc as glibc 2.38: a non-power-of-two alignment (0
	 * included) is EINVAL; glibc 2.36 still rounds it up as memalign */
	for (size_t i = 0; i <= sizeof(bad_aa) / sizeof(bad_aa[0]); i++) {
		size_t a = i < sizeof(bad_aa) / sizeof(bad_aa[0]) ? bad_aa[i] : 0, p2 = MIN_ALIGN;
		void *p;

		while (p2 < a)
			p2 <<= 1;
		errno = 0;
		p = aligned_alloc(hide(a), hide(100));
		if (expect_kmem) {
			CHECK(p == NULL, "aligned_alloc(align %zu, 100) = %p: a non-power-of-two alignment must fail",
			      a, p);
			CHECK(errno == EINVAL, "aligned_alloc(align %zu, 100): errno %d, want EINVAL", a, errno);
		} else if (p) { /* glibc < 2.38 */
			CHECK(aligned_to(p, p2), "glibc aligned_alloc(align %zu) = %p", a, p);
			free(p);
		} else {
			CHECK(errno == EINVAL, "glibc aligned_alloc(align %zu, 100): errno %d", a, errno);
		}
	}
}

/* memalign, valloc and pvalloc as glibc 2.36 documents and does: both runs
 * must give the same answers. */
static void test_memalign_glibc(void **state)
{
	static const size_t round_up[][2] = {
		{24, 32}, {3, 16}, {5, 16}, {12, 16}, {17, 32}, {48, 64}, {100, 128}, {4097, 8192},
		{3 * 4096, 16384}, {3 * MiB, 4 * MiB}, {((size_t)1 << 20) + 1, (size_t)2 << 20},
	};
	static const size_t small[] = {0, 1, 2, 4, 8, 16};
	(void)state;

	for (size_t i = 0; i < sizeof(round_up) / sizeof(round_up[0]); i++)
		for (size_t n = 0; n <= 5000; n += 1000 + n) {
			size_t a = round_up[i][0], want = round_up[i][1];
			unsigned char *p;

			errno = 0;
			p = memalign(hide(a), hide(n));
			CHECK(p != NULL, "memalign(%zu, %zu) = NULL (errno %d): glibc rounds the alignment up", a,
			      n, errno);
			CHECK(aligned_to(p, want), "memalign(%zu, %zu) = %p is not %zu-aligned", a, n, (void *)p,
			      want);
			CHECK(malloc_usable_size(p) >= n, "memalign(%zu, %zu): usable %zu", a, n,
			      malloc_usable_size(p));
			memset(p, 0x5a, n);
			free(p);
		}
	/* an alignment up to 16 (0 included) is malloc's */
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		void *p = memalign(hide(small[i]), hide(100));

		CHECK(p != NULL && aligned_to(p, MIN_ALIGN), "memalign(%zu, 100) = %p, want malloc(100)", small[i],
		      p);
		free(p);
	}
	/* above SIZE_MAX / 2 + 1 no power of two is near: EINVAL */
	{
		static const size_t huge[] = {SIZE_MAX / 2 + 2, SIZE_MAX - 4095, SIZE_MAX};

		for (size_t i = 0; i < sizeof(huge) / sizeof(huge[0]); i++) {
			void *p;

			errno = 0;
			p = memalign(hide(huge[i]), hide(100));
			CHECK(p == NULL && errno == EINVAL, "memalign(%#zx, 100) = %p, errno %d: want NULL, EINVAL",
			      huge[i], p, errno);
		}
	}
	/* valloc(n) = memalign(page, n); pvalloc rounds n up to whole pages */
	{
		size_t pg = 4096;
		unsigned char *v = valloc(hide(0)), *pv = pvalloc(hide(0)), *pv1 = pvalloc(hide(1));
		unsigned char *pvp = pvalloc(hide(pg + 1));

		CHECK(v && aligned_to(v, pg), "valloc(0) = %p", (void *)v);
		CHECK(pv && aligned_to(pv, pg), "pvalloc(0) = %p", (void *)pv);
		CHECK(pv1 && aligned_to(pv1, pg) && malloc_usable_size(pv1) >= pg,
		      "pvalloc(1) = %p, usable %zu: a whole page", (void *)pv1, pv1 ? malloc_usable_size(pv1) : 0);
		CHECK(pvp && aligned_to(pvp, pg) && malloc_usable_size(pvp) >= 2 * pg,
		      "pvalloc(page + 1) = %p, usable %zu: two pages", (void *)pvp,
		      pvp ? malloc_usable_size(pvp) : 0);
		memset(pv1, 1, pg);
		memset(pvp, 2, 2 * pg);
		free(v);
		free(pv);
		free(pv1);
		free(pvp);
	}
}

/* ---- glibc's statistics calls: mallinfo, mallinfo2, malloc_stats, malloc_info -------- */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* mallinfo, since glibc 2.33 */
static struct mallinfo old_mallinfo(void)
{
	return mallinfo();
}
#pragma GCC diagnostic pop

#define STAT_SMALL 3000		/* blocks of 1000 bytes: slab objects in kmem */
#define STAT_PAGES 40		/* blocks of 100 KiB: page blocks (glibc: its heap) */
#define STAT_HUGE ((size_t)64 << 20)	/* mmapped by both */

/* mallinfo2 grows with allocations and falls after frees; the fields add up
 * as both malloc_infos document; mallinfo agrees where it does not wrap. */
static void test_mallinfo(void **state)
{
	static void *small[STAT_SMALL], *pages[STAT_PAGES];
	struct mallinfo2 m0, m1, m2, m3;
	struct mallinfo o;
	size_t asked = 0;
	void *huge;
	/* the hardened mode (decision 23): blocks past 8 KiB are guarded mappings */
	int hardened = getenv("KMEM_HARDEN") && !strcmp(getenv("KMEM_HARDEN"), "1");
	(void)state;

	m0 = mallinfo2();
	for (int i = 0; i < STAT_SMALL; i++) {
		small[i] = malloc(hide(1000));
		CHECK(small[i] != NULL, "malloc(1000)");
		memset(small[i], 1, 1000);
		asked += 1000;
	}
	for (int i = 0; i < STAT_PAGES; i++) {
		pages[i] = malloc(hide(100 * KiB));
		CHECK(pages[i] != NULL, "malloc(100 KiB)");
		memset(pages[i], 2, 100 * KiB);
		asked += 100 * KiB;
	}
	huge = malloc(hide(STAT_HUGE));
	CHECK(huge != NULL, "malloc(64 MiB)");
	m1 = mallinfo2();
	o = old_mallinfo();
	print_message("[ info     ] mallinfo2 before: arena %zu uordblks %zu fordblks %zu hblks %zu hblkhd %zu\n",
		      m0.arena, m0.uordblks, m0.fordblks, m0.hblks, m0.hblkhd);
	print_message("[ info     ] with %zu bytes more: arena %zu uordblks %zu fordblks %zu hblks %zu hblkhd %zu "
		      "ordblks %zu smblks %zu fsmblks %zu keepcost %zu\n", asked + STAT_HUGE, m1.arena,
		      m1.uordblks, m1.fordblks, m1.hblks, m1.hblkhd, m1.ordblks, m1.smblks, m1.fsmblks,
		      m1.keepcost);
	if (hardened) /* blocks past 8 KiB: mappings (hblkhd) */
		CHECK(m1.uordblks + m1.hblkhd >= m0.uordblks + m0.hblkhd + asked,
		      "uordblks + hblkhd %zu -> %zu after %zu bytes were handed out", m0.uordblks + m0.hblkhd,
		      m1.uordblks + m1.hblkhd, asked);
	else
		CHECK(m1.uordblks >= m0.uordblks + asked, "uordblks %zu -> %zu after %zu bytes were handed out",
		      m0.uordblks, m1.uordblks, asked);
	CHECK(m1.arena >= m1.uordblks + m1.fordblks, "arena %zu < uordblks %zu + fordblks %zu", m1.arena,
	      m1.uordblks, m1.fordblks);
	CHECK(m1.hblks >= m0.hblks + 1 && m1.hblkhd >= m0.hblkhd + STAT_HUGE,
	      "a 64 MiB block: hblks %zu -> %zu, hblkhd %zu -> %zu", m0.hblks, m1.hblks, m0.hblkhd, m1.hblkhd);
	CHECK(m1.usmblks == 0, "usmblks %zu (unused: 0)", m1.usmblks);
	CHECK(m1.fsmblks <= m1.fordblks, "fsmblks %zu > fordblks %zu", m1.fsmblks, m1.fordblks);
	CHECK(m1.keepcost <= m1.fordblks, "keepcost %zu > fordblks %zu", m1.keepcost, m1.fordblks);
	if (m1.uordblks < INT_MAX / 2) {
		size_t d = (size_t)o.uordblks > m1.uordblks ? (size_t)o.uordblks - m1.uordblks
							     : m1.uordblks - (size_t)o.uordblks;

		CHECK(o.uordblks > 0 && d < MiB, "mallinfo().uordblks %d, mallinfo2().uordblks %zu", o.uordblks,
		      m1.uordblks);
		CHECK((size_t)o.hblkhd == m1.hblkhd && (size_t)o.arena >= m1.arena,
		      "mallinfo hblkhd %d arena %d, mallinfo2 %zu %zu", o.hblkhd, o.arena, m1.hblkhd, m1.arena);
	}
	free(huge);
	for (int i = 0; i < STAT_PAGES; i++)
		free(pages[i]);
	m2 = mallinfo2();
	CHECK(m2.hblkhd + STAT_HUGE <= m1.hblkhd, "hblkhd %zu -> %zu after the 64 MiB block was freed",
	      m1.hblkhd, m2.hblkhd);
	if (hardened)
		CHECK(m2.hblkhd + STAT_PAGES * 100 * KiB <= m1.hblkhd - STAT_HUGE,
		      "hblkhd %zu -> %zu after %zu bytes of guarded blocks were freed", m1.hblkhd - STAT_HUGE,
		      m2.hblkhd, STAT_PAGES * 100 * KiB);
	else
		CHECK(m2.uordblks + STAT_PAGES * 100 * KiB <= m1.uordblks,
		      "uordblks %zu -> %zu after %zu bytes of page blocks were freed", m1.uordblks, m2.uordblks,
		      STAT_PAGES * 100 * KiB);
	for (int i = 0; i < STAT_SMALL; i++)
		free(small[i]);
	m3 = mallinfo2();
	print_message("[ info     ] all freed: arena %zu uordblks %zu fordblks %zu smblks %zu fsmblks %zu\n",
		      m3.arena, m3.uordblks, m3.fordblks, m3.smblks, m3.fsmblks);
	/* a thread cache may keep some blocks counted as in use (glibc's tcache, kmem's magazines) */
	CHECK(m3.uordblks + STAT_SMALL * 1000 / 2 <= m2.uordblks,
	      "uordblks %zu -> %zu after %d blocks of 1000 bytes were freed", m2.uordblks, m3.uordblks,
	      STAT_SMALL);
	CHECK(m3.arena >= m3.uordblks + m3.fordblks, "arena %zu < uordblks %zu + fordblks %zu", m3.arena,
	      m3.uordblks, m3.fordblks);
}

static int call_malloc_info(FILE *fp)
{
	return malloc_info(0, fp);
}

static int call_malloc_info_bad(FILE *fp)
{
	return malloc_info(1, fp);
}

static int call_malloc_stats(FILE *fp)
{
	(void)fp;
	malloc_stats();
	return 0;
}

/* malloc_info: well-formed XML in glibc's layout (checked by the small
 * checker here, and by python3's xml parser where python3 exists), with
 * numbers that follow the heap; malloc_stats: glibc's layout on stderr. */
static void test_malloc_info(void **state)
{
	char root[32] = "";
	const char *bad;
	char *xml, *xml2, *txt;
	int rc;
	void *huge;
	(void)state;

	xml = capture(call_malloc_info, 0, &rc);
	CHECK(rc == 0, "malloc_info(0, fp) returned %d", rc);
	bad = xml_check(xml, root, sizeof(root));
	CHECK(bad == NULL, "malloc_info's XML is not well formed: %s:\n%s", bad, xml);
	CHECK(strcmp(root, "malloc") == 0, "root element <%s>, want <malloc>", root);
	CHECK(strstr(xml, "<malloc version=\"1\">") && strstr(xml, "<heap nr=\"0\">") &&
		      strstr(xml, "<sizes>") && strstr(xml, "<total type=\"fast\"") &&
		      strstr(xml, "<total type=\"rest\"") && strstr(xml, "<total type=\"mmap\"") &&
		      strstr(xml, "<system type=\"current\"") && strstr(xml, "<aspace type=\"total\""),
	      "malloc_info lacks glibc's elements:\n%s", xml);
	CHECK(xml_number(xml, "<system type=\"current\"", "size") > 0, "system current size 0:\n%s", xml);
	{
		/* python3's parser, where there is one (the preload run gives it kmem too) */
		char path[] = "/tmp/kmem-malloc-info-XXXXXX";
		int fd = mkstemp(path);

		CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
		CHECK(write(fd, xml, strlen(xml)) == (ssize_t)strlen(xml), "write");
		close(fd);
		if (system("command -v python3 > /dev/null 2>&1") == 0) {
			char cmd[256];

			snprintf(cmd, sizeof(cmd),
				 "python3 -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1])"
				 ".getroot(); sys.exit(r.tag != \"malloc\" or r.find(\"heap\") is None)' %s",
				 path);
			rc = system(cmd);
			CHECK(rc == 0, "python3's xml parser rejects malloc_info's output (%d):\n%s", rc, xml);
			print_message("[ info     ] malloc_info: %zu bytes, parsed by python3's xml module\n",
				      strlen(xml));
		}
		unlink(path);
	}
	/* a huge block shows in the mmap total */
	huge = malloc(hide(STAT_HUGE));
	CHECK(huge != NULL, "malloc(64 MiB)");
	xml2 = capture(call_malloc_info, 0, &rc);
	CHECK(rc == 0 && xml_check(xml2, root, sizeof(root)) == NULL, "malloc_info with a huge block:\n%s", xml2);
	CHECK(xml_number(xml2, "<total type=\"mmap\"", "size") >= xml_number(xml, "<total type=\"mmap\"", "size") +
										    STAT_HUGE,
	      "the mmap total did not grow by 64 MiB:\n%s\n---\n%s", xml, xml2);
	txt = capture(call_malloc_stats, 1, &rc);
	print_message("[ info     ] malloc_stats:\n%s", txt);
	CHECK(strstr(txt, "Arena 0:\nsystem bytes     = ") && strstr(txt, "in use bytes     = ") &&
		      strstr(txt, "Total (incl. mmap):\n") && strstr(txt, "max mmap regions = ") &&
		      strstr(txt, "max mmap bytes   = "),
	      "malloc_stats does not print glibc's layout:\n%s", txt);
	{
		const char *t = strstr(txt, "Total (incl. mmap):\nsystem bytes     = ");

		CHECK(t && strtoull(t + strlen("Total (incl. mmap):\nsystem bytes     = "), NULL, 10) >= STAT_HUGE,
		      "malloc_stats' total misses the 64 MiB block:\n%s", txt);
	}
	free(huge);
	free(xml);
	free(xml2);
	free(txt);
	/* options must be 0: glibc returns EINVAL (not -1) and writes nothing */
	xml = capture(call_malloc_info_bad, 0, &rc);
	CHECK(rc == EINVAL && xml[0] == '\0', "malloc_info(1, fp) returned %d and wrote %zu bytes", rc, strlen(xml));
	free(xml);
}

/* ---- impossible sizes -------------------------------------------------------------- */

#define EXPECT_ENOMEM(expr, what)                                                              \
	do {                                                                                   \
		void *p_;                                                                      \
		errno = 0;                                                                     \
		p_ = (expr);                                                                   \
		CHECK(p_ == NULL, "%s = %p, want NULL", what, p_);                             \
		CHECK(errno == ENOMEM, "%s: errno %d (%s), want ENOMEM", what, errno, strerror(errno)); \
	} while (0)

static void test_overflow(void **state)
{
	const size_t half = SIZE_MAX / 2 + 1, pmax = (size_t)PTRDIFF_MAX, g4 = (size_t)1 << 32;
	char what[128];
	(void)state;

	EXPECT_ENOMEM(calloc(hide(half), hide(2)), "calloc(SIZE_MAX/2+1, 2)");
	EXPECT_ENOMEM(calloc(hide(2), hide(half)), "calloc(2, SIZE_MAX/2+1)");
	EXPECT_ENOMEM(calloc(hide(g4), hide(g4)), "calloc(2^32, 2^32) (product wraps to 0)");
	EXPECT_ENOMEM(calloc(hide(g4 + 1), hide(g4)), "calloc(2^32+1, 2^32) (wraps to 2^32)");
	EXPECT_ENOMEM(calloc(hide(SIZE_MAX), hide(SIZE_MAX)), "calloc(SIZE_MAX, SIZE_MAX)");
	EXPECT_ENOMEM(calloc(hide(pmax / 2 + 1), hide(2)), "calloc(PTRDIFF_MAX/2+1, 2) = PTRDIFF_MAX+1");
	EXPECT_ENOMEM(calloc(hide(1), hide(SIZE_MAX)), "calloc(1, SIZE_MAX)");
	EXPECT_ENOMEM(malloc(hide(SIZE_MAX)), "malloc(SIZE_MAX)");
	for (size_t d = 1; d <= 4096; d = d * 2 + 1) {
		snprintf(what, sizeof(what), "malloc(SIZE_MAX - %zu)", d);
		EXPECT_ENOMEM(malloc(hide(SIZE_MAX - d)), what);
		snprintf(what, sizeof(what), "malloc(PTRDIFF_MAX + %zu)", d);
		EXPECT_ENOMEM(malloc(hide(pmax + d)), what);
	}
	EXPECT_ENOMEM(malloc(hide(pmax + 1)), "malloc(PTRDIFF_MAX+1)");
	EXPECT_ENOMEM(malloc(hide(pmax)), "malloc(PTRDIFF_MAX)");
	EXPECT_ENOMEM(malloc(hide((size_t)1 << 62)), "malloc(2^62) (no such address space)");
	EXPECT_ENOMEM(realloc(NULL, hide(SIZE_MAX)), "realloc(NULL, SIZE_MAX)");
	EXPECT_ENOMEM(reallocarray(NULL, hide(half), hide(2)), "reallocarray(NULL, SIZE_MAX/2+1, 2)");
	EXPECT_ENOMEM(aligned_alloc(hide(64), hide(SIZE_MAX)), "aligned_alloc(64, SIZE_MAX)");
	EXPECT_ENOMEM(aligned_alloc(hide(4096), hide(SIZE_MAX - 4096)), "aligned_alloc(4096, SIZE_MAX-4096)");
	EXPECT_ENOMEM(aligned_alloc(hide(64), hide(pmax + 1)), "aligned_alloc(64, PTRDIFF_MAX+1)");
	EXPECT_ENOMEM(memalign(hide((size_t)1 << 22), hide(SIZE_MAX - ((size_t)1 << 21))),
		      "memalign(4 MiB, SIZE_MAX - 2 MiB) (size + alignment overflows)");
	EXPECT_ENOMEM(memalign(hide(16), hide(pmax + 1)), "memalign(16, PTRDIFF_MAX+1)");
	EXPECT_ENOMEM(valloc(hide(SIZE_MAX)), "valloc(SIZE_MAX)");
	EXPECT_ENOMEM(valloc(hide(SIZE_MAX - page_size())), "valloc(SIZE_MAX - page)");
	EXPECT_ENOMEM(pvalloc(hide(SIZE_MAX)), "pvalloc(SIZE_MAX) (rounding up overflows)");
	EXPECT_ENOMEM(pvalloc(hide(SIZE_MAX - 100)), "pvalloc(SIZE_MAX - 100) (rounding up overflows)");
	EXPECT_ENOMEM(pvalloc(hide(pmax)), "pvalloc(PTRDIFF_MAX)");
	{
		static const size_t bad[][2] = {
			{64, SIZE_MAX}, {4096, SIZE_MAX - 4096}, {(size_t)1 << 22, SIZE_MAX - 100},
			{16, (size_t)PTRDIFF_MAX + 1}, {SIZE_MAX / 2 + 1, 1}, {(size_t)1 << 62, 64},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			void *p = (void *)&p;
			int rc = posix_memalign(&p, hide(bad[i][0]), hide(bad[i][1]));

			CHECK(rc == ENOMEM, "posix_memalign(align %zu, %zu) returned %d, want ENOMEM (%d)",
			      bad[i][0], bad[i][1], rc, ENOMEM);
			CHECK(p == (void *)&p, "failed posix_memalign(align %zu, %zu) changed *memptr to %p",
			      bad[i][0], bad[i][1], p);
		}
	}
	/* still working afterwards */
	{
		void *p = malloc(hide(100));

		CHECK(p != NULL, "malloc(100) after the failures returned NULL");
		free(p);
	}
}

/* ---- zero sizes --------------------------------------------------------------------- */

static void test_zero_sizes(void **state)
{
	enum { N = 256 };
	struct blk b[N + 8];
	size_t nb = 0;
	void *p;
	(void)state;

	for (size_t i = 0; i < N; i++) {
		p = malloc(hide(0));
		CHECK(p != NULL, "malloc(0) #%zu returned NULL", i);
		CHECK(aligned_to(p, MIN_ALIGN), "malloc(0) = %p not aligned", p);
		b[nb].p = p;
		b[nb].req = 0;
		b[nb].usable = malloc_usable_size(p);
		b[nb].seed = i;
		fill(p, b[nb].usable, i);
		nb++;
	}
	{
		void *const z[] = {calloc(hide(0), 1), calloc(1, hide(0)), calloc(hide(0), hide(0)),
				   realloc(NULL, hide(0)), reallocarray(NULL, hide(0), 8),
				   reallocarray(NULL, 8, hide(0))};
		static const char *const zn[] = {"calloc(0, 1)", "calloc(1, 0)", "calloc(0, 0)",
						 "realloc(NULL, 0)", "reallocarray(NULL, 0, 8)",
						 "reallocarray(NULL, 8, 0)"};

		for (size_t i = 0; i < 6; i++) {
			CHECK(z[i] != NULL, "%s returned NULL (must act as malloc(0))", zn[i]);
			CHECK(aligned_to(z[i], MIN_ALIGN), "%s = %p not aligned", zn[i], z[i]);
			b[nb].p = z[i];
			b[nb].req = 0;
			b[nb].usable = malloc_usable_size(z[i]);
			b[nb].seed = 1000 + i;
			fill(z[i], b[nb].usable, b[nb].seed);
			nb++;
		}
	}
	/* unique: distinct addresses, non-overlapping usable ranges */
	qsort(b, nb, sizeof(b[0]), cmp_blk);
	for (size_t i = 1; i < nb; i++)
		CHECK(b[i - 1].p != b[i].p, "zero-size allocations returned the same pointer %p twice",
		      (void *)b[i].p);
	check_blocks(b, nb, "zero-size blocks");
	for (size_t i = 0; i < nb; i++)
		free(b[i].p);

	/* realloc(p, 0) frees p and returns NULL */
	{
		static const size_t from[] = {0, 1, 100, 4096, 70000, 8 * MiB, 80 * MiB};

		for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
			p = malloc(hide(from[i]));
			CHECK(p != NULL, "malloc(%zu)", from[i]);
			memset(p, 0x5a, from[i]);
			p = realloc(p, hide(0));
			CHECK(p == NULL, "realloc(block of %zu, 0) = %p, want NULL (and the block freed)", from[i], p);
		}
	}
	/* the aligned functions with size 0: a block or NULL, never a failure code */
	{
		int rc;

		p = NULL;
		rc = posix_memalign(&p, hide(64), hide(0));
		CHECK(rc == 0, "posix_memalign(64, 0) returned %d", rc);
		CHECK(p == NULL || aligned_to(p, 64), "posix_memalign(64, 0) = %p", p);
		free(p);
		p = aligned_alloc(hide(64), hide(0));
		CHECK(p == NULL || aligned_to(p, 64), "aligned_alloc(64, 0) = %p", p);
		free(p);
		p = memalign(hide(4096), hide(0));
		CHECK(p == NULL || aligned_to(p, 4096), "memalign(4096, 0) = %p", p);
		free(p);
		p = valloc(hide(0));
		CHECK(p == NULL || aligned_to(p, page_size()), "valloc(0) = %p", p);
		free(p);
		p = pvalloc(hide(0));
		CHECK(p == NULL || aligned_to(p, page_size()), "pvalloc(0) = %p", p);
		free(p);
	}
	CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu", malloc_usable_size(NULL));
	free(NULL);
}

/* ---- realloc keeps the data, growing and shrinking through every range ------------- */

static unsigned char *realloc_checked(unsigned char *p, size_t old, size_t n, uint64_t seed, const char *what)
{
	unsigned char *q = realloc(p, hide(n));
	size_t keep = old < n ? old : n, bad, u;

	CHECK(q != NULL, "%s: realloc(%zu -> %zu) returned NULL, errno %d", what, old, n, errno);
	CHECK(aligned_to(q, MIN_ALIGN), "%s: realloc(%zu -> %zu) = %p not aligned", what, old, n, (void *)q);
	u = malloc_usable_size(q);
	CHECK(u >= n, "%s: realloc(%zu -> %zu): usable %zu", what, old, n, u);
	bad = check(q, keep, seed);
	CHECK(bad == SIZE_MAX, "%s: realloc(%zu -> %zu) (%p -> %p) lost the data at offset %zu", what, old, n,
	      (void *)p, (void *)q, bad);
	if (n > keep)
		fill_range(q, keep, n, seed);
	return q;
}

static void test_realloc_ladder(void **state)
{
	static const size_t ladder[] = {
		1, 7, 8, 16, 17, 24, 100, 255, 256, 257, 512, 1000, 2048, 4095, 4096, 4097,
		8191, 8192, 12289, 32768, 65536, 65537, 100000, 131073, 262144, 1 * MiB,
		2 * MiB + 3, 8 * MiB, 32 * MiB + 5, 64 * MiB + 1, 72 * MiB + 7,
	};
	const size_t nl = sizeof(ladder) / sizeof(ladder[0]);
	void *spacer[2 * sizeof(ladder) / sizeof(ladder[0])];
	size_t ns = 0;
	(void)state;

	for (int pass = 0; pass < 2; pass++) {
		/* pass 1: up to 8 MiB, a live small block after each step, so
		 * growing in place is not always possible */
		uint64_t seed = base_seed + 77 + (uint64_t)pass;
		unsigned char *p = NULL;
		size_t cur = 0;

		for (size_t i = 0; i < nl && (pass == 0 || ladder[i] <= 8 * MiB); i++) {
			p = realloc_checked(p, cur, ladder[i], seed, "ladder up");
			cur = ladder[i];
			if (pass)
				spacer[ns++] = malloc(hide(ladder[i] % 512 + 1));
		}
		for (size_t i = nl; i-- > 0;) {
			if (pass && ladder[i] > 8 * MiB)
				continue;
			p = realloc_checked(p, cur, ladder[i], seed, "ladder down");
			cur = ladder[i];
			if (pass)
				spacer[ns++] = malloc(hide(ladder[i] % 256 + 1));
		}
		/* zig-zag between tiny and huge (once) */
		for (size_t i = 0; i < nl && pass == 0; i++) {
			size_t big = ladder[nl - 1 - i], small = ladder[i];

			p = realloc_checked(p, cur, big, seed, "zig-zag");
			p = realloc_checked(p, big, small, seed, "zig-zag");
			cur = small;
		}
		free(p);
	}
	for (size_t i = 0; i < ns; i++)
		free(spacer[i]);
}

static size_t random_size(struct rng *r)
{
	size_t c = below(r, 100);

	if (c < 60)
		return below(r, 513);
	if (c < 88)
		return 512 + below(r, 8192);
	if (c < 99)
		return 8192 + below(r, 256 * KiB);
	return 256 * KiB + below(r, 4 * MiB);
}

/* mostly small, sometimes up to 64 KiB, rarely 1-2 MiB */
static size_t child_size(struct rng *r)
{
	size_t c = below(r, 1000);

	return c < 900 ? below(r, 1025) : c < 998 ? below(r, 64 * KiB) : MiB + below(r, MiB);
}

static void test_realloc_random(void **state)
{
	enum { SLOTS = 32 };
	struct blk s[SLOTS];
	struct rng r = {base_seed ^ 0x5eed};
	unsigned long ops = 12000;
	(void)state;

	memset(s, 0, sizeof(s));
	for (unsigned long op = 0; op < ops; op++) {
		struct blk *b = &s[below(&r, SLOTS)];
		size_t n = random_size(&r);

		if (!b->p) {
			b->seed = rnd(&r);
			b->p = alloc_by((int)below(&r, 4), n);
			CHECK(b->p != NULL, "op %lu: allocating %zu failed", op, n);
			fill(b->p, n, b->seed);
			b->req = n;
		} else if (below(&r, 4) == 0) {
			size_t bad = check(b->p, b->req, b->seed);

			CHECK(bad == SIZE_MAX, "op %lu: block of %zu changed at %zu before free", op, b->req, bad);
			free(b->p);
			b->p = NULL;
		} else if (n == 0) {
			void *q = realloc(b->p, hide(0));

			CHECK(q == NULL, "op %lu: realloc(block of %zu, 0) = %p, want NULL", op, b->req, q);
			b->p = NULL;
		} else {
			b->p = realloc_checked(b->p, b->req, n, b->seed, "random realloc");
			b->req = n;
		}
	}
	for (size_t i = 0; i < SLOTS; i++) {
		if (s[i].p) {
			size_t bad = check(s[i].p, s[i].req, s[i].seed);

			CHECK(bad == SIZE_MAX, "slot %zu changed at %zu", i, bad);
			free(s[i].p);
		}
	}
}

static void test_realloc_failure_keeps_block(void **state)
{
	static const size_t from[] = {1, 100, 4096, 70000, 1 * MiB, 40 * MiB};
	const size_t impossible[] = {SIZE_MAX, SIZE_MAX - 8, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1,
				     (size_t)PTRDIFF_MAX, (size_t)1 << 62};
	(void)state;

	for (size_t i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		uint64_t seed = base_seed + i * 1000;
		unsigned char *p = malloc(hide(from[i]));
		size_t u, bad;

		CHECK(p != NULL, "malloc(%zu)", from[i]);
		u = malloc_usable_size(p);
		fill(p, u, seed);
		for (size_t j = 0; j < sizeof(impossible) / sizeof(impossible[0]); j++) {
			void *q;

			errno = 0;
			q = realloc(p, hide(impossible[j]));
			CHECK(q == NULL, "realloc(block of %zu, %zu) = %p", from[i], impossible[j], q);
			CHECK(errno == ENOMEM, "realloc(block of %zu, %zu): errno %d, want ENOMEM", from[i],
			      impossible[j], errno);
			CHECK(malloc_usable_size(p) == u, "failed realloc(%zu -> %zu) changed the usable size %zu -> %zu",
			      from[i], impossible[j], u, malloc_usable_size(p));
			/* big blocks: the ends here, all of it below */
			bad = u <= 256 * KiB ? check(p, u, seed) :
			      check(p, 64 * KiB, seed) != SIZE_MAX ? check(p, 64 * KiB, seed) :
			      check_range(p, u - 64 * KiB, u, seed);
			CHECK(bad == SIZE_MAX, "failed realloc(%zu -> %zu) damaged the old block at offset %zu",
			      from[i], impossible[j], bad);
		}
		errno = 0;
		CHECK(reallocarray(p, hide(SIZE_MAX / 2 + 1), 2) == NULL && errno == ENOMEM,
		      "reallocarray(p, SIZE_MAX/2+1, 2) must fail with ENOMEM (errno %d)", errno);
		errno = 0;
		CHECK(reallocarray(p, hide((size_t)1 << 32), (size_t)1 << 32) == NULL && errno == ENOMEM,
		      "reallocarray(p, 2^32, 2^32) (product wraps to 0) must fail with ENOMEM, not free p (errno %d)",
		      errno);
		bad = check(p, u, seed);
		CHECK(bad == SIZE_MAX, "failed reallocarray damaged the old block (%zu bytes) at %zu", from[i], bad);
		p = realloc_checked(p, u, from[i] * 2 + 1, seed, "realloc after failures");
		free(p);
	}
}

static void test_reallocarray(void **state)
{
	uint32_t *a = NULL;
	size_t n = 0;
	static const size_t steps[] = {1, 10, 1000, 100000, 3000000, 1000, 3, 50000};
	(void)state;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t m = steps[i], keep = n < m ? n : m;
		uint32_t *b = reallocarray(a, hide(m), sizeof(uint32_t));

		CHECK(b != NULL, "reallocarray(%zu x 4) failed", m);
		CHECK(malloc_usable_size(b) >= m * sizeof(uint32_t), "reallocarray(%zu x 4): usable %zu", m,
		      malloc_usable_size(b));
		for (size_t j = 0; j < keep; j++)
			CHECK(b[j] == (uint32_t)(j * 2654435761u), "reallocarray(%zu -> %zu): element %zu lost", n, m,
			      j);
		for (size_t j = keep; j < m; j++)
			b[j] = (uint32_t)(j * 2654435761u);
		a = b;
		n = m;
	}
	errno = 0;
	CHECK(reallocarray(a, hide(SIZE_MAX / 4 + 1), 4) == NULL, "reallocarray overflow must fail");
	CHECK(errno == ENOMEM, "reallocarray overflow: errno %d, want ENOMEM", errno);
	for (size_t j = 0; j < n; j++)
		CHECK(a[j] == (uint32_t)(j * 2654435761u), "failed reallocarray lost element %zu", j);
	free(a);
}

/* ---- malloc_usable_size: all of it is writable, neighbours untouched ---------------- */

static void test_usable_size(void **state)
{
	size_t pg = page_size();
	(void)state;

	for (size_t i = 0; i < nsizes; i++) {
		size_t n = sizes[i];
		unsigned char *a = malloc(hide(n)), *b = malloc(hide(n)), *c = malloc(hide(n));
		size_t ua, ub, uc, bad;

		CHECK(a && b && c, "malloc(%zu) x3", n);
		ua = malloc_usable_size(a);
		ub = malloc_usable_size(b);
		uc = malloc_usable_size(c);
		CHECK(ua >= n && ub >= n && uc >= n, "malloc(%zu): usable sizes %zu %zu %zu", n, ua, ub, uc);
		fill(a, ua, 11);
		fill(c, uc, 13);
		memset(b, 0xff, ub);
		bad = check(a, ua, 11);
		CHECK(bad == SIZE_MAX, "writing all %zu usable bytes of a %zu-byte block damaged a neighbour at %zu",
		      ub, n, bad);
		bad = check(c, uc, 13);
		CHECK(bad == SIZE_MAX, "writing all %zu usable bytes of a %zu-byte block damaged a neighbour at %zu",
		      ub, n, bad);
		free(b);
		bad = check(a, ua, 11);
		CHECK(bad == SIZE_MAX, "freeing a %zu-byte block damaged a neighbour at %zu", n, bad);
		free(a);
		free(c);
	}
	/* pvalloc/valloc/memalign usable sizes are writable too (done above); big blocks */
	{
		static const size_t big[] = {256 * KiB - 1, 1 * MiB + 1, 4 * MiB - 4096, 65 * MiB + 3};

		for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
			unsigned char *p = malloc(hide(big[i]));
			size_t u;

			CHECK(p != NULL, "malloc(%zu)", big[i]);
			u = malloc_usable_size(p);
			CHECK(u >= big[i], "malloc(%zu): usable %zu", big[i], u);
			/* sanity only: power-of-two block sizes may waste up to half */
			CHECK(u <= 2 * big[i] + 2 * pg, "malloc(%zu): usable %zu, more than twice the request",
			      big[i], u);
			memset(p, 0xee, u);
			free(p);
		}
	}
}

/* ---- errno ------------------------------------------------------------------------- */

static void test_free_preserves_errno(void **state)
{
	static const size_t sz[] = {0, 16, 100, 4096, 70000, 1 * MiB, 8 * MiB, 80 * MiB};
	(void)state;

	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		void *ps[6];
		int rc = posix_memalign(&ps[3], 256, hide(sz[i]));

		CHECK(rc == 0, "posix_memalign(256, %zu) = %d", sz[i], rc);
		ps[0] = malloc(hide(sz[i]));
		ps[1] = calloc(1, hide(sz[i]));
		ps[2] = realloc(NULL, hide(sz[i]));
		ps[4] = memalign(hide(1 << 16), hide(sz[i]));
		ps[5] = valloc(hide(sz[i]));
		for (int j = 0; j < 6; j++) {
			CHECK(ps[j] != NULL, "allocation %d of %zu failed", j, sz[i]);
			errno = EXDEV;
			free(ps[j]);
			CHECK(errno == EXDEV, "free(block %d of %zu bytes) changed errno to %d", j, sz[i], errno);
		}
	}
	errno = EXDEV;
	free(NULL);
	CHECK(errno == EXDEV, "free(NULL) changed errno to %d", errno);
}

/* ---- calloc after dirty frees -------------------------------------------------------- */

static void test_calloc_after_dirty_free(void **state)
{
	static const size_t sz[] = {1, 8, 16, 24, 32, 48, 64, 100, 128, 200, 256, 512, 1000, 1024, 2048,
				    4000, 4096, 8192, 12345, 65536, 70000, 131072, 1 * MiB, 4 * MiB + 3,
				    16 * MiB, 40 * MiB};
	void *p[64];
	(void)state;

	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		size_t s = sz[i], n = s < 65536 ? 64 : s < 2 * MiB ? 8 : 2;

		for (int round = 0; round < (s < MiB ? 3 : 1); round++) {
			for (size_t j = 0; j < n; j++) {
				p[j] = malloc(hide(s));
				CHECK(p[j] != NULL, "malloc(%zu)", s);
				memset(p[j], 0xa5, malloc_usable_size(p[j]));
			}
			for (size_t j = 0; j < n; j++)
				free(p[(j * 7) % n]); /* interleaved: 7 is prime to n */
			for (size_t j = 0; j < n; j++) {
				size_t nz;

				switch ((j + (size_t)round) % 3) {
				case 0:
					p[j] = calloc(1, hide(s));
					break;
				case 1:
					p[j] = calloc(hide(s), 1);
					break;
				default:
					p[j] = calloc(hide(s / 8 + 1), 8);
					break;
				}
				CHECK(p[j] != NULL, "calloc for %zu bytes failed", s);
				nz = first_nonzero(p[j], s);
				CHECK(nz == SIZE_MAX, "calloc(%zu bytes) after dirty frees: byte %zu is %#x, not 0", s, nz,
				      ((unsigned char *)p[j])[nz]);
			}
			/* dirty again and free in reverse */
			for (size_t j = 0; j < n; j++)
				memset(p[j], 0x5a, malloc_usable_size(p[j]));
			for (size_t j = n; j-- > 0;)
				free(p[j]);
		}
	}
	/* a block shrunk by realloc, then freed dirty */
	for (int i = 0; i < 200; i++) {
		unsigned char *q = malloc(hide(4096)), *z;
		size_t nz;

		CHECK(q != NULL, "malloc(4096)");
		memset(q, 0xc3, 4096);
		q = realloc(q, hide(16));
		CHECK(q != NULL, "realloc(4096 -> 16)");
		memset(q, 0xc3, malloc_usable_size(q));
		free(q);
		z = calloc(1, hide(4096));
		CHECK(z != NULL, "calloc(1, 4096)");
		nz = first_nonzero(z, 4096);
		CHECK(nz == SIZE_MAX, "calloc(4096) after a shrunk dirty block: byte %zu not zero", nz);
		free(z);
	}
}

/* ---- libc's internal allocations are freed by the program and vice versa ------------ */

static void test_libc_internal_allocations(void **state)
{
	char *s, *buf = NULL, *line = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	ssize_t got;
	int lines = 0;
	static const char text[] = "first line\nsecond, a little longer line\n\nlast";
	(void)state;

	s = strdup("hello, drop-in");
	CHECK(s != NULL && malloc_usable_size(s) >= 15, "strdup");
	s = realloc(s, hide(100000));
	CHECK(s != NULL && strcmp(s, "hello, drop-in") == 0, "realloc of strdup's block");
	free(s);
	s = strndup("abcdefgh", 3);
	CHECK(s != NULL && strcmp(s, "abc") == 0, "strndup");
	free(s);
	CHECK(asprintf(&s, "%d-%s-%0500d", 42, "x", 7) > 0, "asprintf");
	CHECK(strlen(s) == 505 && malloc_usable_size(s) >= 506, "asprintf: %zu", strlen(s));
	free(s);

	/* open_memstream grows its buffer with realloc inside libc; the caller frees it */
	f = open_memstream(&buf, &len);
	CHECK(f != NULL, "open_memstream");
	for (int i = 0; i < 100000; i++)
		fprintf(f, "%08d,", i);
	fclose(f);
	CHECK(len == 900000 && malloc_usable_size(buf) >= len + 1, "open_memstream: len %zu", len);
	CHECK(memcmp(buf + 9 * 54321, "00054321,", 9) == 0, "open_memstream content");
	free(buf);

	/* getline reallocs the caller's buffer */
	f = fmemopen((void *)(uintptr_t)text, sizeof(text) - 1, "r");
	CHECK(f != NULL, "fmemopen");
	line = malloc(hide(2));
	cap = 2;
	while ((got = getline(&line, &cap, f)) >= 0)
		lines++;
	fclose(f);
	CHECK(lines == 4, "getline read %d lines", lines);
	CHECK(malloc_usable_size(line) >= cap, "getline buffer: usable %zu < cap %zu", malloc_usable_size(line), cap);
	free(line);

	s = realpath(".", NULL);
	CHECK(s != NULL, "realpath(., NULL)");
	free(s);
	for (int i = 0; i < 200; i++) {
		f = fopen("/proc/self/statm", "r");
		CHECK(f != NULL, "fopen");
		fclose(f);
	}
}

/* ---- out of memory for real (RLIMIT_AS) --------------------------------------------- */

static int oom_child(void)
{
	struct rlimit rl;
	size_t vm = vm_bytes(), u, got = 0;
	unsigned char *keep;
	void *q, **chunks;
	size_t nchunks = 0;
	int rc;

	keep = malloc(hide(1000));
	if (!keep)
		return 10;
	u = malloc_usable_size(keep);
	fill(keep, u, 99);
	chunks = calloc(1024, sizeof(void *));
	if (!chunks)
		return 11;
	rl.rlim_cur = rl.rlim_max = vm + 256 * MiB;
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		return 12;

	errno = 0;
	q = malloc(hide(2048 * MiB));
	if (q || errno != ENOMEM) {
		fprintf(stderr, "under RLIMIT_AS: malloc(2 GiB) = %p, errno %d (want NULL, ENOMEM)\n", q, errno);
		return 13;
	}
	errno = 0;
	q = realloc(keep, hide(2048 * MiB));
	if (q || errno != ENOMEM) {
		fprintf(stderr, "under RLIMIT_AS: realloc(p, 2 GiB) = %p, errno %d (want NULL, ENOMEM)\n", q, errno);
		return 14;
	}
	if (check(keep, u, 99) != SIZE_MAX || malloc_usable_size(keep) != u) {
		fprintf(stderr, "under RLIMIT_AS: the failed realloc damaged the old block\n");
		return 15;
	}
	errno = 0;
	q = calloc(hide(1024), MiB);
	if (q || errno != ENOMEM) {
		fprintf(stderr, "under RLIMIT_AS: calloc(1024, 1 MiB) = %p, errno %d\n", q, errno);
		return 16;
	}
	q = NULL;
	rc = posix_memalign(&q, 4096, hide(2048 * MiB));
	if (rc != ENOMEM || q) {
		fprintf(stderr, "under RLIMIT_AS: posix_memalign(4096, 2 GiB) = %d, %p\n", rc, q);
		return 17;
	}
	/* 1 MiB blocks until malloc says no (or 1 GiB: an allocator that reserved
	 * its address space up front may hand out more than the limit) */
	while (nchunks < 1024) {
		errno = 0;
		q = malloc(hide(MiB));
		if (!q) {
			if (errno != ENOMEM) {
				fprintf(stderr, "under RLIMIT_AS: malloc(1 MiB) failed with errno %d, not ENOMEM\n",
					errno);
				return 18;
			}
			break;
		}
		((unsigned char *)q)[MiB - 1] = 1;
		chunks[nchunks++] = q;
		got += MiB;
	}
	/* and small blocks until malloc says no (or 64 MiB) */
	for (int i = 0; i < 16384; i++) {
		errno = 0;
		q = malloc(hide(4000));
		if (!q) {
			if (errno != ENOMEM) {
				fprintf(stderr, "under RLIMIT_AS: malloc(4000) failed with errno %d\n", errno);
				return 19;
			}
			break;
		}
		/* leaked on purpose: the process ends right after */
	}
	for (size_t i = 0; i < nchunks; i++)
		free(chunks[i]);
	q = malloc(hide(100));
	if (!q) {
		fprintf(stderr, "under RLIMIT_AS: after freeing %zu MiB, malloc(100) fails\n", got / MiB);
		return 20;
	}
	free(q);
	q = malloc(hide(MiB));
	if (!q) {
		fprintf(stderr, "under RLIMIT_AS: after freeing %zu MiB, malloc(1 MiB) fails\n", got / MiB);
		return 21;
	}
	free(q);
	if (check(keep, u, 99) != SIZE_MAX) {
		fprintf(stderr, "under RLIMIT_AS: a live block was damaged\n");
		return 22;
	}
	free(keep);
	printf("[ info     ] RLIMIT_AS child: %zu MiB in 1 MiB blocks before ENOMEM\n", got / MiB);
	fflush(stdout);
	return 0;
}

static void test_out_of_memory(void **state)
{
	pid_t pid;
	int status = 0;
	(void)state;

	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0, "fork failed");
	if (pid == 0) {
		alarm(30);
		_exit(oom_child());
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "RLIMIT_AS child: %s %d (exit codes are the numbered checks in oom_child; see its stderr)",
	      WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* ---- threads ----------------------------------------------------------------------- */

static atomic_int thread_failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_failure[512];

__attribute__((format(printf, 1, 2))) static void thread_fail(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&thread_failures, 1) == 0) {
		pthread_mutex_lock(&fail_lock);
		va_start(ap, fmt);
		vsnprintf(first_failure, sizeof(first_failure), fmt, ap);
		va_end(ap);
		pthread_mutex_unlock(&fail_lock);
	}
}

#define TCHECK(cond, ...)                                                   \
	do {                                                                \
		if (!(cond)) {                                              \
			thread_fail(__VA_ARGS__);                            \
			goto out;                                           \
		}                                                           \
	} while (0)

static void assert_no_thread_failures(const char *what)
{
	int n = atomic_load(&thread_failures);

	CHECK(n == 0, "%s: %d failures in threads, the first: %s", what, n, first_failure);
}

static void reset_thread_failures(void)
{
	atomic_store(&thread_failures, 0);
	first_failure[0] = '\0';
}

/* short-lived threads: each allocates over many size classes (filling its
 * caches), frees, and frees the blocks the previous wave handed over */
enum { WAVE = 8, HANDOFF = 64 };

struct churn_arg {
	uint64_t seed;
	struct blk *take; /* HANDOFF blocks from the previous wave (p may be NULL) */
	struct blk *give; /* HANDOFF blocks for the next wave */
};

static void *churn_thread(void *argp)
{
	struct churn_arg *a = argp;
	struct rng r = {a->seed};
	struct blk live[256];
	size_t nl = 0;

	for (size_t i = 0; i < HANDOFF; i++) {
		struct blk *b = &a->take[i];

		if (b->p) {
			size_t bad = check(b->p, b->req, b->seed);

			TCHECK(bad == SIZE_MAX, "a block of %zu handed over by an exited thread changed at %zu", b->req,
			       bad);
			free(b->p);
			b->p = NULL;
		}
	}
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < 256; i++) {
			size_t n = i < 200 ? (i % 50 + 1) * 16 - below(&r, 16) :
				   i == 255 ? 300 * KiB : below(&r, 4 * KiB);

			live[i].p = malloc(hide(n));
			TCHECK(live[i].p != NULL, "thread malloc(%zu) failed", n);
			live[i].req = n;
			live[i].seed = rnd(&r);
			fill(live[i].p, n, live[i].seed);
			nl = i + 1;
		}
		for (size_t i = 0; i < 256; i++) {
			size_t j = below(&r, 256 - i) + i, bad;
			struct blk t = live[i];

			live[i] = live[j];
			live[j] = t;
			bad = check(live[i].p, live[i].req, live[i].seed);
			TCHECK(bad == SIZE_MAX, "thread: block of %zu changed at %zu", live[i].req, bad);
			free(live[i].p);
			live[i].p = NULL;
		}
		nl = 0;
	}
	for (size_t i = 0; i < HANDOFF; i++) {
		size_t n = below(&r, 4096) + 1;
		struct blk *b = &a->give[i];

		b->p = malloc(hide(n));
		TCHECK(b->p != NULL, "thread malloc(%zu) for the hand-off failed", n);
		b->req = n;
		b->seed = rnd(&r);
		fill(b->p, n, b->seed);
	}
out:
	for (size_t i = 0; i < nl; i++)
		free(live[i].p);
	return NULL;
}

static void test_thread_exit(void **state)
{
	enum { WAVES = 64, WARM = 8 };
	static struct blk hand[2][WAVE][HANDOFF];
	struct churn_arg args[WAVE];
	pthread_t t[WAVE];
	size_t rss_warm = 0, rss_end;
	(void)state;

	reset_thread_failures();
	memset(hand, 0, sizeof(hand));
	for (int w = 0; w < WAVES; w++) {
		for (int i = 0; i < WAVE; i++) {
			args[i].seed = base_seed + (uint64_t)w * 1000 + (uint64_t)i;
			args[i].take = hand[w & 1][(i + 1) % WAVE];
			args[i].give = hand[(w + 1) & 1][i];
			CHECK(pthread_create(&t[i], NULL, churn_thread, &args[i]) == 0, "pthread_create");
		}
		for (int i = 0; i < WAVE; i++)
			pthread_join(t[i], NULL);
		assert_no_thread_failures("short-lived threads");
		if (w == WARM)
			rss_warm = rss_bytes();
	}
	rss_end = rss_bytes();
	print_message("[ info     ] %d short-lived threads: RSS %zu KiB after %d, %zu KiB after all\n", WAVES * WAVE,
		      rss_warm / KiB, (WARM + 1) * WAVE, rss_end / KiB);
	/* per-thread caches must go back at thread exit: ~450 more threads must
	 * not pile up their caches */
	CHECK(rss_end < rss_warm + 48 * MiB,
	      "RSS grew from %zu KiB to %zu KiB over %d exited threads: per-thread caches not released?",
	      rss_warm / KiB, rss_end / KiB, (WAVES - WARM - 1) * WAVE);
	for (int h = 0; h < 2; h++)
		for (int i = 0; i < WAVE; i++)
			for (int j = 0; j < HANDOFF; j++)
				free(hand[h][i][j].p);
}

/* producers allocate, consumers (other threads) check, sometimes realloc, and free */
enum { QCAP = 1024, PRODUCERS = 4, CONSUMERS = 4, PER_PRODUCER = 15000 };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct blk q[QCAP];
	size_t head, count;
	int producers_left;
} queue;

static void *producer(void *argp)
{
	struct rng r = {*(uint64_t *)argp};

	for (int i = 0; i < PER_PRODUCER; i++) {
		struct blk b;

		b.req = below(&r, 10) ? below(&r, 1025) : below(&r, 64 * KiB);
		b.p = malloc(hide(b.req));
		TCHECK(b.p != NULL, "producer malloc(%zu)", b.req);
		b.seed = rnd(&r);
		fill(b.p, b.req, b.seed);
		pthread_mutex_lock(&queue.lock);
		while (queue.count == QCAP)
			pthread_cond_wait(&queue.not_full, &queue.lock);
		queue.q[(queue.head + queue.count++) % QCAP] = b;
		pthread_cond_signal(&queue.not_empty);
		pthread_mutex_unlock(&queue.lock);
	}
out:
	pthread_mutex_lock(&queue.lock);
	queue.producers_left--;
	pthread_cond_broadcast(&queue.not_empty);
	pthread_mutex_unlock(&queue.lock);
	return NULL;
}

static void *consumer(void *argp)
{
	struct rng r = {*(uint64_t *)argp};

	for (;;) {
		struct blk b;
		size_t bad;

		pthread_mutex_lock(&queue.lock);
		while (queue.count == 0 && queue.producers_left > 0)
			pthread_cond_wait(&queue.not_empty, &queue.lock);
		if (queue.count == 0) {
			pthread_mutex_unlock(&queue.lock);
			break;
		}
		b = queue.q[queue.head];
		queue.head = (queue.head + 1) % QCAP;
		queue.count--;
		pthread_cond_signal(&queue.not_full);
		pthread_mutex_unlock(&queue.lock);

		/* on a failure keep draining, or the producers would block */
		bad = check(b.p, b.req, b.seed);
		if (bad != SIZE_MAX)
			thread_fail("a block of %zu from another thread changed at %zu", b.req, bad);
		if (below(&r, 4) == 0) {
			size_t n = below(&r, 2) ? b.req / 2 + 1 : b.req * 2 + 100;
			unsigned char *q = realloc(b.p, hide(n));
			size_t keep = n < b.req ? n : b.req;

			if (!q) {
				thread_fail("realloc(%zu -> %zu) of another thread's block failed", b.req, n);
			} else {
				bad = check(q, keep, b.seed);
				if (bad != SIZE_MAX)
					thread_fail("realloc(%zu -> %zu) of another thread's block lost byte %zu",
						    b.req, n, bad);
				b.p = q;
			}
		}
		free(b.p);
	}
	return NULL;
}

struct owned_arg {
	struct blk *blocks;
	size_t n;
	uint64_t seed;
	int allocate; /* 1: allocate them (main frees after exit); 0: free main's */
};

static void *owned_thread(void *argp)
{
	struct owned_arg *a = argp;
	struct rng r = {a->seed};

	for (size_t i = 0; i < a->n; i++) {
		struct blk *b = &a->blocks[i];

		if (a->allocate) {
			b->req = below(&r, 3000);
			b->p = malloc(hide(b->req));
			TCHECK(b->p != NULL, "malloc(%zu)", b->req);
			b->seed = rnd(&r);
			fill(b->p, b->req, b->seed);
		} else {
			size_t bad = check(b->p, b->req, b->seed);

			TCHECK(bad == SIZE_MAX, "main's block of %zu changed at %zu", b->req, bad);
			free(b->p);
			b->p = NULL;
		}
	}
out:
	return NULL;
}

static void test_cross_thread_free(void **state)
{
	pthread_t tp[PRODUCERS], tc[CONSUMERS], to[8];
	uint64_t seeds[PRODUCERS + CONSUMERS];
	struct owned_arg oa[8];
	enum { OWN = 5000 };
	struct blk *own = calloc(8 * OWN, sizeof(*own));
	struct rng r = {base_seed ^ 0xc0ffee};
	(void)state;

	CHECK(own != NULL, "calloc");
	reset_thread_failures();
	CHECK(pthread_mutex_init(&queue.lock, NULL) == 0 && pthread_cond_init(&queue.not_empty, NULL) == 0 &&
	      pthread_cond_init(&queue.not_full, NULL) == 0, "queue init");
	queue.producers_left = PRODUCERS;
	for (int i = 0; i < PRODUCERS + CONSUMERS; i++)
		seeds[i] = base_seed + 31 * (uint64_t)i;
	for (int i = 0; i < CONSUMERS; i++)
		CHECK(pthread_create(&tc[i], NULL, consumer, &seeds[PRODUCERS + i]) == 0, "pthread_create");
	for (int i = 0; i < PRODUCERS; i++)
		CHECK(pthread_create(&tp[i], NULL, producer, &seeds[i]) == 0, "pthread_create");
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(tp[i], NULL);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(tc[i], NULL);
	assert_no_thread_failures("producer/consumer");

	/* threads allocate and exit; main frees their blocks afterwards */
	for (int i = 0; i < 8; i++) {
		oa[i] = (struct owned_arg){own + (size_t)i * OWN, OWN, base_seed + 7 * (uint64_t)i, 1};
		CHECK(pthread_create(&to[i], NULL, owned_thread, &oa[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < 8; i++)
		pthread_join(to[i], NULL);
	assert_no_thread_failures("allocating threads");
	for (size_t i = 0; i < 8 * OWN; i += 2) {
		size_t bad = check(own[i].p, own[i].req, own[i].seed);

		CHECK(bad == SIZE_MAX, "a block of %zu from an exited thread changed at %zu", own[i].req, bad);
		free(own[i].p);
		own[i].p = NULL;
	}
	/* the other half: main reallocates them, then new threads free them */
	for (size_t i = 1; i < 8 * OWN; i += 2) {
		size_t n = below(&r, 5000) + 1;
		unsigned char *q = realloc(own[i].p, hide(n));
		size_t keep = n < own[i].req ? n : own[i].req;

		CHECK(q != NULL, "realloc");
		CHECK(check(q, keep, own[i].seed) == SIZE_MAX, "realloc of an exited thread's block lost data");
		fill_range(q, keep, n, own[i].seed);
		own[i].p = q;
		own[i].req = n;
	}
	for (size_t i = 0; i < 8 * OWN; i++)
		if (!own[i].p) { /* and main allocates the freed half for the threads to free */
			own[i].req = below(&r, 2000);
			own[i].p = malloc(hide(own[i].req));
			CHECK(own[i].p != NULL, "malloc");
			own[i].seed = rnd(&r);
			fill(own[i].p, own[i].req, own[i].seed);
		}
	for (int i = 0; i < 8; i++) {
		oa[i].allocate = 0;
		CHECK(pthread_create(&to[i], NULL, owned_thread, &oa[i]) == 0, "pthread_create");
	}
	for (int i = 0; i < 8; i++)
		pthread_join(to[i], NULL);
	assert_no_thread_failures("freeing threads");
	free(own);
}

/* ---- fork while other threads allocate ---------------------------------------------- */

static atomic_int fork_stop;

static void *fork_worker(void *argp)
{
	struct rng r = {*(uint64_t *)argp};
	struct blk ring[64];

	memset(ring, 0, sizeof(ring));
	for (unsigned long i = 0; !atomic_load_explicit(&fork_stop, memory_order_relaxed); i++) {
		struct blk *b = &ring[i % 64];

		/* only the ends are written: the workers should spend their time
		 * inside the allocator, where fork() must find them */
		if (b->p) {
			size_t bad = check_ends(b->p, b->req, b->seed);

			TCHECK(bad == SIZE_MAX, "worker block of %zu changed at %zu", b->req, bad);
			free(b->p);
		}
		b->req = below(&r, 50) ? below(&r, 2048) : child_size(&r);
		b->p = below(&r, 8) ? malloc(hide(b->req)) : calloc(1, hide(b->req));
		TCHECK(b->p != NULL, "worker malloc(%zu)", b->req);
		b->seed = rnd(&r);
		fill_ends(b->p, b->req, b->seed);
	}
out:
	for (int i = 0; i < 64; i++)
		free(ring[i].p);
	return NULL;
}

static void *child_worker(void *argp)
{
	struct rng r = {*(uint64_t *)argp};
	void *p[128];

	memset(p, 0, sizeof(p));
	for (int i = 0; i < 10000; i++) {
		size_t k = below(&r, 128);

		free(p[k]);
		p[k] = malloc(hide(below(&r, 4096)));
		if (!p[k])
			return (void *)1;
	}
	for (int i = 0; i < 128; i++)
		free(p[i]);
	return NULL;
}

/* in the child: no other thread exists; every allocator lock must be usable */
static int fork_child(uint64_t seed)
{
	struct rng r = {seed};
	struct blk s[256];
	pthread_t t;
	void *tr = (void *)1;

	memset(s, 0, sizeof(s));
	for (int i = 0; i < 6000; i++) {
		struct blk *b = &s[below(&r, 256)];

		if (b->p) {
			if (check_ends(b->p, b->req, b->seed) != SIZE_MAX)
				return 30;
			if (below(&r, 3) == 0) {
				size_t n = child_size(&r) + 1, keep = n < b->req ? n : b->req;
				unsigned char *q = realloc(b->p, hide(n));

				/* the head survives (the middle was never written) */
				if (!q || check_range(q, 0, keep < 128 ? keep : 128, b->seed) != SIZE_MAX)
					return 31;
				fill_ends(q, n, b->seed);
				b->p = q;
				b->req = n;
				continue;
			}
			free(b->p);
		}
		b->req = child_size(&r);
		b->p = below(&r, 4) ? malloc(hide(b->req)) : calloc(1, hide(b->req));
		if (!b->p)
			return 32;
		b->seed = rnd(&r);
		fill_ends(b->p, b->req, b->seed);
	}
	/* a thread in the child too */
	if (pthread_create(&t, NULL, child_worker, &seed) != 0)
		return 33;
	pthread_join(t, &tr);
	if (tr != NULL)
		return 34;
	for (int i = 0; i < 256; i++) {
		if (s[i].p && check_ends(s[i].p, s[i].req, s[i].seed) != SIZE_MAX)
			return 35;
		free(s[i].p);
	}
	return 0;
}

static void test_fork_while_allocating(void **state)
{
	enum { WORKERS = 4, FORKS = 8 };
	pthread_t t[WORKERS];
	uint64_t seeds[WORKERS];
	(void)state;

	reset_thread_failures();
	atomic_store(&fork_stop, 0);
	for (int i = 0; i < WORKERS; i++) {
		seeds[i] = base_seed + 1000003 * (uint64_t)i;
		CHECK(pthread_create(&t[i], NULL, fork_worker, &seeds[i]) == 0, "pthread_create");
	}
	struct timespec t0, t1;
	double child_ms = 0;

	for (int f = 0; f < FORKS; f++) {
		pid_t pid;
		int status = 0;
		struct timespec ts = {0, 3000000};
		void *mine = malloc(hide(100));

		nanosleep(&ts, NULL); /* let the workers get deep into the allocator */
		fflush(NULL);
		pid = fork();
		CHECK(pid >= 0, "fork failed");
		if (pid == 0) {
			int rc;

			alarm(20); /* a deadlock in the child ends as SIGALRM */
			rc = fork_child(base_seed + (uint64_t)f);
			free(mine);
			exit(rc); /* exit(), not _exit(): at-exit handlers run in the child too */
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		free(mine);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		child_ms += (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "fork #%d while %d threads allocate: child %s %d%s", f, WORKERS,
		      WIFEXITED(status) ? "exited with" : "killed by signal",
		      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		      WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM ? " (SIGALRM: deadlocked for 20 s)" :
		      WIFEXITED(status) ? " (a numbered check in fork_child)" : "");
	}
	atomic_store(&fork_stop, 1);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	print_message("[ info     ] %d forks, a child lived %.0f ms on average\n", FORKS, child_ms / FORKS);
	assert_no_thread_failures("allocating threads across fork");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_which_malloc),
		cmocka_unit_test(test_every_size),
		cmocka_unit_test(test_aligned_family),
		cmocka_unit_test(test_aligned_dense),
		cmocka_unit_test(test_bad_alignment),
		cmocka_unit_test(test_memalign_glibc),
		cmocka_unit_test(test_mallinfo),
		cmocka_unit_test(test_malloc_info),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_zero_sizes),
		cmocka_unit_test(test_realloc_ladder),
		cmocka_unit_test(test_realloc_random),
		cmocka_unit_test(test_realloc_failure_keeps_block),
		cmocka_unit_test(test_reallocarray),
		cmocka_unit_test(test_usable_size),
		cmocka_unit_test(test_free_preserves_errno),
		cmocka_unit_test(test_calloc_after_dirty_free),
		cmocka_unit_test(test_libc_internal_allocations),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_thread_exit),
		cmocka_unit_test(test_cross_thread_free),
		cmocka_unit_test(test_fork_while_allocating),
	};
	const char *e = getenv("KMEM_DROPIN_EXPECT"), *seed = getenv("KMEM_TEST_SEED");

	const char *preload = getenv("KMEM_DROPIN_PRELOAD"), *cur = getenv("LD_PRELOAD");

	if (argc > 1 && strcmp(argv[1], "--stats-child") == 0)
		return stats_child();
	/* KMEM_DROPIN_PRELOAD=lib.so: run again with LD_PRELOAD=lib.so (set
	 * here rather than by meson, so that the Valgrind skip above comes first) */
	if (preload && *preload && (!cur || !strstr(cur, preload))) {
		setenv("LD_PRELOAD", preload, 1);
		execv("/proc/self/exe", argv);
		perror("execv /proc/self/exe");
		return 1;
	}
	expect_name = e ? e : DROPIN_DEFAULT_EXPECT;
	if (strcmp(expect_name, "kmem") != 0 && strcmp(expect_name, "glibc") != 0) {
		fprintf(stderr, "KMEM_DROPIN_EXPECT must be kmem or glibc, not %s\n", expect_name);
		return 2;
	}
	expect_kmem = strcmp(expect_name, "kmem") == 0;
	base_seed = seed ? strtoull(seed, NULL, 0) : 20240607;
	printf("[ seed     ] KMEM_TEST_SEED=%llu, expecting %s's malloc\n", (unsigned long long)base_seed,
	       expect_name);
	build_sizes();
	if (getenv("KMEM_DROPIN_FILTER")) /* e.g. KMEM_DROPIN_FILTER='test_fork*' */
		cmocka_set_test_filter(getenv("KMEM_DROPIN_FILTER"));
	return cmocka_run_group_tests_name(expect_kmem ? "drop-in conformance (kmem)" : "drop-in conformance (glibc)",
					   tests, NULL, NULL);
}
