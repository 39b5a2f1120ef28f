/* icount_m4.c - instructions per operation of the Cortex-M4 build, typical
 * and worst case, counted on QEMU's MPS2 AN386 board (scripts/icount-m4.sh).
 *
 * A bare-metal program (the example firmware's start-up code and linker
 * script, examples/firmware/fw_platform_mps2.c and mps2-an386.ld) over the
 * firmware build's libkmem.a (build-fp-cortex-m4/: -Os, no threads, no
 * magazines, assertions off). Each measured operation is bracketed by two
 * calls of icount_mark(); the TCG plugin bench/qemu/insn_plugin.c, given
 * the marker's address (mark=ADDR), prints the instructions of each bracket
 * ("mark: N") in order, and this program prints the bracket's label
 * (semihosting stdout) in the same order. The first bracket is empty: the
 * script subtracts it (the call of the marker and its block) from the rest,
 * so a row is the operation's own instructions plus its argument set-up at
 * the call site (two or three instructions).
 *
 * The stack, as the example firmware builds it: a buddy over a 256 KiB arena
 * of 256-byte frames, max order 9 (two order-9 blocks), aligned to 128 KiB;
 * the frame service over it; slab over the frame service. Scenarios:
 *   warm    an object (block) of the same kind is kept allocated, one
 *           alloc+free pair is done first, then the next alloc and free
 *           are measured: a pop from a free list or a partial slab and a
 *           push back (the buddy's freed block finds its buddy allocated);
 *   cold    (buddy) a fresh instance: order 0 from a free order-9 block,
 *           nine splits; its free merges nine times back to order 9;
 *   refill  (slab, kmalloc) a cache with no slab yet, over a buddy drained
 *           of every block below the top order (order-0 allocations until
 *           only one order-9 block is free) and a frame service with empty
 *           pools: the first allocation makes a slab (frame service, buddy
 *           split from order 9, slab set-up for every object); its free
 *           empties the slab, which the cache keeps (KMEM_CACHE_EMPTY_KEEP);
 *           with keep-none (kmem_slab_config.empty_keep = KMEM_SLAB_KEEP_NONE)
 *           the free hands the slab back to the frame service (which pools
 *           it: the buddy is not reached). The frame service's default
 *           init policy (INIT_ON_ALLOC) zeroes the new slab's 512 bytes
 *           inline; a pair of rows is the refill with INIT_NONE;
 *   spill   (keep-none) the free that empties a slab when the frame
 *           service's per-thread cache of its order is full: a batch goes on
 *           to the frame service's pool (spill_rows).
 * Each operation is checked (a NULL, a failed kmem_*_check: exit status 1).
 */
#include <stdio.h>

#include <kmem/kmem.h>

#define FRAME 256u
#define FRAMES 1024u	/* a 256 KiB arena: two order-9 blocks */
#define MAX_ORDER 9u

void icount_mark(void);
int main(void);

static _Alignas(16) unsigned char buddy_mem[KMEM_BUDDY_SIZEOF(1)];
static _Alignas(8) unsigned char frame_table[KMEM_BUDDY_TABLE_BYTES(FRAMES, 1)];
static _Alignas(128 * 1024) unsigned char arena[FRAMES * FRAME];
static _Alignas(16) unsigned char pa_mem[KMEM_PA_SIZEOF];
static _Alignas(16) unsigned char slab_mem[KMEM_SLAB_SIZEOF];

static struct kmem_buddy *b;
static struct kmem_pagealloc *pa;
static struct kmem_slab *s;
static void *drained[FRAMES];	/* drain_below_top's frames */
static unsigned ndrained;
static int failed;

/* The marker: the plugin counts between two calls. noipa: the compiler
 * neither inlines it nor moves the measured calls across it. */
__attribute__((noipa)) void icount_mark(void)
{
	__asm__ volatile("" : : : "memory");
}

static void label(const char *what)
{
	fputs(what, stdout);
	fputc('\n', stdout);
}

static void need(int ok)
{
	if (!ok)
		failed = 1;
}

static void buddy_up(unsigned flags)
{
	struct kmem_buddy_config bc;

	kmem_buddy_config_init(&bc);
	bc.name = "ram";
	bc.frame_size = FRAME;
	bc.max_order = MAX_ORDER;
	bc.max_regions = 1;
	bc.flags = flags;
	need(!kmem_buddy_init(buddy_mem, sizeof(buddy_mem), &bc, &b) &&
	     !kmem_buddy_add_region(b, arena, sizeof(arena), frame_table, sizeof(frame_table)));
}

