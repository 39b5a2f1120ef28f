/* buddy.c - power-of-two buddy allocator: regions, allocation, free,
 * reservations.
 *
 * Algorithm (Knowlton 1965; Knuth TAOCP 2.5; Linux mm/page_alloc.c):
 *   1. Each region is cut into the largest naturally aligned blocks that fit
 *      (order <= max_order), all free.
 *   2. alloc(k): take the lowest order j >= k with a free block (one ctz on
 *      order_mask), pop a block from the lowest region that has one (ctz on
 *      avail[j]); while j > k, split: j--, the upper half (idx + 2^j) goes on
 *      list j. Mark the block USED with order k.
 *   3. free(p): find the region (binary search by address), read the block's
 *      tag; while order < max_order and the buddy (pfn ^ 2^order) is a FREE
 *      block of the same order, unlink it and merge (the lower pfn heads the
 *      merged block); push the result on its list.
 *   4. Misuse (the tag is not a USED head) takes the slow path: the block
 *      containing the pointer is found by testing the heads at pfn rounded
 *      down to 2^0, 2^1, ... 2^max_order, the first whose block covers pfn.
 *   5. Policies (FIFO, address order, grouping by type; buddy_policy.c):
 *      the fast paths serve only the default (LIFO, no grouping). With a
 *      policy, two gates (I8) send every allocation and free to the slow
 *      paths, whose list operations (list_*_any) then go through
 *      buddy_policy.c; the default's own slow paths keep their LIFO list
 *      code (merge_locked and free_general instantiated twice).
 * Bound: alloc O(max_order); free O(log2 regions + max_order); the misuse
 * path O(log2 regions + max_order); reserve/unreserve O(max_order) per block
 * touched. No operation scans frames or lists. Checked by counting: each
 * bounded loop calls KMEM_STEP (buddy_internal.h lists them with their
 * bounds), which the instrumented build of tests/test_buddy_steps.c counts.
 *
 * The firmware profile (KMEM_BUDDY_HOTADD, _RESERVE, _FAST 0; buddy_internal.h,
 * docs/decisions.md 31) compiles out hot-add (one region: region[0], no
 * search, no avail[] masks), reservations, and the fast paths in front of
 * alloc_slow and free_any_slow.
 *
 * Data structures and invariants I1-I8 (P1, P2, G1-G3 for policies): see
 * buddy_internal.h.
 *
 * Locking: b->lock protects all mutable instance state; public functions take
 * it, *_locked helpers assert it. Errors are reported after the lock is
 * dropped, so a sink callback may call read-only functions of the instance.
 *
 * Annotations (kmem_annot.h): the instance is a memcheck meta-pool whose
 * chunks are the allocated blocks; free frames are NOACCESS (the frame table
 * lies outside them, so the allocator never touches them); reserved frames
 * are DEFINED (their owner's); destroy drops the pool and leaves the frames
 * DEFINED. Every alloc and free annotates under the lock. A split or trim
 * shrinks the block's chunk before its pieces become chunks (no two chunks
 * overlap at any moment).
 *
 * Tunables (struct kmem_buddy_config): frame_size (4096), max_order (10),
 * max_regions (8), KMEM_BUDDY_NOLOCK, discipline (LIFO), KMEM_BUDDY_GROUPING
 * and pageblock_order (off; max_order - 1). KMEM_BUDDY_POLICIES (Meson's
 * buddy_policies) compiles the policies out.
 */
#include "kmem_annot.h"
#include "buddy_internal.h"
#include "kmem_fmt.h"

#include <errno.h>
#include <string.h>

/* A misuse found under the lock, raised after it is dropped. */
struct buddy_error {
	enum kmem_status status;
	const void *ptr;
	int order;
#if KMEM_ERROR_TEXT
	char detail[112];
#else
	const char *detail;	/* "" (kmem_report.h) */
#endif
};

/* The report's detail: formatted, or with the error text compiled out ""
 * (the format and its arguments type-checked, not linked: kmem_report.h). */
#if KMEM_ERROR_TEXT
#define buddy_detailf(e, ...) kmem_snprintf((e)->detail, sizeof((e)->detail), __VA_ARGS__)
#else
#define buddy_detailf(e, ...) (KMEM_DETAIL_DROP(__VA_ARGS__), (void)((e)->detail = ""))
#endif

static void buddy_raise(struct kmem_buddy *b, const struct buddy_error *e, const void *caller)
{
	kmem_report(b->sink, "buddy", b->name, e->status, e->ptr, e->order, caller, e->detail);
}

/* ---- configuration ------------------------------------------------------- */

/* Without hot-add an instance has one region slot (KMEM_BUDDY_HOTADD). */
#define BUDDY_DEFAULT_REGIONS (KMEM_BUDDY_HOTADD ? KMEM_BUDDY_DEFAULT_REGIONS : 1)

struct buddy_geometry {
	unsigned frame_shift, max_order, max_regions;
	unsigned pb_order;	/* with KMEM_BUDDY_GROUPING */
	bool policy;		/* anything but LIFO without grouping */
};

static int buddy_geometry(const struct kmem_buddy_config *cfg, struct buddy_geometry *g)
{
	size_t fs = cfg->frame_size ? cfg->frame_size : KMEM_BUDDY_DEFAULT_FRAME;

	if (!kmem_is_pow2(fs) || fs < KMEM_BUDDY_MIN_FRAME || fs > KMEM_BUDDY_MAX_FRAME)
		return -EINVAL;
	g->frame_shift = kmem_flsptr(fs);
	g->max_order = cfg->max_order ? cfg->max_order : KMEM_BUDDY_DEFAULT_ORDER;
	if (g->max_order > KMEM_BUDDY_ORDER_LIMIT ||
	    g->frame_shift + g->max_order >= sizeof(uintptr_t) * 8)
		return -EINVAL;
	g->max_regions = cfg->max_regions ? cfg->max_regions : BUDDY_DEFAULT_REGIONS;
	if (g->max_regions > KMEM_BUDDY_REGION_LIMIT || (cfg->flags & ~KMEM_BUDDY_FLAGS_ALL))
		return -EINVAL;
	if (cfg->owner_table && (!(cfg->flags & KMEM_BUDDY_OWNERS) || !cfg->owner_frames ||
				 ((uintptr_t)cfg->owner_base & (fs - 1))))
		return -EINVAL;
	if (cfg->discipline > KMEM_BUDDY_ADDRESS || cfg->pageblock_order > g->max_order ||
	    (cfg->pageblock_order && !(cfg->flags & KMEM_BUDDY_GROUPING)))
		return -EINVAL;
	g->pb_order = cfg->pageblock_order ? cfg->pageblock_order
					   : (g->max_order > 1 ? g->max_order - 1 : 1);
	g->policy = cfg->discipline != KMEM_BUDDY_LIFO || (cfg->flags & KMEM_BUDDY_GROUPING);
	if ((!KMEM_BUDDY_POLICIES && g->policy) || (!KMEM_BUDDY_HOTADD && g->max_regions > 1))
		return -ENOTSUP;
	return 0;
}

void kmem_buddy_config_init(struct kmem_buddy_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = "buddy";
	cfg->frame_size = KMEM_BUDDY_DEFAULT_FRAME;
	cfg->max_order = KMEM_BUDDY_DEFAULT_ORDER;
	cfg->max_regions = BUDDY_DEFAULT_REGIONS;
}

/* Instance storage: the instance, the region slots, the policy area. */
static size_t buddy_bytes(unsigned max_regions, bool policy)
{
	size_t n = sizeof(struct kmem_buddy) + max_regions * sizeof(struct buddy_region);

#if KMEM_BUDDY_POLICIES
	n += kmem_buddy_pol_bytes(max_regions, policy);
#else
	(void)policy;
#endif
	return n;
}

size_t kmem_buddy_sizeof(const struct kmem_buddy_config *cfg)
{
	struct kmem_buddy_config def;
	struct buddy_geometry g;

	if (!cfg) {
		kmem_buddy_config_init(&def);
		cfg = &def;
	}
	if (buddy_geometry(cfg, &g))
		return 0;
	return buddy_bytes(g.max_regions, g.policy);
}

int kmem_buddy_init(void *mem, size_t mem_size, const struct kmem_buddy_config *cfg,
		    struct kmem_buddy **out)
{
	struct kmem_buddy_config def;
	struct buddy_geometry g;
	struct kmem_buddy *b = mem;
	int err;

