/* trace_file.c - the reader of kmem's binary trace format (kmem/trace.h):
 * opening, validating, sorting the records of a KMEM_TRACE file; loading a
 * trace of any format kmem reads.
 *
 * What it does:
 *   1. open: the file is mapped privately and writable (MAP_PRIVATE), so
 *      the records can be sorted in place without reading the file into a
 *      second buffer; the file itself is never written. The header is
 *      checked (magic, version, record size); the records follow it, and
 *      bytes after the last whole record are the "tail" (a process killed
 *      mid-write), left for the caller to report or refuse.
 *   2. check: every record must have a known op, an alignment and a size
 *      this machine can represent; the first bad one is reported with its
 *      index, file offset and seq, and the bad ones are counted.
 *   3. sort: records by seq (the file holds per-thread batches), with an
 *      LSD radix sort, 8 bits a pass, skipping passes over bytes where all
 *      keys agree (a trace of n calls has seq < 2^k, k ~ log2 n: three
 *      passes for up to 16M records). Stable, O(n) per pass; nothing to do
 *      for a file already in order (a single-threaded trace).
 *   4. load (kmem_trace_file_load): any format kmem reads, detected or
 *      named; a text trace or a Valgrind log is parsed (trace_text.c) into
 *      an anonymous mapping laid out as a mapped binary trace (header
 *      room, then records), so sort, check and close work the same.
 * Iteration is over t->rec[0..n) (after check, every record is valid).
 * Every error line names the file ("kmem: FILE: ...") and, for a record,
 * its index, offset and seq.
 *
 * Data structures: struct trace_file (kmem_tool.h): the mapping, the
 * records inside it, their count and the tail. The sort's scratch array is
 * an anonymous mapping as large as the records, unmapped after the sort.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmem_tool.h"

static const char *const op_names[] = { "?", "malloc", "free", "calloc", "realloc", "memalign" };

_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == KMEM_TRACE_OP_MAX + 1,
	       "a name for every trace op");

const char *kmem_trace_file_op_name(unsigned op)
{
	return op >= KMEM_TRACE_MALLOC && op <= KMEM_TRACE_OP_MAX ? op_names[op] : NULL;
}

void kmem_trace_file_close(struct trace_file *t)
{
	if (t->map)
		munmap(t->map, t->map_len);
	t->map = NULL;
}

int kmem_trace_file_open(struct trace_file *t, const char *path)
{
	struct kmem_trace_header h;
	struct stat sb;
	int fd;

	*t = (struct trace_file){ .path = path };
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		kmem_tool_file_error(path, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		kmem_tool_file_error(path, "not a regular file");
		close(fd);
		return -1;
	}
	if ((uint64_t)sb.st_size < sizeof(h)) {
		kmem_tool_file_error(path, "truncated trace: %lld bytes, the header alone is %zu",
				     (long long)sb.st_size, sizeof(h));
		close(fd);
		return -1;
	}
	t->map_len = (size_t)sb.st_size;
	t->map = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (t->map == MAP_FAILED) {
		t->map = NULL;
		kmem_tool_file_error(path, "mmap: %s", strerror(errno));
		return -1;
	}
	memcpy(&h, t->map, sizeof(h));
	if (memcmp(h.magic, KMEM_TRACE_MAGIC, sizeof(h.magic)) != 0) {
		kmem_tool_file_error(path, "not a kmem trace (bad magic; expected \"%s\")",
				     KMEM_TRACE_MAGIC);
		kmem_trace_file_close(t);
		return -1;
	}
	if (h.version != KMEM_TRACE_VERSION) {
		kmem_tool_file_error(path, "unsupported trace version %u (this kmem reads %u)",
				     h.version, KMEM_TRACE_VERSION);
		kmem_trace_file_close(t);
		return -1;
	}
	if (h.record_size != sizeof(struct kmem_trace_rec)) {
		kmem_tool_file_error(path, "unsupported record size %u (expected %zu)",
				     h.record_size, sizeof(struct kmem_trace_rec));
		kmem_trace_file_close(t);
		return -1;
	}
	/* page-aligned mapping + 16: the records' 64-bit fields are aligned */
	t->rec = (struct kmem_trace_rec *)(void *)((char *)t->map + sizeof(h));
	t->n = (t->map_len - sizeof(h)) / sizeof(struct kmem_trace_rec);
	t->tail = (t->map_len - sizeof(h)) % sizeof(struct kmem_trace_rec);
	return 0;
}

void kmem_trace_file_report_tail(const struct trace_file *t)
{
	size_t offset = sizeof(struct kmem_trace_header) + t->n * sizeof(struct kmem_trace_rec);

	kmem_tool_file_error(t->path,
			     "truncated record at offset %zu: %zu trailing bytes after %zu whole "
			     "records",
			     offset, t->tail, t->n);
}

