/* replay_report.c - `kmem replay`: the report, as text (one fact a line,
 * stable prefixes the tests grep for) or as one line of JSON.
 *
 * What it prints: records by op, distinct threads, seq range and gaps, the
 * records skipped and why, the heap, calls replayed and failed, wall time
 * and ns per call, peak and final live bytes and blocks, max RSS, the block
 * tags' verdict; for the kmem heap also peak frames, frames at the end,
 * buddyinfo, the fragmentation indexes (and the buddy's JSON), the
 * measures of replay_frag.c (peak held, J&W's four, n, M, Robson's bound,
 * the buddy's guarantee, the arena's headroom), the checkers' verdicts,
 * errors reported and the teardown's free frames; internal fragmentation
 * for both heaps.
 *
 * Data structures: the run's struct replay_stats, the heap's struct
 * replay_heap and struct replay_verdict (kmem_tool.h), read only.
 * Tunables: none.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kmem_tool.h"

static unsigned long long records_total(const struct replay_stats *st)
{
	unsigned long long n = 0;

	for (unsigned op = KMEM_TRACE_MALLOC; op <= KMEM_TRACE_OP_MAX; op++)
		n += st->ops[op];
	return n;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

char *kmem_replay_format_all(int (*fmt)(struct kmem_buddy *, char *, size_t),
			     struct kmem_buddy *b)
{
	char probe[1];
	int n = fmt(b, probe, sizeof(probe));
	char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;

	if (buf)
		fmt(b, buf, (size_t)n + 1);
	return buf;
}

const char *kmem_replay_policy_name(const struct replay_opts *o)
{
	static const char *const names[2][3] = {
		{ "lifo", "fifo", "address" },
		{ "lifo, grouping", "fifo, grouping", "address, grouping" },
	};

	return names[o->grouping][o->discipline < 3 ? o->discipline : 0];
}

/* A fraction as a percentage, "n/a" when undefined. */
static void put_pct(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("n/a", f);
	else
		fprintf(f, "%.2f%%", 100.0 * v);
}

static void put_json_num(FILE *f, double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", f);
	else
		fprintf(f, "%.6f", v);
}

static double internal_frag(const struct replay_stats *st)
{
	return st->live_bytes ? (double)st->usable_bytes / (double)st->live_bytes - 1.0 : (double)NAN;
}

static void print_measures_text(FILE *f, const struct replay_heap *h, const struct replay_measures *m)
{
	static const char *const what[4] = { "mean over time", "at peak live", "at peak held",
					     "peak held / peak live" };

	fprintf(f, "held: peak %llu bytes in frames taken from the buddy (slabs, page blocks, "
		   "frame caches)\n", (unsigned long long)m->held_max);
	fputs("jw (held / requested - 1, Johnstone & Wilson 1998):", f);
	for (unsigned k = 0; k < 4; k++) {
		fprintf(f, "%s #%u %s ", k ? "," : "", k + 1, what[k]);
		put_pct(f, m->jw[k]);
	}
	fputc('\n', f);
	if (!m->smax) {
		fputs("size ratio: no allocation replayed\n", f);
		return;
	}
	fprintf(f, "size ratio: n = %llu / %llu = 2^%u (smallest and largest request rounded up "
		   "to powers of two)\n",
		(unsigned long long)m->smax, (unsigned long long)m->smin, m->log2n);
	fprintf(f, "peak live: M = %llu bytes requested, M2 = %llu bytes at powers of two\n",
		(unsigned long long)m->M, (unsigned long long)m->M2);
	fprintf(f, "robson: %.0f bytes = M2 (1 + log2(n) / 2) - (n - 1) s: some trace with this M2 and n "
		   "needs that much from any allocator, power-of-two first fit never more (Robson, "
		   "JACM 1974)\n", m->robson);
	fprintf(f, "buddy guarantee: %.0f bytes = M2 (1 + log2 n), M2 rounded up to a multiple of the "
		   "largest block: a binary buddy never needs more (Knuth, TAOCP 1, 2.5 ex. 41)\n",
		m->buddy);
	fprintf(f, "headroom: arena %zu bytes = %.3f x robson, %.3f x buddy guarantee; peak held = %.3f x "
		   "robson\n",
		h->bytes, (double)h->bytes / m->robson, (double)h->bytes / m->buddy,
		(double)m->held_max / m->robson);
}

