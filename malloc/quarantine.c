/* quarantine.c - the hardened mode's quarantine (decision 23): a freed
 * block is not given back at once but held, in a first-in first-out ring,
 * until the blocks freed after it pass a byte budget (KMEM_QUARANTINE) or
 * the ring is full. While it waits:
 *   - a slab object is filled with KM_Q_POISON (and made inaccessible to
 *     Valgrind and ASan); when it leaves, a byte that changed is a write
 *     after free, reported (KMEM_USE_AFTER_FREE) with the offset;
 *   - a guarded block (huge.c) has its pages given back and made
 *     inaccessible, so a read or write after free faults at once;
 *   - a second free, realloc or malloc_usable_size of it finds it in the
 *     ring's pointer set and is reported as a double free; nothing changes.
 * Then it goes back to the layers as any free does (slab's own debug checks
 * run there: red zones, caller records, its poison at the next allocation).
 * So reuse is delayed by the budget's worth of frees, and a use after free
 * in that window is caught instead of landing in a new block.
 *
 * Structures, mapped once at set-up (kmem_km_q_init): the ring (entries in
 * the order freed) and an open-addressing set of the pointers in it (linear
 * probing, twice the ring's size, deletion by backward shift: no
 * tombstones). O(1) expected per free, plus O(size) to poison and later
 * check a slab object.
 *
 * Locking: the quarantine lock guards both; it is never held while calling
 * into the layers (blocks leaving are collected under it and freed after),
 * so it nests under nothing and nothing nests under it. Fork: taken first
 * in the prepare handler (heap.c).
 */
#include "malloc_internal.h"
#include "kmem_mem.h"

#include <stdio.h>
#include <string.h>

#define KM_Q_POISON 0xd7	/* not slab's poison (0x6b) or red zone (0xcc), nor the canary */
#define KM_Q_OUT 16u		/* blocks let out per lock hold */

static size_t q_slot(const void *p)
{
	uintptr_t a = (uintptr_t)p >> 4;

	return (size_t)((uint64_t)a * 0x9e3779b97f4a7c15ull >> 24) & (km.q_set_cap - 1);
}

/* quarantine lock held */
static bool q_has_locked(const void *p)
{
	for (size_t j = q_slot(p);; j = (j + 1) & (km.q_set_cap - 1)) {
		if (km.q_set[j] == p)
			return true;
		if (!km.q_set[j])
			return false;
	}
}

static void q_set_add_locked(void *p)
{
	size_t j = q_slot(p);

	while (km.q_set[j])
		j = (j + 1) & (km.q_set_cap - 1);
	km.q_set[j] = p;
}

/* Backward-shift deletion: the entries after the hole that probed past it
 * move into it, so lookups never need tombstones. */
static void q_set_del_locked(const void *p)
{
	size_t m = km.q_set_cap - 1, i = q_slot(p), j;

	while (km.q_set[i] != p) {
		KMEM_ASSERT(km.q_set[i] && "a quarantined block is in the set");
		i = (i + 1) & m;
	}
	for (j = (i + 1) & m; km.q_set[j]; j = (j + 1) & m) {
		size_t home = q_slot(km.q_set[j]);

		/* j's entry may fill the hole at i if its home is not in (i, j] */
		if (((j - home) & m) >= ((j - i) & m)) {
			km.q_set[i] = km.q_set[j];
			i = j;
		}
	}
	km.q_set[i] = NULL;
}

bool kmem_km_q_init(size_t budget)
{
	km.q_budget = budget;
	if (!budget)
		return true;
	km.q_cap = KM_Q_CAP;
	km.q_set_cap = 2 * KM_Q_CAP;
	km.q_ring = kmem_pages_map(km.q_cap * sizeof(*km.q_ring));
	km.q_set = kmem_pages_map(km.q_set_cap * sizeof(*km.q_set));
	if (!km.q_ring || !km.q_set || kmem_lock_init(&km.q_lock, true))
		return false;
	KMEM_ANNOT_BENIGN_RACE(&km.q_n, sizeof(km.q_n)); /* the stats' snapshot */
	return true;
}

bool kmem_km_q_holds(const void *p)
{
	bool in;

	if (!km.q_budget)
		return false;
	kmem_lock_acquire(&km.q_lock);
	in = q_has_locked(p);
	kmem_lock_release(&km.q_lock);
	return in;
}

/* Over the byte budget, the guarded blocks' address space, or full. */
static bool q_over_locked(void)
{
	return km.q_bytes > km.q_budget || km.q_guarded > KM_Q_GUARDED_MAX || km.q_n == km.q_cap;
}

/* Slab object e's poison: the offset of the first byte written since it
 * was freed, or SIZE_MAX. Repaired (so it is reported once). Its bytes are
 * inaccessible to Valgrind and ASan again after, unless open. */
static size_t q_poison_broken(const struct km_qent *e, bool open, unsigned char *byte)
{
	const unsigned char *b = e->p, *bad;
	size_t at = SIZE_MAX;

	KMEM_ANNOT_DEFINED(e->p, e->size);
	bad = kmem_first_not(b, KM_Q_POISON, e->size);
	if (bad) {
		at = (size_t)(bad - b);
		*byte = *bad;
		memset(e->p, KM_Q_POISON, e->size);
	}
	if (!open)
		KMEM_ANNOT_NOACCESS(e->p, e->size);
	return at;
}

static void q_report_uaf(const struct km_qent *e, size_t at, unsigned char byte, const char *when)
{
	char what[192];

	snprintf(what, sizeof(what), "block of %zu bytes written after it was freed, at offset %zu "
		 "(byte 0x%02x; found %s)", e->size, at, byte, when);
	kmem_km_misuse(KMEM_USE_AFTER_FREE, e->p, what, e->by);
}

