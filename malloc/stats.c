/* stats.c - the drop-in's checks and statistics: kmem_malloc_check (every
 * layer's checker and the clean reserve's), kmem_malloc_stats (the layers'
 * text forms and the heap's own numbers), the exit handler for
 * KMEM_CHECK=1 and KMEM_STATS, and glibc's statistics calls (mallinfo,
 * mallinfo2, malloc_stats, malloc_info) with kmem's numbers.
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int km_format_heap(char *buf, size_t len);
static int km_format_magazines(char *buf, size_t len);

/* One KMEM_STATS text (n: its formatter's return) to the stats fd, cut to
 * the buffer if it did not fit. */
static void stats_write(const char *buf, size_t len, int n)
{
	if (n > 0 && km.stats_fd >= 0)
		kmem_km_write_all(kmem_km_out_fd(km.stats_fd, km.stats_dev, km.stats_ino), buf,
				  (size_t)n < len ? (size_t)n : len - 1);
}

void kmem_km_atexit(void)
{
	static char buf[256 << 10];
	int n;

	if (km.trace_on)
		kmem_km_trace_flush_all();
	if (km.check_at_exit) {
		static const char ok[] = "kmem-malloc: heap check passed\n";
		static const char bad[] = "kmem-malloc: heap check FAILED\n";

		if (kmem_malloc_check() == 0)
			stats_write(ok, sizeof(ok), (int)sizeof(ok) - 1);
		else
			stats_write(bad, sizeof(bad), (int)sizeof(bad) - 1);
	}
	if (km.stats & 1) {
		n = kmem_slab_format_slabinfo(km.s, buf, sizeof(buf));
		stats_write(buf, sizeof(buf), n);
	}
	if (km.stats & 2) {
		n = kmem_buddy_format_buddyinfo(km.b, buf, sizeof(buf));
		stats_write(buf, sizeof(buf), n);
	}
	if (km.stats & 4) {
		n = kmem_pa_format_vmstat(km.pa, buf, sizeof(buf));
		stats_write(buf, sizeof(buf), n);
	}
	if (km.stats & 8) {
		n = kmem_pa_format_zoneinfo(km.pa, buf, sizeof(buf));
		stats_write(buf, sizeof(buf), n);
	}
	if (km.stats & 16) {
		n = km_format_heap(buf, sizeof(buf));
		stats_write(buf, sizeof(buf), n);
	}
	if (km.stats & 32) {
		n = km_format_magazines(buf, sizeof(buf));
		stats_write(buf, sizeof(buf), n);
	}
}

KM_EXPORT int kmem_malloc_check(void)
{
	int e1, e2, e3;

	if (kmem_atomic_load_acquire(&km.state) != 2)
		return -EAGAIN;
	e1 = kmem_pa_check(km.pa);
	e2 = kmem_slab_check(km.s);
	e3 = kmem_km_huge_check();
	return e1 || e2 || e3 ? -EIO : 0;
}

/* KMEM_STATS=magazines: what the classes' magazines did, for the questions
 * of two-thread scaling (decision 40): how often a thread left its
 * magazines for the shared layer, which is when it takes the class's lock
 * (a depot exchange, a refill from the slabs, a flush to them; a fast-path
 * pop or push takes none), and how often it found that lock held. One line
 * per class that had any traffic, then the sums; the fast-path hits are not
 * counted in the drop-in (decision 34), so divide by the program's own
 * operation count. Written by the walk's callback (the instance lock held:
 * nothing here allocates). */
struct km_mag_sum {
	struct kmem_fmt *f;
	uint64_t gets, puts, flushes, contended, refilled, flushed;
};

static void mag_line(void *arg, const struct kmem_cache_stats *st)
{
	struct km_mag_sum *m = arg;

	if (!st->mag_size || !(st->depot_gets | st->depot_puts | st->allocs | st->frees))
		return;
	kmem_fmt_printf(m->f, "%-16s %5u %10llu %10llu %8llu %9llu %10llu %10llu\n", st->name, st->mag_size,
			(unsigned long long)st->depot_gets, (unsigned long long)st->depot_puts,
			(unsigned long long)st->mag_flushes, (unsigned long long)st->depot_contended,
			(unsigned long long)st->allocs, (unsigned long long)st->frees);
	m->gets += st->depot_gets;
	m->puts += st->depot_puts;
	m->flushes += st->mag_flushes;
	m->contended += st->depot_contended;
	m->refilled += st->allocs;
	m->flushed += st->frees;
}

