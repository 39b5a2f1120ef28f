/* fw_platform_rv32_user.c - the example firmware's RV32 image run under
 * qemu-riscv32 (qemu-user): the start-up code and the output, nothing else.
 *
 * picolibc's crt0 is for a machine-mode core (it writes mtvec, which a
 * user-mode emulator refuses), and qemu-riscv32 serves Linux system calls,
 * not semihosting. So the image is linked with -nostartfiles against
 * picolibc (memset, memcpy, the compiler's runtime: what the firmware's
 * libkmem.a needs) and this file supplies:
 *   _start   gp from the linker script's __global_pointer$ (sp is the stack
 *            qemu made; .data and .bss were loaded at their run addresses by
 *            the ELF loader, so there is nothing to copy or clear), main(),
 *            then exit with main's status;
 *   fw_puts  the write system call on fd 1.
 * Everything between is the same firmware.c and libkmem.a as the
 * microcontroller image (cross/rv32imac.txt). scripts/firmware.sh builds
 * and runs it.
 */
#include <stddef.h>

void fw_puts(const char *s);
int main(void);
void fw_exit(int status) __attribute__((noreturn));

/* Linux RV32 system calls: a7 the number, a0..a2 the arguments */
static long sys3(long nr, long a, long b, long c)
{
	register long a0 __asm__("a0") = a;
	register long a1 __asm__("a1") = b;
	register long a2 __asm__("a2") = c;
	register long a7 __asm__("a7") = nr;

	__asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
	return a0;
}

void fw_puts(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	(void)sys3(64 /* write */, 1, (long)s, (long)n);
}

void fw_exit(int status)
{
	for (;;)
		(void)sys3(93 /* exit */, status, 0, 0);
}

__asm__(".section .text.init.enter, \"ax\", @progbits\n"
	".globl _start\n"
	"_start:\n"
	".option push\n"
	".option norelax\n"
	"	la gp, __global_pointer$\n"
	".option pop\n"
	"	call main\n"
	"	call fw_exit\n");
