/* process.c - every piece of process-wide state in kmem, in one place.
 *
 * kmem's allocators are instances (ARCHITECTURE.md, decision 1): their state
 * lives in the instance, never in a global. What cannot live in an instance
 * is here, and nowhere else in the cores:
 *
 *   what                        why process-wide                  guarded by
 *   tctx (thread-local)         a thread's areas, whichever       the thread
 *                               instances it uses
 *   kmem_self_marker (TLS)      its address names the thread      -
 *                               (lock owners, kmem_lock.h)
 *   exit_key, key_state         one pthread key runs every        tctx_lock
 *                               component's exit hooks
 *   reg[id].ops, .slots, .lock  slot maps: an instance's index    reg[id].lock
 *   reg[id].fork_*              into every thread's area; the
 *                               registry lock fork handlers hold
 *   hooks                       the firmware's clock/map/fatal    set at start-up
 *                               and (no threads) lock hooks
 *   kept (threads only)         exited threads' areas, for the    kept.lock
 *                               next threads (any thread's)       (try-lock only)
 *
 * Components keep an initial-exec pointer to their own area for their fast
 * paths (slab: kmem_mag_self); it is a cache of tctx.area[id] that the
 * component's exit hook resets. The Valgrind range table of annot_pool.c is
 * process-wide too (annotation bookkeeping, compiled only with Valgrind).
 *
 * The per-thread context's algorithm and locking: kmem_tctx.h. Lock order:
 * a component's registry lock before its instances' locks (slab's order:
 * registry, cache, page source); tctx_lock is a leaf taken once per process.
 */
#include "kmem_port.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/port.h>

/* ---- firmware hooks over the built-in backend ------------------------------ */

static struct kmem_port_hooks hooks; /* start-up only (kmem/port.h) */

void kmem_port_set_hooks(const struct kmem_port_hooks *h)
{
	if (h)
		hooks = *h;
	else
		memset(&hooks, 0, sizeof(hooks));
}

bool kmem_port_lock_hooked(void)
{
#ifdef KMEM_LOCK_HOOKS
	return hooks.lock_create && hooks.lock_destroy && hooks.lock && hooks.unlock;
#else
	return false;
#endif
}

#ifdef KMEM_LOCK_HOOKS

int kmem_port_lock_create(void **hook)
{
	*hook = NULL;
	if (!kmem_port_lock_hooked())
		return 0;
	*hook = hooks.lock_create(hooks.ctx);
	return *hook ? 0 : -ENOMEM;
}

void kmem_port_lock_destroy(void *hook)
{
	if (hooks.lock_destroy) /* hooks removed before the instance: its lock leaks */
		hooks.lock_destroy(hooks.ctx, hook);
}

void kmem_port_lock(void *hook)
{
	hooks.lock(hooks.ctx, hook);
}

void kmem_port_unlock(void *hook)
{
	hooks.unlock(hooks.ctx, hook);
}
#endif

uint64_t kmem_now_ns(void)
{
	return hooks.now_ns ? hooks.now_ns(hooks.ctx) : kmem_os_now_ns();
}

void kmem_sleep_ns(uint64_t ns)
{
	if (hooks.sleep_ns)
		hooks.sleep_ns(hooks.ctx, ns);
	else
		kmem_os_sleep_ns(ns);
}

void kmem_fatal(const char *what, const char *file, int line)
{
	if (hooks.fatal)
		hooks.fatal(hooks.ctx, what, file, line);
#ifdef KMEM_FREESTANDING
	__builtin_trap();
#else
	abort();
#endif
}

void *kmem_pages_map(size_t bytes)
{
	return hooks.map ? hooks.map(hooks.ctx, bytes) : kmem_os_map(bytes);
}

void kmem_pages_unmap(void *p, size_t bytes)
{
	if (hooks.unmap)
		hooks.unmap(hooks.ctx, p, bytes);
	else
		kmem_os_unmap(p, bytes);
}

int kmem_pages_release(void *p, size_t bytes)
{
	return hooks.release ? hooks.release(hooks.ctx, p, bytes) : kmem_os_release(p, bytes);
}

