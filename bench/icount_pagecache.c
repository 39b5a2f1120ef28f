/* icount_pagecache.c - instructions per page-cache hit under callgrind:
 *   valgrind --tool=callgrind --collect-atstart=no icount-pagecache SCENARIO POLICY N
 * Collection is on only around the measured operations (bench/icount.sh
 * subtracts main's own instructions: the harness loop). A cache of 256
 * pages on a frame service of 1024 frames, one owner without a backing
 * store, pages 0..63 resident (faulted in before collection). Scenarios:
 *   hit-pair  N kmem_pc_get + kmem_pc_put pairs over pages i % 64 (the
 *             hit path as a program uses it: pin, use, unpin)
 *   hit-get   N kmem_pc_get of one page (pins pile up; the N puts after
 *             collection are not counted)
 * POLICY: a built-in policy's name (clock is the target: a hit at
 * most 100 instructions).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <callgrind.h>

#include <kmem/kmem.h>

static _Alignas(4096) unsigned char arena[(1024 + 64) * 4096];
static _Alignas(64) unsigned char inst[1 << 16];

int main(int argc, char **argv)
{
	struct kmem_stack_config sc;
	struct kmem_stack st;
	struct kmem_pc_config cfg;
	struct kmem_pc_owner_config oc;
	struct kmem_pc *pc;
	struct kmem_pc_owner *o;
	struct kmem_pc_page *pg;
	void *pcmem, *omem;
	long n;

	if (argc != 4 || !kmem_rp_by_name(argv[2])) {
		fprintf(stderr, "usage: icount-pagecache hit-pair|hit-get POLICY N\n");
		return 2;
	}
	n = strtol(argv[3], NULL, 0);
	kmem_stack_config_init(&sc);
	sc.no_slab = true;
	if (kmem_stack_init(inst, sizeof(inst), &sc, arena, sizeof(arena), NULL, 0, &st))
		return 1;
	kmem_pc_config_init(&cfg);
	cfg.pa = st.pa;
	cfg.policy = kmem_rp_by_name(argv[2]);
	cfg.pages = 256;
	pcmem = aligned_alloc(64, (kmem_pc_sizeof(&cfg) + 63) & ~(size_t)63);
	if (!pcmem || kmem_pc_init(pcmem, kmem_pc_sizeof(&cfg), &cfg, &pc))
		return 1;
	memset(&oc, 0, sizeof(oc));
	oc.name = "bench";
	omem = aligned_alloc(64, (kmem_pc_owner_sizeof(pc) + 63) & ~(size_t)63);
	if (!omem || kmem_pc_owner_create(pc, omem, kmem_pc_owner_sizeof(pc), &oc, &o))
		return 1;
	for (uint64_t p = 0; p < 64; p++) {
		if (kmem_pc_get(o, p, KMEM_PC_CREATE, &pg))
			return 1;
		kmem_pc_put(o, pg, 0);
	}
	if (!strcmp(argv[1], "hit-pair")) {
		CALLGRIND_TOGGLE_COLLECT;
		for (long i = 0; i < n; i++) {
			if (kmem_pc_get(o, (uint64_t)i & 63, 0, &pg))
				return 1;
			kmem_pc_put(o, pg, 0);
		}
		CALLGRIND_TOGGLE_COLLECT;
	} else if (!strcmp(argv[1], "hit-get")) {
		CALLGRIND_TOGGLE_COLLECT;
		for (long i = 0; i < n; i++)
			if (kmem_pc_get(o, 7, 0, &pg))
				return 1;
		CALLGRIND_TOGGLE_COLLECT;
		for (long i = 0; i < n; i++)
			kmem_pc_put(o, pg, 0);
	} else {
		return 2;
	}
	if (kmem_pc_check(pc))
		return 1;
	if (kmem_pc_owner_destroy(o))
		return 1;
	kmem_pc_destroy(pc);
	kmem_stack_destroy(&st);
	free(omem);
	free(pcmem);
	return 0;
}
