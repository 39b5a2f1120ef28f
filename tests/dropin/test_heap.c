/* test_heap.c - how the drop-in heap (libkmem-malloc.a, linked in) gives
 * memory back and takes it again: the released pool, the release policy,
 * kmem_malloc_trim, the "heap" statistics and the heap checker.
 *
 * Run twice (tests/dropin/meson.build): with the lazy reaper thread
 * (default) and with KMEM_REAPER=0 (release passes run in the freeing
 * thread either way; the reaper only reclaims). Only kmem-specific
 * behaviour: test_conformance.c covers the C
 * API against glibc. Sizes and counts are deterministic; nothing is timed
 * except waits that poll (up to seconds) for the reaper or the decay.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <kmem/malloc.h>

#include <malloc.h>

#include "dropin_check.h"
#include "dropin_util.h"

/* C23's sized frees (glibc 2.36 declares none): the drop-in's */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define PAGE ((size_t)4096)

/* The value of "name value" line `name` in kmem_malloc_stats(what). */
static size_t stat_of(const char *what, const char *name)
{
	static char buf[64 << 10];
	size_t nl = strlen(name);
	int n = kmem_malloc_stats(what, buf, sizeof(buf));

	CHECK(n > 0 && (size_t)n < sizeof(buf), "kmem_malloc_stats(%s) returned %d", what, n);
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, nl) && p[nl] == ' ')
			return (size_t)strtoull(p + nl + 1, NULL, 10);
	CHECK(0, "no line '%s' in kmem_malloc_stats(%s):\n%s", name, what, buf);
	return 0;
}

static void heap_ok(void)
{
	CHECK(kmem_malloc_check() == 0, "kmem_malloc_check failed (see stderr)");
}

static void touch(unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i += PAGE)
		p[i] = v;
	p[n - 1] = v;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- the statistics -------------------------------------------------------------- */

static void test_heap_stats(void **state)
{
	(void)state;
	char small[8];
	size_t used0, used1, dirty1, rsv;
	void *p;

	heap_ok();
	CHECK(kmem_malloc_stats("no-such-thing", small, sizeof(small)) == -1, "unknown what accepted");
	CHECK(kmem_malloc_stats("heap", small, sizeof(small)) > (int)sizeof(small),
	      "a short buffer must give the length the text needs");
	CHECK(strlen(small) == sizeof(small) - 1, "a short buffer must be filled and terminated");
	CHECK(stat_of("heap", "arena_bytes") >= 256 * MiB, "arena below the documented minimum");
	CHECK(stat_of("heap", "high_pages") == 8 * MiB / PAGE, "KMEM_HIGH default is 8 MiB");
	used0 = stat_of("heap", "used_pages");
	p = malloc(hide(1 * MiB)); /* a page block of exactly 256 frames */
	CHECK(p != NULL, "malloc(1 MiB)");
	used1 = stat_of("heap", "used_pages");
	dirty1 = stat_of("heap", "dirty_pages");
	CHECK(used1 == used0 + 256, "used_pages %zu -> %zu after malloc(1 MiB): +256 expected", used0, used1);
	CHECK(dirty1 >= used1, "dirty_pages %zu below used_pages %zu: a live frame must count as dirty",
	      dirty1, used1);
	CHECK(stat_of("heap", "peak_pages") >= used1, "peak below used");
	free(p);
	CHECK(stat_of("heap", "used_pages") == used0, "used_pages not back after free");
	p = malloc(hide(64 * MiB)); /* over 32 MiB: its own mapping */
	CHECK(p != NULL, "malloc(64 MiB)");
	CHECK(stat_of("heap", "huge_blocks") >= 1 && stat_of("heap", "huge_bytes") >= 64 * MiB,
	      "a 64 MiB block must show as huge");
	free(p);
	rsv = stat_of("heap", "released_pages");
	CHECK(rsv * PAGE <= stat_of("heap", "mapped_bytes"), "released pool larger than the mapped arena");
	heap_ok();
}

/* ---- page blocks --------------------------------------------------------------- */

/* Page blocks are whole powers of two, aligned to their size; a realloc
 * shrinking one to a quarter or less trims it in place (the frames asked
 * for, rounded up to an eighth of their power of two), a smaller shrink
 * keeps it as it is, and growth moves to a new block. */
