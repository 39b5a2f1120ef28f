/* dropin_util.h - helpers the drop-in test programs share. */
#ifndef KMEM_DROPIN_UTIL_H
#define KMEM_DROPIN_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A value the compiler must not see through (no -Walloc-size-larger-than,
 * no folding of malloc(SIZE_MAX) or of malloc/free pairs). */
static inline size_t hide(size_t v)
{
	__asm__ volatile("" : "+r"(v));
	return v;
}

/* A pointer the compiler must not see through (no -Wfree-nonheap-object
 * for a deliberate bad free). */
static inline void *hide_ptr(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

/* Write s to fd 2 with write() alone: async-signal-safe, and no stdio
 * (whose locks a fork or a signal may have caught held). */
static inline void say(const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(2, s, n);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Resident bytes of this process (/proc/self/statm), 0 if unreadable. */
static inline size_t rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* A small XML checker for malloc_info's subset: elements, attributes with
 * quoted values, nesting. Returns NULL or what is wrong (static text). */
static inline const char *xml_check(const char *s, char *root, size_t root_len)
{
	char stack[16][32];
	int depth = 0, seen_root = 0;

	while (*s) {
		size_t n;
		int closing = 0;
		const char *name;

		if (*s == ' ' || *s == '\n' || *s == '\t') {
			s++;
			continue;
		}
		if (*s != '<')
			return "text outside a tag";
		s++;
		if (*s == '/') {
			closing = 1;
			s++;
		}
		name = s;
		while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')
			s++;
		n = (size_t)(s - name);
		if (n == 0 || n >= sizeof(stack[0]))
			return "bad element name";
		if (closing) {
			if (depth == 0 || strlen(stack[depth - 1]) != n || strncmp(stack[depth - 1], name, n))
				return "a closing tag that does not match";
			depth--;
			if (*s++ != '>')
				return "junk in a closing tag";
			continue;
		}
		if (depth == 0) {
			if (seen_root++)
				return "two root elements";
			snprintf(root, root_len, "%.*s", (int)n, name);
		}
		for (;;) { /* attributes */
			while (*s == ' ')
				s++;
			if (*s == '/' && s[1] == '>') {
				s += 2;
				break;
			}
			if (*s == '>') {
				if (depth == 16)
					return "too deep";
				snprintf(stack[depth++], sizeof(stack[0]), "%.*s", (int)n, name);
				s++;
				break;
			}
			if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
				return "bad attribute";
			while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')
				s++;
			if (*s++ != '=' || *s++ != '"')
				return "attribute without =\"value\"";
			while (*s && *s != '"' && *s != '<' && *s != '&')
				s++;
			if (*s++ != '"')
				return "unterminated attribute value";
		}
	}
	return depth ? "unclosed element" : seen_root ? NULL : "empty document";
}

/* The number in attribute attr of the first element starting with tag, or
 * SIZE_MAX. */
static inline size_t xml_number(const char *s, const char *tag, const char *attr)
{
	const char *e = strstr(s, tag), *a, *end;
	char key[32];

	if (!e)
		return SIZE_MAX;
	end = strchr(e, '>');
	snprintf(key, sizeof(key), " %s=\"", attr);
	a = strstr(e, key);
	if (!a || !end || a > end)
		return SIZE_MAX;
	return (size_t)strtoull(a + strlen(key), NULL, 10);
}

/* Under Valgrind (meson test --setup=valgrind) skip before anything else
 * runs: before the static drop-in's constructor maps its arena, which would
 * make Valgrind's leak scan take most of a minute. Valgrind replaces malloc
 * anyway, so the drop-in is not what would be tested. */
__attribute__((constructor(101))) static void dropin_skip_under_valgrind(void)
{
	static const char msg[] = "skipped: Valgrind replaces malloc, so the drop-in is not what would be tested\n";

	if (getenv("KMEM_TEST_UNDER_VALGRIND")) {
		if (write(1, msg, sizeof(msg) - 1) < 0)
			_exit(77);
		_exit(77);
	}
}

#endif /* KMEM_DROPIN_UTIL_H */
