/* test_report.c - the drop-in's reports point at the bug (issue 13):
 *
 *   callers       the callers a report names ("allocated by", "freed by",
 *                 "called from") are return addresses in this program (its
 *                 executable mapping in /proc/self/maps; and dladdr names
 *                 this program where it knows it: the preloaded build), for
 *                 slab objects in debug mode, page blocks and foreign
 *                 pointers, through malloc, calloc, realloc, memalign, free;
 *   overflow8     8 bytes past a 40-byte block (class 48) are caught with
 *                 KMEM_DEBUG=all, and the report names the 40 bytes;
 *   overflow64    64 bytes past a 40-byte block: its report still names its
 *                 callers (never 0x7878...), the neighbour's records are
 *                 reported as overwritten;
 *   aligned       memalign(64, 40) and calloc(1, 40): the red zone starts at
 *                 the 40 bytes asked for;
 *   closed        KMEM_STATS and the KMEM_CHECK verdict still appear when the
 *                 program closes stderr in an atexit handler (as coreutils
 *                 do), on stderr as it was at start-up, or in KMEM_STATS_FILE;
 *   invalid       invalid KMEM_* values: one warning per variable naming it
 *                 and the accepted values, and the defaults are used;
 *   fds           by default the drop-in holds no descriptor of its own (a
 *                 program listing or checking its descriptors sees none);
 *                 with KMEM_STATS it holds one, the duplicate of stderr;
 *   reused        a program that closes that duplicate (as closefrom()
 *                 does) and opens a file under its number does not get
 *                 the reports and statistics in its file: they go to stderr;
 *   verbose       KMEM_VERBOSE=1 prints the effective configuration.
 * Every report line has one prefix ("kmem-malloc: "), never "kmem: ".
 *
 * How: each scenario runs in a child (this program re-executed with
 * "--child NAME", with its environment, stdout and stderr in temporary
 * files); the child checks what only it can (its addresses) and prints its
 * findings on stdout, the parent checks the rest. Linked with
 * libkmem-malloc.a (static) and, in the plain build, run with the preload
 * (KMEM_DROPIN_PRELOAD: children get LD_PRELOAD).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dropin_util.h"

/* ---- the child ----------------------------------------------------------------------- */

/* This program's executable mappings, from /proc/self/maps. */
static uintptr_t exe_lo[8], exe_hi[8];
static unsigned exe_n;
static char exe_path[PATH_MAX];

static void exe_ranges(void)
{
	char line[PATH_MAX + 128];
	ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	FILE *f = fopen("/proc/self/maps", "r");

	exe_path[n > 0 ? n : 0] = '\0';
	while (f && fgets(line, sizeof(line), f) && exe_n < 8) {
		unsigned long lo, hi;
		char perm[8], path[PATH_MAX];

		path[0] = '\0';
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %4095s", &lo, &hi, perm, path) >= 3 &&
		    perm[2] == 'x' && !strcmp(path, exe_path)) {
			exe_lo[exe_n] = lo;
			exe_hi[exe_n++] = hi;
		}
	}
	if (f)
		fclose(f);
}

/* child() has a section of its own, so a caller address can be checked
 * against it even where the drop-in is linked into this program (static):
 * every call of the allocator a report may name is made there. */
#define CHILD_CODE __attribute__((section("kmem_report_child"), noinline))
extern const char __start_kmem_report_child[], __stop_kmem_report_child[];

/* Whether a is in this program's scenario code: in child()'s section, in
 * the program's executable mapping, and (where dladdr knows the main
 * program: a dynamic link) dladdr names the program. */
static bool in_program(uintptr_t a)
{
	Dl_info di;
	bool in = a >= (uintptr_t)__start_kmem_report_child && a < (uintptr_t)__stop_kmem_report_child;

	if (!in)
		return false;
	in = false;
	for (unsigned i = 0; i < exe_n; i++)
		in |= a >= exe_lo[i] && a < exe_hi[i];
	if (in && dladdr((void *)a, &di) && di.dli_fname && di.dli_fname[0]) {
		const char *b1 = strrchr(di.dli_fname, '/'), *b2 = strrchr(exe_path, '/');

		in = !strcmp(b1 ? b1 + 1 : di.dli_fname, b2 ? b2 + 1 : exe_path);
	}
	return in;
}

