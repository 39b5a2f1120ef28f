/* replay_heap.c - `kmem replay`: the kmem heap the trace is replayed on,
 * assembled by kmem_stack_init(): a buddy over an mmap'd arena, a pagealloc
 * frame service on the buddy, a slab instance (kmalloc) on the service.
 *
 * Two configurations (--heap NAME):
 *   kmalloc  (the default) kmalloc's own: Linux's 13 size classes
 *            (KMEM_KMALLOC_LINUX), slabs packed to Bonwick's 1/8 waste, no
 *            release step; max order the largest that fits the arena;
 *            watermarks 32 / 64 / a quarter of the managed frames clamped
 *            to 96..2048.
 *   dropin   the drop-in malloc's heap, from the one definition it is set
 *            up from (kmem_stack_config_malloc, kmem/stack.h): 39 classes
 *            (KMEM_KMALLOC_FINE), slabs packed to 1/32, max order 13,
 *            the release step (KMEM_PA_RELEASE, inline, from 64 KiB blocks
 *            up) with the arena starting in the released pool
 *            (KMEM_PA_ZEROED_BUDDY), watermarks 32 / 64 / 8 MiB (KMEM_HIGH's
 *            default; at most the arena).
 *   Both: no zeroing work (KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO), no
 *   reaper thread, per-thread batch o->pcp_batch (15 by default, the
 *   drop-in's, high 6 x batch), not scaled with the arena: with Linux's
 *   rule (--pcp-batch 0: managed / 1024, up to 31) a larger arena parks
 *   more frames in the cache and so raises the peak footprint, a confound
 *   when arenas are compared. The knobs --classes, --waste-div, --partial,
 *   --empty-keep, --no-colour, --no-pcp
 *   and --release override either.
 * Where the dropin heap still differs from the drop-in itself: one region
 * of --arena bytes and no growth (the drop-in maps 64 MiB regions as it
 * grows; blocks never merge across a 32 MiB boundary, so only the arena's
 * size differs), blocks over 14 KiB are slab's direct objects (kmem_alloc;
 * the drop-in takes them from the frame service and trims them in place
 * when a realloc shrinks them to a quarter), requests over 32 MiB fail
 * (the drop-in maps them on their own), and the release step's decay
 * runs on the replay's clock (--op-ns: REPLAY_OP_NS ns a record; 0: the
 * wall clock, which passes faster in a replay than in the program), not
 * the program's own time (traces do not record it).
 *
 * What it does (kmem_replay_heap_setup):
 *   1. The arena: o->heap bytes (rounded down to frames, at least 256
 *      frames) inside a PROT_NONE reservation one largest block longer,
 *      so the arena can be aligned to the largest block; then made
 *      read-write. MAP_NORESERVE: only what the trace touches is used.
 *   2. The buddy (KMEM_BUDDY_OWNERS, one owner table for the arena in its
 *      own mapping) with max order kmem_replay_heap_order(), and the
 *      policies asked for (--discipline, --grouping, --pageblock-order;
 *      kmem/buddy.h, "Policies"); the stack's add_regions callback maps its
 *      frame table (sized by the buddy) and adds the arena.
 *   3. The frame service, its watermarks set by the same callback once the
 *      region is there (the stack reads the service's config after it).
 *   4. The slab instance on the service's page source.
 * The three instances share one error sink (it prints each error; the
 * report counts them) and one mapping. No growth: the arena is all there
 * is, so a trace that needs more fails calls (the replay counts them).
 *
 * Data structures: struct replay_heap (kmem_tool.h): the stack, the four
 * mappings (reservation, instances, owner table, frame table) and the
 * configuration built (for the report).
 *
 * Tunables: the options (--heap, --arena, --frame, --max-order,
 * --pcp-batch, --no-pcp, --release, --op-ns, --decay-ms, --classes, --waste-div, the slab
 * policies (--partial, --empty-keep, --no-colour) and the
 * buddy's policies, in replay.c); the kmalloc heap's watermarks above.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>

#include "kmem_tool.h"

/* The decay's clock under --op-ns: the record the replay is at, in ns. */
static uint64_t replay_clock(void *arg)
{
	const struct replay_heap *h = arg;

	return h->now_ops * h->op_ns;
}

