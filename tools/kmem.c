/* kmem.c - the kmem command: allocator demos and fragmentation experiments.
 *
 * `kmem` (or `kmem demo`) runs the main job: a buddy instance over a 64 MiB
 * arena in process memory with 4 KiB frames (the embedded default), driven
 * by a seeded random page workload of alternating allocation and free
 * phases with mixed orders; then it prints /proc/buddyinfo-style free counts,
 * Linux's fragmentation indexes per order and a one-screen summary. Next, on
 * the same (now fragmented) frames, a slab instance serves two object caches
 * and kmalloc through a seeded object workload, and /proc/slabinfo is
 * printed. Then the frame service (pagealloc) runs over a small buddy of its
 * own with a slab instance on top: a page workload whose blocks are checked
 * for zero fill, background zeroing and one reclaim cycle by the reaper
 * (driven by kmem_pa_reaper_run, no thread), zoneinfo and vmstat. Finally
 * everything is freed to show that all blocks coalesce.
 * The output is a pure function of the options: same seed, same text.
 *
 * `kmem replay [options] TRACE` replays an allocation trace written by the
 * drop-in malloc (KMEM_TRACE=file; format in kmem/trace.h): it validates
 * the file, sorts the records by seq (an LSD radix sort; the file holds
 * per-thread batches), and performs every call in seq order in ONE thread,
 * so the interleaving of the traced threads is serialised by seq. Block ids
 * (the traced addresses) map to the replay's own blocks through an
 * open-addressing hash table. The calls go to a fresh kmem heap built from
 * the public API (a buddy over an mmap'd arena, a pagealloc frame service
 * on it, a slab instance on the service; kmem_alloc/kmem_zalloc/
 * kmem_alloc_aligned/kmem_realloc/kmem_free), or with --malloc to the
 * process's malloc (compare glibc, or a peer through LD_PRELOAD).
 * Inconsistencies in a trace (records lost to a kill, memory allocated
 * before tracing began) are counted, never fatal: a FREE of an unknown id
 * is skipped; a REALLOC of an unknown id skips the free and replays the
 * allocation; an allocation returning an id that is still live replaces
 * the old block (freed first); the FREE record the drop-in writes right
 * after a realloc(p, 0) of p (it traces both calls) is counted apart.
 * Every block carries a tag in its first and last 8 bytes, checked when it
 * is freed or moved. The report: records by op, skipped counts, wall time
 * and ns per call, peak live requested bytes, peak frames, final buddyinfo
 * and fragmentation indexes, then the invariant checkers (kmem_pa_check,
 * kmem_buddy_check; the kmalloc caches are not reachable through the API,
 * so no kmem_cache_check) and a teardown that must return every frame;
 * any failure exits 1.
 *
 * `kmem trace-dump [--limit N] [--sort] TRACE` prints the records as text.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kmem/kmem.h>
#include <kmem/trace.h>

#include "kmem_rand.h"

struct opts {
	uint64_t seed;
	size_t arena;
	size_t frame;
	unsigned max_order;
	unsigned rounds;
	unsigned fill_pct;	/* allocation phase target, % of managed */
	unsigned free_pct;	/* share of live blocks each free phase releases */
	bool json;
};

struct blk {
	void *p;
	unsigned order;
};

/* Page-sized requests skew small, as in kernels: 50% order 0, 20% order 1,
 * 12% order 2, 8% order 3, the rest spread over 4..min(max_order, 9). */
static unsigned pick_order(uint64_t *s, unsigned max_order)
{
	unsigned d = (unsigned)(kmem_splitmix64(s) % 100), top = max_order < 9 ? max_order : 9, o;

	if (d < 50)
		o = 0;
	else if (d < 70)
		o = 1;
	else if (d < 82)
		o = 2;
	else if (d < 90)
		o = 3;
	else
		o = top >= 4 ? 4 + (unsigned)(kmem_splitmix64(s) % (top - 3)) : top;
	return o > max_order ? max_order : o;
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end || v == 0 || v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kmem [demo] [options]\n"
		"       kmem replay [options] TRACE      (kmem replay --help)\n"
		"       kmem trace-dump [options] TRACE  (kmem trace-dump --help)\n"
		"Runs a seeded random page workload on a buddy allocator and prints\n"
		"buddyinfo, fragmentation indexes and a summary; then slab caches on the\n"
		"same frames (slabinfo), and a pagealloc frame service with a slab on top\n"
		"over a 16 MiB arena of its own (zero fill, reaper, zoneinfo, vmstat).\n"
		"  -s, --seed N        workload seed (default 1)\n"
		"  -a, --arena SIZE    arena bytes, K/M/G suffixes (default 64M)\n"
		"  -f, --frame SIZE    frame size, power of two 64..64K (default 4096)\n"
		"  -o, --max-order N   largest block order, 1..31 (default 10)\n"
		"  -r, --rounds N      allocation/free rounds (default 8)\n"
		"      --fill PCT      allocation phase fills to PCT%% of memory (default 90)\n"
		"      --free PCT      free phase releases PCT%% of live blocks (default 50)\n"
		"  -j, --json          print the final state as JSON\n"
		"  -h, --help          this text\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "arena", required_argument, NULL, 'a' },
		{ "frame", required_argument, NULL, 'f' },
		{ "max-order", required_argument, NULL, 'o' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "fill", required_argument, NULL, 'F' },
		{ "free", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .seed = 1, .arena = 64u << 20, .frame = 4096, .max_order = 10,
			    .rounds = 8, .fill_pct = 90, .free_pct = 50 };
	while ((c = getopt_long(argc, argv, "s:a:f:o:r:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': o->seed = strtoull(optarg, NULL, 0); break;
		case 'a':
			if (parse_size(optarg, &o->arena))
				return -1;
			break;
		case 'f':
			if (parse_size(optarg, &o->frame))
				return -1;
			break;
		case 'o': o->max_order = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': o->rounds = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'F': o->fill_pct = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'R': o->free_pct = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'j': o->json = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind < argc && strcmp(argv[optind], "demo") == 0)
		optind++;
	if (optind != argc || o->fill_pct > 100 || o->free_pct > 100 || o->max_order == 0)
		return -1;
	return 0;
}

static void print_indexes(const struct kmem_buddy_stats *st)
{
	printf("order  free-blocks  unusable  extfrag\n");
	for (unsigned k = 0; k <= st->max_order; k++) {
		int u = kmem_buddy_unusable_index(st, k), e = kmem_buddy_extfrag_index(st, k);

		printf("%5u  %11zu  %d.%03d     %s%d.%03d\n", k, st->free_blocks[k], u / 1000, u % 1000,
		       e < 0 ? "-" : " ", abs(e) / 1000, abs(e) % 1000);
	}
}

struct inode {
	unsigned long ino;
	unsigned state;
	char name[580];
};

static void inode_ctor(void *p, void *arg)
{
	struct inode *i = p;

	i->ino = 0;
	i->state = 0;
	(*(unsigned long *)arg)++;
}

/* Objects on the buddy's frames: two caches and kmalloc, seeded rounds of
 * allocation and free; prints slabinfo; frees everything. Returns 0, or 1
 * on an error or a failed check. */
static int slab_phase(struct kmem_buddy *b, const struct opts *o, uint64_t *rng)
{
	struct kmem_page_source ps;
	struct kmem_slab_config sc = { .name = "demo" };
	struct kmem_slab *s;
	struct kmem_cache *inodes, *dentries;
	void *mem = NULL, **obj;
	unsigned char *kind;
	unsigned long ctor_calls = 0, allocs = 0, frees = 0;
	size_t n = 0, cap = 200000;
	char *text = malloc(1 << 16);
	int rc = 0;

	kmem_buddy_page_source(b, &ps);
	sc.source = &ps;
	if (!text || posix_memalign(&mem, 64, kmem_slab_sizeof()) ||
	    kmem_slab_init(mem, kmem_slab_sizeof(), &sc, &s)) {
		fprintf(stderr, "kmem: slab setup failed\n");
		free(text);
		free(mem);
		return 1;
	}
	inodes = kmem_cache_create(s, "inode_cache", sizeof(struct inode), 0, 0, inode_ctor, NULL,
				   &ctor_calls);
	dentries = kmem_cache_create(s, "dentry", 192, 0, 0, NULL, NULL, NULL);
	obj = calloc(cap, sizeof(*obj));
	kind = calloc(cap, 1);
	for (unsigned round = 0; round < o->rounds && inodes && dentries && obj && kind; round++) {
		for (unsigned i = 0; i < 20000 && n < cap; i++) {
			unsigned d = (unsigned)(kmem_splitmix64(rng) % 10);
			void *p;

			if (d < 2)
				p = kmem_cache_alloc(inodes);
			else if (d < 5)
				p = kmem_cache_alloc(dentries);
			else /* kmalloc: mostly small, sometimes up to 16 KiB */
				p = kmem_alloc(s, 1 + (size_t)(kmem_splitmix64(rng) %
							       (d < 9 ? 256 : 16384)));
			if (!p)
				break;
			obj[n] = p;
			kind[n++] = (unsigned char)(d < 2 ? 0 : d < 5 ? 1 : 2);
			allocs++;
		}
		for (size_t k = n * o->free_pct / 100; k > 0; k--) {
			size_t i = (size_t)(kmem_splitmix64(rng) % n);

			if (kind[i] == 0)
				kmem_cache_free(inodes, obj[i]);
			else if (kind[i] == 1)
				kmem_cache_free(dentries, obj[i]);
			else
				kmem_free(s, obj[i]);
			obj[i] = obj[--n];
			kind[i] = kind[n];
			frees++;
		}
	}
	if (!o->json) {
		printf("\nslab: %lu object allocations, %lu frees, %zu live; inode constructor ran %lu times\n",
		       allocs, frees, n, ctor_calls);
		kmem_slab_format_slabinfo(s, text, 1 << 16);
		fputs(text, stdout);
	}
	if (kmem_cache_check(inodes) || kmem_cache_check(dentries))
		rc = 1;
	while (n > 0) {
		n--;
		if (kind[n] == 0)
			kmem_cache_free(inodes, obj[n]);
		else if (kind[n] == 1)
			kmem_cache_free(dentries, obj[n]);
		else
			kmem_free(s, obj[n]);
	}
	kmem_cache_destroy(inodes);
	kmem_cache_destroy(dentries);
	kmem_slab_destroy(s);
	if (kmem_error_total(kmem_slab_error_sink(s)))
		rc = 1;
	free(obj);
	free(kind);
	free(text);
	free(mem);
	return rc;
}

/* ---- the frame service (pagealloc) -------------------------------------------
 *
 * A separate small buddy (16 MiB, 4 KiB frames) behind a pagealloc instance
 * with the default policy (init_on_alloc), and a slab instance on top of it
 * (which registers itself as a shrinker). No reaper thread: the demo drives
 * the reaper with kmem_pa_reaper_run() so the output stays reproducible. */

#define PA_ARENA ((size_t)16 << 20)
#define PA_FRAME ((size_t)4096)
#define PA_MAX_ORDER 10u
#define PA_LIVE_MAX 512u	/* blocks live at once in the page workload */
#define PA_LIVE_FRAMES 1024u	/* ... and frames */
#define PA_PAGE_OPS 4000u
#define PA_ZERO_BUDGET 64u	/* frames per kmem_pa_reaper_run() */

struct pa_demo {
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	struct kmem_slab *s;
	void *binst, *arena, *meta, *pinst, *sinst;
	unsigned long checked, dirty; /* zero-fill verification */
};

static void *aligned_zalloc(size_t align, size_t size)
{
	void *p = aligned_alloc(align, (size + align - 1) & ~(align - 1));

	if (p)
		memset(p, 0, size);
	return p;
}

static struct kmem_pa_stats pa_stats(struct kmem_pagealloc *pa)
{
	struct kmem_pa_stats st;

	kmem_pa_get_stats(pa, &st);
	return st;
}

/* A block just handed out: it must read all zero (init_on_alloc); then it
 * gets a caller's "secrets", which no later caller may ever see. */
static void pa_take(struct pa_demo *d, void *p, unsigned order, uint64_t *rng)
{
	static const unsigned char zero[PA_FRAME];
	unsigned char *c = p;
	size_t frames = (size_t)1 << order;
	bool old = false;

	for (size_t f = 0; f < frames && !old; f++)
		old = memcmp(c + f * PA_FRAME, zero, PA_FRAME) != 0;
	d->checked++;
	d->dirty += old;
	memset(p, (int)(kmem_splitmix64(rng) % 255) + 1, frames * PA_FRAME);
}

static unsigned pa_pick_order(uint64_t *rng)
{
	unsigned d = (unsigned)(kmem_splitmix64(rng) % 100);

	return d < 50 ? 0 : d < 75 ? 1 : d < 90 ? 2 : 3;
}

static const char *work_name(unsigned w)
{
	static const char *const names[] = {
		"idle", "reclaim", "zero", "reclaim+zero", "pending", "reclaim+pending",
		"zero+pending", "reclaim+zero+pending",
	};

	return names[w & 7u];
}

/* Only the vmstat lines the demo talks about (the whole file is ~35). */
static void print_vmstat_subset(const char *text)
{
	static const char *const keep[] = {
		"nr_free_pages ", "nr_zeroed_pages ", "nr_dirty_pages ", "nr_used_pages ",
		"pgalloc ", "pgfree ", "pgalloc_pcp ", "pgalloc_zeroed_hit ", "zeroed_hit_permille ",
		"pgzero_background ", "pgzero_inline ", "reaper_wake ", "reaper_cycles ",
		"pgreclaim_background ", "direct_reclaim ", "oom_events ", "alloc_fail ",
	};

	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) + 1 : strlen(line);
		bool show = strncmp(line, "shrinker_", 9) == 0;

		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]) && !show; i++)
			show = strncmp(line, keep[i], strlen(keep[i])) == 0;
		if (show)
			printf("  %.*s", (int)len, line);
		line += len;
	}
}

