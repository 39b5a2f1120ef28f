/* test_buddy_steps.c - the buddy's bounded-time claims, checked by counting:
 * this program is built with the buddy's sources compiled again with
 * KMEM_STEP_COUNT (tests/meson.build), so every loop whose bound a contract
 * states calls kmem_step() below once per iteration (buddy_internal.h names
 * the loops and their bounds). A seeded randomised workload (allocations of
 * every order, frees that merge, wrong-order, interior and double frees,
 * trims) runs over several regions (one without hot-add), with adversarial
 * phases first: a cold split from the top order, a merge chain back to it.
 * For each operation the steps of each kind are counted and the worst case
 * must stay within the bound:
 *   alloc:  splits <= max_order (kmem_buddy_alloc: O(max_order));
 *   free:   merges <= max_order, region search <= ceil(log2 regions), and
 *           on misuse the block search <= max_order + 1 (O(log regions +
 *           max_order));
 *   trim:   blocks laid down <= max_order.
 * The adversarial phases also assert that the worst case is reached
 * (max_order splits, a max_order merge chain), so a counter that never
 * counts fails. */
#include "buddy_fixture.h"

#include "buddy_internal.h"

static unsigned long steps[BUDDY_STEP_KINDS];

void kmem_step(unsigned kind)
{
	assert_true(kind < BUDDY_STEP_KINDS);
	steps[kind]++;
}

static const char *const kind_name[BUDDY_STEP_KINDS] = { "split", "merge", "search", "span",
							  "carve" };

/* The worst case seen per operation and kind. */
enum op { OP_ALLOC, OP_FREE, OP_MISUSE, OP_TRIM, OPS };
static const char *const op_name[OPS] = { "alloc", "free", "misuse free", "trim" };
static unsigned long worst[OPS][BUDDY_STEP_KINDS];

struct bounds {
	unsigned long b[OPS][BUDDY_STEP_KINDS];
};

static void begin(void)
{
	memset(steps, 0, sizeof(steps));
}

/* The steps of the operation just done: each within its bound. */
static void end(enum op op, const struct bounds *bd)
{
	for (unsigned k = 0; k < BUDDY_STEP_KINDS; k++) {
		if (steps[k] > worst[op][k])
			worst[op][k] = steps[k];
		if (steps[k] > bd->b[op][k])
			fail_msg("%s: %lu %s steps, bound %lu", op_name[op], steps[k], kind_name[k],
				 bd->b[op][k]);
	}
}

/* ceil(log2(n)): the bisection steps of the region search over n regions */
static unsigned long log2_ceil(unsigned long n)
{
	unsigned long l = 0;

	while ((1ul << l) < n)
		l++;
	return l;
}

#define MAX_LIVE 4096

