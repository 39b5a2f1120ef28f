/* paging_input.c - kmem paging's reference strings: parsed from the command
 * line or a file, read from a Valgrind lackey log, or generated.
 *
 * Every page number is renamed to a dense id (0, 1, ... in order of first
 * use) through an open-addressing table (linear probing, load <= 1/2,
 * doubled when full), so the simulator indexes arrays by id: a reference
 * costs no hashing at simulation time.
 *
 * Generators (splitmix64, kmem_rand.h, so a seed means the same string
 * everywhere):
 *   uniform  each reference a page drawn uniformly from 0..pages-1;
 *   zipf     page k (0-based rank) with probability proportional to
 *            1 / (k + 1)^skew: a cumulative table and a binary search;
 *   loop     0, 1, ..., pages-1, 0, 1, ...;
 *   phases   `phases` equal phases, each drawing uniformly from its own
 *            window of pages/10 pages (at least 1) at a random offset:
 *            locality that shifts, the working set changing at each phase.
 *   With write_pct, each reference is a write with that probability.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmem_rand.h"
#include "kmem_tool.h"

/* ---- dense ids -------------------------------------------------------------------- */

static inline size_t slot_of(uint64_t page, size_t cap)
{
	return (size_t)((page * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static int map_grow(struct paging_refs *r)
{
	size_t cap = r->map_cap ? r->map_cap * 2 : 1024;
	uint32_t *map = calloc(cap, sizeof(*map));

	if (!map)
		return -1;
	for (uint32_t id = 0; id < r->npages; id++) {
		size_t h = slot_of(r->page[id], cap);

		while (map[h])
			h = (h + 1) & (cap - 1);
		map[h] = id + 1;
	}
	free(r->map);
	r->map = map;
	r->map_cap = cap;
	return 0;
}

static int oom(void)
{
	kmem_tool_error("paging: out of memory for the reference string");
	return -1;
}

int kmem_paging_add(struct paging_refs *r, uint64_t page, bool write)
{
	size_t h;
	uint32_t id;

	if (2 * ((size_t)r->npages + 1) > r->map_cap && map_grow(r))
		return oom();
	h = slot_of(page, r->map_cap);
	while (r->map[h] && r->page[r->map[h] - 1] != page)
		h = (h + 1) & (r->map_cap - 1);
	if (r->map[h]) {
		id = r->map[h] - 1;
	} else {
		if (r->npages == UINT32_MAX - 1) {
			kmem_tool_error("paging: more than 2^32 - 2 distinct pages");
			return -1;
		}
		if (r->npages == r->page_cap) {
			uint32_t cap = r->page_cap ? r->page_cap * 2 : 1024;
			uint64_t *p = realloc(r->page, (size_t)cap * sizeof(*p));

			if (!p)
				return oom();
			r->page = p;
			r->page_cap = cap;
		}
		id = r->npages++;
		r->page[id] = page;
		r->map[h] = id + 1;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 4096;
		uint32_t *ids = realloc(r->id, cap * sizeof(*ids));
		uint8_t *w;

		if (!ids)
			return oom();
		r->id = ids;
		w = realloc(r->write, cap);
		if (!w)
			return oom();
		r->write = w;
		r->cap = cap;
	}
	r->id[r->n] = id;
	r->write[r->n] = write ? 1 : 0;
	r->n++;
	r->writes += write ? 1 : 0;
	return 0;
}

void kmem_paging_refs_free(struct paging_refs *r)
{
	free(r->id);
	free(r->write);
	free(r->page);
	free(r->map);
	memset(r, 0, sizeof(*r));
}

/* ---- text ------------------------------------------------------------------------- */

static bool is_sep(int c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';';
}

int kmem_paging_parse(struct paging_refs *r, const char *text, size_t len, const char *what)
{
	size_t i = 0, line = 1;

	while (i < len) {
		char tok[64];
		size_t start, tl;
		unsigned long long v;
		bool write = false;
		char *end;

		if (text[i] == '#') {
			while (i < len && text[i] != '\n')
				i++;
			continue;
		}
		if (is_sep((unsigned char)text[i])) {
			line += text[i] == '\n';
			i++;
			continue;
		}
		start = i;
		while (i < len && !is_sep((unsigned char)text[i]) && text[i] != '#')
			i++;
		tl = i - start;
		if (tl >= sizeof(tok)) {
			kmem_tool_file_error(what, "line %zu: token '%.20s...' too long for a page number",
					     line, text + start);
			return -1;
		}
		memcpy(tok, text + start, tl);
		tok[tl] = '\0';
		if (tl > 1 && strchr("rRwW", tok[tl - 1])) {
			write = tok[tl - 1] == 'w' || tok[tl - 1] == 'W';
			tok[--tl] = '\0';
		}
		if (!isdigit((unsigned char)tok[0])) {
			kmem_tool_file_error(what, "line %zu: '%.*s' is not a page number (digits, an optional R or W)",
					     line, (int)(i - start), text + start);
			return -1;
		}
		errno = 0;
		v = strtoull(tok, &end, 0);
		if (errno || *end) {
			kmem_tool_file_error(what, "line %zu: '%.*s' is not a page number (digits, an optional R or W)",
					     line, (int)(i - start), text + start);
			return -1;
		}
		if (kmem_paging_add(r, v, write))
			return -1;
	}
	return 0;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		kmem_tool_file_error(path, "cannot open: %s", strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		if (n == cap) {
			char *b = realloc(buf, cap = cap ? cap * 2 : 65536);

			if (!b) {
				free(buf);
				buf = NULL;
				oom();
				break;
			}
			buf = b;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				kmem_tool_file_error(path, "read error: %s", strerror(errno));
				free(buf);
				buf = NULL;
			}
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

int kmem_paging_read_file(struct paging_refs *r, const char *path)
{
	size_t len;
	char *text = slurp(path, &len);
	int rc;

	if (!text)
		return -1;
	if (memchr(text, '\0', len)) {
		kmem_tool_file_error(path, "binary data (a NUL byte): not a reference string");
		free(text);
		return -1;
	}
	rc = kmem_paging_parse(r, text, len, path);
	free(text);
	return rc;
}

/* ---- lackey ------------------------------------------------------------------------------- */

int kmem_paging_read_lackey(struct paging_refs *r, const char *path, size_t page_size,
			    bool no_instr)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char line[256];
	size_t lineno = 0;
	unsigned shift = 0;
	int rc = 0;

	if (!f) {
		kmem_tool_file_error(path, "cannot open: %s", strerror(errno));
		return -1;
	}
	while ((size_t)1 << shift < page_size)
		shift++;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr, size;
		char kind, *p, *end;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			kmem_tool_file_error(path, "line %zu: longer than %zu bytes: not a lackey record",
					     lineno, sizeof(line) - 2);
			rc = -1;
			break;
		}
		if (strncmp(line, "==", 2) == 0 || line[0] == '\n' || line[0] == '\0')
			continue;
		/* "I  04016f70,3" or " L 1ffefffd70,8" */
		if (line[0] == 'I' && line[1] == ' ' && line[2] == ' ') {
			kind = 'I';
			p = line + 3;
		} else if (line[0] == ' ' && strchr("LSM", line[1]) && line[1] && line[2] == ' ') {
			kind = line[1];
			p = line + 3;
		} else {
			kmem_tool_file_error(path, "line %zu: not a lackey record (\"I  ADDR,SIZE\" or \" L|S|M ADDR,SIZE\")",
					     lineno);
			rc = -1;
			break;
		}
		errno = 0;
		addr = strtoull(p, &end, 16);
		if (errno || end == p || *end != ',') {
			kmem_tool_file_error(path, "line %zu: bad address in a lackey record", lineno);
			rc = -1;
			break;
		}
		p = end + 1;
		size = strtoull(p, &end, 10);
		if (errno || end == p || (*end != '\n' && *end != '\0' && *end != '\r') || size == 0 ||
		    addr + size - 1 < addr) {
			kmem_tool_file_error(path, "line %zu: bad size in a lackey record", lineno);
			rc = -1;
			break;
		}
		if (kind == 'I' && no_instr)
			continue;
		for (unsigned long long pg = addr >> shift; pg <= (addr + size - 1) >> shift; pg++)
			if (kmem_paging_add(r, pg, kind == 'S' || kind == 'M')) {
				rc = -1;
				goto out;
			}
	}
	if (!rc && ferror(f)) {
		kmem_tool_file_error(path, "read error: %s", strerror(errno));
		rc = -1;
	}
out:
	if (f != stdin)
		fclose(f);
	return rc;
}

/* ---- generators ------------------------------------------------------------------------------ */

static double unit(uint64_t *s)
{
	return (double)(kmem_splitmix64(s) >> 11) * (1.0 / 9007199254740992.0);
}

int kmem_paging_generate(struct paging_refs *r, const struct paging_gen *g)
{
	uint64_t s = g->seed, pages = g->pages ? g->pages : 1;
	double *cdf = NULL;
	uint64_t window = pages / 10 ? pages / 10 : 1, base = 0, plen;
	unsigned phases = g->phases ? g->phases : 10;

	if (!strcmp(g->kind, "zipf")) {
		double sum = 0;

		if (pages > (1u << 26)) {
			kmem_tool_error("paging: zipf over more than 2^26 pages");
			return -1;
		}
		cdf = malloc((size_t)pages * sizeof(*cdf)); /* pages <= 2^26: fits */
		if (!cdf)
			return oom();
		for (uint64_t k = 0; k < pages; k++)
			cdf[k] = sum += pow((double)(k + 1), -g->skew);
		for (uint64_t k = 0; k < pages; k++)
			cdf[k] /= sum;
	} else if (strcmp(g->kind, "uniform") && strcmp(g->kind, "loop") &&
		   strcmp(g->kind, "phases")) {
		kmem_tool_error("paging: unknown generator '%s' (uniform, zipf, loop, phases)", g->kind);
		return -1;
	}
	plen = g->n / phases ? g->n / phases : 1;
	for (uint64_t t = 0; t < g->n; t++) {
		uint64_t page;

		if (cdf) {
			double u = unit(&s);
			uint64_t lo = 0, hi = pages - 1;

			while (lo < hi) {
				uint64_t mid = lo + (hi - lo) / 2;

				if (cdf[mid] < u)
					lo = mid + 1;
				else
					hi = mid;
			}
			page = lo;
		} else if (g->kind[0] == 'u') {
			page = kmem_splitmix64(&s) % pages;
		} else if (g->kind[0] == 'l') {
			page = t % pages;
		} else {
			if (t % plen == 0)
				base = kmem_splitmix64(&s) % (pages - window + 1);
			page = base + kmem_splitmix64(&s) % window;
		}
		if (kmem_paging_add(r, page, g->write_pct && kmem_splitmix64(&s) % 100 < g->write_pct)) {
			free(cdf);
			return -1;
		}
	}
	free(cdf);
	return 0;
}