static int km_format_magazines(char *buf, size_t len)
{
	struct kmem_fmt f;
	struct km_mag_sum m = { &f, 0, 0, 0, 0, 0, 0 };

	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "# magazines: depot gets and puts (magazines), flushes (magazines to the slabs),\n"
			    "# contended (depot lock takes that found the class's lock held), objects\n"
			    "# refilled from and flushed to the slabs\n");
	kmem_fmt_printf(&f, "%-16s %5s %10s %10s %8s %9s %10s %10s\n", "# class", "size", "gets", "puts",
			"flushes", "contended", "refilled", "flushed");
	(void)kmem_slab_walk_stats(km.s, mag_line, &m);
	kmem_fmt_printf(&f, "%-16s %5s %10llu %10llu %8llu %9llu %10llu %10llu\n", "total", "-",
			(unsigned long long)m.gets, (unsigned long long)m.puts, (unsigned long long)m.flushes,
			(unsigned long long)m.contended, (unsigned long long)m.refilled,
			(unsigned long long)m.flushed);
	return kmem_fmt_result(&f);
}

/* The drop-in's own numbers, "name value" lines (kmem/malloc.h). */
static int km_format_heap(char *buf, size_t len)
{
	struct kmem_fmt f;
	struct kmem_pa_stats st;
	struct km_huge_stats hs;
	size_t mapped;

	/* the counters first, then the arena's size: released frames lie in
	 * regions it covers even if the heap grows meanwhile (dirty_pages
	 * cannot wrap) */
	kmem_pa_get_stats(km.pa, &st);
	kmem_km_huge_stats(&hs);
	kmem_lock_acquire(&km.grow_lock);
	mapped = km.next - km.lo;
	kmem_lock_release(&km.grow_lock);
	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "arena_bytes %zu\n", (size_t)(km.hi - km.lo));
	kmem_fmt_printf(&f, "mapped_bytes %zu\n", mapped);
	kmem_fmt_printf(&f, "used_pages %zu\n", st.used);
	kmem_fmt_printf(&f, "peak_pages %zu\n", st.used_peak > st.used ? st.used_peak : st.used);
	kmem_fmt_printf(&f, "dirty_pages %zu\n", (mapped >> KM_FRAME_SHIFT) - st.released_held);
	kmem_fmt_printf(&f, "released_pages %zu\n", st.released_held);
	kmem_fmt_printf(&f, "high_pages %zu\n", km.high);
	kmem_fmt_printf(&f, "huge_blocks %zu\n", hs.n);
	kmem_fmt_printf(&f, "huge_bytes %zu\n", hs.bytes);
	kmem_fmt_printf(&f, "huge_cached_blocks %zu\n", hs.cached_n);
	kmem_fmt_printf(&f, "huge_cached_bytes %zu\n", hs.cached_bytes);
	kmem_fmt_printf(&f, "huge_cache_hits %llu\n", (unsigned long long)hs.cache_hits);
	return kmem_fmt_result(&f);
}

KM_EXPORT int kmem_malloc_stats(const char *what, char *buf, size_t len)
{
	if (!km_ready() || !what)
		return -1;
	if (!strcmp(what, "slabinfo"))
		return kmem_slab_format_slabinfo(km.s, buf, len);
	if (!strcmp(what, "buddyinfo"))
		return kmem_buddy_format_buddyinfo(km.b, buf, len);
	if (!strcmp(what, "vmstat"))
		return kmem_pa_format_vmstat(km.pa, buf, len);
	if (!strcmp(what, "zoneinfo"))
		return kmem_pa_format_zoneinfo(km.pa, buf, len);
	if (!strcmp(what, "heap"))
		return km_format_heap(buf, len);
	return -1;
}