/* A record kmem cannot interpret: NULL if r is fine, else why. */
static const char *rec_problem(const struct kmem_trace_rec *r)
{
	if (!kmem_trace_file_op_name(r->op))
		return "unknown op";
	if (r->op == KMEM_TRACE_MEMALIGN && r->align_log2 >= sizeof(size_t) * 8)
		return "alignment out of range";
	if ((uint64_t)(size_t)r->size != r->size)
		return "size does not fit this machine's size_t";
	return NULL;
}

size_t kmem_trace_file_check(const struct trace_file *t)
{
	size_t bad = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct kmem_trace_rec *r = &t->rec[i];
		const char *why = rec_problem(r);

		if (why && bad++ == 0)
			kmem_tool_file_error(t->path, "record %zu (offset %zu, seq %llu): %s "
					     "(op %u, align_log2 %u)",
					     i, sizeof(struct kmem_trace_header) + i * sizeof(*r),
					     (unsigned long long)r->seq, why, (unsigned)r->op,
					     (unsigned)r->align_log2);
	}
	return bad;
}

int kmem_trace_file_sort(struct trace_file *t)
{
	static size_t cnt[8][256];
	struct kmem_trace_rec *rec = t->rec, *src = rec, *dst, *tmp;
	size_t i, n = t->n, bytes = n * sizeof(*rec);

	for (i = 1; i < n && rec[i - 1].seq <= rec[i].seq; i++)
		;
	if (i >= n)
		return 0; /* already in order (a single-threaded trace) */
	tmp = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED)
		return -1;
	memset(cnt, 0, sizeof(cnt));
	for (i = 0; i < n; i++)
		for (unsigned b = 0; b < 8; b++)
			cnt[b][(rec[i].seq >> (8 * b)) & 255]++;
	dst = tmp;
	for (unsigned b = 0; b < 8; b++) {
		size_t sum = 0, *c = cnt[b];

		if (c[(src[0].seq >> (8 * b)) & 255] == n)
			continue; /* every key has the same byte b */
		for (unsigned d = 0; d < 256; d++) {
			size_t k = c[d];

			c[d] = sum;
			sum += k;
		}
		for (i = 0; i < n; i++)
			dst[c[(src[i].seq >> (8 * b)) & 255]++] = src[i];
		tmp = src;
		src = dst;
		dst = tmp;
	}
	if (src != rec) {
		memcpy(rec, src, bytes);
		dst = src;
	}
	munmap(dst, bytes);
	return 0;
}

/* ---- any format ------------------------------------------------------------------- */

int kmem_trace_file_load(struct trace_file *t, const char *path, enum trace_format fmt)
{
	struct trace_parse_error err = { 0 };
	struct trace_vg_info vg = { 0 };
	struct trace_recs recs;
	struct stat sb;
	void *text;
	int fd, rc;

	*t = (struct trace_file){ .path = path };
	if (fmt == TRACE_FMT_KMEM)
		return kmem_trace_file_open(t, path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		kmem_tool_file_error(path, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		kmem_tool_file_error(path, "not a regular file");
		close(fd);
		return -1;
	}
	text = NULL;
	if (sb.st_size > 0) {
		text = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (text == MAP_FAILED) {
			kmem_tool_file_error(path, "mmap: %s", strerror(errno));
			close(fd);
			return -1;
		}
	}
	close(fd);
	if (fmt == TRACE_FMT_AUTO)
		fmt = text ? kmem_trace_detect(text, (size_t)sb.st_size) : TRACE_FMT_TEXT;
	if (fmt == TRACE_FMT_KMEM) {
		if (text)
			munmap(text, (size_t)sb.st_size);
		return kmem_trace_file_open(t, path);
	}
	if (fmt == TRACE_FMT_VALGRIND)
		rc = kmem_trace_parse_valgrind(text ? text : "", (size_t)sb.st_size, &recs, &err, &vg);
	else
		rc = kmem_trace_parse_text(text ? text : "", (size_t)sb.st_size, &recs, &err);
	if (text)
		munmap(text, (size_t)sb.st_size);
	if (rc) {
		kmem_tool_file_error(path, "line %zu: %s (%s trace)", err.line, err.msg,
				     kmem_trace_format_name(fmt));
		kmem_trace_recs_free(&recs);
		return -1;
	}
	if (vg.other_pid_lines)
		kmem_tool_file_error(path, "warning: %zu lines of other processes skipped (this log "
				     "has several; read: pid %llu; one log per process: "
				     "--log-file=NAME.%%p)",
				     vg.other_pid_lines, (unsigned long long)vg.pid);
	if (!recs.base) { /* no records: an empty mapping of its own */
		recs.map_len = sizeof(struct kmem_trace_header);
		recs.base = mmap(NULL, recs.map_len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (recs.base == MAP_FAILED) {
			kmem_tool_file_error(path, "mmap: %s", strerror(errno));
			return -1;
		}
		recs.rec = (struct kmem_trace_rec *)(void *)((char *)recs.base +
							     sizeof(struct kmem_trace_header));
	}
	t->map = recs.base;
	t->map_len = recs.map_len;
	t->rec = recs.rec;
	t->n = recs.n;
	t->tail = 0;
	return 0;
}
