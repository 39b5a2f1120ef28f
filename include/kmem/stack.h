/* kmem/stack.h - the whole stack in one call: slab on the frame service on
 * the buddy (or slab directly on the buddy, or the frame service without a
 * slab instance), over memory the caller supplies.
 *
 * Every layer stays usable alone; this is the assembly that programs, tests,
 * benchmarks, the kmem tool and the drop-in malloc would otherwise write by
 * hand: size the three instances, place them, initialise the buddy and add
 * its first region (or let a callback add regions), start the frame service
 * on the buddy, and a slab instance on the frame service's page source.
 *
 *     struct kmem_stack_config cfg;
 *     struct kmem_stack st;
 *     kmem_stack_config_init(&cfg);          // 4 KiB frames, owner words on
 *     if (kmem_stack_create_in(heap, sizeof heap, &cfg, &st))
 *             return -1;            // or report rc
 *     void *obj = kmem_alloc(st.slab, 100);  // kmalloc on the whole stack
 *     void *page = kmem_pa_alloc(st.pa, 0, KMEM_PAGE_ZERO);
 *
 * The stack owns nothing it did not get from the caller: no hidden malloc.
 */
#ifndef KMEM_STACK_H
#define KMEM_STACK_H

#include <stdbool.h>
#include <stddef.h>

#include <kmem/common.h>
#include <kmem/buddy.h>
#include <kmem/pagealloc.h>
#include <kmem/slab.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kmem_stack_config {
	/* Each layer's own configuration. The stack fills in what links the
	 * layers and overrides these fields: pa.buddy, slab.source, and (when
	 * sink below is set) buddy.sink, pa.sink, slab.sink. buddy.flags gets
	 * KMEM_BUDDY_OWNERS (slab needs owner words). */
	struct kmem_buddy_config buddy;
	struct kmem_pa_config pa;
	struct kmem_slab_config slab;
	/* true: no frame service; slab takes its frames straight from the
	 * buddy (the smallest build, e.g. firmware). pa is then ignored and
	 * kmem_stack.pa is NULL. */
	bool no_pagealloc;
	/* true: no slab instance; the stack is the frame service on the
	 * buddy, for consumers that want frames only (kmem_pa_alloc on
	 * kmem_stack.pa) or that put a slab instance of their own on the
	 * service's page source later. slab is then ignored and
	 * kmem_stack.slab is NULL. The buddy keeps KMEM_BUDDY_OWNERS, so such
	 * a later slab instance works. With no_pagealloc as well: the buddy
	 * alone (kmem_stack.pa and .slab NULL), still with the stack's region
	 * set-up, owner words and shared sink, e.g. for a consumer that works
	 * on the bare buddy first and adds a slab instance on
	 * kmem_buddy_page_source() afterwards. */
	bool no_slab;
	/* One error sink for all three layers. NULL: each layer's default. */
	struct kmem_error_sink *sink;
	/* Optional: called once the buddy exists and before the frame service
	 * starts, to add (more) regions with kmem_buddy_add_region() or
	 * reserve ranges; the frame service sizes its watermarks from what is
	 * there afterwards. kmem_stack_init() reads pa and slab only after
	 * the callback returns, so a callback that holds its own pointer to
	 * this config (through add_regions_arg) may set them from what it
	 * added (e.g. watermarks from kmem_buddy_free_frames()); it must not
	 * change the other fields (the buddy and the instance layout exist
	 * by then). Returns 0 or a negative errno, which
	 * kmem_stack_init() returns after undoing what it did. */
	int (*add_regions)(void *arg, struct kmem_buddy *b);
	void *add_regions_arg;
};

/* The assembled layers. Use each through its own API. */
struct kmem_stack {
	struct kmem_buddy *buddy;
	struct kmem_pagealloc *pa;	/* NULL with no_pagealloc */
	struct kmem_slab *slab;		/* NULL with no_slab */
};

/* Fill cfg with every layer's defaults (kmem_buddy_config_init() plus
 * KMEM_BUDDY_OWNERS, kmem_pa_config_init(), a zeroed slab config), the frame
 * service and the slab instance on, no shared sink, no callback. O(1). */
KMEM_API void kmem_stack_config_init(struct kmem_stack_config *cfg);

