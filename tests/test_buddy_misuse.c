/* test_buddy_misuse.c - every misuse of the buddy free path is detected,
 * counted exactly, reported in one clear line, and harmless: the checker
 * passes afterwards and, once the valid blocks are freed, the allocator is
 * back to its initial state. Also the error sink's actions (stderr line,
 * abort, callback outside the lock, a sink shared by two instances). */
#include "buddy_fixture.h"

#include "kmem_config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define KiB ((size_t)1024)

struct misuse_env {
	struct fixture fx;
	char *base;
	char initial[512];
};

static int setup(void **state)
{
	struct misuse_env *env = calloc(1, sizeof(*env));

	fx_init(&env->fx, 4096, 6, 0);
	env->base = fx_region(&env->fx, 256 * KiB, 0, 512 * KiB);
	fx_buddyinfo(&env->fx, env->initial, sizeof(env->initial));
	*state = env;
	return 0;
}

/* After the test freed its valid blocks: consistent and nothing lost. */
static int teardown(void **state)
{
	struct misuse_env *env = *state;
	char now[512];

	assert_int_equal(kmem_buddy_check(env->fx.b), 0);
	fx_buddyinfo(&env->fx, now, sizeof(now));
	assert_string_equal(env->initial, now);
	fx_fini(&env->fx);
	free(env);
	return 0;
}

/* The misuse changed nothing: same counters as before. */
static void assert_unchanged(struct fixture *fx, const struct kmem_buddy_stats *before)
{
	struct kmem_buddy_stats now = fx_stats(fx);

	assert_int_equal(now.free_frames, before->free_frames);
	assert_int_equal(now.used_frames, before->used_frames);
	assert_int_equal(now.frees, before->frees);
	assert_memory_equal(now.free_blocks, before->free_blocks, sizeof(now.free_blocks));
	assert_int_equal(kmem_buddy_check(fx->b), 0);
}

static void test_double_free_same_block(void **state)
{
	struct misuse_env *env = *state;
	struct fixture *fx = &env->fx;
	void *p = kmem_buddy_alloc(fx->b, 2), *keep = kmem_buddy_alloc(fx->b, 2);
	struct kmem_buddy_stats st;

	assert_int_equal(kmem_buddy_free_checked(fx->b, p, 2), KMEM_OK);
	st = fx_stats(fx);
	assert_int_equal(kmem_buddy_free_checked(fx->b, p, 2), KMEM_DOUBLE_FREE);
	assert_unchanged(fx, &st);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_DOUBLE_FREE), 1);
	assert_int_equal(kmem_error_total(&fx->rec.sink), 1);
	assert_int_equal(fx->rec.calls, 1);
	assert_ptr_equal(fx->rec.last.ptr, p);
	assert_string_equal(fx->rec.last.component, "buddy");
	assert_string_equal(fx->rec.last.instance, "test");
	assert_report_has(fx->rec.line, "double-free");
	assert_report_has(fx->rec.line, "'test'");
	/* the unchecked free reports the same way */
	kmem_buddy_free(fx->b, p);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_DOUBLE_FREE), 2);
	assert_non_null(fx->rec.last.caller);
	assert_unchanged(fx, &st);
	kmem_buddy_free(fx->b, keep);
}

