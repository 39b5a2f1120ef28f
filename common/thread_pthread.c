/* thread_pthread.c - the hosted threads backend of kmem_thread.h: pthreads,
 * sched_yield, pthread_atfork, condition variables on CLOCK_MONOTONIC (so a wall-clock step neither
 * shortens nor stretches a timed wait), and what a fork handler needs from the C library: whether
 * the process has one thread (glibc's __libc_single_threaded) and the stdio list lock (glibc's
 * _IO_list_lock), each where the C library has it (meson checks; KMEM_HAVE_LIBC_SINGLE_THREADED,
 * KMEM_HAVE_IO_LIST_LOCK).
 */
#include "kmem_port.h"

#include <errno.h>
#include <sched.h>
#include <time.h>
#ifdef KMEM_HAVE_LIBC_SINGLE_THREADED
#include <sys/single_threaded.h>
#endif

int kmem_thrd_start(struct kmem_thrd *t, void *(*fn)(void *), void *arg)
{
	return -pthread_create(&t->t, NULL, fn, arg);
}

int kmem_thrd_join(struct kmem_thrd *t, void **ret)
{
	return -pthread_join(t->t, ret);
}

void kmem_thrd_yield(void)
{
	sched_yield();
}

int kmem_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	return -pthread_atfork(prepare, parent, child);
}

bool kmem_thrd_single(void)
{
#ifdef KMEM_HAVE_LIBC_SINGLE_THREADED
	return __libc_single_threaded != 0;
#else
	return false;
#endif
}

#ifdef KMEM_HAVE_IO_LIST_LOCK
/* glibc's, exported since 2.2 (not in its installed headers since 2.28) */
extern void _IO_list_lock(void);
extern void _IO_list_unlock(void);
extern void _IO_list_resetlock(void);
#endif

void kmem_atfork_stdio_lock(void)
{
#ifdef KMEM_HAVE_IO_LIST_LOCK
	_IO_list_lock();
#endif
}

void kmem_atfork_stdio_unlock(void)
{
#ifdef KMEM_HAVE_IO_LIST_LOCK
	_IO_list_unlock();
#endif
}

void kmem_atfork_stdio_reset(void)
{
#ifdef KMEM_HAVE_IO_LIST_LOCK
	_IO_list_resetlock();
#endif
}

int kmem_mutex_init(struct kmem_mutex *m)
{
	return -pthread_mutex_init(&m->m, NULL);
}

void kmem_mutex_destroy(struct kmem_mutex *m)
{
	pthread_mutex_destroy(&m->m);
}

void kmem_mutex_lock(struct kmem_mutex *m)
{
	pthread_mutex_lock(&m->m);
}

void kmem_mutex_unlock(struct kmem_mutex *m)
{
	pthread_mutex_unlock(&m->m);
}

int kmem_cond_init(struct kmem_cond *cv)
{
	pthread_condattr_t ca;
	int rc = pthread_condattr_init(&ca);

	if (rc)
		return -rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(&cv->c, &ca);
	pthread_condattr_destroy(&ca);
	return -rc;
}

void kmem_cond_destroy(struct kmem_cond *cv)
{
	pthread_cond_destroy(&cv->c);
}

int kmem_cond_wait(struct kmem_cond *cv, struct kmem_mutex *m)
{
	return -pthread_cond_wait(&cv->c, &m->m);
}

/* The deadline is on kmem_now_ns()'s clock (maybe a firmware hook): wait
 * for what remains of it on CLOCK_MONOTONIC, the condition's clock. */
int kmem_cond_timedwait(struct kmem_cond *cv, struct kmem_mutex *m, uint64_t deadline_ns)
{
	uint64_t now = kmem_now_ns(), left, ns;
	struct timespec ts;
	int rc;

	if (now >= deadline_ns)
		return -ETIMEDOUT;
	left = deadline_ns - now;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ns = (uint64_t)ts.tv_nsec + left % 1000000000u;
	ts.tv_sec += (time_t)(left / 1000000000u + ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	rc = pthread_cond_timedwait(&cv->c, &m->m, &ts);
	return rc == ETIMEDOUT ? -ETIMEDOUT : -rc;
}

void kmem_cond_signal(struct kmem_cond *cv)
{
	pthread_cond_signal(&cv->c);
}

void kmem_cond_broadcast(struct kmem_cond *cv)
{
	pthread_cond_broadcast(&cv->c);
}
