/* firmware.c - an example firmware: kmem's buddy, the frame service and
 * slab caches in static storage, driven as a microcontroller would drive them.
 *
 * What it shows, in order:
 *   1. every instance in static arrays sized by the compile-time macros
 *      (KMEM_BUDDY_SIZEOF, KMEM_BUDDY_TABLE_BYTES, KMEM_PA_SIZEOF,
 *      KMEM_SLAB_SIZEOF): no heap, no allocator to ask at start-up;
 *   2. an error sink whose callback is the firmware's (it counts and prints
 *      one line through the firmware's output function), and the fatal hook
 *      (kmem/port.h) that a real board would use to reset;
 *   3. the frame service over the buddy, slab over the frame service: two
 *      object caches (a message pool with a constructor, a fixed-size
 *      record) and kmalloc, in a main loop that allocates and frees;
 *   4. the frame service's reaper run from the idle loop (no threads);
 *   5. a double free caught and reported, the allocator still usable;
 *   6. buddyinfo and slabinfo printed through the firmware's own output.
 * The platform supplies fw_puts() (fw_platform_*.c): semihosting under QEMU
 * (newlib's rdimon stdio, fw_platform_stdio.c; the Cortex-M4 image's
 * start-up code is fw_platform_mps2.c with mps2-an386.ld), Linux system
 * calls for the RV32 image under qemu-riscv32 (fw_platform_rv32_user.c, with
 * its start-up code), stdio on a host, nothing where the image is only
 * linked (its size).
 * Exit status 0 when every step held. scripts/firmware.sh builds it for the
 * host, links it for Cortex-M4 and RV32IMAC, and runs an A-profile ARM build
 * under qemu-arm with semihosting, the Cortex-M4 image on an MPS2 AN386
 * board under qemu-system-arm and the RV32IMAC build under qemu-riscv32,
 * checking their buddyinfo and slabinfo.
 */
#include <kmem/kmem.h>
#include <kmem/port.h>

void fw_puts(const char *s);	/* the platform's output, one line or more */

#define FRAME 256u
#define FRAMES 512u	/* a 128 KiB arena */
#define MAX_ORDER 9u

static _Alignas(16) unsigned char buddy_mem[KMEM_BUDDY_SIZEOF(1)];
static _Alignas(8) unsigned char frame_table[KMEM_BUDDY_TABLE_BYTES(FRAMES, 1)];
/* Aligned to its size, the arena would be one order-9 block; page-aligned it
 * is cut into the largest naturally aligned blocks that fit (the README's
 * buddy example aligns it). Page alignment here: qemu-user's ELF loader
 * leaves a hole below a segment aligned beyond its page size. */
static _Alignas(4096) unsigned char arena[FRAMES * FRAME];
static _Alignas(16) unsigned char pa_mem[KMEM_PA_SIZEOF];
static _Alignas(16) unsigned char slab_mem[KMEM_SLAB_SIZEOF];
static char text[4096];	/* stats texts are formatted here */

static unsigned long errors_seen;

/* The firmware's error hook: count, and one line out. */
static void on_error(void *arg, const struct kmem_error_report *r)
{
	(void)arg;
	errors_seen++;
	fw_puts("kmem error: ");
	fw_puts(kmem_status_name(r->status));
	fw_puts("\n");
}

/* Where a board would log and reset. */
static void on_fatal(void *ctx, const char *what, const char *file, int line)
{
	(void)ctx;
	(void)file;
	(void)line;
	fw_puts("kmem fatal: ");
	fw_puts(what);
	fw_puts("\n");
}

struct msg {
	unsigned char len;
	char body[60];
};

static void msg_ctor(void *obj, void *arg)
{
	(void)arg;
	((struct msg *)obj)->len = 0;
}

struct record {
	unsigned id;
	unsigned value[7];
};