static void test_double_free_after_merge(void **state)
{
	struct misuse_env *env = *state;
	struct fixture *fx = &env->fx;
	void *a = kmem_buddy_alloc(fx->b, 0), *b = kmem_buddy_alloc(fx->b, 0);
	struct kmem_buddy_stats st;

	assert_int_equal((uintptr_t)a ^ (uintptr_t)b, 4096); /* buddies */
	kmem_buddy_free(fx->b, a);
	kmem_buddy_free(fx->b, b); /* merges all the way up */
	st = fx_stats(fx);
	/* both frames are now inside one large free block */
	assert_int_equal(kmem_buddy_free_checked(fx->b, a, KMEM_BUDDY_ANY_ORDER), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_buddy_free_checked(fx->b, b, 0), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_DOUBLE_FREE), 2);
	if (KMEM_ERROR_TEXT)
		assert_true(strstr(fx->rec.detail, "merged") || strstr(fx->rec.detail, "already free"));
	else /* compiled out: no detail (decision 32) */
		assert_string_equal(fx->rec.detail, "");
	assert_unchanged(fx, &st);
	/* a frame nobody ever allocated */
	assert_int_equal(kmem_buddy_free_checked(fx->b, env->base + 100 * 4096, 0), KMEM_DOUBLE_FREE);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_DOUBLE_FREE), 3);
	assert_unchanged(fx, &st);
}

static void test_foreign_pointers(void **state)
{
	struct misuse_env *env = *state;
	struct fixture *fx = &env->fx;
	int on_stack;
	void *heap = malloc(64);
	struct kmem_buddy_stats st = fx_stats(fx);

	assert_int_equal(kmem_buddy_free_checked(fx->b, &on_stack, KMEM_BUDDY_ANY_ORDER),
			 KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_buddy_free_checked(fx->b, heap, 0), KMEM_FOREIGN_POINTER);
	/* just outside the region on either side */
	assert_int_equal(kmem_buddy_free_checked(fx->b, env->base - 4096, 0), KMEM_FOREIGN_POINTER);
	assert_int_equal(kmem_buddy_free_checked(fx->b, env->base + 512 * KiB, 0),
			 KMEM_FOREIGN_POINTER);
	kmem_buddy_free(fx->b, (void *)(uintptr_t)0x10);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_FOREIGN_POINTER), 5);
	assert_int_equal(kmem_error_total(&fx->rec.sink), 5);
	assert_report_has(fx->rec.line, "foreign-pointer");
	assert_unchanged(fx, &st);
	/* NULL is not misuse */
	assert_int_equal(kmem_buddy_free_checked(fx->b, NULL, 3), KMEM_OK);
	kmem_buddy_free(fx->b, NULL);
	assert_int_equal(kmem_error_total(&fx->rec.sink), 5);
	free(heap);
}

/* A pointer 2^32 frames away from a region must not alias a frame of it
 * (frame indices are 32 bits; the range check must see the full offset). */
static void test_foreign_pointer_far_away(void **state)
{
	struct fixture fx;
	char *base, *p;
	uintptr_t far;

	(void)state;
	if (UINTPTR_MAX <= UINT32_MAX)
		skip(); /* 32-bit addresses: no pointer is 2^32 frames away */
	fx_init(&fx, 64, 4, 0);
	base = fx_region(&fx, 4096, 0, 4096);
	while (kmem_buddy_alloc(fx.b, 0)) /* every frame allocated, frame 0 too */
		;
	p = base;
	far = (uintptr_t)p + (uintptr_t)(UINT64_C(1) << (32 + 6)); /* 2^32 frames of 64 B above */
	assert_int_equal(kmem_buddy_free_checked(fx.b, (void *)far, 0), KMEM_FOREIGN_POINTER);
	kmem_buddy_free(fx.b, (void *)far);
	assert_int_equal(kmem_error_count(&fx.rec.sink, KMEM_FOREIGN_POINTER), 2);
	assert_int_equal(kmem_buddy_block_order(fx.b, p), 0); /* still allocated */
	for (int i = 0; i < 64; i++)
		assert_int_equal(kmem_buddy_free_checked(fx.b, base + 64 * i, 0), KMEM_OK);
	fx_fini(&fx);
}

