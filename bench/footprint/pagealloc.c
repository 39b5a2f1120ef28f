/* pagealloc.c - a firmware image with buddy + the frame service, its reaper
 * driven from the idle loop, for scripts/footprint.sh. */
#include <kmem/kmem.h>

static _Alignas(16) unsigned char heap[64 << 10];	/* excluded from the figures */
static _Alignas(16) unsigned char pbuf[16 << 10];	/* excluded: the frame service */

int main(void)
{
	struct kmem_buddy_config bc;
	struct kmem_buddy *b;
	struct kmem_pa_config pc;
	struct kmem_pagealloc *pa;
	void *p;

	kmem_buddy_config_init(&bc);
	bc.frame_size = 256;
	bc.flags = KMEM_BUDDY_OWNERS;
	if (kmem_buddy_create_in(heap, sizeof heap, &bc, &b))
		return 1;
	kmem_pa_config_init(&pc);
	pc.buddy = b;
	if (kmem_pa_init(pbuf, sizeof pbuf, &pc, &pa))
		return 1;
	p = kmem_pa_alloc(pa, 0, 0);
	kmem_pa_free(pa, p, 0);
	(void)kmem_pa_reaper_run(pa, 16);
	return 0;
}
