/* demo_pagealloc.c - the demo's frame-service phase: a pagealloc instance
 * over a small buddy of its own (kmem_stack_init with no slab instance),
 * with a slab instance on top from step 3 on.
 *
 * What it does (reproducible: no reaper thread; the demo drives the reaper
 * with kmem_pa_reaper_run(), so the same seed prints the same text):
 *   1. Page workload: seeded allocations and frees of orders 0..3, some with
 *      KMEM_PAGE_ZERO; every block handed out must read all zero (policy
 *      init_on_alloc) and then gets a caller's "secrets", which no later
 *      caller may see.
 *   2. Background zeroing: reaper steps of PA_ZERO_BUDGET frames fill the
 *      zeroed pool; then order-0 allocations are zeroed-pool hits.
 *   3. Slab pressure: a slab instance on the service (a shrinker) grows two
 *      caches and kmalloc to 55% of the frames, frees 90% of the objects;
 *      held pages push free frames below the low watermark, and one reaper
 *      step runs a reclaim cycle in which the slab shrinker gives frames
 *      back.
 *   4. zoneinfo, selected vmstat lines, kmem_pa_check and the cache
 *      checkers; a teardown after which every frame is free in the buddy.
 *
 * Data structures: struct pa_demo (the stack, the slab instance, their
 * memory, the zero-fill counts); struct demo_objs (kmem_tool.h) for the objects.
 *
 * Tunables (fixed, so the output does not depend on the demo's options):
 * PA_ARENA 16 MiB of PA_FRAME 4 KiB frames, PA_MAX_ORDER 10, the page
 * workload's PA_PAGE_OPS steps with at most PA_LIVE_MAX blocks and
 * PA_LIVE_FRAMES frames live, PA_ZERO_BUDGET frames per reaper step,
 * PA_OBJS_MAX objects in the slab workload.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kmem_rand.h"
#include "kmem_tool.h"

#define PA_ARENA ((size_t)16 << 20)
#define PA_FRAME ((size_t)4096)
#define PA_MAX_ORDER 10u
#define PA_LIVE_MAX 512u	/* blocks live at once in the page workload */
#define PA_LIVE_FRAMES 1024u	/* ... and frames */
#define PA_PAGE_OPS 4000u
#define PA_ZERO_BUDGET 64u	/* frames per kmem_pa_reaper_run() */
#define PA_OBJS_MAX 60000u	/* slab workload: objects live at once */

struct pa_demo {
	struct kmem_stack st;		/* buddy + frame service, no slab */
	struct kmem_pagealloc *pa;	/* st.pa */
	struct kmem_slab *s;		/* step 3's, on the service */
	void *inst, *arena, *meta, *sinst; /* inst: the stack's instances */
	unsigned long checked, dirty; /* zero-fill verification */
};

static void *aligned_zalloc(size_t align, size_t size)
{
	void *p = aligned_alloc(align, (size + align - 1) & ~(align - 1));

	if (p)
		memset(p, 0, size);
	return p;
}

static struct kmem_pa_stats pa_stats(struct kmem_pagealloc *pa)
{
	struct kmem_pa_stats st;

	kmem_pa_get_stats(pa, &st);
	return st;
}

/* A block just handed out: it must read all zero (init_on_alloc); then it
 * gets a caller's "secrets", which no later caller may ever see. */
static void pa_take(struct pa_demo *d, void *p, unsigned order, uint64_t *rng)
{
	static const unsigned char zero[PA_FRAME];
	unsigned char *c = p;
	size_t frames = (size_t)1 << order;
	bool old = false;

	for (size_t f = 0; f < frames && !old; f++)
		old = memcmp(c + f * PA_FRAME, zero, PA_FRAME) != 0;
	d->checked++;
	d->dirty += old;
	memset(p, (int)(kmem_splitmix64(rng) % 255) + 1, frames * PA_FRAME);
}

