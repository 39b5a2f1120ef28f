/* buddy.c - a firmware image with the buddy allocator alone, for
 * scripts/footprint.sh: one arena, an allocation and a free. */
#include <kmem/kmem.h>

static _Alignas(16) unsigned char heap[64 << 10];	/* excluded from the figures */

int main(void)
{
	struct kmem_buddy_config bc;
	struct kmem_buddy *b;
	void *p;

	kmem_buddy_config_init(&bc);
	bc.frame_size = 256;
	if (kmem_buddy_create_in(heap, sizeof heap, &bc, &b))
		return 1;
	p = kmem_buddy_alloc(b, 0);
	kmem_buddy_free(b, p);
	return 0;
}
