/* kmem/replace.h - page-replacement policies over a table of frames, in
 * caller-supplied memory: one library for the paging simulator (`kmem
 * paging`) and for a page cache.
 *
 * An instance ("rp" = replacement policy) watches a fixed table of frames,
 * numbered 0 .. frames-1. The caller owns the mapping from pages to frames
 * (a hash table, a page descriptor array, the simulator's page table) and
 * tells the instance what happens to each frame:
 *
 *   miss on page P:  f = a free frame, or
 *                    f = kmem_rp_victim(rp, P); [write back if kmem_rp_dirty(rp, f)]
 *                        kmem_rp_remove(rp, f, KMEM_RP_EVICT);
 *                    kmem_rp_insert(rp, f, P, KMEM_RP_READ or KMEM_RP_WRITE);
 *   hit on frame f:  kmem_rp_reference(rp, f, KMEM_RP_READ or KMEM_RP_WRITE);
 *   periodically:    kmem_rp_tick(rp)   (the clock interrupt: aging shifts)
 *
 * The per-frame state lives in index-based tables inside the instance, so
 * nothing is allocated after kmem_rp_init(), nothing on the reference path,
 * and a page cache needs only a frame number in its page descriptor.
 *
 * Policies (the built-in ops tables below; a user adds a policy by writing
 * a struct kmem_rp_ops and passing it to kmem_rp_init(), and it then runs
 * everywhere the built-in ones run, the simulator included):
 *   fifo    first in, first out.                 O(1) every operation.
 *   lru     exact least recently used.            O(1) every operation.
 *   opt     Belady's MIN (L. A. Belady, "A study of replacement algorithms
 *           for a virtual-storage computer", IBM Systems Journal 5(2),
 *           1966): evict the page whose next use is farthest. Offline: the
 *           config gives the next use of every position of the reference
 *           string (kmem_rp_next_uses()); each insert or reference is the
 *           next position. A max-heap keyed by next use: O(log n) insert,
 *           reference, remove; O(1) victim.
 *   clock   second chance (F. J. Corbató, "A paging experiment with the
 *           Multics system", 1968): FIFO order, a referenced page has its
 *           bit cleared and goes to the back. O(1) reference; victim O(1)
 *           amortised (each clear pays for one earlier reference).
 *   esc     enhanced second chance (the (reference, dirty) classes of
 *           Silberschatz et al., Operating System Concepts, 9.4.5.3; the
 *           Macintosh's and NRU's): the victim is the oldest page of the
 *           lowest class (0,0) < (0,1); when every page is referenced all
 *           reference bits are cleared (the hand's full sweep) and it looks
 *           again. "Oldest" is the order pages entered their class. A dirty
 *           victim must be written back by the caller (kmem_rp_dirty()).
 *           Class lists spliced in O(1): O(1) every operation, tick too.
 *   aging   additional reference bits (Tanenbaum, Modern Operating Systems,
 *           3.4.7): an 8-bit counter per page; a tick shifts every counter
 *           right and puts the page's reference bit in bit 7. The victim
 *           has the smallest (counter, reference bit), oldest first among
 *           equals. Buckets per key and a bitmap: O(1) reference, insert,
 *           remove and victim; tick O(resident).
 *   2q      full 2Q (T. Johnson and D. Shasha, "2Q: A Low Overhead High
 *           Performance Buffer Management Replacement Algorithm", VLDB
 *           1994): new pages enter the FIFO A1in (Kin = 25% of the frames);
 *           evicted from there their numbers enter the ghost FIFO A1out
 *           (Kout = 50%); a miss on a page in A1out enters the LRU Am.
 *           Scan resistant. O(1) every operation (the ghost table is
 *           hashed: expected O(1)).
 *   arc     ARC (N. Megiddo and D. S. Modha, "ARC: A Self-Tuning, Low
 *           Overhead Replacement Cache", FAST 2003): LRU lists T1 (seen
 *           once) and T2 (seen twice or more) with ghost lists B1, B2 of
 *           the pages evicted from each; a ghost hit moves the target size
 *           p of T1. Scan resistant, self-tuning. O(1) every operation
 *           (expected, hashed ghosts). kmem_rp_victim() needs the incoming
 *           page (ARC's REPLACE depends on it).
 *
 * Misuse (a frame number outside the table, an insert into a frame that
 * holds a page, a reference or remove of a frame that holds none, a victim
 * of an empty table) is checked before the policy sees the call: reported
 * to the instance's error sink (KMEM_FOREIGN_POINTER, KMEM_ALREADY_HELD,
 * KMEM_NOT_HELD), counted in the stats, and the instance is unchanged.
 * The caller's page-to-frame map is not seen: inserting one page into two
 * frames is not detected (the policy treats them as two pages).
 *
 * Thread safety: none inside. An instance is used by one thread at a time
 * (the caller's lock); different instances are independent. There is no
 * global mutable state.
 */