static unsigned pa_pick_order(uint64_t *rng)
{
	unsigned d = (unsigned)(kmem_splitmix64(rng) % 100);

	return d < 50 ? 0 : d < 75 ? 1 : d < 90 ? 2 : 3;
}

static const char *work_name(unsigned w)
{
	static const char *const names[] = {
		"idle", "reclaim", "zero", "reclaim+zero", "pending", "reclaim+pending",
		"zero+pending", "reclaim+zero+pending",
	};

	return names[w & 7u];
}

/* Only the vmstat lines the demo talks about (the whole file is ~35). */
static void print_vmstat_subset(const char *text)
{
	static const char *const keep[] = {
		"nr_free_pages ", "nr_zeroed_pages ", "nr_dirty_pages ", "nr_used_pages ",
		"pgalloc ", "pgfree ", "pgalloc_pcp ", "pgalloc_zeroed_hit ", "zeroed_hit_permille ",
		"pgzero_background ", "pgzero_inline ", "reaper_wake ", "reaper_cycles ",
		"pgreclaim_background ", "direct_reclaim ", "oom_events ", "alloc_fail ",
	};

	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		bool show = strncmp(line, "shrinker_", 9) == 0;

		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]) && !show; i++)
			show = strncmp(line, keep[i], strlen(keep[i])) == 0;
		if (show)
			printf("  %.*s", (int)len, line);
		line += len;
	}
}

/* kmem_stack's add_regions callback: the arena, with its frame table
 * outside it (so the whole arena is frames). */
static int pa_add_arena(void *arg, struct kmem_buddy *b)
{
	struct pa_demo *d = arg;
	size_t msz = kmem_buddy_region_meta_size(b, d->arena, PA_ARENA);

	d->meta = msz ? aligned_zalloc(64, msz) : NULL;
	if (!d->meta)
		return -ENOMEM;
	return kmem_buddy_add_region(b, d->arena, PA_ARENA, d->meta, msz);
}

/* The stack without its slab instance: a buddy over an aligned_alloc'd
 * arena (owner table on: slab maps objects to slabs), the frame service on
 * it with the default policy and derived watermarks. The slab instance on
 * top comes in step 3, so steps 1-2 see the frames before any slab exists.
 * Returns 0 or a negative errno (the caller frees the memory). */
static int pa_setup(struct pa_demo *d)
{
	struct kmem_stack_config cfg;
	size_t isz;
	int rc;

	kmem_stack_config_init(&cfg); /* policy init_on_alloc, derived watermarks */
	cfg.no_slab = true;
	cfg.buddy.name = "frames";
	cfg.buddy.frame_size = PA_FRAME;
	cfg.buddy.max_order = PA_MAX_ORDER;
	cfg.buddy.flags = KMEM_BUDDY_OWNERS; /* slab maps objects to slabs */
	cfg.pa.name = "pagealloc";
	cfg.add_regions = pa_add_arena;
	cfg.add_regions_arg = d;
	isz = kmem_stack_sizeof(&cfg);
	d->inst = aligned_zalloc(64, isz);
	d->arena = aligned_alloc(PA_FRAME << PA_MAX_ORDER, PA_ARENA);
	if (!d->inst || !d->arena)
		return -ENOMEM;
	rc = kmem_stack_init(d->inst, isz, &cfg, NULL, 0, NULL, 0, &d->st);
	d->pa = d->st.pa;
	return rc;
}

/* 1. Seeded page workload, orders 0..3, some KMEM_PAGE_ZERO requests;
 * every block handed out is checked for old data. */