	if (!cfg) {
		kmem_buddy_config_init(&def);
		cfg = &def;
	}
	if (!mem || !out || ((uintptr_t)mem & 15))
		return -EINVAL;
	err = buddy_geometry(cfg, &g);
	if (err)
		return err;
	if (mem_size < buddy_bytes(g.max_regions, g.policy))
		return -ENOSPC;
	memset(b, 0, buddy_bytes(g.max_regions, g.policy));
	b->frame_shift = g.frame_shift;
	b->frame_mask = ((uintptr_t)1 << g.frame_shift) - 1;
	b->max_order = g.max_order;
	b->max_regions = g.max_regions;
	b->flags = cfg->flags;
	kmem_strlcpy(b->name, cfg->name ? cfg->name : "buddy", sizeof(b->name));
	kmem_error_sink_init(&b->own_sink);
	b->sink = cfg->sink ? cfg->sink : &b->own_sink;
	b->meta_bytes = buddy_bytes(g.max_regions, g.policy);
	b->fast_order_end = g.max_order + 1; /* I8 */
#if KMEM_BUDDY_POLICIES
	if (g.policy) {
		b->pol = (struct buddy_policy *)(void *)((char *)b + sizeof(struct kmem_buddy) +
							   g.max_regions * sizeof(struct buddy_region));
		b->discipline = (uint8_t)cfg->discipline;
		b->grouping = (cfg->flags & KMEM_BUDDY_GROUPING) != 0;
		b->pb_order = b->grouping ? (uint8_t)g.pb_order : 0;
		b->fast_order_end = 0; /* every allocation takes the policy path */
	}
#endif
	if (cfg->owner_table) {
		b->owner_tab = cfg->owner_table;
		b->owner_tab_base = (uintptr_t)cfg->owner_base;
		b->owner_tab_frames = cfg->owner_frames;
	}
	/* read without the lock by kmem_buddy_free_frames() */
	KMEM_ANNOT_BENIGN_RACE(&b->managed_frames, sizeof(b->managed_frames));
	KMEM_ANNOT_BENIGN_RACE(&b->used_frames, sizeof(b->used_frames));
	KMEM_ANNOT_BENIGN_RACE(&b->reserved_frames, sizeof(b->reserved_frames));
	err = kmem_lock_init(&b->lock, !(cfg->flags & KMEM_BUDDY_NOLOCK));
	if (err)
		return err;
	b->magic = BUDDY_MAGIC;
	KMEM_ANNOT_POOL_CREATE(b); /* blocks are its chunks; slab objects nest in them */
	*out = b;
	return 0;
}

void kmem_buddy_destroy(struct kmem_buddy *b)
{
	if (!b)
		return;
	KMEM_ASSERT(b->magic == BUDDY_MAGIC && "destroy of a live instance");
	/* memcheck forgets the blocks still out; the frames are the caller's again */
	KMEM_ANNOT_POOL_DESTROY(b);
	for (unsigned i = 0; i < b->nr_regions; i++)
		KMEM_ANNOT_DEFINED((void *)b->region[i].base,
				   (size_t)b->region[i].nframes << b->frame_shift);
	kmem_lock_destroy(&b->lock);
	b->magic = 0;
}

/* For kmem_annot.h's chunk resizing (a slab shrinks the chunk it carves
 * objects from): does p start an allocated block of n bytes? */
static bool annot_is_chunk(const void *pool, const void *p, size_t n)
{
	struct kmem_buddy *b = (struct kmem_buddy *)(uintptr_t)pool;
	int order;

	if (b->magic != BUDDY_MAGIC) /* storage reused without a destroy */
		return false;
	order = kmem_buddy_block_order(b, p);
	return order >= 0 && (buddy_frame_size(b) << order) == n;
}

void kmem_buddy_fork_prepare(struct kmem_buddy *b) { kmem_lock_acquire(&b->lock); }
void kmem_buddy_fork_parent(struct kmem_buddy *b) { kmem_lock_release(&b->lock); }
void kmem_buddy_fork_child(struct kmem_buddy *b) { kmem_lock_release(&b->lock); }

size_t kmem_buddy_frame_size(const struct kmem_buddy *b) { return buddy_frame_size(b); }
unsigned kmem_buddy_max_order(const struct kmem_buddy *b) { return b->max_order; }
struct kmem_error_sink *kmem_buddy_error_sink(struct kmem_buddy *b) { return b->sink; }

/* ---- free lists (I3, I5, I6) ---------------------------------------------- */

/* I5: region r's list `order` became non-empty (set) or empty (clear).
 * Without hot-add there is one region, and order_mask alone says where a
 * block is: avail[] stays zero (the policies keep their own, buddy_policy.c).
 * Macros, so that the hosted build's fast paths compile exactly as before
 * (inline functions taking r changed x86-64's register allocation). */
#if KMEM_BUDDY_HOTADD
#define AVAIL_SET(b, r, order)                                                  \
	do {                                                                    \
		(b)->avail[order] |= (r)->bit;                                  \
		(b)->order_mask |= 1u << (order);                               \
	} while (0)
#define AVAIL_CLEAR(b, r, order)                                                \
	do {                                                                    \
		(b)->avail[order] &= ~(r)->bit;                                 \
		if (!(b)->avail[order])                                         \
			(b)->order_mask &= ~(1u << (order));                    \
	} while (0)
/* The region to take a block of order j from (its bit is set in
 * order_mask): the lowest id with one. */
#define AVAIL_REGION(b, j) (&(b)->region[kmem_ctz64((b)->avail[j])])
#else
#define AVAIL_SET(b, r, order) ((b)->order_mask |= 1u << (order))
#define AVAIL_CLEAR(b, r, order) ((b)->order_mask &= ~(1u << (order)))
#define AVAIL_REGION(b, j) (&(b)->region[0])
#endif

static inline void list_push_locked(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx,
				    unsigned order)
{
	uint32_t *headp = &r->head[order], first = *headp;
	struct buddy_link *link = r->link;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "free lists need the instance lock");
	r->tag[idx] = buddy_tag(BT_FREE, order);
	link[idx].next = first;
	link[idx].prev = BUDDY_NIL;
	*headp = idx;
	if (KMEM_LIKELY(first != BUDDY_NIL))
		link[first].prev = idx;
	else
		AVAIL_SET(b, r, order);
	b->nr_free[order]++;
}

static inline void list_del_locked(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx,
				   unsigned order)
{
	struct buddy_link *l = &r->link[idx];

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "free lists need the instance lock");
	KMEM_ASSERT(r->tag[idx] == buddy_tag(BT_FREE, order) && "I3: only free heads are listed");
	if (l->prev != BUDDY_NIL)
		r->link[l->prev].next = l->next;
	else
		r->head[order] = l->next;
	if (l->next != BUDDY_NIL)
		r->link[l->next].prev = l->prev;
	if (r->head[order] == BUDDY_NIL)
		AVAIL_CLEAR(b, r, order);
	b->nr_free[order]--;
}

/* Pop the first block of list `order` (non-empty). */
static inline uint32_t list_pop_locked(struct kmem_buddy *b, struct buddy_region *r, unsigned order)
{
	uint32_t *headp = &r->head[order], idx = *headp;
	struct buddy_link *link = r->link;
	uint32_t next = link[idx].next;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "free lists need the instance lock");
	KMEM_ASSERT(idx != BUDDY_NIL && r->tag[idx] == buddy_tag(BT_FREE, order) && "I3");
	*headp = next;
	if (KMEM_LIKELY(next != BUDDY_NIL))
		link[next].prev = BUDDY_NIL;
	else
		AVAIL_CLEAR(b, r, order);
	b->nr_free[order]--;
	return idx;
}

/* The same operations under any policy (the slow paths that are not
 * specialised for the default: carving, reservations, claims, misuse). */
static inline void list_push_any(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx,
				 unsigned order)
{
#if KMEM_BUDDY_POLICIES
	if (b->pol) {
		kmem_buddy_pol_push_locked(b, r, idx, order);
		return;
	}
#endif
	list_push_locked(b, r, idx, order);
}

static inline void list_del_any(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx,
				unsigned order)
{
#if KMEM_BUDDY_POLICIES
	if (b->pol) {
		kmem_buddy_pol_del_locked(b, r, idx, order);
		return;
	}
#endif
	list_del_locked(b, r, idx, order);
}

/* Largest order of a naturally aligned block starting at pfn that fits in
 * `left` frames (left >= 1). pfn 0 is aligned to everything. */
