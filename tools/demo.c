/* demo.c - `kmem` / `kmem demo`: the buddy and slab phases of the demo, and
 * the run of all phases.
 *
 * What it does (the output is a pure function of the options: same seed,
 * same text):
 *   1. Buddy phase: a buddy instance over an arena in process memory (64 MiB
 *      of 4 KiB frames by default, the embedded default; kmem_stack_init
 *      with neither frame service nor slab: the buddy alone, owner words
 *      on for phase 2, the frame table outside the arena), driven by a seeded
 *      random page workload of alternating allocation and free phases with
 *      mixed orders (half order 0, skewing small as in kernels); then
 *      /proc/buddyinfo-style free counts, Linux's fragmentation indexes per
 *      order and a one-screen summary (or, with --json, the buddy's JSON).
 *      The last round fills until an allocation fails, and the indexes are
 *      printed there too: after a free phase a block of
 *      (nearly) every order is free and Linux's extfrag index is -1 there
 *      (a request would succeed); it was -1.000 at every order when only
 *      that state was shown. At the peak it rises towards 1 at the orders
 *      that ran out while smaller blocks were free.
 *   2. Slab phase: on the same (now fragmented) frames, a slab instance
 *      (made here, on the buddy's page source: phase 1 measures the frames
 *      before any slab exists) serves two object caches and kmalloc through
 *      a seeded object workload;
 *      /proc/slabinfo; every object freed, the caches checked and destroyed.
 *   3. Frame-service phase (demo_pagealloc.c), on a buddy of its own.
 *   4. Drain: every block of phase 1 freed; all of them coalesce back into
 *      max-order blocks (buddyinfo shows it).
 *   5. With --report FILE, phases 1, 2 and 4 record their calls as a trace
 *      and scripts/lab-report.sh writes the fragmentation lab's HTML
 *      report of it (demo_report.c).
 * Every phase runs the invariant checkers; any failure exits 1 (a bad
 * frame size or order exits 2). On a failure the process ends without a
 * teardown, so no destroy reports leaks on top of the failure.
 *
 * Data structures: struct demo_buddy (the phase-1 stack, its memory and
 * the live blocks); struct demo_objs (kmem_tool.h: a set of slab objects of
 * three kinds, shared with the frame-service phase); one seeded splitmix64
 * stream (common/kmem_rand.h) drawn by the phases in order.
 *
 * Tunables: the options (kmem.c); SLAB_OBJS_MAX objects live at once and
 * SLAB_ROUND_ALLOCS allocations a round in the slab phase; 64 missed
 * allocations in a row end a buddy allocation phase.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kmem_rand.h"
#include "kmem_tool.h"

#define SLAB_OBJS_MAX 200000u	/* slab phase: objects live at once */
#define SLAB_ROUND_ALLOCS 20000u	/* slab phase: allocations a round */
#define BUDDY_MISSES 64u	/* failed allocations in a row end a fill */

/* ---- objects of two caches and kmalloc (both slab workloads) -------------------- */

void kmem_demo_objs_free(struct demo_objs *ob, size_t i)
{
	if (ob->kind[i] < 2)
		kmem_cache_free(ob->c[ob->kind[i]], ob->obj[i]);
	else
		kmem_free(ob->s, ob->obj[i]);
	ob->obj[i] = ob->obj[--ob->n];
	ob->kind[i] = ob->kind[ob->n];
}

void kmem_demo_objs_free_all(struct demo_objs *ob)
{
	while (ob->n > 0)
		kmem_demo_objs_free(ob, ob->n - 1);
}

/* ---- phase 1: the buddy ----------------------------------------------------------- */

struct demo_buddy {
	struct kmem_stack st;	/* the buddy alone */
	struct kmem_buddy *b;	/* st.buddy */
	void *inst, *arena, *meta;
	size_t arena_size;
	struct demo_blk *live;	/* blocks the workload holds */
	size_t nlive, cap;
};

/* Page-sized requests skew small, as in kernels: 50% order 0, 20% order 1,
 * 12% order 2, 8% order 3, the rest spread over 4..min(max_order, 9). */
static unsigned pick_order(uint64_t *s, unsigned max_order)
{
	unsigned d = (unsigned)(kmem_splitmix64(s) % 100), top = max_order < 9 ? max_order : 9, o;

	if (d < 50)
		o = 0;
	else if (d < 70)
		o = 1;
	else if (d < 82)
		o = 2;
	else if (d < 90)
		o = 3;
	else
		o = top >= 4 ? 4 + (unsigned)(kmem_splitmix64(s) % (top - 3)) : top;
	return o > max_order ? max_order : o;
}