static int pa_page_workload(struct pa_demo *d, bool quiet, uint64_t *rng)
{
	struct demo_blk live[PA_LIVE_MAX];
	size_t nlive = 0, live_frames = 0, peak = 0;
	unsigned long per_order[4] = { 0 }, zero_req = 0, allocs = 0, frees = 0, fails = 0;
	struct kmem_pa_stats st;

	for (unsigned i = 0; i < PA_PAGE_OPS; i++) {
		unsigned dice = (unsigned)(kmem_splitmix64(rng) % 100);

		if (nlive == 0 || (dice < 55 && nlive < PA_LIVE_MAX && live_frames < PA_LIVE_FRAMES)) {
			unsigned order = pa_pick_order(rng);
			unsigned flags = kmem_splitmix64(rng) % 8 == 0 ? KMEM_PAGE_ZERO : 0;
			void *p = kmem_pa_alloc(d->pa, order, flags);

			if (!p) {
				fails++;
				continue;
			}
			pa_take(d, p, order, rng);
			live[nlive++] = (struct demo_blk){ p, order };
			live_frames += (size_t)1 << order;
			peak = live_frames > peak ? live_frames : peak;
			per_order[order]++;
			zero_req += flags != 0;
			allocs++;
		} else {
			size_t k = (size_t)(kmem_splitmix64(rng) % nlive);

			kmem_pa_free(d->pa, live[k].p, live[k].order);
			live_frames -= (size_t)1 << live[k].order;
			live[k] = live[--nlive];
			frees++;
		}
	}
	while (nlive > 0) {
		nlive--;
		kmem_pa_free(d->pa, live[nlive].p, live[nlive].order);
		frees++;
	}
	st = pa_stats(d->pa);
	if (!quiet) {
		printf("pages: %lu allocations (order 0/1/2/3: %lu/%lu/%lu/%lu, %lu with KMEM_PAGE_ZERO), "
		       "%lu frees, %lu failed, peak %zu frames live\n",
		       allocs, per_order[0], per_order[1], per_order[2], per_order[3], zero_req, frees,
		       fails, peak);
		printf("  no zeroed frames yet: %llu frames zeroed inline, %llu zeroed-pool hits; "
		       "now %zu frames in the dirty pool, %zu zeroed\n",
		       (unsigned long long)st.zeroed_inline, (unsigned long long)st.zero_hits, st.dirty,
		       st.zeroed);
	}
	return fails ? 1 : 0;
}

/* 2. The reaper's background zeroing, in steps of PA_ZERO_BUDGET frames;
 * afterwards order-0 allocations come zeroed from the pool. */
static int pa_background_zeroing(struct pa_demo *d, bool quiet, uint64_t *rng)
{
	struct kmem_pa_stats st0, st;
	void *held[64];
	unsigned n = 0;

	for (unsigned run = 1; run <= 4; run++) {
		unsigned w = kmem_pa_reaper_run(d->pa, PA_ZERO_BUDGET);

		st = pa_stats(d->pa);
		if (!quiet)
			printf("  reaper_run(%u) #%u: %-13s zeroed pool %4zu, dirty pool %4zu, "
			       "pgzero_background %llu\n",
			       PA_ZERO_BUDGET, run, work_name(w), st.zeroed, st.dirty,
			       (unsigned long long)st.zeroed_bg);
	}
	st0 = pa_stats(d->pa);
	while (n < 64) {
		void *p = kmem_pa_alloc(d->pa, 0, 0);

		if (!p)
			break;
		pa_take(d, p, 0, rng);
		held[n++] = p;
	}
	/* the frees overflow the thread cache: its slow path folds the
	 * cache's counters, so the hits below are exact */
	while (n > 0)
		kmem_pa_free(d->pa, held[--n], 0);
	st = pa_stats(d->pa);
	if (!quiet)
		printf("  then 64 order-0 allocations: %llu zeroed-pool hits, %llu frames zeroed inline\n",
		       (unsigned long long)(st.zero_hits - st0.zero_hits),
		       (unsigned long long)(st.zeroed_inline - st0.zeroed_inline));
	return 0;
}

/* 3. A slab instance on the service: caches grow, most objects go again,
 * then held pages push free frames below the low watermark and one
 * reaper step runs a reclaim cycle that shrinks the slab caches. */
