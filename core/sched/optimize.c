/* optimize.c — the plan of inlining constants and fusing linear chains on
 * the indexed graph (see optimize.h); lua/ldask/optimize.lua applies it to
 * the few task values it changes. O(tasks + edges), two scratch arrays. */
#include "sched/optimize.h"

#include <stdlib.h>
#include <string.h>

/* The only dependency of task B that is not inlined, or -1 when B has none
 * or several. */
static int32_t single_dep(const int32_t *offsets, const int32_t *deps, const int32_t *into,
                          int32_t b) {
  int32_t one = -1;
  for (int32_t p = offsets[b]; p < offsets[b + 1]; p++) {
    int32_t d = deps[p];
    if (into[d] == LD_OPT_INLINED) continue;
    if (one >= 0) return -1;
    one = d;
  }
  return one;
}

/* True when task X depends on an inlined constant. */
static int uses_inlined(const int32_t *offsets, const int32_t *deps, const int32_t *into,
                        int32_t x) {
  for (int32_t p = offsets[x]; p < offsets[x + 1]; p++)
    if (into[deps[p]] == LD_OPT_INLINED) return 1;
  return 0;
}

/* Marks the fusable links: BELOW[b] = a when task A (not an output) has B
 * as its only dependent and B (a task) has A as its only non-inlined
 * dependency; ABOVE[a] = b. Returns 0 or LD_OPT_ENOMEM. */
static int link_chains(int32_t n, const int32_t *offsets, const int32_t *deps, const uint8_t *flags,
                       const int32_t *into, int32_t *below, int32_t *above) {
  int32_t *ndependents = calloc((size_t)(n > 0 ? n : 1), sizeof *ndependents);
  if (ndependents == NULL) return LD_OPT_ENOMEM;
  for (int32_t p = 0; p < offsets[n]; p++)
    if (into[deps[p]] != LD_OPT_INLINED) ndependents[deps[p]]++;
  for (int32_t b = 0; b < n; b++) {
    if (!(flags[b] & LD_OPT_TASK)) continue;
    int32_t a = single_dep(offsets, deps, into, b);
    if (a < 0 || a == b || ndependents[a] != 1) continue;
    if ((flags[a] & (LD_OPT_TASK | LD_OPT_OUTPUT)) != LD_OPT_TASK) continue;
    below[b] = a;
    above[a] = b;
  }
  free(ndependents);
  return 0;
}

/* Nests each chain into its top (a task with a link below and none above),
 * MAX_CHAIN links at most: the next task stays and tops the rest. Returns
 * the number of fused tasks. A cycle of links has no top: it stays. */
static int32_t fuse_chains(int32_t n, int32_t max_chain, const int32_t *below, const int32_t *above,
                           int32_t *into) {
  int32_t nfused = 0;
  for (int32_t t = 0; t < n; t++) {
    if (below[t] < 0 || above[t] >= 0) continue;
    int32_t top = t, links = 0, steps = 0;
    for (int32_t a = below[t]; a >= 0 && steps < n; a = below[a], steps++) {
      if (links == max_chain) {
        top = a;
        links = 0;
        continue;
      }
      into[a] = top;
      links++;
      nfused++;
    }
  }
  return nfused;
}

int ld_opt_plan(int32_t n, const int32_t *offsets, const int32_t *deps, const uint8_t *flags,
                int passes, int32_t max_chain, int32_t *into, int32_t *below, int32_t *new_offsets,
                int32_t *new_deps, int32_t *changed, ld_opt_stats *stats) {
  if (n < 0 || max_chain < 1 || offsets == NULL || into == NULL || below == NULL || stats == NULL ||
      (n > 0 && flags == NULL) || offsets[0] != 0)
    return LD_OPT_EINVAL;
  for (int32_t i = 0; i < n; i++)
    if (offsets[i + 1] < offsets[i]) return LD_OPT_EINVAL;
  int32_t m = offsets[n];
  if (m > 0 && deps == NULL) return LD_OPT_EINVAL;
  for (int32_t p = 0; p < m; p++)
    if (deps[p] < 0 || deps[p] >= n) return LD_OPT_EINVAL;
  memset(stats, 0, sizeof *stats);

  for (int32_t i = 0; i < n; i++) {
    below[i] = -1;
    into[i] = LD_OPT_KEPT;
    if ((passes & LD_OPT_INLINE) && !(flags[i] & (LD_OPT_TASK | LD_OPT_OUTPUT | LD_OPT_HOLDS)) &&
        offsets[i] == offsets[i + 1]) {
      into[i] = LD_OPT_INLINED;
      stats->ninlined++;
    }
  }
  if (passes & LD_OPT_FUSE) {
    int32_t *above = malloc(sizeof *above * (size_t)(n > 0 ? n : 1));
    if (above == NULL) return LD_OPT_ENOMEM;
    for (int32_t i = 0; i < n; i++) above[i] = -1;
    int rc = link_chains(n, offsets, deps, flags, into, below, above);
    if (rc == 0) stats->nfused = fuse_chains(n, max_chain, below, above, into);
    free(above);
    if (rc != 0) return rc;
  }
  if (stats->ninlined + stats->nfused == 0) return 0;
  if (new_offsets == NULL || (m > 0 && new_deps == NULL) || changed == NULL) return LD_OPT_EINVAL;

  /* a task that stays takes the dependencies of the last task of its chain */
  int32_t q = 0, nc = 0;
  for (int32_t i = 0; i < n; i++) {
    new_offsets[i] = q;
    if (into[i] != LD_OPT_KEPT) continue;
    int ch = 0;
    int32_t x = i;
    for (;;) {
      if (uses_inlined(offsets, deps, into, x)) ch = 1;
      int32_t y = below[x];
      if (y < 0 || into[y] != i) break;
      ch = 1;
      x = y;
    }
    for (int32_t p = offsets[x]; p < offsets[x + 1]; p++)
      if (into[deps[p]] != LD_OPT_INLINED) new_deps[q++] = deps[p];
    if (ch) changed[nc++] = i;
  }
  new_offsets[n] = q;
  stats->nchanged = nc;
  stats->ndeps = q;
  return 0;
}