static void print_indexes(const struct kmem_buddy_stats *st)
{
	printf("order  free-blocks  unusable  extfrag\n");
	for (unsigned k = 0; k <= st->max_order; k++) {
		int u = kmem_buddy_unusable_index(st, k), e = kmem_buddy_extfrag_index(st, k);

		printf("%5u  %11zu  %d.%03d     %s%d.%03d\n", k, st->free_blocks[k], u / 1000, u % 1000,
		       e < 0 ? "-" : " ", abs(e) / 1000, abs(e) % 1000);
	}
}

/* kmem_stack's add_regions callback: the arena, with its frame table
 * outside it (so the whole arena is frames). */
static int add_arena(void *arg, struct kmem_buddy *b)
{
	struct demo_buddy *d = arg;
	size_t msz = kmem_buddy_region_meta_size(b, d->arena, d->arena_size);

	d->meta = msz ? aligned_alloc(64, (msz + 63) & ~(size_t)63) : NULL;
	if (!d->meta)
		return -ENOMEM;
	return kmem_buddy_add_region(b, d->arena, d->arena_size, d->meta, msz);
}

/* The instance over its arena. Returns 0, 1 (no memory, setup failed) or 2
 * (frame size or max order the buddy rejects). */
static int buddy_setup(struct demo_buddy *d, const struct demo_opts *o)
{
	struct kmem_stack_config cfg;
	struct kmem_buddy_stats st;
	size_t isz, align;
	int rc;

	kmem_stack_config_init(&cfg);
	cfg.no_pagealloc = true;
	cfg.no_slab = true; /* phase 2 makes its own on these frames */
	cfg.buddy.name = "demo";
	cfg.buddy.frame_size = o->frame;
	cfg.buddy.max_order = o->max_order;
	cfg.buddy.flags = KMEM_BUDDY_OWNERS; /* the slab phase maps objects to slabs */
	cfg.add_regions = add_arena;
	cfg.add_regions_arg = d;
	isz = kmem_stack_sizeof(&cfg);
	if (!isz) {
		kmem_tool_error("invalid frame size or max order");
		return 2;
	}
	/* The arena is aligned to the largest block so it holds whole ones;
	 * the frame table lives outside it. */
	align = o->frame << o->max_order;
	if (align < sizeof(void *))
		align = sizeof(void *);
	d->arena_size = o->arena;
	if (posix_memalign(&d->arena, align > 1u << 30 ? 1u << 30 : align, o->arena) ||
	    posix_memalign(&d->inst, 64, isz)) {
		kmem_tool_error("cannot allocate a %zu-byte arena", o->arena);
		return 1;
	}
	rc = kmem_stack_init(d->inst, isz, &cfg, NULL, 0, NULL, 0, &d->st);
	if (rc) {
		kmem_tool_error("setup failed: %s", strerror(-rc));
		return 1;
	}
	d->b = d->st.buddy;
	kmem_buddy_get_stats(d->b, &st);
	d->cap = st.managed_frames;
	d->live = calloc(d->cap, sizeof(*d->live));
	return 0;
}

/* The seeded page workload, the checker, the report. Returns 0 or 1.
 * tr (NULL: none) records every call (demo_report.c). */
static int buddy_phase(struct demo_buddy *d, const struct demo_opts *o, uint64_t *rng,
		       struct demo_trace *tr)
{
	struct kmem_buddy_stats st, peak = { 0 };
	unsigned long long allocs = 0, frees = 0, fails = 0;
	char text[4096];
	int largest = -1;

	kmem_buddy_get_stats(d->b, &st);
	for (unsigned round = 0; round < o->rounds; round++) {
		bool last = round + 1 == o->rounds;
		/* the last round fills until the first allocation fails: an
		 * order ran out while smaller blocks are still free, so the
		 * extfrag index has something to say */
		size_t target = last ? st.managed_frames : st.managed_frames * o->fill_pct / 100;
		unsigned misses = 0;

		/* allocation phase: fill to target; give up after repeated misses */
		kmem_buddy_get_stats(d->b, &st);
		while (st.used_frames < target && misses < (last ? 1u : BUDDY_MISSES) &&
		       d->nlive < d->cap) {
			unsigned order = pick_order(rng, o->max_order);
			void *p = kmem_buddy_alloc(d->b, order);

			kmem_demo_trace_rec(tr, KMEM_TRACE_MALLOC, (uint64_t)o->frame << order, p);
			if (!p) {
				fails++;
				misses++;
				continue;
			}
			memset(p, (int)(round + 1), 64); /* touch it, like a user */
			d->live[d->nlive++] = (struct demo_blk){ p, order };
			allocs++;
			st.used_frames += (size_t)1 << order;
		}
		if (last)
			kmem_buddy_get_stats(d->b, &peak);
		/* free phase: release a random share of what is live */
		for (size_t n = d->nlive * o->free_pct / 100; n > 0; n--) {
			size_t i = (size_t)(kmem_splitmix64(rng) % d->nlive);

			kmem_demo_trace_rec(tr, KMEM_TRACE_FREE, 0, d->live[i].p);
			kmem_buddy_free(d->b, d->live[i].p);
			d->live[i] = d->live[--d->nlive];
			frees++;
		}
		kmem_buddy_get_stats(d->b, &st);
	}
	if (kmem_buddy_check(d->b)) {
		kmem_tool_error("invariant check failed");
		return 1;
	}
	kmem_buddy_get_stats(d->b, &st);
	for (int k = (int)st.max_order; k >= 0 && largest < 0; k--)
		if (st.free_blocks[k])
			largest = k;

