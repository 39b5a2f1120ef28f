/* slab_internal.h - private structures of the slab layer, shared by slab.c
 * (caches, slabs, alloc, free) and slab_info.c (stats, slabinfo, checker),
 * and by white-box tests.
 *
 * A slab is a naturally aligned page-source block of 2^slab_order frames:
 *
 *   | struct slab | used bitmap | colour | obj 0 | obj 1 | ... | slack |
 *   ^ slab base (every frame's owner word points here)   ^ objs
 *
 *   used bit i   set iff object i is allocated; bits n.. of the last word
 *                are set too (padding), so they are never handed out.
 *   hint         no word before used[hint] has a clear bit: allocation
 *                scans from there (lowest free object first), free lowers it.
 *   Objects hold no links, so constructed state survives a free; the bitmap
 *   costs 1 bit per object, so even 8-byte objects meet the waste bound.
 *
 * Partial slabs sit in 16 fullness buckets (coarse classes: a slab is
 * relinked when its fill crosses a sixteenth, not at every object), so
 * allocation takes the fullest partial slab (Bonwick: let nearly empty
 * slabs drain) with one clz on partial_mask, the least full with one ctz:
 *   bucket(inuse) = inuse * bucket_mul >> 16,  bucket_mul = (16 << 16) / n
 *   e.g. n = 500 (8-byte objects in 4 KiB): bucket_mul = 2097, a slab with
 *   7 objects in use is in bucket 0, one with 499 in bucket 15; n = 10: 7
 *   in use is bucket 11, 2 in use bucket 3 (n < 16 leaves buckets unused).
 * The MRU policy keeps every partial slab on partial[0] instead, the one
 * most recently allocated from or freed into first. Each slab records the
 * list it is on (sl->list: a bucket, SLAB_LIST_EMPTY or SLAB_LIST_FULL), so
 * a batch of frees or allocations on one slab settles its list once, at
 * the end of the batch, and a slab that stays in its class is not touched.
 *
 * Direct caches (objects that cannot meet the waste bound in a slab) give
 * each object its own page-source block; its owner word points to the
 * cache's embedded pseudo slab header dhdr (magic DIRECT_MAGIC, cache set,
 * kmalloc_of NULL), so every owner word of this layer is a struct slab and
 * kmem_free's fast path needs no tag test.
 *
 * Invariants (kmem_cache_check() verifies all; asserts cite them), at
 * every release of the cache lock:
 *   S1. A slab of cache c is on exactly one list of c, the one sl->list
 *       names, and, unless it is c->cur (S7), sl->list ==
 *       slab_target(c, inuse): empty iff inuse == 0, full iff inuse == n,
 *       else partial[bucket(inuse)] (FULLEST, LEAST) or partial[0] (MRU);
 *       bit b of partial_mask is set iff partial[b] is non-empty;
 *       sl->batch is 0.
 *   S2. Exactly inuse of the bits 0..n-1 are set, every padding bit is set,
 *       and no word before used[hint] has a clear bit.
 *   S3. Every frame of a slab has the slab as its owner word.
 *   S4. nr_slabs, nr_empty and active_objs equal what the lists hold.
 *   S5. nr_empty <= empty_keep (the instance's empty_keep policy), and
 *       empty_min <= nr_empty (the idle call's working set, decision 36).
 *   S6. A slab's colour is below c->colours (1 with colouring off), and its
 *       objects start colour * max(align, COLOUR_STEP) bytes past
 *       objs_offset (plus the debug layout's obj_off).
 *   S7. c->cur, the current slab (decision 42), is NULL or a slab of c
 *       with 0 < inuse < n, on the list it records (S1 but for the
 *       target): the one-object paths take from it and free into it with
 *       no list change. Only a cache without magazines (slot 0) whose
 *       policy is FULLEST has one. It stops being current, and is settled
 *       (S1), when it fills, when it empties and before a bulk allocation.
 *
 * Locking: s->lock protects the instance's cache list; c->lock protects a
 * cache's lists, slabs' headers and counters. Lock order: instance lock,
 * cache lock, page source. Page allocation, constructors and destructors
 * run with no slab lock held (a constructor may allocate from a cache).
 */
#ifndef KMEM_SLAB_INTERNAL_H
#define KMEM_SLAB_INTERNAL_H

#include <kmem/slab.h>

#include "kmem_annot.h"
#include "kmem_port.h"
#include "kmem_report.h"
#include "fast/kmem_slab_fast.h" /* the fast paths, and the structures they read */

#define SLAB_MAGIC 0x736c6162u	/* "slab" */
#define CACHE_MAGIC 0x63616368u	/* "cach" */
#define SLAB_INSTANCE_MAGIC 0x6b736c62u
#define SLAB_NAME_MAX 32
#define SLAB_BUCKETS 16
#define SLAB_LIST_EMPTY SLAB_BUCKETS	/* sl->list of a slab on c->empty */
#define SLAB_LIST_FULL (SLAB_BUCKETS + 1)	/* ... on c->full */
#define KMEM_SLAB_LARGE_ORDERS 32
#define DIRECT_MAGIC 0x64697263u	/* "dirc": dhdr of a direct cache */
#define COLOUR_STEP 64	/* cache line */
#define CACHE_KMALLOC 0x80000000u	/* internal flag: a kmalloc class */
#define CACHE_FORCE_DIRECT 0x40000000u	/* internal flag: one block per object */

