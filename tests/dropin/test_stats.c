/* test_stats.c - glibc's statistics calls on the drop-in: mallinfo2,
 * mallinfo, malloc_stats and malloc_info report kmem's heap, with the
 * numbers kmem_malloc_stats("heap") gives, as the README's field table maps
 * them; they follow allocations and frees; mallinfo truncates as glibc's
 * does; malloc_info's XML parses (here and with python3's xml.etree,
 * check_malloc_info.py) and its totals are mallinfo2's; the calls are safe
 * from any thread while others allocate, and as the first call of the
 * process, before the heap has started.
 *
 * Run twice (tests/dropin/meson.build): linked with libkmem-malloc.a
 * (static), and the plain build under LD_PRELOAD=libkmem-malloc.so
 * (KMEM_DROPIN_PRELOAD: the test sets LD_PRELOAD and re-executes); the
 * plain build finds kmem_malloc_stats with dlsym, and fails if kmem does not
 * serve the process), and static again under an address-space limit
 * (TEST_STATS_AS_LIMIT: the heap grows by regions mapped block by block,
 * often while the statistics are read). test_conformance.c checks the glibc-shaped behaviour
 * against glibc itself.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
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

#include <kmem/malloc.h>

#include "dropin_check.h"
#include "dropin_util.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* mallinfo, since glibc 2.33 */
static struct mallinfo old_mallinfo(void)
{
	return mallinfo();
}
#pragma GCC diagnostic pop

static const char *test_dir; /* this source's directory (check_malloc_info.py) */

/* ---- the first call of the process: a statistics call --------------------------- */

/* Taken by a constructor that runs before the static drop-in's own (init
 * priority 102; the drop-in's is the default, later): the heap starts in
 * mallinfo2. In the preload run the library's constructors come first. */
static struct mallinfo2 first_m;
static int first_info_rc = -1;
static char first_xml[8192];

__attribute__((constructor(102))) static void first_call(void)
{
	FILE *f;

	first_m = mallinfo2();
	f = fmemopen(first_xml, sizeof(first_xml) - 1, "w");
	if (f) {
		first_info_rc = malloc_info(0, f);
		fclose(f);
	}
}

/* kmem_malloc_stats: linked (static) or the preloaded library's. */
typedef int stats_fn(const char *what, char *buf, size_t len);

static stats_fn *heap_stats(void)
{
#ifdef TEST_STATIC
	return kmem_malloc_stats;
#else
	stats_fn *f;
	void *sym = dlsym(RTLD_DEFAULT, "kmem_malloc_stats");

	memcpy(&f, &sym, sizeof(f));
	return f;
#endif
}

/* The value of "name value" line `name` in kmem_malloc_stats("heap"). */
static size_t heap_stat(const char *buf, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, nl) && p[nl] == ' ')
			return (size_t)strtoull(p + nl + 1, NULL, 10);
	CHECK(0, "no line '%s' in kmem_malloc_stats(\"heap\"):\n%s", name, buf);
	return 0;
}

struct heap_numbers {
	size_t mapped, used_pages, released_pages, dirty_pages, huge_blocks, huge_bytes;
};

static struct heap_numbers read_heap(void)
{
	char buf[2048];
	stats_fn *f = heap_stats();
	struct heap_numbers h;
	int n;

	CHECK(f != NULL, "kmem_malloc_stats not found: kmem's drop-in does not serve this process");
	n = f("heap", buf, sizeof(buf));
	CHECK(n > 0 && (size_t)n < sizeof(buf), "kmem_malloc_stats(\"heap\") returned %d", n);
	h.mapped = heap_stat(buf, "mapped_bytes");
	h.used_pages = heap_stat(buf, "used_pages");
	h.released_pages = heap_stat(buf, "released_pages");
	h.dirty_pages = heap_stat(buf, "dirty_pages");
	h.huge_blocks = heap_stat(buf, "huge_blocks");
	h.huge_bytes = heap_stat(buf, "huge_bytes");
	return h;
}

