/* fmt.c - kmem's own snprintf, and text building for the stats formatters.
 *
 * Every text kmem makes (buddyinfo, slabinfo, vmstat, zoneinfo, JSON, error
 * lines, cache names) goes through kmem_vsnprintf(), not the C library's:
 * it prints the same on every libc (newlib has no C99 %zu and prints "zu";
 * newlib-nano has no 64-bit conversions), and a firmware image does not link
 * the libc's printf machinery for it (docs/decisions.md, "own formatter").
 *
 * Algorithm: one pass over the format; each conversion is rendered into a
 * small stack buffer (digits, most significant last, then reversed) and
 * copied with its padding; every byte goes through put(), which stores it
 * while room is left and always counts it. Bound: O(length of the text).
 * Conversions: d i u x X c s p %, flags '-' '0' ' ' '+' '#' (0x before a
 * nonzero x or X), a decimal width or '*', a precision only for s ("%.*s", "%.3s"), length modifiers hh h l ll
 * z t j. Anything else is copied as it stands. %p prints 0x and lowercase
 * hex, "(nil)" for NULL and %s "(null)" for NULL, as glibc does.
 * Invariants: I1. need >= bytes written; I2. buf[min(need, len - 1)] is NUL.
 * Locking: none; a struct kmem_fmt belongs to one caller.
 */
#include "kmem_fmt.h"

#include <limits.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>

struct out {
	char *buf;
	size_t len, n;	/* n: bytes the text needs so far */
};

static void put(struct out *o, char c)
{
	if (o->n + 1 < o->len)
		o->buf[o->n] = c;
	o->n++;
}

static void put_pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		put(o, c);
}

/* v in base 10 or 16 into d[] (least significant digit first); digit count.
 * Values that fit 32 bits use 32-bit division: no 64-bit division routine
 * runs for them on a 32-bit target. */
static int digits(char *d, unsigned long long v, unsigned base, bool upper)
{
	const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	int n = 0;

	while (v > UINT32_MAX) {
		d[n++] = set[v % base];
		v /= base;
	}
	for (uint32_t w = (uint32_t)v;; w /= base) {
		d[n++] = set[w % base];
		if (w < base)
			break;
	}
	return n;
}

int kmem_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap)
{
	struct out o = { buf, len, 0 };

	for (const char *p = fmt; *p; p++) {
		bool left = false, zero = false, neg = false, upper = false, alt = false;
		char sign = 0, num[24];
		const char *s = num;
		int width = 0, prec = -1, lmod = 0, n = 0;
		unsigned long long v = 0;
		unsigned base = 10;

		if (*p != '%') {
			put(&o, *p);
			continue;
		}
		const char *start = p++;

		for (;; p++) {
			if (*p == '-')
				left = true;
			else if (*p == '0')
				zero = true;
			else if (*p == '#')
				alt = true;
			else if (*p == ' ' || *p == '+')
				sign = sign == '+' ? '+' : *p;
			else
				break;
		}
		if (*p == '*') {
			width = va_arg(ap, int);
			if (width < 0)
				left = true, width = -width;
			p++;
		}
		for (; *p >= '0' && *p <= '9'; p++)
			width = width * 10 + (*p - '0');
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			}
			for (; *p >= '0' && *p <= '9'; p++)
				prec = prec * 10 + (*p - '0');
		}
		/* lmod: 0 int, 1 long, 2 long long, 3 size_t, 4 ptrdiff_t, 5 intmax_t */
		if (*p == 'h') {
			p += p[1] == 'h' ? 2 : 1;	/* promoted to int */
		} else if (*p == 'l') {
			lmod = p[1] == 'l' ? 2 : 1;
			p += lmod;
		} else if (*p == 'z' || *p == 't' || *p == 'j') {
			lmod = *p == 'z' ? 3 : *p == 't' ? 4 : 5;
			p++;
		}
		switch (*p) {
		case 'd':
		case 'i': {
			long long x = lmod == 0 ? va_arg(ap, int)
				    : lmod == 1 ? va_arg(ap, long)
				    : lmod == 2 ? va_arg(ap, long long)
				    : lmod == 3 ? (long long)va_arg(ap, size_t)
				    : lmod == 4 ? va_arg(ap, ptrdiff_t)
						: va_arg(ap, intmax_t);

			neg = x < 0;
			v = neg ? 0ull - (unsigned long long)x : (unsigned long long)x;
			n = digits(num, v, 10, false);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
			v = lmod == 0 ? va_arg(ap, unsigned)
			  : lmod == 1 ? va_arg(ap, unsigned long)
			  : lmod == 2 ? va_arg(ap, unsigned long long)
			  : lmod == 3 ? va_arg(ap, size_t)
			  : lmod == 4 ? (unsigned long long)va_arg(ap, ptrdiff_t)
				      : va_arg(ap, uintmax_t);
			base = *p == 'u' ? 10 : 16;
			upper = *p == 'X';
			sign = 0;
			n = digits(num, v, base, upper);
			alt = alt && base == 16 && v; /* "0x" before a nonzero hex number */
			break;
		case 'p': {
			uintptr_t a = (uintptr_t)va_arg(ap, void *);

			sign = 0;
			if (!a) {
				s = "(nil)";
				n = 5;
				zero = false;
				goto text;
			}
			n = digits(num, a, 16, false);
			num[n++] = 'x';
			num[n++] = '0';
			zero = false;
			break;
		}
		case 'c':
			num[0] = (char)va_arg(ap, int);
			n = 1;
			zero = false;
			goto text;
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			for (n = 0; s[n] && (prec < 0 || n < prec); n++)
				;
			zero = false;
			goto text;
		case '%':
			put(&o, '%');
			continue;
		default: /* not a conversion kmem uses: copy it as it stands */
			for (; start <= p && *start; start++)
				put(&o, *start);
			if (!*p)
				p--;
			continue;
		}
		/* a number: digits reversed in num[0..n), sign before them */
		{
			char sg = neg ? '-' : sign;
			int pad = width - n - (sg != 0) - (alt ? 2 : 0);

			if (!left && !zero)
				put_pad(&o, ' ', pad);
			if (sg)
				put(&o, sg);
			if (alt) {
				put(&o, '0');
				put(&o, upper ? 'X' : 'x');
			}
			if (!left && zero)
				put_pad(&o, '0', pad);
			while (n > 0)
				put(&o, num[--n]);
			if (left)
				put_pad(&o, ' ', pad);
			continue;
		}
text:
		if (!left)
			put_pad(&o, ' ', width - n);
		for (int i = 0; i < n; i++)
			put(&o, s[i]);
		if (left)
			put_pad(&o, ' ', width - n);
	}
	if (len)
		buf[o.n < len ? o.n : len - 1] = '\0';
	return o.n > INT_MAX ? INT_MAX : (int)o.n;
}

int kmem_snprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kmem_vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n;
}

void kmem_fmt_printf(struct kmem_fmt *f, const char *fmt, ...)
{
	size_t room = f->need < f->len ? f->len - f->need : 0;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kmem_vsnprintf(room ? f->buf + f->need : NULL, room, fmt, ap);
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
	unsigned a = v < 0 ? 0u - (unsigned)v : (unsigned)v;

	kmem_fmt_printf(f, "%s%u.%03u", v < 0 ? "-" : "", a / 1000, a % 1000);
}

int kmem_fmt_result(const struct kmem_fmt *f)
{
	return f->need > INT_MAX ? INT_MAX : (int)f->need;
}
