/* trace_convert.c - `kmem trace-convert [options] IN OUT`: a trace from any
 * format kmem reads (its binary format, its text format, a valgrind
 * --trace-malloc=yes log) to kmem's text or binary format.
 *
 * What it does: loads IN (trace_file.c; --from, or detected), checks every
 * record, sorts them by seq (the order the calls happened), and writes OUT
 * ("-": stdout): text (trace_text.c's grammar, one operation a line), or
 * kmem's binary format (a header, then the records with seq 0, 1, ...), the
 * fast path for `kmem replay`. Any error exits 1 after one line naming the
 * file (and, for text, the line); usage errors exit 2. A partial OUT is
 * removed.
 *
 * Data structures: none of its own (struct trace_file, kmem_tool.h).
 * Tunables: none.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "kmem_tool.h"

static void convert_usage(FILE *f)
{
	fprintf(f,
		"usage: kmem trace-convert [options] IN OUT\n"
		"Converts an allocation trace: IN in kmem's binary format (KMEM_TRACE), kmem's\n"
		"text format or a `valgrind --trace-malloc=yes` log; OUT (\"-\": stdout) in\n"
		"kmem's text format (default) or binary format. Records are written in seq\n"
		"order. Text format, one operation a line ('#' comments, numbers decimal or\n"
		"0x hex, ID 0 = NULL, optional @TID at the end):\n"
		"  m SIZE ID  |  c SIZE ID  |  a ALIGN SIZE ID  |  r OLD SIZE ID  |  f ID\n"
		"  -f, --from FMT      IN's format: auto (default), kmem, text, valgrind\n"
		"  -t, --to FMT        OUT's format: text (default) or kmem\n"
		"  -h, --help          this text\n");
}

int kmem_trace_parse_format(const char *s, enum trace_format *out)
{
	static const enum trace_format all[] = { TRACE_FMT_AUTO, TRACE_FMT_KMEM, TRACE_FMT_TEXT,
						 TRACE_FMT_VALGRIND };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, kmem_trace_format_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}

static int write_binary(FILE *f, const struct trace_file *t)
{
	struct kmem_trace_header h = { .version = KMEM_TRACE_VERSION,
				       .record_size = sizeof(struct kmem_trace_rec) };

	memcpy(h.magic, KMEM_TRACE_MAGIC, sizeof(h.magic));
	if (fwrite(&h, sizeof(h), 1, f) != 1)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		struct kmem_trace_rec r = t->rec[i];

		r.seq = i;
		if (fwrite(&r, sizeof(r), 1, f) != 1)
			return -1;
	}
	return 0;
}

int kmem_trace_convert_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum trace_format from = TRACE_FMT_AUTO, to = TRACE_FMT_TEXT;
	struct trace_file t;
	const char *out;
	bool is_stdout;
	FILE *f;
	int c, rc;

	while ((c = getopt_long(argc, argv, "f:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (kmem_trace_parse_format(optarg, &from)) {
				convert_usage(stderr);
				return 2;
			}
			break;
		case 't':
			if (kmem_trace_parse_format(optarg, &to) ||
			    (to != TRACE_FMT_TEXT && to != TRACE_FMT_KMEM)) {
				convert_usage(stderr);
				return 2;
			}
			break;
		case 'h': convert_usage(stdout); return 0;
		default: convert_usage(stderr); return 2;
		}
	}
	if (optind != argc - 2) {
		convert_usage(stderr);
		return 2;
	}
	out = argv[optind + 1];
	if (kmem_trace_file_load(&t, argv[optind], from))
		return 1;
	if (t.tail) {
		kmem_trace_file_report_tail(&t);
		kmem_trace_file_close(&t);
		return 1;
	}
	if (kmem_trace_file_check(&t)) {
		kmem_trace_file_close(&t);
		return 1;
	}
	if (kmem_trace_file_sort(&t)) {
		kmem_tool_error("no memory to sort %zu records", t.n);
		kmem_trace_file_close(&t);
		return 1;
	}
	is_stdout = strcmp(out, "-") == 0;
	f = is_stdout ? stdout : fopen(out, to == TRACE_FMT_KMEM ? "wb" : "w");
	if (!f) {
		kmem_tool_file_error(out, "%s", strerror(errno));
		kmem_trace_file_close(&t);
		return 1;
	}
	rc = to == TRACE_FMT_KMEM ? write_binary(f, &t) : kmem_trace_write_text(f, t.rec, t.n);
	if (fflush(f) != 0 || ferror(f))
		rc = -1;
	if (rc)
		kmem_tool_file_error(is_stdout ? "stdout" : out, "write error: %s", strerror(errno));
	if (!is_stdout && fclose(f) != 0 && !rc) {
		kmem_tool_file_error(out, "write error: %s", strerror(errno));
		rc = -1;
	}
	if (rc && !is_stdout)
		unlink(out);
	kmem_trace_file_close(&t);
	return rc ? 1 : 0;
}
