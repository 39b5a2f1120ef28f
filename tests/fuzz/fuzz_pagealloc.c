/* fuzz_pagealloc.c - libFuzzer harness for the frame service (pagealloc).
 *
 * Input: two configuration bytes (frame size, init policy, thread caches,
 * background zeroing, a shrinker, a grow hook, the release step (owner
 * words, KMEM_PA_RELEASE, the grow hook's region added as fresh memory);
 * share
 * policy, reclaim scope, thread-cache batch and high), then a
 * program of 3-byte operations on up to 48 block slots and 4 clients:
 * alloc (orders 0..7, zeroed or not, NOWAIT, HIGH), client alloc, free
 * (plain, checked, any order, put), checked-free misuse (double free,
 * foreign, interior, wrong order), get/put/refcount, copy-on-write, drain,
 * release now (kmem_pa_release),
 * reclaim at every pressure, reaper steps, watermark changes (valid and
 * not), client registration, stats and text.
 * Every live block carries its slot number at its start and end, verified
 * at every free and copy; every block that must read zero (a zeroed
 * request, or any request under INIT_ON_ALLOC/ON_FREE) is verified all
 * zero when handed out. After every operation kmem_pa_check() passes and
 * the error sink has counted exactly the misuses made. At the end every
 * block is freed, the instance destroyed and every frame must be back in
 * the buddy allocator.
 * Single-threaded and without a reaper thread, so a run is deterministic.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/kmem.h>

#include "kmem_config.h" /* KMEM_BUDDY_HOTADD: regions added after the first */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "fuzz_pagealloc: %s:%d: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			abort();                                                           \
		}                                                                          \
	} while (0)

#define SLOTS 48
#define CLIENTS 4
#define MAX_ORDER 6
#define ARENA_FRAMES 256u
#define SPARE_FRAMES 64u
#define MAX_REFS 6

struct slot {
	unsigned char *p;
	unsigned order;
	unsigned refs;	/* references the program holds (>= 1 while live) */
	int client;	/* -1: none */
	bool reclaimable;	/* the shrinker or the client's release may free it */
};

struct run;

struct client {
	struct run *r;
	struct kmem_pa_client *cl;
	int idx;
};

struct run {
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	struct kmem_error_sink sink;
	size_t frame;
	bool zero_all;	/* INIT_ON_ALLOC or INIT_ON_FREE */
	struct slot slot[SLOTS];
	struct client client[CLIENTS];
	struct kmem_shrinker sh;
	unsigned long expect;
	/* the grow hook's one spare region */
	void *spare, *spare_meta;
	size_t spare_meta_size;
	bool grown;
	bool release;	/* KMEM_PA_RELEASE */
};

static size_t bytes_of(const struct run *r, unsigned order)
{
	return r->frame << order;
}

static void stamp(struct run *r, unsigned k)
{
	struct slot *sl = &r->slot[k];

	sl->p[0] = (unsigned char)k;
	sl->p[bytes_of(r, sl->order) - 1] = (unsigned char)~k;
}

static void verify(const struct run *r, const unsigned char *p, unsigned order, unsigned k)
{
	CHECK(p[0] == (unsigned char)k);
	CHECK(p[bytes_of(r, order) - 1] == (unsigned char)~k);
}

static void verify_zero(const struct run *r, const unsigned char *p, unsigned order)
{
	size_t n = bytes_of(r, order);

	for (size_t i = 0; i < n; i++)
		CHECK(p[i] == 0);
}

static void check_all(struct run *r)
{
	CHECK(kmem_pa_check(r->pa) == 0);
	CHECK(kmem_error_total(&r->sink) == r->expect);
}

