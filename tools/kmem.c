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
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kmem/kmem.h>

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
