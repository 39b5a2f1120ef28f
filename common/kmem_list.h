/* kmem_list.h - intrusive lists: a doubly linked list with a one-word head
 * (struct kmem_list) and a singly linked stack (struct kmem_slist).
 *
 * Intrusive: the node is a member of the object listed (struct slab's link,
 * struct kmem_cache's link, ...), so linking allocates nothing;
 * KMEM_LIST_ENTRY turns a node back into its object. Modelled on the idea
 * of Linux's <linux/list.h>, in the shape of its hlist rather than its
 * circular list_head:
 *
 *   kmem_list   head: first ─► A ─► B ─► NULL        (next)
 *                     ▲       │▲    │
 *                     └ pprev ┘└────┘ pprev: the address of the pointer
 *                                      that points at the node
 *   kmem_slist  head: first ─► A ─► B ─► NULL        (next only)
 *
 * Why a one-word head and not a circular list with a head node: the lists
 * here are pushed and popped at the front only, and a head that is one
 * NULL pointer when empty means (1) zero-filled memory is an empty list (every
 * structure holding a head is memset at init) and (2) arrays of heads stay
 * small (a cache has 66 slab lists: 528 bytes of heads instead of 1056).
 * The back link pprev still removes a node in O(1) without knowing its list.
 * What the circular form would add (insertion at the tail) nothing needs.
 *
 * Use kmem_list where a node leaves from the middle of its list (a slab
 * moving between fullness lists, a cache destroyed, a thread's holder or
 * frame cache going away); kmem_slist where the list is a LIFO stack (the
 * depot's magazines) or a private batch built and consumed by one function.
 *
 * Invariants (kmem_list_check and kmem_slist_check verify them):
 *   L1. kmem_list: for every node n on the list, *n->pprev == n: the first
 *       node's pprev is &head->first, every other node's is &prev->next.
 *   L2. A list is finite and acyclic: the walk from first reaches NULL.
 *       On a kmem_list L1 implies it (a node reached a second time would
 *       need two back links); a kmem_slist has no back links, so only a
 *       bound on the length can tell a cycle.
 *   L3. A node is on at most one list at a time (the caller's duty; in
 *       builds with assertions kmem_list_del clears the node and asserts
 *       L1 for it, so removing a node twice asserts).
 *
 * Cost: init, empty, first, add, del, pop, push, move_all are O(1), a few
 * loads and stores and at most one branch; the checks are O(n), n at most
 * limit + 1 nodes visited. No locking: each list is protected by whatever
 * lock protects its head (documented where the head is declared).
 * Private to the library: not installed.
 */
#ifndef KMEM_LIST_H
#define KMEM_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "kmem_base.h"

/* The object of type `type` whose member `member` is the node at `node`
 * (node not NULL). */
#define KMEM_LIST_ENTRY(node, type, member) ((type *)(void *)((char *)(node) - offsetof(type, member)))

/* The same, NULL for a NULL node. */
#define KMEM_LIST_ENTRY_OR_NULL(node, type, member)                             \
	((node) ? KMEM_LIST_ENTRY(node, type, member) : (type *)NULL)

/* Iterate the nodes of a kmem_list or kmem_slist, first to last. The loop
 * body must not remove pos (use the _SAFE form for that). */
#define KMEM_LIST_FOR_EACH(pos, list) for ((pos) = (list)->first; (pos); (pos) = (pos)->next)

/* The same; the body may remove (or free) pos: tmp holds its successor. */
#define KMEM_LIST_FOR_EACH_SAFE(pos, tmp, list)                                 \
	for ((pos) = (list)->first; (pos) && ((tmp) = (pos)->next, true); (pos) = (tmp))

/* Iterate the objects (pos: type *) whose member `member` is on the list. */
#define KMEM_LIST_FOR_EACH_ENTRY(pos, list, type, member)                       \
	for ((pos) = KMEM_LIST_ENTRY_OR_NULL((list)->first, type, member); (pos);  \
	     (pos) = KMEM_LIST_ENTRY_OR_NULL((pos)->member.next, type, member))

/* What a check found (kmem_list_check, kmem_slist_check). */
enum kmem_list_fault {
	KMEM_LIST_SOUND = 0,	/* well linked (L1), at most limit nodes */
	KMEM_LIST_BAD_LINK,	/* L1: *at's back link does not name the link that reached it */
	KMEM_LIST_TOO_LONG,	/* *at is node limit + 1: more nodes than expected, or a cycle (L2) */
};

/* ---- kmem_list: doubly linked, one-word head ---------------------------------- */

struct kmem_list_node {
	struct kmem_list_node *next;	/* NULL: the last node */
	struct kmem_list_node **pprev;	/* the pointer that points here (L1) */
};

struct kmem_list {
	struct kmem_list_node *first;	/* NULL: empty; zero-filled memory is an empty list */
};

#define KMEM_LIST_INIT { NULL }