static int same_info(const struct mallinfo2 *a, const struct mallinfo2 *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* mallinfo2 and kmem_malloc_stats("heap") from one quiet moment: mallinfo2
 * read before and after the heap numbers, until both readings agree (a
 * reaper pass may run in between). */
static void snapshot(struct mallinfo2 *m, struct heap_numbers *h)
{
	for (int i = 0; i < 20; i++) {
		struct mallinfo2 again;

		*m = mallinfo2();
		*h = read_heap();
		again = mallinfo2();
		if (same_info(m, &again))
			return;
	}
	CHECK(0, "mallinfo2 never read the same twice in a row in a one-thread program");
}

/* The README's mapping: arena = mapped_bytes; hblks, hblkhd = huge_blocks,
 * huge_bytes; uordblks = live slab objects + live page blocks, inside the
 * used frames; fordblks = free slab objects (inside the used frames) + free
 * frames, which are the resident ones (keepcost) and the released pool;
 * used + free frames = the mapped arena. */
static void check_mapping(const struct mallinfo2 *m, const struct heap_numbers *h, const char *when)
{
	size_t used = h->used_pages * PAGE, released = h->released_pages * PAGE;
	size_t free_frames = m->keepcost + released, free_objs;

	print_message("[ info     ] %s: arena %zu uordblks %zu fordblks %zu keepcost %zu hblks %zu hblkhd %zu "
		      "ordblks %zu smblks %zu fsmblks %zu | heap: mapped %zu used %zu released %zu dirty %zu\n",
		      when, m->arena, m->uordblks, m->fordblks, m->keepcost, m->hblks, m->hblkhd, m->ordblks,
		      m->smblks, m->fsmblks, h->mapped, used, released, h->dirty_pages * PAGE);
	CHECK(m->arena == h->mapped, "%s: arena %zu, mapped_bytes %zu", when, m->arena, h->mapped);
	CHECK(m->hblks == h->huge_blocks && m->hblkhd == h->huge_bytes,
	      "%s: hblks %zu hblkhd %zu, huge_blocks %zu huge_bytes %zu", when, m->hblks, m->hblkhd,
	      h->huge_blocks, h->huge_bytes);
	CHECK(m->usmblks == 0, "%s: usmblks %zu", when, m->usmblks);
	CHECK(free_frames <= m->fordblks, "%s: free frames %zu (keepcost + released) > fordblks %zu", when,
	      free_frames, m->fordblks);
	free_objs = m->fordblks - free_frames;
	CHECK(m->uordblks + free_objs <= used,
	      "%s: uordblks %zu + free slab objects %zu > the used frames' %zu bytes", when, m->uordblks,
	      free_objs, used);
	CHECK(used + free_frames == m->arena, "%s: used frames %zu + free frames %zu != arena %zu", when, used,
	      free_frames, m->arena);
	CHECK(m->keepcost <= h->dirty_pages * PAGE, "%s: keepcost %zu > dirty frames %zu", when, m->keepcost,
	      h->dirty_pages * PAGE);
	CHECK(m->fsmblks <= free_objs, "%s: fsmblks %zu > free slab objects %zu", when, m->fsmblks, free_objs);
}

/* ---- tests ------------------------------------------------------------------------- */

/* The constructor's call started the heap and read it. */
static void test_first_call(void **state)
{
	char root[16] = "";
	const char *bad;

	(void)state;
	print_message("[ info     ] first call: arena %zu uordblks %zu fordblks %zu\n", first_m.arena,
		      first_m.uordblks, first_m.fordblks);
	CHECK(first_m.arena > 0, "mallinfo2 as the first call: arena 0 (the heap did not start?)");
	CHECK(first_m.uordblks + first_m.fordblks <= first_m.arena, "first call: uordblks %zu + fordblks %zu > arena %zu",
	      first_m.uordblks, first_m.fordblks, first_m.arena);
	CHECK(first_info_rc == 0, "malloc_info in a constructor returned %d", first_info_rc);
	bad = xml_check(first_xml, root, sizeof(root));
	CHECK(bad == NULL && !strcmp(root, "malloc"), "malloc_info in a constructor: %s:\n%s", bad ? bad : root,
	      first_xml);
}

#define N_SMALL 4000	/* 700 bytes each: slab objects */
#define N_PAGES 50	/* 200 KiB each: page blocks */
#define HUGE ((size_t)48 << 20)	/* its own mapping */

/* mallinfo2 follows allocations and frees, and says what
 * kmem_malloc_stats("heap") says, at each step. */
static void test_matches_heap_stats(void **state)
{
	static void *small[N_SMALL], *pages[N_PAGES];
	struct mallinfo2 m0, m1, m2, m3;
	struct heap_numbers h;
	void *huge;
	size_t asked_small = (size_t)N_SMALL * 700, asked_pages = (size_t)N_PAGES * 200 * KiB;

	(void)state;
	snapshot(&m0, &h);
	check_mapping(&m0, &h, "at start");
	for (int i = 0; i < N_SMALL; i++) {
		small[i] = malloc(hide(700));
		CHECK(small[i] != NULL, "malloc(700)");
		memset(small[i], 1, 700);
	}
	for (int i = 0; i < N_PAGES; i++) {
		pages[i] = malloc(hide(200 * KiB));
		CHECK(pages[i] != NULL, "malloc(200 KiB)");
		memset(pages[i], 2, 200 * KiB);
	}
	huge = malloc(hide(HUGE));
	CHECK(huge != NULL, "malloc(48 MiB)");
	snapshot(&m1, &h);
	check_mapping(&m1, &h, "allocated");
	/* page blocks count at their usable size (256 KiB for 200 KiB),
	 * slab objects at their class size (768 for 700) */
	CHECK(m1.uordblks >= m0.uordblks + asked_small + asked_pages,
	      "uordblks %zu -> %zu after %zu bytes were handed out", m0.uordblks, m1.uordblks,
	      asked_small + asked_pages);
	CHECK(m1.uordblks <= m0.uordblks + 2 * (asked_small + asked_pages),
	      "uordblks %zu -> %zu: more than twice the %zu bytes handed out", m0.uordblks, m1.uordblks,
	      asked_small + asked_pages);
	CHECK(m1.hblks == m0.hblks + 1 && m1.hblkhd >= m0.hblkhd + HUGE, "hblks %zu -> %zu, hblkhd %zu -> %zu",
	      m0.hblks, m1.hblks, m0.hblkhd, m1.hblkhd);
	free(huge);
	for (int i = 0; i < N_PAGES; i++)
		free(pages[i]);
	snapshot(&m2, &h);
	check_mapping(&m2, &h, "page blocks freed");
	CHECK(m2.hblks == m0.hblks && m2.hblkhd == m0.hblkhd, "huge block freed: hblks %zu hblkhd %zu, at start %zu %zu",
	      m2.hblks, m2.hblkhd, m0.hblks, m0.hblkhd);
	CHECK(m2.uordblks + asked_pages <= m1.uordblks, "uordblks %zu -> %zu after %zu bytes of page blocks were freed",
	      m1.uordblks, m2.uordblks, asked_pages);
	for (int i = 0; i < N_SMALL; i++)
		free(small[i]);
	snapshot(&m3, &h);
	check_mapping(&m3, &h, "all freed");
	/* the thread's magazines keep some objects counted as in use (as
	 * glibc's tcache): at most two magazines of 30 */
	CHECK(m3.uordblks + asked_small - 64 * 768 <= m2.uordblks,
	      "uordblks %zu -> %zu after %d blocks of 700 bytes were freed", m2.uordblks, m3.uordblks, N_SMALL);
	CHECK(m3.fordblks > m2.fordblks, "fordblks %zu -> %zu after frees", m2.fordblks, m3.fordblks);
}

/* mallinfo is mallinfo2 truncated to int as glibc truncates it: the low 32
 * bits, a number above INT_MAX wrapping (a block of 2.5 GiB: hblkhd). */
static void test_mallinfo_truncates(void **state)
{
	size_t big = (size_t)5 << 29; /* 2.5 GiB, mapped and never touched */
	struct mallinfo2 m, again;
	struct mallinfo o;
	void *p;

	(void)state;
	p = malloc(hide(big));
	if (!p) {
		print_message("[ info     ] malloc(2.5 GiB) failed (%s): the wrap is not checked\n", strerror(errno));
		skip();
	}
	for (int i = 0;; i++) {
		m = mallinfo2();
		o = old_mallinfo();
		again = mallinfo2();
		if (same_info(&m, &again))
			break;
		CHECK(i < 20, "mallinfo2 never read the same twice in a row");
	}
	print_message("[ info     ] with 2.5 GiB: mallinfo2 hblkhd %zu, mallinfo hblkhd %d\n", m.hblkhd, o.hblkhd);
	CHECK(m.hblkhd >= big, "hblkhd %zu < 2.5 GiB", m.hblkhd);
	CHECK(o.hblkhd == (int)(uint32_t)m.hblkhd && o.hblkhd < 0,
	      "mallinfo().hblkhd %d, want mallinfo2's %zu truncated as glibc does: %d", o.hblkhd, m.hblkhd,
	      (int)(uint32_t)m.hblkhd);
	CHECK(o.arena == (int)(uint32_t)m.arena && o.uordblks == (int)(uint32_t)m.uordblks &&
		      o.fordblks == (int)(uint32_t)m.fordblks && o.hblks == (int)m.hblks &&
		      o.ordblks == (int)(uint32_t)m.ordblks && o.keepcost == (int)(uint32_t)m.keepcost,
	      "mallinfo differs from mallinfo2 beyond the truncation");
	free(p);
}

static int call_malloc_info(FILE *fp)
{
	return malloc_info(0, fp);
}

static int call_malloc_stats(FILE *fp)
{
	(void)fp;
	malloc_stats();
	return 0;
}

/* The number after "label = " in malloc_stats' text, from `from` on;
 * SIZE_MAX if there is none. */
static size_t stats_number(const char *txt, const char *from, const char *label)
{
	const char *s = strstr(txt, from), *l;
	char *end;
	size_t v;

	if (!s || !(l = strstr(s, label)) || !(l = strchr(l, '=')))
		return SIZE_MAX;
	v = (size_t)strtoull(l + 1, &end, 10);
	return end == l + 1 || (*end != '\n' && *end) ? SIZE_MAX : v;
}

/* malloc_info's totals are mallinfo2's numbers, its XML parses with
 * python3's xml.etree (check_malloc_info.py: glibc's structure, every
 * number an integer, sizes inside fordblks); malloc_stats prints glibc's
 * lines with mallinfo2's numbers. A 48 MiB block is live meanwhile, so the
 * mmap lines are not zero. */
static void test_info_and_stats_numbers(void **state)
{
	struct mallinfo2 m;
	char *xml, *txt, root[16] = "";
	const char *bad;
	int rc;
	void *huge;

	(void)state;
	huge = malloc(hide(HUGE));
	CHECK(huge != NULL, "malloc(48 MiB)");
	xml = capture(call_malloc_info, 0, &rc);
	CHECK(rc == 0, "malloc_info(0, fp) returned %d", rc);
	txt = capture(call_malloc_stats, 1, &rc);
	/* the captures allocated a little meanwhile (a FILE, its buffer, the
	 * text): the byte counts below are compared within 64 KiB, the
	 * mapping and huge numbers exactly */
	m = mallinfo2();
	print_message("[ info     ] malloc_stats:\n%s", txt);
	bad = xml_check(xml, root, sizeof(root));
	CHECK(bad == NULL && !strcmp(root, "malloc"), "malloc_info: %s:\n%s", bad ? bad : root, xml);
	CHECK(xml_number(xml, "<malloc ", "version") == 1, "no <malloc version=\"1\">:\n%s", xml);
	CHECK(xml_number(xml, "<system type=\"current\"", "size") == m.arena, "system current %zu, arena %zu:\n%s",
	      xml_number(xml, "<system type=\"current\"", "size"), m.arena, xml);
	CHECK(xml_number(xml, "<total type=\"mmap\"", "count") == m.hblks &&
		      xml_number(xml, "<total type=\"mmap\"", "size") == m.hblkhd,
	      "total mmap: count %zu size %zu, hblks %zu hblkhd %zu", xml_number(xml, "<total type=\"mmap\"", "count"),
	      xml_number(xml, "<total type=\"mmap\"", "size"), m.hblks, m.hblkhd);
	{
		size_t fast = xml_number(xml, "<total type=\"fast\"", "size");
		size_t rest = xml_number(xml, "<total type=\"rest\"", "size");
		size_t d = fast + rest > m.fordblks ? fast + rest - m.fordblks : m.fordblks - fast - rest;

		CHECK(d <= 64 * KiB, "fast %zu + rest %zu vs fordblks %zu", fast, rest, m.fordblks);
	}
	{
		char path[] = "/tmp/kmem-malloc-info-XXXXXX", cmd[1024];
		int fd = mkstemp(path);

		CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
		CHECK(write(fd, xml, strlen(xml)) == (ssize_t)strlen(xml), "write");
		close(fd);
		if (system("command -v python3 > /dev/null 2>&1") != 0) {
			unlink(path);
			print_message("[ info     ] no python3: malloc_info parsed by the small checker only\n");
		} else {
			snprintf(cmd, sizeof(cmd), "python3 %s/check_malloc_info.py %s %zu %zu %zu", test_dir, path,
				 m.arena, m.hblks, m.hblkhd);
			rc = system(cmd);
			unlink(path);
			CHECK(rc == 0, "check_malloc_info.py rejects malloc_info's output (%d):\n%s", rc, xml);
		}
	}
	{
		size_t sys0 = stats_number(txt, "Arena 0:", "system bytes"),
		       use0 = stats_number(txt, "Arena 0:", "in use bytes"),
		       sys = stats_number(txt, "Total (incl. mmap):", "system bytes"),
		       use = stats_number(txt, "Total (incl. mmap):", "in use bytes"),
		       maxn = stats_number(txt, "Total (incl. mmap):", "max mmap regions"),
		       maxb = stats_number(txt, "Total (incl. mmap):", "max mmap bytes");
		size_t d = use0 > m.uordblks ? use0 - m.uordblks : m.uordblks - use0;

		CHECK(sys0 != SIZE_MAX && use0 != SIZE_MAX && sys != SIZE_MAX && use != SIZE_MAX && maxn != SIZE_MAX &&
			      maxb != SIZE_MAX,
		      "malloc_stats: a line without its number:\n%s", txt);
		CHECK(sys0 == m.arena && sys == m.arena + m.hblkhd, "malloc_stats system bytes %zu, %zu; arena %zu hblkhd %zu",
		      sys0, sys, m.arena, m.hblkhd);
		CHECK(d <= 64 * KiB && use == use0 + m.hblkhd, "malloc_stats in use %zu, total %zu; uordblks %zu hblkhd %zu",
		      use0, use, m.uordblks, m.hblkhd);
		CHECK(maxn >= 1 && maxb >= HUGE, "max mmap regions %zu bytes %zu with a 48 MiB block live", maxn, maxb);
	}
	free(huge);
	free(xml);
	free(txt);
}

/* ---- from any thread ------------------------------------------------------------- */

#define WORKERS 4
static atomic_int stop_workers;

static void *worker(void *arg)
{
	uint64_t x = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;
	void *slot[256] = { 0 };

	while (!atomic_load(&stop_workers)) {
		for (int k = 0; k < 64; k++) {
			unsigned i;
			size_t size;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			i = (unsigned)(x % 256);
			size = (x >> 8) % 64 == 0 ? (size_t)((x >> 16) % (1024 * KiB)) + 9 * KiB
						   : (size_t)((x >> 16) % 2048) + 1;
			if ((x >> 40) % 512 == 0)
				size = (size_t)40 << 20; /* now and then a huge block */
			free(slot[i]);
			slot[i] = malloc(size);
			if (slot[i])
				memset(slot[i], (int)i, size < 64 ? size : 64);
		}
	}
	for (int i = 0; i < 256; i++)
		free(slot[i]);
	return NULL;
}

struct reader {
	unsigned id;
	char *bad; /* what went wrong (malloc'd), or NULL */
	unsigned calls;
};

static char *xml_buf;

static void *reader(void *arg)
{
	struct reader *r = arg;
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct mallinfo2 m = mallinfo2();
		struct mallinfo o = old_mallinfo();
		char *buf = NULL, root[16];
		size_t len = 0;
		FILE *f;
		const char *why;

		(void)o;
		/* the snapshot's parts are read one after another: a slab
		 * released between them may count twice (8 MiB of slack), but
		 * a region added meanwhile must not (arena is read last) */
		if (m.uordblks > m.arena + 8 * MiB || m.fordblks > m.arena + 8 * MiB ||
		    m.hblkhd < m.hblks * (32 * MiB) || m.keepcost > m.fordblks || m.fsmblks > m.fordblks) {
			if (asprintf(&r->bad, "mallinfo2 from a thread: arena %zu uordblks %zu fordblks %zu hblks %zu "
					      "hblkhd %zu keepcost %zu fsmblks %zu",
				     m.arena, m.uordblks, m.fordblks, m.hblks, m.hblkhd, m.keepcost, m.fsmblks) < 0)
				r->bad = NULL;
			return NULL;
		}
		f = open_memstream(&buf, &len);
		if (!f || malloc_info(0, f) != 0 || fclose(f) != 0) {
			r->bad = strdup("malloc_info to a memory stream failed");
			return NULL;
		}
		why = xml_check(buf, root, sizeof(root));
		if (why) {
			if (asprintf(&r->bad, "malloc_info from a thread: %s:\n%s", why, buf) < 0)
				r->bad = NULL;
			free(buf);
			return NULL;
		}
		if (r->id == 0) {
			free(xml_buf);
			xml_buf = buf;
		} else {
			free(buf);
		}
		r->calls++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 400000000L);
	return NULL;
}