#ifndef KMEM_REPLACE_H
#define KMEM_REPLACE_H

#include <stdbool.h>

#include <kmem/common.h>
#include <kmem/error.h>

KMEM_BEGIN_DECLS

struct kmem_rp; /* opaque */

/* kmem_rp_victim() with nothing resident */
#define KMEM_RP_NONE UINT32_MAX
/* kmem_rp_next_uses(): a position whose page is not used again */
#define KMEM_RP_NEVER UINT64_MAX
/* Largest frame table */
#define KMEM_RP_MAX_FRAMES (1u << 30)

/* Flags of insert and reference: the access that loads or hits the page
 * (other bits are ignored). */
#define KMEM_RP_READ 0x0u
#define KMEM_RP_WRITE 0x1u	/* the page becomes dirty */
/* Flags of remove: the page was chosen as a victim and evicted (history
 * policies, 2q and arc, remember it as a ghost); without it the page is
 * dropped and forgotten (invalidated, truncated). */
#define KMEM_RP_EVICT 0x2u

struct kmem_rp_config {
	const char *name;	/* instance name in reports, copied (31 chars); NULL: the policy's */
	uint32_t frames;	/* table size, 1 .. KMEM_RP_MAX_FRAMES */
	/* Where misuse goes. NULL: the instance's own sink (print, continue). */
	struct kmem_error_sink *sink;
	/* opt: next_use[t] is the position of the next access to the page of
	 * access t, or KMEM_RP_NEVER (kmem_rp_next_uses()); len entries.
	 * Accesses beyond len count as never used again. Other policies
	 * ignore them. The array must outlive the instance. */
	const uint64_t *next_use;
	size_t next_use_len;
	/* 2q: A1in and A1out sizes in percent of frames (0: 25 and 50). */
	unsigned kin_pct, kout_pct;
};

/* A policy. The instance checks misuse before calling an op, so an op sees
 * only valid calls: insert into an empty frame, reference/remove of a
 * resident frame, victim with at least one resident frame. priv is the
 * policy's own memory, size(cfg) bytes, 16-byte aligned, inside the
 * instance storage; ops must not allocate. */
struct kmem_rp_ops {
	const char *name;	/* short, lower case: "lru" */
	/* bytes of private memory for cfg (cfg->frames valid), 0 if cfg is
	 * invalid for this policy */
	size_t (*size)(const struct kmem_rp_config *cfg);
	/* set up an empty table in priv (zeroed); 0 or a negative errno */
	int (*init)(void *priv, const struct kmem_rp_config *cfg);
	void (*insert)(void *priv, uint32_t frame, uint64_t page, unsigned flags);
	void (*reference)(void *priv, uint32_t frame, unsigned flags);
	/* a resident frame to evict to make room for page incoming */
	uint32_t (*victim)(void *priv, uint64_t incoming);
	void (*remove)(void *priv, uint32_t frame, unsigned flags);
	void (*tick)(void *priv);			/* may be NULL */
	void (*clean)(void *priv, uint32_t frame);	/* may be NULL */
	/* The policy's invariants; is_resident(rp, f) is the instance's view.
	 * 0, or -EFAULT with one line in why[0..len). */
	int (*check)(const void *priv, const struct kmem_rp *rp, char *why, size_t len);
};

/* The built-in policies (see the top of this file). */
KMEM_API extern const struct kmem_rp_ops kmem_rp_fifo;
KMEM_API extern const struct kmem_rp_ops kmem_rp_lru;
KMEM_API extern const struct kmem_rp_ops kmem_rp_opt;
KMEM_API extern const struct kmem_rp_ops kmem_rp_clock;
KMEM_API extern const struct kmem_rp_ops kmem_rp_esc;
KMEM_API extern const struct kmem_rp_ops kmem_rp_aging;
KMEM_API extern const struct kmem_rp_ops kmem_rp_2q;
KMEM_API extern const struct kmem_rp_ops kmem_rp_arc;

/* The i-th built-in policy in the order above, NULL past the last. O(1). */
KMEM_API const struct kmem_rp_ops *kmem_rp_builtin(unsigned i);

/* The built-in policy named name ("lru"), NULL if none. O(policies). */
KMEM_API const struct kmem_rp_ops *kmem_rp_by_name(const char *name);

struct kmem_rp_stats {
	uint32_t frames, resident, dirty;
	uint64_t inserts, references, victims, removes, evictions, ticks;
	uint64_t misuse;	/* calls refused (each also reported to the sink) */
};

/* Bytes of instance storage for ops with cfg, or 0 if cfg is invalid
 * (frames 0 or above KMEM_RP_MAX_FRAMES, ops or a required op NULL, the
 * policy refuses cfg: opt with next_use_len but no next_use, 2q with
 * kin_pct above 100 or kout_pct above 400). O(1). */
KMEM_API size_t kmem_rp_sizeof(const struct kmem_rp_ops *ops, const struct kmem_rp_config *cfg);