static int pa_slab_pressure(struct pa_demo *d, bool quiet, uint64_t *rng, struct demo_objs *ob,
			    void ***held_out, size_t *nheld_out)
{
	struct kmem_slab_config sc = { .name = "slab" };
	struct kmem_page_source ps;
	struct kmem_pa_stats st;
	size_t base, grown, after_free, target, nheld = 0, allocs = 0, frees = 0;
	void **held;
	unsigned w;
	int rc = 0;

	st = pa_stats(d->pa);
	base = st.used;
	target = st.managed * 55 / 100;
	kmem_pa_page_source(d->pa, &ps);
	sc.source = &ps;
	d->sinst = aligned_zalloc(64, kmem_slab_sizeof());
	if (!d->sinst || kmem_slab_init(d->sinst, kmem_slab_sizeof(), &sc, &d->s)) {
		d->s = NULL;
		return 1;
	}
	ob->s = d->s;
	ob->c[0] = kmem_cache_create(d->s, "buffer_head", 104, 0, 0, NULL, NULL, NULL);
	ob->c[1] = kmem_cache_create(d->s, "radix_tree_node", 576, 0, 0, NULL, NULL, NULL);
	ob->cap = PA_OBJS_MAX;
	ob->obj = calloc(ob->cap, sizeof(*ob->obj));
	ob->kind = calloc(ob->cap, 1);
	held = calloc(st.managed, sizeof(*held));
	*held_out = held;
	if (!ob->c[0] || !ob->c[1] || !ob->obj || !ob->kind || !held)
		return 1;

	/* grow: objects until the service's frames are 55% used */
	while (st.used < target && ob->n < ob->cap) {
		for (unsigned i = 0; i < 64 && ob->n < ob->cap; i++) {
			unsigned dice = (unsigned)(kmem_splitmix64(rng) % 10);
			void *p;

			if (dice < 3)
				p = kmem_cache_alloc(ob->c[0]);
			else if (dice < 5)
				p = kmem_cache_alloc(ob->c[1]);
			else
				p = kmem_alloc(d->s, 1 + (size_t)(kmem_splitmix64(rng) %
								 (dice < 9 ? 512 : 4096)));
			if (!p) {
				rc = 1;
				break;
			}
			ob->obj[ob->n] = p;
			ob->kind[ob->n++] = (unsigned char)(dice < 3 ? 0 : dice < 5 ? 1 : 2);
			allocs++;
		}
		if (rc)
			break;
		st = pa_stats(d->pa);
	}
	grown = st.used - base;
	/* shrink the working set: 90% of the objects go, in random order */
	for (size_t k = ob->n * 9 / 10; k > 0; k--) {
		kmem_demo_objs_free(ob, (size_t)(kmem_splitmix64(rng) % ob->n));
		frees++;
	}
	st = pa_stats(d->pa);
	after_free = st.used - base;
	if (!quiet)
		printf("objects: %zu allocations (buffer_head, radix_tree_node, kmalloc), %zu frees, "
		       "%zu live\n  slab frames: %zu at the peak, %zu after the frees "
		       "(%zu reclaimable by its shrinker)\n",
		       allocs, frees, ob->n, grown, after_free, kmem_slab_shrink_count(d->s));

	/* pressure: hold order-0 pages until free frames fall below low */
	while (st.free >= st.wmark_low && nheld < st.managed) {
		void *p = kmem_pa_alloc(d->pa, 0, KMEM_PAGE_NOWAIT);

		if (!p)
			break;
		pa_take(d, p, 0, rng);
		held[nheld++] = p;
		st = pa_stats(d->pa);
	}
	*nheld_out = nheld;
	if (st.free >= st.wmark_low)
		rc = 1;
	if (!quiet)
		printf("pressure: holding %zu pages, free %zu < low %zu (min %zu, high %zu)\n", nheld,
		       st.free, st.wmark_low, st.wmark_min, st.wmark_high);
	w = kmem_pa_reaper_run(d->pa, PA_ZERO_BUDGET);
	st = pa_stats(d->pa);
	if (!(w & KMEM_PA_WORK_RECLAIM) || st.reaper_wakeups != 1 || st.reclaimed_bg == 0)
		rc = 1;
	if (!quiet)
		printf("  reaper_run(%u): %s: the slab shrinker gave back %llu frames; slab frames %zu -> "
		       "%zu, free %zu (high %zu)\n",
		       PA_ZERO_BUDGET, work_name(w), (unsigned long long)st.reclaimed_bg,
		       after_free, st.used - base - nheld, st.free, st.wmark_high);
	return rc;
}

