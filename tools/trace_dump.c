/* trace_dump.c - `kmem trace-dump [--limit N] [--sort] TRACE`: the records
 * of a KMEM_TRACE file as text.
 *
 * What it does: opens the trace (trace_file.c), checks every record (the
 * first bad one is reported, the others counted), sorts by seq when asked,
 * then prints a header line, a legend and one line per record, in file
 * order unless sorted:
 *   seq tid op size ptr old [align=A] [flags=F]
 * (ptr and old in hex; an unknown op prints as "opN"). A trace with bad
 * records or a truncated tail is still printed as far as it goes, and then
 * exits 1; usage errors exit 2.
 *
 * Data structures: none of its own (struct trace_file, kmem_tool.h).
 * Tunables: none.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "kmem_tool.h"

static void dump_usage(FILE *f)
{
	fprintf(f,
		"usage: kmem trace-dump [options] TRACE\n"
		"Prints the records of a KMEM_TRACE file as text, one per line:\n"
		"seq, tid, op, size, ptr, old (and align, flags when set), in file order.\n"
		"  -n, --limit N       print at most N records\n"
		"  -s, --sort          sort by seq first (the order calls happened)\n"
		"  -h, --help          this text\n");
}

static void print_rec(const struct kmem_trace_rec *r)
{
	const char *op = kmem_trace_file_op_name(r->op);

	printf("%llu %u ", (unsigned long long)r->seq, (unsigned)r->tid);
	if (op)
		fputs(op, stdout);
	else
		printf("op%u", (unsigned)r->op);
	printf(" %llu %#llx %#llx", (unsigned long long)r->size, (unsigned long long)r->ptr,
	       (unsigned long long)r->old);
	if (r->op == KMEM_TRACE_MEMALIGN || r->align_log2)
		printf(" align=%llu", r->align_log2 < 64 ? 1ull << r->align_log2 : 0ull);
	if (r->flags)
		printf(" flags=%s%#x", (r->flags & KMEM_TRACE_F_ZERO_SIZE) ? "zero-size," : "",
		       r->flags);
	putchar('\n');
}

int kmem_trace_dump_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "sort", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long limit = ~0ull;
	size_t bad;
	bool sort = false;
	struct trace_file t;
	int c;

	while ((c = getopt_long(argc, argv, "n:sh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (kmem_tool_parse_count(optarg, &limit)) {
				dump_usage(stderr);
				return 2;
			}
			break;
		case 's': sort = true; break;
		case 'h': dump_usage(stdout); return 0;
		default: dump_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		dump_usage(stderr);
		return 2;
	}
	if (kmem_trace_file_load(&t, argv[optind], TRACE_FMT_AUTO))
		return 1;
	bad = kmem_trace_file_check(&t);
	if (sort && kmem_trace_file_sort(&t)) {
		kmem_tool_error("no memory to sort %zu records", t.n);
		kmem_trace_file_close(&t);
		return 1;
	}
	printf("# %s: kmem trace version %u, %zu records of %zu bytes%s%s\n", t.path,
	       KMEM_TRACE_VERSION, t.n, sizeof(struct kmem_trace_rec),
	       sort ? ", sorted by seq" : ", in file order", t.tail ? ", truncated" : "");
	printf("# seq tid op size ptr old [align=A] [flags=F]\n");
	for (size_t i = 0; i < t.n && i < limit; i++)
		print_rec(&t.rec[i]);
	if (fflush(stdout) != 0 && errno != EPIPE) {
		kmem_tool_error("write error: %s", strerror(errno));
		bad++;
	}
	if (t.tail)
		kmem_trace_file_report_tail(&t);
	kmem_trace_file_close(&t);
	if (bad || t.tail) {
		kmem_tool_file_error(t.path, "%zu bad records%s", bad,
				     t.tail ? " and a truncated tail" : "");
		return 1;
	}
	return 0;
}
