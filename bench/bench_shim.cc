// bench_shim.cc - the one C++ file: adapts bench.h's C API to Google
// Benchmark. Each registered C benchmark becomes a benchmark::RegisterBenchmark
// entry; struct kmem_bench_state is a benchmark::State.
#include "bench.h"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace {

struct entry {
	std::string name;
	void (*fn)(kmem_bench_state *);
	int threads;
	std::vector<int64_t> args;
};

std::vector<entry> &registry()
{
	static std::vector<entry> r; // constructed on first use: safe from C constructors
	return r;
}

benchmark::State &S(kmem_bench_state *st) { return *reinterpret_cast<benchmark::State *>(st); }

} // namespace

extern "C" {

bool kmem_bench_keep_running_batch(kmem_bench_state *st, uint64_t batch)
{
	return S(st).KeepRunningBatch(static_cast<benchmark::IterationCount>(batch));
}
int64_t kmem_bench_arg(kmem_bench_state *st, int idx)
{
	return S(st).range(static_cast<std::size_t>(idx));
}
int64_t kmem_bench_iterations(kmem_bench_state *st) { return static_cast<int64_t>(S(st).iterations()); }
void kmem_bench_set_items_processed(kmem_bench_state *st, int64_t items) { S(st).SetItemsProcessed(items); }
void kmem_bench_set_bytes_processed(kmem_bench_state *st, int64_t bytes) { S(st).SetBytesProcessed(bytes); }
void kmem_bench_counter(kmem_bench_state *st, const char *name, double value, unsigned flags)
{
	benchmark::Counter::Flags f = benchmark::Counter::kDefaults;
	if (flags & KMEM_BENCH_PER_ITERATION)
		f = benchmark::Counter::kAvgIterations;
	else if (flags & KMEM_BENCH_RATE)
		f = benchmark::Counter::kIsRate;
	S(st).counters[name] = benchmark::Counter(value, f);
}
void kmem_bench_label(kmem_bench_state *st, const char *label) { S(st).SetLabel(label); }
void kmem_bench_pause(kmem_bench_state *st) { S(st).PauseTiming(); }
void kmem_bench_resume(kmem_bench_state *st) { S(st).ResumeTiming(); }
void kmem_bench_error(kmem_bench_state *st, const char *msg) { S(st).SkipWithError(msg); }
int kmem_bench_thread_index(kmem_bench_state *st) { return S(st).thread_index(); }
int kmem_bench_threads(kmem_bench_state *st) { return S(st).threads(); }

void kmem_bench_register(const char *name, void (*fn)(kmem_bench_state *), int threads, int nargs,
			 const int64_t *args)
{
	registry().push_back(entry{ name, fn, threads, std::vector<int64_t>(args, args + nargs) });
}

int kmem_bench_main(int argc, char **argv)
{
	for (const entry &e : registry()) {
		auto fn = e.fn;
		auto *b = benchmark::RegisterBenchmark(e.name.c_str(), [fn](benchmark::State &st) {
			fn(reinterpret_cast<kmem_bench_state *>(&st));
		});
		for (int64_t a : e.args)
			b->Arg(a);
		if (e.threads > 1)
			b->Threads(e.threads)->UseRealTime();
	}
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}

} // extern "C"
