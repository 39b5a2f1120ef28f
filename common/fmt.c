/* fmt.c - snprintf-style text building for the stats formatters.
 *
 * Algorithm: each append vsnprintf()s into the space left (if any) and adds
 * the length it reports to `need`; once the buffer is full, later appends
 * only count. Bound: O(length of the text).
 * Invariants: I1. need >= bytes written; I2. buf[min(need, len - 1)] is NUL.
 * Locking: none; a struct kmem_fmt belongs to one caller.
 */
#include "kmem_fmt.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void kmem_fmt_printf(struct kmem_fmt *f, const char *fmt, ...)
{
	size_t room = f->need < f->len ? f->len - f->need : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? f->buf + f->need : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		f->need += (size_t)n;
}

void kmem_fmt_json_string(struct kmem_fmt *f, const char *s)
{
	kmem_fmt_printf(f, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			kmem_fmt_printf(f, "\\%c", c);
		else if (c < 0x20)
			kmem_fmt_printf(f, "\\u%04x", c);
		else
			kmem_fmt_printf(f, "%c", c);
	}
	kmem_fmt_printf(f, "\"");
}

void kmem_fmt_milli(struct kmem_fmt *f, int v)
{
	kmem_fmt_printf(f, "%s%d.%03d", v < 0 ? "-" : "", abs(v) / 1000, abs(v) % 1000);
}

int kmem_fmt_result(const struct kmem_fmt *f)
{
	return f->need > INT_MAX ? INT_MAX : (int)f->need;
}