static int pa_setup(struct pa_demo *d)
{
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;
	size_t msz;
	int rc;

	kmem_buddy_config_init(&bc);
	bc.name = "frames";
	bc.frame_size = PA_FRAME;
	bc.max_order = PA_MAX_ORDER;
	bc.flags = KMEM_BUDDY_OWNERS; /* slab maps objects to slabs */
	d->binst = aligned_zalloc(64, kmem_buddy_sizeof(&bc));
	d->arena = aligned_alloc(PA_FRAME << PA_MAX_ORDER, PA_ARENA);
	if (!d->binst || !d->arena)
		return -ENOMEM;
	rc = kmem_buddy_init(d->binst, kmem_buddy_sizeof(&bc), &bc, &d->b);
	if (rc)
		return rc;
	msz = kmem_buddy_region_meta_size(d->b, d->arena, PA_ARENA);
	d->meta = msz ? aligned_zalloc(64, msz) : NULL;
	if (!d->meta)
		return -ENOMEM;
	rc = kmem_buddy_add_region(d->b, d->arena, PA_ARENA, d->meta, msz);
	if (rc)
		return rc;
	kmem_pa_config_init(&pc); /* policy init_on_alloc, derived watermarks */
	pc.name = "pagealloc";
	pc.buddy = d->b;
	d->pinst = aligned_zalloc(64, kmem_pa_sizeof());
	if (!d->pinst)
		return -ENOMEM;
	return kmem_pa_init(d->pinst, kmem_pa_sizeof(), &pc, &d->pa);
}

/* 1. Seeded page workload, orders 0..3, some KMEM_PAGE_ZERO requests;
 * every block handed out is checked for old data. */
static int pa_page_workload(struct pa_demo *d, bool quiet, uint64_t *rng)
{
	struct blk live[PA_LIVE_MAX];
	size_t nlive = 0, live_frames = 0, peak = 0;
	unsigned long per_order[4] = { 0 }, zero_req = 0, allocs = 0, frees = 0, fails = 0;
	struct kmem_pa_stats st;

	for (unsigned i = 0; i < PA_PAGE_OPS; i++) {
		unsigned dice = (unsigned)(kmem_splitmix64(rng) % 100);

		if (nlive == 0 || (dice < 55 && nlive < PA_LIVE_MAX && live_frames < PA_LIVE_FRAMES)) {
			unsigned order = pa_pick_order(rng);
			unsigned flags = kmem_splitmix64(rng) % 8 == 0 ? KMEM_PAGE_ZERO : 0;
			void *p = kmem_pa_alloc(d->pa, order, flags);

			if (!p) {
				fails++;
				continue;
			}
			pa_take(d, p, order, rng);
			live[nlive++] = (struct blk){ p, order };
			live_frames += (size_t)1 << order;
			peak = live_frames > peak ? live_frames : peak;
			per_order[order]++;
			zero_req += flags != 0;
			allocs++;
		} else {
			size_t k = (size_t)(kmem_splitmix64(rng) % nlive);

			kmem_pa_free(d->pa, live[k].p, live[k].order);
			live_frames -= (size_t)1 << live[k].order;
			live[k] = live[--nlive];
			frees++;
		}
	}
	while (nlive > 0) {
		nlive--;
		kmem_pa_free(d->pa, live[nlive].p, live[nlive].order);
		frees++;
	}
	st = pa_stats(d->pa);
	if (!quiet) {
		printf("pages: %lu allocations (order 0/1/2/3: %lu/%lu/%lu/%lu, %lu with KMEM_PAGE_ZERO), "
		       "%lu frees, %lu failed, peak %zu frames live\n",
		       allocs, per_order[0], per_order[1], per_order[2], per_order[3], zero_req, frees,
		       fails, peak);
		printf("  no zeroed frames yet: %llu frames zeroed inline, %llu zeroed-pool hits; "
		       "now %zu frames in the dirty pool, %zu zeroed\n",
		       (unsigned long long)st.zeroed_inline, (unsigned long long)st.zero_hits, st.dirty,
		       st.zeroed);
	}
	return fails ? 1 : 0;
}

/* 2. The reaper's background zeroing, in steps of PA_ZERO_BUDGET frames;
 * afterwards order-0 allocations come zeroed from the pool. */
static int pa_background_zeroing(struct pa_demo *d, bool quiet, uint64_t *rng)
{
	struct kmem_pa_stats st0, st;
	void *held[64];
	unsigned n = 0;

	for (unsigned run = 1; run <= 4; run++) {
		unsigned w = kmem_pa_reaper_run(d->pa, PA_ZERO_BUDGET);

		st = pa_stats(d->pa);
		if (!quiet)
			printf("  reaper_run(%u) #%u: %-13s zeroed pool %4zu, dirty pool %4zu, "
			       "pgzero_background %llu\n",
			       PA_ZERO_BUDGET, run, work_name(w), st.zeroed, st.dirty,
			       (unsigned long long)st.zeroed_bg);
	}
	st0 = pa_stats(d->pa);
	while (n < 64) {
		void *p = kmem_pa_alloc(d->pa, 0, 0);

		if (!p)
			break;
		pa_take(d, p, 0, rng);
		held[n++] = p;
	}
	/* the frees overflow the thread cache: its slow path folds the
	 * cache's counters, so the hits below are exact */
	while (n > 0)
		kmem_pa_free(d->pa, held[--n], 0);
	st = pa_stats(d->pa);
	if (!quiet)
		printf("  then 64 order-0 allocations: %llu zeroed-pool hits, %llu frames zeroed inline\n",
		       (unsigned long long)(st.zero_hits - st0.zero_hits),
		       (unsigned long long)(st.zeroed_inline - st0.zeroed_inline));
	return 0;
}

struct pa_objs {
	struct kmem_cache *bh, *node;
	void **obj;
	unsigned char *kind;
	size_t n, cap;
};