/* The phase: setup, steps 1-4, teardown (see the top of the file). */
int kmem_demo_pagealloc_phase(const struct demo_opts *o, uint64_t *rng)
{
	struct pa_demo d = { 0 };
	struct demo_objs ob = { 0 };
	struct kmem_pa_stats st;
	struct kmem_buddy_stats bst;
	void **held = NULL;
	size_t nheld = 0;
	char *text = malloc(1 << 14);
	bool quiet = o->json;
	int rc = 0, err;

	err = text ? pa_setup(&d) : -ENOMEM;
	if (err) {
		kmem_tool_error("pagealloc setup failed: %s", strerror(-err));
		rc = 1;
		goto out;
	}
	st = pa_stats(d.pa);
	if (!quiet)
		printf("\npagealloc: frame service over a %zu MiB buddy, %zu B frames, policy "
		       "init_on_alloc;\n  watermarks min %zu low %zu high %zu, order-0 zeroed pool %zu..%zu;\n"
		       "  the reaper runs only in kmem_pa_reaper_run() calls (no thread)\n",
		       PA_ARENA >> 20, PA_FRAME, st.wmark_min, st.wmark_low, st.wmark_high,
		       st.zero_low, st.zero_high);
	rc |= pa_page_workload(&d, quiet, rng);
	rc |= pa_background_zeroing(&d, quiet, rng);
	rc |= pa_slab_pressure(&d, quiet, rng, &ob, &held, &nheld);
	if (!quiet)
		printf("zero-fill: %lu blocks checked, %lu with old data\n", d.checked, d.dirty);
	if (d.dirty)
		rc = 1;
	if (!quiet && d.s) {
		kmem_pa_format_zoneinfo(d.pa, text, 1 << 14);
		printf("\n%s", text);
		kmem_pa_format_vmstat(d.pa, text, 1 << 14);
		printf("vmstat (selected):\n");
		print_vmstat_subset(text);
	}
	if (kmem_pa_check(d.pa) || (ob.c[0] && kmem_cache_check(ob.c[0])) ||
	    (ob.c[1] && kmem_cache_check(ob.c[1])))
		rc = 1;
	else if (!quiet)
		printf("pagealloc check: ok\n");

out:
	/* tear down: every frame must be free in the buddy again */
	while (nheld > 0)
		kmem_pa_free(d.pa, held[--nheld], 0);
	kmem_demo_objs_free_all(&ob);
	if (d.s) {
		kmem_cache_destroy(ob.c[0]);
		kmem_cache_destroy(ob.c[1]);
		kmem_slab_destroy(d.s);
		if (kmem_error_total(kmem_slab_error_sink(d.s)))
			rc = 1;
	}
	/* the service before the buddy, to count what came back to it
	 * (kmem_stack_destroy skips NULL layers) */
	if (d.st.pa)
		kmem_pa_destroy(d.st.pa);
	d.st.pa = d.pa = NULL;
	if (d.st.buddy) {
		kmem_buddy_get_stats(d.st.buddy, &bst);
		if (kmem_buddy_check(d.st.buddy) || bst.free_frames != bst.managed_frames ||
		    kmem_error_total(kmem_buddy_error_sink(d.st.buddy)))
			rc = 1;
		else if (!quiet)
			printf("pagealloc teardown: slab and service destroyed, %zu of %zu frames free\n",
			       bst.free_frames, bst.managed_frames);
		kmem_stack_destroy(&d.st);
	}
	free(held);
	free(ob.obj);
	free(ob.kind);
	free(text);
	free(d.sinst);
	free(d.inst);
	free(d.meta);
	free(d.arena);
	return rc;
}
