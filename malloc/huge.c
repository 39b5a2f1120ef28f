/* huge.c - the drop-in's huge path: blocks over 4 MiB (the largest page
 * block, decision 38), each a range of address space of its own: carved
 * from the huge cache, or a fresh mapping (kmem_pages_map_aligned);
 * remembered in an open-addressing hash table (address -> length, usable
 * size); realloc resizes one with kmem_pages_remap (mremap on Linux: the
 * pages move, no copy), or, where the port cannot remap, maps a new block,
 * copies and unmaps the old one. O(1) expected per call (realloc's copy:
 * O(size)) plus the cache's O(KM_HCACHE_N).
 *
 * The huge cache (decisions 29, 38): a freed block's range is kept,
 * resident, for reuse within the release step's decay time (KMEM_DECAY_MS;
 * none when it is 0, nor under an address-space limit), at most
 * KM_HCACHE_N ranges and KM_HCACHE_BYTES in all (the oldest go first; -1
 * keeps them until pushed out or malloc_trim). Ranges are kept by address
 * and a freed block joins the cached ranges next to it, so free neighbours
 * make one range, as in a heap; an allocation carves the smallest range
 * that holds it (best fit, the rest stays cached) and clears it for
 * calloc: a program that replaces big buffers in a cycle does not map and
 * fault them in each time, nor round them to powers of two. Ranges of
 * blocks over 32 MiB are inaccessible while cached (PROT_NONE: a use after
 * free faults as on an unmapped block); smaller ones stay read-write, as
 * page blocks of that size were (see below). Entries age at every huge
 * call and at the frame service reaper's idle calls (decision 36: a
 * shrinker whose idle call ages the cache; a put starts the reaper if
 * need be), so an idle program returns them within the decay time and an
 * idle period; with no reaper (KMEM_REAPER=0) it keeps at most the bound
 * until its next huge call or malloc_trim.
 *
 * Locking: the huge lock guards the table and the cache; mapping and
 * unmapping run outside it where they can.
 */
#include "malloc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- the huge path: one mapping per block ------------------------------------------------- */

