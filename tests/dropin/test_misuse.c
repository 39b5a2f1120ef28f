/* test_misuse.c - the drop-in's misuse matrix (issue 13): every kind of bad
 * call a program makes (double frees of every size, interleaved, delayed and
 * across threads; realloc and malloc_usable_size of freed blocks; interior,
 * foreign, stack, global and mmap'd pointers; impossible sizes and
 * alignments), each run in a child process whose stderr is captured, with
 * the expected outcome:
 *
 *   - the report: one line carrying the expected label (kmem's status
 *     names: double-free, interior-pointer, foreign-pointer), or none for
 *     calls that simply fail (NULL with errno);
 *   - in the default mode (KMEM_ERROR unset) the program goes on: the bad
 *     call changed nothing, no two live blocks alias afterwards, and
 *     kmem_malloc_check() passes; with KMEM_ERROR=abort (TEST_MISUSE_MODE=
 *     abort) a reported misuse ends the child with SIGABRT.
 *
 * One program, linked with libkmem-malloc.a, and again with the preload
 * (KMEM_DROPIN_PRELOAD: it re-executes itself with LD_PRELOAD). Exit 0 when
 * every case behaved, 1 otherwise (a line per failing case on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kmem/malloc.h>

#include "dropin_util.h"

/* weak: the plain build gets it from the preloaded library */
#pragma weak kmem_malloc_check
/* C23's sized frees (glibc 2.36 has none): the drop-in's */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);
#pragma weak free_sized
#pragma weak free_aligned_sized

/* Child exit codes */
#define BAD_RESULT 3	/* the bad call returned something it must not */
#define ALIASED 4	/* two live blocks overlap after the misuse */
#define CHECK_FAILED 5	/* kmem_malloc_check() failed after the misuse */
#define ALLOC_FAILED 6

static int global_word;

/* n blocks of size bytes, each filled with its own byte; _exit(ALIASED)
 * if any two overlap (a fill overwrote another's), then freed. */
static void no_alias(size_t size, unsigned n)
{
	unsigned char *b[16];
	size_t fill = size < 4096 ? size : 4096;

	for (unsigned i = 0; i < n && i < 16; i++) {
		b[i] = malloc(hide(size));
		if (!b[i])
			_exit(ALLOC_FAILED);
		memset(b[i], (int)(0x40 + i), fill);
	}
	for (unsigned i = 0; i < n && i < 16; i++)
		for (size_t k = 0; k < fill; k++)
			if (b[i][k] != (unsigned char)(0x40 + i))
				_exit(ALIASED);
	for (unsigned i = 0; i < n && i < 16; i++)
		free(b[i]);
}

/* ---- the cases: each does its misuse, then checks what it can ------------------ */

static void double_free_of(size_t size)
{
	char *p = malloc(hide(size));

	if (!p)
		_exit(ALLOC_FAILED);
	memset(p, 1, size < 4096 ? size : 4096);
	free(p);
	free(p);
	no_alias(size, 4);
}

static void c_double_16(void) { double_free_of(16); }
static void c_double_40(void) { double_free_of(40); }
static void c_double_4096(void) { double_free_of(4096); }
static void c_double_8192(void) { double_free_of(8192); }
static void c_double_page(void) { double_free_of(16384); }
static void c_double_page_1m(void) { double_free_of((size_t)1 << 20); }
static void c_double_huge(void) { double_free_of((size_t)40 << 20); }

static void c_double_interleaved(void)
{
	char *p = malloc(hide(32)), *q = malloc(hide(32));

	free(p);
	free(q);
	free(p);
	no_alias(32, 6);
}

static void c_double_delayed(void)
{
	char *p = malloc(hide(48)), *o[200];

	free(p);
	for (unsigned i = 0; i < 200; i++)
		o[i] = malloc(hide(8 + i % 120));
	for (unsigned i = 0; i < 200; i++)
		free(o[i]);
	free(p); /* p may be live again: only if it is still free is this a double free */
	no_alias(48, 16);
}

static void *free_in_thread(void *p)
{
	free(p);
	return NULL;
}

