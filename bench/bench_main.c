/* bench_main.c - main() of every benchmark program: run what registered. */
#include "bench.h"

int main(int argc, char **argv)
{
	return kmem_bench_main(argc, argv);
}
