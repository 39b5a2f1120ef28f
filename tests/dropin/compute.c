/* compute.c - the program check_preload.sh compiles with gcc (and runs):
 * a sieve, a chained hash table of strings, qsort and a growing buffer.
 * Deterministic output. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	char *key;
	unsigned count;
	struct entry *next;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->key, y->key);
}

int main(void)
{
	enum { N = 2000000, BUCKETS = 4096 };
	char *sieve = calloc(N + 1, 1);
	struct entry **table = calloc(BUCKETS, sizeof(*table)), **all;
	size_t nprimes = 0, nkeys = 0, len = 0, cap = 16;
	char *text = malloc(cap), key[32];
	uint64_t sum = 0;

	if (!sieve || !table || !text)
		return 1;
	for (size_t i = 2; i <= N; i++) {
		if (sieve[i])
			continue;
		nprimes++;
		sum += i;
		for (size_t j = i * i; j <= N; j += i)
			sieve[j] = 1;
		/* count primes by their last three digits, as strings */
		snprintf(key, sizeof(key), "p%03zu", i % 1000);
		{
			uint64_t h = hash(key) % BUCKETS;
			struct entry *e = table[h];

			while (e && strcmp(e->key, key) != 0)
				e = e->next;
			if (!e) {
				e = malloc(sizeof(*e));
				if (!e || !(e->key = strdup(key)))
					return 1;
				e->count = 0;
				e->next = table[h];
				table[h] = e;
				nkeys++;
			}
			e->count++;
		}
		if (nprimes % 1000 == 0) {
			int n = snprintf(key, sizeof(key), "%zu,", i);

			while (len + (size_t)n + 1 > cap) {
				char *t = realloc(text, cap *= 2);

				if (!t)
					return 1;
				text = t;
			}
			memcpy(text + len, key, (size_t)n + 1);
			len += (size_t)n;
		}
	}
	all = malloc(nkeys * sizeof(*all));
	if (!all)
		return 1;
	nkeys = 0;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct entry *e = table[b]; e; e = e->next)
			all[nkeys++] = e;
	qsort(all, nkeys, sizeof(*all), cmp_entry);
	printf("%zu primes up to %d, sum %llu\n", nprimes, N, (unsigned long long)sum);
	printf("%zu endings, most common:", nkeys);
	for (size_t i = 0; i < 5 && i < nkeys; i++)
		printf(" %s=%u", all[i]->key, all[i]->count);
	printf("\nevery 1000th prime: %zu bytes, hash %016llx\n", len, (unsigned long long)hash(text));
	for (size_t i = 0; i < nkeys; i++) {
		free(all[i]->key);
		free(all[i]);
	}
	free(all);
	free(table);
	free(text);
	free(sieve);
	return 0;
}
