/* heap.c - the drop-in's heap set-up: the environment (KMEM_* variables),
 * the arena reservation, the layers (buddy, frame service, slab and its
 * size-class caches), lazy initialisation on the first call, the bootstrap
 * arena for calls made during set-up, error reports, and the fork handlers.
 *
 * Set-up: the first call (or the constructor) runs km_setup once, with
 * km.state 0 -> 1 -> 2 (ready) or -1 (failed); calls made from inside the
 * set-up (km_in_init) and calls racing with it get bootstrap blocks or wait.
 * The arena (KMEM_ARENA) and its owner table are placed
 * (kmem_pages_place: an address range where nothing is mapped, which costs
 * nothing; grow maps pieces of both, and free blocks are unmapped again
 * under an address-space limit: decision 17); where no range can be
 * placed, they are reserved as before (kmem_pages_reserve: the arena
 * halved until the reservation succeeds, from half of RLIMIT_AS under a
 * limit; the owner table committed whole, its pages touched as used).
 * Every OS call goes through the port layer
 * (common/kmem_thread.h), fork handlers too. The layers' policy is
 * kmem_stack_config_malloc's (kmem/stack.h; `kmem replay --heap dropin`
 * builds the same): 32 size classes, slabs packed to 1/32 waste, and the
 * frame service with KMEM_PA_RELEASE: free memory beyond what the release
 * policy keeps goes back to the system, and fresh regions start in its
 * released pool.
 *
 * Environment: every KMEM_* value is validated (env_size, env_words,
 * env_choice); one that does not parse gets one warning naming the variable
 * and the accepted values, and the default. KMEM_VERBOSE=1 prints the
 * effective configuration once the heap is set up.
 *
 * Reports (km_report): one line, one prefix, the size the program asked for
 * and its callers (the exported entry points pass their return address
 * down), each address symbolised with dladdr; written, with the warnings and
 * the exit statistics, to km.report_fd: stderr, or with KMEM_STATS or
 * KMEM_CHECK stderr duplicated at start-up (F_DUPFD_CLOEXEC, from
 * KM_REPORT_FD_MIN), so a program that closes stderr before exit still
 * shows them; a duplicate the program closed (and maybe reused) is not
 * written to (kmem_km_out_fd).
 *
 * Locking: see malloc_internal.h; the fork handlers (decision 16) take the
 * C library's stdio list lock and then every lock of the heap in that order
 * (prepare), and release them in reverse (parent, child) - in a process with
 * more than one thread; with one thread, and in a fork nested in a signal
 * handler, they take nothing.
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct km_heap km = { .fast_cls = kmem_km_no_cls }; /* the gates closed */
unsigned char kmem_km_boot[KM_BOOT_BYTES] __attribute__((aligned(16)));

/* the heap's geometry is kmem_stack_config_malloc's (kmem/stack.h) */
_Static_assert(KM_FRAME == KMEM_STACK_MALLOC_FRAME, "the drop-in's frame is the shared config's");
_Static_assert(KM_MAX_ORDER == KMEM_STACK_MALLOC_MAX_ORDER, "the drop-in's max order is the shared config's");
_Static_assert(KM_REGION_MIN == KMEM_STACK_MALLOC_REGION, "the drop-in's first region is the shared config's");
static __thread __attribute__((tls_model("initial-exec"))) bool km_in_init;

/* ---- small helpers --------------------------------------------------------------- */

void kmem_km_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		len -= (size_t)w;
	}
}