static size_t huge_slot(uintptr_t a, size_t cap)
{
	return (size_t)((a >> 12) * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

/* huge lock held */
static bool huge_insert_locked(uintptr_t a, size_t len, size_t size, uintptr_t base)
{
	if ((km.huge_used + 1) * 4 >= km.huge_cap * 3) {
		size_t ncap = km.huge_cap ? km.huge_cap * 2 : 256;
		struct km_huge *nt = kmem_pages_map(ncap * sizeof(*nt));
		size_t used = 0;

		if (!nt)
			return false;
		for (size_t i = 0; i < km.huge_cap; i++) {
			const struct km_huge *e = &km.huge[i];

			if (e->addr > 1) {
				size_t j = huge_slot(e->addr, ncap);

				while (nt[j].addr)
					j = (j + 1) & (ncap - 1);
				nt[j] = *e;
				used++;
			}
		}
		if (km.huge)
			kmem_pages_unmap(km.huge, km.huge_cap * sizeof(*km.huge));
		km.huge = nt;
		km.huge_cap = ncap;
		km.huge_used = used; /* live and retired (quarantined) entries */
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
		km.huge[j].base = base;
		km.huge[j].retired = false;
		km.huge_n++;
		km.huge_bytes += len;
		if (km.huge_n > km.huge_max_n)
			km.huge_max_n = km.huge_n;
		if (km.huge_bytes > km.huge_max_bytes)
			km.huge_max_bytes = km.huge_bytes;
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

/* ---- the huge cache: freed address ranges kept within the decay time --------------- */

/* The cache is a best-fit extent list (decision 38): entries are ranges of
 * address space with their pages kept, sorted by address, none
 * overlapping, and no two of a kind adjacent (a freed block next to a
 * cached range of its kind joins it). Two kinds: sealed ranges, PROT_NONE
 * (blocks over KM_BLOCK_MAX freed: a use after free faults, as on an
 * unmapped block), and open ones, left read-write (blocks up to
 * KM_BLOCK_MAX, which were page blocks, read-write when free, before
 * decision 38: sealing costs an mprotect each way and, on this project's
 * VM, a slow first touch of every page after it, 10 times bigcycle's CPU
 * time). A take carves the smallest range that holds the
 * request (its start aligned); the rest of the range stays cached. An
 * entry's freed_ns is its newest piece's free. Bounded by KM_HCACHE_N
 * entries and KM_HCACHE_BYTES (the oldest entry's top end goes first). */

/* Drop entry i (huge lock held); into *out (to unmap after the unlock). */
static void hcache_drop_locked(unsigned i, struct km_hcache *out)
{
	*out = km.hcache[i];
	km.hcache_bytes -= out->len;
	memmove(&km.hcache[i], &km.hcache[i + 1], (km.hcache_n - i - 1) * sizeof(km.hcache[0]));
	kmem_atomic_store_relaxed(&km.hcache_n, km.hcache_n - 1);
}

/* The entry put longest ago (huge lock held; hcache_n > 0). */
static unsigned hcache_oldest_locked(void)
{
	unsigned o = 0;

	for (unsigned i = 1; i < km.hcache_n; i++)
		if (km.hcache[i].seq < km.hcache[o].seq)
			o = i;
	return o;
}

/* Entries older than the decay time out (huge lock held); how many went
 * into out[]. */
static unsigned hcache_age_locked(uint64_t now, struct km_hcache *out)
{
	uint64_t decay = km.decay_ms < 0 ? UINT64_MAX : (uint64_t)km.decay_ms * 1000000u;
	unsigned k = 0;

	for (unsigned i = km.hcache_n; i-- > 0;)
		if (now - km.hcache[i].freed_ns >= decay)
			hcache_drop_locked(i, &out[k++]);
	return k;
}

static void hcache_unmap(const struct km_hcache *e, unsigned k)
{
	for (unsigned i = 0; i < k; i++)
		kmem_pages_unmap((void *)e[i].addr, e[i].len);
}

/* Put [a, a + len) into the cache, joined with the entries it touches,
 * the bounds kept (huge lock held; room for KM_HCACHE_N + 2 in out[], k
 * used). How many are in out[] after. */
static unsigned hcache_insert_locked(uintptr_t a, size_t len, bool sealed, uint64_t now,
				     struct km_hcache *out, unsigned k)
{
	unsigned i = 0;
	struct km_hcache *c = km.hcache;

	while (i < km.hcache_n && c[i].addr < a)
		i++;
	if (i > 0 && c[i - 1].addr + c[i - 1].len == a && c[i - 1].sealed == sealed) {
		/* joins the one below */
		c[i - 1].len += len;
		c[i - 1].freed_ns = now;
		c[i - 1].seq = km.hcache_seq++;
		if (i < km.hcache_n && a + len == c[i].addr && c[i].sealed == sealed) {
			/* and the one above */
			c[i - 1].len += c[i].len;
			memmove(&c[i], &c[i + 1], (km.hcache_n - i - 1) * sizeof(c[0]));
			kmem_atomic_store_relaxed(&km.hcache_n, km.hcache_n - 1);
		}
	} else if (i < km.hcache_n && a + len == c[i].addr && c[i].sealed == sealed) {
		/* joins the one above */
		c[i].addr = a;
		c[i].len += len;
		c[i].freed_ns = now;
		c[i].seq = km.hcache_seq++;
	} else {
		if (km.hcache_n == KM_HCACHE_N) { /* full: the oldest goes */
			unsigned o = hcache_oldest_locked();

			hcache_drop_locked(o, &out[k++]);
			if (o < i)
				i--;
		}
		memmove(&c[i + 1], &c[i], (km.hcache_n - i) * sizeof(c[0]));
		c[i].addr = a;
		c[i].len = len;
		c[i].freed_ns = now;
		c[i].seq = km.hcache_seq++;
		c[i].sealed = sealed;
		kmem_atomic_store_relaxed(&km.hcache_n, km.hcache_n + 1);
	}
	km.hcache_bytes += len;
	/* over the byte bound: the oldest entries' top ends go (whole
	 * entries while the excess covers them) */
	while (km.hcache_bytes > KM_HCACHE_BYTES) {
		size_t over = km.hcache_bytes - KM_HCACHE_BYTES;
		unsigned o = hcache_oldest_locked();

		if (over >= c[o].len) {
			hcache_drop_locked(o, &out[k++]);
			continue;
		}
		c[o].len -= over;
		km.hcache_bytes -= over;
		out[k] = c[o];
		out[k].addr = c[o].addr + c[o].len;
		out[k++].len = over;
	}
	return k;
}

/* Keep a freed mapping for reuse; false if it is not kept (caller unmaps). */
static bool hcache_put(uintptr_t a, size_t len)
{
	struct km_hcache out[2 * KM_HCACHE_N + 2];
	bool sealed = len > KM_BLOCK_MAX;
	uint64_t now;
	unsigned k;

	/* none with decay 0, nor under an address-space limit (a kept
	 * mapping is address space other mappings need: decision 17) */
	if (km.decay_ms == 0 || len > KM_HCACHE_BYTES || kmem_km_as_limit(false) != SIZE_MAX)
		return false;
	/* a huge block is inaccessible while cached, its pages kept: a use
	 * after free still faults, as on an unmapped block */
	if (sealed && kmem_pages_noaccess((void *)a, len) != 0)
		return false;
	kmem_lock_acquire(&km.huge_lock);
	now = kmem_now_ns();
	k = hcache_age_locked(now, out);
	k = hcache_insert_locked(a, len, sealed, now, out, k);
	kmem_lock_release(&km.huge_lock);
	hcache_unmap(out, k);
	/* the reaper ages it when the program is idle (it wakes once a
	 * second at least): started here if no free started it yet */
	if (km.reaper && km.pa) {
		int rc = kmem_pa_reaper_start(km.pa); /* -EALREADY: running; one mutex, */

		(void)rc; /* beside a huge free's mprotect */
	}
	return true;
}

/* len bytes carved from the smallest cached range that holds them with
 * their start aligned to align (lowest address among equals), read-write
 * (a sealed range's piece opened), contents as they were; what is left of
 * the range stays cached. NULL if none holds them. */
static void *hcache_take(size_t len, size_t align)
{
	struct km_hcache out[KM_HCACHE_N + 2], *c = km.hcache;
	unsigned k, best = KM_HCACHE_N;
	uintptr_t s = 0, bs = 0;
	bool sealed = false;

	if (!kmem_atomic_load_relaxed(&km.hcache_n)) /* a hint: a miss only maps fresh memory */
		return NULL;
	kmem_lock_acquire(&km.huge_lock);
	k = hcache_age_locked(kmem_now_ns(), out);
	for (unsigned i = 0; i < km.hcache_n; i++) {
		s = (c[i].addr + align - 1) & ~(uintptr_t)(align - 1);
		if (s - c[i].addr <= c[i].len && c[i].len - (s - c[i].addr) >= len &&
		    (best == KM_HCACHE_N || c[i].len < c[best].len)) {
			best = i;
			bs = s;
		}
	}
	if (best < KM_HCACHE_N) {
		struct km_hcache *e = &c[best];
		uintptr_t end = e->addr + e->len;
		size_t head = bs - e->addr, tail = end - (bs + len);

		sealed = e->sealed;
		km.hcache_bytes -= len;
		if (!head && !tail) {
			memmove(e, e + 1, (km.hcache_n - best - 1) * sizeof(c[0]));
			kmem_atomic_store_relaxed(&km.hcache_n, km.hcache_n - 1);
		} else if (!head) {
			e->addr = bs + len;
			e->len = tail;
		} else if (!tail) {
			e->len = head;
		} else if (km.hcache_n < KM_HCACHE_N) { /* both stay: one more entry */
			memmove(e + 1, e, (km.hcache_n - best) * sizeof(c[0]));
			kmem_atomic_store_relaxed(&km.hcache_n, km.hcache_n + 1);
			e->len = head;
			e[1].addr = bs + len;
			e[1].len = tail;
		} else { /* no room for two: the head goes */
			out[k] = *e;
			out[k++].len = head;
			km.hcache_bytes -= head;
			e->addr = bs + len;
			e->len = tail;
		}
		km.hcache_hits++;
	}
	kmem_lock_release(&km.huge_lock);
	hcache_unmap(out, k);
	if (best == KM_HCACHE_N)
		return NULL;
	if (sealed && kmem_pages_commit((void *)bs, len) != 0) { /* read-write again, contents kept */
		kmem_pages_unmap((void *)bs, len);
		return NULL;
	}
	return (void *)bs;
}

/* The idle call: entries freed a decay time before `now` (the frame
 * service's clock: the drop-in's is kmem_now_ns) are unmapped. Shrink lock
 * held, then the huge lock (the unmapping after it). No frame-service
 * frames: returns 0. */
static size_t hcache_idle(void *arg, uint64_t now)
{
	struct km_hcache out[KM_HCACHE_N + 1];
	unsigned k;

	(void)arg;
	if (!kmem_atomic_load_relaxed(&km.hcache_n))
		return 0;
	kmem_lock_acquire(&km.huge_lock);
	k = hcache_age_locked(now, out);
	kmem_lock_release(&km.huge_lock);
	hcache_unmap(out, k);
	return 0;
}

static size_t hcache_count(void *arg)
{
	(void)arg;
	return 0;
}

static size_t hcache_scan(void *arg, const struct kmem_shrink_request *req)
{
	(void)arg;
	(void)req;
	return 0;
}

void kmem_km_huge_shrinker_init(void)
{
	km.hcache_shrinker.name = "kmem-malloc-huge";
	km.hcache_shrinker.count = hcache_count;
	km.hcache_shrinker.scan = hcache_scan;
	km.hcache_shrinker.idle = hcache_idle;
	if (kmem_pa_register_shrinker(km.pa, &km.hcache_shrinker) != 0)
		km.hcache_shrinker.idle = NULL; /* not reached: the shrinker is well formed */
}

size_t kmem_km_huge_cache_flush(void)
{
	struct km_hcache out[KM_HCACHE_N];
	unsigned k = 0;
	size_t bytes = 0;

	kmem_lock_acquire(&km.huge_lock);
	while (km.hcache_n) {
		hcache_drop_locked(0, &out[k]);
		bytes += out[k++].len;
	}
	kmem_lock_release(&km.huge_lock);
	hcache_unmap(out, k);
	return bytes;
}

void *kmem_km_huge_alloc(size_t size, size_t align, bool zero)
{
	size_t len, extra = align > KM_FRAME ? align : 0;
	uintptr_t a;
	void *p;

	if (size > SIZE_MAX - KM_FRAME - extra)
		return NULL;
	len = (size + KM_FRAME - 1) & ~(KM_FRAME - 1);
	p = hcache_take(len, align > KM_FRAME ? align : KM_FRAME);
	if (p && zero)
		memset(p, 0, len); /* a cached mapping is dirty */
	/* the port maps len + align and trims to the alignment */
	if (!p)
		p = kmem_pages_map_aligned(len, align > KM_FRAME ? align : KM_FRAME);
	if (!p)
		return NULL;
	a = (uintptr_t)p;
	kmem_lock_acquire(&km.huge_lock);
	if (!huge_insert_locked(a, len, len, a)) {
		kmem_lock_release(&km.huge_lock);
		kmem_pages_unmap(p, len);
		return NULL;
	}
	kmem_lock_release(&km.huge_lock);
	return (void *)a;
}

/* ---- guarded blocks (hardened mode) ------------------------------------------------------- */

/* The canary byte: not 0 (fresh memory), nor slab's red zone or poison. */
#define KM_CANARY 0xc5

/* [lo, hi): the committed pages of guarded block e (a, size). */
static void guard_pages(uintptr_t a, size_t size, uintptr_t *lo, uintptr_t *hi)
{
	*lo = a & ~(uintptr_t)(KM_FRAME - 1);
	*hi = (a + size + KM_FRAME - 1) & ~(uintptr_t)(KM_FRAME - 1);
}

void *kmem_km_guard_alloc(size_t size, size_t align)
{
	size_t body, pages, total;
	uintptr_t base, a, lo, hi;
	void *r;

	if (!size)
		size = 1;
	if (align < KM_ALIGN)
		align = KM_ALIGN;
	if (size > PTRDIFF_MAX - 4 * KM_FRAME || align > PTRDIFF_MAX / 4)
		return NULL;
	body = (size + KM_ALIGN - 1) & ~(size_t)(KM_ALIGN - 1);
	pages = (body + KM_FRAME - 1) & ~(KM_FRAME - 1);
	/* guard | pages | guard, plus room to align the start */
	total = pages + 2 * KM_FRAME + (align > KM_ALIGN ? align : 0);
	r = kmem_pages_reserve(total);
	if (!r)
		return NULL;
	base = (uintptr_t)r;
	if (align > KM_ALIGN) /* aligned start; canary bytes after the end */
		a = (base + KM_FRAME + align - 1) & ~(uintptr_t)(align - 1);
	else /* the end against the upper guard page */
		a = base + KM_FRAME + pages - body;
	guard_pages(a, size, &lo, &hi);
	if (kmem_pages_commit((void *)lo, hi - lo) != 0) {
		kmem_pages_unreserve(r, total);
		return NULL;
	}
	memset((void *)lo, KM_CANARY, a - lo);
	memset((void *)(a + size), KM_CANARY, hi - a - size);
	kmem_lock_acquire(&km.huge_lock);
	if (!huge_insert_locked(a, total, size, base)) {
		kmem_lock_release(&km.huge_lock);
		kmem_pages_unreserve(r, total);
		return NULL;
	}
	kmem_lock_release(&km.huge_lock);
	return (void *)a;
}

/* First byte of [p, p + n) that is not the canary, or NULL. */
static const unsigned char *canary_broken(uintptr_t p, size_t n)
{
	const unsigned char *b = (const unsigned char *)p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != KM_CANARY)
			return b + i;
	return NULL;
}

bool kmem_km_guard_verify(const void *p, const void *caller)
{
	uintptr_t a = (uintptr_t)p, lo, hi;
	const unsigned char *bad;
	struct km_huge *e;
	size_t size;
	char what[160];

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked(a);
	if (!e || e->base == a) {
		kmem_lock_release(&km.huge_lock);
		return false;
	}
	size = e->size;
	kmem_lock_release(&km.huge_lock);
	guard_pages(a, size, &lo, &hi);
	if ((bad = canary_broken(lo, a - lo)) != NULL)
		snprintf(what, sizeof(what), "block of %zu bytes: written before its start at offset -%zu "
			 "(byte 0x%02x)", size, (size_t)(a - (uintptr_t)bad), *bad);
	else if ((bad = canary_broken(a + size, hi - a - size)) != NULL)
		snprintf(what, sizeof(what), "block of %zu bytes: written past its end at offset %zu "
			 "(byte 0x%02x)", size, (size_t)((uintptr_t)bad - a), *bad);
	if (bad) {
		memset((void *)lo, KM_CANARY, a - lo);
		memset((void *)(a + size), KM_CANARY, hi - a - size);
		kmem_km_misuse(KMEM_REDZONE, p, what, caller);
	}
	return true;
}

void kmem_km_guard_retire(void *p)
{
	uintptr_t a = (uintptr_t)p, lo, hi;
	struct km_huge *e;
	size_t size;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked(a);
	size = e && !e->retired ? e->size : 0;
	if (size) {
		e->retired = true;
		km.huge_n--;
		km.huge_bytes -= e->len;
	}
	kmem_lock_release(&km.huge_lock);
	if (!size)
		return;
	guard_pages(a, size, &lo, &hi);
	(void)kmem_pages_decommit((void *)lo, hi - lo); /* failing: the block stays readable */
}

/* Free a huge block; false if p is not one. */
bool kmem_km_huge_free(void *p)
{
	struct km_huge *e;
	uintptr_t base;
	size_t len;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked((uintptr_t)p);
	if (!e) {
		kmem_lock_release(&km.huge_lock);
		return false;
	}
	len = e->len;
	base = e->base;
	e->addr = 1;
	km.huge_freed[km.huge_freed_i++ % KM_HUGE_FREED_N] = (uintptr_t)p;
	if (!e->retired) {
		km.huge_n--;
		km.huge_bytes -= len;
	}
	kmem_lock_release(&km.huge_lock);
	if (base != (uintptr_t)p)
		kmem_pages_unreserve((void *)base, len); /* a guarded block */
	else if (!hcache_put(base, len))
		kmem_pages_unmap(p, len);
	return true;
}

size_t kmem_km_huge_size(const void *p)
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

bool kmem_km_huge_was_freed(const void *p)
{
	bool freed = false;

	kmem_lock_acquire(&km.huge_lock);
	if (!huge_find_locked((uintptr_t)p))
		for (unsigned i = 0; i < KM_HUGE_FREED_N && !freed; i++)
			freed = p && km.huge_freed[i] == (uintptr_t)p;
	kmem_lock_release(&km.huge_lock);
	return freed;
}

size_t kmem_km_huge_enclosing(const void *p, uintptr_t *start)
{
	uintptr_t a = (uintptr_t)p;
	size_t n = 0;

	kmem_lock_acquire(&km.huge_lock);
	for (size_t j = 0; j < km.huge_cap && !n; j++) {
		const struct km_huge *e = &km.huge[j];

		if (e->addr > 1 && a - e->base < e->len) { /* its mapping, guard pages included */
			*start = e->addr;
			n = e->size;
		}
	}
	kmem_lock_release(&km.huge_lock);
	return n;
}

/* Where the port cannot remap: a new huge block, the contents copied, the
 * old block freed. NULL if there is no memory (p still valid). */
static void *huge_realloc_copy(void *p, size_t size)
{
	size_t have = kmem_km_huge_size(p);
	void *q = kmem_km_huge_alloc(size, 0, false);

	if (!q)
		return NULL;
	memcpy(q, p, have < size ? have : size);
	(void)kmem_km_huge_free(p);
	return q;
}

/* Resize a huge block in place or by moving its pages (kmem_pages_remap);
 * NULL if that fails (p still valid). */
void *kmem_km_huge_realloc(void *p, size_t size)
{
	size_t len = (size + KM_FRAME - 1) & ~(KM_FRAME - 1);
	struct km_huge *e;
	void *q;
	int rc;

	kmem_lock_acquire(&km.huge_lock);
	e = huge_find_locked((uintptr_t)p);
	if (!e) {
		kmem_lock_release(&km.huge_lock);
		return NULL;
	}
	rc = kmem_pages_remap(p, e->len, len, &q);
	if (rc) {
		kmem_lock_release(&km.huge_lock);
		return rc == -ENOSYS ? huge_realloc_copy(p, size) : NULL;
	}
	if (q == p) {
		km.huge_bytes = km.huge_bytes - e->len + len;
		if (km.huge_bytes > km.huge_max_bytes)
			km.huge_max_bytes = km.huge_bytes;
		e->len = e->size = len;
	} else {
		e->addr = 1;
		km.huge_n--;
		km.huge_bytes -= e->len;
		if (!huge_insert_locked((uintptr_t)q, len, len, (uintptr_t)q)) {
			/* no room to remember it: give it back as a copy cannot be made */
			kmem_lock_release(&km.huge_lock);
			kmem_pages_unmap(q, len);
			return NULL;
		}
	}
	kmem_lock_release(&km.huge_lock);
	return q;
}

void kmem_km_huge_stats(struct km_huge_stats *st)
{
	kmem_lock_acquire(&km.huge_lock);
	st->n = km.huge_n;
	st->bytes = km.huge_bytes;
	st->max_n = km.huge_max_n;
	st->max_bytes = km.huge_max_bytes;
	st->cached_n = km.hcache_n;
	st->cached_bytes = km.hcache_bytes;
	st->cache_hits = km.hcache_hits;
	kmem_lock_release(&km.huge_lock);
}

int kmem_km_huge_check(void)
{
	char what[160];
	size_t bytes = 0;
	int bad = 0;

	what[0] = '\0';
	kmem_lock_acquire(&km.huge_lock);
	if (km.hcache_n > KM_HCACHE_N) {
		snprintf(what, sizeof(what), "huge cache: %u entries, more than %u", km.hcache_n, KM_HCACHE_N);
		bad = 1;
	}
	for (unsigned i = 0; !bad && i < km.hcache_n; i++) {
		const struct km_hcache *c = &km.hcache[i];

		bytes += c->len;
		if (!c->len || ((c->addr | c->len) & (KM_FRAME - 1)) || c->addr + c->len < c->addr) {
			snprintf(what, sizeof(what), "huge cache: entry %u (%p, %zu bytes) not a page range", i,
				 (void *)c->addr, c->len);
			bad = 1;
		} else if (i && (c[-1].addr + c[-1].len > c->addr ||
				 (c[-1].addr + c[-1].len == c->addr && c[-1].sealed == c->sealed))) {
			snprintf(what, sizeof(what), "huge cache: entry %u (%p) %s entry %u", i, (void *)c->addr,
				 c[-1].addr + c[-1].len == c->addr ? "adjacent to (not joined with)"
								   : "overlaps or is below", i - 1);
			bad = 1;
		}
		/* no live huge block inside a cached range */
		for (size_t j = 0; !bad && j < km.huge_cap; j++) {
			const struct km_huge *e = &km.huge[j];

			if (e->addr > 1 && e->base < c->addr + c->len && c->addr < e->base + e->len) {
				snprintf(what, sizeof(what), "huge cache: entry %u (%p) overlaps the live huge block %p",
					 i, (void *)c->addr, (void *)e->addr);
				bad = 1;
			}
		}
	}
	if (!bad && (bytes != km.hcache_bytes || bytes > KM_HCACHE_BYTES)) {
		snprintf(what, sizeof(what), "huge cache: %zu bytes counted, %zu in its entries (at most %zu)",
			 km.hcache_bytes, bytes, KM_HCACHE_BYTES);
		bad = 1;
	}
	kmem_lock_release(&km.huge_lock);
	if (bad)
		kmem_km_misuse(KMEM_CORRUPTION, NULL, what, NULL);
	return bad ? -EIO : 0;
}
