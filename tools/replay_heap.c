/* replay_heap.c - `kmem replay`: the kmem heap the trace is replayed on,
 * assembled by kmem_stack_init(): a buddy over an mmap'd arena, a pagealloc
 * frame service on the buddy, a slab instance (kmalloc) on the service.
 *
 * What it does (kmem_replay_heap_setup, configured as the drop-in malloc
 * was when this was written):
 *   1. The arena: o->heap bytes (rounded down to frames, at least 256
 *      frames) inside a PROT_NONE reservation one largest block longer,
 *      so the arena can be aligned to the largest block; then made
 *      read-write. MAP_NORESERVE: only what the trace touches is used.
 *   2. The buddy (KMEM_BUDDY_OWNERS, one owner table for the arena in its
 *      own mapping) with max order o->max_order, or the largest order that
 *      fits the arena, and the policies asked for (--discipline,
 *      --grouping, --pageblock-order; kmem/buddy.h, "Policies"); the stack's add_regions callback maps its frame
 *      table (sized by the buddy) and adds the arena.
 *   3. The frame service without zeroing work (KMEM_PA_INIT_NONE,
 *      KMEM_PA_NO_BGZERO, no reaper thread), watermarks 32 / 64 / a quarter
 *      of the managed frames clamped to 96..2048, set by the same callback
 *      once the region is there (the stack reads the service's config
 *      after it). The per-thread batch is o->pcp_batch (15 by default, the
 *      drop-in's, high 6 x batch), not scaled with the arena: with Linux's
 *      rule (--pcp-batch 0: managed / 1024, up to 31) a larger --heap
 *      parks more frames in the cache and so raises the peak footprint, a
 *      confound when arenas are compared. The watermarks still scale; they
 *      only decide when reclaim runs, and the replay has no release step.
 *   4. The slab instance on the service's page source.
 * The three instances share one error sink (it prints each error; the
 * report counts them) and one mapping. No growth: the arena is all there
 * is, so a trace that needs more fails calls (the replay counts them).
 *
 * Data structures: struct replay_heap (kmem_tool.h): the stack and the
 * four mappings (reservation, instances, owner table, frame table).
 *
 * Tunables: the options (--heap, --frame, --max-order, --pcp-batch and the
 * buddy's policies, in replay.c); the watermarks above.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "kmem_tool.h"

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
	a->cfg->pa.wmark_min = 32;
	a->cfg->pa.wmark_low = 64;
	a->cfg->pa.wmark_high = managed / 4 < 96 ? 96 : managed / 4 > 2048 ? 2048 : managed / 4;
	return 0;
}

int kmem_replay_heap_setup(struct replay_heap *h, const struct replay_opts *o)
{
	struct kmem_stack_config cfg;
	struct heap_arena arena = { h, NULL, &cfg };
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
	h->max_order = o->max_order;
	if (!h->max_order)
		while (h->max_order < KMEM_BUDDY_ORDER_LIMIT &&
		       (frames >> (h->max_order + 1)) != 0)
			h->max_order++;
	kmem_stack_config_init(&cfg);
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
	cfg.pa.init_policy = KMEM_PA_INIT_NONE;
	cfg.pa.flags = KMEM_PA_NO_BGZERO;
	cfg.slab.name = "replay";
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
