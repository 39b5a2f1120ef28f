/* paging.c - kmem paging: a demand-paging simulator over the replacement
 * policies of kmem/replace.h (the same code a page cache uses).
 *
 *   kmem paging [options] [PAGE...]
 *
 * Algorithm:
 *   1. The reference string (inline, a file, a lackey log or a generator,
 *      paging_input.c) becomes dense page ids with read/write flags.
 *   2. For every policy and every frame count of the range: a policy
 *      instance of that many frames and a page table (id -> frame + 1);
 *      per reference: a hit is kmem_rp_reference(); a miss is a fault:
 *      a free frame, or kmem_rp_victim() (a dirty victim is a write-back)
 *      and kmem_rp_remove(EVICT); then kmem_rp_insert(). kmem_rp_tick()
 *      every --tick references. kmem_rp_check() at the end of each run.
 *      opt gets the next-use table of the string (one backward pass).
 *   3. Per run: faults, fault rate p = faults / n, write-backs, effective
 *      access time EAT = (1 - p) * memory time + p * fault service time
 *      (Silberschatz et al., 9.2.2).
 *   4. Belady's anomaly: a frame count whose faults exceed those of the
 *      previous (smaller) count in the range, per policy.
 *   5. Thrashing: per policy, the smallest frame count of the range whose
 *      faults are within --thrash-factor (2) of the faults at the largest
 *      count: below it, faults multiply (the knee of the fault curve).
 *      Denning's working set W(t, delta), the distinct pages among the last
 *      delta references, computed in O(1) per reference (a page leaves the
 *      window when its last use falls out of it): its mean is the frame
 *      count below which the program thrashes in Denning's sense.
 *   Cost: O(n) per run for the O(1) policies, O(n log frames) for opt.
 *
 * Output: a text table, CSV (one row per run) or JSON (everything).
 * Exit status: 0, 1 unreadable or malformed input or a failed check, 2 a
 * usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmem_tool.h"

enum fmt { FMT_TEXT, FMT_CSV, FMT_JSON };

struct paging_opts {
	const char *refs, *file, *lackey;
	struct paging_gen gen;
	bool generate, no_instr, progress;
	size_t page_size;
	const struct kmem_rp_ops *pol[16];
	unsigned npol;
	uint32_t fmin, fmax, fstep;
	bool frames_set;
	uint64_t tick;
	double mem_ns, fault_ns, thrash_factor;
	uint64_t window;
	unsigned samples;
	enum fmt fmt;
};

struct paging_run {
	const struct kmem_rp_ops *ops;
	uint32_t frames;
	uint64_t faults, writebacks;
	double rate, eat;
	bool anomaly;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kmem paging [options] [PAGE...]\n"
		"Simulates demand paging of a reference string under every replacement\n"
		"policy over a range of frame counts: faults, fault rate, write-backs,\n"
		"effective access time, Belady's anomaly, thrashing, working set.\n"
		"Input (one of):\n"
		"  PAGE...               page numbers on the command line, R/W suffix: 1 2w 3\n"
		"  -r, --refs LIST       the same in one argument: \"1,2,3w,4\"\n"
		"  -i, --input FILE      a file of page numbers (commas, blanks, newlines;\n"
		"                        R/W suffix; '#' comments); - for stdin\n"
		"  -l, --lackey FILE     a valgrind --tool=lackey --trace-mem=yes log\n"
		"      --page-size SIZE  lackey: page size, K/M suffixes (default 4096)\n"
		"      --no-instr        lackey: skip instruction fetches\n"
		"  -g, --generate KIND   uniform, zipf, loop or phases (seeded)\n"
		"  -n, --length N        generated references (default 100000)\n"
		"      --pages N         generated: distinct pages (default 1000)\n"
		"      --skew S          zipf exponent (default 1.0)\n"
		"      --phases N        phases: how many (default 10)\n"
		"      --write-pct PCT   generated: percent of writes (default 0)\n"
		"  -s, --seed N          generator seed (default 1)\n"
		"Simulation:\n"
		"  -p, --policy LIST     policies, comma-separated (default all:\n"
		"                        fifo,lru,opt,clock,esc,aging,2q,arc)\n"
		"  -f, --frames RANGE    N, A-B or A-B:STEP (default 1..pages up to 64\n"
		"                        pages, else 16 steps up to the page count)\n"
		"  -t, --tick N          clock tick every N references (aging, esc;\n"
		"                        default 1000, 0 never)\n"
		"      --mem-ns T        memory access time (default 100)\n"
		"      --fault-ns T      page-fault service time (default 8000000)\n"
		"  -w, --window D        working-set window delta (default 1000)\n"
		"      --samples N       W(t, delta) at N points (default 10)\n"
		"      --thrash-factor X thrashing below faults X times the best (default 2)\n"
		"  -o, --format FMT      text, csv or json (default text)\n"
		"      --progress        progress on stderr (default: when it is a terminal)\n"
		"  -h, --help            this text\n");
}

static int parse_frames(const char *s, struct paging_opts *o)
{
	unsigned long long a, b, step = 1;
	char *end;

	errno = 0;
	a = strtoull(s, &end, 10);
	b = a;
	if (end != s && *end == '-')
		b = strtoull(end + 1, &end, 10);
	if (*end == ':')
		step = strtoull(end + 1, &end, 10);
	if (errno || *end || a == 0 || b < a || step == 0 || b > (1u << 24))
		return -1;
	o->fmin = (uint32_t)a;
	o->fmax = (uint32_t)b;
	o->fstep = (uint32_t)step;
	o->frames_set = true;
	return 0;
}

static int parse_policies(char *list, struct paging_opts *o)
{
	o->npol = 0;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		const struct kmem_rp_ops *ops = kmem_rp_by_name(tok);

		if (!ops || o->npol == 16) {
			kmem_tool_error("paging: unknown policy '%s'", tok);
			return -1;
		}
		o->pol[o->npol++] = ops;
	}
	return o->npol ? 0 : -1;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !(*out >= 0) ? -1 : 0;
}

static int parse_opts(int argc, char **argv, struct paging_opts *o, char **inline_refs)
{
	static const struct option longopts[] = {
		{ "refs", required_argument, NULL, 'r' },
		{ "input", required_argument, NULL, 'i' },
		{ "lackey", required_argument, NULL, 'l' },
		{ "page-size", required_argument, NULL, 'P' },
		{ "no-instr", no_argument, NULL, 'I' },
		{ "generate", required_argument, NULL, 'g' },
		{ "length", required_argument, NULL, 'n' },
		{ "pages", required_argument, NULL, 'N' },
		{ "skew", required_argument, NULL, 'k' },
		{ "phases", required_argument, NULL, 'H' },
		{ "write-pct", required_argument, NULL, 'W' },
		{ "seed", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "frames", required_argument, NULL, 'f' },
		{ "tick", required_argument, NULL, 't' },
		{ "mem-ns", required_argument, NULL, 'M' },
		{ "fault-ns", required_argument, NULL, 'F' },
		{ "window", required_argument, NULL, 'w' },
		{ "samples", required_argument, NULL, 'S' },
		{ "thrash-factor", required_argument, NULL, 'T' },
		{ "format", required_argument, NULL, 'o' },
		{ "progress", no_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	size_t len = 0;
	int c, sources = 0;

	*o = (struct paging_opts){ .page_size = 4096, .tick = 1000, .mem_ns = 100,
				   .fault_ns = 8e6, .thrash_factor = 2, .window = 1000,
				   .samples = 10,
				   .gen = { .n = 100000, .pages = 1000, .seed = 1, .skew = 1.0,
					    .phases = 10 } };
	o->progress = isatty(2);
	for (unsigned i = 0; kmem_rp_builtin(i); i++)
		o->pol[o->npol++] = kmem_rp_builtin(i);
	while ((c = getopt_long(argc, argv, "r:i:l:g:n:s:p:f:t:w:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->refs = optarg; sources++; break;
		case 'i': o->file = optarg; sources++; break;
		case 'l': o->lackey = optarg; sources++; break;
		case 'g': o->gen.kind = optarg; o->generate = true; sources++; break;
		case 'I': o->no_instr = true; break;
		case 'G': o->progress = true; break;
		case 'P':
			if (kmem_tool_parse_size(optarg, &o->page_size) ||
			    (o->page_size & (o->page_size - 1))) {
				kmem_tool_error("paging: --page-size %s: not a power of two", optarg);
				return -1;
			}
			break;
		case 'n': case 'N': case 'H': case 'W': case 's': case 't': case 'S': case 'w':
			if (kmem_tool_parse_count(optarg, &v)) {
				kmem_tool_error("paging: '%s' is not a whole number", optarg);
				return -1;
			}
			if (c == 'n') o->gen.n = v;
			else if (c == 'N') o->gen.pages = v;
			else if (c == 'H') o->gen.phases = (unsigned)v;
			else if (c == 'W') o->gen.write_pct = (unsigned)(v > 100 ? 101 : v);
			else if (c == 's') o->gen.seed = v;
			else if (c == 't') o->tick = v;
			else if (c == 'S') o->samples = (unsigned)(v > 100000 ? 100000 : v);
			else o->window = v;
			break;
		case 'k': case 'M': case 'F': case 'T': {
			double d;

			if (parse_double(optarg, &d)) {
				kmem_tool_error("paging: '%s' is not a number >= 0", optarg);
				return -1;
			}
			if (c == 'k') o->gen.skew = d;
			else if (c == 'M') o->mem_ns = d;
			else if (c == 'F') o->fault_ns = d;
			else o->thrash_factor = d;
			break;
		}
		case 'p':
			if (parse_policies(optarg, o))
				return -1;
			break;
		case 'f':
			if (parse_frames(optarg, o)) {
				kmem_tool_error("paging: --frames %s: want N, A-B or A-B:STEP, 1 <= A <= B <= 16777216",
						optarg);
				return -1;
			}
			break;
		case 'o':
			if (!strcmp(optarg, "text")) o->fmt = FMT_TEXT;
			else if (!strcmp(optarg, "csv")) o->fmt = FMT_CSV;
			else if (!strcmp(optarg, "json")) o->fmt = FMT_JSON;
			else {
				kmem_tool_error("paging: unknown format '%s' (text, csv, json)", optarg);
				return -1;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind < argc) {
		for (int i = optind; i < argc; i++)
			len += strlen(argv[i]) + 1;
		*inline_refs = malloc(len + 1);
		if (!*inline_refs)
			return -1;
		(*inline_refs)[0] = '\0';
		for (int i = optind; i < argc; i++) {
			strcat(*inline_refs, argv[i]);
			strcat(*inline_refs, " ");
		}
		sources++;
	}
	if (sources != 1) {
		kmem_tool_error("paging: give one reference string: PAGE..., --refs, --input, --lackey or --generate");
		return -1;
	}
	if (o->gen.write_pct > 100 || (o->generate && (o->gen.n == 0 || o->gen.pages == 0))) {
		kmem_tool_error("paging: --write-pct above 100, or --length/--pages 0");
		return -1;
	}
	if (o->window == 0) {
		kmem_tool_error("paging: --window 0");
		return -1;
	}
	return 0;
}

/* ---- the runs ------------------------------------------------------------------------------ */

