/* test_replace.c - the page-replacement policies (replace/, kmem/replace.h).
 *
 * - The textbook cases: FIFO on 1,2,3,4,1,2,5,1,2,3,4,5 (9 faults with 3
 *   frames, 10 with 4: Belady's anomaly); on 7,0,1,2,0,3,0,4,2,3,0,3,2,1,2,
 *   0,1,7,0,1 with 3 frames FIFO 15, OPT 9, LRU 12.
 * - Every built-in policy against an independent reference model written
 *   straight from the policy's definition (arrays, linear scans, the
 *   papers' pseudo-code for 2Q and ARC) on seeded random strings with
 *   writes and ticks: fault and write-back counts equal, and the victim of
 *   every miss the same page; kmem_rp_check() after every step.
 * - Misuse: a frame outside the table, a double insert, a reference and a
 *   remove of an empty frame, a victim of an empty table: the documented
 *   return, one report of the documented kind, nothing changed.
 * - A policy written by the user (MRU) through the ops table; a broken one
 *   whose victim is not resident is refused (KMEM_CORRUPTION).
 * - The checker finds broken links; opt's next-use table; set-up errors;
 *   esc prefers clean victims; ARC and 2Q resist a scan that flushes LRU.
 */
#include <errno.h>

#include "kmem_test.h"

#include "replace_internal.h"

#define MAXF 64
#define MAXPAGE 4096

/* ---- the library, driven as a pager ----------------------------------------------- */

struct run {
	unsigned long faults, writebacks;
	uint64_t victims[4096];	/* page evicted at each miss with a full table (first 4096) */
	unsigned nvictims;
};

struct str {
	const uint64_t *page;
	const uint8_t *write;	/* NULL: all reads */
	size_t n;
	unsigned tick_every;	/* 0: never */
};

static struct kmem_rp *make(const struct kmem_rp_ops *ops, uint32_t frames, const uint64_t *next,
			    size_t n, struct kmem_error_sink *sink, void **mem)
{
	struct kmem_rp_config cfg = { .frames = frames, .next_use = next, .next_use_len = n,
				      .sink = sink };
	size_t sz = kmem_rp_sizeof(ops, &cfg);
	struct kmem_rp *rp = NULL;

	assert_true(sz > 0);
	*mem = test_aligned(16, sz);
	assert_int_equal(kmem_rp_init(*mem, sz, ops, &cfg, &rp), 0);
	return rp;
}

static uint64_t *next_uses(const uint64_t *refs, size_t n)
{
	uint64_t *next = malloc((n ? n : 1) * sizeof(*next));
	size_t ss = kmem_rp_next_uses_scratch(n);
	void *scratch = malloc(ss);

	assert_int_equal(kmem_rp_next_uses(refs, n, next, scratch, ss), 0);
	free(scratch);
	return next;
}

static void lib_run(const struct kmem_rp_ops *ops, const struct str *s, uint32_t frames,
		    bool check_each, struct run *out)
{
	static int32_t map[MAXPAGE];	/* page -> frame + 1 */
	uint64_t pg[MAXF];
	uint64_t *next = next_uses(s->page, s->n);
	void *mem;
	struct kmem_rp *rp = make(ops, frames, next, s->n, NULL, &mem);
	uint32_t used = 0;

	memset(out, 0, sizeof(*out));
	memset(map, 0, sizeof(map));
	for (size_t t = 0; t < s->n; t++) {
		uint64_t p = s->page[t];
		unsigned fl = s->write && s->write[t] ? KMEM_RP_WRITE : KMEM_RP_READ;
		uint32_t f;

		assert_true(p < MAXPAGE);
		if (s->tick_every && t && t % s->tick_every == 0)
			kmem_rp_tick(rp);
		if (map[p]) {
			assert_int_equal(kmem_rp_reference(rp, (uint32_t)map[p] - 1, fl), 0);
		} else {
			out->faults++;
			if (used < frames) {
				f = used++;
			} else {
				f = kmem_rp_victim(rp, p);
				assert_true(f < frames);
				if (kmem_rp_dirty(rp, f))
					out->writebacks++;
				if (out->nvictims < 4096)
					out->victims[out->nvictims++] = pg[f];
				map[pg[f]] = 0;
				assert_int_equal(kmem_rp_remove(rp, f, KMEM_RP_EVICT), 0);
			}
			assert_int_equal(kmem_rp_insert(rp, f, p, fl), 0);
			pg[f] = p;
			map[p] = (int32_t)f + 1;
		}
		if (check_each)
			assert_int_equal(kmem_rp_check(rp), 0);
	}
	assert_int_equal(kmem_rp_check(rp), 0);
	free(mem);
	free(next);
}

