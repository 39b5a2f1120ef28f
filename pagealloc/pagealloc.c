/* pagealloc.c - the frame service's configuration, init and destroy,
 * watermarks and the page-source glue (growth and release: release.c).
 * Pools and the alloc/free paths are in pool.c, the per-thread caches in
 * pcp.c, reference counts in refs.c, reclaim and OOM in reclaim.c, clients
 * in client.c, the reaper in reaper.c; stats, text and the checker in
 * pa_info.c.
 *
 * Algorithm (init):
 *   1. managed = the buddy's managed minus reserved frames.
 *   2. Watermarks, unless given (Linux's calculate_min_free_kbytes and
 *      watermark_scale_factor): min_kb = isqrt(16 * managed_kb) clamped to
 *      [128, 65536] KiB; min = min_kb * 1024 / frame clamped to [1,
 *      managed / 32]; gap = max(min / 4, managed / 1000, 1); low = min +
 *      gap; high = min + 2 * gap.
 *      4 GiB of 4 KiB frames: managed_kb 4194304, min_kb 8192, min 2048,
 *      gap 1048, low 3096, high 4144.
 *   3. Zeroed-pool targets: zero_high = min(high, managed / 8), zero_low =
 *      zero_high / 2; pool capacities zero_high >> o (at least 1) for both
 *      pools of order o, in one buddy block.
 *   4. Per-thread cache batch and high (pcp.c), locks, the reaper's
 *      mutex/condition, the cache key (or the one cache without threads).
 * destroy stops the reaper, returns every cache and pooled block and the
 * tables to the buddy, and reports clients that still hold frames.
 * Bound: init O(PA_ORDERS + max_order); destroy O(cached + pooled blocks).
 *
 * Data structures and invariants (P6 here): see pa_internal.h.
 *
 * Locking: set_watermarks writes under pa->lock (the
 * watermarks are read relaxed elsewhere); init and destroy run with no
 * other thread using the instance.
 *
 * Tunables (struct kmem_pa_config, defaults in kmem/pagealloc.h): the
 * watermarks (derived as above: Linux's scaling keeps min small on big
 * machines and the low-high gap a fixed fraction), zero_low/zero_high (half
 * of high, an eighth of memory at most: zeroed frames are prepared work,
 * not reserve), pcp_batch/pcp_high, zero_rate, oom_retries, share policy,
 * reclaim scope, flags.
 */
#include "pa_internal.h"

#include <stdarg.h>

void kmem_pa_config_init(struct kmem_pa_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg)); /* every default is 0 but the decay's */
	cfg->decay_ms = KMEM_PA_DECAY_DEFAULT_MS;
}

size_t kmem_pa_sizeof(void)
{
	return (sizeof(struct kmem_pagealloc) + 15) & ~(size_t)15;
}

void kmem_pa_report(struct kmem_pagealloc *pa, enum kmem_status st, const void *ptr,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kmem_vreportf(pa->sink, "pagealloc", pa->name, st, ptr, -1, NULL, fmt, ap);
	va_end(ap);
}

struct kmem_buddy *kmem_pa_buddy(struct kmem_pagealloc *pa)
{
	return pa->b;
}

size_t kmem_pa_released_frames(struct kmem_pagealloc *pa)
{
	return pa_relaxed(&pa->rel_frames);
}

struct kmem_error_sink *kmem_pa_error_sink(struct kmem_pagealloc *pa)
{
	return pa->sink;
}

/* ---- page source ------------------------------------------------------------------ */

static void *ps_alloc(void *ctx, unsigned order, unsigned flags)
{
	return kmem_pa_alloc(ctx, order, flags);
}

static void ps_free(void *ctx, void *block, unsigned order)
{
	kmem_pa_free(ctx, block, order);
}

static int ps_set_owner(void *ctx, void *block, void *owner)
{
	return kmem_buddy_set_owner(((struct kmem_pagealloc *)ctx)->b, block, owner);
}

static void *ps_get_owner(void *ctx, const void *addr)
{
	return kmem_buddy_owner(((struct kmem_pagealloc *)ctx)->b, addr);
}

static int ps_register(void *ctx, struct kmem_shrinker *sh)
{
	return kmem_pa_register_shrinker(ctx, sh);
}

