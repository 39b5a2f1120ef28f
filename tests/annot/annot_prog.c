/* annot_prog.c - memory errors in kmem-managed memory, made on purpose, for
 * memcheck and AddressSanitizer to find (kmem_annot.h). run_annot.sh runs one
 * scenario per process and checks the tool's report.
 *
 * Setup: a buddy instance (owner words) over an mmap'd arena
 * (kmem_buddy_create_in), a frame service on it (KMEM_PA_INIT_NONE, so a
 * plain page is uninitialised), a slab instance on the frame service (so
 * slabs are frame-service blocks, themselves chunks of the buddy's memcheck
 * pool) and a second one straight on the buddy. The arena is not a heap
 * block, so memcheck describes addresses by kmem's own blocks.
 *
 * Scenarios (argv[1]); each bad access is in a function of its own, so the
 * report's stack names it:
 *   probe        print "valgrind=<0|1> asan=<0|1>": what the build annotates for
 *   uaf-cache    read a kmem_cache object after kmem_cache_free (magazine
 *                path), and one whose slab went back to the buddy
 *   uaf-kmalloc  write a kmem_alloc block after kmem_free
 *   uaf-page     read a frame-service page after kmem_pa_free, and a buddy
 *                page after kmem_buddy_free
 *   uninit       branch on never-written bytes of a kmalloc block, a cache
 *                object and a (non-zeroed) page
 *   zeroed       the same on kmem_zalloc, KMEM_PAGE_ZERO pages, constructed
 *                objects and bytes the program wrote: no error
 *   redzone      write one byte past an object of a KMEM_CACHE_REDZONE cache
 *                (kmem's own check reports it too, at the free)
 *   leak         lose a kmalloc object (the instances stay alive to the end)
 *   clean        use every layer correctly (the buddy's split, trim and claim
 *                too) and tear everything down: no error, no leak, and no
 *                broken pool (overlapping chunks)
 * Each scenario prints "<scenario>: done" when it ran to its end (memcheck
 * lets a bad access go on; ASan stops at it).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <kmem/kmem.h>
#include <kmem/pagealloc.h>

#include "kmem_config.h" /* KMEM_HAVE_VALGRIND: the libraries annotate for memcheck; KMEM_BUDDY_RESERVE */

#if defined(__SANITIZE_ADDRESS__)
#define ANNOT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ANNOT_ASAN 1
#endif
#endif

#define NOINLINE __attribute__((noinline))
#define ARENA ((size_t)8 << 20)

#define CHECK(cond)                                                                     \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "annot_prog: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			exit(2);                                                        \
		}                                                                       \
	} while (0)

/* Everything reachable from globals: only what a scenario loses is a leak. */
static void *arena;
static struct kmem_buddy *buddy;
static struct kmem_pagealloc *pa;
static struct kmem_slab *slab, *bslab;	/* on the frame service, on the buddy */
static struct kmem_stack stack;		/* buddy, pa and slab above */
static void *stack_mem, *bslab_mem;
static struct kmem_page_source buddy_ps;
static struct kmem_error_sink sink;
static volatile unsigned char sink_byte;	/* where bad reads go */
static void *keep;				/* an object the leak scenario keeps */

static void setup(void)
{
	struct kmem_stack_config cfg;
	struct kmem_slab_config sc;
	size_t isz;

	kmem_error_sink_init(&sink);
	sink.flags = KMEM_ERROR_QUIET; /* counted; the scenarios check the counts */
	arena = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(arena != MAP_FAILED);
	/* buddy + frame service + slab, one sink; the instances on the heap,
	 * the whole mapping the buddy's region (frame table carved from it) */
	kmem_stack_config_init(&cfg);
	cfg.sink = &sink;
	cfg.buddy.name = "annot";
	cfg.buddy.flags = KMEM_BUDDY_OWNERS;
	cfg.pa.init_policy = KMEM_PA_INIT_NONE; /* a plain page is not zeroed */
	cfg.pa.flags = KMEM_PA_NO_BGZERO;
	cfg.slab.name = "annot";
	isz = kmem_stack_sizeof(&cfg);
	stack_mem = aligned_alloc(64, (isz + 63) & ~(size_t)63);
	CHECK(stack_mem != NULL);
	CHECK(kmem_stack_init(stack_mem, isz, &cfg, arena, ARENA, NULL, 0, &stack) == 0);
	buddy = stack.buddy;
	pa = stack.pa;
	slab = stack.slab;

	/* a second slab instance straight on the buddy */
	memset(&sc, 0, sizeof(sc));
	kmem_buddy_page_source(buddy, &buddy_ps);
	sc.name = "annot-buddy";
	sc.source = &buddy_ps;
	sc.sink = &sink;
	bslab_mem = aligned_alloc(64, (kmem_slab_sizeof() + 63) & ~(size_t)63);
	CHECK(bslab_mem != NULL);
	CHECK(kmem_slab_init(bslab_mem, kmem_slab_sizeof(), &sc, &bslab) == 0);
}