static void test_interior_pointers(void **state)
{
	struct misuse_env *env = *state;
	struct fixture *fx = &env->fx;
	char *p = kmem_buddy_alloc(fx->b, 3);
	struct kmem_buddy_stats st = fx_stats(fx);

	assert_int_equal(kmem_buddy_free_checked(fx->b, p + 1, KMEM_BUDDY_ANY_ORDER),
			 KMEM_INTERIOR_POINTER);
	assert_int_equal(kmem_buddy_free_checked(fx->b, p + 4096, 3), KMEM_INTERIOR_POINTER);
	assert_int_equal(kmem_buddy_free_checked(fx->b, p + 7 * 4096 + 4095, 0),
			 KMEM_INTERIOR_POINTER);
	assert_report_has(fx->rec.detail, "bytes into used order-3 block");
	assert_int_equal(fx->rec.last.order, 3);
	/* misaligned pointer into free memory */
	assert_int_equal(kmem_buddy_free_checked(fx->b, env->base + 60 * 4096 + 8, 0),
			 KMEM_INTERIOR_POINTER);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_INTERIOR_POINTER), 4);
	assert_unchanged(fx, &st);
	/* the block is still intact and frees normally */
	assert_int_equal(kmem_buddy_block_order(fx->b, p), 3);
	assert_int_equal(kmem_buddy_block_order(fx->b, p + 4096), -1);
	assert_int_equal(kmem_buddy_free_checked(fx->b, p, 3), KMEM_OK);
}

static void test_wrong_order(void **state)
{
	struct misuse_env *env = *state;
	struct fixture *fx = &env->fx;
	void *p = kmem_buddy_alloc(fx->b, 2), *q = kmem_buddy_alloc(fx->b, 1);
	struct kmem_buddy_stats st = fx_stats(fx);

	assert_int_equal(kmem_buddy_free_checked(fx->b, p, 1), KMEM_WRONG_ORDER);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_WRONG_ORDER), 1);
	assert_report_has(fx->rec.detail, "caller says order 1, block has order 2");
	/* freed with its true order: nothing is lost */
	assert_int_equal(fx_stats(fx).used_frames, st.used_frames - 4);
	assert_int_equal(kmem_buddy_check(fx->b), 0);
	assert_int_equal(kmem_buddy_free_checked(fx->b, q, 6), KMEM_WRONG_ORDER);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_WRONG_ORDER), 2);
	assert_int_equal(fx_stats(fx).used_frames, 0);
	/* freeing it again is a double free */
	assert_int_equal(kmem_buddy_free_checked(fx->b, q, 1), KMEM_DOUBLE_FREE);
}

static void test_reserved_free(void **state)
{
	struct misuse_env *env = *state;
	struct fixture *fx = &env->fx;
	struct kmem_buddy_stats st;

	TEST_NEEDS(KMEM_BUDDY_RESERVE, "reservations (-Dbuddy_reserve)");
	assert_int_equal(kmem_buddy_reserve(fx->b, env->base + 8 * 4096, 8 * 4096), 0);
	st = fx_stats(fx);
	assert_int_equal(kmem_buddy_free_checked(fx->b, env->base + 8 * 4096, 3), KMEM_RESERVED_FREE);
	assert_int_equal(kmem_buddy_free_checked(fx->b, env->base + 9 * 4096 + 5, 0),
			 KMEM_RESERVED_FREE);
	assert_int_equal(kmem_error_count(&fx->rec.sink, KMEM_RESERVED_FREE), 2);
	assert_report_has(fx->rec.detail, "kmem_buddy_unreserve");
	assert_unchanged(fx, &st);
	assert_int_equal(fx_stats(fx).reserved_frames, 8);
	assert_int_equal(kmem_buddy_unreserve(fx->b, env->base + 8 * 4096, 8 * 4096), 0);
}

