/* test_fork.c - fork never deadlocks with the drop-in linked in, and the
 * child can allocate at once (issue 13; glibc's tst-mallocfork*,
 * tst-malloc-fork-deadlock scenarios, written for kmem).
 *
 * One program, one scenario per run (argv[1]); tests/dropin/meson.build runs
 * each as its own test, linked with libkmem-malloc.a and again with the
 * preload (KMEM_DROPIN_PRELOAD: the program re-executes itself with
 * LD_PRELOAD). Every scenario is bounded by a watchdog (alarm: SIGALRM
 * reports "deadlock" and exits 1) under the meson timeout; signal-in-fork's
 * watchdog fires after 60 s, or 30 s without a completed round.
 *
 *   signal-in-fork  tst-mallocfork: a one-thread process forks, the child
 *                   sends SIGUSR1 back, the handler forks again (often while
 *                   the first fork is still running its handlers); 2000 times.
 *   signal-storm    tst-mallocfork2: other processes send SIGUSR1 in a loop
 *                   while a one-thread process forks, frees and allocates;
 *                   the handler forks (a trivial child). A signal can
 *                   interrupt malloc itself: fork must not wait for it.
 *   stdio           tst-malloc-fork-deadlock (glibc bug 19431): getline
 *                   threads (FILE lock held, allocating), an fflush(NULL)
 *                   thread (stdio list lock held, waiting for FILE locks),
 *                   malloc/free threads and a forking thread whose children
 *                   allocate and check the heap.
 *   threads         fork while threads allocate and free every size (slab,
 *                   page blocks, huge mappings); the child checks the heap,
 *                   allocates at once, starts a thread and forks again.
 *   single          fork in a one-thread process: the child allocates at
 *                   once, checks the heap, forks a grandchild that does too.
 *   spawn           vfork+_exit, vfork+exec and posix_spawn while threads
 *                   allocate.
 *   reaper          the release step's reaper thread (decision 29: started
 *                   by the first free that leaves memory to decay, run with
 *                   KMEM_DECAY_MS=300 so it works all along) is there
 *                   while a one-thread program forks; the child frees
 *                   enough to start its own and allocates, the parent
 *                   goes on decaying.
 *   fork-signal-mt  tst-mallocfork3: threads send SIGUSR1 to the main thread
 *                   while it forks (with _Fork), frees and allocates; the
 *                   handler calls _Fork (async-signal-safe, no fork
 *                   handlers: kmem must not need them for a child that
 *                   only _exits).
 *
 * Exit 0 on success, 1 on a failure (one line on stderr), 77 to skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kmem/malloc.h>

#include "dropin_util.h"

/* weak: the plain build gets it from the preloaded library */
#pragma weak kmem_malloc_check

extern char **environ;

static const char *scenario = "?";

/* ---- helpers --------------------------------------------------------------------------------- */

static void fail(const char *what)
{
	say("test_fork ");
	say(scenario);
	say(": ");
	say(what);
	say("\n");
	_exit(1);
}

/* Rounds a scenario completed (those that count them): the watchdog fires
 * when a whole period passes without one, so a slow machine (a loaded CI
 * runner, where 2000 forks can take minutes) is not taken for a deadlock. */
static volatile sig_atomic_t progress, progress_seen;

static void on_alarm(int sig)
{
	(void)sig;
	if (progress != progress_seen) {
		progress_seen = progress;
		alarm(30);
		return;
	}
	fail("deadlock: the watchdog fired (a fork or an allocation never returned)");
}

/* Wait for pid; fail unless it exited with 0. */
static void reap(pid_t pid, const char *what)
{
	int st;
	pid_t r;

	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid)
		fail("waitpid failed");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		say(what);
		say(": ");
		fail(WIFSIGNALED(st) ? "child killed by a signal" : "child exited with a failure");
	}
}

