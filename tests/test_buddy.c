/* test_buddy.c - buddy allocator behaviour: configuration, regions, alignment,
 * reservations, hot-add, exhaust-and-return, statistics, formats, walk, page
 * source, and the checker's ability to see corruption. */
#include "buddy_fixture.h"

#include <errno.h>

#include "buddy_internal.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* ---- configuration ------------------------------------------------------- */

static void test_config_validation(void **state)
{
	struct kmem_buddy_config cfg;
	struct kmem_buddy *b = NULL;
	static _Alignas(64) char small[64];
	char *mem;
	size_t need;

	(void)state;
	kmem_buddy_config_init(&cfg);
	assert_int_equal(cfg.frame_size, 4096);
	assert_int_equal(cfg.max_order, 10);
	need = kmem_buddy_sizeof(&cfg);
	assert_true(need > 0);
	assert_int_equal(kmem_buddy_sizeof(NULL), need);

	static const size_t bad_frames[] = { 32, 63, 100, 3000, 131072 };
	for (size_t i = 0; i < sizeof(bad_frames) / sizeof(bad_frames[0]); i++) {
		cfg.frame_size = bad_frames[i];
		assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
	}
	cfg.frame_size = 64;
	assert_true(kmem_buddy_sizeof(&cfg) > 0);
	cfg.frame_size = 65536;
	assert_true(kmem_buddy_sizeof(&cfg) > 0);
	cfg.max_order = 32;
	assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
	/* frame_size << max_order must fit an address: 2^(16 + 31) does on
	 * LP64, not on a 32-bit target, where 2^(16 + 15) is the largest */
	cfg.max_order = 31;
	if (UINTPTR_MAX > UINT32_MAX) {
		assert_true(kmem_buddy_sizeof(&cfg) > 0);
	} else {
		assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
		cfg.max_order = 16;
		assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
		cfg.max_order = 15;
		assert_true(kmem_buddy_sizeof(&cfg) > 0);
	}
	kmem_buddy_config_init(&cfg);
	cfg.max_regions = 65;
	assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
	cfg.max_regions = 64; /* without hot-add one region: -ENOTSUP, sizeof 0 */
	if (KMEM_BUDDY_HOTADD)
		assert_true(kmem_buddy_sizeof(&cfg) > kmem_buddy_sizeof(NULL));
	else
		assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
	cfg.flags = 0x80; /* unknown flag */
	assert_int_equal(kmem_buddy_sizeof(&cfg), 0);

	kmem_buddy_config_init(&cfg);
	mem = test_aligned(64, need + 16);
	assert_int_equal(kmem_buddy_init(mem + 8, need, &cfg, &b), -EINVAL); /* misaligned */
	assert_int_equal(kmem_buddy_init(NULL, need, &cfg, &b), -EINVAL);
	assert_int_equal(kmem_buddy_init(mem, need, &cfg, NULL), -EINVAL);
	assert_int_equal(kmem_buddy_init(small, sizeof(small), &cfg, &b), -ENOSPC);
	cfg.frame_size = 100;
	assert_int_equal(kmem_buddy_init(mem, need, &cfg, &b), -EINVAL);
	assert_int_equal(kmem_buddy_init(mem, need, NULL, &b), 0); /* defaults */
	assert_int_equal(kmem_buddy_frame_size(b), 4096);
	assert_int_equal(kmem_buddy_max_order(b), 10);
	assert_int_equal(kmem_buddy_check(b), 0);
	assert_null(kmem_buddy_alloc(b, 0)); /* no regions yet */
	kmem_buddy_destroy(b);
	free(mem);
}

/* The embedded way: one static array, one call. */
static _Alignas(16) unsigned char static_heap[256 * 1024 + 123];

static void test_create_in_static_array(void **state)
{
	struct kmem_buddy *b = NULL;
	struct kmem_buddy_config cfg;
	struct kmem_buddy_stats st;
	void **ptrs;
	size_t n = 0;

	(void)state;
	kmem_buddy_config_init(&cfg);
	cfg.frame_size = 1024;
	cfg.max_order = 6;
	cfg.flags = KMEM_BUDDY_NOLOCK;
	assert_int_equal(kmem_buddy_create_in(static_heap + 1, sizeof(static_heap) - 1, &cfg, &b), 0);
	kmem_buddy_get_stats(b, &st);
	/* everything but the instance, the table and alignment slack is managed */
	assert_true(st.managed_frames >= (sizeof(static_heap) - st.meta_bytes - 2 * 1024) / 1024);
	assert_true(st.managed_frames <= sizeof(static_heap) / 1024);
	ptrs = calloc(st.managed_frames + 1, sizeof(*ptrs));
	while ((ptrs[n] = kmem_buddy_alloc(b, 0)) != NULL) {
		unsigned char *p = ptrs[n];

		assert_true(p >= static_heap + st.meta_bytes && p + 1024 <= static_heap + sizeof(static_heap));
		assert_true((uintptr_t)b < (uintptr_t)p); /* instance lies before the frames */
		memset(p, 0xa5, 1024); /* the frame is ours: writing must not hurt the allocator */
		n++;
	}
	assert_int_equal(n, st.managed_frames);
	assert_int_equal(kmem_buddy_check(b), 0);
	for (size_t i = 0; i < n; i++)
		kmem_buddy_free(b, ptrs[i]);
	assert_int_equal(kmem_buddy_check(b), 0);
	kmem_buddy_get_stats(b, &st);
	assert_int_equal(st.used_frames, 0);
	assert_int_equal(kmem_error_total(kmem_buddy_error_sink(b)), 0);
	/* too small for anything */
	assert_int_equal(kmem_buddy_create_in(static_heap, 64, &cfg, &b), -ENOSPC);
	free(ptrs);
}

/* ---- exhaust and return -------------------------------------------------- */

struct blk {
	void *p;
	unsigned order;
};

static void shuffle(struct blk *v, size_t n, struct test_rng *rng)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)test_below(rng, i);
		struct blk t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

static int count_whole_max_blocks(void *arg, const struct kmem_buddy_block *blk)
{
	unsigned *counts = arg; /* [0] free max-order blocks, [1] anything else */

	counts[blk->state == KMEM_BUDDY_FREE && blk->order == counts[2] ? 0 : 1]++;
	return 0;
}

