/* http_api.c — the dashboard's answers (docs/dashboard.md): the JSON API
 * (/api/v1/status, workers, task_stream, graph, key/<key>), Prometheus
 * /metrics, from the scheduler's state and its event stream. Each answer
 * is built on the loop in one pass over what it shows; counts by state
 * walk the task table once (the engine's states and the prefix index of
 * each side record). */
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* The dashboard's name of an engine state (dask's vocabulary: a task
 * whose inputs are ready but that no worker runs yet is "waiting" too). */
static const char *state_name(int state) {
  switch (state) {
    case LD_TASK_WAITING:
    case LD_TASK_READY:
      return "waiting";
    case LD_TASK_PROCESSING:
      return "processing";
    case LD_TASK_MEMORY:
      return "memory";
    case LD_TASK_ERRED:
      return "erred";
    case LD_TASK_CANCELLED:
      return "cancelled";
    default:
      return "released";
  }
}

enum { C_WAITING, C_PROCESSING, C_MEMORY, C_ERRED, C_RELEASED, C_CANCELLED, C_READY, C_N };

static int count_slot(int state) {
  switch (state) {
    case LD_TASK_WAITING:
      return C_WAITING;
    case LD_TASK_READY:
      return C_READY;
    case LD_TASK_PROCESSING:
      return C_PROCESSING;
    case LD_TASK_MEMORY:
      return C_MEMORY;
    case LD_TASK_ERRED:
      return C_ERRED;
    case LD_TASK_CANCELLED:
      return C_CANCELLED;
    default:
      return C_RELEASED;
  }
}

/* Counts the live tasks by state into TOTAL[C_N] and, when BYPREFIX is not
 * NULL, by prefix into BYPREFIX[nprefix * C_N]. */
static void count_tasks(const sc_state *st, int64_t *total, int64_t *byprefix) {
  memset(total, 0, C_N * sizeof *total);
  int32_t limit = ld_sched_id_limit(st->eng);
  for (int32_t id = 0; id < limit; id++) {
    int s = ld_sched_state(st->eng, id);
    if (s < 0 || s == LD_TASK_FREE) continue;
    int k = count_slot(s);
    total[k]++;
    if (byprefix) {
      int32_t p = sc_side(st, id)->prefix;
      if (p < 0 || p >= st->ev.nprefix) p = SC_PREFIX_OTHER;
      byprefix[(size_t)p * C_N + k]++;
    }
  }
}

static int64_t worker_memory(const sc_worker *w) {
  return w->mem_reported >= 0 ? w->mem_reported : w->nbytes;
}

void sc_api_status_into(sc_state *st, js *j) {
  int64_t total[C_N];
  int32_t np = st->ev.nprefix;
  int64_t *byp = calloc((size_t)np * C_N, sizeof *byp);
  count_tasks(st, total, byp);
  int threads = 0;
  int64_t mem = 0, spilled = 0;
  for (sc_worker *w = st->workers; w; w = w->next) {
    threads += w->nthreads;
    mem += worker_memory(w);
    spilled += w->spilled;
  }
  js_obj(j);
  js_kstr(j, "scheduler", st->address);
  js_kint(j, "workers", st->nworkers);
  js_kint(j, "threads", threads);
  js_key(j, "tasks");
  js_obj(j);
  js_kint(j, "waiting", total[C_WAITING] + total[C_READY]);
  js_kint(j, "processing", total[C_PROCESSING]);
  js_kint(j, "memory", total[C_MEMORY]);
  js_kint(j, "erred", total[C_ERRED]);
  js_kint(j, "released", total[C_RELEASED]);
  js_kint(j, "cancelled", total[C_CANCELLED]);
  js_kint(j, "ready", total[C_READY]);
  js_end_obj(j);
  js_key(j, "prefixes");
  js_arr(j);
  for (int32_t p = 0; byp && p < np; p++) {
    int64_t *c = byp + (size_t)p * C_N, sum = 0;
    for (int k = 0; k < C_N; k++) sum += c[k];
    if (sum == 0) continue;
    js_obj(j);
    js_kstr(j, "prefix", sc_events_prefix_name(&st->ev, p));
    js_kint(j, "waiting", c[C_WAITING] + c[C_READY]);
    js_kint(j, "processing", c[C_PROCESSING]);
    js_kint(j, "memory", c[C_MEMORY]);
    js_kint(j, "erred", c[C_ERRED]);
    js_kint(j, "released", c[C_RELEASED]);
    js_kint(j, "cancelled", c[C_CANCELLED]);
    js_kint(j, "total", sum);
    js_end_obj(j);
  }
  js_end_arr(j);
  free(byp);
  js_kint(j, "memory", mem);
  js_kint(j, "spilled", spilled);
  js_kint(j, "events_dropped", (int64_t)st->ev.dropped);
  js_kint(j, "tasks_completed", st->ev.completed);
  js_kint(j, "tasks_erred", st->ev.erred);
  js_kint(j, "transfer_bytes", st->ev.transfer_bytes);
  js_kint(j, "seq", (int64_t)st->ev.next_seq - 1);
  js_knum(j, "now", sc_events_now(&st->ev));
  js_end_obj(j);
}

