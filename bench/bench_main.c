/* bench_main.c - main() of every benchmark program: run what registered. */
#include "bench.h"

#include <stdlib.h>

void kmem_bench_glibc_pairs(struct kmem_bench_state *st, size_t size, int batch)
{
	void *keep = malloc(size); /* the arena is warm, as in the kmem runs */

	while (kmem_bench_keep_running_batch(st, (uint64_t)batch))
		for (int i = 0; i < batch; i++) {
			void *p = malloc(size);

			__asm__ volatile("" : : "r"(p) : "memory");
			free(p);
		}
	kmem_bench_set_items_processed(st, kmem_bench_iterations(st));
	free(keep);
}

int main(int argc, char **argv)
{
	return kmem_bench_main(argc, argv);
}