static void test_step_bounds(void **state)
{
	const unsigned max_order = 10, nreg = KMEM_BUDDY_HOTADD ? 4 : 1;
	const size_t frame = 64;
	struct fixture fx;
	struct bounds bd = { { { 0 } } };
	struct test_rng rng;
	static void *live[MAX_LIVE];
	static unsigned live_order[MAX_LIVE];
	unsigned nlive = 0;
	void *p;

	(void)state;
	rng.s = test_seed(14, "step bounds");
	bd.b[OP_ALLOC][BUDDY_STEP_SPLIT] = max_order;
	bd.b[OP_FREE][BUDDY_STEP_MERGE] = max_order;
	bd.b[OP_FREE][BUDDY_STEP_SEARCH] = log2_ceil(nreg);
	bd.b[OP_MISUSE][BUDDY_STEP_MERGE] = max_order; /* a wrong order frees the block */
	bd.b[OP_MISUSE][BUDDY_STEP_SEARCH] = log2_ceil(nreg);
	bd.b[OP_MISUSE][BUDDY_STEP_SPAN] = max_order + 1;
	bd.b[OP_TRIM][BUDDY_STEP_SEARCH] = log2_ceil(nreg);
	bd.b[OP_TRIM][BUDDY_STEP_CARVE] = max_order;
	memset(worst, 0, sizeof(worst));

	fx_init(&fx, frame, max_order, 0);
	/* adversarial 1: in a region of max-order blocks only, a cold split
	 * from the top order takes exactly max_order steps; freeing it merges
	 * all the way back */
	fx_region(&fx, frame << max_order, 0, (frame << max_order) * 2);
	begin();
	p = kmem_buddy_alloc(fx.b, 0);
	assert_non_null(p);
	end(OP_ALLOC, &bd);
	assert_int_equal(steps[BUDDY_STEP_SPLIT], max_order);
	begin();
	kmem_buddy_free(fx.b, p);
	end(OP_FREE, &bd);
	assert_int_equal(steps[BUDDY_STEP_MERGE], max_order);
	/* more regions (with hot-add), with odd starts and ends */
	for (unsigned r = 1; r < nreg; r++)
		fx_region(&fx, frame << max_order, r == 1 ? 3 * frame : 0,
			  (frame << max_order) * (r + 2) + (r == 2 ? 5 * frame : 0));

	/* adversarial 2: every frame of the arena taken singly (splits at
	 * every order), then freed in an order that makes long merge chains */
	while (nlive < MAX_LIVE) {
		begin();
		p = kmem_buddy_alloc(fx.b, 0);
		end(OP_ALLOC, &bd);
		if (!p)
			break;
		live_order[nlive] = 0;
		live[nlive++] = p;
	}
	for (unsigned i = 0; i < nlive; i += 2) { /* even ones first: no merge */
		begin();
		kmem_buddy_free(fx.b, live[i]);
		end(OP_FREE, &bd);
	}
	for (unsigned i = 1; i < nlive; i += 2) { /* odd ones: chains */
		begin();
		kmem_buddy_free(fx.b, live[i]);
		end(OP_FREE, &bd);
	}
	assert_int_equal(worst[OP_FREE][BUDDY_STEP_MERGE], max_order);
	nlive = 0;
	assert_int_equal(kmem_buddy_check(fx.b), 0);

	/* randomised: allocations of every order, frees, misuse, trims */
	for (unsigned long step = 0; step < test_scale(60000); step++) {
		unsigned dice = (unsigned)test_below(&rng, 100);

		if (dice < 48 && nlive < MAX_LIVE) {
			/* small orders mostly, the top one sometimes */
			unsigned o = dice < 4 ? max_order : (unsigned)test_below(&rng, 5);

			begin();
			p = kmem_buddy_alloc(fx.b, o);
			end(OP_ALLOC, &bd);
			if (p) {
				live_order[nlive] = o;
				live[nlive++] = p;
			}
		} else if (dice < 90 && nlive) {
			unsigned i = (unsigned)test_below(&rng, nlive);

			begin();
			kmem_buddy_free(fx.b, live[i]);
			end(OP_FREE, &bd);
			live[i] = live[--nlive];
			live_order[i] = live_order[nlive];
		} else if (dice < 96 && nlive) {
			/* misuse: an interior pointer, a wrong order (then it is
			 * freed), a double free of what was just freed */
			unsigned i = (unsigned)test_below(&rng, nlive);
			char *b = live[i];

			begin();
			(void)kmem_buddy_free_checked(fx.b, b + frame / 2, KMEM_BUDDY_ANY_ORDER);
			end(OP_MISUSE, &bd);
			begin();
			(void)kmem_buddy_free_checked(fx.b, b, (int)live_order[i] + 1);
			end(OP_MISUSE, &bd);
			begin();
			(void)kmem_buddy_free_checked(fx.b, b, KMEM_BUDDY_ANY_ORDER);
			end(OP_MISUSE, &bd);
			live[i] = live[--nlive];
			live_order[i] = live_order[nlive];
		} else if (nlive) {
			unsigned i = (unsigned)test_below(&rng, nlive);
			size_t bytes = frame << live_order[i], size = 1 + (size_t)test_below(&rng, bytes);
			size_t keep = (size + frame - 1) / frame;
			char *pos = live[i];

			begin();
			assert_true(kmem_buddy_trim(fx.b, live[i], size) > 0);
			end(OP_TRIM, &bd);
			/* the kept pieces, one block per set bit of keep, largest
			 * first, are freed at once */
			for (unsigned j = live_order[i] + 1; j-- > 0;) {
				if (!(keep & ((size_t)1 << j)))
					continue;
				begin();
				kmem_buddy_free(fx.b, pos);
				end(OP_FREE, &bd);
				pos += frame << j;
			}
			live[i] = live[--nlive];
			live_order[i] = live_order[nlive];
		}
	}
	while (nlive) {
		begin();
		kmem_buddy_free(fx.b, live[--nlive]);
		end(OP_FREE, &bd);
	}
	assert_int_equal(kmem_buddy_check(fx.b), 0);
	/* the misuse paths ran their block search */
	assert_true(worst[OP_MISUSE][BUDDY_STEP_SPAN] > 0);
	for (unsigned op = 0; op < OPS; op++) {
		print_message("[ STEPS    ] %-11s worst:", op_name[op]);
		for (unsigned k = 0; k < BUDDY_STEP_KINDS; k++)
			if (bd.b[op][k])
				print_message(" %s %lu of %lu", kind_name[k], worst[op][k], bd.b[op][k]);
		print_message("\n");
	}
	fx_fini(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_step_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