static unsigned long lib_faults(const struct kmem_rp_ops *ops, const uint64_t *refs, size_t n,
				uint32_t frames)
{
	static struct run r;
	struct str s = { refs, NULL, n, 0 };

	lib_run(ops, &s, frames, true, &r);
	return r.faults;
}

/* ---- the reference models ------------------------------------------------------------ */

/* An ordered list of pages (index 0 oldest / LRU) with per-page fields. */
struct mp {
	uint64_t page;
	int dirty, ref;
	unsigned cnt;
	uint64_t stamp;
};

struct ml {
	int n;
	struct mp e[2 * MAXF + 2];
};

static int ml_find(const struct ml *l, uint64_t page)
{
	for (int i = 0; i < l->n; i++)
		if (l->e[i].page == page)
			return i;
	return -1;
}

static struct mp ml_del(struct ml *l, int i)
{
	struct mp v = l->e[i];

	memmove(&l->e[i], &l->e[i + 1], (size_t)(l->n - i - 1) * sizeof(l->e[0]));
	l->n--;
	return v;
}

static void ml_push(struct ml *l, struct mp v)
{
	assert_true(l->n < 2 * MAXF + 2);
	l->e[l->n++] = v;
}

struct model {
	const char *policy;
	uint32_t c;
	const struct str *s;
	size_t t;
	uint64_t clk;
	struct ml r;			/* resident (most policies) / T1 / A1in */
	struct ml r2;			/* T2 / Am */
	struct ml g1, g2;		/* B1 / A1out, B2 */
	uint32_t p;			/* arc */
	struct run *out;
};

static void m_evicted(struct model *m, struct mp v)
{
	if (v.dirty)
		m->out->writebacks++;
	if (m->out->nvictims < 4096)
		m->out->victims[m->out->nvictims++] = v.page;
}

static int m_argmin(const struct ml *l, uint64_t (*key)(const struct mp *))
{
	int best = 0;

	for (int i = 1; i < l->n; i++)
		if (key(&l->e[i]) < key(&l->e[best]))
			best = i;
	return best;
}

static uint64_t key_stamp(const struct mp *e) { return e->stamp; }
static uint64_t key_aging(const struct mp *e) { return ((uint64_t)(e->cnt * 2u + (unsigned)e->ref) << 48) | e->stamp; }

/* esc: clear every reference bit; pages that change class enter their new
 * class in the order they entered the old one */
static void esc_clear(struct model *m)
{
	for (;;) {
		int best = -1;

		for (int i = 0; i < m->r.n; i++)
			if (m->r.e[i].ref && (best < 0 || m->r.e[i].stamp < m->r.e[best].stamp))
				best = i;
		if (best < 0)
			return;
		m->r.e[best].ref = 0;
		m->r.e[best].stamp = ++m->clk;
	}
}

static uint64_t opt_next(const struct model *m, uint64_t page)
{
	for (size_t u = m->t + 1; u < m->s->n; u++)
		if (m->s->page[u] == page)
			return u;
	return UINT64_MAX;
}

/* the textbook policies: one resident list */
static void m_simple(struct model *m, uint64_t x, int w)
{
	const char *pol = m->policy;
	int i = ml_find(&m->r, x);
	struct mp v = { .page = x, .dirty = w, .ref = 1 };

	if (i >= 0) {
		struct mp *e = &m->r.e[i];

		e->dirty |= w;
		if (!strcmp(pol, "lru")) {
			e->stamp = ++m->clk;
		} else if (!strcmp(pol, "clock")) {
			e->ref = 1;
		} else if (!strcmp(pol, "aging")) {
			if (!e->ref) {
				e->ref = 1;
				e->stamp = ++m->clk;
			}
		}
		return;
	}
	m->out->faults++;
	if ((uint32_t)m->r.n == m->c) {
		int vi = 0;

		if (!strcmp(pol, "fifo") || !strcmp(pol, "lru")) {
			vi = m_argmin(&m->r, key_stamp);
		} else if (!strcmp(pol, "opt")) {
			for (int k = 1; k < m->r.n; k++) {
				uint64_t a = opt_next(m, m->r.e[k].page), b = opt_next(m, m->r.e[vi].page);

				if (a > b || (a == b && m->r.e[vi].dirty && !m->r.e[k].dirty))
					vi = k; /* farthest; among pages never used again, clean first */
			}
		} else if (!strcmp(pol, "clock")) {
			while (m->r.e[0].ref) {
				struct mp h = ml_del(&m->r, 0);

				h.ref = 0;
				ml_push(&m->r, h);
			}
			vi = 0;
		} else if (!strcmp(pol, "esc")) {
			for (int pass = 0; pass < 2; pass++) {
				vi = -1;
				for (int cls = 0; cls < 2 && vi < 0; cls++)
					for (int k = 0; k < m->r.n; k++)
						if (!m->r.e[k].ref && m->r.e[k].dirty == cls &&
						    (vi < 0 || m->r.e[k].stamp < m->r.e[vi].stamp))
							vi = k;
				if (vi >= 0)
					break;
				esc_clear(m);
			}
		} else if (!strcmp(pol, "aging")) {
			vi = m_argmin(&m->r, key_aging);
		}
		m_evicted(m, ml_del(&m->r, vi));
	}
	v.stamp = ++m->clk;
	ml_push(&m->r, v);
}

