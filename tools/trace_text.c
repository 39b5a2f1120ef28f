/* trace_text.c - traces in text: kmem's own text format (one operation a
 * line, read and written) and `valgrind --trace-malloc=yes` logs (read),
 * both turned into the records of kmem's binary format (kmem/trace.h).
 *
 * What it does:
 *   1. Detect (kmem_trace_detect): kmem's magic "KMEMTRC" or control bytes
 *      in the first 16 bytes: binary; a first non-blank line opening with
 *      Valgrind's "--PID-- " or "==PID== ": a Valgrind log; else text.
 *   2. Text (kmem_trace_parse_text), a line at a time:
 *        m SIZE ID            malloc(SIZE) returned ID
 *        c SIZE ID            calloc returned ID (SIZE = nmemb * size)
 *        a ALIGN SIZE ID      aligned allocation (ALIGN a power of two)
 *        r OLD SIZE ID        realloc(OLD, SIZE) returned ID
 *        f ID                 free(ID)
 *      each optionally ending in "@TID" (thread 1..65535, default 1);
 *      numbers decimal or 0x hex, ID 0 = NULL (a failed call, free(NULL),
 *      realloc(NULL, n), realloc(p, 0)'s result); '#' starts a comment;
 *      the full names (malloc, calloc, memalign, realloc, free) are
 *      accepted for the letters. The record's seq is its line's rank.
 *   3. Valgrind (kmem_trace_parse_valgrind): lines "--PID-- CALL", where
 *      CALL is NAME(ARGS) and, for an allocation, " = PTR". Valgrind prints
 *      a call's name before it runs and its result after, so a call made
 *      inside it lands between the two ("realloc(0x0,16)malloc(16) =
 *      0x4a..." and "realloc(0x4a..,0)free(0x4a..)" with " = 0" on the next
 *      line). A small stack keeps the outer call open: an inner call that
 *      is the outer one's own work (malloc of the same size inside
 *      realloc(NULL, n), free of the same block inside realloc(p, 0)) is
 *      absorbed, any other inner call (a thread switch between the two
 *      prints) is a record of its own; the outer call takes the inner's
 *      result or the next result line. Names: malloc, calloc, realloc,
 *      memalign, posix_memalign, aligned_alloc, valloc, pvalloc, free,
 *      cfree and the C++ operators (_Znw*, _Zna*: new; *align_val_t*:
 *      aligned new; _Zdl*, _Zda*: delete; __builtin_*); the statistics
 *      calls (malloc_usable_size, ...) are skipped. Lines of another
 *      process than the first one seen are skipped and counted (one log per
 *      process: --log-file=x.%p), as are Valgrind's own lines ("==PID==",
 *      and "--PID--" lines that are not calls).
 *   4. Write (kmem_trace_write_text): any records as text, in the order
 *      given; parsing the output gives the same records back (seq becomes
 *      the rank, flags are derived from the sizes).
 * Errors name the line (1-based) and the problem, in err->msg; the
 * parsers never print, so the fuzzer (tests/fuzz/fuzz_trace.c) runs them
 * as they are. Bound: O(bytes) a parse, records appended in O(1)
 * amortised (doubling).
 *
 * Data structures: struct trace_recs (kmem_tool.h): an anonymous mapping
 * holding a 16-byte header slot and the records after it, so the caller
 * can hand it to struct trace_file as if it were a mapped binary trace.
 * Tunables: TRACE_LINE_MAX (longest line, 4 KiB).
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>

#include "kmem_tool.h"

#define TRACE_LINE_MAX 4096
#define RECS_INITIAL 1024

/* ---- the record array ------------------------------------------------------------ */

void kmem_trace_recs_free(struct trace_recs *r)
{
	if (r->base)
		munmap(r->base, r->map_len);
	*r = (struct trace_recs){ 0 };
}

