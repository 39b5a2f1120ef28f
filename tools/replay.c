/* replay.c - `kmem replay [options] TRACE`: replay an allocation trace
 * written by the drop-in malloc (KMEM_TRACE=file; format in kmem/trace.h),
 * or a text trace or valgrind log, and measure its fragmentation.
 *
 * What it does:
 *   1. Read: load and validate the trace (trace_file.c: kmem's binary
 *      format, or kmem's text format and valgrind --trace-malloc=yes logs
 *      through trace_text.c; a bad header, a truncated record, an invalid
 *      record or a malformed line exits 1 with the reason), sort the
 *      records by seq (the file holds per-thread batches).
 *   2. Replay every call in seq order in ONE thread, so the interleaving
 *      of the traced threads is serialised by seq, on a fresh kmem heap
 *      (replay_heap.c: buddy -> pagealloc -> slab; kmem_alloc/kmem_zalloc/
 *      kmem_alloc_aligned/kmem_realloc/kmem_free), or with --malloc on the
 *      process's malloc (compare glibc, or a peer through LD_PRELOAD). Block
 *      ids (the traced addresses) map to the replay's own blocks through an
 *      open-addressing hash table.
 *   3. Inconsistencies in a trace (records lost to a kill, memory allocated
 *      before tracing began) are counted, never fatal: a FREE of an unknown
 *      id is skipped; a REALLOC of an unknown id skips the free and replays
 *      the allocation; an allocation returning an id that is still live
 *      replaces the old block (freed first); a FREE record of p right
 *      after a realloc(p, 0) in the same thread (older drop-ins traced
 *      both calls; today's writes the REALLOC only) is counted apart.
 *   4. Every block carries a tag in its first and last 8 bytes, checked when
 *      it is freed or moved (--no-verify: none).
 *   5. Measure (replay_frag.c) at every record: the bytes the heap holds
 *      and the live bytes, for J&W's measures; with --series N, a row of
 *      figures every N records; with --frame-map N, a picture of the arena
 *      after record N. The usable sizes are summed by a walk of the id
 *      table for a row and at the end (measure_usable).
 *   6. Verdict: the buddy's state at the end (buddyinfo, fragmentation),
 *      the invariant checkers (kmem_pa_check, kmem_buddy_check; the kmalloc
 *      caches are not reachable through the API, so no kmem_cache_check),
 *      then a teardown that must return every frame; the report
 *      (replay_report.c); any failure exits 1.
 *   7. Speed (speed_pass, after the report's RSS is read): the records
 *      decoded into an operation array on dense slots, then timed walks
 *      over it calling a fresh heap of the same configuration and a null
 *      allocator (the harness), --speed-reps times; the medians and their
 *      difference are the report's speed line.
 * --min-heap: steps 2 to 6 again and again on arenas chosen by bisection
 * (between 256 frames and --heap, the max order fixed), nothing printed
 * but the answer: the smallest arena with no failed call.
 * Bound: O(records) expected (hash table at load <= 1/2), plus the sort;
 * --min-heap O(records * log2(--heap / 256 frames)).
 *
 * Data structures: struct idmap (id -> struct live: the replay's block and
 * the size the traced call asked for; the speed pass's decoder keeps a
 * slot number in the size field); struct speed_ops (the decoded calls);
 * struct replay (the run: the heap, the id map, struct replay_stats,
 * struct replay_frag, the pending realloc(p, 0) echo, the frame-map
 * points); struct session (one replay from set-up to teardown, what the
 * report needs).
 *
 * Progress: when stderr is a terminal, a line "kmem replay: N of M records
 * (P%)" every PROGRESS_EVERY records, rewritten in place and erased at the
 * end; nothing otherwise (pipes, files, tests).
 *
 * Tunables: --heap kmalloc|dropin (replay_heap.c), --heap/--arena (1 GiB; 256 MiB on 32-bit),
 * --frame (4096), --max-order (the largest that fits; 13 at most for
 * dropin), --pcp-batch (REPLAY_PCP_BATCH, 15, whatever the arena),
 * --no-pcp, --release, --op-ns (REPLAY_OP_NS), --decay-ms, --classes,
 * --waste-div, --mag-size, --depot-limit,
 * the slab policies (--partial, --empty-keep, --no-colour), --speed-reps
 * (1), --sample
 * (pagealloc stats every 64 calls for the peak), --no-verify, --format,
 * --series/--series-out/--series-format, --frame-map/--frame-map-prefix,
 * --min-heap; the id table starts at IDMAP_INITIAL slots and doubles.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kmem_rand.h"
#include "kmem_tool.h"

#define IDMAP_INITIAL ((size_t)1 << 16)	/* id table slots at the start */
#define PROGRESS_EVERY ((size_t)1 << 20)	/* records between progress lines */
/* The default arena: 1 GiB, reserved (MAP_NORESERVE) twice over for its
 * alignment; a quarter of that where pointers are 32 bits, whose address space
 * has no 2 GiB hole to give. */
#define REPLAY_DEFAULT_HEAP (sizeof(void *) > 4 ? (size_t)1 << 30 : (size_t)256 << 20)
#define REPLAY_PCP_BATCH 15u	/* the drop-in's batch: clamp(16384 frames / 1024,
				 * 1, 31) rounded to 2^n - 1, its first 64 MiB */
/* The decay's clock in a replay: a microsecond per record, the order of
 * the programs traced here (cc1 4.4 us a call, sqlite3 0.6, grep 0.8,
 * python3 13: README, Numbers), so the decay time (10 s) spans 10 M
 * records and a replay releases what the program would have, and does so
 * the same way on every run and machine. */
#define REPLAY_OP_NS 1000u
#define REPLAY_OP_NS_MAX 1000000000u	/* a second a record */

/* ---- ids to blocks ------------------------------------------------------------------
 *
 * Open addressing, linear probing, Fibonacci hashing of the id (addresses:
 * low bits mostly zero, the multiply moves every bit into the top ones),
 * load factor at most 1/2, deletion by backward shift (no tombstones, so a
 * churning trace never degrades the table). Id 0 marks an empty slot: a
 * traced block is never at address 0. The table lives in its own mapping,
 * off the heap under test (which matters with --malloc). */

struct live {
	uint64_t id;
	void *p;	/* the replay's block; NULL when the replay's call failed */
	uint64_t size;	/* bytes the traced call asked for */
};

struct idmap {
	struct live *slot;
	size_t cap, n;	/* cap: a power of two */
	unsigned shift;	/* 64 - log2(cap) */
};

static inline size_t id_home(const struct idmap *m, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> m->shift);
}

static int idmap_init(struct idmap *m, size_t cap)
{
	void *p = mmap(NULL, cap * sizeof(struct live), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	m->slot = p;
	m->cap = cap;
	m->n = 0;
	m->shift = 64u - (unsigned)__builtin_ctzll((unsigned long long)cap);
	return 0;
}

static void idmap_destroy(struct idmap *m)
{
	if (m->slot)
		munmap(m->slot, m->cap * sizeof(struct live));
	m->slot = NULL;
}

static struct live *idmap_find(const struct idmap *m, uint64_t id)
{
	size_t mask = m->cap - 1;

	for (size_t i = id_home(m, id);; i = (i + 1) & mask) {
		if (m->slot[i].id == id)
			return &m->slot[i];
		if (!m->slot[i].id)
			return NULL;
	}
}

/* Insert an id known to be absent. Returns the entry, or NULL when the
 * table could not grow. */
static struct live *idmap_insert(struct idmap *m, uint64_t id)
{
	size_t mask, i;

	if ((m->n + 1) * 2 > m->cap) {
		struct idmap big;

		if (idmap_init(&big, m->cap * 2))
			return NULL;
		for (size_t k = 0; k < m->cap; k++) {
			if (!m->slot[k].id)
				continue;
			for (i = id_home(&big, m->slot[k].id); big.slot[i].id; i = (i + 1) & (big.cap - 1))
				;
			big.slot[i] = m->slot[k];
		}
		big.n = m->n;
		idmap_destroy(m);
		*m = big;
	}
	mask = m->cap - 1;
	for (i = id_home(m, id); m->slot[i].id; i = (i + 1) & mask)
		;
	m->slot[i].id = id;
	m->n++;
	return &m->slot[i];
}

/* Backward-shift deletion: later entries of the probe run move up unless
 * their home lies cyclically in (hole, their slot]. */
static void idmap_erase(struct idmap *m, struct live *e)
{
	size_t mask = m->cap - 1, hole = (size_t)(e - m->slot), j = hole;

	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->slot[j].id)
			break;
		home = id_home(m, m->slot[j].id);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			m->slot[hole] = m->slot[j];
			hole = j;
		}
	}
	m->slot[hole] = (struct live){ 0 };
	m->n--;
}