/* A map hook's mappings can only be given back whole: no trimming, so the
 * hook's mapping if it is aligned already, else nothing. */
void *kmem_pages_map_aligned(size_t bytes, size_t align)
{
	void *p;

	KMEM_ASSERT(align && !(align & (align - 1)) && "a power of two");
	if (!hooks.map)
		return kmem_os_map_aligned(bytes, align);
	p = hooks.map(hooks.ctx, bytes);
	if (p && ((uintptr_t)p & (align - 1))) {
		kmem_pages_unmap(p, bytes);
		p = NULL;
	}
	return p;
}

int kmem_pages_remap(void *p, size_t old_bytes, size_t new_bytes, void **q)
{
	return hooks.map ? -ENOSYS : kmem_os_remap(p, old_bytes, new_bytes, q);
}

/* Reservations: the built-in backend only (kmem_thread.h). */
void *kmem_pages_reserve(size_t bytes)
{
	return kmem_os_reserve(bytes);
}

void kmem_pages_unreserve(void *p, size_t bytes)
{
	kmem_os_unmap(p, bytes);
}

int kmem_pages_commit(void *p, size_t bytes)
{
	return kmem_os_commit(p, bytes);
}

int kmem_pages_decommit(void *p, size_t bytes)
{
	return kmem_os_decommit(p, bytes);
}

int kmem_pages_noaccess(void *p, size_t bytes)
{
	return kmem_os_noaccess(p, bytes);
}

size_t kmem_as_limit(void)
{
	return kmem_os_as_limit();
}

void *kmem_pages_place(size_t bytes, size_t align)
{
	return kmem_os_place(bytes, align);
}

int kmem_pages_map_at(void *p, size_t bytes)
{
	return kmem_os_map_at(p, bytes);
}

int kmem_pages_unmap_range(void *p, size_t bytes)
{
	return kmem_os_unmap_range(p, bytes);
}

/* ---- thread identity ---------------------------------------------------- */

#ifdef KMEM_HAVE_PTHREAD
KMEM_TLS char kmem_self_marker;
#endif

/* ---- registries: slot maps by area id ------------------------------------ */

__extension__ static struct {
	struct kmem_lock lock;
	const struct kmem_tctx_ops *ops;	/* set by the first area or slot */
	uintptr_t fork_owner;	/* kmem_self_id() of the fork handler holding lock
				 * (relaxed atomic; only that thread writes it) */
	unsigned fork_depth;	/* nested fork_lock calls (fork_owner's) */
	uint64_t slots[KMEM_TCTX_MAX_SLOTS / 64];
} reg[KMEM_TCTX_AREAS] = {
	[0 ... KMEM_TCTX_AREAS - 1] = { .lock = KMEM_LOCK_INITIALIZER },
};

struct kmem_lock *kmem_tctx_lock(unsigned id)
{
	KMEM_ASSERT(id < KMEM_TCTX_AREAS);
	return &reg[id].lock;
}

static void reg_set_ops_locked(const struct kmem_tctx_ops *ops)
{
	KMEM_ASSERT(kmem_lock_held(&reg[ops->id].lock) && "registry lock");
	KMEM_ASSERT(ops->id < KMEM_TCTX_AREAS && ops->nslots <= KMEM_TCTX_MAX_SLOTS);
	KMEM_ASSERT((!reg[ops->id].ops || reg[ops->id].ops == ops) && "one ops per area id");
	kmem_atomic_store_release(&reg[ops->id].ops, ops);
}

unsigned kmem_tctx_slot_take_locked(const struct kmem_tctx_ops *ops)
{
	uint64_t *map = reg[ops->id].slots;

	KMEM_ASSERT(kmem_lock_held(&reg[ops->id].lock) && "slot maps need the registry lock");
	reg_set_ops_locked(ops);
	for (unsigned i = 1; i < ops->nslots; i++)
		if (!((map[i / 64] >> (i % 64)) & 1)) {
			map[i / 64] |= (uint64_t)1 << (i % 64);
			return i;
		}
	return 0;
}

