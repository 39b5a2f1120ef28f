/* kmem_tool.h - private structures and cross-file prototypes of the kmem
 * command (tools/), grouped by the file that defines them.
 *
 * The command is a consumer of the public API only (kmem/kmem.h,
 * kmem/trace.h) plus common/kmem_rand.h; nothing here reaches a
 * component's private header.
 *
 *   kmem.c            the command table, main(), the demo's options and the
 *                     --help text; helpers shared by the commands (sizes and
 *                     counts on the command line, error lines)
 *   demo.c            the demo: buddy phase, slab phase, the final drain
 *   demo_pagealloc.c  the demo's frame-service (pagealloc) phase
 *   demo_report.c     kmem demo --report: the demo's calls as a trace, and
 *                     scripts/lab-report.sh run on it
 *   trace_file.c      the trace file reader: open (or load any format),
 *                     validate, sort
 *   trace_text.c      text traces: kmem's text format (read, written) and
 *                     valgrind --trace-malloc=yes logs (read)
 *   trace_convert.c   kmem trace-convert
 *   trace_gen.c       kmem trace-gen: synthetic traces (sizes, lifetimes,
 *                     phases; seeded)
 *   trace_dump.c      kmem trace-dump
 *   replay.c          kmem replay: options, the id map, the run, main
 *   replay_heap.c     kmem replay: the heap under test (buddy -> pagealloc
 *                     -> slab over an mmap'd arena)
 *   replay_frag.c     kmem replay: fragmentation over time (--series), J&W's
 *                     measures, Robson's and the buddy's bounds
 *   replay_report.c   kmem replay: the report, as text or JSON
 *   paging.c          kmem paging: options, the runs of every policy over
 *                     the frame range, the report (text, CSV, JSON)
 *   paging_input.c    kmem paging: reference strings read (inline, a file,
 *                     a lackey log) or generated, as dense page ids
 *
 * Every command returns its exit status: 0 success, 1 a failed run or
 * check (or an unreadable trace), 2 a usage error.
 */
#ifndef KMEM_TOOL_H
#define KMEM_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <kmem/kmem.h>
#include <kmem/replace.h>
#include <kmem/trace.h>

#define KMEM_TOOL_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- kmem.c ------------------------------------------------------------------ */

/* "4096", "0x1000", "64M", "1G": bytes, K/M/G suffixes (powers of 1024).
 * Returns 0, or -1 for garbage, 0 or a value beyond SIZE_MAX. */
int kmem_tool_parse_size(const char *s, size_t *out);

/* A whole unsigned number (decimal, 0x hex, 0 octal) and nothing after it.
 * Returns 0, or -1 for garbage, an empty string or overflow. */
int kmem_tool_parse_count(const char *s, unsigned long long *out);

/* One line on stderr: "kmem: " fmt "\n". */
void kmem_tool_error(const char *fmt, ...) KMEM_TOOL_PRINTF(1, 2);

/* One line on stderr about a file: "kmem: " path ": " fmt "\n". */
void kmem_tool_file_error(const char *path, const char *fmt, ...) KMEM_TOOL_PRINTF(2, 3);

/* frames of frame bytes, in MiB */
double kmem_tool_mib(size_t frames, size_t frame);

/* ---- demo.c -------------------------------------------------------------------- */

/* The demo's options (`kmem [demo] [options]`, parsed in kmem.c). */
struct demo_opts {
	uint64_t seed;
	size_t arena;
	size_t frame;
	unsigned max_order;
	unsigned rounds;
	unsigned fill_pct;	/* allocation phase target, % of managed */
	unsigned free_pct;	/* share of live blocks each free phase releases */
	bool json;
	const char *report;	/* --report FILE: the lab's HTML report of the
				 * demo's trace (demo_report.c); NULL: none */
};

/* A block of 2^order frames handed out by a page workload. */
struct demo_blk {
	void *p;
	unsigned order;
};

/* A set of slab objects of three kinds: kind 0 and 1 from the caches c[0]
 * and c[1], kind 2 from kmalloc on s. Used by both slab workloads. */
struct demo_objs {
	struct kmem_slab *s;
	struct kmem_cache *c[2];
	void **obj;
	unsigned char *kind;
	size_t n, cap;
};

