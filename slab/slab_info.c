/* slab_info.c - cache statistics, /proc/slabinfo 2.1 text and the cache
 * checker.
 *
 * Algorithm: stats copy counters under the cache lock, O(1) (the walk:
 * each cache's, under the instance lock, O(caches)); slabinfo
 * formats one line per cache in Linux's mm/slab_common.c layout, O(caches);
 * the checker walks every list and every slab's bitmap and reads every
 * frame's owner word, O(slabs * objects per slab), checking S1-S6 as the
 * instance's policies define them (the list each policy gives a slab, the
 * empty slabs kept, the colour).
 *
 * Locking: each entry point takes the cache lock (slabinfo takes the
 * instance lock first); a checker failure is raised with no lock held.
 */
#include "slab_internal.h"

#include <errno.h>
#include <string.h>

#include "kmem_fmt.h"

static void stats_locked(struct kmem_cache *c, struct kmem_cache_stats *st)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "stats need the cache lock");
	memset(st, 0, sizeof(*st));
	st->name = c->name;
	st->object_size = c->size;
	st->align = c->align;
	st->stride = c->stride;
	st->objs_per_slab = c->objs;
	st->slab_order = c->order;
	st->frames_per_slab = (size_t)1 << c->order;
	st->waste_per_slab = c->slab_bytes - (size_t)c->objs * c->stride;
	st->colours = c->colours;
	st->direct = c->direct;
	st->active_objs = c->active_objs;
	st->total_objs = c->nr_slabs * c->objs;
	st->active_slabs = c->nr_slabs - c->nr_empty;
	st->total_slabs = c->nr_slabs;
	st->allocs = c->allocs;
	st->frees = c->frees;
	st->slabs_created = c->slabs_created;
	st->slabs_released = c->slabs_released;
	st->alloc_fails = c->fails;
	st->mag_size = c->mag_cap;
	st->mag_allocs = c->mag_allocs;
	st->mag_frees = c->mag_frees;
	st->depot_gets = c->depot_gets;
	st->depot_puts = c->depot_puts;
	st->mag_flushes = c->mag_flushes;
	st->depot_full = c->nfull;
	st->depot_empty = c->nempty;
	st->depot_objs = kmem_mag_depot_objs_locked(c);
	st->depot_limit = c->mag_cap ? (c->depot_auto ? KMEM_DEPOT_AUTO : c->depot_max) : 0;
	st->mag_auto = c->mag_cap && c->mag_auto;
	st->depot_contended = c->depot_contended;
	st->mag_resizes = c->mag_resizes;
	st->depot_reaps = c->depot_reaps;
	st->flags = c->flags & ~(CACHE_KMALLOC | CACHE_FORCE_DIRECT);
}

void kmem_cache_get_stats(struct kmem_cache *c, struct kmem_cache_stats *st)
{
	kmem_lock_acquire(&c->lock);
	stats_locked(c, st);
	kmem_lock_release(&c->lock);
}

size_t kmem_slab_walk_stats(struct kmem_slab *s,
			    void (*fn)(void *arg, const struct kmem_cache_stats *st), void *arg)
{
	struct kmem_cache_stats st;
	struct kmem_cache *c;
	size_t n = 0;

	kmem_lock_acquire(&s->lock);
	SLAB_FOR_EACH_CACHE(c, s) {
		kmem_cache_get_stats(c, &st);
		fn(arg, &st);
		n++;
	}
	kmem_lock_release(&s->lock);
	return n;
}

static void slabinfo_line(struct kmem_fmt *f, struct kmem_cache *c)
{
	struct kmem_cache_stats st;

	kmem_cache_get_stats(c, &st);
	/* name active_objs num_objs objsize objperslab pagesperslab
	 * : tunables limit batchcount sharedfactor : slabdata active num shared
	 * As Linux's SLAB reported its per-CPU arrays: limit = rounds per
	 * magazine, batchcount = objects per refill, sharedfactor 1 when there
	 * is a depot, sharedavail = objects in the depot. */
	kmem_fmt_printf(f, "%-17s %6zu %6zu %6zu %4u %4zu : tunables %4u %4u %4u : slabdata %6zu %6zu %6u\n",
			st.name, st.active_objs, st.total_objs, st.stride, st.objs_per_slab,
			st.frames_per_slab, st.mag_size, st.mag_size / 2, st.mag_size ? 1u : 0u, st.active_slabs,
			st.total_slabs, (unsigned)st.depot_objs);
}