void kmem_tctx_slot_put_locked(const struct kmem_tctx_ops *ops, unsigned slot)
{
	uint64_t *map = reg[ops->id].slots;

	KMEM_ASSERT(kmem_lock_held(&reg[ops->id].lock) && "slot maps need the registry lock");
	KMEM_ASSERT(slot < ops->nslots);
	if (slot)
		map[slot / 64] &= ~((uint64_t)1 << (slot % 64));
}

void kmem_tctx_fork_lock(unsigned id)
{
	KMEM_ASSERT(id < KMEM_TCTX_AREAS);
	if (kmem_atomic_load_relaxed(&reg[id].fork_owner) == kmem_self_id()) {
		reg[id].fork_depth++;
		return;
	}
	kmem_lock_acquire(&reg[id].lock);
	kmem_atomic_store_relaxed(&reg[id].fork_owner, kmem_self_id());
	reg[id].fork_depth = 1;
}

void kmem_tctx_fork_unlock(unsigned id)
{
	KMEM_ASSERT(kmem_atomic_load_relaxed(&reg[id].fork_owner) == kmem_self_id() &&
		    reg[id].fork_depth > 0);
	if (--reg[id].fork_depth)
		return;
	kmem_atomic_store_relaxed(&reg[id].fork_owner, (uintptr_t)0);
	kmem_lock_release(&reg[id].lock);
}

unsigned kmem_tctx_slots_used(const struct kmem_tctx_ops *ops)
{
	unsigned n = 0;

	kmem_lock_acquire(&reg[ops->id].lock);
	for (unsigned i = 0; i < KMEM_TCTX_MAX_SLOTS / 64; i++)
		n += (unsigned)kmem_popcountptr((uintptr_t)reg[ops->id].slots[i]);
	kmem_lock_release(&reg[ops->id].lock);
	return n;
}

/* ---- the per-thread context ---------------------------------------------- */

enum { TCTX_NONE, TCTX_LIVE, TCTX_EXITING };

struct kmem_tctx {
	void *area[KMEM_TCTX_AREAS];
	unsigned state;		/* TCTX_*: this thread only */
};

static KMEM_TLS struct kmem_tctx tctx;

/* The ops of an id, read without the registry lock: set once (release),
 * before any area of the id exists. */
static const struct kmem_tctx_ops *area_ops(unsigned id)
{
	return kmem_atomic_load_acquire(&reg[id].ops);
}

#if KMEM_THREADS
/* Kept areas: exited threads' areas, up to KMEM_TCTX_KEPT per id, for the
 * next threads' first calls. A program that starts a thread per task (a
 * server's short-lived workers, larson) would otherwise map, fault in and
 * unmap every area per thread, and each unmap of a process with threads
 * running elsewhere is a TLB shootdown (an interrupt to every CPU that
 * runs one of them). Guarded by kept_lock, only ever try-locked: a busy
 * lock means "map or unmap as before", so it has no place in the lock
 * order and a fork child that inherited it held (a thread that is not
 * there was mid-push) merely maps and unmaps from then on. At most
 * KMEM_TCTX_KEPT * (sum of the areas' sizes) stays mapped: 4 * 14 KiB for
 * slab's and pagealloc's with the default slot counts. */
#define KMEM_TCTX_KEPT 4

__extension__ static struct {
	struct kmem_lock lock;
	unsigned n[KMEM_TCTX_AREAS];
	void *area[KMEM_TCTX_AREAS][KMEM_TCTX_KEPT];
} kept = { .lock = KMEM_LOCK_INITIALIZER };

/* A kept area of id, or NULL (none, or the lock was busy). */
static void *kept_take(unsigned id)
{
	void *a = NULL;

	if (!kmem_lock_try_acquire(&kept.lock))
		return NULL;
	if (kept.n[id])
		a = kept.area[id][--kept.n[id]];
	kmem_lock_release(&kept.lock);
	return a;
}

/* Keep area a of id for a later thread; false if there is no room (or the
 * lock was busy): the caller unmaps it. */
static bool kept_put(unsigned id, void *a)
{
	bool ok = false;

	if (!kmem_lock_try_acquire(&kept.lock))
		return false;
	if (kept.n[id] < KMEM_TCTX_KEPT) {
		kept.area[id][kept.n[id]++] = a;
		ok = true;
	}
	kmem_lock_release(&kept.lock);
	return ok;
}
#endif

