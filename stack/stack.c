/* stack.c - the whole stack in one call (include/kmem/stack.h).
 *
 * Algorithm:
 *   1. Size: the buddy instance (its size depends on cfg->buddy), the frame
 *      service and the slab instance, each rounded up to 64 bytes, laid out
 *      in that order in the caller's memory, the ones the config leaves out
 *      taking no room:
 *        mem: | buddy | pagealloc (unless no_pagealloc) | slab (unless no_slab) |
 *   2. Initialise the buddy (KMEM_BUDDY_OWNERS forced: slab maps objects to
 *      slabs through owner words, also a slab instance the caller puts on
 *      later), add the caller's arena as its first region, then run the
 *      add_regions callback if any.
 *   3. The frame service on the buddy (unless no_pagealloc), then a slab
 *      instance on the page source of whichever layer is on top (unless
 *      no_slab). Both flags: the buddy alone.
 *   4. Any failure destroys, top down, what steps 2-3 made.
 * Bound: the sum of the layers' init costs. No state of its own: struct
 * kmem_stack is three pointers, so the layers stay usable alone and
 * destroyable in the usual order.
 *
 * kmem_stack_config_malloc: the drop-in malloc's heap as a configuration
 * (its one definition: malloc/heap.c and kmem replay --heap dropin use it).
 *
 * Invariant (what the callback may rely on): cfg->pa and cfg->slab are read
 * only after add_regions returns (stack.h).
 */
#include <kmem/stack.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define STACK_ALIGN 64u

static size_t round_up(size_t n)
{
	return (n + STACK_ALIGN - 1) & ~(size_t)(STACK_ALIGN - 1);
}

/* The buddy config as the stack uses it (owner words forced, shared sink). */
static void buddy_config(const struct kmem_stack_config *cfg, struct kmem_buddy_config *bc)
{
	*bc = cfg->buddy;
	bc->flags |= KMEM_BUDDY_OWNERS;
	if (cfg->sink)
		bc->sink = cfg->sink;
}

void kmem_stack_config_init(struct kmem_stack_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	kmem_buddy_config_init(&cfg->buddy);
	cfg->buddy.flags |= KMEM_BUDDY_OWNERS;
	kmem_pa_config_init(&cfg->pa);
}

/* the batch below is Linux's rule on the drop-in's first region */
_Static_assert(KMEM_STACK_MALLOC_REGION / KMEM_STACK_MALLOC_FRAME / 1024 == 16,
	       "batch 15 is clamp(16, 1, 31) rounded to 2^n - 1");

void kmem_stack_config_malloc(struct kmem_stack_config *cfg)
{
	kmem_stack_config_init(cfg);
	cfg->buddy.frame_size = KMEM_STACK_MALLOC_FRAME;
	cfg->buddy.max_order = KMEM_STACK_MALLOC_MAX_ORDER;
	/* malloc promises no zeroes: only calloc's page blocks ask for them
	 * (KMEM_PAGE_ZERO); no background zeroing (a thread's CPU in every
	 * process, for blocks the heap mostly hands out dirty) */
	cfg->pa.init_policy = KMEM_PA_INIT_NONE;
	cfg->pa.flags = KMEM_PA_NO_BGZERO | KMEM_PA_RELEASE | KMEM_PA_ZEROED_BUDDY;
	/* the release step on the decay curve (decision 29): the reaper
	 * where the consumer starts one (the drop-in: lazily), else bounded
	 * steps in the freeing thread */
	cfg->pa.decay_ms = KMEM_PA_DECAY_DEFAULT_MS;
	cfg->pa.release_order = 4; /* 64 KiB and up: smaller is not worth a system call */
	cfg->pa.wmark_min = 32;
	cfg->pa.wmark_low = 64;
	cfg->pa.wmark_high = KMEM_STACK_MALLOC_HIGH / KMEM_STACK_MALLOC_FRAME;
	/* Linux's zone_batchsize on the first region: 16384 frames / 1024,
	 * rounded to 2^n - 1; high 6 x batch */
	cfg->pa.pcp_batch = 15;
	cfg->pa.pcp_high = 90;
	/* 3% slab waste at most: 512-byte objects 31 to 16 KiB, not 7 to 4 KiB */
	cfg->slab.waste_div = 32;
	/* four classes per doubling (as jemalloc): rounding wastes at most 25%
	 * (Linux's classes waste up to 50%); powers of two are aligned to their
	 * size, so aligned requests pick one of them; the fine table adds one an
	 * eighth above each power of two from 1 KiB, and 10 to 14 KiB (decision
	 * 39; the quarter table in builds without classes over 8 KiB) */
	cfg->slab.kmalloc_classes = KMEM_KMALLOC_FINE;
	cfg->slab.mag_size = KMEM_STACK_MALLOC_MAG_SIZE;
	cfg->slab.depot_limit = KMEM_STACK_MALLOC_DEPOT_LIMIT;
}