/* The whole demo: buddy, slab and pagealloc phases, then the drain.
 * Returns the exit status. */
int kmem_demo_run(const struct demo_opts *o);

/* Free object i of ob and move the last object into its slot. */
void kmem_demo_objs_free(struct demo_objs *ob, size_t i);

/* Free every object of ob, last first. */
void kmem_demo_objs_free_all(struct demo_objs *ob);

/* ---- demo_report.c ------------------------------------------------------------ */

/* The demo's calls, recorded as a kmem binary trace in a temporary file. */
struct demo_trace {
	FILE *f;		/* NULL: not recording */
	char path[4096];	/* the temporary file ("" once removed) */
	uint64_t seq;		/* the next record's */
	bool err;		/* a write failed */
};

/* Create the trace file (mkstemp under $TMPDIR, default /tmp) and write its
 * header. Returns 0, or -1 after an error line. */
int kmem_demo_trace_open(struct demo_trace *t);

/* One record: op (KMEM_TRACE_MALLOC or KMEM_TRACE_FREE), the size asked
 * for (0 for a free), the block (NULL: the call failed). t NULL or not
 * open: nothing. A write error is remembered for kmem_demo_report. */
void kmem_demo_trace_rec(struct demo_trace *t, unsigned op, uint64_t size, const void *p);

/* Close and remove the trace file, if any. */
void kmem_demo_trace_discard(struct demo_trace *t);

/* Close the trace, run scripts/lab-report.sh on it to write o->report
 * (KMEM set to this executable; the script is $KMEM_LAB_REPORT or
 * ../../scripts/lab-report.sh from this executable's directory), remove the
 * trace. Returns 0, or 1 after an error line (trace not written, script not
 * found or failed). Waits for the script: seconds. */
int kmem_demo_report(struct demo_trace *t, const struct demo_opts *o);

/* ---- demo_pagealloc.c ---------------------------------------------------------- */

/* The frame-service phase on a buddy of its own: returns 0, or 1 on an error
 * or a failed check. Draws from *rng after the slab phase. */
int kmem_demo_pagealloc_phase(const struct demo_opts *o, uint64_t *rng);

/* ---- trace_file.c -------------------------------------------------------------- */

#define KMEM_TRACE_OP_MAX KMEM_TRACE_MEMALIGN

/* The trace formats kmem reads: its binary one (kmem/trace.h), its text
 * one, and Valgrind's --trace-malloc=yes log (trace_text.c). */
enum trace_format { TRACE_FMT_AUTO, TRACE_FMT_KMEM, TRACE_FMT_TEXT, TRACE_FMT_VALGRIND };

/* A trace (kmem/trace.h) mapped privately and writable: the records can be
 * sorted in place, the file itself is never written. */
struct trace_file {
	const char *path;
	void *map;			/* the whole file; NULL when closed */
	size_t map_len;
	struct kmem_trace_rec *rec;	/* map + header, n records */
	size_t n;
	size_t tail;			/* bytes after the last whole record */
};

/* Map path and check its header. Returns 0, or -1 after one error line
 * naming the file (cannot open, not a regular file, shorter than the
 * header, bad magic, version or record size). A partial record at the
 * end is left to the caller (t->tail, kmem_trace_file_report_tail). */
int kmem_trace_file_open(struct trace_file *t, const char *path);

/* Unmap the file (t->path and the counts stay for reports). */
void kmem_trace_file_close(struct trace_file *t);

/* The error line for a partial record at the end (t->tail != 0). */
void kmem_trace_file_report_tail(const struct trace_file *t);

/* Check every record (op known, alignment and size representable here).
 * Returns the number of bad records; the first one, if any, is reported
 * with its index, file offset and seq. */
size_t kmem_trace_file_check(const struct trace_file *t);

/* The name of a valid op ("malloc", ...), NULL for any other value. */
const char *kmem_trace_file_op_name(unsigned op);

/* Sort the records by seq, in place (stable LSD radix sort; O(n) per byte
 * of seq that differs, nothing when already sorted). Returns 0, or -1
 * when no scratch memory could be mapped. */