/* A zeroed area (ops->init's contract), initialised: a kept one or a new
 * mapping with threads, ops->single without. */
static void *area_alloc(const struct kmem_tctx_ops *ops)
{
	void *a;

#if KMEM_THREADS
	a = kept_take(ops->id);
	if (a)
		memset(a, 0, ops->size);
	else
		a = kmem_pages_map(ops->size);
#else
	a = ops->single;
	if (a)
		memset(a, 0, ops->size);
#endif
	if (a && ops->init)
		ops->init(a);
	return a;
}

static void area_free(const struct kmem_tctx_ops *ops, void *a)
{
#if KMEM_THREADS
	if (!kept_put(ops->id, a))
		kmem_pages_unmap(a, ops->size);
#else
	(void)ops;
	(void)a;
#endif
}

/* Run every area's exit hook in id order and free the areas. */
static void run_exit_hooks(struct kmem_tctx *t)
{
	for (unsigned id = 0; id < KMEM_TCTX_AREAS; id++) {
		void *a = t->area[id];
		const struct kmem_tctx_ops *ops;

		if (!a)
			continue;
		ops = area_ops(id);
		if (ops->exit)
			ops->exit(a);
		t->area[id] = NULL;
		area_free(ops, a);
	}
}

#ifdef KMEM_HAVE_PTHREAD
static struct kmem_lock tctx_lock = KMEM_LOCK_INITIALIZER;
static pthread_key_t exit_key;	/* tctx_lock */
static int key_state;		/* tctx_lock: 0 not yet, 1 made, -1 failed */

/* The key's destructor: the thread is leaving. */
static void tctx_exit(void *arg)
{
	struct kmem_tctx *t = arg;

	t->state = TCTX_EXITING;
	run_exit_hooks(t);
}

/* Make the calling thread's context live: the key, made on first use under
 * tctx_lock rather than pthread_once (Helgrind and DRD see the ordering;
 * this runs once per thread), gets the context as its value. */
static bool tctx_arm(void)
{
	int ok;

	kmem_lock_acquire(&tctx_lock);
	if (key_state == 0)
		key_state = pthread_key_create(&exit_key, tctx_exit) == 0 ? 1 : -1;
	ok = key_state;
	kmem_lock_release(&tctx_lock);
	if (ok < 0 || pthread_setspecific(exit_key, &tctx) != 0)
		return false;
	tctx.state = TCTX_LIVE;
	return true;
}

static void tctx_disarm(void)
{
	(void)pthread_setspecific(exit_key, NULL);
	tctx.state = TCTX_NONE;
}
#else
static bool tctx_arm(void)
{
	tctx.state = TCTX_LIVE;
	return true;
}

static void tctx_disarm(void)
{
	tctx.state = TCTX_NONE;
}
#endif

void *kmem_tctx_area(const struct kmem_tctx_ops *ops)
{
	void *a = tctx.area[ops->id];

	if (KMEM_LIKELY(a != NULL))
		return a;
	if (tctx.state == TCTX_EXITING)
		return NULL;
	if (!area_ops(ops->id)) {
		kmem_lock_acquire(&reg[ops->id].lock);
		reg_set_ops_locked(ops);
		kmem_lock_release(&reg[ops->id].lock);
	}
	KMEM_ASSERT(area_ops(ops->id) == ops && "one ops per area id");
	if (tctx.state == TCTX_NONE && !tctx_arm())
		return NULL;
	a = area_alloc(ops);
	tctx.area[ops->id] = a;
	return a;
}

void *kmem_tctx_area_peek(unsigned id)
{
	KMEM_ASSERT(id < KMEM_TCTX_AREAS);
	return tctx.area[id];
}

bool kmem_tctx_exiting(void)
{
	return tctx.state == TCTX_EXITING;
}

void kmem_tctx_release(void)
{
	if (tctx.state != TCTX_LIVE)
		return;
	tctx.state = TCTX_EXITING;
	run_exit_hooks(&tctx);
	tctx_disarm();
}
