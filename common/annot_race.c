/* annot_race.c - tell Helgrind and DRD about fields that are shared on
 * purpose through relaxed atomics (counters read without the lock). Neither
 * tool models C11 atomics, so each such field is excluded from their race
 * detection; TSan, which does model them, still checks every access.
 * helgrind.h and drd.h define the same ANNOTATE_* macros, so DRD's request
 * is issued from annot_race_drd.c. */
#include "kmem_annot.h"

#ifdef KMEM_HAVE_VALGRIND
#include <valgrind/helgrind.h>

void kmem_annot_benign_race(const volatile void *p, size_t n)
{
	VALGRIND_HG_DISABLE_CHECKING(p, n);
	kmem_annot_benign_race_drd(p, n);
}
#else
typedef int kmem_annot_race_empty; /* ISO C: no empty translation unit */
#endif