int kmem_trace_file_sort(struct trace_file *t);

/* Load a trace in any format kmem reads (fmt TRACE_FMT_AUTO: detected,
 * see kmem_trace_detect): kmem's binary format is mapped as by
 * kmem_trace_file_open (a partial record left in t->tail); a text trace or
 * a Valgrind log is parsed into records (seq = rank; a Valgrind log's lines
 * of other processes are skipped with one warning). Returns 0, or -1 after
 * one error line naming the file and, for text, the line and the problem.
 * The caller still runs kmem_trace_file_check. */
int kmem_trace_file_load(struct trace_file *t, const char *path, enum trace_format fmt);

/* ---- trace_text.c -------------------------------------------------------------- */

/* Records built in memory: an anonymous mapping with a header's room first
 * (base), the records after it (rec, n of cap). All zero: empty. */
struct trace_recs {
	void *base;
	size_t map_len;
	struct kmem_trace_rec *rec;
	size_t n, cap;
};

/* Where and why a parse failed: line is 1-based. */
struct trace_parse_error {
	size_t line;
	char msg[200];
};

/* What a Valgrind log held besides the calls. */
struct trace_vg_info {
	uint64_t pid;			/* the process whose calls were read */
	size_t calls;			/* calls turned into records */
	size_t other_pid_lines;		/* lines of other processes: skipped */
	size_t other_lines;		/* Valgrind's own lines: skipped */
};

/* The format of a file that starts with buf[0..len): kmem's magic or
 * control characters in the first 16 bytes: TRACE_FMT_KMEM; a first
 * non-blank line starting "--PID-- " or "==PID== ": TRACE_FMT_VALGRIND;
 * otherwise TRACE_FMT_TEXT. O(first line). */
enum trace_format kmem_trace_detect(const char *buf, size_t len);

/* "kmem", "text", "valgrind" or "auto". */
const char *kmem_trace_format_name(enum trace_format f);

/* Parse kmem's text trace format (the grammar: trace_text.c's head, the
 * README) from buf[0..len) into *out (seq = rank). Returns 0, or -1 with
 * err->line and err->msg set (what was parsed so far stays in *out: free
 * it either way with kmem_trace_recs_free). Never prints; O(len). */
int kmem_trace_parse_text(const char *buf, size_t len, struct trace_recs *out,
			  struct trace_parse_error *err);

/* Parse a `valgrind --trace-malloc=yes` log (trace_text.c's head) into
 * *out, the first process's calls in the order printed (tid 1). Returns 0,
 * or -1 with err set: a malformed call or result, an unknown function, a
 * call left without its result at the end, no trace line at all. Never
 * prints; O(len). */
int kmem_trace_parse_valgrind(const char *buf, size_t len, struct trace_recs *out,
			      struct trace_parse_error *err, struct trace_vg_info *info);

/* Unmap the records (and zero *r). */
void kmem_trace_recs_free(struct trace_recs *r);

/* Write n valid records as kmem's text format, a comment line first.
 * Returns 0, or -1 on a write error or an invalid op. */
int kmem_trace_write_text(FILE *f, const struct kmem_trace_rec *rec, size_t n);

/* ---- trace_convert.c ----------------------------------------------------------- */

/* "auto", "kmem", "text", "valgrind" to the format. Returns 0, or -1. */
int kmem_trace_parse_format(const char *s, enum trace_format *out);

/* kmem trace-convert [options] IN OUT; argv[0] is "trace-convert". */
int kmem_trace_convert_main(int argc, char **argv);

/* ---- trace_gen.c --------------------------------------------------------------- */

/* kmem trace-gen [options] OUT; argv[0] is "trace-gen". */
int kmem_trace_gen_main(int argc, char **argv);

/* ---- trace_dump.c -------------------------------------------------------------- */

/* kmem trace-dump [options] TRACE; argv[0] is "trace-dump". */
int kmem_trace_dump_main(int argc, char **argv);

/* ---- replay.c ------------------------------------------------------------------ */

#define REPLAY_FRAME_MAPS 16	/* --frame-map points at most */

