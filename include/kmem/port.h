/* kmem/port.h - firmware hooks: a platform's clock, sleep, page mapping,
 * fatal-error handler and (builds without threads) locks.
 *
 * kmem reaches the operating system only through its port layer. On hosted
 * builds (POSIX) the built-in backend uses CLOCK_MONOTONIC, nanosleep,
 * mmap/munmap and madvise(MADV_DONTNEED). On targets without an OS the
 * built-in backend has no clock (it reads 0, so time-based pacing such as
 * the frame service's zeroing budget never opens), no sleep, no mapping (the
 * per-thread caches of a threaded build need it; the no-threads build uses
 * static storage instead) and no release of memory to the OS. Firmware that
 * has a timer or an MMU supplies them here; firmware that has neither does
 * nothing and kmem goes without.
 *
 * Fatal errors (broken invariants, misuse with KMEM_ERROR_ABORT) end in the
 * fatal hook where one is installed: in a freestanding build (-Dfreestanding,
 * the default on bare metal) kmem calls neither abort() nor the C library's
 * assert, and its assertions come here.
 *
 * Address-space reservation (reserve, commit, decommit), remapping and
 * trimmed aligned mappings have no hook: the drop-in malloc, a hosted
 * consumer, is their only user. Without POSIX they fail; with a map hook
 * installed, an aligned mapping is the hook's mapping when it happens to be
 * aligned (else none) and remapping is refused, so the caller copies.
 */
#ifndef KMEM_PORT_PUBLIC_H
#define KMEM_PORT_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Each member may be NULL: the built-in backend is used for it. ctx is
 * passed to every hook. */
struct kmem_port_hooks {
	/* Monotonic nanoseconds (never decreasing). */
	uint64_t (*now_ns)(void *ctx);
	/* Sleep about ns nanoseconds (or return at once). */
	void (*sleep_ns)(void *ctx, uint64_t ns);
	/* bytes of zeroed, page-aligned memory, or NULL. */
	void *(*map)(void *ctx, size_t bytes);
	/* Give back what map returned (same bytes). */
	void (*unmap)(void *ctx, void *p, size_t bytes);
	/* Give [p, p + bytes) back to the platform, keeping it addressable:
	 * return 0 only if the range reads zero afterwards; else a negative
	 * errno and the range keeps its contents. */
	int (*release)(void *ctx, void *p, size_t bytes);
	/* A fatal error: an internal invariant broken (a failed assertion, in
	 * builds with assertions) or a misuse reported to an error sink with
	 * KMEM_ERROR_ABORT. what: the assertion's text or the status name;
	 * file and line: where (NULL and 0 for a sink). It should not return
	 * (reset the device, halt, longjmp out); if it does, or without the
	 * hook, kmem calls abort() in hosted builds and executes a trap
	 * instruction (__builtin_trap) in freestanding ones. */
	void (*fatal)(void *ctx, const char *what, const char *file, int line);
	/* Locks for builds without threads built with -Dlock=hooks (the
	 * firmware profile otherwise has no locks), so several RTOS tasks may
	 * share kmem's instances; other builds ignore them (with threads kmem
	 * has its own locks). Set all four or
	 * none. lock_create makes one lock (an RTOS mutex, or a handle on an
	 * interrupt-disable critical section) and returns its handle, NULL
	 * when it cannot (the instance's init then fails with -ENOMEM);
	 * lock_destroy frees it at the instance's destroy; lock and unlock
	 * take and release it. kmem holds locks of different instances at
	 * once, in its one lock order (a slab cache, then the buddy below it:
	 * docs/locking.md), never the same lock twice: one global critical
	 * section serves if it nests (count the depth). An instance takes its
	 * locks from the hooks installed when it is created: install them
	 * first. In an instance created with them, the frame service's
	 * per-thread cache is off (without threads there is one, which every
	 * task would share; KMEM_PA_NO_PCP), and so are slab magazines
	 * (compiled out without threads unless -Dmagazines=enabled). Creating
	 * and destroying instances stays the firmware's to serialise (the
	 * process-wide slot maps have no lock without threads). */
	void *(*lock_create)(void *ctx);
	void (*lock_destroy)(void *ctx, void *lock);
	void (*lock)(void *ctx, void *lock);
	void (*unlock)(void *ctx, void *lock);
	void *ctx;
};

/* Install the platform's hooks (copied), or the built-in backend again
 * (hooks NULL). Call it at start-up, before any other kmem call and before
 * starting threads: the hooks are read without synchronisation. Memory
 * mapped through one map hook must be unmapped through the same one, so do
 * not change map/unmap while kmem holds mappings. */
void kmem_port_set_hooks(const struct kmem_port_hooks *hooks);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_PORT_PUBLIC_H */