static void ps_unregister(void *ctx, struct kmem_shrinker *sh)
{
	kmem_pa_unregister_shrinker(ctx, sh);
}

void kmem_pa_page_source(struct kmem_pagealloc *pa, struct kmem_page_source *ps)
{
	kmem_buddy_page_source(pa->b, ps); /* owner words and table */
	ps->alloc_pages = ps_alloc;
	ps->free_pages = ps_free;
	ps->ctx = pa;
	ps->register_shrinker = ps_register;
	ps->unregister_shrinker = ps_unregister;
	if (ps->set_owner) { /* owner words live in the buddy */
		ps->set_owner = ps_set_owner;
		ps->get_owner = ps_get_owner;
	}
}

/* ---- init / destroy ----------------------------------------------------------------- */

static size_t isqrt(size_t x)
{
	size_t r = 0, bit = (size_t)1 << (sizeof(size_t) * 8 - 2);

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
		bit >>= 2;
	}
	return r;
}

static void default_watermarks(size_t managed, size_t frame, size_t *min, size_t *low,
			       size_t *high)
{
	size_t kb = managed * (frame / 64) / 16; /* managed KiB, overflow-safe */
	size_t min_kb = isqrt(kb * 16), gap;

	if (min_kb < 128)
		min_kb = 128;
	if (min_kb > 65536)
		min_kb = 65536;
	*min = min_kb * 1024 / frame;
	if (*min > managed / 32)
		*min = managed / 32;
	if (*min < 1)
		*min = 1;
	gap = *min / 4;
	if (gap < managed / 1000)
		gap = managed / 1000;
	if (gap < 1)
		gap = 1;
	*low = *min + gap;
	*high = *min + 2 * gap;
}

static bool watermarks_ok(size_t managed, size_t min, size_t low, size_t high)
{
	return min > 0 && min < low && low < high && high <= managed;
}

int kmem_pa_set_watermarks(struct kmem_pagealloc *pa, size_t min, size_t low, size_t high)
{
	if (!watermarks_ok(pa->managed, min, low, high))
		return -EINVAL;
	kmem_lock_acquire(&pa->lock);
	kmem_atomic_store_relaxed(&pa->wmin, min);
	kmem_atomic_store_relaxed(&pa->wlow, low);
	kmem_atomic_store_relaxed(&pa->whigh, high);
	kmem_lock_release(&pa->lock);
	kmem_pa_kick(pa);
	return 0;
}

int kmem_pa_init(void *mem, size_t mem_size, const struct kmem_pa_config *cfg,
		 struct kmem_pagealloc **out)
{
	struct kmem_pagealloc *pa = mem;
	struct kmem_buddy_stats bst;
	size_t slots = 0, batch;
	void **slot;
	int order, rc;

