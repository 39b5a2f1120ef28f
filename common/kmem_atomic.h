/* kmem_atomic.h - atomic operations named by memory order (port layer).
 *
 * Every atomic access in the kmem cores goes through these wrappers; the
 * name says the operation and its memory order, so a reader sees at the call
 * what is published and what is only counted:
 *
 *   kmem_atomic_load_{relaxed,acquire}(p)
 *   kmem_atomic_store_{relaxed,release}(p, v)
 *   kmem_atomic_fetch_{add,sub,or,and}_relaxed(p, v)     old value
 *   kmem_atomic_add_fetch_relaxed(p, v)                  new value
 *   kmem_atomic_fetch_sub_release(p, v), kmem_atomic_sub_fetch_release(p, v)
 *   kmem_atomic_exchange_{relaxed,acquire,acq_rel}(p, v)  old value
 *   kmem_atomic_cas_{relaxed,acquire,acq_rel}(p, &expected, desired)
 *   kmem_atomic_cas_weak_relaxed(p, &expected, desired)
 *       compare-exchange: true and *p = desired if *p == expected; else
 *       false and expected = *p. The failure order is relaxed, except for
 *       acq_rel whose failure order is acquire.
 *   kmem_owner_add_relaxed(p, v)   *p += v by the only writer (under its
 *       lock) for readers that load *p without the lock: a plain load, add
 *       and relaxed store, no read-modify-write instruction.
 *
 * The wrappers are type-generic (p points to an unsigned, unsigned long,
 * size_t, uint64_t, bool or a pointer; v is evaluated once); the types in
 * the tree are those, and KMEM_ATOMIC_CHECK rejects anything wider than 8
 * bytes at compile time. C and C++ translation units can share them.
 *
 * Builds without threads (-Dthreads=disabled, KMEM_HAVE_PTHREAD undefined)
 * compile every wrapper to the plain operation. There is only one thread,
 * and kmem is not called from interrupt handlers, so nothing can observe an
 * intermediate state. This is also what lets 32-bit targets without 64-bit
 * atomics build: ARMv7-M and RV32 have no 8-byte atomic instructions, and
 * __atomic on a uint64_t would call __atomic_load_8 and friends from
 * libatomic, which bare-metal toolchains do not ship. A 32-bit target WITH
 * threads (i386, armhf Linux) gets 64-bit atomics from the compiler
 * (cmpxchg8b, ldrexd) or libatomic, as the hosted toolchain provides.
 *
 * Private to the library: not installed.
 */
#ifndef KMEM_ATOMIC_H
#define KMEM_ATOMIC_H

#include "kmem_base.h"

#ifdef __cplusplus
#define KMEM_ATOMIC_CHECK(p) static_assert(sizeof(*(p)) <= 8, "kmem atomics: at most 8 bytes")
#else
#define KMEM_ATOMIC_CHECK(p) _Static_assert(sizeof(*(p)) <= 8, "kmem atomics: at most 8 bytes")
#endif

#ifdef KMEM_HAVE_PTHREAD

#define KMEM_ATOMIC_OP_(op, p, v, mo)                                           \
	__extension__({                                                         \
		KMEM_ATOMIC_CHECK(p);                                           \
		op((p), (v), (mo));                                             \
	})

