/* lock.c - slow paths of the instance lock in kmem_lock.h.
 *
 * Algorithm (Drepper, "Futexes Are Tricky", 2011, mutex 3):
 *   lock:   CAS 0 -> 1 (inline fast path). On failure spin a little while
 *           the word is nonzero, retrying the CAS; then mark the word 2
 *           ("waiters") with an exchange and, while the exchange did not
 *           return 0, FUTEX_WAIT on the value 2 and exchange again.
 *   unlock: fetch-sub 1 (inline). If the old value was not 1 there may be
 *           waiters: store 0 and FUTEX_WAKE one.
 * Invariants: I1. word is 0 iff the lock is free. I2. If a thread sleeps
 * in FUTEX_WAIT, word is 2 or the wake that releases it is pending.
 * Bound: uncontended O(1); contended threads sleep, no busy wait beyond
 * KMEM_LOCK_SPINS rounds.
 * The futex word is the port layer's own business: its atomics stay raw
 * __atomic builtins here, next to the futex calls they pair with.
 */
#include "kmem_port.h"

#ifdef KMEM_LOCK_FUTEX
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KMEM_LOCK_SPINS 100

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

/* seen: the lock word's value as last read (1 or 2; the loop copes with
 * either). */
static void futex_lock_slow(unsigned *word, unsigned seen)
{
	for (int i = 0; i < KMEM_LOCK_SPINS && seen == 1; i++) {
		cpu_relax();
		seen = 0;
		if (__atomic_load_n(word, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(word, &seen, 1, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return;
		if (seen == 0)
			seen = __atomic_load_n(word, __ATOMIC_RELAXED);
	}
	if (seen != 2)
		seen = __atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE);
	while (seen != 0) {
		syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
		seen = __atomic_exchange_n(word, 2, __ATOMIC_ACQUIRE);
	}
}

void kmem_futex_unlock_slow(unsigned *word)
{
	__atomic_store_n(word, 0, __ATOMIC_RELEASE);
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

#endif /* KMEM_LOCK_FUTEX */

void kmem_lock_acquire_slow(struct kmem_lock *l)
{
#if defined(KMEM_LOCK_FUTEX)
	futex_lock_slow(&l->word, 1);
#elif defined(KMEM_HAVE_PTHREAD)
	pthread_mutex_lock(&l->mutex);
#endif
	kmem_lock_set_owner(l, kmem_self_id());
}