int main(void)
{
	static struct kmem_error_sink sink;
	const struct kmem_port_hooks hooks = { .fatal = on_fatal };
	struct kmem_buddy_config bc;
	struct kmem_pa_config pc;
	struct kmem_slab_config sc = { .name = "fw" };
	struct kmem_page_source ps;
	struct kmem_buddy *b;
	struct kmem_pagealloc *pa;
	struct kmem_slab *s;
	struct kmem_cache *msgs, *recs;
	void *live[16] = { 0 };
	int ok = 1;

	kmem_port_set_hooks(&hooks);
	kmem_error_sink_init(&sink);
	sink.report = on_error;

	kmem_buddy_config_init(&bc);
	bc.name = "ram";
	bc.frame_size = FRAME;
	bc.max_order = MAX_ORDER;
	bc.max_regions = 1;
	bc.flags = KMEM_BUDDY_OWNERS;	/* slab finds an object's slab in O(1) */
	bc.sink = &sink;
	if (kmem_buddy_init(buddy_mem, sizeof(buddy_mem), &bc, &b) ||
	    kmem_buddy_add_region(b, arena, sizeof(arena), frame_table, sizeof(frame_table)))
		return 1;
	kmem_pa_config_init(&pc);
	pc.buddy = b;
	pc.sink = &sink;
	if (kmem_pa_init(pa_mem, sizeof(pa_mem), &pc, &pa))
		return 2;
	kmem_pa_page_source(pa, &ps);
	sc.source = &ps;
	sc.sink = &sink;
	if (kmem_slab_init(slab_mem, sizeof(slab_mem), &sc, &s))
		return 3;
	msgs = kmem_cache_create(s, "msg", sizeof(struct msg), 0, 0, msg_ctor, NULL, NULL);
	recs = kmem_cache_create(s, "record", sizeof(struct record), 0, 0, NULL, NULL, NULL);
	if (!msgs || !recs)
		return 4;

	/* the main loop: messages, records and buffers come and go */
	for (unsigned tick = 0; tick < 2000; tick++) {
		unsigned slot = (tick * 7u) % 16u;
		struct msg *m = kmem_cache_alloc(msgs);
		struct record *r = kmem_cache_alloc(recs);
		char *buf = kmem_alloc(s, 16u + tick % 200u);

		if (!m || !r || !buf || m->len != 0) {
			ok = 0;
			break;
		}
		m->len = 1;
		r->id = tick;
		buf[0] = 'x';
		kmem_cache_free(recs, r);
		m->len = 0;	/* constructed state back, as the constructor left it */
		kmem_cache_free(msgs, m);
		kmem_free(s, live[slot]);	/* NULL the first time round */
		live[slot] = buf;
		if (tick % 64 == 0)
			(void)kmem_pa_reaper_run(pa, 8);	/* the idle loop's share */
	}
	for (unsigned i = 0; i < 16; i++)
		kmem_free(s, live[i]);

	/* misuse is reported and changes nothing: the firmware keeps running */
	{
		void *p = kmem_alloc(s, 40);

		kmem_free(s, p);
		if (kmem_free_checked(s, p) != KMEM_DOUBLE_FREE)
			ok = 0;
	}
	if (errors_seen != 1 || kmem_error_count(&sink, KMEM_DOUBLE_FREE) != 1)
		ok = 0;

	(void)kmem_buddy_format_buddyinfo(b, text, sizeof(text));
	fw_puts(text);
	(void)kmem_slab_format_slabinfo(s, text, sizeof(text));
	fw_puts(text);
	if (kmem_cache_check(msgs) || kmem_cache_check(recs) || kmem_pa_check(pa) ||
	    kmem_buddy_check(b))
		ok = 0;

	kmem_cache_destroy(msgs);
	kmem_cache_destroy(recs);
	kmem_slab_destroy(s);
	kmem_pa_destroy(pa);
	if (kmem_buddy_free_frames(b) != FRAMES)	/* every frame back */
		ok = 0;
	kmem_buddy_destroy(b);
	fw_puts(ok ? "firmware: ok\n" : "firmware: FAILED\n");
	return ok ? 0 : 5;
}