static void test_requests_out_of_range(void **state)
{
	struct misuse_env *env = *state;
	struct fixture *fx = &env->fx;
	struct kmem_buddy_stats st;

	assert_null(kmem_buddy_alloc(fx->b, 7));
	assert_null(kmem_buddy_alloc(fx->b, 1000));
	assert_null(kmem_buddy_alloc_size(fx->b, SIZE_MAX));
	assert_null(kmem_buddy_alloc_size(fx->b, SIZE_MAX - 4095));
	st = fx_stats(fx);
	assert_int_equal(st.fail_too_big, 4);
	assert_int_equal(st.used_frames, 0);
	assert_int_equal(kmem_error_total(&fx->rec.sink), 0); /* failures, not misuse */
}

/* The callback runs outside the instance lock: it may read stats. */
static void stats_in_callback(void *arg, const struct kmem_error_report *r)
{
	struct fixture *fx = arg;
	struct kmem_buddy_stats st;

	(void)r;
	kmem_buddy_get_stats(fx->b, &st);
	fx->rec.calls++;
}

static void test_callback_outside_lock(void **state)
{
	struct misuse_env *env = *state;
	struct fixture *fx = &env->fx;
	void *p = kmem_buddy_alloc(fx->b, 0);

	fx->rec.sink.report = stats_in_callback;
	fx->rec.sink.arg = fx;
	kmem_buddy_free(fx->b, p);
	kmem_buddy_free(fx->b, p);
	assert_int_equal(fx->rec.calls, 1);
	fx->rec.sink.report = test_recorder_cb;
	fx->rec.sink.arg = &fx->rec;
}

/* Default sink: one line on stderr, then continue (hosted builds); counts
 * silently without stdio. */
static void test_default_sink_prints_one_line(void **state)
{
	struct kmem_buddy_config cfg;
	struct kmem_buddy *b;
	char path[] = "/tmp/kmem-stderr-XXXXXX", text[1024] = "";
	static _Alignas(16) char heap[64 * 1024];
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;
	void *p;
	char expect[64];

	(void)state;
	kmem_buddy_config_init(&cfg);
	cfg.name = "dflt";
	cfg.frame_size = 1024;
	assert_int_equal(kmem_buddy_create_in(heap, sizeof(heap), &cfg, &b), 0);
	p = kmem_buddy_alloc(b, 0);
	kmem_buddy_free(b, p);
	fflush(stderr);
	dup2(fd, 2);
	kmem_buddy_free(b, p);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	unlink(path);
	assert_int_equal(kmem_error_count(kmem_buddy_error_sink(b), KMEM_DOUBLE_FREE), 1);
#ifndef KMEM_HAVE_STDIO
	/* firmware builds (-Dstdio=false): the default sink only counts */
	assert_int_equal(n, 0);
	kmem_buddy_destroy(b);
	return;
#endif
	assert_true(n > 0);
	/* the block merged on the first free: the report names the free block */
	snprintf(expect, sizeof(expect), "double-free of %p (order ", p);
	assert_non_null(strstr(text, "kmem: buddy 'dflt': "));
	assert_non_null(strstr(text, expect));
	assert_int_equal(strchr(text, '\n') - text, n - 1); /* exactly one line */
	assert_int_equal(kmem_error_count(kmem_buddy_error_sink(b), KMEM_DOUBLE_FREE), 1);
	assert_int_equal(kmem_buddy_check(b), 0);
	kmem_buddy_destroy(b);
}

/* KMEM_ERROR_ABORT: the process aborts after the report (with no fatal hook:
 * abort(), or a trap instruction in a freestanding build). */
static void test_abort_action(void **state)
{
	pid_t pid;
	int status = 0;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static _Alignas(16) char heap[64 * 1024];
		struct kmem_error_sink sink;
		struct kmem_buddy_config cfg;
		struct kmem_buddy *b;
		void *p;

		signal(SIGILL, SIG_DFL); /* cmocka catches it; the parent must see it */
		kmem_error_sink_init(&sink);
		sink.flags = KMEM_ERROR_ABORT | KMEM_ERROR_QUIET;
		kmem_buddy_config_init(&cfg);
		cfg.frame_size = 1024;
		cfg.sink = &sink;
		if (kmem_buddy_create_in(heap, sizeof(heap), &cfg, &b))
			_exit(3);
		p = kmem_buddy_alloc(b, 0);
		kmem_buddy_free(b, p);
		kmem_buddy_free(b, p); /* aborts */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
#ifdef KMEM_FREESTANDING
	assert_true(WTERMSIG(status) == SIGILL || WTERMSIG(status) == SIGTRAP);
#else
	assert_int_equal(WTERMSIG(status), SIGABRT);
#endif
}