int kmem_km_out_fd(int fd, uint64_t dev, uint64_t ino)
{
	struct stat st;

	if (fd <= 2)
		return fd;
	if (fstat(fd, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino)
		return fd;
	return 2;
}

/* Where reports, warnings and exit statistics go: stderr as it is at the
 * time (what glibc and jemalloc do: the drop-in holds no descriptor of its
 * own), or, when exit output is asked for (KMEM_STATS, KMEM_CHECK), a
 * duplicate of stderr made at start-up (close-on-exec, at KM_REPORT_FD_MIN
 * or above: km_report_dup), so a program that closes stderr before exit
 * (coreutils' close_stdout, an atexit handler) still shows them. */
static void km_say(const char *s, size_t n)
{
	if (km.report_fd >= 2) /* 0 (zero-initialised) before km_read_env */
		kmem_km_write_all(kmem_km_out_fd(km.report_fd, km.report_dev, km.report_ino), s, n);
}

/* The duplicate of stderr for exit output (see km_say); stderr itself
 * when it cannot be made. */
static void km_report_dup(void)
{
	struct stat st;
	int fd = fcntl(2, F_DUPFD_CLOEXEC, KM_REPORT_FD_MIN);

	if (fd < 0 && errno != EBADF)
		fd = fcntl(2, F_DUPFD_CLOEXEC, 3); /* a low descriptor limit */
	if (fd < 0)
		return;
	if (fstat(fd, &st)) {
		close(fd);
		return;
	}
	km.report_dev = (uint64_t)st.st_dev;
	km.report_ino = (uint64_t)st.st_ino;
	km.report_fd = fd;
}

/* " 0x55d0c0de1234 (prog+0x1234, main)": addr with the object file holding
 * it, its offset there (what addr2line takes) and the nearest symbol, as
 * dladdr(3) knows them; the bare address where it knows nothing (a static
 * link: glibc's dladdr knows only dlopen'ed objects there). */
static void km_sym(struct kmem_fmt *f, const void *a)
{
	Dl_info di;

	if (!a) {
		kmem_fmt_printf(f, " (none)");
		return;
	}
	kmem_fmt_printf(f, " %p", a);
	if (dladdr(a, &di) && di.dli_fname && di.dli_fname[0]) {
		const char *base = strrchr(di.dli_fname, '/');

		kmem_fmt_printf(f, " (%s+%#tx%s%s)", base ? base + 1 : di.dli_fname,
				(const char *)a - (const char *)di.dli_fbase, di.dli_sname ? ", " : "",
				di.dli_sname ? di.dli_sname : "");
	}
}

/* The heap's error sink: one line per report, one prefix, the program's
 * size first and the layer's words (slab 'kmalloc-48') last, as detail:
 *   kmem-malloc: redzone of 0x7f..050 (block of 40 bytes): written past the
 *   size asked for at offset 40 (byte 0x78) of a 48-byte object; allocated
 *   by 0x55.. (prog+0x11d6, main), freed by (unknown); called from 0x55..
 *   (prog+0x1204, main) [slab 'kmalloc-48']
 * The core's kmem_error_format prints the same fields without symbols. */
static void km_report(void *arg, const struct kmem_error_report *r)
{
	char line[640];
	struct kmem_fmt f;
	size_t n;

	(void)arg;
	if (km.quiet)
		return;
	kmem_fmt_init(&f, line, sizeof(line) - 1);
	kmem_fmt_printf(&f, "kmem-malloc: %s of %p", kmem_status_name(r->status), r->ptr);
	if (r->size)
		kmem_fmt_printf(&f, " (block of %zu bytes)", r->size);
	kmem_fmt_printf(&f, ": %s", r->detail ? r->detail : "");
	if (r->alloc_by || r->free_by) {
		kmem_fmt_printf(&f, "; allocated by");
		km_sym(&f, r->alloc_by);
		kmem_fmt_printf(&f, ", freed by");
		km_sym(&f, r->free_by);
	}
	if (r->caller) {
		kmem_fmt_printf(&f, "; called from");
		km_sym(&f, r->caller);
	}
	if (r->component && strcmp(r->component, "malloc"))
		kmem_fmt_printf(&f, " [%s '%s']", r->component, r->instance ? r->instance : "?");
	n = strlen(line);
	line[n] = '\n';
	km_say(line, n + 1);
}

void kmem_km_misuse(enum kmem_status st, const void *p, const char *what, const void *caller)
{
	struct kmem_error_report r = {
		.status = st, .component = "malloc", .instance = "kmem-malloc",
		.ptr = p, .order = -1, .detail = what, .caller = caller,
	};

	kmem_error_raise(&km.sink, &r);
}

/* ---- set-up ------------------------------------------------------------------------------ */

/* "kmem-malloc: warning: NAME=VALUE ignored (why; accepted: ...), using
 * the default DEF": one line for a value that does not parse. */
static void env_warn(const char *name, const char *v, const char *why, const char *accepted,
		     const char *def)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "kmem-malloc: warning: %s=%.80s ignored (%s; accepted: %s), using %s\n",
			 name, v, why, accepted, def);

	if (n > 0)
		km_say(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* A size: a number (decimal, 0x hex or 0 octal) with an optional k, m or g
 * (binary multiples); def, with a warning, for anything else. */
static size_t env_size(const char *name, size_t def)
{
	static const char accepted[] = "bytes as a number with an optional suffix k, m or g, e.g. 8m";
	const char *v = getenv(name);
	char *end, dflt[32];
	unsigned long long x;
	unsigned shift = 0;

	if (!v)
		return def;
	snprintf(dflt, sizeof(dflt), "the default %zu", def);
	errno = 0;
	x = strtoull(v, &end, 0);
	if (errno || end == v || *v == '-') {
		env_warn(name, v, errno == ERANGE ? "too large" : "not a size", accepted, dflt);
		return def;
	}
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end) {
		env_warn(name, v, "not a size", accepted, dflt);
		return def;
	}
	if (x > (SIZE_MAX >> shift)) {
		env_warn(name, v, "too large", accepted, dflt);
		return def;
	}
	return (size_t)(x << shift);
}

