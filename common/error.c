/* error.c - the error sink every kmem layer reports misuse to.
 *
 * Algorithm: kmem_error_raise() (1) increments the per-kind counter with a
 * relaxed atomic add, (2) hands the report to the sink's callback, or formats
 * one line to stderr (hosted builds, unless KMEM_ERROR_QUIET), (3) stops if
 * KMEM_ERROR_ABORT (kmem_fatal: the fatal hook, then abort() or a trap).
 * kmem_vreportf formats the detail; with the error text compiled out
 * (KMEM_ERROR_TEXT 0) the detail is "" (kmem_reportf is then a macro that
 * links neither the format nor its arguments: kmem_report.h), so a
 * firmware image links no formatter unless it calls kmem_error_format or
 * a stats text itself (--gc-sections drops the rest: each function has its
 * own section).
 * Bound: O(1) plus the callback.
 *
 * Invariants:
 *   I1. count[k] is the number of reports of kind k raised on this sink.
 *   I2. count[KMEM_OK] stays 0.
 *
 * Locking: none. Counters are atomics, so one sink may serve instances on
 * many threads; callers raise with their own instance lock released.
 */
#include <kmem/error.h>

#include "kmem_fmt.h"
#include "kmem_report.h"

#ifdef KMEM_HAVE_STDIO /* the default sink's line to stderr; none in firmware */
#include <stdio.h>
#endif
#include <string.h>

#include "kmem_port.h"

static const char *const status_names[KMEM_STATUS_COUNT] = {
	[KMEM_OK] = "ok",
	[KMEM_DOUBLE_FREE] = "double-free",
	[KMEM_FOREIGN_POINTER] = "foreign-pointer",
	[KMEM_INTERIOR_POINTER] = "interior-pointer",
	[KMEM_WRONG_ORDER] = "wrong-order",
	[KMEM_RESERVED_FREE] = "reserved-free",
	[KMEM_CORRUPTION] = "corruption",
	[KMEM_WRONG_CACHE] = "wrong-cache",
	[KMEM_LEAK] = "leak",
	[KMEM_REDZONE] = "redzone",
	[KMEM_USE_AFTER_FREE] = "use-after-free",
	[KMEM_NOT_HELD] = "not-held",
	[KMEM_ALREADY_HELD] = "already-held",
};

const char *kmem_status_name(enum kmem_status st)
{
	if ((unsigned)st >= KMEM_STATUS_COUNT)
		return "unknown";
	return status_names[st];
}

void kmem_error_sink_init(struct kmem_error_sink *sink)
{
	memset(sink, 0, sizeof(*sink));
}

unsigned long kmem_error_count(const struct kmem_error_sink *sink, enum kmem_status st)
{
	if (st == KMEM_OK || (unsigned)st >= KMEM_STATUS_COUNT)
		return 0;
	return kmem_atomic_load_relaxed_ul(&sink->count[st]);
}

unsigned long kmem_error_total(const struct kmem_error_sink *sink)
{
	unsigned long total = 0;

	for (unsigned k = 1; k < KMEM_STATUS_COUNT; k++)
		total += kmem_atomic_load_relaxed_ul(&sink->count[k]);
	return total;
}

int kmem_error_format(const struct kmem_error_report *r, char *buf, size_t len)
{
	char order[24] = "";
	char size[48] = "";
	char who[80] = "";
	char caller[40] = "";

	if (r->order >= 0)
		kmem_snprintf(order, sizeof(order), " (order %d)", r->order);
	if (r->size)
		kmem_snprintf(size, sizeof(size), " (block of %zu bytes)", r->size);
	if (r->alloc_by || r->free_by)
		kmem_snprintf(who, sizeof(who), "; last allocated by %p, freed by %p", r->alloc_by,
			      r->free_by);
	if (r->caller)
		kmem_snprintf(caller, sizeof(caller), " [caller %p]", r->caller);
	if (!r->ptr) /* a report about no address (replace: a frame number, in the detail) */
		return kmem_snprintf(buf, len, "kmem: %s '%s': %s%s: %s%s%s",
				     r->component ? r->component : "?", r->instance ? r->instance : "?",
				     kmem_status_name(r->status), order, r->detail ? r->detail : "", who,
				     caller);
	return kmem_snprintf(buf, len, "kmem: %s '%s': %s of %p%s%s: %s%s%s",
			     r->component ? r->component : "?", r->instance ? r->instance : "?",
			     kmem_status_name(r->status), r->ptr, order, size,
			     r->detail ? r->detail : "", who, caller);
}

void kmem_error_raise(struct kmem_error_sink *sink, const struct kmem_error_report *r)
{
	if ((unsigned)r->status < KMEM_STATUS_COUNT && r->status != KMEM_OK)
		kmem_atomic_inc_relaxed_ul(&sink->count[r->status]);
	if (sink->report) {
		sink->report(sink->arg, r);
	} else if (!(sink->flags & KMEM_ERROR_QUIET)) {
#ifdef KMEM_HAVE_STDIO
		char line[512];

		kmem_error_format(r, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
#endif
	}
	if (sink->flags & KMEM_ERROR_ABORT)
		kmem_fatal(kmem_status_name(r->status), NULL, 0);
}

void kmem_report(struct kmem_error_sink *sink, const char *component, const char *instance,
		 enum kmem_status status, const void *ptr, int order, const void *caller,
		 const char *detail)
{
	const struct kmem_error_report r = {
		.status = status,
		.component = component,
		.instance = instance,
		.ptr = ptr,
		.order = order,
		.detail = detail,
		.caller = caller,
	};

	kmem_error_raise(sink, &r);
}

void kmem_vreportf(struct kmem_error_sink *sink, const char *component, const char *instance,
		   enum kmem_status status, const void *ptr, int order, const void *caller,
		   const char *fmt, va_list ap)
{
#if KMEM_ERROR_TEXT
	char detail[KMEM_REPORT_DETAIL];

	kmem_vsnprintf(detail, sizeof(detail), fmt, ap);
	kmem_report(sink, component, instance, status, ptr, order, caller, detail);
#else
	(void)fmt; /* the error text is compiled out: no detail */
	(void)ap;
	kmem_report(sink, component, instance, status, ptr, order, caller, "");
#endif
}

void (kmem_reportf)(struct kmem_error_sink *sink, const char *component, const char *instance,
		  enum kmem_status status, const void *ptr, int order, const void *caller,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kmem_vreportf(sink, component, instance, status, ptr, order, caller, fmt, ap);
	va_end(ap);
}