/* ---- the calls, on the kmem heap or on malloc -------------------------------------- */

/* The five calls, on the kmem heap or on malloc. A traced malloc(0) returns
 * a unique block; kmem_alloc(0) returns NULL, so 0 becomes 1 for kmem. */

static inline void *h_alloc(struct replay_heap *h, size_t size)
{
	return h->st.slab ? kmem_alloc(h->st.slab, size ? size : 1) : malloc(size);
}

static inline void *h_zalloc(struct replay_heap *h, size_t size)
{
	return h->st.slab ? kmem_zalloc(h->st.slab, size ? size : 1) : calloc(1, size);
}

static inline void *h_aligned(struct replay_heap *h, size_t size, size_t align)
{
	void *p;

	if (h->st.slab)
		return kmem_alloc_aligned(h->st.slab, size ? size : 1, align);
	if (align < sizeof(void *))
		align = sizeof(void *);
	return posix_memalign(&p, align, size) ? NULL : p;
}

static inline void *h_realloc(struct replay_heap *h, void *p, size_t size)
{
	if (!size)
		size = 1; /* realloc(p, 0) is a FREE record of its own kind */
	return h->st.slab ? kmem_realloc(h->st.slab, p, size) : realloc(p, size);
}

static inline size_t h_usable(struct replay_heap *h, void *p)
{
	if (!p)
		return 0;
	return h->st.slab ? kmem_usable_size(h->st.slab, p) : malloc_usable_size(p);
}

static inline void h_free(struct replay_heap *h, void *p)
{
	if (h->st.slab)
		kmem_free(h->st.slab, p);
	else
		free(p);
}

/* ---- the run ----------------------------------------------------------------------- */

static inline uint64_t block_tag(uint64_t id, const void *p)
{
	uint64_t x = id ^ (uint64_t)(uintptr_t)p;

	return kmem_splitmix64(&x);
}

/* Blocks of 8 bytes or more carry the tag in their first 8 bytes; of 16
 * or more in their last 8 too. */
static inline void tag_set(void *p, uint64_t size, uint64_t tag)
{
	if (size >= 8)
		memcpy(p, &tag, 8);
	if (size >= 16)
		memcpy((char *)p + size - 8, &tag, 8);
}

static inline bool tag_ok(const void *p, uint64_t size, uint64_t tag, bool tail)
{
	uint64_t v;

	if (size >= 8) {
		memcpy(&v, p, 8);
		if (v != tag)
			return false;
	}
	if (tail && size >= 16) {
		memcpy(&v, (const char *)p + size - 8, 8);
		if (v != tag)
			return false;
	}
	return true;
}

struct replay {
	struct replay_heap *h;
	struct idmap ids;
	struct replay_stats st;
	struct replay_frag frag;
	bool verify;
	bool progress;	/* stderr is a terminal: a progress line on long runs */
	const uint64_t *maps;	/* --frame-map records; NULL: none */
	unsigned nmaps;
	const char *map_prefix;
	bool map_failed;
	bool oom;	/* the id table could not grow */
	/* the last realloc(p, 0): older drop-ins also traced the free()
	 * it calls, as the same thread's next record */
	uint64_t r0_id;
	unsigned r0_tid;
};

static void check_block(struct replay *rp, const struct live *e)
{
	if (rp->verify && e->p && !tag_ok(e->p, e->size, block_tag(e->id, e->p), true)) {
		if (rp->st.tag_errors++ < 10)
			kmem_tool_error("block %#llx (%llu bytes) at %p: tag overwritten",
					(unsigned long long)e->id, (unsigned long long)e->size,
					e->p);
	}
}

/* The usable bytes of the live blocks (kmem_usable_size or
 * malloc_usable_size each), into st.usable_bytes: a walk of the id table,
 * O(its slots), done for a series row and at the end rather than at every
 * call (kmem_usable_size validates the object: it would double the cost
 * of a replayed call). */
static void measure_usable(struct replay *rp)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < rp->ids.cap; i++)
		if (rp->ids.slot[i].id)
			sum += h_usable(rp->h, rp->ids.slot[i].p);
	rp->st.usable_bytes = sum;
}

/* e leaves the live set (its block freed or moved). */
static inline void unaccount(struct replay *rp, const struct live *e)
{
	rp->st.live_bytes -= e->size;
	rp->st.live_blocks--;
	rp->st.live_pow2 -= kmem_replay_pow2(e->size);
}

static void drop_live(struct replay *rp, struct live *e)
{
	unaccount(rp, e);
	idmap_erase(&rp->ids, e);
}

/* The traced call returned id (not 0) and the replay got p for it. */
static void on_alloc(struct replay *rp, uint64_t id, void *p, uint64_t size, bool zeroed)
{
	struct live *e = idmap_find(&rp->ids, id);

	if (!p)
		rp->st.replay_failed++;
	if (e) { /* still live: its FREE was lost */
		rp->st.replaced++;
		check_block(rp, e);
		h_free(rp->h, e->p);
		unaccount(rp, e);
	} else {
		e = idmap_insert(&rp->ids, id);
		if (!e) {
			rp->oom = true;
			h_free(rp->h, p);
			return;
		}
	}
	e->p = p;
	e->size = size;
	if (p && rp->verify) {
		if (zeroed && !tag_ok(p, size, 0, true) && rp->st.tag_errors++ < 10)
			kmem_tool_error("calloc block %#llx at %p is not zeroed",
					(unsigned long long)id, p);
		tag_set(p, size, block_tag(id, p));
	}
	rp->st.live_bytes += size;
	rp->st.live_blocks++;
	rp->st.live_pow2 += kmem_replay_pow2(size);
	if (rp->st.live_pow2 > rp->st.peak_pow2)
		rp->st.peak_pow2 = rp->st.live_pow2;
	if (!rp->st.req_min || (size ? size : 1) < rp->st.req_min)
		rp->st.req_min = size ? size : 1;
	if ((size ? size : 1) > rp->st.req_max)
		rp->st.req_max = size ? size : 1;
	if (rp->st.live_bytes > rp->st.peak_bytes)
		rp->st.peak_bytes = rp->st.live_bytes;
	if (rp->st.live_blocks > rp->st.peak_blocks)
		rp->st.peak_blocks = rp->st.live_blocks;
}

