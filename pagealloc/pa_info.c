/* pa_info.c - the frame service's statistics, /proc-style text and
 * invariant checker.
 *
 * Algorithm (checker, kmem_pa_check): under the instance lock,
 *   1. P6 the watermarks; P8 the shadow count; P4 the cache list, walked at
 *      most npcp + 1 steps, and every cache's counts against its capacity;
 *   2. per order: sort each pool's array in place (heapsort: no memory to
 *      allocate) and test P2 counts, P1 order in the buddy and uniqueness
 *      (adjacent duplicates, binary search across the two pools, lookups in
 *      the reference table), P3 zeroed contents; then the calling thread's
 *      cache against the sorted pools and itself;
 *   3. P2 the pool sums; P5 the client table and charges against the
 *      buddy's used frames; P7 the reference table (every slot, and the
 *      probe chain of every entry);
 *   4. the first broken invariant is reported as KMEM_CORRUPTION with its
 *      number ("P3: ...") after the lock is dropped, and the buddy's own
 *      checker runs last.
 * Bound: O(pooled bytes) for P3, O(pooled blocks * log) for the sorts and
 * searches, O(cache^2) for one cache's uniqueness, O(ref_cap * probe run)
 * for P7. Other threads' caches are counted, never read (their owners
 * change them without a lock), so exact results need quiescence.
 *
 * Locking: kmem_pa_get_stats and the checker take pa->lock; check_locked
 * expects it held; the buddy's lock nests inside it. Nothing is allocated.
 */
#include "pa_internal.h"
#include "kmem_fmt.h"

static const char *const policy_name[] = {"init_on_alloc", "init_on_free", "none"};

void kmem_pa_get_stats(struct kmem_pagealloc *pa, struct kmem_pa_stats *st)
{
	size_t pcp = 0;
	const struct pa_pcp *p;
	struct pa_pcp *me = pa_pcp_self(pa);

	memset(st, 0, sizeof(*st));
	kmem_lock_acquire(&pa->lock);
	if (me) /* the caller's own cache counts are exact; others' fold at
		 * their next slow path or thread exit */
		kmem_pa_pcp_fold_locked(pa, me);
	KMEM_LIST_FOR_EACH_ENTRY(p, &pa->pcps, const struct pa_pcp, link)
		for (unsigned o = 0; o < PA_ORDERS; o++)
			pcp += ((size_t)kmem_atomic_load_relaxed(&p->l[o].nz) +
				kmem_atomic_load_relaxed(&p->l[o].nd))
			       << o;
	st->pcp_threads = pa->npcp;
	st->zeroed = pa->zero_frames;
	st->dirty = pa->dirty_frames;
	st->buddy_free = kmem_buddy_free_frames(pa->b);
	st->free = st->buddy_free + st->zeroed + st->dirty + pa->busy_frames + pa->rel_frames;
	st->wmark_min = pa->wmin;
	st->wmark_low = pa->wlow;
	st->wmark_high = pa->whigh;
	st->zero_low = pa->zlow;
	st->zero_high = pa->zhigh;
	st->nr_clients = pa->nclients;
	st->allocs = pa->allocs;
	st->frees = pa->frees;
	st->pcp_hits = pa->pcp_hits;
	st->pcp_refills = pa->pcp_refills;
	st->pcp_drains = pa->pcp_drains;
	st->zero_hits = pa->zero_hits;
	st->zeroed_bg = pa->zeroed_bg;
	st->zeroed_inline = pa->zeroed_inline;
	st->zeroed_free = pa_read(&pa->zeroed_free);
	st->reaper_wakeups = pa->reaper_wakeups;
	st->reaper_cycles = pa->reaper_cycles;
	st->reclaimed_bg = pa->reclaimed_bg;
	st->grows = pa_read(&pa->grows);
	st->grown_frames = pa_read(&pa->grown_frames);
	st->releases = pa_read(&pa->releases);
	st->released_frames = pa_read(&pa->released_frames);
	st->released_held = pa->rel_frames;
	st->used_peak = pa_relaxed(&pa->rel_peak);
	st->decay_keep = pa_relaxed(&pa->decay_keep);
	st->released_reused = pa_read(&pa->released_reused);
	st->high_dips = pa->high_dips;
	st->refaults = pa->refaults;
	st->thrash_events = pa->thrash_events;
	kmem_lock_release(&pa->lock);
	st->frame_size = pa->frame_size;
	st->managed = pa->managed;
	st->pcp = pcp;
	st->used = st->managed > st->free + pcp ? st->managed - st->free - pcp : 0;
	st->pcp_batch = pa->batch;
	st->pcp_high = pa->high;
	st->nr_shrinkers = kmem_atomic_load_relaxed(&pa->nshrinkers);
	st->reaper_running = kmem_pa_reaper_running(pa);
	st->init_policy = pa->policy;
	st->zeroer_wakeups = pa_read(&pa->zeroer_wakeups);
	st->direct_reclaims = pa_read(&pa->direct_reclaims);
	st->reclaimed_direct = pa_read(&pa->reclaimed_direct);
	st->oom_events = pa_read(&pa->oom_events);
	st->oom_released = pa_read(&pa->oom_released);
	st->alloc_fails = pa_read(&pa->alloc_fails);
	st->nowait_fails = pa_read(&pa->nowait_fails);
}

