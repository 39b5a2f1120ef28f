/* fw_platform_stdio.c - the example firmware's output through the C
 * library's stdio: a host, or a bare-metal build whose C library writes
 * through semihosting (newlib's rdimon: under qemu-arm, and the Cortex-M4
 * image under qemu-system-arm with fw_platform_mps2.c). */
#include <stdio.h>

void fw_puts(const char *s);

void fw_puts(const char *s)
{
	fputs(s, stdout);
}