static int recs_push(struct trace_recs *r, const struct kmem_trace_rec *rec)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : RECS_INITIAL;
		size_t len = sizeof(struct kmem_trace_header) + cap * sizeof(*rec);
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -1;
		if (r->base) {
			memcpy(p, r->base, sizeof(struct kmem_trace_header) + r->n * sizeof(*rec));
			munmap(r->base, r->map_len);
		}
		r->base = p;
		r->map_len = len;
		r->cap = cap;
		r->rec = (struct kmem_trace_rec *)(void *)((char *)p + sizeof(struct kmem_trace_header));
	}
	r->rec[r->n] = *rec;
	r->rec[r->n].seq = r->n;
	r->n++;
	return 0;
}

static int perr(struct trace_parse_error *err, size_t line, const char *fmt, ...)
	KMEM_TOOL_PRINTF(3, 4);

static int perr(struct trace_parse_error *err, size_t line, const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- detection ------------------------------------------------------------------- */

/* "--123-- " or "==123== " at s (len bytes): the prefix's length, else 0. */
static size_t vg_prefix(const char *s, size_t len, char c)
{
	size_t i = 2;

	if (len < 6 || s[0] != c || s[1] != c)
		return 0;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == 2 || i + 3 > len || s[i] != c || s[i + 1] != c || s[i + 2] != ' ')
		return 0;
	return i + 3;
}

enum trace_format kmem_trace_detect(const char *buf, size_t len)
{
	size_t i = 0;

	if (len >= 7 && memcmp(buf, "KMEMTRC", 7) == 0)
		return TRACE_FMT_KMEM;
	for (size_t k = 0; k < len && k < 16; k++) {
		unsigned char c = (unsigned char)buf[k];

		if (c < 0x20 && c != '\n' && c != '\r' && c != '\t')
			return TRACE_FMT_KMEM; /* binary: the reader says what is wrong */
	}
	while (i < len && (buf[i] == '\n' || buf[i] == '\r' || buf[i] == ' ' || buf[i] == '\t'))
		i++;
	if (vg_prefix(buf + i, len - i, '-') || vg_prefix(buf + i, len - i, '='))
		return TRACE_FMT_VALGRIND;
	return TRACE_FMT_TEXT;
}

const char *kmem_trace_format_name(enum trace_format f)
{
	switch (f) {
	case TRACE_FMT_KMEM: return "kmem";
	case TRACE_FMT_TEXT: return "text";
	case TRACE_FMT_VALGRIND: return "valgrind";
	default: return "auto";
	}
}

/* ---- lines and numbers ----------------------------------------------------------- */

struct cursor {
	const char *p, *end;
	size_t line;
};

/* The next line (without its '\n' and a trailing '\r'); 0 at the end. */
static int next_line(struct cursor *c, const char **s, size_t *len)
{
	const char *nl;

	if (c->p >= c->end)
		return 0;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	*s = c->p;
	*len = (size_t)((nl ? nl : c->end) - c->p);
	c->p = nl ? nl + 1 : c->end;
	c->line++;
	if (*len && (*s)[*len - 1] == '\r')
		(*len)--;
	return 1;
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* An unsigned number at s[*i], decimal or 0x hex, advancing *i. Returns 0,
 * -1 when there is no number there, -2 on overflow. */
static int parse_u64(const char *s, size_t len, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	size_t k = *i;

	if (k + 1 < len && s[k] == '0' && (s[k + 1] == 'x' || s[k + 1] == 'X')) {
		size_t start = k += 2;

		for (; k < len && hex_val(s[k]) >= 0; k++) {
			if (v >> 60)
				return -2;
			v = v << 4 | (uint64_t)hex_val(s[k]);
		}
		if (k == start)
			return -1;
	} else {
		size_t start = k;

		for (; k < len && is_digit(s[k]); k++) {
			uint64_t d = (uint64_t)(s[k] - '0');

			if (v > (UINT64_MAX - d) / 10)
				return -2;
			v = v * 10 + d;
		}
		if (k == start)
			return -1;
	}
	*i = k;
	*out = v;
	return 0;
}

/* ---- kmem's text format ------------------------------------------------------------ */

/* Split s into blank-separated words (stopping at '#'); at most max. */
static size_t split_words(const char *s, size_t len, const char **w, size_t *wl, size_t max,
			  bool *too_many)
{
	size_t n = 0, i = 0;

	*too_many = false;
	for (;;) {
		size_t start;

		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= len || s[i] == '#')
			return n;
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != '#')
			i++;
		if (n == max) {
			*too_many = true;
			return n;
		}
		w[n] = s + start;
		wl[n++] = i - start;
	}
}