/* esc's hit: the class may change; a page entering a class goes to its end */
static void m_esc_hit(struct model *m, int i, int w)
{
	struct mp *e = &m->r.e[i];
	int from = e->ref * 2 + e->dirty, to;

	e->ref = 1;
	e->dirty |= w;
	to = e->ref * 2 + e->dirty;
	if (to != from)
		e->stamp = ++m->clk;
}

/* 2Q, the paper's full version (figure 3) */
static void m_2q(struct model *m, uint64_t x, int w)
{
	uint32_t kin = m->c / 4 ? m->c / 4 : 1, kout = m->c / 2 ? m->c / 2 : 1;
	int i;

	if ((i = ml_find(&m->r2, x)) >= 0) { /* Am: to MRU */
		struct mp v = ml_del(&m->r2, i);

		v.dirty |= w;
		ml_push(&m->r2, v);
		return;
	}
	if ((i = ml_find(&m->r, x)) >= 0) { /* A1in: nothing */
		m->r.e[i].dirty |= w;
		return;
	}
	m->out->faults++;
	if ((uint32_t)(m->r.n + m->r2.n) == m->c) { /* reclaimfor(x) */
		if ((uint32_t)m->r.n > kin || m->r2.n == 0) {
			struct mp y = ml_del(&m->r, 0);

			m_evicted(m, y);
			ml_push(&m->g1, (struct mp){ .page = y.page });
			if ((uint32_t)m->g1.n > kout)
				ml_del(&m->g1, 0);
		} else {
			m_evicted(m, ml_del(&m->r2, 0));
		}
	}
	if ((i = ml_find(&m->g1, x)) >= 0) {
		ml_del(&m->g1, i);
		ml_push(&m->r2, (struct mp){ .page = x, .dirty = w });
	} else {
		ml_push(&m->r, (struct mp){ .page = x, .dirty = w });
	}
}

/* ARC, the paper's figure 4 */
static void m_arc_replace(struct model *m, bool x_in_b2)
{
	int t1 = m->r.n;

	if (t1 >= 1 && ((x_in_b2 && (uint32_t)t1 == m->p) || (uint32_t)t1 > m->p)) {
		struct mp v = ml_del(&m->r, 0);

		m_evicted(m, v);
		ml_push(&m->g1, (struct mp){ .page = v.page });
	} else {
		struct mp v = ml_del(&m->r2, 0);

		m_evicted(m, v);
		ml_push(&m->g2, (struct mp){ .page = v.page });
	}
}

static void m_arc(struct model *m, uint64_t x, int w)
{
	uint32_t c = m->c;
	int i;

	if ((i = ml_find(&m->r, x)) >= 0 || (i = ml_find(&m->r2, x)) >= 0) { /* case I */
		struct mp v = ml_find(&m->r, x) >= 0 ? ml_del(&m->r, i) : ml_del(&m->r2, i);

		v.dirty |= w;
		ml_push(&m->r2, v);
		return;
	}
	m->out->faults++;
	if ((i = ml_find(&m->g1, x)) >= 0) { /* case II */
		uint32_t d = m->g2.n / m->g1.n > 1 ? (uint32_t)(m->g2.n / m->g1.n) : 1;

		m->p = m->p + d < c ? m->p + d : c;
		m_arc_replace(m, false);
		ml_del(&m->g1, ml_find(&m->g1, x));
		ml_push(&m->r2, (struct mp){ .page = x, .dirty = w });
		return;
	}
	if ((i = ml_find(&m->g2, x)) >= 0) { /* case III */
		uint32_t d = m->g1.n / m->g2.n > 1 ? (uint32_t)(m->g1.n / m->g2.n) : 1;

		m->p = m->p > d ? m->p - d : 0;
		m_arc_replace(m, true);
		ml_del(&m->g2, ml_find(&m->g2, x));
		ml_push(&m->r2, (struct mp){ .page = x, .dirty = w });
		return;
	}
	/* case IV */
	if ((uint32_t)(m->r.n + m->g1.n) == c) {
		if ((uint32_t)m->r.n < c) {
			ml_del(&m->g1, 0);
			m_arc_replace(m, false);
		} else {
			m_evicted(m, ml_del(&m->r, 0));
		}
	} else {
		uint32_t total = (uint32_t)(m->r.n + m->r2.n + m->g1.n + m->g2.n);

		if (total >= c) {
			if (total == 2 * c)
				ml_del(&m->g2, 0);
			m_arc_replace(m, false);
		}
	}
	ml_push(&m->r, (struct mp){ .page = x, .dirty = w });
}

