/* bench.h - write benchmarks in C, run them with Google Benchmark.
 *
 * A benchmark is a C function taking a struct kmem_bench_state *. It loops
 * on kmem_bench_keep_running_batch(st, n), doing n operations per true
 * return, so the shim's call is amortised over the batch and not what is
 * measured. Register it at file scope with KMEM_BENCH(fn) (plain) or
 * KMEM_BENCH_ARGS(fn, threads, arg0, ...) (argument list and thread count).
 * bench_shim.cc, the one C++ file, adapts this to benchmark::State; every
 * Google Benchmark flag works (--benchmark_format=json, _filter, _min_time).
 */
#ifndef KMEM_BENCH_H
#define KMEM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kmem_bench_state; /* a benchmark::State */

/* True while the benchmark wants more: the caller then performs `batch`
 * operations (each counted as one iteration). */
bool kmem_bench_keep_running_batch(struct kmem_bench_state *st, uint64_t batch);
/* Argument idx of this run (KMEM_BENCH_ARGS), 0 if none. */
int64_t kmem_bench_arg(struct kmem_bench_state *st, int idx);
/* Iterations (operations) run so far. */
int64_t kmem_bench_iterations(struct kmem_bench_state *st);
/* Report items/s and bytes/s from totals over the whole run. */
void kmem_bench_set_items_processed(struct kmem_bench_state *st, int64_t items);
void kmem_bench_set_bytes_processed(struct kmem_bench_state *st, int64_t bytes);
/* A named counter; flags 0 (plain value) or KMEM_BENCH_PER_ITERATION
 * (divided by the iterations) or KMEM_BENCH_RATE (per second). */
#define KMEM_BENCH_PER_ITERATION 1u
#define KMEM_BENCH_RATE 2u
void kmem_bench_counter(struct kmem_bench_state *st, const char *name, double value,
			unsigned flags);
void kmem_bench_label(struct kmem_bench_state *st, const char *label);
/* Stop the clock around setup inside the loop (costly: use sparingly). */
void kmem_bench_pause(struct kmem_bench_state *st);
void kmem_bench_resume(struct kmem_bench_state *st);
/* Abort this benchmark with a message (shown in the report). */
void kmem_bench_error(struct kmem_bench_state *st, const char *msg);
/* Thread index (0..threads-1) and count for multi-threaded runs. */
int kmem_bench_thread_index(struct kmem_bench_state *st);
int kmem_bench_threads(struct kmem_bench_state *st);

/* Registration. args: nargs values passed as one argument tuple per entry
 * of a run (each value is its own run when per_run is true). */
void kmem_bench_register(const char *name, void (*fn)(struct kmem_bench_state *), int threads,
			 int nargs, const int64_t *args);
/* Run every registered benchmark; returns the process exit code. */
int kmem_bench_main(int argc, char **argv);

#define KMEM_BENCH_ARGS(fn, threads, ...)                                                \
	__attribute__((constructor)) static void kmem_bench_reg_##fn(void)               \
	{                                                                              \
		static const int64_t args_[] = { __VA_ARGS__ };                        \
		kmem_bench_register(#fn, fn, threads, (int)(sizeof(args_) / sizeof(args_[0])), args_); \
	}
#define KMEM_BENCH(fn)                                                                   \
	__attribute__((constructor)) static void kmem_bench_reg_##fn(void)               \
	{                                                                              \
		kmem_bench_register(#fn, fn, 1, 0, 0);                                 \
	}

/* The reference every benchmark program runs in the same process: glibc
 * malloc(size) + free pairs, in batches of `batch`. */
void kmem_bench_glibc_pairs(struct kmem_bench_state *st, size_t size, int batch);

#ifdef __cplusplus
}
#endif

#endif /* KMEM_BENCH_H */