/* ---- glibc's statistics calls: mallinfo, mallinfo2, malloc_stats, malloc_info ----
 *
 * One snapshot (km_info_get) feeds all four; what each number means is in
 * the README ("Statistics calls"). Sources: the slab instance's per-cache
 * counters (kmem_slab_walk_stats), the owner table for page blocks (a tag
 * holding the block's frame count on its first frame), the frame service's
 * and the buddy's counters, the huge table. Exact when no other thread
 * allocates or frees meanwhile; otherwise each number is a recent value.
 * O(mapped frames + caches + max order): the owner walk dominates (a
 * relaxed load per 4 KiB frame made read-write: 16 Ki loads for 64 MiB). */

#define KM_INFO_CLASSES 96u

struct km_info_class {
	size_t from, size;	/* sizes the class serves: (previous class, size] */
	size_t free_n;		/* free objects in its slabs and its depot */
};

struct km_info {
	size_t reserved;	/* the arena's address space */
	size_t mapped;		/* the regions added so far (never shrinks) */
	size_t used;		/* bytes handed out: slab objects and page blocks */
	size_t free;		/* bytes free: slab objects (slabs, depots) and frames */
	size_t fast_n, fast;	/* free objects in the depots' magazines, their bytes */
	size_t free_blocks;	/* free objects in slabs + free buddy blocks */
	size_t keep;		/* free frames still resident (not released), bytes */
	struct km_huge_stats huge;
	unsigned nclass;
	struct km_info_class cls[KM_INFO_CLASSES];
	size_t buddy_free[KM_MAX_ORDER + 1];	/* free buddy blocks per order */
};

/* kmem_slab_walk_stats callback (instance lock held: no allocation here). */
static void info_cache(void *arg, const struct kmem_cache_stats *st)
{
	struct km_info *in = arg;
	size_t depot = st->depot_objs, active = st->active_objs;
	size_t in_slabs = st->total_objs > active ? st->total_objs - active : 0;
	size_t live = active > depot ? active - depot : 0; /* depot objects count as active */

	in->used += live * st->object_size;
	in->free += (in_slabs + depot) * st->object_size;
	in->fast_n += depot;
	in->fast += depot * st->object_size;
	in->free_blocks += in_slabs;
	if (in->nclass < KM_INFO_CLASSES) {
		in->cls[in->nclass].size = st->object_size;
		in->cls[in->nclass].free_n = 0;
		in->nclass++;
	}
	in->cls[in->nclass - 1].free_n += in_slabs + depot; /* past the table: folded into the last */
}

/* The classes by size (insertion sort: a few dozen), each serving the sizes
 * above the previous one. */
static void info_sort_classes(struct km_info *in)
{
	for (unsigned i = 1; i < in->nclass; i++) {
		struct km_info_class c = in->cls[i];
		unsigned j = i;

		for (; j > 0 && in->cls[j - 1].size > c.size; j--)
			in->cls[j] = in->cls[j - 1];
		in->cls[j] = c;
	}
	for (unsigned i = 0; i < in->nclass; i++)
		in->cls[i].from = i && in->cls[i - 1].size < in->cls[i].size ? in->cls[i - 1].size + 1 : 1;
}

/* The snapshot. The arena's size is read after the counters, so frames
 * counted free or in slabs lie in regions it covers even while the heap
 * grows meanwhile (read first, a region added between the two would make
 * fordblks exceed arena); the owner walk covers that size (owner words are
 * mapped before a region is added). */
