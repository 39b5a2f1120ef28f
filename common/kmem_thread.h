/* kmem_thread.h - threads, fork handlers, sleeping mutex and condition
 * variable, clock, page mapping and address-space reservation (port layer).
 *
 * The only way the kmem cores reach the operating system. Three backends:
 *
 *   hosted (KMEM_HAVE_PTHREAD, thread_pthread.c; KMEM_HAVE_POSIX, os_posix.c)
 *       pthreads, pthread_atfork; CLOCK_MONOTONIC; mmap/munmap;
 *       madvise(MADV_DONTNEED); reservations as PROT_NONE MAP_NORESERVE
 *       mappings made read-write with mprotect; mremap on Linux.
 *   no threads (-Dthreads=disabled, thread_none.c): one thread. Thread start
 *       returns -ENOSYS and so do waits on a condition variable (no other
 *       thread could signal it); mutexes are no-ops; fork handlers are not
 *       needed (no other thread can hold a lock across a fork) and are not
 *       registered.
 *   firmware hooks (include/kmem/port.h): kmem_port_set_hooks() installs the
 *       platform's clock, sleep, page mapping and release; every hook left
 *       NULL uses the built-in backend, which on targets without POSIX
 *       (os_none.c) goes without: the clock reads 0 (time does not pass:
 *       rate limits never open, timed waits do not expire), sleep returns at
 *       once, mapping fails (NULL), release returns -ENOSYS and the memory
 *       keeps its contents. Firmware that calls nothing here needs nothing.
 *       Reservations (kmem_pages_reserve and its commit/decommit) and
 *       kmem_pages_remap have no hook: without POSIX, reserving fails (NULL)
 *       and commit, decommit and remap return -ENOSYS; with a map hook
 *       installed, remap returns -ENOSYS and an aligned mapping is the
 *       hook's mapping if it happens to be aligned, else NULL.
 *
 * Which parts of kmem use what: the per-thread context maps its areas
 * (kmem_tctx.h); the frame service's reaper starts a thread and waits on a
 * condition variable with a deadline from kmem_now_ns(); releasing frames to
 * the OS uses kmem_pages_release(); the drop-in malloc reserves its arena
 * (kmem_pages_reserve) and commits it piece by piece as it grows, or, to
 * hold no address space it does not use (RLIMIT_AS), places it
 * (kmem_pages_place) and maps and unmaps pieces (kmem_pages_map_at,
 * kmem_pages_unmap_range) as it grows and shrinks; it maps its
 * huge blocks aligned and resizes them with kmem_pages_remap, and registers
 * its fork handlers with kmem_atfork().
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
/* Let other threads run (sched_yield); without threads, return at once. */
KMEM_HIDDEN void kmem_thrd_yield(void);

/* ---- fork ----------------------------------------------------------------- */

/* Register fork handlers, as pthread_atfork: prepare runs in the forking
 * thread before fork(), parent in the parent and child in the child after
 * it; handlers registered later have their prepare run earlier and their
 * parent and child run later (POSIX's order). Any of the three may be NULL.
 * 0, or a negative errno (-ENOMEM). Without threads nothing is registered
 * (a one-thread process cannot fork while another thread holds a lock) and
 * the call returns 0. Not undoable: call it once per process-wide object. */
KMEM_HIDDEN int kmem_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));

/* True when the process is known to have a single thread: the C library
 * says no thread was ever created (glibc's __libc_single_threaded, the
 * flag glibc's own fork tests before it takes its locks). False when that
 * is unknown (a C library without the flag). Without threads: true.
 * Async-signal-safe (one load), O(1). */
KMEM_HIDDEN bool kmem_thrd_single(void);

/* The C library's list-of-streams lock (glibc's _IO_list_lock, which its
 * fork takes after the fork handlers' prepare and before its malloc
 * locks), for a prepare handler whose locks must come after it:
 * kmem_atfork_stdio_lock() in prepare before the handler's own locks,
 * kmem_atfork_stdio_unlock() in parent after releasing them,
 * kmem_atfork_stdio_reset() in child (the lock back to unlocked: glibc
 * resets it there too when it took it). The lock is recursive in its
 * owner, so fork taking it again in the same thread does not wait. No-ops
 * where the C library has no such lock that kmem can reach (KMEM_HAVE_
 * IO_LIST_LOCK unset) or without stdio/threads. O(1) plus the wait. */