static void m_tick(struct model *m)
{
	if (!strcmp(m->policy, "esc")) {
		esc_clear(m);
	} else if (!strcmp(m->policy, "aging")) {
		/* in load order: the order of the resident list */
		for (int i = 0; i < m->r.n; i++) {
			struct mp *e = &m->r.e[i];

			e->cnt = (e->cnt >> 1) | ((unsigned)e->ref << 7);
			e->ref = 0;
			e->stamp = ++m->clk;
		}
	}
}

static void model_run(const char *policy, const struct str *s, uint32_t frames, struct run *out)
{
	static struct model m;

	memset(&m, 0, sizeof(m));
	memset(out, 0, sizeof(*out));
	m.policy = policy;
	m.c = frames;
	m.s = s;
	m.out = out;
	for (m.t = 0; m.t < s->n; m.t++) {
		uint64_t x = s->page[m.t];
		int w = s->write && s->write[m.t] ? 1 : 0, i;

		if (s->tick_every && m.t && m.t % s->tick_every == 0)
			m_tick(&m);
		if (!strcmp(policy, "2q"))
			m_2q(&m, x, w);
		else if (!strcmp(policy, "arc"))
			m_arc(&m, x, w);
		else if (!strcmp(policy, "esc") && (i = ml_find(&m.r, x)) >= 0)
			m_esc_hit(&m, i, w);
		else
			m_simple(&m, x, w);
	}
}

/* ---- the textbook cases ------------------------------------------------------------------ */

static const uint64_t belady[] = { 1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5 };
static const uint64_t silber[] = { 7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1 };
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_textbook(void **state)
{
	(void)state;
	assert_int_equal(lib_faults(&kmem_rp_fifo, belady, N(belady), 3), 9);
	assert_int_equal(lib_faults(&kmem_rp_fifo, belady, N(belady), 4), 10);
	assert_int_equal(lib_faults(&kmem_rp_fifo, silber, N(silber), 3), 15);
	assert_int_equal(lib_faults(&kmem_rp_opt, silber, N(silber), 3), 9);
	assert_int_equal(lib_faults(&kmem_rp_lru, silber, N(silber), 3), 12);
	/* the stack algorithms have no anomaly on Belady's string */
	assert_int_equal(lib_faults(&kmem_rp_lru, belady, N(belady), 3), 10);
	assert_int_equal(lib_faults(&kmem_rp_lru, belady, N(belady), 4), 8);
	assert_int_equal(lib_faults(&kmem_rp_opt, belady, N(belady), 3), 7);
	assert_int_equal(lib_faults(&kmem_rp_opt, belady, N(belady), 4), 6);
	/* second chance on the Silberschatz string (referenced on load) */
	print_message("clock on the Silberschatz string: %lu faults\n",
		      lib_faults(&kmem_rp_clock, silber, N(silber), 3));
}

/* ---- against the models ------------------------------------------------------------------- */

static void compare(const char *policy, const struct str *s, uint32_t frames, uint64_t seed)
{
	static struct run a, b;
	const struct kmem_rp_ops *ops = kmem_rp_by_name(policy);

	assert_non_null(ops);
	lib_run(ops, s, frames, true, &a);
	model_run(policy, s, frames, &b);
	if (a.faults != b.faults || a.writebacks != b.writebacks ||
	    (strcmp(policy, "opt") && memcmp(a.victims, b.victims, sizeof(a.victims[0]) * a.nvictims)))
		print_message("%s: frames %u seed %llu: faults %lu/%lu, write-backs %lu/%lu\n",
			      policy, frames, (unsigned long long)seed, a.faults, b.faults,
			      a.writebacks, b.writebacks);
	assert_int_equal(a.faults, b.faults);
	assert_int_equal(a.writebacks, b.writebacks);
	assert_int_equal(a.nvictims, b.nvictims);
	if (strcmp(policy, "opt")) /* opt's ties among never-used pages may differ */
		assert_memory_equal(a.victims, b.victims, sizeof(a.victims[0]) * a.nvictims);
}

