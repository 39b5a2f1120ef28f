/* replay_frag.c - `kmem replay`: fragmentation over time and at the end:
 * the --series rows, Johnstone & Wilson's four measures, the size ratio and
 * the worst-case bounds of Robson and Knuth.
 *
 * Definitions (the heap is the kmem heap under test; "held" is the bytes of
 * the frames taken from its buddy: slabs, page blocks and the frame
 * service's per-thread caches, less its released pool when it runs the
 * release step (--heap dropin: those frames went back to the system); "live" is the bytes the program asked for
 * in its live blocks; time is the trace's records, one tick each):
 *   internal fragmentation  (usable - live) / live, usable being the sum
 *                           of kmem_usable_size (malloc_usable_size with
 *                           --malloc) over the live blocks;
 *   J&W now                 held / live - 1 at that point;
 *   J&W #1..#4              M. S. Johnstone and P. R. Wilson, "The Memory
 *                           Fragmentation Problem: Solved?", ISMM 1998,
 *                           section 3.3: memory used by the allocator
 *                           relative to memory requested, minus 1:
 *     #1 averaged over all points in time: mean(held) / mean(live) - 1;
 *     #2 at the point of peak live memory: held there / peak live - 1;
 *     #3 at the point of peak held memory: peak held / live there - 1;
 *     #4 peak held / peak live - 1 (two points, J&W's headline measure).
 *   n, M                    the largest request over the smallest (both
 *                           rounded up to powers of two, as a binary buddy
 *                           holds them; malloc(0) counts as 1 byte) and the
 *                           peak of live bytes with each block rounded so
 *                           (M2; M is the plain peak live);
 *   Robson's bound          J. M. Robson, "Bounds for some functions
 *                           concerning dynamic storage allocation", JACM
 *                           21(3):491-499, 1974 (his first estimate: "An
 *                           estimate of the store size necessary for dynamic
 *                           storage allocation", JACM 18(3):416-423, 1971):
 *                           with block sizes powers of two from s to n*s
 *                           (Robson counts in units of the smallest size)
 *                           and at most M live, the store that guarantees
 *                           no failure is N = M * (1 + log2(n) / 2) -
 *                           (n - 1) * s bytes: some sequence of requests
 *                           makes ANY allocator that does not move blocks
 *                           fail with less, and power-of-two first fit
 *                           (SQLite's memsys5) never fails with N. As
 *                           SQLite states it ("Dynamic Memory Allocation
 *                           in SQLite", section 4: N = M(1 + log2(n)/2) -
 *                           n + 1, in units of the smallest allocation).
 *                           Checks: n = 1 gives M (one size wastes
 *                           nothing); n = 2 gives (3M - 2) / 2 units, Knuth's
 *                           exact N(M, 2) = floor((3M - 1) / 2) (TAOCP vol.
 *                           1, 2.5, ex. 38, after Robson) for M even (M odd:
 *                           half a unit below it, still a lower bound).
 *                           M here is M2 (a multiple of s), in bytes;
 *   the buddy's guarantee   D. E. Knuth, TAOCP vol. 1, section 2.5,
 *                           exercise 41: a binary buddy system with
 *                           coalescing never needs more than
 *                           M * (1 + log2 n) (M a multiple of the largest
 *                           block, so M2 rounded up to one), and a sequence
 *                           exists that makes it use M * (1 + log2(n) / 2).
 *   So an arena below Robson's bound can fail on some trace with this M
 *   and n whatever the allocator; at or above the buddy's guarantee a pure
 *   binary buddy never fails on any such trace. kmem's heap is not a pure
 *   buddy (small sizes are slab objects), so both are a yardstick for the
 *   arena, not a prediction for this trace; the headroom printed is the
 *   arena over each.
 *
 * Frame map (--frame-map N): the arena after record N as a PGM picture,
 * one pixel per group of frames in address order, used black, free blocks
 * grey, lighter with their order (kmem_replay_frame_map).
 *
 * Series (--series N): a row every N records and one at the end, as CSV
 * (a header line, then one line a row) or JSON (an array, one object a
 * line): the columns of struct replay_frag's row (kmem_replay_frag_row).
 * With the release step, resident_bytes (the arena less the frame
 * service's released pool: every frame outside it was touched, so this is
 * the heap's share of the RSS) and released_bytes (the released pool:
 * given back, or never touched) follow the decay curve; without it they
 * are empty (JSON null): which untouched frames the buddy hands out is not
 * tracked.
 *
 * Data structures: struct replay_frag (kmem_tool.h): the per-tick sums and
 * extremes and the series' output. Bound: O(1) a tick (three relaxed loads
 * of the buddy's counters), O(max_order) a row.
 * Tunables: none.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmem_tool.h"

void kmem_replay_frag_init(struct replay_frag *f, struct kmem_buddy *b, struct kmem_pagealloc *rel,
			   FILE *out, bool json, unsigned long every)
{
	*f = (struct replay_frag){ .b = b, .rel = rel, .out = out, .json = json, .every = every, .left = every };
	if (b) {
		struct kmem_buddy_stats st;

		kmem_buddy_get_stats(b, &st);
		f->managed = st.managed_frames;
		f->frame = st.frame_size;
		f->max_order = st.max_order;
	}
}

static double ratio_minus_1(double held, double live)
{
	return live > 0 ? held / live - 1.0 : (double)NAN;
}

void kmem_replay_frag_measures(const struct replay_frag *f, const struct replay_stats *st,
			       struct replay_measures *m)
{
	*m = (struct replay_measures){ 0 };
	m->jw[0] = f->ticks ? ratio_minus_1(f->sum_held, f->sum_live) : (double)NAN;
	m->jw[1] = ratio_minus_1((double)f->held_at_live_peak, (double)st->peak_bytes);
	m->jw[2] = ratio_minus_1((double)f->held_max, (double)f->live_at_held_max);
	m->jw[3] = ratio_minus_1((double)f->held_max, (double)st->peak_bytes);
	m->held_max = f->held_max;
	m->M = st->peak_bytes;
	m->M2 = st->peak_pow2;
	if (!st->req_max)
		return; /* no allocation: no ratio, no bound */
	m->smin = kmem_replay_pow2(st->req_min);
	m->smax = kmem_replay_pow2(st->req_max);
	m->log2n = (unsigned)(__builtin_ctzll(m->smax) - __builtin_ctzll(m->smin));
	m->robson = (double)m->M2 * (1.0 + m->log2n / 2.0) - (double)(m->smax - m->smin);
	if (m->robson < (double)m->M2)
		m->robson = (double)m->M2;
	/* M2 rounded up to a multiple of the largest block */
	m->buddy = ((double)((m->M2 + m->smax - 1) / m->smax) * (double)m->smax) * (1.0 + m->log2n);
}