/* Drop one reference the program holds on slot k, the right way. */
static void good_free(struct run *r, unsigned k, unsigned how)
{
	struct slot *sl = &r->slot[k];

	verify(r, sl->p, sl->order, k);
	CHECK(kmem_pa_refcount(r->pa, sl->p) == sl->refs);
	if (sl->client >= 0) {
		kmem_pa_client_free(r->client[sl->client].cl, sl->p, sl->order);
	} else if (sl->refs > 1) {
		if (how & 1)
			CHECK(kmem_pa_put(r->pa, sl->p, sl->order) == sl->refs - 1);
		else
			CHECK(kmem_pa_free_checked(r->pa, sl->p, (how & 2) ? -1 : (int)sl->order) ==
			      KMEM_OK);
		sl->refs--;
		return;
	} else {
		switch (how % 4) {
		case 0:
			kmem_pa_free(r->pa, sl->p, sl->order);
			break;
		case 1:
			CHECK(kmem_pa_free_checked(r->pa, sl->p, (int)sl->order) == KMEM_OK);
			break;
		case 2:
			CHECK(kmem_pa_free_checked(r->pa, sl->p, KMEM_BUDDY_ANY_ORDER) == KMEM_OK);
			break;
		default:
			CHECK(kmem_pa_put(r->pa, sl->p, sl->order) == 0);
			break;
		}
	}
	sl->p = NULL;
	sl->refs = 0;
}

/* Free reclaimable unshared slots (of client c, or of no client when c is
 * -1) until `frames` frames are back. */
static size_t release_slots(struct run *r, int c, size_t frames)
{
	size_t got = 0;

	for (unsigned k = 0; k < SLOTS && got < frames; k++) {
		struct slot *sl = &r->slot[k];

		if (sl->p && sl->reclaimable && sl->refs == 1 && sl->client == c) {
			got += (size_t)1 << sl->order;
			good_free(r, k, k);
		}
	}
	return got;
}

static size_t shrink_count(void *arg)
{
	struct run *r = arg;
	size_t n = 0;

	for (unsigned k = 0; k < SLOTS; k++)
		if (r->slot[k].p && r->slot[k].reclaimable && r->slot[k].refs == 1 &&
		    r->slot[k].client < 0)
			n += (size_t)1 << r->slot[k].order;
	return n;
}

static size_t shrink_scan(void *arg, const struct kmem_shrink_request *req)
{
	return release_slots(arg, -1, req->frames);
}

static size_t client_release(void *arg, const struct kmem_shrink_request *req)
{
	struct client *c = arg;

	return release_slots(c->r, c->idx, req->frames);
}

static size_t grow(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	struct run *r = arg;
	struct kmem_buddy_stats before, after;
	int rc;

	(void)frames;
	if (r->grown)
		return 0;
	r->grown = true;
	kmem_buddy_get_stats(r->b, &before);
	/* with the release step the spare region is fresh memory (zeroed at
	 * set-up): it starts in the released pool */
	rc = kmem_pa_add_region(pa, r->spare, SPARE_FRAMES * r->frame, r->spare_meta,
				r->spare_meta_size, r->release ? KMEM_PA_REGION_ZERO : 0);
	if (!KMEM_BUDDY_HOTADD) { /* compiled out (-Dbuddy_hotadd): refused, no growth */
		CHECK(rc == -ENOTSUP);
		return 0;
	}
	CHECK(rc == 0);
	kmem_buddy_get_stats(r->b, &after);
	return after.managed_frames - before.managed_frames;
}

static int free_slot(const struct run *r)
{
	for (unsigned k = 0; k < SLOTS; k++)
		if (!r->slot[k].p)
			return (int)k;
	return -1;
}

/* A block arrived for slot k: check its promise, stamp it. */
static void arrived(struct run *r, unsigned k, unsigned char *p, unsigned order, unsigned flags,
		    int client, bool reclaimable)
{
	struct slot *sl = &r->slot[k];

	CHECK(((uintptr_t)p & (bytes_of(r, order) - 1)) == 0); /* naturally aligned */
	if (r->zero_all || (flags & KMEM_PAGE_ZERO))
		verify_zero(r, p, order);
	sl->p = p;
	sl->order = order;
	sl->refs = 1;
	sl->client = client;
	sl->reclaimable = reclaimable;
	stamp(r, k);
}