/* Create an empty instance of policy ops in mem[0..mem_size), which must be
 * 16-byte aligned and stays the caller's: no destroy call, drop the memory.
 * Returns 0 and sets *out, or -EINVAL (cfg or ops invalid as for
 * kmem_rp_sizeof(), mem NULL or misaligned, out NULL), -ENOSPC (mem_size
 * too small), or the policy's init error. O(frames). */
KMEM_API KMEM_MUST_CHECK int kmem_rp_init(void *mem, size_t mem_size,
					  const struct kmem_rp_ops *ops,
					  const struct kmem_rp_config *cfg, struct kmem_rp **out);

/* Page `page` was loaded into empty frame `frame` by an access (flags
 * KMEM_RP_READ or KMEM_RP_WRITE). Returns 0, or -ERANGE (frame outside the
 * table), -EEXIST (frame holds a page): reported, nothing changes. O(1)
 * (opt O(log n); 2q/arc expected O(1)). */
KMEM_API int kmem_rp_insert(struct kmem_rp *rp, uint32_t frame, uint64_t page, unsigned flags);

/* An access hit the page in frame (flags KMEM_RP_READ or KMEM_RP_WRITE).
 * Returns 0, or -ERANGE, -ENOENT (frame holds no page): reported, nothing
 * changes. O(1) (opt O(log n)). */
KMEM_API int kmem_rp_reference(struct kmem_rp *rp, uint32_t frame, unsigned flags);

/* The resident frame the policy evicts to make room for page incoming
 * (only arc looks at it; others accept any value). The caller then removes
 * it with KMEM_RP_EVICT (after writing it back if kmem_rp_dirty()); the
 * policy may have adjusted its state in expectation (arc's target, clock's
 * cleared bits), so call it only when a frame is to be evicted. Returns a
 * frame, or KMEM_RP_NONE when nothing is resident (reported as misuse) or
 * when the policy names a frame that holds no page (a broken policy:
 * reported as KMEM_CORRUPTION). O(1) (clock amortised). */
KMEM_API uint32_t kmem_rp_victim(struct kmem_rp *rp, uint64_t incoming);

/* The page in frame leaves it: flags KMEM_RP_EVICT (chosen victim, evicted;
 * history policies remember it) or 0 (dropped, forgotten). The frame is
 * empty and clean afterwards. Returns 0, or -ERANGE, -ENOENT: reported,
 * nothing changes. O(1) (opt O(log n)). */
KMEM_API int kmem_rp_remove(struct kmem_rp *rp, uint32_t frame, unsigned flags);

/* The periodic clock tick: aging shifts its counters, esc clears the
 * reference bits; a no-op for the others. O(1); aging O(resident). */
KMEM_API void kmem_rp_tick(struct kmem_rp *rp);

/* The page in frame was written back: clean again. Returns 0, or -ERANGE,
 * -ENOENT: reported, nothing changes. O(1). */
KMEM_API int kmem_rp_clean(struct kmem_rp *rp, uint32_t frame);

/* Whether frame holds a page / a dirty page (false for a frame outside the
 * table, not reported). O(1). */
KMEM_API bool kmem_rp_resident(const struct kmem_rp *rp, uint32_t frame);
KMEM_API bool kmem_rp_dirty(const struct kmem_rp *rp, uint32_t frame);

/* Counters and sizes. O(1). */
KMEM_API void kmem_rp_get_stats(const struct kmem_rp *rp, struct kmem_rp_stats *st);

/* The policy and instance names. O(1). */
KMEM_API const struct kmem_rp_ops *kmem_rp_policy(const struct kmem_rp *rp);
KMEM_API const char *kmem_rp_name(const struct kmem_rp *rp);

/* Full invariant check: the instance's own (R1-R3 of replace_internal.h:
 * resident and dirty counts match the frame table) and then the policy's
 * check op. Returns 0, or reports the first violation to the sink as
 * KMEM_CORRUPTION and returns -EFAULT. O(frames) plus the policy's walk. */
KMEM_API KMEM_MUST_CHECK int kmem_rp_check(struct kmem_rp *rp);

/* The next-use table of a reference string for opt: next[t] = the least
 * u > t with refs[u] == refs[t], else KMEM_RP_NEVER. scratch: at least
 * kmem_rp_next_uses_scratch(n) bytes, 8-byte aligned (a hash table of last
 * positions). Returns 0, or -EINVAL (a NULL pointer with n > 0) or
 * -ENOSPC (scratch_size too small). O(n) expected. Thread-safe (touches
 * only its arguments). */
KMEM_API size_t kmem_rp_next_uses_scratch(size_t n);
KMEM_API KMEM_MUST_CHECK int kmem_rp_next_uses(const uint64_t *refs, size_t n, uint64_t *next,
					       void *scratch, size_t scratch_size);

KMEM_END_DECLS

#endif /* KMEM_REPLACE_H */