static void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void kmem_replay_heap_unmap(struct replay_heap *h)
{
	if (h->meta)
		munmap(h->meta, h->meta_len);
	if (h->owner)
		munmap(h->owner, h->owner_len);
	if (h->inst)
		munmap(h->inst, h->inst_len);
	if (h->resv)
		munmap(h->resv, h->resv_len);
	h->meta = h->owner = h->inst = h->resv = NULL;
}

/* What the add_regions callback needs: the heap, the arena's aligned start,
 * and the stack's config, whose watermarks it sets. */
struct heap_arena {
	struct replay_heap *h;
	void *base;
	struct kmem_stack_config *cfg;
	bool dropin;	/* the drop-in's watermarks: 32 / 64 / its high, at most managed */
};

/* kmem_stack's add_regions callback: the frame table in a mapping of its
 * own, the arena as the one region, then the watermarks from the managed
 * frames. */
static int add_arena(void *arg, struct kmem_buddy *b)
{
	struct heap_arena *a = arg;
	struct replay_heap *h = a->h;
	size_t managed;
	int rc;

	h->meta_len = kmem_buddy_region_meta_size(b, a->base, h->bytes);
	h->meta = map_anon(h->meta_len, PROT_READ | PROT_WRITE);
	if (!h->meta)
		return -ENOMEM;
	rc = kmem_buddy_add_region(b, a->base, h->bytes, h->meta, h->meta_len);
	if (rc)
		return rc;
	managed = kmem_buddy_free_frames(b);
	if (a->dropin) {
		if (a->cfg->pa.wmark_high > managed)
			a->cfg->pa.wmark_high = managed;
	} else {
		a->cfg->pa.wmark_min = 32;
		a->cfg->pa.wmark_low = 64;
		a->cfg->pa.wmark_high = managed / 4 < 96 ? 96 : managed / 4 > 2048 ? 2048 : managed / 4;
	}
	h->wmark_high = a->cfg->pa.wmark_high;
	return 0;
}

const char *kmem_replay_heap_name(enum replay_heap_kind k)
{
	return k == REPLAY_HEAP_DROPIN ? "dropin" : "kmalloc";
}

const char *kmem_replay_partial_name(unsigned partial)
{
	return partial == KMEM_SLAB_PARTIAL_MRU ? "mru" : partial == KMEM_SLAB_PARTIAL_LEAST ? "least"
											: "fullest";
}

unsigned kmem_replay_heap_order(const struct replay_opts *o, size_t frames)
{
	unsigned order = 0, cap = KMEM_BUDDY_ORDER_LIMIT;

	if (o->max_order)
		return o->max_order;
	if (o->kind == REPLAY_HEAP_DROPIN)
		cap = KMEM_STACK_MALLOC_MAX_ORDER;
	while (order < cap && (frames >> (order + 1)) != 0)
		order++;
	return order;
}