	if (!cfg || !cfg->buddy || !mem || ((uintptr_t)mem & 15) || !out ||
	    (cfg->flags & ~KMEM_PA_FLAGS_ALL) || (unsigned)cfg->init_policy > KMEM_PA_INIT_NONE ||
	    (unsigned)cfg->share_policy > KMEM_PA_SHARE_PRIORITY ||
	    (unsigned)cfg->reclaim_scope > KMEM_PA_RECLAIM_LOCAL || cfg->decay_ms < -1 ||
	    cfg->decay_ms > KMEM_PA_DECAY_MAX_MS)
		return -EINVAL;
	if (mem_size < kmem_pa_sizeof())
		return -ENOSPC;
	kmem_buddy_get_stats(cfg->buddy, &bst);
	memset(pa, 0, sizeof(*pa));
	pa->b = cfg->buddy;
	pa->managed = bst.managed_frames - bst.reserved_frames;
	pa->frame_size = bst.frame_size;
	pa->frame_shift = kmem_ctzptr(bst.frame_size);
	pa->max_order = bst.max_order;
	if (cfg->wmark_min || cfg->wmark_low || cfg->wmark_high) {
		if (!watermarks_ok(pa->managed, cfg->wmark_min, cfg->wmark_low, cfg->wmark_high))
			return -EINVAL;
		pa->wmin = cfg->wmark_min;
		pa->wlow = cfg->wmark_low;
		pa->whigh = cfg->wmark_high;
	} else {
		if (pa->managed < 8)
			return -EINVAL;
		default_watermarks(pa->managed, pa->frame_size, &pa->wmin, &pa->wlow, &pa->whigh);
	}
	pa->zhigh = cfg->zero_high ? cfg->zero_high : pa->whigh;
	if (!cfg->zero_high && pa->zhigh > pa->managed / 8)
		pa->zhigh = pa->managed / 8;
	pa->zlow = cfg->zero_low ? cfg->zero_low : pa->zhigh / 2;
	if (pa->zlow > pa->zhigh || pa->zhigh > pa->managed)
		return -EINVAL;
	batch = cfg->pcp_batch ? cfg->pcp_batch : pa->managed / 1024;
	if (!cfg->pcp_batch) {
		if (batch > 31)
			batch = 31;
		if (batch < 1)
			batch = 1;
		batch = ((size_t)1 << kmem_flsptr(batch + 1)) - 1; /* 2^n - 1 */
		if (batch > 31)
			batch = 31;
	}
	pa->batch = (unsigned)batch;
	pa->high = cfg->pcp_high ? cfg->pcp_high : 6 * pa->batch;
	if (pa->high < pa->batch || pa->batch == 0)
		return -EINVAL;
	pa->zero_rate = cfg->zero_rate ? cfg->zero_rate : PA_DEFAULT_ZERO_RATE;
	pa->oom_retries = cfg->oom_retries ? cfg->oom_retries : 3;
	pa->share_policy = cfg->share_policy;
	pa->scope = cfg->reclaim_scope;
	pa->policy = cfg->init_policy;
	pa->zero_all = cfg->init_policy == KMEM_PA_INIT_NONE ? 0 : KMEM_PAGE_ZERO;
	pa->wipe = cfg->init_policy == KMEM_PA_INIT_ON_FREE;
	pa->flags = cfg->flags;
	pa->sink = cfg->sink ? cfg->sink : kmem_buddy_error_sink(cfg->buddy);
	pa->oom_handler = cfg->oom_handler;
	pa->oom_arg = cfg->oom_arg;
	pa->on_thrash = cfg->on_thrash;
	pa->thrash_arg = cfg->thrash_arg;
	pa->grow = cfg->grow;
	pa->grow_arg = cfg->grow_arg;
	pa->rel_order = cfg->release_order;
	if (!cfg->as_map != !cfg->as_unmap || (cfg->as_unmap && !cfg->as_tight))
		return -EINVAL; /* unmapped blocks need a way back */
	pa->as_tight = cfg->as_tight;
	pa->as_unmap = cfg->as_unmap;
	pa->as_map = cfg->as_map;
	pa->as_arg = cfg->as_arg;
	pa->decay_ns = cfg->decay_ms < 0 ? UINT64_MAX : (uint64_t)cfg->decay_ms * 1000000u;
	/* the shrinkers' idle period (decision 36): a quarter of the decay
	 * time, at least 1 ms; 1 s when freed memory goes back at once; none
	 * when it never goes back unasked */
	pa->idle_ns = pa->decay_ns == UINT64_MAX ? 0 : pa->decay_ns == 0 ? 1000000000u
		    : pa->decay_ns / 4 > 1000000u ? pa->decay_ns / 4 : 1000000u;
	pa->clock = cfg->clock;
	pa->clock_arg = cfg->clock_arg;
	strncpy(pa->name, cfg->name ? cfg->name : "pagealloc", PA_NAME_MAX - 1);
	/* pool arrays: zeroed pools hold zero_high >> order blocks, dirty
	 * pools as many; none from PA_POOL_ORDERS up (pa_internal.h) */
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		size_t cap = o >= PA_POOL_ORDERS ? 0 : (pa->zhigh >> o) ? (pa->zhigh >> o) : 1;