static void test_exhaust_and_return(void **state)
{
	struct test_rng rng = { test_seed(0x5eed0001, "exhaust_and_return") };
	char before[512], after[512];
	struct fixture fx;
	struct blk *v;
	size_t n = 0, used = 0;
	struct kmem_buddy_stats st;
	unsigned counts[3] = { 0, 0, 10 };

	(void)state;
	fx_init(&fx, 4096, 10, 0);
	fx_region(&fx, 4 * MiB, 0, 16 * MiB); /* 4 max-order blocks */
	fx_buddyinfo(&fx, before, sizeof(before));
	st = fx_stats(&fx);
	assert_int_equal(st.free_blocks[10], 4);
	v = calloc(st.managed_frames, sizeof(*v));
	for (unsigned rounds = 0; rounds < 3; rounds++) {
		/* random orders until even order 0 fails */
		for (;;) {
			unsigned order = (unsigned)test_below(&rng, 11);
			void *p = kmem_buddy_alloc(fx.b, order);

			while (!p && order > 0)
				p = kmem_buddy_alloc(fx.b, --order);
			if (!p)
				break;
			assert_true(((uintptr_t)p & ((4096u << order) - 1)) == 0);
			v[n++] = (struct blk){ p, order };
			used += (size_t)1 << order;
		}
		st = fx_stats(&fx);
		assert_int_equal(st.free_frames, 0);
		assert_int_equal(st.used_frames, used);
		assert_true(st.fail[0] >= 1);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		shuffle(v, n, &rng);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(kmem_buddy_free_checked(fx.b, v[i].p, (int)v[i].order), KMEM_OK);
		n = used = 0;
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		fx_buddyinfo(&fx, after, sizeof(after));
		assert_string_equal(before, after);
		counts[0] = counts[1] = 0;
		assert_int_equal(kmem_buddy_walk(fx.b, count_whole_max_blocks, counts), 0);
		assert_int_equal(counts[0], 4);
		assert_int_equal(counts[1], 0);
	}
	st = fx_stats(&fx);
	assert_true(st.peak_used_frames == st.managed_frames);
	assert_int_equal(st.allocs, st.frees);
	assert_int_equal(kmem_error_total(&fx.rec.sink), 0);
	free(v);
	fx_fini(&fx);
}

/* ---- alignment and carving ----------------------------------------------- */

struct span_check {
	uintptr_t lo, hi; /* region bytes as given */
	size_t frame;
	size_t frames;
	unsigned blocks;
};

static int check_block_in_span(void *arg, const struct kmem_buddy_block *blk)
{
	struct span_check *sc = arg;
	uintptr_t a = (uintptr_t)blk->addr;
	size_t bytes = sc->frame << blk->order;

	assert_true(a % bytes == 0);
	assert_true(a >= sc->lo && a + bytes <= sc->hi);
	sc->frames += (size_t)1 << blk->order;
	sc->blocks++;
	return 0;
}

/* Expected greedy carving of [first, last) frames into aligned blocks. */
static unsigned expected_blocks(uintptr_t pfn, uintptr_t end, unsigned max_order)
{
	unsigned n = 0;

	while (pfn < end) {
		unsigned o = max_order;

		while (o > 0 && ((pfn & (((uintptr_t)1 << o) - 1)) || pfn + ((uintptr_t)1 << o) > end))
			o--;
		pfn += (uintptr_t)1 << o;
		n++;
	}
	return n;
}

static void test_alignment_odd_regions(void **state)
{
	static const size_t frames[] = { 64, 512, 4096, 65536 };
	static const size_t skews[] = { 0, 1, 100, 4095, 3 * 4096 + 17 };

	(void)state;
	for (size_t fi = 0; fi < sizeof(frames) / sizeof(frames[0]); fi++) {
		for (size_t si = 0; si < sizeof(skews) / sizeof(skews[0]); si++) {
			size_t fs = frames[fi], size = 37 * fs + 11 + skews[si] * 3;
			unsigned max_order = 4;
			struct fixture fx;
			char *base;
			uintptr_t first, last;
			struct span_check sc = { 0 };
			struct kmem_buddy_stats st;

			fx_init(&fx, fs, max_order, 0);
			base = fx_region(&fx, 1 * MiB, skews[si], size);
			first = ((uintptr_t)base + fs - 1) / fs;
			last = ((uintptr_t)base + size) / fs;
			st = fx_stats(&fx);
			/* the unaligned head and tail are used, in smaller blocks */
			assert_int_equal(st.managed_frames, last - first);
			sc.lo = (uintptr_t)base;
			sc.hi = (uintptr_t)base + size;
			sc.frame = fs;
			assert_int_equal(kmem_buddy_walk(fx.b, check_block_in_span, &sc), 0);
			assert_int_equal(sc.frames, last - first);
			assert_int_equal(sc.blocks, expected_blocks(first, last, max_order));
			/* allocate everything, largest orders first: every block aligned */
			for (int order = (int)max_order; order >= 0; order--) {
				void *p;

				while ((p = kmem_buddy_alloc(fx.b, (unsigned)order)) != NULL) {
					assert_true((uintptr_t)p % (fs << order) == 0);
					assert_true((uintptr_t)p >= sc.lo && (uintptr_t)p + (fs << order) <= sc.hi);
				}
			}
			st = fx_stats(&fx);
			assert_int_equal(st.free_frames, 0);
			assert_int_equal(kmem_buddy_check(fx.b), 0);
			fx_fini(&fx);
		}
	}
}

static void test_size_and_alignment_requests(void **state)
{
	struct fixture fx;
	struct kmem_buddy_stats st;
	void *p;

	(void)state;
	fx_init(&fx, 4096, 8, 0);
	fx_region(&fx, 1 * MiB, 0, 4 * MiB);
	assert_int_equal(kmem_buddy_size_to_order(fx.b, 0), -1);
	assert_int_equal(kmem_buddy_size_to_order(fx.b, 1), 0);
	assert_int_equal(kmem_buddy_size_to_order(fx.b, 4096), 0);
	assert_int_equal(kmem_buddy_size_to_order(fx.b, 4097), 1);
	assert_int_equal(kmem_buddy_size_to_order(fx.b, 3 * 4096), 2);
	assert_int_equal(kmem_buddy_size_to_order(fx.b, (size_t)4096 << 8), 8);
	assert_int_equal(kmem_buddy_size_to_order(fx.b, ((size_t)4096 << 8) + 1), -1);
	assert_int_equal(kmem_buddy_size_to_order(fx.b, SIZE_MAX), -1);

	p = kmem_buddy_alloc_size(fx.b, 5000);
	assert_non_null(p);
	assert_int_equal(kmem_buddy_block_order(fx.b, p), 1);
	kmem_buddy_free(fx.b, p);
	assert_null(kmem_buddy_alloc_size(fx.b, 0));
	assert_null(kmem_buddy_alloc_size(fx.b, SIZE_MAX)); /* no overflow to a small order */
	assert_null(kmem_buddy_alloc(fx.b, 9));		 /* above max_order */
	st = fx_stats(&fx);
	assert_int_equal(st.fail_too_big, 2);

	p = kmem_buddy_alloc_aligned(fx.b, 100, 64 * KiB);
	assert_non_null(p);
	assert_true((uintptr_t)p % (64 * KiB) == 0);
	assert_int_equal(kmem_buddy_block_order(fx.b, p), 4);
	kmem_buddy_free(fx.b, p);
	p = kmem_buddy_alloc_aligned(fx.b, 3 * 4096, 16);
	assert_int_equal(kmem_buddy_block_order(fx.b, p), 2);
	kmem_buddy_free(fx.b, p);
	assert_null(kmem_buddy_alloc_aligned(fx.b, 100, 3));
	assert_null(kmem_buddy_alloc_aligned(fx.b, 100, 0));
	assert_null(kmem_buddy_alloc_aligned(fx.b, 0, 4096));
	assert_null(kmem_buddy_alloc_aligned(fx.b, 100, (size_t)4096 << 9));
	assert_int_equal(kmem_error_total(&fx.rec.sink), 0);
	fx_fini(&fx);
}