/* A comma-separated list of words[i] (bit 1 << i each; "all": every bit,
 * "none" or "": none); 0, with a warning, if one word is not in the list. */
static unsigned env_words(const char *name, const char *const *words, unsigned n, const char *accepted)
{
	const char *v = getenv(name);
	unsigned bits = 0;

	if (!v)
		return 0;
	for (const char *p = v; *p;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		unsigned i;

		if (len == 3 && !strncmp(p, "all", 3)) {
			bits = (1u << n) - 1;
		} else if (!(len == 4 && !strncmp(p, "none", 4)) && len) {
			for (i = 0; i < n; i++)
				if (strlen(words[i]) == len && !strncmp(p, words[i], len))
					break;
			if (i == n) {
				env_warn(name, v, "unknown word", accepted, "the default (none)");
				return 0;
			}
			bits |= 1u << i;
		}
		p = e ? e + 1 : p + len;
	}
	return bits;
}

/* One of words[] (its index), def with a warning for anything else, and
 * def when unset. */
static unsigned env_choice(const char *name, const char *const *words, unsigned n, unsigned def,
			   const char *accepted)
{
	const char *v = getenv(name);
	char dflt[48];

	if (!v)
		return def;
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(v, words[i]))
			return i;
	snprintf(dflt, sizeof(dflt), "the default %s", words[def]);
	env_warn(name, v, "not one of the accepted values", accepted, dflt);
	return def;
}

/* A decay time in milliseconds: -1 (never), 0 (at once) or up to
 * KMEM_PA_DECAY_MAX_MS, decimal; def, with a warning, for anything else. */
static long env_ms(const char *name, long def)
{
	static const char accepted[] = "-1 (never), 0 (at once) or milliseconds up to 86400000";
	const char *v = getenv(name);
	char *end, dflt[32];
	long x;

	if (!v)
		return def;
	snprintf(dflt, sizeof(dflt), "the default %ld", def);
	errno = 0;
	x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < -1 || x > KMEM_PA_DECAY_MAX_MS) {
		env_warn(name, v, "not a decay time", accepted, dflt);
		return def;
	}
	return x;
}

/* KMEM_TRACE=PATH without %p: children trace into PATH.PID (km_read_env below). A
 * path too long for ".%p" traces this process only, and says so. */
static void trace_follow_children(void)
{
	static const char name[] = "KMEM_TRACE=";
	static char env[sizeof(name) + sizeof(km.trace_path) + 3];
	size_t n = strlen(km.trace_path);

	if (n + 3 >= sizeof(km.trace_path)) {
		env_warn("KMEM_TRACE", km.trace_path, "no room for \".%p\"",
			 "a path of at most 252 bytes to trace children", "this process only");
		unsetenv("KMEM_TRACE");
		return;
	}
	memcpy(env, name, sizeof(name) - 1);
	memcpy(env + sizeof(name) - 1, km.trace_path, n);
	memcpy(env + sizeof(name) - 1 + n, ".%p", 4);
	km.trace_children = true;
	if (putenv(env) != 0)
		unsetenv("KMEM_TRACE");
}

/* Boolean switches: 0/off/no and 1/on/yes. */
static const char *const env_bool_words[] = { "0", "1", "off", "on", "no", "yes" };
#define ENV_BOOL(name, def) \
	(env_choice((name), env_bool_words, 6, (def) ? 1 : 0, "0, 1, off, on, no, yes") & 1)

static const char *const env_debug_words[] = { "redzone", "poison", "user" };
static const char *const env_error_words[] = { "continue", "abort", "quiet" };
static const char *const env_stats_words[] = { "slabinfo", "buddyinfo", "vmstat", "zoneinfo", "heap",
						 "magazines" };

/* A magazine policy (kmem_slab_config.mag_size, .depot_limit): a number up
 * to most, or "auto"; def (the shared configuration's) when unset, with a
 * warning for anything else. */