static bool word_is(const char *w, size_t wl, const char *a, const char *b)
{
	return (wl == strlen(a) && memcmp(w, a, wl) == 0) || (wl == strlen(b) && memcmp(w, b, wl) == 0);
}

/* A whole word as a number; the error names what it is. */
static int word_u64(const char *w, size_t wl, uint64_t *v, struct trace_parse_error *err,
		    size_t line, const char *what)
{
	size_t i = 0;
	int rc = parse_u64(w, wl, &i, v);

	if (rc == -2)
		return perr(err, line, "%s '%.*s' does not fit 64 bits", what, (int)(wl > 40 ? 40 : wl), w);
	if (rc || i != wl)
		return perr(err, line, "%s '%.*s' is not a number", what, (int)(wl > 40 ? 40 : wl), w);
	return 0;
}

static unsigned log2_u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

int kmem_trace_parse_text(const char *buf, size_t len, struct trace_recs *out,
			  struct trace_parse_error *err)
{
	static const struct {
		const char *letter, *name;
		uint8_t op;
		unsigned nargs;	/* numbers after the op, the result included */
		const char *usage;
	} ops[] = {
		{ "m", "malloc", KMEM_TRACE_MALLOC, 2, "m SIZE ID" },
		{ "c", "calloc", KMEM_TRACE_CALLOC, 2, "c SIZE ID" },
		{ "a", "memalign", KMEM_TRACE_MEMALIGN, 3, "a ALIGN SIZE ID" },
		{ "r", "realloc", KMEM_TRACE_REALLOC, 3, "r OLD SIZE ID" },
		{ "f", "free", KMEM_TRACE_FREE, 1, "f ID" },
	};
	struct cursor c = { buf, buf + len, 0 };
	const char *s;
	size_t sl;

	*out = (struct trace_recs){ 0 };
	while (next_line(&c, &s, &sl)) {
		const char *w[6];
		size_t wl[6], nw, k, nargs;
		uint64_t v[3], tid = 1;
		struct kmem_trace_rec r = { 0 };
		bool too_many;

		if (sl > TRACE_LINE_MAX)
			return perr(err, c.line, "line longer than %d bytes", TRACE_LINE_MAX);
		nw = split_words(s, sl, w, wl, 6, &too_many);
		if (nw == 0 && !too_many)
			continue;
		for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
			if (word_is(w[0], wl[0], ops[k].letter, ops[k].name))
				break;
		if (k == sizeof(ops) / sizeof(ops[0]))
			return perr(err, c.line, "unknown operation '%.*s' (expected m, c, a, r or f)",
				    (int)(wl[0] > 40 ? 40 : wl[0]), w[0]);
		nargs = nw - 1;
		if (nargs && wl[nw - 1] && w[nw - 1][0] == '@') {
			if (word_u64(w[nw - 1] + 1, wl[nw - 1] - 1, &tid, err, c.line, "thread"))
				return -1;
			if (tid == 0 || tid > 65535)
				return perr(err, c.line, "thread %llu out of range 1..65535",
					    (unsigned long long)tid);
			nargs--;
		}
		if (too_many || nargs != ops[k].nargs)
			return perr(err, c.line, "%s fields: expected '%s [@TID]'",
				    too_many || nargs > ops[k].nargs ? "too many" : "missing", ops[k].usage);
		for (size_t a = 0; a < nargs; a++)
			if (word_u64(w[1 + a], wl[1 + a], &v[a], err, c.line,
				     a + 1 == nargs ? "id" : ops[k].op == KMEM_TRACE_REALLOC && a == 0 ? "old id" :
				     ops[k].op == KMEM_TRACE_MEMALIGN && a == 0 ? "alignment" : "size"))
				return -1;
		r.op = ops[k].op;
		r.tid = (uint16_t)tid;
		switch (r.op) {
		case KMEM_TRACE_MALLOC:
		case KMEM_TRACE_CALLOC:
			r.size = v[0];
			r.ptr = v[1];
			break;
		case KMEM_TRACE_MEMALIGN:
			if (v[0] == 0 || (v[0] & (v[0] - 1)))
				return perr(err, c.line, "alignment %llu is not a power of two",
					    (unsigned long long)v[0]);
			r.align_log2 = (uint8_t)log2_u64(v[0]);
			r.size = v[1];
			r.ptr = v[2];
			break;
		case KMEM_TRACE_REALLOC:
			r.old = v[0];
			r.size = v[1];
			r.ptr = v[2];
			break;
		default:
			r.ptr = v[0];
			break;
		}
		if (r.size == 0 && (r.op == KMEM_TRACE_MALLOC || r.op == KMEM_TRACE_REALLOC))
			r.flags = KMEM_TRACE_F_ZERO_SIZE;
		if (recs_push(out, &r))
			return perr(err, c.line, "out of memory after %zu records", out->n);
	}
	return 0;
}

