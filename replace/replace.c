/* replace.c - the replacement-policy instance: set-up, the misuse checks in
 * front of every policy op, dirty tracking, the checker; the index-list and
 * ghost-table helpers the policies share; opt's next-use table.
 *
 * Algorithm (every call): 1. the frame number is checked against the table
 * and against the frame's state byte (held or not); misuse is reported to
 * the sink, counted, and refused with nothing changed; 2. the state byte
 * and counters are updated (dirty on a write); 3. the policy's op runs.
 * O(1) plus the op.
 *
 * The ghost table: chained hashing with indices. Page p's bucket is
 * (p * 0x9e3779b97f4a7c15) >> (64 - bits) (Fibonacci hashing, Knuth 6.4),
 * with 1 << bits >= 2 * cap buckets, so chains average under half an entry.
 *
 * kmem_rp_next_uses(): one pass backwards over the string with an
 * open-addressing table page -> last position seen (linear probing, load
 * <= 1/2): next[t] = table[refs[t]], then table[refs[t]] = t. O(n) expected.
 *
 * Invariants R1-R3: replace_internal.h. Locking: none (replace.h).
 */
#include <stdarg.h>

#include <inttypes.h>

#include "kmem_fmt.h"
#include "kmem_report.h"
#include "replace_internal.h"

#define RP_ALIGN 16u

static const struct kmem_rp_ops *const builtins[] = {
	&kmem_rp_fifo, &kmem_rp_lru, &kmem_rp_opt, &kmem_rp_clock,
	&kmem_rp_esc, &kmem_rp_aging, &kmem_rp_2q, &kmem_rp_arc,
};

const struct kmem_rp_ops *kmem_rp_builtin(unsigned i)
{
	return i < sizeof(builtins) / sizeof(builtins[0]) ? builtins[i] : NULL;
}

/* strcmp's equality, here so that the freestanding library needs no more of
 * the C library than decision 21 lists */