int kmem_pa_format_vmstat(struct kmem_pagealloc *pa, char *buf, size_t len)
{
	struct kmem_pa_stats st;
	struct kmem_fmt f;
	uint64_t zero_req;

	kmem_pa_get_stats(pa, &st);
	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "nr_free_pages %zu\n", st.free);
	kmem_fmt_printf(&f, "nr_zeroed_pages %zu\n", st.zeroed);
	kmem_fmt_printf(&f, "nr_dirty_pages %zu\n", st.dirty);
	kmem_fmt_printf(&f, "nr_pcp_pages %zu\n", st.pcp);
	kmem_fmt_printf(&f, "nr_used_pages %zu\n", st.used);
	kmem_fmt_printf(&f, "nr_managed_pages %zu\n", st.managed);
	kmem_fmt_printf(&f, "pgalloc %llu\n", (unsigned long long)st.allocs);
	kmem_fmt_printf(&f, "pgfree %llu\n", (unsigned long long)st.frees);
	kmem_fmt_printf(&f, "pgalloc_pcp %llu\n", (unsigned long long)st.pcp_hits);
	kmem_fmt_printf(&f, "pcp_refill %llu\n", (unsigned long long)st.pcp_refills);
	kmem_fmt_printf(&f, "pcp_drain %llu\n", (unsigned long long)st.pcp_drains);
	kmem_fmt_printf(&f, "pgalloc_zeroed_hit %llu\n", (unsigned long long)st.zero_hits);
	zero_req = st.zero_hits + pa_read(&pa->zero_misses);
	kmem_fmt_printf(&f, "zeroed_hit_permille %llu\n",
			(unsigned long long)(zero_req ? st.zero_hits * 1000 / zero_req : 0));
	kmem_fmt_printf(&f, "pgzero_background %llu\n", (unsigned long long)st.zeroed_bg);
	kmem_fmt_printf(&f, "pgzero_inline %llu\n", (unsigned long long)st.zeroed_inline);
	kmem_fmt_printf(&f, "pgzero_free %llu\n", (unsigned long long)st.zeroed_free);
	kmem_fmt_printf(&f, "reaper_wake %llu\n", (unsigned long long)st.reaper_wakeups);
	kmem_fmt_printf(&f, "reaper_cycles %llu\n", (unsigned long long)st.reaper_cycles);
	kmem_fmt_printf(&f, "zeroer_wake %llu\n", (unsigned long long)st.zeroer_wakeups);
	kmem_fmt_printf(&f, "pgreclaim_background %llu\n", (unsigned long long)st.reclaimed_bg);
	kmem_fmt_printf(&f, "grow %llu\n", (unsigned long long)st.grows);
	kmem_fmt_printf(&f, "grow_pages %llu\n", (unsigned long long)st.grown_frames);
	kmem_fmt_printf(&f, "release %llu\n", (unsigned long long)st.releases);
	kmem_fmt_printf(&f, "release_pages %llu\n", (unsigned long long)st.released_frames);
	kmem_fmt_printf(&f, "released_held_pages %llu\n", (unsigned long long)st.released_held);
	kmem_fmt_printf(&f, "released_reused_pages %llu\n", (unsigned long long)st.released_reused);
	kmem_fmt_printf(&f, "decay_keep_pages %llu\n", (unsigned long long)st.decay_keep);
	kmem_fmt_printf(&f, "direct_reclaim %llu\n", (unsigned long long)st.direct_reclaims);
	kmem_fmt_printf(&f, "pgreclaim_direct %llu\n", (unsigned long long)st.reclaimed_direct);
	kmem_fmt_printf(&f, "oom_events %llu\n", (unsigned long long)st.oom_events);
	kmem_fmt_printf(&f, "oom_released %llu\n", (unsigned long long)st.oom_released);
	kmem_fmt_printf(&f, "alloc_fail %llu\n", (unsigned long long)st.alloc_fails);
	kmem_fmt_printf(&f, "alloc_nowait_fail %llu\n", (unsigned long long)st.nowait_fails);
	kmem_fmt_printf(&f, "alloc_high_dip %llu\n", (unsigned long long)st.high_dips);
	kmem_fmt_printf(&f, "refault %llu\n", (unsigned long long)st.refaults);
	kmem_fmt_printf(&f, "thrashing %llu\n", (unsigned long long)st.thrash_events);
	/* the list changes under both locks, so the instance lock suffices
	 * (and a shrinker's own scan may format this) */
	kmem_lock_acquire(&pa->lock);
	for (const struct kmem_shrinker *sh = pa->shrinkers; sh; sh = sh->next_) {
		kmem_fmt_printf(&f, "shrinker_%s_calls %llu\n", sh->name ? sh->name : "anon",
				(unsigned long long)pa_read(&sh->calls_));
		kmem_fmt_printf(&f, "shrinker_%s_reclaimed %llu\n", sh->name ? sh->name : "anon",
				(unsigned long long)pa_read(&sh->released_));
	}
	kmem_lock_release(&pa->lock);
	return kmem_fmt_result(&f);
}

