/* kmem_malloc.c - the drop-in malloc: the C allocation API on kmem's layers,
 * for LD_PRELOAD (libkmem-malloc.so) or static linking (libkmem-malloc.a).
 *
 * Algorithm:
 *   1. One process-wide heap (the only global instance in kmem), made on the
 *      first call: a reserved range of address space (the arena, 64 GiB by
 *      default, PROT_NONE), a buddy allocator over it with one owner table
 *      for the whole arena, a frame service (pagealloc) in front, and a slab
 *      instance on the frame service for kmalloc's size classes.
 *   2. Sizes up to 8 KiB: kmem_alloc (size classes 16..8192, per-thread
 *      magazines). 8 KiB < size <= 32 MiB: a block of 2^k frames from the
 *      frame service (per-thread frame caches for k <= 3), its first frame's
 *      owner word naming the order. Larger: its own mmap (the huge path),
 *      remembered in a hash table; realloc moves it with mremap.
 *   3. free(p): the owner word of p's frame (one load) says page block,
 *      slab object or nothing; outside the arena, the huge table decides.
 *   4. Growth: when the frame service runs short it calls grow(), which
 *      makes the next piece of the arena read-write (mprotect) and adds it
 *      to the buddy as a region (64 MiB, or a quarter of what is in use,
 *      up to 1 GiB). Growth comes before reclaim.
 *   5. Memory back to the OS: when free frames exceed the high watermark,
 *      the reaper (a thread started on first need; KMEM_REAPER=0: the
 *      freeing thread) calls release(), which takes free blocks of 64 KiB
 *      and more out of the buddy, madvise(MADV_DONTNEED)s those holding
 *      data and puts them back. A dirty bitmap (one bit per frame, set when
 *      a frame is handed out, cleared when released) remembers which free
 *      frames read as zero: fresh and released memory needs no memset in
 *      calloc.
 * Bounds: malloc/free O(1) plus the layer below (kmem_alloc's fast path is a
 * magazine pop); realloc O(size); the huge path O(1) expected (hash).
 *
 * Behaviour where C libraries differ (README "Drop-in malloc"): 16-byte
 * alignment for every block; malloc(0) returns a unique 16-byte block;
 * realloc(p, 0) frees p and returns NULL; sizes over PTRDIFF_MAX fail with
 * ENOMEM; invalid alignments with EINVAL; free preserves errno; a pointer
 * kmem did not hand out is reported (one line on stderr) and ignored
 * (KMEM_ERROR=abort: abort).
 *
 * Locking (order): slab locks, pagealloc locks, grow lock, huge lock,
 * release lock (try-lock only), buddy lock; the trace lock is a leaf. The
 * fork handlers take them all in that order.
 */
#define _GNU_SOURCE
#include <kmem/buddy.h>
#include <kmem/malloc.h>
#include <kmem/pagealloc.h>
#include <kmem/slab.h>
#include <kmem/trace.h>

#include "kmem_annot.h"
#include "kmem_fmt.h"
#include "kmem_port.h"
#include "slab/slab_internal.h" /* the inlined magazine fast paths */

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KM_EXPORT __attribute__((visibility("default")))
#define KM_FRAME_SHIFT 12u
#define KM_FRAME ((size_t)1 << KM_FRAME_SHIFT)
#define KM_MAX_ORDER 13u			/* 32 MiB blocks */
#define KM_BLOCK_MAX (KM_FRAME << KM_MAX_ORDER)
#define KM_SMALL_MAX ((size_t)8192)		/* kmalloc's largest class */
#define KM_ALIGN 16u
#define KM_REGION_MIN ((size_t)64 << 20)
#define KM_REGION_MAX ((size_t)1 << 30)
#define KM_ARENA_DEFAULT ((size_t)64 << 30)
#define KM_ARENA_MIN ((size_t)256 << 20)
#define KM_RELEASE_MIN_ORDER 4u			/* release blocks of 64 KiB and up */
#define KM_WMARK_LOW ((size_t)64)		/* the frame service's low watermark */
#define KM_BOOT_BYTES ((size_t)256 << 10)
#define KM_TRACE_BATCH 204u			/* records per thread buffer (8 KiB) */

/* Size classes: four per doubling from 64 bytes (as jemalloc), so rounding
 * wastes at most 25% (kmalloc's Linux classes waste up to 50%); powers of
 * two are aligned to their size, so aligned requests pick one of them. */
static const uint16_t km_class_size[] = {
	16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768,
	896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
};
#define KM_NCLASS (sizeof(km_class_size) / sizeof(km_class_size[0]))

/* Page blocks are whole power-of-two blocks when allocated. Trimming them to
 * the frames asked for (Linux's alloc_pages_exact) was tried and lost: the
 * freed tails, taken by other blocks, keep big blocks from merging back, and
 * on 64 KiB..4 MiB traffic (bench/malloc/wl_large.c) peak RSS went from 1.3x
 * to 2.5x glibc's. A realloc that shrinks a block to a quarter or less
 * trims it in place instead of copying: the frames it gives back are at
 * least three quarters of the block, in big pieces. A trimmed block is one
 * buddy block per set bit of its frame count, largest first, rounded up to
 * an eighth of its power of two (so at most three pieces).
 * The owner word of a page block's first frame points at km_ptab[frames]:
 * the address says how many frames the block has. The table is zeros, never
 * written, padded past its last entry: code that reads an owner word as a
 * slab header finds no slab magic there. */
#define KM_BLOCK_FRAMES ((size_t)1 << KM_MAX_ORDER)
#define KM_EXACT_MIN_ORDER 4u	/* trims below it keep whole powers of two */
static uint64_t km_ptab[KM_BLOCK_FRAMES + 1 + 32];

struct km_huge {
	uintptr_t addr;	/* 0: empty; 1: deleted */
	size_t len;	/* mapping length */
	size_t size;	/* usable bytes from addr */
};

struct km_tbuf {
	unsigned n;
	uint16_t tid;
	struct kmem_trace_rec rec[KM_TRACE_BATCH];
	struct km_tbuf *next;	/* all buffers (trace lock), for exit */
};

struct km_heap {
	int state;		/* 0 none, 1 initialising, 2 ready, -1 failed (atomic) */
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	struct kmem_slab *s;
	struct kmem_page_source ps;	/* the slab's source: pa, marking frames dirty */
	struct kmem_error_sink sink;
	uintptr_t lo, hi;	/* the arena */
	uintptr_t next;		/* end of the part made read-write (grow lock) */
	size_t frames;		/* arena frames */
	void **owner;		/* owner table, one word per arena frame */
	uint64_t *dirty;	/* one bit per arena frame: may hold data */
	uintptr_t *scratch;	/* release's list of taken blocks (rel lock) */
	size_t scratch_cap;
	/* The clean reserve (rel lock): free blocks of 64 KiB and up whose
	 * memory went back to the OS (or was never touched), held out of the
	 * buddy so that allocations reuse dirty memory first; grow puts them
	 * back. Stacks per order, linked through rsv_next (one entry per
	 * 64 KiB unit of the arena, UINT32_MAX ends a stack). */
	uint32_t *rsv_next;
	uint32_t rsv_head[KM_MAX_ORDER + 1];
	size_t rsv_frames;
	/* Frames handed to the program and the slabs (relaxed atomics), their
	 * recent peak (decays by half every second a pass sees) and when it
	 * last decayed: a pass keeps max(high, peak - used) dirty free frames,
	 * the memory a working set that shrank is likely to want back. */
	size_t used, peak;
	uint64_t decay_ms;
	size_t rel_next;	/* buddy free frames that make the next pass worth it */
	struct kmem_lock grow_lock, huge_lock, rel_lock, trace_lock;
	struct km_huge *huge;	/* open addressing, huge_cap slots (huge lock) */
	size_t huge_cap, huge_n, huge_used;
	/* magazine slot offset of the kmalloc class for (size - 1) / 16, sizes
	 * 1..8192 (0: the class has no magazines) */
	uint32_t cls_off[KM_SMALL_MAX / KM_ALIGN];
	uint8_t cls_index[KM_SMALL_MAX / KM_ALIGN];	/* (size - 1) / 16 -> class */
	struct kmem_cache *cls[KM_NCLASS];
	/* configuration */
	bool reaper, quiet, abort_on_error, check_at_exit;
	unsigned debug;
	unsigned stats;	/* 1 slabinfo, 2 buddyinfo, 4 vmstat, 8 zoneinfo, 16 heap */
	int stats_fd;
	int trace_fd;
	char trace_path[256];	/* KMEM_TRACE, "%p": the pid */
	bool trace_on;
	uint64_t trace_seq;
	unsigned trace_tids;
	struct km_tbuf *tbufs;
	pthread_key_t trace_key;
	size_t high;	/* frames */
	/* bootstrap arena for calls made while the heap is being set up */
	size_t boot_used;
	unsigned char boot[KM_BOOT_BYTES] __attribute__((aligned(16)));
};

