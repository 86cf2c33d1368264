-- ldask.ffi.net: C declarations of core/net (framing, msgpack headers,
-- connection identity) for the Lua client and the specs.
local ffi = require "ffi"
require "ldask.ffi.buffer"

ffi.cdef [[
typedef struct ld_msg {
  uint32_t nframes;
  int raw;
  ld_buffer **frames;
  struct ld_msg *next;
} ld_msg;
ld_msg *ld_msg_new(uint32_t nframes);
ld_msg *ld_msg_make(const void *header, size_t len, ld_buffer *const *bufs, uint32_t nbuf);
void ld_msg_free(ld_msg *m);
uint64_t ld_msg_wire_size(const ld_msg *m);
ld_buffer *ld_msg_encode(const ld_msg *m);

typedef struct ld_frame_reader ld_frame_reader;
ld_frame_reader *ld_frame_reader_new(void);
void ld_frame_reader_free(ld_frame_reader *r);
int ld_frame_reader_feed(ld_frame_reader *r, const void *data, size_t len);
ld_msg *ld_frame_reader_next(ld_frame_reader *r);
const char *ld_frame_reader_error(const ld_frame_reader *r);
int ld_frame_reader_partial(const ld_frame_reader *r);
int ld_frame_reader_feed_one(ld_frame_reader *r, const void *data, size_t len, size_t *used);
void ld_frame_reader_set_limits(ld_frame_reader *r, uint64_t max_message, uint32_t max_frames);
void ld_frame_set_budgets(uint64_t max_message, uint64_t max_buffered);
void ld_frame_budgets(uint64_t *max_message, uint64_t *max_buffered, uint64_t *held);

typedef enum {
  MSGPACK_OBJECT_NIL = 0x00, MSGPACK_OBJECT_BOOLEAN = 0x01,
  MSGPACK_OBJECT_POSITIVE_INTEGER = 0x02, MSGPACK_OBJECT_NEGATIVE_INTEGER = 0x03,
  MSGPACK_OBJECT_FLOAT32 = 0x0a, MSGPACK_OBJECT_FLOAT64 = 0x04,
  MSGPACK_OBJECT_STR = 0x05, MSGPACK_OBJECT_ARRAY = 0x06, MSGPACK_OBJECT_MAP = 0x07,
  MSGPACK_OBJECT_BIN = 0x08, MSGPACK_OBJECT_EXT = 0x09
} msgpack_object_type;
struct msgpack_object;
struct msgpack_object_kv;
typedef struct { uint32_t size; struct msgpack_object *ptr; } msgpack_object_array;
typedef struct { uint32_t size; struct msgpack_object_kv *ptr; } msgpack_object_map;
typedef struct { uint32_t size; const char *ptr; } msgpack_object_str;
typedef struct { uint32_t size; const char *ptr; } msgpack_object_bin;
typedef struct { int8_t type; uint32_t size; const char *ptr; } msgpack_object_ext;
typedef union {
  bool boolean; uint64_t u64; int64_t i64; double f64;
  msgpack_object_array array; msgpack_object_map map;
  msgpack_object_str str; msgpack_object_bin bin; msgpack_object_ext ext;
} msgpack_object_union;
typedef struct msgpack_object { msgpack_object_type type; msgpack_object_union via; } msgpack_object;
typedef struct msgpack_object_kv { msgpack_object key; msgpack_object val; } msgpack_object_kv;
typedef struct msgpack_zone msgpack_zone;
typedef struct msgpack_unpacked { msgpack_zone *zone; msgpack_object data; } msgpack_unpacked;

typedef struct ld_mp_reader ld_mp_reader;
ld_mp_reader *ld_mp_reader_new(void);
void ld_mp_reader_free(ld_mp_reader *r);
const msgpack_object *ld_mp_reader_parse(ld_mp_reader *r, const void *data, size_t len,
                                         char *err, size_t errlen);

typedef struct ld_mpw ld_mpw;
ld_mpw *ld_mpw_new(void);
void ld_mpw_free(ld_mpw *w);
void ld_mpw_reset(ld_mpw *w);
int ld_mpw_nil(ld_mpw *w);
int ld_mpw_bool(ld_mpw *w, int v);
int ld_mpw_int(ld_mpw *w, int64_t v);
int ld_mpw_double(ld_mpw *w, double v);
int ld_mpw_str(ld_mpw *w, const char *s, size_t len);
int ld_mpw_array(ld_mpw *w, uint32_t n);
int ld_mpw_map(ld_mpw *w, uint32_t n);
size_t ld_mpw_size(const ld_mpw *w);
const char *ld_mpw_data(const ld_mpw *w);

void ld_net_set_identity(int protocol, const char *version);

/* runtime/worker/wtask.h: a task as an executor thread sees it; the
   functions live in the ldask-worker program (reach them via ffi.C). */
struct wk_task;
struct ld_wbatch;
typedef struct ld_wtask {
  const char *key;
  size_t keylen;
  ld_buffer **payload;
  uint32_t npayload;
  uint32_t ndeps;
  const char **dep_keys;
  size_t *dep_keylens;
  ld_buffer ***dep_frames;
  uint32_t *dep_nframes;
  int ok;
  ld_buffer **out;
  uint32_t nout;
  char *err, *tb;
  double t0, t1;
  struct wk_task *owner;
  struct ld_wtask *next;
  int owns_payload;
  int64_t run_id;
  int thread;
  struct ld_wbatch *batch;
  int slot;
  int in_task;
  ld_buffer *out1;
} ld_wtask;
int ld_wtask_set_result(ld_wtask *t, const char *hdr, size_t len, ld_buffer *const *bufs, uint32_t n);
void ld_wtask_set_error(ld_wtask *t, const char *msg, size_t mlen, const char *tb, size_t tblen);
typedef struct ld_wbatch {
  ld_wtask *task[64];
  ld_wtask *done[64];
  int n;
  int ndone;
  int cur;
} ld_wbatch;
ld_wbatch *ld_wexec_batch(void);
int ld_wexec_take(ld_wbatch *b);
ld_wtask *ld_wexec_claim(ld_wbatch *b, int i);
void ld_wexec_give(ld_wbatch *b);
double ld_wexec_now(void);
int ld_wexec_nfn(void);
int ld_wexec_fn(int i, const char **name, size_t *nlen, const char **blob, size_t *blen);
int ld_wexec_secede(void);
int ld_wexec_rejoin(void);
int ld_wexec_upload_gen(void);
const char *ld_wexec_upload(int i, const char **dir, int *seq);
]]

return true
