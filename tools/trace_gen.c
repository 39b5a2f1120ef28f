/* trace_gen.c - `kmem trace-gen [options] OUT`: synthetic allocation
 * traces, seeded (splitmix64, kmem_rand.h: a seed means the same trace on
 * every machine), in kmem's binary format or its text format.
 *
 * What it does, for each of --ops allocations (time t = 0, 1, ...):
 *   1. frees every block whose death time has come (a min-heap on death
 *      time; ties by birth), then, under --max-live, the oldest live
 *      blocks until the new one fits;
 *   2. draws a size (--size) and a lifetime in allocations (--life) and
 *      allocates: a malloc record, the block's id its birth number * 16;
 *   3. with --phases K, the run is K equal phases; phase k multiplies the
 *      sizes by 2^(k mod 3), and at its end every block born in it dies
 *      except one in 8 (chosen by the seed): long-lived survivors scattered
 *      among the holes, the pattern that fragments (Wilson et al. 1995's
 *      "phases" and "plateaus");
 * and at the end frees what is still live (--keep: leaves it).
 * Size distributions (bytes, at least 1):
 *   fixed:S          always S;
 *   uniform:A:B      uniform in [A, B];
 *   log:A:B          log-uniform in [A, B] (as many 16-31 as 1024-2047
 *                    byte requests: sizes skew small, as in real programs);
 *   power:A:B:ALPHA  P(s) proportional to s^-ALPHA on [A, B] (a truncated
 *                    Pareto, by inverting its distribution function).
 * Lifetime distributions (in allocations):
 *   exp:MEAN         exponential with that mean (memoryless: a random
 *                    walk of live memory around ops-rate * MEAN);
 *   uniform:A:B      uniform in [A, B];
 *   forever          never freed before the end (a ramp).
 * Bound: O(ops log live). Errors exit 1 (cannot write), usage errors 2.
 *
 * Data structures: the live blocks in a binary min-heap by death time.
 * Tunables: the options; defaults --ops 100000, --size log:16:4096,
 * --life exp:1000, --seed 1.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmem_rand.h"
#include "kmem_tool.h"

enum { DIST_FIXED, DIST_UNIFORM, DIST_LOG, DIST_POWER, DIST_EXP, DIST_FOREVER };

struct dist {
	int kind;
	double a, b, alpha;
};

struct gen_block {
	uint64_t death, id, size;
	unsigned phase;
};

struct gen {
	uint64_t rng;
	struct gen_block *heap;	/* min-heap by (death, id) */
	size_t n, cap;
	struct kmem_trace_rec *rec;
	size_t nrec, rcap;
	uint64_t live, max_live;
};

static double uniform01(uint64_t *s)
{
	return (double)(kmem_splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* "name:x:y[:z]" into d; kinds allowed by sizes or lifetimes. */
static int parse_dist(const char *s, struct dist *d, bool size)
{
	char name[16];
	double x = 0, y = 0, z = 0;
	int n;

	n = sscanf(s, "%15[a-z]:%lf:%lf:%lf", name, &x, &y, &z);
	*d = (struct dist){ 0 };
	if (size && n == 2 && !strcmp(name, "fixed") && x >= 1) {
		d->kind = DIST_FIXED;
		d->a = x;
	} else if (n == 3 && !strcmp(name, "uniform") && x >= (size ? 1 : 0) && y >= x) {
		d->kind = DIST_UNIFORM;
	} else if (size && n == 3 && !strcmp(name, "log") && x >= 1 && y >= x) {
		d->kind = DIST_LOG;
	} else if (size && n == 4 && !strcmp(name, "power") && x >= 1 && y >= x && z > 0) {
		d->kind = DIST_POWER;
		d->alpha = z;
	} else if (!size && n == 2 && !strcmp(name, "exp") && x > 0) {
		d->kind = DIST_EXP;
	} else if (!size && n == 1 && !strcmp(name, "forever")) {
		d->kind = DIST_FOREVER;
	} else {
		return -1;
	}
	if (d->kind != DIST_FIXED) {
		d->a = x;
		d->b = y;
	}
	return 0;
}

static double draw(const struct dist *d, uint64_t *s)
{
	double u = uniform01(s);

	switch (d->kind) {
	case DIST_FIXED: return d->a;
	case DIST_UNIFORM: return floor(d->a + u * (d->b - d->a + 1.0));
	case DIST_LOG: return floor(exp(log(d->a) + u * (log(d->b + 1.0) - log(d->a))));
	case DIST_POWER:
		if (fabs(d->alpha - 1.0) < 1e-9)
			return floor(d->a * pow(d->b / d->a, u));
		{
			double e = 1.0 - d->alpha, lo = pow(d->a, e), hi = pow(d->b, e);

			return floor(pow(lo + u * (hi - lo), 1.0 / e));
		}
	case DIST_EXP: return floor(-log(1.0 - u) * d->a);
	default: return (double)INFINITY; /* forever */
	}
}

static bool before(const struct gen_block *x, const struct gen_block *y)
{
	return x->death < y->death || (x->death == y->death && x->id < y->id);
}

static int heap_push(struct gen *g, struct gen_block b)
{
	size_t i;

	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 1024;
		struct gen_block *p = realloc(g->heap, cap * sizeof(*p));

		if (!p)
			return -1;
		g->heap = p;
		g->cap = cap;
	}
	for (i = g->n++; i > 0 && before(&b, &g->heap[(i - 1) / 2]); i = (i - 1) / 2)
		g->heap[i] = g->heap[(i - 1) / 2];
	g->heap[i] = b;
	return 0;
}

static struct gen_block heap_pop(struct gen *g)
{
	struct gen_block top = g->heap[0], last = g->heap[--g->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= g->n)
			break;
		if (c + 1 < g->n && before(&g->heap[c + 1], &g->heap[c]))
			c++;
		if (!before(&g->heap[c], &last))
			break;
		g->heap[i] = g->heap[c];
		i = c;
	}
	if (g->n)
		g->heap[i] = last;
	return top;
}