int kmem_replay_heap_setup(struct replay_heap *h, const struct replay_opts *o)
{
	struct kmem_stack_config cfg;
	struct heap_arena arena = { h, NULL, &cfg, o->kind == REPLAY_HEAP_DROPIN };
	size_t block, frames;
	uintptr_t base;
	int rc;

	kmem_error_sink_init(&h->sink); /* print each error; counted for the verdict */
	h->frame = o->frame;
	h->bytes = o->heap & ~(o->frame - 1);
	frames = h->bytes / h->frame;
	if (frames < 256) {
		kmem_tool_error("--heap must hold at least 256 frames");
		return -1;
	}
	h->max_order = kmem_replay_heap_order(o, frames);
	if (o->kind == REPLAY_HEAP_DROPIN) {
		kmem_stack_config_malloc(&cfg); /* the drop-in's heap, its one definition */
	} else {
		kmem_stack_config_init(&cfg);
		cfg.pa.init_policy = KMEM_PA_INIT_NONE;
		cfg.pa.flags = KMEM_PA_NO_BGZERO;
	}
	cfg.sink = &h->sink;
	cfg.buddy.name = "replay";
	cfg.buddy.frame_size = h->frame;
	cfg.buddy.max_order = h->max_order;
	cfg.buddy.flags = KMEM_BUDDY_OWNERS | (o->grouping ? KMEM_BUDDY_GROUPING : 0u);
	cfg.buddy.discipline = o->discipline;
	cfg.buddy.pageblock_order = o->grouping ? o->pageblock_order : 0;
	cfg.pa.name = "replay";
	cfg.pa.pcp_batch = o->pcp_batch; /* 0: scaled with the arena */
	cfg.pa.pcp_high = o->pcp_batch * 6;
	if (o->no_pcp)
		cfg.pa.flags |= KMEM_PA_NO_PCP;
	if (o->release == 0)
		cfg.pa.flags &= ~(KMEM_PA_RELEASE | KMEM_PA_RELEASE_INLINE | KMEM_PA_ZEROED_BUDDY);
	else if (o->release == 1)
		cfg.pa.flags |= KMEM_PA_RELEASE | KMEM_PA_RELEASE_INLINE | KMEM_PA_ZEROED_BUDDY;
	if (o->decay_ms != LONG_MIN)
		cfg.pa.decay_ms = o->decay_ms;
	h->decay_ms = cfg.pa.decay_ms;
	h->now_ops = 0;
	h->op_ns = h->wall_clock ? 0 : o->op_ns;
	if (h->op_ns) {
		cfg.pa.clock = replay_clock;
		cfg.pa.clock_arg = h;
	}
	cfg.slab.name = "replay";
	if (o->classes >= 0) {
		cfg.slab.kmalloc_classes = (unsigned)o->classes;
		cfg.slab.class_sizes = o->class_table;
		cfg.slab.nr_classes = o->nr_classes;
	}
	if (o->waste_div >= 0)
		cfg.slab.waste_div = (unsigned)o->waste_div;
	if (o->mag_size >= 0)
		cfg.slab.mag_size = (unsigned)o->mag_size;
	if (o->depot_limit >= 0)
		cfg.slab.depot_limit = (unsigned)o->depot_limit;
	h->mag_size = cfg.slab.mag_size;
	h->depot_limit = cfg.slab.depot_limit;
	if (o->partial >= 0)
		cfg.slab.partial = (unsigned)o->partial;
	if (o->empty_keep >= 0)
		cfg.slab.empty_keep = o->empty_keep == 0 ? KMEM_SLAB_KEEP_NONE : (unsigned)o->empty_keep;
	if (o->no_colour)
		cfg.slab.no_colour = true;
	h->partial = cfg.slab.partial;
	h->empty_keep = cfg.slab.empty_keep == 0 ? KMEM_CACHE_EMPTY_KEEP
		      : cfg.slab.empty_keep == KMEM_SLAB_KEEP_NONE ? 0 : cfg.slab.empty_keep;
	h->colour = !cfg.slab.no_colour;
	h->classes = cfg.slab.kmalloc_classes;
	h->waste_div = cfg.slab.waste_div ? cfg.slab.waste_div : 8;
	h->pcp = !(cfg.pa.flags & KMEM_PA_NO_PCP);
	h->pcp_batch = o->pcp_batch;
	h->release = (cfg.pa.flags & KMEM_PA_RELEASE) != 0;
	cfg.add_regions = add_arena;
	cfg.add_regions_arg = &arena;
	if (!kmem_stack_sizeof(&cfg)) {
		kmem_tool_error("invalid frame size or max order");
		return -1;
	}
	block = h->frame << h->max_order;
	h->resv_len = h->bytes + block;
	h->resv = map_anon(h->resv_len, PROT_NONE);
	h->owner_len = frames * sizeof(void *);
	h->owner = map_anon(h->owner_len, PROT_READ | PROT_WRITE);
	if (!h->resv || !h->owner) {
		kmem_tool_error("cannot map a %zu-byte heap: %s", h->bytes, strerror(errno));
		return -1;
	}
	base = ((uintptr_t)h->resv + block - 1) & ~(uintptr_t)(block - 1);
	arena.base = (void *)base;
	h->base = (void *)base;
	cfg.buddy.owner_table = h->owner;
	cfg.buddy.owner_base = (void *)base;
	cfg.buddy.owner_frames = frames;
	h->inst_len = kmem_stack_sizeof(&cfg);
	h->inst = map_anon(h->inst_len, PROT_READ | PROT_WRITE);
	if (!h->inst) {
		kmem_tool_error("cannot map a %zu-byte heap: %s", h->bytes, strerror(errno));
		return -1;
	}
	if (mprotect((void *)base, h->bytes, PROT_READ | PROT_WRITE) != 0) {
		kmem_tool_error("mprotect of the heap: %s", strerror(errno));
		return -1;
	}
	rc = kmem_stack_init(h->inst, h->inst_len, &cfg, NULL, 0, NULL, 0, &h->st);
	if (rc) {
		kmem_tool_error("heap setup failed: %s", strerror(-rc));
		return -1;
	}
	return 0;
}