static void test_page_blocks(void **state)
{
	(void)state;
	size_t used0 = stat_of("heap", "used_pages"), u;
	unsigned char *p, *q;

	p = malloc(hide(1 * MiB + 1)); /* 257 frames: a 512-frame block */
	CHECK(p != NULL, "malloc(1 MiB + 1)");
	CHECK(((uintptr_t)p & (2 * MiB - 1)) == 0, "a page block is aligned to its size");
	CHECK(malloc_usable_size(p) == 2 * MiB, "usable %zu, 2 MiB expected", malloc_usable_size(p));
	u = stat_of("heap", "used_pages");
	CHECK(u == used0 + 512, "used_pages +%zu, 512 expected", u - used0);
	memset(p, 0x5a, malloc_usable_size(p)); /* all of it is usable */
	q = realloc(p, hide(600 * KiB)); /* over a quarter: kept as it is */
	CHECK(q == p && malloc_usable_size(q) == 2 * MiB, "realloc to 600 KiB: usable %zu",
	      malloc_usable_size(q));
	/* a quarter or less: trimmed in place to 50 frames -> 56 (an eighth of 64) */
	q = realloc(p, hide(200 * KiB));
	CHECK(q == p, "realloc shrinking a page block must stay in place");
	CHECK(malloc_usable_size(q) == 224 * KiB, "usable %zu after shrinking to 200 KiB, 224 KiB expected",
	      malloc_usable_size(q));
	for (size_t i = 0; i < 224 * KiB; i++)
		CHECK(q[i] == 0x5a, "byte %zu changed by the shrink", i);
	u = stat_of("heap", "used_pages");
	CHECK(u == used0 + 56, "used_pages +%zu after the shrink, 56 expected", u - used0);
	heap_ok();
	/* a trimmed block shrinks again: 10 frames, 40 KiB */
	q = realloc(p, hide(40 * KiB));
	CHECK(q == p && malloc_usable_size(q) == 40 * KiB, "second shrink: usable %zu",
	      malloc_usable_size(q));
	CHECK(stat_of("heap", "used_pages") == used0 + 10, "used_pages after the second shrink");
	heap_ok();
	/* growth: a new block, contents kept */
	p = realloc(q, hide(300 * KiB));
	CHECK(p != NULL && malloc_usable_size(p) == 512 * KiB, "realloc growing to 300 KiB: usable %zu",
	      p ? malloc_usable_size(p) : 0);
	for (size_t i = 0; i < 40 * KiB; i++)
		CHECK(p[i] == 0x5a, "byte %zu lost by the move", i);
	q = realloc(p, hide(400 * KiB)); /* fits: in place */
	CHECK(q == p, "growth within the block must stay in place");
	free(q);
	/* aligned: a block of the alignment's order */
	p = aligned_alloc(1 * MiB, hide(64 * KiB));
	CHECK(p != NULL && ((uintptr_t)p & (1 * MiB - 1)) == 0, "aligned_alloc(1 MiB, 64 KiB)");
	free(p);
	CHECK(stat_of("heap", "used_pages") == used0, "used_pages not back");
	heap_ok();
}

/* Sizes over 8 KiB up to 14 KiB are slab objects of the fine table's
 * classes (decision 39): 8,224 bytes (a power of two and a header) take
 * 9 KiB, not a 16 KiB page block; realloc keeps an object within its class
 * down to half of it and moves it across classes; over 14 KiB, and aligned
 * requests over 8 KiB, are page blocks as before. */
