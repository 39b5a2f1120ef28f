/* kmem/kmem.h - umbrella header: everything public in kmem. */
#ifndef KMEM_KMEM_H
#define KMEM_KMEM_H

#include <kmem/common.h>
#include <kmem/error.h>
#include <kmem/page_source.h>
#include <kmem/buddy.h>
#include <kmem/slab.h>
#include <kmem/pagealloc.h>
#include <kmem/stack.h>
#include <kmem/replace.h>
#include <kmem/pagecache.h>

#endif /* KMEM_KMEM_H */
