/* heap.c - the drop-in's heap set-up: the environment (KMEM_* variables),
 * the arena reservation, the layers (buddy, frame service, slab and its
 * size-class caches), lazy initialisation on the first call, the bootstrap
 * arena for calls made during set-up, error reports, and the fork handlers.
 *
 * Set-up: the first call (or the constructor) runs km_setup once, with
 * km.state 0 -> 1 -> 2 (ready) or -1 (failed); calls made from inside the
 * set-up (km_in_init) and calls racing with it get bootstrap blocks or wait.
 * The arena (KMEM_ARENA) and its owner table are placed
 * (kmem_pages_place: an address range where nothing is mapped, which costs
 * nothing; grow maps pieces of both, and free blocks are unmapped again
 * under an address-space limit: decision 17); where no range can be
 * placed, they are reserved as before (kmem_pages_reserve: the arena
 * halved until the reservation succeeds, from half of RLIMIT_AS under a
 * limit; the owner table committed whole, its pages touched as used).
 * Every OS call goes through the port layer
 * (common/kmem_thread.h), fork handlers too. The frame service runs with
 * KMEM_PA_RELEASE: free memory beyond what the release policy keeps goes
 * back to the system, and fresh regions start in its released pool.
 *
 * Locking: see malloc_internal.h; the fork handlers (decision 16) take the
 * C library's stdio list lock and then every lock of the heap in that order
 * (prepare), and release them in reverse (parent, child) - in a process with
 * more than one thread; with one thread, and in a fork nested in a signal
 * handler, they take nothing.
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct km_heap km;
static __thread __attribute__((tls_model("initial-exec"))) bool km_in_init;

/* ---- small helpers --------------------------------------------------------------- */

void kmem_km_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

static void km_report(void *arg, const struct kmem_error_report *r)
{
	char line[320];
	int n;

	(void)arg;
	if (km.quiet)
		return;
	n = kmem_error_format(r, line, sizeof(line) - 1);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n] = '\n';
	kmem_km_write_all(2, "kmem-malloc: ", 13);
	kmem_km_write_all(2, line, (size_t)n + 1);
}

void kmem_km_misuse(enum kmem_status st, const void *p, const char *what)
{
	struct kmem_error_report r = {
		.status = st, .component = "malloc", .instance = "kmem-malloc",
		.ptr = p, .order = -1, .detail = what, .caller = NULL,
	};

	kmem_error_raise(&km.sink, &r);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static size_t env_size(const char *name, size_t def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return def;
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || end == v)
		return def;
	switch (*end) {
	case 'k': case 'K': x <<= 10; break;
	case 'm': case 'M': x <<= 20; break;
	case 'g': case 'G': x <<= 30; break;
	default: break;
	}
	return (size_t)x;
}

static bool env_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (len == n && !strncmp(p, word, n))
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static void km_read_env(void)
{
	const char *v;

	km.reaper = true;
	v = getenv("KMEM_REAPER");
	if (v && (!strcmp(v, "0") || !strcmp(v, "off")))
		km.reaper = false;
	v = getenv("KMEM_DEBUG");
	if (v) {
		if (env_has(v, "redzone") || env_has(v, "all"))
			km.debug |= KMEM_CACHE_REDZONE;
		if (env_has(v, "poison") || env_has(v, "all"))
			km.debug |= KMEM_CACHE_POISON;
		if (env_has(v, "user") || env_has(v, "all"))
			km.debug |= KMEM_CACHE_STORE_USER;
	}
	v = getenv("KMEM_CHECK");
	if (v && !strcmp(v, "1"))
		km.check_at_exit = true;
	v = getenv("KMEM_ERROR");
	if (v && !strcmp(v, "abort"))
		km.abort_on_error = true;
	if (v && !strcmp(v, "quiet"))
		km.quiet = true;
	v = getenv("KMEM_STATS");
	if (v) {
		if (env_has(v, "slabinfo") || env_has(v, "all"))
			km.stats |= 1;
		if (env_has(v, "buddyinfo") || env_has(v, "all"))
			km.stats |= 2;
		if (env_has(v, "vmstat") || env_has(v, "all"))
			km.stats |= 4;
		if (env_has(v, "zoneinfo") || env_has(v, "all"))
			km.stats |= 8;
		if (env_has(v, "heap") || env_has(v, "all"))
			km.stats |= 16;
	}
	km.stats_fd = 2;
	v = getenv("KMEM_STATS_FILE");
	if (km.stats && v && *v) {
		int fd = open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0)
			km.stats_fd = fd;
	}
	km.high = env_size("KMEM_HIGH", (size_t)8 << 20) >> KM_FRAME_SHIFT;
	if (km.high < 256)
		km.high = 256;
	km.trace_fd = -1;
	v = getenv("KMEM_TRACE");
	if (v && *v && strlen(v) < sizeof(km.trace_path)) {
		strcpy(km.trace_path, v);
		km.trace_fd = kmem_km_trace_open();
		/* without %p only this process traces: children that exec would
		 * truncate the file (unsetenv does not allocate) */
		if (!strstr(km.trace_path, "%p"))
			unsetenv("KMEM_TRACE");
	}
}