static struct km_heap km;
static __thread __attribute__((tls_model("initial-exec"))) bool km_in_init;
static __thread __attribute__((tls_model("initial-exec"))) struct km_tbuf *km_tbuf;

/* ---- small helpers --------------------------------------------------------------- */

static void km_write_all(int fd, const void *buf, size_t len)
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
	km_write_all(2, "kmem-malloc: ", 13);
	km_write_all(2, line, (size_t)n + 1);
}

static void km_misuse(enum kmem_status st, const void *p, const char *what)
{
	struct kmem_error_report r = {
		.status = st, .component = "malloc", .instance = "kmem-malloc",
		.ptr = p, .order = -1, .detail = what, .caller = NULL,
	};

	kmem_error_raise(&km.sink, &r);
}

static inline unsigned ceil_log2(size_t x)
{
	return x <= 1 ? 0 : kmem_flsptr(x - 1) + 1;
}

static inline bool in_arena(const void *p)
{
	return (uintptr_t)p - km.lo < km.hi - km.lo;
}

static inline size_t frame_index(const void *p)
{
	return ((uintptr_t)p - km.lo) >> KM_FRAME_SHIFT;
}

/* ---- the dirty bitmap ---------------------------------------------------------------- */

/* The bitmap word of frame idx and the mask of the frames [idx, idx + *n)
 * it holds; *n becomes how many of them that is. A whole word belongs to
 * the block covering it; a partial one may be shared with a neighbour, so
 * writes to it are atomic read-modify-writes. */
static inline uint64_t *dirty_word(size_t idx, size_t *n, uint64_t *mask)
{
	size_t bit = idx % 64, take = 64 - bit < *n ? 64 - bit : *n;

	*mask = take == 64 ? UINT64_MAX : (((uint64_t)1 << take) - 1) << bit;
	*n = take;
	return &km.dirty[idx / 64];
}

/* Mark frames [idx, idx + n) as holding data. */
static void dirty_set(size_t idx, size_t n)
{
	while (n) {
		size_t take = n;
		uint64_t mask, *w = dirty_word(idx, &take, &mask);

		if ((__atomic_load_n(w, __ATOMIC_RELAXED) & mask) != mask) {
			if (mask == UINT64_MAX)
				__atomic_store_n(w, UINT64_MAX, __ATOMIC_RELAXED);
			else
				__atomic_fetch_or(w, mask, __ATOMIC_RELAXED);
		}
		idx += take;
		n -= take;
	}
}

/* How many of the frames [idx, idx + n) may hold data. */
static size_t dirty_count(size_t idx, size_t n)
{
	size_t c = 0;

	while (n) {
		size_t take = n;
		uint64_t mask, *w = dirty_word(idx, &take, &mask);

		c += (size_t)__builtin_popcountll(__atomic_load_n(w, __ATOMIC_RELAXED) & mask);
		idx += take;
		n -= take;
	}
	return c;
}

/* Whether any of the frames [idx, idx + n) may hold data. */
static bool dirty_any(size_t idx, size_t n)
{
	while (n) {
		size_t take = n;
		uint64_t mask, *w = dirty_word(idx, &take, &mask);

		if (__atomic_load_n(w, __ATOMIC_RELAXED) & mask)
			return true;
		idx += take;
		n -= take;
	}
	return false;
}

static void dirty_clear(size_t idx, size_t n)
{
	while (n) {
		size_t take = n;
		uint64_t mask, *w = dirty_word(idx, &take, &mask);

		if (mask == UINT64_MAX)
			__atomic_store_n(w, 0, __ATOMIC_RELAXED);
		else
			__atomic_fetch_and(w, ~mask, __ATOMIC_RELAXED);
		idx += take;
		n -= take;
	}
}

/* ---- growth and release (frame service callbacks) --------------------------------------- */

static void rsv_push(void *blk, unsigned o)
{
	uint32_t u = (uint32_t)(frame_index(blk) >> KM_RELEASE_MIN_ORDER);

	km.rsv_next[u] = km.rsv_head[o];
	km.rsv_head[o] = u;
	km.rsv_frames += (size_t)1 << o;
}

static void *rsv_pop(unsigned o)
{
	uint32_t u = km.rsv_head[o];

	if (u == UINT32_MAX)
		return NULL;
	km.rsv_head[o] = km.rsv_next[u];
	km.rsv_frames -= (size_t)1 << o;
	return (void *)(km.lo + ((uintptr_t)u << (KM_FRAME_SHIFT + KM_RELEASE_MIN_ORDER)));
}

/* Put clean reserve blocks back into the buddy (rel lock held): the
 * smallest one of at least 2^order frames, or else all of them (buddies
 * merge back there). Returns the frames put back; *fits: whether a block of
 * 2^order frames was among them. */
static size_t rsv_give(unsigned order, bool *fits)
{
	size_t got = 0;

	*fits = false;
	if (!km.rsv_frames)
		return 0;
	for (unsigned o = order < KM_RELEASE_MIN_ORDER ? KM_RELEASE_MIN_ORDER : order;
	     o <= KM_MAX_ORDER; o++) {
		if (km.rsv_head[o] != UINT32_MAX) {
			kmem_buddy_free(km.b, rsv_pop(o));
			*fits = true;
			return (size_t)1 << o;
		}
	}
	for (unsigned o = KM_RELEASE_MIN_ORDER; o <= KM_MAX_ORDER; o++) {
		void *blk;

		while ((blk = rsv_pop(o)) != NULL) {
			kmem_buddy_free(km.b, blk);
			got += (size_t)1 << o;
		}
	}
	return got;
}

/* Whether the buddy has a free block of 2^order frames right now. */
static bool buddy_has(unsigned order)
{
	void *blk = kmem_buddy_alloc(km.b, order);

	if (blk)
		kmem_buddy_free(km.b, blk);
	return blk != NULL;
}