struct sim {
	const struct paging_refs *r;
	const uint64_t *next;	/* opt's next-use table, or NULL */
	uint32_t *frame_of;	/* [npages] frame + 1, 0: not resident */
	uint32_t *page_in;	/* [fmax] */
};

static int simulate(struct sim *s, const struct paging_opts *o, struct paging_run *run)
{
	const struct paging_refs *r = s->r;
	struct kmem_rp_config cfg = { .frames = run->frames, .next_use = s->next,
				      .next_use_len = s->next ? r->n : 0 };
	size_t sz = kmem_rp_sizeof(run->ops, &cfg);
	void *mem = sz ? aligned_alloc(16, (sz + 15) & ~(size_t)15) : NULL;
	struct kmem_rp *rp;
	uint32_t used = 0, frames = run->frames;
	uint64_t faults = 0, wb = 0, tick = o->tick, next_tick = o->tick;
	int rc;

	if (!mem || kmem_rp_init(mem, sz, run->ops, &cfg, &rp)) {
		kmem_tool_error("paging: cannot set up %s with %u frames", run->ops->name, frames);
		free(mem);
		return -1;
	}
	memset(s->frame_of, 0, (size_t)r->npages * sizeof(*s->frame_of));
	for (size_t t = 0; t < r->n; t++) {
		uint32_t id = r->id[t], f;
		unsigned fl = r->write[t] ? KMEM_RP_WRITE : KMEM_RP_READ;

		if (tick && t == next_tick) {
			kmem_rp_tick(rp);
			next_tick += tick;
		}
		if (s->frame_of[id]) {
			(void)kmem_rp_reference(rp, s->frame_of[id] - 1, fl);
			continue;
		}
		faults++;
		if (used < frames) {
			f = used++;
		} else {
			f = kmem_rp_victim(rp, id);
			wb += kmem_rp_dirty(rp, f) ? 1 : 0;
			s->frame_of[s->page_in[f]] = 0;
			(void)kmem_rp_remove(rp, f, KMEM_RP_EVICT);
		}
		(void)kmem_rp_insert(rp, f, id, fl);
		s->page_in[f] = id;
		s->frame_of[id] = f + 1;
	}
	rc = kmem_rp_check(rp);
	free(mem);
	if (rc) {
		kmem_tool_error("paging: %s with %u frames: the policy's check failed", run->ops->name,
				frames);
		return -1;
	}
	run->faults = faults;
	run->writebacks = wb;
	run->rate = r->n ? (double)faults / (double)r->n : 0;
	run->eat = (1 - run->rate) * o->mem_ns + run->rate * o->fault_ns;
	return 0;
}