static unsigned env_mag(const char *name, unsigned most, unsigned def)
{
	const char *v = getenv(name);
	unsigned long x;
	char *end;

	if (!v)
		return def;
	if (!strcmp(v, "auto"))
		return KMEM_MAG_SIZE_AUTO; /* == KMEM_DEPOT_AUTO */
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || x > most) {
		char range[64];

		snprintf(range, sizeof(range), "0 (the default) to %u, or auto", most);
		env_warn(name, v, "not a number in range", range, "the default");
		return def;
	}
	return (unsigned)x;
}

static void km_read_env(void)
{
	unsigned d, e;
	const char *v;

	/* reports first: the warnings below go there (stderr until exit
	 * output is asked for, below) */
	km.report_fd = 2;
	km.verbose = ENV_BOOL("KMEM_VERBOSE", false);
	km.reaper = ENV_BOOL("KMEM_REAPER", true);
	km.decay_ms = env_ms("KMEM_DECAY_MS", KMEM_PA_DECAY_DEFAULT_MS);
	d = env_words("KMEM_DEBUG", env_debug_words, 3, "redzone, poison, user (comma-separated), all, none");
	if (d & 1)
		km.debug |= KMEM_CACHE_REDZONE;
	if (d & 2)
		km.debug |= KMEM_CACHE_POISON;
	if (d & 4)
		km.debug |= KMEM_CACHE_STORE_USER;
	km.check_at_exit = ENV_BOOL("KMEM_CHECK", false);
	/* hardened (decision 23): every debug check, guarded blocks, the
	 * quarantine, and abort on misuse unless KMEM_ERROR says otherwise */
	km.harden = ENV_BOOL("KMEM_HARDEN", KM_HARDEN_DEFAULT);
	if (km.harden)
		km.debug |= KMEM_CACHE_REDZONE | KMEM_CACHE_POISON | KMEM_CACHE_STORE_USER;
	e = env_choice("KMEM_ERROR", env_error_words, 3, km.harden ? 1 : 0, "continue, abort, quiet");
	km.abort_on_error = e == 1;
	km.quiet = e == 2;
	km.q_budget = km.harden ? env_size("KMEM_QUARANTINE", KM_Q_DEFAULT) : 0;
	if (!km.harden && getenv("KMEM_QUARANTINE"))
		env_warn("KMEM_QUARANTINE", getenv("KMEM_QUARANTINE"), "only the hardened mode has a quarantine",
			 "a size, with KMEM_HARDEN=1", "none");
	km.stats = env_words("KMEM_STATS", env_stats_words, 6,
			     "slabinfo, buddyinfo, vmstat, zoneinfo, heap, magazines (comma-separated), all, none");
	if (km.stats || km.check_at_exit)
		km_report_dup(); /* exit output: it must survive a closed stderr */
	km.stats_fd = km.report_fd;
	km.stats_dev = km.report_dev;
	km.stats_ino = km.report_ino;
	v = getenv("KMEM_STATS_FILE");
	if (v && *v && (km.stats || km.check_at_exit)) {
		int fd = open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		struct stat st;

		if (fd >= 0 && fstat(fd, &st) == 0) {
			km.stats_fd = fd;
			km.stats_dev = (uint64_t)st.st_dev;
			km.stats_ino = (uint64_t)st.st_ino;
		} else {
			int err = errno;

			if (fd >= 0)
				close(fd);
			env_warn("KMEM_STATS_FILE", v, strerror(err), "a file that can be opened for writing",
				 "stderr");
		}
	}
	km.high = env_size("KMEM_HIGH", KMEM_STACK_MALLOC_HIGH) >> KM_FRAME_SHIFT;
	km.mag_size = env_mag("KMEM_MAG_SIZE", KMEM_MAG_ROUNDS_MAX, KMEM_STACK_MALLOC_MAG_SIZE);
	km.depot_limit = env_mag("KMEM_DEPOT_LIMIT", UINT_MAX - 1, KMEM_STACK_MALLOC_DEPOT_LIMIT);
	if (km.high < 256)
		km.high = 256;
	km.trace_fd = -1;
	v = getenv("KMEM_TRACE");
	if (v && *v && strlen(v) >= sizeof(km.trace_path))
		env_warn("KMEM_TRACE", v, "path too long", "a path of at most 255 bytes", "no trace");
	if (v && *v && strlen(v) < sizeof(km.trace_path)) {
		strcpy(km.trace_path, v);
		km.trace_fd = kmem_km_trace_open();
		if (km.trace_fd < 0)
			env_warn("KMEM_TRACE", v, strerror(errno), "a file that can be created", "no trace");
		/* without %p this process writes PATH and every child its own
		 * file, PATH.PID (a child writing PATH would truncate it):
		 * programs it execs through the environment, KMEM_TRACE=PATH.%p
		 * put in place from static storage (putenv of a name that is
		 * there replaces the pointer, allocating nothing), fork
		 * children through kmem_km_trace_fork_child (trace.c) */
		if (km.trace_fd < 0)
			unsetenv("KMEM_TRACE");
		else if (!strstr(km.trace_path, "%p"))
			trace_follow_children();
	}
}

