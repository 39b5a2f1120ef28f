/* kmem_lock.h - the instance lock (port layer).
 *
 * struct kmem_lock guards one allocator instance (and the few process-wide
 * registries, see process.c). Three kinds, chosen at configure time:
 *
 * KMEM_LOCK_FUTEX (Linux, the default there): a three-state futex mutex
 * (Drepper, "Futexes Are Tricky", mutex 3): 0 unlocked, 1 locked, 2 locked
 * with waiters. Uncontended lock is one compare-exchange, unlock one
 * fetch-sub: about 10 instructions per lock/unlock pair against about 60 for
 * glibc's pthread_mutex_lock/unlock (measured with callgrind, see README), in
 * a buddy alloc+free pair whose whole budget is 150. Contended: spin briefly,
 * then sleep in the kernel (lock.c). Acquire on lock, release on unlock, so
 * TSan sees the ordering. Helgrind and DRD do not know this lock: build with
 * -Dlock=pthread for them.
 * Otherwise with threads (KMEM_HAVE_PTHREAD): a pthread mutex.
 * Without threads, built with -Dlock=hooks (KMEM_LOCK_HOOKS): the
 * firmware's lock hooks (kmem_port_hooks.lock_create, lock, unlock,
 * lock_destroy: include/kmem/port.h) when they were installed before the
 * instance was created, so RTOS tasks may share it; the statically
 * initialised locks (process-wide registries) have no hook lock. Otherwise
 * without threads: nothing; every instance behaves as if created NOLOCK.
 *
 * Owner (debug builds with threads, NDEBUG undefined): the lock records its
 * holder's kmem_self_id(), so kmem_lock_held() means "held by the calling
 * thread" (Linux lockdep_assert_held, illumos MUTEX_HELD), and every
 * _locked function asserts it at its top. The record is a relaxed atomic:
 * only the holder writes its own id, so a thread can never read its own id
 * there unless it holds the lock. A fork child's only thread has the forking
 * thread's thread-local addresses, so locks taken by fork_prepare in the
 * parent are held by the child's thread too, and fork_child releases them.
 * Private to the library: not installed.
 */
#ifndef KMEM_LOCK_H
#define KMEM_LOCK_H

#include "kmem_atomic.h"
#include "kmem_base.h"

#ifdef KMEM_HAVE_PTHREAD
#include <pthread.h>
#endif

/* ---- thread identity ----------------------------------------------------- */

#ifdef KMEM_HAVE_PTHREAD
/* One byte of thread-local storage whose address names the thread (process.c). */
extern KMEM_TLS KMEM_HIDDEN char kmem_self_marker;
/* A nonzero number naming the calling thread, unique among live threads. */
static inline uintptr_t kmem_self_id(void)
{
	return (uintptr_t)&kmem_self_marker;
}
#else
static inline uintptr_t kmem_self_id(void)
{
	return 1;
}
#endif

#if defined(KMEM_HAVE_PTHREAD) && !defined(NDEBUG)
#define KMEM_LOCK_OWNER 1
#else
#define KMEM_LOCK_OWNER 0
#endif

/* ---- the lock ------------------------------------------------------------ */

struct kmem_lock {
#if defined(KMEM_LOCK_FUTEX)
	unsigned word;
	bool enabled;
#elif defined(KMEM_HAVE_PTHREAD)
	pthread_mutex_t mutex;
	bool enabled;
#elif defined(KMEM_LOCK_HOOKS)
	void *hook; /* the firmware's lock (port hooks), NULL: none */
#else
	bool unused; /* no threads: no lock (ISO C has no empty structs) */
#endif
#if KMEM_LOCK_OWNER
	uintptr_t owner; /* debug: the holder's kmem_self_id(), 0 when free (relaxed atomic) */
#endif
};

/* A statically allocated, enabled lock (the process-wide registries). */
#if defined(KMEM_LOCK_FUTEX)
#define KMEM_LOCK_INITIALIZER { .word = 0, .enabled = true }
#elif defined(KMEM_HAVE_PTHREAD)
#define KMEM_LOCK_INITIALIZER { .mutex = PTHREAD_MUTEX_INITIALIZER, .enabled = true }
#elif defined(KMEM_LOCK_HOOKS)
#define KMEM_LOCK_INITIALIZER { .hook = NULL }
#else
#define KMEM_LOCK_INITIALIZER { .unused = false }
#endif

#ifdef KMEM_LOCK_FUTEX
KMEM_HIDDEN void kmem_futex_unlock_slow(unsigned *word);
#endif
/* Wait for the lock after kmem_lock_try_acquire() failed (lock.c). */
KMEM_HIDDEN void kmem_lock_acquire_slow(struct kmem_lock *l);
/* True if the firmware installed lock hooks (all four) in a build without
 * threads: instances created now lock through them (process.c). */
KMEM_HIDDEN bool kmem_port_lock_hooked(void);
#ifdef KMEM_LOCK_HOOKS
/* The firmware's lock hooks (process.c): *hook from lock_create, or NULL
 * with no hooks installed; 0, or -ENOMEM when lock_create returned NULL. */
