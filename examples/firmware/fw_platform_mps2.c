/* fw_platform_mps2.c - the start-up code of the example firmware's
 * Cortex-M4 image on QEMU's MPS2 AN386 board (qemu-system-arm -M
 * mps2-an386), with the linker script mps2-an386.ld.
 *
 * A Cortex-M core starts from its vector table: word 0 is the initial main
 * stack pointer, word 1 the reset handler (Thumb address), then the
 * exception handlers (ARMv7-M Architecture Reference Manual, B1.5.3). The
 * table is at address 0 (VTOR's reset value), where the linker script puts
 * section .vectors. No interrupt is enabled, so the table stops after the
 * 16 system exceptions.
 *
 * fw_reset, the reset handler, with the stack the core loaded from word 0:
 *   1. copies .data from its load address in code memory to RAM and zeroes
 *      .bss (symbols of the linker script): what a flash-based board needs,
 *      and done here rather than left to QEMU's ELF loader;
 *   2. opens the semihosting standard streams (newlib's rdimon:
 *      initialise_monitor_handles), through which fw_platform_stdio.c's
 *      fw_puts writes and exit() reports the status to the host
 *      (SYS_EXIT_EXTENDED: qemu-system-arm exits with it);
 *   3. calls main and exits with its status.
 * Every fault (hard, memory management, bus, usage, NMI) writes one line
 * through semihosting and exits with status 99, so a run that faults ends
 * at once instead of spinning until its timeout.
 *
 * Everything else is firmware.c and libkmem.a, unchanged. Built and run by
 * scripts/firmware.sh; the instruction-count harness bench/qemu/icount_m4.c
 * uses the same start-up (scripts/icount-m4.sh).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int main(void);
void initialise_monitor_handles(void);	/* newlib's librdimon */
void _exit(int status) __attribute__((noreturn));	/* newlib's librdimon */

void fw_reset(void) __attribute__((noreturn));
void fw_fault(void) __attribute__((noreturn));

extern uint32_t fw_stack_top[];	/* mps2-an386.ld */
extern unsigned char fw_data_start[], fw_data_end[], fw_data_load[];
extern unsigned char fw_bss_start[], fw_bss_end[];

void fw_reset(void)
{
	memcpy(fw_data_start, fw_data_load, (size_t)(fw_data_end - fw_data_start));
	memset(fw_bss_start, 0, (size_t)(fw_bss_end - fw_bss_start));
	initialise_monitor_handles();
	exit(main());
}

/* SYS_WRITE0 (semihosting operation 0x04): a NUL-terminated string to the
 * host's console, no C library state needed. */
void fw_fault(void)
{
	register uintptr_t r0 __asm__("r0") = 0x04;
	register const char *r1 __asm__("r1") = "firmware: fault\n";

	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	_exit(99);
}

/* a vector: the initial stack pointer (word 0) or a handler */
union fw_vector {
	void *sp;
	void (*handler)(void);
};

__attribute__((section(".vectors"), used)) static const union fw_vector vectors[16] = {
	{ .sp = fw_stack_top },		/* 0: initial main stack pointer */
	{ .handler = fw_reset },	/* 1: reset */
	{ .handler = fw_fault },	/* 2: NMI */
	{ .handler = fw_fault },	/* 3: hard fault */
	{ .handler = fw_fault },	/* 4: memory management fault */
	{ .handler = fw_fault },	/* 5: bus fault */
	{ .handler = fw_fault },	/* 6: usage fault */
	{ 0 }, { 0 }, { 0 }, { 0 },	/* 7-10: reserved */
	{ .handler = fw_fault },	/* 11: SVCall */
	{ .handler = fw_fault },	/* 12: debug monitor */
	{ 0 },				/* 13: reserved */
	{ .handler = fw_fault },	/* 14: PendSV */
	{ .handler = fw_fault },	/* 15: SysTick */
};