/* ns over ops, 0 for no op. */
static double per_op(uint64_t ns, uint64_t ops)
{
	return ops ? (double)ns / (double)ops : 0.0;
}

/* The class set h was built with: "linux", "quarter", "fine" or "table FILE". */
/* A magazine policy value (kmem_slab_config.mag_size, .depot_limit). */
static void put_mag(FILE *f, unsigned v, unsigned autov, const char *dflt)
{
	if (v == autov)
		fputs("auto", f);
	else if (v)
		fprintf(f, "%u", v);
	else
		fprintf(f, "default (%s)", dflt);
}

static const char *class_set_name(const struct replay_opts *o, const struct replay_heap *h)
{
	static char buf[300];

	if (h->classes == KMEM_KMALLOC_QUARTER)
		return "quarter";
	if (h->classes == KMEM_KMALLOC_FINE)
		return "fine";
	if (h->classes == KMEM_KMALLOC_TABLE) {
		snprintf(buf, sizeof(buf), "table %s (%u sizes)", o->classes_name, o->nr_classes);
		return buf;
	}
	return "linux";
}

void kmem_replay_print_text(FILE *f, const struct replay_opts *o, const struct replay_stats *st,
			    const struct replay_heap *h, const struct replay_verdict *v,
			    const struct replay_measures *m, long maxrss_kib, size_t end_blocks,
			    uint64_t end_bytes)
{
	double ns = st->replayed ? (double)st->wall_ns / (double)st->replayed : 0.0;
	char pcp_text[48];

	if (h->pcp && h->pcp_batch)
		snprintf(pcp_text, sizeof(pcp_text), "batch %u high %u", h->pcp_batch, h->pcp_batch * 6);
	else
		snprintf(pcp_text, sizeof(pcp_text), "%s", h->pcp ? "batch scaled" : "off");

	fprintf(f, "kmem replay: %s\n", o->path);
	fprintf(f, "records: %llu (malloc %llu, calloc %llu, realloc %llu, memalign %llu, free %llu)\n",
	       records_total(st),
	       (unsigned long long)st->ops[KMEM_TRACE_MALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_CALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_REALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_MEMALIGN],
	       (unsigned long long)st->ops[KMEM_TRACE_FREE]);
	fprintf(f, "threads: %u, serialised by seq into one replay thread\n", st->threads);
	fprintf(f, "seq: %llu..%llu, %llu missing, %llu duplicated\n", (unsigned long long)st->seq_first,
	       (unsigned long long)st->seq_last, (unsigned long long)st->seq_missing,
	       (unsigned long long)st->seq_dup);
	fprintf(f, "skipped: %llu free of an unknown id, %llu realloc of an unknown id, "
	       "%llu failed in the trace, %llu free of NULL\n",
	       (unsigned long long)st->unknown_free, (unsigned long long)st->unknown_realloc,
	       (unsigned long long)st->trace_failed, (unsigned long long)st->null_free);
	fprintf(f, "echoes: %llu free right after realloc(p, 0) of the same block in the same thread "
	       "(skipped)\n",
	       (unsigned long long)st->r0_echo);
	fprintf(f, "replaced: %llu live ids returned again (a lost free)\n",
	       (unsigned long long)st->replaced);
	if (o->use_malloc)
		fprintf(f, "heap: the process's malloc (--malloc)\n");
	else
		fprintf(f, "heap: kmem %s, %zu MiB arena, %zu B frames, max order %u "
		       "(buddy -> pagealloc -> slab/kmalloc)\n",
		       kmem_replay_heap_name(o->kind), h->bytes >> 20, h->frame, h->max_order);
	fprintf(f, "replayed: %llu calls, %llu failed in the replay\n", (unsigned long long)st->replayed,
	       (unsigned long long)st->replay_failed);
	fprintf(f, "time: %.3f ms, %.1f ns/call\n", (double)st->wall_ns / 1e6, ns);
	if (st->speed_reps)
		fprintf(f, "speed: %llu ops decoded before the clock, median of %u runs: heap %.1f ns/op, "
			   "harness (null allocator) %.1f ns/op, net %.1f ns/op\n",
			(unsigned long long)st->speed_ops, st->speed_reps,
			per_op(st->speed_heap_ns, st->speed_ops), per_op(st->speed_null_ns, st->speed_ops),
			per_op(st->speed_heap_ns, st->speed_ops) - per_op(st->speed_null_ns, st->speed_ops));
	fprintf(f, "peak live: %llu bytes requested in %llu blocks\n", (unsigned long long)st->peak_bytes,
	       (unsigned long long)st->peak_blocks);
	fprintf(f, "live at the end: %zu blocks, %llu bytes requested\n", end_blocks,
	       (unsigned long long)end_bytes);
	fprintf(f, "max rss: %ld KiB (the whole process), %ld KiB before the replay\n", maxrss_kib,
		st->rss_before_kib);
	if (o->verify)
		fprintf(f, "block tags: %s (%llu errors)\n", st->tag_errors ? "FAILED" : "ok",
		       (unsigned long long)st->tag_errors);
	fputs("internal fragmentation at the end: ", f);
	put_pct(f, internal_frag(st));
	fprintf(f, " (%llu bytes usable for %llu requested)\n", (unsigned long long)st->usable_bytes,
		(unsigned long long)st->live_bytes);
	if (o->use_malloc)
		return;
	fprintf(f, "policy: %s (buddy free lists)\n", kmem_replay_policy_name(o));
	fprintf(f, "config: classes %s, waste 1/%u, pcp %s, release %s (high watermark %zu frames)\n",
		class_set_name(o, h), h->waste_div, pcp_text, h->release ? "on" : "off", h->wmark_high);
	if (h->release) {
		if (h->decay_ms < 0)
			fputs("decay: never (free memory kept until a trim)", f);
		else
			fprintf(f, "decay: %ld ms", h->decay_ms);
		if (h->op_ns)
			fprintf(f, ", on the replay's clock: %llu ns a record\n",
				(unsigned long long)h->op_ns);
		else
			fputs(", on the wall clock\n", f);
	}
	fputs("magazines: size ", f);
	put_mag(f, h->mag_size, KMEM_MAG_SIZE_AUTO, "by object size");
	fputs(", depot limit ", f);
	put_mag(f, h->depot_limit, KMEM_DEPOT_AUTO, "16");
	fputc('\n', f);
	fprintf(f, "slab: partial %s, empty slabs kept %u, colour %s\n", kmem_replay_partial_name(h->partial),
		h->empty_keep, h->colour ? "on" : "off");
	fprintf(f, "peak frames: buddy %zu (%.2f MiB), pagealloc used %zu (sampled every %lu calls)\n",
	       st->peak_buddy_used, kmem_tool_mib(st->peak_buddy_used, h->frame), st->peak_pa_used, o->sample);
	fprintf(f, "frames at the end: %zu used, %zu free of %zu\n", v->bst.used_frames,
	       v->bst.free_frames, v->bst.managed_frames);
	if (h->release)
		fprintf(f, "release: %llu frames released in %llu passes, %llu reused, "
			   "%zu in the released pool at the end\n",
			(unsigned long long)v->pst.released_frames, (unsigned long long)v->pst.releases,
			(unsigned long long)v->pst.released_reused, v->pst.released_held);
	fprintf(f, "buddyinfo:\n%s", v->buddyinfo ? v->buddyinfo : "");
	fprintf(f, "fragmentation:\n%s", v->fragindex ? v->fragindex : "");
	if (m)
		print_measures_text(f, h, m);
	fprintf(f, "check: kmem_buddy_check %s, kmem_pa_check %s, %lu errors reported\n",
	       v->buddy_ok ? "ok" : "FAILED", v->pa_ok ? "ok" : "FAILED", v->errors);
	fprintf(f, "teardown: %zu of %zu frames free%s\n", v->free_after, v->managed,
	       v->frames_back ? "" : " (FAILED: frames lost)");
}