static inline unsigned piece_order(const struct kmem_buddy *b, uintptr_t pfn, uintptr_t left)
{
	unsigned o = b->max_order;

	if (pfn && kmem_ctzptr(pfn) < o)
		o = kmem_ctzptr(pfn);
	if (kmem_flsptr(left) < o)
		o = kmem_flsptr(left);
	return o;
}

/* Cover frames [from, to) of r with maximal aligned blocks in state st.
 * FREE blocks go on their lists (no merging is needed: a greedy cover never
 * leaves two free buddies, I4, when the frames around it are not free
 * blocks of the same order). Updates free/reserved counters. */
static void carve_locked(struct kmem_buddy *b, struct buddy_region *r, uint32_t from, uint32_t to,
			 enum buddy_tag_state st)
{
	KMEM_ASSERT(kmem_lock_held(&b->lock) && "carve needs the instance lock");
	while (from < to) {
		unsigned o = piece_order(b, r->start_pfn + from, to - from);

		KMEM_STEP(BUDDY_STEP_CARVE);
		size_t n = (size_t)1 << o;

		if (!KMEM_BUDDY_RESERVE || st == BT_FREE) {
			list_push_any(b, r, from, o);
		} else {
			r->tag[from] = buddy_tag(st, o);
			kmem_owner_add_relaxed(&b->reserved_frames, n);
		}
		from += (uint32_t)n;
	}
}

/* ---- regions ------------------------------------------------------------- */

static inline bool region_has(const struct kmem_buddy *b, const struct buddy_region *r,
			      uintptr_t addr)
{
	return addr - r->base < ((uintptr_t)r->nframes << b->frame_shift); /* wraps below base */
}

#if KMEM_BUDDY_HOTADD
static KMEM_NOINLINE struct buddy_region *find_region_slow(struct kmem_buddy *b, uintptr_t addr)
{
	unsigned lo = 1, hi = b->nr_regions; /* by_addr[0] was tested */

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		struct buddy_region *r = &b->region[b->by_addr[mid]];

		KMEM_STEP(BUDDY_STEP_SEARCH);
		if (addr < r->base)
			hi = mid;
		else if (!region_has(b, r, addr))
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}
#endif

/* Region containing addr: O(1) with one region, O(log regions) otherwise. */
static inline struct buddy_region *find_region(struct kmem_buddy *b, uintptr_t addr)
{
	struct buddy_region *r = b->lowest;

	if (KMEM_LIKELY(r != NULL && region_has(b, r, addr)))
		return r;
#if KMEM_BUDDY_HOTADD
	return b->nr_regions > 1 ? find_region_slow(b, addr) : NULL;
#else
	return NULL;
#endif
}

struct buddy_span kmem_buddy_span_of(const struct kmem_buddy *b, const struct buddy_region *r,
				     uint32_t idx)
{
	uintptr_t pfn = r->start_pfn + idx;

	for (unsigned k = 0; k <= b->max_order; k++) {
		uintptr_t hp = pfn & ~(((uintptr_t)1 << k) - 1);
		uint32_t h;
		uint8_t t;

		KMEM_STEP(BUDDY_STEP_SPAN);
		if (hp < r->start_pfn)
			break;
		h = (uint32_t)(hp - r->start_pfn);
		t = r->tag[h];
		if (buddy_tag_state(t) != BT_TAIL && (uint64_t)h + ((uint64_t)1 << buddy_tag_order(t)) > idx)
			return (struct buddy_span){ h, buddy_tag_order(t), buddy_tag_state(t) };
	}
	KMEM_ASSERT(0 && "I1: every frame belongs to a block");
	return (struct buddy_span){ idx, 0, BT_TAIL };
}

/* Frames [*first, *last) wholly inside [lo, hi), never frame 0. */
static bool frame_bounds(const struct kmem_buddy *b, uintptr_t lo, uintptr_t hi, uintptr_t *first,
			 uintptr_t *last)
{
	uintptr_t fs = buddy_frame_size(b);

	if (lo > UINTPTR_MAX - (fs - 1))
		return false;
	*first = (lo + fs - 1) & ~(fs - 1);
	if (*first == 0)
		*first = fs;
	*last = hi & ~(fs - 1);
	return *last > *first;
}

static bool ranges_overlap(uintptr_t a0, uintptr_t a1, uintptr_t b0, uintptr_t b1)
{
	return a0 < b1 && b0 < a1;
}

/* Does [lo, hi) overlap memory the instance already uses: its own storage,
 * a region's frames or a region's frame table? O(regions). */
static bool uses_memory_locked(const struct kmem_buddy *b, uintptr_t lo, uintptr_t hi)
{
	KMEM_ASSERT(kmem_lock_held(&b->lock) && "the region list needs the instance lock");
	if (ranges_overlap(lo, hi, (uintptr_t)b,
			   (uintptr_t)b + buddy_bytes(b->max_regions, b->pol != NULL)))
		return true;
#if KMEM_BUDDY_HOTADD /* without, this is the first and only region */
	for (unsigned i = 0; i < b->nr_regions; i++) {
		const struct buddy_region *o = &b->region[i];

		if (ranges_overlap(lo, hi, o->base, o->base + ((uintptr_t)o->nframes << b->frame_shift)) ||
		    ranges_overlap(lo, hi, (uintptr_t)o->tag, (uintptr_t)o->tag + o->meta_bytes))
			return true;
	}
#endif
	return false;
}

/* Frame table layout: tags (padded to 8), links, then owner words if the
 * instance keeps them (KMEM_BUDDY_OWNERS), then with grouping one type byte
 * per pageblock (KMEM_BUDDY_PAGEBLOCK_BYTES, a bound for any alignment). */
static size_t table_owner_bytes(const struct kmem_buddy *b, uintptr_t nframes)
{
	return ((b->flags & KMEM_BUDDY_OWNERS) && !b->owner_tab) ? nframes * sizeof(void *) : 0;
}

static size_t table_bytes(const struct kmem_buddy *b, uintptr_t nframes)
{
	size_t n = ((nframes + 7) & ~(uintptr_t)7) + nframes * sizeof(struct buddy_link) +
		   table_owner_bytes(b, nframes);

#if KMEM_BUDDY_POLICIES
	if (b->grouping)
		n += KMEM_BUDDY_PAGEBLOCK_BYTES(nframes, b->pb_order);
#endif
	return n;
}

size_t kmem_buddy_region_meta_size(const struct kmem_buddy *b, const void *base, size_t size)
{
	uintptr_t lo = (uintptr_t)base, hi = lo + size, first, last;

	if (hi < lo)
		hi = UINTPTR_MAX;
	if (!frame_bounds(b, lo, hi, &first, &last))
		return 0;
	return table_bytes(b, (last - first) >> b->frame_shift);
}

