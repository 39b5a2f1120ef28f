/* kmem_base.h - compiler helpers, asserts and bit operations (port layer).
 *
 * Included by every other port header; code includes kmem_port.h, which
 * brings in all of them.
 *  - KMEM_ASSERT(cond && "what must hold"): internal invariants, compiled
 *    only when NDEBUG is not defined (debug and debugoptimized builds);
 *    the C library's assert in hosted builds, kmem_fatal() (the firmware's
 *    fatal hook, kmem/port.h) in freestanding ones (KMEM_FREESTANDING).
 *  - KMEM_TLS: an initial-exec thread-local variable (one instruction to
 *    reach from the thread pointer); plain static storage without threads.
 * Private to the library: not installed.
 */
#ifndef KMEM_BASE_H
#define KMEM_BASE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmem_config.h"

#define KMEM_LIKELY(x) __builtin_expect(!!(x), 1)
#define KMEM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define KMEM_NOINLINE __attribute__((noinline))
/* Inlined even at -Os: a hot path's helper whose call costs more than its
 * body (slab's checked free) */
#define KMEM_ALWAYS_INLINE inline __attribute__((always_inline))
#define KMEM_HIDDEN __attribute__((visibility("hidden")))
#define KMEM_RETURN_ADDRESS() __builtin_return_address(0)

/* A fatal error (process.c): the fatal hook if installed, then abort() in
 * hosted builds or a trap instruction in freestanding ones. */
KMEM_HIDDEN __attribute__((noreturn, cold)) void kmem_fatal(const char *what, const char *file,
							    int line);

#ifdef NDEBUG
#define KMEM_ASSERT(cond) ((void)sizeof(!!(cond))) /* unevaluated: its operands count as used */
#elif defined(KMEM_FREESTANDING)
#define KMEM_ASSERT(cond) (KMEM_LIKELY(cond) ? (void)0 : kmem_fatal(#cond, __FILE__, __LINE__))
#else
#define KMEM_ASSERT(cond) assert(cond)
#endif

#ifdef KMEM_HAVE_PTHREAD
#define KMEM_TLS __thread __attribute__((tls_model("initial-exec")))
#define KMEM_THREADS 1
#else
#define KMEM_TLS
#define KMEM_THREADS 0
#endif

/* ---- step counting --------------------------------------------------------
 * The instrumented build (docs/decisions.md 31, 33): compiled with
 * KMEM_STEP_COUNT, every loop whose bound a contract states calls
 * kmem_step(kind) once per iteration, which the test program defines
 * (tests/test_buddy_steps.c, test_slab_steps.c, test_pa_steps.c assert the
 * worst case against the bound). In every other build KMEM_STEP is
 * nothing. Kinds: each component's own enum (buddy_internal.h,
 * slab_internal.h, pa_internal.h), numbered from its base below, so one
 * test counts a slab or a frame service together with the buddy under it. */
#define KMEM_STEP_BUDDY_BASE 0u
#define KMEM_STEP_SLAB_BASE 8u
#define KMEM_STEP_PA_BASE 24u
#define KMEM_STEP_KINDS 40u
#if defined(KMEM_STEP_COUNT)
void kmem_step(unsigned kind);
#define KMEM_STEP(kind) kmem_step(kind)
#else
#define KMEM_STEP(kind) ((void)0)
#endif

/* ---- bit operations ------------------------------------------------------ */

static inline unsigned kmem_ctz32(uint32_t x) { return (unsigned)__builtin_ctz(x); }
static inline unsigned kmem_ctz64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
/* The pointer-width operations use the 32-bit builtins where uintptr_t has
 * 32 bits: the 64-bit ones are a libgcc call there (__ctzdi2 on Cortex-M4). */
#define KMEM_PTR_IS_INT (sizeof(uintptr_t) <= sizeof(unsigned))
static inline unsigned kmem_ctzptr(uintptr_t x)
{
	return KMEM_PTR_IS_INT ? (unsigned)__builtin_ctz((unsigned)x)
			       : (unsigned)__builtin_ctzll((unsigned long long)x);
}
static inline int kmem_popcountptr(uintptr_t x)
{
	return KMEM_PTR_IS_INT ? __builtin_popcount((unsigned)x)
			       : __builtin_popcountll((unsigned long long)x);
}
/* floor(log2(x)) for x > 0 */
static inline unsigned kmem_flsptr(uintptr_t x)
{
	return KMEM_PTR_IS_INT ? (unsigned)(sizeof(unsigned) * 8 - 1 - (unsigned)__builtin_clz((unsigned)x))
			       : (unsigned)(sizeof(unsigned long long) * 8 - 1 -
					    (unsigned)__builtin_clzll((unsigned long long)x));
}
static inline bool kmem_is_pow2(uintptr_t x) { return x != 0 && (x & (x - 1)) == 0; }

#endif /* KMEM_BASE_H */
