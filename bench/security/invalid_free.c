/* invalid_free.c - sec-invalid-free: free of a pointer the allocator did not
 * hand out (one misuse per run, bench/security/README.md).
 *
 * Usage: sec-invalid-free close8|close16|mid|far|misaligned SIZE
 *        sec-invalid-free stack|global|mmap|fake_chunk|foreign_libc
 *   close8, close16  free(p + 8), free(p + 16): inside the block, near its start
 *   mid         free(p + SIZE / 2): deep inside the block
 *   far         free(p + 1 MiB): outside the block, in the allocator's
 *               neighbourhood
 *   misaligned  free(p + 1)
 *   stack       free of a buffer on the stack
 *   global      free of a global buffer
 *   mmap        free of a pointer into a page mapped by the program
 *   fake_chunk  free of a global buffer dressed as a 48-byte glibc chunk (a
 *               size word before it: "house of spirit")
 *   foreign_libc free of a block from another allocator, glibc's
 *               __libc_malloc: NOT_APPLICABLE when glibc's malloc is the
 *               process's malloc (then the free is legal)
 * Then four blocks are allocated (of SIZE, or of 48 bytes): effect=overlaps
 * when one of them overlaps the live block or the foreign memory (the
 * allocator took the bad pointer as a free block).
 */
#include "sec.h"

#include <dlfcn.h>
#include <sys/mman.h>

static _Alignas(64) char global_buf[256];
static _Alignas(64) size_t fake[64];

/* Allocate four blocks of size n: does one of them overlap [lo, lo + len)? */
static int reuse_overlaps(size_t n, const void *lo, size_t len)
{
	int hit = 0;

	for (int i = 0; i < 4; i++) {
		char *q = malloc(n);

		if (q && sec_overlap(q, n, lo, len))
			hit = 1;
	}
	return hit;
}

static void done(int overlaps)
{
	sec_missed(overlaps ? "overlaps" : "none");
}

int main(int argc, char **argv)
{
	const char *mode;

	if (argc < 2)
		sec_setup_failed("usage: sec-invalid-free MODE [SIZE]");
	mode = argv[1];

	if (argc == 3) {
		size_t size = sec_size(argv[2]), off;
		char *p = sec_malloc(size);

		memset(p, 'P', sec_min(size, 64));
		if (!strcmp(mode, "close8"))
			off = 8;
		else if (!strcmp(mode, "close16"))
			off = 16;
		else if (!strcmp(mode, "mid"))
			off = size / 2;
		else if (!strcmp(mode, "far"))
			off = (size_t)1 << 20;
		else if (!strcmp(mode, "misaligned"))
			off = 1;
		else
			sec_setup_failed("MODE with a SIZE: close8, close16, mid, far, misaligned");
		free(sec_hide(p + off));
		done(reuse_overlaps(size, p, size));
	}
	if (argc != 2)
		sec_setup_failed("usage: sec-invalid-free MODE [SIZE]");
	if (!strcmp(mode, "stack")) {
		_Alignas(64) char buf[256];

		memset(buf, 'S', sizeof(buf));
		free(sec_hide(buf + 64));
		done(reuse_overlaps(48, buf, sizeof(buf)));
	}
	if (!strcmp(mode, "global")) {
		memset(global_buf, 'G', sizeof(global_buf));
		free(sec_hide(global_buf + 64));
		done(reuse_overlaps(48, global_buf, sizeof(global_buf)));
	}
	if (!strcmp(mode, "mmap")) {
		char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (m == MAP_FAILED)
			sec_setup_failed("mmap");
		free(sec_hide(m + 2048));
		done(reuse_overlaps(48, m, 4096));
	}
	if (!strcmp(mode, "fake_chunk")) {
		/* a chunk at fake[2] of 64 bytes (size word 0x41: in use
		 * before it), and a sane size word for the chunk after it */
		fake[1] = 0x41;
		fake[9] = 0x41;
		free(sec_hide(&fake[2]));
		done(reuse_overlaps(48, fake, sizeof(fake)));
	}
	if (!strcmp(mode, "foreign_libc")) {
		void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
		void *(*libc_malloc)(size_t);
		void *sym = libc ? dlsym(libc, "__libc_malloc") : NULL;
		char *p;

		if (!sym)
			sec_setup_failed("no __libc_malloc in libc.so.6");
		memcpy(&libc_malloc, &sym, sizeof(sym)); /* ISO C: no object-to-function cast */
		if (dlsym(RTLD_DEFAULT, "malloc") == dlsym(libc, "malloc"))
			sec_not_applicable("glibc's malloc is the process's malloc");
		p = libc_malloc(48);
		if (!p)
			sec_setup_failed("__libc_malloc returned NULL");
		memset(p, 'F', 48);
		free(sec_hide(p));
		done(reuse_overlaps(48, p, 48));
	}
	sec_setup_failed("unknown MODE");
	return 77;
}