/* n bytes as "64 GiB", "8 MiB", "12 KiB" or "100 bytes" (the largest exact unit). */
static void fmt_bytes(struct kmem_fmt *f, size_t n)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB" };
	unsigned u = 0;

	while (u < 3 && n && !(n & 1023)) {
		n >>= 10;
		u++;
	}
	kmem_fmt_printf(f, "%zu %s", n, unit[u]);
}

/* KMEM_VERBOSE=1: the effective configuration, one line per setting, once
 * the heap is set up (the arena as reserved, after any halving). */
static void km_print_config(void)
{
	static const char *const dbg[] = { "redzone", "poison", "user" };
	static const unsigned dbg_flag[] = { KMEM_CACHE_REDZONE, KMEM_CACHE_POISON, KMEM_CACHE_STORE_USER };
	char line[1024];
	struct kmem_fmt f;
	const char *sep = "";

	kmem_fmt_init(&f, line, sizeof(line));
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_ARENA ");
	fmt_bytes(&f, (size_t)(km.hi - km.lo));
	kmem_fmt_printf(&f, " of address space reserved\n");
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_HIGH ");
	fmt_bytes(&f, km.high << KM_FRAME_SHIFT);
	kmem_fmt_printf(&f, " of free memory kept at least\n");
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_HARDEN %s\n", km.harden ? "1" : "0");
	if (km.harden) {
		kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_QUARANTINE ");
		fmt_bytes(&f, km.q_budget);
		kmem_fmt_printf(&f, " of freed blocks held back\n");
	}
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_DEBUG ");
	for (unsigned i = 0; i < 3; i++)
		if (km.debug & dbg_flag[i]) {
			kmem_fmt_printf(&f, "%s%s", sep, dbg[i]);
			sep = ",";
		}
	kmem_fmt_printf(&f, "%s\n", *sep ? "" : "none");
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_ERROR %s\n",
			km.abort_on_error ? "abort" : km.quiet ? "quiet" : "continue");
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_CHECK %s\n", km.check_at_exit ? "1" : "0");
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_STATS ");
	sep = "";
	for (unsigned i = 0; i < 6; i++)
		if (km.stats & (1u << i)) {
			kmem_fmt_printf(&f, "%s%s", sep, env_stats_words[i]);
			sep = ",";
		}
	kmem_fmt_printf(&f, "%s (to descriptor %d)\n", *sep ? "" : "none", km.stats_fd);
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_TRACE %s\n", km.trace_on ? km.trace_path : "off");
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_REAPER %s\n", km.reaper ? "1" : "0");
	kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_DECAY_MS %ld (%s)\n", km.decay_ms,
			km.decay_ms < 0 ? "free memory never released but by malloc_trim" :
			km.decay_ms == 0 ? "free memory released at once" :
			"free memory released on a decay curve over that time");
	if (km.mag_size == KMEM_MAG_SIZE_AUTO)
		kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_MAG_SIZE auto (each class doubles its magazines under contention)\n");
	else if (km.mag_size == 0)
		kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_MAG_SIZE 0 (rounds by object size: 61 to 256 B, 30 to 1 KiB, 14 to 4 KiB, 6 above)\n");
	else
		kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_MAG_SIZE %u rounds per magazine\n", km.mag_size);
	if (km.depot_limit == KMEM_DEPOT_AUTO)
		kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_DEPOT_LIMIT auto (the depot's working set, reaped)\n");
	else
		kmem_fmt_printf(&f, "kmem-malloc: config: KMEM_DEPOT_LIMIT %u full magazines per class%s\n",
				km.depot_limit ? km.depot_limit : KMEM_DEPOT_DEFAULT, km.depot_limit ? "" : " (the default)");
	kmem_fmt_printf(&f, "kmem-malloc: config: reports to descriptor %d\n", km.report_fd);
	km_say(line, strlen(line));
}

static void km_prepare(void);
static void km_parent(void);
static void km_child(void);

/* The stack's callback: the first region of the arena. */
static int first_region(void *arg, struct kmem_buddy *b)
{
	(void)arg;
	km.b = b;
	return kmem_km_grow(NULL, NULL, 1) ? 0 : -ENOMEM;
}

