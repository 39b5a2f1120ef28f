/* linear.c - sec-linear: a linear heap overflow or underflow (one misuse per
 * run, bench/security/README.md).
 *
 * Usage: sec-linear over|under free|alloc|neighbour SIZE N
 *   over       write N bytes ('X') from the block's end (p[SIZE] on)
 *   under      write N bytes ('X') before its start (p[-N] .. p[-1])
 *   free       then free the block
 *   alloc      then allocate 16 blocks of SIZE, write and free them (the
 *              damaged block stays live): detection when blocks are handed out
 *   neighbour  first allocate 8 blocks of SIZE and fill their edges ('N'),
 *              damage the middle one, then read the others' edges: any
 *              change is effect=neighbour-corrupted; then free them all
 * SIZE: small, medium, page, huge (sec.h); N: 1..65536 bytes.
 * The marker: NOT_CAUGHT effect=none, or effect=neighbour-corrupted.
 */
#include "sec.h"

#define NEIGHBOURS 8
#define VICTIM 4

static void damage(char *p, size_t size, int over, size_t n)
{
	if (over)
		memset(sec_hide(p + size), 'X', n);
	else
		memset(sec_hide(p - n), 'X', n);
}

/* The edges of a block: its first SEC_EDGE bytes and its last 128 (an
 * overflow runs into the start of the next block, an underflow into the end
 * of the one before). */
static void fill_edges(char *q, size_t size)
{
	size_t head = sec_min(size, SEC_EDGE), tail = sec_min(size, 128);

	memset(q, 'N', head);
	memset(q + size - tail, 'N', tail);
}

static int edges_intact(const char *q, size_t size)
{
	size_t head = sec_min(size, SEC_EDGE), tail = sec_min(size, 128);

	for (size_t i = 0; i < head; i++)
		if (q[i] != 'N')
			return 0;
	for (size_t i = size - tail; i < size; i++)
		if (q[i] != 'N')
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	int over;
	size_t size, n;
	char *p;

	if (argc != 5 || (strcmp(argv[1], "over") && strcmp(argv[1], "under")))
		sec_setup_failed("usage: sec-linear over|under free|alloc|neighbour SIZE N");
	over = !strcmp(argv[1], "over");
	size = sec_size(argv[3]);
	n = sec_count(argv[4]);

	if (!strcmp(argv[2], "free")) {
		p = sec_malloc(size);
		memset(p, 'P', sec_min(size, SEC_EDGE));
		damage(p, size, over, n);
		free(p);
		sec_missed("none");
	}
	if (!strcmp(argv[2], "alloc")) {
		char *more[16];

		p = sec_malloc(size);
		memset(p, 'P', sec_min(size, SEC_EDGE));
		damage(p, size, over, n);
		for (int i = 0; i < 16; i++) {
			more[i] = sec_malloc(size);
			memset(more[i], 'M', sec_min(size, 64));
		}
		for (int i = 0; i < 16; i++)
			free(more[i]);
		sec_missed("none");
	}
	if (!strcmp(argv[2], "neighbour")) {
		char *blk[NEIGHBOURS];
		int corrupted = 0;

		for (int i = 0; i < NEIGHBOURS; i++) {
			blk[i] = sec_malloc(size);
			fill_edges(blk[i], size);
		}
		damage(blk[VICTIM], size, over, n);
		for (int i = 0; i < NEIGHBOURS; i++)
			if (i != VICTIM && !edges_intact(blk[i], size))
				corrupted = 1;
		for (int i = 0; i < NEIGHBOURS; i++)
			free(blk[i]);
		sec_missed(corrupted ? "neighbour-corrupted" : "none");
	}
	sec_setup_failed("MODE must be free, alloc or neighbour");
	return 77;
}
