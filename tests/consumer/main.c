/* A program that uses kmem the way an outside project would: through the
 * installed headers and pkg-config, or as a Meson subproject. */
#include <stdio.h>

#include <kmem/kmem.h>

static _Alignas(16) unsigned char heap[1 << 20];

int main(void)
{
	struct kmem_buddy *b;
	char line[256];
	void *p;

	if (kmem_buddy_create_in(heap, sizeof(heap), NULL, &b))
		return 1;
	p = kmem_buddy_alloc_size(b, 10000);
	if (!p || kmem_buddy_block_order(b, p) != 2)
		return 1;
	kmem_buddy_free(b, p);
	if (kmem_buddy_check(b))
		return 1;
	kmem_buddy_format_buddyinfo(b, line, sizeof(line));
	fputs(line, stdout);
	kmem_buddy_destroy(b);
	return 0;
}