int kmem_trace_write_text(FILE *f, const struct kmem_trace_rec *rec, size_t n)
{
	fprintf(f, "# kmem trace text 1: m SIZE ID | c SIZE ID | a ALIGN SIZE ID | "
		   "r OLD SIZE ID | f ID, then @TID when not 1\n");
	for (size_t i = 0; i < n; i++) {
		const struct kmem_trace_rec *r = &rec[i];

		switch (r->op) {
		case KMEM_TRACE_MALLOC:
			fprintf(f, "m %llu %#llx", (unsigned long long)r->size, (unsigned long long)r->ptr);
			break;
		case KMEM_TRACE_CALLOC:
			fprintf(f, "c %llu %#llx", (unsigned long long)r->size, (unsigned long long)r->ptr);
			break;
		case KMEM_TRACE_MEMALIGN:
			fprintf(f, "a %llu %llu %#llx", 1ull << (r->align_log2 & 63),
				(unsigned long long)r->size, (unsigned long long)r->ptr);
			break;
		case KMEM_TRACE_REALLOC:
			fprintf(f, "r %#llx %llu %#llx", (unsigned long long)r->old,
				(unsigned long long)r->size, (unsigned long long)r->ptr);
			break;
		case KMEM_TRACE_FREE:
			fprintf(f, "f %#llx", (unsigned long long)r->ptr);
			break;
		default:
			return -1; /* checked before */
		}
		if (r->tid != 1)
			fprintf(f, " @%u", (unsigned)r->tid);
		fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}

/* ---- valgrind --trace-malloc=yes ----------------------------------------------------- */

enum vg_kind { VG_ALLOC, VG_CALLOC, VG_REALLOC, VG_ALIGNED, VG_VALLOC, VG_FREE, VG_IGNORE };

struct vg_call {
	enum vg_kind kind;
	uint64_t size, old, align;
	const char *name;	/* for messages */
	size_t name_len;
	size_t line;
};

static bool starts_with(const char *s, size_t len, const char *pre)
{
	size_t n = strlen(pre);

	return len >= n && memcmp(s, pre, n) == 0;
}

static bool contains(const char *s, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(s + i, needle, n) == 0)
			return true;
	return false;
}

static bool name_is(const char *s, size_t len, const char *name)
{
	return len == strlen(name) && memcmp(s, name, len) == 0;
}

/* The kind of a traced function, or -1 when Valgrind does not trace it. */
static int vg_kind_of(const char *s, size_t len)
{
	if (name_is(s, len, "malloc") || name_is(s, len, "__builtin_new") ||
	    name_is(s, len, "builtin_new") || name_is(s, len, "__builtin_vec_new"))
		return VG_ALLOC;
	if (starts_with(s, len, "_Znw") || starts_with(s, len, "_Zna") ||
	    starts_with(s, len, "__builtin_new_aligned") || starts_with(s, len, "__builtin_vec_new_aligned"))
		return contains(s, len, "align") ? VG_ALIGNED : VG_ALLOC;
	if (name_is(s, len, "calloc"))
		return VG_CALLOC;
	if (name_is(s, len, "realloc"))
		return VG_REALLOC;
	if (name_is(s, len, "memalign") || name_is(s, len, "posix_memalign") ||
	    name_is(s, len, "aligned_alloc"))
		return VG_ALIGNED;
	if (name_is(s, len, "valloc") || name_is(s, len, "pvalloc"))
		return VG_VALLOC;
	if (name_is(s, len, "free") || name_is(s, len, "cfree") || starts_with(s, len, "_Zdl") ||
	    starts_with(s, len, "_Zda") || starts_with(s, len, "__builtin_delete") ||
	    starts_with(s, len, "__builtin_vec_delete"))
		return VG_FREE;
	if (starts_with(s, len, "malloc_") || name_is(s, len, "mallinfo") ||
	    name_is(s, len, "mallinfo2") || name_is(s, len, "mallopt"))
		return VG_IGNORE;
	return -1;
}

