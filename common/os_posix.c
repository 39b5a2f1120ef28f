/* os_posix.c - the built-in clock and page backend on POSIX systems:
 * CLOCK_MONOTONIC, nanosleep, mmap/munmap, madvise(MADV_DONTNEED) (Linux:
 * the pages go back to the kernel and read zero on the next touch). Under
 * the firmware hooks (process.c), which override any of these.
 */
#include "kmem_port.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>

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