static void km_info_get(struct km_info *in)
{
	struct kmem_pa_stats ps;
	struct kmem_buddy_stats bs;
	size_t frames, blocks = 0;

	memset(in, 0, sizeof(*in));
	if (kmem_atomic_load_acquire(&km.state) != 2)
		return;
	in->reserved = km.hi - km.lo;
	(void)kmem_slab_walk_stats(km.s, info_cache, in);
	info_sort_classes(in);
	kmem_pa_get_stats(km.pa, &ps);
	in->free += (ps.free + ps.pcp) << KM_FRAME_SHIFT;
	if (ps.free + ps.pcp > ps.released_held) /* the released pool is part of free */
		in->keep = (ps.free + ps.pcp - ps.released_held) << KM_FRAME_SHIFT;
	kmem_buddy_get_stats(km.b, &bs);
	for (unsigned k = 0; k <= KM_MAX_ORDER && k <= bs.max_order; k++) {
		in->buddy_free[k] = bs.free_blocks[k];
		in->free_blocks += bs.free_blocks[k];
	}
	kmem_km_huge_stats(&in->huge);
	kmem_lock_acquire(&km.grow_lock);
	in->mapped = km.next - km.lo;
	kmem_lock_release(&km.grow_lock);
	/* page blocks: the tag on a live block's first frame holds its frame
	 * count (the frame service's own tags, on released blocks, hold none
	 * in 1..KM_BLOCK_MAX frames: see km_usable) */
	frames = in->mapped >> KM_FRAME_SHIFT;
	for (size_t i = 0; i < frames; i++) {
		const void *w = kmem_atomic_load_relaxed(&km.owner[i]);

		if (kmem_owner_is_tag(w)) {
			size_t n = kmem_owner_tag_value(w);

			if (n - 1 < (KM_BLOCK_MAX >> KM_FRAME_SHIFT))
				blocks += n;
		}
	}
	in->used += blocks << KM_FRAME_SHIFT;
	{
		/* the hardened mode's quarantine: freed by the program, in use
		 * for the layers until they leave it */
		size_t qn, qbytes;
		uint64_t qtotal;

		kmem_km_q_stats(&qn, &qbytes, &qtotal);
		if (qbytes > in->used)
			qbytes = in->used;
		in->used -= qbytes;
		in->free += qbytes;
	}
}

#ifdef __GLIBC__
/* mallinfo's int of a mallinfo2 number, as glibc converts it (an implicit
 * size_t -> int conversion, which GCC defines as modulo 2^32): the low 32
 * bits, so a number above INT_MAX wraps, possibly negative, and the
 * difference of two readings stays right modulo 2^32 (decision 20). */
static int glibc_int(size_t v)
{
	return (int)(uint32_t)v;
}

/* mallinfo2: the snapshot in glibc's fields (README "Statistics calls"
 * maps each one to a kmem number). Starts the heap if no call did yet, as
 * glibc initialises its arena; called from inside the heap's set-up, or
 * with a heap that failed to start: all zero. Any thread; allocates
 * nothing; O(mapped frames + caches). glibc >= 2.33 declares it. */
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33)
KM_EXPORT struct mallinfo2 mallinfo2(void)
{
	struct mallinfo2 m;
	struct km_info in;

	memset(&m, 0, sizeof(m));
	if (!km_ready())
		return m;
	km_info_get(&in);
	m.arena = in.mapped;
	m.ordblks = in.free_blocks;
	m.smblks = in.fast_n;
	m.hblks = in.huge.n;
	m.hblkhd = in.huge.bytes;
	m.usmblks = 0; /* unused, as in glibc */
	m.fsmblks = in.fast;
	m.uordblks = in.used;
	m.fordblks = in.free;
	m.keepcost = in.keep;
	return m;
}
#endif

/* mallinfo: mallinfo2's numbers in ints, truncated as glibc truncates
 * them (glibc_int): deprecated since glibc 2.33, still called. */
KM_EXPORT struct mallinfo mallinfo(void)
{
	struct mallinfo m;
	struct km_info in;

	memset(&m, 0, sizeof(m));
	if (!km_ready())
		return m;
	km_info_get(&in);
	m.arena = glibc_int(in.mapped);
	m.ordblks = glibc_int(in.free_blocks);
	m.smblks = glibc_int(in.fast_n);
	m.hblks = glibc_int(in.huge.n);
	m.hblkhd = glibc_int(in.huge.bytes);
	m.usmblks = 0;
	m.fsmblks = glibc_int(in.fast);
	m.uordblks = glibc_int(in.used);
	m.fordblks = glibc_int(in.free);
	m.keepcost = glibc_int(in.keep);
	return m;
}

/* malloc_stats: glibc's layout, one arena (kmem has one heap), numbers not
 * truncated, to the stderr stream as glibc prints it (fputs: the program's
 * stderr as it is now, freopen or dup2 included; nothing if it is closed),
 * not to the report descriptor, which is for reports the program did not
 * ask for (decision 20). Zeros where mallinfo2 has them. Any thread;
 * allocates nothing itself. */