int kmem_slab_format_slabinfo(struct kmem_slab *s, char *buf, size_t len)
{
	struct kmem_fmt f;
	struct kmem_cache *c;

	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "slabinfo - version: 2.1\n");
	kmem_fmt_printf(&f, "# name            <active_objs> <num_objs> <objsize> <objperslab> "
			    "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : "
			    "slabdata <active_slabs> <num_slabs> <sharedavail>\n");
	kmem_lock_acquire(&s->lock);
	SLAB_FOR_EACH_CACHE(c, s)
		slabinfo_line(&f, c);
#if KMEM_MAGAZINES
	slabinfo_line(&f, &s->mag_cache);
#endif
	slabinfo_line(&f, &s->cache_cache);
	kmem_lock_release(&s->lock);
	return kmem_fmt_result(&f);
}

/* ---- checker ------------------------------------------------------------------ */

struct check_fail {
	const void *ptr;
	char detail[160];
};

#define FAIL(cf, p, ...)                                                        \
	do {                                                                    \
		(cf)->ptr = (p);                                                \
		kmem_snprintf((cf)->detail, sizeof((cf)->detail), __VA_ARGS__);      \
		return false;                                                   \
	} while (0)

static bool check_slab_locked(struct kmem_cache *c, struct slab *sl, struct check_fail *cf)
{
	const struct kmem_page_source *ps = &c->owner->ps;
	unsigned long *used = slab_used_bits(sl);
	unsigned bits = 0, words = slab_words(c);
	size_t colour_step = c->align > COLOUR_STEP ? c->align : COLOUR_STEP;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the checker needs the cache lock");
	if (sl->magic != SLAB_MAGIC || sl->cache != c)
		FAIL(cf, sl, "slab header magic or cache pointer is wrong");
	if (sl->inuse > c->objs)
		FAIL(cf, sl, "S2: slab claims %u objects in use of %u", sl->inuse, c->objs);
	for (unsigned i = 0; i < c->objs; i++)
		bits += slab_bit(used, i);
	if (bits != sl->inuse)
		FAIL(cf, sl, "S2: %u used bits set, inuse is %u", bits, sl->inuse);
	if (c->objs % SLAB_WORD_BITS &&
	    (used[words - 1] | (~0UL >> (SLAB_WORD_BITS - c->objs % SLAB_WORD_BITS))) != ~0UL)
		FAIL(cf, sl, "S2: a padding bit of the bitmap is clear");
	if (sl->hint >= words)
		FAIL(cf, sl, "S2: bitmap hint %u is past the bitmap", (unsigned)sl->hint);
	for (unsigned w = 0; w < sl->hint; w++)
		if (~used[w])
			FAIL(cf, sl, "S2: word %u has a clear bit but the hint is %u", w, (unsigned)sl->hint);
	if (sl->colour >= c->colours ||
	    sl->objs != (char *)sl + c->objs_offset + (size_t)sl->colour * colour_step + c->obj_off)
		FAIL(cf, sl, "S6: colour %u of %u, objects at offset %zu", (unsigned)sl->colour, c->colours,
		     (size_t)(sl->objs - (char *)sl));
	for (size_t f = 0; f < ((size_t)1 << c->order); f++)
		if (ps->get_owner(ps->ctx, (char *)sl + f * ps->frame_size) != sl)
			FAIL(cf, sl, "S3: frame %zu of the slab is not owned by it", f);
	return true;
}

/* Walk one list: well linked and no longer than the slabs the cache counts
 * beyond *slabs (kmem_list_check), every slab belongs there (S1); counts
 * slabs and objects. */
static bool check_list_locked(struct kmem_cache *c, struct kmem_list *list, size_t *slabs,
			      size_t *objs, struct check_fail *cf)
{
	const struct kmem_list_node *at;
	struct kmem_list_node *n;
	size_t len;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the checker needs the cache lock");
	switch (kmem_list_check(list, *slabs < c->nr_slabs ? c->nr_slabs - *slabs : 0, &len, &at)) {
	case KMEM_LIST_SOUND:
		break;
	case KMEM_LIST_BAD_LINK:
		FAIL(cf, KMEM_LIST_ENTRY(at, const struct slab, link), "S1: broken list links");
	case KMEM_LIST_TOO_LONG:
		FAIL(cf, KMEM_LIST_ENTRY(at, const struct slab, link),
		     "S1: more slabs on the lists than the cache counts");
	}
	KMEM_LIST_FOR_EACH(n, list) {
		struct slab *sl = KMEM_LIST_ENTRY(n, struct slab, link);

		if (!check_slab_locked(c, sl, cf))
			return false;
		if (slab_list_at(c, sl->list) != list)
			FAIL(cf, sl, "S1: slab records list %u but is on another", sl->list);
		if (sl != c->cur && sl->list != slab_target(c, sl->inuse))
			FAIL(cf, sl, "S1: slab with %u of %u objects in use is on the wrong list (%u, not %u)",
			     sl->inuse, c->objs, sl->list, slab_target(c, sl->inuse));
		if (sl->batch)
			FAIL(cf, sl, "S1: slab still marked by a free batch");
		*objs += sl->inuse;
	}
	*slabs += len;
	return true;
}

