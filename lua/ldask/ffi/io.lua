-- ldask.ffi.io: C declarations of core/io/textblocks.h (line-aligned text
-- blocks, plain and gzip, for ldask.bag).
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
]]

return true
