/* test_aslimit.c - the drop-in heap under an address-space limit (RLIMIT_AS,
 * `ulimit -v`), and the whole documented arena without one (issue 13;
 * decision 17). glibc's tst-malloc-thread-fail scenario, written for kmem.
 *
 * One program, one scenario per run (argv[1]); tests/dropin/meson.build runs
 * each linked with libkmem-malloc.a and again with the preload
 * (KMEM_DROPIN_PRELOAD: the program re-executes itself with LD_PRELOAD).
 * Every limit is set in a child process; a watchdog (alarm) bounds each run.
 *
 *   runtime    the heap is set up (the constructor) with no limit; a child
 *              lowers RLIMIT_AS to what it maps now plus 128 MiB, then for
 *              each size (144 bytes, 4 KiB, 17 pages, 1 MiB, 48 MiB huge):
 *              allocates to exhaustion (NULL with ENOMEM, no crash), frees
 *              everything, creates 8 threads (256 KiB stacks: the address
 *              space must be back) that each allocate to exhaustion and free
 *              again, and checks the heap.
 *   startup    a child sets RLIMIT_AS to 100 MiB and executes the program
 *              again, so the heap is set up under the limit: the first
 *              malloc succeeds, then the same exhaustion rounds.
 *   startup64  the same at 64 MiB.
 *   programs   python3 and bash (when installed) start under RLIMIT_AS
 *              400 MB with the preload and python3 allocates a 150 MiB
 *              bytearray, as with glibc (preload build only; 77 otherwise).
 *   ceiling    no limit: 4 MiB page blocks, the largest (decision 38; one
 *              page touched each) until malloc
 *              fails: the whole 64 GiB arena is handed out (the buddy's 64
 *              regions no longer cap it at about 52 GiB). Skipped (77) under
 *              vm.overcommit_memory=2, which charges MAP_NORESERVE mappings.
 *
 * Exit 0 on success, 1 on a failure (one line on stderr), 77 to skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kmem/malloc.h>

#include "dropin_util.h"

/* weak: the plain build gets it from the preloaded library */
#pragma weak kmem_malloc_check

#define MiB ((size_t)1 << 20)

static const char *scenario = "?";

static void fail(const char *what)
{
	say("test_aslimit ");
	say(scenario);
	say(": ");
	say(what);
	say("\n");
	_exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	fail("the watchdog fired (an allocation or a thread never finished)");
}

/* Wait for pid: its exit status (128 + signal if killed). */
static int reap(pid_t pid)
{
	int st;
	pid_t r;

	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid)
		fail("waitpid failed");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void set_limit(size_t bytes)
{
	struct rlimit r = { bytes, bytes };

	if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_max != RLIM_INFINITY && r.rlim_max < bytes)
		bytes = r.rlim_max;
	r.rlim_cur = bytes;
	if (setrlimit(RLIMIT_AS, &r) != 0)
		fail("setrlimit(RLIMIT_AS)");
}

/* Bytes mapped by this process now (/proc/self/statm's size). */
static size_t mapped_bytes(void)
{
	unsigned long size = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%lu", &size) != 1)
		fail("cannot read /proc/self/statm");
	fclose(f);
	return (size_t)size * (size_t)sysconf(_SC_PAGESIZE);
}

/* ---- exhaustion rounds ------------------------------------------------------------------------ */

static size_t round_size;
static size_t round_total;	/* blocks all threads got in a threaded round (atomic) */
static pthread_barrier_t start_barrier, end_barrier;

/* Allocate round_size blocks (each written at its start) until malloc fails, which must
 * be with ENOMEM; wait for the others; free them all. Returns the count. */
static size_t exhaust(bool wait)
{
	void **head = NULL;
	size_t n = 0;

	for (;;) {
		void **e;

		errno = 0;
		e = malloc(hide(round_size));
		if (!e)
			break;
		*e = head; /* its first page touched */
		head = e;
		n++;
	}
	if (errno != ENOMEM)
		fail("malloc failed without ENOMEM");
	if (wait)
		(void)pthread_barrier_wait(&end_barrier);
	while (head) {
		void **next = *head;

		free(head);
		head = next;
	}
	return n;
}

static void *thread_main(void *arg)
{
	(void)arg;
	(void)pthread_barrier_wait(&start_barrier);
	__atomic_fetch_add(&round_total, exhaust(true), __ATOMIC_RELAXED);
	return NULL;
}

enum { THREADS = 8 };

/* One size: exhaust alone, free, then THREADS threads and this one exhaust
 * together (glibc's tst-malloc-thread-fail), then the heap is checked. */
static void round_of(size_t size)
{
	pthread_t t[THREADS];
	pthread_attr_t small_stack;
	size_t n;

	round_size = size;
	n = exhaust(false);
	if (n == 0 && size <= MiB) /* a huge block may not fit at 64 MiB */
		fail("not one block before the limit");
	if (pthread_attr_init(&small_stack) || pthread_attr_setstacksize(&small_stack, 256 << 10))
		fail("pthread_attr");
	if (pthread_barrier_init(&start_barrier, NULL, THREADS + 1) ||
	    pthread_barrier_init(&end_barrier, NULL, THREADS + 1))
		fail("pthread_barrier_init");
	for (int i = 0; i < THREADS; i++) {
		int err = pthread_create(&t[i], &small_stack, thread_main, NULL);

		if (err) {
			errno = err;
			fail(err == EAGAIN ? "pthread_create: EAGAIN after everything was freed "
					     "(the heap kept the address space)"
					   : "pthread_create failed");
		}
	}
	round_total = 0;
	(void)pthread_barrier_wait(&start_barrier);
	__atomic_fetch_add(&round_total, exhaust(true), __ATOMIC_RELAXED);
	for (int i = 0; i < THREADS; i++)
		if (pthread_join(t[i], NULL))
			fail("pthread_join");
	if (round_total == 0 && size <= MiB)
		fail("not one block in the threaded round");
	pthread_barrier_destroy(&start_barrier);
	pthread_barrier_destroy(&end_barrier);
	pthread_attr_destroy(&small_stack);
	if (kmem_malloc_check && kmem_malloc_check() != 0)
		fail("kmem_malloc_check after the round");
}

