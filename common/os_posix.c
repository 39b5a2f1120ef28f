/* os_posix.c - the built-in clock and page backend on POSIX systems:
 * CLOCK_MONOTONIC, nanosleep, getrandom (Linux), mmap/munmap, madvise(MADV_DONTNEED) (Linux:
 * the pages go back to the kernel and read zero on the next touch), aligned
 * mappings trimmed with munmap, mremap (Linux), and address-space
 * reservations: PROT_NONE MAP_NORESERVE mappings, committed with mprotect
 * and decommitted with a fresh MAP_FIXED PROT_NONE mapping; the
 * address-space limit (getrlimit RLIMIT_AS), placed ranges (half-way
 * between the program break and a fresh mapping) mapped piece by piece
 * with MAP_FIXED_NOREPLACE and unmapped with munmap. Under the
 * firmware hooks (process.c), which override the clock, sleep, map, unmap
 * and release; the rest has no hook.
 */
#define _GNU_SOURCE /* mremap, MAP_NORESERVE, MAP_ANONYMOUS */
#include "kmem_port.h"

#include <errno.h>
#include <sys/mman.h>
#if defined(__linux__)
#include <sys/random.h>
#endif
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t kmem_os_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void kmem_os_sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int kmem_os_random(void *buf, size_t n)
{
#if defined(__linux__)
	unsigned char *p = buf;

	while (n) {
		ssize_t got = getrandom(p, n, GRND_NONBLOCK);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		p += got;
		n -= (size_t)got;
	}
	return 0;
#else
	(void)buf;
	(void)n;
	return -ENOSYS;
#endif
}

void *kmem_os_map(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void kmem_os_unmap(void *p, size_t bytes)
{
	munmap(p, bytes);
}

int kmem_os_release(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_DONTNEED)
	return madvise(p, bytes, MADV_DONTNEED) == 0 ? 0 : -errno;
#else
	/* elsewhere MADV_DONTNEED may keep the contents: not a release that
	 * reads zero, which is what callers count on */
	(void)p;
	(void)bytes;
	return -ENOSYS;
#endif
}

static size_t page_size(void)
{
	long n = sysconf(_SC_PAGESIZE);

	return n > 0 ? (size_t)n : 4096;
}

/* Map bytes + align, keep the aligned bytes in the middle:
 *
 *   a                 b = a rounded up to align            a + bytes + align
 *   [-- head: unmap --|======== bytes: kept ========|-- tail: unmap --]
 */
void *kmem_os_map_aligned(size_t bytes, size_t align)
{
	uintptr_t a, b, end, keep_end;
	void *p;

	if (align <= page_size())
		return kmem_os_map(bytes);
	if (bytes > SIZE_MAX - align)
		return NULL;
	p = kmem_os_map(bytes + align);
	if (!p)
		return NULL;
	a = (uintptr_t)p;
	end = a + bytes + align;
	b = (a + align - 1) & ~(uintptr_t)(align - 1);
	keep_end = (b + bytes + page_size() - 1) & ~(uintptr_t)(page_size() - 1);
	if (b > a)
		munmap(p, b - a);
	if (end > keep_end)
		munmap((void *)keep_end, end - keep_end);
	return (void *)b;
}

int kmem_os_remap(void *p, size_t old_bytes, size_t new_bytes, void **q)
{
#if defined(__linux__) && defined(MREMAP_MAYMOVE)
	void *r = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE);

	if (r == MAP_FAILED)
		return -errno;
	*q = r;
	return 0;
#else
	(void)p;
	(void)old_bytes;
	(void)new_bytes;
	(void)q;
	return -ENOSYS;
#endif
}

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0 /* not POSIX: where it is missing, a PROT_NONE mapping costs nothing anyway */
#endif

void *kmem_os_reserve(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int kmem_os_commit(void *p, size_t bytes)
{
	return mprotect(p, bytes, PROT_READ | PROT_WRITE) == 0 ? 0 : -errno;
}

int kmem_os_noaccess(void *p, size_t bytes)
{
	return mprotect(p, bytes, PROT_NONE) == 0 ? 0 : -errno;
}

/* A fresh PROT_NONE mapping over the range (MAP_FIXED): the old pages go
 * back to the OS in the same call, and the range reads zero once committed
 * again; one call on every POSIX system, where madvise + mprotect would be
 * two and MADV_DONTNEED's zeroing is Linux's. */
int kmem_os_decommit(void *p, size_t bytes)
{
	void *r = mmap(p, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);

	return r == MAP_FAILED ? -errno : 0;
}

size_t kmem_os_as_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY ||
	    (uintmax_t)r.rlim_cur >= SIZE_MAX)
		return SIZE_MAX;
	return (size_t)r.rlim_cur;
}

#if defined(__linux__) && !defined(MAP_FIXED_NOREPLACE)
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older kernels take it as a hint */
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0 /* a hint, checked below */
#endif

/* mmap exactly at p or not at all: the flag where the kernel knows it, the
 * result checked where it does not (then it was a hint). */
static int map_exact(void *p, size_t bytes, int prot)
{
	void *r = mmap(p, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
		       -1, 0);

	if (r == MAP_FAILED)
		return errno == EEXIST ? -EEXIST : -ENOMEM;
	if (r != p) {
		munmap(r, bytes);
		return -EEXIST;
	}
	return 0;
}

/* Half-way between the program's data (the break) and where the kernel
 * puts a fresh mapping: the kernel's own placement moves away from the
 * second towards the first (top-down; bottom-up in the legacy layout moves
 * from the lower mapping area up), and the break moves up from the first,
 * so each would have to cover about half of the gap before it reaches the
 * range.
 *
 *   break b          range: mid +- bytes / 2            fresh mapping m
 *   |.............[=========== bytes ===========]...............|
 *                 <------- gap >= 4 * bytes: margins >= 1.5 * bytes ----->
 */
void *kmem_os_place(size_t bytes, size_t align)
{
	size_t pg = page_size();
	uintptr_t m, b, lo_edge, hi_edge, mid, start;
	void *probe, *brk_end;

	if (!bytes || align < pg || (align & (align - 1)) || bytes > SIZE_MAX / 8)
		return NULL;
	probe = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (probe == MAP_FAILED)
		return NULL;
	munmap(probe, pg);
	brk_end = sbrk(0);
	if (brk_end == (void *)-1)
		return NULL;
	m = (uintptr_t)probe;
	b = (uintptr_t)brk_end;
	lo_edge = m < b ? m : b;
	hi_edge = m < b ? b : m;
	if (hi_edge - lo_edge < 4 * bytes + 2 * align)
		return NULL;
	mid = lo_edge + (hi_edge - lo_edge) / 2;
	start = (mid - bytes / 2) & ~(uintptr_t)(align - 1);
	/* its first page must be free now (the rest is checked piece by
	 * piece as it is mapped) */
	if (map_exact((void *)start, pg, PROT_NONE) != 0)
		return NULL;
	munmap((void *)start, pg);
	return (void *)start;
}

int kmem_os_map_at(void *p, size_t bytes)
{
	return map_exact(p, bytes, PROT_READ | PROT_WRITE);
}

int kmem_os_unmap_range(void *p, size_t bytes)
{
	return munmap(p, bytes) == 0 ? 0 : -errno;
}