static int emit(struct gen *g, uint8_t op, uint64_t size, uint64_t id)
{
	if (g->nrec == g->rcap) {
		size_t cap = g->rcap ? g->rcap * 2 : 4096;
		struct kmem_trace_rec *p = realloc(g->rec, cap * sizeof(*p));

		if (!p)
			return -1;
		g->rec = p;
		g->rcap = cap;
	}
	g->rec[g->nrec] = (struct kmem_trace_rec){ .op = op, .tid = 1, .seq = g->nrec,
						   .size = op == KMEM_TRACE_FREE ? 0 : size,
						   .ptr = id };
	g->nrec++;
	return 0;
}

static int free_top(struct gen *g)
{
	struct gen_block b = heap_pop(g);

	g->live -= b.size;
	return emit(g, KMEM_TRACE_FREE, 0, b.id);
}

/* Free the blocks of phase p, all but one in 8: rebuild the heap. */
static int end_phase(struct gen *g, unsigned p, uint64_t now)
{
	size_t keep = 0;
	struct gen_block *all = g->heap;
	size_t n = g->n;

	g->heap = NULL;
	g->n = g->cap = 0;
	for (size_t i = 0; i < n; i++) {
		struct gen_block b = all[i];

		if (b.phase == p && kmem_splitmix64(&g->rng) % 8 != 0) {
			g->live -= b.size;
			if (emit(g, KMEM_TRACE_FREE, 0, b.id))
				goto oom;
			continue;
		}
		if (b.phase == p && b.death <= now)
			b.death = now + 1;
		if (heap_push(g, b))
			goto oom;
		keep++;
	}
	free(all);
	(void)keep;
	return 0;
oom:
	free(all);
	return -1;
}

static void gen_usage(FILE *f)
{
	fprintf(f,
		"usage: kmem trace-gen [options] OUT\n"
		"Writes a synthetic allocation trace (seeded) to OUT: kmem's text format when\n"
		"OUT ends in .txt (or -, stdout), else its binary format.\n"
		"  -s, --seed N        seed (default 1)\n"
		"  -n, --ops N         allocations (default 100000)\n"
		"      --size DIST     fixed:S | uniform:A:B | log:A:B | power:A:B:ALPHA\n"
		"                      (bytes; default log:16:4096)\n"
		"      --life DIST     exp:MEAN | uniform:A:B | forever (in allocations;\n"
		"                      default exp:1000)\n"
		"      --phases K      K phases: sizes x 2^(k mod 3) in phase k, and at its end\n"
		"                      every block born in it dies but one in 8 (default 1)\n"
		"      --max-live B    free the oldest blocks to keep live bytes <= B\n"
		"      --keep          leave the blocks live at the end (default: freed)\n"
		"  -h, --help          this text\n");
}

