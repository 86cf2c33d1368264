/* coord.c — what ldask-scheduler holds for clients to share (docs/
 * distributed.md, "Shared clusters"; docs/protocol.md, "coord"): published
 * datasets and the coordination primitives Variable, Queue, Lock,
 * Semaphore and Event. One op, `coord`, with a kind, an action and a name;
 * every action answers at once (`coord-reply`): waiting with a timeout
 * (Queue.get, Lock.acquire, Event.wait, ...) is the client's loop of
 * non-blocking tries. A value is opaque frames (a codec encoding made by
 * the client) plus the keys of the futures inside it: the scheduler wants
 * those keys itself (an engine want, owned by no client) for as long as it
 * holds the value, so the data outlives the client that stored it; a
 * client reading the value is made a wanter of those keys before the
 * answer goes out. Locks and semaphore leases held by a client are given
 * back when its connection closes. Sizes are bounded (CO_MAX_*). Also
 * the `versions` op (Client:get_versions). */
#include <luajit.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"
#include "util/version.h"

#define CO_MAX_OBJECTS 4096 /* named objects of all kinds together */
#define CO_MAX_NAME 256     /* bytes of a name */
#define CO_MAX_ITEMS 65536  /* items of one queue, leases of one semaphore */
#define CO_MAX_KEYS 100000  /* futures inside one value */

enum { CO_DATASET, CO_VARIABLE, CO_QUEUE, CO_LOCK, CO_SEMAPHORE, CO_EVENT, CO_NKINDS };
static const char *const kind_names[CO_NKINDS] = {"dataset", "variable",  "queue",
                                                  "lock",    "semaphore", "event"};

/* A stored value: frames (references) and the engine ids it keeps wanted. */
typedef struct co_value {
  sc_frames frames;
  int32_t *ids; /* owned */
  uint32_t nids;
} co_value;

/* A lease of a lock or semaphore: the holding client and its lease id. */
typedef struct co_lease {
  int client;
  char *id; /* owned */
} co_lease;

typedef struct co_obj {
  int kind;
  char *name; /* owned */
  size_t nlen;
  co_value val; /* dataset, variable (has_val) */
  int has_val;
  co_value *items; /* queue: FIFO from head (owned) */
  uint32_t head, nitems, capitems;
  int64_t maxsize;    /* queue: 0 = unbounded (still CO_MAX_ITEMS) */
  int flag;           /* event */
  int64_t max_leases; /* lock: 1; semaphore: its max_leases */
  co_lease *leases;
  int nleases, caplease;
  struct co_obj *next;
} co_obj;

static co_obj *objects;
static int nobjects;

/* fire_and_forget: engine ids wanted until they finish (swept by
 * sc_coord_sweep). */
#define CO_MAX_FORGET 1000000
static int32_t *ff_ids;
static uint32_t nff, capff;
static double ff_last;

/* ---- values ---- */

/* Drops V: its frames, and its wants (ST NULL: the scheduler is exiting,
 * the engine is left alone). */
static void value_drop(sc_state *st, co_value *v) {
  sc_frames_drop(&v->frames);
  for (uint32_t i = 0; st && i < v->nids; i++)
    if (ld_sched_state(st->eng, v->ids[i]) != LD_TASK_FREE) ld_sched_unwant(st->eng, v->ids[i]);
  free(v->ids);
  v->ids = NULL;
  v->nids = 0;
}

/* Reads the value of request H (keys in 'keys', frames of M from 1) into V:
 * the keys are wanted. Returns NULL or an error message (in ERR). */
static const char *value_read(sc_state *st, ld_msg *m, const msgpack_object *h, co_value *v,
                              char *err, size_t errlen) {
  memset(v, 0, sizeof *v);
  if (m->nframes < 2) return "the request carries no value";
  const msgpack_object *keys = arr(h, "keys");
  uint32_t n = keys ? keys->via.array.size : 0;
  if (n > CO_MAX_KEYS) {
    snprintf(err, errlen, "a value may hold at most %d futures, this one holds %u", CO_MAX_KEYS, n);
    return err;
  }
  v->ids = sc_xrealloc(NULL, (n ? n : 1) * sizeof *v->ids);
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *o = &keys->via.array.ptr[i];
    sc_task *t = find(st, o);
    if (t == NULL) {
      snprintf(err, errlen,
               "the future of '%.*s' is not known to the scheduler (released, or from another "
               "cluster)",
               o->type == MSGPACK_OBJECT_STR ? (int)o->via.str.size : 1,
               o->type == MSGPACK_OBJECT_STR ? o->via.str.ptr : "?");
      for (uint32_t j = 0; j < v->nids; j++) ld_sched_unwant(st->eng, v->ids[j]);
      free(v->ids);
      v->ids = NULL;
      v->nids = 0;
      return err;
    }
    ld_sched_want(st->eng, t->id);
    v->ids[v->nids++] = t->id;
  }
  sc_frames_set(&v->frames, m->frames + 1, m->nframes - 1);
  return NULL;
}