static uint32_t rnd(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* In a child: allocate and free at once (every size class family), check the
 * heap. Returns false on a failure. */
static bool child_allocates(bool check)
{
	static const size_t sizes[] = { 1, 16, 48, 200, 1000, 4096, 9000, 70000, 300000, 40u << 20 };
	void *p[sizeof(sizes) / sizeof(sizes[0])];

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		p[i] = malloc(hide(sizes[i]));
		if (!p[i])
			return false;
		memset(p[i], 0x5a, sizes[i] < 4096 ? sizes[i] : 4096);
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		free(p[i]);
	return !check || !kmem_malloc_check || kmem_malloc_check() == 0;
}

static atomic_bool stop;

/* ---- signal-in-fork (tst-mallocfork) ------------------------------------------------------------ */

static volatile sig_atomic_t handler_failed;

/* In a signal handler, after its fork: wait for the child (pid < 0: the
 * fork failed) and set handler_failed unless it exited with 0.
 * Async-signal-safe (waitpid only). */
static void handler_reap(pid_t pid)
{
	int st;
	pid_t r;

	if (pid < 0) {
		handler_failed = 1;
		return;
	}
	do
		r = waitpid(pid, &st, 0);
	while (r < 0 && errno == EINTR);
	if (r != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		handler_failed = 1;
}

static void fork_in_handler(int sig)
{
	int saved = errno;
	pid_t pid;

	(void)sig;
	pid = fork();
	if (pid == 0) {
		/* the interrupted fork was not inside malloc: the heap is
		 * consistent and this child may allocate */
		void *p = malloc(hide(100));

		free(p);
		_exit(p ? 0 : 1);
	}
	handler_reap(pid);
	errno = saved;
}

static void install(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		fail("sigaction");
}

static void run_signal_in_fork(void)
{
	free(malloc(hide(sizeof(int)))); /* the heap is set up */
	install(SIGUSR1, fork_in_handler);
	for (int i = 0; i < 2000; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			if (kill(getppid(), SIGUSR1))
				_exit(1);
			_exit(0);
		}
		if (pid < 0)
			fail("fork");
		reap(pid, "signalling child");
		if (handler_failed)
			fail("the fork in the signal handler failed");
		progress = progress + 1;
	}
}

/* ---- signal-storm (tst-mallocfork2) -------------------------------------------------------------- */

static void trivial_fork_in_handler(int sig)
{
	int saved = errno;
	pid_t pid;

	(void)sig;
	pid = fork();
	if (pid == 0)
		_exit(0); /* the signal may have interrupted malloc: nothing else here */
	handler_reap(pid);
	errno = saved;
}

enum { STORM_OBJECTS = 1009, STORM_SENDERS = 2 };

static atomic_uint *gen; /* the iteration number, shared with the senders */

/* A signal sender: one SIGUSR1 per new *gen, to process pid (tid 0) or to
 * thread tid of this process; returns (threads) or exits (processes) when
 * the target is gone or stop is set. */
static void send_per_iteration(pid_t pid, pid_t tid)
{
	unsigned last = atomic_load(gen);

	for (;;) {
		unsigned now;

		while ((now = atomic_load(gen)) == last) {
			if (atomic_load(&stop) || (!tid && getppid() != pid))
				goto out;
			sched_yield();
		}
		last = now;
		if (tid ? (int)syscall(SYS_tgkill, pid, tid, SIGUSR1) : kill(pid, SIGUSR1))
			goto out;
	}
out:
	if (!tid)
		_exit(0);
}

/* The storm's main loop (tst-mallocfork2 and -3): replace a random object
 * each iteration, and fork (with `forker`) now and then, while signals whose
 * handlers fork arrive; the generation counter tells the senders to go on. */
static void storm_loop(void **obj, unsigned iterations, uint32_t *seed, pid_t (*forker)(void),
		       const char *what)
{
	for (unsigned i = 0; i < iterations; i++) {
		unsigned slot = rnd(seed) % STORM_OBJECTS;
		size_t size = rnd(seed) % 70000;

		atomic_fetch_add(gen, 1);
		if (rnd(seed) % 7 == 0) {
			pid_t pid = forker();

			if (pid == 0)
				_exit(0);
			if (pid < 0)
				fail(what);
			reap(pid, "forked child");
		}
		free(obj[slot]);
		obj[slot] = malloc(size);
		if (handler_failed)
			fail("the fork in the signal handler failed");
		if (!obj[slot])
			fail("malloc returned NULL");
	}
}

static void run_signal_storm(unsigned iterations)
{
	static void *obj[STORM_OBJECTS];
	pid_t sender[STORM_SENDERS];
	pid_t me = getpid();
	uint32_t seed = 1;

	/* one signal per sender and iteration (glibc's test uses a barrier):
	 * the main loop bumps *gen, each sender sends once per new value */
	gen = mmap(NULL, sizeof(*gen), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (gen == MAP_FAILED)
		fail("mmap");
	install(SIGUSR1, trivial_fork_in_handler);
	for (int i = 0; i < STORM_SENDERS; i++) {
		sender[i] = fork();
		if (sender[i] == 0)
			send_per_iteration(me, 0);
		if (sender[i] < 0)
			fail("fork");
	}
	storm_loop(obj, iterations, &seed, fork, "fork");
	install(SIGUSR1, SIG_IGN);
	for (int i = 0; i < STORM_SENDERS; i++) {
		kill(sender[i], SIGKILL);
		while (waitpid(sender[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (unsigned i = 0; i < STORM_OBJECTS; i++)
		free(obj[i]);
	if (kmem_malloc_check && kmem_malloc_check())
		fail("heap check after the storm");
}

/* ---- stdio (tst-malloc-fork-deadlock, glibc bug 19431) -------------------------------------------- */

static void *getline_thread(void *arg)
{
	/* lines of growing length, so getline reallocates with the FILE locked */
	static char text[64 * 1024];
	uint32_t seed = (uint32_t)(uintptr_t)arg;
	size_t at = 0;

	while (at + 2 < sizeof(text)) {
		size_t len = 1 + rnd(&seed) % 3000;

		if (at + len + 1 >= sizeof(text))
			break;
		memset(text + at, 'a' + (int)(len % 26), len);
		text[at + len] = '\n';
		at += len + 1;
	}
	while (!atomic_load(&stop)) {
		FILE *f = fmemopen(text, at, "r");
		char *line = NULL;
		size_t cap = 0;

		if (!f)
			fail("fmemopen");
		while (!atomic_load(&stop) && getline(&line, &cap, f) > 0) {
			free(line); /* the next getline allocates again */
			line = NULL;
			cap = 0;
		}
		free(line);
		fclose(f);
	}
	return NULL;
}

static void *flush_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		fflush(NULL);
	return NULL;
}

static void *churn_thread(void *arg)
{
	uint32_t seed = (uint32_t)(uintptr_t)arg;
	void *keep[64] = { 0 };

	while (!atomic_load(&stop)) {
		unsigned i = rnd(&seed) % 64;
		size_t size = rnd(&seed) % 4 == 0 ? 1 + rnd(&seed) % 200000 : 1 + rnd(&seed) % 512;

		free(keep[i]);
		keep[i] = malloc(size);
		if (keep[i])
			memset(keep[i], 1, size < 64 ? size : 64);
	}
	for (unsigned i = 0; i < 64; i++)
		free(keep[i]);
	return NULL;
}

static void start(pthread_t *t, void *(*fn)(void *), uintptr_t arg)
{
	if (pthread_create(t, NULL, fn, (void *)arg))
		fail("pthread_create");
}

static void run_stdio(double seconds)
{
	enum { READERS = 4, CHURN = 2 };
	pthread_t t[READERS + 1 + CHURN];
	unsigned n = 0;
	struct timespec t0, now;
	unsigned forks = 0;

	for (unsigned i = 0; i < READERS; i++)
		start(&t[n++], getline_thread, 17 + i);
	start(&t[n++], flush_thread, 0);
	for (unsigned i = 0; i < CHURN; i++)
		start(&t[n++], churn_thread, 101 + i);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		pid_t pid = fork();

		if (pid == 0) {
			/* other threads' FILE locks and stdio are off limits
			 * here; the heap is not */
			_exit(child_allocates(true) ? 0 : 1);
		}
		if (pid < 0)
			fail("fork");
		reap(pid, "forked child");
		forks++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) * 1e-9 < seconds ||
		 forks < 20);
	atomic_store(&stop, true);
	for (unsigned i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* ---- threads ---------------------------------------------------------------------------------- */

static void *grandchild_thread(void *arg)
{
	(void)arg;
	return child_allocates(false) ? NULL : (void *)1;
}

static void run_threads(unsigned rounds)
{
	enum { CHURN = 3 };
	pthread_t t[CHURN];

	for (unsigned i = 0; i < CHURN; i++)
		start(&t[i], churn_thread, 7 + i);
	for (unsigned r = 0; r < rounds; r++) {
		pid_t pid = fork();

		if (pid == 0) {
			pthread_t g;
			void *ret = (void *)1;
			pid_t gp;

			if (!child_allocates(true))
				_exit(2);
			/* the child is a process like any other: threads, forks */
			if (pthread_create(&g, NULL, grandchild_thread, NULL) ||
			    pthread_join(g, &ret) || ret)
				_exit(3);
			gp = fork();
			if (gp == 0)
				_exit(child_allocates(true) ? 0 : 1);
			if (gp < 0)
				_exit(4);
			reap(gp, "grandchild");
			_exit(0);
		}
		if (pid < 0)
			fail("fork");
		reap(pid, "forked child");
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < CHURN; i++)
		pthread_join(t[i], NULL);
	if (kmem_malloc_check && kmem_malloc_check())
		fail("heap check in the parent");
}

/* ---- single ----------------------------------------------------------------------------------- */

static void run_single(unsigned rounds)
{
	void *keep = malloc(hide(12345));

	for (unsigned r = 0; r < rounds; r++) {
		pid_t pid = fork();

		if (pid == 0) {
			pid_t gp;

			free(keep);
			if (!child_allocates(true))
				_exit(2);
			gp = fork();
			if (gp == 0)
				_exit(child_allocates(true) ? 0 : 1);
			if (gp < 0)
				_exit(4);
			reap(gp, "grandchild");
			_exit(0);
		}
		if (pid < 0)
			fail("fork");
		reap(pid, "forked child");
	}
	free(keep);
	if (!child_allocates(true))
		fail("the parent cannot allocate after the forks");
}

/* ---- reaper ----------------------------------------------------------------------------------- */

/* Threads in this process (/proc/self/status), 0 if unknown. */
static unsigned thread_count(void)
{
	char line[128];
	unsigned n = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %u", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* 24 MiB in 1 MiB blocks, written, freed: more than the 10 MiB that starts
 * the release step's reaper. */
static void free_big(void)
{
	void *b[24];

	for (int i = 0; i < 24; i++) {
		b[i] = malloc(hide((size_t)1 << 20));
		if (!b[i])
			fail("malloc(1 MiB)");
		memset(b[i], i, (size_t)1 << 20);
	}
	for (int i = 0; i < 24; i++)
		free(b[i]);
}

static void run_reaper(unsigned rounds)
{
	unsigned most = 0;

	for (unsigned r = 0; r < rounds; r++) {
		pid_t pid;
		unsigned t;

		free_big();
		t = thread_count();
		if (t > most)
			most = t;
		pid = fork();
		if (pid == 0) {
			free_big(); /* the child's own reaper (the parent's did not come along) */
			if (!child_allocates(true))
				_exit(2);
			_exit(0);
		}
		if (pid < 0)
			fail("fork");
		reap(pid, "forked child");
		progress++;
		{
			struct timespec ts = { 0, 20000000 }; /* let the epochs pass */

			nanosleep(&ts, NULL);
		}
	}
	if (!child_allocates(true))
		fail("the parent cannot allocate after the forks");
	if (thread_count() && most < 2)
		fail("no reaper thread ran while the program freed memory to decay");
}

/* ---- spawn ------------------------------------------------------------------------------------ */

static void run_spawn(unsigned rounds)
{
	enum { CHURN = 3 };
	pthread_t t[CHURN];
	char *argv_true[] = { (char *)"true", NULL };

	for (unsigned i = 0; i < CHURN; i++)
		start(&t[i], churn_thread, 31 + i);
	for (unsigned r = 0; r < rounds; r++) {
		pid_t pid;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		pid = vfork();
#pragma GCC diagnostic pop
		if (pid == 0)
			_exit(0);
		if (pid < 0)
			fail("vfork");
		reap(pid, "vfork child");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
		pid = vfork();
#pragma GCC diagnostic pop
		if (pid == 0) {
			execve("/bin/true", argv_true, environ);
			_exit(127);
		}
		if (pid < 0)
			fail("vfork");
		reap(pid, "vfork+exec child");
		if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv_true, environ))
			fail("posix_spawn");
		reap(pid, "posix_spawn child");
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < CHURN; i++)
		pthread_join(t[i], NULL);
}

/* ---- fork-signal-mt (tst-mallocfork3) --------------------------------------------------------------- */

#ifdef TEST_HAVE_UNDERSCORE_FORK
static void underscore_fork_in_handler(int sig)
{
	int saved = errno;
	pid_t pid;

	(void)sig;
	pid = _Fork();
	if (pid == 0)
		_exit(0);
	handler_reap(pid);
	errno = saved;
}

static pid_t main_tid;

static void *signal_thread(void *arg)
{
	(void)arg;
	send_per_iteration(getpid(), main_tid);
	return NULL;
}

static void run_fork_signal_mt(unsigned iterations)
{
	enum { SENDERS = STORM_SENDERS };
	static void *obj[STORM_OBJECTS];
	static atomic_uint counter;
	pthread_t t[SENDERS];
	uint32_t seed = 1;

	gen = &counter;
	main_tid = (pid_t)syscall(SYS_gettid);
	install(SIGUSR1, underscore_fork_in_handler);
	for (unsigned i = 0; i < SENDERS; i++)
		start(&t[i], signal_thread, i);
	storm_loop(obj, iterations, &seed, _Fork, "_Fork");
	atomic_store(&stop, true);
	for (unsigned i = 0; i < SENDERS; i++)
		pthread_join(t[i], NULL);
	install(SIGUSR1, SIG_IGN);
	for (unsigned i = 0; i < STORM_OBJECTS; i++)
		free(obj[i]);
	if (kmem_malloc_check && kmem_malloc_check())
		fail("heap check after the storm");
}
#endif

/* ---- main ------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *pre = getenv("KMEM_DROPIN_PRELOAD");

	if (argc != 2) {
		say("usage: test-dropin-fork SCENARIO\n");
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
	if (!getenv("TEST_FORK_ANY_MALLOC") && (!kmem_malloc_check || kmem_malloc_check() == -EAGAIN))
		fail("the drop-in is not in use");
	install(SIGALRM, on_alarm);
	alarm(60);
	if (!strcmp(scenario, "signal-in-fork"))
		run_signal_in_fork();
	else if (!strcmp(scenario, "signal-storm"))
		run_signal_storm(1500);
	else if (!strcmp(scenario, "stdio"))
		run_stdio(4.0);
	else if (!strcmp(scenario, "threads"))
		run_threads(60);
	else if (!strcmp(scenario, "single"))
		run_single(200);
	else if (!strcmp(scenario, "spawn"))
		run_spawn(100);
	else if (!strcmp(scenario, "reaper"))
		run_reaper(25);
	else if (!strcmp(scenario, "fork-signal-mt"))
#ifdef TEST_HAVE_UNDERSCORE_FORK
		run_fork_signal_mt(1500);
#else
		return 77;
#endif
	else
		fail("unknown scenario");
	return 0;
}
