/* kmem_tctx.h - the per-thread context (port layer).
 *
 * One context per thread serves every component, as Linux's task_struct or
 * per-CPU area serves every subsystem. It holds one *area* per component
 * (enum kmem_tctx_id), made on the component's first slow path in that
 * thread, and one exit hook per component run when the thread exits:
 *
 *   thread ─► struct kmem_tctx (thread-local, process.c)
 *               area[KMEM_TCTX_MALLOC]    ─► the drop-in's trace buffer
 *                                            (KMEM_TRACE; malloc/trace.c)
 *               area[KMEM_TCTX_SLAB]      ─► struct kmem_thread: magazines
 *                                            by cache slot (slab/magazine.c)
 *               area[KMEM_TCTX_PAGEALLOC] ─► frame caches by instance slot
 *               area[spare ids]              (tests, the next component)
 *
 * Algorithm:
 *   1. A component describes its area with a const struct kmem_tctx_ops
 *      (id, size, slot count, init and exit hooks) and asks for the calling
 *      thread's area with kmem_tctx_area(ops): the first call in a thread
 *      takes a kept area (step 3) or maps size bytes (kmem_pages_map),
 *      runs init on the zeroed memory, and records the area;
 *      later calls return it (the component keeps its own initial-exec
 *      pointer for its fast paths, see kmem_mag_self).
 *   2. Instances index their per-thread state by slot: an instance takes a
 *      slot (1 .. nslots - 1) from its component's process-wide slot map at
 *      creation (kmem_tctx_slot_take_locked) and gives it back at destroy;
 *      its per-thread state is then area + slot, found in O(1) whichever
 *      instance the thread used last. Slot 0 is never handed out: the
 *      component keeps it empty so "no slot" needs no test on a fast path.
 *      Instances created while every slot is taken work without per-thread
 *      state.
 *   3. Thread exit: one process-wide pthread key (its value: the thread's
 *      context) runs the exit hooks of the areas the thread has, in id
 *      order, then frees them: up to 4 per id are kept (process.c) and
 *      handed, zeroed, to the next threads' first calls instead of a new
 *      mapping (no map, fault-in and unmap per thread); the rest are
 *      unmapped. Ids go from the top layer down (slab, then
 *      pagealloc), so a hook may still use the areas of the layers below it
 *      (slab's exit flushes magazines to slabs, which may free frames into
 *      the thread's frame cache, which pagealloc's exit then drains). From
 *      the first hook on, the thread gets no new areas: a later destructor
 *      (another library's) that allocates takes the components' slow paths
 *      (the drop-in's trace writes such a record straight to the file).
 *   4. Fork: the child's one thread keeps its context; the contexts of the
 *      threads that did not come along stay mapped and their hooks never
 *      run, so each component's fork_child handler adopts their contents
 *      (slab: returns their magazines; pagealloc: drains their caches).
 *   5. Without threads there is one context and each area is the
 *      component's static ops->single (no mapping needed on firmware);
 *      kmem_tctx_release() runs the hooks on demand (tests, firmware
 *      shutting a heap down).
 * Bound: kmem_tctx_area is O(1) after the first call; exit O(areas) plus
 * what the hooks do.
 *
 * Locking: each id has a registry lock (kmem_tctx_lock) that guards its slot
 * map and whatever the component hangs off it (slab: the holder lists). A
 * thread's areas are touched only by that thread, and by others under the
 * component's registry lock when the component says so. The locks are
 * process-wide: fork_prepare handlers take them (slab's does).
 * Private to the library: not installed.
 */
#ifndef KMEM_TCTX_H
#define KMEM_TCTX_H

#include "kmem_base.h"
#include "kmem_lock.h"

/* Area ids, in exit-hook order (top layer first). */
enum kmem_tctx_id {
	KMEM_TCTX_MALLOC,	/* the drop-in: its KMEM_TRACE buffer (struct km_tbuf) */
	KMEM_TCTX_SLAB,		/* slab: struct kmem_thread (magazines by cache slot) */
	KMEM_TCTX_PAGEALLOC,	/* pagealloc: frame caches by instance slot */
	KMEM_TCTX_SPARE0,	/* tests, and the next component */
	KMEM_TCTX_SPARE1,
	KMEM_TCTX_AREAS
};

