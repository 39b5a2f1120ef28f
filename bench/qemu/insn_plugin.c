/* insn_plugin.c - a QEMU TCG plugin that counts the guest instructions a
 * program executes, for scripts/icount32.sh (instructions per operation of
 * the 32-bit build, where callgrind cannot run: a kernel without IA-32
 * support cannot start Valgrind's x86 tools, but qemu-i386 runs the program).
 *
 * Algorithm: at translation, each translated block gets an inline add of
 * its instruction count to one counter (QEMU's tests/plugin/insn.c, inline
 * mode); at exit the total is printed ("insns: N") through qemu_plugin_outs
 * (stderr with -d plugin). Single-threaded programs: one counter.
 *
 * Debian ships QEMU without its plugin header, so the few declarations of
 * the stable plugin API (version 1, QEMU 4.2 and later) used here are
 * repeated below. Built by scripts/icount32.sh:
 *   cc -shared -fPIC -O2 -o insn_plugin.so insn_plugin.c
 *   qemu-i386 -plugin ./insn_plugin.so -d plugin PROGRAM ARGS...
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id,
					   void (*cb)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb));
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, void (*cb)(qemu_plugin_id_t id, void *p),
				    void *userdata);
void qemu_plugin_outs(const char *string);
int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info, int argc, char **argv);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t insns;

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns,
						 qemu_plugin_tb_n_insns(tb));
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
	(void)argc;
	(void)argv;
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
