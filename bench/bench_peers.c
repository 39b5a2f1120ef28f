/* bench_peers.c - kmem against the process's malloc: glibc, or a peer
 * allocator (jemalloc, tcmalloc, mimalloc) put in front of it with
 * LD_PRELOAD (scripts/bench-peers.sh runs the program under each). Every
 * workload comes in up to three variants, run in the same process:
 *   _cache   kmem_cache_alloc/kmem_cache_free on a 64-byte cache
 *   _kmalloc kmem_alloc/kmem_free
 *   _malloc  malloc/free, whichever allocator the process has
 * kmem instances are set up as in bench-slab (slab_workloads.h: a slab
 * instance on a 64 MiB buddy arena, 4 KiB frames), before the clock starts.
 *
 * Workloads (items/s counts one item per unit below):
 *   pair_*      same thread, alloc 64 B + free; unit: one pair. One object
 *               stays allocated meanwhile, so every allocator is warm.
 *   prodcons_*  two threads (Google Benchmark threads:2, wall time): thread
 *               0 allocates 64-byte objects, stores a word in each and
 *               passes them through a bounded single-producer/single-
 *               consumer ring (C11 atomics, acquire/release) to thread 1,
 *               which frees them; unit: one object. Both threads run the
 *               same iteration count, so the consumer takes exactly what
 *               the producer put and the run ends with the ring empty.
 *               prodcons_ring64 passes one static object round: the ring's
 *               own cost, for reference.
 *   random_*    one thread, a working set of RND_SLOTS live objects; a
 *               step frees a random slot and allocates a random size in
 *               8..arg bytes into it; unit: one step (free + alloc). Slots
 *               and sizes come from a precomputed splitmix64 sequence
 *               (seed fixed), the same for every allocator. No cache
 *               variant: a cache has one size.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr, RTLD_DEFAULT */
#endif
#include <dlfcn.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "slab_workloads.h"

#define BATCH 256

/* The malloc runs' label: the file the process's malloc comes from (libc,
 * or the LD_PRELOADed peer), so a preload that did not take is visible. */
static void label_malloc(struct kmem_bench_state *st)
{
	Dl_info info;
	void *m = dlsym(RTLD_DEFAULT, "malloc");
	const char *name = m && dladdr(m, &info) && info.dli_fname ? info.dli_fname : "unknown";
	const char *slash = strrchr(name, '/');

	kmem_bench_label(st, slash ? slash + 1 : name);
}

/* ---- pair: same-thread alloc+free of 64 bytes ----------------------------------- */

static void pair_cache64(struct kmem_bench_state *st) { sw_run_pairs(st, sw_cache_pair, BATCH); }
static void pair_kmalloc64(struct kmem_bench_state *st) { sw_run_pairs(st, sw_kmalloc_pair, BATCH); }
static void pair_malloc64(struct kmem_bench_state *st)
{
	kmem_bench_glibc_pairs(st, 64, BATCH);
	label_malloc(st);
}
KMEM_BENCH(pair_cache64)
KMEM_BENCH(pair_kmalloc64)
KMEM_BENCH(pair_malloc64)

/* ---- prodcons: allocate in one thread, free in another -------------------------- */

#if KMEM_BENCH_THREADS

#define RING_SIZE 1024u /* slots, a power of two */
#define OBJ_SIZE 64u

/* Lamport's ring: head is written by the producer only, tail by the
 * consumer only, each on its own cache line; each side keeps a copy of the
 * other's index and reloads it only when the ring looks full (empty). */
struct ring {
	_Alignas(64) _Atomic size_t head; /* next slot the producer fills */
	_Alignas(64) _Atomic size_t tail; /* next slot the consumer empties */
	_Alignas(64) void *slot[RING_SIZE];
};

enum pc_kind { PC_CACHE, PC_KMALLOC, PC_MALLOC, PC_RING };

/* Shared by the two threads of one run. Thread 0 fills it before its first
 * kmem_bench_keep_running_batch() call and tears it down after its last;
 * Google Benchmark's start and stop barriers sit inside those calls, so
 * thread 1 sees it set up and is done with it by then. */