static void c_double_thread(void)
{
	char *p = malloc(hide(64));
	pthread_t t;

	if (pthread_create(&t, NULL, free_in_thread, p) != 0 || pthread_join(t, NULL) != 0)
		_exit(ALLOC_FAILED);
	free(p);
	no_alias(64, 16);
}

static void c_realloc_freed(void)
{
	char *p = malloc(hide(32)), *q;

	free(p);
	errno = 0;
	q = realloc(p, hide(64));
	if (q || errno != EINVAL)
		_exit(BAD_RESULT);
	no_alias(32, 4);
}

static void c_realloc_freed_huge(void)
{
	char *p = malloc(hide((size_t)40 << 20)), *q;

	if (!p)
		_exit(ALLOC_FAILED);
	free(p);
	errno = 0;
	q = realloc(p, hide(64));
	if (q || errno != EINVAL)
		_exit(BAD_RESULT);
	no_alias((size_t)40 << 20, 2);
}

static void c_usable_freed(void)
{
	char *p = malloc(hide(100));

	free(p);
	if (malloc_usable_size(p) != 0)
		_exit(BAD_RESULT);
}

static void c_interior_small(void)
{
	char *p = malloc(hide(64));

	free(p + 8);
	memset(p, 7, 64); /* still ours */
	free(p);
}

static void c_invalid_close(void)
{
	char *p = malloc(hide(64));

	free(p - 16); /* inside the object before p */
	free(p);
}

static void c_interior_page(void)
{
	char *p = malloc(hide((size_t)1 << 20));

	free(p + 8192);
	memset(p, 7, (size_t)1 << 20);
	free(p);
}

static void c_interior_page_close(void)
{
	char *p = malloc(hide(16384));

	free(p + 16);
	memset(p, 7, 16384);
	free(p);
}

static void c_interior_huge(void)
{
	char *p = malloc(hide((size_t)40 << 20));

	free(p + 4096);
	memset(p, 7, 4096);
	free(p);
}

/* Hardened mode only (label NULL elsewhere: the case is skipped). */
static void c_write_after_free(void)
{
	volatile char *p = malloc(hide(64));
	char *q;

	free((void *)p);
	p[10] = 1; /* into the quarantined block: found at the next malloc */
	q = malloc(hide(64));
	if (q == p)
		_exit(ALIASED);
	free(q);
}

static void c_guarded_overflow(void)
{
	char *p = malloc(hide(100001));

	p[100001] = 1; /* past the end, in the canary bytes before the guard page */
	free(p);
}

static void c_guarded_underflow(void)
{
	char *p = hide_ptr(malloc(hide(100001)));

	p[-1] = 1; /* before the start, in the canary bytes after the guard page */
	free(p);
}

static void c_foreign_stack(void)
{
	int local = 0;

	free(hide_ptr(&local));
}

static void c_foreign_global(void)
{
	free(hide_ptr(&global_word));
}

static void c_foreign_mmap(void)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		_exit(ALLOC_FAILED);
	free(m);
	munmap(m, 4096);
}

static void c_huge_size(void)
{
	errno = 0;
	if (malloc(hide(SIZE_MAX)) || errno != ENOMEM)
		_exit(BAD_RESULT);
	errno = 0;
	if (calloc(hide(SIZE_MAX / 2), hide(3)) || errno != ENOMEM)
		_exit(BAD_RESULT);
}

static void c_bad_alignment(void)
{
	void *q = NULL;

	errno = 0;
	if (aligned_alloc(hide(24), hide(48)) || errno != EINVAL)
		_exit(BAD_RESULT);
	if (posix_memalign(&q, hide(24), hide(8)) != EINVAL || q)
		_exit(BAD_RESULT);
}

/* Sized frees with a size or alignment the block contradicts: reported,
 * the block stays allocated (still ours to write and free). */
static void c_free_sized_big(void)
{
	char *p = malloc(hide(64));

	if (!p || !free_sized)
		_exit(ALLOC_FAILED);
	free_sized(p, hide(1000));
	memset(p, 7, 64);
	free_sized(p, hide(64));
	no_alias(64, 8);
}