static void replay_realloc(struct replay *rp, const struct kmem_trace_rec *r)
{
	struct live *e;
	uint64_t tag;
	void *q;

	if (!r->old) { /* realloc(NULL, n): an allocation */
		if (!r->ptr) {
			rp->st.trace_failed++;
			return;
		}
		rp->st.replayed++;
		on_alloc(rp, r->ptr, h_realloc(rp->h, NULL, (size_t)r->size), r->size, false);
		return;
	}
	if (!r->ptr && r->size) { /* failed in the trace: the old block stays */
		rp->st.trace_failed++;
		return;
	}
	e = idmap_find(&rp->ids, r->old);
	if (!e) {
		rp->st.unknown_realloc++;
		if (r->ptr) { /* the free is lost; the new block is not */
			rp->st.replayed++;
			on_alloc(rp, r->ptr, h_alloc(rp->h, (size_t)r->size), r->size, false);
		} else { /* realloc(p, 0): its echo is no second unknown */
			rp->r0_id = r->old;
			rp->r0_tid = r->tid;
		}
		return;
	}
	rp->st.replayed++;
	check_block(rp, e);
	if (!r->ptr) { /* realloc(p, 0): p freed */
		h_free(rp->h, e->p);
		drop_live(rp, e);
		rp->r0_id = r->old;
		rp->r0_tid = r->tid;
		return;
	}
	tag = e->p ? block_tag(e->id, e->p) : 0;
	q = h_realloc(rp->h, e->p, (size_t)r->size);
	if (!q) { /* the replay's realloc failed: give the old block up too */
		h_free(rp->h, e->p);
	} else if (rp->verify && e->p &&
		   !tag_ok(q, e->size < r->size ? e->size : r->size, tag, false)) {
		if (rp->st.tag_errors++ < 10)
			kmem_tool_error("realloc of block %#llx lost its contents",
					(unsigned long long)e->id);
	}
	drop_live(rp, e);
	on_alloc(rp, r->ptr, q, r->size, false);
}