static void teardown(void)
{
	kmem_slab_destroy(bslab);
	kmem_slab_destroy(slab);
	kmem_pa_destroy(pa);
	CHECK(kmem_buddy_check(buddy) == 0);
	kmem_buddy_destroy(buddy);
	free(bslab_mem);
	free(stack_mem);
	CHECK(munmap(arena, ARENA) == 0);
}

/* Branch on each byte of p[0..n) (a real conditional jump: the call). */
static NOINLINE void branch_on(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == 0x5a)
			printf("byte %zu is 0x5a\n", i);
}

/* ---- (a) (b) (c): use after free ----------------------------------------- */

static NOINLINE void uaf_cache_object(void)
{
	struct kmem_cache *c = kmem_cache_create(slab, "annot-obj", 64, 0, 0, NULL, NULL, NULL);
	unsigned char *p;

	CHECK(c != NULL);
	p = kmem_cache_alloc(c);
	CHECK(p != NULL);
	memset(p, 1, 64);
	kmem_cache_free(c, p);
	sink_byte = ((volatile unsigned char *)p)[8]; /* the bug */
	kmem_cache_destroy(c);
}

static NOINLINE void uaf_released_slab(void)
{
	struct kmem_cache *c = kmem_cache_create(bslab, "annot-gone", 200, 0, 0, NULL, NULL, NULL);
	unsigned char *p;

	CHECK(c != NULL);
	p = kmem_cache_alloc(c);
	CHECK(p != NULL);
	memset(p, 1, 200);
	kmem_cache_free(c, p);
	kmem_cache_destroy(c); /* its slab goes back to the buddy */
	sink_byte = ((volatile unsigned char *)p)[100]; /* the bug */
}

static NOINLINE void uaf_kmalloc_block(void)
{
	unsigned char *p = kmem_alloc(slab, 100);

	CHECK(p != NULL);
	memset(p, 1, 100);
	kmem_free(slab, p);
	((volatile unsigned char *)p)[20] = 2; /* the bug */
}

static NOINLINE void uaf_pa_page(void)
{
	unsigned char *p = kmem_pa_alloc(pa, 0, 0);

	CHECK(p != NULL);
	memset(p, 1, 4096);
	kmem_pa_free(pa, p, 0);
	sink_byte = ((volatile unsigned char *)p)[100]; /* the bug */
}

static NOINLINE void uaf_buddy_page(void)
{
	unsigned char *p = kmem_buddy_alloc(buddy, 1);

	CHECK(p != NULL);
	memset(p, 1, 8192);
	kmem_buddy_free(buddy, p);
	sink_byte = ((volatile unsigned char *)p)[5000]; /* the bug */
}

/* ---- (d): uninitialised reads, and zeroed memory ---------------------------- */

static NOINLINE void uninit_kmalloc(void)
{
	unsigned char *p = kmem_alloc(slab, 64);

	CHECK(p != NULL);
	if (p[3] == 7) /* the bug: never written */
		printf("kmalloc byte 3 is 7\n");
	kmem_free(slab, p);
}

static NOINLINE void uninit_cache(void)
{
	struct kmem_cache *c = kmem_cache_create(slab, "annot-raw", 48, 0, 0, NULL, NULL, NULL);
	unsigned char *p;

	CHECK(c != NULL);
	p = kmem_cache_alloc(c);
	CHECK(p != NULL);
	if (p[5] == 9) /* the bug */
		printf("object byte 5 is 9\n");
	kmem_cache_free(c, p);
	kmem_cache_destroy(c);
}