static void c_free_sized_page(void)
{
	char *p = malloc(hide(20000));

	if (!p || !free_sized)
		_exit(ALLOC_FAILED);
	free_sized(p, hide((size_t)1 << 20));
	memset(p, 7, 20000);
	free(p);
	no_alias(20000, 4);
}

static void c_free_aligned_sized_bad(void)
{
	char *p = aligned_alloc(hide(64), hide(100));

	if (!p || !free_aligned_sized)
		_exit(ALLOC_FAILED);
	free_aligned_sized(p, hide(3), hide(100)); /* not a power of two */
	memset(p, 7, 100);
	free_aligned_sized(p, hide(64), hide(100));
	no_alias(100, 8);
}

static void c_free_sized_freed(void)
{
	char *p = malloc(hide(32));

	if (!p || !free_sized)
		_exit(ALLOC_FAILED);
	free_sized(p, hide(32));
	free_sized(p, hide(32));
	no_alias(32, 8);
}

static const struct mcase {
	const char *name;
	void (*run)(void);
	const char *label;	/* the report's label; NULL: no report */
	const char *label_harden; /* in the hardened mode, where it differs (label NULL:
				   a hardened-mode case, skipped in the others) */
} cases[] = {
	{ "double-free 16 B", c_double_16, "double-free" , NULL },
	{ "double-free 40 B", c_double_40, "double-free" , NULL },
	{ "double-free 4 KiB", c_double_4096, "double-free" , NULL },
	{ "double-free 8 KiB", c_double_8192, "double-free" , NULL },
	{ "double-free 16 KiB page block", c_double_page, "double-free" , NULL },
	{ "double-free 1 MiB page block", c_double_page_1m, "double-free" , NULL },
	{ "double-free 40 MiB huge block", c_double_huge, "double-free" , NULL },
	{ "double-free interleaved p q p", c_double_interleaved, "double-free" , NULL },
	{ "double-free delayed", c_double_delayed, "double-free" , NULL },
	{ "double-free across threads", c_double_thread, "double-free" , NULL },
	{ "realloc of a freed block", c_realloc_freed, "double-free" , NULL },
	{ "realloc of a freed 40 MiB huge block", c_realloc_freed_huge, "double-free" , NULL },
	{ "malloc_usable_size of a freed block", c_usable_freed, "double-free" , NULL },
	{ "free of p + 8 (64 B)", c_interior_small, "interior-pointer" , NULL },
	{ "free of p - 16 (64 B)", c_invalid_close, "interior-pointer" , NULL },
	{ "free of p + 8192 (1 MiB)", c_interior_page, "interior-pointer" , NULL },
	{ "free of p + 16 (16 KiB)", c_interior_page_close, "interior-pointer" , NULL },
	{ "free of p + 4096 (40 MiB)", c_interior_huge, "interior-pointer" , NULL },
	{ "free of a stack address", c_foreign_stack, "foreign-pointer" , NULL },
	{ "free of a global", c_foreign_global, "foreign-pointer" , NULL },
	{ "free of an mmap'd page", c_foreign_mmap, "foreign-pointer" , NULL },
	{ "write after free (64 B)", c_write_after_free, NULL, "use-after-free" },
	{ "overflow of a 100001 B block", c_guarded_overflow, NULL, "redzone" },
	{ "underflow of a 100001 B block", c_guarded_underflow, NULL, "redzone" },
	{ "malloc(SIZE_MAX), calloc overflow", c_huge_size, NULL , NULL },
	{ "aligned_alloc(24), posix_memalign(24)", c_bad_alignment, NULL , NULL },
	{ "free_sized(64 B block, 1000)", c_free_sized_big, "wrong-order", NULL },
	{ "free_sized(20000 B block, 1 MiB)", c_free_sized_page, "wrong-order", NULL },
	{ "free_aligned_sized(p, 3, n)", c_free_aligned_sized_bad, "wrong-order", NULL },
	{ "free_sized of a freed block", c_free_sized_freed, "double-free", NULL },
};

/* The child: case i, then the checks. */
static void child_case(size_t i)
{
	alarm(60);
	cases[i].run();
	if (kmem_malloc_check && kmem_malloc_check() != 0)
		_exit(CHECK_FAILED);
	no_alias(24, 8); /* the heap still serves */
	_exit(0);
}

