/* kmem_thread.h - threads, sleeping mutex and condition variable, clock,
 * page mapping (port layer).
 *
 * The only way the kmem cores reach the operating system. Three backends:
 *
 *   hosted (KMEM_HAVE_PTHREAD, thread_pthread.c; KMEM_HAVE_POSIX, os_posix.c)
 *       pthreads; CLOCK_MONOTONIC; mmap/munmap; madvise(MADV_DONTNEED).
 *   no threads (-Dthreads=disabled, thread_none.c): one thread. Thread start
 *       returns -ENOSYS and so do waits on a condition variable (no other
 *       thread could signal it); mutexes are no-ops.
 *   firmware hooks (include/kmem/port.h): kmem_port_set_hooks() installs the
 *       platform's clock, sleep, page mapping and release; every hook left
 *       NULL uses the built-in backend, which on targets without POSIX
 *       (os_none.c) goes without: the clock reads 0 (time does not pass:
 *       rate limits never open, timed waits do not expire), sleep returns at
 *       once, mapping fails (NULL), release returns -ENOSYS and the memory
 *       keeps its contents. Firmware that calls nothing here needs nothing.
 *
 * Which parts of kmem use what: the per-thread context maps its areas
 * (kmem_tctx.h); the frame service's reaper starts a thread and waits on a
 * condition variable with a deadline from kmem_now_ns(); releasing frames to
 * the OS uses kmem_pages_release().
 * Private to the library: not installed.
 */
#ifndef KMEM_THREAD_H
#define KMEM_THREAD_H

#include "kmem_base.h"

#ifdef KMEM_HAVE_PTHREAD
#include <pthread.h>
#endif

/* ---- threads ------------------------------------------------------------- */

struct kmem_thrd {
#ifdef KMEM_HAVE_PTHREAD
	pthread_t t;
#else
	int unused;
#endif
};

/* Start fn(arg) on a new thread. 0, or a negative errno (-ENOSYS without
 * threads, -EAGAIN and the like from the OS). */
KMEM_HIDDEN int kmem_thrd_start(struct kmem_thrd *t, void *(*fn)(void *), void *arg);
/* Wait for t to finish; *ret (if ret) gets fn's return value. 0 or a
 * negative errno (-ENOSYS without threads). */
KMEM_HIDDEN int kmem_thrd_join(struct kmem_thrd *t, void **ret);

/* ---- sleeping mutex and condition variable --------------------------------
 *
 * For waiting (the reaper), not for guarding instances (struct kmem_lock in
 * kmem_lock.h is cheaper and records its owner). Without threads the mutex
 * is a no-op and waits return -ENOSYS. */
struct kmem_mutex {
#ifdef KMEM_HAVE_PTHREAD
	pthread_mutex_t m;
#else
	int unused;
#endif
};

struct kmem_cond {
#ifdef KMEM_HAVE_PTHREAD
	pthread_cond_t c;
#else
	int unused;
#endif
};

/* 0 or a negative errno. */
KMEM_HIDDEN int kmem_mutex_init(struct kmem_mutex *m);
KMEM_HIDDEN void kmem_mutex_destroy(struct kmem_mutex *m);
KMEM_HIDDEN void kmem_mutex_lock(struct kmem_mutex *m);
KMEM_HIDDEN void kmem_mutex_unlock(struct kmem_mutex *m);

/* 0 or a negative errno. Timed waits measure against kmem_now_ns(). */
KMEM_HIDDEN int kmem_cond_init(struct kmem_cond *cv);
KMEM_HIDDEN void kmem_cond_destroy(struct kmem_cond *cv);
/* Wait (m held) until signalled; may wake spuriously. 0, or -ENOSYS
 * without threads. */
KMEM_HIDDEN int kmem_cond_wait(struct kmem_cond *cv, struct kmem_mutex *m);
/* Wait (m held) until signalled or kmem_now_ns() >= deadline_ns; may wake
 * spuriously. 0 (woken), -ETIMEDOUT (the deadline passed), or -ENOSYS
 * without threads. */
KMEM_HIDDEN int kmem_cond_timedwait(struct kmem_cond *cv, struct kmem_mutex *m, uint64_t deadline_ns);
KMEM_HIDDEN void kmem_cond_signal(struct kmem_cond *cv);
KMEM_HIDDEN void kmem_cond_broadcast(struct kmem_cond *cv);

/* ---- clock ---------------------------------------------------------------- */

/* Monotonic nanoseconds since an arbitrary origin: the firmware hook, else
 * CLOCK_MONOTONIC on hosted builds, else 0 (no clock). Never decreases. */
KMEM_HIDDEN uint64_t kmem_now_ns(void);
/* Sleep about ns nanoseconds (the hook, nanosleep, or return at once). */
KMEM_HIDDEN void kmem_sleep_ns(uint64_t ns);

/* ---- pages ---------------------------------------------------------------- */

/* bytes (a multiple of the OS page size is best) of fresh zeroed memory,
 * page aligned; NULL if that fails or the platform cannot map. */
KMEM_HIDDEN void *kmem_pages_map(size_t bytes);
/* Give back a mapping made by kmem_pages_map (same bytes). */
KMEM_HIDDEN void kmem_pages_unmap(void *p, size_t bytes);
/* Give the memory of [p, p + bytes) back to the OS, keeping the range
 * mapped (madvise(MADV_DONTNEED) on Linux): 0, and the range reads zero
 * from now on; or a negative errno (-ENOSYS where the platform cannot),
 * and the range keeps its contents. p and bytes page aligned. */
KMEM_HIDDEN int kmem_pages_release(void *p, size_t bytes);

/* ---- built-in backends (os_posix.c or os_none.c), under the hooks ---------- */
KMEM_HIDDEN uint64_t kmem_os_now_ns(void);
KMEM_HIDDEN void kmem_os_sleep_ns(uint64_t ns);
KMEM_HIDDEN void *kmem_os_map(size_t bytes);
KMEM_HIDDEN void kmem_os_unmap(void *p, size_t bytes);
KMEM_HIDDEN int kmem_os_release(void *p, size_t bytes);

#endif /* KMEM_THREAD_H */