/* One sink shared by two instances counts for both. */
static void test_shared_sink(void **state)
{
	struct test_recorder rec;
	static _Alignas(16) char h1[64 * 1024], h2[64 * 1024];
	struct kmem_buddy_config cfg;
	struct kmem_buddy *a, *b;
	int x;

	(void)state;
	test_recorder_init(&rec);
	kmem_buddy_config_init(&cfg);
	cfg.frame_size = 1024;
	cfg.sink = &rec.sink;
	cfg.name = "one";
	assert_int_equal(kmem_buddy_create_in(h1, sizeof(h1), &cfg, &a), 0);
	cfg.name = "two";
	assert_int_equal(kmem_buddy_create_in(h2, sizeof(h2), &cfg, &b), 0);
	assert_ptr_equal(kmem_buddy_error_sink(a), &rec.sink);
	kmem_buddy_free(a, &x);
	assert_string_equal(rec.last.instance, "one");
	/* a block of one instance freed to the other is foreign there */
	{
		void *p = kmem_buddy_alloc(a, 0);

		assert_int_equal(kmem_buddy_free_checked(b, p, 0), KMEM_FOREIGN_POINTER);
		assert_string_equal(rec.last.instance, "two");
		assert_int_equal(kmem_buddy_free_checked(a, p, 0), KMEM_OK);
	}
	assert_int_equal(kmem_error_count(&rec.sink, KMEM_FOREIGN_POINTER), 2);
	assert_int_equal(rec.calls, 2);
	assert_int_equal(kmem_buddy_check(a), 0);
	assert_int_equal(kmem_buddy_check(b), 0);
	kmem_buddy_destroy(a);
	kmem_buddy_destroy(b);
}

static void test_error_helpers(void **state)
{
	struct kmem_error_report r = { .status = KMEM_WRONG_ORDER,
				       .component = "buddy",
				       .instance = "x",
				       .ptr = (void *)(uintptr_t)0x1000,
				       .order = 3,
				       .detail = "d" };
	char line[128];

	(void)state;
	memset(line, 0, sizeof(line));
	assert_string_equal(kmem_status_name(KMEM_OK), "ok");
	assert_string_equal(kmem_status_name(KMEM_DOUBLE_FREE), "double-free");
	assert_string_equal(kmem_status_name(KMEM_CORRUPTION), "corruption");
	assert_string_equal(kmem_status_name((enum kmem_status)99), "unknown");
	int n = kmem_error_format(&r, line, sizeof(line));

	assert_int_equal(n, (int)strlen(line));
	assert_string_equal(line, "kmem: buddy 'x': wrong-order of 0x1000 (order 3): d");
	r.order = -1;
	kmem_error_format(&r, line, sizeof(line));
	assert_string_equal(line, "kmem: buddy 'x': wrong-order of 0x1000: d");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_double_free_same_block),
		T(test_double_free_after_merge),
		T(test_foreign_pointers),
		T(test_interior_pointers),
		T(test_wrong_order),
		T(test_reserved_free),
		T(test_requests_out_of_range),
		T(test_callback_outside_lock),
		cmocka_unit_test(test_foreign_pointer_far_away),
		cmocka_unit_test(test_default_sink_prints_one_line),
		cmocka_unit_test(test_abort_action),
		cmocka_unit_test(test_shared_sink),
		cmocka_unit_test(test_error_helpers),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