static struct {
	struct ring ring;
	struct sw w;
	int setup_failed;
	uint64_t alloc_fails; /* thread 0 only */
	_Alignas(64) unsigned char obj[OBJ_SIZE]; /* the one object PC_RING passes */
} pc;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("pause" ::: "memory");
#elif defined(__aarch64__) || defined(__arm__)
	__asm__ volatile("yield" ::: "memory");
#else
	__asm__ volatile("" ::: "memory");
#endif
}

/* Spin briefly, then give the core away: with 2 cores (or a busy host) the
 * other side may not be running at all. */
static inline void backoff(unsigned *spins)
{
	if (++*spins < 128) {
		cpu_relax();
	} else {
		*spins = 0;
		sched_yield();
	}
}

static void produce(struct ring *r, enum pc_kind kind, uint64_t n)
{
	size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	for (uint64_t i = 0; i < n; i++) {
		void *p = kind == PC_CACHE     ? kmem_cache_alloc(pc.w.c)
			  : kind == PC_KMALLOC ? kmem_alloc(pc.w.s, OBJ_SIZE)
			  : kind == PC_MALLOC  ? malloc(OBJ_SIZE)
					       : (void *)pc.obj;

		if (p)
			*(volatile uint64_t *)p = head; /* the producer fills the object */
		else
			pc.alloc_fails++; /* NULL goes through: freeing it is a no-op */
		if (head - tail == RING_SIZE) {
			unsigned spins = 0;

			while (head - (tail = atomic_load_explicit(&r->tail, memory_order_acquire)) ==
			       RING_SIZE)
				backoff(&spins);
		}
		r->slot[head & (RING_SIZE - 1)] = p;
		atomic_store_explicit(&r->head, ++head, memory_order_release);
	}
}

static void consume(struct ring *r, enum pc_kind kind, uint64_t n)
{
	size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	for (uint64_t i = 0; i < n; i++) {
		void *p;

		if (head == tail) {
			unsigned spins = 0;

			while ((head = atomic_load_explicit(&r->head, memory_order_acquire)) == tail)
				backoff(&spins);
		}
		p = r->slot[tail & (RING_SIZE - 1)];
		atomic_store_explicit(&r->tail, ++tail, memory_order_release);
		if (kind == PC_CACHE)
			kmem_cache_free(pc.w.c, p);
		else if (kind == PC_KMALLOC)
			kmem_free(pc.w.s, p);
		else if (kind == PC_MALLOC)
			free(p);
	}
}

static void run_prodcons(struct kmem_bench_state *st, enum pc_kind kind)
{
	int producer = kmem_bench_thread_index(st) == 0;

	if (kmem_bench_threads(st) != 2) {
		kmem_bench_error(st, "needs exactly 2 threads");
		while (kmem_bench_keep_running_batch(st, BATCH)) /* through the barriers */
			;
		return;
	}
	if (producer) {
		atomic_store_explicit(&pc.ring.head, 0, memory_order_relaxed);
		atomic_store_explicit(&pc.ring.tail, 0, memory_order_relaxed);
		pc.alloc_fails = 0;
		pc.setup_failed = (kind == PC_CACHE || kind == PC_KMALLOC) && sw_setup(&pc.w) != 0;
	}
	/* Every thread goes through the loop (Google Benchmark's barriers are
	 * in it), even when setup failed: then both skip with an error. */
	while (kmem_bench_keep_running_batch(st, BATCH)) {
		if (pc.setup_failed) {
			kmem_bench_error(st, "setup failed");
			continue;
		}
		if (producer)
			produce(&pc.ring, kind, BATCH);
		else
			consume(&pc.ring, kind, BATCH);
	}
	if (!producer)
		return;
	/* Objects passed per second: the producer's count, against wall time
	 * (two-thread runs use real time). */
	kmem_bench_set_items_processed(st, pc.setup_failed ? 0 : kmem_bench_iterations(st));
	if (pc.alloc_fails)
		kmem_bench_error(st, "allocation failed");
	if (kind == PC_MALLOC)
		label_malloc(st);
	else if (kind != PC_RING && !pc.setup_failed)
		sw_teardown(&pc.w);
}