/* Slots of pagealloc's map: instances alive at once with frame caches,
 * plus one. A thread's pagealloc area is KMEM_PA_SLOTS pointers (2 KiB with
 * threads; 128 bytes of static storage without). */
#ifndef KMEM_PA_SLOTS
#if KMEM_THREADS
#define KMEM_PA_SLOTS 256
#else
#define KMEM_PA_SLOTS 16
#endif
#endif

/* Largest slot map of any id, in whole 64-bit words: slab's (KMEM_MAG_SLOTS,
 * -Dmag_slots, at most 4096) or pagealloc's. The registry keeps one per id
 * (process.c): 160 bytes in all for the firmware profile's 16 and 16, not
 * 2.6 KiB of bss as a fixed 4096 cost. */
#define KMEM_TCTX_MAX_SLOTS                                                        \
	(((KMEM_MAG_SLOTS > KMEM_PA_SLOTS ? KMEM_MAG_SLOTS : KMEM_PA_SLOTS) + 63) / 64 * 64)

struct kmem_tctx_ops {
	unsigned id;		/* enum kmem_tctx_id */
	size_t size;		/* bytes of one thread's area */
	unsigned nslots;	/* slot map size (<= KMEM_TCTX_MAX_SLOTS); 0: no slot map */
	/* A new area (zeroed memory: a new mapping, or an exited thread's
	 * area zeroed again): make it ready. May be NULL. */
	void (*init)(void *area);
	/* The thread exits (or calls kmem_tctx_release): give back what the
	 * area holds; the area's memory is freed after. May be NULL. */
	void (*exit)(void *area);
	/* Builds without threads: the one thread's area (size bytes of static
	 * storage), so firmware needs no mapping. Ignored with threads. */
	void *single;
};

/* The calling thread's area for ops->id, made (mapped and initialised) on
 * first use. NULL when the thread is exiting, or the area cannot be mapped:
 * the component then works without per-thread state. Every call for one id
 * passes the same ops. O(1). Thread-safe (touches the caller's context). */
KMEM_HIDDEN void *kmem_tctx_area(const struct kmem_tctx_ops *ops);
/* The calling thread's area for id if it has one, else NULL; makes nothing. */
KMEM_HIDDEN void *kmem_tctx_area_peek(unsigned id);
/* True once the calling thread's exit hooks have started. */
KMEM_HIDDEN bool kmem_tctx_exiting(void);
/* Run the calling thread's exit hooks now, in order, and free its areas, as
 * thread exit would; the thread may make new areas afterwards. For tests,
 * and for firmware (no thread exit) that tears its heaps down. */
KMEM_HIDDEN void kmem_tctx_release(void);

/* The registry lock of id (a process-wide struct kmem_lock). */
KMEM_HIDDEN struct kmem_lock *kmem_tctx_lock(unsigned id);
/* With kmem_tctx_lock(ops->id) held: take the lowest free slot of ops->id's
 * map (1 .. nslots - 1); 0 when every slot is taken. O(nslots / 64). */
KMEM_HIDDEN unsigned kmem_tctx_slot_take_locked(const struct kmem_tctx_ops *ops);
/* With the registry lock held: give slot back (0: nothing to give). */
KMEM_HIDDEN void kmem_tctx_slot_put_locked(const struct kmem_tctx_ops *ops, unsigned slot);
/* Fork handlers: take (release) the registry lock of id. Nested calls by
 * one thread count (every instance's fork_prepare takes its component's
 * registry lock, and a program may register several instances' handlers);
 * the lock is taken at the first and released at the last. The child's
 * thread releases what the parent's forking thread took. */
KMEM_HIDDEN void kmem_tctx_fork_lock(unsigned id);
KMEM_HIDDEN void kmem_tctx_fork_unlock(unsigned id);
/* Slots of ops->id taken now (tests, stats). */
KMEM_HIDDEN unsigned kmem_tctx_slots_used(const struct kmem_tctx_ops *ops);

#endif /* KMEM_TCTX_H */