static void pa_obj_free(struct pa_demo *d, struct pa_objs *ob, size_t i)
{
	if (ob->kind[i] == 0)
		kmem_cache_free(ob->bh, ob->obj[i]);
	else if (ob->kind[i] == 1)
		kmem_cache_free(ob->node, ob->obj[i]);
	else
		kmem_free(d->s, ob->obj[i]);
}

/* 3. A slab instance on the service: caches grow, most objects go again,
 * then held pages push free frames below the low watermark and one
 * reaper step runs a reclaim cycle that shrinks the slab caches. */
static int pa_slab_pressure(struct pa_demo *d, bool quiet, uint64_t *rng, struct pa_objs *ob,
			    void ***held_out, size_t *nheld_out)
{
	struct kmem_slab_config sc = { .name = "slab" };
	struct kmem_page_source ps;
	struct kmem_pa_stats st;
	size_t base, grown, after_free, target, nheld = 0, allocs = 0, frees = 0;
	void **held;
	unsigned w;
	int rc = 0;

	st = pa_stats(d->pa);
	base = st.used;
	target = st.managed * 55 / 100;
	kmem_pa_page_source(d->pa, &ps);
	sc.source = &ps;
	d->sinst = aligned_zalloc(64, kmem_slab_sizeof());
	if (!d->sinst || kmem_slab_init(d->sinst, kmem_slab_sizeof(), &sc, &d->s)) {
		d->s = NULL;
		return 1;
	}
	ob->bh = kmem_cache_create(d->s, "buffer_head", 104, 0, 0, NULL, NULL, NULL);
	ob->node = kmem_cache_create(d->s, "radix_tree_node", 576, 0, 0, NULL, NULL, NULL);
	ob->cap = 60000;
	ob->obj = calloc(ob->cap, sizeof(*ob->obj));
	ob->kind = calloc(ob->cap, 1);
	held = calloc(st.managed, sizeof(*held));
	*held_out = held;
	if (!ob->bh || !ob->node || !ob->obj || !ob->kind || !held)
		return 1;

	/* grow: objects until the service's frames are 55% used */
	while (st.used < target && ob->n < ob->cap) {
		for (unsigned i = 0; i < 64 && ob->n < ob->cap; i++) {
			unsigned dice = (unsigned)(kmem_splitmix64(rng) % 10);
			void *p;

			if (dice < 3)
				p = kmem_cache_alloc(ob->bh);
			else if (dice < 5)
				p = kmem_cache_alloc(ob->node);
			else
				p = kmem_alloc(d->s, 1 + (size_t)(kmem_splitmix64(rng) %
								 (dice < 9 ? 512 : 4096)));
			if (!p) {
				rc = 1;
				break;
			}
			ob->obj[ob->n] = p;
			ob->kind[ob->n++] = (unsigned char)(dice < 3 ? 0 : dice < 5 ? 1 : 2);
			allocs++;
		}
		if (rc)
			break;
		st = pa_stats(d->pa);
	}
	grown = st.used - base;
	/* shrink the working set: 90% of the objects go, in random order */
	for (size_t k = ob->n * 9 / 10; k > 0; k--) {
		size_t i = (size_t)(kmem_splitmix64(rng) % ob->n);

		pa_obj_free(d, ob, i);
		ob->obj[i] = ob->obj[--ob->n];
		ob->kind[i] = ob->kind[ob->n];
		frees++;
	}
	st = pa_stats(d->pa);
	after_free = st.used - base;
	if (!quiet)
		printf("objects: %zu allocations (buffer_head, radix_tree_node, kmalloc), %zu frees, "
		       "%zu live\n  slab frames: %zu at the peak, %zu after the frees "
		       "(%zu reclaimable by its shrinker)\n",
		       allocs, frees, ob->n, grown, after_free, kmem_slab_shrink_count(d->s));

	/* pressure: hold order-0 pages until free frames fall below low */
	while (st.free >= st.wmark_low && nheld < st.managed) {
		void *p = kmem_pa_alloc(d->pa, 0, KMEM_PAGE_NOWAIT);

		if (!p)
			break;
		pa_take(d, p, 0, rng);
		held[nheld++] = p;
		st = pa_stats(d->pa);
	}
	*nheld_out = nheld;
	if (st.free >= st.wmark_low)
		rc = 1;
	if (!quiet)
		printf("pressure: holding %zu pages, free %zu < low %zu (min %zu, high %zu)\n", nheld,
		       st.free, st.wmark_low, st.wmark_min, st.wmark_high);
	w = kmem_pa_reaper_run(d->pa, PA_ZERO_BUDGET);
	st = pa_stats(d->pa);
	if (!(w & KMEM_PA_WORK_RECLAIM) || st.reaper_wakeups != 1 || st.reclaimed_bg == 0)
		rc = 1;
	if (!quiet)
		printf("  reaper_run(%u): %s: the slab shrinker gave back %llu frames; slab frames %zu -> "
		       "%zu, free %zu (high %zu)\n",
		       PA_ZERO_BUDGET, work_name(w), (unsigned long long)st.reclaimed_bg,
		       after_free, st.used - base - nheld, st.free, st.wmark_high);
	return rc;
}

/* The pagealloc phase: returns 0, or 1 on an error or a failed check. */
static int pagealloc_phase(const struct opts *o, uint64_t *rng)
{
	struct pa_demo d = { 0 };
	struct pa_objs ob = { 0 };
	struct kmem_pa_stats st;
	struct kmem_buddy_stats bst;
	void **held = NULL;
	size_t nheld = 0;
	char *text = malloc(1 << 14);
	bool quiet = o->json;
	int rc = 0, err;

	err = text ? pa_setup(&d) : -ENOMEM;
	if (err) {
		fprintf(stderr, "kmem: pagealloc setup failed: %s\n", strerror(-err));
		rc = 1;
		goto out;
	}
	st = pa_stats(d.pa);
	if (!quiet)
		printf("\npagealloc: frame service over a %zu MiB buddy, %zu B frames, policy "
		       "init_on_alloc;\n  watermarks min %zu low %zu high %zu, order-0 zeroed pool %zu..%zu;\n"
		       "  the reaper runs only in kmem_pa_reaper_run() calls (no thread)\n",
		       PA_ARENA >> 20, PA_FRAME, st.wmark_min, st.wmark_low, st.wmark_high,
		       st.zero_low, st.zero_high);
	rc |= pa_page_workload(&d, quiet, rng);
	rc |= pa_background_zeroing(&d, quiet, rng);
	rc |= pa_slab_pressure(&d, quiet, rng, &ob, &held, &nheld);
	if (!quiet)
		printf("zero-fill: %lu blocks checked, %lu with old data\n", d.checked, d.dirty);
	if (d.dirty)
		rc = 1;
	if (!quiet && d.s) {
		kmem_pa_format_zoneinfo(d.pa, text, 1 << 14);
		printf("\n%s", text);
		kmem_pa_format_vmstat(d.pa, text, 1 << 14);
		printf("vmstat (selected):\n");
		print_vmstat_subset(text);
	}
	if (kmem_pa_check(d.pa) || (ob.bh && kmem_cache_check(ob.bh)) ||
	    (ob.node && kmem_cache_check(ob.node)))
		rc = 1;
	else if (!quiet)
		printf("pagealloc check: ok\n");

out:
	/* tear down: every frame must be free in the buddy again */
	while (nheld > 0)
		kmem_pa_free(d.pa, held[--nheld], 0);
	while (ob.n > 0)
		pa_obj_free(&d, &ob, --ob.n);
	if (d.s) {
		kmem_cache_destroy(ob.bh);
		kmem_cache_destroy(ob.node);
		kmem_slab_destroy(d.s);
		if (kmem_error_total(kmem_slab_error_sink(d.s)))
			rc = 1;
	}
	if (d.pa)
		kmem_pa_destroy(d.pa);
	if (d.b) {
		kmem_buddy_get_stats(d.b, &bst);
		if (kmem_buddy_check(d.b) || bst.free_frames != bst.managed_frames ||
		    kmem_error_total(kmem_buddy_error_sink(d.b)))
			rc = 1;
		else if (!quiet)
			printf("pagealloc teardown: slab and service destroyed, %zu of %zu frames free\n",
			       bst.free_frames, bst.managed_frames);
		kmem_buddy_destroy(d.b);
	}
	free(held);
	free(ob.obj);
	free(ob.kind);
	free(text);
	free(d.sinst);
	free(d.pinst);
	free(d.meta);
	free(d.binst);
	free(d.arena);
	return rc;
}

static double mib(size_t frames, size_t frame) { return (double)frames * (double)frame / 1048576.0; }

/* ---- traces: reading, sorting ------------------------------------------------
 *
 * A trace (kmem/trace.h) is mapped privately and writable, so the records
 * can be sorted in place without reading the file into a second buffer;
 * the file itself is never written. */

struct trace {
	const char *path;
	void *map;			/* the whole file; NULL when empty */
	size_t map_len;
	struct kmem_trace_rec *rec;	/* map + header, n records */
	size_t n;
	size_t tail;			/* bytes after the last whole record */
};

static const char *const op_names[] = { "?", "malloc", "free", "calloc", "realloc", "memalign" };
#define OP_MAX KMEM_TRACE_MEMALIGN

static void trace_close(struct trace *t)
{
	if (t->map)
		munmap(t->map, t->map_len);
	t->map = NULL;
}

/* Map and check the header. Prints the reason and returns -1 for a file that
 * is not a version-1 trace; a partial record at the end is left to the
 * caller (t->tail). */
