/* fuzz_slab.c - libFuzzer harness for object caches and kmalloc.
 *
 * Input: a program of 3-byte operations on up to 4 caches (created with
 * sizes, alignments and constructors taken from the input) and on kmalloc:
 * create, destroy, alloc, free, double free, wrong-cache free, interior
 * free, foreign free, kmalloc/zalloc/realloc/free, aligned allocation,
 * shrink. The first byte also picks the instance's magazine policy
 * (kmem_slab_config.mag_size: default, fixed 1..7 or 200, self-tuning, with
 * contention injected now and then through the test hook; .depot_limit:
 * default, 1, 3 or auto), the last byte its slab policies (partial-slab
 * choice, empty slabs kept, colouring off), so every policy's invariants
 * are checked. Every live object carries its slot number at its start and end,
 * verified at free; a constructed cache's free objects must keep their
 * constructor's mark. After every operation every cache's checker and the
 * buddy checker pass, and the error sink has counted exactly the misuses
 * made. At the end the instance is destroyed (leaks counted) and every frame
 * must be back in the buddy allocator.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/kmem.h>

#include "slab_internal.h" /* kmem_mag_contention_inject */

#include "kmem_config.h" /* KMEM_HAVE_VALGRIND: the allocator annotates for memcheck */
#ifdef KMEM_HAVE_VALGRIND
#include <valgrind/valgrind.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#ifdef FUZZ_ASAN
#define FUZZ_NO_ASAN __attribute__((no_sanitize_address, noinline))
#else
#define FUZZ_NO_ASAN
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_slab: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                       \
		}                                                                      \
	} while (0)

#define CACHES 4
#define SLOTS 64
#define ARENA ((size_t)4 << 20)
#define CTOR_MARK 0xc7u

struct slot {
	unsigned char *p;
	size_t size;	/* bytes stamped */
	int cache;	/* -1: kmalloc */
};

struct run {
	struct kmem_buddy *b;
	struct kmem_slab *s;
	struct kmem_error_sink sink;
	struct kmem_cache *c[CACHES];
	size_t csize[CACHES];
	int cctor[CACHES];
	unsigned cflags[CACHES];
	struct slot slot[SLOTS];
	unsigned long expect;
	unsigned long leaks;
};

/* A deliberate overflow into a red zone, which the allocator's own check
 * must find: memcheck and ASan see red zones as off limits (the allocator
 * annotates them), so they are kept out of this one access. */
FUZZ_NO_ASAN static void scribble(unsigned char *p, unsigned char x)
{
#ifdef KMEM_HAVE_VALGRIND
	VALGRIND_DISABLE_ERROR_REPORTING;
#endif
	*(volatile unsigned char *)p ^= x;
#ifdef KMEM_HAVE_VALGRIND
	VALGRIND_ENABLE_ERROR_REPORTING;
#endif
}

static void ctor(void *p, void *arg)
{
	(void)arg;
	((unsigned char *)p)[0] = CTOR_MARK;
}

static void dtor(void *p, void *arg)
{
	(void)arg;
	/* a free object keeps its constructed state */
	CHECK(((unsigned char *)p)[0] == CTOR_MARK);
}

static void stamp(struct slot *sl, unsigned k)
{
	sl->p[0] = (unsigned char)k;
	sl->p[sl->size - 1] = (unsigned char)~k;
}

static void verify(const struct slot *sl, unsigned k)
{
	CHECK(sl->p[0] == (unsigned char)k);
	CHECK(sl->p[sl->size - 1] == (unsigned char)~k);
}

static void check_all(struct run *r)
{
	for (int i = 0; i < CACHES; i++)
		if (r->c[i])
			CHECK(kmem_cache_check(r->c[i]) == 0);
	CHECK(kmem_buddy_check(r->b) == 0);
	CHECK(kmem_error_total(&r->sink) == r->expect);
}

/* Free slot k the right way, restoring a constructed object's mark:
 * checked (straight to the slab) or plain (through the magazines). */