int kmem_buddy_add_region(struct kmem_buddy *b, void *base, size_t size, void *meta,
			  size_t meta_size)
{
	uintptr_t lo = (uintptr_t)base, hi = lo + size, first, last, nframes;
	struct buddy_region *r;
	size_t need;
	unsigned pos, id;

	if (!base || !size)
		return -EINVAL;
	if (hi < lo)
		hi = UINTPTR_MAX;
	if (!frame_bounds(b, lo, hi, &first, &last))
		return -ENOSPC;
	need = table_bytes(b, (last - first) >> b->frame_shift);
	if (!meta) {
		/* The table goes first; the frames after it shrink, never grow,
		 * so a table sized for the larger count suffices. */
		uintptr_t m = (lo + 7) & ~(uintptr_t)7;

		if (m < lo || m > hi || hi - m < need)
			return -ENOSPC;
		meta = (void *)m;
		meta_size = need;
		if (!frame_bounds(b, m + need, hi, &first, &last))
			return -ENOSPC;
	} else {
		uintptr_t m = (uintptr_t)meta;

		if (m & 7)
			return -EINVAL;
		if (meta_size < need)
			return -ENOSPC;
		if (m < last && first < m + meta_size)
			return -EINVAL;
	}
	nframes = (last - first) >> b->frame_shift;
	if (nframes >= BUDDY_NIL)
		return -EFBIG;
	if (b->owner_tab && (first < b->owner_tab_base ||
			     ((first - b->owner_tab_base) >> b->frame_shift) + nframes >
				     b->owner_tab_frames))
		return -EINVAL; /* outside the owner table's range */

	kmem_lock_acquire(&b->lock);
	if (b->nr_regions >= b->max_regions) { /* without hot-add, max_regions is 1 */
		kmem_lock_release(&b->lock);
		return KMEM_BUDDY_HOTADD ? -EMLINK : -ENOTSUP;
	}
	if (uses_memory_locked(b, first, last) ||
	    uses_memory_locked(b, (uintptr_t)meta, (uintptr_t)meta + meta_size)) {
		kmem_lock_release(&b->lock);
		return -EEXIST;
	}
	id = KMEM_BUDDY_HOTADD ? b->nr_regions : 0; /* without hot-add, the only region */
	r = &b->region[id];
	r->base = first;
	r->start_pfn = first >> b->frame_shift;
	r->nframes = (uint32_t)nframes;
	r->id = id;
	r->bit = (uint64_t)1 << id;
	r->tag = meta;
	r->link = (struct buddy_link *)(void *)((uint8_t *)meta + ((nframes + 7) & ~(uintptr_t)7));
	r->owner = NULL;
	if (b->owner_tab) { /* reads zero outside regions (contract): no memset,
			     * so untouched table pages cost no memory */
		r->owner = b->owner_tab + ((first - b->owner_tab_base) >> b->frame_shift);
	} else if (b->flags & KMEM_BUDDY_OWNERS) {
		r->owner = (void **)(void *)(r->link + nframes);
		memset(r->owner, 0, nframes * sizeof(void *));
	}
	r->meta_bytes = table_bytes(b, nframes);
	memset(r->tag, BT_TAIL, nframes);
	for (unsigned k = 0; k <= KMEM_BUDDY_ORDER_LIMIT; k++)
		r->head[k] = BUDDY_NIL;
#if KMEM_BUDDY_POLICIES
	if (b->pol)
		kmem_buddy_pol_region_locked(b, r, (uint8_t *)(r->link + nframes) +
						       table_owner_bytes(b, nframes));
#endif
	kmem_owner_add_relaxed(&b->managed_frames, nframes);
	/* free frames: nobody may touch them (the allocator never does) */
	KMEM_ANNOT_NOACCESS((void *)r->base, (size_t)r->nframes << b->frame_shift);
	KMEM_ANNOT_POOL_RANGE(b, (void *)r->base, (size_t)r->nframes << b->frame_shift,
			      annot_is_chunk);
	carve_locked(b, r, 0, r->nframes, BT_FREE);
	b->meta_bytes += r->meta_bytes;
#if KMEM_BUDDY_HOTADD
	/* keep by_addr sorted (I7) */
	pos = b->nr_regions;
	while (pos > 0 && b->region[b->by_addr[pos - 1]].base > first) {
		b->by_addr[pos] = b->by_addr[pos - 1];
		pos--;
	}
	b->by_addr[pos] = (uint8_t)r->id;
#else /* by_addr[0] is 0 (zeroed at init) */
	(void)pos;
#endif
	b->nr_regions++;
	kmem_atomic_store_release(&b->lowest, &b->region[b->by_addr[0]]);
	b->fast_lowest = b->pol ? NULL : b->lowest; /* I8 */
	kmem_lock_release(&b->lock);
	return 0;
}

int kmem_buddy_create_in(void *base, size_t size, const struct kmem_buddy_config *cfg,
			 struct kmem_buddy **out)
{
	uintptr_t lo = (uintptr_t)base, p = (lo + 15) & ~(uintptr_t)15;
	size_t need = kmem_buddy_sizeof(cfg);
	int err;

	if (!base || !out || !need)
		return -EINVAL;
	if (p < lo || size < p - lo || size - (p - lo) <= need)
		return -ENOSPC;
	err = kmem_buddy_init((void *)p, need, cfg, out);
	if (err)
		return err;
	err = kmem_buddy_add_region(*out, (void *)(p + need), size - (p - lo) - need, NULL, 0);
	if (err) {
		kmem_buddy_destroy(*out);
		*out = NULL;
	}
	return err;
}

/* ---- allocation ---------------------------------------------------------- */

/* Annotations (kmem_annot.h), made with the lock held so that a block is
 * never marked free after another thread got it again: an allocated block
 * is a chunk of the instance's pool (UNDEFINED), a freed one NOACCESS. */
static inline void *annot_alloc(struct kmem_buddy *b, void *p, unsigned order)
{
	KMEM_ANNOT_POOL_ALLOC(b, p, buddy_frame_size(b) << order);
	return p;
}

static inline void annot_free(struct kmem_buddy *b, void *p, unsigned order)
{
	KMEM_ANNOT_POOL_FREE(b, p, buddy_frame_size(b) << order);
}

/* Split block idx of order j down to `order`: the upper halves go on their
 * lists. Out of line so the no-split fast path stays small. */
static KMEM_NOINLINE void split_slow_locked(struct kmem_buddy *b, struct buddy_region *r,
					    uint32_t idx, unsigned j, unsigned order)
{
	KMEM_ASSERT(kmem_lock_held(&b->lock) && "split needs the instance lock");
	while (j > order) {
		KMEM_STEP(BUDDY_STEP_SPLIT);
		j--;
		list_push_locked(b, r, idx + (1u << j), j);
	}
}

static inline void *alloc_locked(struct kmem_buddy *b, unsigned order)
{
	uint32_t m = b->order_mask >> order;
	struct buddy_region *r;
	uint32_t idx;
	unsigned j;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "alloc needs the instance lock");
	if (KMEM_UNLIKELY(!m)) {
		b->fail[order]++;
		return NULL;
	}
	j = order + kmem_ctz32(m);
	r = AVAIL_REGION(b, j);
	idx = list_pop_locked(b, r, j);
	if (j > order)
		split_slow_locked(b, r, idx, j, order);
	r->tag[idx] = buddy_tag(BT_USED, order);
	kmem_owner_add_relaxed(&b->used_frames, (size_t)1 << order);
	if (b->used_frames > b->peak_used_frames)
		b->peak_used_frames = b->used_frames;
	b->allocs++;
	return annot_alloc(b, buddy_addr(b, r, idx), order);
}

static KMEM_NOINLINE void *alloc_too_big_slow(struct kmem_buddy *b)
{
	kmem_lock_acquire(&b->lock);
	b->fail_too_big++;
	kmem_lock_release(&b->lock);
	return NULL;
}

#if KMEM_BUDDY_POLICIES
/* Allocation under a policy: the block comes from kmem_buddy_pol_take_locked
 * (buddy_policy.c); the rest is alloc_locked's. */
static void *alloc_pol_locked(struct kmem_buddy *b, unsigned order, unsigned type)
{
	struct buddy_region *r;
	uint32_t idx;
	size_t used;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "alloc needs the instance lock");
	r = kmem_buddy_pol_take_locked(b, order, type, &idx);
	if (!r) {
		b->fail[order]++;
		return NULL;
	}
	r->tag[idx] = buddy_tag(BT_USED, order);
	used = b->used_frames + ((size_t)1 << order);
	kmem_atomic_store_relaxed(&b->used_frames, used);
	if (used > b->peak_used_frames)
		b->peak_used_frames = used;
	b->allocs++;
	return annot_alloc(b, buddy_addr(b, r, idx), order);
}
#endif

/* Everything the fast path's first test sends here: an order too big, a
 * busy lock, or a policy (fast_order_end is 0 with one, I8). `locked`: the
 * caller holds the lock (only without policies compiled in, below). */
static KMEM_NOINLINE void *alloc_slow(struct kmem_buddy *b, unsigned order, bool locked)
{
	void *p;

	if (order > b->max_order)
		return alloc_too_big_slow(b);
	if (!locked)
		kmem_lock_acquire(&b->lock);
#if KMEM_BUDDY_POLICIES
	if (b->pol)
		p = alloc_pol_locked(b, order, KMEM_BUDDY_UNMOVABLE);
	else
#endif
		p = alloc_locked(b, order);
	kmem_lock_release(&b->lock);
	return p;
}

#if KMEM_BUDDY_FAST
/* The fast path's second test: no block of exactly this order (a split or a
 * failure). The lock is held and there is no policy (I8). Without policies
 * compiled in, one copy of alloc_locked serves both slow paths. */
#if KMEM_BUDDY_POLICIES
static KMEM_NOINLINE void *alloc_split_slow(struct kmem_buddy *b, unsigned order)
{
	void *p = alloc_locked(b, order);

	kmem_lock_release(&b->lock);
	return p;
}
#else
static inline void *alloc_split_slow(struct kmem_buddy *b, unsigned order)
{
	return alloc_slow(b, order, true);
}
#endif