static int trace_open(struct trace *t, const char *path)
{
	struct kmem_trace_header h;
	struct stat sb;
	int fd;

	*t = (struct trace){ .path = path };
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		fprintf(stderr, "kmem: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fprintf(stderr, "kmem: %s: not a regular file\n", path);
		close(fd);
		return -1;
	}
	if ((uint64_t)sb.st_size < sizeof(h)) {
		fprintf(stderr, "kmem: %s: truncated trace: %lld bytes, the header alone is %zu\n", path,
			(long long)sb.st_size, sizeof(h));
		close(fd);
		return -1;
	}
	t->map_len = (size_t)sb.st_size;
	t->map = mmap(NULL, t->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (t->map == MAP_FAILED) {
		t->map = NULL;
		fprintf(stderr, "kmem: %s: mmap: %s\n", path, strerror(errno));
		return -1;
	}
	memcpy(&h, t->map, sizeof(h));
	if (memcmp(h.magic, KMEM_TRACE_MAGIC, sizeof(h.magic)) != 0) {
		fprintf(stderr, "kmem: %s: not a kmem trace (bad magic; expected \"%s\")\n", path,
			KMEM_TRACE_MAGIC);
		trace_close(t);
		return -1;
	}
	if (h.version != KMEM_TRACE_VERSION) {
		fprintf(stderr, "kmem: %s: unsupported trace version %u (this kmem reads %u)\n", path,
			h.version, KMEM_TRACE_VERSION);
		trace_close(t);
		return -1;
	}
	if (h.record_size != sizeof(struct kmem_trace_rec)) {
		fprintf(stderr, "kmem: %s: unsupported record size %u (expected %zu)\n", path,
			h.record_size, sizeof(struct kmem_trace_rec));
		trace_close(t);
		return -1;
	}
	/* page-aligned mapping + 16: the records' 64-bit fields are aligned */
	t->rec = (struct kmem_trace_rec *)(void *)((char *)t->map + sizeof(h));
	t->n = (t->map_len - sizeof(h)) / sizeof(struct kmem_trace_rec);
	t->tail = (t->map_len - sizeof(h)) % sizeof(struct kmem_trace_rec);
	return 0;
}

static void report_tail(const struct trace *t)
{
	fprintf(stderr,
		"kmem: %s: truncated record at offset %zu: %zu trailing bytes after %zu whole "
		"records\n",
		t->path, sizeof(struct kmem_trace_header) + t->n * sizeof(struct kmem_trace_rec),
		t->tail, t->n);
}

/* A record kmem cannot interpret: NULL if r is fine, else why. */
static const char *rec_problem(const struct kmem_trace_rec *r)
{
	if (r->op < KMEM_TRACE_MALLOC || r->op > OP_MAX)
		return "unknown op";
	if (r->op == KMEM_TRACE_MEMALIGN && r->align_log2 >= sizeof(size_t) * 8)
		return "alignment out of range";
	if ((uint64_t)(size_t)r->size != r->size)
		return "size does not fit this machine's size_t";
	return NULL;
}

static void report_rec(const struct trace *t, size_t i, const char *why)
{
	const struct kmem_trace_rec *r = &t->rec[i];

	fprintf(stderr, "kmem: %s: record %zu (offset %zu, seq %llu): %s (op %u, align_log2 %u)\n",
		t->path, i, sizeof(struct kmem_trace_header) + i * sizeof(*r),
		(unsigned long long)r->seq, why, (unsigned)r->op, (unsigned)r->align_log2);
}

/* Sort by seq: LSD radix sort, 8 bits a pass, passes over bytes where all
 * keys agree skipped (a trace of n calls has seq < 2^k, k ~ log2 n: three
 * passes for up to 16M records). Stable, O(n) per pass. Returns 0, or -1
 * when no scratch memory could be mapped. */
static int sort_by_seq(struct kmem_trace_rec *rec, size_t n)
{
	static size_t cnt[8][256];
	struct kmem_trace_rec *src = rec, *dst, *tmp;
	size_t i, bytes = n * sizeof(*rec);

	for (i = 1; i < n && rec[i - 1].seq <= rec[i].seq; i++)
		;
	if (i >= n)
		return 0; /* already in order (a single-threaded trace) */
	tmp = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tmp == MAP_FAILED)
		return -1;
	memset(cnt, 0, sizeof(cnt));
	for (i = 0; i < n; i++)
		for (unsigned b = 0; b < 8; b++)
			cnt[b][(rec[i].seq >> (8 * b)) & 255]++;
	dst = tmp;
	for (unsigned b = 0; b < 8; b++) {
		size_t sum = 0, *c = cnt[b];

		if (c[(src[0].seq >> (8 * b)) & 255] == n)
			continue; /* every key has the same byte b */
		for (unsigned d = 0; d < 256; d++) {
			size_t k = c[d];

			c[d] = sum;
			sum += k;
		}
		for (i = 0; i < n; i++)
			dst[c[(src[i].seq >> (8 * b)) & 255]++] = src[i];
		tmp = src;
		src = dst;
		dst = tmp;
	}
	if (src != rec) {
		memcpy(rec, src, bytes);
		dst = src;
	}
	munmap(dst, bytes);
	return 0;
}

/* ---- kmem trace-dump ---------------------------------------------------------- */

static void dump_usage(FILE *f)
{
	fprintf(f,
		"usage: kmem trace-dump [options] TRACE\n"
		"Prints the records of a KMEM_TRACE file as text, one per line:\n"
		"seq, tid, op, size, ptr, old (and align, flags when set), in file order.\n"
		"  -n, --limit N       print at most N records\n"
		"  -s, --sort          sort by seq first (the order calls happened)\n"
		"  -h, --help          this text\n");
}

static int dump_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "limit", required_argument, NULL, 'n' },
		{ "sort", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long limit = ~0ull;
	size_t bad = 0, first_bad = 0;
	bool sort = false;
	struct trace t;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "n:sh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			errno = 0;
			limit = strtoull(optarg, &end, 0);
			if (errno || end == optarg || *end) {
				dump_usage(stderr);
				return 2;
			}
			break;
		case 's': sort = true; break;
		case 'h': dump_usage(stdout); return 0;
		default: dump_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		dump_usage(stderr);
		return 2;
	}
	if (trace_open(&t, argv[optind]))
		return 1;
	for (size_t i = 0; i < t.n; i++)
		if (rec_problem(&t.rec[i]) && bad++ == 0)
			first_bad = i;
	if (bad)
		report_rec(&t, first_bad, rec_problem(&t.rec[first_bad]));
	if (sort && sort_by_seq(t.rec, t.n)) {
		fprintf(stderr, "kmem: no memory to sort %zu records\n", t.n);
		trace_close(&t);
		return 1;
	}
	printf("# %s: kmem trace version %u, %zu records of %zu bytes%s%s\n", t.path,
	       KMEM_TRACE_VERSION, t.n, sizeof(struct kmem_trace_rec),
	       sort ? ", sorted by seq" : ", in file order", t.tail ? ", truncated" : "");
	printf("# seq tid op size ptr old [align=A] [flags=F]\n");
	for (size_t i = 0; i < t.n && i < limit; i++) {
		const struct kmem_trace_rec *r = &t.rec[i];

		if (r->op >= KMEM_TRACE_MALLOC && r->op <= OP_MAX)
			printf("%llu %u %s %llu %#llx %#llx", (unsigned long long)r->seq, (unsigned)r->tid,
			       op_names[r->op], (unsigned long long)r->size, (unsigned long long)r->ptr,
			       (unsigned long long)r->old);
		else
			printf("%llu %u op%u %llu %#llx %#llx", (unsigned long long)r->seq, (unsigned)r->tid,
			       (unsigned)r->op,
			       (unsigned long long)r->size, (unsigned long long)r->ptr,
			       (unsigned long long)r->old);
		if (r->op == KMEM_TRACE_MEMALIGN || r->align_log2)
			printf(" align=%llu", r->align_log2 < 64 ? 1ull << r->align_log2 : 0ull);
		if (r->flags)
			printf(" flags=%s%#x", (r->flags & KMEM_TRACE_F_ZERO_SIZE) ? "zero-size," : "",
			       r->flags);
		putchar('\n');
	}
	if (fflush(stdout) != 0 && errno != EPIPE) {
		fprintf(stderr, "kmem: write error: %s\n", strerror(errno));
		bad++;
	}
	if (t.tail)
		report_tail(&t);
	trace_close(&t);
	if (bad || t.tail) {
		fprintf(stderr, "kmem: %s: %zu bad records%s\n", t.path, bad,
			t.tail ? " and a truncated tail" : "");
		return 1;
	}
	return 0;
}

/* ---- kmem replay: ids to blocks ----------------------------------------------
 *
 * Open addressing, linear probing, Fibonacci hashing of the id (addresses:
 * low bits mostly zero, the multiply moves every bit into the top ones),
 * load factor at most 1/2, deletion by backward shift (no tombstones, so a
 * churning trace never degrades the table). Id 0 marks an empty slot: a
 * traced block is never at address 0. The table lives in its own mapping,
 * off the heap under test (which matters with --malloc). */

struct live {
	uint64_t id;
	void *p;	/* the replay's block; NULL when the replay's call failed */
	uint64_t size;	/* bytes the traced call asked for */
};

struct idmap {
	struct live *slot;
	size_t cap, n;	/* cap: a power of two */
	unsigned shift;	/* 64 - log2(cap) */
};

static inline size_t id_home(const struct idmap *m, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ull) >> m->shift);
}

