/* kmem_fmt.h - kmem's own snprintf, and snprintf-style text building
 * shared by every layer's stats formatters (buddyinfo, slabinfo, vmstat,
 * JSON). The library calls no printf of the C library (fmt.c says why).
 *
 * A struct kmem_fmt writes into a caller buffer, never past len bytes, always
 * NUL-terminated when len > 0, and counts the bytes the whole text needs, so
 * a formatter can return that count like snprintf does.
 */
#ifndef KMEM_FMT_H
#define KMEM_FMT_H

#include <stdarg.h>
#include <stddef.h>

#include "kmem_port.h"

struct kmem_fmt {
	char *buf;
	size_t len;
	size_t need; /* bytes the text needs so far, without the NUL */
};

static inline void kmem_fmt_init(struct kmem_fmt *f, char *buf, size_t len)
{
	f->buf = buf;
	f->len = len;
	f->need = 0;
	if (len)
		buf[0] = '\0';
}

/* C99 snprintf/vsnprintf on kmem's formatter (fmt.c lists the conversions):
 * writes at most len bytes, NUL included (nothing if len is 0), and returns
 * the length of the whole text. Never fails. O(length of the text). */
KMEM_HIDDEN int kmem_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
KMEM_HIDDEN int kmem_snprintf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Append printf-style text. */
KMEM_HIDDEN void kmem_fmt_printf(struct kmem_fmt *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal (quotes and escapes included). */
KMEM_HIDDEN void kmem_fmt_json_string(struct kmem_fmt *f, const char *s);
/* Append v/1000 with three decimals ("-1.000", "0.042"). */
KMEM_HIDDEN void kmem_fmt_milli(struct kmem_fmt *f, int v);
/* The snprintf-style result: bytes needed, clamped to INT_MAX. */
KMEM_HIDDEN int kmem_fmt_result(const struct kmem_fmt *f);

/* snprintf(dst, len, "%s", src) without the formatter (instance and cache
 * names: a firmware image that prints nothing links no formatter). len > 0.
 * O(strlen(src)). */
static inline void kmem_strlcpy(char *dst, const char *src, size_t len)
{
	char *end = dst + len - 1;

	while (dst < end && *src) /* a loop: links neither strlen nor memcpy */
		*dst++ = *src++;
	*dst = '\0';
}

/* The detail clause of an error report (kmem_report.h): kmem_snprintf, or
 * with the error text compiled out (-Derror_text, KMEM_ERROR_TEXT 0, the
 * freestanding default) "", so the reporting paths link no formatter. The
 * arguments are still type-checked. */
#if KMEM_ERROR_TEXT
#define kmem_detailf kmem_snprintf
#else
static inline __attribute__((format(printf, 3, 4))) int kmem_detailf(char *buf, size_t len,
								   const char *fmt, ...)
{
	(void)fmt;
	(void)len; /* > 0 */
	buf[0] = '\0';
	return 0;
}
#endif

#endif /* KMEM_FMT_H */