static uint64_t *next_uses(const struct paging_refs *r)
{
	uint64_t *next = malloc((r->n ? r->n : 1) * sizeof(*next));
	uint64_t *last = malloc((r->npages ? r->npages : 1) * sizeof(*last));

	if (!next || !last) {
		free(next);
		free(last);
		return NULL;
	}
	for (uint32_t i = 0; i < r->npages; i++)
		last[i] = KMEM_RP_NEVER;
	for (size_t t = r->n; t-- > 0;) {
		next[t] = last[r->id[t]];
		last[r->id[t]] = t;
	}
	free(last);
	return next;
}

struct ws {
	double mean;
	uint32_t max;
	uint64_t *t;
	uint32_t *w;
	unsigned n;
};

/* W(t, delta) for every t; the mean, the max and samples */
static int working_set(const struct paging_refs *r, uint64_t delta, unsigned samples, struct ws *ws)
{
	uint64_t *last = malloc((r->npages ? r->npages : 1) * sizeof(*last));
	uint32_t w = 0;
	double sum = 0;
	unsigned k = 0;

	ws->t = calloc(samples ? samples : 1, sizeof(*ws->t));
	ws->w = calloc(samples ? samples : 1, sizeof(*ws->w));
	if (!last || !ws->t || !ws->w) {
		free(last);
		return -1;
	}
	for (uint32_t i = 0; i < r->npages; i++)
		last[i] = KMEM_RP_NEVER;
	ws->max = 0;
	for (size_t t = 0; t < r->n; t++) {
		uint32_t id = r->id[t];

		/* the reference leaving the window (t - delta, t] */
		if (t >= delta && last[r->id[t - delta]] == t - delta)
			w--;
		if (last[id] == KMEM_RP_NEVER || last[id] + delta <= t)
			w++;
		last[id] = t;
		sum += w;
		ws->max = w > ws->max ? w : ws->max;
		while (k < samples && (uint64_t)(k + 1) * r->n / samples - 1 == t) {
			ws->t[k] = t;
			ws->w[k++] = w;
		}
	}
	ws->n = k;
	ws->mean = r->n ? sum / (double)r->n : 0;
	free(last);
	return 0;
}