		pa->zpool[o].cap = cap;
		pa->dpool[o].cap = cap;
		slots += 2 * cap;
	}
	order = kmem_buddy_size_to_order(pa->b, slots * sizeof(void *));
	if (order < 0 || (pa->pool_mem = kmem_buddy_alloc(pa->b, (unsigned)order)) == NULL)
		return -ENOMEM;
	pa->pool_order = (unsigned)order;
	slot = pa->pool_mem;
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		pa->zpool[o].blk = slot;
		slot += pa->zpool[o].cap;
		pa->dpool[o].blk = slot;
		slot += pa->dpool[o].cap;
	}
	rc = kmem_lock_init(&pa->lock, true);
	if (!rc && (rc = kmem_lock_init(&pa->shrink_lock, true)) != 0)
		kmem_lock_destroy(&pa->lock);
	if (!rc && (rc = kmem_pa_rel_init(pa)) != 0) {
		kmem_lock_destroy(&pa->shrink_lock);
		kmem_lock_destroy(&pa->lock);
	}
	if (rc) {
		(void)kmem_buddy_free_checked(pa->b, pa->pool_mem, (int)pa->pool_order);
		return rc;
	}
	/* fields shared through relaxed atomics on purpose (Helgrind, DRD) */
	KMEM_ANNOT_BENIGN_RACE(&pa->zero_frames, 3 * sizeof(size_t));
	KMEM_ANNOT_BENIGN_RACE(&pa->wmin, 3 * sizeof(size_t));
	KMEM_ANNOT_BENIGN_RACE(&pa->allocs, (size_t)((char *)(&pa->zero_misses + 1) -
						     (char *)&pa->allocs));
	KMEM_ANNOT_BENIGN_RACE(&pa->nshrinkers, sizeof(pa->nshrinkers));
	KMEM_ANNOT_BENIGN_RACE(&pa->rel_frames, sizeof(pa->rel_frames));
	KMEM_ANNOT_BENIGN_RACE(&pa->rel_peak, sizeof(pa->rel_peak));
	KMEM_ANNOT_BENIGN_RACE(&pa->decay_epoch, sizeof(pa->decay_epoch));
	KMEM_ANNOT_BENIGN_RACE(&pa->decay_keep, sizeof(pa->decay_keep));
	KMEM_ANNOT_BENIGN_RACE(&pa->rel_debt, sizeof(pa->rel_debt));
	KMEM_ANNOT_BENIGN_RACE(&pa->rel_armed, sizeof(pa->rel_armed));
	KMEM_ANNOT_BENIGN_RACE(&pa->rel_mapped, sizeof(pa->rel_mapped));
	KMEM_ANNOT_BENIGN_RACE(pa->client, sizeof(pa->client));
	pa->magic = PA_MAGIC;
	rc = kmem_pa_reaper_init(pa);
	if (rc) {
		kmem_lock_destroy(&pa->rel_lock);
		kmem_lock_destroy(&pa->shrink_lock);
		kmem_lock_destroy(&pa->lock);
		(void)kmem_buddy_free_checked(pa->b, pa->pool_mem, (int)pa->pool_order);
		return rc;
	}
	kmem_pa_pcp_init(pa);
	kmem_pa_rel_adopt_free(pa);
	*out = pa;
	return 0;
}

void kmem_pa_destroy(struct kmem_pagealloc *pa)
{
	kmem_pa_reaper_stop(pa);
	kmem_pa_reaper_fini(pa);
	kmem_pa_pcp_fini(pa);
	kmem_lock_acquire(&pa->lock);
	kmem_pa_drain_locked(pa, true);
	(void)kmem_pa_rel_return_all_locked(pa);
	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		struct kmem_pa_client *cl = &pa->client[i];

		if (cl->live && pa_relaxed(&cl->held))
			kmem_pa_report(pa, KMEM_LEAK, NULL,
				       "client %s still holds %zu frames when the instance is destroyed",
				       cl->name, pa_relaxed(&cl->held));
	}
	if (pa->refs)
		(void)kmem_buddy_free_checked(pa->b, pa->refs, (int)pa->ref_order);
	(void)kmem_buddy_free_checked(pa->b, pa->pool_mem, (int)pa->pool_order);
	kmem_lock_release(&pa->lock);
	kmem_lock_destroy(&pa->rel_lock);
	kmem_lock_destroy(&pa->shrink_lock);
	kmem_lock_destroy(&pa->lock);
	pa->magic = 0;
}