/* ---- the series -------------------------------------------------------------------- */

void kmem_replay_frag_header(struct replay_frag *f)
{
	if (!f->out)
		return;
	if (f->json) {
		fputs("[\n", f->out);
		return;
	}
	fputs("row,record,seq,live_bytes,live_blocks,usable_bytes,internal_frag,held_bytes,"
	      "free_frames,largest_free_order,largest_free_bytes,jw_now,jw1,jw2,jw3,jw4",
	      f->out);
	for (unsigned k = 0; k <= f->max_order; k++)
		fprintf(f->out, ",free_o%u", k);
	for (unsigned k = 0; k <= f->max_order; k++)
		fprintf(f->out, ",unusable_o%u", k);
	for (unsigned k = 0; k <= f->max_order; k++)
		fprintf(f->out, ",extfrag_o%u", k);
	fputs(",resident_bytes,released_bytes\n", f->out);
}

/* A number or, for NaN, CSV's empty field / JSON's null. */
static void put_num(const struct replay_frag *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs(f->json ? "null" : "", f->out);
	else
		fprintf(f->out, "%.6f", v);
}

static void put_milli(FILE *out, int v)
{
	fprintf(out, "%s%d.%03d", v < 0 ? "-" : "", (v < 0 ? -v : v) / 1000, (v < 0 ? -v : v) % 1000);
}

void kmem_replay_frag_row(struct replay_frag *f, const struct replay_stats *st, uint64_t record,
			  uint64_t seq)
{
	struct kmem_buddy_stats bs;
	struct replay_measures m;
	uint64_t held = kmem_replay_frag_held(f);
	int largest = -1;
	const char *sep;

	if (!f->out)
		return;
	kmem_buddy_get_stats(f->b, &bs);
	kmem_replay_frag_measures(f, st, &m);
	for (int k = (int)bs.max_order; k >= 0 && largest < 0; k--)
		if (bs.free_blocks[k])
			largest = k;
	if (f->json)
		fprintf(f->out,
			"%s{\"row\":%llu,\"record\":%llu,\"seq\":%llu,\"live_bytes\":%llu,"
			"\"live_blocks\":%llu,\"usable_bytes\":%llu,\"internal_frag\":",
			f->rows ? ",\n" : "", (unsigned long long)f->rows, (unsigned long long)record,
			(unsigned long long)seq, (unsigned long long)st->live_bytes,
			(unsigned long long)st->live_blocks, (unsigned long long)st->usable_bytes);
	else
		fprintf(f->out, "%llu,%llu,%llu,%llu,%llu,%llu,", (unsigned long long)f->rows,
			(unsigned long long)record, (unsigned long long)seq,
			(unsigned long long)st->live_bytes, (unsigned long long)st->live_blocks,
			(unsigned long long)st->usable_bytes);
	put_num(f, ratio_minus_1((double)st->usable_bytes, (double)st->live_bytes));
	if (f->json)
		fprintf(f->out, ",\"held_bytes\":%llu,\"free_frames\":%zu,\"largest_free_order\":%d,"
			"\"largest_free_bytes\":%llu,\"jw_now\":",
			(unsigned long long)held, bs.free_frames, largest,
			largest < 0 ? 0ull : (unsigned long long)f->frame << largest);
	else
		fprintf(f->out, ",%llu,%zu,%d,%llu,", (unsigned long long)held, bs.free_frames, largest,
			largest < 0 ? 0ull : (unsigned long long)f->frame << largest);
	put_num(f, ratio_minus_1((double)held, (double)st->live_bytes));
	for (unsigned k = 0; k < 4; k++) {
		if (f->json)
			fprintf(f->out, ",\"jw%u\":", k + 1);
		else
			fputc(',', f->out);
		put_num(f, m.jw[k]);
	}
	sep = f->json ? ",\"free_blocks\":[" : ",";
	for (unsigned k = 0; k <= bs.max_order; k++) {
		fprintf(f->out, "%s%zu", sep, bs.free_blocks[k]);
		sep = ",";
	}
	sep = f->json ? "],\"unusable_index\":[" : ",";
	for (unsigned k = 0; k <= bs.max_order; k++) {
		fputs(sep, f->out);
		put_milli(f->out, kmem_buddy_unusable_index(&bs, k));
		sep = ",";
	}
	sep = f->json ? "],\"extfrag_index\":[" : ",";
	for (unsigned k = 0; k <= bs.max_order; k++) {
		fputs(sep, f->out);
		put_milli(f->out, kmem_buddy_extfrag_index(&bs, k));
		sep = ",";
	}
	if (f->rel) { /* the release step: what is not in the released pool was touched */
		uint64_t rel = (uint64_t)kmem_pa_released_frames(f->rel) * f->frame;
		uint64_t res = (uint64_t)f->managed * f->frame - rel;

		fprintf(f->out, f->json ? "],\"resident_bytes\":%llu,\"released_bytes\":%llu}" : ",%llu,%llu\n",
			(unsigned long long)res, (unsigned long long)rel);
	} else {
		fputs(f->json ? "],\"resident_bytes\":null,\"released_bytes\":null}" : ",,\n", f->out);
	}
	f->rows++;
}