/* The heap configurations replay builds (--heap NAME, replay_heap.c). */
enum replay_heap_kind {
	REPLAY_HEAP_KMALLOC,	/* kmalloc's defaults: Linux's 13 classes, slabs
				 * to 1/8 waste, no release step (the default) */
	REPLAY_HEAP_DROPIN,	/* the drop-in malloc's: kmem_stack_config_malloc */
};

struct replay_opts {
	enum replay_heap_kind kind;	/* --heap NAME */
	size_t heap;			/* the arena: --heap SIZE or --arena */
	size_t frame;
	unsigned max_order;	/* 0: the largest that fits the heap */
	unsigned long sample;	/* pagealloc stats every N calls */
	bool use_malloc, json, verify;
	enum trace_format format;	/* of the trace: TRACE_FMT_AUTO detects */
	unsigned long series;		/* a series row every N records; 0: none */
	const char *series_out;		/* its file, "-": stdout (the report then
					 * goes to stderr) */
	bool series_json;
	unsigned pcp_batch;		/* the frame service's per-thread batch;
					 * 0: scaled with the arena (Linux's rule) */
	uint64_t op_ns;			/* --op-ns: the release decay's clock
					 * advances this many ns per record
					 * (REPLAY_OP_NS); 0: the wall clock */
	bool op_ns_given;		/* --op-ns was on the command line */
	long decay_ms;			/* --decay-ms (kmem_pa_config.decay_ms);
					 * LONG_MIN: the heap's */
	unsigned discipline;		/* the buddy's free-list discipline
					 * (enum kmem_buddy_discipline) */
	bool grouping;			/* KMEM_BUDDY_GROUPING */
	/* slab and frame-service knobs over the heap's own (-1 or false:
	 * the heap's): --classes, --waste-div, --partial, --empty-keep,
	 * --no-colour, --no-pcp, --release */
	int classes;			/* KMEM_KMALLOC_*; -1: the heap's */
	size_t class_table[KMEM_KMALLOC_TABLE_MAX];	/* --classes FILE */
	unsigned nr_classes;
	const char *classes_name;	/* "linux", "quarter" or the file */
	int waste_div;			/* -1: the heap's */
	long mag_size, depot_limit;	/* --mag-size, --depot-limit (KMEM_MAG_SIZE_AUTO,
					 * KMEM_DEPOT_AUTO for auto); -1: the heap's */
	int partial;			/* KMEM_SLAB_PARTIAL_*; -1: the heap's */
	long empty_keep;		/* empty slabs kept per cache; -1: the heap's */
	bool no_colour;			/* kmem_slab_config.no_colour */
	bool no_pcp;			/* KMEM_PA_NO_PCP */
	int release;			/* KMEM_PA_RELEASE: 1 on, 0 off, -1 the heap's */
	unsigned speed_reps;		/* timed runs over the decoded ops (0: none) */
	unsigned pageblock_order;	/* with grouping; 0: the buddy's default */
	bool min_heap;			/* bisect for the smallest arena */
	uint64_t frame_map[REPLAY_FRAME_MAPS];	/* records after which to draw the
						 * arena (--frame-map) */
	unsigned frame_maps;
	const char *frame_map_prefix;	/* files PREFIX-RECORD.pgm */
	const char *path;
};