static void good_free(struct run *r, unsigned k, bool plain)
{
	struct slot *sl = &r->slot[k];

	verify(sl, k);
	if (sl->cache < 0) {
		if (plain)
			kmem_free(r->s, sl->p);
		else
			CHECK(kmem_free_checked(r->s, sl->p) == KMEM_OK);
	} else {
		if (r->cctor[sl->cache])
			sl->p[0] = CTOR_MARK;
		if (plain)
			kmem_cache_free(r->c[sl->cache], sl->p);
		else
			CHECK(kmem_cache_free_checked(r->c[sl->cache], sl->p) == KMEM_OK);
	}
	sl->p = NULL;
}

static void op(struct run *r, uint8_t code, uint8_t a, uint8_t b)
{
	unsigned k = a % SLOTS, ci = b % CACHES;
	struct slot *sl = &r->slot[k];

	switch (code % 14) {
	case 0: /* create a cache */
		if (!r->c[ci]) {
			size_t sz = 2 + (size_t)a * (b & 0x40 ? 97 : 3); /* two distinct stamps fit */
			size_t al = (b & 0x80) ? (size_t)1 << (a % 9) : 0;
			unsigned fl = ((b & 0x10) ? KMEM_CACHE_NOCOLOUR : 0) |
				      ((b & 0x08) ? KMEM_CACHE_REDZONE | KMEM_CACHE_STORE_USER : 0) |
				      ((b & 0x04) ? KMEM_CACHE_POISON : 0) | ((b & 0x02) ? KMEM_CACHE_NOMAGAZINE : 0);
			if (!KMEM_SLAB_DEBUG) /* compiled out (-Dslab_debug): creation would fail */
				fl &= ~(unsigned)KMEM_CACHE_DEBUG;
			struct kmem_cache_stats cs;

			r->cctor[ci] = (b & 0x20) != 0;
			r->c[ci] = kmem_cache_create(r->s, "fz", sz, al, fl, r->cctor[ci] ? ctor : NULL,
						     r->cctor[ci] ? dtor : NULL, NULL);
			CHECK(r->c[ci] != NULL);
			kmem_cache_get_stats(r->c[ci], &cs);
			r->cflags[ci] = cs.flags; /* debug flags dropped for direct caches */
			CHECK(!(cs.flags & KMEM_CACHE_DEBUG) || cs.mag_size == 0);
			r->csize[ci] = sz;
		}
		break;
	case 1: /* destroy a cache: its live objects are leaks */
		if (r->c[ci]) {
			struct kmem_cache_stats cs;
			unsigned live = 0;

			kmem_cache_get_stats(r->c[ci], &cs);
			for (unsigned j = 0; j < SLOTS; j++)
				if (r->slot[j].p && r->slot[j].cache == (int)ci) {
					if (cs.direct) { /* a leaked direct block would stay allocated */
						good_free(r, j, false);
						continue;
					}
					live++;
					r->slot[j].p = NULL;
				}
			kmem_cache_destroy(r->c[ci]);
			r->c[ci] = NULL;
			r->expect += live > 16 ? 17 : live;
		}
		break;
	case 2:
	case 3: /* alloc from a cache */
		if (!sl->p && r->c[ci]) {
			sl->p = kmem_cache_alloc(r->c[ci]);
			if (!sl->p)
				break;
			if (r->cctor[ci])
				CHECK(sl->p[0] == CTOR_MARK);
			sl->size = r->csize[ci];
			sl->cache = (int)ci;
			stamp(sl, k);
		}
		break;
	case 4: { /* kmalloc, zalloc or aligned */
		size_t sz = 2 + (size_t)a * (size_t)(b % 64 + 1) * ((b & 0x80) ? 37 : 1);

		if (sl->p)
			break;
		if (b & 0x40) {
			sl->p = kmem_zalloc(r->s, sz);
			if (sl->p)
				for (size_t i = 0; i < sz; i++)
					CHECK(sl->p[i] == 0);
		} else if (b & 0x20) {
			size_t al = (size_t)1 << (a % 17);

			sl->p = kmem_alloc_aligned(r->s, sz, al);
			if (sl->p)
				CHECK(((uintptr_t)sl->p & (al - 1)) == 0);
		} else {
			sl->p = kmem_alloc(r->s, sz);
		}
		if (!sl->p)
			break;
		CHECK(kmem_usable_size(r->s, sl->p) >= sz);
		sl->size = sz;
		sl->cache = -1;
		stamp(sl, k);
		break;
	}
	case 5:
	case 6: /* good free: checked, or plain through the magazines */
		if (sl->p)
			good_free(r, k, code % 14 == 6);
		break;
	case 7: /* double free */
		if (sl->p) {
			unsigned char *p = sl->p;
			int c = sl->cache;
			enum kmem_status st;

			good_free(r, k, false);
			st = c < 0 ? kmem_free_checked(r->s, p) : kmem_cache_free_checked(r->c[c], p);
			/* a freed direct/large block reads as foreign: its owner word is gone */
			CHECK(st == KMEM_DOUBLE_FREE || st == KMEM_FOREIGN_POINTER);
			r->expect++;
		}
		break;
	case 8: /* interior pointer (always inside the slot's own object) */
		if (sl->p && sl->size > 1) {
			unsigned char *q = sl->p + 1 + b % (sl->size - 1);
			enum kmem_status st = sl->cache < 0 ? kmem_free_checked(r->s, q)
							    : kmem_cache_free_checked(r->c[sl->cache], q);

			CHECK(st == KMEM_INTERIOR_POINTER);
			r->expect++;
		}
		break;
	case 9: /* wrong cache, or foreign */
		if (sl->p) {
			struct kmem_cache *other = NULL;

			for (int i = 0; i < CACHES && !other; i++)
				if (r->c[i] && i != sl->cache)
					other = r->c[i];
			if (other) {
				CHECK(kmem_cache_free_checked(other, sl->p) == KMEM_WRONG_CACHE);
				r->expect++;
			}
		} else {
			uint64_t local = 0;

			CHECK(kmem_free_checked(r->s, &local) == KMEM_FOREIGN_POINTER);
			r->expect++;
		}
		break;
	case 10: /* realloc (kmalloc slots) */
		if (sl->p && sl->cache < 0) {
			size_t sz = 2 + (size_t)a * (size_t)(b % 32 + 1) * 13, keep = sz < sl->size ? sz : sl->size;
			unsigned char *q;

			verify(sl, k);
			q = kmem_realloc(r->s, sl->p, sz);
			if (!q)
				break;
			CHECK(q[0] == (unsigned char)k);
			if (keep == sl->size)
				CHECK(q[keep - 1] == (unsigned char)~k);
			sl->p = q;
			sl->size = sz;
			stamp(sl, k);
		}
		break;
	case 11: /* shrink */
		if (r->c[ci])
			(void)kmem_cache_shrink(r->c[ci]);
		else
			(void)kmem_slab_shrink(r->s);
		break;
	case 12: /* working-set reap */
		if (r->c[ci])
			(void)kmem_cache_reap(r->c[ci]);
		else
			(void)kmem_slab_reap(r->s);
		break;
	case 13: /* overflow into the red zone, then a checked free reports it */
		if (sl->p && sl->cache >= 0 && (r->cflags[sl->cache] & KMEM_CACHE_REDZONE)) {
			scribble(&sl->p[sl->size], 0x5a);
			good_free(r, k, false);
			r->expect++;
			CHECK(kmem_error_count(&r->sink, KMEM_REDZONE) > 0);
		}
		break;
	}
}

