/* stats.c - the drop-in's checks and statistics: kmem_malloc_check (every
 * layer's checker and the clean reserve's), kmem_malloc_stats (the layers'
 * text forms and the heap's own numbers) and the exit handler for
 * KMEM_CHECK=1 and KMEM_STATS.
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <errno.h>
#include <string.h>

static int km_format_heap(char *buf, size_t len);

/* One KMEM_STATS text (n: its formatter's return) to the stats fd, cut to
 * the buffer if it did not fit. */
static void stats_write(const char *buf, size_t len, int n)
{
	if (n > 0)
		kmem_km_write_all(km.stats_fd, buf, (size_t)n < len ? (size_t)n : len - 1);
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
			kmem_km_write_all(2, ok, sizeof(ok) - 1);
		else
			kmem_km_write_all(2, bad, sizeof(bad) - 1);
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
}

KM_EXPORT int kmem_malloc_check(void)
{
	int e1, e2;

	if (kmem_atomic_load_acquire(&km.state) != 2)
		return -EAGAIN;
	e1 = kmem_pa_check(km.pa);
	e2 = kmem_slab_check(km.s);
	return e1 || e2 ? -EIO : 0;
}

/* The drop-in's own numbers, "name value" lines (kmem/malloc.h). */
static int km_format_heap(char *buf, size_t len)
{
	struct kmem_fmt f;
	struct kmem_pa_stats st;
	size_t mapped, huge_n, huge_bytes;

	kmem_lock_acquire(&km.grow_lock);
	mapped = km.next - km.lo;
	kmem_lock_release(&km.grow_lock);
	kmem_pa_get_stats(km.pa, &st);
	kmem_km_huge_stats(&huge_n, &huge_bytes);
	kmem_fmt_init(&f, buf, len);
	kmem_fmt_printf(&f, "arena_bytes %zu\n", (size_t)(km.hi - km.lo));
	kmem_fmt_printf(&f, "mapped_bytes %zu\n", mapped);
	kmem_fmt_printf(&f, "used_pages %zu\n", st.used);
	kmem_fmt_printf(&f, "peak_pages %zu\n", st.used_peak > st.used ? st.used_peak : st.used);
	kmem_fmt_printf(&f, "dirty_pages %zu\n", (mapped >> KM_FRAME_SHIFT) - st.released_held);
	kmem_fmt_printf(&f, "released_pages %zu\n", st.released_held);
	kmem_fmt_printf(&f, "high_pages %zu\n", km.high);
	kmem_fmt_printf(&f, "huge_blocks %zu\n", huge_n);
	kmem_fmt_printf(&f, "huge_bytes %zu\n", huge_bytes);
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
