/* fuzz_pagecache.c - libFuzzer harness for the page cache
 * (kmem/pagecache.h) on a small frame service.
 *
 * The input is a program: byte 0 picks the policy (every built-in), byte 1
 * the cache's pages (1..32), byte 2 the page-buffering pool (0..3) and the
 * anonymous owner's max_pages. Three owners: 0 with a backing store and a
 * client limit of 6 frames, local; 1 with a backing store, global; 2 with
 * none (zero fill), local. The frame service has 96 frames, so fresh
 * frames run out and replacement, client limits and global victims all
 * happen. Then each triple of bytes is one operation:
 *   get        owner, page (0..23), flags (create, write, easy, pin once):
 *              0, -ENOENT, -ENOMEM or -EIO; a page got must carry its
 *              identity and the version last written (never a lost
 *              write), or read zero/its identity for the anonymous owner;
 *   put        one of the harness's pins, dirty (the page gets a new
 *              version) or discard (the page's version falls back to the
 *              disk's);
 *   misuse     a put of a page the harness does not hold (a released
 *              handle, a foreign pointer): must be refused;
 *   rekey      a pinned page to another number: 0 or -EBUSY when that one
 *              is pinned;
 *   truncate, shrink, set_max, sync, tick, reclaim at a pressure, a
 *              toggle of failing writes (write-back errors).
 * After every operation kmem_pc_check() and kmem_pa_check() must pass and
 * the owners' pin counts and the misuse counter must equal the harness's.
 *
 * PCFUZZ_TRACE=1 prints each operation, PCFUZZ_STATS=1 each input's
 * per-owner counters (to see what a corpus reaches).
 *
 * Built two ways like the other harnesses: with libFuzzer (-Dfuzz=true),
 * and with the replay driver (replay.c) in every build.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/pagecache.h>
#include <kmem/stack.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz_pagecache: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                            \
		}                                                                           \
	} while (0)

#define FRAME 4096u
#define NPAGES 24u
#define NOWN 3u
#define MAXPINS 24u

struct pin {
	unsigned owner;
	struct kmem_pc_page *pg;
};

struct world {
	struct kmem_pc_owner *o[NOWN];
	uint32_t ver[NOWN][NPAGES];	/* the version a get must see (store owners) */
	uint32_t disk[NOWN][NPAGES];	/* the version on the disk */
	int fail_writes;
	struct pin pins[MAXPINS];
	unsigned npins;
	struct kmem_pc_page *released;	/* a handle put back */
	uint64_t misuse;
};

static struct world *W;

static uint64_t stamp(unsigned o, uint64_t p, uint32_t v)
{
	return (uint64_t)(o + 1) << 56 | p << 32 | v;
}

static int st_read(void *arg, uint64_t pgno, void *buf, size_t size)
{
	unsigned o = (unsigned)(uintptr_t)arg;
	uint64_t s = stamp(o, pgno, W->disk[o][pgno]);

	CHECK(pgno < NPAGES && size == FRAME);
	memset(buf, 0, size);
	memcpy(buf, &s, sizeof(s));
	return 0;
}

static int st_write(void *arg, uint64_t pgno, const void *buf, size_t size)
{
	unsigned o = (unsigned)(uintptr_t)arg;
	uint64_t s;

	CHECK(pgno < NPAGES && size == FRAME);
	if (W->fail_writes)
		return -EIO;
	memcpy(&s, buf, sizeof(s));
	CHECK(s >> 32 == (stamp(o, pgno, 0) >> 32));
	W->disk[o][pgno] = (uint32_t)s;
	return 0;
}

static unsigned pins_of(const struct world *w, unsigned o, const struct kmem_pc_page *pg)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->npins; i++)
		n += w->pins[i].owner == o && (!pg || w->pins[i].pg == pg);
	return n;
}

static void verify(struct world *w, struct kmem_pc *pc, struct kmem_pagealloc *pa)
{
	struct kmem_pc_stats st;

	CHECK(kmem_pc_check(pc) == 0);
	CHECK(kmem_pa_check(pa) == 0);
	kmem_pc_get_stats(pc, &st);
	CHECK(st.misuse == w->misuse);
	for (unsigned o = 0; o < NOWN; o++) {
		struct kmem_pc_owner_stats os;
		unsigned distinct = 0;

		for (unsigned i = 0; i < w->npins; i++) {
			bool first = w->pins[i].owner == o;

			for (unsigned j = 0; first && j < i; j++)
				first = w->pins[j].pg != w->pins[i].pg;
			distinct += first;
		}
		kmem_pc_owner_get_stats(w->o[o], &os);
		CHECK(os.pinned == distinct);
	}
}

