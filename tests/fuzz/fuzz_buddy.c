/* fuzz_buddy.c - libFuzzer harness for the buddy allocator.
 *
 * The input is a program: a 4-byte header picks the geometry (frame size
 * 64..64K, max order 1..12, region skew and length) and the policy (bits
 * 3-4 of the first byte: LIFO, FIFO, address-ordered, LIFO; bit 5:
 * grouping by type, its pageblock order from the last byte), then each following
 * pair of bytes is one operation: alloc, checked free (right, wrong or any
 * order), double free, interior free, foreign free, reserve, unreserve, hot
 * add, stats/format. After every operation kmem_buddy_check() must pass, and
 * each misuse must be reported with the right status and change nothing.
 * Blocks carry their slot number in their first and last bytes, verified at
 * free, so overlapping allocations are caught. At the end everything is
 * freed and unreserved and the allocator must be back to its initial
 * buddyinfo.
 *
 * Built two ways: with clang -fsanitize=fuzzer (-Dfuzz=true), and with the
 * replay driver (replay.c) that runs a corpus and seeded random programs in
 * every ordinary build, under Valgrind and ASan too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/buddy.h>

#include "kmem_config.h" /* KMEM_BUDDY_RESERVE: reservations compiled in */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOTS 64
#define RESV 8
#define ARENA (2u << 20)

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "fuzz_buddy: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                       \
		}                                                                      \
	} while (0)

struct slot {
	unsigned char *p;
	unsigned order;
};

struct run {
	struct kmem_buddy *b;
	int owners;	/* KMEM_BUDDY_OWNERS: each block's frames name its slot */
	int grouping;	/* KMEM_BUDDY_GROUPING */
	unsigned long bad_types;	/* kmem_buddy_alloc_type() with a bad type */
	struct kmem_error_sink sink;
	size_t fs;
	unsigned max_order;
	unsigned char *arena;
	unsigned char *lo, *hi; /* first region as given */
	struct slot slot[SLOTS];
	struct {
		unsigned char *a;
		size_t len;
	} resv[RESV];
	unsigned long expect_errors;
};

static void stats(struct run *r, struct kmem_buddy_stats *st)
{
	kmem_buddy_get_stats(r->b, st);
}

static void expect_bad_free(struct run *r, void *p, int order, enum kmem_status want)
{
	struct kmem_buddy_stats a, b;
	enum kmem_status got;

	stats(r, &a);
	got = kmem_buddy_free_checked(r->b, p, order);
	stats(r, &b);
	if (want != KMEM_OK)
		CHECK(got == want);
	CHECK(got != KMEM_OK);
	r->expect_errors++;
	CHECK(a.used_frames == b.used_frames && a.free_frames == b.free_frames);
	CHECK(a.reserved_frames == b.reserved_frames);
}

static void mark(struct run *r, unsigned s)
{
	size_t bytes = r->fs << r->slot[s].order;

	r->slot[s].p[0] = (unsigned char)s;
	r->slot[s].p[bytes - 1] = (unsigned char)~s;
}

static void verify(struct run *r, unsigned s)
{
	size_t bytes = r->fs << r->slot[s].order;

	CHECK(r->slot[s].p[0] == (unsigned char)s);
	CHECK(r->slot[s].p[bytes - 1] == (unsigned char)~s);
	if (r->owners) {
		/* any frame of the block names the slot; then clear, as an
		 * owner must before it frees the block */
		CHECK(kmem_buddy_owner(r->b, r->slot[s].p + bytes / 2) == &r->slot[s]);
		CHECK(kmem_buddy_owner(r->b, r->slot[s].p + bytes - 1) == &r->slot[s]);
		CHECK(kmem_buddy_set_owner(r->b, r->slot[s].p, NULL) == 0);
	}
}