static inline bool is_ident(char c, bool first)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && is_digit(c));
}

static void skip_blanks(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\t'))
		(*i)++;
}

/* A pointer printed by %p: 0x... or 0 (Valgrind prints NULL as 0x0). */
static int vg_ptr(const char *s, size_t len, size_t *i, uint64_t *v)
{
	return parse_u64(s, len, i, v);
}

/* "al A, size N" or "size N, al A" (either order), or plain "N". */
static int vg_aligned_args(const char *a, size_t len, struct vg_call *c)
{
	size_t i = 0;
	bool have_al = false, have_size = false;

	while (i < len) {
		uint64_t v;

		skip_blanks(a, len, &i);
		if (starts_with(a + i, len - i, "al ")) {
			i += 3;
			if (parse_u64(a, len, &i, &v))
				return -1;
			c->align = v;
			have_al = true;
		} else if (starts_with(a + i, len - i, "size ")) {
			i += 5;
			if (parse_u64(a, len, &i, &v))
				return -1;
			c->size = v;
			have_size = true;
		} else {
			return -1;
		}
		skip_blanks(a, len, &i);
		if (i < len && a[i] == ',')
			i++;
		else if (i < len)
			return -1;
	}
	return have_al && have_size ? 0 : -1;
}

/* Parse NAME(ARGS) at s[*i]. Returns 0, or -1 with err set. */
static int vg_parse_call(const char *s, size_t len, size_t *i, size_t line, struct vg_call *c,
			 struct trace_parse_error *err)
{
	size_t start = *i, open, close, k;
	const char *a;
	size_t al;
	int kind;
	uint64_t v, w;

	while (*i < len && is_ident(s[*i], *i == start))
		(*i)++;
	open = *i;
	if (open == start || open >= len || s[open] != '(')
		return perr(err, line, "expected a call NAME(ARGS) at column %zu", start + 1);
	c->name = s + start;
	c->name_len = open - start;
	c->line = line;
	c->size = c->old = 0;
	c->align = 1;
	for (close = open + 1; close < len && s[close] != ')' && s[close] != '('; close++)
		;
	if (close >= len || s[close] != ')')
		return perr(err, line, "'%.*s(' has no closing parenthesis", (int)(c->name_len > 40 ? 40 : c->name_len), c->name);
	kind = vg_kind_of(c->name, c->name_len);
	if (kind < 0)
		return perr(err, line, "unknown call '%.*s' (not one valgrind --trace-malloc=yes prints)",
			    (int)(c->name_len > 40 ? 40 : c->name_len), c->name);
	c->kind = (enum vg_kind)kind;
	a = s + open + 1;
	al = close - open - 1;
	*i = close + 1;
	k = 0;
	switch (c->kind) {
	case VG_ALLOC:
	case VG_VALLOC:
		if (parse_u64(a, al, &k, &v) || k != al)
			goto bad;
		c->size = v;
		if (c->kind == VG_VALLOC) {
			c->align = 4096;
			if (name_is(c->name, c->name_len, "pvalloc"))
				c->size = (v + 4095) & ~(uint64_t)4095;
		}
		return 0;
	case VG_CALLOC:
		if (parse_u64(a, al, &k, &v) || k >= al || a[k++] != ',')
			goto bad;
		skip_blanks(a, al, &k);
		if (parse_u64(a, al, &k, &w) || k != al)
			goto bad;
		c->size = w && v > UINT64_MAX / w ? UINT64_MAX : v * w;
		return 0;
	case VG_REALLOC:
		if (vg_ptr(a, al, &k, &v) || k >= al || a[k++] != ',')
			goto bad;
		skip_blanks(a, al, &k);
		if (parse_u64(a, al, &k, &w) || k != al)
			goto bad;
		c->old = v;
		c->size = w;
		return 0;
	case VG_ALIGNED:
		if (vg_aligned_args(a, al, c))
			goto bad;
		return 0;
	case VG_FREE:
		/* free(p), sized or aligned delete: (p, n) */
		if (vg_ptr(a, al, &k, &v) || (k != al && a[k] != ','))
			goto bad;
		c->old = v;
		return 0;
	default:
		return 0; /* statistics calls: arguments unchecked */
	}
bad:
	return perr(err, line, "bad arguments in '%.*s(%.*s)'", (int)(c->name_len > 40 ? 40 : c->name_len),
		    c->name, (int)(al > 60 ? 60 : al), a);
}