static void check_page(struct world *w, unsigned o, uint64_t p, struct kmem_pc_page *pg)
{
	uint64_t s;

	CHECK(kmem_pc_page_number(pg) == p);
	memcpy(&s, kmem_pc_page_data(pg), sizeof(s));
	if (o == 2) {
		CHECK(s == 0 || s >> 32 == stamp(o, p, 0) >> 32);
		return;
	}
	CHECK(s == stamp(o, p, w->ver[o][p]));
}

static void do_get(struct world *w, unsigned o, uint64_t p, unsigned fl)
{
	unsigned flags = (fl & 1 ? KMEM_PC_CREATE : 0) | (fl & 2 ? KMEM_PC_WRITE : 0) |
			 (fl & 4 ? KMEM_PC_EASY : 0) | (fl & 8 ? KMEM_PC_PIN_ONCE : 0);
	struct kmem_pc_page *pg;
	int rc;

	if (w->npins == MAXPINS)
		return;
	rc = kmem_pc_get(w->o[o], p, flags, &pg);
	if (rc) {
		CHECK(rc == -ENOENT || rc == -ENOMEM || rc == -EIO);
		CHECK(rc != -ENOENT || !(flags & KMEM_PC_CREATE));
		return;
	}
	check_page(w, o, p, pg);
	if (!(flags & KMEM_PC_PIN_ONCE) || !pins_of(w, o, pg))
		w->pins[w->npins++] = (struct pin){o, pg};
	if ((flags & KMEM_PC_WRITE) && o != 2) {
		uint64_t s = stamp(o, p, ++w->ver[o][p]);

		memcpy(kmem_pc_page_data(pg), &s, sizeof(s));
	}
	if (o == 2) {
		uint64_t s = stamp(o, p, 1);

		memcpy(kmem_pc_page_data(pg), &s, sizeof(s));
	}
}

static void drop_pin(struct world *w, unsigned i)
{
	w->pins[i] = w->pins[--w->npins];
}

static void do_put(struct world *w, unsigned i, unsigned fl)
{
	struct pin pn = w->pins[i];
	uint64_t p = kmem_pc_page_number(pn.pg);
	unsigned flags = 0;

	if (fl & 1 && pn.owner != 2) {
		/* a new version, written through the pin */
		uint64_t s = stamp(pn.owner, p, ++w->ver[pn.owner][p]);

		memcpy(kmem_pc_page_data(pn.pg), &s, sizeof(s));
		flags |= KMEM_PC_DIRTY;
	}
	if (fl & 2)
		flags |= KMEM_PC_DISCARD;
	CHECK(kmem_pc_put(w->o[pn.owner], pn.pg, flags) == KMEM_OK);
	drop_pin(w, i);
	if ((flags & KMEM_PC_DISCARD) && !pins_of(w, pn.owner, pn.pg)) {
		if (pn.owner != 2)
			w->ver[pn.owner][p] = w->disk[pn.owner][p];	/* dropped unwritten */
		w->released = pn.pg;
	} else if (!pins_of(w, pn.owner, pn.pg)) {
		w->released = pn.pg;
	}
}

static void do_misuse(struct world *w, unsigned o, unsigned how)
{
	struct kmem_pc_page *pg = w->released;
	char junk[8];

	if (how & 1 || !pg) {
		CHECK(kmem_pc_put(w->o[o], (struct kmem_pc_page *)(void *)junk, 0) ==
		      KMEM_FOREIGN_POINTER);
		w->misuse++;
		return;
	}
	/* a released handle: unless its slot now holds a page someone pins */
	for (unsigned i = 0; i < w->npins; i++)
		if (w->pins[i].pg == pg)
			return;
	CHECK(kmem_pc_put(w->o[o], pg, 0) != KMEM_OK);
	w->misuse++;
}