static void test_against_models(void **state)
{
	struct test_rng rng = { test_seed(15, "replace models") };
	static uint64_t page[3000];
	static uint8_t write[3000];
	unsigned rounds = (unsigned)test_scale(40);

	(void)state;
	for (unsigned round = 0; round < rounds; round++) {
		uint64_t seed = rng.s;
		uint32_t frames = 1 + (uint32_t)test_below(&rng, round % 4 == 0 ? 40 : 12);
		uint64_t pages = frames + 1 + test_below(&rng, 3 * frames + 8);
		size_t n = 200 + (size_t)test_below(&rng, 2800);
		struct str s = { page, write, n, (unsigned)test_below(&rng, 3) * 5 };

		n = test_under_valgrind() ? n / 4 : n;
		s.n = n;
		for (size_t t = 0; t < n; t++) {
			/* a mix: a hot set, a sweep, uniform noise */
			uint64_t r = test_below(&rng, 10);

			page[t] = r < 5 ? test_below(&rng, frames / 2 + 1)
				: r < 8 ? (t % pages) : test_below(&rng, pages);
			write[t] = test_below(&rng, 4) == 0;
		}
		for (unsigned i = 0; kmem_rp_builtin(i); i++)
			compare(kmem_rp_builtin(i)->name, &s, frames, seed);
	}
}

/* ---- misuse -------------------------------------------------------------------------------- */

static void test_misuse(void **state)
{
	(void)state;
	for (unsigned i = 0; kmem_rp_builtin(i); i++) {
		struct test_recorder rec;
		struct kmem_rp_stats a, b;
		void *mem;
		struct kmem_rp *rp;

		test_recorder_init(&rec);
		rp = make(kmem_rp_builtin(i), 4, NULL, 0, &rec.sink, &mem);
		assert_int_equal(kmem_rp_victim(rp, 1), KMEM_RP_NONE);
		assert_int_equal(kmem_error_count(&rec.sink, KMEM_NOT_HELD), 1);
		assert_report_has(rec.line, "not-held: victim with no page resident");
		assert_int_equal(kmem_rp_insert(rp, 0, 10, KMEM_RP_WRITE), 0);
		assert_int_equal(kmem_rp_insert(rp, 2, 12, KMEM_RP_READ), 0);
		kmem_rp_get_stats(rp, &a);
		assert_int_equal(kmem_rp_insert(rp, 0, 11, 0), -EEXIST);
		assert_int_equal(kmem_error_count(&rec.sink, KMEM_ALREADY_HELD), 1);
		assert_report_has(rec.line, "already-held: insert into frame 0, which holds a page");
		assert_report_has(rec.line, kmem_rp_builtin(i)->name);
		assert_int_equal(kmem_rp_reference(rp, 1, 0), -ENOENT);
		assert_int_equal(kmem_rp_remove(rp, 3, KMEM_RP_EVICT), -ENOENT);
		assert_int_equal(kmem_rp_clean(rp, 1), -ENOENT);
		assert_int_equal(kmem_error_count(&rec.sink, KMEM_NOT_HELD), 4);
		assert_report_has(rec.line, "clean of frame 1, which holds no page");
		assert_int_equal(kmem_rp_insert(rp, 4, 1, 0), -ERANGE);
		assert_int_equal(kmem_rp_reference(rp, UINT32_MAX, 0), -ERANGE);
		assert_int_equal(kmem_rp_remove(rp, 99, 0), -ERANGE);
		assert_int_equal(kmem_error_count(&rec.sink, KMEM_FOREIGN_POINTER), 3);
		assert_report_has(rec.line, "remove of frame 99, outside the table of 4 frames");
		kmem_rp_get_stats(rp, &b);
		assert_int_equal(b.misuse, a.misuse + 7);
		b.misuse = a.misuse;
		assert_memory_equal(&a, &b, sizeof(a));
		assert_int_equal(b.resident, 2);
		assert_int_equal(b.dirty, 1);
		assert_true(kmem_rp_dirty(rp, 0));
		assert_false(kmem_rp_dirty(rp, 2));
		assert_false(kmem_rp_resident(rp, 1));
		assert_false(kmem_rp_resident(rp, 1000));
		assert_int_equal(kmem_rp_check(rp), 0);
		/* still usable: */
		assert_int_equal(kmem_rp_reference(rp, 2, KMEM_RP_WRITE), 0);
		assert_int_equal(kmem_rp_clean(rp, 0), 0);
		assert_false(kmem_rp_dirty(rp, 0));
		assert_true(kmem_rp_dirty(rp, 2));
		{
			uint32_t v = kmem_rp_victim(rp, 13);

			assert_true(v == 0 || v == 2); /* a resident frame */
		}
		assert_int_equal(kmem_rp_remove(rp, 0, 0), 0);
		assert_int_equal(kmem_rp_remove(rp, 2, KMEM_RP_EVICT), 0);
		assert_int_equal(kmem_rp_check(rp), 0);
		kmem_rp_get_stats(rp, &b);
		assert_int_equal(b.resident, 0);
		assert_int_equal(b.dirty, 0);
		assert_int_equal(b.evictions, 1);
		free(mem);
	}
}