struct replay_stats {
	uint64_t ops[KMEM_TRACE_OP_MAX + 1];	/* records by op */
	unsigned threads;		/* distinct tids */
	uint64_t seq_first, seq_last, seq_missing, seq_dup;
	uint64_t unknown_free;		/* FREE of an id not live: skipped */
	uint64_t unknown_realloc;	/* REALLOC of an id not live: free skipped */
	uint64_t replaced;		/* allocation returned a live id: old block freed */
	uint64_t trace_failed;		/* the traced call failed (ptr 0): skipped */
	uint64_t null_free;		/* FREE of 0: skipped */
	uint64_t r0_echo;		/* FREE of the block the same thread's previous
					 * record, realloc(p, 0), freed: skipped */
	uint64_t replayed;		/* calls made on the heap under test */
	uint64_t replay_failed;		/* of which returned NULL where the trace did not */
	uint64_t tag_errors;		/* a block's tag was wrong when it was freed or moved */
	uint64_t live_bytes, peak_bytes, live_blocks, peak_blocks;
	uint64_t usable_bytes;		/* live blocks at their usable size: measured
					 * for a series row and at the end */
	uint64_t live_pow2, peak_pow2;	/* live bytes, each block rounded up to 2^k */
	uint64_t req_min, req_max;	/* smallest (0 counted as 1) and largest
					 * request replayed; req_max 0: none */
	uint64_t wall_ns;		/* the measured replay: heap and harness */
	/* the speed pass (replay.c): the ops decoded before the clock, the
	 * medians of speed_reps timed walks over them, on the heap and on a
	 * null allocator (the harness); calls: made by the last walk */
	uint64_t speed_ops, speed_calls, speed_null_calls;
	uint64_t speed_heap_ns, speed_null_ns;
	uint32_t speed_slots;		/* slots: the peak of live blocks */
	unsigned speed_reps;
	long rss_before_kib;		/* max RSS before the replay (the trace loaded,
					 * the heap set up); 0: unknown */
	size_t peak_pa_used;		/* sampled */
	size_t peak_buddy_used;		/* exact: the buddy's high-water mark */
};

/* What the checkers and the teardown of the kmem heap found. */
struct replay_verdict {
	bool buddy_ok, pa_ok, frames_back;
	unsigned long errors;	/* reported to the heap's error sink */
	size_t managed, free_after;
	struct kmem_buddy_stats bst;	/* at the end of the replay */
	struct kmem_pa_stats pst;	/* the frame service's, at the end */
	char *buddyinfo, *fragindex, *json;
};

/* kmem replay [options] TRACE; argv[0] is "replay". */
int kmem_replay_main(int argc, char **argv);

/* ---- replay_heap.c ------------------------------------------------------------- */

struct replay_heap {
	/* buddy -> pagealloc -> slab (kmem_stack_init); all NULL: the
	 * process's malloc (--malloc) */
	struct kmem_stack st;
	struct kmem_error_sink sink;
	void *resv, *inst, *owner, *meta;
	size_t resv_len, inst_len, owner_len, meta_len;
	void *base;		/* the arena's start (aligned to the largest block) */
	size_t frame, bytes;	/* managed arena */
	unsigned max_order;
	/* the configuration built, for the report */
	unsigned classes, waste_div, pcp_batch;
	unsigned mag_size, depot_limit;	/* kmem_slab_config's (0: slab's default) */
	unsigned partial, empty_keep;	/* slab policies: KMEM_SLAB_PARTIAL_*, slabs kept */
	bool pcp, release, colour;
	size_t wmark_high;
	long decay_ms;		/* the frame service's decay time */
	/* The decay's clock (--op-ns): the frame service reads now_ops *
	 * op_ns nanoseconds, now_ops being the record the replay is at (set
	 * by the replay loop); op_ns 0: the wall clock. wall_clock set
	 * before kmem_replay_heap_setup: the wall clock whatever the options
	 * (the speed pass, whose walk counts no records). */
	uint64_t now_ops, op_ns;
	bool wall_clock;
};

/* "kmalloc" or "dropin". */
const char *kmem_replay_heap_name(enum replay_heap_kind k);
/* A slab partial policy's --partial name: "fullest", "mru" or "least". */
const char *kmem_replay_partial_name(unsigned partial);

/* The max order replay uses for an arena of `frames` frames under o: o's
 * --max-order, else the largest that fits (capped at the drop-in's 13 for
 * --heap dropin). */
unsigned kmem_replay_heap_order(const struct replay_opts *o, size_t frames);

/* Build the kmem heap for o (see replay_heap.c). Returns 0, or -1 after an
 * error line; then, as after a success, kmem_replay_heap_unmap() releases
 * what was mapped. */
int kmem_replay_heap_setup(struct replay_heap *h, const struct replay_opts *o);

/* Unmap the arena, the owner table, the instances and the frame table
 * (the instances must be destroyed first, or never built). */
void kmem_replay_heap_unmap(struct replay_heap *h);

/* ---- replay_frag.c ------------------------------------------------------------- */

