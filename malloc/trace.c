/* trace.c - KMEM_TRACE: every allocation call as a record of
 * kmem/trace.h, buffered per thread (KM_TRACE_BATCH records, one relaxed
 * atomic increment of the global sequence per call) and written to the
 * trace file in batches. The file's records are in seq order per thread
 * only; readers sort by seq.
 *
 * A thread's buffer is its area of the per-thread context
 * (KMEM_TCTX_MALLOC, common/kmem_tctx.h): made on the thread's first
 * record, on the list of live buffers, flushed and taken off the list by
 * the area's exit hook at thread exit, unmapped by the context after the
 * hook. The drop-in's hook runs first, before slab's and pagealloc's.
 *
 * Records without a buffer: a thread whose exit hooks have run gets no new
 * area, yet another library's TLS destructor running later in that thread
 * may still call malloc and free (so may a thread whose area could not be
 * mapped). Such a record is written straight to the file under the trace
 * lock, one write(2) each, with the thread's trace id (kept in km_tid,
 * which outlives the area): the trace stays complete and only these late
 * records pay a system call each. The buffer is not re-created: the
 * context refuses new areas to an exiting thread, as nothing would flush
 * them.
 *
 * Locking: the trace lock (a leaf) guards the buffer list, the thread ids
 * and the file writes.
 */
#define _GNU_SOURCE
#include "malloc_internal.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* The calling thread's buffer (its KMEM_TCTX_MALLOC area) for the record
 * path: NULL before its first record and from its exit hook on. */
static KMEM_TLS struct km_tbuf *km_tbuf;
/* The calling thread's trace id (0: none yet); outlives the buffer. */
static KMEM_TLS uint16_t km_tid;

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

/* trace lock held: the calling thread's trace id, given on first use. */
static uint16_t tid_locked(void)
{
	KMEM_ASSERT(kmem_lock_held(&km.trace_lock) && "trace lock");
	if (!km_tid)
		km_tid = (uint16_t)++km.trace_tids;
	return km_tid;
}

/* A new buffer (zeroed memory): the thread's id, onto the list. */
static void tbuf_init(void *area)
{
	struct km_tbuf *t = area;

	kmem_lock_acquire(&km.trace_lock);
	t->tid = tid_locked();
	t->prev = NULL;
	t->next = km.tbufs;
	if (t->next)
		t->next->prev = t;
	km.tbufs = t;
	kmem_lock_release(&km.trace_lock);
}

/* The thread exits: flush its buffer and take it off the list (the context
 * unmaps it after this hook). */
static void tbuf_exit(void *area)
{
	struct km_tbuf *t = area;

	kmem_lock_acquire(&km.trace_lock);
	tbuf_flush(t);
	if (t->prev)
		t->prev->next = t->next;
	else if (km.tbufs == t)
		km.tbufs = t->next;
	if (t->next)
		t->next->prev = t->prev;
	kmem_lock_release(&km.trace_lock);
	km_tbuf = NULL;
}

/* The drop-in is built with threads only: no single area for firmware. */
static const struct kmem_tctx_ops tbuf_ops = {
	.id = KMEM_TCTX_MALLOC,
	.size = sizeof(struct km_tbuf),
	.init = tbuf_init,
	.exit = tbuf_exit,
};

/* No buffer (the thread's exit hooks have run, or its area could not be
 * mapped): the record goes to the file at once. */
static KMEM_NOINLINE void trace_direct(struct kmem_trace_rec *r)
{
	kmem_lock_acquire(&km.trace_lock);
	r->tid = tid_locked();
	kmem_km_write_all(km.trace_fd, r, sizeof(*r));
	kmem_lock_release(&km.trace_lock);
}

KMEM_NOINLINE void kmem_km_trace(unsigned op, size_t size, const void *ptr, const void *old,
				 unsigned align_log2, unsigned flags)
{
	struct km_tbuf *t = km_tbuf;
	struct kmem_trace_rec *r, one;

	if (!t) {
		t = kmem_tctx_area(&tbuf_ops);
		km_tbuf = t;
	}
	r = t ? &t->rec[t->n] : &one;
	r->op = (uint8_t)op;
	r->align_log2 = (uint8_t)align_log2;
	r->tid = t ? t->tid : 0;
	r->flags = flags;
	r->seq = kmem_atomic_fetch_add_relaxed(&km.trace_seq, 1);
	r->size = size;
	r->ptr = (uint64_t)(uintptr_t)ptr;
	r->old = (uint64_t)(uintptr_t)old;
	if (!t) {
		trace_direct(r);
		return;
	}
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
	/* a child traces into its own file, from seq 0: KMEM_TRACE's name with
	 * %p, or PATH.PID when it had none (heap.c's trace_follow_children;
	 * room for ".%p" was checked there), or not at all; the other
	 * threads' buffers did not come along */
	if (km.trace_on) {
		close(km.trace_fd);
		if (km.trace_children && !strstr(km.trace_path, "%p"))
			memcpy(km.trace_path + strlen(km.trace_path), ".%p", 4);
		km.trace_fd = strstr(km.trace_path, "%p") ? kmem_km_trace_open() : -1;
		kmem_lock_acquire(&km.trace_lock);
		km.trace_seq = 0;
		km.trace_tids = 0;
		km.tbufs = NULL; /* the other threads' areas stay mapped, unlisted */
		km_tid = 0; /* ids start again: the forking thread's is 1 */
		if (km.trace_fd < 0) {
			km.trace_on = false;
		} else if (km_tbuf) {
			km_tbuf->n = 0;
			km_tbuf->tid = tid_locked();
			km_tbuf->prev = km_tbuf->next = NULL;
			km.tbufs = km_tbuf;
		}
		kmem_lock_release(&km.trace_lock);
		kmem_km_fast_gates(); /* the fast paths open if tracing stopped */
	}
}