/* Client CL gets V: it becomes a wanter of V's keys (told their state now,
 * as for update-graph's wanted keys). */
static void value_give(sc_state *st, sc_client *cl, const co_value *v) {
  for (uint32_t i = 0; i < v->nids; i++) {
    if (ld_sched_state(st->eng, v->ids[i]) == LD_TASK_FREE) continue;
    sc_task *t = sc_side(st, v->ids[i]);
    int had = sc_wanted_by(t, cl->id);
    sc_want(st, cl, t);
    int state = sc_state_of(st, t);
    if (state == LD_TASK_MEMORY) sc_notify_one(cl, t, "key-finished");
    if (state == LD_TASK_ERRED && !had) sc_notify_one(cl, t, "key-erred");
    if (state == LD_TASK_CANCELLED) sc_notify_one(cl, t, "key-cancelled");
    if (state == LD_TASK_RELEASED) ld_sched_compute(st->eng, t->id);
  }
}

/* ---- objects ---- */

static co_obj *obj_find(int kind, const char *name, size_t nlen) {
  for (co_obj *o = objects; o; o = o->next)
    if (o->kind == kind && o->nlen == nlen && memcmp(o->name, name, nlen) == 0) return o;
  return NULL;
}

static co_obj *obj_new(int kind, const char *name, size_t nlen) {
  co_obj *o = calloc(1, sizeof *o);
  if (o == NULL) abort();
  o->kind = kind;
  o->name = sc_xrealloc(NULL, nlen + 1);
  memcpy(o->name, name, nlen);
  o->name[nlen] = '\0';
  o->nlen = nlen;
  o->max_leases = 1;
  o->next = objects;
  objects = o;
  nobjects++;
  return o;
}

static void obj_free(sc_state *st, co_obj *o) {
  if (o->has_val) value_drop(st, &o->val);
  for (uint32_t i = 0; i < o->nitems; i++) value_drop(st, &o->items[(o->head + i) % o->capitems]);
  free(o->items);
  for (int i = 0; i < o->nleases; i++) free(o->leases[i].id);
  free(o->leases);
  free(o->name);
  free(o);
}

static void obj_remove(sc_state *st, co_obj *o) {
  for (co_obj **pp = &objects; *pp; pp = &(*pp)->next)
    if (*pp == o) {
      *pp = o->next;
      break;
    }
  nobjects--;
  obj_free(st, o);
}

static int lease_find(const co_obj *o, const char *id, size_t idlen) {
  for (int i = 0; i < o->nleases; i++)
    if (strlen(o->leases[i].id) == idlen && memcmp(o->leases[i].id, id, idlen) == 0) return i;
  return -1;
}

static void lease_drop(co_obj *o, int i) {
  free(o->leases[i].id);
  o->leases[i] = o->leases[--o->nleases];
}

/* ---- replies ---- */

typedef struct reply {
  int64_t id;
  int ok;
  const char *message; /* when !ok */
  int has_int;
  int64_t ival;        /* 'value': a count or a flag */
  const co_value *val; /* its keys and frames go out */
  int list_kind;       /* >= 0: 'names' of the objects of that kind */
} reply;

