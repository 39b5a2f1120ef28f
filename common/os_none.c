/* os_none.c - the built-in clock and page backend where there is no OS
 * (bare-metal firmware): no clock (0: time does not pass), no sleep, no
 * mapping, no release. The firmware supplies any of them through
 * kmem_port_set_hooks() (include/kmem/port.h) or goes without. No aligned
 * mapping, remapping or address-space reservation either, and these have
 * no hook: a heap on firmware is given its memory (a static array, a
 * linker-script region) rather than reserving and committing it; no
 * address-space limit (SIZE_MAX), no placed ranges.
 */
#include "kmem_port.h"

#include <errno.h>

uint64_t kmem_os_now_ns(void)
{
	return 0;
}

void kmem_os_sleep_ns(uint64_t ns)
{
	(void)ns;
}

int kmem_os_random(void *buf, size_t n)
{
	(void)buf;
	(void)n;
	return -ENOSYS;
}

void *kmem_os_map(size_t bytes)
{
	(void)bytes;
	return NULL;
}

void kmem_os_unmap(void *p, size_t bytes)
{
	(void)p;
	(void)bytes;
}

int kmem_os_release(void *p, size_t bytes)
{
	(void)p;
	(void)bytes;
	return -ENOSYS;
}

void *kmem_os_map_aligned(size_t bytes, size_t align)
{
	(void)bytes;
	(void)align;
	return NULL;
}

int kmem_os_remap(void *p, size_t old_bytes, size_t new_bytes, void **q)
{
	(void)p;
	(void)old_bytes;
	(void)new_bytes;
	(void)q;
	return -ENOSYS;
}

void *kmem_os_reserve(size_t bytes)
{
	(void)bytes;
	return NULL;
}

int kmem_os_commit(void *p, size_t bytes)
{
	(void)p;
	(void)bytes;
	return -ENOSYS;
}

int kmem_os_noaccess(void *p, size_t bytes)
{
	(void)p;
	(void)bytes;
	return -ENOSYS;
}

int kmem_os_decommit(void *p, size_t bytes)
{
	(void)p;
	(void)bytes;
	return -ENOSYS;
}

size_t kmem_os_as_limit(void)
{
	return SIZE_MAX;
}

void *kmem_os_place(size_t bytes, size_t align)
{
	(void)bytes;
	(void)align;
	return NULL;
}

int kmem_os_map_at(void *p, size_t bytes)
{
	(void)p;
	(void)bytes;
	return -ENOSYS;
}

int kmem_os_unmap_range(void *p, size_t bytes)
{
	(void)p;
	(void)bytes;
	return -ENOSYS;
}