/* S7 for c->cur (not NULL): found on one of c's lists (the lists are
 * sound, so nothing of it is read before), then 0 < inuse < n, in a cache
 * that keeps a current slab. */
static bool check_cur_locked(struct kmem_cache *c)
{
	const struct kmem_list_node *n = NULL;

	for (unsigned l = 0; l <= SLAB_LIST_FULL && !n; l++)
		KMEM_LIST_FOR_EACH(n, slab_list_at(c, l))
			if (n == &c->cur->link)
				break;
	return n && c->cur->inuse > 0 && c->cur->inuse < c->objs && !c->slot &&
	       c->partial_policy == KMEM_SLAB_PARTIAL_FULLEST;
}

static bool check_locked(struct kmem_cache *c, struct check_fail *cf)
{
	size_t slabs = 0, objs = 0, empty_slabs = 0, empty_objs = 0;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the checker needs the cache lock");
	if (c->magic != CACHE_MAGIC)
		FAIL(cf, c, "cache magic is wrong (destroyed?)");
	if (c->direct)
		return true; /* direct objects are single page-source blocks */
	if (c->partial_mask >> SLAB_BUCKETS)
		FAIL(cf, NULL, "S1: partial_mask %#x has bits past the buckets", (unsigned)c->partial_mask);
	for (unsigned b = 0; b < SLAB_BUCKETS; b++) {
		if (((c->partial_mask >> b) & 1) != !kmem_list_empty(&c->partial[b]))
			FAIL(cf, NULL, "S1: partial_mask bit %u disagrees with the list", b);
		if (!check_list_locked(c, &c->partial[b], &slabs, &objs, cf))
			return false;
	}
	if (!check_list_locked(c, &c->full, &slabs, &objs, cf) ||
	    !check_list_locked(c, &c->empty, &empty_slabs, &empty_objs, cf))
		return false;
	if (c->cur && !check_cur_locked(c))
		FAIL(cf, c->cur, "S7: the current slab is not a slab on the lists with objects both in "
		     "use and free, of a FULLEST cache without magazines");
	if (slabs + empty_slabs != c->nr_slabs || empty_slabs != c->nr_empty || objs != c->active_objs)
		FAIL(cf, NULL, "S4: counters say %zu slabs (%zu empty), %zu objects; lists hold %zu (%zu), %zu",
		     c->nr_slabs, c->nr_empty, c->active_objs, slabs + empty_slabs, empty_slabs, objs);
	if (c->nr_empty > c->empty_keep)
		FAIL(cf, NULL, "S5: %zu empty slabs kept, the policy keeps %u", c->nr_empty, c->empty_keep);
	if (c->empty_min > c->nr_empty)
		FAIL(cf, NULL, "S5: the idle working set counts %zu empty slabs, the cache has %zu",
		     c->empty_min, c->nr_empty);
	return true;
}

/* ---- magazines (M1, M2) and debug zones ---------------------------------------- */

struct mag_walk {
	struct check_fail *cf;
	size_t objs;		/* objects seen in magazines */
	size_t undo;		/* > 0: restoring; how many bits remain to set */
	bool restoring;
};

/* The slab and index of p, or false (not an object of c). */
static bool locate(struct kmem_cache *c, void *p, struct slab **slp, unsigned *idx)
{
	const struct kmem_page_source *ps = &c->owner->ps;
	struct slab *sl = slab_of_owner(ps->get_owner(ps->ctx, p));
	uintptr_t off;

	if (!sl || sl->magic != SLAB_MAGIC || sl->cache != c)
		return false;
	off = (uintptr_t)((char *)p - sl->objs);
	if ((char *)p < sl->objs || off >= c->fast.span || off % c->stride)
		return false;
	*slp = sl;
	*idx = (unsigned)(off / c->stride);
	return true;
}

