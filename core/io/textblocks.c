/* textblocks.c — line-aligned text input and output for ldask.bag: streams
 * the lines of a byte range of a plain or gzip file in chunks of whole
 * lines (a line belongs to the block where it starts), writes plain or gzip
 * text files, expands globs and sizes files. See textblocks.h. */
#include "io/textblocks.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LD_TEXT_DEFAULT_CHUNK ((size_t)1 << 20)

struct ld_textreader {
  int fd;       /* plain files: the descriptor; -1 otherwise */
  gzFile gz;    /* gzip files: the zlib stream; NULL otherwise */
  int64_t pos;  /* absolute (uncompressed) offset of buf[0] */
  int64_t stop; /* lines starting at >= stop are not ours; < 0: none */
  char *buf;    /* cap bytes; [off, len) not yet returned */
  size_t cap, len, off;
  int eof;        /* the file has no more bytes */
  int done;       /* the block has no more lines */
  int skip_first; /* drop bytes through the first "\n" (start > 0) */
  int strip_eol;
  uint32_t *starts, *lens; /* per-line arrays, lcap entries */
  size_t lcap;
  int64_t lines; /* lines returned so far */
  char path[512];
  char err[512];
};

struct ld_textwriter {
  FILE *fp;  /* plain */
  gzFile gz; /* gzip */
  char path[512];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

int ld_textreader_open(const char *path, int compression, int64_t start, int64_t stop, size_t chunk,
                       int strip_eol, ld_textreader **out, char *err, size_t errlen) {
  *out = NULL;
  if (compression != LD_TEXT_PLAIN && compression != LD_TEXT_GZIP) {
    set_err(err, errlen, "%s: unknown compression code %d", path, compression);
    return LD_TEXT_EARG;
  }
  if (compression == LD_TEXT_GZIP && (start != 0 || stop >= 0)) {
    set_err(err, errlen, "%s: a gzip file cannot be read by byte range (it is one block)", path);
    return LD_TEXT_EARG;
  }
  if (start < 0 || (stop >= 0 && stop < start)) {
    set_err(err, errlen, "%s: bad byte range [%lld, %lld)", path, (long long)start,
            (long long)stop);
    return LD_TEXT_EARG;
  }
  ld_textreader *r = calloc(1, sizeof *r);
  if (r == NULL) {
    set_err(err, errlen, "%s: out of memory", path);
    return LD_TEXT_ENOMEM;
  }
  r->fd = -1;
  r->stop = stop;
  r->strip_eol = strip_eol;
  r->cap = chunk ? chunk : LD_TEXT_DEFAULT_CHUNK;
  snprintf(r->path, sizeof r->path, "%s", path);
  r->buf = malloc(r->cap);
  r->lcap = 4096;
  r->starts = malloc(r->lcap * sizeof *r->starts);
  r->lens = malloc(r->lcap * sizeof *r->lens);
  if (r->buf == NULL || r->starts == NULL || r->lens == NULL) {
    ld_textreader_close(r);
    set_err(err, errlen, "%s: out of memory", path);
    return LD_TEXT_ENOMEM;
  }
  if (compression == LD_TEXT_GZIP) {
    r->gz = gzopen(path, "rb");
    if (r->gz == NULL) {
      set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno ? errno : ENOMEM));
      ld_textreader_close(r);
      return LD_TEXT_EOPEN;
    }
    gzbuffer(r->gz, 256 * 1024);
  } else {
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
      set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
      ld_textreader_close(r);
      return LD_TEXT_EOPEN;
    }
    if (start > 0) {
      /* Look at the byte before START: the line it belongs to is the
       * previous block's, so drop everything through the next "\n". */
      if (lseek(r->fd, (off_t)(start - 1), SEEK_SET) < 0) {
        set_err(err, errlen, "%s: cannot seek to %lld: %s", path, (long long)(start - 1),
                strerror(errno));
        ld_textreader_close(r);
        return LD_TEXT_EIO;
      }
      r->pos = start - 1;
      r->skip_first = 1;
    }
  }
  *out = r;
  return 0;
}