static NOINLINE void uninit_page(void)
{
	unsigned char *p = kmem_pa_alloc(pa, 0, 0); /* KMEM_PA_INIT_NONE: not zeroed */

	CHECK(p != NULL);
	if (p[77] == 3) /* the bug */
		printf("page byte 77 is 3\n");
	kmem_pa_free(pa, p, 0);
}

static void ctor(void *obj, void *arg)
{
	(void)arg;
	memset(obj, 0x11, 32);
}

static NOINLINE void read_zeroed(void)
{
	struct kmem_cache *c = kmem_cache_create(slab, "annot-ctor", 32, 0, 0, ctor, NULL, NULL);
	unsigned char *z = kmem_zalloc(slab, 200), *big = kmem_zalloc(slab, 20000);
	unsigned char *pg = kmem_pa_alloc(pa, 1, KMEM_PAGE_ZERO);
	unsigned char *bp, *o, *w = kmem_alloc(slab, 300);
	struct kmem_page_source bps;

	kmem_buddy_page_source(buddy, &bps);
	bp = bps.alloc_pages(bps.ctx, 0, KMEM_PAGE_ZERO);
	CHECK(c && z && big && pg && bp && w);
	o = kmem_cache_alloc(c);
	CHECK(o != NULL);
	memset(w, 0x22, 300);
	branch_on(z, 200);
	branch_on(big, 20000);
	branch_on(pg, 8192);
	branch_on(bp, 4096);
	branch_on(o, 32); /* constructed state */
	branch_on(w, 300);
	kmem_cache_free(c, o);
	kmem_cache_destroy(c);
	bps.free_pages(bps.ctx, bp, 0);
	kmem_pa_free(pa, pg, 1);
	kmem_free(slab, w);
	kmem_free(slab, big);
	kmem_free(slab, z);
}

/* ---- (e): red zone overflow ---------------------------------------------- */

static NOINLINE void overflow_redzone(void)
{
	struct kmem_cache *c = kmem_cache_create(slab, "annot-rz", 40, 0, KMEM_CACHE_REDZONE, NULL,
						 NULL, NULL);
	unsigned char *p;

	CHECK(c != NULL);
	p = kmem_cache_alloc(c);
	CHECK(p != NULL);
	memset(p, 1, 40);
	((volatile unsigned char *)p)[40] = 'x'; /* the bug: one past the end */
	kmem_cache_free(c, p);
	CHECK(kmem_error_count(&sink, KMEM_REDZONE) == 1); /* kmem saw it too */
	kmem_cache_destroy(c);
}

/* ---- (f): a leak ----------------------------------------------------------- */

static NOINLINE void leak_kmalloc_object(void)
{
	unsigned char *p = kmem_alloc(slab, 100);

	CHECK(p != NULL);
	memset(p, 3, 100); /* no pointers in it */
	/* the bug: p is lost */
}

/* ---- (g): clean use of everything -------------------------------------------- */

static void dtor(void *obj, void *arg)
{
	(void)arg;
	CHECK(((unsigned char *)obj)[0] == 0x11);
}

