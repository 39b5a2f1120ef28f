/* fw_platform_none.c - no output: the image is only linked (its size,
 * scripts/firmware.sh), as firmware without a console would be. */
void fw_puts(const char *s);

void fw_puts(const char *s)
{
	(void)s;
}