static void send_reply(sc_state *st, sc_client *cl, const reply *r) {
  pk_t p;
  pk_init(&p);
  int n = 3 + (r->message != NULL) + r->has_int + (r->val ? 2 : 0) + (r->list_kind >= 0);
  msgpack_pack_map(&p.pk, (size_t)n);
  S(&p, "op"), S(&p, "coord-reply");
  S(&p, "id"), I(&p, r->id);
  S(&p, "ok");
  if (r->ok)
    msgpack_pack_true(&p.pk);
  else
    msgpack_pack_false(&p.pk);
  if (r->message) S(&p, "message"), S(&p, r->message);
  if (r->has_int) S(&p, "value"), I(&p, r->ival);
  if (r->val) {
    S(&p, "keys");
    msgpack_pack_array(&p.pk, r->val->nids);
    for (uint32_t i = 0; i < r->val->nids; i++) {
      size_t klen = 0;
      const char *k = "";
      if (ld_sched_state(st->eng, r->val->ids[i]) != LD_TASK_FREE)
        k = sc_key(st, sc_side(st, r->val->ids[i]), &klen);
      SN(&p, k, klen);
    }
    S(&p, "nframes"), I(&p, r->val->frames.n);
  }
  if (r->list_kind >= 0) {
    int count = 0;
    for (co_obj *o = objects; o; o = o->next) count += o->kind == r->list_kind;
    S(&p, "names");
    msgpack_pack_array(&p.pk, (size_t)count);
    for (co_obj *o = objects; o; o = o->next)
      if (o->kind == r->list_kind) SN(&p, o->name, o->nlen);
  }
  if (r->val)
    pk_send(&p, cl->conn, sc_frames_ptr(&r->val->frames), r->val->frames.n);
  else
    pk_send(&p, cl->conn, NULL, 0);
}

/* ---- the op ---- */

static int kind_of(const msgpack_object *o) {
  for (int k = 0; k < CO_NKINDS; k++)
    if (ld_mp_str_eq(o, kind_names[k])) return k;
  return -1;
}

/* fire_and_forget: KEYS stay wanted by the scheduler until they finish. */
static void forget_pin(sc_state *st, sc_client *cl, const msgpack_object *h, reply *r) {
  const msgpack_object *keys = arr(h, "keys");
  uint32_t n = keys ? keys->via.array.size : 0;
  if (nff + (uint64_t)n > CO_MAX_FORGET) {
    r->message =
        "fire_and_forget: the scheduler holds 1000000 unfinished fire-and-forget tasks "
        "already (its limit)";
    send_reply(st, cl, r);
    return;
  }
  for (uint32_t i = 0; i < n; i++) {
    sc_task *t = find(st, &keys->via.array.ptr[i]);
    if (t == NULL) continue;
    if (nff == capff) {
      capff = capff ? capff * 2 : 64;
      ff_ids = sc_xrealloc(ff_ids, capff * sizeof *ff_ids);
    }
    ld_sched_want(st->eng, t->id);
    ff_ids[nff++] = t->id;
  }
  r->ok = 1;
  send_reply(st, cl, r);
}

void sc_coord_sweep(sc_state *st) {
  if (nff == 0) return;
  double t = sc_now(st);
  if (t - ff_last < 0.05) return;
  ff_last = t;
  for (uint32_t i = 0; i < nff; i++) {
    int s = ld_sched_state(st->eng, ff_ids[i]);
    if (s == LD_TASK_MEMORY || s == LD_TASK_ERRED || s == LD_TASK_CANCELLED || s == LD_TASK_FREE) {
      int32_t id = ff_ids[i];
      ff_ids[i--] = ff_ids[--nff];
      if (s != LD_TASK_FREE) ld_sched_unwant(st->eng, id);
    }
  }
}

