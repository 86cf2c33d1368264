-- ldask.ffi.frame: C declarations of core/frame/frame.h (CSV blocks into
-- typed columns, grouping and row kernels of ldask.dataframe).
local ffi = require "ffi"
require "ldask.ffi.buffer"

ffi.cdef [[
typedef struct ld_csv_out {
  int32_t type;
  int32_t dict;
  ld_buffer *data;
  ld_buffer *offsets;
  ld_buffer *cats;
  ld_buffer *valid;
  int64_t ncats;
  int64_t nbytes;
} ld_csv_out;
typedef struct ld_csv_spec {
  const char *path;
  int32_t compression;
  int64_t start, stop;
  int32_t sep, quote;
  int32_t skip_header;
  int32_t nfields;
  int32_t ncols;
  const int32_t *fields;
  ld_csv_out *out;
  const char *na;
  int32_t dict_max;
  int64_t nrows;
  int64_t err_line;
  int32_t err_col;
  char err_value[200];
  char err[512];
} ld_csv_spec;
int ld_csv_read(ld_csv_spec *s);
int64_t ld_csv_infer(ld_csv_spec *s, int64_t maxlines, int32_t nfields, int32_t *types);
int ld_parse_f64(const char *p, size_t len, double *out);
int ld_parse_datetime(const char *p, size_t len, int64_t *out);
int ld_parse_i64(const char *p, size_t len, int64_t *out);
int ld_parse_bool(const char *p, size_t len, uint8_t *out);

int64_t ld_fr_factorize_i64(const int64_t *keys, const uint8_t *valid, int32_t na_sentinel,
                            int64_t n, int64_t *codes, int64_t *first);
int64_t ld_fr_factorize_f64(const double *keys, int64_t n, int64_t *codes, int64_t *first);
int64_t ld_fr_factorize_str(const int64_t *offsets, const char *bytes, const uint8_t *valid,
                            int64_t n, int64_t *codes, int64_t *first);
int64_t ld_fr_factorize_codes(const int32_t *keys, int64_t ncats, int64_t n, int64_t *codes,
                              int64_t *first);
void ld_fr_codes_combine(const int64_t *a, const int64_t *b, int64_t nb, int64_t n, int64_t *out);
typedef struct ld_fr_aggout {
  double *sum, *sumsq, *min, *max;
  int64_t *isum, *imin, *imax, *count, *first, *last;
} ld_fr_aggout;
void ld_fr_group_agg(const int64_t *codes, int64_t ngroups, int32_t vtype, const void *vals,
                     const uint8_t *valid, int64_t n, ld_fr_aggout *out);
void ld_fr_group_size(const int64_t *codes, int64_t n, int64_t *size);
int ld_fr_argsort_i64(const int64_t *keys, const uint8_t *valid, int64_t n, int64_t *idx);
int ld_fr_argsort_f64(const double *keys, int64_t n, int64_t *idx);
int ld_fr_argsort_str(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                      int64_t *idx);
int64_t ld_fr_mask_idx(const uint8_t *mask, const uint8_t *valid, int64_t n, int64_t *idx);
void ld_fr_take(const void *src, size_t itemsize, const int64_t *idx, int64_t n, void *dst);
int64_t ld_fr_str_take_size(const int64_t *offsets, const int64_t *idx, int64_t n);
void ld_fr_str_take(const int64_t *offsets, const char *bytes, const int64_t *idx, int64_t n,
                    int64_t *out_off, char *out_bytes);
int64_t ld_fr_dict_size(const int32_t *codes, const int64_t *cat_off, int64_t n);
void ld_fr_dict_decode(const int32_t *codes, const int64_t *cat_off, const char *cat_bytes,
                       int64_t n, int64_t *out_off, char *out_bytes, uint8_t *out_valid);
void ld_fr_str_eq(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                  const char *s, size_t len, uint8_t *out);
int64_t ld_fr_str_find(const int64_t *offsets, const char *bytes, int64_t ncats, const char *s,
                       size_t len);
void ld_fr_codes_eq(const int32_t *codes, int64_t n, int32_t code, uint8_t *out);
int64_t ld_fr_dt_field(const int64_t *ns, int64_t n, int32_t field, int64_t unit, int64_t *iout,
                       double *fout);
int ld_fr_dt_format(int64_t v, int32_t date_only, char *out);
typedef struct ld_fr_strmap {
  int32_t mode;
  const char *chars;
  size_t nchars;
  int64_t start, stop, step;
} ld_fr_strmap;
int64_t ld_fr_str_map(const int64_t *offsets, const char *bytes, int64_t n, const ld_fr_strmap *m,
                      int64_t *out_off, char *out_bytes);
void ld_fr_str_len(const int64_t *offsets, const char *bytes, int64_t n, int64_t *out);
void ld_fr_str_affix(const int64_t *offsets, const char *bytes, int64_t n, const char *s, size_t len,
                     int32_t at_end, uint8_t *out);
int ld_fr_str_contains(const int64_t *offsets, const char *bytes, int64_t n, const char *pat,
                       size_t len, int32_t regex, int32_t icase, uint8_t *out, char *err,
                       size_t errlen);
void ld_fr_codes_remap(const int32_t *codes, int64_t n, const int64_t *map, int32_t *out);
void ld_fr_hash_i64(const int64_t *keys, const uint8_t *valid, int64_t n, uint64_t *acc);
void ld_fr_hash_f64(const double *keys, int64_t n, uint64_t *acc);
void ld_fr_hash_str(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                    uint64_t *out, int32_t accumulate);
void ld_fr_hash_codes(const int32_t *codes, int64_t n, const uint64_t *cat_hash, uint64_t *acc);
void ld_fr_partition_rows(const uint64_t *hash, int64_t n, int32_t nparts, int64_t *idx,
                          int64_t *bounds);
int64_t ld_fr_join_pairs(const int64_t *lcodes, int64_t nl, const int64_t *rcodes, int64_t nr,
                         int64_t ngroups, int32_t how, int64_t *lidx, int64_t *ridx);
void ld_fr_range_parts(const double *vals, int64_t n, const double *cuts, int64_t ncuts,
                       int64_t *out);
void ld_fr_range_parts_str(const int64_t *offsets, const char *bytes, const uint8_t *valid,
                           int64_t n, const int64_t *cut_off, const char *cut_bytes, int64_t ncuts,
                           int64_t *out);
]]

return {
  types = { float64 = 0, int64 = 2, bool = 5, datetime = 16, string = 17, auto = 18 },
  dt_fields = { year = 0, month = 1, day = 2, hour = 3, minute = 4, second = 5, dayofweek = 6,
    date = 7, floor = 8 },
  join_how = { inner = 0, left = 1, right = 2, outer = 3 },
  str_modes = { lower = 0, upper = 1, strip = 2, lstrip = 3, rstrip = 4, slice = 5 },
}