static int idmap_init(struct idmap *m, size_t cap)
{
	void *p = mmap(NULL, cap * sizeof(struct live), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -1;
	m->slot = p;
	m->cap = cap;
	m->n = 0;
	m->shift = 64u - (unsigned)__builtin_ctzll((unsigned long long)cap);
	return 0;
}

static void idmap_destroy(struct idmap *m)
{
	if (m->slot)
		munmap(m->slot, m->cap * sizeof(struct live));
	m->slot = NULL;
}

static struct live *idmap_find(const struct idmap *m, uint64_t id)
{
	size_t mask = m->cap - 1;

	for (size_t i = id_home(m, id);; i = (i + 1) & mask) {
		if (m->slot[i].id == id)
			return &m->slot[i];
		if (!m->slot[i].id)
			return NULL;
	}
}

/* Insert an id known to be absent. Returns the entry, or NULL when the
 * table could not grow. */
static struct live *idmap_insert(struct idmap *m, uint64_t id)
{
	size_t mask, i;

	if ((m->n + 1) * 2 > m->cap) {
		struct idmap big;

		if (idmap_init(&big, m->cap * 2))
			return NULL;
		for (size_t k = 0; k < m->cap; k++) {
			if (!m->slot[k].id)
				continue;
			for (i = id_home(&big, m->slot[k].id); big.slot[i].id; i = (i + 1) & (big.cap - 1))
				;
			big.slot[i] = m->slot[k];
		}
		big.n = m->n;
		idmap_destroy(m);
		*m = big;
	}
	mask = m->cap - 1;
	for (i = id_home(m, id); m->slot[i].id; i = (i + 1) & mask)
		;
	m->slot[i].id = id;
	m->n++;
	return &m->slot[i];
}

/* Backward-shift deletion: later entries of the probe run move up unless
 * their home lies cyclically in (hole, their slot]. */
static void idmap_erase(struct idmap *m, struct live *e)
{
	size_t mask = m->cap - 1, hole = (size_t)(e - m->slot), j = hole;

	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->slot[j].id)
			break;
		home = id_home(m, m->slot[j].id);
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			m->slot[hole] = m->slot[j];
			hole = j;
		}
	}
	m->slot[hole] = (struct live){ 0 };
	m->n--;
}

/* ---- kmem replay: the heap under test ------------------------------------------ */

struct ropts {
	size_t heap;
	size_t frame;
	unsigned max_order;	/* 0: the largest that fits the heap */
	unsigned long sample;	/* pagealloc stats every N calls */
	bool use_malloc, json, verify;
	const char *path;
};

struct heap {
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	struct kmem_slab *s;	/* NULL: the process's malloc (--malloc) */
	struct kmem_error_sink sink;
	void *resv, *inst, *owner, *meta;
	size_t resv_len, inst_len, owner_len, meta_len;
	size_t frame, bytes;	/* managed arena */
	unsigned max_order;
};

static void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void heap_unmap(struct heap *h)
{
	if (h->meta)
		munmap(h->meta, h->meta_len);
	if (h->owner)
		munmap(h->owner, h->owner_len);
	if (h->inst)
		munmap(h->inst, h->inst_len);
	if (h->resv)
		munmap(h->resv, h->resv_len);
	h->meta = h->owner = h->inst = h->resv = NULL;
}

/* The kmem heap, configured as the drop-in's: one arena of o->heap bytes
 * aligned to the largest block (reserved PROT_NONE, then made read-write),
 * a buddy with one owner table for it, a pagealloc without zeroing work
 * (init_none, no background zeroing, no reaper thread, watermarks 32/64/
 * up to 2048 frames) and a slab instance on it for kmalloc. No growth: the
 * arena is all there is, so a trace that needs more fails calls (counted). */
static int heap_setup(struct heap *h, const struct ropts *o)
{
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;
	struct kmem_slab_config sc = { .name = "replay" };
	struct kmem_page_source ps;
	size_t block, frames, bsz, psz, ssz, managed;
	uintptr_t base;
	int rc;

	kmem_error_sink_init(&h->sink); /* print each error; counted for the verdict */
	h->frame = o->frame;
	h->bytes = o->heap & ~(o->frame - 1);
	frames = h->bytes / h->frame;
	if (frames < 256) {
		fprintf(stderr, "kmem: --heap must hold at least 256 frames\n");
		return -1;
	}
	h->max_order = o->max_order;
	if (!h->max_order)
		while (h->max_order < KMEM_BUDDY_ORDER_LIMIT &&
		       (frames >> (h->max_order + 1)) != 0)
			h->max_order++;
	kmem_buddy_config_init(&bc);
	bc.name = "replay";
	bc.frame_size = h->frame;
	bc.max_order = h->max_order;
	bc.flags = KMEM_BUDDY_OWNERS;
	bc.sink = &h->sink;
	if (!kmem_buddy_sizeof(&bc)) {
		fprintf(stderr, "kmem: invalid frame size or max order\n");
		return -1;
	}
	block = h->frame << h->max_order;
	h->resv_len = h->bytes + block;
	h->resv = map_anon(h->resv_len, PROT_NONE);
	h->owner_len = frames * sizeof(void *);
	h->owner = map_anon(h->owner_len, PROT_READ | PROT_WRITE);
	bsz = (kmem_buddy_sizeof(&bc) + 63) & ~(size_t)63;
	psz = (kmem_pa_sizeof() + 63) & ~(size_t)63;
	ssz = (kmem_slab_sizeof() + 63) & ~(size_t)63;
	h->inst_len = bsz + psz + ssz;
	h->inst = map_anon(h->inst_len, PROT_READ | PROT_WRITE);
	if (!h->resv || !h->owner || !h->inst) {
		fprintf(stderr, "kmem: cannot map a %zu-byte heap: %s\n", h->bytes, strerror(errno));
		return -1;
	}
	base = ((uintptr_t)h->resv + block - 1) & ~(uintptr_t)(block - 1);
	if (mprotect((void *)base, h->bytes, PROT_READ | PROT_WRITE) != 0) {
		fprintf(stderr, "kmem: mprotect of the heap: %s\n", strerror(errno));
		return -1;
	}
	bc.owner_table = h->owner;
	bc.owner_base = (void *)base;
	bc.owner_frames = frames;
	rc = kmem_buddy_init(h->inst, bsz, &bc, &h->b);
	if (!rc) {
		h->meta_len = kmem_buddy_region_meta_size(h->b, (void *)base, h->bytes);
		h->meta = map_anon(h->meta_len, PROT_READ | PROT_WRITE);
		rc = h->meta ? kmem_buddy_add_region(h->b, (void *)base, h->bytes, h->meta, h->meta_len)
			     : -ENOMEM;
	}
	if (rc) {
		fprintf(stderr, "kmem: buddy setup failed: %s\n", strerror(-rc));
		return -1;
	}
	managed = kmem_buddy_free_frames(h->b);
	kmem_pa_config_init(&pc);
	pc.name = "replay";
	pc.buddy = h->b;
	pc.sink = &h->sink;
	pc.init_policy = KMEM_PA_INIT_NONE;
	pc.flags = KMEM_PA_NO_BGZERO;
	pc.wmark_min = 32;
	pc.wmark_low = 64;
	pc.wmark_high = managed / 4 < 96 ? 96 : managed / 4 > 2048 ? 2048 : managed / 4;
	rc = kmem_pa_init((char *)h->inst + bsz, psz, &pc, &h->pa);
	if (rc) {
		h->pa = NULL;
		fprintf(stderr, "kmem: pagealloc setup failed: %s\n", strerror(-rc));
		return -1;
	}
	kmem_pa_page_source(h->pa, &ps);
	sc.source = &ps;
	sc.sink = &h->sink;
	rc = kmem_slab_init((char *)h->inst + bsz + psz, ssz, &sc, &h->s);
	if (rc) {
		h->s = NULL;
		fprintf(stderr, "kmem: slab setup failed: %s\n", strerror(-rc));
		return -1;
	}
	return 0;
}

/* The five calls, on the kmem heap or on malloc. A traced malloc(0) returns
 * a unique block; kmem_alloc(0) returns NULL, so 0 becomes 1 for kmem. */
static inline void *h_alloc(struct heap *h, size_t size)
{
	return h->s ? kmem_alloc(h->s, size ? size : 1) : malloc(size);
}

static inline void *h_zalloc(struct heap *h, size_t size)
{
	return h->s ? kmem_zalloc(h->s, size ? size : 1) : calloc(1, size);
}

static inline void *h_aligned(struct heap *h, size_t size, size_t align)
{
	void *p;

	if (h->s)
		return kmem_alloc_aligned(h->s, size ? size : 1, align);
	if (align < sizeof(void *))
		align = sizeof(void *);
	return posix_memalign(&p, align, size) ? NULL : p;
}

static inline void *h_realloc(struct heap *h, void *p, size_t size)
{
	if (!size)
		size = 1; /* realloc(p, 0) is a FREE record of its own kind */
	return h->s ? kmem_realloc(h->s, p, size) : realloc(p, size);
}

static inline void h_free(struct heap *h, void *p)
{
	if (h->s)
		kmem_free(h->s, p);
	else
		free(p);
}

/* ---- kmem replay: the run ------------------------------------------------------- */

struct rstats {
	uint64_t ops[OP_MAX + 1];	/* records by op */
	unsigned threads;		/* distinct tids */
	uint64_t seq_first, seq_last, seq_missing, seq_dup;
	uint64_t unknown_free;		/* FREE of an id not live: skipped */
	uint64_t unknown_realloc;	/* REALLOC of an id not live: free skipped */
	uint64_t replaced;		/* allocation returned a live id: old block freed */
	uint64_t trace_failed;		/* the traced call failed (ptr 0): skipped */
	uint64_t null_free;		/* FREE of 0: skipped */
	uint64_t r0_echo;		/* FREE of the block the same thread's previous
					 * record, realloc(p, 0), freed: skipped */
	uint64_t replayed;		/* calls made on the heap under test */
	uint64_t replay_failed;		/* of which returned NULL where the trace did not */
	uint64_t tag_errors;		/* a block's tag was wrong when it was freed or moved */
	uint64_t live_bytes, peak_bytes, live_blocks, peak_blocks;
	uint64_t wall_ns;
	size_t peak_pa_used;		/* sampled */
	size_t peak_buddy_used;		/* exact: the buddy's high-water mark */
};

static inline uint64_t block_tag(uint64_t id, const void *p)
{
	uint64_t x = id ^ (uint64_t)(uintptr_t)p;

	return kmem_splitmix64(&x);
}

/* Blocks of 8 bytes or more carry the tag in their first 8 bytes; of 16
 * or more in their last 8 too. */
