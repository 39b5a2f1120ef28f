/* pc_info.c - the page cache's statistics, its vmstat text and its checker.
 *
 * Algorithm:
 *   1. Stats: the owners' counters summed under the cache lock; the hit
 *      ratio in thousandths of references.
 *   2. vmstat: "name value" lines after /proc/vmstat (pgfault, pgmajfault,
 *      pgpgin, pgpgout, workingset_refault), the cache's then each
 *      owner's with its name as a prefix.
 *   3. Check: one pass over the descriptors counts states per owner and
 *      verifies C1..C5 and C7 (pc_internal.h); the free list and each pool
 *      list are walked with a bound (their lengths); each hashed page is
 *      found by its key (C2); C6 compares each client's held frames; then
 *      every owner's kmem_rp_check().
 * Bound: stats O(owners); check O(owners * pages + buckets + owners * clients).
 *
 * Locking: every function takes pc->lock; reports are raised after it is
 * dropped.
 */
#include "pc_internal.h"

static unsigned permille(uint64_t part, uint64_t whole)
{
	return whole ? (unsigned)(part * 1000 / whole) : 0;
}

static void owner_stats_locked(struct kmem_pc_owner *o, struct kmem_pc_owner_stats *st)
{
	struct kmem_pa_client_stats cs;

	memset(st, 0, sizeof(*st));
	kmem_pa_client_get_stats(o->client, &cs);
	st->name = o->name;
	st->resident = o->resident;
	st->pooled = o->pool.len;
	st->pinned = o->pinned;
	st->dirty = o->ndirty;
	st->max_pages = o->max_pages;
	st->share = cs.share;
	st->refs = o->refs;
	st->hits = o->hits;
	st->pgfault = o->pgfault;
	st->pgmajfault = o->pgmajfault;
	st->minor_pool = o->minor_pool;
	st->pgpgin = o->pgpgin;
	st->pgpgout = o->pgpgout;
	st->workingset_refault = o->refaults;
	st->evictions = o->evictions;
	st->writeback_errors = o->wb_errors;
	st->read_errors = o->read_errors;
	st->lookups_missed = o->missed;
	st->hit_permille = permille(o->hits, o->refs);
	st->pff = o->pff;
	st->thrashing = o->thrashing;
	st->deactivated = o->deactivated;
	st->thrash_windows = o->thrash_windows;
	st->deactivations = o->deactivations;
	st->policy = kmem_rp_policy(o->rp)->name;
}

void kmem_pc_owner_get_stats(struct kmem_pc_owner *o, struct kmem_pc_owner_stats *st)
{
	kmem_lock_acquire(&o->pc->lock);
	owner_stats_locked(o, st);
	kmem_lock_release(&o->pc->lock);
}

static void pc_stats_locked(struct kmem_pc *pc, struct kmem_pc_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->pages = pc->pages;
	st->free = pc->nfree;
	st->used = pc->pages - pc->nfree;
	st->page_size = pc->page_size;
	st->owners = pc->nowners;
	st->refs = pc->gone_refs;
	st->hits = pc->gone_hits;
	st->pgfault = pc->gone_fault;
	st->pgmajfault = pc->gone_maj;
	st->pgpgin = pc->gone_in;
	st->pgpgout = pc->gone_out;
	st->workingset_refault = pc->gone_refault;
	for (const struct kmem_pc_owner *o = pc->owners; o; o = o->next) {
		st->refs += o->refs;
		st->hits += o->hits;
		st->pgfault += o->pgfault;
		st->pgmajfault += o->pgmajfault;
		st->pgpgin += o->pgpgin;
		st->pgpgout += o->pgpgout;
		st->workingset_refault += o->refaults;
	}
	st->shrink_calls = pc->shrink_calls;
	st->shrink_frames = pc->shrink_frames;
	st->responses = pc->responses;
	st->misuse = pc->misuse;
	st->io_waits = pc->io_waits;
	st->hit_permille = permille(st->hits, st->refs);
}

void kmem_pc_get_stats(struct kmem_pc *pc, struct kmem_pc_stats *st)
{
	kmem_lock_acquire(&pc->lock);
	pc_stats_locked(pc, st);
	kmem_lock_release(&pc->lock);
}