static size_t km_grow(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	size_t want = frames << KM_FRAME_SHIFT, have, sz, meta_sz, added = 0;
	/* the frame service asks for its block plus the low watermark */
	unsigned order = ceil_log2(frames > KM_WMARK_LOW ? frames - KM_WMARK_LOW : frames);
	bool fits;
	void *meta;
	int err;

	(void)arg;
	(void)pa;
	/* Called when free frames ran low or no free block is big enough
	 * (fragmentation). The clean reserve first (this also waits for a
	 * release pass, which holds blocks out of the buddy for a moment),
	 * then a new region (two threads racing here add two; address space
	 * is cheap). */
	kmem_lock_acquire(&km.rel_lock);
	added = rsv_give(order > KM_MAX_ORDER ? KM_MAX_ORDER : order, &fits);
	kmem_lock_release(&km.rel_lock);
	if (added && (fits || order > KM_MAX_ORDER || buddy_has(order)))
		return added;
	kmem_lock_acquire(&km.grow_lock);
	have = km.next - km.lo;
	sz = have / 4;
	if (sz < KM_REGION_MIN)
		sz = KM_REGION_MIN;
	if (sz > KM_REGION_MAX)
		sz = KM_REGION_MAX;
	if (sz < want)
		sz = want;
	sz = (sz + KM_BLOCK_MAX - 1) & ~(KM_BLOCK_MAX - 1);
	if (sz > km.hi - km.next)
		sz = (km.hi - km.next) & ~(KM_BLOCK_MAX - 1);
	if (sz < want || !sz)
		goto out;
	if (mprotect((void *)km.next, sz, PROT_READ | PROT_WRITE) != 0)
		goto out;
	meta_sz = kmem_buddy_region_meta_size(km.b, (void *)km.next, sz);
	meta = mmap(NULL, meta_sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (meta == MAP_FAILED) {
		(void)mprotect((void *)km.next, sz, PROT_NONE);
		goto out;
	}
	err = kmem_buddy_add_region(km.b, (void *)km.next, sz, meta, meta_sz);
	if (err) {
		munmap(meta, meta_sz);
		(void)mprotect((void *)km.next, sz, PROT_NONE);
		goto out;
	}
	km.next += sz;
	added += sz >> KM_FRAME_SHIFT;
out:
	kmem_lock_release(&km.grow_lock);
	return added;
}

/* Give memory back to the OS. Take every free block of 64 KiB or more out
 * of the buddy; keep up to `keep` frames of the dirty ones (larger blocks
 * first, the most recently freed first within an order) in the buddy:
 * they are likely reused soon, and releasing them would only make the next
 * allocations fault. madvise the other dirty ones, and move them and the
 * clean ones to the clean reserve. Returns the frames madvised. `wait`:
 * wait for a pass in progress (else return 0). */
static size_t km_release_keep(size_t keep, bool wait)
{
	size_t n = 0, released = 0, kept = 0, withdrawn = 0;

	if (wait)
		kmem_lock_acquire(&km.rel_lock);
	else if (!kmem_lock_try_acquire(&km.rel_lock))
		return 0;
	for (unsigned o = KM_MAX_ORDER; o >= KM_RELEASE_MIN_ORDER && n < km.scratch_cap;) {
		void *blk = kmem_buddy_alloc(km.b, o);

		if (!blk) {
			o--;
			continue;
		}
		km.scratch[n++] = (uintptr_t)blk | o;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned o = (unsigned)(km.scratch[i] & 63);
		void *blk = (void *)(km.scratch[i] & ~(uintptr_t)63);
		size_t idx = frame_index(blk), sz = (size_t)1 << o, d = dirty_count(idx, sz);

		if (d) {
			if (kept + d <= keep) {
				kept += d; /* stays resident, back to the buddy below */
				continue;
			}
			KMEM_ANNOT_UNDEFINED(blk, KM_FRAME << o);
			if (madvise(blk, KM_FRAME << o, MADV_DONTNEED) != 0) {
				kept += d; /* cannot release it: keep it usable */
				continue;
			}
			dirty_clear(idx, sz);
			released += d;
		}
		rsv_push(blk, o);
		withdrawn += sz;
		km.scratch[i] = 0;
	}
	/* the kept ones back, last taken first: each order's list keeps its
	 * most recently freed block at the head */
	for (size_t i = n; i-- > 0;)
		if (km.scratch[i])
			kmem_buddy_free(km.b, (void *)(km.scratch[i] & ~(uintptr_t)63));
	__atomic_store_n(&km.rel_next, kmem_buddy_free_frames(km.b) + km.high / 4, __ATOMIC_RELAXED);
	kmem_lock_release(&km.rel_lock);
	if (withdrawn)
		kmem_pa_withdrawn(km.pa, withdrawn); /* no lock of ours held: fork order */
	return released;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The frame service's release hook: free frames passed high + high / 4.
 * A pass runs when the buddy's free frames exceed what it would keep by a
 * quarter, and either the peak decayed since the last check or free frames
 * grew by high / 4 since the last pass (so a buddy full of small free
 * blocks a pass cannot take does not cause a pass per free). */
static size_t km_release(void *arg, struct kmem_pagealloc *pa, size_t frames)
{
	size_t free = kmem_buddy_free_frames(km.b), used, peak, keep;
	uint64_t now = now_ms(), last = __atomic_load_n(&km.decay_ms, __ATOMIC_RELAXED);
	bool decayed = false;

	(void)arg;
	(void)pa;
	(void)frames;
	used = __atomic_load_n(&km.used, __ATOMIC_RELAXED);
	peak = __atomic_load_n(&km.peak, __ATOMIC_RELAXED);
	if (now - last >= 1000) {
		uint64_t halvings = (now - last) / 1000;

		if (peak > used) {
			peak = used + ((peak - used) >> (halvings < 63 ? halvings : 63));
			decayed = true;
		}
		__atomic_store_n(&km.peak, peak, __ATOMIC_RELAXED);
		__atomic_store_n(&km.decay_ms, now, __ATOMIC_RELAXED);
	}
	keep = peak > used + km.high ? peak - used : km.high;
	if (free <= keep + keep / 4)
		return 0;
	if (!decayed && free < __atomic_load_n(&km.rel_next, __ATOMIC_RELAXED))
		return 0;
	return km_release_keep(keep, false);
}

/* Account frames handed out (n > 0) or taken back (n < 0). */
static inline void used_add(size_t n)
{
	size_t u = __atomic_add_fetch(&km.used, n, __ATOMIC_RELAXED);

	if (u > __atomic_load_n(&km.peak, __ATOMIC_RELAXED) && u < (SIZE_MAX >> 1))
		__atomic_store_n(&km.peak, u, __ATOMIC_RELAXED);
}

/* The slab instance's page source: the frame service, marking what it
 * hands out as dirty. */
static void *km_ps_alloc(void *ctx, unsigned order, unsigned flags)
{
	void *blk = kmem_pa_alloc(ctx, order, flags);

	if (blk) {
		dirty_set(frame_index(blk), (size_t)1 << order);
		used_add((size_t)1 << order);
	}
	return blk;
}

static void km_ps_free(void *ctx, void *block, unsigned order)
{
	used_add(-((size_t)1 << order));
	kmem_pa_free(ctx, block, order);
}

/* ---- set-up ------------------------------------------------------------------------------ */

static int trace_open(void);

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
		km.trace_fd = trace_open();
		/* without %p only this process traces: children that exec would
		 * truncate the file (unsetenv does not allocate) */
		if (!strstr(km.trace_path, "%p"))
			unsetenv("KMEM_TRACE");
	}
}

/* Open the trace file named by km.trace_path, "%p" replaced by the pid,
 * and write the header; -1 if it cannot be opened. */
static int trace_open(void)
{
	char path[sizeof(km.trace_path) + 24], pid[24];
	size_t n = 0, k = 0;
	unsigned long v = (unsigned long)getpid();
	int fd;

	do
		pid[k++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (const char *t = km.trace_path; *t && n < sizeof(path) - 24; t++) {
		if (t[0] == '%' && t[1] == 'p') {
			for (size_t i = k; i > 0; i--)
				path[n++] = pid[i - 1];
			t++;
		} else {
			path[n++] = *t;
		}
	}
	path[n] = 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		struct kmem_trace_header h;

		memcpy(h.magic, KMEM_TRACE_MAGIC, 8);
		h.version = KMEM_TRACE_VERSION;
		h.record_size = sizeof(struct kmem_trace_rec);
		km_write_all(fd, &h, sizeof(h));
	}
	return fd;
}