static inline void tag_set(void *p, uint64_t size, uint64_t tag)
{
	if (size >= 8)
		memcpy(p, &tag, 8);
	if (size >= 16)
		memcpy((char *)p + size - 8, &tag, 8);
}

static inline bool tag_ok(const void *p, uint64_t size, uint64_t tag, bool tail)
{
	uint64_t v;

	if (size >= 8) {
		memcpy(&v, p, 8);
		if (v != tag)
			return false;
	}
	if (tail && size >= 16) {
		memcpy(&v, (const char *)p + size - 8, 8);
		if (v != tag)
			return false;
	}
	return true;
}

struct replay {
	struct heap *h;
	struct idmap ids;
	struct rstats st;
	bool verify;
	bool oom;	/* the id table could not grow */
	/* the last realloc(p, 0): the drop-in also traces the free() it
	 * calls for it, as the same thread's next record */
	uint64_t r0_id;
	unsigned r0_tid;
};

static void check_block(struct replay *rp, const struct live *e)
{
	if (rp->verify && e->p && !tag_ok(e->p, e->size, block_tag(e->id, e->p), true)) {
		if (rp->st.tag_errors++ < 10)
			fprintf(stderr, "kmem: block %#llx (%llu bytes) at %p: tag overwritten\n",
				(unsigned long long)e->id, (unsigned long long)e->size, e->p);
	}
}

static void drop_live(struct replay *rp, struct live *e)
{
	rp->st.live_bytes -= e->size;
	rp->st.live_blocks--;
	idmap_erase(&rp->ids, e);
}

/* The traced call returned id (not 0) and the replay got p for it. */
static void on_alloc(struct replay *rp, uint64_t id, void *p, uint64_t size, bool zeroed)
{
	struct live *e = idmap_find(&rp->ids, id);

	if (!p)
		rp->st.replay_failed++;
	if (e) { /* still live: its FREE was lost */
		rp->st.replaced++;
		check_block(rp, e);
		h_free(rp->h, e->p);
		rp->st.live_bytes -= e->size;
		rp->st.live_blocks--;
	} else {
		e = idmap_insert(&rp->ids, id);
		if (!e) {
			rp->oom = true;
			h_free(rp->h, p);
			return;
		}
	}
	e->p = p;
	e->size = size;
	if (p && rp->verify) {
		if (zeroed && !tag_ok(p, size, 0, true) && rp->st.tag_errors++ < 10)
			fprintf(stderr, "kmem: calloc block %#llx at %p is not zeroed\n",
				(unsigned long long)id, p);
		tag_set(p, size, block_tag(id, p));
	}
	rp->st.live_bytes += size;
	rp->st.live_blocks++;
	if (rp->st.live_bytes > rp->st.peak_bytes)
		rp->st.peak_bytes = rp->st.live_bytes;
	if (rp->st.live_blocks > rp->st.peak_blocks)
		rp->st.peak_blocks = rp->st.live_blocks;
}

static void replay_realloc(struct replay *rp, const struct kmem_trace_rec *r)
{
	struct live *e;
	uint64_t tag;
	void *q;

	if (!r->old) { /* realloc(NULL, n): an allocation */
		if (!r->ptr) {
			rp->st.trace_failed++;
			return;
		}
		rp->st.replayed++;
		on_alloc(rp, r->ptr, h_realloc(rp->h, NULL, (size_t)r->size), r->size, false);
		return;
	}
	if (!r->ptr && r->size) { /* failed in the trace: the old block stays */
		rp->st.trace_failed++;
		return;
	}
	e = idmap_find(&rp->ids, r->old);
	if (!e) {
		rp->st.unknown_realloc++;
		if (r->ptr) { /* the free is lost; the new block is not */
			rp->st.replayed++;
			on_alloc(rp, r->ptr, h_alloc(rp->h, (size_t)r->size), r->size, false);
		} else { /* realloc(p, 0): its echo is no second unknown */
			rp->r0_id = r->old;
			rp->r0_tid = r->tid;
		}
		return;
	}
	rp->st.replayed++;
	check_block(rp, e);
	if (!r->ptr) { /* realloc(p, 0): p freed */
		h_free(rp->h, e->p);
		drop_live(rp, e);
		rp->r0_id = r->old;
		rp->r0_tid = r->tid;
		return;
	}
	tag = e->p ? block_tag(e->id, e->p) : 0;
	q = h_realloc(rp->h, e->p, (size_t)r->size);
	if (!q) { /* the replay's realloc failed: give the old block up too */
		h_free(rp->h, e->p);
	} else if (rp->verify && e->p &&
		   !tag_ok(q, e->size < r->size ? e->size : r->size, tag, false)) {
		if (rp->st.tag_errors++ < 10)
			fprintf(stderr, "kmem: realloc of block %#llx lost its contents\n",
				(unsigned long long)e->id);
	}
	drop_live(rp, e);
	on_alloc(rp, r->ptr, q, r->size, false);
}