static void do_rekey(struct world *w, unsigned i, uint64_t to)
{
	struct pin pn = w->pins[i];
	uint64_t from = kmem_pc_page_number(pn.pg);
	struct kmem_pc_page *other = NULL;
	bool busy = false;
	int rc;

	for (unsigned j = 0; j < w->npins; j++)
		if (w->pins[j].owner == pn.owner && w->pins[j].pg != pn.pg &&
		    kmem_pc_page_number(w->pins[j].pg) == to) {
			busy = true;
			other = w->pins[j].pg;
		}
	(void)other;
	rc = kmem_pc_rekey(w->o[pn.owner], pn.pg, to);
	if (from == to) {
		CHECK(rc == 0);
		return;
	}
	CHECK(rc == (busy ? -EBUSY : 0));
	if (rc)
		return;
	if (pn.owner != 2) {
		/* the old number's cached data moved: it reads the disk again;
		 * the page under its new number gets a new version, kept dirty
		 * until it is put (SQLite's rekeyed pages are written by the
		 * pager, so the harness writes it through the pin) */
		uint64_t s = stamp(pn.owner, to, ++w->ver[pn.owner][to]);

		w->ver[pn.owner][from] = w->disk[pn.owner][from];
		memcpy(kmem_pc_page_data(pn.pg), &s, sizeof(s));
		/* mark it dirty now: put it with DIRTY and take it again */
		CHECK(kmem_pc_put(w->o[pn.owner], pn.pg, KMEM_PC_DIRTY) == KMEM_OK);
		drop_pin(w, i);
		if (!pins_of(w, pn.owner, pn.pg))
			w->released = pn.pg;
	} else {
		uint64_t s = stamp(pn.owner, to, 1);

		memcpy(kmem_pc_page_data(pn.pg), &s, sizeof(s));
	}
}