/* First pass: each magazine object is an allocated object of c; clear its
 * bit, so a second occurrence (in two magazines) finds it clear. Second
 * pass (restoring): set the bits again. */
static bool mag_visit(struct kmem_cache *c, struct kmem_mag *m, void *arg)
{
	struct mag_walk *w = arg;
	struct check_fail *cf = w->cf;

	if (w->restoring) {
		for (size_t i = 0; i < m->rounds && w->undo; i++, w->undo--) {
			struct slab *sl;
			unsigned idx;

			if (locate(c, m->obj[i], &sl, &idx))
				slab_used_bits(sl)[idx / SLAB_WORD_BITS] |= SLAB_BIT(idx);
		}
		return w->undo > 0;
	}
	if ((m->cap != c->mag_cap && !(c->mag_auto && m->cap < c->mag_cap)) || m->rounds > m->cap)
		FAIL(cf, m, "M2, M4: magazine %p has %zu rounds of %zu (cache magazines hold %u)",
		     (void *)m, m->rounds, m->cap, c->mag_cap);
	for (size_t i = 0; i < m->rounds; i++) {
		void *p = m->obj[i];
		struct slab *sl;
		unsigned idx;

		if (c->direct) {
			void *own = c->owner->ps.get_owner(c->owner->ps.ctx, p);

			if (own != &c->dhdr || ((uintptr_t)p & (c->slab_bytes - 1)))
				FAIL(cf, p, "M1: magazine %p holds %p, not a direct object of the cache",
				     (void *)m, p);
			w->objs++;
			continue;
		}
		if (!locate(c, p, &sl, &idx))
			FAIL(cf, p, "M1: magazine %p holds %p, not an object of the cache", (void *)m, p);
		if (!slab_bit(slab_used_bits(sl), idx))
			FAIL(cf, p, "M1: object %p is free in its slab or in two magazines", p);
		slab_used_bits(sl)[idx / SLAB_WORD_BITS] &= ~SLAB_BIT(idx);
		w->objs++;
	}
	return true;
}

/* M2 for one depot stack: as many magazines as its count says (the bound
 * also ends a cycle), each full (full) or empty (!full). */
static bool check_depot_locked(struct kmem_cache *c, const struct kmem_slist *list, unsigned count,
			       bool full, struct check_fail *cf)
{
	const char *which = full ? "full" : "empty";
	const struct kmem_slist_node *at;
	const struct kmem_mag *m;
	size_t len;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the checker needs the cache lock");
	if (kmem_slist_check(list, count, &len, &at) != KMEM_LIST_SOUND)
		FAIL(cf, KMEM_LIST_ENTRY(at, const struct kmem_mag, link),
		     "M2: the depot's %s list is longer than its count %u (a cycle?)", which, count);
	if (len != count)
		FAIL(cf, NULL, "M2: %zu %s magazines in the depot, the count says %u", len, which, count);
	KMEM_LIST_FOR_EACH_ENTRY(m, list, const struct kmem_mag, link)
		if (m->cap != c->mag_cap)
			FAIL(cf, m, "M2: depot %s list: magazine %p of %zu rounds, the cache's hold %u", which,
			     (const void *)m, m->cap, c->mag_cap);
		else if (m->rounds != (full ? m->cap : 0))
			FAIL(cf, m, "M2: depot %s list: magazine %p has %zu of %zu rounds", which,
			     (const void *)m, m->rounds, m->cap);
	return true;
}

/* M3 for the holder list: well linked (kmem_list_check; a cycle breaks a
 * back link), each holder naming c and being slot c->slot of its thread's
 * block. */
static bool check_holders_locked(struct kmem_cache *c, struct check_fail *cf)
{
	const struct kmem_list_node *at;
	const struct kmem_mag_holder *h;
	size_t len;

	KMEM_ASSERT(kmem_mag_registry_held() && "holders need the registry lock");
	if (kmem_list_check(&c->holders, SIZE_MAX, &len, &at) != KMEM_LIST_SOUND)
		FAIL(cf, KMEM_LIST_ENTRY(at, const struct kmem_mag_holder, link),
		     "M3: the holder list has a broken link after %zu holders", len);
	KMEM_LIST_FOR_EACH_ENTRY(h, &c->holders, const struct kmem_mag_holder, link)
		if (h->cache != c || h != &h->thread->holder[c->slot])
			FAIL(cf, h, "M3: holder %p on the list is not this cache's slot %u holder",
			     (const void *)h, c->slot);
	return true;
}