static void test_classes_over_8k(void **state)
{
	static const size_t want[][2] = {
		{ 8193, 9216 }, { 8224, 9216 }, { 9217, 10240 }, { 12000, 12288 }, { 14336, 14336 },
		{ 14337, 16384 }, { 4368, 4608 }, { 1032, 1152 },
	};
	unsigned char *p, *q;

	(void)state;
	p = malloc(hide(8193));
	CHECK(p != NULL, "malloc(8193)");
	if (malloc_usable_size(p) == 16 * KiB) { /* built without -Dkmalloc_big: page blocks */
		free(p);
		skip();
	}
	free(p);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		p = malloc(hide(want[i][0]));
		CHECK(p != NULL && malloc_usable_size(p) == want[i][1], "malloc(%zu): usable %zu, %zu expected",
		      want[i][0], p ? malloc_usable_size(p) : 0, want[i][1]);
		memset(p, 0x5a, malloc_usable_size(p));
		free(p);
	}
	p = malloc(hide(8224)); /* a slab object (a page block's usable size is whole frames) */
	CHECK(p != NULL && malloc_usable_size(p) == 9216, "malloc(8224)");
	memset(p, 0x5a, 8224);
	q = realloc(p, hide(5000)); /* over half of 9216: in place */
	CHECK(q == p && malloc_usable_size(q) == 9216, "realloc to 5000: moved or resized");
	q = realloc(p, hide(4000)); /* under half: the 4 KiB class */
	CHECK(q != NULL && malloc_usable_size(q) == 4096, "realloc to 4000: usable %zu",
	      q ? malloc_usable_size(q) : 0);
	for (size_t i = 0; i < 4000; i++)
		CHECK(q[i] == 0x5a, "byte %zu lost by the move", i);
	p = realloc(q, hide(13000)); /* up: the 14 KiB class */
	CHECK(p != NULL && malloc_usable_size(p) == 14336, "realloc to 13000: usable %zu",
	      p ? malloc_usable_size(p) : 0);
	for (size_t i = 0; i < 4000; i++)
		CHECK(p[i] == 0x5a, "byte %zu lost by the move", i);
	q = realloc(p, hide(20000)); /* past the classes: a page block */
	CHECK(q != NULL && malloc_usable_size(q) == 32 * KiB && ((uintptr_t)q & (32 * KiB - 1)) == 0,
	      "realloc to 20000: usable %zu", q ? malloc_usable_size(q) : 0);
	free(q);
	p = memalign(64, hide(9000)); /* no power-of-two class over 8 KiB: a block */
	CHECK(p != NULL && malloc_usable_size(p) == 16 * KiB && ((uintptr_t)p & (16 * KiB - 1)) == 0,
	      "memalign(64, 9000): usable %zu", p ? malloc_usable_size(p) : 0);
	free(p);
	p = calloc(1, hide(10000)); /* zeroed, from a class */
	CHECK(p != NULL && malloc_usable_size(p) == 10240, "calloc(10000)");
	for (size_t i = 0; i < 10000; i++)
		CHECK(p[i] == 0, "calloc: byte %zu not zero", i);
	free(p);
	heap_ok();
}

/* ---- trim: everything free goes back and into the released pool ------------------- */

static void test_trim(void **state)
{
	(void)state;
	enum { N = 64 };
	unsigned char *b[N];
	size_t rss_full, rss_trim, got, rsv;

	(void)kmem_malloc_trim(0);
	for (int i = 0; i < N; i++) {
		b[i] = malloc(hide(1 * MiB));
		CHECK(b[i] != NULL, "malloc(1 MiB) #%d", i);
		touch(b[i], 1 * MiB, (unsigned char)i);
	}
	rss_full = rss_bytes();
	for (int i = 0; i < N; i++)
		free(b[i]);
	got = kmem_malloc_trim(0);
	rss_trim = rss_bytes();
	rsv = stat_of("heap", "released_pages");
	print_message("[ info     ] 64 MiB freed: trim released %zu KiB, RSS %zu -> %zu KiB, released %zu KiB\n",
		      got / KiB, rss_full / KiB, rss_trim / KiB, rsv * PAGE / KiB);
	CHECK(got >= 60 * MiB, "trim(0) released only %zu KiB of 64 MiB freed", got / KiB);
	CHECK(rss_trim + 56 * MiB <= rss_full, "RSS went only from %zu to %zu KiB", rss_full / KiB,
	      rss_trim / KiB);
	CHECK(rsv * PAGE >= 60 * MiB, "the released blocks must be in the released pool (%zu KiB)",
	      rsv * PAGE / KiB);
	CHECK(stat_of("heap", "dirty_pages") * PAGE + 60 * MiB <= stat_of("heap", "mapped_bytes"),
	      "released frames must no longer count as dirty");
	got = kmem_malloc_trim(0); /* at most what rss_bytes' stdio buffers left */
	CHECK(got < 1 * MiB, "a second trim released %zu KiB more", got / KiB);
	heap_ok();

	/* trim(keep) keeps that much of the dirty free memory resident */
	for (int i = 0; i < 16; i++) {
		b[i] = malloc(hide(1 * MiB));
		CHECK(b[i] != NULL, "malloc(1 MiB) #%d", i);
		touch(b[i], 1 * MiB, 1);
	}
	for (int i = 0; i < 16; i++)
		free(b[i]);
	got = kmem_malloc_trim(8 * MiB);
	CHECK(got >= 6 * MiB && got <= 9 * MiB, "trim(8 MiB) of 16 MiB dirty released %zu KiB", got / KiB);
	heap_ok();
}

/* ---- released blocks come back zeroed: calloc skips the memset, malloc sees zeros - */