static int write_out(const char *out, const struct gen *g)
{
	size_t len = strlen(out);
	bool text = strcmp(out, "-") == 0 || (len > 4 && strcmp(out + len - 4, ".txt") == 0);
	FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "wb");
	int rc = 0;

	if (!f) {
		kmem_tool_file_error(out, "%s", strerror(errno));
		return -1;
	}
	if (text) {
		rc = kmem_trace_write_text(f, g->rec, g->nrec);
	} else {
		struct kmem_trace_header h = { .version = KMEM_TRACE_VERSION,
					       .record_size = sizeof(struct kmem_trace_rec) };

		memcpy(h.magic, KMEM_TRACE_MAGIC, sizeof(h.magic));
		if (fwrite(&h, sizeof(h), 1, f) != 1 ||
		    (g->nrec && fwrite(g->rec, sizeof(g->rec[0]), g->nrec, f) != g->nrec))
			rc = -1;
	}
	if (fflush(f) || ferror(f))
		rc = -1;
	if (f != stdout && fclose(f))
		rc = -1;
	if (rc)
		kmem_tool_file_error(out, "write error: %s", strerror(errno));
	return rc;
}

int kmem_trace_gen_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'S' },
		{ "life", required_argument, NULL, 'L' },
		{ "phases", required_argument, NULL, 'P' },
		{ "max-live", required_argument, NULL, 'M' },
		{ "keep", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dist size, life;
	struct gen g = { 0 };
	unsigned long long ops = 100000, seed = 1, phases = 1, v;
	size_t max_live = 0;
	bool keep = false;
	int c, rc = 0;

	parse_dist("log:16:4096", &size, true);
	parse_dist("exp:1000", &life, false);
	while ((c = getopt_long(argc, argv, "s:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (kmem_tool_parse_count(optarg, &seed))
				goto usage;
			break;
		case 'n':
			if (kmem_tool_parse_count(optarg, &ops) || ops > (1ull << 32))
				goto usage;
			break;
		case 'S':
			if (parse_dist(optarg, &size, true))
				goto usage;
			break;
		case 'L':
			if (parse_dist(optarg, &life, false))
				goto usage;
			break;
		case 'P':
			if (kmem_tool_parse_count(optarg, &v) || v == 0 || v > 1000000)
				goto usage;
			phases = v;
			break;
		case 'M':
			if (kmem_tool_parse_size(optarg, &max_live))
				goto usage;
			break;
		case 'K': keep = true; break;
		case 'h': gen_usage(stdout); return 0;
		default: goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	g.rng = seed;
	g.max_live = max_live;
	for (uint64_t t = 0; t < ops && !rc; t++) {
		unsigned phase = (unsigned)(t * phases / ops);
		double s = draw(&size, &g.rng) * (double)(1u << (phase % 3)), l;
		struct gen_block b;

		if (t && phase != (unsigned)((t - 1) * phases / ops))
			rc = end_phase(&g, phase - 1, t);
		while (!rc && g.n && g.heap[0].death <= t)
			rc = free_top(&g);
		b.size = s < 1 ? 1 : s > 1e15 ? (uint64_t)1e15 : (uint64_t)s;
		while (!rc && g.max_live && g.n && g.live + b.size > g.max_live) {
			/* the oldest first: the smallest id */
			size_t oldest = 0;

			for (size_t i = 1; i < g.n; i++)
				if (g.heap[i].id < g.heap[oldest].id)
					oldest = i;
			g.heap[oldest].death = 0; /* to the top, then out */
			for (size_t i = oldest; i > 0 && before(&g.heap[i], &g.heap[(i - 1) / 2]);
			     i = (i - 1) / 2) {
				struct gen_block x = g.heap[i];

				g.heap[i] = g.heap[(i - 1) / 2];
				g.heap[(i - 1) / 2] = x;
			}
			rc = free_top(&g);
		}
		if (rc)
			break;
		l = draw(&life, &g.rng);
		b.death = isinf(l) || l > 1e18 ? UINT64_MAX : t + 1 + (uint64_t)l;
		b.id = (t + 1) * 16;
		b.phase = phase;
		g.live += b.size;
		rc = emit(&g, KMEM_TRACE_MALLOC, b.size, b.id) || heap_push(&g, b);
	}
	while (!rc && !keep && g.n)
		rc = free_top(&g);
	if (rc)
		kmem_tool_error("out of memory generating %llu operations", ops);
	else
		rc = write_out(argv[optind], &g);
	free(g.heap);
	free(g.rec);
	return rc ? 1 : 0;
usage:
	gen_usage(stderr);
	return 2;
}