static void km_prepare(void);
static void km_parent(void);
static void km_child(void);

/* The stack's callback: the first region of the arena. */
static int first_region(void *arg, struct kmem_buddy *b)
{
	(void)arg;
	km.b = b;
	return kmem_km_grow(NULL, NULL, 1) ? 0 : -ENOMEM;
}

/* The arena and its owner table, placed (nothing mapped: grow maps pieces)
 * or, where no range can be placed, reserved as one range (the owner table
 * committed whole). Decision 17. */
static bool km_arena(size_t arena, size_t limit)
{
	size_t tab;
	void *res = NULL;
	uintptr_t base;

	if (arena < KM_ARENA_MIN)
		arena = KM_ARENA_MIN;
	arena &= ~(KM_BLOCK_MAX - 1);
	/* owner table: one word per frame, whole pages, right below the arena */
	tab = (arena >> KM_FRAME_SHIFT) * sizeof(void *);
	tab = (tab + KM_BLOCK_MAX - 1) & ~(KM_BLOCK_MAX - 1);
	base = (uintptr_t)kmem_pages_place(tab + arena, KM_BLOCK_MAX);
	if (base) {
		km.placed = true;
		km.lo = base + tab;
		km.hi = km.lo + arena;
		km.next = km.top = km.lo; /* km.frames 0: grow maps owner words as it goes */
		km.owner = (void **)(km.lo - ((arena >> KM_FRAME_SHIFT) * sizeof(void *)));
		return true;
	}
	/* reserved: the range counts against an address-space limit whole, so
	 * under one it starts at half the limit */
	while (limit != SIZE_MAX && arena > KM_ARENA_MIN && arena > limit / 2)
		arena /= 2;
	for (; arena >= KM_ARENA_MIN; arena /= 2) {
		res = kmem_pages_reserve(arena + KM_BLOCK_MAX);
		if (res)
			break;
	}
	if (!res)
		return false;
	km.lo = ((uintptr_t)res + KM_BLOCK_MAX - 1) & ~(KM_BLOCK_MAX - 1);
	km.hi = km.top = km.lo + arena;
	km.next = km.lo;
	km.frames = arena >> KM_FRAME_SHIFT;
	/* owner table: committed at once, its pages touched as used
	 * (uncharged, like the arena: kmem_pages_reserve) */
	tab = km.frames * sizeof(void *);
	tab = (tab + KM_FRAME - 1) & ~(KM_FRAME - 1);
	km.owner = kmem_pages_reserve(tab);
	if (!km.owner)
		return false;
	if (kmem_pages_commit(km.owner, tab)) {
		kmem_pages_unreserve(km.owner, tab);
		return false;
	}
	return true;
}