/* Read back what this child wrote on stderr (a file the parent made) and
 * check every caller address a report names: "addresses N in-program M". */
static void child_check_addresses(void)
{
	static char buf[1 << 16];
	static const char *const keys[] = { "allocated by 0x", "freed by 0x", "called from 0x" };
	ssize_t n = pread(2, buf, sizeof(buf) - 1, 0);
	unsigned total = 0, good = 0;

	buf[n > 0 ? n : 0] = '\0';
	exe_ranges();
	for (unsigned k = 0; k < 3; k++)
		for (const char *p = buf; (p = strstr(p, keys[k])) != NULL; p++) {
			uintptr_t a = (uintptr_t)strtoull(p + strlen(keys[k]) - 2, NULL, 16);

			total++;
			if (in_program(a))
				good++;
			else
				printf("not in the program: %s %#lx\n", keys[k], (unsigned long)a);
		}
	printf("addresses %u in-program %u\n", total, good);
}

/* Bytes written past a block, out of the compiler's sight. */
static void scribble(void *p, size_t from, size_t n, int byte)
{
	memset((char *)hide((uintptr_t)p) + from, byte, n);
}

static void close_std(void)
{
	close(1);
	close(2);
}

/* The heap's own descriptor: the first open one from 512 (its duplicate
 * of stderr), or -1. */
static int high_fd(unsigned *n)
{
	int first = -1;

	*n = 0;
	for (int fd = 512; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1) {
			if (first < 0)
				first = fd;
			(*n)++;
		}
	return first;
}

static int child(const char *scen) CHILD_CODE;
static int child(const char *scen)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(scen, "overflow8")) {
		char *p = malloc(hide(40));

		scribble(p, 40, 8, 'x');
		free(p);
		child_check_addresses();
	} else if (!strcmp(scen, "overflow64")) {
		char *p = malloc(hide(40)), *q = malloc(hide(40));

		printf("neighbour %td\n", q - p);
		scribble(p, 40, 64, 'x');
		free(p);
		free(q);
		child_check_addresses();
	} else if (!strcmp(scen, "aligned")) {
		char *p = memalign(64, hide(40)), *q = calloc(1, hide(40)), *r = realloc(NULL, hide(40));

		scribble(p, 40, 1, 'x');
		scribble(q, 40, 1, 'x');
		scribble(r, 40, 1, 'x');
		free(p);
		free(q);
		free(r);
		child_check_addresses();
	} else if (!strcmp(scen, "callers")) {
		int local;
		char *big = malloc(hide(100000)), *s = malloc(hide(32));

		free((void *)hide((uintptr_t)&local)); /* foreign */
		free(big);
		free((void *)hide((uintptr_t)big)); /* a page block twice */
		if (realloc((void *)hide((uintptr_t)&local), 10) == NULL)
			printf("realloc refused\n");
		free(s);
		child_check_addresses();
	} else if (!strcmp(scen, "closed")) {
		free(malloc(hide(10)));
		atexit(close_std); /* runs before the heap's exit handler */
	} else if (!strcmp(scen, "fds")) {
		unsigned n;

		free(malloc(hide(10)));
		(void)high_fd(&n);
		printf("high fds %u\n", n);
	} else if (!strcmp(scen, "reused")) {
		char path[] = "/tmp/kmem-report-reused-XXXXXX", buf[4096];
		unsigned n;
		int local, fd = high_fd(&n), f;
		ssize_t got;

		free(malloc(hide(10)));
		printf("high fds %u\n", n);
		if (fd < 0)
			return 1;
		close(fd);		/* closefrom() */
		f = mkstemp(path);	/* the program's own file ... */
		if (f < 0 || dup2(f, fd) != fd)	/* ... under the same number */
			return 1;
		unlink(path);
		free((void *)hide((uintptr_t)&local));	/* a report */
		got = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[got > 0 ? got : 0] = '\0';
		printf("file bytes %zd%s\n", got, strstr(buf, "kmem-malloc") ? " with a report" : "");
	} else if (!strcmp(scen, "invalid")) {
		int local;

		free(malloc(hide(10)));
		free((void *)hide((uintptr_t)&local)); /* reported, and the program goes on */
		printf("went on\n");
	} else {
		free(malloc(hide(10)));
	}
	return 0;
}