static void test_released_zero(void **state)
{
	(void)state;
	const size_t n = 4 * MiB;
	unsigned char *p = malloc(hide(n)), *q;
	size_t nonzero = 0;

	CHECK(p != NULL, "malloc(4 MiB)");
	memset(p, 0xab, n);
	free(p);
	CHECK(kmem_malloc_trim(0) >= n, "trim must release the 4 MiB block");
	q = calloc(1, hide(n));
	CHECK(q != NULL, "calloc(4 MiB)");
	for (size_t i = 0; i < n; i++)
		nonzero += q[i] != 0;
	CHECK(nonzero == 0, "calloc from the released pool: %zu non-zero bytes", nonzero);
	memset(q, 0xcd, n);
	free(q);
	/* dirty and free, no trim: calloc must clear it */
	q = calloc(1, hide(n));
	CHECK(q != NULL, "calloc(4 MiB) again");
	for (size_t i = 0; i < n; i++)
		nonzero += q[i] != 0;
	CHECK(nonzero == 0, "calloc of dirty free memory: %zu non-zero bytes", nonzero);
	free(q);
	heap_ok();
}

/* ---- a big request when the released pool holds only small pieces ----------------- */

static void test_released_fragmented(void **state)
{
	(void)state;
	enum { N = 512 };
	static unsigned char *b[N];
	unsigned char *big, *big2;

	(void)kmem_malloc_trim(0);
	for (int i = 0; i < N; i++) { /* 32 MiB of 64 KiB blocks */
		b[i] = malloc(hide(64 * KiB));
		CHECK(b[i] != NULL, "malloc(64 KiB) #%d", i);
		touch(b[i], 64 * KiB, 7);
	}
	for (int i = 0; i < N; i += 2)
		free(b[i]);
	(void)kmem_malloc_trim(0); /* released: 64 KiB pieces between live ones */
	heap_ok();
	big = malloc(hide(4 * MiB)); /* the largest page block (decision 38) */
	CHECK(big != NULL, "malloc(4 MiB) with a fragmented released pool");
	touch(big, 4 * MiB, 1);
	heap_ok();
	for (int i = 1; i < N; i += 2)
		free(b[i]);
	(void)kmem_malloc_trim(0); /* now the pieces are buddies of each other */
	big2 = malloc(hide(4 * MiB));
	CHECK(big2 != NULL, "malloc(4 MiB) once the pieces can merge");
	touch(big2, 4 * MiB, 2);
	free(big);
	free(big2);
	heap_ok();
}

/* ---- steady large-block traffic reuses dirty memory instead of releasing it ------- */

static void test_no_release_thrash(void **state)
{
	(void)state;
	enum { LIVE = 8, OPS = 3000 };
	unsigned char *b[LIVE];
	size_t sz[LIVE], allocated = 0, rel0, rel1, grow0, grow1;
	uint64_t s = 0x1a53;

	for (int i = 0; i < LIVE; i++) {
		sz[i] = 64 * KiB;
		b[i] = malloc(hide(sz[i]));
		CHECK(b[i] != NULL, "malloc");
	}
	rel0 = stat_of("vmstat", "release_pages");
	grow0 = stat_of("vmstat", "grow");
	for (int k = 0; k < OPS; k++) {
		int i;
		size_t base;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		i = (int)((s >> 33) % LIVE);
		base = (64 * KiB) << ((s >> 40) % 6); /* 64 KiB .. 2 MiB */
		free(b[i]);
		sz[i] = base + (size_t)((s >> 20) % base);
		b[i] = malloc(hide(sz[i]));
		CHECK(b[i] != NULL, "malloc(%zu)", sz[i]);
		touch(b[i], sz[i], (unsigned char)k);
		allocated += sz[i];
	}
	rel1 = stat_of("vmstat", "release_pages");
	grow1 = stat_of("vmstat", "grow");
	print_message("[ info     ] %d ops, %zu MiB allocated and touched: %zu KiB released, %zu grows\n", OPS,
		      allocated / MiB, (rel1 - rel0) * PAGE / KiB, grow1 - grow0);
	/* The working set stays within 8 blocks of at most 4 MiB: a policy
	 * that reuses dirty free memory releases a small fraction of what
	 * passes through (the old one released most of it). */
	CHECK((rel1 - rel0) * PAGE < allocated / 16,
	      "%zu KiB released of %zu KiB allocated: freed memory is released and refaulted",
	      (rel1 - rel0) * PAGE / KiB, allocated / KiB);
	for (int i = 0; i < LIVE; i++)
		free(b[i]);
	heap_ok();
}