/* The firmware's stack: buddy (owner words), frame service, slab. */
static void stack_up(unsigned empty_keep, enum kmem_pa_init_policy init)
{
	struct kmem_pa_config pc;
	struct kmem_slab_config sc = { .name = "icount" };
	struct kmem_page_source ps;

	buddy_up(KMEM_BUDDY_OWNERS);
	kmem_pa_config_init(&pc);
	pc.buddy = b;
	pc.init_policy = init;
	need(!kmem_pa_init(pa_mem, sizeof(pa_mem), &pc, &pa));
	kmem_pa_page_source(pa, &ps);
	sc.source = &ps;
	sc.empty_keep = empty_keep;
	need(!kmem_slab_init(slab_mem, sizeof(slab_mem), &sc, &s));
}

static void stack_down(void)
{
	while (ndrained)
		kmem_buddy_free(b, drained[--ndrained]);
	need(!kmem_pa_check(pa));
	kmem_slab_destroy(s);
	kmem_pa_destroy(pa);
	need(kmem_buddy_free_frames(b) == FRAMES);
	need(!kmem_buddy_check(b));
	kmem_buddy_destroy(b);
}

/* Allocate order-0 frames from the buddy until only one order-9 block is
 * free: the next allocation of any order splits from the top (the buddy
 * splits the smallest free block that fits). stack_down frees them. */
static void drain_below_top(void)
{
	while (kmem_buddy_free_frames(b) > (1u << MAX_ORDER) && ndrained < FRAMES) {
		drained[ndrained] = kmem_buddy_alloc(b, 0);
		need(drained[ndrained++] != NULL);
	}
}

static void buddy_rows(void)
{
	void *keep, *p;

	/* warm: keep's buddy is the free order-0 block alloc takes */
	buddy_up(0);
	keep = kmem_buddy_alloc(b, 0);
	kmem_buddy_free(b, kmem_buddy_alloc(b, 0));
	label("buddy alloc order 0, warm");
	icount_mark();
	p = kmem_buddy_alloc(b, 0);
	icount_mark();
	need(p != NULL);
	label("buddy free order 0, warm");
	icount_mark();
	kmem_buddy_free(b, p);
	icount_mark();
	kmem_buddy_free(b, keep);
	need(!kmem_buddy_check(b));
	kmem_buddy_destroy(b);

	/* cold: split from order 9 and merge back, the second time round */
	buddy_up(0);
	kmem_buddy_free(b, kmem_buddy_alloc(b, 0));
	label("buddy alloc order 0, cold: split from order 9");
	icount_mark();
	p = kmem_buddy_alloc(b, 0);
	icount_mark();
	need(p != NULL);
	label("buddy free order 0, cold: merge to order 9");
	icount_mark();
	kmem_buddy_free(b, p);
	icount_mark();
	need(kmem_buddy_free_frames(b) == FRAMES && !kmem_buddy_check(b));
	kmem_buddy_destroy(b);
}

static void cache_rows(void)
{
	struct kmem_cache *c;
	void *keep, *p;

	stack_up(0, KMEM_PA_INIT_ON_ALLOC);
	c = kmem_cache_create(s, "obj64", 64, 0, 0, NULL, NULL, NULL);
	need(c != NULL);
	keep = kmem_cache_alloc(c);
	kmem_cache_free(c, kmem_cache_alloc(c));
	label("kmem_cache_alloc, warm");
	icount_mark();
	p = kmem_cache_alloc(c);
	icount_mark();
	need(p != NULL);
	label("kmem_cache_free, warm");
	icount_mark();
	kmem_cache_free(c, p);
	icount_mark();

	keep = kmem_alloc(s, 64);
	kmem_free(s, kmem_alloc(s, 64));
	label("kmem_alloc(64), warm");
	icount_mark();
	p = kmem_alloc(s, 64);
	icount_mark();
	need(p != NULL);
	label("kmem_free(64), warm");
	icount_mark();
	kmem_free(s, p);
	icount_mark();
	kmem_free(s, keep);
	need(!kmem_cache_check(c));
	kmem_cache_destroy(c);
	stack_down();
}

/* A refill on a fresh stack: the first allocation of a cache with no slab
 * (obj64, or kmalloc's 64-byte cache), over a buddy drained below the top
 * order; then its free (the slab empties), with empty_keep and the frame
 * service's init policy as given (the default, INIT_ON_ALLOC, zeroes the
 * new slab's frames inline). */