static void op(struct run *r, uint8_t code, uint8_t a, uint8_t b)
{
	unsigned k = a % SLOTS, ci = b % CLIENTS;
	struct slot *sl = &r->slot[k];
	unsigned order = b % (MAX_ORDER + 2); /* MAX_ORDER + 1: too big */
	unsigned flags = ((b & 0x08) ? KMEM_PAGE_ZERO : 0) | ((a & 0x80) ? KMEM_PAGE_NOWAIT : 0) |
			 ((a & 0x40) ? KMEM_PAGE_HIGH : 0);

	switch (code % 20) {
	case 0:
	case 1:
	case 2: { /* alloc */
		unsigned char *p;

		if (sl->p)
			break;
		p = kmem_pa_alloc(r->pa, order, flags);
		if (order > MAX_ORDER)
			CHECK(p == NULL);
		if (p)
			arrived(r, k, p, order, flags, -1, (b & 0x10) != 0);
		break;
	}
	case 3: { /* client alloc */
		unsigned char *p;

		if (sl->p || !r->client[ci].cl)
			break;
		p = kmem_pa_client_alloc(r->client[ci].cl, order, flags);
		if (order > MAX_ORDER)
			CHECK(p == NULL);
		if (p)
			arrived(r, k, p, order, flags, (int)ci, (b & 0x10) != 0);
		break;
	}
	case 4:
	case 5:
	case 6: /* good free (or one reference dropped) */
		if (sl->p)
			good_free(r, k, b);
		break;
	case 7: /* double free through the checked free */
		if (sl->p && sl->refs == 1) {
			unsigned char *p = sl->p;
			unsigned o = sl->order;

			good_free(r, k, b);
			CHECK(kmem_pa_free_checked(r->pa, p, (b & 0x20) ? -1 : (int)o) ==
			      KMEM_DOUBLE_FREE);
			r->expect++;
		}
		break;
	case 8: /* interior pointer */
		if (sl->p) {
			size_t n = bytes_of(r, sl->order);
			size_t off = (b & 0x80) ? (1 + (size_t)a * 131 % (n - 1))
						: r->frame * (1 + (size_t)a % ((size_t)1 << sl->order));

			if (off >= n)
				break;
			CHECK(kmem_pa_free_checked(r->pa, sl->p + off, -1) == KMEM_INTERIOR_POINTER);
			r->expect++;
		}
		break;
	case 9: { /* foreign pointer */
		uint64_t local[2] = {0, 0};

		CHECK(kmem_pa_free_checked(r->pa, local, (int)(b % 4)) == KMEM_FOREIGN_POINTER);
		r->expect++;
		break;
	}
	case 10: /* wrong order: reported, not freed */
		if (sl->p) {
			int wrong = (int)(sl->order ^ (1u + b % 3));

			CHECK(kmem_pa_free_checked(r->pa, sl->p, wrong) == KMEM_WRONG_ORDER);
			r->expect++;
			CHECK(kmem_pa_refcount(r->pa, sl->p) == sl->refs);
		}
		break;
	case 11: /* another reference */
		if (sl->p && sl->client < 0 && sl->refs < MAX_REFS) {
			int rc = kmem_pa_get(r->pa, sl->p);
			struct kmem_pa_stats st;

			/* -ENOMEM only when no free block is left for the
			 * reference table (pools drained, buddy fragmented) */
			kmem_pa_get_stats(r->pa, &st);
			CHECK(rc == 0 || (rc == -ENOMEM && st.zeroed == 0 && st.dirty == 0));
			if (rc == 0)
				sl->refs++;
			CHECK(kmem_pa_refcount(r->pa, sl->p) == sl->refs);
		} else if (!sl->p) {
			uint64_t local;

			CHECK(kmem_pa_get(r->pa, &local) == -EINVAL);
			CHECK(kmem_pa_refcount(r->pa, &local) == 0);
		}
		break;
	case 12: { /* copy-on-write: one holder gets a private copy */
		int j = free_slot(r);
		unsigned char *q;

		if (!sl->p || sl->client >= 0 || j < 0)
			break;
		q = kmem_pa_cow(r->pa, sl->p, sl->order, flags);
		if (sl->refs == 1) {
			CHECK(q == sl->p);
			break;
		}
		if (!q)
			break;
		CHECK(q != sl->p);
		verify(r, q, sl->order, k);
		sl->refs--;
		CHECK(kmem_pa_refcount(r->pa, sl->p) == sl->refs);
		r->slot[j].p = q;
		r->slot[j].order = sl->order;
		r->slot[j].refs = 1;
		r->slot[j].client = -1;
		r->slot[j].reclaimable = (b & 0x10) != 0;
		stamp(r, (unsigned)j);
		break;
	}
	case 13: /* drain, or release now keeping a few frames */
		if (b & 1)
			(void)kmem_pa_release(r->pa, a % 64);
		else
			(void)kmem_pa_drain(r->pa);
		break;
	case 14: /* reclaim */
		(void)kmem_pa_reclaim(r->pa, 1 + a % 64, (enum kmem_pressure)(b % 3));
		break;
	case 15: /* reaper step (no thread: the caller drives it) */
		(void)kmem_pa_reaper_run(r->pa, (size_t)a * 4);
		break;
	case 16: { /* watermarks */
		size_t min = a % 24, low = min + b % 8, high = low + (b >> 3) % 24;
		struct kmem_pa_stats st;
		bool ok;

		kmem_pa_get_stats(r->pa, &st);
		ok = min > 0 && min < low && low < high && high <= st.managed;
		CHECK(kmem_pa_set_watermarks(r->pa, min, low, high) == (ok ? 0 : -EINVAL));
		break;
	}
	case 17: /* register a client, or unregister one that holds nothing */
		if (!r->client[ci].cl) {
			struct kmem_pa_client_config cc;
			int rc;

			memset(&cc, 0, sizeof(cc));
			cc.name = "fz";
			cc.min_frames = a % 8;
			cc.max_frames = (b & 0x80) ? 0 : cc.min_frames + 4 + b % 64;
			cc.weight = 1 + a % 4;
			cc.priority = 1 + b % 10;
			cc.oom_score_adj = (a & 0x20) ? -1000 : (int)(b % 100);
			cc.release = (b & 0x40) ? client_release : NULL;
			cc.arg = &r->client[ci];
			rc = kmem_pa_client_register(r->pa, &cc, &r->client[ci].cl);
			CHECK(rc == 0 || rc == -ENOMEM);
			if (rc)
				r->client[ci].cl = NULL;
		} else {
			struct kmem_pa_client_stats cs;

			kmem_pa_client_get_stats(r->client[ci].cl, &cs);
			if (cs.held == 0) {
				kmem_pa_client_unregister(r->client[ci].cl);
				r->client[ci].cl = NULL;
			}
		}
		break;
	case 18: { /* stats and text */
		char buf[4096];
		struct kmem_pa_stats st;

		kmem_pa_get_stats(r->pa, &st);
		CHECK(st.free == st.buddy_free + st.zeroed + st.dirty + st.released_held);
		CHECK(st.released_reused <= st.released_frames + SPARE_FRAMES);
		CHECK(kmem_pa_format_vmstat(r->pa, buf, sizeof(buf)) > 0);
		CHECK(kmem_pa_format_zoneinfo(r->pa, buf, sizeof(buf)) > 0);
		break;
	}
	default: /* a live block's contents, and its reference count */
		if (sl->p) {
			verify(r, sl->p, sl->order, k);
			CHECK(kmem_pa_refcount(r->pa, sl->p) == sl->refs);
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum kmem_pa_init_policy policies[4] = {
		KMEM_PA_INIT_ON_ALLOC, KMEM_PA_INIT_ON_FREE, KMEM_PA_INIT_NONE, KMEM_PA_INIT_NONE};
	uint8_t cfgb = size ? data[0] : 0;
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;
	struct kmem_buddy_stats st;
	void *binst, *pinst, *arena, *meta;
	size_t msz, arena_bytes;
	struct run *r = calloc(1, sizeof(*r));

	CHECK(r != NULL);
	kmem_error_sink_init(&r->sink);
	r->sink.flags = KMEM_ERROR_QUIET;
	kmem_buddy_config_init(&bc);
	bc.frame_size = (cfgb & 1) ? 1024 : 4096;
	bc.max_order = MAX_ORDER;
	bc.sink = &r->sink;
	if (cfgb & 0x80)
		bc.flags |= KMEM_BUDDY_OWNERS; /* the released pool links through them */
	r->frame = bc.frame_size;
	binst = aligned_alloc(64, (kmem_buddy_sizeof(&bc) + 63) & ~(size_t)63);
	CHECK(kmem_buddy_init(binst, kmem_buddy_sizeof(&bc), &bc, &r->b) == 0);
	arena_bytes = ARENA_FRAMES * r->frame;
	arena = aligned_alloc(r->frame << MAX_ORDER, arena_bytes);
	msz = kmem_buddy_region_meta_size(r->b, arena, arena_bytes);
	meta = aligned_alloc(64, (msz + 63) & ~(size_t)63);
	CHECK(kmem_buddy_add_region(r->b, arena, arena_bytes, meta, msz) == 0);
	r->spare = aligned_alloc(r->frame << MAX_ORDER, SPARE_FRAMES * r->frame);
	r->spare_meta_size = kmem_buddy_region_meta_size(r->b, r->spare, SPARE_FRAMES * r->frame);
	r->spare_meta = aligned_alloc(64, (r->spare_meta_size + 63) & ~(size_t)63);
	CHECK(r->spare && r->spare_meta);
	memset(r->spare, 0, SPARE_FRAMES * r->frame);

	kmem_pa_config_init(&pc);
	pc.name = "fuzz";
	pc.buddy = r->b;
	pc.init_policy = policies[(cfgb >> 1) & 3];
	pc.flags = ((cfgb & 0x08) ? KMEM_PA_NO_PCP : 0) | ((cfgb & 0x10) ? KMEM_PA_NO_BGZERO : 0);
	if (cfgb & 0x40) {
		pc.grow = grow;
		pc.grow_arg = r;
	}
	if (cfgb & 0x80) {
		r->release = true;
		pc.flags |= KMEM_PA_RELEASE | KMEM_PA_RELEASE_INLINE;
	}
	if (size > 1 && (data[1] & 0xf8)) { /* thread-cache batch 1..8, high 2..5 batches */
		pc.pcp_batch = 1 + ((data[1] >> 3) & 7);
		pc.pcp_high = pc.pcp_batch * (2 + (data[1] >> 6));
	}
	pc.oom_retries = 1;
	pc.share_policy = (enum kmem_pa_share_policy)((size > 1 ? data[1] : 0) % 3);
	pc.reclaim_scope = (size > 1 && (data[1] & 4)) ? KMEM_PA_RECLAIM_LOCAL : KMEM_PA_RECLAIM_GLOBAL;
	r->zero_all = pc.init_policy != KMEM_PA_INIT_NONE;
	pinst = aligned_alloc(16, (kmem_pa_sizeof() + 15) & ~(size_t)15);
	CHECK(kmem_pa_init(pinst, kmem_pa_sizeof(), &pc, &r->pa) == 0);
	for (int i = 0; i < CLIENTS; i++) {
		r->client[i].r = r;
		r->client[i].idx = i;
	}
	if (cfgb & 0x20) {
		r->sh.name = "fuzz";
		r->sh.count = shrink_count;
		r->sh.scan = shrink_scan;
		r->sh.arg = r;
		CHECK(kmem_pa_register_shrinker(r->pa, &r->sh) == 0);
	}
	check_all(r);

	for (size_t i = 2; i + 2 < size; i += 3) {
		op(r, data[i], data[i + 1], data[i + 2]);
		check_all(r);
	}

	/* every reference back, clients gone, then the instance */
	for (unsigned k = 0; k < SLOTS; k++)
		while (r->slot[k].p)
			good_free(r, k, k);
	for (int i = 0; i < CLIENTS; i++)
		if (r->client[i].cl)
			kmem_pa_client_unregister(r->client[i].cl);
	if (cfgb & 0x20)
		kmem_pa_unregister_shrinker(r->pa, &r->sh);
	check_all(r);
	kmem_pa_destroy(r->pa);
	CHECK(kmem_error_total(&r->sink) == r->expect); /* no leak reported */
	CHECK(kmem_buddy_check(r->b) == 0);
	kmem_buddy_get_stats(r->b, &st);
	CHECK(st.used_frames == 0); /* every frame is back */
	kmem_buddy_destroy(r->b);
	free(pinst);
	free(r->spare_meta);
	free(r->spare);
	free(meta);
	free(arena);
	free(binst);
	free(r);
	return 0;
}