/* ---- the report ---------------------------------------------------------------------------- */

/* per policy: the smallest frame count with faults <= factor * faults at the largest */
static uint32_t thrash_below(const struct paging_run *runs, unsigned nf, double factor)
{
	double best = (double)runs[nf - 1].faults * factor;

	for (unsigned i = 0; i < nf; i++)
		if ((double)runs[i].faults <= best)
			return runs[i].frames;
	return runs[nf - 1].frames;
}

static const char *src_name(const struct paging_opts *o)
{
	return o->file ? o->file : o->lackey ? o->lackey : o->generate ? o->gen.kind : "inline";
}

static void report_text(const struct paging_opts *o, const struct paging_refs *r,
			const struct paging_run *runs, unsigned nf, const struct ws *ws)
{
	bool any = false;

	printf("kmem paging: %zu references (%llu writes) to %u pages from %s; frames %u..%u step %u;\n"
	       "  tick every %llu references; EAT with memory %.0f ns, page fault %.0f ns\n\n",
	       r->n, (unsigned long long)r->writes, r->npages, src_name(o), o->fmin, o->fmax,
	       o->fstep, (unsigned long long)o->tick, o->mem_ns, o->fault_ns);
	printf("%-6s %8s %12s %10s %12s %14s\n", "policy", "frames", "faults", "rate",
	       "write-backs", "EAT(ns)");
	for (unsigned p = 0; p < o->npol; p++)
		for (unsigned i = 0; i < nf; i++) {
			const struct paging_run *x = &runs[p * nf + i];

			printf("%-6s %8u %12llu %10.6f %12llu %14.1f%s\n", x->ops->name, x->frames,
			       (unsigned long long)x->faults, x->rate,
			       (unsigned long long)x->writebacks, x->eat,
			       x->anomaly ? "  <- Belady's anomaly" : "");
		}
	printf("\nBelady's anomaly:");
	for (unsigned p = 0; p < o->npol; p++)
		for (unsigned i = 1; i < nf; i++) {
			const struct paging_run *x = &runs[p * nf + i];

			if (x->anomaly) {
				printf("\n  %s: %u frames %llu faults, %u frames %llu faults", x->ops->name,
				       x[-1].frames, (unsigned long long)x[-1].faults, x->frames,
				       (unsigned long long)x->faults);
				any = true;
			}
		}
	printf("%s\n", any ? "" : " none");
	printf("thrashing (faults above %.1fx those at %u frames):\n", o->thrash_factor, o->fmax);
	for (unsigned p = 0; p < o->npol; p++)
		printf("  %s: below %u frames\n", o->pol[p]->name,
		       thrash_below(&runs[p * nf], nf, o->thrash_factor));
	printf("working set W(t, %llu): mean %.1f pages, max %u (Denning: fewer frames thrash)\n ",
	       (unsigned long long)o->window, ws->mean, ws->max);
	for (unsigned k = 0; k < ws->n; k++)
		printf(" W(%llu)=%u", (unsigned long long)ws->t[k], ws->w[k]);
	printf("\n");
}