KMEM_HIDDEN int kmem_port_lock_create(void **hook);
KMEM_HIDDEN void kmem_port_lock_destroy(void *hook);
KMEM_HIDDEN void kmem_port_lock(void *hook);
KMEM_HIDDEN void kmem_port_unlock(void *hook);
#endif

static inline void kmem_lock_set_owner(struct kmem_lock *l, uintptr_t who)
{
#if KMEM_LOCK_OWNER
	if (l->enabled)
		kmem_atomic_store_relaxed(&l->owner, who);
#else
	(void)l;
	(void)who;
#endif
}

/* Returns 0 or a negative errno. enabled false: every operation is a no-op. */
static inline int kmem_lock_init(struct kmem_lock *l, bool enabled)
{
#if KMEM_LOCK_OWNER
	l->owner = 0;
#endif
#if defined(KMEM_LOCK_FUTEX)
	l->enabled = enabled;
	l->word = 0;
	return 0;
#elif defined(KMEM_HAVE_PTHREAD)
	l->enabled = enabled;
	if (!enabled)
		return 0;
	return -pthread_mutex_init(&l->mutex, NULL);
#elif defined(KMEM_LOCK_HOOKS)
	l->hook = NULL;
	return enabled ? kmem_port_lock_create(&l->hook) : 0;
#else
	(void)l;
	(void)enabled;
	return 0;
#endif
}

static inline void kmem_lock_destroy(struct kmem_lock *l)
{
#if defined(KMEM_HAVE_PTHREAD) && !defined(KMEM_LOCK_FUTEX)
	if (l->enabled)
		pthread_mutex_destroy(&l->mutex);
#elif defined(KMEM_LOCK_HOOKS)
	if (l->hook)
		kmem_port_lock_destroy(l->hook);
	l->hook = NULL;
#else
	(void)l;
#endif
}

/* Take the lock if that needs no waiting. True: held (or locking is off).
 * Fast paths use it and fall back to a slow path that calls
 * kmem_lock_acquire(), so they stay leaf functions. */
static inline bool kmem_lock_try_acquire(struct kmem_lock *l)
{
#if defined(KMEM_LOCK_FUTEX)
	unsigned seen = 0;

	if (l->enabled && !kmem_atomic_cas_acquire(&l->word, &seen, 1u))
		return false;
#elif defined(KMEM_HAVE_PTHREAD)
	if (l->enabled && pthread_mutex_trylock(&l->mutex) != 0)
		return false;
#elif defined(KMEM_LOCK_HOOKS)
	if (l->hook) /* the firmware's lock waits itself: never false */
		kmem_port_lock(l->hook);
#endif
	kmem_lock_set_owner(l, kmem_self_id());
	(void)l;
	return true;
}

/* Take the lock, waiting if needed. */
static inline void kmem_lock_acquire(struct kmem_lock *l)
{
	if (KMEM_UNLIKELY(!kmem_lock_try_acquire(l)))
		kmem_lock_acquire_slow(l);
}

/* True if the calling thread holds the lock, or locking is off. For asserts
 * in _locked functions; always true in NDEBUG builds and without threads. */
static inline bool kmem_lock_held(const struct kmem_lock *l)
{
#if KMEM_LOCK_OWNER
	return !l->enabled || kmem_atomic_load_relaxed(&l->owner) == kmem_self_id();
#else
	(void)l;
	return true;
#endif
}

/* Release without waking a waiter. True: done. False (futex lock only):
 * there are waiters and the caller must call kmem_lock_wake(), typically as a
 * tail call from a _slow function, which keeps the fast path frameless. */
static inline bool kmem_lock_release_nowake(struct kmem_lock *l)
{
	KMEM_ASSERT(kmem_lock_held(l) && "a lock is released by the thread that holds it");
	kmem_lock_set_owner(l, 0);
#if defined(KMEM_LOCK_FUTEX)
	/* sub_fetch != 0 compiles to `lock sub; jne`, fetch_sub != 1 to xadd + cmp */
	if (l->enabled && KMEM_UNLIKELY(kmem_atomic_sub_fetch_release(&l->word, 1u) != 0))
		return false;
#elif defined(KMEM_HAVE_PTHREAD)
	if (l->enabled)
		pthread_mutex_unlock(&l->mutex);
#elif defined(KMEM_LOCK_HOOKS)
	if (l->hook)
		kmem_port_unlock(l->hook);
#endif
	(void)l;
	return true;
}

/* Finish a release that kmem_lock_release_nowake() left to the caller. */
static inline void kmem_lock_wake(struct kmem_lock *l)
{
#if defined(KMEM_LOCK_FUTEX)
	kmem_futex_unlock_slow(&l->word);
#else
	(void)l;
#endif
}

static inline void kmem_lock_release(struct kmem_lock *l)
{
	if (KMEM_UNLIKELY(!kmem_lock_release_nowake(l)))
		kmem_lock_wake(l);
}

#endif /* KMEM_LOCK_H */
