/* insn_plugin.c - a QEMU TCG plugin that counts the guest instructions a
 * program executes: for scripts/icount32.sh (instructions per operation of
 * the 32-bit build, where callgrind cannot run: a kernel without IA-32
 * support cannot start Valgrind's x86 tools, but qemu-i386 runs the
 * program), and for scripts/icount-m4.sh (the Cortex-M4 build on an MPS2
 * board under qemu-system-arm: the same plugin, in system mode).
 *
 * Algorithm: at translation, each translated block gets an inline add of
 * its instruction count to one counter (QEMU's tests/plugin/insn.c, inline
 * mode); at exit the total is printed ("insns: N") through qemu_plugin_outs
 * (stderr with -d plugin). Single-threaded programs: one counter.
 *
 * Bracketed counts (argument mark=ADDR, the hex address of a marker
 * function the program calls around what it measures): each instruction at
 * ADDR (Thumb bit ignored) also gets an execution callback that reads the
 * counter. Calls alternate, begin and end; at each end the difference since
 * its begin is printed ("mark: N"), in the order of the calls. The counter
 * is added when a block starts, so N is the instructions between the two
 * calls plus a constant (the call instruction and the marker's block):
 * the program measures an empty bracket first and the script subtracts it.
 * Exact as long as no block is left half-way (no exceptions or interrupts
 * inside a bracket).
 *
 * Debian ships QEMU without its plugin header, so the few declarations of
 * the stable plugin API (version 1, QEMU 4.2 and later) used here are
 * repeated below. Built by scripts/icount32.sh and scripts/icount-m4.sh:
 *   cc -shared -fPIC -O2 -o insn_plugin.so insn_plugin.c
 *   qemu-i386 -plugin ./insn_plugin.so -d plugin PROGRAM ARGS...
 *   qemu-system-arm ... -plugin ./insn_plugin.so,mark=0x1a4 -d plugin -kernel IMAGE
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
					    void (*cb)(unsigned int vcpu_index, void *userdata),
					    enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t id, void *p),
				    void *userdata);
void qemu_plugin_outs(const char *string);
int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info, int argc, char **argv);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t insns;
static uint64_t mark_addr;	/* 0: no mark= argument */
static uint64_t mark_begin;	/* the counter at the open bracket's begin */
static int mark_open;

/* A call of the marker: a begin, or an end (print the bracket's count). */
static void on_mark(unsigned int vcpu_index, void *userdata)
{
	char line[64];

	(void)vcpu_index;
	(void)userdata;
	if (!mark_open) {
		mark_begin = insns;
		mark_open = 1;
		return;
	}
	mark_open = 0;
	snprintf(line, sizeof(line), "mark: %llu\n", (unsigned long long)(insns - mark_begin));
	qemu_plugin_outs(line);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns, n);
	if (!mark_addr)
		return;
	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		if ((qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1) == mark_addr)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark,
							       QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
	char line[64];

	(void)id;
	(void)p;
	snprintf(line, sizeof(line), "insns: %llu\n", (unsigned long long)insns);
	qemu_plugin_outs(line);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
								const struct qemu_info_t *info,
								int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "mark=", 5))
			return -1;	/* an unknown argument: QEMU refuses to start */
		mark_addr = strtoull(argv[i] + 5, NULL, 0) & ~(uint64_t)1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