/* ---- reservations -------------------------------------------------------- */

static void test_reserve_and_unreserve(void **state)
{
	struct fixture fx;
	char before[512], after[512];
	char *base, *hole = NULL;
	size_t hole_size = 5 * 4096 + 300;
	struct kmem_buddy_stats st;
	void *p, *keep;
	unsigned got = 0;

	(void)state;
	TEST_NEEDS(KMEM_BUDDY_RESERVE, "reservations (-Dbuddy_reserve)");
	fx_init(&fx, 4096, 6, 0);
	base = fx_region(&fx, 256 * KiB, 0, 1 * MiB);
	fx_buddyinfo(&fx, before, sizeof(before));
	hole = base + 37 * 4096 + 100; /* frames 37..42 (widened) */
	assert_int_equal(kmem_buddy_reserve(fx.b, hole, hole_size), 0);
	st = fx_stats(&fx);
	assert_int_equal(st.reserved_frames, 6);
	assert_int_equal(st.free_frames + st.reserved_frames, st.managed_frames);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	/* reserving again (overlapping) is fine and changes nothing */
	assert_int_equal(kmem_buddy_reserve(fx.b, base + 38 * 4096, 4096), 0);
	assert_int_equal(fx_stats(&fx).reserved_frames, 6);
	/* outside every region, or straddling its end */
	assert_int_equal(kmem_buddy_reserve(fx.b, base - 3 * 4096, 4096), -EINVAL);
	assert_int_equal(kmem_buddy_reserve(fx.b, base + 1 * MiB - 4096, 8192), -EINVAL);
	assert_int_equal(kmem_buddy_reserve(fx.b, base, 0), -EINVAL);

	/* exhaust at order 0: no frame of the hole is ever handed out */
	while ((p = kmem_buddy_alloc(fx.b, 0)) != NULL) {
		assert_false((char *)p >= base + 37 * 4096 && (char *)p < base + 43 * 4096);
		got++;
	}
	assert_int_equal(got, 256 - 6);
	/* freeing inside the hole is refused and reported */
	assert_int_equal(kmem_buddy_free_checked(fx.b, base + 40 * 4096, KMEM_BUDDY_ANY_ORDER),
			 KMEM_RESERVED_FREE);
	assert_int_equal(kmem_error_count(&fx.rec.sink, KMEM_RESERVED_FREE), 1);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	/* a range with allocated frames cannot be reserved; nothing changes */
	st = fx_stats(&fx);
	assert_int_equal(kmem_buddy_reserve(fx.b, base, 64 * 4096), -EBUSY);
	assert_int_equal(fx_stats(&fx).reserved_frames, st.reserved_frames);
	for (unsigned i = 0; i < 256; i++)
		if (i < 37 || i >= 43)
			kmem_buddy_free(fx.b, base + (size_t)i * 4096);
	assert_int_equal(kmem_error_total(&fx.rec.sink), 1);

	/* unreserve must cover whole reserved blocks, and only reserved frames */
	assert_int_equal(kmem_buddy_unreserve(fx.b, hole, 4096), -EINVAL);
	assert_int_equal(kmem_buddy_unreserve(fx.b, base + 36 * 4096, 7 * 4096), -EINVAL);
	keep = kmem_buddy_alloc(fx.b, 0);
	assert_int_equal(kmem_buddy_unreserve(fx.b, base + 37 * 4096, 6 * 4096), 0);
	kmem_buddy_free(fx.b, keep);
	fx_buddyinfo(&fx, after, sizeof(after));
	assert_string_equal(before, after); /* merged back completely */
	assert_int_equal(fx_stats(&fx).reserved_frames, 0);
	fx_fini(&fx);
}

/* ---- hot-add ------------------------------------------------------------- */

/* kmem_buddy_trim: the kept frames become one block per set bit, largest
 * first; the rest is free at once and merges back when the pieces are
 * freed; bad calls change nothing. Then random trims and frees. */