static void replay_one(struct replay *rp, const struct kmem_trace_rec *r)
{
	struct live *e;
	bool echo = false;

	if (rp->r0_id && r->tid == rp->r0_tid) {
		echo = r->op == KMEM_TRACE_FREE && r->ptr == rp->r0_id;
		rp->r0_id = 0; /* only the thread's very next record echoes */
	}
	switch (r->op) {
	case KMEM_TRACE_MALLOC:
	case KMEM_TRACE_CALLOC:
	case KMEM_TRACE_MEMALIGN:
		if (!r->ptr) {
			rp->st.trace_failed++;
			return;
		}
		rp->st.replayed++;
		if (r->op == KMEM_TRACE_MALLOC)
			on_alloc(rp, r->ptr, h_alloc(rp->h, (size_t)r->size), r->size, false);
		else if (r->op == KMEM_TRACE_CALLOC)
			on_alloc(rp, r->ptr, h_zalloc(rp->h, (size_t)r->size), r->size, true);
		else
			on_alloc(rp, r->ptr,
				 h_aligned(rp->h, (size_t)r->size, (size_t)1 << r->align_log2),
				 r->size, false);
		return;
	case KMEM_TRACE_FREE:
		if (!r->ptr) {
			rp->st.null_free++;
			return;
		}
		e = idmap_find(&rp->ids, r->ptr);
		if (!e) {
			if (echo)
				rp->st.r0_echo++;
			else
				rp->st.unknown_free++;
			return;
		}
		rp->st.replayed++;
		check_block(rp, e);
		h_free(rp->h, e->p);
		drop_live(rp, e);
		return;
	case KMEM_TRACE_REALLOC:
		replay_realloc(rp, r);
		return;
	default:
		return; /* validated before */
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The whole trace, in seq order (already sorted). */
static void replay_run(struct replay *rp, const struct trace_file *t, unsigned long sample)
{
	struct kmem_pa_stats ps;
	unsigned long left = sample;
	uint64_t t0 = now_ns();

	bool shown = false;

	for (size_t i = 0; i < t->n && !rp->oom; i++) {
		if (__builtin_expect((i & (PROGRESS_EVERY - 1)) == 0, 0) && i && rp->progress) {
			fprintf(stderr, "\rkmem replay: %zu of %zu records (%zu%%)", i, t->n,
				(size_t)((uint64_t)i * 100 / t->n));
			shown = true;
		}
		rp->h->now_ops = i; /* the decay's clock (--op-ns) */
		replay_one(rp, &t->rec[i]);
		if (kmem_replay_frag_tick(&rp->frag, &rp->st)) {
			measure_usable(rp);
			kmem_replay_frag_row(&rp->frag, &rp->st, i, t->rec[i].seq);
		}
		if (__builtin_expect(rp->maps != NULL, 0))
			for (unsigned k = 0; k < rp->nmaps; k++)
				if (rp->maps[k] == i &&
				    kmem_replay_frame_map(rp->h->st.buddy, rp->h->base,
							  rp->h->bytes / rp->h->frame,
							  rp->map_prefix, i))
					rp->map_failed = true;
		if (rp->h->st.pa && --left == 0) {
			left = sample;
			kmem_pa_get_stats(rp->h->st.pa, &ps);
			if (ps.used > rp->st.peak_pa_used)
				rp->st.peak_pa_used = ps.used;
		}
	}
	rp->st.wall_ns = now_ns() - t0;
	if (shown)
		fputs("\r\033[K", stderr); /* the progress line goes away */
	measure_usable(rp);
	if (rp->frag.every && rp->frag.left != rp->frag.every && t->n)
		kmem_replay_frag_row(&rp->frag, &rp->st, t->n - 1, t->rec[t->n - 1].seq);
	if (rp->h->st.pa) {
		kmem_pa_get_stats(rp->h->st.pa, &ps);
		if (ps.used > rp->st.peak_pa_used)
			rp->st.peak_pa_used = ps.used;
	}
}

/* Free every block still live (checking tags). */
static void replay_drain(struct replay *rp)
{
	for (size_t i = 0; i < rp->ids.cap; i++) {
		struct live *e = &rp->ids.slot[i];

		if (!e->id)
			continue;
		check_block(rp, e);
		h_free(rp->h, e->p);
		e->id = 0;
	}
	rp->ids.n = 0;
}

/* ---- the speed pass: the heap alone, on calls decoded before the clock ---------------
 *
 * The measured replay above pays for the id table, the block tags and the
 * fragmentation figures at every record: its ns per call is mostly the
 * harness. The speed pass decodes the records once into an array of
 * operations on dense slots (speed_decode: the same skips and replacements
 * as replay_one; a slot is reused once its block is freed, so the slot
 * array is as long as the peak of live blocks), then, with the clock
 * running, does nothing but walk the array and call the heap through a
 * table of functions (speed_run). The same walk over a null allocator
 * (every call returns a fixed non-NULL address, a free does nothing) is
 * the harness: its time is reported beside and subtracted. Each of
 * --speed-reps repetitions runs the null walk and then the heap's on a
 * fresh heap (set up and torn down outside the clock); the medians are
 * reported. */

enum speed_kind { SP_MALLOC, SP_CALLOC, SP_ALIGNED, SP_REALLOC, SP_FREE };

#define SP_NONE UINT32_MAX	/* realloc(NULL, n): no old slot */

struct speed_op {
	uint64_t size;
	uint32_t slot;		/* the block made or freed */
	uint32_t old;		/* SP_REALLOC: the block moved (SP_NONE: none) */
	uint8_t kind;		/* enum speed_kind */
	uint8_t align_log2;
};

struct speed_ops {
	struct speed_op *op;
	size_t n, cap;
	uint32_t slots;		/* slots used: the peak of live blocks */
	uint32_t *free_slot;	/* a stack of freed slots */
	size_t nfree, free_cap;
};

/* The calls of one heap; arg is the heap's. */
struct speed_heap {
	void *(*alloc)(void *arg, size_t size);
	void *(*zalloc)(void *arg, size_t size);
	void *(*aligned)(void *arg, size_t size, size_t align);
	void *(*realloc)(void *arg, void *p, size_t size);
	void (*free)(void *arg, void *p);
	void *arg;
};

static void *map_array(size_t bytes)
{
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Grow a mapped array of *cap elements of `size` bytes to twice as many. */
static int grow_array(void **a, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 4096;
	void *p = map_array(ncap * size);

	if (!p)
		return -1;
	if (*a) {
		memcpy(p, *a, *cap * size);
		munmap(*a, *cap * size);
	}
	*a = p;
	*cap = ncap;
	return 0;
}

static void speed_ops_free(struct speed_ops *s)
{
	if (s->op)
		munmap(s->op, s->cap * sizeof(*s->op));
	if (s->free_slot)
		munmap(s->free_slot, s->free_cap * sizeof(uint32_t));
	*s = (struct speed_ops){ 0 };
}

static int sp_emit(struct speed_ops *s, uint8_t kind, uint32_t slot, uint32_t old, uint64_t size,
		   uint8_t align_log2)
{
	if (s->n == s->cap && grow_array((void **)&s->op, &s->cap, sizeof(*s->op)))
		return -1;
	s->op[s->n++] = (struct speed_op){ .size = size, .slot = slot, .old = old, .kind = kind,
					   .align_log2 = align_log2 };
	return 0;
}

static int sp_slot_put(struct speed_ops *s, uint32_t slot)
{
	if (s->nfree == s->free_cap &&
	    grow_array((void **)&s->free_slot, &s->free_cap, sizeof(uint32_t)))
		return -1;
	s->free_slot[s->nfree++] = slot;
	return 0;
}

static uint32_t sp_slot_get(struct speed_ops *s)
{
	return s->nfree ? s->free_slot[--s->nfree] : s->slots++;
}

/* The id table's entries hold the slot in their size field here. */
static int sp_free_id(struct speed_ops *s, struct idmap *m, struct live *e)
{
	uint32_t slot = (uint32_t)e->size;

	idmap_erase(m, e);
	if (sp_emit(s, SP_FREE, slot, SP_NONE, 0, 0))
		return -1;
	return sp_slot_put(s, slot);
}

/* id (not 0) is made by an op into a slot: a live id is freed first (its
 * FREE was lost: replay_one's "replaced"). Returns the slot, or SP_NONE
 * when out of memory. */
static uint32_t sp_new_id(struct speed_ops *s, struct idmap *m, uint64_t id)
{
	struct live *e = idmap_find(m, id);

	if (e && sp_free_id(s, m, e))
		return SP_NONE;
	e = idmap_insert(m, id);
	if (!e || s->slots == SP_NONE)
		return SP_NONE;
	e->p = NULL;
	e->size = sp_slot_get(s);
	return (uint32_t)e->size;
}

/* Decode t's records (sorted, checked) into s: the calls replay_one makes,
 * in order, each an op. Returns 0, or -1 when out of memory. O(records). */
static int speed_decode(const struct trace_file *t, struct speed_ops *s)
{
	struct idmap m;
	int rc = -1;

	*s = (struct speed_ops){ 0 };
	if (idmap_init(&m, IDMAP_INITIAL))
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		const struct kmem_trace_rec *r = &t->rec[i];
		struct live *e;
		uint32_t slot, old;
		uint8_t kind;

		switch (r->op) {
		case KMEM_TRACE_MALLOC:
		case KMEM_TRACE_CALLOC:
		case KMEM_TRACE_MEMALIGN:
			if (!r->ptr)
				continue;
			slot = sp_new_id(s, &m, r->ptr);
			kind = r->op == KMEM_TRACE_MALLOC ? SP_MALLOC :
			       r->op == KMEM_TRACE_CALLOC ? SP_CALLOC : SP_ALIGNED;
			if (slot == SP_NONE || sp_emit(s, kind, slot, SP_NONE, r->size, r->align_log2))
				goto out;
			continue;
		case KMEM_TRACE_FREE:
			e = r->ptr ? idmap_find(&m, r->ptr) : NULL;
			if (e && sp_free_id(s, &m, e))
				goto out;
			continue;
		case KMEM_TRACE_REALLOC:
			if (!r->old || !(e = idmap_find(&m, r->old))) {
				if (!r->ptr)
					continue; /* failed, or realloc(p, 0) of an unknown p */
				/* realloc(NULL, n), or the old block unknown */
				slot = sp_new_id(s, &m, r->ptr);
				if (slot == SP_NONE ||
				    sp_emit(s, r->old ? SP_MALLOC : SP_REALLOC, slot, SP_NONE, r->size, 0))
					goto out;
				continue;
			}
			if (!r->ptr) {
				if (r->size)
					continue; /* failed in the trace: the block stays */
				if (sp_free_id(s, &m, e)) /* realloc(p, 0) */
					goto out;
				continue;
			}
			old = (uint32_t)e->size;
			idmap_erase(&m, e);
			if (sp_slot_put(s, old))
				goto out;
			slot = sp_new_id(s, &m, r->ptr);
			if (slot == SP_NONE || sp_emit(s, SP_REALLOC, slot, old, r->size, 0))
				goto out;
			continue;
		default:
			continue;
		}
	}
	rc = 0;
out:
	idmap_destroy(&m);
	return rc;
}

/* The ops on sh with the clock running; slot[] starts all NULL and holds
 * the live blocks at the end. Returns the nanoseconds; *calls counts the
 * calls made. Inlined into speed_walk_heap and speed_walk_null, two
 * functions of their own so that callgrind can count each
 * (--toggle-collect=speed_walk_heap: scripts/compare.py --callgrind). */
static inline __attribute__((always_inline)) uint64_t
speed_run(const struct speed_heap *sh, const struct speed_ops *s, void **slot, uint64_t *calls)
{
	const struct speed_op *op = s->op, *end = s->op + s->n;
	void *arg = sh->arg;
	uint64_t n = 0, t0 = now_ns();

	for (; op < end; op++, n++) {
		switch (op->kind) {
		case SP_MALLOC:
			slot[op->slot] = sh->alloc(arg, (size_t)op->size);
			break;
		case SP_CALLOC:
			slot[op->slot] = sh->zalloc(arg, (size_t)op->size);
			break;
		case SP_ALIGNED:
			slot[op->slot] = sh->aligned(arg, (size_t)op->size, (size_t)1 << op->align_log2);
			break;
		case SP_REALLOC:
			slot[op->slot] = sh->realloc(arg, op->old == SP_NONE ? NULL : slot[op->old],
						     (size_t)op->size);
			break;
		default:
			sh->free(arg, slot[op->slot]);
			slot[op->slot] = NULL;
			break;
		}
	}
	t0 = now_ns() - t0;
	*calls = n;
	return t0;
}

static volatile unsigned speed_walk_last; /* 1: the heap's walk ran last, 2: the null one */

static __attribute__((noinline)) uint64_t speed_walk_heap(const struct speed_heap *sh,
							   const struct speed_ops *s, void **slot,
							   uint64_t *calls)
{
	speed_walk_last = 1; /* a side effect of its own: never folded with the null walk */
	return speed_run(sh, s, slot, calls);
}

static __attribute__((noinline)) uint64_t speed_walk_null(const struct speed_heap *sh,
							   const struct speed_ops *s, void **slot,
							   uint64_t *calls)
{
	speed_walk_last = 2;
	return speed_run(sh, s, slot, calls);
}

/* The three heaps' calls. kmem_alloc(0) returns NULL: 0 becomes 1, as in
 * the measured replay. A realloc the heap fails leaves the old block: the
 * walk forgets it (it is freed by the teardown's reset of the heap). */
static void *sk_alloc(void *a, size_t n) { return kmem_alloc(a, n ? n : 1); }
static void *sk_zalloc(void *a, size_t n) { return kmem_zalloc(a, n ? n : 1); }
static void *sk_aligned(void *a, size_t n, size_t al) { return kmem_alloc_aligned(a, n ? n : 1, al); }
static void *sk_realloc(void *a, void *p, size_t n) { return kmem_realloc(a, p, n ? n : 1); }
static void sk_free(void *a, void *p) { kmem_free(a, p); }

static void *sm_alloc(void *a, size_t n) { (void)a; return malloc(n); }
static void *sm_zalloc(void *a, size_t n) { (void)a; return calloc(1, n); }
static void *sm_aligned(void *a, size_t n, size_t al)
{
	void *p;

	(void)a;
	return posix_memalign(&p, al < sizeof(void *) ? sizeof(void *) : al, n) ? NULL : p;
}
static void *sm_realloc(void *a, void *p, size_t n) { (void)a; return realloc(p, n ? n : 1); }
static void sm_free(void *a, void *p) { (void)a; free(p); }

/* The null allocator: the harness alone. Its blocks are one address. */
static max_align_t null_block;
static void *sn_alloc(void *a, size_t n) { (void)a; (void)n; return &null_block; }
static void *sn_aligned(void *a, size_t n, size_t al) { (void)a; (void)n; (void)al; return &null_block; }
static void *sn_realloc(void *a, void *p, size_t n) { (void)a; (void)p; (void)n; return &null_block; }
static void sn_free(void *a, void *p) { (void)a; (void)p; }

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t median_u64(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --speed-reps runs of the decoded ops (see above) into st->speed_*.
 * Returns 0, or -1 after an error line (decoding or a heap's set-up). */
static int speed_pass(const struct replay_opts *o, const struct trace_file *t, struct replay_stats *st)
{
	static const struct speed_heap null_heap = { sn_alloc, sn_alloc, sn_aligned, sn_realloc,
						     sn_free, NULL };
	uint64_t heap_ns[64], null_ns[64];
	unsigned reps = o->speed_reps < 64 ? o->speed_reps : 64;
	struct speed_ops s;
	void **slot;
	size_t slot_bytes;
	int rc = -1;

	if (speed_decode(t, &s)) {
		kmem_tool_error("out of memory decoding %zu records for the speed pass", t->n);
		speed_ops_free(&s);
		return -1;
	}
	slot_bytes = ((size_t)s.slots + 1) * sizeof(void *);
	slot = map_array(slot_bytes);
	if (!slot) {
		kmem_tool_error("out of memory for %u slots", s.slots);
		speed_ops_free(&s);
		return -1;
	}
	st->speed_ops = s.n;
	st->speed_slots = s.slots;
	st->speed_reps = reps;
	if (reps) { /* a warm-up: the op array's pages in, the branches trained */
		uint64_t calls;

		memset(slot, 0, slot_bytes);
		(void)speed_walk_null(&null_heap, &s, slot, &calls);
	}
	for (unsigned k = 0; k < reps; k++) {
		struct replay_heap h = { .wall_clock = true }; /* the walk counts no records */
		struct speed_heap sh;
		uint64_t calls;

		memset(slot, 0, slot_bytes);
		null_ns[k] = speed_walk_null(&null_heap, &s, slot, &calls);
		st->speed_null_calls = calls;
		memset(slot, 0, slot_bytes);
		if (o->use_malloc) {
			sh = (struct speed_heap){ sm_alloc, sm_zalloc, sm_aligned, sm_realloc, sm_free, NULL };
		} else {
			if (kmem_replay_heap_setup(&h, o)) {
				kmem_replay_heap_unmap(&h);
				goto out;
			}
			h.sink.flags |= KMEM_ERROR_QUIET; /* counted, not printed */
			sh = (struct speed_heap){ sk_alloc, sk_zalloc, sk_aligned, sk_realloc, sk_free,
						  h.st.slab };
		}
		heap_ns[k] = speed_walk_heap(&sh, &s, slot, &calls);
		st->speed_calls = calls;
		for (uint32_t i = 0; i < s.slots; i++) /* what the trace left live */
			if (slot[i])
				sh.free(sh.arg, slot[i]);
		if (!o->use_malloc) {
			kmem_stack_destroy(&h.st);
			kmem_replay_heap_unmap(&h);
		}
	}
	if (reps) {
		st->speed_heap_ns = median_u64(heap_ns, reps);
		st->speed_null_ns = median_u64(null_ns, reps);
	}
	rc = 0;
out:
	munmap(slot, slot_bytes);
	speed_ops_free(&s);
	return rc;
}

/* seq statistics of the sorted records, distinct threads, records by op. */
static void trace_census(const struct trace_file *t, struct replay_stats *st)
{
	static uint8_t seen[65536 / 8];

	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < t->n; i++) {
		const struct kmem_trace_rec *r = &t->rec[i];

		st->ops[r->op]++;
		if (!(seen[r->tid / 8] & (1u << (r->tid % 8)))) {
			seen[r->tid / 8] = (uint8_t)(seen[r->tid / 8] | (1u << (r->tid % 8)));
			st->threads++;
		}
		if (i && r->seq == t->rec[i - 1].seq)
			st->seq_dup++;
	}
	if (t->n) {
		st->seq_first = t->rec[0].seq;
		st->seq_last = t->rec[t->n - 1].seq;
		st->seq_missing = st->seq_last - st->seq_first + 1 - (t->n - st->seq_dup);
	}
}
static void replay_usage(FILE *f)
{
	fprintf(f,
		"usage: kmem replay [options] TRACE\n"
		"Replays a trace (a KMEM_TRACE file written by libkmem-malloc.so, kmem's text\n"
		"format or a valgrind --trace-malloc=yes log) in seq order, in\n"
		"one thread (the traced threads' calls are serialised by seq), against a\n"
		"fresh kmem heap (buddy -> pagealloc -> slab/kmalloc) or the process's\n"
		"malloc; prints counts, time per call, peak memory, buddyinfo, the\n"
		"fragmentation indexes, Johnstone & Wilson's measures and Robson's bound,\n"
		"then runs the invariant checkers (exit 1 on failure); then times the\n"
		"heap alone on the trace's calls decoded beforehand, less the harness.\n"
		"  -H, --heap NAME     the kmem heap's configuration: kmalloc (the default:\n"
		"                      kmalloc's 13 Linux size classes, slabs to 1/8 waste,\n"
		"                      no release step) or dropin (the drop-in malloc's heap:\n"
		"                      39 classes, slabs to 1/32, max order 13, the release\n"
		"                      step and its 8 MiB high watermark)\n"
		"  -H, --heap SIZE, --arena SIZE  the arena, K/M/G suffixes (default 1G, 256M\n"
		"                      where pointers are 32 bits; reserved with MAP_NORESERVE:\n"
		"                      only what is touched is used)\n"
	);
	fprintf(f,
		"      --classes C     kmalloc's size classes: linux (13), quarter (32, four\n"
		"                      per doubling), fine (39: quarter's, 1152, 2304, 4608,\n"
		"                      9216, 10240, 12288, 14336; the dropin heap's) or a file\n"
		"                      of sizes (up to 64, multiples of 8 up to 16384, at\n"
		"                      most 8 over 8192; blank- or comma-separated, # comments)\n"
		"      --waste-div N   slabs waste at most 1/N (0: 8; kmalloc heap 8, dropin 32)\n"
		"      --mag-size N|auto  rounds per magazine, every cache (1..1021; 0: by\n"
		"                      object size; auto: self-tuning on depot contention)\n"
		"      --depot-limit N|auto  full magazines a depot keeps (0: 16; dropin 32;\n"
		"                      auto: no limit, the unused part reaped periodically)\n"
		"      --partial P     the partial slab a cache allocates from: fullest\n"
		"                      (default), mru (most recently used) or least (full)\n"
		"      --empty-keep N  empty slabs each cache keeps (default 4; 0: none)\n"
		"      --no-colour     no slab colouring\n"
		"      --no-pcp        no per-thread frame caches in the frame service\n"
		"      --release yes|no  the frame service's release step (dropin: yes)\n"
		"      --decay-ms N    the release step's decay time in ms (default 10000;\n"
		"                      0: free memory released at once; -1: never)\n"
		"      --op-ns N       the decay's clock: N ns pass per record replayed\n"
		"                      (default 1000), so a replay releases the same way on\n"
		"                      every run; 0: the wall clock (a replay runs faster\n"
		"                      than the program, so more decays per record)\n"
		"      --speed-reps N  timed runs of the decoded calls, each against a null\n"
		"                      allocator too; the medians are reported (default 1, at\n"
		"                      most 64; 0: none)\n"
		"  -f, --frame SIZE    frame size, power of two 64..64K (default 4096)\n"
		"  -o, --max-order N   largest block order (default: the largest that fits,\n"
		"                      at most 13 with --heap dropin)\n"
		"      --discipline D  the buddy's free-list discipline: lifo (default), fifo,\n"
		"                      address (kmem/buddy.h, \"Policies\")\n"
		"      --grouping      anti-fragmentation grouping (Linux's migrate types)\n"
		"      --pageblock-order N  with --grouping (default: max order - 1)\n"
		"      --pcp-batch N   the frame service's per-thread batch (default 15, as the\n"
		"                      drop-in's heap; 0: scaled with the arena, Linux's rule)\n"
		"  -m, --malloc        replay against malloc/free/... instead of kmem\n"
		"      --sample N      read pagealloc stats every N calls for the peak (default 64)\n"
		"      --no-verify     no block tags (tags: 8 bytes at each end of a block,\n"
		"                      checked at free and realloc)\n"
		"      --format FMT    the trace's format: auto (default: detected), kmem\n"
		"                      (KMEM_TRACE's binary), text (kmem trace-convert --help),\n"
		"                      valgrind (a valgrind --trace-malloc=yes log)\n"
		"      --series N      a row of fragmentation figures every N records (and one\n"
		"                      at the end), as CSV (default) or JSON\n"
		"      --series-out F  the series' file (default \"-\": stdout, and the report\n"
		"                      goes to stderr)\n"
		"      --series-format csv|json  (default: json if F ends in .json, else csv)\n"
		"      --frame-map N   after record N (0-based; repeatable, up to 16), draw the\n"
		"                      arena as a PGM picture: PREFIX-N.pgm, one pixel per\n"
		"                      group of frames, used black, free grey by order\n"
		"      --frame-map-prefix P  (default \"frames\")\n"
		"      --min-heap      find the smallest arena the trace replays in without a\n"
		"                      failed call, by bisection between 256 frames and --heap\n"
		"  -j, --json          print the report as one JSON object\n"
		"  -h, --help          this text\n");
}

/* --classes linux|quarter|fine|FILE: FILE holds the class sizes, decimal or 0x
 * hex, separated by blanks, commas or newlines, '#' to the end of a line a
 * comment; kmem_slab_init checks them (strictly increasing multiples of 8
 * up to KMEM_KMALLOC_MAX_CLASS). Returns 0, or -1 after an error line. */
static int parse_classes(const char *arg, struct replay_opts *o)
{
	char buf[4096], *p;
	size_t len;
	FILE *f;

	o->classes_name = arg;
	if (!strcmp(arg, "linux")) {
		o->classes = KMEM_KMALLOC_LINUX;
		return 0;
	}
	if (!strcmp(arg, "quarter")) {
		o->classes = KMEM_KMALLOC_QUARTER;
		return 0;
	}
	if (!strcmp(arg, "fine")) {
		o->classes = KMEM_KMALLOC_FINE;
		return 0;
	}
	f = fopen(arg, "r");
	if (!f) {
		kmem_tool_file_error(arg, "%s (--classes takes linux, quarter, fine or a file of sizes)",
				     strerror(errno));
		return -1;
	}
	len = fread(buf, 1, sizeof(buf) - 1, f);
	if (!feof(f)) {
		kmem_tool_file_error(arg, "longer than %zu bytes", sizeof(buf) - 1);
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[len] = 0;
	o->nr_classes = 0;
	for (p = buf; *p;) {
		unsigned long long v;
		char *end, save;

		if (*p == '#') {
			p += strcspn(p, "\n");
			continue;
		}
		if (strchr(" \t\r\n,", *p)) {
			p++;
			continue;
		}
		end = p + strcspn(p, " \t\r\n,#");
		save = *end;
		*end = 0;
		if (kmem_tool_parse_count(p, &v) || v == 0 || v > KMEM_KMALLOC_MAX_CLASS ||
		    o->nr_classes == KMEM_KMALLOC_TABLE_MAX) {
			kmem_tool_file_error(arg, "bad class size '%s' (at most %u sizes of 1..%u bytes)",
					     p, KMEM_KMALLOC_TABLE_MAX, KMEM_KMALLOC_MAX_CLASS);
			return -1;
		}
		o->class_table[o->nr_classes++] = (size_t)v;
		*end = save;
		p = end;
	}
	if (!o->nr_classes) {
		kmem_tool_file_error(arg, "no class size");
		return -1;
	}
	o->classes = KMEM_KMALLOC_TABLE;
	return 0;
}

static int replay_opts(int argc, char **argv, struct replay_opts *o)
{
	static const struct option longopts[] = {
		{ "heap", required_argument, NULL, 'H' },
		{ "arena", required_argument, NULL, 'A' },
		{ "classes", required_argument, NULL, 'C' },
		{ "waste-div", required_argument, NULL, 'W' },
		{ "mag-size", required_argument, NULL, 'Z' },
		{ "depot-limit", required_argument, NULL, 'L' },
		{ "partial", required_argument, NULL, 'p' },
		{ "empty-keep", required_argument, NULL, 'k' },
		{ "no-colour", no_argument, NULL, 'c' },
		{ "no-pcp", no_argument, NULL, 'n' },
		{ "release", required_argument, NULL, 'R' },
		{ "op-ns", required_argument, NULL, 'Q' },
		{ "decay-ms", required_argument, NULL, 'Y' },
		{ "speed-reps", required_argument, NULL, 'r' },
		{ "frame", required_argument, NULL, 'f' },
		{ "max-order", required_argument, NULL, 'o' },
		{ "pcp-batch", required_argument, NULL, 'B' },
		{ "discipline", required_argument, NULL, 'D' },
		{ "grouping", no_argument, NULL, 'g' },
		{ "pageblock-order", required_argument, NULL, 'P' },
		{ "malloc", no_argument, NULL, 'm' },
		{ "sample", required_argument, NULL, 'S' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "format", required_argument, NULL, 'F' },
		{ "series", required_argument, NULL, 'N' },
		{ "series-out", required_argument, NULL, 'O' },
		{ "series-format", required_argument, NULL, 'T' },
		{ "min-heap", no_argument, NULL, 'M' },
		{ "frame-map", required_argument, NULL, 'G' },
		{ "frame-map-prefix", required_argument, NULL, 'X' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *series_format = NULL;
	unsigned long long v;
	size_t len;
	int c;

	*o = (struct replay_opts){ .heap = REPLAY_DEFAULT_HEAP, .frame = 4096, .sample = 64,
				   .verify = true, .pcp_batch = REPLAY_PCP_BATCH, .series_out = "-",
				   .frame_map_prefix = "frames", .classes = -1, .waste_div = -1,
				   .mag_size = -1, .depot_limit = -1, .partial = -1, .empty_keep = -1,
				   .release = -1, .speed_reps = 1, .op_ns = REPLAY_OP_NS,
				   .decay_ms = LONG_MIN };
	while ((c = getopt_long(argc, argv, "H:f:o:mjh", longopts, NULL)) != -1) {
		switch (c) {
		case 'H': /* a configuration's name, or the arena's size */
			if (!strcmp(optarg, "kmalloc"))
				o->kind = REPLAY_HEAP_KMALLOC;
			else if (!strcmp(optarg, "dropin"))
				o->kind = REPLAY_HEAP_DROPIN;
			else if (kmem_tool_parse_size(optarg, &o->heap))
				return -1;
			break;
		case 'A':
			if (kmem_tool_parse_size(optarg, &o->heap))
				return -1;
			break;
		case 'C':
			if (parse_classes(optarg, o))
				return -1;
			break;
		case 'W':
			if (kmem_tool_parse_count(optarg, &v) || v > 64)
				return -1;
			o->waste_div = (int)v;
			break;
		case 'Z':
			if (!strcmp(optarg, "auto"))
				o->mag_size = KMEM_MAG_SIZE_AUTO;
			else if (kmem_tool_parse_count(optarg, &v) || v > KMEM_MAG_ROUNDS_MAX)
				return -1;
			else
				o->mag_size = (long)v;
			break;
		case 'L':
			if (!strcmp(optarg, "auto"))
				o->depot_limit = KMEM_DEPOT_AUTO;
			else if (kmem_tool_parse_count(optarg, &v) || v >= KMEM_DEPOT_AUTO)
				return -1;
			else
				o->depot_limit = (long)v;
			break;
		case 'p':
			if (!strcmp(optarg, "fullest"))
				o->partial = KMEM_SLAB_PARTIAL_FULLEST;
			else if (!strcmp(optarg, "mru"))
				o->partial = KMEM_SLAB_PARTIAL_MRU;
			else if (!strcmp(optarg, "least"))
				o->partial = KMEM_SLAB_PARTIAL_LEAST;
			else
				return -1;
			break;
		case 'k':
			if (kmem_tool_parse_count(optarg, &v) || v > 65535)
				return -1;
			o->empty_keep = (long)v;
			break;
		case 'c': o->no_colour = true; break;
		case 'n': o->no_pcp = true; break;
		case 'R':
			if (!strcmp(optarg, "yes") || !strcmp(optarg, "on") || !strcmp(optarg, "1"))
				o->release = 1;
			else if (!strcmp(optarg, "no") || !strcmp(optarg, "off") || !strcmp(optarg, "0"))
				o->release = 0;
			else
				return -1;
			break;
		case 'Q':
			if (kmem_tool_parse_count(optarg, &v) || v > REPLAY_OP_NS_MAX)
				return -1;
			o->op_ns = v;
			o->op_ns_given = true;
			break;
		case 'Y': { /* -1 or a count of milliseconds */
			if (!strcmp(optarg, "-1") || !strcmp(optarg, "never")) {
				o->decay_ms = -1;
				break;
			}
			if (kmem_tool_parse_count(optarg, &v) || v > KMEM_PA_DECAY_MAX_MS)
				return -1;
			o->decay_ms = (long)v;
			break;
		}
		case 'r':
			if (kmem_tool_parse_count(optarg, &v) || v > 64)
				return -1;
			o->speed_reps = (unsigned)v;
			break;
		case 'f':
			if (kmem_tool_parse_size(optarg, &o->frame) || (o->frame & (o->frame - 1)))
				return -1;
			break;
		case 'o':
			if (kmem_tool_parse_count(optarg, &v) || v == 0 || v > KMEM_BUDDY_ORDER_LIMIT)
				return -1;
			o->max_order = (unsigned)v;
			break;
		case 'B':
			if (kmem_tool_parse_count(optarg, &v) || v > 1024)
				return -1;
			o->pcp_batch = (unsigned)v;
			break;
		case 'D':
			if (!strcmp(optarg, "lifo"))
				o->discipline = KMEM_BUDDY_LIFO;
			else if (!strcmp(optarg, "fifo"))
				o->discipline = KMEM_BUDDY_FIFO;
			else if (!strcmp(optarg, "address"))
				o->discipline = KMEM_BUDDY_ADDRESS;
			else
				return -1;
			break;
		case 'g': o->grouping = true; break;
		case 'P':
			if (kmem_tool_parse_count(optarg, &v) || v == 0 || v > KMEM_BUDDY_ORDER_LIMIT)
				return -1;
			o->pageblock_order = (unsigned)v;
			break;
		case 'm': o->use_malloc = true; break;
		case 'S':
			if (kmem_tool_parse_count(optarg, &v) || v == 0 || v > ULONG_MAX)
				return -1;
			o->sample = (unsigned long)v;
			break;
		case 'V': o->verify = false; break;
		case 'F':
			if (kmem_trace_parse_format(optarg, &o->format))
				return -1;
			break;
		case 'N':
			if (kmem_tool_parse_count(optarg, &v) || v == 0 || v > ULONG_MAX)
				return -1;
			o->series = (unsigned long)v;
			break;
		case 'O': o->series_out = optarg; break;
		case 'T': series_format = optarg; break;
		case 'M': o->min_heap = true; break;
		case 'G':
			if (kmem_tool_parse_count(optarg, &v) || o->frame_maps == REPLAY_FRAME_MAPS)
				return -1;
			o->frame_map[o->frame_maps++] = v;
			break;
		case 'X': o->frame_map_prefix = optarg; break;
		case 'j': o->json = true; break;
		case 'h': replay_usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	o->path = argv[optind];
	len = strlen(o->series_out);
	o->series_json = len > 5 && strcmp(o->series_out + len - 5, ".json") == 0;
	if (series_format) {
		if (strcmp(series_format, "json") && strcmp(series_format, "csv"))
			return -1;
		o->series_json = strcmp(series_format, "json") == 0;
	}
	if (o->use_malloc && (o->series || o->min_heap)) {
		kmem_tool_error("--series and --min-heap measure the kmem heap: not with --malloc");
		return -1;
	}
	if (o->use_malloc && o->frame_maps) {
		kmem_tool_error("--frame-map draws the kmem heap: not with --malloc");
		return -1;
	}
	if (o->use_malloc && (o->classes >= 0 || o->waste_div >= 0 || o->no_pcp || o->release >= 0 ||
			      o->mag_size >= 0 || o->depot_limit >= 0 ||
			      o->partial >= 0 || o->empty_keep >= 0 || o->no_colour ||
			      o->decay_ms != LONG_MIN || o->op_ns_given ||
			      o->kind != REPLAY_HEAP_KMALLOC)) {
		kmem_tool_error("--heap NAME, --classes, --waste-div, --mag-size, --depot-limit, --partial, "
				"--empty-keep, --no-colour, --no-pcp, --release, --decay-ms and --op-ns "
				"configure the kmem heap: not with --malloc");
		return -1;
	}
	if (o->pageblock_order && !o->grouping) {
		kmem_tool_error("--pageblock-order needs --grouping");
		return -1;
	}
	if (o->series && o->min_heap) {
		kmem_tool_error("--min-heap replays many times: no --series with it");
		return -1;
	}
	return 0;
}

/* ---- one replay, and the search for the smallest heap ---------------------------- */

/* A replay of the trace from start to teardown, with what the report needs. */
struct session {
	struct replay rp;
	struct replay_heap h;
	struct replay_verdict v;
	struct replay_measures m;
	size_t end_blocks;
	uint64_t end_bytes;
	bool ok;
};

/* Replay t (loaded, checked, sorted) on the heap o describes, or malloc;
 * series: the series' file or NULL. Returns 0, or -1 when the heap or the
 * id table could not be set up (reported). session_done() in every case. */
static int session_run(struct session *s, const struct replay_opts *o, const struct trace_file *t,
		       FILE *series)
{
	struct replay *rp = &s->rp;
	struct replay_heap *h = &s->h;
	struct replay_verdict *v = &s->v;

	if (idmap_init(&rp->ids, IDMAP_INITIAL)) {
		kmem_tool_error("out of memory for the id table");
		return -1;
	}
	trace_census(t, &rp->st);
	if (!o->use_malloc && kmem_replay_heap_setup(h, o))
		return -1;
	rp->h = h;
	rp->verify = o->verify;
	rp->progress = !o->min_heap && isatty(STDERR_FILENO);
	if (o->frame_maps && !o->use_malloc) {
		rp->maps = o->frame_map;
		rp->nmaps = o->frame_maps;
		rp->map_prefix = o->frame_map_prefix;
	}
	kmem_replay_frag_init(&rp->frag, h->st.buddy, h->release ? h->st.pa : NULL, series,
			      o->series_json, series ? o->series : 0);
	kmem_replay_frag_header(&rp->frag);
	{
		struct rusage ru;

		if (getrusage(RUSAGE_SELF, &ru) == 0)
			rp->st.rss_before_kib = ru.ru_maxrss;
	}
	replay_run(rp, t, o->sample);
	s->end_blocks = rp->ids.n;
	s->end_bytes = rp->st.live_bytes;
	if (rp->oom)
		kmem_tool_error("out of memory for the id table: replay stopped early");
	if (!o->use_malloc) {
		/* the state the trace left, then the checkers, then the teardown */
		kmem_replay_frag_measures(&rp->frag, &rp->st, &s->m);
		kmem_buddy_get_stats(h->st.buddy, &v->bst);
		kmem_pa_get_stats(h->st.pa, &v->pst);
		rp->st.peak_buddy_used = v->bst.peak_used_frames;
		v->buddyinfo = kmem_replay_format_all(kmem_buddy_format_buddyinfo, h->st.buddy);
		v->fragindex = kmem_replay_format_all(kmem_buddy_format_fragindex, h->st.buddy);
		v->json = o->json ? kmem_replay_format_all(kmem_buddy_format_json, h->st.buddy) : NULL;
		v->pa_ok = kmem_pa_check(h->st.pa) == 0;
		v->buddy_ok = kmem_buddy_check(h->st.buddy) == 0;
	}
	replay_drain(rp);
	if (!o->use_malloc) {
		struct kmem_buddy_stats bst;

		/* slab and the service first: then every frame should be
		 * free in the buddy (kmem_stack_destroy skips NULL layers) */
		kmem_slab_destroy(h->st.slab);
		kmem_pa_destroy(h->st.pa);
		h->st.slab = NULL;
		h->st.pa = NULL;
		kmem_buddy_get_stats(h->st.buddy, &bst);
		v->managed = bst.managed_frames;
		v->free_after = bst.free_frames;
		v->frames_back = bst.free_frames == bst.managed_frames;
		if (kmem_buddy_check(h->st.buddy))
			v->buddy_ok = false;
		v->errors = kmem_error_total(&h->sink);
		kmem_stack_destroy(&h->st);
	}
	s->ok = !rp->oom && rp->st.tag_errors == 0 && !rp->map_failed &&
		(o->use_malloc || (v->buddy_ok && v->pa_ok && v->frames_back && v->errors == 0));
	return 0;
}

static void session_done(struct session *s)
{
	free(s->v.buddyinfo);
	free(s->v.fragindex);
	free(s->v.json);
	kmem_replay_heap_unmap(&s->h);
	idmap_destroy(&s->rp.ids);
}

/* Replay t on a heap of `frames` frames: 1 when every call the trace
 * served was served (and the checks passed), 0 when one failed, -1 on a
 * setup error. */
static int fits(const struct replay_opts *base, const struct trace_file *t, size_t frames,
		unsigned max_order, struct session *keep)
{
	struct replay_opts o = *base;
	struct session s = { 0 };
	int rc;

	o.heap = frames * o.frame;
	o.max_order = max_order;
	o.frame_maps = 0; /* no pictures of the probes */
	if (session_run(&s, &o, t, NULL)) {
		session_done(&s);
		return -1;
	}
	rc = s.ok && s.rp.st.replay_failed == 0;
	if (keep) {
		session_done(keep);
		*keep = s;
	} else {
		session_done(&s);
	}
	return rc;
}

/* --min-heap: bisection on the arena's frames between 256 and --heap, the
 * max order fixed at --heap's (or --max-order), so that only the arena's
 * size changes between runs. Prints the answer and the report of the
 * replay at it. Returns the exit status. */
static int min_heap(const struct replay_opts *o, const struct trace_file *t)
{
	struct session best = { 0 };
	size_t lo = 256, hi = o->heap / o->frame, runs = 0;
	unsigned max_order;
	int rc;

	if (hi < lo) {
		kmem_tool_error("--heap must hold at least 256 frames");
		return 1;
	}
	max_order = kmem_replay_heap_order(o, hi);
	rc = fits(o, t, hi, max_order, &best);
	runs++;
	if (rc <= 0) {
		if (rc == 0)
			kmem_tool_error("%s does not replay without a failed call even in %zu frames "
					"(--heap %zu): try a larger --heap",
					o->path, hi, hi * o->frame);
		session_done(&best);
		return 1;
	}
	/* invariant: hi fits; lo - 1 is known not to fit, or lo is the floor */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		rc = fits(o, t, mid, max_order, NULL);
		runs++;
		if (rc < 0) {
			session_done(&best);
			return 1;
		}
		if (rc)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (fits(o, t, hi, max_order, &best) <= 0) {
		session_done(&best);
		return 1;
	}
	runs++;
	printf("min heap: %zu frames = %zu bytes (%.2f MiB), %zu B frames, max order %u, pcp batch %u; "
	       "bisection, %zu replays%s\n",
	       hi, hi * o->frame, kmem_tool_mib(hi, o->frame), o->frame, max_order, o->pcp_batch, runs,
	       hi == 256 ? " (the floor: 256 frames)" : "");
	printf("min heap: heap %s, policy %s\n", kmem_replay_heap_name(o->kind), kmem_replay_policy_name(o));
	if (hi > 256)
		printf("min heap: %zu frames fail the trace\n", hi - 1);
	if (best.m.smax)
		printf("min heap: %.3f x robson (%.0f bytes), %.3f x buddy guarantee (%.0f bytes)\n",
		       (double)(hi * o->frame) / best.m.robson, best.m.robson,
		       (double)(hi * o->frame) / best.m.buddy, best.m.buddy);
	session_done(&best);
	return 0;
}

int kmem_replay_main(int argc, char **argv)
{
	struct replay_opts o;
	struct trace_file t;
	struct session s = { 0 };
	struct rusage ru;
	FILE *series = NULL, *report = stdout;
	long maxrss = 0;
	int rc;

	if (replay_opts(argc, argv, &o)) {
		replay_usage(stderr);
		return 2;
	}
	if (kmem_trace_file_load(&t, o.path, o.format))
		return 1;
	if (t.tail)
		kmem_trace_file_report_tail(&t);
	if (t.tail || kmem_trace_file_check(&t)) {
		kmem_trace_file_close(&t);
		return 1;
	}
	if (kmem_trace_file_sort(&t)) {
		kmem_tool_error("out of memory for %zu records", t.n);
		kmem_trace_file_close(&t);
		return 1;
	}
	if (o.min_heap) {
		rc = min_heap(&o, &t);
		kmem_trace_file_close(&t);
		return rc;
	}
	if (o.series) {
		if (strcmp(o.series_out, "-") == 0) {
			series = stdout;
			report = stderr;
		} else if (!(series = fopen(o.series_out, "w"))) {
			kmem_tool_file_error(o.series_out, "%s", strerror(errno));
			kmem_trace_file_close(&t);
			return 1;
		}
	}
	if (session_run(&s, &o, &t, series)) {
		session_done(&s);
		if (series && series != stdout)
			fclose(series);
		kmem_trace_file_close(&t);
		return 1;
	}
	if (series) {
		if (kmem_replay_frag_finish(&s.rp.frag) ||
		    (series != stdout && fclose(series) != 0)) {
			kmem_tool_file_error(o.series_out, "write error: %s", strerror(errno));
			s.ok = false;
		}
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		maxrss = ru.ru_maxrss;
	if (o.speed_reps && speed_pass(&o, &t, &s.rp.st))
		s.ok = false;
	if (o.json)
		kmem_replay_print_json(report, &o, &s.rp.st, &s.h, &s.v, o.use_malloc ? NULL : &s.m,
				       maxrss, s.end_blocks, s.end_bytes, s.ok);
	else
		kmem_replay_print_text(report, &o, &s.rp.st, &s.h, &s.v, o.use_malloc ? NULL : &s.m,
				       maxrss, s.end_blocks, s.end_bytes);
	if (s.rp.st.replay_failed)
		kmem_tool_error("%llu calls failed in the replay (out of memory: try a larger --heap)",
				(unsigned long long)s.rp.st.replay_failed);
	if (!s.ok)
		kmem_tool_error("replay of %s failed its checks", o.path);
	rc = s.ok ? 0 : 1;
	session_done(&s);
	kmem_trace_file_close(&t);
	return rc;
}
