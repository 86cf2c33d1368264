-- ldask.ffi.io: C declarations of core/io/textblocks.h (line-aligned text
-- blocks, plain and gzip, for ldask.bag) and core/io/jsontape.h (JSON lines
-- tokenized for the fast decoding path). ld_jsontape is declared up to its
-- last public field only (C allocates it: never ffi.new it here).
local ffi = require "ffi"

ffi.cdef [[
typedef struct ld_textreader ld_textreader;
typedef struct ld_textwriter ld_textwriter;
int ld_textreader_open(const char *path, int compression, int64_t start, int64_t stop,
                       size_t chunk, int strip_eol, ld_textreader **out, char *err, size_t errlen);
int64_t ld_textreader_next(ld_textreader *r, const char **data, const uint32_t **starts,
                           const uint32_t **lens);
int64_t ld_textreader_lines(const ld_textreader *r);
const char *ld_textreader_error(const ld_textreader *r);
void ld_textreader_close(ld_textreader *r);
int64_t ld_text_count_newlines(const char *path, int64_t upto, char *err, size_t errlen);
int ld_text_file_size(const char *path, int64_t *size, char *err, size_t errlen);
int ld_text_glob(const char *pattern, char **out, size_t *count, char *err, size_t errlen);
void ld_text_free(void *p);
int ld_textwriter_open(const char *path, int compression, int level, ld_textwriter **out,
                       char *err, size_t errlen);
int ld_textwriter_write(ld_textwriter *w, const char *data, size_t len, char *err, size_t errlen);
int ld_textwriter_close(ld_textwriter *w, char *err, size_t errlen);
typedef struct ld_jsontape {
  size_t ntok;
  uint8_t *kind;
  int32_t *ival;
  uint32_t *off, *len;
  double *num;
  int32_t *line_first;
  const char *arena;
  uint32_t *str_off, *str_len;
  size_t nstr;
  int32_t *shape;
  int32_t *shape_keys;
  uint32_t *shape_first, *shape_n;
  size_t nshape;
  int32_t *line_sig;
  int32_t *sig_codes;
  uint32_t *sig_first, *sig_n;
  size_t nsig;
} ld_jsontape;
ld_jsontape *ld_jsontape_new(void);
void ld_jsontape_free(ld_jsontape *t);
int ld_jsontape_parse(ld_jsontape *t, const char *data, const uint32_t *starts,
                      const uint32_t *lens, size_t n);
]]

return true