/* ---- a working set that shrank is released without trim, after the decay ---------- */

static void test_release_after_shrink(void **state)
{
	(void)state;
	enum { N = 96 };
	unsigned char *b[N];
	size_t rss_full, rss_now = 0, dirty_full, dirty_now = 0;
	int waited;

	(void)kmem_malloc_trim(0);
	for (int i = 0; i < N; i++) {
		b[i] = malloc(hide(1 * MiB));
		CHECK(b[i] != NULL, "malloc(1 MiB) #%d", i);
		touch(b[i], 1 * MiB, 3);
	}
	rss_full = rss_bytes();
	dirty_full = stat_of("heap", "dirty_pages") * PAGE;
	for (int i = 0; i < N; i++)
		free(b[i]);
	/* freed, recently at peak: kept for now (likely wanted back soon);
	 * within a few seconds of activity the peak decays and frees release */
	for (waited = 0; waited < 15000; waited += 100) {
		void *p = malloc(hide(1 * MiB));

		CHECK(p != NULL, "malloc");
		free(p); /* a free that reaches the buddy: the release check */
		nap_ms(100);
		dirty_now = stat_of("heap", "dirty_pages") * PAGE;
		rss_now = rss_bytes();
		if (dirty_now + 64 * MiB <= dirty_full && rss_now + 64 * MiB <= rss_full)
			break;
	}
	print_message("[ info     ] 96 MiB freed: after %d ms dirty %zu -> %zu KiB, RSS %zu -> %zu KiB\n",
		      waited, dirty_full / KiB, dirty_now / KiB, rss_full / KiB, rss_now / KiB);
	CHECK(dirty_now + 64 * MiB <= dirty_full && rss_now + 64 * MiB <= rss_full,
	      "96 MiB freed, not released after %d ms: dirty %zu -> %zu KiB, RSS %zu -> %zu KiB", waited,
	      dirty_full / KiB, dirty_now / KiB, rss_full / KiB, rss_now / KiB);
	heap_ok();
}

/* ---- huge blocks freed within the decay time are kept for reuse (decision 29) ------ */

static void test_huge_cache(void **state)
{
	(void)state;
	const size_t n = 64 * MiB;
	unsigned char *p, *q, *r;
	size_t hits0, nonzero = 0;

	(void)kmem_malloc_trim(0);
	CHECK(stat_of("heap", "huge_cached_blocks") == 0, "trim must empty the huge cache");
	hits0 = stat_of("heap", "huge_cache_hits");
	p = malloc(hide(n));
	CHECK(p != NULL, "malloc(64 MiB)");
	touch(p, n, 0x5a);
	free(p);
	CHECK(stat_of("heap", "huge_cached_blocks") == 1, "a freed huge block is kept (decay 10 s)");
	CHECK(stat_of("heap", "huge_cached_bytes") >= n, "its bytes are counted");
	/* a smaller request that it holds takes it */
	q = malloc(hide(n - 8 * MiB));
	CHECK(q == p, "malloc(56 MiB) must reuse the cached 64 MiB mapping (%p, %p)", (void *)q, (void *)p);
	CHECK(stat_of("heap", "huge_cache_hits") == hits0 + 1, "a cache hit is counted");
	CHECK(stat_of("heap", "huge_cached_blocks") == 1 && stat_of("heap", "huge_cached_bytes") == 8 * MiB,
	      "56 MiB carved from the cached 64 MiB: 8 MiB left (decision 38)");
	CHECK(malloc_usable_size(q) >= n - 8 * MiB, "usable size below the request");
	free(q);
	/* calloc from the cache reads zero */
	r = calloc(1, hide(n - 8 * MiB));
	CHECK(r != NULL, "calloc(56 MiB)");
	for (size_t i = 0; i < n - 8 * MiB; i += 4093)
		nonzero += r[i] != 0;
	CHECK(nonzero == 0, "calloc from the huge cache: %zu non-zero bytes", nonzero);
	free(r);
	heap_ok();
	/* a smaller request is carved from the range's start, the rest stays
	 * cached (decision 38); freed, it joins it again */
	p = malloc(hide(36 * MiB));
	CHECK(p == q, "malloc(36 MiB) must be carved from the cached range (%p, %p)", (void *)p, (void *)q);
	CHECK(stat_of("heap", "huge_cached_blocks") == 1 && stat_of("heap", "huge_cached_bytes") == n - 36 * MiB,
	      "the cached range's rest: %zu blocks, %zu bytes", stat_of("heap", "huge_cached_blocks"),
	      stat_of("heap", "huge_cached_bytes"));
	heap_ok();
	free(p);
	CHECK(stat_of("heap", "huge_cached_blocks") == 1 && stat_of("heap", "huge_cached_bytes") == n,
	      "a freed piece joins its cached neighbour");
	CHECK(kmem_malloc_trim(0) >= 36 * MiB, "trim gives the cached mappings back");
	CHECK(stat_of("heap", "huge_cached_blocks") == 0 && stat_of("heap", "huge_cached_bytes") == 0,
	      "trim must empty the huge cache");
	heap_ok();
}

