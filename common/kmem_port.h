/* kmem_port.h - the port layer: locks, atomics, bit operations, asserts.
 *
 * Everything platform-specific in the kmem cores goes through this header.
 *  - Locks: pthread mutexes on hosted builds (KMEM_HAVE_PTHREAD); compiled out
 *    on builds without threads (-Dthreads=disabled), where every instance
 *    behaves as if created with a NOLOCK flag.
 *  - Atomics: GCC/Clang __atomic builtins behind wrappers named by memory
 *    order, so C and C++ translation units can share structs.
 *  - KMEM_ASSERT(cond && "what must hold"): internal invariants, compiled
 *    only when NDEBUG is not defined (debug and debugoptimized builds).
 * Private to the library: not installed.
 */
#ifndef KMEM_PORT_H
#define KMEM_PORT_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmem_config.h"

#ifdef KMEM_HAVE_PTHREAD
#include <pthread.h>
#endif

#define KMEM_LIKELY(x) __builtin_expect(!!(x), 1)
#define KMEM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KMEM_NOINLINE __attribute__((noinline))
#define KMEM_HIDDEN __attribute__((visibility("hidden")))
#define KMEM_RETURN_ADDRESS() __builtin_return_address(0)

#ifdef NDEBUG
#define KMEM_ASSERT(cond) ((void)0)
#else
#define KMEM_ASSERT(cond) assert(cond)
#endif

/* ---- bit operations ------------------------------------------------------ */

static inline unsigned kmem_ctz32(uint32_t x) { return (unsigned)__builtin_ctz(x); }
static inline unsigned kmem_ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
static inline unsigned kmem_ctzptr(uintptr_t x) { return (unsigned)__builtin_ctzll((unsigned long long)x); }
static inline int kmem_popcountptr(uintptr_t x) { return __builtin_popcountll((unsigned long long)x); }
/* floor(log2(x)) for x > 0 */
static inline unsigned kmem_flsptr(uintptr_t x)
{
	return (unsigned)(sizeof(unsigned long long) * 8 - 1 - (unsigned)__builtin_clzll((unsigned long long)x));
}
static inline bool kmem_is_pow2(uintptr_t x) { return x != 0 && (x & (x - 1)) == 0; }

/* ---- atomics (named by memory order) ------------------------------------- */

static inline void kmem_atomic_inc_relaxed_ul(unsigned long *p)
{
	__atomic_fetch_add(p, 1ul, __ATOMIC_RELAXED);
}
static inline unsigned long kmem_atomic_load_relaxed_ul(const unsigned long *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}
/* *p += v by the one writer (under its lock), for readers that load *p
 * without the lock (relaxed): a plain add would be a data race to them. */
static inline void kmem_relaxed_add_size(size_t *p, size_t v)
{
	__atomic_store_n(p, *p + v, __ATOMIC_RELAXED);
}

static inline void kmem_atomic_store_relaxed_ul(unsigned long *p, unsigned long v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

/* ---- locks ---------------------------------------------------------------
 *
 * KMEM_LOCK_FUTEX (Linux, the default there): a three-state futex mutex
 * (Drepper, "Futexes Are Tricky", mutex 3): 0 unlocked, 1 locked, 2 locked
 * with waiters. Uncontended lock is one compare-exchange, unlock one
 * fetch-sub: about 10 instructions per lock/unlock pair against about 60 for
 * glibc's pthread_mutex_lock/unlock (measured with callgrind, see README), in
 * a buddy alloc+free pair whose whole budget is 150. Contended: spin briefly,
 * then sleep in the kernel. Acquire on lock, release on unlock, so TSan sees
 * the ordering. Helgrind and DRD do not know this lock: build with
 * -Dlock=pthread for them.
 * Otherwise (KMEM_HAVE_PTHREAD): a pthread mutex. Without threads: nothing.
 */
#ifdef KMEM_LOCK_FUTEX
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

struct kmem_lock {
#if defined(KMEM_LOCK_FUTEX)
	unsigned word;
	bool enabled;
#elif defined(KMEM_HAVE_PTHREAD)
	pthread_mutex_t mutex;
	bool enabled;
#else
	bool unused; /* no threads: no lock (ISO C has no empty structs) */
#endif
#if defined(KMEM_HAVE_PTHREAD) && !defined(NDEBUG)
	unsigned long held; /* debug: 1 while held, for asserts (relaxed atomic) */
#endif
};

#ifdef KMEM_LOCK_FUTEX
KMEM_HIDDEN void kmem_futex_unlock_slow(unsigned *word);
#endif
/* Wait for the lock after kmem_lock_try_acquire() failed (lock.c). */
KMEM_HIDDEN void kmem_lock_acquire_slow(struct kmem_lock *l);

/* Returns 0 or a negative errno. enabled false: every operation is a no-op. */
static inline int kmem_lock_init(struct kmem_lock *l, bool enabled)
{
#if defined(KMEM_HAVE_PTHREAD) && !defined(NDEBUG)
	l->held = 0;
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

	if (l->enabled && !__atomic_compare_exchange_n(&l->word, &seen, 1, false, __ATOMIC_ACQUIRE,
						       __ATOMIC_RELAXED))
		return false;
#elif defined(KMEM_HAVE_PTHREAD)
	if (l->enabled && pthread_mutex_trylock(&l->mutex) != 0)
		return false;
#endif
#if defined(KMEM_HAVE_PTHREAD) && !defined(NDEBUG)
	if (l->enabled)
		kmem_atomic_store_relaxed_ul(&l->held, 1);
#endif
	(void)l;
	return true;
}

/* Take the lock, waiting if needed. */
static inline void kmem_lock_acquire(struct kmem_lock *l)
{
	if (KMEM_UNLIKELY(!kmem_lock_try_acquire(l)))
		kmem_lock_acquire_slow(l);
}

/* Release without waking a waiter. True: done. False (futex lock only):
 * there are waiters and the caller must call kmem_lock_wake(), typically as a
 * tail call from a _slow function, which keeps the fast path frameless. */
static inline bool kmem_lock_release_nowake(struct kmem_lock *l)
{
#if defined(KMEM_HAVE_PTHREAD) && !defined(NDEBUG)
	if (l->enabled)
		kmem_atomic_store_relaxed_ul(&l->held, 0);
#endif
#if defined(KMEM_LOCK_FUTEX)
	/* sub_fetch != 0 compiles to `lock sub; jne`, fetch_sub != 1 to xadd + cmp */
	if (l->enabled && KMEM_UNLIKELY(__atomic_sub_fetch(&l->word, 1, __ATOMIC_RELEASE) != 0))
		return false;
#elif defined(KMEM_HAVE_PTHREAD)
	if (l->enabled)
		pthread_mutex_unlock(&l->mutex);
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

/* True if the lock is held (by someone) or locking is off. For asserts in
 * _locked functions; always true in NDEBUG builds. */
static inline bool kmem_lock_held(const struct kmem_lock *l)
{
#if defined(KMEM_HAVE_PTHREAD) && !defined(NDEBUG)
	return !l->enabled || kmem_atomic_load_relaxed_ul(&l->held) != 0;
#else
	(void)l;
	return true;
#endif
}

#endif /* KMEM_PORT_H */