/* The fragmentation tracker of one run (definitions: replay_frag.c). */
struct replay_frag {
	struct kmem_buddy *b;	/* NULL: no heap to measure (--malloc) */
	struct kmem_pagealloc *rel;	/* the frame service when it runs the
					 * release step (--heap dropin): its
					 * released pool is not held; else NULL */
	size_t managed, frame;
	unsigned max_order;
	uint64_t ticks;
	double sum_held, sum_live;
	uint64_t held_max, live_at_held_max;	/* J&W #3 */
	uint64_t live_peak_seen, held_at_live_peak;	/* J&W #2 */
	/* the series */
	FILE *out;		/* NULL: no series */
	bool json;
	unsigned long every, left;
	uint64_t rows;
};

/* The end-of-run numbers; NaN where undefined (nothing live). */
struct replay_measures {
	double jw[4];		/* J&W #1..#4, as fractions (0.25: 25%) */
	uint64_t held_max;	/* peak bytes held by the heap */
	uint64_t M, M2;		/* peak live: requested, rounded to 2^k */
	uint64_t smin, smax;	/* smallest, largest request rounded to 2^k */
	unsigned log2n;		/* log2(smax / smin) */
	double robson;		/* any allocator can be forced to this; power-of-two
				 * first fit never needs more */
	double buddy;		/* a binary buddy never needs more */
};

/* The smallest power of two >= v (1 for 0; 2^63 for anything above it).
 * O(1). */
static inline uint64_t kmem_replay_pow2(uint64_t v)
{
	if (v > (uint64_t)1 << 63)
		return (uint64_t)1 << 63;
	return v <= 1 ? 1 : (uint64_t)1 << (64 - __builtin_clzll(v - 1));
}

/* Start tracking b's heap (NULL: nothing to track; rel: the frame service
 * whose released pool is subtracted from held, or NULL); with out, a series
 * row every `every` ticks, as CSV or JSON. */
void kmem_replay_frag_init(struct replay_frag *f, struct kmem_buddy *b, struct kmem_pagealloc *rel,
			   FILE *out, bool json, unsigned long every);

/* The bytes held now: frames taken from the buddy, less the frame
 * service's released pool (given back to the system) when f->rel is set.
 * O(1): two or three relaxed loads. */
static inline uint64_t kmem_replay_frag_held(const struct replay_frag *f)
{
	size_t out = f->managed - kmem_buddy_free_frames(f->b);

	if (f->rel)
		out -= kmem_pa_released_frames(f->rel);
	return (uint64_t)out * f->frame;
}

/* The arena as a picture (PGM, P5), after record `record`: one pixel per
 * group of g frames (g the smallest power of two that makes at most
 * 512 x 512 pixels), 512 pixels a row, in address order. Grey levels: 0
 * used, 40 reserved, free blocks of order k lighter with k
 * (80 + 175 * k / max_order), 255 past the arena's end; a group holding any
 * used frame is used. Written to PREFIX-RECORD.pgm. Returns 0, or -1
 * after an error line. O(blocks + pixels). */
int kmem_replay_frame_map(struct kmem_buddy *b, void *base, size_t frames, const char *prefix,
			  uint64_t record);

/* The series' header (CSV) or opening bracket (JSON). */
void kmem_replay_frag_header(struct replay_frag *f);

/* One series row now: record is the index of the record just replayed,
 * seq its seq. O(max_order). */
void kmem_replay_frag_row(struct replay_frag *f, const struct replay_stats *st, uint64_t record,
			  uint64_t seq);

/* Close the series (JSON's bracket), flush. Returns 0, or -1 on a write
 * error. */
int kmem_replay_frag_finish(struct replay_frag *f);

/* J&W's four measures so far, M, n and the bounds. O(1). */
void kmem_replay_frag_measures(const struct replay_frag *f, const struct replay_stats *st,
			       struct replay_measures *m);

/* One tick (a record replayed): the held and live sums and extremes.
 * Returns true when a series row is due (the caller measures the usable
 * bytes, then calls kmem_replay_frag_row). O(1). */