int kmem_replay_frag_finish(struct replay_frag *f)
{
	if (!f->out)
		return 0;
	if (f->json)
		fputs(f->rows ? "\n]\n" : "]\n", f->out);
	return fflush(f->out) || ferror(f->out) ? -1 : 0;
}

/* ---- the frame map ----------------------------------------------------------------- */

#define MAP_WIDTH 512u
#define MAP_PIXELS (MAP_WIDTH * MAP_WIDTH)
#define MAP_USED 0u
#define MAP_RESERVED 40u
#define MAP_OUTSIDE 255u

struct map_walk {
	uint8_t *pix;
	uintptr_t base;
	size_t frame, group, npix;
	unsigned max_order;
};

static int map_block(void *arg, const struct kmem_buddy_block *blk)
{
	struct map_walk *w = arg;
	size_t first = ((uintptr_t)blk->addr - w->base) / w->frame;
	size_t last = first + ((size_t)1 << blk->order) - 1;
	uint8_t v;

	if (blk->state == KMEM_BUDDY_USED)
		v = MAP_USED;
	else if (blk->state == KMEM_BUDDY_RESERVED)
		v = MAP_RESERVED;
	else
		v = (uint8_t)(80u + 175u * blk->order / (w->max_order ? w->max_order : 1));
	for (size_t p = first / w->group; p <= last / w->group && p < w->npix; p++)
		if (v < w->pix[p]) /* used wins over reserved over free */
			w->pix[p] = v;
	return 0;
}

int kmem_replay_frame_map(struct kmem_buddy *b, void *base, size_t frames, const char *prefix,
			  uint64_t record)
{
	struct kmem_buddy_stats st;
	struct map_walk w;
	char path[4096];
	size_t rows;
	FILE *f;
	int rc = 0;

	kmem_buddy_get_stats(b, &st);
	w.base = (uintptr_t)base;
	w.frame = st.frame_size;
	w.max_order = st.max_order;
	w.group = 1;
	while ((frames + w.group - 1) / w.group > MAP_PIXELS)
		w.group *= 2;
	w.npix = (frames + w.group - 1) / w.group;
	rows = (w.npix + MAP_WIDTH - 1) / MAP_WIDTH;
	w.pix = malloc(rows * MAP_WIDTH);
	if (!w.pix) {
		kmem_tool_error("no memory for a frame map");
		return -1;
	}
	memset(w.pix, MAP_OUTSIDE, rows * MAP_WIDTH);
	for (size_t p = 0; p < w.npix; p++)
		w.pix[p] = MAP_OUTSIDE - 1; /* inside the arena: set by the walk */
	kmem_buddy_walk(b, map_block, &w);
	snprintf(path, sizeof(path), "%s-%llu.pgm", prefix, (unsigned long long)record);
	f = fopen(path, "wb");
	if (!f) {
		kmem_tool_file_error(path, "%s", strerror(errno));
		free(w.pix);
		return -1;
	}
	fprintf(f, "P5\n# kmem frame map after record %llu: %zu frames of %zu B, %zu a pixel\n"
		   "%u %zu\n255\n",
		(unsigned long long)record, frames, w.frame, w.group, MAP_WIDTH, rows);
	if (fwrite(w.pix, 1, rows * MAP_WIDTH, f) != rows * MAP_WIDTH)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc)
		kmem_tool_file_error(path, "write error: %s", strerror(errno));
	free(w.pix);
	return rc;
}
