/* test_harden.c - the drop-in's hardened mode (decision 23), linked with
 * libkmem-malloc.a and run with KMEM_HARDEN=1: what the mode promises
 * beyond the misuse matrix (test_misuse.c) and the conformance checks
 * (test_conformance.c, which run in the mode too):
 *   - the quarantine delays reuse: a freed small block does not come back
 *     while less than the budget was freed after it; with
 *     KMEM_QUARANTINE=0 (the run dropin-harden-noquarantine) blocks are
 *     freed at once and reused;
 *   - a write after free is found at a later allocation (the sweep) and
 *     stops the program, with its report;
 *   - a big block ends against a guard page: one byte past it faults;
 *   - realloc always moves the block;
 *   - heavy churn of every size class and big blocks keeps the heap
 *     consistent (kmem_malloc_check passes, the quarantine full or not).
 * Children run what ends the process (abort, a fault).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <kmem/malloc.h>

#include "dropin_util.h"

/* KMEM_QUARANTINE as the heap read it (0: none); the default otherwise */
static int quarantine_on(void)
{
	const char *q = getenv("KMEM_QUARANTINE");

	return !(q && strcmp(q, "0") == 0);
}

/* Run fn in a child with its stderr in a pipe; the child's status and up
 * to len - 1 bytes of what it wrote. */
static int in_child(void (*fn)(void), char *err, size_t len)
{
	int fds[2], status = 0;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		/* stderr, and the heap's reports' descriptor: a duplicate of
		 * stderr made at start-up, the first free one from 512 */
		dup2(fds[1], 2);
		for (int fd = 512; fd < 1024; fd++)
			if (fcntl(fd, F_GETFD) != -1)
				dup2(fds[1], fd);
		/* cmocka catches SIGSEGV and SIGABRT to go on with the next test:
		 * the child must die of them */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		alarm(20);
		fn();
		_exit(0);
	}
	close(fds[1]);
	while (n + 1 < len && (r = read(fds[0], err + n, len - 1 - n)) > 0)
		n += (size_t)r;
	err[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_quarantine_delays_reuse(void **state)
{
	enum { N = 1000 };
	static void *keep[N];
	unsigned char *p;
	int reused = 0;

	(void)state;
	p = malloc(hide(64));
	assert_non_null(p);
	memset(p, 1, 64);
	free(p);
	/* 64 KiB of allocations, none freed: far under the 16 MiB budget and
	 * the ring's 8192 blocks, so p waits in the quarantine throughout */
	for (int i = 0; i < N; i++) {
		keep[i] = malloc(hide(64));
		assert_non_null(keep[i]);
		reused += keep[i] == p;
	}
	if (quarantine_on())
		assert_int_equal(reused, 0);
	else /* freed at once: the slab's free list hands it out again */
		assert_int_equal(reused, 1);
	for (int i = 0; i < N; i++)
		free(keep[i]);
}

static void write_after_free(void)
{
	volatile unsigned char *p = malloc(hide(48));

	free(hide_ptr((void *)p));
	p[5] = 0x42; /* the program's bug */
	for (int i = 0; i < 4; i++) /* the sweep checks the last two freed */
		free(malloc(hide(48)));
}

static void test_write_after_free_stops(void **state)
{
	char err[4096];
	int st;

	(void)state;
	if (!quarantine_on())
		skip(); /* no quarantine: the block is reused, nothing to find */
	st = in_child(write_after_free, err, sizeof(err));
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	assert_non_null(strstr(err, "use-after-free"));
	assert_non_null(strstr(err, "offset 5"));
}

static void past_big_block(void)
{
	size_t n = hide(100000);
	volatile unsigned char *p = malloc(n);

	p[n - 1] = 1;
	p[n] = 1; /* the upper guard page */
	fprintf(stderr, "not stopped\n");
}

static void test_big_block_guard_page(void **state)
{
	char err[4096];
	int st;

	(void)state;
	st = in_child(past_big_block, err, sizeof(err));
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
	assert_null(strstr(err, "not stopped"));
}

static void test_realloc_moves(void **state)
{
	(void)state;
	for (size_t n = 8; n <= 1 << 20; n *= 4) {
		unsigned char *p = malloc(hide(n)), *q;

		assert_non_null(p);
		memset(p, 0x5a, n);
		q = realloc(p, n); /* the same size */
		assert_non_null(q);
		assert_ptr_not_equal(q, p);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(q[i], 0x5a);
		free(q);
	}
}

/* Churn over the small classes and guarded blocks, then the heap's
 * checkers (kmem_malloc_check) with the quarantine holding blocks. */
static void churn(void)
{
	enum { SLOTS = 512 };
	static unsigned char *slot[SLOTS];
	static size_t size[SLOTS];
	uint64_t s = 12345;

	for (int i = 0; i < 40000; i++) {
		unsigned k;
		size_t n;

		s = s * 6364136223846793005ull + 1442695040888963407ull;
		k = (unsigned)(s >> 33) % SLOTS;
		n = (s >> 20) % 64 == 0 ? 9000 + (size_t)(s >> 40) % 40000 : 1 + (size_t)(s >> 40) % 2048;
		if (slot[k]) {
			for (size_t j = 0; j < size[k]; j += 97)
				if (slot[k][j] != (unsigned char)k)
					_exit(3); /* a live block changed */
			free(slot[k]);
		}
		slot[k] = malloc(n);
		if (!slot[k])
			_exit(4);
		memset(slot[k], (int)k, n);
		size[k] = n;
	}
	for (int k = 0; k < SLOTS; k++)
		free(slot[k]);
	if (kmem_malloc_check() != 0)
		_exit(5);
	for (int i = 0; i < 20000; i++) /* the quarantine turns over */
		free(malloc(hide(100)));
	if (kmem_malloc_check() != 0)
		_exit(6);
}

static void test_churn_consistent(void **state)
{
	char err[8192];
	int st;

	(void)state;
	st = in_child(churn, err, sizeof(err));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "%s", err);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quarantine_delays_reuse),
		cmocka_unit_test(test_write_after_free_stops),
		cmocka_unit_test(test_big_block_guard_page),
		cmocka_unit_test(test_realloc_moves),
		cmocka_unit_test(test_churn_consistent),
	};
	const char *h = getenv("KMEM_HARDEN");

	if (!h || strcmp(h, "1") != 0) {
		fprintf(stderr, "test_harden: run with KMEM_HARDEN=1\n");
		return 2;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