/* Reads into buf[len..cap) until full or end of file. Returns 0 or < 0. */
static int fill(ld_textreader *r) {
  while (r->len < r->cap && !r->eof) {
    size_t want = r->cap - r->len;
    if (r->gz != NULL) {
      if (want > (1u << 30)) want = 1u << 30;
      int n = gzread(r->gz, r->buf + r->len, (unsigned)want);
      if (n < 0) {
        int code;
        const char *msg = gzerror(r->gz, &code);
        set_err(r->err, sizeof r->err, "%s: gzip read error: %s", r->path,
                code == Z_ERRNO ? strerror(errno) : msg);
        return LD_TEXT_EGZIP;
      }
      if (n == 0) r->eof = 1;
      r->len += (size_t)n;
    } else {
      ssize_t n = read(r->fd, r->buf + r->len, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        set_err(r->err, sizeof r->err, "%s: read error: %s", r->path, strerror(errno));
        return LD_TEXT_EIO;
      }
      if (n == 0) r->eof = 1;
      r->len += (size_t)n;
    }
  }
  return 0;
}

/* Makes room for at least one more line entry. */
static int grow_lines(ld_textreader *r) {
  size_t ncap = r->lcap * 2;
  uint32_t *s = realloc(r->starts, ncap * sizeof *s);
  if (s == NULL) return LD_TEXT_ENOMEM;
  r->starts = s;
  uint32_t *l = realloc(r->lens, ncap * sizeof *l);
  if (l == NULL) return LD_TEXT_ENOMEM;
  r->lens = l;
  r->lcap = ncap;
  return 0;
}

/* Drops buf[0..off) and moves the rest to the front. */
static void compact(ld_textreader *r) {
  if (r->off == 0) return;
  size_t rest = r->len - r->off;
  if (rest > 0) memmove(r->buf, r->buf + r->off, rest);
  r->pos += (int64_t)r->off;
  r->len = rest;
  r->off = 0;
}

static int64_t fail(ld_textreader *r, int code) {
  if (code == LD_TEXT_ENOMEM) set_err(r->err, sizeof r->err, "%s: out of memory", r->path);
  r->done = 1;
  return code;
}

int64_t ld_textreader_next(ld_textreader *r, const char **data, const uint32_t **starts,
                           const uint32_t **lens) {
  *data = NULL;
  *starts = NULL;
  *lens = NULL;
  if (r->done) return 0;
  compact(r);
  int rc;
  while (r->skip_first) {
    if ((rc = fill(r)) < 0) return fail(r, rc);
    const char *nl = memchr(r->buf, '\n', r->len);
    if (nl != NULL) {
      r->off = (size_t)(nl - r->buf) + 1;
      r->skip_first = 0;
      compact(r);
    } else {
      r->off = r->len;
      compact(r);
      if (r->eof) {
        r->done = 1;
        return 0;
      }
    }
  }
  size_t n = 0, s = 0, scan = 0;
  for (;;) {
    if ((rc = fill(r)) < 0) return fail(r, rc);
    for (;;) {
      if (r->stop >= 0 && r->pos + (int64_t)s >= r->stop) {
        r->done = 1;
        break;
      }
      const char *nl = memchr(r->buf + scan, '\n', r->len - scan);
      size_t e; /* end of the line's content, exclusive */
      size_t next;
      if (nl != NULL) {
        e = (size_t)(nl - r->buf);
        next = e + 1;
      } else if (r->eof) {
        if (s >= r->len) { /* nothing left */
          r->done = 1;
          break;
        }
        e = r->len;
        next = r->len;
      } else {
        scan = r->len;
        break; /* need more bytes */
      }
      if (n == r->lcap && (rc = grow_lines(r)) < 0) return fail(r, rc);
      size_t end = r->strip_eol ? e : next;
      if (r->strip_eol && e > s && nl != NULL && r->buf[e - 1] == '\r') end = e - 1;
      r->starts[n] = (uint32_t)s;
      r->lens[n] = (uint32_t)(end - s);
      n++;
      s = scan = next;
      if (nl == NULL) { /* last line without a newline */
        r->done = 1;
        break;
      }
    }
    if (r->done || n > 0) break;
    /* One line longer than the buffer: grow it and read on. */
    if (r->cap >= (size_t)UINT32_MAX / 2) {
      set_err(r->err, sizeof r->err, "%s: a line at offset %lld is longer than 2 GiB", r->path,
              (long long)r->pos);
      return fail(r, LD_TEXT_EARG);
    }
    char *nb = realloc(r->buf, r->cap * 2);
    if (nb == NULL) return fail(r, LD_TEXT_ENOMEM);
    r->buf = nb;
    r->cap *= 2;
  }
  r->off = s;
  r->lines += (int64_t)n;
  *data = r->buf;
  *starts = r->starts;
  *lens = r->lens;
  return (int64_t)n;
}