static bool check_mags_locked(struct kmem_cache *c, struct check_fail *cf)
{
	struct mag_walk w = { .cf = cf };
	bool ok;

	KMEM_ASSERT(kmem_mag_registry_held() && kmem_lock_held(&c->lock) &&
		    "the magazine walk needs the registry and cache locks");
	if (c->nfull > c->depot_max)
		FAIL(cf, NULL, "M4: %u full magazines in the depot, its limit is %u", c->nfull, c->depot_max);
	if (c->mag_cap > c->owner->mag_rounds_max)
		FAIL(cf, NULL, "M4: magazines of %u rounds, an object holds %u", c->mag_cap,
		     c->owner->mag_rounds_max);
	if (!check_depot_locked(c, &c->depot_full, c->nfull, true, cf) ||
	    !check_depot_locked(c, &c->depot_empty, c->nempty, false, cf) ||
	    !check_holders_locked(c, cf))
		return false;
	ok = kmem_mag_walk_locked(c, mag_visit, &w);
	if (!c->direct) {
		w.undo = w.objs; /* objects whose bit the first pass cleared */
		if (!ok)
			w.undo = w.objs; /* the failing one was not cleared */
		w.restoring = true;
		(void)kmem_mag_walk_locked(c, mag_visit, &w);
	}
	if (ok && w.objs > c->active_objs)
		FAIL(cf, NULL, "M1: %zu objects in magazines but only %zu allocated from slabs", w.objs,
		     c->active_objs);
	return ok;
}

static bool check_debug_list_locked(struct kmem_cache *c, struct kmem_list *list,
				    struct debug_fault *df)
{
	struct slab *sl;

	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the checker needs the cache lock");
	KMEM_LIST_FOR_EACH_ENTRY(sl, list, struct slab, link)
		for (unsigned i = 0; i < c->objs; i++) {
			bool used = slab_bit(slab_used_bits(sl), i);

			if (!kmem_debug_check_locked(c, sl->objs + (size_t)i * c->stride, used, df))
				return false;
		}
	return true;
}

static bool check_debug_locked(struct kmem_cache *c, struct debug_fault *df)
{
	KMEM_ASSERT(kmem_lock_held(&c->lock) && "the checker needs the cache lock");
	for (unsigned b = 0; b < SLAB_BUCKETS; b++)
		if (!check_debug_list_locked(c, &c->partial[b], df))
			return false;
	return check_debug_list_locked(c, &c->full, df) && check_debug_list_locked(c, &c->empty, df);
}

int kmem_cache_check(struct kmem_cache *c)
{
	struct check_fail cf = { 0 };
	struct debug_fault df = { .st = KMEM_OK };
	bool ok;

	kmem_mag_registry_lock();
	kmem_lock_acquire(&c->lock);
	ok = check_locked(c, &cf);
	if (ok && c->slot)
		ok = check_mags_locked(c, &cf);
	if (ok && !c->direct && (c->flags & CACHE_DEBUG_FLAGS))
		(void)check_debug_locked(c, &df);
	kmem_lock_release(&c->lock);
	kmem_mag_registry_unlock();
	if (df.st != KMEM_OK) {
		kmem_debug_report(c, &df, KMEM_RETURN_ADDRESS());
		return -EFAULT;
	}
	if (ok)
		return 0;
	kmem_slab_report(c->owner, c, KMEM_CORRUPTION, cf.ptr, KMEM_RETURN_ADDRESS(), "%s", cf.detail);
	return -EFAULT;
}

int kmem_slab_check(struct kmem_slab *s)
{
	const struct kmem_list_node *at;
	struct kmem_cache *c;
	size_t n;
	int err = 0;

	kmem_lock_acquire(&s->lock);
	/* the cache list first: its back links (a cycle breaks one) decide
	 * whether the walk below ends */
	if (kmem_list_check(&s->caches, SIZE_MAX, &n, &at) != KMEM_LIST_SOUND) {
		kmem_lock_release(&s->lock);
		kmem_slab_report(s, NULL, KMEM_CORRUPTION, KMEM_LIST_ENTRY(at, const struct kmem_cache, link),
				 KMEM_RETURN_ADDRESS(), "cache list: broken link after %zu caches", n);
		return -EFAULT;
	}
	SLAB_FOR_EACH_CACHE(c, s) {
		int e = kmem_cache_check(c);

		if (e && !err)
			err = e;
	}
	kmem_lock_release(&s->lock);
	return err;
}
