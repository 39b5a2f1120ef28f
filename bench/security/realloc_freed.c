/* realloc_freed.c - sec-realloc-freed: realloc of a block already freed (one
 * misuse per run, bench/security/README.md).
 *
 * Usage: sec-realloc-freed grow|shrink SIZE
 *   grow    free(p); q = realloc(p, 2 * SIZE)
 *   shrink  free(p); q = realloc(p, SIZE / 2)
 * Then, when realloc returned a block, two more blocks of SIZE are
 * allocated: effect=aliased when one of them overlaps q (the freed block
 * was handed out twice); effect=none otherwise (also when realloc returned
 * NULL without a word).
 * SIZE: small, medium, page, huge (sec.h).
 */
#include "sec.h"

int main(int argc, char **argv)
{
	size_t size, to;
	char *p, *q;
	int aliased = 0;

	if (argc != 3)
		sec_setup_failed("usage: sec-realloc-freed grow|shrink SIZE");
	size = sec_size(argv[2]);
	if (!strcmp(argv[1], "grow"))
		to = 2 * size;
	else if (!strcmp(argv[1], "shrink"))
		to = size / 2;
	else
		sec_setup_failed("MODE must be grow or shrink");
	p = sec_malloc(size);
	memset(p, 'P', sec_min(size, 64));
	free(p);
	q = realloc(sec_hide(p), to);
	if (q) {
		memset(q, 'Q', sec_min(to, 64));
		for (int i = 0; i < 2; i++) {
			char *r = malloc(size);

			if (r && sec_overlap(r, size, q, to))
				aliased = 1;
		}
	}
	sec_missed(aliased ? "aliased" : "none");
	return 0;
}