/* Loops counted by the instrumented build (KMEM_STEP, kmem_base.h; decision
 * 33), each with what bounds it (kmem/slab.h states the bound of every call;
 * tests/test_slab_steps.c checks them). n = objects per slab, W = its
 * bitmap words = ceil(n / SLAB_WORD_BITS), M = the cache's magazine size,
 * R = max(M / 2, 1) the refill, D = the depot limit:
 *   TAKE     slab_take_locked, one per object taken: <= the batch asked for;
 *   WORD     slab_take_locked, one per bitmap word looked at: <= W a slab;
 *   PICK     alloc_batch_locked, one per slab taken from: <= the batch;
 *   GROW     slab_create, one per slab made (one page-source allocation);
 *   CTOR     slab_create / slab_release, one per object constructed,
 *            destructed (or annotated): <= n a slab made or released;
 *   FLUSH    kmem_slab_free_batch, one per object validated: <= 61;
 *   SETTLE   kmem_slab_free_batch, one per slab the batch touched: <= 61;
 *   RELEASE  slab_release, one per slab given back to the page source;
 *   BATCH    mag_flush, one per slab-layer batch: ceil(rounds / 61);
 *   MAGSCAN  kmem_mag_holds_locked, one per round compared: <= (2 + D) * M;
 *   CACHE    the instance's shrink and count walks, one per cache;
 *   CLASS    kmem_alloc_aligned, one per class tried: <= the classes;
 *            kmem_alloc past the fast index (kmalloc.c, K1), one per class
 *            passed: <= KMEM_KMALLOC_BIG_CLASSES. */
enum slab_step {
	SLAB_STEP_TAKE = KMEM_STEP_SLAB_BASE,
	SLAB_STEP_WORD,
	SLAB_STEP_PICK,
	SLAB_STEP_GROW,
	SLAB_STEP_CTOR,
	SLAB_STEP_FLUSH,
	SLAB_STEP_SETTLE,
	SLAB_STEP_RELEASE,
	SLAB_STEP_BATCH,
	SLAB_STEP_MAGSCAN,
	SLAB_STEP_CACHE,
	SLAB_STEP_CLASS,
	SLAB_STEP_END
};
_Static_assert(SLAB_STEP_END <= KMEM_STEP_PA_BASE, "the slab's step kinds stay below the frame service's");
#if KMEM_SLAB_DEBUG
#define CACHE_DEBUG_FLAGS (KMEM_CACHE_REDZONE | KMEM_CACHE_POISON | KMEM_CACHE_STORE_USER)
#else
#define CACHE_DEBUG_FLAGS 0u	/* compiled out: no cache has one, the tests fold away */
#endif

/* Debug layout (any of CACHE_DEBUG_FLAGS; slab caches only). Each object's
 * stride-sized slot is
 *   | struct obj_track | left red zone | object (size) | right red zone |
 *     at track_off (0)                  ^ obj_off        rz_right bytes
 * with the object, never the slot, handed out (obj_off is a multiple of the
 * alignment; the left zone is the rest of obj_off, REDZONE_BYTES at least
 * with KMEM_CACHE_REDZONE). The caller records come before the object and
 * its left zone, so an overflow of the object runs through its own right
 * zone into the next slot's records, never into its own: the report about
 * the overflowed object names its callers (T1 catches the neighbour's).
 * Red zones hold RED_ACTIVE; a kmalloc object's bytes past the requested
 * size are red zone too while it is allocated. Free objects of a poisoned
 * cache hold POISON_FREE in every byte.
 *
 * Invariant (kmem_cache_check() verifies it; the reports rely on it):
 *   T1. Every slot's obj_track has check == track_check(track) (its fields
 *       and its address mixed with TRACK_KEY): records that fail it were
 *       overwritten, and are reported as such, never printed. */
#define REDZONE_BYTES 16
#define RED_ACTIVE 0xcc
#define POISON_FREE 0x6b
#define TRACK_KEY ((uintptr_t)0x6b6d656d74726b31ull)	/* "kmemtrk1" */
struct obj_track {
	const void *alloc_by, *free_by;	/* return addresses of the last alloc / free */
	size_t req;			/* bytes requested (kmalloc), else the object size */
	uintptr_t check;		/* T1 */
};

