/* thread_none.c - the threads backend of kmem_thread.h for builds without
 * threads (-Dthreads=disabled): one thread, so no thread can be started,
 * yielding and fork handlers have nothing to do, mutexes have nothing to
 * exclude, and a wait could never be signalled (waits return -ENOSYS
 * rather than hang).
 */
#include "kmem_port.h"

#include <errno.h>

int kmem_thrd_start(struct kmem_thrd *t, void *(*fn)(void *), void *arg)
{
	(void)t;
	(void)fn;
	(void)arg;
	return -ENOSYS;
}

int kmem_thrd_join(struct kmem_thrd *t, void **ret)
{
	(void)t;
	(void)ret;
	return -ENOSYS;
}

void kmem_thrd_yield(void)
{
}

/* One thread: no lock can be held by another thread across a fork, so
 * there is nothing for fork handlers to do. */
int kmem_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	(void)prepare;
	(void)parent;
	(void)child;
	return 0;
}

bool kmem_thrd_single(void)
{
	return true;
}

void kmem_atfork_stdio_lock(void)
{
}

void kmem_atfork_stdio_unlock(void)
{
}

void kmem_atfork_stdio_reset(void)
{
}

int kmem_mutex_init(struct kmem_mutex *m)
{
	m->unused = 0;
	return 0;
}

void kmem_mutex_destroy(struct kmem_mutex *m)
{
	(void)m;
}

void kmem_mutex_lock(struct kmem_mutex *m)
{
	(void)m;
}

void kmem_mutex_unlock(struct kmem_mutex *m)
{
	(void)m;
}

int kmem_cond_init(struct kmem_cond *cv)
{
	cv->unused = 0;
	return 0;
}

void kmem_cond_destroy(struct kmem_cond *cv)
{
	(void)cv;
}

int kmem_cond_wait(struct kmem_cond *cv, struct kmem_mutex *m)
{
	(void)cv;
	(void)m;
	return -ENOSYS;
}

int kmem_cond_timedwait(struct kmem_cond *cv, struct kmem_mutex *m, uint64_t deadline_ns)
{
	(void)cv;
	(void)m;
	(void)deadline_ns;
	return -ENOSYS;
}

void kmem_cond_signal(struct kmem_cond *cv)
{
	(void)cv;
}

void kmem_cond_broadcast(struct kmem_cond *cv)
{
	(void)cv;
}