static void report_csv(const struct paging_opts *o, const struct paging_run *runs, unsigned nf)
{
	printf("policy,frames,faults,fault_rate,writebacks,eat_ns,anomaly\n");
	for (unsigned i = 0; i < o->npol * nf; i++)
		printf("%s,%u,%llu,%.6f,%llu,%.1f,%d\n", runs[i].ops->name, runs[i].frames,
		       (unsigned long long)runs[i].faults, runs[i].rate,
		       (unsigned long long)runs[i].writebacks, runs[i].eat, runs[i].anomaly ? 1 : 0);
}

static void report_json(const struct paging_opts *o, const struct paging_refs *r,
			const struct paging_run *runs, unsigned nf, const struct ws *ws)
{
	const char *sep = "";

	printf("{\"source\":\"%s\",\"references\":%zu,\"writes\":%llu,\"pages\":%u,"
	       "\"frames\":{\"min\":%u,\"max\":%u,\"step\":%u},\"tick\":%llu,"
	       "\"memory_ns\":%.1f,\"fault_ns\":%.1f,\"runs\":[",
	       o->generate ? o->gen.kind : (o->file || o->lackey) ? "file" : "inline", r->n,
	       (unsigned long long)r->writes, r->npages, o->fmin, o->fmax, o->fstep,
	       (unsigned long long)o->tick, o->mem_ns, o->fault_ns);
	for (unsigned i = 0; i < o->npol * nf; i++)
		printf("%s{\"policy\":\"%s\",\"frames\":%u,\"faults\":%llu,\"fault_rate\":%.6f,"
		       "\"writebacks\":%llu,\"eat_ns\":%.1f}",
		       i ? "," : "", runs[i].ops->name, runs[i].frames,
		       (unsigned long long)runs[i].faults, runs[i].rate,
		       (unsigned long long)runs[i].writebacks, runs[i].eat);
	printf("],\"anomalies\":[");
	for (unsigned p = 0; p < o->npol; p++)
		for (unsigned i = 1; i < nf; i++) {
			const struct paging_run *x = &runs[p * nf + i];

			if (!x->anomaly)
				continue;
			printf("%s{\"policy\":\"%s\",\"frames\":%u,\"faults\":%llu,"
			       "\"previous_frames\":%u,\"previous_faults\":%llu}",
			       sep, x->ops->name, x->frames, (unsigned long long)x->faults,
			       x[-1].frames, (unsigned long long)x[-1].faults);
			sep = ",";
		}
	printf("],\"thrashing\":{\"factor\":%.2f,\"below\":{", o->thrash_factor);
	for (unsigned p = 0; p < o->npol; p++)
		printf("%s\"%s\":%u", p ? "," : "", o->pol[p]->name,
		       thrash_below(&runs[p * nf], nf, o->thrash_factor));
	printf("}},\"working_set\":{\"delta\":%llu,\"mean\":%.2f,\"max\":%u,\"samples\":[",
	       (unsigned long long)o->window, ws->mean, ws->max);
	for (unsigned k = 0; k < ws->n; k++)
		printf("%s{\"t\":%llu,\"w\":%u}", k ? "," : "", (unsigned long long)ws->t[k], ws->w[k]);
	printf("]}}\n");
}