/* " = VALUE" at s[*i]: 1 with the value, 0 when absent, -1 malformed. */
static int vg_result(const char *s, size_t len, size_t *i, uint64_t *v)
{
	size_t k = *i;

	skip_blanks(s, len, &k);
	if (k >= len || s[k] != '=')
		return 0;
	k++;
	skip_blanks(s, len, &k);
	if (vg_ptr(s, len, &k, v))
		return -1;
	skip_blanks(s, len, &k);
	*i = k;
	return 1;
}

static unsigned align_log2_of(uint64_t align)
{
	if (align <= 1)
		return 0;
	return log2_u64(align - 1) + 1; /* rounded up, as memalign rounds */
}

/* One finished call as a record (VG_IGNORE: none). */
static int vg_emit(struct trace_recs *out, const struct vg_call *c, uint64_t result, bool has_result,
		   struct trace_parse_error *err)
{
	struct kmem_trace_rec r = { .tid = 1 };

	switch (c->kind) {
	case VG_ALLOC: r.op = KMEM_TRACE_MALLOC; break;
	case VG_CALLOC: r.op = KMEM_TRACE_CALLOC; break;
	case VG_REALLOC: r.op = KMEM_TRACE_REALLOC; break;
	case VG_ALIGNED:
	case VG_VALLOC: r.op = KMEM_TRACE_MEMALIGN; break;
	case VG_FREE: r.op = KMEM_TRACE_FREE; break;
	default: return 0;
	}
	r.size = c->size;
	r.old = c->kind == VG_REALLOC ? c->old : 0;
	r.ptr = c->kind == VG_FREE ? c->old : has_result ? result : 0;
	if (r.op == KMEM_TRACE_MEMALIGN)
		r.align_log2 = (uint8_t)align_log2_of(c->align);
	if (r.size == 0 && (r.op == KMEM_TRACE_MALLOC || r.op == KMEM_TRACE_REALLOC))
		r.flags = KMEM_TRACE_F_ZERO_SIZE;
	if (recs_push(out, &r))
		return perr(err, c->line, "out of memory after %zu records", out->n);
	return 0;
}

static bool vg_wants_result(const struct vg_call *c)
{
	return c->kind != VG_FREE;
}

/* Is inner the outer call's own work (absorbed), or a call of its own? */
static bool vg_absorbs(const struct vg_call *outer, const struct vg_call *inner)
{
	if (outer->kind != VG_REALLOC)
		return false;
	if (!outer->old)
		return inner->kind == VG_ALLOC && inner->size == outer->size;
	return inner->kind == VG_FREE && inner->old == outer->old;
}

int kmem_trace_parse_valgrind(const char *buf, size_t len, struct trace_recs *out,
			      struct trace_parse_error *err, struct trace_vg_info *info)
{
	struct cursor c = { buf, buf + len, 0 };
	struct vg_call outer = { 0 };
	bool pending = false;	/* outer waits for its result */
	bool absorbed = false;	/* ... and has absorbed an inner call */
	const char *s;
	size_t sl;