/* ---- blocks over 4 MiB: best fit in the huge cache (decision 38) ------------------ */

/* A 30 MiB range cut into blocks of 12, 5 and 8 MiB by three requests
 * (carved from the start, so their places are known); freed, the pieces
 * join their cached neighbours, a request takes the smallest range that
 * holds it, and the checker passes at every step. Blocks up to 32 MiB are
 * not sealed: they stay readable (as page blocks were). */
static void test_huge_best_fit(void **state)
{
	(void)state;
	unsigned char *r, *a, *b, *c, *d, *e;

	(void)kmem_malloc_trim(0);
	CHECK(stat_of("heap", "huge_cached_blocks") == 0, "trim must empty the huge cache");
	/* over 4 MiB is a huge block now: its own mapping, usable to its page */
	r = malloc(hide(4 * MiB + 1));
	CHECK(r != NULL && stat_of("heap", "huge_blocks") >= 1, "malloc(4 MiB + 1) must be huge");
	CHECK(malloc_usable_size(r) == 4 * MiB + PAGE, "usable %zu", malloc_usable_size(r));
	free(r);
	(void)kmem_malloc_trim(0);
	r = malloc(hide(30 * MiB));
	CHECK(r != NULL, "malloc(30 MiB)");
	touch(r, 30 * MiB, 3);
	free(r);
	CHECK(stat_of("heap", "huge_cached_blocks") == 1 && stat_of("heap", "huge_cached_bytes") == 30 * MiB,
	      "the freed 30 MiB is cached");
	a = malloc(hide(12 * MiB));
	b = malloc(hide(5 * MiB));
	c = malloc(hide(8 * MiB));
	CHECK(a == r && b == r + 12 * MiB && c == r + 17 * MiB, "carved in order from the range: %p %p %p of %p",
	      (void *)a, (void *)b, (void *)c, (void *)r);
	/* read through hidden pointers: a fresh block's bytes are indeterminate to the compiler */
	CHECK(((unsigned char *)hide_ptr(a))[0] == 3 && ((unsigned char *)hide_ptr(c))[0] == 3,
	      "a cached range's contents are kept (not sealed)");
	CHECK(stat_of("heap", "huge_cached_bytes") == 5 * MiB, "5 MiB left at the top");
	heap_ok();
	free(a); /* {a: 12}, {c + 8: 5} */
	free(c); /* c joins the top: {a: 12}, {c: 13} */
	CHECK(stat_of("heap", "huge_cached_blocks") == 2 && stat_of("heap", "huge_cached_bytes") == 25 * MiB,
	      "two ranges of 12 and 13 MiB: %zu blocks, %zu bytes", stat_of("heap", "huge_cached_blocks"),
	      stat_of("heap", "huge_cached_bytes"));
	heap_ok();
	d = malloc(hide(11 * MiB)); /* both hold it: the smaller one */
	CHECK(d == a, "best fit: 11 MiB from the 12 MiB range (%p), not the 13 MiB one: %p", (void *)a, (void *)d);
	heap_ok();
	free(b); /* {a + 11: 1} b {c: 13} join: one range of 19 MiB */
	CHECK(stat_of("heap", "huge_cached_blocks") == 1 && stat_of("heap", "huge_cached_bytes") == 19 * MiB,
	      "a freed block between two cached ranges joins both: %zu blocks, %zu bytes",
	      stat_of("heap", "huge_cached_blocks"), stat_of("heap", "huge_cached_bytes"));
	heap_ok();
	e = malloc(hide(19 * MiB)); /* exactly the range */
	CHECK(e == r + 11 * MiB && stat_of("heap", "huge_cached_blocks") == 0, "an exact fit takes the range whole");
	touch(e, 19 * MiB, 4);
	/* an aligned request carves an aligned piece: head and tail stay */
	free(d);
	free(e);
	CHECK(stat_of("heap", "huge_cached_blocks") == 1 && stat_of("heap", "huge_cached_bytes") == 30 * MiB,
	      "all freed: the 30 MiB range again");
	d = aligned_alloc(8 * MiB, hide(6 * MiB));
	CHECK(d != NULL && ((uintptr_t)d & (8 * MiB - 1)) == 0, "aligned_alloc(8 MiB, 6 MiB): %p", (void *)d);
	CHECK(d >= r && d + 6 * MiB <= r + 30 * MiB, "carved from the cached range");
	CHECK(stat_of("heap", "huge_cached_bytes") == 24 * MiB && stat_of("heap", "huge_cached_blocks") ==
	      (d == r ? 1u : 2u), "head and tail cached: %zu blocks", stat_of("heap", "huge_cached_blocks"));
	heap_ok();
	free(d);
	CHECK(stat_of("heap", "huge_cached_blocks") == 1, "the aligned piece joins head and tail");
	/* realloc of a carved block moves or grows it (mremap) */
	d = malloc(hide(6 * MiB));
	touch(d, 6 * MiB, 9);
	d = realloc(d, hide(20 * MiB));
	CHECK(d != NULL && d[6 * MiB - 1] == 9 && malloc_usable_size(d) >= 20 * MiB, "realloc to 20 MiB");
	heap_ok();
	free(d);
	heap_ok();
	(void)kmem_malloc_trim(0);
	CHECK(stat_of("heap", "huge_cached_bytes") == 0, "trim empties the cache");
}

