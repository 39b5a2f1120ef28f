/* replay_heap.c - `kmem replay`: the kmem heap the trace is replayed on,
 * assembled from the public API: a buddy over an mmap'd arena, a pagealloc
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
 *      fits the arena; its frame table in a mapping of its own.
 *   3. The frame service without zeroing work (KMEM_PA_INIT_NONE,
 *      KMEM_PA_NO_BGZERO, no reaper thread), watermarks 32 / 64 / a quarter
 *      of the frames clamped to 96..2048.
 *   4. The slab instance on the service's page source.
 * The three instances share one error sink (it prints each error; the
 * report counts them) and one mapping. No growth: the arena is all there
 * is, so a trace that needs more fails calls (the replay counts them).
 *
 * Data structures: struct replay_heap (kmem_tool.h): the instances and the
 * four mappings (reservation, instances, owner table, frame table).
 *
 * Tunables: the options (--heap, --frame, --max-order, in replay.c); the
 * watermarks above.
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

int kmem_replay_heap_setup(struct replay_heap *h, const struct replay_opts *o)
{
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;
	struct kmem_slab_config sc = { .name = "replay" };
	struct kmem_page_source ps;
	size_t block, frames, bsz, psz, ssz, managed;
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
	kmem_buddy_config_init(&bc);
	bc.name = "replay";
	bc.frame_size = h->frame;
	bc.max_order = h->max_order;
	bc.flags = KMEM_BUDDY_OWNERS;
	bc.sink = &h->sink;
	if (!kmem_buddy_sizeof(&bc)) {
		kmem_tool_error("invalid frame size or max order");
		return -1;
	}
	block = h->frame << h->max_order;
	h->resv_len = h->bytes + block;
	h->resv = map_anon(h->resv_len, PROT_NONE);
	h->owner_len = frames * sizeof(void *);
	h->owner = map_anon(h->owner_len, PROT_READ | PROT_WRITE);
	bsz = (kmem_buddy_sizeof(&bc) + 63) & ~(size_t)63;
	psz = (kmem_pa_sizeof() + 63) & ~(size_t)63;
	ssz = (kmem_slab_sizeof() + 63) & ~(size_t)63;
	h->inst_len = bsz + psz + ssz;
	h->inst = map_anon(h->inst_len, PROT_READ | PROT_WRITE);
	if (!h->resv || !h->owner || !h->inst) {
		kmem_tool_error("cannot map a %zu-byte heap: %s", h->bytes, strerror(errno));
		return -1;
	}
	base = ((uintptr_t)h->resv + block - 1) & ~(uintptr_t)(block - 1);
	if (mprotect((void *)base, h->bytes, PROT_READ | PROT_WRITE) != 0) {
		kmem_tool_error("mprotect of the heap: %s", strerror(errno));
		return -1;
	}
	bc.owner_table = h->owner;
	bc.owner_base = (void *)base;
	bc.owner_frames = frames;
	rc = kmem_buddy_init(h->inst, bsz, &bc, &h->b);
	if (!rc) {
		h->meta_len = kmem_buddy_region_meta_size(h->b, (void *)base, h->bytes);
		h->meta = map_anon(h->meta_len, PROT_READ | PROT_WRITE);
		rc = h->meta ? kmem_buddy_add_region(h->b, (void *)base, h->bytes, h->meta, h->meta_len)
			     : -ENOMEM;
	}
	if (rc) {
		kmem_tool_error("buddy setup failed: %s", strerror(-rc));
		return -1;
	}
	managed = kmem_buddy_free_frames(h->b);
	kmem_pa_config_init(&pc);
	pc.name = "replay";
	pc.buddy = h->b;
	pc.sink = &h->sink;
	pc.init_policy = KMEM_PA_INIT_NONE;
	pc.flags = KMEM_PA_NO_BGZERO;
	pc.wmark_min = 32;
	pc.wmark_low = 64;
	pc.wmark_high = managed / 4 < 96 ? 96 : managed / 4 > 2048 ? 2048 : managed / 4;
	rc = kmem_pa_init((char *)h->inst + bsz, psz, &pc, &h->pa);
	if (rc) {
		h->pa = NULL;
		kmem_tool_error("pagealloc setup failed: %s", strerror(-rc));
		return -1;
	}
	kmem_pa_page_source(h->pa, &ps);
	sc.source = &ps;
	sc.sink = &h->sink;
	rc = kmem_slab_init((char *)h->inst + bsz + psz, ssz, &sc, &h->s);
	if (rc) {
		h->s = NULL;
		kmem_tool_error("slab setup failed: %s", strerror(-rc));
		return -1;
	}
	return 0;
}
