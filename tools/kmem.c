/* kmem.c - the kmem command: allocator demos and fragmentation experiments.
 *
 * `kmem` (or `kmem demo`) runs the main job: a buddy instance over a 64 MiB
 * arena in process memory with 4 KiB frames (the embedded default), driven
 * by a seeded random page workload of alternating allocation and free
 * phases with mixed orders; then it prints /proc/buddyinfo-style free counts,
 * Linux's fragmentation indexes per order and a one-screen summary. Next, on
 * the same (now fragmented) frames, a slab instance serves two object caches
 * and kmalloc through a seeded object workload, and /proc/slabinfo is
 * printed. Finally everything is freed to show that all blocks coalesce.
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
		"buddyinfo, fragmentation indexes and a summary.\n"
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