KMEM_HIDDEN void kmem_atfork_stdio_lock(void);
KMEM_HIDDEN void kmem_atfork_stdio_unlock(void);
KMEM_HIDDEN void kmem_atfork_stdio_reset(void);

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
/* n bytes of the OS's randomness into buf (Linux: getrandom, without
 * blocking): 0; or a negative errno (-ENOSYS without an OS, or where the OS
 * has none yet: early boot) and buf unchanged. No hook: firmware seeds what
 * needs it itself (kmem_slab_config.free_mark). */
KMEM_HIDDEN int kmem_os_random(void *buf, size_t n);

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

/* bytes of fresh zeroed memory whose address is a multiple of align (a
 * power of two; at most the page size: kmem_pages_map); NULL if that fails
 * or the platform cannot map. POSIX maps bytes + align and unmaps the head
 * and tail around the aligned part. Give it back with kmem_pages_unmap(p,
 * bytes), or resize it with kmem_pages_remap. bytes a multiple of the page
 * size. */
KMEM_HIDDEN void *kmem_pages_map_aligned(size_t bytes, size_t align);
/* Resize the mapping [p, p + old_bytes) (from kmem_pages_map, _map_aligned
 * or an earlier remap; sizes multiples of the page size) to new_bytes,
 * moving it if it cannot grow in place (Linux: mremap MREMAP_MAYMOVE, no
 * copy of the pages): 0, *q the mapping (p or a new address, not aligned
 * beyond the page size), its first min(old, new) bytes the old contents
 * and the rest zero; the old range is no longer mapped unless *q == p. Or
 * a negative errno, and p's mapping is as it was: -ENOMEM (no memory or
 * address space), -ENOSYS where the platform cannot remap (POSIX systems
 * other than Linux, no OS, a map hook installed): the caller maps anew,
 * copies and unmaps. */
KMEM_HIDDEN int kmem_pages_remap(void *p, size_t old_bytes, size_t new_bytes, void **q);

/* ---- address-space reservation ----------------------------------------------
 *
 * A reservation is a range of addresses with no memory behind it; parts of
 * it are committed (made read-write, memory on first touch) and decommitted
 * (memory back to the OS, inaccessible again) as a heap grows and shrinks,
 * so a heap's blocks stay in one contiguous range whose size is decided
 * once. No firmware hook: without POSIX every call fails (reserve NULL, the
 * others -ENOSYS), and a heap there is given its memory instead.
 *
 *   reserve(R)       [------------------- R: PROT_NONE -------------------]
 *   commit(p, n)     [-----|== n: read-write ==|--------------------------]
 *   decommit(p, n)   [------------------- R: PROT_NONE -------------------]
 *                    (commit(p, n) again: the range reads zero)
 */

/* Reserve bytes of address space (rounded up to the page size), page
 * aligned and inaccessible until committed; no memory behind it and, where
 * the OS has the notion, not charged against its commit limit (Linux:
 * PROT_NONE with MAP_NORESERVE, and what is committed later stays
 * uncharged, pages coming on first touch; vm.overcommit_memory=2 ignores
 * MAP_NORESERVE and charges at commit instead). NULL if the address space
 * is not there, or without POSIX. */
KMEM_HIDDEN void *kmem_pages_reserve(size_t bytes);
/* Give back a whole reservation [p, p + bytes), committed parts and all. */
KMEM_HIDDEN void kmem_pages_unreserve(void *p, size_t bytes);
/* Make [p, p + bytes) of a reservation read-write (page aligned): 0, and
 * memory never written (or decommitted since) reads zero; or a negative
 * errno (-ENOMEM: the OS refused; -ENOSYS without POSIX) and the range is
 * as it was. Committing a committed range is harmless. */
KMEM_HIDDEN int kmem_pages_commit(void *p, size_t bytes);
/* Give the memory of [p, p + bytes) of a reservation back to the OS and
 * make the range inaccessible again, still reserved (page aligned): 0, or
 * a negative errno (-ENOSYS without POSIX). A later commit reads zero. */
KMEM_HIDDEN int kmem_pages_decommit(void *p, size_t bytes);
/* Make [p, p + bytes) of a mapping inaccessible and keep its memory (page
 * aligned): 0, or a negative errno (-ENOSYS without POSIX) and the range
 * is as it was. kmem_pages_commit makes it read-write again, its contents
 * as they were (the drop-in's huge cache: a use of a cached block faults). */
KMEM_HIDDEN int kmem_pages_noaccess(void *p, size_t bytes);

