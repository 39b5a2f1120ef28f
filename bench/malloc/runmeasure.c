/*
 * runmeasure: run a command and report its wall time and peak RSS.
 *
 * Forks, sets the requested environment in the child only (so an
 * LD_PRELOADed allocator applies to the measured program, not to this
 * helper), execs the command and waits for it with wait4(), whose rusage
 * gives the child's ru_maxrss (peak resident set, KiB) and CPU times. The
 * child inherits stdin, stdout and stderr. Used by scripts/bench-malloc.sh
 * instead of /usr/bin/time (which may be missing).
 *
 * usage: runmeasure [-o FILE] [-t SECONDS] [-e NAME=VALUE]... [-u NAME]... [--] COMMAND [ARG]...
 *   -o FILE     write the report to FILE instead of stderr
 *   -t SECONDS  kill the command (SIGKILL) after SECONDS of wall time
 *   -e NAME=VALUE, -u NAME   set / unset a variable in the command's environment
 * Report (one line):
 *   wall_s=1.234567 user_s=1.200000 sys_s=0.030000 maxrss_kib=12345 minflt=678 status=exit:0
 * status is exit:N, signal:N or timeout. Exit status: the command's, 128+N
 * if it was killed by signal N, 124 on timeout, 125/127 if it could not be
 * run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;
static volatile pid_t child;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (child > 0)
		kill(child, SIGKILL);
}

static void usage(void)
{
	fputs("usage: runmeasure [-o FILE] [-t SECONDS] [-e NAME=VALUE]... [-u NAME]... "
	      "[--] COMMAND [ARG]...\n",
	      stderr);
	exit(125);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	unsigned timeout = 0;
	int argi = 1;
	/* environment edits are applied in the child, in order */
	char **edits = calloc((size_t)argc, sizeof *edits);
	int nedits = 0;
	if (edits == NULL)
		return 125;

	for (; argi < argc; argi++) {
		const char *a = argv[argi];
		if (strcmp(a, "--") == 0) {
			argi++;
			break;
		}
		if (a[0] != '-')
			break;
		if (argi + 1 >= argc)
			usage();
		if (strcmp(a, "-o") == 0) {
			out = argv[++argi];
		} else if (strcmp(a, "-t") == 0) {
			char *end;
			unsigned long t = strtoul(argv[++argi], &end, 10);
			if (*end != '\0' || t > 1000000)
				usage();
			timeout = (unsigned)t;
		} else if (strcmp(a, "-e") == 0) {
			if (strchr(argv[argi + 1], '=') == NULL)
				usage();
			edits[nedits++] = argv[++argi];
		} else if (strcmp(a, "-u") == 0) {
			edits[nedits++] = argv[++argi];
		} else {
			usage();
		}
	}
	if (argi >= argc)
		usage();

	/* the child reports an exec failure through this pipe (close-on-exec) */
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		perror("runmeasure: pipe2");
		return 125;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL); /* no SA_RESTART: wait4 sees EINTR */

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid_t pid = fork();
	if (pid < 0) {
		perror("runmeasure: fork");
		return 125;
	}
	if (pid == 0) {
		close(pfd[0]);
		for (int i = 0; i < nedits; i++) {
			char *eq = strchr(edits[i], '=');
			int r;
			if (eq != NULL) {
				*eq = '\0';
				r = setenv(edits[i], eq + 1, 1);
			} else {
				r = unsetenv(edits[i]);
			}
			if (r != 0)
				_exit(125);
		}
		execvp(argv[argi], &argv[argi]);
		int e = errno;
		ssize_t w = write(pfd[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	child = pid;
	close(pfd[1]);
	if (timeout > 0)
		alarm(timeout);

	int status = 0;
	struct rusage ru;
	for (;;) {
		pid_t r = wait4(pid, &status, 0, &ru);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			perror("runmeasure: wait4");
			return 125;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	alarm(0);

	int exec_errno = 0;
	if (read(pfd[0], &exec_errno, sizeof exec_errno) == (ssize_t)sizeof exec_errno) {
		fprintf(stderr, "runmeasure: %s: %s\n", argv[argi], strerror(exec_errno));
		return 127;
	}
	close(pfd[0]);

	double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	char st[32];
	int rc;
	if (timed_out) {
		snprintf(st, sizeof st, "timeout");
		rc = 124;
	} else if (WIFSIGNALED(status)) {
		snprintf(st, sizeof st, "signal:%d", WTERMSIG(status));
		rc = 128 + WTERMSIG(status);
	} else {
		snprintf(st, sizeof st, "exit:%d", WEXITSTATUS(status));
		rc = WEXITSTATUS(status);
	}
	FILE *f = stderr;
	if (out != NULL) {
		f = fopen(out, "w");
		if (f == NULL) {
			perror(out);
			return 125;
		}
	}
	fprintf(f, "wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kib=%ld minflt=%ld status=%s\n",
		wall, tv_s(ru.ru_utime), tv_s(ru.ru_stime), ru.ru_maxrss, ru.ru_minflt, st);
	if (f != stderr && fclose(f) != 0) {
		perror(out);
		return 125;
	}
	free(edits);
	return rc;
}
