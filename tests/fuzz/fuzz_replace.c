/* fuzz_replace.c - libFuzzer harness for the replacement policies
 * (kmem/replace.h).
 *
 * The input is a program: byte 0 picks the policy (every built-in), byte 1
 * the frame count (1..48); opt's next-use table is the input itself read
 * as numbers (arbitrary keys for its heap). Then each pair of bytes is one
 * operation:
 *   access     the pager's step: hit -> reference; miss -> a free frame,
 *              or victim (must be resident), remove(EVICT), insert;
 *   insert     into any frame number (some outside the table): into an
 *              empty one it succeeds, else -EEXIST / -ERANGE;
 *   reference, remove (evict or drop), clean: on any frame number, held
 *              or not: 0, -ENOENT or -ERANGE as the shadow predicts;
 *   victim     must be a resident frame, or KMEM_RP_NONE when empty;
 *   tick.
 * A shadow table (frame -> page, dirty) predicts every result; after every
 * operation kmem_rp_check() must pass and the stats (resident, dirty,
 * misuse) must equal the shadow's. Pages are kept in one frame at a time
 * (the caller's contract), fresh numbers when a chosen page is resident.
 *
 * Built two ways like the other harnesses: with libFuzzer (-Dfuzz=true),
 * and with the replay driver (replay.c) in every build.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/replace.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXF 48
#define NONE UINT64_MAX

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_replace: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

struct shadow {
	uint32_t frames, resident, dirty;
	uint64_t page[MAXF + 4];	/* NONE: empty */
	uint8_t is_dirty[MAXF + 4];
	uint64_t misuse;
	uint64_t fresh;
};

static uint32_t frame_of(const struct shadow *s, uint64_t page)
{
	for (uint32_t f = 0; f < s->frames; f++)
		if (s->page[f] == page)
			return f;
	return KMEM_RP_NONE;
}

static void verify(struct kmem_rp *rp, const struct shadow *s)
{
	struct kmem_rp_stats st;

	CHECK(kmem_rp_check(rp) == 0);
	kmem_rp_get_stats(rp, &st);
	CHECK(st.resident == s->resident);
	CHECK(st.dirty == s->dirty);
	CHECK(st.misuse == s->misuse);
	for (uint32_t f = 0; f < s->frames + 2; f++) {
		CHECK(kmem_rp_resident(rp, f) == (f < s->frames && s->page[f] != NONE));
		CHECK(kmem_rp_dirty(rp, f) == (f < s->frames && s->is_dirty[f]));
	}
}

static void do_insert(struct kmem_rp *rp, struct shadow *s, uint32_t f, uint64_t page, int w)
{
	int rc = kmem_rp_insert(rp, f, page, w ? KMEM_RP_WRITE : KMEM_RP_READ);

	if (f >= s->frames) {
		CHECK(rc == -ERANGE);
		s->misuse++;
	} else if (s->page[f] != NONE) {
		CHECK(rc == -EEXIST);
		s->misuse++;
	} else {
		CHECK(rc == 0);
		s->page[f] = page;
		s->is_dirty[f] = (uint8_t)(w != 0);
		s->resident++;
		s->dirty += w != 0;
	}
}

/* reference (0), remove (1 evict, 2 drop), clean (3) of frame f */
static void do_frame_op(struct kmem_rp *rp, struct shadow *s, int op, uint32_t f, int w)
{
	int rc = op == 0 ? kmem_rp_reference(rp, f, w ? KMEM_RP_WRITE : 0)
	       : op == 1 ? kmem_rp_remove(rp, f, KMEM_RP_EVICT)
	       : op == 2 ? kmem_rp_remove(rp, f, 0)
	       : kmem_rp_clean(rp, f);

	if (f >= s->frames) {
		CHECK(rc == -ERANGE);
		s->misuse++;
		return;
	}
	if (s->page[f] == NONE) {
		CHECK(rc == -ENOENT);
		s->misuse++;
		return;
	}
	CHECK(rc == 0);
	if ((op == 0 && w) && !s->is_dirty[f]) {
		s->is_dirty[f] = 1;
		s->dirty++;
	} else if (op != 0 && s->is_dirty[f]) {
		s->is_dirty[f] = 0;
		s->dirty--;
	}
	if (op == 1 || op == 2) {
		s->page[f] = NONE;
		s->resident--;
	}
}

static void access_page(struct kmem_rp *rp, struct shadow *s, uint64_t page, int w)
{
	uint32_t f = frame_of(s, page);

	if (f != KMEM_RP_NONE) {
		do_frame_op(rp, s, 0, f, w);
		return;
	}
	for (f = 0; f < s->frames && s->page[f] != NONE; f++)
		;
	if (f == s->frames) {
		f = kmem_rp_victim(rp, page);
		CHECK(f < s->frames && s->page[f] != NONE);
		do_frame_op(rp, s, 1, f, 0);
	}
	do_insert(rp, s, f, page, w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static _Alignas(16) unsigned char mem[1 << 16];
	static uint64_t next[4096];
	struct kmem_error_sink sink;
	struct kmem_rp_config cfg = { 0 };
	const struct kmem_rp_ops *ops;
	struct kmem_rp *rp;
	struct shadow s;

	if (size < 2)
		return 0;
	ops = kmem_rp_builtin(data[0] % 8);
	kmem_error_sink_init(&sink);
	sink.flags = KMEM_ERROR_QUIET;
	cfg.frames = 1 + data[1] % MAXF;
	cfg.sink = &sink;
	/* opt: the input as its next-use table (any keys must keep the heap) */
	cfg.next_use_len = size < 4096 ? size : 4096;
	for (size_t i = 0; i < cfg.next_use_len; i++)
		next[i] = data[i] == 255 ? KMEM_RP_NEVER : (uint64_t)data[i] * 7 + i;
	cfg.next_use = next;
	CHECK(kmem_rp_sizeof(ops, &cfg) <= sizeof(mem));
	CHECK(kmem_rp_init(mem, sizeof(mem), ops, &cfg, &rp) == 0);
	memset(&s, 0, sizeof(s));
	s.frames = cfg.frames;
	for (uint32_t f = 0; f < MAXF + 4; f++)
		s.page[f] = NONE;
	s.fresh = 1000;
	for (size_t i = 2; i + 1 < size; i += 2) {
		uint8_t op = data[i] % 10, arg = data[i + 1];
		int w = arg >> 7;
		uint32_t f = (uint32_t)(arg % (s.frames + 2));
		uint64_t page = arg % 64;

		switch (op) {
		case 0: case 1: case 2:
			access_page(rp, &s, page % (s.frames + 3), w);
			break;
		case 3:
			access_page(rp, &s, page, w);
			break;
		case 4:
			if (frame_of(&s, page) != KMEM_RP_NONE)
				page = s.fresh++;
			do_insert(rp, &s, f, page, w);
			break;
		case 5:
			do_frame_op(rp, &s, 0, f, w);
			break;
		case 6:
			do_frame_op(rp, &s, w ? 1 : 2, f, 0);
			break;
		case 7:
			do_frame_op(rp, &s, 3, f, 0);
			break;
		case 8: {
			uint32_t v = kmem_rp_victim(rp, page);

			if (s.resident == 0) {
				CHECK(v == KMEM_RP_NONE);
				s.misuse++;
			} else {
				CHECK(v < s.frames && s.page[v] != NONE);
			}
			break;
		}
		default:
			kmem_rp_tick(rp);
			break;
		}
		verify(rp, &s);
	}
	CHECK(kmem_error_total(&sink) == s.misuse);
	return 0;
}