static void replay_one(struct replay *rp, const struct kmem_trace_rec *r)
{
	struct live *e;
	bool echo = false;

	if (rp->r0_id && r->tid == rp->r0_tid) {
		echo = r->op == KMEM_TRACE_FREE && r->ptr == rp->r0_id;
		rp->r0_id = 0; /* only the thread's very next record echoes */
	}
	switch (r->op) {
	case KMEM_TRACE_MALLOC:
	case KMEM_TRACE_CALLOC:
	case KMEM_TRACE_MEMALIGN:
		if (!r->ptr) {
			rp->st.trace_failed++;
			return;
		}
		rp->st.replayed++;
		if (r->op == KMEM_TRACE_MALLOC)
			on_alloc(rp, r->ptr, h_alloc(rp->h, (size_t)r->size), r->size, false);
		else if (r->op == KMEM_TRACE_CALLOC)
			on_alloc(rp, r->ptr, h_zalloc(rp->h, (size_t)r->size), r->size, true);
		else
			on_alloc(rp, r->ptr,
				 h_aligned(rp->h, (size_t)r->size, (size_t)1 << r->align_log2),
				 r->size, false);
		return;
	case KMEM_TRACE_FREE:
		if (!r->ptr) {
			rp->st.null_free++;
			return;
		}
		e = idmap_find(&rp->ids, r->ptr);
		if (!e) {
			if (echo)
				rp->st.r0_echo++;
			else
				rp->st.unknown_free++;
			return;
		}
		rp->st.replayed++;
		check_block(rp, e);
		h_free(rp->h, e->p);
		drop_live(rp, e);
		return;
	case KMEM_TRACE_REALLOC:
		replay_realloc(rp, r);
		return;
	default:
		return; /* validated before */
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The whole trace, in seq order (already sorted). */
static void replay_run(struct replay *rp, const struct trace *t, unsigned long sample)
{
	struct kmem_pa_stats ps;
	unsigned long left = sample;
	uint64_t t0 = now_ns();

	for (size_t i = 0; i < t->n && !rp->oom; i++) {
		replay_one(rp, &t->rec[i]);
		if (rp->h->pa && --left == 0) {
			left = sample;
			kmem_pa_get_stats(rp->h->pa, &ps);
			if (ps.used > rp->st.peak_pa_used)
				rp->st.peak_pa_used = ps.used;
		}
	}
	rp->st.wall_ns = now_ns() - t0;
	if (rp->h->pa) {
		kmem_pa_get_stats(rp->h->pa, &ps);
		if (ps.used > rp->st.peak_pa_used)
			rp->st.peak_pa_used = ps.used;
	}
}

/* Free every block still live (checking tags). */
static void replay_drain(struct replay *rp)
{
	for (size_t i = 0; i < rp->ids.cap; i++) {
		struct live *e = &rp->ids.slot[i];

		if (!e->id)
			continue;
		check_block(rp, e);
		h_free(rp->h, e->p);
		e->id = 0;
	}
	rp->ids.n = 0;
}

/* seq statistics of the sorted records, distinct threads, records by op. */
static void trace_census(const struct trace *t, struct rstats *st)
{
	static uint8_t seen[65536 / 8];

	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < t->n; i++) {
		const struct kmem_trace_rec *r = &t->rec[i];

		st->ops[r->op]++;
		if (!(seen[r->tid / 8] & (1u << (r->tid % 8)))) {
			seen[r->tid / 8] = (uint8_t)(seen[r->tid / 8] | (1u << (r->tid % 8)));
			st->threads++;
		}
		if (i && r->seq == t->rec[i - 1].seq)
			st->seq_dup++;
	}
	if (t->n) {
		st->seq_first = t->rec[0].seq;
		st->seq_last = t->rec[t->n - 1].seq;
		st->seq_missing = st->seq_last - st->seq_first + 1 - (t->n - st->seq_dup);
	}
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* snprintf-style formatter into a buffer of the right size (malloc'd;
 * the caller frees). */
static char *format_all(int (*fmt)(struct kmem_buddy *, char *, size_t), struct kmem_buddy *b)
{
	char probe[1];
	int n = fmt(b, probe, sizeof(probe));
	char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;

	if (buf)
		fmt(b, buf, (size_t)n + 1);
	return buf;
}

static void replay_usage(FILE *f)
{
	fprintf(f,
		"usage: kmem replay [options] TRACE\n"
		"Replays a KMEM_TRACE file (written by libkmem-malloc.so) in seq order, in\n"
		"one thread (the traced threads' calls are serialised by seq), against a\n"
		"fresh kmem heap (buddy -> pagealloc -> slab/kmalloc) or the process's\n"
		"malloc; prints counts, time per call, peak memory, buddyinfo and the\n"
		"fragmentation indexes, then runs the invariant checkers (exit 1 on failure).\n"
		"  -H, --heap SIZE     kmem heap bytes, K/M/G suffixes (default 1G, reserved\n"
		"                      with MAP_NORESERVE: only what the trace touches is used)\n"
		"  -f, --frame SIZE    frame size, power of two 64..64K (default 4096)\n"
		"  -o, --max-order N   largest block order (default: the largest that fits)\n"
		"  -m, --malloc        replay against malloc/free/... instead of kmem\n"
		"      --sample N      read pagealloc stats every N calls for the peak (default 64)\n"
		"      --no-verify     no block tags (tags: 8 bytes at each end of a block,\n"
		"                      checked at free and realloc)\n"
		"  -j, --json          print the report as one JSON object\n"
		"  -h, --help          this text\n");
}

static int replay_opts(int argc, char **argv, struct ropts *o)
{
	static const struct option longopts[] = {
		{ "heap", required_argument, NULL, 'H' },
		{ "frame", required_argument, NULL, 'f' },
		{ "max-order", required_argument, NULL, 'o' },
		{ "malloc", no_argument, NULL, 'm' },
		{ "sample", required_argument, NULL, 'S' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*o = (struct ropts){ .heap = (size_t)1 << 30, .frame = 4096, .sample = 64, .verify = true };
	while ((c = getopt_long(argc, argv, "H:f:o:mjh", longopts, NULL)) != -1) {
		switch (c) {
		case 'H':
			if (parse_size(optarg, &o->heap))
				return -1;
			break;
		case 'f':
			if (parse_size(optarg, &o->frame) || (o->frame & (o->frame - 1)))
				return -1;
			break;
		case 'o':
			o->max_order = (unsigned)strtoul(optarg, &end, 0);
			if (*end || o->max_order == 0 || o->max_order > KMEM_BUDDY_ORDER_LIMIT)
				return -1;
			break;
		case 'm': o->use_malloc = true; break;
		case 'S':
			o->sample = strtoul(optarg, &end, 0);
			if (*end || o->sample == 0)
				return -1;
			break;
		case 'V': o->verify = false; break;
		case 'j': o->json = true; break;
		case 'h': replay_usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind != argc - 1)
		return -1;
	o->path = argv[optind];
	return 0;
}

struct verdict {
	bool buddy_ok, pa_ok, frames_back;
	unsigned long errors;	/* reported to the heap's error sink */
	size_t managed, free_after;
	struct kmem_buddy_stats bst;	/* at the end of the replay */
	char *buddyinfo, *fragindex, *json;
};

static void print_text(const struct ropts *o, const struct rstats *st, const struct heap *h,
		       const struct verdict *v, long maxrss_kib, size_t end_blocks, uint64_t end_bytes)
{
	double ns = st->replayed ? (double)st->wall_ns / (double)st->replayed : 0.0;

	printf("kmem replay: %s\n", o->path);
	printf("records: %llu (malloc %llu, calloc %llu, realloc %llu, memalign %llu, free %llu)\n",
	       (unsigned long long)(st->ops[1] + st->ops[2] + st->ops[3] + st->ops[4] + st->ops[5]),
	       (unsigned long long)st->ops[KMEM_TRACE_MALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_CALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_REALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_MEMALIGN],
	       (unsigned long long)st->ops[KMEM_TRACE_FREE]);
	printf("threads: %u, serialised by seq into one replay thread\n", st->threads);
	printf("seq: %llu..%llu, %llu missing, %llu duplicated\n", (unsigned long long)st->seq_first,
	       (unsigned long long)st->seq_last, (unsigned long long)st->seq_missing,
	       (unsigned long long)st->seq_dup);
	printf("skipped: %llu free of an unknown id, %llu realloc of an unknown id, "
	       "%llu failed in the trace, %llu free of NULL\n",
	       (unsigned long long)st->unknown_free, (unsigned long long)st->unknown_realloc,
	       (unsigned long long)st->trace_failed, (unsigned long long)st->null_free);
	printf("echoes: %llu free right after realloc(p, 0) of the same block in the same thread "
	       "(skipped)\n",
	       (unsigned long long)st->r0_echo);
	printf("replaced: %llu live ids returned again (a lost free)\n",
	       (unsigned long long)st->replaced);
	if (o->use_malloc)
		printf("heap: the process's malloc (--malloc)\n");
	else
		printf("heap: kmem, %zu MiB arena, %zu B frames, max order %u "
		       "(buddy -> pagealloc -> slab/kmalloc)\n",
		       h->bytes >> 20, h->frame, h->max_order);
	printf("replayed: %llu calls, %llu failed in the replay\n", (unsigned long long)st->replayed,
	       (unsigned long long)st->replay_failed);
	printf("time: %.3f ms, %.1f ns/call\n", (double)st->wall_ns / 1e6, ns);
	printf("peak live: %llu bytes requested in %llu blocks\n", (unsigned long long)st->peak_bytes,
	       (unsigned long long)st->peak_blocks);
	printf("live at the end: %zu blocks, %llu bytes requested\n", end_blocks,
	       (unsigned long long)end_bytes);
	printf("max rss: %ld KiB (the whole process)\n", maxrss_kib);
	if (o->verify)
		printf("block tags: %s (%llu errors)\n", st->tag_errors ? "FAILED" : "ok",
		       (unsigned long long)st->tag_errors);
	if (o->use_malloc)
		return;
	printf("peak frames: buddy %zu (%.2f MiB), pagealloc used %zu (sampled every %lu calls)\n",
	       st->peak_buddy_used, mib(st->peak_buddy_used, h->frame), st->peak_pa_used, o->sample);
	printf("frames at the end: %zu used, %zu free of %zu\n", v->bst.used_frames,
	       v->bst.free_frames, v->bst.managed_frames);
	printf("buddyinfo:\n%s", v->buddyinfo ? v->buddyinfo : "");
	printf("fragmentation:\n%s", v->fragindex ? v->fragindex : "");
	printf("check: kmem_buddy_check %s, kmem_pa_check %s, %lu errors reported\n",
	       v->buddy_ok ? "ok" : "FAILED", v->pa_ok ? "ok" : "FAILED", v->errors);
	printf("teardown: %zu of %zu frames free%s\n", v->free_after, v->managed,
	       v->frames_back ? "" : " (FAILED: frames lost)");
}

static void print_json(const struct ropts *o, const struct rstats *st, const struct heap *h,
		       const struct verdict *v, long maxrss_kib, size_t end_blocks, uint64_t end_bytes,
		       bool ok)
{
	size_t len;

	printf("{\"trace\":");
	json_string(o->path);
	printf(",\"records\":%llu,\"ops\":{\"malloc\":%llu,\"calloc\":%llu,\"realloc\":%llu,"
	       "\"memalign\":%llu,\"free\":%llu}",
	       (unsigned long long)(st->ops[1] + st->ops[2] + st->ops[3] + st->ops[4] + st->ops[5]),
	       (unsigned long long)st->ops[KMEM_TRACE_MALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_CALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_REALLOC],
	       (unsigned long long)st->ops[KMEM_TRACE_MEMALIGN],
	       (unsigned long long)st->ops[KMEM_TRACE_FREE]);
	printf(",\"threads\":%u,\"seq_first\":%llu,\"seq_last\":%llu,\"seq_missing\":%llu,"
	       "\"seq_duplicated\":%llu",
	       st->threads, (unsigned long long)st->seq_first, (unsigned long long)st->seq_last,
	       (unsigned long long)st->seq_missing, (unsigned long long)st->seq_dup);
	printf(",\"unknown_free\":%llu,\"unknown_realloc\":%llu,\"trace_failed\":%llu,"
	       "\"null_free\":%llu,\"realloc0_echo\":%llu,\"replaced\":%llu",
	       (unsigned long long)st->unknown_free, (unsigned long long)st->unknown_realloc,
	       (unsigned long long)st->trace_failed, (unsigned long long)st->null_free,
	       (unsigned long long)st->r0_echo, (unsigned long long)st->replaced);
	printf(",\"heap\":\"%s\",\"replayed\":%llu,\"replay_failed\":%llu,\"wall_ns\":%llu,"
	       "\"ns_per_call\":%.1f",
	       o->use_malloc ? "malloc" : "kmem", (unsigned long long)st->replayed,
	       (unsigned long long)st->replay_failed, (unsigned long long)st->wall_ns,
	       st->replayed ? (double)st->wall_ns / (double)st->replayed : 0.0);
	printf(",\"peak_live_bytes\":%llu,\"peak_live_blocks\":%llu,\"end_live_blocks\":%zu,"
	       "\"end_live_bytes\":%llu,\"max_rss_kib\":%ld",
	       (unsigned long long)st->peak_bytes, (unsigned long long)st->peak_blocks, end_blocks,
	       (unsigned long long)end_bytes, maxrss_kib);
	if (o->verify)
		printf(",\"tag_errors\":%llu", (unsigned long long)st->tag_errors);
	if (!o->use_malloc) {
		printf(",\"heap_bytes\":%zu,\"frame_size\":%zu,\"max_order\":%u,"
		       "\"peak_buddy_frames\":%zu,\"peak_pagealloc_used_frames\":%zu,\"sample\":%lu",
		       h->bytes, h->frame, h->max_order, st->peak_buddy_used, st->peak_pa_used, o->sample);
		printf(",\"buddyinfo\":");
		json_string(v->buddyinfo ? v->buddyinfo : "");
		printf(",\"fragindex\":");
		json_string(v->fragindex ? v->fragindex : "");
		if (v->json) {
			len = strlen(v->json);
			while (len && v->json[len - 1] == '\n')
				len--;
			printf(",\"buddy\":%.*s", (int)len, v->json);
		}
		printf(",\"check_buddy\":%s,\"check_pagealloc\":%s,\"errors\":%lu,"
		       "\"teardown_free_frames\":%zu,\"managed_frames\":%zu",
		       v->buddy_ok ? "true" : "false", v->pa_ok ? "true" : "false", v->errors,
		       v->free_after, v->managed);
	}
	printf(",\"ok\":%s}\n", ok ? "true" : "false");
}

static int replay_main(int argc, char **argv)
{
	struct ropts o;
	struct trace t;
	struct heap h = { 0 };
	struct replay rp = { 0 };
	struct verdict v = { 0 };
	struct rusage ru;
	size_t end_blocks;
	uint64_t end_bytes;
	long maxrss = 0;
	bool ok;

	if (replay_opts(argc, argv, &o)) {
		replay_usage(stderr);
		return 2;
	}
	if (trace_open(&t, o.path))
		return 1;
	if (t.tail) {
		report_tail(&t);
		trace_close(&t);
		return 1;
	}
	for (size_t i = 0; i < t.n; i++) {
		const char *why = rec_problem(&t.rec[i]);

		if (why) {
			report_rec(&t, i, why);
			trace_close(&t);
			return 1;
		}
	}
	if (sort_by_seq(t.rec, t.n) || idmap_init(&rp.ids, (size_t)1 << 16)) {
		fprintf(stderr, "kmem: out of memory for %zu records\n", t.n);
		trace_close(&t);
		return 1;
	}
	trace_census(&t, &rp.st);
	if (!o.use_malloc && heap_setup(&h, &o)) {
		heap_unmap(&h);
		trace_close(&t);
		return 1;
	}
	rp.h = &h;
	rp.verify = o.verify;
	replay_run(&rp, &t, o.sample);
	end_blocks = rp.ids.n;
	end_bytes = rp.st.live_bytes;
	if (rp.oom)
		fprintf(stderr, "kmem: out of memory for the id table: replay stopped early\n");

	if (!o.use_malloc) {
		/* the state the trace left, then the checkers, then the teardown */
		kmem_buddy_get_stats(h.b, &v.bst);
		rp.st.peak_buddy_used = v.bst.peak_used_frames;
		v.buddyinfo = format_all(kmem_buddy_format_buddyinfo, h.b);
		v.fragindex = format_all(kmem_buddy_format_fragindex, h.b);
		v.json = o.json ? format_all(kmem_buddy_format_json, h.b) : NULL;
		v.pa_ok = kmem_pa_check(h.pa) == 0;
		v.buddy_ok = kmem_buddy_check(h.b) == 0;
	}
	replay_drain(&rp);
	if (!o.use_malloc) {
		struct kmem_buddy_stats bst;

		kmem_slab_destroy(h.s);
		kmem_pa_destroy(h.pa);
		kmem_buddy_get_stats(h.b, &bst);
		v.managed = bst.managed_frames;
		v.free_after = bst.free_frames;
		v.frames_back = bst.free_frames == bst.managed_frames;
		if (kmem_buddy_check(h.b))
			v.buddy_ok = false;
		v.errors = kmem_error_total(&h.sink);
		kmem_buddy_destroy(h.b);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		maxrss = ru.ru_maxrss;
	ok = !rp.oom && rp.st.tag_errors == 0 &&
	     (o.use_malloc || (v.buddy_ok && v.pa_ok && v.frames_back && v.errors == 0));
	if (o.json)
		print_json(&o, &rp.st, &h, &v, maxrss, end_blocks, end_bytes, ok);
	else
		print_text(&o, &rp.st, &h, &v, maxrss, end_blocks, end_bytes);
	if (rp.st.replay_failed)
		fprintf(stderr, "kmem: %llu calls failed in the replay (out of memory: try a larger --heap)\n",
			(unsigned long long)rp.st.replay_failed);
	if (!ok)
		fprintf(stderr, "kmem: replay of %s failed its checks\n", o.path);
	free(v.buddyinfo);
	free(v.fragindex);
	free(v.json);
	heap_unmap(&h);
	idmap_destroy(&rp.ids);
	trace_close(&t);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct kmem_buddy_config cfg;
	struct kmem_buddy_stats st;
	struct kmem_buddy *b;
	struct opts o;
	struct blk *live;
	size_t nlive = 0, cap, msz, align;
	unsigned long long allocs = 0, frees = 0, fails = 0;
	void *inst, *arena, *meta;
	char text[4096];
	int rc, largest = -1;
	uint64_t rng;

	if (argc > 1 && strcmp(argv[1], "replay") == 0)
		return replay_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "trace-dump") == 0)
		return dump_main(argc - 1, argv + 1);
	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	kmem_buddy_config_init(&cfg);
	cfg.name = "demo";
	cfg.frame_size = o.frame;
	cfg.max_order = o.max_order;
	cfg.flags = KMEM_BUDDY_OWNERS; /* the slab phase maps objects to slabs */
	if (!kmem_buddy_sizeof(&cfg)) {
		fprintf(stderr, "kmem: invalid frame size or max order\n");
		return 2;
	}
	/* The arena is aligned to the largest block so it holds whole ones;
	 * the frame table lives outside it. */
	align = o.frame << o.max_order;
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign(&arena, align > 1u << 30 ? 1u << 30 : align, o.arena) ||
	    posix_memalign(&inst, 64, kmem_buddy_sizeof(&cfg))) {
		fprintf(stderr, "kmem: cannot allocate a %zu-byte arena\n", o.arena);
		return 1;
	}
	rc = kmem_buddy_init(inst, kmem_buddy_sizeof(&cfg), &cfg, &b);
	msz = rc ? 0 : kmem_buddy_region_meta_size(b, arena, o.arena);
	meta = msz ? aligned_alloc(64, (msz + 63) & ~(size_t)63) : NULL;
	if (rc || !meta || (rc = kmem_buddy_add_region(b, arena, o.arena, meta, msz))) {
		fprintf(stderr, "kmem: setup failed: %s\n", strerror(rc ? -rc : ENOMEM));
		return 1;
	}
	kmem_buddy_get_stats(b, &st);
	cap = st.managed_frames;
	live = calloc(cap, sizeof(*live));
	rng = o.seed;

	for (unsigned round = 0; round < o.rounds; round++) {
		size_t target = st.managed_frames * o.fill_pct / 100;
		unsigned misses = 0;

		/* allocation phase: fill to target; give up after repeated misses */
		kmem_buddy_get_stats(b, &st);
		while (st.used_frames < target && misses < 64 && nlive < cap) {
			unsigned order = pick_order(&rng, o.max_order);
			void *p = kmem_buddy_alloc(b, order);

			if (!p) {
				fails++;
				misses++;
				continue;
			}
			memset(p, (int)(round + 1), 64); /* touch it, like a user */
			live[nlive++] = (struct blk){ p, order };
			allocs++;
			st.used_frames += (size_t)1 << order;
		}
		/* free phase: release a random share of what is live */
		for (size_t n = nlive * o.free_pct / 100; n > 0; n--) {
			size_t i = (size_t)(kmem_splitmix64(&rng) % nlive);

			kmem_buddy_free(b, live[i].p);
			live[i] = live[--nlive];
			frees++;
		}
		kmem_buddy_get_stats(b, &st);
	}
	if (kmem_buddy_check(b)) {
		fprintf(stderr, "kmem: invariant check failed\n");
		return 1;
	}
	kmem_buddy_get_stats(b, &st);
	for (int k = (int)st.max_order; k >= 0 && largest < 0; k--)
		if (st.free_blocks[k])
			largest = k;

	if (o.json) {
		kmem_buddy_format_json(b, text, sizeof(text));
		fputs(text, stdout);
	} else {
		printf("kmem demo: buddy allocator, %.1f MiB arena, %zu B frames, max order %u, seed %llu\n",
		       (double)o.arena / 1048576.0, o.frame, o.max_order, (unsigned long long)o.seed);
		printf("workload: %u rounds (fill to %u%%, free %u%% of live blocks); "
		       "%llu allocations, %llu frees, %llu failed\n\n",
		       o.rounds, o.fill_pct, o.free_pct, allocs, frees, fails);
		printf("buddyinfo (free blocks per order 0..%u):\n", st.max_order);
		kmem_buddy_format_buddyinfo(b, text, sizeof(text));
		fputs(text, stdout);
		printf("\nfragmentation (Linux indexes: unusable free space, external fragmentation):\n");
		print_indexes(&st);
		printf("\nsummary:\n");
		printf("  managed    %8zu frames  %9.2f MiB\n", st.managed_frames,
		       mib(st.managed_frames, st.frame_size));
		printf("  free       %8zu frames  %9.2f MiB\n", st.free_frames, mib(st.free_frames, st.frame_size));
		printf("  used       %8zu frames  %9.2f MiB in %zu blocks\n", st.used_frames,
		       mib(st.used_frames, st.frame_size), nlive);
		printf("  peak used  %8zu frames  %9.2f MiB\n", st.peak_used_frames,
		       mib(st.peak_used_frames, st.frame_size));
		printf("  metadata   %8zu bytes   %9.3f%% of the arena\n", st.meta_bytes,
		       100.0 * (double)st.meta_bytes / (double)o.arena);
		if (largest >= 0)
			printf("  largest free block: order %d (%zu KiB)\n", largest,
			       (st.frame_size << largest) >> 10);
		printf("  failed allocations by order:");
		for (unsigned k = 0; k <= st.max_order; k++)
			printf(" %llu", (unsigned long long)st.fail[k]);
		printf("\n  check: ok\n");
	}

	if (slab_phase(b, &o, &rng)) {
		fprintf(stderr, "kmem: slab phase failed\n");
		return 1;
	}
	if (pagealloc_phase(&o, &rng)) {
		fprintf(stderr, "kmem: pagealloc phase failed\n");
		return 1;
	}

	/* free everything: all blocks coalesce back to max-order blocks */
	while (nlive > 0)
		kmem_buddy_free(b, live[--nlive].p);
	if (kmem_buddy_check(b)) {
		fprintf(stderr, "kmem: invariant check failed after drain\n");
		return 1;
	}
	if (!o.json) {
		kmem_buddy_format_buddyinfo(b, text, sizeof(text));
		printf("\nafter freeing everything (all coalesced):\n%s", text);
	}
	rc = kmem_error_total(kmem_buddy_error_sink(b)) ? 1 : 0;
	kmem_buddy_destroy(b);
	free(live);
	free(meta);
	free(inst);
	free(arena);
	return rc;
}
