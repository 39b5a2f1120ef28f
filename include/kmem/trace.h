/* kmem/trace.h - the allocation trace format written by the drop-in malloc
 * (KMEM_TRACE=file) and read by `kmem replay`.
 *
 * A trace is a 16-byte header followed by fixed 40-byte records, all
 * little-endian (the byte order of the machines kmem runs on today):
 *
 *   header  char magic[8] = "KMEMTRC1"; uint32 version = 1;
 *           uint32 record_size = 40
 *   record  uint8  op          KMEM_TRACE_* below
 *           uint8  align_log2  MEMALIGN: log2 of the alignment asked for
 *           uint16 tid         thread number, 1.. in order of first record
 *           uint32 flags       KMEM_TRACE_F_* below
 *           uint64 seq         global order of the calls (0, 1, 2, ...)
 *           uint64 size        bytes asked for (CALLOC: nmemb * size;
 *                              FREE: 0)
 *           uint64 ptr         the block returned (0: the call failed), or
 *                              for FREE the block freed
 *           uint64 old         REALLOC: the block passed in; else 0
 *
 * Block ids are their addresses: a replayer maps each ptr to its own
 * allocation and finds it again by the same value in a later FREE or
 * REALLOC. Records are written per thread in batches, so the file is not
 * in seq order: sort by seq before replaying.
 *
 * Processes: every process writes its own file, its seq starting at 0 (a
 * fork child's frees of blocks it inherited are then unknown ids). With
 * "%p" in the name, "%p" is replaced by the pid. Without it, the process
 * that reads KMEM_TRACE=FILE writes FILE and its children follow: it puts
 * KMEM_TRACE=FILE.%p in its environment, so programs it execs (through a
 * shell, gcc's drivers, posix_spawn) write FILE.PID, and its fork children
 * write FILE.PID too. A fork child that execs writes one file, the exec'd
 * program's (the calls between fork and exec are overwritten); FILE
 * longer than 252 bytes traces the first process only, with a warning.
 *
 * Limits: records not yet flushed (at most 203 per thread) are lost when a
 * process is killed, calls _exit() or execs; exit() and thread exit flush
 * them. tid wraps after 65535 threads. realloc's seq is taken after the
 * call, so a block freed by a realloc and reused by another thread at that
 * instant may appear live twice (a replayer counts it as replaced).
 */
#ifndef KMEM_TRACE_H
#define KMEM_TRACE_H

#include <kmem/common.h>

KMEM_BEGIN_DECLS

#define KMEM_TRACE_MAGIC "KMEMTRC1"
#define KMEM_TRACE_VERSION 1u

enum kmem_trace_op {
	KMEM_TRACE_MALLOC = 1,
	KMEM_TRACE_FREE = 2,
	KMEM_TRACE_CALLOC = 3,
	KMEM_TRACE_REALLOC = 4,
	KMEM_TRACE_MEMALIGN = 5,	/* posix_memalign, aligned_alloc, memalign,
					 * valloc, pvalloc */
};

#define KMEM_TRACE_F_ZERO_SIZE 0x1u	/* malloc(0) / realloc(p, 0) */

struct kmem_trace_header {
	char magic[8];
	uint32_t version;
	uint32_t record_size;
};

struct kmem_trace_rec {
	uint8_t op;
	uint8_t align_log2;
	uint16_t tid;
	uint32_t flags;
	uint64_t seq;
	uint64_t size;
	uint64_t ptr;
	uint64_t old;
};

#ifndef __cplusplus
_Static_assert(sizeof(struct kmem_trace_rec) == 40, "trace records are 40 bytes");
_Static_assert(sizeof(struct kmem_trace_header) == 16, "the trace header is 16 bytes");
#endif

KMEM_END_DECLS

#endif /* KMEM_TRACE_H */