static bool km_setup(void)
{
	size_t arena = env_size("KMEM_ARENA", KM_ARENA_DEFAULT), isz, limit, high;
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	void *inst;

	km_read_env();
	kmem_error_sink_init(&km.sink);
	km.sink.report = km_report;
	if (km.abort_on_error)
		km.sink.flags |= KMEM_ERROR_ABORT;
	if (kmem_lock_init(&km.grow_lock, true) || kmem_lock_init(&km.huge_lock, true) ||
	    kmem_lock_init(&km.trace_lock, true))
		return false;
	KMEM_ANNOT_BENIGN_RACE(&km.frames, sizeof(km.frames)); /* see malloc_internal.h */
	limit = kmem_km_as_limit(true);
	if (!km_arena(arena, limit))
		return false;
	high = km.high;
	if (km.placed && limit != SIZE_MAX) {
		/* under a limit the first region is small (it is mapped whole:
		 * the layers' set-up takes from it before the frame service
		 * exists), and the high watermark, also what the release step
		 * keeps, at most half of it */
		size_t first = (km.high << KM_FRAME_SHIFT) * 2, most = limit / 8;

		if (first > most)
			first = most;
		if (first < KM_REGION_FIRST_TIGHT)
			first = KM_REGION_FIRST_TIGHT;
		km.first_region = (first + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
		if (high > (km.first_region >> KM_FRAME_SHIFT) / 2)
			high = (km.first_region >> KM_FRAME_SHIFT) / 2;
	}

	/* the layers in one call (kmem/stack.h); the first region is added
	 * by the grow hook, from the stack's callback, before the frame
	 * service exists (which then takes it as fresh memory:
	 * KMEM_PA_ZEROED_BUDDY) */
	kmem_stack_config_init(&cfg);
	cfg.sink = &km.sink;
	cfg.buddy.name = "kmem-malloc";
	cfg.buddy.max_order = KM_MAX_ORDER;
	cfg.buddy.max_regions = KMEM_BUDDY_REGION_LIMIT;
	cfg.buddy.owner_table = km.owner;	/* pages mapped as regions come (placed) */
	cfg.buddy.owner_base = (void *)km.lo;
	cfg.buddy.owner_frames = (km.hi - km.lo) >> KM_FRAME_SHIFT;
	cfg.add_regions = first_region;
	cfg.pa.name = "kmem-malloc";
	/* malloc promises no zeroes: only calloc's page blocks ask for them
	 * (KMEM_PAGE_ZERO); no background zeroing (a thread's CPU in every
	 * process, for blocks the heap mostly hands out dirty) */
	cfg.pa.init_policy = KMEM_PA_INIT_NONE;
	cfg.pa.flags = KMEM_PA_NO_BGZERO | KMEM_PA_RELEASE | KMEM_PA_RELEASE_INLINE |
		       KMEM_PA_ZEROED_BUDDY | (km.reaper ? KMEM_PA_LAZY_REAPER : 0);
	cfg.pa.release_order = KM_RELEASE_ORDER;
	cfg.pa.wmark_min = KM_WMARK_LOW / 2;
	cfg.pa.wmark_low = KM_WMARK_LOW;
	cfg.pa.wmark_high = high;
	cfg.pa.grow = kmem_km_grow;
	if (km.placed) {
		/* free blocks stop counting against an address-space limit
		 * (decision 17): unmapped while the limit is there */
		cfg.pa.as_tight = kmem_km_as_tight;
		cfg.pa.as_unmap = kmem_km_as_unmap;
		cfg.pa.as_map = kmem_km_as_map;
	}
	cfg.slab.name = "kmem-malloc";
	cfg.slab.debug_flags = km.debug;
	cfg.slab.waste_div = 32; /* 3% slab waste at most: 512-byte objects 31 to 16 KiB, not 7 to 4 KiB */
	/* four classes per doubling (as jemalloc): rounding wastes at most 25%
	 * (Linux's classes waste up to 50%); powers of two are aligned to their
	 * size, so aligned requests pick one of them */
	cfg.slab.kmalloc_classes = KMEM_KMALLOC_QUARTER;
	/* the free mark, secret: a double free is caught by it, and a program
	 * cannot forge it into a live block (0 if the OS has no randomness:
	 * slab derives one from the instance's address) */
	if (kmem_os_random(&cfg.slab.free_mark, sizeof(cfg.slab.free_mark)))
		cfg.slab.free_mark = 0;
	isz = kmem_stack_sizeof(&cfg);
	inst = isz ? kmem_pages_map(isz) : NULL;
	if (!inst || kmem_stack_init(inst, isz, &cfg, NULL, 0, NULL, 0, &st))
		return false;
	km.b = st.buddy;
	km.pa = st.pa;
	km.s = st.slab;
	/* per-thread buffers: areas of the per-thread context (trace.c) */
	km.trace_on = km.trace_fd >= 0;
	return true;
}

KMEM_NOINLINE bool kmem_km_init_slow(void)
{
	int st = 0;

	if (km_in_init)
		return false; /* a call from inside set-up: the bootstrap arena */
	if (kmem_atomic_cas_acq_rel(&km.state, &st, 1)) {
		bool ok;

		km_in_init = true;
		ok = km_setup();
		km_in_init = false;
		kmem_atomic_store_release(&km.state, ok ? 2 : -1);
		if (ok) {
			/* these may allocate: the heap is ready now */
			(void)kmem_atfork(km_prepare, km_parent, km_child);
			if (km.stats || km.trace_on || km.check_at_exit)
				atexit(kmem_km_atexit);
		}
		return ok;
	}
	while ((st = kmem_atomic_load_acquire(&km.state)) == 1)
		kmem_thrd_yield();
	return st == 2;
}

__attribute__((constructor)) static void km_ctor(void)
{
	(void)km_ready();
}

/* Bootstrap arena: blocks handed out before the heap exists (a 16-byte
 * header holds the size). Never freed. */
void *kmem_km_boot_alloc(size_t size, size_t align)
{
	size_t off, start;

	if (align < KM_ALIGN)
		align = KM_ALIGN;
	if (size > KM_BOOT_BYTES || align > KM_BOOT_BYTES / 4)
		return NULL;
	kmem_lock_acquire(&km.trace_lock); /* a leaf lock; set-up or a failed heap only */
	off = km.boot_used + 16;
	start = (off + align - 1) & ~(align - 1);
	if (start + size > KM_BOOT_BYTES) {
		kmem_lock_release(&km.trace_lock);
		return NULL;
	}
	km.boot_used = start + size;
	kmem_lock_release(&km.trace_lock);
	memcpy(&km.boot[start - sizeof(size_t)], &size, sizeof(size_t));
	return &km.boot[start];
}

size_t kmem_km_boot_size(const void *p)
{
	size_t n;

	memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(n));
	return n;
}