/* Release after a fast path had to leave a waiter to wake. */
static KMEM_NOINLINE void *wake_slow(struct kmem_buddy *b, void *ret)
{
	kmem_lock_wake(&b->lock);
	return ret;
}

/* Fast path: a block of exactly this order is free. Leaf function except
 * for tail calls, so it needs no stack frame. */
void *kmem_buddy_alloc(struct kmem_buddy *b, unsigned order)
{
	struct buddy_region *r;
	uint32_t idx;
	size_t used;
	void *p;

	/* order >= fast_order_end: too big, or a policy (I8) */
	if (KMEM_UNLIKELY(order >= b->fast_order_end || !kmem_lock_try_acquire(&b->lock)))
		return alloc_slow(b, order, false);
	if (KMEM_UNLIKELY(!(b->order_mask & (1u << order))))
		return alloc_split_slow(b, order);
	r = AVAIL_REGION(b, order);
	idx = list_pop_locked(b, r, order);
	r->tag[idx] = buddy_tag(BT_USED, order);
	used = b->used_frames + ((size_t)1 << order);
	kmem_atomic_store_relaxed(&b->used_frames, used); /* kmem_buddy_free_frames */
	if (used > b->peak_used_frames)
		b->peak_used_frames = used;
	b->allocs++;
	p = annot_alloc(b, buddy_addr(b, r, idx), order);
	if (KMEM_UNLIKELY(!kmem_lock_release_nowake(&b->lock)))
		return wake_slow(b, p);
	return p;
}
#else /* KMEM_BUDDY_FAST: the general path is the only one */
void *kmem_buddy_alloc(struct kmem_buddy *b, unsigned order)
{
	return alloc_slow(b, order, false);
}
#endif

void *kmem_buddy_alloc_type(struct kmem_buddy *b, unsigned order, unsigned type)
{
	void *p;

	if (type >= KMEM_BUDDY_NR_TYPES || order > b->max_order) {
		kmem_lock_acquire(&b->lock);
		if (type >= KMEM_BUDDY_NR_TYPES)
			b->fail_bad_type++;
		else
			b->fail_too_big++;
		kmem_lock_release(&b->lock);
		return NULL;
	}
#if KMEM_BUDDY_POLICIES
	if (b->pol) {
		kmem_lock_acquire(&b->lock);
		p = alloc_pol_locked(b, order, type);
		kmem_lock_release(&b->lock);
		return p;
	}
#endif
	p = kmem_buddy_alloc(b, order);
	return p;
}

int kmem_buddy_size_to_order(const struct kmem_buddy *b, size_t size)
{
	size_t frames = (size >> b->frame_shift) + ((size & (buddy_frame_size(b) - 1)) != 0);

	if (!size || frames > ((size_t)1 << b->max_order))
		return -1;
	return frames == 1 ? 0 : (int)kmem_flsptr(frames - 1) + 1;
}

void *kmem_buddy_alloc_size(struct kmem_buddy *b, size_t size)
{
	int order = kmem_buddy_size_to_order(b, size);

	if (order < 0)
		return size ? alloc_too_big_slow(b) : NULL;
	return kmem_buddy_alloc(b, (unsigned)order);
}

void *kmem_buddy_alloc_aligned(struct kmem_buddy *b, size_t size, size_t align)
{
	int order = kmem_buddy_size_to_order(b, size);
	unsigned ao;

	if (!size || !kmem_is_pow2(align))
		return NULL;
	if (order < 0)
		return alloc_too_big_slow(b);
	ao = kmem_flsptr(align) > b->frame_shift ? kmem_flsptr(align) - b->frame_shift : 0;
	return kmem_buddy_alloc(b, (unsigned)order > ao ? (unsigned)order : ao);
}

/* ---- free ---------------------------------------------------------------- */

/* With policies, the merge and the general free are instantiated twice (a
 * constant `any`): the default's copy has no policy test. Without them both
 * copies would be the same code, so the compiler may share one. */
#if KMEM_BUDDY_POLICIES
#define BUDDY_SPECIALISE __attribute__((always_inline))
#else
#define BUDDY_SPECIALISE
#endif

/* Put block idx (2^order frames, not on any list, counted as neither free
 * nor anything else by the caller) back, merging with free buddies (I4).
 * `any`: under the instance's policy; false only where b->pol is NULL (the
 * default's slow paths, a constant, so each copy has one list code). */
static inline BUDDY_SPECIALISE void merge_locked(struct kmem_buddy *b, struct buddy_region *r,
						 uint32_t idx, unsigned order, const bool any)
{
	const uintptr_t lo = r->start_pfn;
	uintptr_t pfn = lo + idx;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "merge needs the instance lock");
	while (order < b->max_order) {
		uintptr_t bpfn = pfn ^ ((uintptr_t)1 << order);
		uint32_t bidx;

		if (bpfn - lo >= r->nframes) /* outside the region (wraps below lo) */
			break;
		bidx = (uint32_t)(bpfn - lo);
		if (r->tag[bidx] != buddy_tag(BT_FREE, order))
			break;
		KMEM_STEP(BUDDY_STEP_MERGE);
		if (any)
			list_del_any(b, r, bidx, order);
		else
			list_del_locked(b, r, bidx, order);
		/* the higher of the two stops being a head (I1) */
		r->tag[bpfn > pfn ? bidx : (uint32_t)(pfn - lo)] = BT_TAIL;
		pfn &= ~((uintptr_t)1 << order);
		order++;
	}
	if (any)
		list_push_any(b, r, (uint32_t)(pfn - lo), order);
	else
		list_push_locked(b, r, (uint32_t)(pfn - lo), order);
}

static inline BUDDY_SPECIALISE void free_block_locked(struct kmem_buddy *b, struct buddy_region *r,
						      uint32_t idx, unsigned order, const bool any)
{
	KMEM_ASSERT(kmem_lock_held(&b->lock) && "free needs the instance lock");
	KMEM_ASSERT((any || !b->pol) && "I8: the default's paths never see a policy");
	kmem_owner_add_relaxed(&b->used_frames, -((size_t)1 << order));
	b->frees++;
	annot_free(b, buddy_addr(b, r, idx), order);
	merge_locked(b, r, idx, order, any);
}

/* Classify a free that failed the fast-path test; frees the block if only
 * the order was wrong. Called with the lock held; drops it and reports. */
static KMEM_NOINLINE enum kmem_status free_slow(struct kmem_buddy *b, void *p,
						struct buddy_region *r, int want,
						const void *caller)
{
	uintptr_t a = (uintptr_t)p;
	struct buddy_error e = { .ptr = p, .order = want };

	if (!r) {
		e.status = KMEM_FOREIGN_POINTER;
		buddy_detailf(&e, "not inside any region of this instance");
	} else {
		uint32_t idx = (uint32_t)((a - r->base) >> b->frame_shift);
		struct buddy_span s = kmem_buddy_span_of(b, r, idx);
		void *head = buddy_addr(b, r, s.head);
		bool at_frame = !((a - r->base) & (buddy_frame_size(b) - 1));

		e.order = (int)s.order;
		if (s.state == BT_FREE && at_frame) {
			e.status = KMEM_DOUBLE_FREE;
			if (s.head == idx)
				buddy_detailf(&e, "block is already free");
			else
				buddy_detailf(&e, "frame is inside free order-%u block at %p (freed, then merged)",
					      s.order, head);
		} else if (KMEM_BUDDY_RESERVE && s.state == BT_RESERVED) {
			e.status = KMEM_RESERVED_FREE;
			buddy_detailf(&e, "inside reserved order-%u block at %p (use kmem_buddy_unreserve)",
				      s.order, head);
		} else if (p != head) {
			e.status = KMEM_INTERIOR_POINTER;
			buddy_detailf(&e, "%zu bytes into %s order-%u block at %p",
				      (size_t)(a - (uintptr_t)head), s.state == BT_FREE ? "free" : "used",
				      s.order, head);
		} else {
			KMEM_ASSERT(s.state == BT_USED && want >= 0 && (unsigned)want != s.order);
			e.status = KMEM_WRONG_ORDER;
			buddy_detailf(&e, "caller says order %d, block has order %u; freed with order %u",
				      want, s.order, s.order);
			free_block_locked(b, r, idx, s.order, true);
		}
	}
	kmem_lock_release(&b->lock);
	buddy_raise(b, &e, caller);
	return e.status;
}

/* The general free: merges and misuse. `locked`: the caller holds the lock.
 * `any`: under the instance's policy (see free_block_locked). */
