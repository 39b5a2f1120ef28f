/* kmem.c - the kmem command: its command table, main() and the helpers the
 * commands share.
 *
 *   kmem [demo] [options]           allocator demos and a fragmentation
 *                                   experiment (demo.c, demo_pagealloc.c)
 *   kmem replay [options] TRACE     replay a KMEM_TRACE file (replay*.c)
 *   kmem trace-dump [options] TRACE print a KMEM_TRACE file (trace_dump.c)
 *   kmem trace-convert [opts] IN OUT convert a trace: kmem's binary or text
 *                                   format, valgrind logs (trace_convert.c)
 *   kmem trace-gen [options] OUT    synthetic traces, seeded (trace_gen.c)
 *   kmem paging [options] [PAGE...] page-replacement simulator (paging*.c)
 *
 * Dispatch: when argv[1] names a command of the table, that command runs
 * with argv shifted by one (its argv[0] is its own name, which getopt uses
 * in its messages); anything else is the demo, whose options are the
 * command's top-level options: they are parsed here, with the whole command
 * line, and the word "demo" may stand anywhere among them. `kmem --help`
 * prints the synopsis of every command (from the table) and the demo's
 * options.
 *
 * Shared by the commands: sizes with K/M/G suffixes and whole counts on the
 * command line, and the one form of error line ("kmem: [FILE: ]what").
 *
 * Data structures: the command table (name, synopsis, entry point); struct
 * demo_opts (kmem_tool.h). Tunables: the demo's defaults below (seed 1,
 * 64 MiB arena, 4 KiB frames, max order 10, 8 rounds, fill 90%, free 50%).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "kmem_tool.h"

/* ---- shared helpers ------------------------------------------------------------ */

int kmem_tool_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end || v == 0 || v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

int kmem_tool_parse_count(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end ? -1 : 0;
}

static void tool_verror(const char *path, const char *fmt, va_list ap) KMEM_TOOL_PRINTF(2, 0);

static void tool_verror(const char *path, const char *fmt, va_list ap)
{
	fputs("kmem: ", stderr);
	if (path)
		fprintf(stderr, "%s: ", path);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void kmem_tool_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_verror(NULL, fmt, ap);
	va_end(ap);
}

void kmem_tool_file_error(const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tool_verror(path, fmt, ap);
	va_end(ap);
}

double kmem_tool_mib(size_t frames, size_t frame)
{
	return (double)frames * (double)frame / 1048576.0;
}

/* ---- the command table ----------------------------------------------------------- */

struct command {
	const char *name;
	const char *synopsis;	/* after "kmem " in the usage text */
	int (*main)(int argc, char **argv);
};

/* The demo is the default: it has no entry (see the dispatch above). */
static const struct command commands[] = {
	{ "replay", "replay [options] TRACE      (kmem replay --help)", kmem_replay_main },
	{ "trace-dump", "trace-dump [options] TRACE  (kmem trace-dump --help)",
	  kmem_trace_dump_main },
	{ "trace-convert", "trace-convert [options] IN OUT  (kmem trace-convert --help)",
	  kmem_trace_convert_main },
	{ "trace-gen", "trace-gen [options] OUT    (kmem trace-gen --help)", kmem_trace_gen_main },
	{ "paging", "paging [options] [PAGE...]  (kmem paging --help)", kmem_paging_main },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: kmem [demo] [options]\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "       kmem %s\n", commands[i].synopsis);
	fprintf(f,
		"Runs a seeded random page workload on a buddy allocator and prints\n"
		"buddyinfo, fragmentation indexes and a summary; then slab caches on the\n"
		"same frames (slabinfo), and a pagealloc frame service with a slab on top\n"
		"over a 16 MiB arena of its own (zero fill, reaper, zoneinfo, vmstat).\n"
		"  -s, --seed N        workload seed (default 1)\n"
		"  -a, --arena SIZE    arena bytes, K/M/G suffixes (default 64M)\n"
		"  -f, --frame SIZE    frame size, power of two 64..64K (default 4096)\n"
		"  -o, --max-order N   largest block order, 1..31 (default 10)\n"
		"  -r, --rounds N      allocation/free rounds (default 8)\n"
		"      --fill PCT      allocation phase fills to PCT%% of memory (default 90)\n"
		"      --free PCT      free phase releases PCT%% of live blocks (default 50)\n"
		"  -j, --json          print the final state as JSON\n"
		"      --report FILE   also write the fragmentation lab's HTML report of the\n"
		"                      demo's calls (scripts/lab-report.sh: gnuplot, base64;\n"
		"                      the script from $KMEM_LAB_REPORT or beside the build)\n"
		"  -h, --help          this text\n");
}

/* The demo's options. The numbers are read as strtoul reads them (garbage
 * reads as 0); a bad frame size or order is caught by the buddy's own
 * configuration check (exit 2). */
static int parse_demo_opts(int argc, char **argv, struct demo_opts *o)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "arena", required_argument, NULL, 'a' },
		{ "frame", required_argument, NULL, 'f' },
		{ "max-order", required_argument, NULL, 'o' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "fill", required_argument, NULL, 'F' },
		{ "free", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "report", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct demo_opts){ .seed = 1, .arena = 64u << 20, .frame = 4096, .max_order = 10,
				 .rounds = 8, .fill_pct = 90, .free_pct = 50 };
	while ((c = getopt_long(argc, argv, "s:a:f:o:r:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o->seed = strtoull(optarg, NULL, 0); break;
		case 'a':
			if (kmem_tool_parse_size(optarg, &o->arena))
				return -1;
			break;
		case 'f':
			if (kmem_tool_parse_size(optarg, &o->frame))
				return -1;
			break;
		case 'o': o->max_order = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': o->rounds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'F': o->fill_pct = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'R': o->free_pct = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'j': o->json = true; break;
		case 'P': o->report = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind < argc && strcmp(argv[optind], "demo") == 0)
		optind++;
	if (optind != argc || o->fill_pct > 100 || o->free_pct > 100 || o->max_order == 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct demo_opts o;

	for (size_t i = 0; argc > 1 && i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].main(argc - 1, argv + 1);
	if (parse_demo_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	return kmem_demo_run(&o);
}