static void refill_rows(unsigned empty_keep, enum kmem_pa_init_policy init, int kmalloc,
			const char *alloc_label, const char *free_label)
{
	struct kmem_cache *c = NULL;
	void *p;

	stack_up(empty_keep, init);
	if (!kmalloc) {
		c = kmem_cache_create(s, "obj64", 64, 0, 0, NULL, NULL, NULL);
		need(c != NULL);
	}
	drain_below_top();
	label(alloc_label);
	icount_mark();
	p = kmalloc ? kmem_alloc(s, 64) : kmem_cache_alloc(c);
	icount_mark();
	need(p != NULL && kmem_buddy_free_frames(b) < (1u << MAX_ORDER)); /* split the top */
	label(free_label);
	if (kmalloc) {
		icount_mark();
		kmem_free(s, p);
		icount_mark();
	} else {
		icount_mark();
		kmem_cache_free(c, p);
		icount_mark();
		need(!kmem_cache_check(c));
		kmem_cache_destroy(c);
	}
	stack_down();
}

/* A slab's free past the frame service's per-thread cache (keep-none):
 * eight slabs of 64-byte objects made, then emptied in turn; the free that
 * empties the eighth is measured. By then the frame service's order-1
 * per-thread cache is over its high mark (1,024 frames: batch 1, high 6,
 * so three order-1 blocks), so the slab's block pushes a batch into the
 * frame service's pool (which keeps freed blocks: the buddy is not
 * reached). */
static void spill_rows(int kmalloc, const char *free_label)
{
	static void *objs[8 * 7];	/* seven 64-byte objects per 512-byte slab */
	struct kmem_cache *c = NULL;

	stack_up(KMEM_SLAB_KEEP_NONE, KMEM_PA_INIT_ON_ALLOC);
	if (!kmalloc) {
		c = kmem_cache_create(s, "obj64", 64, 0, 0, NULL, NULL, NULL);
		need(c != NULL);
	}
	for (unsigned i = 0; i < 8 * 7; i++) {
		objs[i] = kmalloc ? kmem_alloc(s, 64) : kmem_cache_alloc(c);
		need(objs[i] != NULL);
	}
	for (unsigned i = 0; i < 8 * 7 - 1; i++) {
		if (kmalloc)
			kmem_free(s, objs[i]);
		else
			kmem_cache_free(c, objs[i]);
	}
	label(free_label);
	if (kmalloc) {
		icount_mark();
		kmem_free(s, objs[8 * 7 - 1]);
		icount_mark();
	} else {
		icount_mark();
		kmem_cache_free(c, objs[8 * 7 - 1]);
		icount_mark();
		need(!kmem_cache_check(c));
		kmem_cache_destroy(c);
	}
	stack_down();
}

int main(void)
{
	label("empty bracket");
	icount_mark();
	icount_mark();
	buddy_rows();
	cache_rows();
	refill_rows(0, KMEM_PA_INIT_ON_ALLOC, 0,
		    "kmem_cache_alloc, refill: new slab, split from order 9",
		    "kmem_cache_free, slab empties (kept)");
	refill_rows(0, KMEM_PA_INIT_ON_ALLOC, 1,
		    "kmem_alloc(64), refill: new slab, split from order 9",
		    "kmem_free(64), slab empties (kept)");
	refill_rows(KMEM_SLAB_KEEP_NONE, KMEM_PA_INIT_ON_ALLOC, 0,
		    "kmem_cache_alloc, refill (keep-none)",
		    "kmem_cache_free, slab empties (keep-none: to the frame service)");
	refill_rows(KMEM_SLAB_KEEP_NONE, KMEM_PA_INIT_ON_ALLOC, 1,
		    "kmem_alloc(64), refill (keep-none)",
		    "kmem_free(64), slab empties (keep-none: to the frame service)");
	refill_rows(0, KMEM_PA_INIT_NONE, 0,
		    "kmem_cache_alloc, refill, frame service INIT_NONE (no zeroing)",
		    "kmem_cache_free, slab empties (kept), INIT_NONE");
	spill_rows(0, "kmem_cache_free, slab empties (keep-none), frame-service cache full");
	spill_rows(1, "kmem_free(64), slab empties (keep-none), frame-service cache full");
	label(failed ? "icount: FAILED" : "icount: ok");
	return failed;
}
