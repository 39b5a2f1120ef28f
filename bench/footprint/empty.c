/* empty.c - the baseline image for scripts/footprint.sh: the startup code,
 * the C library's minimum, no kmem. */
int main(void)
{
	return 0;
}
