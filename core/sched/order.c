/* order.c — dask.order-like execution order (see order.h): iterative
 * depth-first post-order from the graph's roots, cheapest dependency first. */
#include "sched/order.h"

#include <stdlib.h>

enum { WHITE = 0, GREY = 1, BLACK = 2 };

/* Transitive dependency counts, capped, computed in a first post-order pass;
 * used only to pick which dependency to descend into first. */
typedef struct {
  int32_t task;
  int32_t next; /* next dependency slot to visit */
} frame;

static int32_t *sorted_deps(int32_t n, const int32_t *offsets, const int32_t *deps,
                            const uint32_t *weight) {
  int32_t m = offsets[n];
  int32_t *out = malloc(sizeof *out * (size_t)(m > 0 ? m : 1));
  if (out == NULL) return NULL;
  for (int32_t i = 0; i < n; i++) {
    int32_t lo = offsets[i], hi = offsets[i + 1];
    for (int32_t k = lo; k < hi; k++) {
      /* insertion sort: fan-in is usually small */
      int32_t d = deps[k], j = k;
      while (j > lo && weight[out[j - 1]] > weight[d]) {
        out[j] = out[j - 1];
        j--;
      }
      out[j] = d;
    }
  }
  return out;
}

/* Writes the cycle closed by the edge from the top of STACK (SP frames) to
 * grey task D into SEQ: D first, each task depending on the next, the last
 * on D; then -1 when it is shorter than N. Sets *CYCLE_AT to D. */
static void write_cycle(int32_t n, const frame *stack, int32_t sp, int32_t d, int32_t *seq,
                        int32_t *cycle_at) {
  int32_t j = sp - 1;
  while (j > 0 && stack[j].task != d) j--;
  int32_t len = 0;
  for (int32_t k = j; k < sp; k++) seq[len++] = stack[k].task;
  if (len < n) seq[len] = -1;
  *cycle_at = d;
}

/* Post-order DFS over DEPS from every root (from every task not yet
 * visited when ALL); writes the order into SEQ. Returns the count written,
 * or -1 on a cycle (written into SEQ by write_cycle). */
static int32_t postorder(int32_t n, const int32_t *offsets, const int32_t *deps,
                         const uint8_t *is_root, int all, uint8_t *color, frame *stack,
                         int32_t *seq, int32_t *cycle_at) {
  int32_t count = 0;
  for (int32_t r = 0; r < n; r++) {
    if ((!all && !is_root[r]) || color[r] != WHITE) continue;
    int32_t sp = 0;
    stack[sp++] = (frame){r, offsets[r]};
    color[r] = GREY;
    while (sp > 0) {
      frame *f = &stack[sp - 1];
      if (f->next < offsets[f->task + 1]) {
        int32_t d = deps[f->next++];
        if (color[d] == WHITE) {
          color[d] = GREY;
          stack[sp++] = (frame){d, offsets[d]};
        } else if (color[d] == GREY) {
          write_cycle(n, stack, sp, d, seq, cycle_at);
          return -1;
        }
      } else {
        color[f->task] = BLACK;
        seq[count++] = f->task;
        sp--;
      }
    }
  }
  return count;
}

int ld_order(int32_t n, const int32_t *offsets, const int32_t *deps, int32_t *seq,
             int32_t *priority, int32_t *cycle_at) {
  if (n <= 0) return 0;
  int32_t m = offsets[n];
  for (int32_t k = 0; k < m; k++)
    if (deps[k] < 0 || deps[k] >= n) return -3;

  uint8_t *is_root = malloc((size_t)n);
  uint8_t *color = calloc((size_t)n, 1);
  frame *stack = malloc(sizeof *stack * (size_t)n);
  uint32_t *weight = calloc((size_t)n, sizeof *weight);
  int rc = -2;
  int32_t *sdeps = NULL;
  if (!is_root || !color || !stack || !weight) goto done;

  for (int32_t i = 0; i < n; i++) is_root[i] = 1;
  for (int32_t k = 0; k < m; k++) is_root[deps[k]] = 0;

  /* Pass 1: plain post-order gives a topological order (or finds a cycle);
   * weights accumulate over it. A graph made only of cycles has no root. */
  int32_t got = postorder(n, offsets, deps, is_root, 0, color, stack, seq, cycle_at);
  if (got < 0) {
    rc = -1;
    goto done;
  }
  if (got < n) {
    /* the unreached tasks hang off cycles that no root reaches: walking
     * from them (the reached ones are black) finds one */
    if (postorder(n, offsets, deps, is_root, 1, color, stack, seq, cycle_at) >= 0) {
      seq[0] = -1; /* cannot happen: a graph without roots has a cycle */
      *cycle_at = 0;
    }
    rc = -1;
    goto done;
  }
  for (int32_t p = 0; p < n; p++) {
    int32_t i = seq[p];
    uint64_t w = 1;
    for (int32_t k = offsets[i]; k < offsets[i + 1]; k++) w += weight[deps[k]];
    weight[i] = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
  }

  /* Pass 2: the same walk, cheapest dependency first. */
  sdeps = sorted_deps(n, offsets, deps, weight);
  if (sdeps == NULL) goto done;
  for (int32_t i = 0; i < n; i++) color[i] = WHITE;
  postorder(n, offsets, sdeps, is_root, 0, color, stack, seq, cycle_at);
  if (priority != NULL)
    for (int32_t p = 0; p < n; p++) priority[seq[p]] = p;
  rc = 0;

done:
  free(is_root);
  free(color);
  free(stack);
  free(weight);
  free(sdeps);
  return rc;
}
