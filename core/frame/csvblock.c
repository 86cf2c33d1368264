/* csvblock.c — loads one line-aligned block of a CSV file into memory for
 * the parser (core/frame/csv.c): the lines whose first byte lies in
 * [start, stop), the same rule as core/io/textblocks (a line belongs to
 * the block where it starts, so blocks never split or repeat a line).
 * Plain files are mapped (MAP_POPULATE: no copy of the page cache); gzip
 * files are inflated whole through zlib (one block per file). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "frame/csvblock.h"
#include "io/textblocks.h"

#define PAD 64
#define MORE ((size_t)1 << 16)

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err != NULL && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

static int reserve(char **buf, size_t *cap, size_t need) {
  if (need + PAD <= *cap) return 0;
  size_t nc = *cap ? *cap : MORE;
  while (nc < need + PAD) nc *= 2;
  char *nb = realloc(*buf, nc);
  if (nb == NULL) return -1;
  *buf = nb;
  *cap = nc;
  return 0;
}

static int load_gzip(const char *path, ld_csv_block *b, char *err, size_t errlen) {
  gzFile gz = gzopen(path, "rb");
  if (gz == NULL)
    return fail(err, errlen, LD_TEXT_EOPEN, "%s: cannot open: %s", path, strerror(errno));
  gzbuffer(gz, 256 * 1024);
  char *buf = NULL;
  size_t cap = 0, len = 0;
  for (;;) {
    if (reserve(&buf, &cap, len + MORE * 16)) {
      free(buf);
      gzclose(gz);
      return fail(err, errlen, LD_TEXT_ENOMEM, "%s: out of memory", path);
    }
    int n = gzread(gz, buf + len, (unsigned)(cap - PAD - len));
    if (n < 0) {
      int code;
      const char *msg = gzerror(gz, &code);
      int rc = fail(err, errlen, LD_TEXT_EGZIP, "%s: gzip read error: %s", path,
                    code == Z_ERRNO ? strerror(errno) : msg);
      free(buf);
      gzclose(gz);
      return rc;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  gzclose(gz);
  memset(buf + len, 0, PAD);
  b->buf = buf;
  b->begin = 0;
  b->end = len;
  return 0;
}

/* Reads up to WANT bytes at OFF into BUF; returns the count or -1. */
static ssize_t read_at(int fd, char *buf, size_t want, int64_t off) {
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd, buf + got, want - got, (off_t)(off + (int64_t)got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

/* Maps the block of FD (SIZE bytes): 1 on success, 0 when the last line
 * runs past the mapped tail (the caller reads instead). */
static int map_block(int fd, int64_t size, int64_t start, int64_t stop, ld_csv_block *b) {
  int64_t pos0 = start > 0 ? start - 1 : 0;
  int64_t lim = (stop < 0 || stop > size) ? size : stop;
  if (pos0 >= lim) return 0;
  long pg = sysconf(_SC_PAGESIZE);
  int64_t off = pos0 - pos0 % pg;
  int64_t mend = lim < size ? (lim + (int64_t)MORE < size ? lim + (int64_t)MORE : size) : size;
  size_t mlen = (size_t)(mend - off);
  char *m = mmap(NULL, mlen, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, (off_t)off);
  if (m == MAP_FAILED) return 0;
  madvise(m, mlen, MADV_SEQUENTIAL);
  size_t len = mlen;
  if (lim < size) {
    size_t from = (size_t)(lim - 1 - off);
    const char *nl = memchr(m + from, '\n', mlen - from);
    if (nl == NULL && mend < size) {
      munmap(m, mlen);
      return 0;
    }
    if (nl != NULL) len = (size_t)(nl - m) + 1;
  }
  size_t begin = (size_t)(pos0 - off);
  if (start > 0) {
    const char *nl = memchr(m + begin, '\n', len - begin);
    begin = nl ? (size_t)(nl - m) + 1 : len;
    if (stop >= 0 && off + (int64_t)begin >= stop) begin = len;
  }
  b->buf = m;
  b->map_len = mlen;
  b->begin = begin;
  b->end = len;
  return 1;
}

int ld_csv_load_block(const char *path, int compression, int64_t start, int64_t stop,
                      ld_csv_block *b, char *err, size_t errlen) {
  memset(b, 0, sizeof *b);
  if (compression == LD_TEXT_GZIP) {
    if (start != 0 || stop >= 0)
      return fail(err, errlen, LD_TEXT_EARG, "%s: a gzip file cannot be read by byte range", path);
    return load_gzip(path, b, err, errlen);
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, errlen, LD_TEXT_EOPEN, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return fail(err, errlen, LD_TEXT_EOPEN, "%s: cannot stat: %s", path, strerror(errno));
  }
  int64_t size = (int64_t)st.st_size;
  if (map_block(fd, size, start, stop, b)) {
    close(fd);
    return 0;
  }
  int64_t pos0 = start > 0 ? start - 1 : 0;
  int64_t lim = (stop < 0 || stop > size) ? size : stop;
  if (pos0 > size) pos0 = size;
  size_t want = (size_t)(lim > pos0 ? lim - pos0 : 0);
  char *buf = NULL;
  size_t cap = 0, len = 0;
  if (reserve(&buf, &cap, want + MORE)) {
    close(fd);
    return fail(err, errlen, LD_TEXT_ENOMEM, "%s: out of memory", path);
  }
  ssize_t n = read_at(fd, buf, want, pos0);
  if (n < 0) goto ioerr;
  len = (size_t)n;
  /* the last line starting before STOP ends at the first "\n" at or after stop - 1 */
  if (lim < size) {
    size_t from = (size_t)(lim - 1 - pos0);
    for (;;) {
      const char *nl = from < len ? memchr(buf + from, '\n', len - from) : NULL;
      if (nl != NULL) {
        len = (size_t)(nl - buf) + 1;
        break;
      }
      from = len;
      if (reserve(&buf, &cap, len + MORE)) {
        free(buf);
        close(fd);
        return fail(err, errlen, LD_TEXT_ENOMEM, "%s: out of memory", path);
      }
      n = read_at(fd, buf + len, MORE, pos0 + (int64_t)len);
      if (n < 0) goto ioerr;
      if (n == 0) break;
      len += (size_t)n;
    }
  }
  close(fd);
  size_t begin = 0;
  if (start > 0) {
    const char *nl = memchr(buf, '\n', len);
    begin = nl ? (size_t)(nl - buf) + 1 : len;
    /* a line starting at or after STOP belongs to the next block */
    if (stop >= 0 && pos0 + (int64_t)begin >= stop) begin = len;
  }
  memset(buf + len, 0, PAD);
  b->buf = buf;
  b->begin = begin;
  b->end = len;
  return 0;
ioerr:
  free(buf);
  close(fd);
  return fail(err, errlen, LD_TEXT_EIO, "%s: read error: %s", path, strerror(errno));
}

void ld_csv_block_free(ld_csv_block *b) {
  if (b->map_len > 0)
    munmap(b->buf, b->map_len);
  else
    free(b->buf);
  b->buf = NULL;
}
