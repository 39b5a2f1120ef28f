/* slab.c - a firmware image with buddy + slab: an object cache and kmalloc,
 * for scripts/footprint.sh. */
#include <kmem/kmem.h>

static _Alignas(16) unsigned char heap[64 << 10];	/* excluded from the figures */
static _Alignas(16) unsigned char sbuf[16 << 10];	/* excluded: the slab instance */

struct obj {
	long a;
	int b;
};

int main(void)
{
	struct kmem_buddy_config bc;
	struct kmem_buddy *b;
	struct kmem_page_source ps;
	struct kmem_slab_config sc = { .name = "heap", .source = &ps };
	struct kmem_slab *s;
	struct kmem_cache *c;
	void *o, *k;

	kmem_buddy_config_init(&bc);
	bc.frame_size = 256;
	bc.flags = KMEM_BUDDY_OWNERS;
	if (kmem_buddy_create_in(heap, sizeof heap, &bc, &b))
		return 1;
	kmem_buddy_page_source(b, &ps);
	if (kmem_slab_init(sbuf, sizeof sbuf, &sc, &s))
		return 1;
	c = kmem_cache_create(s, "obj", sizeof(struct obj), 0, 0, NULL, NULL, NULL);
	if (!c)
		return 1;
	o = kmem_cache_alloc(c);
	k = kmem_alloc(s, 100);
	kmem_cache_free(c, o);
	kmem_free(s, k);
	return 0;
}