/* The arena and its owner table, placed (nothing mapped: grow maps pieces)
 * or, where no range can be placed, reserved as one range (the owner table
 * committed whole). Decision 17. */
static bool km_arena(size_t arena, size_t limit)
{
	size_t tab;
	void *res = NULL;
	uintptr_t base;

	if (arena < KM_ARENA_MIN)
		arena = KM_ARENA_MIN;
	arena &= ~(KM_BLOCK_MAX - 1);
	/* owner table: one word per frame, whole pages, right below the arena */
	tab = (arena >> KM_FRAME_SHIFT) * sizeof(void *);
	tab = (tab + KM_BLOCK_MAX - 1) & ~(KM_BLOCK_MAX - 1);
	base = (uintptr_t)kmem_pages_place(tab + arena, KM_BLOCK_MAX);
	if (base) {
		km.placed = true;
		km.lo = base + tab;
		km.hi = km.lo + arena;
		km.next = km.top = km.lo; /* km.frames 0: grow maps owner words as it goes */
		km.owner = (void **)(km.lo - ((arena >> KM_FRAME_SHIFT) * sizeof(void *)));
		return true;
	}
	/* reserved: the range counts against an address-space limit whole, so
	 * under one it starts at half the limit */
	while (limit != SIZE_MAX && arena > KM_ARENA_MIN && arena > limit / 2)
		arena /= 2;
	for (; arena >= KM_ARENA_MIN; arena /= 2) {
		res = kmem_pages_reserve(arena + KM_BLOCK_MAX);
		if (res)
			break;
	}
	if (!res)
		return false;
	km.lo = ((uintptr_t)res + KM_BLOCK_MAX - 1) & ~(KM_BLOCK_MAX - 1);
	km.hi = km.top = km.lo + arena;
	km.next = km.lo;
	km.frames = arena >> KM_FRAME_SHIFT;
	/* owner table: committed at once, its pages touched as used
	 * (uncharged, like the arena: kmem_pages_reserve) */
	tab = km.frames * sizeof(void *);
	tab = (tab + KM_FRAME - 1) & ~(KM_FRAME - 1);
	km.owner = kmem_pages_reserve(tab);
	if (!km.owner)
		return false;
	if (kmem_pages_commit(km.owner, tab)) {
		kmem_pages_unreserve(km.owner, tab);
		return false;
	}
	return true;
}