static void rounds(void)
{
	static const size_t sizes[] = { 144, 4096, 17 * 4096, MiB, 48 * MiB };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		round_of(sizes[i]);
}

/* ---- scenarios -------------------------------------------------------------------------------- */

static void run_runtime(void)
{
	pid_t pid = fork();

	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		set_limit(mapped_bytes() + 128 * MiB);
		rounds();
		_exit(0);
	}
	if (reap(pid) != 0)
		fail("the child under the lowered limit failed (its line above, or a signal)");
}

static void run_startup(size_t limit, char **argv)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		char *args[] = { argv[0], (char *)"startup-child", NULL };

		set_limit(limit);
		execv("/proc/self/exe", args);
		_exit(2);
	}
	st = reap(pid);
	if (st != 0) {
		char line[96];

		snprintf(line, sizeof(line), "the program started under the limit failed (status %d%s)",
			 st, st > 128 ? ": killed by that signal + 128" : "");
		fail(line);
	}
}

/* The program again, set up under the limit its parent set. */
static void run_startup_child(void)
{
	void *p = malloc(hide(100));
	void *q = malloc(hide(MiB));

	if (!p || !q)
		fail("the first malloc under the limit failed");
	free(q);
	free(p);
	rounds();
}

/* Run argv with the preload under a limit; its exit status (127: not run). */
static int run_limited(const char *pre, size_t limit, char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			(void)dup2(fd, 1);
		setenv("LD_PRELOAD", pre, 1);
		set_limit(limit);
		execvp(argv[0], argv);
		_exit(127);
	}
	return reap(pid);
}

static int run_programs(const char *pre)
{
	char *py[] = { (char *)"python3", (char *)"-c",
		       (char *)"x = bytearray(150 << 20); x[-1] = 1; print(len(x))", NULL };
	char *sh[] = { (char *)"bash", (char *)"-c",
		       (char *)"x=$(seq 1 20000); echo ${#x}", NULL };
	int ran = 0, r;

	if (!pre || !*pre)
		return 77; /* the static build: nothing to preload into another program */
	r = run_limited(pre, 400000 * 1024ul, py);
	if (r != 127) {
		if (r != 0)
			fail("python3 under RLIMIT_AS 400000 KiB with the preload");
		ran++;
	}
	r = run_limited(pre, 200000 * 1024ul, sh);
	if (r != 127) {
		if (r != 0)
			fail("bash under RLIMIT_AS 200000 KiB with the preload");
		ran++;
	}
	return ran ? 0 : 77;
}

static int run_ceiling(void)
{
	size_t n = 0, want = (size_t)64 << 30;
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
	int mode = 0;
	void **head = NULL;

	if (f) {
		if (fscanf(f, "%d", &mode) != 1)
			mode = 0;
		fclose(f);
	}
	if (mode == 2 || getenv("KMEM_ARENA"))
		return 77;
	for (;;) {
		void **e = malloc(hide(4 * MiB));

		if (!e)
			break;
		*e = head; /* one page touched per block */
		head = e;
		n++;
	}
	/* a few frames of the arena hold the layers' own metadata */
	if (n * 4 * MiB < want - 64 * MiB) {
		char line[160];

		snprintf(line, sizeof(line), "only %zu MiB of the 64 GiB arena in 4 MiB blocks",
			 n * 4);
		fail(line);
	}
	while (head) {
		void **next = *head;

		free(head);
		head = next;
	}
	if (kmem_malloc_check && kmem_malloc_check() != 0)
		fail("kmem_malloc_check after the ceiling");
	return 0;
}

int main(int argc, char **argv)
{
	const char *pre = getenv("KMEM_DROPIN_PRELOAD");
	const char *in_use = getenv("LD_PRELOAD");

	if (argc != 2) {
		say("usage: test-dropin-aslimit SCENARIO\n");
		return 1;
	}
	scenario = argv[1];
	if (pre && *pre) {
		/* the plain build: run again with the drop-in preloaded */
		if (setenv("LD_PRELOAD", pre, 1) || unsetenv("KMEM_DROPIN_PRELOAD"))
			fail("setenv");
		execv("/proc/self/exe", argv);
		fail("execv /proc/self/exe");
	}
	free(malloc(hide(1)));
	if (!kmem_malloc_check || kmem_malloc_check() == -EAGAIN)
		fail("the drop-in is not in use");
	signal(SIGALRM, on_alarm);
	alarm(100);
	if (!strcmp(scenario, "runtime"))
		run_runtime();
	else if (!strcmp(scenario, "startup"))
		run_startup(100 * MiB, argv);
	else if (!strcmp(scenario, "startup64"))
		run_startup(64 * MiB, argv);
	else if (!strcmp(scenario, "startup-child"))
		run_startup_child();
	else if (!strcmp(scenario, "programs"))
		return run_programs(in_use);
	else if (!strcmp(scenario, "ceiling"))
		return run_ceiling();
	else
		fail("unknown scenario");
	return 0;
}
