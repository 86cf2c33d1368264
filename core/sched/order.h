/* order.h — execution order of a task graph (dask.order-like): depth-first,
 * so a branch finishes before new inputs are opened and intermediates are
 * released early. Shared by every scheduler. */
#ifndef LDASK_ORDER_H
#define LDASK_ORDER_H

#include <stdint.h>

/* Computes an execution order of N tasks whose dependencies are given in CSR
 * form: task i depends on deps[offsets[i] .. offsets[i+1]-1] (task indices,
 * 0-based). Every task is ordered (culling is the caller's business).
 * Graph roots (tasks nothing depends on) are started in index order; from
 * each, dependencies are visited depth-first, the one with the fewest
 * transitive dependencies first (a cheap branch finishes and frees its
 * memory before an expensive one starts), each task after its dependencies.
 *
 * On success fills SEQ[0..n-1] with task indices in execution order and,
 * when PRIORITY is not NULL, PRIORITY[i] with the position of task i in SEQ;
 * returns 0. Returns -1 on a cycle, with *CYCLE_AT set to a task on it and
 * SEQ[0..len-1] holding the cycle from that task (each task depending on
 * the next, the last on the first), followed by -1 when len < n;
 * -2 when out of memory; -3 on a dependency index out of range. The arrays
 * are the caller's; nothing is retained. */
int ld_order(int32_t n, const int32_t *offsets, const int32_t *deps, int32_t *seq,
             int32_t *priority, int32_t *cycle_at);

#endif