int sc_api_status(sc_state *st, hbuf *b) {
  js j;
  js_init(&j, b);
  sc_api_status_into(st, &j);
  return 200;
}

int sc_api_workers(sc_state *st, hbuf *b) {
  js j;
  js_init(&j, b);
  double now = sc_now(st);
  js_arr(&j);
  for (sc_worker *w = st->workers; w; w = w->next) {
    js_obj(&j);
    js_kstr(&j, "address", w->addr);
    js_kstr(&j, "name", w->name);
    js_kint(&j, "id", w->id);
    js_kint(&j, "nthreads", w->nthreads);
    js_kint(&j, "memory", worker_memory(w));
    js_kint(&j, "memory_limit", w->memory_limit);
    js_kint(&j, "process_memory", w->proc_reported);
    js_kint(&j, "spilled", w->spilled);
    js_knum(&j, "cpu", w->cpu);
    js_kint(&j, "processing", w->nprocessing);
    js_kint(&j, "stored", w->nkeys);
    js_kint(&j, "executed", w->executed);
    js_kint(&j, "fetched_bytes", w->fetched_bytes);
    js_knum(&j, "last_seen", now - w->last_seen > 0 ? now - w->last_seen : 0);
    js_end_obj(&j);
  }
  js_end_arr(&j);
  return 200;
}

uint64_t sc_api_stream_into(sc_state *st, js *j, uint64_t since, int max, int newest) {
  const sc_events *e = &st->ev;
  uint64_t first = sc_events_first(e), last = e->next_seq - 1;
  uint64_t from = since + 1 > first ? since + 1 : first;
  uint64_t missed = from > since + 1 ? from - since - 1 : 0; /* overwritten before asked */
  uint64_t to = last, skipped = 0;
  if (to >= from && to - from + 1 > (uint64_t)max) {
    if (newest) { /* the newest MAX: an update's cost stays bounded */
      skipped = to - (uint64_t)max + 1 - from;
      from = to - (uint64_t)max + 1;
    } else {
      to = from + (uint64_t)max - 1;
    }
  }
  js_obj(j);
  js_kint(j, "seq", (int64_t)(to >= from ? to : (since > last ? last : since)));
  js_kint(j, "dropped", (int64_t)e->dropped);
  js_kint(j, "missed", (int64_t)(since < last ? missed : 0));
  js_kint(j, "skipped", (int64_t)skipped);
  js_key(j, "more");
  js_bool(j, to < last);
  js_key(j, "events");
  js_arr(j);
  if (to >= from) hb_reserve(j->b, (size_t)(to - from + 1) * 240);
  for (uint64_t s = from; s <= to; s++) {
    const sc_event *ev = sc_events_get(e, s);
    if (ev == NULL) continue;
    const char *key = sc_event_key(ev);
    size_t plen;
    const char *prefix = sc_key_prefix(key, ev->keylen, &plen);
    js_obj(j);
    js_kint(j, "seq", (int64_t)ev->seq);
    js_kstr(j, "kind", ev->kind == SC_EV_TRANSFER ? "transfer" : "compute");
    js_key(j, "key");
    js_strn(j, key, ev->keylen);
    js_key(j, "prefix");
    js_strn(j, prefix, plen);
    js_kstr(j, "worker", sc_events_worker_addr(e, ev->worker));
    js_key(j, "thread");
    if (ev->thread >= 0)
      js_int(j, ev->thread);
    else
      js_null(j);
    js_knum(j, "start", ev->start);
    js_knum(j, "stop", ev->stop);
    js_kint(j, "bytes", ev->bytes);
    js_key(j, "peer");
    if (ev->kind == SC_EV_TRANSFER && ev->peer >= 0)
      js_str(j, sc_events_worker_addr(e, ev->peer));
    else
      js_null(j);
    js_kstr(j, "status", ev->erred ? "erred" : "ok");
    js_end_obj(j);
  }
  js_end_arr(j);
  js_end_obj(j);
  return to >= from ? to : (since > last ? last : since);
}