int kmem_pa_format_zoneinfo(struct kmem_pagealloc *pa, char *buf, size_t len)
{
	struct kmem_pa_stats st;
	struct kmem_fmt f;

	kmem_pa_get_stats(pa, &st);
	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "Node 0, zone %8s\n", pa->name);
	kmem_fmt_printf(&f, "  pages free     %zu\n", st.free);
	kmem_fmt_printf(&f, "        min      %zu\n", st.wmark_min);
	kmem_fmt_printf(&f, "        low      %zu\n", st.wmark_low);
	kmem_fmt_printf(&f, "        high     %zu\n", st.wmark_high);
	kmem_fmt_printf(&f, "        managed  %zu\n", st.managed);
	kmem_fmt_printf(&f, "        used     %zu\n", st.used);
	kmem_fmt_printf(&f, "  pools zeroed   %zu (low %zu, high %zu)\n", st.zeroed, st.zero_low,
			st.zero_high);
	kmem_fmt_printf(&f, "        dirty    %zu\n", st.dirty);
	kmem_fmt_printf(&f, "        policy   %s\n", policy_name[st.init_policy]);
	kmem_fmt_printf(&f, "  pagesets (%u threads)\n", st.pcp_threads);
	kmem_fmt_printf(&f, "    count: %zu\n", st.pcp);
	kmem_fmt_printf(&f, "    high:  %u\n", st.pcp_high);
	kmem_fmt_printf(&f, "    batch: %u\n", st.pcp_batch);
	kmem_fmt_printf(&f, "  reaper %s, shrinkers %u, clients %u\n",
			st.reaper_running ? "running" : "stopped", st.nr_shrinkers, st.nr_clients);
	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		struct kmem_pa_client_stats cs;

		if (!pa->client[i].live)
			continue;
		kmem_pa_client_get_stats(&pa->client[i], &cs);
		kmem_fmt_printf(&f,
				"  client %s held %zu peak %zu share %zu min %zu max %zu prio %d "
				"oom_score %ld\n",
				cs.name, cs.held, cs.peak, cs.share, cs.min_frames, cs.max_frames,
				cs.priority, cs.oom_score);
	}
	return kmem_fmt_result(&f);
}

/* ---- checker ---------------------------------------------------------------- */

struct check_err {
	const void *ptr;
	const char *what;	/* "P<n>: ..." */
};

/* Record the first broken invariant; reported after the lock is dropped. */
#define check_fail(p, w) (err->ptr = (p), err->what = (w), -EFAULT)

/* In-place heapsort of pointers (no memory to allocate here). */
static void sift(void **a, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		void *t;

		if (c >= n)
			return;
		if (c + 1 < n && (uintptr_t)a[c + 1] > (uintptr_t)a[c])
			c++;
		if ((uintptr_t)a[i] >= (uintptr_t)a[c])
			return;
		t = a[i];
		a[i] = a[c];
		a[c] = t;
		i = c;
	}
}

