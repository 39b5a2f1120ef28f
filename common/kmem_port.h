/* kmem_port.h - the port layer: everything platform-specific in the kmem
 * cores goes through the headers this one includes.
 *
 *   kmem_base.h    compiler helpers, KMEM_ASSERT, KMEM_TLS, bit operations
 *   kmem_atomic.h  atomics named by memory order (plain without threads)
 *   kmem_lock.h    the instance lock (futex or pthread mutex, or nothing);
 *                  records its owner in debug builds: kmem_lock_held() is
 *                  "held by the calling thread"
 *   kmem_thread.h  threads, sleeping mutex + condition variable, the clock
 *                  (kmem_now_ns), page mapping and release; hosted,
 *                  no-threads and firmware-hook backends
 *   kmem_tctx.h    the per-thread context: one area per component, slot
 *                  maps for instances, exit hooks; its process-wide state
 *                  is all in process.c
 *
 * Backends (common/meson.build picks the files): lock.c (futex slow paths),
 * thread_pthread.c or thread_none.c, os_posix.c or os_none.c, and
 * process.c (tctx, slot maps, the firmware hooks of include/kmem/port.h).
 * Private to the library: not installed.
 */
#ifndef KMEM_PORT_H
#define KMEM_PORT_H

#include "kmem_base.h"
#include "kmem_atomic.h"
#include "kmem_lock.h"
#include "kmem_thread.h"
#include "kmem_tctx.h"

#endif /* KMEM_PORT_H */