static void vm_lines(struct kmem_fmt *f, const char *pre, uint64_t fault, uint64_t maj,
		     uint64_t in, uint64_t out, uint64_t refault, unsigned hit)
{
	kmem_fmt_printf(f, "%spgfault %llu\n", pre, (unsigned long long)fault);
	kmem_fmt_printf(f, "%spgmajfault %llu\n", pre, (unsigned long long)maj);
	kmem_fmt_printf(f, "%spgpgin %llu\n", pre, (unsigned long long)in);
	kmem_fmt_printf(f, "%spgpgout %llu\n", pre, (unsigned long long)out);
	kmem_fmt_printf(f, "%sworkingset_refault %llu\n", pre, (unsigned long long)refault);
	kmem_fmt_printf(f, "%shit_permille %u\n", pre, hit);
}

int kmem_pc_format_vmstat(struct kmem_pc *pc, char *buf, size_t len)
{
	struct kmem_pc_stats st;
	struct kmem_fmt f;

	kmem_fmt_init(&f, buf, len);
	kmem_lock_acquire(&pc->lock);
	pc_stats_locked(pc, &st);
	vm_lines(&f, "", st.pgfault, st.pgmajfault, st.pgpgin, st.pgpgout, st.workingset_refault,
		 st.hit_permille);
	kmem_fmt_printf(&f, "nr_pagecache_pages %" PRIu32 "\n", st.used);
	kmem_fmt_printf(&f, "pagecache_shrink %llu\n", (unsigned long long)st.shrink_calls);
	kmem_fmt_printf(&f, "pagecache_thrash_response %llu\n", (unsigned long long)st.responses);
	for (struct kmem_pc_owner *o = pc->owners; o; o = o->next) {
		struct kmem_pc_owner_stats os;
		char pre[PC_NAME_MAX + 2];

		owner_stats_locked(o, &os);
		kmem_snprintf(pre, sizeof(pre), "%s_", o->name);
		vm_lines(&f, pre, os.pgfault, os.pgmajfault, os.pgpgin, os.pgpgout,
			 os.workingset_refault, os.hit_permille);
		kmem_fmt_printf(&f, "%spff %u\n", pre, os.pff);
	}
	kmem_lock_release(&pc->lock);
	return kmem_fmt_result(&f);
}

/* ---- the checker --------------------------------------------------------------- */

#define FAIL(...) return (kmem_snprintf(why, len, __VA_ARGS__), -EFAULT)

struct owner_count {
	uint32_t resident, pinned, dirty, pool;
};

static int check_owner_locked(struct kmem_pc *pc, struct kmem_pc_owner *o, char *why, size_t len)
{
	struct owner_count n = {0, 0, 0, 0};
	struct kmem_pa_client_stats cs;
	uint32_t steps = 0, prev = PC_NIL;
	size_t need;

	for (uint32_t i = 0; i < pc->pages; i++) {
		const struct kmem_pc_page *d = pc_desc(pc, i);

		if (d->owner != o)
			continue;
		n.resident += d->state == PC_RESIDENT || d->state == PC_PARKED;
		n.pool += d->state == PC_POOL;
		n.pinned += d->pins != 0;
		n.dirty += d->dirty != 0;
		if (d->dirty && !o->write)
			FAIL("C5: page %" PRIu32 " of %s is dirty but the owner has no write callback", i,
			     o->name);
	}
	if (n.resident != o->resident || n.pinned != o->pinned || n.dirty != o->ndirty)
		FAIL("C5: owner %s counts resident %" PRIu32 " pinned %" PRIu32 " dirty %" PRIu32
		     ", pages say %" PRIu32 " %" PRIu32 " %" PRIu32,
		     o->name, o->resident, o->pinned, o->ndirty, n.resident, n.pinned, n.dirty);
	for (uint32_t i = o->pool.head; i != PC_NIL; i = pc_desc(pc, i)->next) {
		const struct kmem_pc_page *d = pc_desc(pc, i);

		if (++steps > o->pool.len || d->owner != o || d->state != PC_POOL || d->pins ||
		    d->prev != prev)
			FAIL("C3: pool of %s broken at slot %" PRIu32, o->name, i);
		prev = i;
	}
	if (steps != o->pool.len || n.pool != o->pool.len || o->pool.tail != prev)
		FAIL("C3: pool of %s holds %" PRIu32 " pages, counts %" PRIu32 ", pages say %" PRIu32,
		     o->name, steps, o->pool.len, n.pool);
	kmem_pa_client_get_stats(o->client, &cs);
	need = ((size_t)o->resident + (size_t)o->pool.len) << pc->order;
	if (cs.held != need)
		FAIL("C6: client of %s holds %zu frames, pages need %zu", o->name, cs.held, need);
	return 0;
}