static bool km_setup(void)
{
	size_t arena, isz, limit, high;
	struct kmem_stack_config cfg;
	struct kmem_stack st;
	void *inst;

	km_read_env();
	arena = env_size("KMEM_ARENA", KM_ARENA_DEFAULT); /* after km_read_env: warnings need report_fd */
	kmem_error_sink_init(&km.sink);
	km.sink.report = km_report;
	if (km.abort_on_error)
		km.sink.flags |= KMEM_ERROR_ABORT;
	if (kmem_lock_init(&km.grow_lock, true) || kmem_lock_init(&km.huge_lock, true) ||
	    kmem_lock_init(&km.trace_lock, true) || !kmem_km_q_init(km.q_budget))
		return false;
	KMEM_ANNOT_BENIGN_RACE(&km.frames, sizeof(km.frames)); /* see malloc_internal.h */
	KMEM_ANNOT_BENIGN_RACE(&km.fast_frames, sizeof(km.fast_frames));
	KMEM_ANNOT_BENIGN_RACE(&km.fast_cls, sizeof(km.fast_cls));
	limit = kmem_km_as_limit(true);
	if (!km_arena(arena, limit))
		return false;
	high = km.high;
	if (km.placed && limit != SIZE_MAX) {
		/* under a limit the first region is small (it is mapped whole:
		 * the layers' set-up takes from it before the frame service
		 * exists), and the high watermark, also what the release step
		 * keeps, at most half of it */
		size_t first = (km.high << KM_FRAME_SHIFT) * 2, most = limit / 8;

		if (first > most)
			first = most;
		if (first < KM_REGION_FIRST_TIGHT)
			first = KM_REGION_FIRST_TIGHT;
		km.first_region = (first + ((size_t)2 << 20) - 1) & ~(((size_t)2 << 20) - 1);
		if (high > (km.first_region >> KM_FRAME_SHIFT) / 2)
			high = (km.first_region >> KM_FRAME_SHIFT) / 2;
	}

	/* the layers in one call (kmem/stack.h); the first region is added
	 * by the grow hook, from the stack's callback, before the frame
	 * service exists (which then takes it as fresh memory:
	 * KMEM_PA_ZEROED_BUDDY) */
	/* the heap's policy (classes, slab bound, release step, watermarks,
	 * batch) is kmem_stack_config_malloc's, shared with kmem replay
	 * --heap dropin; what is this process's is set here */
	kmem_stack_config_malloc(&cfg);
	cfg.sink = &km.sink;
	cfg.buddy.name = "kmem-malloc";
	cfg.buddy.max_regions = KMEM_BUDDY_REGION_LIMIT;
	cfg.buddy.owner_table = km.owner;	/* pages mapped as regions come (placed) */
	cfg.buddy.owner_base = (void *)km.lo;
	cfg.buddy.owner_frames = (km.hi - km.lo) >> KM_FRAME_SHIFT;
	cfg.add_regions = first_region;
	cfg.pa.name = "kmem-malloc";
	/* the release step on its decay curve (decision 29): the reaper
	 * thread, started by the first free that leaves memory to decay;
	 * KMEM_REAPER=0: bounded steps in the freeing thread (an idle
	 * program then keeps its memory until its next big free) */
	if (km.reaper)
		cfg.pa.flags |= KMEM_PA_LAZY_REAPER;
	cfg.pa.decay_ms = km.decay_ms;
	cfg.pa.wmark_high = high;
	if (km.first_region) /* under a limit: scaled with its first region (Linux's rule) */
		cfg.pa.pcp_batch = cfg.pa.pcp_high = 0;
	cfg.pa.grow = kmem_km_grow;
	if (km.placed) {
		/* free blocks stop counting against an address-space limit
		 * (decision 17): unmapped while the limit is there */
		cfg.pa.as_tight = kmem_km_as_tight;
		cfg.pa.as_unmap = kmem_km_as_unmap;
		cfg.pa.as_map = kmem_km_as_map;
	}
	cfg.slab.name = "kmem-malloc";
	cfg.slab.debug_flags = km.debug;
	cfg.slab.mag_size = km.mag_size; /* KMEM_MAG_SIZE, KMEM_DEPOT_LIMIT or the shared config's */
	cfg.slab.depot_limit = km.depot_limit;
	/* the free mark, secret: a double free is caught by it, and a program
	 * cannot forge it into a live block (0 if the OS has no randomness:
	 * slab derives one from the instance's address) */
	if (kmem_os_random(&cfg.slab.free_mark, sizeof(cfg.slab.free_mark)))
		cfg.slab.free_mark = 0;
	isz = kmem_stack_sizeof(&cfg);
	inst = isz ? kmem_pages_map(isz) : NULL;
	if (!inst || kmem_stack_init(inst, isz, &cfg, NULL, 0, NULL, 0, &st))
		return false;
	km.b = st.buddy;
	km.pa = st.pa;
	km.s = st.slab;
	kmem_km_huge_shrinker_init(); /* the reaper ages the huge cache (decision 36) */
	kmem_slab_hits_uncounted(km.s); /* malloc pops uncounted: nothing here reads them */
	/* per-thread buffers: areas of the per-thread context (trace.c) */
	km.trace_on = km.trace_fd >= 0;
	kmem_km_fast_gates(); /* free's bound 0 if tracing; malloc's opens at state 2 */
	return true;
}

KMEM_NOINLINE bool kmem_km_init_slow(void)
{
	int st = 0;

	if (km_in_init)
		return false; /* a call from inside set-up: the bootstrap arena */
	if (kmem_atomic_cas_acq_rel(&km.state, &st, 1)) {
		bool ok;

		km_in_init = true;
		ok = km_setup();
		km_in_init = false;
		kmem_atomic_store_release(&km.state, ok ? 2 : -1);
		if (ok) {
			kmem_km_fast_gates(); /* malloc's fast path opens */
			if (km.verbose)
				km_print_config();
			/* these may allocate: the heap is ready now */
			(void)kmem_atfork(km_prepare, km_parent, km_child);
			if (km.stats || km.trace_on || km.check_at_exit)
				atexit(kmem_km_atexit);
		}
		return ok;
	}
	while ((st = kmem_atomic_load_acquire(&km.state)) == 1)
		kmem_thrd_yield();
	return st == 2;
}

__attribute__((constructor)) static void km_ctor(void)
{
	(void)km_ready();
}

/* Bootstrap arena: blocks handed out before the heap exists (a 16-byte
 * header holds the size). Never freed. */