static void test_setup_errors(void **state)
{
	struct kmem_rp_config cfg = { .frames = 8 };
	struct kmem_rp_ops broken = kmem_rp_lru;
	static _Alignas(16) char mem[4096];
	struct kmem_rp *rp = NULL;
	size_t sz = kmem_rp_sizeof(&kmem_rp_lru, &cfg);

	(void)state;
	assert_true(sz > 0 && sz < sizeof(mem));
	assert_int_equal(kmem_rp_init(mem, sz - 1, &kmem_rp_lru, &cfg, &rp), -ENOSPC);
	assert_int_equal(kmem_rp_init(mem + 8, sz, &kmem_rp_lru, &cfg, &rp), -EINVAL);
	assert_int_equal(kmem_rp_init(NULL, sz, &kmem_rp_lru, &cfg, &rp), -EINVAL);
	assert_int_equal(kmem_rp_init(mem, sz, &kmem_rp_lru, &cfg, NULL), -EINVAL);
	assert_int_equal(kmem_rp_init(mem, sz, NULL, &cfg, &rp), -EINVAL);
	broken.victim = NULL;
	assert_int_equal(kmem_rp_sizeof(&broken, &cfg), 0);
	cfg.frames = 0;
	assert_int_equal(kmem_rp_sizeof(&kmem_rp_lru, &cfg), 0);
	cfg.frames = KMEM_RP_MAX_FRAMES + 1;
	assert_int_equal(kmem_rp_sizeof(&kmem_rp_lru, &cfg), 0);
	cfg.frames = 8;
	cfg.next_use_len = 5; /* opt: a length without a table */
	assert_int_equal(kmem_rp_sizeof(&kmem_rp_opt, &cfg), 0);
	cfg.next_use_len = 0;
	cfg.kin_pct = 101;
	assert_int_equal(kmem_rp_sizeof(&kmem_rp_2q, &cfg), 0);
	cfg.kin_pct = 0;
	cfg.name = "my-cache-with-a-very-long-name-indeed";
	assert_int_equal(kmem_rp_init(mem, sz, &kmem_rp_lru, &cfg, &rp), 0);
	assert_string_equal(kmem_rp_name(rp), "my-cache-with-a-very-long-name-");
	assert_ptr_equal(kmem_rp_policy(rp), &kmem_rp_lru);
	assert_null(kmem_rp_by_name("nope"));
	assert_null(kmem_rp_by_name(NULL));
	assert_null(kmem_rp_builtin(8));
}

/* ---- a policy of the user's: MRU, through the public ops table ---------------------------- */

struct mru {
	uint32_t last;
	uint32_t frames;
};

static size_t mru_size(const struct kmem_rp_config *cfg)
{
	(void)cfg;
	return sizeof(struct mru);
}
static int mru_init(void *priv, const struct kmem_rp_config *cfg)
{
	struct mru *m = priv;

	m->last = KMEM_RP_NONE;
	m->frames = cfg->frames;
	return 0;
}
static void mru_insert(void *priv, uint32_t f, uint64_t page, unsigned flags)
{
	(void)page;
	(void)flags;
	((struct mru *)priv)->last = f;
}
static void mru_reference(void *priv, uint32_t f, unsigned flags)
{
	(void)flags;
	((struct mru *)priv)->last = f;
}
static uint32_t mru_victim(void *priv, uint64_t incoming)
{
	(void)incoming;
	return ((struct mru *)priv)->last;
}
static void mru_remove(void *priv, uint32_t f, unsigned flags)
{
	(void)f;
	(void)flags;
	((struct mru *)priv)->last = KMEM_RP_NONE;
}
static int mru_check(const void *priv, const struct kmem_rp *rp, char *why, size_t len)
{
	const struct mru *m = priv;

	if (m->last != KMEM_RP_NONE && !kmem_rp_resident(rp, m->last)) {
		snprintf(why, len, "MRU1: last frame %u not resident", m->last);
		return -EFAULT;
	}
	return 0;
}

