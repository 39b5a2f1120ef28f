/* kmem/common.h - definitions shared by every kmem public header.
 *
 * Export control: the library is built with -fvisibility=hidden; only
 * functions marked KMEM_API are exported, and every one is named kmem_*.
 */
#ifndef KMEM_COMMON_H
#define KMEM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define KMEM_VERSION_MAJOR 0
#define KMEM_VERSION_MINOR 1
#define KMEM_VERSION_PATCH 0

#if defined(__GNUC__) || defined(__clang__)
#define KMEM_API __attribute__((visibility("default")))
#define KMEM_MUST_CHECK __attribute__((warn_unused_result))
#define KMEM_MALLOC_LIKE __attribute__((malloc))
#else
#define KMEM_API
#define KMEM_MUST_CHECK
#define KMEM_MALLOC_LIKE
#endif

#ifdef __cplusplus
#define KMEM_BEGIN_DECLS extern "C" {
#define KMEM_END_DECLS }
#else
#define KMEM_BEGIN_DECLS
#define KMEM_END_DECLS
#endif

#endif /* KMEM_COMMON_H */