static NOINLINE void use_everything(void)
{
	struct kmem_cache *plain = kmem_cache_create(slab, "plain", 24, 0, 0, NULL, NULL, NULL);
	struct kmem_cache *con = kmem_cache_create(slab, "con", 32, 0, 0, ctor, dtor, NULL);
	/* a debug cache where this build has them (-Dslab_debug) */
	struct kmem_cache *dbg = kmem_cache_create(slab, "dbg", 40, 0,
						   KMEM_SLAB_DEBUG ? KMEM_CACHE_DEBUG : 0, NULL, NULL,
						   NULL);
	struct kmem_cache *huge = kmem_cache_create(slab, "huge", 200000, 0, 0, NULL, NULL, NULL);
	void *v[300], *bulk[40], *pg[16];
	unsigned char *r;

	CHECK(plain && con && dbg && huge);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 300; i++) {
			v[i] = kmem_cache_alloc(i % 3 == 0 ? plain : i % 3 == 1 ? con : dbg);
			CHECK(v[i] != NULL);
			memset(v[i], 0x11, i % 3 == 2 ? 40 : 24);
		}
		for (int i = 0; i < 300; i += 2)
			kmem_cache_free(i % 3 == 0 ? plain : i % 3 == 1 ? con : dbg, v[i]);
		for (int i = 1; i < 300; i += 2)
			CHECK(kmem_cache_free_checked(i % 3 == 0 ? plain : i % 3 == 1 ? con : dbg, v[i]) ==
			      KMEM_OK);
		CHECK(kmem_cache_alloc_bulk(plain, 40, bulk) == 40);
		for (int i = 0; i < 40; i++)
			memset(bulk[i], 0x33, 24);
		kmem_cache_free_bulk(plain, 40, bulk);
		for (int i = 0; i < 300; i++) {
			size_t sz = 1 + (size_t)(i * 37 % 9000);

			v[i] = i % 5 ? kmem_alloc(slab, sz) : kmem_zalloc(slab, sz);
			CHECK(v[i] != NULL);
			memset(v[i], 0x44, sz);
		}
		r = kmem_realloc(slab, v[7], 5000);
		CHECK(r != NULL);
		v[7] = r;
		for (int i = 0; i < 300; i++)
			kmem_free(slab, v[i]);
		v[0] = kmem_alloc_aligned(slab, 100, 256);
		v[1] = kmem_alloc(slab, 100000); /* a direct (large) block */
		v[2] = kmem_cache_alloc(huge);
		CHECK(v[0] && v[1] && v[2]);
		memset(v[1], 0x55, 100000);
		kmem_free(slab, v[0]);
		kmem_free(slab, v[1]);
		kmem_cache_free(huge, v[2]);
		for (unsigned i = 0; i < 16; i++) {
			pg[i] = kmem_pa_alloc(pa, i % 4, i % 2 ? KMEM_PAGE_ZERO : 0);
			CHECK(pg[i] != NULL);
			memset(pg[i], 0x66, (size_t)4096 << (i % 4));
		}
		for (unsigned i = 0; i < 16; i++)
			kmem_pa_free(pa, pg[i], i % 4);
		CHECK(kmem_slab_check(slab) == 0);
		CHECK(kmem_pa_check(pa) == 0);
		(void)kmem_slab_reap(slab);
		(void)kmem_slab_shrink(slab);
		(void)kmem_pa_drain(pa);
	}
	/* the slab instance straight on the buddy */
	for (int i = 0; i < 200; i++) {
		v[i] = kmem_alloc(bslab, 1 + (size_t)(i * 53 % 3000));
		CHECK(v[i] != NULL);
		memset(v[i], 0x5b, 1 + (size_t)(i * 53 % 3000));
	}
	for (int i = 0; i < 200; i++)
		kmem_free(bslab, v[i]);
	(void)kmem_slab_shrink(bslab);
	CHECK(kmem_slab_check(bslab) == 0);
	/* the buddy on its own: orders, aligned, reserve and unreserve */
	for (unsigned o = 0; o < 6; o++) {
		unsigned char *b = kmem_buddy_alloc(buddy, o);

		CHECK(b != NULL);
		memset(b, 0x77, (size_t)4096 << o);
		CHECK(kmem_buddy_free_checked(buddy, b, (int)o) == KMEM_OK);
	}
	r = kmem_buddy_alloc_aligned(buddy, 3 * 4096, 16384);
	CHECK(r != NULL);
	memset(r, 0x78, 3 * 4096);
	kmem_buddy_free(buddy, r);
	r = kmem_buddy_alloc(buddy, 3); /* a free range to reserve: allocate, free, reserve */
	CHECK(r != NULL);
	kmem_buddy_free(buddy, r);
	if (KMEM_BUDDY_RESERVE) {
		CHECK(kmem_buddy_reserve(buddy, r, 4 * 4096) == 0);
		memset(r, 0x79, 4 * 4096); /* reserved memory is its owner's */
		CHECK(kmem_buddy_unreserve(buddy, r, 4 * 4096) == 0);
	} else { /* compiled out (-Dbuddy_reserve): refused */
		CHECK(kmem_buddy_reserve(buddy, r, 4 * 4096) == -ENOTSUP);
	}
	/* split (twice: a piece again), trim and claim: each piece becomes a
	 * pool chunk of its own, its contents kept, and no two chunks overlap
	 * at any moment (memcheck checks the pool at each change) */
	r = kmem_buddy_alloc(buddy, 4);
	CHECK(r != NULL);
	memset(r, 0x7a, (size_t)4096 << 4);
	CHECK(kmem_buddy_split(buddy, r, 1) == 4); /* 2 + 2 + 4 + 8 frames */
	CHECK(kmem_buddy_split(buddy, r + 4 * 4096, 0) == 3); /* 1 + 1 + 2 */
	CHECK(r[4 * 4096] == 0x7a && r[16 * 4096 - 1] == 0x7a);
	CHECK(kmem_buddy_free_checked(buddy, r + 5 * 4096, 0) == KMEM_OK);
	CHECK(kmem_buddy_free_checked(buddy, r + 8 * 4096, 3) == KMEM_OK);
	CHECK(kmem_buddy_free_checked(buddy, r, 1) == KMEM_OK);
	CHECK(kmem_buddy_free_checked(buddy, r + 4 * 4096, 0) == KMEM_OK);
	CHECK(kmem_buddy_free_checked(buddy, r + 6 * 4096, 1) == KMEM_OK);
	CHECK(kmem_buddy_free_checked(buddy, r + 2 * 4096, 1) == KMEM_OK);
	r = kmem_buddy_alloc(buddy, 3);
	CHECK(r != NULL);
	memset(r, 0x7b, 3 * 4096);
	CHECK(kmem_buddy_trim(buddy, r, 3 * 4096) == 2); /* 2 + 1 frames kept */
	CHECK(r[3 * 4096 - 1] == 0x7b);
	CHECK(kmem_buddy_free_checked(buddy, r + 2 * 4096, 0) == KMEM_OK);
	CHECK(kmem_buddy_free_checked(buddy, r, 1) == KMEM_OK);
	r = kmem_buddy_alloc(buddy, 2); /* a free block to claim a part of */
	CHECK(r != NULL);
	kmem_buddy_free(buddy, r);
	CHECK(kmem_buddy_claim(buddy, r + 2 * 4096, 1) == 0);
	memset(r + 2 * 4096, 0x7c, 2 * 4096);
	CHECK(kmem_buddy_free_checked(buddy, r + 2 * 4096, 1) == KMEM_OK);
	CHECK(kmem_buddy_check(buddy) == 0);
	kmem_cache_destroy(huge);
	kmem_cache_destroy(dbg);
	kmem_cache_destroy(con);
	kmem_cache_destroy(plain);
	CHECK(kmem_error_total(&sink) == 0);
}