static int same_name(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

const struct kmem_rp_ops *kmem_rp_by_name(const char *name)
{
	for (unsigned i = 0; name && i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (same_name(builtins[i]->name, name))
			return builtins[i];
	return NULL;
}

/* ---- set-up ---------------------------------------------------------------------- */

static size_t head_size(uint32_t frames)
{
	size_t h = (sizeof(struct kmem_rp) + RP_ALIGN - 1) & ~(size_t)(RP_ALIGN - 1);

	return h + (((size_t)frames + RP_ALIGN - 1) & ~(size_t)(RP_ALIGN - 1));
}

static size_t priv_size(const struct kmem_rp_ops *ops, const struct kmem_rp_config *cfg)
{
	if (!ops || !cfg || !ops->size || !ops->init || !ops->insert || !ops->reference ||
	    !ops->victim || !ops->remove || !ops->check || !ops->name)
		return 0;
	if (cfg->frames == 0 || cfg->frames > KMEM_RP_MAX_FRAMES)
		return 0;
	return ops->size(cfg);
}

size_t kmem_rp_sizeof(const struct kmem_rp_ops *ops, const struct kmem_rp_config *cfg)
{
	size_t p = priv_size(ops, cfg);

	return p ? head_size(cfg->frames) + p : 0;
}

int kmem_rp_init(void *mem, size_t mem_size, const struct kmem_rp_ops *ops,
		 const struct kmem_rp_config *cfg, struct kmem_rp **out)
{
	size_t need = kmem_rp_sizeof(ops, cfg);
	struct kmem_rp *rp = mem;
	int rc;

	if (!need || !mem || ((uintptr_t)mem & (RP_ALIGN - 1)) || !out)
		return -EINVAL;
	if (mem_size < need)
		return -ENOSPC;
	memset(mem, 0, need);
	rp->ops = ops;
	rp->frames = cfg->frames;
	rp->state = (uint8_t *)mem + ((sizeof(struct kmem_rp) + RP_ALIGN - 1) & ~(size_t)(RP_ALIGN - 1));
	rp->priv = (char *)mem + head_size(cfg->frames);
	kmem_error_sink_init(&rp->own_sink);
	rp->sink = cfg->sink ? cfg->sink : &rp->own_sink;
	kmem_snprintf(rp->name, sizeof(rp->name), "%s", cfg->name ? cfg->name : ops->name);
	rc = ops->init(rp->priv, cfg);
	if (rc)
		return rc;
	*out = rp;
	return 0;
}

/* ---- misuse ------------------------------------------------------------------------- */

static KMEM_NOINLINE int misuse(struct kmem_rp *rp, enum kmem_status st, int rc, const char *op,
				uint32_t frame, const void *caller)
{
	rp->st.misuse++;
	if (st == KMEM_FOREIGN_POINTER)
		kmem_reportf(rp->sink, "replace", rp->name, st, NULL, -1, caller,
			     "%s of frame %" PRIu32 ", outside the table of %" PRIu32 " frames", op, frame,
			     rp->frames);
	else if (st == KMEM_ALREADY_HELD)
		kmem_reportf(rp->sink, "replace", rp->name, st, NULL, -1, caller,
			     "%s into frame %" PRIu32 ", which holds a page", op, frame);
	else if (frame == KMEM_RP_NONE)
		kmem_reportf(rp->sink, "replace", rp->name, st, NULL, -1, caller,
			     "%s with no page resident", op);
	else
		kmem_reportf(rp->sink, "replace", rp->name, st, NULL, -1, caller,
			     "%s of frame %" PRIu32 ", which holds no page", op, frame);
	return rc;
}

/* 0 if frame holds a page (want_held) or not (!want_held), else the misuse */
static inline int gate(struct kmem_rp *rp, uint32_t frame, bool want_held, const char *op,
		       const void *caller)
{
	if (KMEM_UNLIKELY(frame >= rp->frames))
		return misuse(rp, KMEM_FOREIGN_POINTER, -ERANGE, op, frame, caller);
	if (KMEM_UNLIKELY(!(rp->state[frame] & RP_HELD) == want_held))
		return want_held ? misuse(rp, KMEM_NOT_HELD, -ENOENT, op, frame, caller)
				 : misuse(rp, KMEM_ALREADY_HELD, -EEXIST, op, frame, caller);
	return 0;
}

/* ---- the operations ----------------------------------------------------------------- */

int kmem_rp_insert(struct kmem_rp *rp, uint32_t frame, uint64_t page, unsigned flags)
{
	int rc = gate(rp, frame, false, "insert", KMEM_RETURN_ADDRESS());

	if (KMEM_UNLIKELY(rc))
		return rc;
	rp->state[frame] = (uint8_t)(RP_HELD | ((flags & KMEM_RP_WRITE) ? RP_DIRTY : 0));
	rp->resident++;
	rp->dirty += (flags & KMEM_RP_WRITE) ? 1 : 0;
	rp->st.inserts++;
	rp->ops->insert(rp->priv, frame, page, flags & KMEM_RP_WRITE);
	return 0;
}

int kmem_rp_reference(struct kmem_rp *rp, uint32_t frame, unsigned flags)
{
	int rc = gate(rp, frame, true, "reference", KMEM_RETURN_ADDRESS());

	if (KMEM_UNLIKELY(rc))
		return rc;
	if ((flags & KMEM_RP_WRITE) && !(rp->state[frame] & RP_DIRTY)) {
		rp->state[frame] |= RP_DIRTY;
		rp->dirty++;
	}
	rp->st.references++;
	rp->ops->reference(rp->priv, frame, flags & KMEM_RP_WRITE);
	return 0;
}

uint32_t kmem_rp_victim(struct kmem_rp *rp, uint64_t incoming)
{
	uint32_t v;

	if (KMEM_UNLIKELY(!rp->resident)) {
		misuse(rp, KMEM_NOT_HELD, -ENOENT, "victim", KMEM_RP_NONE, KMEM_RETURN_ADDRESS());
		return KMEM_RP_NONE;
	}
	v = rp->ops->victim(rp->priv, incoming);
	if (KMEM_UNLIKELY(v >= rp->frames || !(rp->state[v] & RP_HELD))) {
		/* a broken policy (a user's): never hand the caller a bad frame */
		kmem_reportf(rp->sink, "replace", rp->name, KMEM_CORRUPTION, NULL, -1,
			     KMEM_RETURN_ADDRESS(), "%s: victim %" PRIu32 " is not a resident frame",
			     rp->ops->name, v);
		return KMEM_RP_NONE;
	}
	rp->st.victims++;
	return v;
}

int kmem_rp_remove(struct kmem_rp *rp, uint32_t frame, unsigned flags)
{
	int rc = gate(rp, frame, true, "remove", KMEM_RETURN_ADDRESS());

	if (KMEM_UNLIKELY(rc))
		return rc;
	rp->ops->remove(rp->priv, frame, flags & KMEM_RP_EVICT);
	rp->dirty -= (rp->state[frame] & RP_DIRTY) ? 1 : 0;
	rp->state[frame] = 0;
	rp->resident--;
	rp->st.removes++;
	rp->st.evictions += (flags & KMEM_RP_EVICT) ? 1 : 0;
	return 0;
}

void kmem_rp_tick(struct kmem_rp *rp)
{
	rp->st.ticks++;
	if (rp->ops->tick)
		rp->ops->tick(rp->priv);
}

int kmem_rp_clean(struct kmem_rp *rp, uint32_t frame)
{
	int rc = gate(rp, frame, true, "clean", KMEM_RETURN_ADDRESS());

	if (KMEM_UNLIKELY(rc))
		return rc;
	if (rp->state[frame] & RP_DIRTY) {
		rp->state[frame] &= (uint8_t)~RP_DIRTY;
		rp->dirty--;
	}
	if (rp->ops->clean)
		rp->ops->clean(rp->priv, frame);
	return 0;
}

bool kmem_rp_resident(const struct kmem_rp *rp, uint32_t frame)
{
	return frame < rp->frames && (rp->state[frame] & RP_HELD);
}

bool kmem_rp_dirty(const struct kmem_rp *rp, uint32_t frame)
{
	return frame < rp->frames && (rp->state[frame] & RP_DIRTY);
}

void kmem_rp_get_stats(const struct kmem_rp *rp, struct kmem_rp_stats *st)
{
	*st = rp->st;
	st->frames = rp->frames;
	st->resident = rp->resident;
	st->dirty = rp->dirty;
}

const struct kmem_rp_ops *kmem_rp_policy(const struct kmem_rp *rp)
{
	return rp->ops;
}

const char *kmem_rp_name(const struct kmem_rp *rp)
{
	return rp->name;
}

/* ---- checking ------------------------------------------------------------------------- */

int kmem_rp_fail(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kmem_vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EFAULT;
}

int kmem_rp_list_check(const struct rp_list *l, const struct rp_link *lk, uint32_t n,
		  const uint8_t *mark, uint8_t tag, const char *what, char *why, size_t len)
{
	uint32_t prev = RP_NIL, i = l->head, count = 0;

	while (i != RP_NIL) {
		if (i >= n)
			return kmem_rp_fail(why, len, "%s: index %" PRIu32 " out of range", what, i);
		if (lk[i].prev != prev)
			return kmem_rp_fail(why, len, "%s: entry %" PRIu32 " has prev %" PRIu32 ", not %" PRIu32, what, i,
				       lk[i].prev, prev);
		if (mark && mark[i] != tag)
			return kmem_rp_fail(why, len, "%s: entry %" PRIu32 " is tagged %u, not %u", what, i,
				       mark[i], tag);
		if (++count > l->len)
			return kmem_rp_fail(why, len, "%s: longer than its length %" PRIu32 " (or a loop)", what,
				       l->len);
		prev = i;
		i = lk[i].next;
	}
	if (prev != l->tail)
		return kmem_rp_fail(why, len, "%s: tail %" PRIu32 ", last entry %" PRIu32, what, l->tail, prev);
	if (count != l->len)
		return kmem_rp_fail(why, len, "%s: %" PRIu32 " entries, length says %" PRIu32, what, count, l->len);
	return 0;
}

int kmem_rp_check(struct kmem_rp *rp)
{
	char why[160] = "";
	uint32_t held = 0, dirty = 0;
	int rc = 0;

	for (uint32_t f = 0; f < rp->frames && !rc; f++) {
		uint8_t s = rp->state[f];

		if (s & ~(RP_HELD | RP_DIRTY))
			rc = kmem_rp_fail(why, sizeof(why), "R3: frame %" PRIu32 " has state 0x%x", f, s);
		else if ((s & RP_DIRTY) && !(s & RP_HELD))
			rc = kmem_rp_fail(why, sizeof(why), "R2: frame %" PRIu32 " dirty but empty", f);
		held += s & RP_HELD ? 1 : 0;
		dirty += s & RP_DIRTY ? 1 : 0;
	}
	if (!rc && held != rp->resident)
		rc = kmem_rp_fail(why, sizeof(why), "R1: %" PRIu32 " frames held, resident says %" PRIu32, held,
			     rp->resident);
	if (!rc && dirty != rp->dirty)
		rc = kmem_rp_fail(why, sizeof(why), "R2: %" PRIu32 " frames dirty, count says %" PRIu32, dirty, rp->dirty);
	if (!rc)
		rc = rp->ops->check(rp->priv, rp, why, sizeof(why));
	if (rc) {
		kmem_reportf(rp->sink, "replace", rp->name, KMEM_CORRUPTION, NULL, -1,
			     KMEM_RETURN_ADDRESS(), "%s: %s", rp->ops->name, why);
		return -EFAULT;
	}
	return 0;
}

/* ---- the ghost table -------------------------------------------------------------------- */

static inline uint32_t ghost_hash(const struct rp_ghosts *g, uint64_t page)
{
	return (uint32_t)((page * 0x9e3779b97f4a7c15ull) >> (64 - g->bits));
}

void kmem_rp_ghosts_carve(struct rp_ghosts *g, struct rp_carve *c, uint32_t cap)
{
	unsigned bits = 1;

	while ((1ull << bits) < 2ull * cap)
		bits++;
	g->cap = cap;
	g->bits = bits;
	g->bucket = rp_take(c, sizeof(uint32_t) << bits);
	g->chain = rp_take(c, sizeof(uint32_t) * (size_t)cap);
	g->key = rp_take(c, sizeof(uint64_t) * (size_t)cap);
	g->lk = rp_take(c, sizeof(struct rp_link) * (size_t)cap);
	g->where = rp_take(c, cap);
}

void kmem_rp_ghosts_init(struct rp_ghosts *g)
{
	memset(g->bucket, 0xff, sizeof(uint32_t) << g->bits);
	for (uint32_t i = 0; i < g->cap; i++) {
		g->chain[i] = i + 1 < g->cap ? i + 1 : RP_NIL;
		g->where[i] = 0;
		g->lk[i].prev = g->lk[i].next = RP_NIL;
	}
	g->free_head = g->cap ? 0 : RP_NIL;
	g->used = 0;
}

uint32_t kmem_rp_ghosts_find(const struct rp_ghosts *g, uint64_t page)
{
	uint32_t i = g->bucket[ghost_hash(g, page)];

	while (i != RP_NIL && g->key[i] != page)
		i = g->chain[i];
	return i;
}

uint32_t kmem_rp_ghosts_add(struct rp_ghosts *g, uint64_t page, uint8_t where)
{
	uint32_t i = g->free_head, b = ghost_hash(g, page);

	KMEM_ASSERT(i != RP_NIL && "the ghost table has room (policies trim first)");
	g->free_head = g->chain[i];
	g->key[i] = page;
	g->where[i] = where;
	g->chain[i] = g->bucket[b];
	g->bucket[b] = i;
	g->used++;
	return i;
}

void kmem_rp_ghosts_del(struct rp_ghosts *g, uint32_t i)
{
	uint32_t *pp = &g->bucket[ghost_hash(g, g->key[i])];

	while (*pp != i) {
		KMEM_ASSERT(*pp != RP_NIL && "a ghost is on its bucket's chain");
		pp = &g->chain[*pp];
	}
	*pp = g->chain[i];
	g->where[i] = 0;
	g->chain[i] = g->free_head;
	g->free_head = i;
	g->used--;
}

int kmem_rp_ghosts_check(const struct rp_ghosts *g, char *why, size_t len)
{
	uint32_t chained = 0, freed = 0;

	for (uint32_t b = 0; b < (1u << g->bits); b++)
		for (uint32_t i = g->bucket[b], steps = 0; i != RP_NIL; i = g->chain[i]) {
			if (i >= g->cap || ++steps > g->cap)
				return kmem_rp_fail(why, len, "ghosts: bucket %" PRIu32 " chain broken", b);
			if (!g->where[i] || ghost_hash(g, g->key[i]) != b)
				return kmem_rp_fail(why, len, "ghosts: entry %" PRIu32 " in wrong bucket %" PRIu32, i, b);
			chained++;
		}
	for (uint32_t i = g->free_head; i != RP_NIL; i = g->chain[i]) {
		if (i >= g->cap || ++freed > g->cap || g->where[i])
			return kmem_rp_fail(why, len, "ghosts: free list broken at %" PRIu32, i);
	}
	if (chained != g->used || chained + freed != g->cap)
		return kmem_rp_fail(why, len, "ghosts: %" PRIu32 " hashed + %" PRIu32 " free, used %" PRIu32 " of %" PRIu32, chained,
			       freed, g->used, g->cap);
	return 0;
}

/* ---- opt's next-use table ------------------------------------------------------------------ */

struct nu_slot {
	uint64_t page;
	uint64_t pos;	/* KMEM_RP_NEVER: empty */
};

static size_t nu_slots(size_t n)
{
	size_t s = 16;

	while (s < 2 * n && s < SIZE_MAX / 4)
		s <<= 1;
	return s;
}

size_t kmem_rp_next_uses_scratch(size_t n)
{
	return nu_slots(n) * sizeof(struct nu_slot);
}

int kmem_rp_next_uses(const uint64_t *refs, size_t n, uint64_t *next, void *scratch,
		      size_t scratch_size)
{
	size_t slots = nu_slots(n), mask = slots - 1;
	struct nu_slot *t = scratch;

	if (n && (!refs || !next || !scratch))
		return -EINVAL;
	if (n && scratch_size < slots * sizeof(*t))
		return -ENOSPC;
	if (!n)
		return 0;
	for (size_t i = 0; i < slots; i++)
		t[i].pos = KMEM_RP_NEVER;
	for (size_t u = n; u-- > 0;) {
		size_t h = (size_t)((refs[u] * 0x9e3779b97f4a7c15ull) >> 20) & mask;

		while (t[h].pos != KMEM_RP_NEVER && t[h].page != refs[u])
			h = (h + 1) & mask;
		next[u] = t[h].pos;
		t[h].page = refs[u];
		t[h].pos = u;
	}
	return 0;
}