static void *map_noreserve(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void km_trace_exit(void *arg);
static void km_atexit(void);
static int km_format_heap(char *buf, size_t len);
static void km_prepare(void);
static void km_parent(void);
static void km_child(void);

static bool km_setup(void)
{
	size_t arena = env_size("KMEM_ARENA", KM_ARENA_DEFAULT), tab;
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;
	struct kmem_slab_config sc;
	struct kmem_page_source pps;
	unsigned char *inst;
	size_t bsz, psz, ssz;
	void *res = NULL;

	km_read_env();
	kmem_error_sink_init(&km.sink);
	km.sink.report = km_report;
	if (km.abort_on_error)
		km.sink.flags |= KMEM_ERROR_ABORT;
	if (kmem_lock_init(&km.grow_lock, true) || kmem_lock_init(&km.huge_lock, true) ||
	    kmem_lock_init(&km.rel_lock, true) || kmem_lock_init(&km.trace_lock, true))
		return false;
	/* the arena: reserved, aligned to the largest block */
	if (arena < KM_ARENA_MIN)
		arena = KM_ARENA_MIN;
	arena &= ~(KM_BLOCK_MAX - 1);
	for (; arena >= KM_ARENA_MIN; arena /= 2) {
		res = map_noreserve(arena + KM_BLOCK_MAX, PROT_NONE);
		if (res)
			break;
	}
	if (!res)
		return false;
	km.lo = ((uintptr_t)res + KM_BLOCK_MAX - 1) & ~(KM_BLOCK_MAX - 1);
	km.hi = km.lo + arena;
	km.next = km.lo;
	km.frames = arena >> KM_FRAME_SHIFT;
	/* owner table, dirty bitmap, release scratch: touched as used */
	km.scratch_cap = km.frames >> KM_RELEASE_MIN_ORDER;
	tab = km.frames * sizeof(void *) + km.frames / 8 + km.scratch_cap * sizeof(uintptr_t) +
	      km.scratch_cap * sizeof(uint32_t);
	inst = map_noreserve(tab, PROT_READ | PROT_WRITE);
	if (!inst)
		return false;
	km.owner = (void **)(void *)inst;
	inst += km.frames * sizeof(void *);
	km.dirty = (uint64_t *)(void *)inst;
	inst += km.frames / 8;
	km.scratch = (uintptr_t *)(void *)inst;
	inst += km.scratch_cap * sizeof(uintptr_t);
	km.rsv_next = (uint32_t *)(void *)inst;
	for (unsigned o = 0; o <= KM_MAX_ORDER; o++)
		km.rsv_head[o] = UINT32_MAX;

	kmem_buddy_config_init(&bc);
	bc.name = "kmem-malloc";
	bc.max_order = KM_MAX_ORDER;
	bc.max_regions = KMEM_BUDDY_REGION_LIMIT;
	bc.flags = KMEM_BUDDY_OWNERS;
	bc.sink = &km.sink;
	bc.owner_table = km.owner;
	bc.owner_base = (void *)km.lo;
	bc.owner_frames = km.frames;
	bsz = (kmem_buddy_sizeof(&bc) + 63) & ~(size_t)63;
	psz = (kmem_pa_sizeof() + 63) & ~(size_t)63;
	ssz = (kmem_slab_sizeof() + 63) & ~(size_t)63;
	inst = mmap(NULL, bsz + psz + ssz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (inst == MAP_FAILED)
		return false;
	if (kmem_buddy_init(inst, bsz, &bc, &km.b))
		return false;
	if (!km_grow(NULL, NULL, 1))
		return false;

	kmem_pa_config_init(&pc);
	pc.name = "kmem-malloc";
	pc.buddy = km.b;
	pc.sink = &km.sink;
	pc.init_policy = KMEM_PA_INIT_NONE;
	pc.flags = KMEM_PA_NO_BGZERO | KMEM_PA_RELEASE_INLINE | (km.reaper ? KMEM_PA_LAZY_REAPER : 0);
	pc.wmark_min = KM_WMARK_LOW / 2;
	pc.wmark_low = KM_WMARK_LOW;
	pc.wmark_high = km.high;
	pc.grow = km_grow;
	pc.release = km_release;
	if (kmem_pa_init(inst + bsz, psz, &pc, &km.pa))
		return false;
	kmem_pa_page_source(km.pa, &pps);
	km.ps = pps;
	km.ps.alloc_pages = km_ps_alloc;
	km.ps.free_pages = km_ps_free;

	memset(&sc, 0, sizeof(sc));
	sc.name = "kmem-malloc";
	sc.source = &km.ps;
	sc.sink = &km.sink;
	sc.debug_flags = km.debug;
	sc.waste_div = 32; /* 3% slab waste at most: 512-byte objects 31 to 16 KiB, not 7 to 4 KiB */
	if (kmem_slab_init(inst + bsz + psz, ssz, &sc, &km.s))
		return false;
	for (unsigned i = 0; i < KM_NCLASS; i++) {
		size_t sz = km_class_size[i];
		char name[32];

		snprintf(name, sizeof(name), "malloc-%zu", sz);
		km.cls[i] = kmem_cache_create(km.s, name, sz, kmem_is_pow2(sz) ? sz : KM_ALIGN,
					      0, NULL, NULL, NULL);
		if (!km.cls[i])
			return false;
	}
	for (unsigned i = 0, c = 0; i < KM_SMALL_MAX / KM_ALIGN; i++) {
		while (km_class_size[c] < (i + 1) * KM_ALIGN)
			c++;
		km.cls_index[i] = (uint8_t)c;
		km.cls_off[i] = (uint32_t)km.cls[c]->slot_off;
	}
	if (km.trace_fd >= 0 && pthread_key_create(&km.trace_key, km_trace_exit) == 0)
		km.trace_on = true;
	return true;
}

static KMEM_NOINLINE bool km_init_slow(void)
{
	int st = 0;

	if (km_in_init)
		return false; /* a call from inside set-up: the bootstrap arena */
	if (__atomic_compare_exchange_n(&km.state, &st, 1, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		bool ok;

		km_in_init = true;
		ok = km_setup();
		km_in_init = false;
		__atomic_store_n(&km.state, ok ? 2 : -1, __ATOMIC_RELEASE);
		if (ok) {
			/* these may allocate: the heap is ready now */
			pthread_atfork(km_prepare, km_parent, km_child);
			if (km.stats || km.trace_on || km.check_at_exit)
				atexit(km_atexit);
		}
		return ok;
	}
	while ((st = __atomic_load_n(&km.state, __ATOMIC_ACQUIRE)) == 1)
		sched_yield();
	return st == 2;
}

static inline bool km_ready(void)
{
	return KMEM_LIKELY(__atomic_load_n(&km.state, __ATOMIC_ACQUIRE) == 2) || km_init_slow();
}

__attribute__((constructor)) static void km_ctor(void)
{
	(void)km_ready();
}

/* Bootstrap arena: blocks handed out before the heap exists (a 16-byte
 * header holds the size). Never freed. */
static void *boot_alloc(size_t size, size_t align)
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

static inline bool in_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)km.boot < KM_BOOT_BYTES;
}

static size_t boot_size(const void *p)
{
	size_t n;

	memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(n));
	return n;
}

/* ---- the huge path: one mapping per block ------------------------------------------------- */