size_t kmem_stack_sizeof(const struct kmem_stack_config *cfg)
{
	struct kmem_buddy_config bc;
	size_t bsz;

	if (!cfg)
		return 0;
	buddy_config(cfg, &bc);
	bsz = kmem_buddy_sizeof(&bc);
	if (!bsz)
		return 0;
	return round_up(bsz) + (cfg->no_pagealloc ? 0 : round_up(kmem_pa_sizeof())) +
	       (cfg->no_slab ? 0 : round_up(kmem_slab_sizeof()));
}

void kmem_stack_destroy(struct kmem_stack *st)
{
	if (st->slab)
		kmem_slab_destroy(st->slab);
	if (st->pa)
		kmem_pa_destroy(st->pa);
	if (st->buddy)
		kmem_buddy_destroy(st->buddy);
	memset(st, 0, sizeof(*st));
}

int kmem_stack_init(void *mem, size_t mem_size, const struct kmem_stack_config *cfg, void *arena,
		    size_t arena_size, void *meta, size_t meta_size, struct kmem_stack *out)
{
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;
	struct kmem_slab_config sc;
	struct kmem_page_source ps;
	struct kmem_stack st = { NULL, NULL, NULL };
	size_t need, bsz, psz;
	char *at = mem;
	struct kmem_error_sink *sink;
	bool no_pa, no_slab;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!cfg || !mem || !out || ((uintptr_t)mem & (STACK_ALIGN - 1)) ||
	    (!arena && !cfg->add_regions))
		return -EINVAL;
	need = kmem_stack_sizeof(cfg);
	if (!need)
		return -EINVAL;
	if (mem_size < need)
		return -ENOSPC;
	buddy_config(cfg, &bc);
	bsz = round_up(kmem_buddy_sizeof(&bc));
	psz = cfg->no_pagealloc ? 0 : round_up(kmem_pa_sizeof());
	/* what fixes the layout, read once (the callback may only set pa, slab) */
	no_pa = cfg->no_pagealloc;
	no_slab = cfg->no_slab;
	sink = cfg->sink;

	rc = kmem_buddy_init(at, bsz, &bc, &st.buddy);
	if (rc)
		return rc;
	if (arena) {
		rc = kmem_buddy_add_region(st.buddy, arena, arena_size, meta, meta_size);
		if (rc)
			goto fail;
	}
	if (cfg->add_regions) {
		rc = cfg->add_regions(cfg->add_regions_arg, st.buddy);
		if (rc)
			goto fail;
	}
	/* from here on cfg->pa and cfg->slab, which the callback may have set */
	if (no_pa) {
		kmem_buddy_page_source(st.buddy, &ps);
	} else {
		pc = cfg->pa;
		pc.buddy = st.buddy;
		if (sink)
			pc.sink = sink;
		rc = kmem_pa_init(at + bsz, psz, &pc, &st.pa);
		if (rc) {
			st.pa = NULL;
			goto fail;
		}
		kmem_pa_page_source(st.pa, &ps);
	}
	if (!no_slab) {
		sc = cfg->slab;
		sc.source = &ps;
		if (sink)
			sc.sink = sink;
		rc = kmem_slab_init(at + bsz + psz, round_up(kmem_slab_sizeof()), &sc, &st.slab);
		if (rc) {
			st.slab = NULL;
			goto fail;
		}
	}
	*out = st;
	return 0;
fail:
	kmem_stack_destroy(&st);
	return rc > 0 ? -rc : rc;
}

int kmem_stack_create_in(void *base, size_t size, const struct kmem_stack_config *cfg,
			 struct kmem_stack *out)
{
	size_t need, frame, skip;
	uintptr_t arena;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!cfg || !base || !out)
		return -EINVAL;
	need = kmem_stack_sizeof(cfg);
	if (!need)
		return -EINVAL;
	frame = cfg->buddy.frame_size ? cfg->buddy.frame_size : 4096;
	/* the arena starts at the first frame boundary after the instances */
	arena = ((uintptr_t)base + need + frame - 1) & ~(uintptr_t)(frame - 1);
	skip = (size_t)(arena - (uintptr_t)base);
	if (skip < need || size <= skip)
		return -ENOSPC;
	return kmem_stack_init(base, need, cfg, (void *)arena, size - skip, NULL, 0, out);
}