/* mallinfo2, mallinfo and malloc_info from two threads while four others
 * allocate and free (small, page and huge blocks): each reading within the
 * bounds that hold at any moment, each XML text well formed; then the
 * heap's checker passes. */
static void test_from_threads(void **state)
{
	pthread_t w[WORKERS], rd[2];
	struct reader r[2] = { { 0, NULL, 0 }, { 1, NULL, 0 } };
	stats_fn *f = heap_stats();
	char buf[256];

	(void)state;
	atomic_store(&stop_workers, 0);
	for (unsigned i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0, "pthread_create");
	for (unsigned i = 0; i < 2; i++)
		CHECK(pthread_create(&rd[i], NULL, reader, &r[i]) == 0, "pthread_create");
	for (unsigned i = 0; i < 2; i++)
		pthread_join(rd[i], NULL);
	atomic_store(&stop_workers, 1);
	for (unsigned i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	print_message("[ info     ] %u and %u statistics readings while %d threads allocated\n", r[0].calls, r[1].calls,
		      WORKERS);
	for (unsigned i = 0; i < 2; i++)
		CHECK(r[i].bad == NULL, "%s", r[i].bad);
	CHECK(r[0].calls > 0 && r[1].calls > 0, "no reading finished");
	free(xml_buf);
	xml_buf = NULL;
	CHECK(f != NULL, "kmem_malloc_stats not found");
	{
		/* kmem_malloc_check through the same route */
#ifdef TEST_STATIC
		int c = kmem_malloc_check();
#else
		int (*chk)(void);
		void *sym = dlsym(RTLD_DEFAULT, "kmem_malloc_check");
		int c;

		memcpy(&chk, &sym, sizeof(chk));
		CHECK(chk != NULL, "kmem_malloc_check not found");
		c = chk();
#endif
		CHECK(c == 0, "kmem_malloc_check() = %d after the threads", c);
	}
	CHECK(f("heap", buf, sizeof(buf)) > 0, "kmem_malloc_stats(heap)");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_call),
		cmocka_unit_test(test_matches_heap_stats),
		cmocka_unit_test(test_mallinfo_truncates),
		cmocka_unit_test(test_info_and_stats_numbers),
		cmocka_unit_test(test_from_threads),
	};
	const char *preload = getenv("KMEM_DROPIN_PRELOAD"), *cur = getenv("LD_PRELOAD");

	/* KMEM_DROPIN_PRELOAD=lib.so: run again with LD_PRELOAD=lib.so */
	if (preload && *preload && (!cur || !strstr(cur, preload))) {
		setenv("LD_PRELOAD", preload, 1);
		execv("/proc/self/exe", argv);
		perror("execv /proc/self/exe");
		return 1;
	}
	/* TEST_STATS_AS_LIMIT=bytes: run again under that RLIMIT_AS, so the
	 * heap starts and grows under an address-space limit (regions mapped
	 * block by block, small first region) */
	if (getenv("TEST_STATS_AS_LIMIT")) {
		struct rlimit rl;
		rlim_t want = (rlim_t)strtoull(getenv("TEST_STATS_AS_LIMIT"), NULL, 0);

		if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur > want) {
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_AS, &rl) != 0) {
				perror("setrlimit");
				return 1;
			}
			execv("/proc/self/exe", argv);
			perror("execv /proc/self/exe");
			return 1;
		}
		printf("[ info     ] under RLIMIT_AS %llu\n", (unsigned long long)want);
	}
	test_dir = argc > 1 ? argv[1] : ".";
	return cmocka_run_group_tests_name("drop-in statistics calls", tests, NULL, NULL);
}