void kmem_replay_print_json(FILE *f, const struct replay_opts *o, const struct replay_stats *st,
			    const struct replay_heap *h, const struct replay_verdict *v,
			    const struct replay_measures *m, long maxrss_kib, size_t end_blocks,
			    uint64_t end_bytes, bool ok)
{
	size_t len;

	fprintf(f, "{\"trace\":");
	json_string(f, o->path);
	fprintf(f, ",\"records\":%llu,\"ops\":{\"malloc\":%llu,\"calloc\":%llu,\"realloc\":%llu,"
	       "\"memalign\":%llu,\"free\":%llu}",
	       records_total(st),
	       (unsigned long long)st->ops[KMEM_TRACE_MALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_CALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_REALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_MEMALIGN],
	       (unsigned long long)st->ops[KMEM_TRACE_FREE]);
	fprintf(f, ",\"threads\":%u,\"seq_first\":%llu,\"seq_last\":%llu,\"seq_missing\":%llu,"
	       "\"seq_duplicated\":%llu",
	       st->threads, (unsigned long long)st->seq_first, (unsigned long long)st->seq_last,
	       (unsigned long long)st->seq_missing, (unsigned long long)st->seq_dup);
	fprintf(f, ",\"unknown_free\":%llu,\"unknown_realloc\":%llu,\"trace_failed\":%llu,"
	       "\"null_free\":%llu,\"realloc0_echo\":%llu,\"replaced\":%llu",
	       (unsigned long long)st->unknown_free, (unsigned long long)st->unknown_realloc,
	       (unsigned long long)st->trace_failed, (unsigned long long)st->null_free,
	       (unsigned long long)st->r0_echo, (unsigned long long)st->replaced);
	fprintf(f, ",\"heap\":\"%s\",\"replayed\":%llu,\"replay_failed\":%llu,\"wall_ns\":%llu,"
	       "\"ns_per_call\":%.1f",
	       o->use_malloc ? "malloc" : "kmem", (unsigned long long)st->replayed,
	       (unsigned long long)st->replay_failed, (unsigned long long)st->wall_ns,
	       st->replayed ? (double)st->wall_ns / (double)st->replayed : 0.0);
	if (st->speed_reps) {
		double heap = per_op(st->speed_heap_ns, st->speed_ops);
		double null = per_op(st->speed_null_ns, st->speed_ops);

		fprintf(f, ",\"speed_ops\":%llu,\"speed_calls\":%llu,\"speed_null_calls\":%llu,"
			   "\"speed_slots\":%u,\"speed_reps\":%u,\"speed_heap_ns\":%llu,"
			   "\"speed_harness_ns\":%llu,\"heap_ns_per_op\":%.2f,\"harness_ns_per_op\":%.2f,"
			   "\"net_ns_per_op\":%.2f",
			(unsigned long long)st->speed_ops, (unsigned long long)st->speed_calls,
			(unsigned long long)st->speed_null_calls, st->speed_slots, st->speed_reps,
			(unsigned long long)st->speed_heap_ns, (unsigned long long)st->speed_null_ns,
			heap, null, heap - null);
	}
	fprintf(f, ",\"peak_live_bytes\":%llu,\"peak_live_blocks\":%llu,\"end_live_blocks\":%zu,"
	       "\"end_live_bytes\":%llu,\"max_rss_kib\":%ld,\"max_rss_before_kib\":%ld",
	       (unsigned long long)st->peak_bytes, (unsigned long long)st->peak_blocks, end_blocks,
	       (unsigned long long)end_bytes, maxrss_kib, st->rss_before_kib);
	if (o->verify)
		fprintf(f, ",\"tag_errors\":%llu", (unsigned long long)st->tag_errors);
	fprintf(f, ",\"usable_bytes\":%llu,\"internal_frag\":", (unsigned long long)st->usable_bytes);
	put_json_num(f, internal_frag(st));
	if (m) {
		fprintf(f, ",\"held_max\":%llu,\"jw\":[", (unsigned long long)m->held_max);
		for (unsigned k = 0; k < 4; k++) {
			if (k)
				fputc(',', f);
			put_json_num(f, m->jw[k]);
		}
		fprintf(f, "],\"M\":%llu,\"M2\":%llu,\"smin\":%llu,\"smax\":%llu,\"log2n\":%u,"
			   "\"robson\":%.0f,\"buddy_guarantee\":%.0f",
			(unsigned long long)m->M, (unsigned long long)m->M2, (unsigned long long)m->smin,
			(unsigned long long)m->smax, m->log2n, m->robson, m->buddy);
	}
	if (!o->use_malloc) {
		fprintf(f, ",\"policy\":\"%s\"", kmem_replay_policy_name(o));
		fprintf(f, ",\"heap_config\":\"%s\",\"classes\":", kmem_replay_heap_name(o->kind));
		json_string(f, class_set_name(o, h));
		fprintf(f, ",\"waste_div\":%u,\"pcp\":%s,\"pcp_batch\":%u,\"release\":%s,"
			   "\"wmark_high\":%zu",
			h->waste_div, h->pcp ? "true" : "false", h->pcp_batch,
			h->release ? "true" : "false", h->wmark_high);
		fprintf(f, ",\"decay_ms\":%ld,\"op_ns\":%llu,\"released_frames\":%llu,"
			   "\"release_passes\":%llu,\"released_reused\":%llu,\"released_held\":%zu",
			h->decay_ms, (unsigned long long)h->op_ns,
			(unsigned long long)v->pst.released_frames, (unsigned long long)v->pst.releases,
			(unsigned long long)v->pst.released_reused, v->pst.released_held);
		/* magazine policy: 0 slab's default, -1 auto */
		fprintf(f, ",\"mag_size\":%ld,\"depot_limit\":%ld",
			h->mag_size == KMEM_MAG_SIZE_AUTO ? -1L : (long)h->mag_size,
			h->depot_limit == KMEM_DEPOT_AUTO ? -1L : (long)h->depot_limit);
		fprintf(f, ",\"partial\":\"%s\",\"empty_keep\":%u,\"colour\":%s",
			kmem_replay_partial_name(h->partial), h->empty_keep, h->colour ? "true" : "false");
		fprintf(f, ",\"heap_bytes\":%zu,\"frame_size\":%zu,\"max_order\":%u,"
		       "\"peak_buddy_frames\":%zu,\"peak_pagealloc_used_frames\":%zu,\"sample\":%lu",
		       h->bytes, h->frame, h->max_order, st->peak_buddy_used, st->peak_pa_used, o->sample);
		fprintf(f, ",\"buddyinfo\":");
		json_string(f, v->buddyinfo ? v->buddyinfo : "");
		fprintf(f, ",\"fragindex\":");
		json_string(f, v->fragindex ? v->fragindex : "");
		if (v->json) {
			len = strlen(v->json);
			while (len && v->json[len - 1] == '\n')
				len--;
			fprintf(f, ",\"buddy\":%.*s", (int)len, v->json);
		}
		fprintf(f, ",\"check_buddy\":%s,\"check_pagealloc\":%s,\"errors\":%lu,"
		       "\"teardown_free_frames\":%zu,\"managed_frames\":%zu",
		       v->buddy_ok ? "true" : "false", v->pa_ok ? "true" : "false", v->errors,
		       v->free_after, v->managed);
	}
	fprintf(f, ",\"ok\":%s}\n", ok ? "true" : "false");
}