void sc_op_coord(sc_state *st, sc_client *cl, ld_msg *m, const msgpack_object *h) {
  static char err[600];
  reply r = {0};
  r.list_kind = -1;
  ld_mp_get_i64(h, "id", &r.id);
  const msgpack_object *ko = ld_mp_get(h, "kind"), *ao = ld_mp_get(h, "action");
  if (ld_mp_str_eq(ko, "forget")) {
    forget_pin(st, cl, h, &r);
    return;
  }
  int kind = kind_of(ko);
  const char *name = "", *lid = "";
  size_t nlen = 0, lidlen = 0;
  ld_mp_get_str(h, "name", &name, &nlen);
  ld_mp_get_str(h, "lease", &lid, &lidlen);
  if (kind < 0 || ao == NULL || ao->type != MSGPACK_OBJECT_STR) {
    r.message =
        "coord: 'kind' must be dataset, variable, queue, lock, semaphore or event, and "
        "'action' a string";
    send_reply(st, cl, &r);
    return;
  }
  const char *kn = kind_names[kind];
  char action[32];
  snprintf(action, sizeof action, "%.*s", (int)(ao->via.str.size < 31 ? ao->via.str.size : 31),
           ao->via.str.ptr);
  if (strcmp(action, "list") == 0) {
    r.ok = 1;
    r.list_kind = kind;
    send_reply(st, cl, &r);
    return;
  }
  if (nlen == 0 || nlen > CO_MAX_NAME || memchr(name, '\0', nlen)) {
    snprintf(err, sizeof err, "a %s name must be a non-empty string of at most %d bytes", kn,
             CO_MAX_NAME);
    r.message = err;
    send_reply(st, cl, &r);
    return;
  }
  co_obj *o = obj_find(kind, name, nlen);
  int creates = strcmp(action, "publish") == 0 || strcmp(action, "set") == 0 ||
                strcmp(action, "put") == 0 || strcmp(action, "acquire") == 0 ||
                strcmp(action, "create") == 0;
  if (o == NULL && creates) {
    if (nobjects >= CO_MAX_OBJECTS) {
      snprintf(err, sizeof err,
               "the scheduler holds %d named datasets and coordination objects already (its "
               "limit): delete some first",
               CO_MAX_OBJECTS);
      r.message = err;
      send_reply(st, cl, &r);
      return;
    }
    o = obj_new(kind, name, nlen);
    if (kind == CO_SEMAPHORE) {
      int64_t ml = 1;
      ld_mp_get_i64(h, "max_leases", &ml);
      o->max_leases = ml < 1 ? 1 : ml > CO_MAX_ITEMS ? CO_MAX_ITEMS : ml;
    }
    if (kind == CO_QUEUE) {
      int64_t ms = 0;
      ld_mp_get_i64(h, "maxsize", &ms);
      o->maxsize = ms < 0 ? 0 : ms;
    }
  }
  const char *e = NULL;
  r.ok = 1;
  if (strcmp(action, "create") == 0) {
    /* made above if new */
  } else if ((kind == CO_DATASET || kind == CO_VARIABLE) &&
             (strcmp(action, "publish") == 0 || strcmp(action, "set") == 0)) {
    const msgpack_object *ov = ld_mp_get(h, "override");
    int override =
        kind == CO_VARIABLE || (ov && ov->type == MSGPACK_OBJECT_BOOLEAN && ov->via.boolean);
    if (o->has_val && !override) {
      snprintf(err, sizeof err, "a dataset named '%.*s' is already published (unpublish it first)",
               (int)nlen, name);
      e = err;
    } else {
      co_value v;
      e = value_read(st, m, h, &v, err, sizeof err);
      if (e == NULL) {
        if (o->has_val) value_drop(st, &o->val);
        o->val = v;
        o->has_val = 1;
      } else if (!o->has_val) {
        obj_remove(st, o);
      }
    }
  } else if (kind == CO_DATASET || kind == CO_VARIABLE) {
    if (strcmp(action, "get") == 0) {
      if (o == NULL || !o->has_val) {
        r.ok = 0;
        r.has_int = 1; /* value 0: absent (a variable's get waits for it) */
        if (kind == CO_DATASET) {
          snprintf(err, sizeof err, "no dataset named '%.*s' is published", (int)nlen, name);
          e = err;
        }
      } else {
        value_give(st, cl, &o->val);
        r.val = &o->val;
      }
    } else if (strcmp(action, "delete") == 0 || strcmp(action, "unpublish") == 0) {
      if (o == NULL && kind == CO_DATASET) {
        snprintf(err, sizeof err, "no dataset named '%.*s' is published", (int)nlen, name);
        e = err;
      } else if (o) {
        obj_remove(st, o);
      }
    } else {
      e = "unknown action";
    }
  } else if (kind == CO_QUEUE) {
    if (strcmp(action, "put") == 0) {
      uint32_t cap =
          o->maxsize > 0 && o->maxsize < CO_MAX_ITEMS ? (uint32_t)o->maxsize : CO_MAX_ITEMS;
      if (o->nitems >= cap) {
        r.ok = 0; /* full: the client tries again until its timeout */
        r.has_int = 1;
        r.ival = o->nitems;
      } else {
        co_value v;
        e = value_read(st, m, h, &v, err, sizeof err);
        if (e == NULL) {
          if (o->nitems == o->capitems) {
            uint32_t nc = o->capitems ? o->capitems * 2 : 8;
            co_value *ni = sc_xrealloc(NULL, nc * sizeof *ni);
            for (uint32_t i = 0; i < o->nitems; i++) ni[i] = o->items[(o->head + i) % o->capitems];
            free(o->items);
            o->items = ni;
            o->capitems = nc;
            o->head = 0;
          }
          o->items[(o->head + o->nitems) % o->capitems] = v;
          o->nitems++;
        }
      }
    } else if (strcmp(action, "get") == 0) {
      if (o == NULL || o->nitems == 0) {
        r.ok = 0; /* empty */
        r.has_int = 1;
      } else {
        /* the value goes out, then its wants are dropped (the client wants
         * its keys by then) */
        co_value v = o->items[o->head];
        o->head = (o->head + 1) % o->capitems;
        o->nitems--;
        value_give(st, cl, &v);
        r.val = &v;
        send_reply(st, cl, &r);
        value_drop(st, &v);
        return;
      }
    } else if (strcmp(action, "qsize") == 0) {
      r.has_int = 1;
      r.ival = o ? o->nitems : 0;
    } else if (strcmp(action, "delete") == 0) {
      if (o) obj_remove(st, o);
    } else {
      e = "unknown action";
    }
  } else if (kind == CO_LOCK || kind == CO_SEMAPHORE) {
    if (lidlen == 0 && strcmp(action, "locked") != 0 && strcmp(action, "count") != 0 &&
        strcmp(action, "delete") != 0) {
      e = "a 'lease' id is needed";
    } else if (strcmp(action, "acquire") == 0) {
      if (lease_find(o, lid, lidlen) >= 0 && kind == CO_LOCK) {
        r.ok = 0; /* a lock is not reentrant: its holder waits like anyone */
      } else if (o->nleases >= o->max_leases) {
        r.ok = 0;
      } else {
        if (o->nleases == o->caplease) {
          o->caplease = o->caplease ? o->caplease * 2 : 2;
          o->leases = sc_xrealloc(o->leases, (size_t)o->caplease * sizeof *o->leases);
        }
        char *id = sc_xrealloc(NULL, lidlen + 1);
        memcpy(id, lid, lidlen);
        id[lidlen] = '\0';
        o->leases[o->nleases].client = cl->id;
        o->leases[o->nleases].id = id;
        o->nleases++;
      }
    } else if (strcmp(action, "release") == 0) {
      int i = o ? lease_find(o, lid, lidlen) : -1;
      if (i < 0) {
        snprintf(err, sizeof err, "the %s '%.*s' is not held by this %s: release without acquire",
                 kn, (int)nlen, name, kn);
        e = err;
      } else {
        lease_drop(o, i);
      }
    } else if (strcmp(action, "locked") == 0 || strcmp(action, "count") == 0) {
      r.has_int = 1;
      r.ival = o ? o->nleases : 0;
    } else if (strcmp(action, "delete") == 0) {
      if (o) obj_remove(st, o);
    } else {
      e = "unknown action";
    }
  } else if (kind == CO_EVENT) {
    if (strcmp(action, "set") == 0) {
      o->flag = 1; /* (made above) */
    } else if (strcmp(action, "clear") == 0) {
      if (o) o->flag = 0;
    } else if (strcmp(action, "is_set") == 0) {
      r.has_int = 1;
      r.ival = o ? o->flag : 0;
    } else {
      e = "unknown action";
    }
  }
  if (e) {
    if (strcmp(e, "unknown action") == 0) {
      snprintf(err, sizeof err, "coord: a %s has no action '%s'", kn, action);
      e = err;
    }
    r.ok = 0;
    r.message = e;
  }
  send_reply(st, cl, &r);
}