static const struct kmem_rp_ops mru_ops = {
	.name = "mru", .size = mru_size, .init = mru_init, .insert = mru_insert,
	.reference = mru_reference, .victim = mru_victim, .remove = mru_remove,
	.check = mru_check,
};

/* a broken policy: its victim is a frame that holds no page */
static uint32_t bad_victim(void *priv, uint64_t incoming)
{
	(void)priv;
	(void)incoming;
	return 3;
}

static void test_broken_policy_victim(void **state)
{
	struct kmem_rp_ops bad = mru_ops;
	struct test_recorder rec;
	struct kmem_rp_stats st;
	void *mem;
	struct kmem_rp *rp;

	(void)state;
	bad.victim = bad_victim;
	test_recorder_init(&rec);
	rp = make(&bad, 4, NULL, 0, &rec.sink, &mem);
	assert_int_equal(kmem_rp_insert(rp, 0, 5, 0), 0);
	assert_int_equal(kmem_rp_victim(rp, 6), KMEM_RP_NONE);
	assert_int_equal(kmem_error_count(&rec.sink, KMEM_CORRUPTION), 1);
	assert_report_has(rec.line, "mru: victim 3 is not a resident frame");
	kmem_rp_get_stats(rp, &st);
	assert_int_equal(st.victims, 0);
	assert_int_equal(st.resident, 1);
	free(mem);
}

static void test_user_policy(void **state)
{
	/* MRU on a loop one page larger than memory: after the first pass
	 * about one fault per pass (13, counted by hand), LRU faults always */
	uint64_t loop[40];

	(void)state;
	for (size_t i = 0; i < N(loop); i++)
		loop[i] = i % 5;
	assert_int_equal(lib_faults(&mru_ops, loop, N(loop), 4), 13);
	assert_int_equal(lib_faults(&kmem_rp_lru, loop, N(loop), 4), 40);
}

/* ---- the checker ------------------------------------------------------------------------------ */

static void test_check_finds_corruption(void **state)
{
	struct test_recorder rec;
	void *mem;
	struct kmem_rp *rp;

	(void)state;
	for (unsigned i = 0; kmem_rp_builtin(i); i++) {
		test_recorder_init(&rec);
		rp = make(kmem_rp_builtin(i), 8, NULL, 0, &rec.sink, &mem);
		for (uint32_t f = 0; f < 5; f++)
			assert_int_equal(kmem_rp_insert(rp, f, 100 + f, f & 1), 0);
		assert_int_equal(kmem_rp_check(rp), 0);
		/* a frame the policy tracks loses its held bit */
		rp->state[3] = 0;
		rp->resident--;
		assert_int_equal(kmem_rp_check(rp), -EFAULT);
		assert_int_equal(kmem_error_count(&rec.sink, KMEM_CORRUPTION), 1);
		assert_report_has(rec.line, "corruption");
		rp->state[3] = RP_HELD | ((3 & 1) ? RP_DIRTY : 0);
		rp->resident++;
		assert_int_equal(kmem_rp_check(rp), 0);
		/* the instance's own count */
		rp->dirty++;
		assert_int_equal(kmem_rp_check(rp), -EFAULT);
		assert_report_has(rec.line, "R2");
		rp->dirty--;
		assert_int_equal(kmem_rp_check(rp), 0);
		free(mem);
	}
}

/* ---- opt's next uses ---------------------------------------------------------------------- */

static void test_next_uses(void **state)
{
	uint64_t next[N(silber)];
	static uint64_t scratch[4096];

	(void)state;
	assert_true(kmem_rp_next_uses_scratch(N(silber)) <= sizeof(scratch));
	assert_int_equal(kmem_rp_next_uses(silber, N(silber), next, scratch, sizeof(scratch)), 0);
	for (size_t t = 0; t < N(silber); t++) {
		uint64_t want = KMEM_RP_NEVER;

		for (size_t u = t + 1; u < N(silber); u++)
			if (silber[u] == silber[t]) {
				want = u;
				break;
			}
		assert_true(next[t] == want);
	}
	assert_int_equal(kmem_rp_next_uses(silber, N(silber), next, scratch, 8), -ENOSPC);
	assert_int_equal(kmem_rp_next_uses(NULL, 3, next, scratch, sizeof(scratch)), -EINVAL);
	assert_int_equal(kmem_rp_next_uses(NULL, 0, NULL, NULL, 0), 0);
}

/* ---- behaviour ------------------------------------------------------------------------------- */