static inline BUDDY_SPECIALISE enum kmem_status
free_general(struct kmem_buddy *b, void *p, int want, const void *caller, bool locked,
	     const bool any)
{
	uintptr_t a = (uintptr_t)p;
	struct buddy_region *r;

	if (!p)
		return KMEM_OK;
	if (!locked)
		kmem_lock_acquire(&b->lock);
	r = find_region(b, a);
	if (KMEM_LIKELY(r != NULL)) {
		uintptr_t off = a - r->base;
		uint32_t idx = (uint32_t)(off >> b->frame_shift);
		uint8_t tag = r->tag[idx];

		if (KMEM_LIKELY(!(off & (buddy_frame_size(b) - 1)) && buddy_tag_state(tag) == BT_USED &&
				(want < 0 || (unsigned)want == buddy_tag_order(tag)))) {
			free_block_locked(b, r, idx, buddy_tag_order(tag), any);
			kmem_lock_release(&b->lock);
			return KMEM_OK;
		}
	}
	return free_slow(b, p, r, want, caller);
}

/* Reached from the fast path's later tests, which pass only without a
 * policy (fast_lowest is NULL with one, I8): the lock is held. */
/* Any policy: NULL, a busy lock (`locked` false), or fast_lowest NULL (a
 * policy, or no region yet; `locked` true). */
static KMEM_NOINLINE enum kmem_status free_any_slow(struct kmem_buddy *b, void *p, int want,
						    const void *caller, bool locked)
{
	return free_general(b, p, want, caller, locked, KMEM_BUDDY_POLICIES);
}

#if !KMEM_BUDDY_FAST
/* Without the fast paths every free is the general one (decision 31). */
static inline __attribute__((always_inline)) enum kmem_status free_fast(struct kmem_buddy *b,
									 void *p, int want)
{
	return free_any_slow(b, p, want, KMEM_RETURN_ADDRESS(), false);
}
#else
#if KMEM_BUDDY_POLICIES
static KMEM_NOINLINE enum kmem_status free_slow_path(struct kmem_buddy *b, void *p, int want,
						     const void *caller)
{
	return free_general(b, p, want, caller, true, false);
}
#else /* one copy of the general free (the merge loop) */
static inline enum kmem_status free_slow_path(struct kmem_buddy *b, void *p, int want,
					      const void *caller)
{
	return free_any_slow(b, p, want, caller, true);
}
#endif

static KMEM_NOINLINE enum kmem_status wake_status_slow(struct kmem_buddy *b)
{
	kmem_lock_wake(&b->lock);
	return KMEM_OK;
}

/* Fast path: p starts a used block in the lowest region, the order matches
 * (want < 0: any) and its buddy is not a free block of the same order, so
 * the block goes on its list without merging. Anything else takes
 * free_slow_path(). Leaf function except for tail calls. */
/* Always inlined into the two API functions, so KMEM_RETURN_ADDRESS() here
 * is the API caller's; it is read only on the slow paths, which keeps it out
 * of a register on the fast one. */
static inline __attribute__((always_inline)) enum kmem_status free_fast(struct kmem_buddy *b,
									 void *p, int want)
{
	uintptr_t a = (uintptr_t)p, off, bidx;
	struct buddy_region *r;
	uint8_t tag, *tags;
	unsigned order;
	uint32_t idx;

	if (KMEM_UNLIKELY(!p || !kmem_lock_try_acquire(&b->lock)))
		return free_any_slow(b, p, want, KMEM_RETURN_ADDRESS(), false);
	r = b->fast_lowest; /* NULL with a policy (I8) */
	if (KMEM_UNLIKELY(!r))
		return free_any_slow(b, p, want, KMEM_RETURN_ADDRESS(), true);
	off = a - r->base;
	/* range-check the full offset: a 32-bit index would wrap and alias */
	if (KMEM_UNLIKELY((off >> b->frame_shift) >= r->nframes || (off & b->frame_mask)))
		return free_slow_path(b, p, want, KMEM_RETURN_ADDRESS());
	idx = (uint32_t)(off >> b->frame_shift);
	tags = r->tag;
	tag = tags[idx];
	if (KMEM_UNLIKELY(buddy_tag_state(tag) != BT_USED))
		return free_slow_path(b, p, want, KMEM_RETURN_ADDRESS());
	order = buddy_tag_order(tag);
	bidx = ((r->start_pfn + idx) ^ ((uintptr_t)1 << order)) - r->start_pfn;
	/* (a max-order block whose buddy is free just takes the slow path,
	 * which does not merge above max_order) */
	if (KMEM_UNLIKELY((want >= 0 && (unsigned)want != order) ||
			  (bidx < r->nframes && tags[bidx] == buddy_tag(BT_FREE, order))))
		return free_slow_path(b, p, want, KMEM_RETURN_ADDRESS());
	annot_free(b, p, order);
	list_push_locked(b, r, idx, order);
	kmem_owner_add_relaxed(&b->used_frames, -((size_t)1 << order));
	b->frees++;
	if (KMEM_UNLIKELY(!kmem_lock_release_nowake(&b->lock)))
		return wake_status_slow(b);
	return KMEM_OK;
}
#endif /* KMEM_BUDDY_FAST */

void kmem_buddy_free(struct kmem_buddy *b, void *block)
{
	(void)free_fast(b, block, KMEM_BUDDY_ANY_ORDER);
}

enum kmem_status kmem_buddy_free_checked(struct kmem_buddy *b, void *block, int order)
{
	return free_fast(b, block, order < 0 ? KMEM_BUDDY_ANY_ORDER : order);
}

enum kmem_status kmem_buddy_classify(struct kmem_buddy *b, const void *p)
{
	uintptr_t a = (uintptr_t)p;
	struct buddy_region *r;
	enum kmem_status st;

	kmem_lock_acquire(&b->lock);
	r = find_region(b, a);
	if (!r) {
		st = KMEM_FOREIGN_POINTER;
	} else {
		uint32_t idx = (uint32_t)((a - r->base) >> b->frame_shift);
		struct buddy_span sp = kmem_buddy_span_of(b, r, idx);
		bool at_frame = !((a - r->base) & (buddy_frame_size(b) - 1));

		if (sp.state == BT_FREE && at_frame)
			st = KMEM_DOUBLE_FREE;
		else if (KMEM_BUDDY_RESERVE && sp.state == BT_RESERVED)
			st = KMEM_RESERVED_FREE;
		else if (p != buddy_addr(b, r, sp.head))
			st = KMEM_INTERIOR_POINTER;
		else
			st = KMEM_OK;
	}
	kmem_lock_release(&b->lock);
	return st;
}

int kmem_buddy_block_order(struct kmem_buddy *b, const void *block)
{
	uintptr_t a = (uintptr_t)block;
	struct buddy_region *r;
	int order = -1;

	kmem_lock_acquire(&b->lock);
	r = find_region(b, a);
	if (r && !((a - r->base) & (buddy_frame_size(b) - 1))) {
		uint8_t tag = r->tag[(a - r->base) >> b->frame_shift];

		if (buddy_tag_state(tag) == BT_USED)
			order = (int)buddy_tag_order(tag);
	}
	kmem_lock_release(&b->lock);
	return order;
}

/* ---- batches --------------------------------------------------------------- */

/* The region of p if p starts a USED block of exactly `order`; *idx its
 * frame index. */
static inline struct buddy_region *used_head_locked(struct kmem_buddy *b, const void *p,
						    unsigned order, uint32_t *idx)
{
	uintptr_t a = (uintptr_t)p;
	struct buddy_region *r;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "a batch needs the instance lock");
	r = find_region(b, a);
	if (!r || ((a - r->base) & (buddy_frame_size(b) - 1)))
		return NULL;
	*idx = (uint32_t)((a - r->base) >> b->frame_shift);
	return r->tag[*idx] == buddy_tag(BT_USED, order) ? r : NULL;
}

size_t kmem_buddy_blocks_valid(struct kmem_buddy *b, void *const *blocks, size_t n,
			       unsigned order)
{
	uint32_t idx;
	size_t i;

	kmem_lock_acquire(&b->lock);
	for (i = 0; i < n && used_head_locked(b, blocks[i], order, &idx); i++)
		;
	kmem_lock_release(&b->lock);
	return i;
}