/* The cache's bounds: at most 32 ranges and 256 MiB. Blocks freed with
 * live ones between them (so few can join) past both bounds; then an
 * aligned request that splits a range when the cache is full (its head
 * goes: no room for two). The checker passes throughout. Nothing is
 * touched: address space only. */
static void test_huge_cache_bounds(void **state)
{
	(void)state;
	enum { N = 40 };
	static unsigned char *keep[N], *gone[N];
	const size_t sz = 5 * MiB, big = 20 * MiB;
	unsigned char *r, *d;

	(void)kmem_malloc_trim(0);
	for (int i = 0; i < N; i++) {
		gone[i] = malloc(hide(i < 31 ? sz : big));
		keep[i] = malloc(hide(sz));
		CHECK(gone[i] && keep[i], "malloc #%d", i);
	}
	for (int i = 0; i < N; i++)
		free(gone[i]);
	print_message("[ info     ] %d freed: %zu cached ranges, %zu MiB\n", N,
		      stat_of("heap", "huge_cached_blocks"), stat_of("heap", "huge_cached_bytes") / MiB);
	CHECK(stat_of("heap", "huge_cached_blocks") <= 32, "more than 32 cached ranges");
	heap_ok();
	r = malloc(hide(30 * MiB));
	CHECK(r != NULL, "malloc(30 MiB)");
	free(r);
	CHECK(stat_of("heap", "huge_cached_bytes") <= 256 * MiB, "more than 256 MiB cached: %zu",
	      stat_of("heap", "huge_cached_bytes"));
	CHECK(stat_of("heap", "huge_cached_blocks") <= 32, "more than 32 cached ranges");
	heap_ok();
	/* 16 MiB aligned to 16 MiB: the 30 MiB range may hold it, with a
	 * head and a tail; the cache is (most likely) full */
	d = aligned_alloc(16 * MiB, hide(16 * MiB));
	CHECK(d != NULL && ((uintptr_t)d & (16 * MiB - 1)) == 0, "aligned_alloc(16 MiB, 16 MiB): %p", (void *)d);
	heap_ok();
	free(d);
	heap_ok();
	for (int i = 0; i < N; i++)
		free(keep[i]);
	heap_ok();
	(void)kmem_malloc_trim(0);
	CHECK(stat_of("heap", "huge_cached_blocks") == 0, "trim empties the cache");
}

/* ---- the reaper ages the huge cache of an idle program (decision 36) ------------- */

/* A freed huge block is kept for the decay time (10 s); with no further
 * huge call, the reaper's idle calls return it (within the decay time and
 * an idle period, 2.5 s); with KMEM_REAPER=0 nothing ages it until the next
 * huge call (checked once, not waited for). */