static inline void kmem_list_init(struct kmem_list *l)
{
	l->first = NULL;
}

static inline bool kmem_list_empty(const struct kmem_list *l)
{
	return l->first == NULL;
}

/* The first node, NULL if the list is empty. */
static inline struct kmem_list_node *kmem_list_first(const struct kmem_list *l)
{
	return l->first;
}

/* Put n (on no list) at the front of l. */
static inline void kmem_list_add(struct kmem_list *l, struct kmem_list_node *n)
{
	struct kmem_list_node *first = l->first;

	n->next = first;
	if (first)
		first->pprev = &n->next;
	l->first = n;
	n->pprev = &l->first;
}

/* Take n off the list it is on (whichever: the back link names it). */
static inline void kmem_list_del(struct kmem_list_node *n)
{
	struct kmem_list_node *next = n->next, **pprev = n->pprev;

	KMEM_ASSERT(pprev && *pprev == n && "L1: a node removed is on a list, where its back link says");
	*pprev = next;
	if (next)
		next->pprev = pprev;
#ifndef NDEBUG
	n->next = NULL;
	n->pprev = NULL; /* L3: a second removal asserts */
#endif
}

/* Remove and return the first node; NULL if the list is empty. */
static inline struct kmem_list_node *kmem_list_pop(struct kmem_list *l)
{
	struct kmem_list_node *n = l->first;

	if (n)
		kmem_list_del(n);
	return n;
}

/* Move every node of from (in order) to to, which must be empty; from ends
 * empty. O(1). */
static inline void kmem_list_move_all(struct kmem_list *to, struct kmem_list *from)
{
	struct kmem_list_node *first = from->first;

	KMEM_ASSERT(kmem_list_empty(to) && "moving a list onto a non-empty one");
	to->first = first;
	if (first)
		first->pprev = &to->first;
	from->first = NULL;
}

/* Walk l checking L1 and L2 for at most limit nodes. Returns
 * KMEM_LIST_SOUND with *count = the number of nodes, or the fault with *at
 * = the node where it was found and *count = the sound nodes before it.
 * O(min(n, limit + 1)); reads only the nodes' links, so it is safe on a
 * corrupted list whose nodes are still readable memory. */
static inline enum kmem_list_fault kmem_list_check(const struct kmem_list *l, size_t limit,
						   size_t *count, const struct kmem_list_node **at)
{
	struct kmem_list_node *const *back = &l->first;
	const struct kmem_list_node *n;
	size_t seen = 0;

	for (n = l->first; n; back = &n->next, n = n->next, seen++) {
		if (seen == limit || n->pprev != back) {
			*count = seen;
			*at = n;
			return seen == limit ? KMEM_LIST_TOO_LONG : KMEM_LIST_BAD_LINK;
		}
	}
	*count = seen;
	*at = NULL;
	return KMEM_LIST_SOUND;
}

/* ---- kmem_slist: singly linked LIFO stack -------------------------------------- */

struct kmem_slist_node {
	struct kmem_slist_node *next;	/* NULL: the last node */
};

struct kmem_slist {
	struct kmem_slist_node *first;	/* the top; NULL: empty (zero-filled memory is empty) */
};

#define KMEM_SLIST_INIT { NULL }

static inline void kmem_slist_init(struct kmem_slist *l)
{
	l->first = NULL;
}

static inline bool kmem_slist_empty(const struct kmem_slist *l)
{
	return l->first == NULL;
}

/* The top node, NULL if the stack is empty. */
static inline struct kmem_slist_node *kmem_slist_first(const struct kmem_slist *l)
{
	return l->first;
}

/* Push n (on no list) on top of l. */
static inline void kmem_slist_push(struct kmem_slist *l, struct kmem_slist_node *n)
{
	n->next = l->first;
	l->first = n;
}

/* Pop the top node; NULL if the stack is empty. */
static inline struct kmem_slist_node *kmem_slist_pop(struct kmem_slist *l)
{
	struct kmem_slist_node *n = l->first;

	if (n)
		l->first = n->next;
	return n;
}

/* Walk l for at most limit nodes (L2: a singly linked list has no back
 * links; a cycle shows only as more than limit nodes). Returns
 * KMEM_LIST_SOUND with *count = the number of nodes, or KMEM_LIST_TOO_LONG
 * with *at = node limit + 1 and *count = limit. O(min(n, limit + 1)). */
static inline enum kmem_list_fault kmem_slist_check(const struct kmem_slist *l, size_t limit,
						    size_t *count, const struct kmem_slist_node **at)
{
	const struct kmem_slist_node *n;
	size_t seen = 0;

	for (n = l->first; n; n = n->next, seen++) {
		if (seen == limit) {
			*count = seen;
			*at = n;
			return KMEM_LIST_TOO_LONG;
		}
	}
	*count = seen;
	*at = NULL;
	return KMEM_LIST_SOUND;
}

#endif /* KMEM_LIST_H */