/* ---- magazines (Bonwick & Adams 2001), see magazine.c ----------------------
 *
 * A magazine is an array of up to cap object pointers; a thread holds two
 * per cache (loaded and previous) in its thread block, found through one
 * initial-exec TLS pointer plus the cache's slot offset; the slot keeps the
 * loaded one's top, base and end pointers for the fast paths. Slot 0 and the
 * shared null thread block hold the null magazine (cap 0), so a cache or a
 * thread without magazines takes the slow path with no extra test.
 *
 * Invariants (kmem_cache_check() verifies M1-M3 at quiescence):
 *   M1. An object of a cache is exactly one of: free in its slab (bit
 *       clear); in one magazine (a thread's or the depot's; bit set);
 *       allocated (bit set, in no magazine).
 *   M2. Depot lists hold nfull full and nempty empty magazines of cap
 *       c->mag_cap; full ones have rounds == cap, empty ones 0.
 *   M3. A thread block's slot s holds magazines of cache c only while its
 *       holder s names c and is on c->holders.
 *   M4. Policy (kmem_slab_config.mag_size, .depot_limit; decision 30):
 *       nfull <= c->depot_max; c->mag_cap <= the instance's mag_rounds_max
 *       (what a magazine object holds); a thread's magazines have cap ==
 *       c->mag_cap, or less with a self-tuning size (sizes only grow).
 *   M5. A slot's base is its loaded magazine's obj, its end obj + cap, and
 *       base <= top <= end; top - base is the loaded magazine's rounds (its
 *       own field is written back only when a slow path syncs the slot).
 */
#ifndef KMEM_MAG_SLOTS
#define KMEM_MAG_SLOTS 128
#endif
#define KMEM_MAG_MAX_ROUNDS 61	/* the default's largest: 24-byte header + 61 pointers = 512
				 * bytes; and the slab layer's batch bound (magazine.c
				 * flushes a larger magazine in batches of this many) */
#define KMEM_DEPOT_MAX_FULL KMEM_DEPOT_DEFAULT	/* the default depot limit (kmem/slab.h) */

/* struct kmem_mag, struct kmem_mag_slot: kmem_slab_fast.h */

struct kmem_mag_holder {
	struct kmem_cache *cache;	/* NULL: slot unused by this thread */
	struct kmem_list_node link;	/* on cache->holders (registry lock) */
	struct kmem_thread *thread;
};

struct kmem_thread {
	struct kmem_mag_slot slot[KMEM_MAG_SLOTS];
	struct kmem_mag_holder holder[KMEM_MAG_SLOTS];
};

/* kmem_mag_self (the calling thread's block: its slab area of the per-thread
 * context, kmem_tctx.h, or the null block) and struct slab, the slab header:
 * kmem_slab_fast.h */

struct kmem_cache {
	/* --- read by the fast paths: first cache line --- */
	struct kmem_cache_fast fast;	/* div_magic, span: first (kmem_slab_fast.h) */
	size_t slot_off;	/* byte offset of this cache's slot in a thread block */
	struct kmem_slab *kmalloc_of;	/* the instance, for kmalloc classes; else NULL */
	size_t stride;		/* bytes between objects in a slab */
	unsigned objs;		/* objects per slab (n); 1 for direct caches */
	uint32_t magic;
	unsigned flags;
	bool direct;
	struct kmem_slab *owner;
	size_t size, align;
	unsigned order;		/* slab (or direct block) order */
	size_t slab_bytes;
	size_t objs_offset;	/* header + bitmap, aligned: where slot 0 may start */
	size_t obj_off, rz_right, track_off;	/* debug layout, all 0 without debug flags */
	unsigned colours;
	char name[SLAB_NAME_MAX];
	void (*ctor)(void *obj, void *arg);
	void (*dtor)(void *obj, void *arg);
	void *arg;
	struct kmem_list_node link;	/* on the instance's cache list (its lock) */
	struct kmem_lock lock;

	unsigned colour_next;	/* relaxed atomic: next slab's colour */
	/* slab policies (kmem_slab_config; immutable, copied from the instance) */
	unsigned partial_policy;	/* KMEM_SLAB_PARTIAL_* */
	unsigned empty_keep;	/* S5 */
	uint32_t bucket_mul;	/* (SLAB_BUCKETS << 16) / objs: bucket() */
	unsigned slot;		/* magazine slot (0: no magazines) */
	unsigned mag_cap;	/* rounds per magazine */

	struct slab dhdr;	/* direct caches: what their blocks' owner words point to */

	/* --- protected by the registry lock (magazine.c) --- */
	struct kmem_list holders;	/* struct kmem_mag_holder by link, newest first */