/* ---- address-space limits and placed ranges ----------------------------------
 *
 * Under an address-space limit (RLIMIT_AS, `ulimit -v`) every mapping counts,
 * a PROT_NONE reservation too, so a heap that must not hold address space it
 * does not use places its range instead of reserving it: it picks addresses
 * where nothing is mapped and the OS does not put mappings of its own
 * choosing (kmem_pages_place), maps pieces there as it grows
 * (kmem_pages_map_at, which never replaces a mapping) and unmaps pieces it
 * gives back (kmem_pages_unmap_range). No firmware hook: without POSIX these
 * fail and the limit reads as none.
 *
 *   place(R)        [.................. R: nothing mapped ..................]
 *   map_at(p, n)    [.....|== n: read-write ==|.............................]
 *   unmap_range     [.....|==|   hole   |=====|.............................]
 */

/* The address-space limit of the process now (RLIMIT_AS's soft limit), in
 * bytes; SIZE_MAX when there is none or it cannot be read (no POSIX). One
 * system call (getrlimit); async-signal-safe. */
KMEM_HIDDEN size_t kmem_as_limit(void);
/* A page-aligned address, a multiple of align (a power of two), for a range
 * of bytes the caller will map piece by piece with kmem_pages_map_at: where
 * nothing was mapped when asked (its first page checked), far from where
 * the OS puts mappings it places itself (POSIX: half-way between the end of
 * the program's data and the lowest fresh mapping, which the OS's own
 * placement reaches only after mapping about half of the gap), so pieces
 * mapped there later rarely find anything in the way. Nothing is mapped or
 * reserved: the range costs nothing. NULL where no such gap of at least
 * four times bytes exists, or without POSIX. O(1) system calls. */
KMEM_HIDDEN void *kmem_pages_place(size_t bytes, size_t align);
/* Map fresh zeroed read-write memory at exactly [p, p + bytes) (page
 * aligned), never over an existing mapping (Linux: MAP_FIXED_NOREPLACE;
 * where that is unknown, a hint whose result is checked), uncharged against
 * the commit limit like a reservation (MAP_NORESERVE). 0; -EEXIST (part of
 * the range is mapped already: nothing changed); -ENOMEM (the address-space
 * limit, the map count or the OS refused); -ENOSYS without POSIX. Give it
 * back with kmem_pages_unmap_range (any page-aligned part). */
KMEM_HIDDEN int kmem_pages_map_at(void *p, size_t bytes);
/* Unmap [p, p + bytes) (page aligned; a part of a mapping made with
 * kmem_pages_map_at or kmem_pages_map): 0, the pages and their address
 * space go back to the OS and the range no longer counts against the
 * address-space limit; or a negative errno and the range is as it was
 * (-ENOMEM: the OS could not split the mapping, its map count is full;
 * -ENOSYS without POSIX). */
KMEM_HIDDEN int kmem_pages_unmap_range(void *p, size_t bytes);

/* ---- built-in backends (os_posix.c or os_none.c), under the hooks ---------- */
KMEM_HIDDEN uint64_t kmem_os_now_ns(void);
KMEM_HIDDEN void kmem_os_sleep_ns(uint64_t ns);
KMEM_HIDDEN void *kmem_os_map(size_t bytes);
KMEM_HIDDEN void kmem_os_unmap(void *p, size_t bytes);
KMEM_HIDDEN int kmem_os_release(void *p, size_t bytes);
KMEM_HIDDEN void *kmem_os_map_aligned(size_t bytes, size_t align);
KMEM_HIDDEN int kmem_os_remap(void *p, size_t old_bytes, size_t new_bytes, void **q);
/* No hooks above these: process.c passes them straight through. */
KMEM_HIDDEN void *kmem_os_reserve(size_t bytes);
KMEM_HIDDEN int kmem_os_commit(void *p, size_t bytes);
KMEM_HIDDEN int kmem_os_decommit(void *p, size_t bytes);
KMEM_HIDDEN int kmem_os_noaccess(void *p, size_t bytes);
KMEM_HIDDEN size_t kmem_os_as_limit(void);
KMEM_HIDDEN void *kmem_os_place(size_t bytes, size_t align);
KMEM_HIDDEN int kmem_os_map_at(void *p, size_t bytes);
KMEM_HIDDEN int kmem_os_unmap_range(void *p, size_t bytes);

#endif /* KMEM_THREAD_H */