static void do_truncate(struct world *w, unsigned o, uint64_t limit)
{
	bool gone[MAXPINS];

	/* which pins go, read before the descriptors are dropped */
	for (unsigned i = 0; i < w->npins; i++)
		gone[i] = w->pins[i].owner == o && kmem_pc_page_number(w->pins[i].pg) >= limit;
	(void)kmem_pc_truncate(w->o[o], limit);
	for (unsigned i = w->npins; i-- > 0;) {
		if (gone[i]) {
			w->released = w->pins[i].pg;
			drop_pin(w, i);
		}
	}
	if (o != 2)
		for (uint64_t p = limit; p < NPAGES; p++)
			w->ver[o][p] = w->disk[o][p];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(4096) unsigned char arena[96 * FRAME + 2 * FRAME];
	static _Alignas(64) unsigned char inst[1 << 16];
	static _Alignas(64) unsigned char pcmem[1 << 16];
	static _Alignas(64) unsigned char omem[NOWN][1 << 15];
	struct kmem_error_sink sink;
	struct kmem_stack_config sc;
	struct kmem_stack st;
	struct kmem_pc_config cfg;
	struct kmem_pc *pc;
	struct world w;

	if (size < 3)
		return 0;
	kmem_error_sink_init(&sink);
	sink.flags = KMEM_ERROR_QUIET;
	kmem_stack_config_init(&sc);
	sc.no_slab = true;
	sc.sink = &sink;
	sc.buddy.frame_size = FRAME;
	sc.buddy.max_order = 2;
	sc.pa.flags = KMEM_PA_NO_PCP;
	sc.pa.wmark_min = 4;
	sc.pa.wmark_low = 6;
	sc.pa.wmark_high = 8;
	CHECK(kmem_stack_sizeof(&sc) <= sizeof(inst));
	CHECK(kmem_stack_init(inst, sizeof(inst), &sc, arena, sizeof(arena), NULL, 0, &st) == 0);
	kmem_pc_config_init(&cfg);
	cfg.pa = st.pa;
	cfg.policy = kmem_rp_builtin(data[0] % 8);
	cfg.pages = 1 + data[1] % 32;
	cfg.pool_pages = data[2] % 4;
	cfg.window = 16;
	cfg.sink = &sink;
	CHECK(kmem_pc_sizeof(&cfg) <= sizeof(pcmem));
	CHECK(kmem_pc_init(pcmem, sizeof(pcmem), &cfg, &pc) == 0);
	memset(&w, 0, sizeof(w));
	W = &w;
	for (unsigned o = 0; o < NOWN; o++) {
		struct kmem_pc_owner_config oc;

		memset(&oc, 0, sizeof(oc));
		oc.name = o == 0 ? "limited" : o == 1 ? "global" : "anon";
		oc.scope = o == 1 ? KMEM_PC_GLOBAL : KMEM_PC_LOCAL;
		oc.client.max_frames = o == 0 ? 6 : 0;
		oc.client.priority = (int)o + 1;
		oc.max_pages = o == 2 ? data[2] / 4 % 8 : 0;
		if (o != 2) {
			oc.read = st_read;
			oc.write = st_write;
			oc.arg = (void *)(uintptr_t)o;
		}
		CHECK(kmem_pc_owner_sizeof(pc) <= sizeof(omem[o]));
		CHECK(kmem_pc_owner_create(pc, omem[o], sizeof(omem[o]), &oc, &w.o[o]) == 0);
	}
	for (size_t i = 3; i + 2 < size; i += 3) {
		uint8_t op = data[i] % 16, a = data[i + 1], b = data[i + 2];
		unsigned o = a % NOWN;

		switch (op) {
		case 0: case 1: case 2: case 3: case 4: case 5:
			do_get(&w, o, b % NPAGES, (unsigned)(a >> 2) | 1u);
			break;
		case 6:
			do_get(&w, o, b % NPAGES, (unsigned)(a >> 2) & ~1u);
			break;
		case 7: case 8: case 9:
			if (w.npins)
				do_put(&w, a % w.npins, b);
			break;
		case 10:
			do_misuse(&w, o, b);
			break;
		case 11:
			if (w.npins)
				do_rekey(&w, a % w.npins, b % NPAGES);
			break;
		case 12:
			if (b & 1)
				do_truncate(&w, o, b % NPAGES);
			else
				(void)kmem_pc_owner_set_max(w.o[o], b % 8);
			break;
		case 13:
			(void)kmem_pc_shrink(pc, b & 1 ? w.o[o] : NULL);
			break;
		case 14:
			if (b & 1)
				(void)kmem_pa_reclaim(st.pa, b % 16, (enum kmem_pressure)(a % 3));
			else if (b & 2)
				(void)kmem_pc_sync(pc, b & 4 ? w.o[o] : NULL);
			else
				kmem_pc_tick(pc);
			break;
		case 15:
			if (b & 1)
				w.fail_writes = !w.fail_writes;
			else
				(void)kmem_pc_respond(pc);
			break;
		}
		if (getenv("PCFUZZ_TRACE"))
			fprintf(stderr, "op %u a %u b %u npins %u\n", op, a, b, w.npins);
		verify(&w, pc, st.pa);
	}
	if (getenv("PCFUZZ_STATS")) {
		for (unsigned o = 0; o < NOWN; o++) {
			struct kmem_pc_owner_stats os;

			kmem_pc_owner_get_stats(w.o[o], &os);
			fprintf(stderr, "o%u fault %llu maj %llu minor %llu evict %llu out %llu wberr %llu deact %llu refault %llu\n", o,
				(unsigned long long)os.pgfault, (unsigned long long)os.pgmajfault,
				(unsigned long long)os.minor_pool, (unsigned long long)os.evictions,
				(unsigned long long)os.pgpgout, (unsigned long long)os.writeback_errors,
				(unsigned long long)os.deactivations, (unsigned long long)os.workingset_refault);
		}
		fprintf(stderr, "misuse %llu\n", (unsigned long long)w.misuse);
	}
	/* tear down: every pin back, dirty pages written */
	w.fail_writes = 0;
	while (w.npins)
		do_put(&w, w.npins - 1, 0);
	for (unsigned o = 0; o < NOWN; o++)
		CHECK(kmem_pc_owner_destroy(w.o[o]) == 0);
	/* nothing written was lost: the disk holds every version last written */
	for (unsigned o = 0; o < 2; o++)
		for (unsigned p = 0; p < NPAGES; p++)
			CHECK(w.disk[o][p] == w.ver[o][p]);
	kmem_pc_destroy(pc);
	CHECK(kmem_error_count(&sink, KMEM_LEAK) == 0);
	kmem_stack_destroy(&st);
	return 0;
}
