/* textblocks.h — line-aligned text input and output for ldask.bag.
 *
 * A text reader streams the lines of one byte range [start, stop) of a file
 * in chunks of whole lines. The boundary rule: a line belongs to the block in
 * which its first byte lies, so adjacent blocks never split or duplicate a
 * line. gzip files are read through zlib; they cannot be split, so they are
 * always read whole (start 0, stop -1). A text writer writes a file plain or
 * gzip-compressed. Also: glob expansion and file sizes for planning blocks.
 *
 * Errors are negative LD_TEXT_E* codes; the functions that can fail take an
 * ERR buffer of ERRLEN bytes (may be NULL) that receives a message naming the
 * file and the operation. */
#ifndef LDASK_TEXTBLOCKS_H
#define LDASK_TEXTBLOCKS_H

#include <stddef.h>
#include <stdint.h>

enum { LD_TEXT_PLAIN = 0, LD_TEXT_GZIP = 1 };

enum {
  LD_TEXT_EOPEN = -1,   /* cannot open / stat the file */
  LD_TEXT_EIO = -2,     /* read or write error */
  LD_TEXT_EGZIP = -3,   /* corrupt gzip stream */
  LD_TEXT_ENOMEM = -4,  /* out of memory */
  LD_TEXT_EARG = -5,    /* bad argument (e.g. a byte range on a gzip file) */
  LD_TEXT_ENOMATCH = -6 /* a glob matched no file */
};

typedef struct ld_textreader ld_textreader;
typedef struct ld_textwriter ld_textwriter;

/* Opens PATH to stream the lines that start at offsets in [START, STOP)
 * (STOP < 0: to the end of the file). COMPRESSION is LD_TEXT_PLAIN or
 * LD_TEXT_GZIP (then START must be 0 and STOP < 0). CHUNK is the preferred
 * chunk size in bytes (0: 1 MiB); a chunk grows when one line is longer.
 * STRIP_EOL nonzero: reported line lengths exclude "\n" and a "\r" before it.
 * On success stores a new reader in *OUT, owned by the caller (free it with
 * ld_textreader_close) and returns 0. */
int ld_textreader_open(const char *path, int compression, int64_t start, int64_t stop, size_t chunk,
                       int strip_eol, ld_textreader **out, char *err, size_t errlen);

/* Reads the next chunk of whole lines. Returns the number of lines (> 0), 0
 * at the end of the block, or a negative code (message from
 * ld_textreader_error). *DATA, *STARTS and *LENS point into memory owned by
 * the reader, valid until the next call or close: line i is the LENS[i]
 * bytes at DATA + STARTS[i]. */
int64_t ld_textreader_next(ld_textreader *r, const char **data, const uint32_t **starts,
                           const uint32_t **lens);

/* Lines returned so far by this reader (the block-relative line count). */
int64_t ld_textreader_lines(const ld_textreader *r);

/* The message of the last error of R (empty when none). Owned by R. */
const char *ld_textreader_error(const ld_textreader *r);

/* Closes R and frees everything it owns. NULL is accepted. */
void ld_textreader_close(ld_textreader *r);

/* Counts the "\n" bytes of the plain file PATH in [0, UPTO): the 1-based line
 * number of a line starting at UPTO is the result + 1. Returns the count or
 * a negative code. */
int64_t ld_text_count_newlines(const char *path, int64_t upto, char *err, size_t errlen);

/* Stores the size in bytes of PATH in *SIZE. Returns 0 or LD_TEXT_EOPEN. */
int ld_text_file_size(const char *path, int64_t *size, char *err, size_t errlen);

/* Expands the glob PATTERN (sorted, files only). On success stores in *OUT a
 * malloc'ed block of *COUNT NUL-terminated paths laid end to end, owned by
 * the caller (free with ld_text_free), and returns 0. No match:
 * LD_TEXT_ENOMATCH. */
int ld_text_glob(const char *pattern, char **out, size_t *count, char *err, size_t errlen);

/* Frees memory returned by ld_text_glob. NULL is accepted. */
void ld_text_free(void *p);

/* Creates (truncates) PATH for writing, plain or gzip (LEVEL 1..9, 0 =
 * default 6). On success stores a new writer in *OUT, owned by the caller
 * (finish with ld_textwriter_close), and returns 0. */
int ld_textwriter_open(const char *path, int compression, int level, ld_textwriter **out, char *err,
                       size_t errlen);

/* Writes LEN bytes of DATA (borrowed). Returns 0 or a negative code. */
int ld_textwriter_write(ld_textwriter *w, const char *data, size_t len, char *err, size_t errlen);

/* Flushes and closes W, freeing it (also on error). Returns 0 or a negative
 * code. NULL is accepted. */
int ld_textwriter_close(ld_textwriter *w, char *err, size_t errlen);

#endif