static void prodcons_cache64(struct kmem_bench_state *st) { run_prodcons(st, PC_CACHE); }
static void prodcons_kmalloc64(struct kmem_bench_state *st) { run_prodcons(st, PC_KMALLOC); }
static void prodcons_malloc64(struct kmem_bench_state *st) { run_prodcons(st, PC_MALLOC); }
/* The ring alone (one static object passed round, nothing allocated): what
 * the hand-off costs, and how fast the two cores talk during this run. */
static void prodcons_ring64(struct kmem_bench_state *st) { run_prodcons(st, PC_RING); }
/* The argument is the ring's capacity, for the record (names end in
 * /1024/real_time/threads:2). */
KMEM_BENCH_ARGS(prodcons_cache64, 2, RING_SIZE)
KMEM_BENCH_ARGS(prodcons_kmalloc64, 2, RING_SIZE)
KMEM_BENCH_ARGS(prodcons_malloc64, 2, RING_SIZE)
KMEM_BENCH_ARGS(prodcons_ring64, 2, RING_SIZE)

#endif /* KMEM_BENCH_THREADS */

/* ---- random: sizes 8..max over a working set of live slots ---------------------- */

#define RND_SLOTS 1024u	 /* live objects; a power of two */
#define RND_STEPS 65536u /* precomputed steps, cycled; a power of two */
#define RND_SEED UINT64_C(0x6b6d656d)

struct rnd {
	uint32_t step[RND_STEPS]; /* slot << 16 | size */
	void *live[RND_SLOTS];
	uint64_t fails;
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint32_t rnd_size(uint64_t *x, uint32_t max)
{
	return 8u + (uint32_t)(splitmix64(x) % (max - 7u)); /* 8..max, uniform */
}

static struct rnd *rnd_new(uint32_t max)
{
	struct rnd *r = malloc(sizeof(*r));
	uint64_t x = RND_SEED;

	if (!r)
		return NULL;
	for (uint32_t i = 0; i < RND_STEPS; i++) {
		uint32_t slot = (uint32_t)(splitmix64(&x) >> 32) & (RND_SLOTS - 1);

		r->step[i] = slot << 16 | rnd_size(&x, max);
	}
	r->fails = 0;
	return r;
}

static void run_random(struct kmem_bench_state *st, struct kmem_slab *s)
{
	uint32_t max = (uint32_t)kmem_bench_arg(st, 0);
	uint64_t x = RND_SEED ^ 1u;
	struct rnd *r;
	uint32_t k = 0;

	if (max < 8 || max > 65535 || !(r = rnd_new(max))) {
		kmem_bench_error(st, "bad size or no memory");
		return;
	}
	for (uint32_t i = 0; i < RND_SLOTS; i++) { /* the working set, before the clock */
		uint32_t size = rnd_size(&x, max);

		r->live[i] = s ? kmem_alloc(s, size) : malloc(size);
	}
	while (kmem_bench_keep_running_batch(st, BATCH))
		for (int i = 0; i < BATCH; i++) {
			uint32_t step = r->step[k++ & (RND_STEPS - 1)];
			void **slot = &r->live[step >> 16];
			size_t size = step & 0xffffu;

			if (s) {
				kmem_free(s, *slot);
				*slot = kmem_alloc(s, size);
			} else {
				free(*slot);
				*slot = malloc(size);
			}
			r->fails += !*slot;
		}
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	if (r->fails)
		kmem_bench_error(st, "allocation failed");
	for (uint32_t i = 0; i < RND_SLOTS; i++)
		if (s)
			kmem_free(s, r->live[i]);
		else
			free(r->live[i]);
	free(r);
}

static void random_kmalloc(struct kmem_bench_state *st)
{
	struct sw w;

	if (sw_setup(&w)) {
		kmem_bench_error(st, "setup failed");
		return;
	}
	run_random(st, w.s);
	sw_teardown(&w);
}

static void random_malloc(struct kmem_bench_state *st)
{
	run_random(st, NULL);
	label_malloc(st);
}
KMEM_BENCH_ARGS(random_kmalloc, 1, 1024, 8192)
KMEM_BENCH_ARGS(random_malloc, 1, 1024, 8192)
