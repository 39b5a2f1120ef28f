/* replay.c - run a libFuzzer harness without libFuzzer: every file named on
 * the command line (directories are walked one level), then N seeded random
 * inputs ("--random N SEED"). Lets every build (gcc, Valgrind, ASan) run the
 * fuzz corpus as an ordinary test. Exit status 0 when all inputs pass; a
 * failing input aborts inside the harness. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kmem_rand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long ran;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f) {
		perror(path);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		fclose(f);
		free(buf);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)(n > 0 ? n : 0));
	free(buf);
	ran++;
	return 0;
}

static int run_path(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (stat(path, &st)) {
		perror(path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	d = opendir(path);
	if (!d) {
		perror(path);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		char full[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		rc |= run_file(full);
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--random") && i + 2 < argc) {
			unsigned long n = strtoul(argv[i + 1], NULL, 0);
			uint64_t seed = strtoull(argv[i + 2], NULL, 0);

			if (getenv("KMEM_TEST_UNDER_VALGRIND"))
				n = n / 10 ? n / 10 : 1;
			for (unsigned long k = 0; k < n; k++) {
				uint8_t buf[512];
				size_t len = 4 + (size_t)(kmem_splitmix64(&seed) % (sizeof(buf) - 4));

				for (size_t j = 0; j < len; j++)
					buf[j] = (uint8_t)kmem_splitmix64(&seed);
				LLVMFuzzerTestOneInput(buf, len);
				ran++;
			}
			i += 2;
		} else {
			rc |= run_path(argv[i]);
		}
	}
	printf("replayed %lu inputs\n", ran);
	return rc;
}