int64_t ld_textreader_lines(const ld_textreader *r) { return r->lines; }

const char *ld_textreader_error(const ld_textreader *r) { return r->err; }

void ld_textreader_close(ld_textreader *r) {
  if (r == NULL) return;
  if (r->fd >= 0) close(r->fd);
  if (r->gz != NULL) gzclose(r->gz);
  free(r->buf);
  free(r->starts);
  free(r->lens);
  free(r);
}

int64_t ld_text_count_newlines(const char *path, int64_t upto, char *err, size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return LD_TEXT_EOPEN;
  }
  enum { BUFSZ = 1 << 16 };
  unsigned char *buf = malloc(BUFSZ);
  if (buf == NULL) {
    close(fd);
    set_err(err, errlen, "%s: out of memory", path);
    return LD_TEXT_ENOMEM;
  }
  int64_t count = 0, done = 0;
  while (done < upto) {
    size_t want = (size_t)((upto - done) < BUFSZ ? (upto - done) : BUFSZ);
    ssize_t n = read(fd, buf, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      set_err(err, errlen, "%s: read error: %s", path, strerror(errno));
      free(buf);
      close(fd);
      return LD_TEXT_EIO;
    }
    if (n == 0) break;
    int64_t c = 0;
    for (ssize_t i = 0; i < n; i++) c += buf[i] == '\n';
    count += c;
    done += n;
  }
  free(buf);
  close(fd);
  return count;
}

int ld_text_file_size(const char *path, int64_t *size, char *err, size_t errlen) {
  struct stat st;
  if (stat(path, &st) != 0) {
    set_err(err, errlen, "%s: %s", path, strerror(errno));
    return LD_TEXT_EOPEN;
  }
  if (S_ISDIR(st.st_mode)) {
    set_err(err, errlen, "%s: is a directory", path);
    return LD_TEXT_EOPEN;
  }
  *size = (int64_t)st.st_size;
  return 0;
}

int ld_text_glob(const char *pattern, char **out, size_t *count, char *err, size_t errlen) {
  *out = NULL;
  *count = 0;
  glob_t g;
  memset(&g, 0, sizeof g);
  int rc = glob(pattern, GLOB_MARK, NULL, &g);
  if (rc == GLOB_NOMATCH) {
    globfree(&g);
    set_err(err, errlen, "no file matches '%s'", pattern);
    return LD_TEXT_ENOMATCH;
  }
  if (rc != 0) {
    globfree(&g);
    set_err(err, errlen, "cannot expand '%s': %s", pattern,
            rc == GLOB_NOSPACE ? "out of memory" : "read error");
    return rc == GLOB_NOSPACE ? LD_TEXT_ENOMEM : LD_TEXT_EIO;
  }
  size_t total = 0, n = 0;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    size_t l = strlen(g.gl_pathv[i]);
    if (l > 0 && g.gl_pathv[i][l - 1] == '/') continue; /* directories are marked */
    total += l + 1;
    n++;
  }
  if (n == 0) {
    globfree(&g);
    set_err(err, errlen, "no file matches '%s' (only directories)", pattern);
    return LD_TEXT_ENOMATCH;
  }
  char *block = malloc(total);
  if (block == NULL) {
    globfree(&g);
    set_err(err, errlen, "out of memory expanding '%s'", pattern);
    return LD_TEXT_ENOMEM;
  }
  char *p = block;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    size_t l = strlen(g.gl_pathv[i]);
    if (l > 0 && g.gl_pathv[i][l - 1] == '/') continue;
    memcpy(p, g.gl_pathv[i], l + 1);
    p += l + 1;
  }
  globfree(&g);
  *out = block;
  *count = n;
  return 0;
}