static void test_esc_prefers_clean(void **state)
{
	void *mem;
	struct kmem_rp *rp = make(&kmem_rp_esc, 3, NULL, 0, NULL, &mem);

	(void)state;
	assert_int_equal(kmem_rp_insert(rp, 0, 1, KMEM_RP_WRITE), 0);
	assert_int_equal(kmem_rp_insert(rp, 1, 2, KMEM_RP_READ), 0);
	assert_int_equal(kmem_rp_insert(rp, 2, 3, KMEM_RP_WRITE), 0);
	/* all referenced: the sweep clears them; (0,0) holds frame 1 alone */
	assert_int_equal(kmem_rp_victim(rp, 9), 1);
	assert_int_equal(kmem_rp_check(rp), 0);
	/* frame 1 referenced again: only dirty pages unreferenced: the oldest */
	assert_int_equal(kmem_rp_reference(rp, 1, 0), 0);
	assert_int_equal(kmem_rp_victim(rp, 9), 0);
	assert_true(kmem_rp_dirty(rp, 0));
	/* frame 2 written back: clean and unreferenced, it goes first */
	assert_int_equal(kmem_rp_clean(rp, 2), 0);
	assert_int_equal(kmem_rp_victim(rp, 9), 2);
	/* a tick clears frame 1's bit: it joins (0,0) behind frame 2 */
	kmem_rp_tick(rp);
	assert_int_equal(kmem_rp_victim(rp, 9), 2);
	assert_int_equal(kmem_rp_check(rp), 0);
	free(mem);
}

static void test_aging_counters(void **state)
{
	void *mem;
	struct kmem_rp *rp = make(&kmem_rp_aging, 3, NULL, 0, NULL, &mem);

	(void)state;
	for (uint32_t f = 0; f < 3; f++)
		assert_int_equal(kmem_rp_insert(rp, f, f, 0), 0);
	kmem_rp_tick(rp); /* all 0x80 */
	assert_int_equal(kmem_rp_reference(rp, 0, 0), 0);
	assert_int_equal(kmem_rp_reference(rp, 2, 0), 0);
	kmem_rp_tick(rp); /* 0: 0xc0, 1: 0x40, 2: 0xc0 */
	assert_int_equal(kmem_rp_victim(rp, 9), 1);
	assert_int_equal(kmem_rp_reference(rp, 1, 0), 0);
	kmem_rp_tick(rp); /* 0: 0x60, 1: 0xa0, 2: 0x60 */
	assert_int_equal(kmem_rp_victim(rp, 9), 0);
	assert_int_equal(kmem_rp_check(rp), 0);
	free(mem);
}

/* A hot set established among cold pages used once (each hot page comes
 * back while 2Q still remembers it in A1out), then three times a long scan
 * and the hot set again: LRU loses the hot set to every scan, 2Q keeps it
 * in Am and ARC in T2. */
static void test_scan_resistance(void **state)
{
	static uint64_t s[3000];
	size_t n = 0;
	uint64_t cold = 1000;
	unsigned long lru, q2, arc;

	(void)state;
	for (int rep = 0; rep < 10; rep++)
		for (uint64_t p = 0; p < 20; p++) {
			s[n++] = p;
			s[n++] = cold++;
		}
	for (int cycle = 0; cycle < 3; cycle++) {
		for (int i = 0; i < 500; i++)
			s[n++] = cold++;
		for (int rep = 0; rep < 5; rep++)
			for (uint64_t p = 0; p < 20; p++)
				s[n++] = p;
	}
	lru = lib_faults(&kmem_rp_lru, s, n, 64);
	q2 = lib_faults(&kmem_rp_2q, s, n, 64);
	arc = lib_faults(&kmem_rp_arc, s, n, 64);
	print_message("scan: lru %lu, 2q %lu, arc %lu faults\n", lru, q2, arc);
	/* LRU: the hot set once, the cold pages, each scan, the hot set after
	 * each scan; 2Q: the hot set twice (first in A1in, then from A1out into
	 * Am), never after a scan */
	assert_int_equal(lru, 20 + 200 + 3 * (500 + 20));
	assert_int_equal(q2, 40 + 200 + 3 * 500);
	assert_true(arc < lru);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_textbook),
		cmocka_unit_test(test_against_models),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_setup_errors),
		cmocka_unit_test(test_user_policy),
		cmocka_unit_test(test_broken_policy_victim),
		cmocka_unit_test(test_check_finds_corruption),
		cmocka_unit_test(test_next_uses),
		cmocka_unit_test(test_esc_prefers_clean),
		cmocka_unit_test(test_aging_counters),
		cmocka_unit_test(test_scan_resistance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