/* The drop-in malloc's heap (libkmem-malloc, README "Drop-in malloc"), as a
 * configuration others can build: the drop-in sets itself up from this and
 * `kmem replay --heap dropin` replays a trace against it. Fills cfg as
 * kmem_stack_config_init() does, then:
 *   buddy  4 KiB frames, max order 13 (32 MiB blocks);
 *   pa     no zeroing work (KMEM_PA_INIT_NONE, KMEM_PA_NO_BGZERO), the
 *          release step on the decay curve (KMEM_PA_RELEASE, decay_ms
 *          KMEM_PA_DECAY_DEFAULT_MS: run by a reaper thread where the
 *          consumer starts one, else in bounded steps by the freeing
 *          thread) from 64 KiB blocks up (release_order 4),
 *          the buddy's free memory fresh (KMEM_PA_ZEROED_BUDDY: it starts
 *          in the released pool), watermarks 32 / 64 /
 *          KMEM_STACK_MALLOC_HIGH bytes (KMEM_HIGH's default: the dirty free
 *          memory the release step always keeps), per-thread batch 15 and
 *          high 90 (what Linux's rule gives the drop-in's first region,
 *          KMEM_STACK_MALLOC_REGION);
 *   slab   kmalloc's 39 classes (KMEM_KMALLOC_FINE, 16 .. 14336; in builds
 *          without -Dkmalloc_big, off when freestanding, the quarter
 *          table's 32, 16 .. 8192), slabs packed to waste at most 1/32
 *          (waste_div 32).
 * What is the drop-in's process and not its heap's policy stays unset: no
 * sink, names, owner table, regions, growth, reaper, address-space hooks,
 * debug flags or free mark. High watermarks above the managed frames must
 * be lowered by the caller (kmem_pa_init rejects them). O(1). */
#define KMEM_STACK_MALLOC_FRAME ((size_t)4096)
#define KMEM_STACK_MALLOC_MAX_ORDER 13u
#define KMEM_STACK_MALLOC_HIGH ((size_t)8 << 20)
/* The drop-in's magazine policy (kmem_slab_config.mag_size, .depot_limit;
 * KMEM_MAG_SIZE and KMEM_DEPOT_LIMIT override them; decision 30). */
#define KMEM_STACK_MALLOC_MAG_SIZE 0u
#define KMEM_STACK_MALLOC_DEPOT_LIMIT 32u	/* glibc-simple: 57 instructions a pair, 78 with 16 */
#define KMEM_STACK_MALLOC_REGION ((size_t)64 << 20)
KMEM_API void kmem_stack_config_malloc(struct kmem_stack_config *cfg);

/* Bytes of instance storage kmem_stack_init() needs for cfg (the instances
 * it makes, each 64-byte aligned within it), or 0 if cfg->buddy is invalid.
 * The storage must be 64-byte aligned. O(1). */
KMEM_API size_t kmem_stack_sizeof(const struct kmem_stack_config *cfg);

/* Assemble the stack: the instances in mem[0..mem_size); the buddy's first
 * region arena[0..arena_size) with its frame table in meta[0..meta_size)
 * (meta NULL: carved from the arena's start, as kmem_buddy_add_region());
 * arena NULL: no region from here, cfg->add_regions adds them; then
 * cfg->add_regions if set; then the frame service (unless no_pagealloc) and
 * the slab instance (unless no_slab).
 * Returns 0 and fills *out, or:
 *   -EINVAL  cfg, mem or out NULL, mem misaligned, neither an arena nor an
 *            add_regions callback, or a layer rejected its configuration;
 *   -ENOSPC  mem_size < kmem_stack_sizeof(cfg), or the arena holds no frame;
 *   other    what kmem_buddy_add_region(), the callback, kmem_pa_init() or
 *            kmem_slab_init() returned.
 * On failure every layer made so far is destroyed again and *out is left
 * zeroed. O(each layer's init). Not thread-safe (nothing else can reach the
 * instances yet). */
KMEM_API KMEM_MUST_CHECK int kmem_stack_init(void *mem, size_t mem_size,
					     const struct kmem_stack_config *cfg, void *arena,
					     size_t arena_size, void *meta, size_t meta_size,
					     struct kmem_stack *out);

/* One buffer for everything (a static array on a microcontroller): the
 * instances at the start of base[0..size), the rest (aligned up to a frame)
 * is the arena, its frame table carved from its start. Same errors as
 * kmem_stack_init(); -ENOSPC if the instances leave no frame. */
KMEM_API KMEM_MUST_CHECK int kmem_stack_create_in(void *base, size_t size,
						  const struct kmem_stack_config *cfg,
						  struct kmem_stack *out);

/* Tear down from the top: kmem_slab_destroy() (reports leaked objects),
 * kmem_pa_destroy(), kmem_buddy_destroy(), each only if its pointer in *st
 * is not NULL; then zeroes *st. A caller may destroy the upper layers
 * itself first and set their pointers to NULL (e.g. to check that every
 * frame is free in the buddy once the frame service is gone). The memory
 * belongs to the caller again. Not thread-safe: nothing may use the layers
 * meanwhile or afterwards. O(the layers' destroy). */
KMEM_API void kmem_stack_destroy(struct kmem_stack *st);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_STACK_H */