#define kmem_atomic_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define kmem_atomic_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define kmem_atomic_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define kmem_atomic_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define kmem_atomic_fetch_add_relaxed(p, v) KMEM_ATOMIC_OP_(__atomic_fetch_add, p, v, __ATOMIC_RELAXED)
#define kmem_atomic_fetch_sub_relaxed(p, v) KMEM_ATOMIC_OP_(__atomic_fetch_sub, p, v, __ATOMIC_RELAXED)
#define kmem_atomic_fetch_or_relaxed(p, v) KMEM_ATOMIC_OP_(__atomic_fetch_or, p, v, __ATOMIC_RELAXED)
#define kmem_atomic_fetch_and_relaxed(p, v) KMEM_ATOMIC_OP_(__atomic_fetch_and, p, v, __ATOMIC_RELAXED)
#define kmem_atomic_add_fetch_relaxed(p, v) KMEM_ATOMIC_OP_(__atomic_add_fetch, p, v, __ATOMIC_RELAXED)
#define kmem_atomic_fetch_sub_release(p, v) KMEM_ATOMIC_OP_(__atomic_fetch_sub, p, v, __ATOMIC_RELEASE)
#define kmem_atomic_sub_fetch_release(p, v) KMEM_ATOMIC_OP_(__atomic_sub_fetch, p, v, __ATOMIC_RELEASE)
#define kmem_atomic_exchange_relaxed(p, v) KMEM_ATOMIC_OP_(__atomic_exchange_n, p, v, __ATOMIC_RELAXED)
#define kmem_atomic_exchange_acquire(p, v) KMEM_ATOMIC_OP_(__atomic_exchange_n, p, v, __ATOMIC_ACQUIRE)
#define kmem_atomic_exchange_acq_rel(p, v) KMEM_ATOMIC_OP_(__atomic_exchange_n, p, v, __ATOMIC_ACQ_REL)
#define kmem_atomic_cas_relaxed(p, e, d)                                        \
	__atomic_compare_exchange_n((p), (e), (d), false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
#define kmem_atomic_cas_weak_relaxed(p, e, d)                                   \
	__atomic_compare_exchange_n((p), (e), (d), true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
#define kmem_atomic_cas_acquire(p, e, d)                                        \
	__atomic_compare_exchange_n((p), (e), (d), false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)
#define kmem_atomic_cas_acq_rel(p, e, d)                                        \
	__atomic_compare_exchange_n((p), (e), (d), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

#else /* no threads: plain operations (see the header comment) */

#define kmem_atomic_load_relaxed(p) (*(p))
#define kmem_atomic_load_acquire(p) (*(p))
#define kmem_atomic_store_relaxed(p, v) ((void)(*(p) = (v)))
#define kmem_atomic_store_release(p, v) ((void)(*(p) = (v)))
#define KMEM_PLAIN_FETCH_(p, v, op)                                             \
	__extension__({                                                         \
		__typeof__(*(p)) *kp_ = (p);                                    \
		__typeof__(*(p)) kold_ = *kp_;                                  \
		KMEM_ATOMIC_CHECK(p);                                           \
		*kp_ = (__typeof__(*(p)))(kold_ op (v));                        \
		kold_;                                                          \
	})
#define KMEM_PLAIN_OP_FETCH_(p, v, op)                                          \
	__extension__({                                                         \
		__typeof__(*(p)) *kp_ = (p);                                    \
		KMEM_ATOMIC_CHECK(p);                                           \
		*kp_ = (__typeof__(*(p)))(*kp_ op (v));                         \
	})
#define kmem_atomic_fetch_add_relaxed(p, v) KMEM_PLAIN_FETCH_(p, v, +)
#define kmem_atomic_fetch_sub_relaxed(p, v) KMEM_PLAIN_FETCH_(p, v, -)
#define kmem_atomic_fetch_or_relaxed(p, v) KMEM_PLAIN_FETCH_(p, v, |)
#define kmem_atomic_fetch_and_relaxed(p, v) KMEM_PLAIN_FETCH_(p, v, &)
#define kmem_atomic_add_fetch_relaxed(p, v) KMEM_PLAIN_OP_FETCH_(p, v, +)
#define kmem_atomic_fetch_sub_release(p, v) KMEM_PLAIN_FETCH_(p, v, -)
#define kmem_atomic_sub_fetch_release(p, v) KMEM_PLAIN_OP_FETCH_(p, v, -)
#define KMEM_PLAIN_XCHG_(p, v)                                                  \
	__extension__({                                                         \
		__typeof__(*(p)) *kp_ = (p);                                    \
		__typeof__(*(p)) kold_ = *kp_;                                  \
		KMEM_ATOMIC_CHECK(p);                                           \
		*kp_ = (v);                                                     \
		kold_;                                                          \
	})
#define kmem_atomic_exchange_relaxed(p, v) KMEM_PLAIN_XCHG_(p, v)
#define kmem_atomic_exchange_acquire(p, v) KMEM_PLAIN_XCHG_(p, v)
#define kmem_atomic_exchange_acq_rel(p, v) KMEM_PLAIN_XCHG_(p, v)
#define KMEM_PLAIN_CAS_(p, e, d)                                                \
	__extension__({                                                         \
		__typeof__(*(p)) *kp_ = (p), *ke_ = (e);                        \
		bool kok_ = *kp_ == *ke_;                                       \
		KMEM_ATOMIC_CHECK(p);                                           \
		if (kok_)                                                       \
			*kp_ = (d);                                             \
		else                                                            \
			*ke_ = *kp_;                                            \
		kok_;                                                           \
	})
#define kmem_atomic_cas_relaxed(p, e, d) KMEM_PLAIN_CAS_(p, e, d)
#define kmem_atomic_cas_weak_relaxed(p, e, d) KMEM_PLAIN_CAS_(p, e, d)
#define kmem_atomic_cas_acquire(p, e, d) KMEM_PLAIN_CAS_(p, e, d)
#define kmem_atomic_cas_acq_rel(p, e, d) KMEM_PLAIN_CAS_(p, e, d)

#endif /* KMEM_HAVE_PTHREAD */

/* *p += v by the only writer, for lock-free readers (see the header). The
 * writer's own read is plain: no other thread writes *p, so it cannot race,
 * and the compiler may combine it with the writer's other reads. */
#define kmem_owner_add_relaxed(p, v)                                            \
	kmem_atomic_store_relaxed((p), (__typeof__(*(p)))(*(p) + (v)))

/* ---- older names, kept for callers not yet converted ---------------------- */

static inline void kmem_atomic_inc_relaxed_ul(unsigned long *p)
{
	(void)kmem_atomic_fetch_add_relaxed(p, 1ul);
}
static inline unsigned long kmem_atomic_load_relaxed_ul(const unsigned long *p)
{
	return kmem_atomic_load_relaxed(p);
}
static inline void kmem_atomic_store_relaxed_ul(unsigned long *p, unsigned long v)
{
	kmem_atomic_store_relaxed(p, v);
}
/* kmem_owner_add_relaxed() for a size_t */
static inline void kmem_relaxed_add_size(size_t *p, size_t v)
{
	kmem_owner_add_relaxed(p, v);
}

#endif /* KMEM_ATOMIC_H */