void *kmem_km_boot_alloc(size_t size, size_t align)
{
	size_t off, start;

	if (align < KM_ALIGN)
		align = KM_ALIGN;
	if (size > KM_BOOT_BYTES || align > KM_BOOT_BYTES / 4)
		return NULL;
	kmem_lock_acquire(&km.trace_lock); /* a leaf lock; set-up or a failed heap only */
	off = km.boot_used + 16;
	start = (off + align - 1) & ~(align - 1);
	if (start + size > KM_BOOT_BYTES) {
		kmem_lock_release(&km.trace_lock);
		return NULL;
	}
	km.boot_used = start + size;
	kmem_lock_release(&km.trace_lock);
	memcpy(&kmem_km_boot[start - sizeof(size_t)], &size, sizeof(size_t));
	return &kmem_km_boot[start];
}

size_t kmem_km_boot_size(const void *p)
{
	size_t n;

	memcpy(&n, (const unsigned char *)p - sizeof(size_t), sizeof(n));
	return n;
}

/* ---- fork ------------------------------------------------------------------------------------------ */

/* The calling thread's forks in progress: more than one when a signal
 * handler forked while this thread was inside fork (between prepare and
 * parent/child); and whether the outermost of them took the heap's locks.
 * Thread-local, so concurrent forks in other threads (which serialise on
 * the heap's locks) do not see them; a signal handler that interrupts the
 * update of km_fork_depth restores it before the interrupted code resumes. */
static __thread __attribute__((tls_model("initial-exec"))) unsigned km_fork_depth;
static __thread __attribute__((tls_model("initial-exec"))) bool km_fork_locked;

/* Registered once the heap is ready (km.state 2), so the heap exists here.
 * Decision 16 (docs/decisions.md):
 *   - a nested fork (from a signal handler, in this thread) takes nothing:
 *     the outer fork holds or is taking the locks, in this same thread;
 *   - one thread in the process (the C library's flag, the one glibc's own
 *     fork tests): nothing to take, no other thread can be inside the heap;
 *     a fork from a signal handler that interrupted malloc in this thread
 *     must not wait for it (its child may only call async-signal-safe
 *     functions, as with glibc);
 *   - otherwise the C library's stdio list lock first (glibc's fork takes it
 *     after the prepare handlers, and a thread holding it may wait for a
 *     FILE lock whose holder allocates: glibc bug 19431), then every lock of
 *     the heap in the documented order. */
static void km_prepare(void)
{
	if (km_fork_depth++)
		return;
	km_fork_locked = !kmem_thrd_single();
	if (!km_fork_locked)
		return;
	kmem_atfork_stdio_lock();
	kmem_km_q_fork_prepare(); /* nests under nothing, nothing under it */
	kmem_slab_fork_prepare(km.s);
	kmem_lock_acquire(&km.grow_lock); /* grow runs before the frame service's locks */
	kmem_pa_fork_prepare(km.pa);
	kmem_lock_acquire(&km.huge_lock);
	kmem_lock_acquire(&km.trace_lock);
	kmem_buddy_fork_prepare(km.b);
}

static void km_parent(void)
{
	if (!km_fork_depth)
		return; /* registered during this fork's prepare (a C library that runs it anyway) */
	if (--km_fork_depth || !km_fork_locked)
		return;
	kmem_buddy_fork_parent(km.b);
	kmem_lock_release(&km.trace_lock);
	kmem_lock_release(&km.huge_lock);
	kmem_pa_fork_parent(km.pa);
	kmem_lock_release(&km.grow_lock);
	kmem_slab_fork_parent(km.s);
	kmem_km_q_fork_release();
	kmem_atfork_stdio_unlock();
}

static void km_child(void)
{
	if (!km_fork_depth)
		return; /* as in km_parent */
	if (--km_fork_depth)
		return; /* a child of a nested fork: async-signal-safe calls only */
	if (!km_fork_locked) {
		/* one thread: nothing to adopt or release. The fork may come
		 * from a signal handler that interrupted the heap in this thread
		 * (the trace lock held): take nothing that could wait. */
		if (kmem_lock_try_acquire(&km.trace_lock)) {
			kmem_lock_release(&km.trace_lock);
			kmem_km_trace_fork_child();
		}
		return;
	}
	kmem_buddy_fork_child(km.b);
	kmem_lock_release(&km.trace_lock);
	kmem_lock_release(&km.huge_lock);
	kmem_pa_fork_child(km.pa);
	kmem_lock_release(&km.grow_lock);
	kmem_slab_fork_child(km.s);
	kmem_km_q_fork_release();
	kmem_km_trace_fork_child();
	kmem_atfork_stdio_reset();
}
