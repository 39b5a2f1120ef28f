/* annot_race_drd.c - DRD's half of kmem_annot_benign_race() (annot_race.c). */
#include "kmem_annot.h"

#ifdef KMEM_HAVE_VALGRIND
#include <valgrind/drd.h>

void kmem_annot_benign_race_drd(const volatile void *p, size_t n)
{
	ANNOTATE_BENIGN_RACE_SIZED(p, n, "relaxed atomic");
}
#else
typedef int kmem_annot_race_drd_empty; /* ISO C: no empty translation unit */
#endif
