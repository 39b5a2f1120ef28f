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
 * default) the detail is "": kmem_reportf and the components' report
 * macros (KMEM_DETAIL_DROP) type-check the format and its arguments but
 * never evaluate them, so neither the formatter nor the message strings
 * are linked (decision 32). Private to the library: not installed.
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

#if KMEM_ERROR_TEXT
/* A detail's text where a component picks one (kmalloc's "why"). */
#define KMEM_DETAIL(text) (text)
#else
/* Error text compiled out: no message text is linked. KMEM_DETAIL_DROP
 * type-checks a format and its arguments (in sizeof: never evaluated, so
 * the string and whatever computes the arguments go too); a report's
 * detail is then "". */
static inline __attribute__((format(printf, 1, 2))) int kmem_detail_dropped(const char *fmt, ...)
{
	(void)fmt;
	return 0;
}
#define KMEM_DETAIL_DROP(...) ((void)sizeof(kmem_detail_dropped(__VA_ARGS__)))
#define KMEM_DETAIL(text) ""
#define kmem_reportf(sink, component, instance, status, ptr, order, caller, ...)               \
	(KMEM_DETAIL_DROP(__VA_ARGS__),                                                            \
	 kmem_report((sink), (component), (instance), (status), (ptr), (order), (caller), ""))
#endif

/* The same with the detail formatted from fmt (with the error text
 * compiled out: the macro above, the detail ""). */
KMEM_HIDDEN void (kmem_reportf)(struct kmem_error_sink *sink, const char *component,
			      const char *instance, enum kmem_status status, const void *ptr,
			      int order, const void *caller, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));
KMEM_HIDDEN void kmem_vreportf(struct kmem_error_sink *sink, const char *component,
			       const char *instance, enum kmem_status status, const void *ptr,
			       int order, const void *caller, const char *fmt, va_list ap)
	__attribute__((format(printf, 8, 0)));

#endif /* KMEM_REPORT_H */
