/* replay_report.c - `kmem replay`: the report, as text (one fact a line,
 * stable prefixes the tests grep for) or as one line of JSON.
 *
 * What it prints: records by op, distinct threads, seq range and gaps, the
 * records skipped and why, the heap, calls replayed and failed, wall time
 * and ns per call, peak and final live bytes and blocks, max RSS, the block
 * tags' verdict; for the kmem heap also peak frames, frames at the end,
 * buddyinfo, the fragmentation indexes (and the buddy's JSON), the
 * checkers' verdicts, errors reported and the teardown's free frames.
 *
 * Data structures: the run's struct replay_stats, the heap's struct
 * replay_heap and struct replay_verdict (kmem_tool.h), read only.
 * Tunables: none.
 */
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

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
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

void kmem_replay_print_text(const struct replay_opts *o, const struct replay_stats *st,
			    const struct replay_heap *h, const struct replay_verdict *v,
			    long maxrss_kib, size_t end_blocks, uint64_t end_bytes)
{
	double ns = st->replayed ? (double)st->wall_ns / (double)st->replayed : 0.0;

	printf("kmem replay: %s\n", o->path);
	printf("records: %llu (malloc %llu, calloc %llu, realloc %llu, memalign %llu, free %llu)\n",
	       records_total(st),
	       (unsigned long long)st->ops[KMEM_TRACE_MALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_CALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_REALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_MEMALIGN],
	       (unsigned long long)st->ops[KMEM_TRACE_FREE]);
	printf("threads: %u, serialised by seq into one replay thread\n", st->threads);
	printf("seq: %llu..%llu, %llu missing, %llu duplicated\n", (unsigned long long)st->seq_first,
	       (unsigned long long)st->seq_last, (unsigned long long)st->seq_missing,
	       (unsigned long long)st->seq_dup);
	printf("skipped: %llu free of an unknown id, %llu realloc of an unknown id, "
	       "%llu failed in the trace, %llu free of NULL\n",
	       (unsigned long long)st->unknown_free, (unsigned long long)st->unknown_realloc,
	       (unsigned long long)st->trace_failed, (unsigned long long)st->null_free);
	printf("echoes: %llu free right after realloc(p, 0) of the same block in the same thread "
	       "(skipped)\n",
	       (unsigned long long)st->r0_echo);
	printf("replaced: %llu live ids returned again (a lost free)\n",
	       (unsigned long long)st->replaced);
	if (o->use_malloc)
		printf("heap: the process's malloc (--malloc)\n");
	else
		printf("heap: kmem, %zu MiB arena, %zu B frames, max order %u "
		       "(buddy -> pagealloc -> slab/kmalloc)\n",
		       h->bytes >> 20, h->frame, h->max_order);
	printf("replayed: %llu calls, %llu failed in the replay\n", (unsigned long long)st->replayed,
	       (unsigned long long)st->replay_failed);
	printf("time: %.3f ms, %.1f ns/call\n", (double)st->wall_ns / 1e6, ns);
	printf("peak live: %llu bytes requested in %llu blocks\n", (unsigned long long)st->peak_bytes,
	       (unsigned long long)st->peak_blocks);
	printf("live at the end: %zu blocks, %llu bytes requested\n", end_blocks,
	       (unsigned long long)end_bytes);
	printf("max rss: %ld KiB (the whole process)\n", maxrss_kib);
	if (o->verify)
		printf("block tags: %s (%llu errors)\n", st->tag_errors ? "FAILED" : "ok",
		       (unsigned long long)st->tag_errors);
	if (o->use_malloc)
		return;
	printf("peak frames: buddy %zu (%.2f MiB), pagealloc used %zu (sampled every %lu calls)\n",
	       st->peak_buddy_used, kmem_tool_mib(st->peak_buddy_used, h->frame), st->peak_pa_used, o->sample);
	printf("frames at the end: %zu used, %zu free of %zu\n", v->bst.used_frames,
	       v->bst.free_frames, v->bst.managed_frames);
	printf("buddyinfo:\n%s", v->buddyinfo ? v->buddyinfo : "");
	printf("fragmentation:\n%s", v->fragindex ? v->fragindex : "");
	printf("check: kmem_buddy_check %s, kmem_pa_check %s, %lu errors reported\n",
	       v->buddy_ok ? "ok" : "FAILED", v->pa_ok ? "ok" : "FAILED", v->errors);
	printf("teardown: %zu of %zu frames free%s\n", v->free_after, v->managed,
	       v->frames_back ? "" : " (FAILED: frames lost)");
}

