/* kmem/error.h - status codes and the error sink shared by every kmem layer.
 *
 * Every allocator instance reports misuse (double free, foreign pointer, ...)
 * to an error sink: one report per error, a per-kind counter, and an action
 * (continue, the default, or abort). Several instances may share one sink.
 * The allocator that reported stays consistent: a misused call changes
 * nothing except what its contract says (see each free function).
 */
#ifndef KMEM_ERROR_H
#define KMEM_ERROR_H

#include <kmem/common.h>

KMEM_BEGIN_DECLS

/* Result of a checked operation, and the kind of a reported error.
 * KMEM_OK is 0; every other value is an error kind with its own counter. */
enum kmem_status {
	KMEM_OK = 0,
	KMEM_DOUBLE_FREE,	/* block (or the free block it merged into) already free */
	KMEM_FOREIGN_POINTER,	/* not inside any memory this instance manages */
	KMEM_INTERIOR_POINTER,	/* inside a block, but not its start */
	KMEM_WRONG_ORDER,	/* order/size given by the caller != the block's */
	KMEM_RESERVED_FREE,	/* free of a reserved range (use the unreserve call) */
	KMEM_CORRUPTION,	/* an invariant checker found broken metadata */
	KMEM_WRONG_CACHE,	/* object belongs to another cache */
	KMEM_LEAK,		/* live object left when its cache was destroyed */
	KMEM_REDZONE,		/* a red zone around an object was overwritten */
	KMEM_USE_AFTER_FREE,	/* a free (poisoned) object was written to */
	KMEM_NOT_HELD,		/* replace: a reference or remove of a frame holding no page */
	KMEM_ALREADY_HELD,	/* replace: an insert into a frame that holds a page */
	KMEM_STATUS_COUNT
};

/* One error, as handed to a sink's callback. Pointers inside are valid only
 * during the callback. */
struct kmem_error_report {
	enum kmem_status status;
	const char *component;	/* "buddy", "slab", ... */
	const char *instance;	/* the instance's name */
	const void *ptr;	/* the pointer the caller passed (may be NULL) */
	int order;		/* the order involved, or -1 */
	const char *detail;	/* one human-readable clause, never NULL ("" in builds
				 * with the error text compiled out: -Derror_text) */
	const void *caller;	/* return address of the API call, or NULL */
	/* What is known of the block (zero/NULL where nothing is: most
	 * reports; a slab object of a debug cache fills them in). Appended
	 * last, so reports built with designated initialisers leave them 0. */
	size_t size;		/* bytes the block's owner asked for, or 0 */
	const void *alloc_by;	/* caller of its last allocation (KMEM_CACHE_STORE_USER), or NULL */
	const void *free_by;	/* caller of its last free (KMEM_CACHE_STORE_USER), or NULL */
};

/* Sink flags. */
#define KMEM_ERROR_QUIET 0x1u	/* no default print to stderr (counters still count) */
#define KMEM_ERROR_ABORT 0x2u	/* then stop: the fatal hook, or abort() (kmem/port.h) */

/* An error sink. Initialise with kmem_error_sink_init(); then set report/arg/
 * flags directly if wanted. Counters are updated atomically, so a sink may be
 * shared by instances used from different threads. Read them with
 * kmem_error_count(). */
struct kmem_error_sink {
	/* Called once per error, outside the instance lock (so it may call
	 * the allocator's read-only functions, e.g. stats). NULL: print one line
	 * to stderr (hosted builds) unless KMEM_ERROR_QUIET. */
	void (*report)(void *arg, const struct kmem_error_report *r);
	void *arg;
	unsigned flags;
	unsigned long count[KMEM_STATUS_COUNT]; /* count[KMEM_OK] is unused */
};

/* Reset a sink: no callback, no flags, all counters zero. O(1). Not
 * thread-safe against concurrent reports to the same sink. */
KMEM_API void kmem_error_sink_init(struct kmem_error_sink *sink);

/* Number of errors of kind st reported so far (0 for KMEM_OK or an
 * out-of-range st). O(1), thread-safe. */
KMEM_API unsigned long kmem_error_count(const struct kmem_error_sink *sink,
					enum kmem_status st);

/* Total number of errors of every kind. O(kinds), thread-safe. */
KMEM_API unsigned long kmem_error_total(const struct kmem_error_sink *sink);

/* Count, then deliver a report: the callback, or the default stderr line;
 * then, if KMEM_ERROR_ABORT, the fatal hook of kmem/port.h and abort() (a
 * trap in freestanding builds). Used by every kmem layer; user code
 * that wraps kmem may report through it too. Thread-safe. */
KMEM_API void kmem_error_raise(struct kmem_error_sink *sink,
			       const struct kmem_error_report *r);

/* Format a report as one line (no trailing newline), snprintf-style: writes
 * at most len bytes including the NUL, returns the length the whole line
 * needs. Example:
 *   kmem: buddy 'demo': double free of 0x7f..000 (order 2): block is already free
 * A report with no pointer leaves out " of 0x...":
 *   kmem: replace 'lru': not-held: remove of frame 7, which holds no page
 * A known size adds " (block of N bytes)" after the pointer, known callers
 * "; last allocated by 0x..., freed by 0x..." after the detail; addresses
 * are printed raw (a program may symbolise them in its own callback, as
 * the drop-in malloc does with dladdr). */
KMEM_API int kmem_error_format(const struct kmem_error_report *r, char *buf,
			       size_t len);

/* Stable short name of a status ("ok", "double-free", ...); "unknown" for an
 * out-of-range value. */
KMEM_API const char *kmem_status_name(enum kmem_status st);

KMEM_END_DECLS

#endif /* KMEM_ERROR_H */