int sc_api_parse_since(const char *query, uint64_t *since) {
  *since = 0;
  for (const char *p = query; p && *p;) {
    if (strncmp(p, "since=", 6) == 0) {
      char *end;
      unsigned long long v = strtoull(p + 6, &end, 10);
      if (end == p + 6 || (*end != '\0' && *end != '&') || p[6] == '-') return -1;
      *since = v;
    }
    p = strchr(p, '&');
    if (p) p++;
  }
  return 0;
}

int sc_api_task_stream(sc_state *st, const char *query, hbuf *b) {
  uint64_t since;
  js j;
  js_init(&j, b);
  if (sc_api_parse_since(query, &since) != 0) {
    js_obj(&j);
    js_kstr(&j, "error", SC_API_SINCE_ERROR);
    js_end_obj(&j);
    return 400;
  }
  sc_api_stream_into(st, &j, since, SC_API_STREAM_MAX, 0);
  return 200;
}

int sc_api_graph(sc_state *st, hbuf *b) {
  int32_t limit = ld_sched_id_limit(st->eng);
  int32_t *node_of = malloc(((size_t)limit + 1) * sizeof *node_of); /* id -> node index, -1 */
  int32_t *ids = malloc(SC_API_GRAPH_MAX * sizeof *ids);
  if (node_of == NULL || ids == NULL) {
    free(node_of), free(ids);
    return 500;
  }
  int32_t n = 0;
  int truncated = 0;
  for (int32_t id = 0; id < limit; id++) {
    node_of[id] = -1;
    int s = ld_sched_state(st->eng, id);
    if (s < 0 || s == LD_TASK_FREE) continue;
    if (n == SC_API_GRAPH_MAX) {
      truncated = 1;
      continue;
    }
    node_of[id] = n;
    ids[n++] = id;
  }
  js j;
  js_init(&j, b);
  js_obj(&j);
  js_key(&j, "nodes");
  js_arr(&j);
  for (int32_t i = 0; i < n; i++) {
    size_t klen;
    const char *key = ld_sched_key(st->eng, ids[i], &klen);
    js_obj(&j);
    js_key(&j, "key");
    js_strn(&j, key ? key : "", key ? klen : 0);
    js_kstr(&j, "prefix", sc_events_prefix_name(&st->ev, sc_side(st, ids[i])->prefix));
    js_kstr(&j, "state", state_name(ld_sched_state(st->eng, ids[i])));
    js_end_obj(&j);
  }
  js_end_arr(&j);
  js_key(&j, "edges");
  js_arr(&j);
  for (int32_t i = 0; i < n; i++) {
    int32_t nd;
    const int32_t *deps = ld_sched_deps(st->eng, ids[i], &nd);
    for (int32_t k = 0; k < nd; k++) {
      int32_t d = deps[k];
      if (d < 0 || d >= limit || node_of[d] < 0) continue;
      js_arr(&j);
      js_int(&j, node_of[d]);
      js_int(&j, i);
      js_end_arr(&j);
    }
  }
  js_end_arr(&j);
  js_key(&j, "truncated");
  js_bool(&j, truncated);
  js_kint(&j, "limit", SC_API_GRAPH_MAX);
  js_end_obj(&j);
  free(node_of);
  free(ids);
  return 200;
}

/* A list of keys of the task ids IDS (N of them) into J. */
static void key_list(const sc_state *st, js *j, const int32_t *ids, int32_t n) {
  js_arr(j);
  for (int32_t i = 0; i < n; i++) {
    size_t klen;
    const char *k = ld_sched_key(st->eng, ids[i], &klen);
    if (k) js_strn(j, k, klen);
  }
  js_end_arr(j);
}

#define KEY_LIST_MAX 1000 /* dependencies or dependents listed for one key */