	if (o->json) {
		kmem_buddy_format_json(d->b, text, sizeof(text));
		fputs(text, stdout);
		return 0;
	}
	printf("kmem demo: buddy allocator, %.1f MiB arena, %zu B frames, max order %u, seed %llu\n",
	       (double)o->arena / 1048576.0, o->frame, o->max_order, (unsigned long long)o->seed);
	printf("workload: %u rounds (fill to %u%%, free %u%% of live blocks); "
	       "%llu allocations, %llu frees, %llu failed\n\n",
	       o->rounds, o->fill_pct, o->free_pct, allocs, frees, fails);
	printf("buddyinfo (free blocks per order 0..%u):\n", st.max_order);
	kmem_buddy_format_buddyinfo(d->b, text, sizeof(text));
	fputs(text, stdout);
	if (o->rounds) {
		printf("\nfragmentation at the peak of the last round, filled until an allocation "
		       "failed\n(Linux indexes: unusable free space, external fragmentation; "
		       "extfrag -1.000: a block that\nsize is free, near 1.000: requests of that size "
		       "fail for fragmentation, near 0: for\nlack of memory):\n");
		print_indexes(&peak);
	}
	printf("\nfragmentation after the last free phase:\n");
	print_indexes(&st);
	printf("\nsummary:\n");
	printf("  managed    %8zu frames  %9.2f MiB\n", st.managed_frames,
	       kmem_tool_mib(st.managed_frames, st.frame_size));
	printf("  free       %8zu frames  %9.2f MiB\n", st.free_frames,
	       kmem_tool_mib(st.free_frames, st.frame_size));
	printf("  used       %8zu frames  %9.2f MiB in %zu blocks\n", st.used_frames,
	       kmem_tool_mib(st.used_frames, st.frame_size), d->nlive);
	printf("  peak used  %8zu frames  %9.2f MiB\n", st.peak_used_frames,
	       kmem_tool_mib(st.peak_used_frames, st.frame_size));
	printf("  metadata   %8zu bytes   %9.3f%% of the arena\n", st.meta_bytes,
	       100.0 * (double)st.meta_bytes / (double)o->arena);
	if (largest >= 0)
		printf("  largest free block: order %d (%zu KiB)\n", largest,
		       (st.frame_size << largest) >> 10);
	printf("  failed allocations by order:");
	for (unsigned k = 0; k <= st.max_order; k++)
		printf(" %llu", (unsigned long long)st.fail[k]);
	printf("\n  check: ok\n");
	return 0;
}

/* Phase 4: free everything (all blocks coalesce back to max-order blocks),
 * check, destroy. Returns 0, or 1 on a failed check or a reported error. */
static int buddy_drain(struct demo_buddy *d, const struct demo_opts *o, struct demo_trace *tr)
{
	char text[4096];
	int rc;

	while (d->nlive > 0) {
		kmem_demo_trace_rec(tr, KMEM_TRACE_FREE, 0, d->live[--d->nlive].p);
		kmem_buddy_free(d->b, d->live[d->nlive].p);
	}
	if (kmem_buddy_check(d->b)) {
		kmem_tool_error("invariant check failed after drain");
		return 1;
	}
	if (!o->json) {
		kmem_buddy_format_buddyinfo(d->b, text, sizeof(text));
		printf("\nafter freeing everything (all coalesced):\n%s", text);
	}
	rc = kmem_error_total(kmem_buddy_error_sink(d->b)) ? 1 : 0;
	kmem_stack_destroy(&d->st);
	free(d->live);
	free(d->meta);
	free(d->inst);
	free(d->arena);
	return rc;
}

/* ---- phase 2: slab caches on the buddy's frames ------------------------------------ */

struct inode {
	unsigned long ino;
	unsigned state;
	char name[580];
};

static void inode_ctor(void *p, void *arg)
{
	struct inode *i = p;

	i->ino = 0;
	i->state = 0;
	(*(unsigned long *)arg)++;
}

/* Objects on the buddy's frames: two caches and kmalloc, seeded rounds of
 * allocation and free; prints slabinfo; frees everything. Returns 0, or 1
 * on an error or a failed check. tr (NULL: none) records every call. */