/* kmem_stack's add_regions callback: the arena with its frame table outside
 * it, sized from the buddy just made. */
struct fuzz_region {
	void *arena, *meta;
};

static int add_region(void *arg, struct kmem_buddy *b)
{
	struct fuzz_region *fr = arg;
	size_t msz = kmem_buddy_region_meta_size(b, fr->arena, ARENA);

	fr->meta = aligned_alloc(64, (msz + 63) & ~(size_t)63);
	CHECK(fr->meta != NULL);
	return kmem_buddy_add_region(b, fr->arena, ARENA, fr->meta, msz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kmem_stack_config cfg;
	struct kmem_stack stack;
	struct kmem_buddy_stats st;
	struct fuzz_region fr;
	struct run r;
	void *inst;
	size_t isz;

	memset(&r, 0, sizeof(r));
	kmem_error_sink_init(&r.sink);
	r.sink.flags = KMEM_ERROR_QUIET;
	/* slab straight on the buddy, both reporting to r.sink */
	kmem_stack_config_init(&cfg);
	cfg.no_pagealloc = true;
	cfg.sink = &r.sink;
	cfg.buddy.flags = KMEM_BUDDY_OWNERS;
	cfg.buddy.frame_size = (size && (data[0] & 1)) ? 1024 : 4096;
	/* the global debug default, for some inputs */
	cfg.slab.debug_flags = (KMEM_SLAB_DEBUG && size && (data[0] & 2)) ?
				       KMEM_CACHE_REDZONE | KMEM_CACHE_STORE_USER : 0;
	/* the magazine policy (decision 30): bits 2-3 the size, 4-5 the depot */
	if (size) {
		static const unsigned mag[4] = { 0, 1, KMEM_MAG_SIZE_AUTO, 200 };
		static const unsigned depot[4] = { 0, 1, 3, KMEM_DEPOT_AUTO };

		cfg.slab.mag_size = mag[(data[0] >> 2) & 3];
		if (cfg.slab.mag_size == 1)
			cfg.slab.mag_size = 1 + ((data[0] >> 6) & 3) * 2; /* 1, 3, 5, 7 */
		cfg.slab.depot_limit = depot[(data[0] >> 4) & 3];
		/* the slab policies (issue 16) from the last byte: the partial
		 * slab chosen, the empty slabs kept, colouring */
		{
			static const unsigned keep[4] = { 0, KMEM_SLAB_KEEP_NONE, 1, 64 };
			unsigned char last = data[size - 1];

			cfg.slab.partial = (unsigned)last % 3;
			cfg.slab.empty_keep = keep[(last >> 2) & 3];
			cfg.slab.no_colour = (last & 0x10) != 0;
		}
	}
	fr.arena = aligned_alloc((size_t)4 << 20, ARENA);
	fr.meta = NULL;
	CHECK(fr.arena != NULL);
	cfg.add_regions = add_region;
	cfg.add_regions_arg = &fr;
	isz = kmem_stack_sizeof(&cfg);
	inst = aligned_alloc(64, (isz + 63) & ~(size_t)63);
	CHECK(inst != NULL);
	CHECK(kmem_stack_init(inst, isz, &cfg, NULL, 0, NULL, 0, &stack) == 0);
	r.b = stack.buddy;
	r.s = stack.slab;
	for (size_t i = 1; i + 2 < size; i += 3) {
		op(&r, data[i], data[i + 1], data[i + 2]);
		/* contention, as if other threads waited on a depot lock: a
		 * self-tuning size grows at the cache's next depot exchange */
		if ((data[i] ^ data[i + 2]) == 0x5a && r.c[data[i + 1] % CACHES])
			kmem_mag_contention_inject(r.c[data[i + 1] % CACHES], KMEM_MAG_CONTENTION);
		check_all(&r);
	}
	/* leave some objects live: destroy reports and reclaims them. Direct
	 * objects (large kmalloc, direct caches) are freed first: a leaked one
	 * stays allocated in the page source by design. */
	for (unsigned k = 0; k < SLOTS; k++) {
		struct slot *sl = &r.slot[k];
		struct kmem_cache_stats cs;
		int direct = sl->cache < 0 && sl->p ? kmem_usable_size(r.s, sl->p) > r.s->class_max : 0;

		if (sl->p && sl->cache >= 0) {
			kmem_cache_get_stats(r.c[sl->cache], &cs);
			direct = cs.direct;
		}
		if (sl->p && ((k & 1) || direct))
			good_free(&r, k, (k & 2) != 0);
	}
	CHECK(kmem_slab_check(r.s) == 0); /* every cache, the kmalloc classes too */
	{
		unsigned long before = kmem_error_total(&r.sink);

		kmem_slab_destroy(r.s);
		r.leaks = kmem_error_count(&r.sink, KMEM_LEAK);
		CHECK(kmem_error_total(&r.sink) - before <= SLOTS + CACHES + 16);
	}
	CHECK(kmem_buddy_check(r.b) == 0);
	kmem_buddy_get_stats(r.b, &st);
	CHECK(st.used_frames == 0); /* every frame is back, leaked objects too */
	kmem_buddy_destroy(r.b);
	free(inst);
	free(fr.meta);
	free(fr.arena);
	return 0;
}