int kmem_pc_check_locked(struct kmem_pc *pc, char *why, size_t len)
{
	uint32_t nfree = 0, steps = 0;
	unsigned nowners = 0;
	int rc;

	KMEM_ASSERT(kmem_lock_held(&pc->lock) && "kmem_pc_check_locked needs the cache lock");
	for (uint32_t i = pc->free_head; i != PC_NIL; i = pc_desc(pc, i)->next) {
		if (++steps > pc->nfree || i >= pc->pages || pc_desc(pc, i)->state != PC_FREE)
			FAIL("C1: free list broken at slot %" PRIu32, i);
	}
	if (steps != pc->nfree)
		FAIL("C1: free list holds %" PRIu32 " slots, nfree says %" PRIu32, steps, pc->nfree);
	for (uint32_t i = 0; i < pc->pages; i++) {
		const struct kmem_pc_page *d = pc_desc(pc, i);
		uint32_t at, seen = 0;
		bool found = false;

		if (d->state == PC_FREE) {
			nfree++;
			if (d->owner || d->data)
				FAIL("C1: free slot %" PRIu32 " has an owner or data", i);
			continue;
		}
		if (d->state > PC_POOL || !d->owner || !d->data)
			FAIL("C5: slot %" PRIu32 " in state %u has no owner or no data", i, (unsigned)d->state);
		for (at = pc->bucket[pc_bucket(pc, d->owner->hsalt, d->pgno)]; at != PC_NIL;
		     at = pc_desc(pc, at)->hnext) {
			const struct kmem_pc_page *e = pc_desc(pc, at);

			if (++seen > pc->pages || e->state == PC_FREE)
				FAIL("C2: chain of slot %" PRIu32 " broken", i);
			if (e->owner == d->owner && e->pgno == d->pgno) {
				if (at != i || found)
					FAIL("C2: page %llu of %s hashed twice",
					     (unsigned long long)d->pgno, d->owner->name);
				found = true;
			}
		}
		if (!found)
			FAIL("C2: slot %" PRIu32 " (page %llu) is not on its bucket's chain", i,
			     (unsigned long long)d->pgno);
		if ((d->state == PC_RESIDENT) != kmem_rp_resident(d->owner->rp, i))
			FAIL("C4: slot %" PRIu32 " state %u, its owner's policy says resident %d", i,
			     (unsigned)d->state,
			     (int)kmem_rp_resident(d->owner->rp, i));
		if (d->state == PC_PARKED && !d->pins && !d->io)
			FAIL("C4: parked slot %" PRIu32 " is not pinned", i);
	}
	if (nfree != pc->nfree)
		FAIL("C1: %" PRIu32 " free slots, nfree says %" PRIu32, nfree, pc->nfree);
	for (uint32_t b = 0; b <= pc->bmask; b++) {
		uint32_t seen = 0;

		for (uint32_t at = pc->bucket[b]; at != PC_NIL; at = pc_desc(pc, at)->hnext) {
			const struct kmem_pc_page *e = pc_desc(pc, at);

			if (at >= pc->pages || ++seen > pc->pages || e->state == PC_FREE ||
			    pc_bucket(pc, e->owner->hsalt, e->pgno) != b)
				FAIL("C2: bucket %" PRIu32 " holds a slot that does not belong there", b);
		}
	}
	for (struct kmem_pc_owner *o = pc->owners; o; o = o->next) {
		nowners++;
		for (uint32_t i = 0; i < pc->pages; i++)
			if (pc_desc(pc, i)->state != PC_RESIDENT && kmem_rp_resident(o->rp, i))
				FAIL("C4: slot %" PRIu32 " is resident in %s's policy but not cached as resident",
				     i, o->name);
		rc = check_owner_locked(pc, o, why, len);
		if (rc)
			return rc;
	}
	if (nowners != pc->nowners)
		FAIL("C7: %u owners listed, nowners says %u", nowners, pc->nowners);
	return 0;
}

int kmem_pc_check(struct kmem_pc *pc)
{
	char why[KMEM_REPORT_DETAIL];
	int rc;

	kmem_lock_acquire(&pc->lock);
	rc = kmem_pc_check_locked(pc, why, sizeof(why));
	if (!rc)
		for (struct kmem_pc_owner *o = pc->owners; o && !rc; o = o->next)
			if (kmem_rp_check(o->rp) != 0) {
				kmem_snprintf(why, sizeof(why), "C4: the policy of %s fails its check",
					      o->name);
				rc = -EFAULT;
			}
	kmem_lock_release(&pc->lock);
	if (rc)
		kmem_report(pc->sink, "pagecache", pc->name, KMEM_CORRUPTION, NULL, -1,
			    KMEM_RETURN_ADDRESS(), why);
	return rc;
}
