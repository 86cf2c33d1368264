/* optimize.h — the graph optimizations of get/compute (inline constants,
 * fuse linear chains) decided on the indexed graph: the CSR arrays every
 * scheduler already builds (ldask.graph.index). Culling is the index's own
 * business (it indexes only what the requested keys reach); this plans,
 * in one pass over the edges, which tasks disappear and what the
 * dependencies of the rest become. The task values themselves are Lua
 * tables: lua/ldask/optimize.lua rewrites the few the plan names.
 * No Lua, no allocation retained, no global state: thread-safe. */
#ifndef LDASK_SCHED_OPTIMIZE_H
#define LDASK_SCHED_OPTIMIZE_H

#include <stdint.h>

/* Flags of a task (one byte per task, FLAGS below). */
enum {
  LD_OPT_TASK = 1,   /* its value is a task {f, args...}, not a literal */
  LD_OPT_OUTPUT = 2, /* a requested key: never inlined nor fused away */
  LD_OPT_HOLDS = 4   /* a literal holding tasks to run (a list of tasks):
                        never inlined, since inlining quotes the value */
};

/* Passes (PASSES below, or-ed). */
enum {
  LD_OPT_INLINE = 1, /* inline constants: no task, no dependency, not an output */
  LD_OPT_FUSE = 2    /* fuse a task into its only dependent when that dependent
                        has no other (non-inlined) dependency */
};

/* INTO[i] of a task that stays, of an inlined constant; a fused task's
 * INTO is the id of the task it is nested into (>= 0). */
enum { LD_OPT_KEPT = -1, LD_OPT_INLINED = -2 };

/* Error codes (negative). */
enum {
  LD_OPT_EINVAL = -1, /* n < 0, max_chain < 1, or a dependency out of range */
  LD_OPT_ENOMEM = -2
};

/* What a plan changes. */
typedef struct ld_opt_stats {
  int32_t ninlined; /* constants inlined into their dependents */
  int32_t nfused;   /* tasks nested into the task of their only dependent */
  int32_t nchanged; /* tasks that stay but whose value must be rewritten */
  int32_t ndeps;    /* edges of the new CSR (NEW_DEPS[0 .. ndeps-1]) */
} ld_opt_stats;

/* Plans the optimizations PASSES of a graph of N tasks whose dependencies
 * are in CSR form (task i depends on DEPS[OFFSETS[i] .. OFFSETS[i+1]-1],
 * 0-based, each at most once per task), FLAGS[i] as above. A chain of
 * fusable tasks is nested at most MAX_CHAIN deep: the task after that many
 * links stays and starts a chain of its own. A cycle of fusable tasks is
 * left as it is (the ordering reports it).
 *
 * Writes, all arrays being the caller's (nothing is retained):
 *   INTO[n]         LD_OPT_KEPT, LD_OPT_INLINED, or the id a task is fused into;
 *   BELOW[n]        the dependency nested into task i (fused into it), or -1;
 *   STATS           the counts above.
 * and, only when something is inlined or fused (STATS->ninlined +
 * STATS->nfused > 0):
 *   NEW_OFFSETS[n+1], NEW_DEPS[OFFSETS[n]]  the CSR after the plan: a task
 *     that stays depends on the non-inlined dependencies of the last task of
 *     its chain; an inlined or fused task has no dependency and no dependent;
 *   CHANGED[n]      CHANGED[0 .. nchanged-1]: ids of the tasks that stay and
 *     whose value changes (a constant to inline in the task or its chain, or
 *     a chain nested into it), in increasing order.
 * Returns 0, LD_OPT_EINVAL or LD_OPT_ENOMEM (nothing useful written). */
int ld_opt_plan(int32_t n, const int32_t *offsets, const int32_t *deps, const uint8_t *flags,
                int passes, int32_t max_chain, int32_t *into, int32_t *below, int32_t *new_offsets,
                int32_t *new_deps, int32_t *changed, ld_opt_stats *stats);

#endif