size_t kmem_buddy_free_bulk(struct kmem_buddy *b, void *const *blocks, size_t n, unsigned order)
{
	size_t i;

	kmem_lock_acquire(&b->lock);
	for (i = 0; i < n; i++) {
		uint32_t idx;
		struct buddy_region *r = used_head_locked(b, blocks[i], order, &idx);

		if (!r)
			break;
		if (b->pol)
			free_block_locked(b, r, idx, order, true);
		else
			free_block_locked(b, r, idx, order, false);
	}
	kmem_lock_release(&b->lock);
	return i;
}

/* The region of p if p starts a USED block (any order); *idx its frame
 * index, *order the block's order. */
static struct buddy_region *used_block_locked(struct kmem_buddy *b, const void *p, uint32_t *idx,
					      unsigned *order)
{
	uintptr_t a = (uintptr_t)p;
	struct buddy_region *r;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "a block lookup needs the instance lock");
	r = find_region(b, a);
	if (!r || ((a - r->base) & b->frame_mask))
		return NULL;
	*idx = (uint32_t)((a - r->base) >> b->frame_shift);
	*order = buddy_tag_order(r->tag[*idx]);
	return buddy_tag_state(r->tag[*idx]) == BT_USED ? r : NULL;
}

int kmem_buddy_trim(struct kmem_buddy *b, void *block, size_t size)
{
	struct buddy_region *r;
	int pieces = -EINVAL;
	uint32_t idx;
	unsigned order;

	kmem_lock_acquire(&b->lock);
	r = used_block_locked(b, block, &idx, &order);
	if (r && size) {
		size_t n = (size_t)1 << order;

		if (size <= n << b->frame_shift) {
			size_t keep = (size + b->frame_mask) >> b->frame_shift;
			uint32_t pos = idx;

			pieces = kmem_popcountptr(keep);
			if (keep < n) {
				/* the kept frames: one block per set bit, largest first */
				for (unsigned j = order; j-- > 0;) {
					if (!(keep & ((size_t)1 << j)))
						continue;
					r->tag[pos] = buddy_tag(BT_USED, j);
					if (pos == idx)
						KMEM_ANNOT_POOL_TRIM(b, block, buddy_frame_size(b) << j);
					else
						KMEM_ANNOT_POOL_SPLIT(b, buddy_addr(b, r, pos),
								      buddy_frame_size(b) << j);
					pos += (uint32_t)1 << j;
				}
				/* the rest: a greedy cover, no merging possible (each
				 * piece's buddy holds kept frames) */
				KMEM_ANNOT_NOACCESS(buddy_addr(b, r, pos), (n - keep) << b->frame_shift);
				carve_locked(b, r, pos, idx + (uint32_t)n, BT_FREE);
				kmem_owner_add_relaxed(&b->used_frames, -(n - keep));
				b->trims++;
			}
		}
	}
	kmem_lock_release(&b->lock);
	return pieces;
}

/* Split the allocated block idx of `order` into allocated blocks: itself of
 * new_order and, past it, one of each order new_order..order-1 (the halves a
 * split leaves, as split_slow_locked pushes them on the free lists).
 * Annotations: the chunk shrinks to its head before the pieces become
 * chunks, so that no two chunks of the pool overlap at any moment (memcheck
 * checks the pool at every TRIM and reports "overlaps with its successor";
 * kmem_buddy_trim keeps the same order). */
static void split_used_locked(struct kmem_buddy *b, struct buddy_region *r, uint32_t idx,
			      unsigned order, unsigned new_order)
{
	KMEM_ASSERT(kmem_lock_held(&b->lock) && "split needs the instance lock");
	r->tag[idx] = buddy_tag(BT_USED, new_order);
	KMEM_ANNOT_POOL_TRIM(b, buddy_addr(b, r, idx), buddy_frame_size(b) << new_order);
	for (unsigned j = order; j-- > new_order;) {
		r->tag[idx + (1u << j)] = buddy_tag(BT_USED, j);
		KMEM_ANNOT_POOL_SPLIT(b, buddy_addr(b, r, idx + (1u << j)), buddy_frame_size(b) << j);
	}
}

int kmem_buddy_split(struct kmem_buddy *b, void *block, unsigned new_order)
{
	struct buddy_region *r;
	int ret = -EINVAL;
	uint32_t idx;
	unsigned order;

	kmem_lock_acquire(&b->lock);
	r = used_block_locked(b, block, &idx, &order);
	if (r && order >= new_order) {
		ret = (int)(order - new_order) + 1;
		split_used_locked(b, r, idx, order, new_order);
	}
	kmem_lock_release(&b->lock);
	return ret;
}

int kmem_buddy_claim(struct kmem_buddy *b, void *block, unsigned order)
{
	uintptr_t a = (uintptr_t)block;
	struct buddy_region *r;
	int ret = -EINVAL;

	kmem_lock_acquire(&b->lock);
	r = find_region(b, a);
	if (r && order <= b->max_order && !((a - r->base) & b->frame_mask)) {
		uintptr_t pfn = (a >> b->frame_shift), lo = r->start_pfn;
		uint32_t idx = (uint32_t)(pfn - lo);

		ret = -EBUSY;
		if (!(pfn & (((uintptr_t)1 << order) - 1)) && (size_t)idx + ((size_t)1 << order) <= r->nframes) {
			/* the free block holding pfn: the smallest order whose
			 * aligned head is a free head of that order (I1, I3) */
			for (unsigned o = order; o <= b->max_order; o++) {
				uintptr_t h = pfn & ~(((uintptr_t)1 << o) - 1);
				uint32_t hidx;

				if (h < lo)
					break;
				hidx = (uint32_t)(h - lo);
				if (r->tag[hidx] != buddy_tag(BT_FREE, o))
					continue;
				list_del_any(b, r, hidx, o);
				while (o > order) { /* keep the half holding pfn */
					o--;
					if (pfn & ((uintptr_t)1 << o)) {
						list_push_any(b, r, hidx, o);
						hidx += 1u << o;
					} else {
						list_push_any(b, r, hidx + (1u << o), o);
					}
				}
				r->tag[idx] = buddy_tag(BT_USED, order);
				kmem_owner_add_relaxed(&b->used_frames, (size_t)1 << order);
				if (b->used_frames > b->peak_used_frames)
					b->peak_used_frames = b->used_frames;
				b->allocs++;
				(void)annot_alloc(b, block, order);
				ret = 0;
				break;
			}
		}
	}
	kmem_lock_release(&b->lock);
	return ret;
}

/* ---- reservations -------------------------------------------------------- */

#if !KMEM_BUDDY_RESERVE /* compiled out (-Dbuddy_reserve): nothing changes */
int kmem_buddy_reserve(struct kmem_buddy *b, const void *addr, size_t size)
{
	(void)b;
	(void)addr;
	(void)size;
	return -ENOTSUP;
}

int kmem_buddy_unreserve(struct kmem_buddy *b, const void *addr, size_t size)
{
	(void)b;
	(void)addr;
	(void)size;
	return -ENOTSUP;
}
#else

/* The region and frames [*s, *e) that addr[0..size) covers, widened to whole
 * frames; false unless it lies inside one region. */
static bool range_locked(struct kmem_buddy *b, const void *addr, size_t size,
			 struct buddy_region **rp, uint32_t *s, uint32_t *e)
{
	uintptr_t fs = buddy_frame_size(b), lo = (uintptr_t)addr & ~(fs - 1);
	uintptr_t hi = (uintptr_t)addr + size;
	struct buddy_region *r;

	KMEM_ASSERT(kmem_lock_held(&b->lock) && "range operations need the instance lock");
	if (!size || hi < (uintptr_t)addr)
		return false;
	r = find_region(b, lo);
	if (!r)
		return false;
	hi = (hi - r->base + fs - 1) >> b->frame_shift; /* frame index past the end */
	if (hi > r->nframes)
		return false;
	*rp = r;
	*s = (uint32_t)((lo - r->base) >> b->frame_shift);
	*e = (uint32_t)hi;
	return true;
}