static int slab_phase(struct kmem_buddy *b, const struct demo_opts *o, uint64_t *rng,
		      struct demo_trace *tr)
{
	struct kmem_page_source ps;
	struct kmem_slab_config sc = { .name = "demo" };
	struct demo_objs ob = { .cap = SLAB_OBJS_MAX };
	struct kmem_cache *inodes, *dentries;
	void *mem = NULL;
	unsigned long ctor_calls = 0, allocs = 0, frees = 0;
	char *text = malloc(1 << 16);
	int rc = 0;

	kmem_buddy_page_source(b, &ps);
	sc.source = &ps;
	if (!text || posix_memalign(&mem, 64, kmem_slab_sizeof()) ||
	    kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &ob.s)) {
		kmem_tool_error("slab setup failed");
		free(text);
		free(mem);
		return 1;
	}
	inodes = kmem_cache_create(ob.s, "inode_cache", sizeof(struct inode), 0, 0, inode_ctor,
				   NULL, &ctor_calls);
	dentries = kmem_cache_create(ob.s, "dentry", 192, 0, 0, NULL, NULL, NULL);
	ob.c[0] = inodes;
	ob.c[1] = dentries;
	ob.obj = calloc(ob.cap, sizeof(*ob.obj));
	ob.kind = calloc(ob.cap, 1);
	for (unsigned round = 0; round < o->rounds && inodes && dentries && ob.obj && ob.kind;
	     round++) {
		for (unsigned i = 0; i < SLAB_ROUND_ALLOCS && ob.n < ob.cap; i++) {
			unsigned d = (unsigned)(kmem_splitmix64(rng) % 10);
			size_t size;
			void *p;

			if (d < 2) {
				size = sizeof(struct inode);
				p = kmem_cache_alloc(inodes);
			} else if (d < 5) {
				size = 192;
				p = kmem_cache_alloc(dentries);
			} else { /* kmalloc: mostly small, sometimes up to 16 KiB */
				size = 1 + (size_t)(kmem_splitmix64(rng) % (d < 9 ? 256 : 16384));
				p = kmem_alloc(ob.s, size);
			}
			kmem_demo_trace_rec(tr, KMEM_TRACE_MALLOC, size, p);
			if (!p)
				break;
			ob.obj[ob.n] = p;
			ob.kind[ob.n++] = (unsigned char)(d < 2 ? 0 : d < 5 ? 1 : 2);
			allocs++;
		}
		for (size_t k = ob.n * o->free_pct / 100; k > 0; k--) {
			size_t i = (size_t)(kmem_splitmix64(rng) % ob.n);

			kmem_demo_trace_rec(tr, KMEM_TRACE_FREE, 0, ob.obj[i]);
			kmem_demo_objs_free(&ob, i);
			frees++;
		}
	}
	if (!o->json) {
		printf("\nslab: %lu object allocations, %lu frees, %zu live; inode constructor ran %lu times\n",
		       allocs, frees, ob.n, ctor_calls);
		kmem_slab_format_slabinfo(ob.s, text, 1 << 16);
		fputs(text, stdout);
	}
	if (kmem_cache_check(inodes) || kmem_cache_check(dentries))
		rc = 1;
	for (size_t i = ob.n; i > 0; i--)
		kmem_demo_trace_rec(tr, KMEM_TRACE_FREE, 0, ob.obj[i - 1]);
	kmem_demo_objs_free_all(&ob);
	kmem_cache_destroy(inodes);
	kmem_cache_destroy(dentries);
	kmem_slab_destroy(ob.s);
	if (kmem_error_total(kmem_slab_error_sink(ob.s)))
		rc = 1;
	free(ob.obj);
	free(ob.kind);
	free(text);
	free(mem);
	return rc;
}

/* ---- the run ---------------------------------------------------------------------- */

int kmem_demo_run(const struct demo_opts *o)
{
	struct demo_buddy d = { 0 };
	struct demo_trace trace, *tr = NULL;
	uint64_t rng = o->seed;
	int rc;

	rc = buddy_setup(&d, o);
	if (rc)
		return rc;
	if (o->report) {
		if (kmem_demo_trace_open(&trace))
			return 1;
		tr = &trace;
	}
	if (buddy_phase(&d, o, &rng, tr))
		goto fail;
	if (slab_phase(d.b, o, &rng, tr)) {
		kmem_tool_error("slab phase failed");
		goto fail;
	}
	if (kmem_demo_pagealloc_phase(o, &rng)) {
		kmem_tool_error("pagealloc phase failed");
		goto fail;
	}
	rc = buddy_drain(&d, o, tr);
	if (rc || !tr)
		goto out;
	return kmem_demo_report(tr, o);
fail:
	rc = 1;
out:
	if (tr)
		kmem_demo_trace_discard(tr);
	return rc;
}