static inline bool kmem_replay_frag_tick(struct replay_frag *f, const struct replay_stats *st)
{
	uint64_t held;

	if (!f->b)
		return false;
	held = kmem_replay_frag_held(f);
	f->ticks++;
	f->sum_held += (double)held;
	f->sum_live += (double)st->live_bytes;
	if (held > f->held_max) {
		f->held_max = held;
		f->live_at_held_max = st->live_bytes;
	}
	if (st->live_bytes > f->live_peak_seen) {
		f->live_peak_seen = st->live_bytes;
		f->held_at_live_peak = held;
	}
	if (f->every && --f->left == 0) {
		f->left = f->every;
		return true;
	}
	return false;
}

/* ---- replay_report.c ----------------------------------------------------------- */

/* The report on f, as text or as one line of JSON (ok: the verdict);
 * m: the fragmentation measures (NULL: none, --malloc). */
void kmem_replay_print_text(FILE *f, const struct replay_opts *o, const struct replay_stats *st,
			    const struct replay_heap *h, const struct replay_verdict *v,
			    const struct replay_measures *m, long maxrss_kib, size_t end_blocks,
			    uint64_t end_bytes);
void kmem_replay_print_json(FILE *f, const struct replay_opts *o, const struct replay_stats *st,
			    const struct replay_heap *h, const struct replay_verdict *v,
			    const struct replay_measures *m, long maxrss_kib, size_t end_blocks,
			    uint64_t end_bytes, bool ok);

/* The buddy policy o asks for: "lifo", "fifo", "address", each maybe
 * followed by ", grouping". */
const char *kmem_replay_policy_name(const struct replay_opts *o);

/* A buddy formatter's whole text in a malloc'd buffer of the right size
 * (the caller frees), or NULL. */
char *kmem_replay_format_all(int (*fmt)(struct kmem_buddy *, char *, size_t),
			     struct kmem_buddy *b);

/* ---- paging.c ------------------------------------------------------------------ */

/* kmem paging [options]; argv[0] is "paging". */
int kmem_paging_main(int argc, char **argv);

/* ---- paging_input.c ------------------------------------------------------------ */

/* A reference string with its pages renamed to dense ids 0..npages-1 (in
 * order of first use), so the simulator's tables are plain arrays. */
struct paging_refs {
	uint32_t *id;		/* [n] */
	uint8_t *write;		/* [n] 1: a write */
	size_t n, cap;
	uint64_t *page;		/* [npages] the page number of each id */
	uint32_t npages, page_cap;
	uint64_t writes;
	/* page number -> id + 1 (0: empty), open addressing */
	uint32_t *map;
	size_t map_cap;
};

struct paging_gen {
	const char *kind;	/* "uniform", "zipf", "loop", "phases" */
	uint64_t n, pages, seed;
	double skew;		/* zipf exponent */
	unsigned write_pct;
	unsigned phases;	/* phases: how many; each a window of pages/10 */
};

/* Append one reference. Returns 0, or -1 when out of memory (reported). */
int kmem_paging_add(struct paging_refs *r, uint64_t page, bool write);

/* Parse a reference string: page numbers (decimal or 0x hex) separated by
 * commas, blanks or newlines, each with an optional r/R or w/W suffix,
 * '#' to the end of a line a comment. what names the source in errors
 * ("--refs" or the file's path); errors name the line and the token.
 * Returns 0, or -1 after one error line. */
int kmem_paging_parse(struct paging_refs *r, const char *text, size_t len, const char *what);

/* Read a file (or "-": stdin) and parse it as above. */
int kmem_paging_read_file(struct paging_refs *r, const char *path);

/* Read a `valgrind --tool=lackey --trace-mem=yes` log: "I  addr,size"
 * (instruction fetch, a read; skipped with no_instr), " L addr,size"
 * (load), " S addr,size" (store: a write), " M addr,size" (modify: a
 * write); lines starting with "==" are Valgrind's own and skipped. An
 * access crossing a page boundary references every page it touches.
 * Returns 0, or -1 after one error line naming the file and line. */
int kmem_paging_read_lackey(struct paging_refs *r, const char *path, size_t page_size,
			    bool no_instr);

/* Generate g->n references (seeded splitmix64). Returns 0, or -1. */
int kmem_paging_generate(struct paging_refs *r, const struct paging_gen *g);

void kmem_paging_refs_free(struct paging_refs *r);

#endif /* KMEM_TOOL_H */