int kmem_buddy_reserve(struct kmem_buddy *b, const void *addr, size_t size)
{
	struct buddy_region *r;
	uint32_t s, e, pos;

	kmem_lock_acquire(&b->lock);
	if (!range_locked(b, addr, size, &r, &s, &e)) {
		kmem_lock_release(&b->lock);
		return -EINVAL;
	}
	for (pos = s; pos < e;) { /* pass 1: nothing allocated in the range */
		struct buddy_span sp = kmem_buddy_span_of(b, r, pos);

		if (sp.state == BT_USED) {
			kmem_lock_release(&b->lock);
			return -EBUSY;
		}
		pos = sp.head + (1u << sp.order);
	}
	for (pos = s; pos < e;) { /* pass 2: cut the range out of free blocks */
		struct buddy_span sp = kmem_buddy_span_of(b, r, pos);
		uint32_t end = sp.head + (1u << sp.order), stop = end < e ? end : e;

		if (sp.state == BT_FREE) {
			list_del_any(b, r, sp.head, sp.order);
			r->tag[sp.head] = BT_TAIL;
			carve_locked(b, r, sp.head, pos, BT_FREE);
			carve_locked(b, r, pos, stop, BT_RESERVED);
			/* reserved memory is its owner's (a firmware table may
			 * hold data): accessible, contents taken as they are */
			KMEM_ANNOT_DEFINED(buddy_addr(b, r, pos), (size_t)(stop - pos) << b->frame_shift);
			carve_locked(b, r, stop, end, BT_FREE);
		}
		pos = stop;
	}
	kmem_lock_release(&b->lock);
	return 0;
}

int kmem_buddy_unreserve(struct kmem_buddy *b, const void *addr, size_t size)
{
	struct buddy_region *r;
	uint32_t s, e, pos;

	kmem_lock_acquire(&b->lock);
	if (!range_locked(b, addr, size, &r, &s, &e))
		goto invalid;
	for (pos = s; pos < e;) { /* pass 1: reserved blocks exactly inside */
		struct buddy_span sp = kmem_buddy_span_of(b, r, pos);
		uint32_t end = sp.head + (1u << sp.order);

		if (sp.state != BT_RESERVED || sp.head < s || end > e)
			goto invalid;
		pos = end;
	}
	for (pos = s; pos < e;) { /* pass 2: free them, merging */
		unsigned order = buddy_tag_order(r->tag[pos]);
		size_t n = (size_t)1 << order;

		kmem_owner_add_relaxed(&b->reserved_frames, -n);
		KMEM_ANNOT_NOACCESS(buddy_addr(b, r, pos), n << b->frame_shift);
		merge_locked(b, r, pos, order, true);
		pos += (uint32_t)n;
	}
	kmem_lock_release(&b->lock);
	return 0;
invalid:
	kmem_lock_release(&b->lock);
	return -EINVAL;
}
#endif /* KMEM_BUDDY_RESERVE */

/* ---- owner words ---------------------------------------------------------- */

int kmem_buddy_set_owner(struct kmem_buddy *b, void *block, void *owner)
{
	uintptr_t a = (uintptr_t)block;
	struct buddy_region *r;
	int rc = -EINVAL;

	if (!(b->flags & KMEM_BUDDY_OWNERS))
		return -ENOTSUP;
	kmem_lock_acquire(&b->lock);
	r = find_region(b, a);
	if (r && !((a - r->base) & b->frame_mask)) {
		uint32_t idx = (uint32_t)((a - r->base) >> b->frame_shift);
		uint8_t tag = r->tag[idx];

		if (buddy_tag_state(tag) == BT_USED) {
			for (uint32_t f = 0; f < (1u << buddy_tag_order(tag)); f++)
				kmem_atomic_store_relaxed(&r->owner[idx + f], owner);
			rc = 0;
		}
	}
	kmem_lock_release(&b->lock);
	return rc;
}

/* The owner word of the frame holding address a, or NULL outside the owner
 * table (with one) or every region. Lock-free with a table or when a is in
 * the lowest region (regions are only ever added and region slots never
 * move; owner words are relaxed atomics). */
static void **owner_word(struct kmem_buddy *b, uintptr_t a)
{
	struct buddy_region *r;

	if (b->owner_tab) { /* one table: words outside regions read zero */
		uintptr_t i = (a - b->owner_tab_base) >> b->frame_shift;

		return i < b->owner_tab_frames ? &b->owner_tab[i] : NULL;
	}
	r = kmem_atomic_load_acquire(&b->lowest);
	if (!r || !region_has(b, r, a)) {
#if KMEM_BUDDY_HOTADD
		kmem_lock_acquire(&b->lock);
		r = find_region(b, a);
		kmem_lock_release(&b->lock);
		if (!r)
			return NULL;
#else /* the lowest region is the only one */
		return NULL;
#endif
	}
	return &r->owner[(a - r->base) >> b->frame_shift];
}

void *kmem_buddy_owner(struct kmem_buddy *b, const void *addr)
{
	void **w;

	if (!(b->flags & KMEM_BUDDY_OWNERS))
		return NULL;
	w = owner_word(b, (uintptr_t)addr);
	return w ? kmem_atomic_load_relaxed(w) : NULL;
}

/* The owner word of the frame starting at addr (frame-aligned), or NULL if
 * addr is misaligned or outside the owner table (with one) or every region. */
static void **frame_owner_word(struct kmem_buddy *b, uintptr_t a)
{
	return (a & b->frame_mask) ? NULL : owner_word(b, a);
}

int kmem_buddy_set_tag(struct kmem_buddy *b, void *block, uintptr_t value)
{
	void **w;

	if (!(b->flags & KMEM_BUDDY_OWNERS))
		return -ENOTSUP;
	w = frame_owner_word(b, (uintptr_t)block);
	if (!w || value > KMEM_OWNER_TAG_MAX)
		return -EINVAL;
	kmem_atomic_store_relaxed(w, kmem_owner_tag(value));
	return 0;
}

int kmem_buddy_clear_tag(struct kmem_buddy *b, void *block, uintptr_t value)
{
	void **w, *expect;

	if (!(b->flags & KMEM_BUDDY_OWNERS))
		return -ENOTSUP;
	w = frame_owner_word(b, (uintptr_t)block);
	if (!w || value > KMEM_OWNER_TAG_MAX)
		return -EINVAL;
	expect = kmem_owner_tag(value);
	return kmem_atomic_cas_relaxed(w, &expect, NULL) ? 0 : -EALREADY;
}

int kmem_buddy_get_tag(struct kmem_buddy *b, const void *addr, uintptr_t *value)
{
	void *w = kmem_buddy_owner(b, addr);

	if (!kmem_owner_is_tag(w))
		return 0;
	*value = kmem_owner_tag_value(w);
	return 1;
}

/* ---- page source --------------------------------------------------------- */

static void *ps_alloc(void *ctx, unsigned order, unsigned flags)
{
	struct kmem_buddy *b = ctx;
	void *p = kmem_buddy_alloc(b, order);

	if (p && (flags & KMEM_PAGE_ZERO))
		memset(p, 0, buddy_frame_size(b) << order);
	return p;
}

static void ps_free(void *ctx, void *block, unsigned order)
{
	(void)kmem_buddy_free_checked(ctx, block, (int)order);
}

static int ps_set_owner(void *ctx, void *block, void *owner)
{
	return kmem_buddy_set_owner(ctx, block, owner);
}

static void *ps_get_owner(void *ctx, const void *addr)
{
	return kmem_buddy_owner(ctx, addr);
}

size_t kmem_buddy_free_frames(struct kmem_buddy *b)
{
	size_t managed = kmem_atomic_load_relaxed(&b->managed_frames);
	size_t taken = kmem_atomic_load_relaxed(&b->used_frames) +
		       kmem_atomic_load_relaxed(&b->reserved_frames);

	return taken < managed ? managed - taken : 0; /* racing reads may overlap */
}

void kmem_buddy_page_source(struct kmem_buddy *b, struct kmem_page_source *ps)
{
	ps->alloc_pages = ps_alloc;
	ps->free_pages = ps_free;
	ps->set_owner = (b->flags & KMEM_BUDDY_OWNERS) ? ps_set_owner : NULL;
	ps->get_owner = (b->flags & KMEM_BUDDY_OWNERS) ? ps_get_owner : NULL;
	ps->ctx = b;
	ps->frame_size = buddy_frame_size(b);
	ps->max_order = b->max_order;
	ps->owner_base = 0;
	ps->owner_frames = 0;
	ps->owner_words = NULL;
	ps->register_shrinker = NULL;
	ps->unregister_shrinker = NULL;
	if (b->owner_tab) { /* the whole range, regions added later included */
		ps->owner_base = b->owner_tab_base;
		ps->owner_frames = b->owner_tab_frames;
		ps->owner_words = b->owner_tab;
	} else if (b->flags & KMEM_BUDDY_OWNERS) {
		/* the lowest region now: regions never move or shrink */
		const struct buddy_region *r = kmem_atomic_load_acquire(&b->lowest);

		if (r) {
			ps->owner_base = r->base;
			ps->owner_frames = r->nframes;
			ps->owner_words = r->owner;
		}
	}
}