	/* --- protected by lock --- */
	struct slab *cur;	/* the current slab (S7, decision 42); NULL: none */
	struct kmem_list partial[SLAB_BUCKETS];	/* of struct slab, by link */
	uint32_t partial_mask;
	struct kmem_list full, empty;
	size_t nr_slabs, nr_empty, active_objs;
	size_t empty_min;	/* fewest empty slabs since the last idle call (<= nr_empty) */
	uint64_t allocs, frees, slabs_created, slabs_released, fails;
	/* depot: LIFO stacks of struct kmem_mag by link */
	struct kmem_slist depot_full, depot_empty;
	unsigned nfull, nempty, min_full, min_empty; /* min_*: working set since the last reap */
	/* policy (decision 30; M4): set at creation, mag_cap grows under lock */
	unsigned depot_max;	/* full magazines kept (UINT_MAX: KMEM_DEPOT_AUTO) */
	bool mag_auto, depot_auto;	/* KMEM_MAG_SIZE_AUTO, KMEM_DEPOT_AUTO */
	unsigned depot_takes, contended;	/* in the current contention window */
	unsigned depot_ops;	/* depot exchanges since the last reap (depot_auto) */
	uint64_t depot_contended, mag_resizes, depot_reaps;
	uint64_t mag_allocs, mag_frees;	/* served by magazines (folded) */
	uint64_t depot_gets, depot_puts, mag_flushes;
};

struct kmem_slab {
	struct kmem_slab_fast fast;	/* first: owner lookup, class_off (kmem_slab_fast.h) */
	uint32_t magic;
	char name[SLAB_NAME_MAX];
	struct kmem_page_source ps;
	struct kmem_error_sink *sink;
	struct kmem_error_sink own_sink;
	unsigned debug;		/* debug flags every cache gets */
	unsigned waste_div;	/* geometry bound: waste <= slab bytes / waste_div */
	unsigned partial_policy, empty_keep;	/* every cache's (kmem_slab_config) */
	bool no_colour;
	bool hits_uncounted;	/* kmem_slab_hits_uncounted: slow paths fold no hit counts */
	struct kmem_lock lock;
	struct kmem_list caches;	/* live caches by link, newest first (lock) */
	struct kmem_cache cache_cache;	/* where struct kmem_cache objects come from */
#if KMEM_MAGAZINES
	struct kmem_cache mag_cache;	/* where magazines come from (none without magazines) */
#endif
	/* magazine policy (kmem_slab_config; magazine.c, kmem_mag_config) */
	unsigned mag_size, depot_limit;	/* as configured (0: default) */
	unsigned mag_rounds_max;	/* rounds a magazine object holds */
	/* registered with the page source (pagealloc) when it reclaims; slab
	 * never calls the source with its own locks held, so a direct
	 * reclaim inside a slab allocation may scan this instance */
	struct kmem_shrinker shrinker;
	bool shrinker_on;
	/* kmalloc (immutable after init; K1-K3 in kmalloc.c) */
	unsigned nr_classes;	/* classes made (a tiny source drops the large ones) */
	size_t class_max;	/* the largest class made (0: none) */
	struct kmem_cache *kmalloc[KMEM_KMALLOC_TABLE_MAX];	/* ascending sizes */
	struct kmem_cache *kmalloc_large[KMEM_SLAB_LARGE_ORDERS];	/* blocks over class_max */
	uint8_t size_index[KMEM_KMALLOC_INDEX];	/* (size - 1) >> 3 -> class, sizes <= class_max */
};

/* KMEM_SLAB_SIZEOF (kmem/slab.h) bounds the instance on every target and
 * lock kind: 7496 bytes on x86-64 (release, futex locks), 6560 on
 * Cortex-M4 (736 and 360 fewer since the 16 fullness classes, decision 28). */
_Static_assert(sizeof(struct kmem_slab) <= KMEM_SLAB_SIZEOF,
	       "KMEM_SLAB_SIZEOF bounds the instance: raise it (kmem/slab.h)");

/* The magazine whose link is n (n not NULL). */
static inline struct kmem_mag *mag_of_link(struct kmem_slist_node *n)
{
	return KMEM_LIST_ENTRY(n, struct kmem_mag, link);
}

/* Every live cache c of instance s, newest first (s->lock held). */
#define SLAB_FOR_EACH_CACHE(c, s) KMEM_LIST_FOR_EACH_ENTRY(c, &(s)->caches, struct kmem_cache, link)

/* ---- fast paths ---------------------------------------------------------------- */

/* The page source's owner word of p's frame: read directly from the
 * source's owner table when p is in its range, else through get_owner. */
static inline void *slab_owner(const struct kmem_slab *s, const void *p)
{
	uintptr_t idx = ((uintptr_t)p - s->fast.owner_base) >> s->fast.frame_shift;

	if (KMEM_LIKELY(idx < s->fast.owner_frames))
		return kmem_atomic_load_relaxed(&s->fast.owner_words[idx]);
	return s->ps.get_owner(s->ps.ctx, p);
}

/* An owner word as a slab header: NULL for NULL and for tags (another
 * owner's frame, kmem/page_source.h), never dereferenced then. */
static inline struct slab *slab_of_owner(void *own)
{
	return kmem_owner_is_tag(own) ? NULL : own;
}

/* Pop from this thread's loaded magazine of c into *out; false when it is empty. */
static inline bool mag_pop(struct kmem_cache *c, void **out)
{
	return kmem_mag_pop_off(c->slot_off, out);
}