void sc_coord_client_gone(sc_state *st, int client_id) {
  (void)st;
  for (co_obj *o = objects; o; o = o->next)
    for (int i = 0; i < o->nleases; i++)
      if (o->leases[i].client == client_id) lease_drop(o, i--);
}

void sc_coord_free(void) {
  free(ff_ids);
  ff_ids = NULL;
  nff = capff = 0;
  while (objects) {
    co_obj *o = objects;
    objects = o->next;
    obj_free(NULL, o);
  }
  nobjects = 0;
}

/* versions: what this scheduler runs (Client:get_versions). */
void sc_op_versions(sc_state *st, sc_client *cl, const msgpack_object *h) {
  (void)st;
  int64_t id = 0;
  ld_mp_get_i64(h, "id", &id);
  pk_t p;
  pk_init(&p);
  msgpack_pack_map(&p.pk, 8);
  S(&p, "op"), S(&p, "versions-reply");
  S(&p, "id"), I(&p, id);
  S(&p, "ldask"), S(&p, LD_VERSION_STRING);
  S(&p, "protocol"), I(&p, LD_PROTOCOL);
  S(&p, "luajit"), S(&p, LUAJIT_VERSION);
  S(&p, "libuv"), S(&p, uv_version_string());
  S(&p, "openssl"), S(&p, OpenSSL_version(OPENSSL_VERSION));
  S(&p, "msgpack"), S(&p, msgpack_version());
  pk_send(&p, cl->conn, NULL, 0);
}
