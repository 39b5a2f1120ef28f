/* kmem_report.h - the one error-report helper every component uses.
 *
 * A component reports misuse or corruption with kmem_report() (a detail
 * already formatted, e.g. under a lock it has since dropped) or
 * kmem_reportf() (formats the detail, printf-style, into a bounded buffer:
 * KMEM_REPORT_DETAIL bytes, truncated beyond). Both fill a struct
 * kmem_error_report and raise it on the sink (error.c): the per-kind
 * counter, the callback or the printed line, the abort flag. Call them with
 * no lock of the reporting instance held (a sink callback may call the
 * instance's read-only functions). The detail is formatted with kmem's
 * own formatter (-Dstdio=false only silences the default sink's printing),
 * so a sink callback on firmware gets the whole message; with the error
 * text compiled out (-Derror_text, KMEM_ERROR_TEXT 0: the freestanding
 * default) the detail is the message's format string, its values not
 * substituted, and the formatter is not linked (kmem_detailf, kmem_fmt.h).
 * Private to the library: not installed.
 */
#ifndef KMEM_REPORT_H
#define KMEM_REPORT_H

#include <stdarg.h>

#include <kmem/error.h>

#include "kmem_base.h"

#define KMEM_REPORT_DETAIL 192

/* Raise one report. component: "buddy", "slab", ...; instance: its name;
 * order: -1 when none applies; caller: the API caller's return address or
 * NULL; detail: NUL-terminated, may be NULL. O(1) plus the sink. */
KMEM_HIDDEN void kmem_report(struct kmem_error_sink *sink, const char *component,
			     const char *instance, enum kmem_status status, const void *ptr,
			     int order, const void *caller, const char *detail);

/* The same with the detail formatted from fmt. */
KMEM_HIDDEN void kmem_reportf(struct kmem_error_sink *sink, const char *component,
			      const char *instance, enum kmem_status status, const void *ptr,
			      int order, const void *caller, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));
KMEM_HIDDEN void kmem_vreportf(struct kmem_error_sink *sink, const char *component,
			       const char *instance, enum kmem_status status, const void *ptr,
			       int order, const void *caller, const char *fmt, va_list ap)
	__attribute__((format(printf, 8, 0)));

#endif /* KMEM_REPORT_H */