static void op(struct run *r, uint8_t code, uint8_t arg)
{
	unsigned s = arg % SLOTS;
	struct slot *sl = &r->slot[s];

	switch (code % 10) {
	case 0:
	case 1:
	case 2: { /* alloc into an empty slot: untyped, typed, or a bad type */
		unsigned order = arg % (r->max_order + 2u), type = (code / 10u) % 8u;
		unsigned char *p;

		if (sl->p)
			break;
		if (type == 7) { /* NULL, counted, nothing else */
			struct kmem_buddy_stats a, b;

			stats(r, &a);
			CHECK(kmem_buddy_alloc_type(r->b, order > r->max_order ? 0 : order,
						    KMEM_BUDDY_NR_TYPES + arg) == NULL);
			stats(r, &b);
			CHECK(b.fail_bad_type == a.fail_bad_type + 1 && ++r->bad_types == b.fail_bad_type);
			CHECK(a.free_frames == b.free_frames && a.allocs == b.allocs);
			break;
		}
		p = type < KMEM_BUDDY_NR_TYPES ? kmem_buddy_alloc_type(r->b, order, type)
					       : kmem_buddy_alloc(r->b, order);
		if (order > r->max_order) {
			CHECK(p == NULL);
			break;
		}
		if (!p)
			break;
		CHECK(((uintptr_t)p & ((r->fs << order) - 1)) == 0);
		*sl = (struct slot){ p, order };
		mark(r, s);
		if (r->owners) {
			CHECK(kmem_buddy_owner(r->b, p) == NULL);
			CHECK(kmem_buddy_set_owner(r->b, p, sl) == 0);
		}
		break;
	}
	case 3:
	case 4: /* good free: exact order or any */
		if (!sl->p)
			break;
		verify(r, s);
		CHECK(kmem_buddy_free_checked(r->b, sl->p, (arg & 0x80) ? KMEM_BUDDY_ANY_ORDER
									  : (int)sl->order) == KMEM_OK);
		sl->p = NULL;
		break;
	case 5: /* double free right after a free */
		if (!sl->p)
			break;
		verify(r, s);
		CHECK(kmem_buddy_free_checked(r->b, sl->p, (int)sl->order) == KMEM_OK);
		expect_bad_free(r, sl->p, (int)sl->order, KMEM_DOUBLE_FREE);
		sl->p = NULL;
		break;
	case 6: /* interior pointer, or wrong order (which frees) */
		if (!sl->p)
			break;
		if (arg & 1) {
			expect_bad_free(r, sl->p + 1 + (arg % (r->fs - 1)), KMEM_BUDDY_ANY_ORDER,
					KMEM_INTERIOR_POINTER);
		} else {
			struct kmem_buddy_stats a, b;
			int wrong = (int)((sl->order + 1 + arg % 3) % (r->max_order + 1u));

			if (wrong == (int)sl->order)
				break;
			verify(r, s);
			stats(r, &a);
			CHECK(kmem_buddy_free_checked(r->b, sl->p, wrong) == KMEM_WRONG_ORDER);
			stats(r, &b);
			CHECK(b.used_frames + ((size_t)1 << sl->order) == a.used_frames);
			r->expect_errors++;
			sl->p = NULL;
		}
		break;
	case 7: { /* foreign pointer: a local, just past the region, or exactly
		   2^32 frames away from a live block (a 32-bit index would alias) */
		unsigned char local;
		void *p = (void *)(r->hi + r->fs * 8);

		if (arg & 1)
			p = &local;
#if UINTPTR_MAX > UINT32_MAX /* a 32-bit address space has no such pointer */
		else if ((arg & 2) && sl->p)
			p = (void *)((uintptr_t)sl->p + ((uintptr_t)r->fs << 32));
#endif
		expect_bad_free(r, p, KMEM_BUDDY_ANY_ORDER, KMEM_FOREIGN_POINTER);
		break;
	}
	case 8: { /* reserve a range; remember it */
		unsigned k = arg % RESV;
		size_t off = ((size_t)arg * 2654435761u) % (size_t)(r->hi - r->lo);
		size_t len = 1 + (arg % 5) * r->fs + (arg & 7);
		struct kmem_buddy_stats a, b;
		int rc;

		if (r->resv[k].a || off + len > (size_t)(r->hi - r->lo))
			break;
		stats(r, &a);
		rc = kmem_buddy_reserve(r->b, r->lo + off, len);
		stats(r, &b);
		if (rc == 0) {
			r->resv[k].a = r->lo + off;
			r->resv[k].len = len;
		} else {
			/* compiled out (-Dbuddy_reserve): always refused */
			CHECK(KMEM_BUDDY_RESERVE ? rc == -EBUSY || rc == -EINVAL : rc == -ENOTSUP);
			CHECK(a.reserved_frames == b.reserved_frames && a.free_frames == b.free_frames);
		}
		break;
	}
	case 9: { /* unreserve; or stats and formats */
		unsigned k = arg % RESV;

		if (r->resv[k].a) {
			/* overlapping reservations may make this fail; then
			 * nothing may change */
			struct kmem_buddy_stats a, b;
			int rc;

			stats(r, &a);
			rc = kmem_buddy_unreserve(r->b, r->resv[k].a, r->resv[k].len);
			stats(r, &b);
			if (rc)
				CHECK(a.reserved_frames == b.reserved_frames);
			else
				r->resv[k].a = NULL;
		} else {
			char buf[1024];
			struct kmem_buddy_stats st;

			stats(r, &st);
			CHECK(st.free_frames + st.used_frames + st.reserved_frames == st.managed_frames);
			for (unsigned j = 0; j <= r->max_order; j++) {
				int u = kmem_buddy_unusable_index(&st, j), e = kmem_buddy_extfrag_index(&st, j);

				size_t suitable = 0;

				for (unsigned o = j; o <= r->max_order; o++)
					suitable += st.free_blocks[o];
				CHECK(u >= 0 && u <= 1000);
				CHECK(e >= -1000 && e <= 1000);
				CHECK((e == -1000) == (suitable > 0));
			}
			CHECK(kmem_buddy_format_json(r->b, buf, sizeof(buf)) > 0);
			CHECK(kmem_buddy_format_buddyinfo(r->b, buf, sizeof(buf)) > 0);
			CHECK(kmem_buddy_format_pagetypeinfo(r->b, buf, sizeof(buf)) > 0);
			{ /* per-type free frames add up (G3) */
				struct kmem_buddy_type_stats ts;
				size_t sum = 0;

				kmem_buddy_get_type_stats(r->b, &ts);
				CHECK((ts.pageblock_order != 0) == (r->grouping != 0));
				for (unsigned t = 0; t < KMEM_BUDDY_NR_TYPES; t++)
					sum += ts.free_frames[t];
				CHECK(!r->grouping || sum == st.free_frames);
			}
		}
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t frames[] = { 64, 128, 256, 512, 1024, 4096, 16384, 65536 };
	struct kmem_buddy_config cfg;
	struct run r;
	char before[1024], after[1024];
	void *inst;
	size_t len;

	if (size < 4)
		return 0;
	memset(&r, 0, sizeof(r));
	kmem_error_sink_init(&r.sink);
	r.sink.flags = KMEM_ERROR_QUIET;
	kmem_buddy_config_init(&cfg);
	r.fs = frames[data[0] % 8];
	r.max_order = 1 + data[1] % 12;
	cfg.frame_size = r.fs;
	cfg.max_order = r.max_order;
	cfg.sink = &r.sink;
	cfg.flags = (data[0] & 0x80) ? KMEM_BUDDY_NOLOCK : 0;
	r.owners = (data[1] & 0x80) != 0;
	if (r.owners)
		cfg.flags |= KMEM_BUDDY_OWNERS;
	cfg.discipline = ((data[0] >> 3) & 3) % 3u; /* 3: LIFO again */
	r.grouping = (data[0] & 0x20) != 0;
	if (r.grouping) {
		cfg.flags |= KMEM_BUDDY_GROUPING;
		cfg.pageblock_order = (data[3] >> 4) % (r.max_order + 1u); /* 0: default */
	}
	if (!kmem_buddy_sizeof(&cfg)) { /* policies compiled out (-ENOTSUP): the default */
		cfg.discipline = KMEM_BUDDY_LIFO;
		cfg.flags &= ~KMEM_BUDDY_GROUPING;
		cfg.pageblock_order = 0;
		r.grouping = 0;
	}
	inst = aligned_alloc(64, (kmem_buddy_sizeof(&cfg) + 63) & ~(size_t)63);
	CHECK(kmem_buddy_init(inst, kmem_buddy_sizeof(&cfg), &cfg, &r.b) == 0);
	r.arena = aligned_alloc(65536, ARENA);
	/* region: odd skew, length between 1 and ~256 frames (capped by the arena) */
	r.lo = r.arena + (data[2] % 64) * (r.fs / 8 + 1);
	len = ((size_t)data[3] + 1) * r.fs + data[2];
	if (len > ARENA / 2)
		len = ARENA / 2;
	r.hi = r.lo + len;
	/* the table inside the region when bit 6 of data[0] is set */
	if (data[0] & 0x40) {
		if (kmem_buddy_add_region(r.b, r.lo, len, NULL, 0) != 0)
			goto out;
	} else {
		size_t msz = kmem_buddy_region_meta_size(r.b, r.lo, len);
		void *meta = r.arena + ARENA - ((msz + 64) & ~(size_t)7);

		if (!msz || kmem_buddy_add_region(r.b, r.lo, len, meta, msz) != 0)
			goto out;
	}
	CHECK(kmem_buddy_check(r.b) == 0);
	kmem_buddy_format_buddyinfo(r.b, before, sizeof(before));
	for (size_t i = 4; i + 1 < size; i += 2) {
		op(&r, data[i], data[i + 1]);
		CHECK(kmem_buddy_check(r.b) == 0);
	}
	for (unsigned s = 0; s < SLOTS; s++)
		if (r.slot[s].p) {
			verify(&r, s);
			kmem_buddy_free(r.b, r.slot[s].p);
		}
	/* undo reservations; overlapping ones free their shared frames once */
	for (unsigned k = 0; k < RESV; k++)
		if (r.resv[k].a && kmem_buddy_unreserve(r.b, r.resv[k].a, r.resv[k].len) == 0)
			r.resv[k].a = NULL;
	CHECK(kmem_buddy_check(r.b) == 0);
	CHECK(kmem_error_total(&r.sink) == r.expect_errors);
	{
		struct kmem_buddy_stats st;

		stats(&r, &st);
		CHECK(st.used_frames == 0);
		if (st.reserved_frames == 0) {
			kmem_buddy_format_buddyinfo(r.b, after, sizeof(after));
			CHECK(strcmp(before, after) == 0);
		}
	}
out:
	kmem_buddy_destroy(r.b);
	free(r.arena);
	free(inst);
	return 0;
}
