/* uaf.c - sec-uaf: a use after free (one misuse per run,
 * bench/security/README.md).
 *
 * Usage: sec-uaf write|write_data|poison|read SIZE
 *   write       free a block, write 'A' over it (its first SEC_EDGE bytes),
 *               then allocate 16 blocks of SIZE: effect=stale-write-visible
 *               when one of them shows the write (the corruption reached a
 *               live block)
 *   write_data  the same, but leave the first 16 bytes alone (where a free
 *               list keeps its link): the write reaches only data
 *   poison      free 8 blocks and store the address of a global buffer in
 *               the first two words of each (free-list poisoning, as in
 *               tcache poisoning: whichever word the allocator keeps its
 *               link in), then allocate 16 blocks of SIZE:
 *               effect=forged-pointer when one of them is inside the buffer
 *   read        fill a block with 'R', free it, read it: effect=stale-data
 *               when the old contents are still readable
 * SIZE: small, medium, page, huge (sec.h).
 */
#include "sec.h"

/* The target of the forged free-list link: room for a block of any small
 * size, so a hijacked malloc's caller could write it without a crash. */
static _Alignas(64) char target[2 * SEC_EDGE];

static int shows(const char *q, size_t from, size_t to, char c)
{
	for (size_t i = from; i < to; i++)
		if (q[i] != c)
			return 0;
	return 1;
}

static void write_after_free(size_t size, size_t from)
{
	size_t to = sec_min(size, SEC_EDGE);
	char *p = sec_malloc(size), *q[16];
	int visible = 0;

	memset(p, 'P', to);
	free(p);
	memset(sec_hide(p + from), 'A', to - from);
	for (int i = 0; i < 16; i++) {
		q[i] = sec_malloc(size);
		if (shows(q[i], from, to, 'A'))
			visible = 1;
	}
	for (int i = 0; i < 16; i++)
		free(q[i]);
	sec_missed(visible ? "stale-write-visible" : "none");
}

int main(int argc, char **argv)
{
	size_t size;

	if (argc != 3)
		sec_setup_failed("usage: sec-uaf write|write_data|poison|read SIZE");
	size = sec_size(argv[2]);

	if (!strcmp(argv[1], "write"))
		write_after_free(size, 0);
	if (!strcmp(argv[1], "write_data"))
		write_after_free(size, 16);
	if (!strcmp(argv[1], "poison")) {
		char *p[8], *q;
		int forged = 0;

		for (int i = 0; i < 8; i++)
			p[i] = sec_malloc(size);
		for (int i = 0; i < 8; i++)
			free(p[i]);
		for (int i = 0; i < 8; i++) {
			((void **)sec_hide(p[i]))[0] = target + 64;
			((void **)sec_hide(p[i]))[1] = target + 64;
		}
		for (int i = 0; i < 16; i++) {
			q = malloc(size);
			if (q && sec_overlap(q, 1, target, sizeof(target)))
				forged = 1;
		}
		sec_missed(forged ? "forged-pointer" : "none");
	}
	if (!strcmp(argv[1], "read")) {
		size_t n = sec_min(size, SEC_EDGE);
		char *p = sec_malloc(size);
		const volatile char *v = sec_hide(p);
		int stale;

		memset(p, 'R', n);
		free(p);
		stale = v[n / 2] == 'R' && v[n - 1] == 'R';
		sec_missed(stale ? "stale-data" : "none");
	}
	sec_setup_failed("MODE must be write, write_data, poison or read");
	return 77;
}