/* Push onto this thread's loaded magazine of c; false when it is full. */
static inline bool mag_push(struct kmem_cache *c, void *p)
{
	return kmem_mag_push_off(c->slot_off, p);
}

/* ---- annotations (kmem_annot.h) ----------------------------------------------
 *
 * What memcheck and ASan see of a slab (itself a chunk of the page source's
 * pool, e.g. the buddy's):
 *   header, bitmap, obj_track  allocator metadata: DEFINED (the fast paths
 *                              read headers without the cache lock)
 *   free objects, red zones, colour, padding, slack: NOACCESS; code that
 *                              reads or writes them (constructors at slab
 *                              creation, destructors at release, poison and
 *                              red-zone checks) opens them and closes them
 *   an object the user holds   a malloc-like block: OBJ_ALLOC at every
 *                              allocation that reaches the user (magazine
 *                              pops included), OBJ_FREE at every free (pushes
 *                              included); a kmalloc object of a red-zone
 *                              cache is a block of the size asked for (the
 *                              rest of its class size is red zone)
 *   objects in magazines       NOACCESS: freed, as far as users are concerned
 *   direct objects             whole page-source blocks: the source's
 *                              annotations cover them, no block of our own
 * Objects of caches with a constructor keep constructed state while free,
 * so they are DEFINED when handed out: reads of fields the constructor left
 * uninitialised are not reported for them (use-after-free and overflows
 * still are). The internal caches' objects (struct kmem_cache, magazines)
 * are blocks too, so a use of a destroyed cache is reported. When a slab
 * goes back to its source, objects still allocated (leaked) stop being
 * blocks, and the slab is handed back addressable, as it came. */
static inline size_t slab_annot_bytes(const struct kmem_cache *c, size_t req)
{
	return (c->flags & KMEM_CACHE_REDZONE) && req < c->size ? req : c->size;
}

static inline size_t slab_annot_rz(const struct kmem_cache *c)
{
	return (c->flags & KMEM_CACHE_REDZONE) ? REDZONE_BYTES : 0;
}

/* Object p (NULL: none) reaches the user; req as passed to the slab layer. */
static inline void *slab_annot_alloc(struct kmem_cache *c, void *p, size_t req)
{
	if (KMEM_ANNOT_ENABLED && p && !c->direct) {
		KMEM_ANNOT_OBJ_ALLOC(p, slab_annot_bytes(c, req), slab_annot_rz(c));
		if (c->ctor)
			KMEM_ANNOT_DEFINED(p, c->size); /* constructed state */
	}
	return p;
}

/* Object p of c (validated) comes back from the user. */
static inline void slab_annot_free(struct kmem_cache *c, void *p)
{
	if (KMEM_ANNOT_ENABLED && !c->direct)
		KMEM_ANNOT_OBJ_FREE(p, c->size, slab_annot_rz(c));
}

/* The user's p went onto a magazine unchecked (kmem_cache_free's push). */
#define SLAB_ANNOT_PUSH(c, p)                                                   \
	do {                                                                    \
		if (KMEM_ANNOT_ENABLED && KMEM_ANNOT_ACTIVE())                  \
			kmem_slab_annot_push((c), (p));                         \
	} while (0)

/* The used bitmap (S2) is of words of the target's natural width,
 * unsigned long: on a 32-bit core a word's ctz is one instruction (64-bit
 * words were a libgcc call, __ctzdi2, and shifts of register pairs, on
 * Cortex-M4); on LP64 the words are 64 bits as before. */
#define SLAB_WORD_BITS ((unsigned)sizeof(unsigned long) * 8u)
#define SLAB_BIT(i) (1UL << ((i) % SLAB_WORD_BITS)) /* object i's bit in its word */

static inline unsigned long *slab_used_bits(struct slab *s)
{
	return (unsigned long *)(void *)(s + 1);
}

static inline unsigned slab_words(const struct kmem_cache *c)
{
	return (c->objs + SLAB_WORD_BITS - 1) / SLAB_WORD_BITS;
}

/* Object i's used bit (S2). */
static inline bool slab_bit(const unsigned long *used, unsigned i)
{
	return (used[i / SLAB_WORD_BITS] >> (i % SLAB_WORD_BITS)) & 1u;
}

/* inuse * bucket_mul fits 32 bits: it is at most n * (SLAB_BUCKETS << 16)
 * / n, so the bucket is a multiplication and a shift, no division. */
_Static_assert(((uint64_t)SLAB_BUCKETS << 16) <= UINT32_MAX, "bucket()'s product fits 32 bits");
static inline unsigned slab_bucket(const struct kmem_cache *c, unsigned inuse)
{
	return (uint32_t)inuse * c->bucket_mul >> 16;
}

/* The list (sl->list) a slab with `inuse` objects belongs on (S1). */
static inline unsigned slab_target(const struct kmem_cache *c, unsigned inuse)
{
	if (inuse == 0)
		return SLAB_LIST_EMPTY;
	if (inuse == c->objs)
		return SLAB_LIST_FULL;
	return c->partial_policy == KMEM_SLAB_PARTIAL_MRU ? 0 : slab_bucket(c, inuse);
}