void ld_text_free(void *p) { free(p); }

/* Creates the missing directories above the file PATH (mkdir -p of its
 * dirname, as dask's to_textfiles does). Returns 0, or LD_TEXT_EOPEN with
 * ERR set naming the directory that could not be made. */
static int make_parents(const char *path, char *err, size_t errlen) {
  char dir[4096];
  size_t n = strlen(path);
  if (n >= sizeof dir) {
    set_err(err, errlen, "%s: path too long", path);
    return LD_TEXT_EOPEN;
  }
  memcpy(dir, path, n + 1);
  for (size_t i = 1; i < n; i++) {
    if (dir[i] != '/') continue;
    dir[i] = 0;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
      set_err(err, errlen, "%s: cannot create directory %s: %s", path, dir, strerror(errno));
      return LD_TEXT_EOPEN;
    }
    dir[i] = '/';
  }
  return 0;
}

int ld_textwriter_open(const char *path, int compression, int level, ld_textwriter **out, char *err,
                       size_t errlen) {
  *out = NULL;
  if (compression != LD_TEXT_PLAIN && compression != LD_TEXT_GZIP) {
    set_err(err, errlen, "%s: unknown compression code %d", path, compression);
    return LD_TEXT_EARG;
  }
  if (level < 0 || level > 9) {
    set_err(err, errlen, "%s: gzip level must be 0..9, got %d", path, level);
    return LD_TEXT_EARG;
  }
  int rc = make_parents(path, err, errlen);
  if (rc < 0) return rc;
  ld_textwriter *w = calloc(1, sizeof *w);
  if (w == NULL) {
    set_err(err, errlen, "%s: out of memory", path);
    return LD_TEXT_ENOMEM;
  }
  snprintf(w->path, sizeof w->path, "%s", path);
  if (compression == LD_TEXT_GZIP) {
    char mode[4] = {'w', 'b', (char)('0' + (level ? level : 6)), 0};
    w->gz = gzopen(path, mode);
    if (w->gz == NULL) {
      set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno ? errno : ENOMEM));
      free(w);
      return LD_TEXT_EOPEN;
    }
    gzbuffer(w->gz, 256 * 1024);
  } else {
    w->fp = fopen(path, "wb");
    if (w->fp == NULL) {
      set_err(err, errlen, "%s: cannot create: %s", path, strerror(errno));
      free(w);
      return LD_TEXT_EOPEN;
    }
  }
  *out = w;
  return 0;
}

int ld_textwriter_write(ld_textwriter *w, const char *data, size_t len, char *err, size_t errlen) {
  while (len > 0) {
    if (w->gz != NULL) {
      unsigned part = len > (1u << 30) ? (1u << 30) : (unsigned)len;
      int n = gzwrite(w->gz, data, part);
      if (n <= 0) {
        int code;
        const char *msg = gzerror(w->gz, &code);
        set_err(err, errlen, "%s: gzip write error: %s", w->path,
                code == Z_ERRNO ? strerror(errno) : msg);
        return LD_TEXT_EIO;
      }
      data += n;
      len -= (size_t)n;
    } else {
      size_t n = fwrite(data, 1, len, w->fp);
      if (n < len) {
        set_err(err, errlen, "%s: write error: %s", w->path, strerror(errno));
        return LD_TEXT_EIO;
      }
      len = 0;
    }
  }
  return 0;
}

int ld_textwriter_close(ld_textwriter *w, char *err, size_t errlen) {
  if (w == NULL) return 0;
  int rc = 0;
  if (w->gz != NULL) {
    int z = gzclose(w->gz);
    if (z != Z_OK) {
      set_err(err, errlen, "%s: gzip close error %d", w->path, z);
      rc = LD_TEXT_EIO;
    }
  } else if (w->fp != NULL) {
    if (fclose(w->fp) != 0) {
      set_err(err, errlen, "%s: close error: %s", w->path, strerror(errno));
      rc = LD_TEXT_EIO;
    }
  }
  free(w);
  return rc;
}