int sc_api_key(sc_state *st, const char *key, size_t klen, hbuf *b) {
  js j;
  js_init(&j, b);
  int32_t id = ld_sched_find(st->eng, key, klen);
  if (id < 0) {
    js_obj(&j);
    js_key(&j, "key");
    js_strn(&j, key, klen);
    js_kstr(&j, "state", "forgotten");
    js_kstr(&j, "error", "the scheduler knows no such key (never submitted, or forgotten)");
    js_end_obj(&j);
    return 404;
  }
  const sc_task *t = sc_side(st, id);
  int state = ld_sched_state(st->eng, id);
  js_obj(&j);
  js_key(&j, "key");
  js_strn(&j, key, klen);
  js_kstr(&j, "state", state_name(state));
  js_kstr(&j, "prefix", sc_events_prefix_name(&st->ev, t->prefix));
  js_key(&j, "who_has");
  js_arr(&j);
  sc_worker *const *who = sc_who_has(t);
  for (int i = 0; i < t->nwho; i++) js_str(&j, who[i]->addr);
  js_end_arr(&j);
  js_kstr(&j, "processing_on", t->processing_on ? t->processing_on->addr : NULL);
  int32_t nd;
  const int32_t *deps = ld_sched_deps(st->eng, id, &nd);
  js_key(&j, "dependencies");
  key_list(st, &j, deps, nd < KEY_LIST_MAX ? nd : KEY_LIST_MAX);
  int32_t *dep_of = malloc(KEY_LIST_MAX * sizeof *dep_of);
  int32_t ndep = dep_of ? ld_sched_dependents(st->eng, id, dep_of, KEY_LIST_MAX) : 0;
  js_key(&j, "dependents");
  key_list(st, &j, dep_of, ndep < 0 ? 0 : ndep < KEY_LIST_MAX ? ndep : KEY_LIST_MAX);
  free(dep_of);
  js_kint(&j, "ndependencies", nd);
  js_kint(&j, "ndependents", ndep < 0 ? 0 : ndep);
  js_kint(&j, "nbytes", t->nbytes);
  js_kstr(&j, "error", state == LD_TASK_ERRED ? (sc_r(t)->err_msg ? sc_r(t)->err_msg : "") : NULL);
  js_kstr(&j, "traceback",
          state == LD_TASK_ERRED ? (sc_r(t)->err_tb ? sc_r(t)->err_tb : "") : NULL);
  js_kstr(&j, "origin", state == LD_TASK_ERRED ? sc_r(t)->err_key : NULL);
  js_kint(&j, "retries", t->retries);
  js_end_obj(&j);
  return 200;
}

/* "# HELP" and "# TYPE" lines of metric NAME. */
static void prom_head(hbuf *b, const char *name, const char *type, const char *help) {
  hb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int sc_api_metrics(sc_state *st, hbuf *b) {
  int64_t total[C_N];
  count_tasks(st, total, NULL);
  prom_head(b, "ldask_tasks", "gauge", "Tasks the scheduler knows, by state.");
  static const char *const names[C_N] = {"waiting",  "processing", "memory", "erred",
                                         "released", "cancelled",  NULL};
  for (int k = 0; k < C_N; k++)
    if (names[k])
      hb_printf(b, "ldask_tasks{state=\"%s\"} %lld\n", names[k],
                (long long)(total[k] + (k == C_WAITING ? total[C_READY] : 0)));
  prom_head(b, "ldask_workers", "gauge", "Workers connected.");
  hb_printf(b, "ldask_workers %d\n", st->nworkers);
  int threads = 0;
  for (sc_worker *w = st->workers; w; w = w->next) threads += w->nthreads;
  prom_head(b, "ldask_threads", "gauge", "Worker threads connected.");
  hb_printf(b, "ldask_threads %d\n", threads);
  prom_head(b, "ldask_worker_memory_bytes", "gauge", "Bytes of results a worker holds in memory.");
  for (sc_worker *w = st->workers; w; w = w->next) {
    hb_str(b, "ldask_worker_memory_bytes{worker=\"");
    hb_prom_label(b, w->addr, strlen(w->addr));
    hb_printf(b, "\"} %lld\n", (long long)worker_memory(w));
  }
  prom_head(b, "ldask_worker_spilled_bytes", "gauge", "Bytes of results a worker spilled to disk.");
  for (sc_worker *w = st->workers; w; w = w->next) {
    hb_str(b, "ldask_worker_spilled_bytes{worker=\"");
    hb_prom_label(b, w->addr, strlen(w->addr));
    hb_printf(b, "\"} %lld\n", (long long)w->spilled);
  }
  prom_head(b, "ldask_transfer_bytes_total", "counter", "Bytes workers fetched from each other.");
  hb_printf(b, "ldask_transfer_bytes_total %lld\n", (long long)st->ev.transfer_bytes);
  prom_head(b, "ldask_events_dropped_total", "counter",
            "Events lost from the scheduler's event ring (overwritten or not reported).");
  hb_printf(b, "ldask_events_dropped_total %llu\n", (unsigned long long)st->ev.dropped);
  prom_head(b, "ldask_tasks_completed_total", "counter", "Tasks computed by the workers.");
  hb_printf(b, "ldask_tasks_completed_total %lld\n", (long long)st->ev.completed);
  prom_head(b, "ldask_tasks_erred_total", "counter", "Task runs that raised on a worker.");
  hb_printf(b, "ldask_tasks_erred_total %lld\n", (long long)st->ev.erred);
  return 200;
}