/* The list named by a list index (sl->list). */
static inline struct kmem_list *slab_list_at(struct kmem_cache *c, unsigned list)
{
	if (list == SLAB_LIST_EMPTY)
		return &c->empty;
	if (list == SLAB_LIST_FULL)
		return &c->full;
	return &c->partial[list];
}

/* ---- defined in slab.c ----------------------------------------------------- */
struct debug_who;	/* slab_debug.c, below */
#if KMEM_ERROR_TEXT
/* Raise a report for cache c (c may be NULL: instance-level). */
KMEM_HIDDEN void kmem_slab_report(struct kmem_slab *s, const struct kmem_cache *c,
				  enum kmem_status st, const void *ptr, const void *caller,
				  const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* kmem_slab_report with what the debug records say of the object (w NULL
 * or not known: nothing). */
KMEM_HIDDEN void kmem_slab_report_who(struct kmem_slab *s, const struct kmem_cache *c,
				      enum kmem_status st, const void *ptr, const void *caller,
				      const struct debug_who *w, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
#else
/* The error text compiled out: the same reports with the detail "", their
 * formats and arguments type-checked but neither linked nor evaluated
 * (kmem_report.h). */
KMEM_HIDDEN void kmem_slab_raise(struct kmem_slab *s, const struct kmem_cache *c,
				 enum kmem_status st, const void *ptr, const void *caller,
				 const struct debug_who *w);
#define kmem_slab_report(s, c, st, ptr, caller, ...)                                   \
	(KMEM_DETAIL_DROP(__VA_ARGS__), kmem_slab_raise((s), (c), (st), (ptr), (caller), NULL))
#define kmem_slab_report_who(s, c, st, ptr, caller, w, ...)                            \
	(KMEM_DETAIL_DROP(__VA_ARGS__), kmem_slab_raise((s), (c), (st), (ptr), (caller), (w)))
#endif
/* slab_annot_free(c, p) if p is an object of c (magazine pushes trust their
 * argument; misuse is reported when the magazine is flushed, and must not
 * poison memory that is not an object). */
KMEM_HIDDEN void kmem_slab_annot_push(struct kmem_cache *c, void *p);
/* Checked free straight to the slab layer (no magazine). */
KMEM_HIDDEN enum kmem_status kmem_cache_free_from(struct kmem_cache *c, void *p, const void *caller);
/* One object from the slab layer (no magazine); NULL when out of memory. */
KMEM_HIDDEN void *kmem_slab_alloc_one(struct kmem_cache *c, size_t req, const void *caller);
/* Up to n objects from the slab layer into objs; returns how many. */
KMEM_HIDDEN size_t kmem_slab_alloc_batch(struct kmem_cache *c, size_t n, void **objs);
/* Return n objects (from magazines) to their slabs, validating each;
 * misuse is reported with `why` and the object skipped. No lock held.
 * Returns the frames of slabs this released to the page source. */
KMEM_HIDDEN size_t kmem_slab_free_batch(struct kmem_cache *c, void **objs, size_t n, const char *why);
/* Release every empty slab; returns frames. */
KMEM_HIDDEN size_t kmem_cache_release_empty(struct kmem_cache *c);
/* The idle call's part for one cache (decision 36): the depot magazines
 * not needed since the last call (kmem_mag_shrink's working set), then the
 * empty slabs none of which was taken since the last call (empty_min, the
 * least recently emptied first), the kept ones too; returns frames. */
KMEM_HIDDEN size_t kmem_cache_release_idle(struct kmem_cache *c);
/* ---- defined in magazine.c ----------------------------------------------------- */
/* The magazine policy of cfg into s (before its magazine cache is made):
 * -EINVAL if cfg->mag_size is out of range, else 0. */
KMEM_HIDDEN int kmem_mag_config(struct kmem_slab *s, const struct kmem_slab_config *cfg);
/* Bytes of one magazine object of s (kmem_mag_config ran). */
static inline size_t kmem_mag_bytes(const struct kmem_slab *s)
{
	return sizeof(struct kmem_mag) + (size_t)s->mag_rounds_max * sizeof(void *);
}
#if KMEM_MAGAZINES
KMEM_HIDDEN void kmem_mag_cache_init(struct kmem_cache *c);
/* Test hook: count n contended depot lock takes for c, as if n slow paths
 * had found its lock held (a self-tuning size grows at the next depot
 * exchange once KMEM_MAG_CONTENTION are counted in a window). */
KMEM_HIDDEN void kmem_mag_contention_inject(struct kmem_cache *c, unsigned n);
/* Detach every thread's magazines and empty the depot (cache destroy). */
KMEM_HIDDEN void kmem_mag_cache_fini(struct kmem_cache *c);
/* The magazine was empty (full): exchange with the depot, refill from the
 * slabs, or (no magazines for this cache or thread) go to the slab layer.
 * Call them only after this thread's pop (push) on c's slot missed. The
 * free leaves errno as it was (the drop-in's free relies on it). */
KMEM_HIDDEN void *kmem_mag_alloc_slow(struct kmem_cache *c, size_t req, const void *caller);
KMEM_HIDDEN void kmem_mag_free_slow(struct kmem_cache *c, void *p, const void *caller);
/* Flush the calling thread's magazines of c and (all: every depot
 * magazine; else the depot's unused working-set surplus) to the slabs. */
KMEM_HIDDEN size_t kmem_mag_shrink(struct kmem_cache *c, bool all); /* frames released */
/* With c->lock held: true if p sits in the calling thread's magazines of c
 * or in the depot. */
KMEM_HIDDEN bool kmem_mag_holds_locked(struct kmem_cache *c, const void *p);
/* For the checker: call fn on every magazine of c (depot and every thread's);
 * with the registry lock and c->lock held by the caller via
 * kmem_mag_registry_lock(). */
KMEM_HIDDEN void kmem_mag_registry_lock(void);
KMEM_HIDDEN void kmem_mag_registry_unlock(void);
/* True if the calling thread holds the registry lock (asserts). */
KMEM_HIDDEN bool kmem_mag_registry_held(void);
KMEM_HIDDEN bool kmem_mag_walk_locked(struct kmem_cache *c,
				      bool (*fn)(struct kmem_cache *c, struct kmem_mag *m, void *arg),
				      void *arg);
/* Objects in the calling thread's magazines and the depot (stats). */
KMEM_HIDDEN size_t kmem_mag_depot_objs_locked(const struct kmem_cache *c);
#else
/* Magazines compiled out (-Dmagazines, off without threads: a magazine would
 * save no lock there and cost its thread block): every cache goes to its
 * slabs, slot 0 (none), and the calls below fold into the slab layer.
 * magazine.c keeps only the fork handlers. */
static inline void kmem_mag_cache_init(struct kmem_cache *c)
{
	c->slot = 0;
	c->slot_off = 0;
	c->mag_cap = 0;
}
static inline void kmem_mag_contention_inject(struct kmem_cache *c, unsigned n)
{
	(void)c;
	(void)n;
}
static inline void kmem_mag_cache_fini(struct kmem_cache *c) { (void)c; }
static inline void *kmem_mag_alloc_slow(struct kmem_cache *c, size_t req, const void *caller)
{
	return slab_annot_alloc(c, kmem_slab_alloc_one(c, req, caller), req);
}
static inline void kmem_mag_free_slow(struct kmem_cache *c, void *p, const void *caller)
{
	(void)kmem_cache_free_from(c, p, caller);
}
static inline size_t kmem_mag_shrink(struct kmem_cache *c, bool all)
{
	(void)c;
	(void)all;
	return 0;
}
static inline bool kmem_mag_holds_locked(struct kmem_cache *c, const void *p)
{
	(void)c;
	(void)p;
	return false;
}
static inline void kmem_mag_registry_lock(void) {}
static inline void kmem_mag_registry_unlock(void) {}
static inline bool kmem_mag_registry_held(void) { return true; }
static inline bool kmem_mag_walk_locked(struct kmem_cache *c,
					bool (*fn)(struct kmem_cache *c, struct kmem_mag *m, void *arg),
					void *arg)
{
	(void)c;
	(void)fn;
	(void)arg;
	return true;
}
static inline size_t kmem_mag_depot_objs_locked(const struct kmem_cache *c)
{
	(void)c;
	return 0;
}
#endif /* KMEM_MAGAZINES */
/* ---- defined in slab_debug.c ------------------------------------------------------- */
/* What the debug records say of an object: its size asked for and its
 * callers (known false: no records, or records that fail T1). */
struct debug_who {
	bool known;
	size_t req;
	const void *alloc_by, *free_by;
};
/* A debug finding made under the cache lock, reported after unlocking. */
struct debug_fault {
	enum kmem_status st;
	const void *ptr;
	struct debug_who who;
	char detail[192];
};
#if KMEM_SLAB_DEBUG
KMEM_HIDDEN void kmem_debug_layout(struct kmem_cache *c);
KMEM_HIDDEN void kmem_debug_init_slab(struct kmem_cache *c, struct slab *sl);
/* Object p leaves the slab (c->lock held): check poison and red zones,
 * stamp the caller and the requested size, arm the kmalloc tail zone. */
KMEM_HIDDEN void kmem_debug_alloc_locked(struct kmem_cache *c, void *p, size_t req,
					 const void *caller, struct debug_fault *df);
/* Object p goes back (c->lock held): check its records (T1) and red zones
 * (repairing them), poison it, stamp the caller. */
KMEM_HIDDEN void kmem_debug_free_locked(struct kmem_cache *c, void *p, const void *caller,
					struct debug_fault *df);
/* The neighbours of object idx of a slab (objects idx - 1 and idx + 1,
 * used: the slab's bitmap), at every alloc and free of a red-zone cache
 * (c->lock held): their records (T1) and red zones checked and repaired,
 * the first fault left in *df (naming the neighbour). So an overflow past
 * a live block that is never freed is found when the block next to it is
 * handed out or comes back. O(2 zones + 2 tracks). */
KMEM_HIDDEN void kmem_debug_neighbours_locked(struct kmem_cache *c, char *objs, const unsigned long *used,
					      unsigned idx, struct debug_fault *df);
/* Live object p (c->lock held): its records (T1) and red zones checked,
 * the zones repaired, the first fault in *df. */
KMEM_HIDDEN void kmem_debug_verify_locked(struct kmem_cache *c, char *p, struct debug_fault *df);
/* Checker: records (T1) and red zones of any object, poison of a free one
 * (c->lock held). */
KMEM_HIDDEN bool kmem_debug_check_locked(struct kmem_cache *c, void *p, bool allocated,
					 struct debug_fault *df);
KMEM_HIDDEN void kmem_debug_report(struct kmem_cache *c, const struct debug_fault *df,
				   const void *caller);
/* The size asked for when live object p was allocated (its class size if
 * unknown). */
KMEM_HIDDEN size_t kmem_debug_req(const struct kmem_cache *c, const void *p);
/* The records of object p of a STORE_USER cache (c->lock held, or the
 * object not in use by anyone else); w->known false for other caches and
 * for records that fail T1. */
KMEM_HIDDEN void kmem_debug_who(const struct kmem_cache *c, const void *p, struct debug_who *w);
#else
/* Debug caches compiled out (-Dslab_debug, off when freestanding): no cache
 * has a debug flag (kmem_cache_create and kmem_slab_init refuse them), and
 * these fold away. */
static inline void kmem_debug_layout(struct kmem_cache *c) { (void)c; }
static inline void kmem_debug_init_slab(struct kmem_cache *c, struct slab *sl)
{
	(void)c;
	(void)sl;
}
static inline void kmem_debug_alloc_locked(struct kmem_cache *c, void *p, size_t req,
					   const void *caller, struct debug_fault *df)
{
	(void)c;
	(void)p;
	(void)req;
	(void)caller;
	(void)df;
}
static inline void kmem_debug_free_locked(struct kmem_cache *c, void *p, const void *caller,
					  struct debug_fault *df)
{
	(void)c;
	(void)p;
	(void)caller;
	(void)df;
}
static inline void kmem_debug_neighbours_locked(struct kmem_cache *c, char *objs,
						const unsigned long *used, unsigned idx,
						struct debug_fault *df)
{
	(void)c;
	(void)objs;
	(void)used;
	(void)idx;
	(void)df;
}
static inline void kmem_debug_verify_locked(struct kmem_cache *c, char *p, struct debug_fault *df)
{
	(void)c;
	(void)p;
	(void)df;
}
static inline bool kmem_debug_check_locked(struct kmem_cache *c, void *p, bool allocated,
					   struct debug_fault *df)
{
	(void)c;
	(void)p;
	(void)allocated;
	(void)df;
	return true;
}
static inline void kmem_debug_report(struct kmem_cache *c, const struct debug_fault *df,
				     const void *caller)
{
	(void)c;
	(void)df;
	(void)caller;
}
static inline size_t kmem_debug_req(const struct kmem_cache *c, const void *p)
{
	(void)p;
	return c->size;
}
static inline void kmem_debug_who(const struct kmem_cache *c, const void *p, struct debug_who *w)
{
	(void)c;
	(void)p;
	w->known = false;
}
#endif /* KMEM_SLAB_DEBUG */
/* (slab.c) Live object p of a debug cache, checked now
 * (kmem_check_object_track_caller): its zones and its neighbours'; the
 * fault reported. KMEM_OK for other caches. */
KMEM_HIDDEN enum kmem_status kmem_cache_verify_live(struct kmem_cache *c, void *own, void *p,
						    const void *caller);
/* Create a cache with internal flags allowed (kmalloc classes). */
KMEM_HIDDEN struct kmem_cache *kmem_cache_create_flags(struct kmem_slab *s, const char *name,
						       size_t size, size_t align, unsigned flags);
/* KMEM_OK if p starts an allocated object of c (owner word `own`), else the
 * status a free of p would report (nothing is reported here). */
KMEM_HIDDEN enum kmem_status kmem_cache_obj_state(struct kmem_cache *c, void *own, const void *p);
/* ---- defined in kmalloc.c ---------------------------------------------------- */
/* -EINVAL if cfg's class table is unknown or invalid, else 0 (nothing made). */
KMEM_HIDDEN int kmem_kmalloc_check_config(const struct kmem_slab_config *cfg);
/* The class caches, the size tables and the large caches, as cfg says. */
KMEM_HIDDEN int kmem_kmalloc_init(struct kmem_slab *s, const struct kmem_slab_config *cfg);

#endif /* KMEM_SLAB_INTERNAL_H */
