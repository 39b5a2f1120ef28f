/* trace.c - KMEM_TRACE: every allocation call as a record of
 * kmem/trace.h, buffered per thread (KM_TRACE_BATCH records, one relaxed
 * atomic increment of the global sequence per call) and written to the
 * trace file in batches; a thread's buffer is flushed at its exit (a
 * pthread key destructor) and every buffer at process exit.
 *
 * Locking: the trace lock (a leaf) guards the buffer list, the thread ids
 * and the file writes.
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static __thread __attribute__((tls_model("initial-exec"))) struct km_tbuf *km_tbuf;

/* Open the trace file named by km.trace_path, "%p" replaced by the pid,
 * and write the header; -1 if it cannot be opened. */
int kmem_km_trace_open(void)
{
	char path[sizeof(km.trace_path) + 24], pid[24];
	size_t n = 0, k = 0;
	unsigned long v = (unsigned long)getpid();
	int fd;

	do
		pid[k++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (const char *t = km.trace_path; *t && n < sizeof(path) - 24; t++) {
		if (t[0] == '%' && t[1] == 'p') {
			for (size_t i = k; i > 0; i--)
				path[n++] = pid[i - 1];
			t++;
		} else {
			path[n++] = *t;
		}
	}
	path[n] = 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		struct kmem_trace_header h;

		memcpy(h.magic, KMEM_TRACE_MAGIC, 8);
		h.version = KMEM_TRACE_VERSION;
		h.record_size = sizeof(struct kmem_trace_rec);
		kmem_km_write_all(fd, &h, sizeof(h));
	}
	return fd;
}

/* ---- tracing ------------------------------------------------------------------------------------ */

static void tbuf_flush(struct km_tbuf *t)
{
	if (t->n) {
		kmem_km_write_all(km.trace_fd, t->rec, t->n * sizeof(t->rec[0]));
		t->n = 0;
	}
}

void kmem_km_trace_exit(void *arg)
{
	struct km_tbuf *t = arg;

	kmem_lock_acquire(&km.trace_lock);
	tbuf_flush(t);
	kmem_lock_release(&km.trace_lock);
	/* the buffer stays on the list (and mapped): exit may still look */
	km_tbuf = NULL;
}

KMEM_NOINLINE void kmem_km_trace(unsigned op, size_t size, const void *ptr, const void *old,
				 unsigned align_log2, unsigned flags)
{
	struct km_tbuf *t = km_tbuf;
	struct kmem_trace_rec *r;

	if (!t) {
		t = kmem_pages_map(sizeof(*t));
		if (!t)
			return;
		kmem_lock_acquire(&km.trace_lock);
		t->tid = (uint16_t)++km.trace_tids;
		t->next = km.tbufs;
		km.tbufs = t;
		kmem_lock_release(&km.trace_lock);
		km_tbuf = t;
		(void)pthread_setspecific(km.trace_key, t);
	}
	r = &t->rec[t->n];
	r->op = (uint8_t)op;
	r->align_log2 = (uint8_t)align_log2;
	r->tid = t->tid;
	r->flags = flags;
	r->seq = kmem_atomic_fetch_add_relaxed(&km.trace_seq, 1);
	r->size = size;
	r->ptr = (uint64_t)(uintptr_t)ptr;
	r->old = (uint64_t)(uintptr_t)old;
	if (++t->n == KM_TRACE_BATCH) {
		kmem_lock_acquire(&km.trace_lock);
		tbuf_flush(t);
		kmem_lock_release(&km.trace_lock);
	}
}

void kmem_km_trace_flush_all(void)
{
	kmem_lock_acquire(&km.trace_lock);
	for (struct km_tbuf *t = km.tbufs; t; t = t->next)
		tbuf_flush(t);
	kmem_lock_release(&km.trace_lock);
}

void kmem_km_trace_fork_child(void)
{
	/* a child traces into its own file (KMEM_TRACE with %p), from seq 0,
	 * or not at all; the other threads' buffers did not come along */
	if (km.trace_on) {
		close(km.trace_fd);
		km.trace_fd = strstr(km.trace_path, "%p") ? kmem_km_trace_open() : -1;
		km.trace_seq = 0;
		km.trace_tids = 0;
		km.tbufs = NULL;
		if (km.trace_fd < 0) {
			km.trace_on = false;
		} else if (km_tbuf) {
			km_tbuf->n = 0;
			km_tbuf->tid = (uint16_t)++km.trace_tids;
			km_tbuf->next = NULL;
			km.tbufs = km_tbuf;
		}
	}
}