KM_EXPORT void malloc_stats(void)
{
	struct km_info in;
	struct kmem_fmt f;
	char buf[512];

	if (!km_ready())
		memset(&in, 0, sizeof(in));
	else
		km_info_get(&in);
	kmem_fmt_init(&f, buf, sizeof(buf));
	kmem_fmt_printf(&f, "Arena 0:\n");
	kmem_fmt_printf(&f, "system bytes     = %10zu\n", in.mapped);
	kmem_fmt_printf(&f, "in use bytes     = %10zu\n", in.used);
	kmem_fmt_printf(&f, "Total (incl. mmap):\n");
	kmem_fmt_printf(&f, "system bytes     = %10zu\n", in.mapped + in.huge.bytes);
	kmem_fmt_printf(&f, "in use bytes     = %10zu\n", in.used + in.huge.bytes);
	kmem_fmt_printf(&f, "max mmap regions = %10zu\n", in.huge.max_n);
	kmem_fmt_printf(&f, "max mmap bytes   = %10zu\n", in.huge.max_bytes);
	(void)kmem_fmt_result(&f);
	fputs(buf, stderr);
}

static int km_format_info(const struct km_info *in, char *buf, size_t len)
{
	struct kmem_fmt f;
	size_t rest_n = in->free_blocks, rest = in->free - in->fast;

	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
	for (unsigned i = 0; i < in->nclass; i++)
		if (in->cls[i].free_n)
			kmem_fmt_printf(&f, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
					in->cls[i].from, in->cls[i].size,
					in->cls[i].free_n * in->cls[i].size, in->cls[i].free_n);
	for (unsigned k = 0; k <= KM_MAX_ORDER; k++)
		if (in->buddy_free[k])
			kmem_fmt_printf(&f, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
					KM_FRAME << k, KM_FRAME << k, in->buddy_free[k] * (KM_FRAME << k),
					in->buddy_free[k]);
	kmem_fmt_printf(&f, "</sizes>\n");
	for (int total = 0; total < 2; total++) {
		kmem_fmt_printf(&f, "<total type=\"fast\" count=\"%zu\" size=\"%zu\"/>\n", in->fast_n, in->fast);
		kmem_fmt_printf(&f, "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n", rest_n, rest);
		if (total)
			kmem_fmt_printf(&f, "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", in->huge.n,
					in->huge.bytes);
		kmem_fmt_printf(&f, "<system type=\"current\" size=\"%zu\"/>\n", in->mapped);
		kmem_fmt_printf(&f, "<system type=\"max\" size=\"%zu\"/>\n", in->mapped);
		kmem_fmt_printf(&f, "<aspace type=\"total\" size=\"%zu\"/>\n", in->reserved);
		kmem_fmt_printf(&f, "<aspace type=\"mprotect\" size=\"%zu\"/>\n", in->mapped);
		if (!total)
			kmem_fmt_printf(&f, "</heap>\n");
	}
	kmem_fmt_printf(&f, "</malloc>\n");
	return kmem_fmt_result(&f);
}

/* malloc_info: glibc's XML (km_format_info) to fp; returns 0. options
 * other than 0: EINVAL returned (not -1 with errno, whatever the manual
 * says: glibc's code returns EINVAL), nothing written. An XML text over
 * 4 KiB is formatted in a block of this heap: -1 with errno ENOMEM if that
 * fails. Zeros where mallinfo2 has them. Any thread. */
KM_EXPORT int malloc_info(int options, FILE *fp)
{
	struct km_info in;
	char small[4096], *buf = small;
	int n;

	if (options != 0)
		return EINVAL;
	if (!km_ready())
		memset(&in, 0, sizeof(in));
	else
		km_info_get(&in);
	n = km_format_info(&in, buf, sizeof(small));
	if (n >= (int)sizeof(small)) {
		buf = malloc((size_t)n + 1);
		if (!buf)
			return -1; /* errno ENOMEM */
		n = km_format_info(&in, buf, (size_t)n + 1);
	}
	if (n > 0)
		fputs(buf, fp);
	if (buf != small)
		free(buf);
	return 0;
}
#endif /* __GLIBC__ */