/* A block leaving: its poison checked (slab objects), then freed. */
static void q_release(const struct km_qent *e)
{
	if (!e->guarded) {
		unsigned char byte = 0;
		size_t at = q_poison_broken(e, true, &byte);

		if (at != SIZE_MAX)
			q_report_uaf(e, at, byte, "as it left the quarantine");
	}
	kmem_km_free_now(e->p, e->by);
}

void kmem_km_q_sweep(void)
{
	struct km_qent bad[3];
	size_t at[3];
	unsigned char byte[3];
	unsigned nbad = 0;

	if (!km.q_budget)
		return;
	kmem_lock_acquire(&km.q_lock);
	/* the two freed last (a use right after free is the common case) and
	 * one more in turn, so every block is looked at while it waits */
	for (unsigned k = 0; k < 3 && km.q_n; k++) {
		size_t i;
		const struct km_qent *e;

		if (k < 2) {
			if (k >= km.q_n)
				continue;
			i = (km.q_head + km.q_n - 1 - k) % km.q_cap;
		} else {
			if (km.q_sweep >= km.q_n)
				km.q_sweep = 0; /* an offset from the oldest: round again */
			i = (km.q_head + km.q_sweep++) % km.q_cap;
		}
		e = &km.q_ring[i];
		if (e->guarded)
			continue;
		at[nbad] = q_poison_broken(e, false, &byte[nbad]);
		if (at[nbad] != SIZE_MAX)
			bad[nbad++] = *e;
	}
	kmem_lock_release(&km.q_lock);
	for (unsigned k = 0; k < nbad; k++)
		q_report_uaf(&bad[k], at[k], byte[k], "while it waited in the quarantine");
}

/* Takes the oldest entry out of the ring, the set and the counts; the
 * caller holds q_lock and releases the block after dropping it. */
static struct km_qent q_take_oldest_locked(void)
{
	struct km_qent e = km.q_ring[km.q_head];

	km.q_head = (km.q_head + 1) % km.q_cap;
	km.q_n--;
	km.q_bytes -= e.charge;
	if (e.guarded) {
		km.q_guarded -= e.size;
		km.q_guarded_n--;
	}
	q_set_del_locked(e.p);
	return e;
}

void kmem_km_q_free(void *p, size_t size, bool guarded, const void *caller)
{
	struct km_qent out[KM_Q_OUT];
	unsigned n_out = 0;
	bool twice;

	if (!km.q_budget) { /* KMEM_QUARANTINE=0: checked by the caller, freed at once */
		kmem_km_free_now(p, caller);
		return;
	}
	/* prepared before it is in the set: no other thread can see it yet */
	if (guarded) {
		kmem_km_guard_retire(p);
	} else {
		memset(p, KM_Q_POISON, size);
		KMEM_ANNOT_NOACCESS(p, size);
	}
	kmem_lock_acquire(&km.q_lock);
	twice = q_has_locked(p);
	if (!twice) {
		struct km_qent *e = &km.q_ring[(km.q_head + km.q_n) % km.q_cap];

		e->p = p;
		e->size = size;
		/* a guarded block holds no memory (its pages went back), only
		 * address space, bounded apart */
		e->charge = guarded ? KM_FRAME : size;
		e->guarded = guarded;
		e->by = caller;
		km.q_n++;
		km.q_bytes += e->charge;
		if (guarded) {
			km.q_guarded += size;
			km.q_guarded_n++;
		}
		km.q_total++;
		q_set_add_locked(p);
		for (;;) {
			/* over the budget or full: the oldest leave */
			while (n_out < KM_Q_OUT && q_over_locked())
				out[n_out++] = q_take_oldest_locked();
			if (n_out < KM_Q_OUT || !q_over_locked())
				break;
			kmem_lock_release(&km.q_lock);
			for (unsigned i = 0; i < n_out; i++)
				q_release(&out[i]);
			n_out = 0;
			kmem_lock_acquire(&km.q_lock);
		}
	}
	kmem_lock_release(&km.q_lock);
	if (twice) {
		/* a concurrent free of the same block: the first one holds it */
		kmem_km_misuse(KMEM_DOUBLE_FREE, p, "free of a block freed already (in the quarantine: freed, "
			       "not yet reused)", caller);
		return;
	}
	for (unsigned i = 0; i < n_out; i++)
		q_release(&out[i]);
}

bool kmem_km_q_drain(void)
{
	struct km_qent out[KM_Q_OUT];
	bool any = false;

	if (!km.q_budget)
		return false;
	for (;;) {
		unsigned n_out = 0;

		kmem_lock_acquire(&km.q_lock);
		while (n_out < KM_Q_OUT && km.q_n)
			out[n_out++] = q_take_oldest_locked();
		kmem_lock_release(&km.q_lock);
		if (!n_out)
			return any;
		for (unsigned i = 0; i < n_out; i++)
			q_release(&out[i]);
		any = true;
	}
}

void kmem_km_q_stats(size_t *n, size_t *slab_bytes, uint64_t *total)
{
	if (!km.q_budget) {
		*n = *slab_bytes = 0;
		*total = 0;
		return;
	}
	kmem_lock_acquire(&km.q_lock);
	*n = km.q_n;
	*slab_bytes = km.q_bytes - km.q_guarded_n * KM_FRAME;
	*total = km.q_total;
	kmem_lock_release(&km.q_lock);
}

void kmem_km_q_fork_prepare(void)
{
	if (km.q_budget)
		kmem_lock_acquire(&km.q_lock);
}

void kmem_km_q_fork_release(void)
{
	if (km.q_budget)
		kmem_lock_release(&km.q_lock);
}