/* ---- the parent ----------------------------------------------------------------------- */

struct run {
	int status;
	char out[1 << 14], err[1 << 16];
};

static char self[PATH_MAX];

static int tmpfile_fd(void)
{
	char path[] = "/tmp/kmem-report-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static void slurp(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Run scenario scen in a child with env (NAME=VALUE strings, NULL-ended)
 * added to an environment without KMEM_* variables. */
static void run(struct run *r, const char *scen, const char *const *env)
{
	int out = tmpfile_fd(), err = tmpfile_fd();
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		static const char *const vars[] = { "KMEM_DEBUG", "KMEM_ERROR", "KMEM_STATS", "KMEM_STATS_FILE",
						    "KMEM_CHECK", "KMEM_HIGH", "KMEM_ARENA", "KMEM_TRACE",
						    "KMEM_REAPER", "KMEM_VERBOSE" };
		const char *pre = getenv("KMEM_DROPIN_PRELOAD");

		for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
			unsetenv(vars[i]);
		for (; env && *env; env++)
			putenv((char *)(uintptr_t)*env);
		if (pre && *pre)
			setenv("LD_PRELOAD", pre, 1);
		dup2(out, 1);
		dup2(err, 2);
		execl(self, self, "--child", scen, (char *)NULL);
		_exit(126);
	}
	assert_int_equal(waitpid(pid, &r->status, 0), pid);
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
	printf("---- %s: status %#x\n%s%s", scen, r->status, r->out, r->err);
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Every line on stderr is the drop-in's, with one prefix. */
static void one_prefix(const struct run *r)
{
	for (const char *p = r->err; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		if (!strncmp(p, "kmem-malloc: ", 13)) {
			char line[1024];

			snprintf(line, sizeof(line), "%.*s", (int)len, p);
			assert_null(strstr(line + 13, "kmem-malloc:"));
			assert_null(strstr(line, "kmem: "));
		}
		p += len + (e != NULL);
	}
}

static unsigned in_program_count(const struct run *r, unsigned *total)
{
	const char *p = strstr(r->out, "addresses ");
	unsigned t = 0, g = 0;

	assert_non_null(p);
	assert_int_equal(sscanf(p, "addresses %u in-program %u", &t, &g), 2);
	*total = t;
	return g;
}

static void exited_ok(const struct run *r)
{
	assert_true(WIFEXITED(r->status));
	assert_int_equal(WEXITSTATUS(r->status), 0);
}

static const char *const debug_env[] = { "KMEM_DEBUG=all", NULL };

static void test_overflow8(void **state)
{
	static struct run r;
	unsigned total, good;

	(void)state;
	run(&r, "overflow8", debug_env);
	exited_ok(&r);
	assert_int_equal(count(r.err, "kmem-malloc: redzone of 0x"), 1);
	assert_non_null(strstr(r.err, "(block of 40 bytes)"));
	assert_non_null(strstr(r.err, "written past the size asked for at offset 40"));
	one_prefix(&r);
	good = in_program_count(&r, &total);
	assert_true(total >= 2); /* allocated by, called from */
	assert_int_equal(good, total);
}

static void test_overflow64_records_survive(void **state)
{
	static struct run r;
	unsigned total, good;
	long gap = 0;
	const char *n;

	(void)state;
	run(&r, "overflow64", debug_env);
	exited_ok(&r);
	assert_null(strstr(r.err, "7878787878787878"));
	assert_non_null(strstr(r.err, "(block of 40 bytes): written past the size asked for at offset 40"));
	assert_non_null(strstr(r.err, "allocated by 0x"));
	good = in_program_count(&r, &total);
	assert_true(total >= 2);
	assert_int_equal(good, total);
	n = strstr(r.out, "neighbour ");
	assert_non_null(n);
	gap = strtol(n + 10, NULL, 10);
	if (gap > 0 && gap <= 40 + 64 + 48) /* its records lie in the overflow's reach */
		assert_non_null(strstr(r.err, "caller records"));
	one_prefix(&r);
}

static void test_aligned_and_calloc_red_zone(void **state)
{
	static struct run r;
	unsigned total, good;

	(void)state;
	run(&r, "aligned", debug_env);
	exited_ok(&r);
	assert_int_equal(count(r.err, "(block of 40 bytes): written past the size asked for at offset 40"), 3);
	good = in_program_count(&r, &total);
	assert_true(total >= 6);
	assert_int_equal(good, total);
	one_prefix(&r);
}

static void test_callers_in_program(void **state)
{
	static struct run r;
	unsigned total, good;

	(void)state;
	run(&r, "callers", NULL);
	exited_ok(&r);
	assert_int_equal(count(r.err, "kmem-malloc: foreign-pointer of"), 2); /* free, realloc */
	assert_int_equal(count(r.err, "kmem-malloc: double-free of"), 1);    /* the page block */
	assert_non_null(strstr(r.out, "realloc refused"));
	good = in_program_count(&r, &total);
	assert_int_equal(total, 3);
	assert_int_equal(good, total);
	one_prefix(&r);
}

static void test_stats_with_stderr_closed(void **state)
{
	static struct run r;
	static const char *const env[] = { "KMEM_STATS=heap", "KMEM_CHECK=1", NULL };
	char path[] = "/tmp/kmem-report-stats-XXXXXX", file_env[64], buf[4096];
	const char *env2[3] = { "KMEM_STATS=heap", file_env, NULL };
	int fd;

	(void)state;
	run(&r, "closed", env);
	exited_ok(&r);
	assert_non_null(strstr(r.err, "kmem-malloc: heap check passed"));
	assert_non_null(strstr(r.err, "arena_bytes "));
	/* KMEM_STATS_FILE: there, not on stderr */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	snprintf(file_env, sizeof(file_env), "KMEM_STATS_FILE=%s", path);
	run(&r, "closed", env2);
	exited_ok(&r);
	slurp(fd, buf, sizeof(buf));
	unlink(path);
	assert_non_null(strstr(buf, "arena_bytes "));
	assert_null(strstr(r.err, "arena_bytes "));
}

static void test_own_descriptors(void **state)
{
	static struct run r;
	static const char *const stats[] = { "KMEM_STATS=heap", NULL };

	(void)state;
	run(&r, "fds", NULL);
	exited_ok(&r);
	assert_non_null(strstr(r.out, "high fds 0\n"));
	run(&r, "fds", stats);
	exited_ok(&r);
	assert_non_null(strstr(r.out, "high fds 1\n"));
	/* closed and reused by the program: the report and the statistics go
	 * to stderr, the program's file stays its own */
	run(&r, "reused", stats);
	exited_ok(&r);
	assert_non_null(strstr(r.out, "high fds 1\n"));
	assert_non_null(strstr(r.out, "file bytes 0\n"));
	assert_non_null(strstr(r.err, "kmem-malloc: foreign-pointer of"));
	assert_non_null(strstr(r.err, "arena_bytes "));
	one_prefix(&r);
}

static void test_invalid_values_warn(void **state)
{
	static struct run r;
	static const char *const env[] = { "KMEM_HIGH=abc", "KMEM_STATS=bogus", "KMEM_ERROR=explode",
					   "KMEM_DEBUG=typo", "KMEM_ARENA=xyz", "KMEM_CHECK=2",
					   "KMEM_REAPER=maybe", "KMEM_VERBOSE=1", NULL };
	static const char *const warn[] = { "KMEM_HIGH=abc", "KMEM_STATS=bogus", "KMEM_ERROR=explode",
					    "KMEM_DEBUG=typo", "KMEM_ARENA=xyz", "KMEM_CHECK=2",
					    "KMEM_REAPER=maybe" };

	(void)state;
	run(&r, "invalid", env);
	exited_ok(&r); /* KMEM_ERROR fell back to continue: the report did not abort */
	assert_non_null(strstr(r.out, "went on"));
	for (size_t i = 0; i < sizeof(warn) / sizeof(warn[0]); i++) {
		char w[64];
		const char *p;

		snprintf(w, sizeof(w), "kmem-malloc: warning: %s ignored (", warn[i]);
		assert_int_equal(count(r.err, w), 1);
		p = strstr(r.err, w);
		assert_non_null(strstr(p, "accepted: "));
		assert_true(strstr(p, "accepted: ") < strchr(p, '\n'));
	}
	/* the defaults */
	assert_non_null(strstr(r.err, "kmem-malloc: config: KMEM_HIGH 8 MiB"));
	assert_non_null(strstr(r.err, "kmem-malloc: config: KMEM_DEBUG none\n"));
	assert_non_null(strstr(r.err, "kmem-malloc: config: KMEM_ERROR continue\n"));
	assert_non_null(strstr(r.err, "kmem-malloc: config: KMEM_STATS none"));
	assert_non_null(strstr(r.err, "kmem-malloc: config: KMEM_CHECK 0\n"));
	assert_non_null(strstr(r.err, "kmem-malloc: config: KMEM_REAPER 1\n"));
	assert_int_equal(count(r.err, "kmem-malloc: foreign-pointer of"), 1);
	assert_null(strstr(r.err, "arena_bytes"));
	one_prefix(&r);
}

static void test_verbose_prints_configuration(void **state)
{
	static struct run r;
	static const char *const env[] = { "KMEM_VERBOSE=1", "KMEM_DEBUG=redzone,user", "KMEM_HIGH=16m",
					   "KMEM_STATS=heap", "KMEM_ERROR=quiet", "KMEM_ARENA=1g",
					   "KMEM_MAG_SIZE=auto", "KMEM_DEPOT_LIMIT=7", NULL };
	static const char *const line[] = {
		"kmem-malloc: config: KMEM_ARENA 1 GiB of address space reserved\n",
		"kmem-malloc: config: KMEM_HIGH 16 MiB of free memory kept at least\n",
		"kmem-malloc: config: KMEM_DEBUG redzone,user\n",
		"kmem-malloc: config: KMEM_ERROR quiet\n",
		"kmem-malloc: config: KMEM_CHECK 0\n",
		"kmem-malloc: config: KMEM_STATS heap (to descriptor ",
		"kmem-malloc: config: KMEM_TRACE off\n",
		"kmem-malloc: config: KMEM_REAPER 1\n",
		"kmem-malloc: config: KMEM_MAG_SIZE auto (",
		"kmem-malloc: config: KMEM_DEPOT_LIMIT 7 full magazines per class\n",
		"kmem-malloc: config: reports to descriptor ",
	};
	const char *p;

	(void)state;
	run(&r, "verbose", env);
	exited_ok(&r);
	for (size_t i = 0; i < sizeof(line) / sizeof(line[0]); i++)
		assert_int_equal(count(r.err, line[i]), 1);
	assert_null(strstr(r.err, "warning"));
	/* a descriptor of its own, high up, not stderr itself */
	p = strstr(r.err, "reports to descriptor ");
	assert_true(atoi(p + strlen("reports to descriptor ")) >= 3);
	/* without KMEM_VERBOSE: nothing */
	run(&r, "verbose", debug_env);
	exited_ok(&r);
	assert_null(strstr(r.err, "config:"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overflow8),
		cmocka_unit_test(test_overflow64_records_survive),
		cmocka_unit_test(test_aligned_and_calloc_red_zone),
		cmocka_unit_test(test_callers_in_program),
		cmocka_unit_test(test_stats_with_stderr_closed),
		cmocka_unit_test(test_own_descriptors),
		cmocka_unit_test(test_invalid_values_warn),
		cmocka_unit_test(test_verbose_prints_configuration),
	};
	ssize_t n;

	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child(argv[2]);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 77;
	self[n] = '\0';
	setvbuf(stdout, NULL, _IONBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