static void sort_ptrs(void **a, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (size_t k = n; k-- > 1;) {
		void *t = a[0];

		a[0] = a[k];
		a[k] = t;
		sift(a, 0, k);
	}
}

static bool in_sorted(void *const *a, size_t n, const void *x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)a[mid] == (uintptr_t)x)
			return true;
		if ((uintptr_t)a[mid] < (uintptr_t)x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool all_zero(const struct kmem_pagealloc *pa, void *blk, unsigned order)
{
	size_t bytes = pa->frame_size << order;
	const unsigned char *p = blk;
	bool ok = true;

	KMEM_ANNOT_DEFINED(blk, bytes);
	for (size_t i = 0; i < bytes && ok; i++)
		ok = p[i] == 0;
	KMEM_ANNOT_NOACCESS(blk, bytes);
	return ok;
}

static unsigned check_cap(const struct kmem_pagealloc *pa, unsigned order)
{
	return (pa->high >> order) ? (pa->high >> order) : 1;
}

/* P1 for a pool: buddy order, no duplicate, not shared; P3 for a zeroed
 * one. The pool is sorted. */
static int check_pool_locked(struct kmem_pagealloc *pa, const struct pa_pool *pl, unsigned o,
			     bool zeroed, struct check_err *err)
{
	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the checker needs the instance lock");
	for (size_t i = 0; i < pl->n; i++) {
		if (kmem_buddy_block_order(pa->b, pl->blk[i]) != (int)o)
			return check_fail(pl->blk[i],
					  "P1: pooled block not a used buddy block of its order");
		if (i && pl->blk[i] == pl->blk[i - 1])
			return check_fail(pl->blk[i], "P1: block twice in one pool");
		if (kmem_pa_ref_find_locked(pa, (uintptr_t)pl->blk[i]))
			return check_fail(pl->blk[i], "P1: pooled block has shared references");
		if (zeroed && !all_zero(pa, pl->blk[i], o))
			return check_fail(pl->blk[i], "P3: zeroed-pool block is not all zero");
	}
	return 0;
}

/* P1 and P3 for the calling thread's cache, order o (pools sorted). */
static int check_own_cache_locked(struct kmem_pagealloc *pa, const struct pa_pcp *me, unsigned o,
				  struct check_err *err)
{
	const struct pa_list *l = &me->l[o];
	const struct pa_pool *zp = &pa->zpool[o], *dp = &pa->dpool[o];
	unsigned n = l->nz + l->nd;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the checker needs the instance lock");
	for (unsigned i = 0; i < n; i++) {
		void *b = i < l->nz ? l->z[i] : l->d[i - l->nz];

		if (kmem_buddy_block_order(pa->b, b) != (int)o)
			return check_fail(b,
					  "P1: cached block not a used buddy block of its order");
		if (in_sorted(zp->blk, zp->n, b) || in_sorted(dp->blk, dp->n, b))
			return check_fail(b, "P1: cached block is also pooled");
		for (unsigned j = i + 1; j < n; j++)
			if ((j < l->nz ? l->z[j] : l->d[j - l->nz]) == b)
				return check_fail(b, "P1: block twice in a thread cache");
		if (kmem_pa_ref_find_locked(pa, (uintptr_t)b))
			return check_fail(b, "P1: cached block has shared references");
		if (i < l->nz && !all_zero(pa, b, o))
			return check_fail(b, "P3: zero-cached block is not all zero");
	}
	return 0;
}

/* P4: the cache list and every cache's counts and capacities. *cached:
 * frames in all caches (counts read relaxed). */
static int check_caches_locked(struct kmem_pagealloc *pa, size_t *cached, struct check_err *err)
{
	const struct kmem_list_node *at;
	const struct pa_pcp *p;
	size_t n;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the checker needs the instance lock");
	*cached = 0;
	switch (kmem_list_check(&pa->pcps, pa->npcp, &n, &at)) {
	case KMEM_LIST_SOUND:
		break;
	case KMEM_LIST_BAD_LINK:
		return check_fail(KMEM_LIST_ENTRY(at, const struct pa_pcp, link),
				  "P4: thread cache list badly linked");
	case KMEM_LIST_TOO_LONG:
		return check_fail(KMEM_LIST_ENTRY(at, const struct pa_pcp, link),
				  "P4: more thread caches on the list than npcp");
	}
	KMEM_LIST_FOR_EACH_ENTRY(p, &pa->pcps, const struct pa_pcp, link) {
		if (p->pa != pa)
			return check_fail(p, "P4: a thread cache on the list belongs to another instance");
		for (unsigned o = 0; o < PA_ORDERS; o++) {
			const struct pa_list *l = &p->l[o];
			unsigned nz = kmem_atomic_load_relaxed(&l->nz);
			unsigned nd = kmem_atomic_load_relaxed(&l->nd);

			if (l->capz != check_cap(pa, o) ||
			    l->capd != (pa->wipe ? 0 : check_cap(pa, o)))
				return check_fail(p,
						  "P4: cache capacity not max(high >> order, 1)");
			if (nz > l->capz || nd > l->capd)
				return check_fail(p, "P4: thread cache count above its capacity");
			*cached += ((size_t)nz + nd) << o;
		}
	}
	if (n != pa->npcp)
		return check_fail(NULL, "P4: fewer thread caches on the list than npcp");
	return 0;
}

/* P5: the client table and the charges. */
static int check_clients_locked(struct kmem_pagealloc *pa, size_t cached, struct check_err *err)
{
	struct kmem_buddy_stats bs;
	size_t held = 0, out, parked;
	unsigned live = 0;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the checker needs the instance lock");
	for (unsigned i = 0; i < KMEM_PA_MAX_CLIENTS; i++) {
		const struct kmem_pa_client *c = &pa->client[i];
		size_t h;

		if (!c->live)
			continue;
		live++;
		h = pa_relaxed(&c->held);
		held += h;
		if (c->max_frames && h > c->max_frames)
			return check_fail(c, "P5: client holds more than its hard limit");
	}
	if (live != pa->nclients)
		return check_fail(NULL, "P5: nclients is not the number of live clients");
	kmem_buddy_get_stats(pa->b, &bs);
	parked = pa->zero_frames + pa->dirty_frames + pa->busy_frames + pa->rel_frames + cached;
	out = bs.used_frames > parked ? bs.used_frames - parked : 0;
	if (held > out)
		return check_fail(NULL, "P5: client charges exceed the frames handed out");
	return 0;
}

/* P7: the reference table. */
static int check_refs_locked(struct kmem_pagealloc *pa, struct check_err *err)
{
	size_t n = 0, mask = pa->ref_cap - 1;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the checker needs the instance lock");
	if (!pa->ref_cap)
		return pa->refs || pa->ref_n
			       ? check_fail(pa->refs, "P7: empty reference table not clear")
			       : 0;
	if (!pa->refs || pa->ref_cap < 4 || (pa->ref_cap & mask))
		return check_fail(pa->refs,
				  "P7: reference table capacity is not a power of two >= 4");
	if (kmem_buddy_block_order(pa->b, pa->refs) != (int)pa->ref_order ||
	    (pa->frame_size << pa->ref_order) < pa->ref_cap * sizeof(struct pa_ref))
		return check_fail(pa->refs,
				  "P7: reference table is not a used buddy block of ref_order");
	for (size_t i = 0; i < pa->ref_cap; i++) {
		const struct pa_ref *e = &pa->refs[i];
		size_t home;

		if (!e->addr)
			continue;
		n++;
		if (e->refs < 2)
			return check_fail((void *)e->addr,
					  "P7: shared-block entry with fewer than 2 references");
		if (kmem_buddy_block_order(pa->b, (void *)e->addr) < 0)
			return check_fail((void *)e->addr,
					  "P7: shared block is not a used buddy block");
		/* the probe chain from home reaches i without an empty slot,
		 * and holds no other entry for the same block */
		for (home = pa_ref_slot(pa, e->addr); home != i; home = (home + 1) & mask) {
			if (!pa->refs[home].addr)
				return check_fail((void *)e->addr,
						  "P7: shared-block entry off its probe chain");
			if (pa->refs[home].addr == e->addr)
				return check_fail((void *)e->addr,
						  "P7: block twice in the reference table");
		}
	}
	if (n != pa->ref_n || 2 * n > pa->ref_cap)
		return check_fail(NULL,
				  "P7: ref_n is not the occupied slots, or the load exceeds 1/2");
	return 0;
}

/* P9: the released lists (their blocks' first and last words read zero). */
static int check_released_locked(struct kmem_pagealloc *pa, struct check_err *err)
{
	size_t frames = 0;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the checker needs the instance lock");
	for (unsigned o = 0; o <= pa->max_order; o++) {
		size_t n = 0, bytes = pa->frame_size << o;

		for (void *b = pa->rel_head[o]; b; b = kmem_pa_rel_next(pa, b)) {
			const unsigned char *first = b, *last = first + bytes - sizeof(uintptr_t);
			uintptr_t w0, w1;

			if (++n > pa->rel_n[o])
				return check_fail(b, "P9: released list longer than its count (a loop?)");
			if (kmem_buddy_block_order(pa->b, b) != (int)o)
				return check_fail(b, "P9: released block is not a used buddy block of its order");
			if (!kmem_pa_rel_holds(pa, b))
				return check_fail(b, "P9: released block without its source tag");
			if (kmem_pa_rel_unmapped(pa, b)) {
				if (!pa->as_map)
					return check_fail(b, "P9: unmapped released block without the as_map hook");
				continue; /* not mapped: nothing to read */
			}
			KMEM_ANNOT_DEFINED(first, sizeof(w0));
			KMEM_ANNOT_DEFINED(last, sizeof(w1));
			memcpy(&w0, first, sizeof(w0));
			memcpy(&w1, last, sizeof(w1));
			KMEM_ANNOT_NOACCESS(first, sizeof(w0));
			KMEM_ANNOT_NOACCESS(last, sizeof(w1));
			if (w0 || w1)
				return check_fail(b, "P9: released block does not read zero");
		}
		if (n != pa->rel_n[o])
			return check_fail(NULL, "P9: released list shorter than its count");
		frames += n << o;
	}
	if (frames != pa->rel_frames)
		return check_fail(NULL, "P9: rel_frames is not the sum of the released lists");
	return 0;
}

static int check_locked(struct kmem_pagealloc *pa, struct check_err *err)
{
	size_t zf = 0, df = 0, cached, shadow = 0;
	struct pa_pcp *me = pa_pcp_self(pa);
	int rc;

	KMEM_ASSERT(kmem_lock_held(&pa->lock) && "the checker needs the instance lock");
	/* a growable instance may manage less than high for a while */
	if (!(pa->wmin > 0 && pa->wmin < pa->wlow && pa->wlow < pa->whigh &&
	      (pa->grow || pa->whigh <= pa->managed) && pa->zlow <= pa->zhigh))
		return check_fail(NULL, "P6: watermarks not 0 < min < low < high <= managed, "
					"or zero_low > zero_high");
	for (unsigned i = 0; i < PA_SHADOW; i++)
		shadow += pa->shadow[i] != 0;
	if (shadow != pa->shadow_n)
		return check_fail(NULL, "P8: shadow_n is not the number of remembered frames");
	if ((rc = check_caches_locked(pa, &cached, err)) != 0)
		return rc;
	for (unsigned o = 0; o < PA_ORDERS; o++) {
		struct pa_pool *zp = &pa->zpool[o], *dp = &pa->dpool[o];

		if (zp->n > zp->cap || dp->n > dp->cap)
			return check_fail(NULL, "P2: pool count above its capacity");
		sort_ptrs(zp->blk, zp->n);
		sort_ptrs(dp->blk, dp->n);
		if ((rc = check_pool_locked(pa, zp, o, true, err)) != 0 ||
		    (rc = check_pool_locked(pa, dp, o, false, err)) != 0)
			return rc;
		for (size_t i = 0; i < dp->n; i++)
			if (in_sorted(zp->blk, zp->n, dp->blk[i]))
				return check_fail(dp->blk[i],
						  "P1: block in both the zeroed and dirty pool");
		if (me && (rc = check_own_cache_locked(pa, me, o, err)) != 0)
			return rc;
		zf += zp->n << o;
		df += dp->n << o;
	}
	if (zf != pa->zero_frames || df != pa->dirty_frames)
		return check_fail(NULL, "P2: pool frame counts do not match the pools");
	if ((rc = check_clients_locked(pa, cached, err)) != 0)
		return rc;
	if ((rc = check_released_locked(pa, err)) != 0)
		return rc;
	return check_refs_locked(pa, err);
}

int kmem_pa_check(struct kmem_pagealloc *pa)
{
	struct check_err err = {NULL, NULL};
	int rc;

	kmem_lock_acquire(&pa->lock);
	rc = check_locked(pa, &err);
	kmem_lock_release(&pa->lock);
	if (rc) {
		/* the message is a constant: no formatting */
		kmem_report(pa->sink, "pagealloc", pa->name, KMEM_CORRUPTION, err.ptr, -1, NULL,
			    err.what);
		return rc;
	}
	return kmem_buddy_check(pa->b);
}
