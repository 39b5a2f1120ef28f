/* step_check.h - the counting side of the instrumented builds (decisions 31
 * and 33), for test_slab_steps.c and test_pa_steps.c: their components'
 * sources, and the buddy's under them, are compiled again with
 * KMEM_STEP_COUNT (tests/meson.build), so every loop whose bound a contract
 * states calls kmem_step() below once per iteration. A test names an
 * operation with the bound of every kind of step (struct step_op: a kind
 * it does not set may take no step at all), runs it between step_begin()
 * and step_end(), and asserts the worst case seen reaches the bound where an
 * adversarial sequence should (so a hook that never counts fails). Kinds are
 * global (kmem_base.h): the buddy's from 0, the slab's from 8, the frame
 * service's from 24. */
#ifndef KMEM_STEP_CHECK_H
#define KMEM_STEP_CHECK_H

#include "kmem_test.h"

#include "kmem_base.h"

static unsigned long step_count[KMEM_STEP_KINDS];

void kmem_step(unsigned kind)
{
	assert_true(kind < KMEM_STEP_KINDS);
	step_count[kind]++;
}

static const char *const step_kind_name[KMEM_STEP_KINDS] = {
	[KMEM_STEP_BUDDY_BASE + 0] = "buddy split",
	[KMEM_STEP_BUDDY_BASE + 1] = "buddy merge",
	[KMEM_STEP_BUDDY_BASE + 2] = "buddy region search",
	[KMEM_STEP_BUDDY_BASE + 3] = "buddy span",
	[KMEM_STEP_BUDDY_BASE + 4] = "buddy carve",
	[KMEM_STEP_SLAB_BASE + 0] = "take",
	[KMEM_STEP_SLAB_BASE + 1] = "bitmap word",
	[KMEM_STEP_SLAB_BASE + 2] = "pick",
	[KMEM_STEP_SLAB_BASE + 3] = "slab made",
	[KMEM_STEP_SLAB_BASE + 4] = "ctor/dtor",
	[KMEM_STEP_SLAB_BASE + 5] = "flushed object",
	[KMEM_STEP_SLAB_BASE + 6] = "settle",
	[KMEM_STEP_SLAB_BASE + 7] = "slab released",
	[KMEM_STEP_SLAB_BASE + 8] = "flush batch",
	[KMEM_STEP_SLAB_BASE + 9] = "magazine scan",
	[KMEM_STEP_SLAB_BASE + 10] = "cache",
	[KMEM_STEP_SLAB_BASE + 11] = "class",
	[KMEM_STEP_PA_BASE + 0] = "refill",
	[KMEM_STEP_PA_BASE + 1] = "drain",
	[KMEM_STEP_PA_BASE + 2] = "attempt",
	[KMEM_STEP_PA_BASE + 3] = "zero",
	[KMEM_STEP_PA_BASE + 4] = "shrinker",
	[KMEM_STEP_PA_BASE + 5] = "reclaim pass",
	[KMEM_STEP_PA_BASE + 6] = "release",
	[KMEM_STEP_PA_BASE + 7] = "pool scan",
};

/* One operation: its bound per kind (0: no step of that kind allowed) and
 * the worst case seen. */
struct step_op {
	const char *name;
	unsigned long bound[KMEM_STEP_KINDS];
	unsigned long worst[KMEM_STEP_KINDS];
	unsigned long runs;
};

static inline void step_op_init(struct step_op *op, const char *name)
{
	memset(op, 0, sizeof(*op));
	op->name = name;
}

static inline void step_begin(void)
{
	memset(step_count, 0, sizeof(step_count));
}

/* The steps of the operation just done: each kind within its bound. */
static inline void step_end(struct step_op *op)
{
	op->runs++;
	for (unsigned k = 0; k < KMEM_STEP_KINDS; k++) {
		if (step_count[k] > op->worst[k])
			op->worst[k] = step_count[k];
		if (step_count[k] > op->bound[k])
			fail_msg("%s: %lu %s steps, bound %lu", op->name, step_count[k],
				 step_kind_name[k] ? step_kind_name[k] : "?", op->bound[k]);
	}
}

/* The worst case of one kind over the operation's runs. */
static inline unsigned long step_worst(const struct step_op *op, unsigned kind)
{
	return op->worst[kind];
}

static inline void step_print(const struct step_op *op)
{
	print_message("[ STEPS    ] %-24s (%lu runs) worst:", op->name, op->runs);
	for (unsigned k = 0; k < KMEM_STEP_KINDS; k++)
		if (op->bound[k] || op->worst[k])
			print_message(" %s %lu of %lu;", step_kind_name[k] ? step_kind_name[k] : "?",
				      op->worst[k], op->bound[k]);
	print_message("\n");
}

#endif /* KMEM_STEP_CHECK_H */