/* Run case i in a child, this program re-executed (the drop-in writes its
 * reports to the stderr it found at start-up, so the pipe must be stderr
 * before the heap starts); its stderr into buf. Returns the wait status. */
static int run_case(size_t i, char *buf, size_t cap)
{
	char arg[24];

	int fd[2], st = 0;
	size_t len = 0;
	pid_t pid;

	if (pipe(fd) != 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fd[1], 2);
		close(fd[0]);
		close(fd[1]);
		snprintf(arg, sizeof(arg), "%zu", i);
		execl("/proc/self/exe", "test_misuse", "--case", arg, (char *)NULL);
		_exit(127);
	}
	close(fd[1]);
	for (;;) {
		ssize_t n = read(fd[0], buf + len, cap - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap - 1)
			break;
	}
	buf[len] = '\0';
	close(fd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

static unsigned count_lines_with(const char *buf, const char *word)
{
	unsigned n = 0;

	for (const char *l = buf; *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);

		if (memmem(l, len, word, strlen(word)))
			n++;
		l += len + (e != NULL);
	}
	return n;
}

int main(int argc, char **argv)
{
	const char *preload = getenv("KMEM_DROPIN_PRELOAD"), *cur = getenv("LD_PRELOAD");
	const char *mode = getenv("TEST_MISUSE_MODE");
	bool harden = mode && !strcmp(mode, "harden");
	bool abort_mode = harden || (mode && !strcmp(mode, "abort")); /* hardened: abort by default */
	static char buf[16384];
	unsigned failed = 0;

	if (argc == 3 && !strcmp(argv[1], "--case") && kmem_malloc_check) {
		size_t i = strtoul(argv[2], NULL, 10);

		if (i < sizeof(cases) / sizeof(cases[0]))
			child_case(i);
		return 2;
	}
	if (preload && *preload && (!cur || !strstr(cur, preload))) {
		setenv("LD_PRELOAD", preload, 1);
		execv("/proc/self/exe", argv);
		perror("execv /proc/self/exe");
		return 1;
	}
	if (!kmem_malloc_check) {
		fprintf(stderr, "test_misuse: not running on kmem's malloc\n");
		return 77;
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mcase c_mode = cases[i];
		const struct mcase *c = &c_mode;
		int st;

		if (harden && c_mode.label_harden)
			c_mode.label = c_mode.label_harden;
		else if (!harden && c_mode.label_harden && !c_mode.label)
			continue; /* a hardened mode case */
		st = run_case(i, buf, sizeof(buf));
		unsigned reports = count_lines_with(buf, "kmem-malloc");
		bool labelled = c->label && count_lines_with(buf, c->label) == 1;
		const char *why = NULL;

		if (st < 0)
			why = "could not run the child";
		else if (c->label && !labelled)
			why = "no report with the expected label (or more than one)";
		else if (!c->label && reports)
			why = "a report where the call should just fail";
		else if (abort_mode && c->label && !(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT))
			why = "KMEM_ERROR=abort: the child did not abort";
		else if ((!abort_mode || !c->label) && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			why = WIFSIGNALED(st) ? "the child died of a signal" :
			      WEXITSTATUS(st) == ALIASED ? "two live blocks alias after the misuse" :
			      WEXITSTATUS(st) == CHECK_FAILED ? "kmem_malloc_check failed after the misuse" :
			      WEXITSTATUS(st) == BAD_RESULT ? "the bad call returned the wrong result" :
							      "the child failed";
		printf("%-4s %-40s %s\n", why ? "FAIL" : "ok", c->name, why ? why : (c->label ? c->label : "-"));
		if (why) {
			failed++;
			fprintf(stderr, "test_misuse: %s: %s (status %#x); its stderr:\n%s\n", c->name, why,
				(unsigned)st, buf);
		}
	}
	printf("%u of %zu cases failed (%s mode)\n", failed, sizeof(cases) / sizeof(cases[0]),
	       harden ? "hardened" : abort_mode ? "abort" : "default");
	return failed ? 1 : 0;
}