void kmem_replay_print_json(const struct replay_opts *o, const struct replay_stats *st,
			    const struct replay_heap *h, const struct replay_verdict *v,
			    long maxrss_kib, size_t end_blocks, uint64_t end_bytes, bool ok)
{
	size_t len;

	printf("{\"trace\":");
	json_string(o->path);
	printf(",\"records\":%llu,\"ops\":{\"malloc\":%llu,\"calloc\":%llu,\"realloc\":%llu,"
	       "\"memalign\":%llu,\"free\":%llu}",
	       records_total(st),
	       (unsigned long long)st->ops[KMEM_TRACE_MALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_CALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_REALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_MEMALIGN],
	       (unsigned long long)st->ops[KMEM_TRACE_FREE]);
	printf(",\"threads\":%u,\"seq_first\":%llu,\"seq_last\":%llu,\"seq_missing\":%llu,"
	       "\"seq_duplicated\":%llu",
	       st->threads, (unsigned long long)st->seq_first, (unsigned long long)st->seq_last,
	       (unsigned long long)st->seq_missing, (unsigned long long)st->seq_dup);
	printf(",\"unknown_free\":%llu,\"unknown_realloc\":%llu,\"trace_failed\":%llu,"
	       "\"null_free\":%llu,\"realloc0_echo\":%llu,\"replaced\":%llu",
	       (unsigned long long)st->unknown_free, (unsigned long long)st->unknown_realloc,
	       (unsigned long long)st->trace_failed, (unsigned long long)st->null_free,
	       (unsigned long long)st->r0_echo, (unsigned long long)st->replaced);
	printf(",\"heap\":\"%s\",\"replayed\":%llu,\"replay_failed\":%llu,\"wall_ns\":%llu,"
	       "\"ns_per_call\":%.1f",
	       o->use_malloc ? "malloc" : "kmem", (unsigned long long)st->replayed,
	       (unsigned long long)st->replay_failed, (unsigned long long)st->wall_ns,
	       st->replayed ? (double)st->wall_ns / (double)st->replayed : 0.0);
	printf(",\"peak_live_bytes\":%llu,\"peak_live_blocks\":%llu,\"end_live_blocks\":%zu,"
	       "\"end_live_bytes\":%llu,\"max_rss_kib\":%ld",
	       (unsigned long long)st->peak_bytes, (unsigned long long)st->peak_blocks, end_blocks,
	       (unsigned long long)end_bytes, maxrss_kib);
	if (o->verify)
		printf(",\"tag_errors\":%llu", (unsigned long long)st->tag_errors);
	if (!o->use_malloc) {
		printf(",\"heap_bytes\":%zu,\"frame_size\":%zu,\"max_order\":%u,"
		       "\"peak_buddy_frames\":%zu,\"peak_pagealloc_used_frames\":%zu,\"sample\":%lu",
		       h->bytes, h->frame, h->max_order, st->peak_buddy_used, st->peak_pa_used, o->sample);
		printf(",\"buddyinfo\":");
		json_string(v->buddyinfo ? v->buddyinfo : "");
		printf(",\"fragindex\":");
		json_string(v->fragindex ? v->fragindex : "");
		if (v->json) {
			len = strlen(v->json);
			while (len && v->json[len - 1] == '\n')
				len--;
			printf(",\"buddy\":%.*s", (int)len, v->json);
		}
		printf(",\"check_buddy\":%s,\"check_pagealloc\":%s,\"errors\":%lu,"
		       "\"teardown_free_frames\":%zu,\"managed_frames\":%zu",
		       v->buddy_ok ? "true" : "false", v->pa_ok ? "true" : "false", v->errors,
		       v->free_after, v->managed);
	}
	printf(",\"ok\":%s}\n", ok ? "true" : "false");
}