	*out = (struct trace_recs){ 0 };
	*info = (struct trace_vg_info){ 0 };
	while (next_line(&c, &s, &sl)) {
		size_t pre = vg_prefix(s, sl, '-'), i;
		uint64_t pid = 0, v;

		if (sl > TRACE_LINE_MAX)
			return perr(err, c.line, "line longer than %d bytes", TRACE_LINE_MAX);
		if (!pre) {
			info->other_lines++; /* Valgrind's "==PID==" lines, blank lines */
			continue;
		}
		i = 2;
		if (parse_u64(s, sl, &i, &pid))
			return perr(err, c.line, "process id too large");
		if (!info->pid)
			info->pid = pid;
		if (pid != info->pid) {
			info->other_pid_lines++;
			continue;
		}
		i = pre;
		if (i < sl && (s[i] == ' ' || s[i] == '=')) {
			/* " = VALUE": the result of the call left open */
			int rc = vg_result(s, sl, &i, &v);

			if (rc == 0) {
				info->other_lines++;
				continue;
			}
			if (rc < 0 || i != sl)
				return perr(err, c.line, "bad result (expected ' = POINTER')");
			if (!pending)
				return perr(err, c.line, "a result with no call waiting for one");
			if (vg_emit(out, &outer, v, true, err))
				return -1;
			pending = false;
			info->calls++;
			continue;
		}
		if (i >= sl || !is_ident(s[i], true)) {
			info->other_lines++;
			continue;
		}
		{
			size_t k = i;

			while (k < sl && is_ident(s[k], k == i))
				k++;
			if (k >= sl || s[k] != '(') {
				info->other_lines++; /* Valgrind's own words (-v) */
				continue;
			}
		}
		/* one or two calls on this line */
		while (i < sl) {
			struct vg_call call;
			int rc;

			if (vg_parse_call(s, sl, &i, c.line, &call, err))
				return -1;
			rc = vg_result(s, sl, &i, &v);
			if (rc < 0)
				return perr(err, c.line, "bad result after '%.*s(...)' (expected ' = POINTER')",
					    (int)(call.name_len > 40 ? 40 : call.name_len), call.name);
			if (rc == 1 && !vg_wants_result(&call))
				return perr(err, c.line, "'%.*s' returns nothing, but a result follows it",
					    (int)(call.name_len > 40 ? 40 : call.name_len), call.name);
			if (pending) {
				/* inside the outer call */
				if (!absorbed && vg_absorbs(&outer, &call)) {
					absorbed = true;
					if (rc == 1) { /* realloc(NULL, n)'s malloc: its result */
						if (vg_emit(out, &outer, v, true, err))
							return -1;
						pending = false;
						info->calls++;
					}
				} else if (rc == 1 || !vg_wants_result(&call)) {
					/* another thread's call, complete: a record of its own */
					if (vg_emit(out, &call, v, rc == 1, err))
						return -1;
					info->calls++;
				} else {
					return perr(err, c.line, "'%.*s(...)' inside '%.*s(...)' of line %zu "
						    "has no result",
						    (int)(call.name_len > 40 ? 40 : call.name_len), call.name,
						    (int)(outer.name_len > 40 ? 40 : outer.name_len), outer.name,
						    outer.line);
				}
			} else if (rc == 1 || !vg_wants_result(&call)) {
				if (vg_emit(out, &call, v, rc == 1, err))
					return -1;
				if (call.kind != VG_IGNORE)
					info->calls++;
			} else if (call.kind == VG_IGNORE) {
				/* a statistics call without its result: nothing to wait for */
			} else {
				outer = call;
				pending = true;
				absorbed = false;
			}
			if (i < sl && !is_ident(s[i], true))
				return perr(err, c.line, "unexpected text after the call at column %zu", i + 1);
		}
	}
	if (pending)
		return perr(err, outer.line, "'%.*s(...)' has no result (the log ends)",
			    (int)(outer.name_len > 40 ? 40 : outer.name_len), outer.name);
	if (!info->pid)
		return perr(err, c.line ? c.line : 1,
			    "no valgrind --trace-malloc=yes lines (\"--PID-- malloc(N) = PTR\")");
	return 0;
}