/* ---- fork ------------------------------------------------------------------------------------------ */

/* The calling thread's forks in progress: more than one when a signal
 * handler forked while this thread was inside fork (between prepare and
 * parent/child); and whether the outermost of them took the heap's locks.
 * Thread-local, so concurrent forks in other threads (which serialise on
 * the heap's locks) do not see them; a signal handler that interrupts the
 * update of km_fork_depth restores it before the interrupted code resumes. */
static __thread __attribute__((tls_model("initial-exec"))) unsigned km_fork_depth;
static __thread __attribute__((tls_model("initial-exec"))) bool km_fork_locked;

/* Registered once the heap is ready (km.state 2), so the heap exists here.
 * Decision 16 (docs/decisions.md):
 *   - a nested fork (from a signal handler, in this thread) takes nothing:
 *     the outer fork holds or is taking the locks, in this same thread;
 *   - one thread in the process (the C library's flag, the one glibc's own
 *     fork tests): nothing to take, no other thread can be inside the heap;
 *     a fork from a signal handler that interrupted malloc in this thread
 *     must not wait for it (its child may only call async-signal-safe
 *     functions, as with glibc);
 *   - otherwise the C library's stdio list lock first (glibc's fork takes it
 *     after the prepare handlers, and a thread holding it may wait for a
 *     FILE lock whose holder allocates: glibc bug 19431), then every lock of
 *     the heap in the documented order. */
static void km_prepare(void)
{
	if (km_fork_depth++)
		return;
	km_fork_locked = !kmem_thrd_single();
	if (!km_fork_locked)
		return;
	kmem_atfork_stdio_lock();
	kmem_slab_fork_prepare(km.s);
	kmem_lock_acquire(&km.grow_lock); /* grow runs before the frame service's locks */
	kmem_pa_fork_prepare(km.pa);
	kmem_lock_acquire(&km.huge_lock);
	kmem_lock_acquire(&km.trace_lock);
	kmem_buddy_fork_prepare(km.b);
}

static void km_parent(void)
{
	if (!km_fork_depth)
		return; /* registered during this fork's prepare (a C library that runs it anyway) */
	if (--km_fork_depth || !km_fork_locked)
		return;
	kmem_buddy_fork_parent(km.b);
	kmem_lock_release(&km.trace_lock);
	kmem_lock_release(&km.huge_lock);
	kmem_pa_fork_parent(km.pa);
	kmem_lock_release(&km.grow_lock);
	kmem_slab_fork_parent(km.s);
	kmem_atfork_stdio_unlock();
}

static void km_child(void)
{
	if (!km_fork_depth)
		return; /* as in km_parent */
	if (--km_fork_depth)
		return; /* a child of a nested fork: async-signal-safe calls only */
	if (!km_fork_locked) {
		/* one thread: nothing to adopt or release. The fork may come
		 * from a signal handler that interrupted the heap in this thread
		 * (the trace lock held): take nothing that could wait. */
		if (kmem_lock_try_acquire(&km.trace_lock)) {
			kmem_lock_release(&km.trace_lock);
			kmem_km_trace_fork_child();
		}
		return;
	}
	kmem_buddy_fork_child(km.b);
	kmem_lock_release(&km.trace_lock);
	kmem_lock_release(&km.huge_lock);
	kmem_pa_fork_child(km.pa);
	kmem_lock_release(&km.grow_lock);
	kmem_slab_fork_child(km.s);
	kmem_km_trace_fork_child();
	kmem_atfork_stdio_reset();
}