int kmem_paging_main(int argc, char **argv)
{
	struct paging_opts o;
	struct paging_refs r = { 0 };
	struct paging_run *runs = NULL;
	struct sim s = { .r = &r };
	struct ws ws = { 0 };
	char *inline_refs = NULL;
	unsigned nf;
	int rc = 1;

	if (parse_opts(argc, argv, &o, &inline_refs)) {
		free(inline_refs);
		fprintf(stderr, "usage: kmem paging [options] [PAGE...] (kmem paging --help)\n");
		return 2;
	}
	if (inline_refs ? kmem_paging_parse(&r, inline_refs, strlen(inline_refs), "command line")
	    : o.refs ? kmem_paging_parse(&r, o.refs, strlen(o.refs), "--refs")
	    : o.file ? kmem_paging_read_file(&r, o.file)
	    : o.lackey ? kmem_paging_read_lackey(&r, o.lackey, o.page_size, o.no_instr)
	    : kmem_paging_generate(&r, &o.gen))
		goto out;
	if (r.n == 0) {
		kmem_tool_file_error(src_name(&o), "no references");
		goto out;
	}
	if (!o.frames_set) {
		if (r.npages <= 64) {
			o.fmin = o.fstep = 1;
			o.fmax = r.npages;
		} else {
			o.fstep = (r.npages + 15) / 16;
			o.fmin = o.fstep;
			o.fmax = 16 * o.fstep;
		}
	}
	if (o.samples > r.n)
		o.samples = (unsigned)r.n;
	nf = (o.fmax - o.fmin) / o.fstep + 1;
	o.fmax = o.fmin + (nf - 1) * o.fstep;
	runs = calloc((size_t)nf * o.npol, sizeof(*runs));
	s.frame_of = malloc((size_t)r.npages * sizeof(*s.frame_of));
	s.page_in = malloc((size_t)o.fmax * sizeof(*s.page_in));
	if (!runs || !s.frame_of || !s.page_in || working_set(&r, o.window, o.samples, &ws)) {
		kmem_tool_error("paging: out of memory");
		goto out;
	}
	for (unsigned p = 0; p < o.npol; p++) {
		s.next = NULL;
		if (o.pol[p] == &kmem_rp_opt && !(s.next = next_uses(&r))) {
			kmem_tool_error("paging: out of memory for opt's next-use table");
			goto out;
		}
		for (unsigned i = 0; i < nf; i++) {
			struct paging_run *x = &runs[p * nf + i];

			x->ops = o.pol[p];
			x->frames = o.fmin + i * o.fstep;
			if (o.progress)
				fprintf(stderr, "\rkmem paging: %-5s %8u frames (%u of %u runs)  ",
					x->ops->name, x->frames, p * nf + i + 1, nf * o.npol);
			if (simulate(&s, &o, x)) {
				free((void *)s.next);
				goto out;
			}
			x->anomaly = i > 0 && x->faults > x[-1].faults;
		}
		free((void *)s.next);
	}
	if (o.progress)
		fprintf(stderr, "\r%60s\r", "");
	if (o.fmt == FMT_TEXT)
		report_text(&o, &r, runs, nf, &ws);
	else if (o.fmt == FMT_CSV)
		report_csv(&o, runs, nf);
	else
		report_json(&o, &r, runs, nf, &ws);
	rc = fflush(stdout) ? 1 : 0;
out:
	free(inline_refs);
	free(runs);
	free(s.frame_of);
	free(s.page_in);
	free(ws.t);
	free(ws.w);
	kmem_paging_refs_free(&r);
	return rc;
}