static void test_huge_cache_idle(void **state)
{
	(void)state;
	const char *r = getenv("KMEM_REAPER");
	bool reaper = !r || strcmp(r, "0");
	unsigned char *p;
	int waited;

	(void)kmem_malloc_trim(0);
	p = malloc(hide(40 * MiB));
	CHECK(p != NULL, "malloc(40 MiB)");
	touch(p, 40 * MiB, 1);
	free(p);
	CHECK(stat_of("heap", "huge_cached_blocks") == 1, "a freed huge block is kept");
	if (!reaper) {
		nap_ms(200);
		CHECK(stat_of("heap", "huge_cached_blocks") == 1, "no reaper: kept until a huge call");
		(void)kmem_malloc_trim(0);
		return;
	}
	for (waited = 0; waited < 16000 && stat_of("heap", "huge_cached_blocks"); waited += 250)
		nap_ms(250);
	print_message("[ info     ] the idle reaper unmapped the cached 40 MiB after %d ms\n", waited);
	CHECK(waited >= 9000, "released after %d ms, within the decay time (10 s)", waited);
	CHECK(stat_of("heap", "huge_cached_blocks") == 0 && stat_of("heap", "huge_cached_bytes") == 0,
	      "an idle program's cached huge block not returned after %d ms", waited);
	heap_ok();
}

/* ---- C23's sized frees (decision 36) ---------------------------------------------- */

/* A block freed with the size it was asked for (or, after realloc kept it
 * in place, the new size), in every size range, is freed: the next
 * request of that size gets it back (the magazine's or the buddy's last
 * freed), and the heap checker passes; NULL does nothing. The misuse side
 * (a size above the block, a bad alignment: reported, not freed) is
 * test_misuse.c's. */
static void test_free_sized(void **state)
{
	(void)state;
	static const size_t sizes[] = { 1, 24, 100, 1000, 5000, 100000, 3 * MiB };
	void *p, *q;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p = malloc(hide(sizes[i]));
		CHECK(p != NULL, "malloc(%zu)", sizes[i]);
		free_sized(p, hide(sizes[i]));
		q = malloc(hide(sizes[i]));
		CHECK(q == p, "free_sized(p, %zu) did not free p (%p, then %p)", sizes[i], p, q);
		free(q);
	}
	/* calloc: the product */
	p = calloc(hide(10), hide(30));
	CHECK(p != NULL, "calloc");
	free_sized(p, hide(300));
	CHECK(malloc(hide(300)) == p, "free_sized of a calloc'ed block");
	free(p);
	/* realloc shrinking in place: the new size is the one to pass */
	p = malloc(hide(100));
	CHECK(p != NULL && realloc(p, hide(90)) == p, "realloc(100 -> 90) in place");
	free_sized(p, hide(90));
	CHECK(malloc(hide(100)) == p, "free_sized after realloc in place");
	free(p);
	/* aligned */
	p = aligned_alloc(hide(256), hide(1000));
	CHECK(p != NULL && ((uintptr_t)p & 255) == 0, "aligned_alloc(256, 1000)");
	free_aligned_sized(p, hide(256), hide(1000));
	q = aligned_alloc(hide(256), hide(1000));
	CHECK(q == p, "free_aligned_sized did not free p (%p, then %p)", p, q);
	free_aligned_sized(q, hide(256), hide(1000));
	free_sized(NULL, hide(10));
	free_aligned_sized(NULL, hide(64), hide(10));
	heap_ok();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_stats),
		cmocka_unit_test(test_page_blocks),
		cmocka_unit_test(test_classes_over_8k),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_released_zero),
		cmocka_unit_test(test_released_fragmented),
		cmocka_unit_test(test_no_release_thrash),
		cmocka_unit_test(test_release_after_shrink),
		cmocka_unit_test(test_huge_cache),
		cmocka_unit_test(test_huge_best_fit),
		cmocka_unit_test(test_huge_cache_bounds),
		cmocka_unit_test(test_huge_cache_idle),
		cmocka_unit_test(test_free_sized),
	};

	/* Exact used_pages counts need a quiet heap: whatever the first big
	 * frees set off (stdio buffers, a reaper thread) happens now. */
	{
		void *b[16];

		for (int i = 0; i < 16; i++)
			b[i] = malloc(hide(1 * MiB));
		for (int i = 0; i < 16; i++)
			free(b[i]);
		nap_ms(200);
		printf("[ setup    ] warmed up: %zu pages used\n", stat_of("heap", "used_pages"));
	}
	return cmocka_run_group_tests_name("drop-in heap", tests, NULL, NULL);
}