static size_t huge_slot(uintptr_t a, size_t cap)
{
	return (size_t)((a >> 12) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

/* huge lock held */
static bool huge_insert_locked(uintptr_t a, size_t len, size_t size)
{
	if ((km.huge_used + 1) * 4 >= km.huge_cap * 3) {
		size_t ncap = km.huge_cap ? km.huge_cap * 2 : 256;
		struct km_huge *nt = mmap(NULL, ncap * sizeof(*nt), PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (nt == MAP_FAILED)
			return false;
		for (size_t i = 0; i < km.huge_cap; i++) {
			const struct km_huge *e = &km.huge[i];

			if (e->addr > 1) {
				size_t j = huge_slot(e->addr, ncap);

				while (nt[j].addr)
					j = (j + 1) & (ncap - 1);
				nt[j] = *e;
			}
		}
		if (km.huge)
			munmap(km.huge, km.huge_cap * sizeof(*km.huge));
		km.huge = nt;
		km.huge_cap = ncap;
		km.huge_used = km.huge_n;
	}
	{
		size_t j = huge_slot(a, km.huge_cap);

		while (km.huge[j].addr > 1)
			j = (j + 1) & (km.huge_cap - 1);
		if (!km.huge[j].addr)
			km.huge_used++;
		km.huge[j].addr = a;
		km.huge[j].len = len;
		km.huge[j].size = size;
		km.huge_n++;
	}
	return true;
}

static struct km_huge *huge_find_locked(uintptr_t a)
{
	if (!km.huge_cap)
		return NULL;
	for (size_t j = huge_slot(a, km.huge_cap);; j = (j + 1) & (km.huge_cap - 1)) {
		struct km_huge *e = &km.huge[j];

		if (e->addr == a)
			return e;
		if (!e->addr)
			return NULL;
	}
}

static void *huge_alloc(size_t size, size_t align)
{
	size_t len, extra = align > KM_FRAME ? align : 0;
	uintptr_t a, b;
	void *p;

	if (size > SIZE_MAX - KM_FRAME - extra)
		return NULL;
	len = (size + KM_FRAME - 1) & ~(KM_FRAME - 1);
	p = mmap(NULL, len + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uintptr_t)p;
	if (extra) { /* trim to the alignment */
		b = (a + align - 1) & ~(align - 1);
		if (b > a)
			munmap(p, b - a);
		if (b + len < a + len + extra)
			munmap((void *)(b + len), a + extra - b);
		a = b;
	}
	kmem_lock_acquire(&km.huge_lock);
	if (!huge_insert_locked(a, len, len)) {
		kmem_lock_release(&km.huge_lock);
		munmap((void *)a, len);
		return NULL;
	}
	kmem_lock_release(&km.huge_lock);
	return (void *)a;
}

/* Free a huge block; false if p is not one. */
static bool huge_free(void *p)
{
	struct km_huge *e;
	size_t len;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked((uintptr_t)p);
	if (!e) {
		kmem_lock_release(&km.huge_lock);
		return false;
	}
	len = e->len;
	e->addr = 1;
	km.huge_n--;
	kmem_lock_release(&km.huge_lock);
	munmap(p, len);
	return true;
}

static size_t huge_size(const void *p)
{
	struct km_huge *e;
	size_t n = 0;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked((uintptr_t)p);
	if (e)
		n = e->size;
	kmem_lock_release(&km.huge_lock);
	return n;
}

/* Resize a huge block in place or by moving its pages (mremap); NULL if
 * that fails (p still valid). */
static void *huge_realloc(void *p, size_t size)
{
	size_t len = (size + KM_FRAME - 1) & ~(KM_FRAME - 1);
	struct km_huge *e;
	void *q;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked((uintptr_t)p);
	if (!e) {
		kmem_lock_release(&km.huge_lock);
		return NULL;
	}
	q = mremap(p, e->len, len, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) {
		kmem_lock_release(&km.huge_lock);
		return NULL;
	}
	if (q == p) {
		e->len = e->size = len;
	} else {
		e->addr = 1;
		km.huge_n--;
		if (!huge_insert_locked((uintptr_t)q, len, len)) {
			/* no room to remember it: give it back as a copy cannot be made */
			kmem_lock_release(&km.huge_lock);
			munmap(q, len);
			return NULL;
		}
	}
	kmem_lock_release(&km.huge_lock);
	return q;
}

/* ---- the page path --------------------------------------------------------------------------- */

static inline bool is_pdesc(const void *w)
{
	return (uintptr_t)w - (uintptr_t)km_ptab <= KM_BLOCK_FRAMES * sizeof(km_ptab[0]);
}

static inline size_t pdesc_frames(const void *w)
{
	return ((uintptr_t)w - (uintptr_t)km_ptab) / sizeof(km_ptab[0]);
}

static inline size_t pages_of(size_t size)
{
	return size ? (size + KM_FRAME - 1) >> KM_FRAME_SHIFT : 1;
}

/* Frames a trimmed block keeps for `frames` asked for (see km_ptab). */
static inline size_t exact_frames(size_t frames)
{
	unsigned order = ceil_log2(frames);
	size_t g = (size_t)1 << (order >= KM_EXACT_MIN_ORDER ? order - 3 : order);

	return (frames + g - 1) & ~(g - 1);
}

/* A page block of 2^order frames. */
static void *page_alloc(unsigned order, bool zero)
{
	void *blk = kmem_pa_alloc(km.pa, order, 0);
	size_t idx, frames = (size_t)1 << order;

	if (!blk)
		return NULL;
	idx = frame_index(blk);
	if (zero && dirty_any(idx, frames))
		memset(blk, 0, frames << KM_FRAME_SHIFT);
	dirty_set(idx, frames);
	used_add(frames);
	__atomic_store_n(&km.owner[idx], &km_ptab[frames], __ATOMIC_RELAXED);
	return blk;
}

/* Free the pieces of a page block of `frames` frames (owner word cleared). */
static void page_free(void *p, size_t frames)
{
	char *q = p;

	used_add(-frames);
	for (unsigned j = ceil_log2(frames) + 1; j-- > 0;) {
		if (frames & ((size_t)1 << j)) {
			kmem_pa_free(km.pa, q, j);
			q += KM_FRAME << j;
		}
	}
}

/* Shrink a live page block of `frames` frames in place to nf < frames
 * (nf a valid exact size of its order): pieces past nf are freed, the one
 * holding the new end is trimmed, the pieces keep the "one per set bit"
 * layout. */
static void page_shrink(void *p, size_t frames, size_t nf)
{
	char *q = p;
	size_t off = 0;

	for (unsigned j = ceil_log2(frames) + 1; j-- > 0;) {
		size_t n = (size_t)1 << j;

		if (!(frames & n))
			continue;
		if (off >= nf)
			kmem_pa_free(km.pa, q, j);
		else if (off + n > nf)
			(void)kmem_buddy_trim(km.b, q, (nf - off) << KM_FRAME_SHIFT);
		q += KM_FRAME << j;
		off += n;
	}
	used_add(-(frames - nf));
	__atomic_store_n(&km.owner[frame_index(p)], &km_ptab[nf], __ATOMIC_RELAXED);
}

/* ---- allocation ------------------------------------------------------------------------------- */

static void *km_alloc(size_t size, bool zero)
{
	void *p;

	if (KMEM_LIKELY(size <= KM_SMALL_MAX)) {
		p = kmem_cache_alloc(km.cls[km.cls_index[size ? (size - 1) / KM_ALIGN : 0]]);
		if (p && zero)
			memset(p, 0, size);
		return p;
	}
	if (size <= KM_BLOCK_MAX)
		return page_alloc(ceil_log2(pages_of(size)), zero);
	if (size > PTRDIFF_MAX)
		return NULL;
	return huge_alloc(size, 0); /* fresh mappings read zero */
}

/* align: a power of two > 16 */
static void *km_alloc_aligned(size_t size, size_t align)
{
	size_t want;

	if (size > PTRDIFF_MAX || align > PTRDIFF_MAX / 2 + 1)
		return NULL;
	want = size > align ? size : align;
	if (want <= KM_SMALL_MAX) /* power-of-two classes are aligned to their size */
		return kmem_cache_alloc(km.cls[km.cls_index[(((size_t)1 << ceil_log2(want)) - 1) /
							      KM_ALIGN]]);
	if (want <= KM_BLOCK_MAX) /* blocks are aligned to their order's size */
		return page_alloc(ceil_log2(pages_of(want)), false);
	return huge_alloc(size ? size : 1, align);
}

/* In the arena, an owner word is NULL, a page descriptor or a slab header
 * (the drop-in's caches are the only users of the arena). */
static const struct slab *as_slab(const void *w)
{
	const struct slab *sl = w;

	return sl && sl->magic == SLAB_MAGIC ? sl : NULL;
}

static size_t slab_usable(const void *w, const void *p, bool report)
{
	const struct slab *sl = as_slab(w);
	struct kmem_cache *c;
	enum kmem_status st;

	if (!sl) {
		if (report)
			km_misuse(w ? KMEM_FOREIGN_POINTER : KMEM_DOUBLE_FREE, p,
				  "not a live block of this heap");
		return 0;
	}
	c = sl->cache;
	st = kmem_cache_obj_state(c, (void *)(uintptr_t)sl, p);
	if (st != KMEM_OK) {
		if (report)
			km_misuse(st, p, "not the start of a live object");
		return 0;
	}
	/* red zones guard the bytes past the size asked for: only those are usable */
	return (c->flags & KMEM_CACHE_REDZONE) ? kmem_debug_req(c, p) : c->size;
}

/* Free of a pointer whose owner word is w (not a page descriptor). */
static void slab_free(const void *w, void *p)
{
	const struct slab *sl = as_slab(w);
	const struct kmem_cache *c;
	uintptr_t off;

	if (!sl) {
		km_misuse(w ? KMEM_FOREIGN_POINTER : KMEM_DOUBLE_FREE, p,
			  w ? "free of a pointer this heap never returned"
			    : "free of a block that is not allocated (double free?)");
		return;
	}
	c = sl->cache;
	off = (uintptr_t)p - (uintptr_t)sl->objs;
	if (off * c->div_magic < c->div_magic && off < c->span)
		kmem_cache_free(sl->cache, p); /* an object start: the magazine slow path */
	else
		(void)kmem_cache_free_checked(sl->cache, p); /* reports what is wrong */
}

/* The usable size of a live block, or 0 with a report if p is not one. */
static size_t km_usable(const void *p, bool report)
{
	if (in_arena(p)) {
		const void *w = __atomic_load_n(&km.owner[frame_index(p)], __ATOMIC_RELAXED);

		if (is_pdesc(w)) {
			size_t frames = pdesc_frames(w);

			if ((uintptr_t)p & ((KM_FRAME << ceil_log2(frames)) - 1)) {
				if (report)
					km_misuse(KMEM_INTERIOR_POINTER, p, "inside a page block");
				return 0;
			}
			return frames << KM_FRAME_SHIFT;
		}
		return slab_usable(w, p, report);
	}
	if (in_boot(p))
		return boot_size(p);
	{
		size_t n = huge_size(p);

		if (!n && report)
			km_misuse(KMEM_FOREIGN_POINTER, p, "not a block of this heap");
		return n;
	}
}

static void km_free(void *p)
{
	if (KMEM_LIKELY(in_arena(p))) {
		size_t idx = frame_index(p);
		const void *w = __atomic_load_n(&km.owner[idx], __ATOMIC_RELAXED);

		if (is_pdesc(w)) {
			size_t frames = pdesc_frames(w);

			if ((uintptr_t)p & ((KM_FRAME << ceil_log2(frames)) - 1)) {
				km_misuse(KMEM_INTERIOR_POINTER, p, "free of a pointer inside a page block");
				return;
			}
			if (!__atomic_compare_exchange_n(&km.owner[idx], (void **)&w, NULL, false,
							 __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
				km_misuse(KMEM_DOUBLE_FREE, p, "page block freed twice at once");
				return;
			}
			page_free(p, frames);
			return;
		}
		slab_free(w, p);
		return;
	}
	if (!p || in_boot(p))
		return;
	if (!huge_free(p))
		km_misuse(KMEM_FOREIGN_POINTER, p, "free of a pointer this heap never returned");
}

/* ---- tracing ------------------------------------------------------------------------------------ */

static void tbuf_flush(struct km_tbuf *t)
{
	if (t->n) {
		km_write_all(km.trace_fd, t->rec, t->n * sizeof(t->rec[0]));
		t->n = 0;
	}
}

static void km_trace_exit(void *arg)
{
	struct km_tbuf *t = arg;

	kmem_lock_acquire(&km.trace_lock);
	tbuf_flush(t);
	kmem_lock_release(&km.trace_lock);
	/* the buffer stays on the list (and mapped): exit may still look */
	km_tbuf = NULL;
}

static KMEM_NOINLINE void km_trace(unsigned op, size_t size, const void *ptr, const void *old,
				   unsigned align_log2, unsigned flags)
{
	struct km_tbuf *t = km_tbuf;
	struct kmem_trace_rec *r;

	if (!t) {
		t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (t == MAP_FAILED)
			return;
		kmem_lock_acquire(&km.trace_lock);
		t->tid = (uint16_t)++km.trace_tids;
		t->next = km.tbufs;
		km.tbufs = t;
		kmem_lock_release(&km.trace_lock);
		km_tbuf = t;
		(void)pthread_setspecific(km.trace_key, t);
	}
	r = &t->rec[t->n];
	r->op = (uint8_t)op;
	r->align_log2 = (uint8_t)align_log2;
	r->tid = t->tid;
	r->flags = flags;
	r->seq = __atomic_fetch_add(&km.trace_seq, 1, __ATOMIC_RELAXED);
	r->size = size;
	r->ptr = (uint64_t)(uintptr_t)ptr;
	r->old = (uint64_t)(uintptr_t)old;
	if (++t->n == KM_TRACE_BATCH) {
		kmem_lock_acquire(&km.trace_lock);
		tbuf_flush(t);
		kmem_lock_release(&km.trace_lock);
	}
}

#define TRACE(op, size, ptr, old, al, fl)                                          \
	do {                                                                       \
		if (KMEM_UNLIKELY(km.trace_on))                                    \
			km_trace((op), (size), (ptr), (old), (al), (fl));          \
	} while (0)

/* ---- statistics at exit -------------------------------------------------------------------------- */

static void km_atexit(void)
{
	static char buf[256 << 10];
	int n;

	if (km.trace_on) {
		kmem_lock_acquire(&km.trace_lock);
		for (struct km_tbuf *t = km.tbufs; t; t = t->next)
			tbuf_flush(t);
		kmem_lock_release(&km.trace_lock);
	}
	if (km.check_at_exit) {
		static const char ok[] = "kmem-malloc: heap check passed\n";
		static const char bad[] = "kmem-malloc: heap check FAILED\n";

		if (kmem_malloc_check() == 0)
			km_write_all(2, ok, sizeof(ok) - 1);
		else
			km_write_all(2, bad, sizeof(bad) - 1);
	}
	if (km.stats & 1) {
		n = kmem_slab_format_slabinfo(km.s, buf, sizeof(buf));
		if (n > 0)
			km_write_all(km.stats_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	}
	if (km.stats & 2) {
		n = kmem_buddy_format_buddyinfo(km.b, buf, sizeof(buf));
		if (n > 0)
			km_write_all(km.stats_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	}
	if (km.stats & 4) {
		n = kmem_pa_format_vmstat(km.pa, buf, sizeof(buf));
		if (n > 0)
			km_write_all(km.stats_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	}
	if (km.stats & 8) {
		n = kmem_pa_format_zoneinfo(km.pa, buf, sizeof(buf));
		if (n > 0)
			km_write_all(km.stats_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	}
	if (km.stats & 16) {
		n = km_format_heap(buf, sizeof(buf));
		if (n > 0)
			km_write_all(km.stats_fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	}
}

/* ---- fork ------------------------------------------------------------------------------------------ */

static void km_prepare(void)
{
	if (__atomic_load_n(&km.state, __ATOMIC_ACQUIRE) != 2)
		return;
	kmem_slab_fork_prepare(km.s);
	kmem_pa_fork_prepare(km.pa);
	kmem_lock_acquire(&km.grow_lock);
	kmem_lock_acquire(&km.huge_lock);
	kmem_lock_acquire(&km.rel_lock);
	kmem_lock_acquire(&km.trace_lock);
	kmem_buddy_fork_prepare(km.b);
}

static void km_parent(void)
{
	if (__atomic_load_n(&km.state, __ATOMIC_ACQUIRE) != 2)
		return;
	kmem_buddy_fork_parent(km.b);
	kmem_lock_release(&km.trace_lock);
	kmem_lock_release(&km.rel_lock);
	kmem_lock_release(&km.huge_lock);
	kmem_lock_release(&km.grow_lock);
	kmem_pa_fork_parent(km.pa);
	kmem_slab_fork_parent(km.s);
}

static void km_child(void)
{
	if (__atomic_load_n(&km.state, __ATOMIC_ACQUIRE) != 2)
		return;
	kmem_buddy_fork_child(km.b);
	kmem_lock_release(&km.trace_lock);
	kmem_lock_release(&km.rel_lock);
	kmem_lock_release(&km.huge_lock);
	kmem_lock_release(&km.grow_lock);
	kmem_pa_fork_child(km.pa);
	kmem_slab_fork_child(km.s);
	/* a child traces into its own file (KMEM_TRACE with %p), from seq 0,
	 * or not at all; the other threads' buffers did not come along */
	if (km.trace_on) {
		close(km.trace_fd);
		km.trace_fd = strstr(km.trace_path, "%p") ? trace_open() : -1;
		km.trace_seq = 0;
		km.trace_tids = 0;
		km.tbufs = NULL;
		if (km.trace_fd < 0) {
			km.trace_on = false;
		} else if (km_tbuf) {
			km_tbuf->n = 0;
			km_tbuf->tid = (uint16_t)++km.trace_tids;
			km_tbuf->next = NULL;
			km.tbufs = km_tbuf;
		}
	}
}

/* ---- extras (kmem/malloc.h) -------------------------------------------------------------- */

/* The clean reserve's invariants: every block inside the part of the arena
 * in use, aligned to its order, allocated in the buddy at that order (held
 * out of it), reading as zero (no dirty frame) and with no owner; the
 * stacks add up to rsv_frames. Reports each broken one. */
static int rsv_check(void)
{
	size_t total = 0, count = 0, limit = km.scratch_cap;
	int bad = 0;

	kmem_lock_acquire(&km.rel_lock);
	for (unsigned o = 0; o <= KM_MAX_ORDER; o++) {
		for (uint32_t u = km.rsv_head[o]; u != UINT32_MAX; u = km.rsv_next[u]) {
			uintptr_t a = km.lo + ((uintptr_t)u << (KM_FRAME_SHIFT + KM_RELEASE_MIN_ORDER));
			const char *what = NULL;

			if (++count > limit) {
				what = "a stack loops";
			} else if (o < KM_RELEASE_MIN_ORDER) {
				what = "a block below the release order";
			} else if (a + (KM_FRAME << o) > km.next || (a - km.lo) & ((KM_FRAME << o) - 1)) {
				what = "a block outside the arena or misaligned";
			} else if (kmem_buddy_block_order(km.b, (void *)a) != (int)o) {
				what = "a block the buddy does not hold out at its order";
			} else if (dirty_any(frame_index((void *)a), (size_t)1 << o)) {
				what = "a block with dirty frames";
			} else if (__atomic_load_n(&km.owner[frame_index((void *)a)], __ATOMIC_RELAXED)) {
				what = "a block with an owner";
			}
			if (what) {
				km_write_all(2, "kmem-malloc: check: clean reserve: ", 35);
				km_write_all(2, what, strlen(what));
				km_write_all(2, "\n", 1);
				bad = 1;
				if (count > limit)
					break;
			}
			total += (size_t)1 << o;
		}
	}
	if (!bad && total != km.rsv_frames) {
		static const char msg[] = "kmem-malloc: check: clean reserve: count differs from its blocks\n";

		km_write_all(2, msg, sizeof(msg) - 1);
		bad = 1;
	}
	kmem_lock_release(&km.rel_lock);
	return bad;
}

KM_EXPORT int kmem_malloc_check(void)
{
	int e1, e2, e3;

	if (__atomic_load_n(&km.state, __ATOMIC_ACQUIRE) != 2)
		return -EAGAIN;
	e1 = kmem_pa_check(km.pa);
	e2 = kmem_slab_check(km.s);
	e3 = rsv_check();
	return e1 || e2 || e3 ? -EIO : 0;
}

KM_EXPORT size_t kmem_malloc_trim(size_t keep)
{
	size_t free, keep_frames = keep >> KM_FRAME_SHIFT, got;

	if (!km_ready())
		return 0;
	(void)kmem_slab_shrink(km.s);
	(void)kmem_pa_drain(km.pa);
	free = kmem_buddy_free_frames(km.b);
	if (free <= keep_frames)
		return 0;
	got = km_release_keep(keep_frames, true);
	return got << KM_FRAME_SHIFT;
}

/* The drop-in's own numbers, "name value" lines (kmem/malloc.h). */
static int km_format_heap(char *buf, size_t len)
{
	struct kmem_fmt f;
	size_t dirty, mapped, rsv, huge_n, huge_bytes = 0;

	kmem_lock_acquire(&km.grow_lock);
	mapped = km.next - km.lo;
	kmem_lock_release(&km.grow_lock);
	dirty = dirty_count(0, mapped >> KM_FRAME_SHIFT);
	kmem_lock_acquire(&km.rel_lock);
	rsv = km.rsv_frames;
	kmem_lock_release(&km.rel_lock);
	kmem_lock_acquire(&km.huge_lock);
	huge_n = km.huge_n;
	for (size_t i = 0; i < km.huge_cap; i++)
		if (km.huge[i].addr > 1)
			huge_bytes += km.huge[i].len;
	kmem_lock_release(&km.huge_lock);
	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "arena_bytes %zu\n", (size_t)(km.hi - km.lo));
	kmem_fmt_printf(&f, "mapped_bytes %zu\n", mapped);
	kmem_fmt_printf(&f, "used_pages %zu\n", __atomic_load_n(&km.used, __ATOMIC_RELAXED));
	kmem_fmt_printf(&f, "peak_pages %zu\n", __atomic_load_n(&km.peak, __ATOMIC_RELAXED));
	kmem_fmt_printf(&f, "dirty_pages %zu\n", dirty);
	kmem_fmt_printf(&f, "reserve_pages %zu\n", rsv);
	kmem_fmt_printf(&f, "high_pages %zu\n", km.high);
	kmem_fmt_printf(&f, "huge_blocks %zu\n", huge_n);
	kmem_fmt_printf(&f, "huge_bytes %zu\n", huge_bytes);
	return kmem_fmt_result(&f);
}

KM_EXPORT int kmem_malloc_stats(const char *what, char *buf, size_t len)
{
	if (!km_ready() || !what)
		return -1;
	if (!strcmp(what, "slabinfo"))
		return kmem_slab_format_slabinfo(km.s, buf, len);
	if (!strcmp(what, "buddyinfo"))
		return kmem_buddy_format_buddyinfo(km.b, buf, len);
	if (!strcmp(what, "vmstat"))
		return kmem_pa_format_vmstat(km.pa, buf, len);
	if (!strcmp(what, "zoneinfo"))
		return kmem_pa_format_zoneinfo(km.pa, buf, len);
	if (!strcmp(what, "heap"))
		return km_format_heap(buf, len);
	return -1;
}

KM_EXPORT int malloc_trim(size_t pad)
{
	return kmem_malloc_trim(pad) != 0;
}

/* ---- the C API ---------------------------------------------------------------------------------- */

static KMEM_NOINLINE void *malloc_slow(size_t size);

/* The fast paths: a pop from / push onto the calling thread's magazine of
 * the size class, inlined (the same steps as kmem_alloc/kmem_free, without
 * the calls). Builds with Valgrind/ASan annotations take the library
 * calls, which annotate. */
static inline bool fast_alloc(size_t size, void **out)
{
#if KMEM_ANNOT_ENABLED
	(void)size;
	(void)out;
	return false;
#else
	return size - 1 < KM_SMALL_MAX && mag_pop_off(km.cls_off[(size - 1) / KM_ALIGN], out);
#endif
}

static inline bool fast_free(void *p)
{
#if KMEM_ANNOT_ENABLED
	(void)p;
	return false;
#else
	size_t idx = ((uintptr_t)p - km.lo) >> KM_FRAME_SHIFT;
	const struct slab *sl;
	const struct kmem_cache *c;
	uintptr_t off;

	if (KMEM_UNLIKELY(idx >= km.frames))
		return false;
	sl = __atomic_load_n(&km.owner[idx], __ATOMIC_RELAXED);
	if (KMEM_UNLIKELY(!sl || sl->magic != SLAB_MAGIC)) /* page descriptors read 0 */
		return false;
	c = sl->cache;
	off = (uintptr_t)p - (uintptr_t)sl->objs;
	return off * c->div_magic < c->div_magic && off < c->span && mag_push_off(sl->slot_off, p);
#endif
}

KM_EXPORT void *malloc(size_t size)
{
	void *p;

	if (KMEM_LIKELY(__atomic_load_n(&km.state, __ATOMIC_ACQUIRE) == 2) && !km.trace_on &&
	    fast_alloc(size, &p))
		return p;
	return malloc_slow(size);
}

static KMEM_NOINLINE void *malloc_slow(size_t size)
{
	void *p;

	if (KMEM_UNLIKELY(!km_ready()))
		return boot_alloc(size ? size : 1, KM_ALIGN);
	p = km_alloc(size, false);
	if (KMEM_UNLIKELY(!p))
		errno = ENOMEM;
	TRACE(KMEM_TRACE_MALLOC, size, p, NULL, 0, size ? 0 : KMEM_TRACE_F_ZERO_SIZE);
	return p;
}

KM_EXPORT void free(void *p)
{
	int e;

	if (KMEM_LIKELY(!km.trace_on) && fast_free(p))
		return;
	if (!p)
		return;
	e = errno;
	if (KMEM_LIKELY(__atomic_load_n(&km.state, __ATOMIC_ACQUIRE) == 2)) {
		TRACE(KMEM_TRACE_FREE, 0, p, NULL, 0, 0);
		km_free(p);
	}
	errno = e;
}

KM_EXPORT void *calloc(size_t nmemb, size_t size)
{
	size_t n;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	if (KMEM_UNLIKELY(!km_ready()))
		return boot_alloc(n ? n : 1, KM_ALIGN); /* static storage: zero */
	p = km_alloc(n, true);
	if (KMEM_UNLIKELY(!p))
		errno = ENOMEM;
	TRACE(KMEM_TRACE_CALLOC, n, p, NULL, 0, n ? 0 : KMEM_TRACE_F_ZERO_SIZE);
	return p;
}

static void *km_realloc(void *p, size_t size)
{
	size_t have;
	void *q;

	if (!p || in_boot(p)) {
		q = km_alloc(size, false);
		if (!q)
			errno = ENOMEM;
		else if (p)
			memcpy(q, p, boot_size(p) < size ? boot_size(p) : size);
		return q;
	}
	have = km_usable(p, true);
	if (!have) {
		errno = EINVAL; /* reported: p is not a live block */
		return NULL;
	}
	if (size <= have) {
		if (have <= KM_SMALL_MAX) {
			if (size > have / 2 || size <= KM_ALIGN)
				return p;
		} else if (!in_arena(p)) {
			if (size > have / 4)
				return p;
		} else if (size > have / 4) {
			return p;
		} else if (size > KM_SMALL_MAX) {
			/* a page block shrinking to a quarter or less: give the
			 * frames past the new end back */
			size_t frames = have >> KM_FRAME_SHIFT, nf = exact_frames(pages_of(size));

			if (nf < frames)
				page_shrink(p, frames, nf);
			return p;
		}
		/* else to a slab object */
	} else if (!in_arena(p) && size > KM_BLOCK_MAX) {
		q = huge_realloc(p, size);
		if (!q)
			errno = ENOMEM;
		return q;
	}
	q = km_alloc(size, false);
	if (!q) {
		errno = ENOMEM; /* p stays as it was */
		return NULL;
	}
	memcpy(q, p, have < size ? have : size);
	km_free(p);
	return q;
}

KM_EXPORT void *realloc(void *p, size_t size)
{
	void *q;

	if (KMEM_UNLIKELY(!km_ready())) {
		q = boot_alloc(size ? size : 1, KM_ALIGN);
		if (q && p)
			memcpy(q, p, boot_size(p) < size ? boot_size(p) : size);
		return q;
	}
	if (p && !size) {
		int e = errno;

		TRACE(KMEM_TRACE_REALLOC, 0, NULL, p, 0, KMEM_TRACE_F_ZERO_SIZE);
		km_free(p); /* one record: the REALLOC */
		errno = e;
		return NULL;
	}
	if (size > PTRDIFF_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	q = km_realloc(p, size); /* sets errno when it fails */
	TRACE(KMEM_TRACE_REALLOC, size, q, p, 0, size ? 0 : KMEM_TRACE_F_ZERO_SIZE);
	return q;
}

KM_EXPORT void *reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, n);
}

/* align: a power of two; returns the block or NULL (errno untouched). */
static void *km_memalign(size_t align, size_t size)
{
	void *p;

	if (KMEM_UNLIKELY(!km_ready()))
		return boot_alloc(size ? size : 1, align);
	if (align <= KM_ALIGN)
		p = km_alloc(size, false);
	else
		p = km_alloc_aligned(size, align);
	TRACE(KMEM_TRACE_MEMALIGN, size, p, NULL, kmem_flsptr(align), size ? 0 : KMEM_TRACE_F_ZERO_SIZE);
	return p;
}

KM_EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;

	if (!kmem_is_pow2(align) || align % sizeof(void *))
		return EINVAL;
	p = km_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

KM_EXPORT void *aligned_alloc(size_t align, size_t size)
{
	void *p;

	if (!kmem_is_pow2(align)) {
		errno = EINVAL;
		return NULL;
	}
	p = km_memalign(align, size);
	if (!p)
		errno = ENOMEM;
	return p;
}

KM_EXPORT void *memalign(size_t align, size_t size)
{
	return aligned_alloc(align, size);
}

KM_EXPORT void *valloc(size_t size)
{
	return aligned_alloc(KM_FRAME, size);
}

KM_EXPORT void *pvalloc(size_t size)
{
	size_t n = (size + KM_FRAME - 1) & ~(KM_FRAME - 1);

	if (n < size) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned_alloc(KM_FRAME, n ? n : KM_FRAME);
}

KM_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p || !km_ready())
		return p && in_boot(p) ? boot_size(p) : 0;
	return km_usable(p, true);
}

/* glibc's names for the same functions, so code that calls them directly
 * (or a library that interposes on them) stays on this heap. */
KM_EXPORT void cfree(void *p);
KM_EXPORT void cfree(void *p)
{
	free(p);
}