int main(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : "";

	if (!strcmp(s, "probe")) {
#ifdef KMEM_HAVE_VALGRIND
		int vg = 1;
#else
		int vg = 0;
#endif
#ifdef ANNOT_ASAN
		int as = 1;
#else
		int as = 0;
#endif
		printf("valgrind=%d asan=%d\n", vg, as);
		return 0;
	}
	setup();
	if (!strcmp(s, "uaf-cache")) {
		uaf_cache_object();
		uaf_released_slab();
	} else if (!strcmp(s, "uaf-kmalloc")) {
		uaf_kmalloc_block();
	} else if (!strcmp(s, "uaf-page")) {
		uaf_pa_page();
		uaf_buddy_page();
	} else if (!strcmp(s, "uninit")) {
		uninit_kmalloc();
		uninit_cache();
		uninit_page();
	} else if (!strcmp(s, "zeroed")) {
		read_zeroed();
	} else if (!strcmp(s, "redzone")) {
		overflow_redzone();
	} else if (!strcmp(s, "leak")) {
		keep = kmem_alloc(slab, 100); /* object 0: its slab header points at it */
		CHECK(keep != NULL);
		leak_kmalloc_object();
		printf("%s: done\n", s);
		return 0; /* the instances stay alive: the leak checker sees the lost object */
	} else if (!strcmp(s, "clean")) {
		use_everything();
	} else {
		fprintf(stderr, "usage: annot_prog probe|uaf-cache|uaf-kmalloc|uaf-page|uninit|"
				"zeroed|redzone|leak|clean\n");
		return 2;
	}
	teardown();
	printf("%s: done\n", s);
	return 0;
}
