/* fuzz_trace.c - libFuzzer harness for the trace parsers of the kmem command
 * (tools/trace_text.c): kmem's text trace format and valgrind
 * --trace-malloc=yes logs.
 *
 * The input: byte 0 picks the parser (bit 0: text or Valgrind; bit 1: the
 * rest is the log as it is, or bytes that each pick a token from a table
 * of the formats' words, so random inputs reach deep into the grammar:
 * calls nested as Valgrind prints them, results on their own lines, bad
 * numbers, other processes). Then:
 *   - the parser returns 0 or -1, never crashes or reads out of bounds;
 *   - on -1 the error names a line within the input and has a message;
 *   - on 0 every record has a valid op, seq equal to its rank, a thread
 *     1..65535, an alignment only on MEMALIGN (and below 64);
 *   - round trip: the records written as text (kmem_trace_write_text) and
 *     parsed again give the same records.
 *
 * Built two ways like the other harnesses: with libFuzzer (-Dfuzz=true),
 * and with the replay driver (replay.c) in every build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmem_tool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_trace: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

static const char *const tokens[] = {
	"--7-- ", "--8-- ", "==7== ", "\n", "\n--7-- ", " = ", "0x0", "0x4A43040", "0x10",
	"16", "0", "18446744073709551615", "99999999999999999999", ",", "(", ")", " ",
	"malloc(", "calloc(", "realloc(", "free(", "memalign(", "al 64, size 10", "size 8, al 32",
	"valloc(", "pvalloc(", "_Znwm(", "_ZdlPvm(", "_ZnwmSt11align_val_t(", "malloc_usable_size(",
	"frob(", "m ", "c ", "a ", "r ", "f ", "@2", "@0", "# comment", "\r\n", "\t", "x",
	"realloc(0x0,16)malloc(16) = 0x20\n", "realloc(0x20,0)free(0x20)\n--7--  = 0\n",
};

#define NTOK (sizeof(tokens) / sizeof(tokens[0]))

static void check_records(const struct trace_recs *r)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct kmem_trace_rec *x = &r->rec[i];

		CHECK(x->op >= KMEM_TRACE_MALLOC && x->op <= KMEM_TRACE_OP_MAX);
		CHECK(x->seq == i);
		CHECK(x->tid >= 1);
		CHECK(x->align_log2 < 64);
		CHECK(x->op == KMEM_TRACE_MEMALIGN || x->align_log2 == 0);
		CHECK(x->op == KMEM_TRACE_REALLOC || x->old == 0);
	}
}

static void round_trip(const struct trace_recs *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct trace_recs back;
	struct trace_parse_error err;

	CHECK(f != NULL);
	CHECK(kmem_trace_write_text(f, r->rec, r->n) == 0);
	CHECK(fclose(f) == 0);
	CHECK(kmem_trace_parse_text(buf, len, &back, &err) == 0);
	CHECK(back.n == r->n);
	for (size_t i = 0; i < r->n; i++) {
		const struct kmem_trace_rec *a = &r->rec[i], *b = &back.rec[i];

		CHECK(a->op == b->op && a->tid == b->tid && a->size == b->size && a->ptr == b->ptr &&
		      a->old == b->old && a->align_log2 == b->align_log2 && a->flags == b->flags);
	}
	kmem_trace_recs_free(&back);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_parse_error err = { 0 };
	struct trace_vg_info info;
	struct trace_recs r;
	char *text;
	size_t len = 0, lines = 1;
	bool valgrind, tokenised;
	int rc;

	if (size < 1)
		return 0;
	valgrind = data[0] & 1;
	tokenised = data[0] & 2;
	data++;
	size--;
	text = malloc(tokenised ? size * 64 + 1 : size + 1);
	CHECK(text != NULL);
	if (tokenised) {
		for (size_t i = 0; i < size; i++) {
			const char *t = tokens[data[i] % NTOK];
			size_t n = strlen(t);

			memcpy(text + len, t, n);
			len += n;
		}
	} else {
		memcpy(text, data, size);
		len = size;
	}
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	/* no NUL after the input: the parsers must stay within len */
	if (valgrind)
		rc = kmem_trace_parse_valgrind(text, len, &r, &err, &info);
	else
		rc = kmem_trace_parse_text(text, len, &r, &err);
	CHECK(rc == 0 || rc == -1);
	if (rc) {
		CHECK(err.line >= 1 && err.line <= lines);
		CHECK(err.msg[0] != '\0');
	} else {
		check_records(&r);
		if (valgrind)
			CHECK(info.pid != 0);
		round_trip(&r);
	}
	kmem_trace_recs_free(&r);
	free(text);
	return 0;
}