static void test_trim(void **state)
{
	struct test_rng rng = { test_seed(0x5eed0007, "trim") };
	char before[512], after[512];
	struct fixture fx;
	struct kmem_buddy_stats st0, st;
	struct blk *v;
	size_t n = 0;
	char *p;

	(void)state;
	fx_init(&fx, 4096, 10, 0);
	fx_region(&fx, 4 * MiB, 0, 8 * MiB);
	fx_buddyinfo(&fx, before, sizeof(before));
	st0 = fx_stats(&fx);
	p = kmem_buddy_alloc(fx.b, 4); /* 16 frames */
	assert_non_null(p);
	memset(p, 0x3c, 11 * 4096);
	assert_int_equal(kmem_buddy_trim(fx.b, p, 10 * 4096 + 1), 3); /* 11 frames: 8 + 2 + 1 */
	assert_int_equal(kmem_buddy_block_order(fx.b, p), 3);
	assert_int_equal(kmem_buddy_block_order(fx.b, p + 8 * 4096), 1);
	assert_int_equal(kmem_buddy_block_order(fx.b, p + 10 * 4096), 0);
	assert_int_equal(kmem_buddy_block_order(fx.b, p + 11 * 4096), -1);
	for (size_t i = 0; i < 11 * 4096; i++)
		assert_int_equal((unsigned char)p[i], 0x3c);
	st = fx_stats(&fx);
	assert_int_equal(st.used_frames, 11);
	assert_int_equal(st.free_frames, st0.free_frames - 11);
	assert_int_equal(st.trims, 1);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	/* the freed frames are usable: order 0 at frame 11, order 2 at 12 */
	assert_ptr_equal(kmem_buddy_alloc(fx.b, 2), p + 12 * 4096);
	kmem_buddy_free(fx.b, p + 12 * 4096);
	/* nothing to trim: whole block kept */
	assert_int_equal(kmem_buddy_trim(fx.b, p, 8 * 4096), 1);
	assert_int_equal(fx_stats(&fx).trims, 1);
	/* bad calls: nothing changes, nothing reported */
	assert_int_equal(kmem_buddy_trim(fx.b, p, 0), -EINVAL);
	assert_int_equal(kmem_buddy_trim(fx.b, p, 8 * 4096 + 1), -EINVAL);
	assert_int_equal(kmem_buddy_trim(fx.b, p + 4096, 4096), -EINVAL);	/* interior */
	assert_int_equal(kmem_buddy_trim(fx.b, p + 11 * 4096, 4096), -EINVAL); /* free */
	assert_int_equal(kmem_buddy_trim(fx.b, p + 1, 4096), -EINVAL);	/* unaligned */
	assert_int_equal(kmem_buddy_trim(fx.b, &n, 4096), -EINVAL);	/* foreign */
	assert_int_equal(kmem_error_total(&fx.rec.sink), 0);
	assert_int_equal(fx_stats(&fx).used_frames, 11);
	kmem_buddy_free(fx.b, p + 8 * 4096);
	kmem_buddy_free(fx.b, p);
	kmem_buddy_free(fx.b, p + 10 * 4096);
	fx_buddyinfo(&fx, after, sizeof(after));
	assert_string_equal(before, after);

	/* random: allocate, trim to a random size, free pieces in random order */
	v = calloc(st0.managed_frames, sizeof(*v));
	assert_non_null(v);
	for (unsigned round = 0; round < 200; round++) {
		unsigned order = (unsigned)test_below(&rng, 8);
		char *q = kmem_buddy_alloc(fx.b, order);
		size_t keep;
		int pieces;

		if (!q || n + 16 > st0.managed_frames)
			break;
		keep = 1 + (size_t)test_below(&rng, (size_t)1 << order);
		pieces = kmem_buddy_trim(fx.b, q, keep * 4096 - (size_t)test_below(&rng, 4096));
		assert_int_equal(pieces, __builtin_popcountll(keep));
		for (unsigned j = order + 1, off = 0; j-- > 0;) {
			if (keep & ((size_t)1 << j)) {
				assert_int_equal(kmem_buddy_block_order(fx.b, q + (size_t)off * 4096), (int)j);
				v[n++] = (struct blk){ q + (size_t)off * 4096, j };
				off += 1u << j;
			}
		}
		if (round % 16 == 0) {
			assert_int_equal(kmem_buddy_check(fx.b), 0);
			shuffle(v, n, &rng);
			for (size_t i = 0; i < n / 2; i++)
				assert_int_equal(kmem_buddy_free_checked(fx.b, v[n - 1 - i].p,
									  (int)v[n - 1 - i].order),
						 KMEM_OK);
			n -= n / 2;
		}
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(kmem_buddy_free_checked(fx.b, v[i].p, (int)v[i].order), KMEM_OK);
	free(v);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	fx_buddyinfo(&fx, after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(kmem_error_total(&fx.rec.sink), 0);
	fx_fini(&fx);
}

static void test_hot_add(void **state)
{
	struct fixture fx;
	char *r1, *r2, *r3;
	void *p;
	static _Alignas(64) char meta[64];
	char *tiny;

	(void)state;
	TEST_NEEDS(KMEM_BUDDY_HOTADD, "several regions per instance (-Dbuddy_hotadd)");
	fx_init(&fx, 4096, 4, 0);
	r1 = fx_region(&fx, 64 * KiB, 0, 64 * KiB);
	while (kmem_buddy_alloc(fx.b, 0))
		;
	assert_null(kmem_buddy_alloc(fx.b, 0));
	r2 = fx_region(&fx, 64 * KiB, 4096, 128 * KiB);
	p = kmem_buddy_alloc(fx.b, 2);
	assert_non_null(p);
	assert_true((char *)p >= r2 && (char *)p < r2 + 128 * KiB);
	assert_int_equal(fx_stats(&fx).nr_regions, 2);
	/* overlapping regions are refused */
	assert_int_equal(kmem_buddy_add_region(fx.b, r1 + 8192, 4096, meta, sizeof(meta)), -EEXIST);
	/* so is a table inside the instance or inside another region's frames,
	 * and a region over memory that holds a frame table */
	{
		static _Alignas(64) char big_meta[1024];
		char *fresh = test_aligned(4096, 8 * 4096);
		char *tbl = test_aligned(4096, 4 * 4096);
		char *rr = test_aligned(4096, 8 * 4096);
		size_t msz = kmem_buddy_region_meta_size(fx.b, rr, 8 * 4096);

		assert_int_equal(kmem_buddy_add_region(fx.b, fresh, 8 * 4096, fx.inst, 1024), -EEXIST);
		assert_int_equal(kmem_buddy_add_region(fx.b, fresh, 8 * 4096, r2 + 4096, 1024), -EEXIST);
		/* frames after a table carved at r2 - 64 would run into r2 */
		assert_int_equal(kmem_buddy_add_region(fx.b, r2 - 64, 4 * 4096, NULL, 0), -EEXIST);
		assert_int_equal(kmem_buddy_add_region(fx.b, rr, 8 * 4096, tbl, msz), 0);
		assert_int_equal(kmem_buddy_add_region(fx.b, tbl, 4 * 4096, big_meta, sizeof(big_meta)),
				 -EEXIST);
		assert_int_equal(fx_stats(&fx).nr_regions, 3);
		assert_int_equal(kmem_buddy_check(fx.b), 0);
		fx.mem[fx.nmem] = rr; /* freed by fx_fini */
		fx.meta[fx.nmem++] = tbl;
		free(fresh);
	}
	/* a too-small or overlapping frame table is refused */
	tiny = test_aligned(4096, 16 * 4096);
	assert_int_equal(kmem_buddy_add_region(fx.b, tiny, 16 * 4096, meta, 8), -ENOSPC);
	assert_int_equal(kmem_buddy_add_region(fx.b, tiny, 16 * 4096, tiny + 4096, 1024), -EINVAL);
	assert_int_equal(kmem_buddy_add_region(fx.b, tiny, 16 * 4096, meta + 1, 63), -EINVAL);
	assert_int_equal(kmem_buddy_add_region(fx.b, tiny, 100, NULL, 0), -ENOSPC);
	assert_int_equal(kmem_buddy_add_region(fx.b, NULL, 100, NULL, 0), -EINVAL);
	/* table carved from the region itself */
	assert_int_equal(kmem_buddy_add_region(fx.b, tiny, 16 * 4096, NULL, 0), 0);
	assert_int_equal(fx_stats(&fx).nr_regions, 4);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	/* below the other regions in address order or above: lookups still work */
	r3 = tiny;
	p = NULL;
	for (int i = 0; i < 64 && !p; i++) {
		void *q = kmem_buddy_alloc(fx.b, 0);

		if (q && (char *)q >= r3 && (char *)q < r3 + 16 * 4096)
			p = q;
	}
	assert_non_null(p);
	assert_int_equal(kmem_buddy_block_order(fx.b, p), 0);
	assert_int_equal(kmem_buddy_free_checked(fx.b, p, 0), KMEM_OK);
	/* region limit */
	for (unsigned i = 4; i < KMEM_BUDDY_DEFAULT_REGIONS; i++)
		fx_region(&fx, 4096, 0, 8 * 4096);
	assert_int_equal(kmem_buddy_add_region(fx.b, meta, sizeof(meta), NULL, 0), -ENOSPC);
	{
		char *extra = test_aligned(4096, 8 * 4096);
		static _Alignas(64) char m2[256];

		assert_int_equal(kmem_buddy_add_region(fx.b, extra, 8 * 4096, m2, sizeof(m2)), -EMLINK);
		free(extra);
	}
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	assert_int_equal(kmem_error_total(&fx.rec.sink), 0);
	fx_fini(&fx);
	free(tiny);
}

/* ---- statistics and formats ---------------------------------------------- */

static void test_fragmentation_indexes(void **state)
{
	struct fixture fx;
	char *base, text[512], json[2048];
	struct kmem_buddy_stats st;
	void *p[8];

	(void)state;
	fx_init(&fx, 4096, 3, 0);
	base = fx_region(&fx, 32 * KiB, 0, 32 * KiB); /* one order-3 block */
	st = fx_stats(&fx);
	assert_int_equal(kmem_buddy_unusable_index(&st, 3), 0);
	assert_int_equal(kmem_buddy_extfrag_index(&st, 3), -1000);
	for (int i = 0; i < 8; i++)
		p[i] = kmem_buddy_alloc(fx.b, 0);
	st = fx_stats(&fx);
	assert_int_equal(kmem_buddy_unusable_index(&st, 0), 1000); /* nothing free */
	assert_int_equal(kmem_buddy_extfrag_index(&st, 0), 0);
	/* free every other frame: 4 free order-0 blocks that cannot merge */
	for (int i = 0; i < 8; i += 2)
		kmem_buddy_free(fx.b, base + i * 4096);
	(void)p;
	st = fx_stats(&fx);
	assert_int_equal(st.free_blocks[0], 4);
	assert_int_equal(kmem_buddy_unusable_index(&st, 0), 0);
	assert_int_equal(kmem_buddy_unusable_index(&st, 1), 1000);
	assert_int_equal(kmem_buddy_extfrag_index(&st, 0), -1000);
	/* 1 - (1 + F/2^j)/B with F = 4, B = 4, in Linux's integer thousandths */
	assert_int_equal(kmem_buddy_extfrag_index(&st, 1), 250);
	assert_int_equal(kmem_buddy_extfrag_index(&st, 2), 500);
	assert_int_equal(kmem_buddy_extfrag_index(&st, 3), 625);
	assert_true(kmem_buddy_format_fragindex(fx.b, text, sizeof(text)) < (int)sizeof(text));
	assert_non_null(strstr(text, "unusable_index: Node 0, zone     test 0.000 1.000 1.000 1.000 \n"));
	assert_non_null(strstr(text, "extfrag_index: Node 0, zone     test -1.000 0.250 0.500 0.625 \n"));
	fx_buddyinfo(&fx, text, sizeof(text));
	assert_string_equal(text, "Node 0, zone     test      4      0      0      0 \n");
	assert_true(kmem_buddy_format_json(fx.b, json, sizeof(json)) < (int)sizeof(json));
	assert_non_null(strstr(json, "\"name\":\"test\""));
	assert_non_null(strstr(json, "\"free_frames\":4,\"used_frames\":4"));
	assert_non_null(strstr(json, "\"free_blocks\":[4,0,0,0]"));
	assert_non_null(strstr(json, "\"extfrag_index\":[-1.000,0.250,0.500,0.625]"));
	/* snprintf semantics: truncation keeps a NUL and reports the full need */
	{
		char small[10];
		int need = kmem_buddy_format_json(fx.b, small, sizeof(small));

		assert_int_equal(need, (int)strlen(json));
		assert_int_equal(strlen(small), 9);
		assert_int_equal(kmem_buddy_format_json(fx.b, NULL, 0), need);
	}
	for (int i = 1; i < 8; i += 2)
		kmem_buddy_free(fx.b, base + i * 4096);
	fx_buddyinfo(&fx, text, sizeof(text));
	assert_string_equal(text, "Node 0, zone     test      0      0      0      1 \n");
	fx_fini(&fx);
}

struct walk_count {
	size_t frames[4];
	unsigned calls, stop_at;
	uintptr_t last;
};

static int walk_counter(void *arg, const struct kmem_buddy_block *blk)
{
	struct walk_count *wc = arg;

	assert_true((uintptr_t)blk->addr > wc->last);
	wc->last = (uintptr_t)blk->addr;
	wc->frames[blk->state] += (size_t)1 << blk->order;
	if (++wc->calls == wc->stop_at)
		return 42;
	return 0;
}

static void test_walk_matches_stats(void **state)
{
	struct fixture fx;
	struct walk_count wc = { 0 };
	struct kmem_buddy_stats st;
	char *base;

	(void)state;
	TEST_NEEDS(KMEM_BUDDY_HOTADD, "several regions per instance (-Dbuddy_hotadd)");
	TEST_NEEDS(KMEM_BUDDY_RESERVE, "reservations (-Dbuddy_reserve)");
	fx_init(&fx, 4096, 5, 0);
	base = fx_region(&fx, 128 * KiB, 4096, 600 * KiB);
	fx_region(&fx, 128 * KiB, 0, 300 * KiB);
	for (int i = 0; i < 20; i++)
		assert_non_null(kmem_buddy_alloc(fx.b, (unsigned)(i % 4)));
	assert_int_equal(kmem_buddy_reserve(fx.b, base + 100 * 4096, 3 * 4096), 0);
	st = fx_stats(&fx);
	assert_int_equal(kmem_buddy_walk(fx.b, walk_counter, &wc), 0);
	assert_int_equal(wc.frames[KMEM_BUDDY_FREE], st.free_frames);
	assert_int_equal(wc.frames[KMEM_BUDDY_USED], st.used_frames);
	assert_int_equal(wc.frames[KMEM_BUDDY_RESERVED], st.reserved_frames);
	memset(&wc, 0, sizeof(wc));
	wc.stop_at = 3;
	assert_int_equal(kmem_buddy_walk(fx.b, walk_counter, &wc), 42);
	assert_int_equal(wc.calls, 3);
	fx_fini(&fx);
}

/* ---- page source ---------------------------------------------------------- */

static void test_page_source(void **state)
{
	struct fixture fx;
	struct kmem_page_source ps;
	unsigned char *p;

	(void)state;
	fx_init(&fx, 4096, 4, 0);
	fx_region(&fx, 64 * KiB, 0, 64 * KiB);
	kmem_buddy_page_source(fx.b, &ps);
	assert_int_equal(ps.frame_size, 4096);
	assert_int_equal(ps.max_order, 4);
	for (unsigned order = 0; order <= 4; order++) {
		p = ps.alloc_pages(ps.ctx, order, 0);
		assert_non_null(p);
		memset(p, 0xee, 4096u << order);
		ps.free_pages(ps.ctx, p, order);
		p = ps.alloc_pages(ps.ctx, order, KMEM_PAGE_ZERO);
		for (size_t i = 0; i < (4096u << order); i++)
			assert_int_equal(p[i], 0);
		ps.free_pages(ps.ctx, p, order);
	}
	assert_null(ps.alloc_pages(ps.ctx, 5, 0));
	/* a wrong order through the page source is caught like any other */
	p = ps.alloc_pages(ps.ctx, 1, 0);
	ps.free_pages(ps.ctx, p, 0);
	assert_int_equal(kmem_error_count(&fx.rec.sink, KMEM_WRONG_ORDER), 1);
	assert_int_equal(fx_stats(&fx).used_frames, 0);
	fx_fini(&fx);
}

static void test_owner_words(void **state)
{
	struct fixture plain, fx;
	struct kmem_page_source ps;
	char *base, *p, *q, owner_a, owner_b;
	int local;

	(void)state;
	/* without KMEM_BUDDY_OWNERS: no table, nothing to set */
	fx_init(&plain, 4096, 4, 0);
	base = fx_region(&plain, 64 * KiB, 0, 64 * KiB);
	p = kmem_buddy_alloc(plain.b, 0);
	assert_int_equal(kmem_buddy_set_owner(plain.b, p, &owner_a), -ENOTSUP);
	assert_null(kmem_buddy_owner(plain.b, p));
	kmem_buddy_page_source(plain.b, &ps);
	assert_null(ps.set_owner);
	assert_null(ps.get_owner);
	/* the table costs 8 more bytes per frame with owners */
	fx_init(&fx, 4096, 4, KMEM_BUDDY_OWNERS);
	assert_int_equal(kmem_buddy_region_meta_size(fx.b, base, 64 * KiB),
			 kmem_buddy_region_meta_size(plain.b, base, 64 * KiB) + 16 * sizeof(void *));
	kmem_buddy_free(plain.b, p);
	fx_fini(&plain);

	base = fx_region(&fx, 64 * KiB, 0, 64 * KiB);
	p = kmem_buddy_alloc(fx.b, 2);
	q = kmem_buddy_alloc(fx.b, 0);
	assert_null(kmem_buddy_owner(fx.b, p)); /* fresh tables read NULL */
	assert_int_equal(kmem_buddy_set_owner(fx.b, p, &owner_a), 0);
	assert_int_equal(kmem_buddy_set_owner(fx.b, q, &owner_b), 0);
	for (size_t off = 0; off < 4 * 4096; off += 1000) /* every frame of the block */
		assert_ptr_equal(kmem_buddy_owner(fx.b, p + off), &owner_a);
	assert_ptr_equal(kmem_buddy_owner(fx.b, q + 4095), &owner_b);
	assert_null(kmem_buddy_owner(fx.b, &local)); /* foreign */
	assert_null(kmem_buddy_owner(fx.b, base + 64 * KiB));
	/* only the start of an allocated block takes an owner */
	assert_int_equal(kmem_buddy_set_owner(fx.b, p + 4096, &owner_b), -EINVAL);
	assert_int_equal(kmem_buddy_set_owner(fx.b, p + 1, &owner_b), -EINVAL);
	assert_int_equal(kmem_buddy_set_owner(fx.b, &local, &owner_b), -EINVAL);
	kmem_buddy_free(fx.b, q);
	assert_int_equal(kmem_buddy_set_owner(fx.b, q, &owner_b), -EINVAL); /* free now */
	/* through the page source, and cleared by the owner before freeing */
	kmem_buddy_page_source(fx.b, &ps);
	assert_ptr_equal(ps.get_owner(ps.ctx, p + 5), &owner_a);
	assert_int_equal(ps.set_owner(ps.ctx, p, NULL), 0);
	assert_null(ps.get_owner(ps.ctx, p + 3 * 4096));
	ps.free_pages(ps.ctx, p, 2);
	assert_int_equal(kmem_error_total(&fx.rec.sink), 0);
	fx_fini(&fx);
}

/* Tagged owner words (kmem_buddy_set_tag / _clear_tag / _get_tag): only the
 * first frame's word, a tag readers tell from a pointer, a compare-and-swap
 * clear; per-region words (two regions, so the second is found by search)
 * and one caller-supplied owner table. */
static void check_tags(struct kmem_buddy *b, char *p, char *q)
{
	uintptr_t v = 0;
	void *w;
	int local;

	assert_int_equal(kmem_buddy_set_tag(b, p, 4), 0);
	w = kmem_buddy_owner(b, p + 100);
	assert_true(kmem_owner_is_tag(w));
	assert_int_equal(kmem_owner_tag_value(w), 4);
	assert_int_equal(kmem_buddy_get_tag(b, p + 4095, &v), 1);
	assert_int_equal(v, 4);
	assert_null(kmem_buddy_owner(b, p + 4096)); /* the first frame only */
	assert_int_equal(kmem_buddy_get_tag(b, p + 4096, &v), 0);
	/* the largest value, and a pointer is no tag */
	assert_int_equal(kmem_buddy_set_tag(b, q, KMEM_OWNER_TAG_MAX), 0);
	assert_int_equal(kmem_buddy_get_tag(b, q, &v), 1);
	assert_true(v == KMEM_OWNER_TAG_MAX);
	assert_int_equal(kmem_buddy_clear_tag(b, q, KMEM_OWNER_TAG_MAX), 0);
	assert_int_equal(kmem_buddy_set_owner(b, q, &local), 0);
	assert_false(kmem_owner_is_tag(kmem_buddy_owner(b, q)));
	assert_int_equal(kmem_buddy_get_tag(b, q, &v), 0);
	assert_int_equal(kmem_buddy_clear_tag(b, q, 0), -EALREADY); /* a pointer stays */
	assert_ptr_equal(kmem_buddy_owner(b, q), &local);
	assert_int_equal(kmem_buddy_set_owner(b, q, NULL), 0);
	/* a new value replaces the old; clear wants the current one */
	assert_int_equal(kmem_buddy_set_tag(b, p, 3), 0);
	assert_int_equal(kmem_buddy_clear_tag(b, p, 4), -EALREADY);
	assert_int_equal(kmem_buddy_get_tag(b, p, &v), 1);
	assert_int_equal(v, 3);
	assert_int_equal(kmem_buddy_clear_tag(b, p, 3), 0);
	assert_null(kmem_buddy_owner(b, p));
	assert_int_equal(kmem_buddy_clear_tag(b, p, 3), -EALREADY); /* the second free loses */
	/* invalid: misaligned, foreign, a value too large */
	assert_int_equal(kmem_buddy_set_tag(b, p + 1, 1), -EINVAL);
	assert_int_equal(kmem_buddy_clear_tag(b, p + 8, 1), -EINVAL);
	assert_int_equal(kmem_buddy_set_tag(b, &local, 1), -EINVAL);
	assert_int_equal(kmem_buddy_set_tag(b, p, KMEM_OWNER_TAG_MAX + 1), -EINVAL);
	assert_int_equal(kmem_buddy_get_tag(b, &local, &v), 0);
}

static void test_owner_tags(void **state)
{
	struct fixture plain, fx;
	struct kmem_buddy_config bc;
	struct kmem_buddy *tb;
	void **table, *tinst, *tmeta;
	char *p, *q, *range;
	size_t msz;

	(void)state;
	TEST_NEEDS(KMEM_BUDDY_HOTADD, "several regions per instance (-Dbuddy_hotadd)");
	/* the encoding: bit 0 set, the value back, a pointer never a tag */
	assert_true(kmem_owner_is_tag(kmem_owner_tag(0)));
	assert_int_equal(kmem_owner_tag_value(kmem_owner_tag(12345)), 12345);
	assert_true(kmem_owner_tag_value(kmem_owner_tag(KMEM_OWNER_TAG_MAX)) == KMEM_OWNER_TAG_MAX);
	assert_false(kmem_owner_is_tag(&plain));
	assert_false(kmem_owner_is_tag(NULL));
	/* no owner words: nothing to tag */
	fx_init(&plain, 4096, 4, 0);
	fx_region(&plain, 64 * KiB, 0, 64 * KiB);
	p = kmem_buddy_alloc(plain.b, 0);
	assert_int_equal(kmem_buddy_set_tag(plain.b, p, 1), -ENOTSUP);
	assert_int_equal(kmem_buddy_clear_tag(plain.b, p, 1), -ENOTSUP);
	kmem_buddy_free(plain.b, p);
	fx_fini(&plain);
	/* per-region words, in each of two regions (one of them is not the
	 * lowest, so its words are found by search) */
	fx_init(&fx, 4096, 4, KMEM_BUDDY_OWNERS);
	fx_region(&fx, 64 * KiB, 0, 64 * KiB);
	fx_region(&fx, 64 * KiB, 0, 64 * KiB);
	for (int i = 0; i < 2; i++) {
		char *fill = kmem_buddy_alloc(fx.b, 4); /* one whole region */

		if (i == 1) { /* the other one this time */
			char *other = kmem_buddy_alloc(fx.b, 4);

			kmem_buddy_free(fx.b, fill);
			fill = other;
		}
		p = kmem_buddy_alloc(fx.b, 2);
		q = kmem_buddy_alloc(fx.b, 0);
		assert_non_null(fill);
		assert_non_null(p);
		assert_non_null(q);
		check_tags(fx.b, p, q);
		kmem_buddy_free(fx.b, q);
		kmem_buddy_free(fx.b, p);
		kmem_buddy_free(fx.b, fill);
	}
	assert_int_equal(kmem_error_total(&fx.rec.sink), 0);
	fx_fini(&fx);
	/* one owner table for a range; a region inside it */
	range = test_aligned(64 * KiB, 256 * KiB);
	table = calloc(256 * KiB / 4096, sizeof(void *));
	assert_non_null(table);
	kmem_buddy_config_init(&bc);
	bc.max_order = 4;
	bc.flags = KMEM_BUDDY_OWNERS;
	bc.owner_table = table;
	bc.owner_base = range;
	bc.owner_frames = 256 * KiB / 4096;
	tinst = test_aligned(64, kmem_buddy_sizeof(&bc));
	assert_int_equal(kmem_buddy_init(tinst, kmem_buddy_sizeof(&bc), &bc, &tb), 0);
	msz = kmem_buddy_region_meta_size(tb, range + 64 * KiB, 64 * KiB);
	tmeta = test_aligned(64, msz);
	assert_int_equal(kmem_buddy_add_region(tb, range + 64 * KiB, 64 * KiB, tmeta, msz), 0);
	p = kmem_buddy_alloc(tb, 2);
	q = kmem_buddy_alloc(tb, 0);
	check_tags(tb, p, q);
	assert_true(table[(size_t)(p - range) / 4096] == NULL);
	assert_int_equal(kmem_buddy_set_tag(tb, p, 7), 0);
	assert_true(kmem_owner_tag_value(table[(size_t)(p - range) / 4096]) == 7); /* the table's word */
	assert_int_equal(kmem_buddy_clear_tag(tb, p, 7), 0);
	assert_int_equal(kmem_buddy_set_tag(tb, range + 256 * KiB, 1), -EINVAL); /* past the table */
	kmem_buddy_free(tb, q);
	kmem_buddy_free(tb, p);
	assert_int_equal(kmem_buddy_check(tb), 0);
	kmem_buddy_destroy(tb);
	free(tmeta);
	free(tinst);
	free(table);
	free(range);
}

static void test_nolock_instance(void **state)
{
	struct fixture fx;
	void *a, *b2;

	(void)state;
	fx_init(&fx, 256, 7, KMEM_BUDDY_NOLOCK);
	fx_region(&fx, 4096, 0, 64 * KiB);
	a = kmem_buddy_alloc(fx.b, 3);
	b2 = kmem_buddy_alloc(fx.b, 3);
	assert_true((uintptr_t)a % 2048 == 0 && (uintptr_t)b2 % 2048 == 0);
	assert_ptr_not_equal(a, b2);
	kmem_buddy_free(fx.b, a);
	kmem_buddy_free(fx.b, b2);
	assert_int_equal(fx_stats(&fx).free_frames, 256);
	fx_fini(&fx);
}

/* ---- the checker sees corruption ------------------------------------------ */

static void test_check_detects_corruption(void **state)
{
	struct fixture fx;
	struct buddy_region *r;
	uint8_t saved;
	uint32_t idx_q;
	size_t nfree;
	void *p, *q;

	(void)state;
	fx_init(&fx, 4096, 4, 0);
	fx_region(&fx, 64 * KiB, 0, 128 * KiB);
	p = kmem_buddy_alloc(fx.b, 0);
	q = kmem_buddy_alloc(fx.b, 0);
	r = &fx.b->region[0];

	/* I1: a tail frame claiming to be a head */
	saved = r->tag[20];
	r->tag[20] = buddy_tag(BT_USED, 0);
	assert_int_equal(kmem_buddy_check(fx.b), -EFAULT);
	assert_report_has(fx.rec.detail, "I1");
	r->tag[20] = saved;
	/* I4: two free buddies left unmerged. p and q split from one block, so
	 * they are buddies: free p, then forge q free too. */
	assert_int_equal(((uintptr_t)p ^ (uintptr_t)q), 4096);
	kmem_buddy_free(fx.b, p);
	idx_q = (uint32_t)(((uintptr_t)q - r->base) >> 12);
	r->tag[idx_q] = buddy_tag(BT_FREE, 0);
	assert_int_equal(kmem_buddy_check(fx.b), -EFAULT);
	assert_report_has(fx.rec.detail, "I4");
	r->tag[idx_q] = buddy_tag(BT_USED, 0);
	/* I3: a broken list link */
	r->link[r->head[2]].prev = 7;
	assert_int_equal(kmem_buddy_check(fx.b), -EFAULT);
	assert_report_has(fx.rec.detail, "I3");
	r->link[r->head[2]].prev = BUDDY_NIL;
	/* I6: a counter off by one */
	nfree = fx.b->nr_free[1];
	fx.b->nr_free[1] = nfree + 1;
	assert_int_equal(kmem_buddy_check(fx.b), -EFAULT);
	assert_report_has(fx.rec.detail, "I6");
	fx.b->nr_free[1] = nfree;
	fx.b->used_frames++;
	assert_int_equal(kmem_buddy_check(fx.b), -EFAULT);
	fx.b->used_frames--;
	/* I5: mask out of sync */
	fx.b->order_mask ^= 1u << 3;
	assert_int_equal(kmem_buddy_check(fx.b), -EFAULT);
	assert_report_has(fx.rec.detail, "I5");
	fx.b->order_mask ^= 1u << 3;

	assert_int_equal(kmem_error_count(&fx.rec.sink, KMEM_CORRUPTION), 6);
	assert_int_equal(fx.rec.last.status, KMEM_CORRUPTION);
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	kmem_buddy_free(fx.b, q);
	assert_int_equal(fx_stats(&fx).used_frames, 0);
	fx_fini(&fx);
}

/* The compile-time sizes (kmem/buddy.h): constant expressions a static
 * array can use, at least the run-time sizes, and exact for the table. */
static _Alignas(16) unsigned char sized_inst[KMEM_BUDDY_SIZEOF(4)];
_Static_assert(KMEM_BUDDY_SIZEOF(8) - KMEM_BUDDY_SIZEOF(7) == 256, "a region slot is 256 bytes");
_Static_assert(KMEM_BUDDY_TABLE_BYTES(10, 0) == 16 + 80, "tags rounded to 8, 8 bytes of links");

/* The firmware profile's buddy compile-outs (docs/decisions.md 31) fail
 * cleanly: a call documented to refuse does so and changes nothing, and the
 * instance goes on working. In a build with the features the same calls
 * succeed (the other tests cover what they do). */
static void test_compiled_out_features(void **state)
{
	struct fixture fx;
	struct kmem_buddy_config cfg;
	struct kmem_buddy *b;
	char *base, *more = test_aligned(4096, 64 * KiB);
	void *p;
	size_t free_before;

	(void)state;
	kmem_buddy_config_init(&cfg);
	assert_int_equal(cfg.max_regions, KMEM_BUDDY_HOTADD ? KMEM_BUDDY_DEFAULT_REGIONS : 1);
	cfg.max_regions = 2;
	if (!KMEM_BUDDY_HOTADD) {
		assert_int_equal(kmem_buddy_sizeof(&cfg), 0);
		assert_int_equal(kmem_buddy_init(sized_inst, sizeof(sized_inst), &cfg, &b), -ENOTSUP);
	}
	fx_init(&fx, 4096, 4, 0);
	base = fx_region(&fx, 64 * KiB, 0, 64 * KiB);
	p = kmem_buddy_alloc(fx.b, 0);
	assert_non_null(p);
	free_before = kmem_buddy_free_frames(fx.b);
	if (!KMEM_BUDDY_RESERVE) {
		assert_int_equal(kmem_buddy_reserve(fx.b, base + 8 * 4096, 4096), -ENOTSUP);
		assert_int_equal(kmem_buddy_unreserve(fx.b, base + 8 * 4096, 4096), -ENOTSUP);
	} else {
		assert_int_equal(kmem_buddy_reserve(fx.b, base + 8 * 4096, 4096), 0);
		assert_int_equal(kmem_buddy_free_frames(fx.b), free_before - 1);
		assert_int_equal(kmem_buddy_unreserve(fx.b, base + 8 * 4096, 4096), 0);
	}
	assert_int_equal(kmem_buddy_free_frames(fx.b), free_before);
	if (!KMEM_BUDDY_HOTADD) {
		assert_int_equal(kmem_buddy_add_region(fx.b, more, 64 * KiB, NULL, 0), -ENOTSUP);
		assert_int_equal(kmem_buddy_free_frames(fx.b), free_before);
	} else {
		assert_int_equal(kmem_buddy_add_region(fx.b, more, 64 * KiB, NULL, 0), 0);
		assert_true(kmem_buddy_free_frames(fx.b) > free_before);
	}
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	assert_int_equal(kmem_buddy_free_checked(fx.b, p, 0), KMEM_OK);
	assert_int_equal(fx.rec.calls, 0);
	fx_fini(&fx);
	free(more);
}

static void test_compile_time_sizes(void **state)
{
	struct kmem_buddy_config cfg;
	struct kmem_buddy *b;
	static _Alignas(256) unsigned char arena[1 << 16];

	(void)state;
	kmem_buddy_config_init(&cfg);
	cfg.frame_size = 256;
	for (unsigned n = 1; n <= (KMEM_BUDDY_HOTADD ? KMEM_BUDDY_REGION_LIMIT : 1); n++) {
		cfg.max_regions = n;
		cfg.flags = 0;
		assert_true(KMEM_BUDDY_SIZEOF(n) >= kmem_buddy_sizeof(&cfg));
		cfg.flags = KMEM_BUDDY_OWNERS | KMEM_BUDDY_NOLOCK;
		assert_true(KMEM_BUDDY_SIZEOF(n) >= kmem_buddy_sizeof(&cfg));
		assert_true(KMEM_BUDDY_SIZEOF(n) - kmem_buddy_sizeof(&cfg) < 1024); /* a bound, not a guess */
	}
	cfg.max_regions = KMEM_BUDDY_HOTADD ? 4 : 1;
	cfg.flags = 0;
	assert_int_equal(kmem_buddy_init(sized_inst, sizeof(sized_inst), &cfg, &b), 0);
	for (size_t frames = 1; frames <= 64; frames += 7) {
		size_t bytes = frames * cfg.frame_size; /* arena: frame-aligned, so exactly frames */

		if (bytes > sizeof(arena))
			break;
		assert_int_equal(kmem_buddy_region_meta_size(b, arena, bytes),
				 KMEM_BUDDY_TABLE_BYTES(frames, 0));
	}
	kmem_buddy_destroy(b);
	cfg.flags = KMEM_BUDDY_OWNERS;
	assert_int_equal(kmem_buddy_init(sized_inst, sizeof(sized_inst), &cfg, &b), 0);
	assert_int_equal(kmem_buddy_region_meta_size(b, arena, 5 * cfg.frame_size),
			 KMEM_BUDDY_TABLE_BYTES(5, 1));
	kmem_buddy_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compile_time_sizes),
		cmocka_unit_test(test_compiled_out_features),
		cmocka_unit_test(test_config_validation),
		cmocka_unit_test(test_create_in_static_array),
		cmocka_unit_test(test_exhaust_and_return),
		cmocka_unit_test(test_alignment_odd_regions),
		cmocka_unit_test(test_size_and_alignment_requests),
		cmocka_unit_test(test_reserve_and_unreserve),
		cmocka_unit_test(test_trim),
		cmocka_unit_test(test_hot_add),
		cmocka_unit_test(test_fragmentation_indexes),
		cmocka_unit_test(test_walk_matches_stats),
		cmocka_unit_test(test_page_source),
		cmocka_unit_test(test_owner_words),
		cmocka_unit_test(test_owner_tags),
		cmocka_unit_test(test_nolock_instance),
		cmocka_unit_test(test_check_detects_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
