/* kmem_annot.h - memory-state annotations for Valgrind memcheck and
 * AddressSanitizer, behind neutral names (STYLE.md, "Valgrind and ASan").
 *
 *   KMEM_ANNOT_NOACCESS(p, n)   nobody may touch p[0..n) (free memory)
 *   KMEM_ANNOT_UNDEFINED(p, n)  addressable, contents meaningless
 *   KMEM_ANNOT_DEFINED(p, n)    addressable and initialised (zeroed memory)
 *
 * With Valgrind headers (KMEM_HAVE_VALGRIND, -Dvalgrind) these are memcheck
 * client requests: a few instructions when not running under Valgrind, so
 * release builds leave them off. Under ASan (-fsanitize=address) they poison
 * and unpoison (UNDEFINED and DEFINED both unpoison: ASan does not track
 * initialisation). Otherwise they compile to nothing. Before the allocator
 * writes into memory it marked NOACCESS, it marks it UNDEFINED first.
 */
#ifndef KMEM_ANNOT_H
#define KMEM_ANNOT_H

#include "kmem_config.h"

#if defined(__SANITIZE_ADDRESS__)
#define KMEM_ANNOT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KMEM_ANNOT_ASAN 1
#endif
#endif

#if defined(KMEM_ANNOT_ASAN)
#include <sanitizer/asan_interface.h>
#define KMEM_ANNOT_NOACCESS(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define KMEM_ANNOT_UNDEFINED(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define KMEM_ANNOT_DEFINED(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define KMEM_ANNOT_ENABLED 1
#elif defined(KMEM_HAVE_VALGRIND)
#include <valgrind/memcheck.h>
#define KMEM_ANNOT_NOACCESS(p, n) ((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n)))
#define KMEM_ANNOT_UNDEFINED(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define KMEM_ANNOT_DEFINED(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#define KMEM_ANNOT_ENABLED 1
#else
#define KMEM_ANNOT_NOACCESS(p, n) ((void)(p), (void)(n))
#define KMEM_ANNOT_UNDEFINED(p, n) ((void)(p), (void)(n))
#define KMEM_ANNOT_DEFINED(p, n) ((void)(p), (void)(n))
#define KMEM_ANNOT_ENABLED 0
#endif

/* KMEM_ANNOT_BENIGN_RACE(p, n): p[0..n) is shared through relaxed atomics
 * by design; Helgrind and DRD (which do not model atomics) skip it. */
#ifdef KMEM_HAVE_VALGRIND
#include <stddef.h>
#include "kmem_port.h"
KMEM_HIDDEN void kmem_annot_benign_race(const volatile void *p, size_t n);
KMEM_HIDDEN void kmem_annot_benign_race_drd(const volatile void *p, size_t n);
#define KMEM_ANNOT_BENIGN_RACE(p, n) kmem_annot_benign_race((p), (n))
#else
#define KMEM_ANNOT_BENIGN_RACE(p, n) ((void)(p), (void)(n))
#endif

#endif /* KMEM_ANNOT_H */
