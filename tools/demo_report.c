/* demo_report.c - `kmem demo --report FILE`: the demo's workload as a trace,
 * and the fragmentation lab's HTML report of it (scripts/lab-report.sh).
 *
 * What it does:
 *   1. kmem_demo_trace_open: a trace file in kmem's binary format
 *      (kmem/trace.h) under $TMPDIR (default /tmp), made with mkstemp.
 *   2. The buddy phase and the slab phase (demo.c) record every call they
 *      make as one record (kmem_demo_trace_rec): a buddy block of order k
 *      as malloc(frame << k), a failed one with ptr 0 as the drop-in traces
 *      a failed malloc; a slab object (either cache, or kmalloc) as
 *      malloc(its size); every free; the drain's frees at the end. The
 *      frame-service phase runs on an arena of its own and is not traced.
 *      One thread (tid 1), seq in call order, block ids the addresses.
 *   3. kmem_demo_report: after the demo passed, runs
 *      `sh lab-report.sh -t "kmem demo, seed N" -a ARENA TRACE FILE` (the
 *      demo's arena, so the report shows where it ran out) with KMEM set
 *      to this executable, waits for it, and removes the trace. The script is
 *      $KMEM_LAB_REPORT, or scripts/lab-report.sh two directories above this
 *      executable (build/tools/kmem in a build tree beside the sources).
 * Failure: a trace that cannot be written, a script that cannot be found or
 * exits non-zero: one error line, exit status 1 (the demo's own output is
 * unchanged before it).
 *
 * Data structures: struct demo_trace (kmem_tool.h): the open file, its
 * path, the next seq, a write error seen. Tunables: none.
 */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmem_tool.h"

extern char **environ;

int kmem_demo_trace_open(struct demo_trace *t)
{
	const char *dir = getenv("TMPDIR");
	struct kmem_trace_header h = { .version = KMEM_TRACE_VERSION,
				       .record_size = sizeof(struct kmem_trace_rec) };
	int fd;

	*t = (struct demo_trace){ 0 };
	if (!dir || !*dir)
		dir = "/tmp";
	if ((size_t)snprintf(t->path, sizeof(t->path), "%s/kmem-demo-XXXXXX", dir) >=
	    sizeof(t->path)) {
		kmem_tool_error("--report: TMPDIR too long");
		return -1;
	}
	fd = mkstemp(t->path);
	if (fd < 0 || !(t->f = fdopen(fd, "wb"))) {
		kmem_tool_file_error(t->path, "cannot create the demo's trace: %s", strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(t->path);
		}
		return -1;
	}
	memcpy(h.magic, KMEM_TRACE_MAGIC, sizeof(h.magic));
	if (fwrite(&h, sizeof(h), 1, t->f) != 1)
		t->err = true;
	return 0;
}

void kmem_demo_trace_rec(struct demo_trace *t, unsigned op, uint64_t size, const void *p)
{
	struct kmem_trace_rec r = { .op = (uint8_t)op, .tid = 1, .size = size,
				    .ptr = (uint64_t)(uintptr_t)p };

	if (!t || !t->f)
		return;
	r.seq = t->seq++;
	if (fwrite(&r, sizeof(r), 1, t->f) != 1)
		t->err = true;
}

void kmem_demo_trace_discard(struct demo_trace *t)
{
	if (t->f)
		fclose(t->f);
	t->f = NULL;
	if (t->path[0])
		unlink(t->path);
	t->path[0] = '\0';
}

/* The script: $KMEM_LAB_REPORT, or EXE_DIR/../../scripts/lab-report.sh.
 * exe receives this executable's path ("" when /proc/self/exe is not
 * readable). Returns 0, or -1 after an error line. */
static int find_script(char *script, size_t len, char *exe, size_t exe_len)
{
	const char *env = getenv("KMEM_LAB_REPORT");
	ssize_t n = readlink("/proc/self/exe", exe, exe_len - 1);
	char *slash;

	exe[n > 0 ? n : 0] = '\0';
	if (env && *env) {
		if ((size_t)snprintf(script, len, "%s", env) >= len)
			return -1;
	} else {
		slash = strrchr(exe, '/');
		if (!slash || (size_t)snprintf(script, len, "%.*s/../../scripts/lab-report.sh",
						(int)(slash - exe), exe) >= len) {
			kmem_tool_error("--report: cannot locate scripts/lab-report.sh "
					"(set KMEM_LAB_REPORT to its path)");
			return -1;
		}
	}
	if (access(script, R_OK)) {
		kmem_tool_file_error(script, "--report needs scripts/lab-report.sh: %s "
				     "(set KMEM_LAB_REPORT to its path)", strerror(errno));
		return -1;
	}
	return 0;
}

int kmem_demo_report(struct demo_trace *t, const struct demo_opts *o)
{
	char script[PATH_MAX], exe[PATH_MAX], title[64], arena[32];
	char *argv[9];
	pid_t pid;
	int status = -1, rc;

	if (!t->f || fclose(t->f) || t->err) {
		t->f = NULL;
		kmem_tool_file_error(t->path, "cannot write the demo's trace");
		kmem_demo_trace_discard(t);
		return 1;
	}
	t->f = NULL;
	if (find_script(script, sizeof(script), exe, sizeof(exe))) {
		kmem_demo_trace_discard(t);
		return 1;
	}
	snprintf(title, sizeof(title), "kmem demo, seed %llu", (unsigned long long)o->seed);
	/* the demo's own arena, so the report shows where it ran out */
	snprintf(arena, sizeof(arena), "%lluK", (unsigned long long)(o->arena >> 10));
	if (exe[0])
		setenv("KMEM", exe, 1);
	argv[0] = (char *)"sh";
	argv[1] = script;
	argv[2] = (char *)"-t";
	argv[3] = title;
	argv[4] = (char *)"-a";
	argv[5] = arena;
	argv[6] = t->path;
	argv[7] = (char *)o->report;
	argv[8] = NULL;
	fflush(stdout);
	rc = posix_spawnp(&pid, "sh", NULL, NULL, argv, environ);
	if (rc) {
		kmem_tool_error("--report: cannot run sh: %s", strerror(rc));
		kmem_demo_trace_discard(t);
		return 1;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	kmem_demo_trace_discard(t);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		kmem_tool_file_error(o->report, "lab-report.sh failed (status %d)",
				     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return 1;
	}
	return 0;
}
