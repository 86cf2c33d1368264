/* npy.c — NumPy .npy header parsing/writing, memory-mapped block reads and
 * pwrite block writes (see npy.h). */
#include "io/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array/kernels.h"

static const char *descrs[LD_NDTYPES] = {"<f8", "<f4", "<i8", "<i4", "|u1", "|b1"};

static int parse_descr(const char *d, size_t n) {
  for (int t = 0; t < LD_NDTYPES; t++)
    if (strlen(descrs[t]) == n && memcmp(d, descrs[t], n) == 0) return t;
  if (n == 3 && memcmp(d, "<u1", 3) == 0) return LD_U8;
  if (n == 3 && memcmp(d, "<b1", 3) == 0) return LD_BOOL;
  return -1;
}

/* Finds 'KEY': in H and returns a pointer after the colon and spaces. */
static const char *find_key(const char *h, const char *key) {
  char pat[32];
  snprintf(pat, sizeof pat, "'%s'", key);
  const char *p = strstr(h, pat);
  if (!p) return NULL;
  p += strlen(pat);
  while (*p == ' ' || *p == ':') p++;
  return p;
}

int ld_npy_read_header(const char *path, ld_npy_info *info) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ld_array_error(LD_ARR_EIO, "npy: cannot open %s: %s", path, strerror(errno));
  unsigned char pre[12];
  ssize_t got = pread(fd, pre, sizeof pre, 0);
  if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    close(fd);
    return ld_array_error(LD_ARR_EINVAL, "npy: %s is not a .npy file (bad magic)", path);
  }
  int major = pre[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    hstart = 10;
  } else if ((major == 2 || major == 3) && got >= 12) {
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    hstart = 12;
  } else {
    close(fd);
    return ld_array_error(LD_ARR_EINVAL, "npy: %s: unsupported format version %d", path, major);
  }
  if (hlen > (1u << 20)) {
    close(fd);
    return ld_array_error(LD_ARR_EINVAL, "npy: %s: header too long (%zu bytes)", path, hlen);
  }
  char *h = malloc(hlen + 1);
  if (!h) {
    close(fd);
    return ld_array_error(LD_ARR_ENOMEM, "npy: out of memory");
  }
  got = pread(fd, h, hlen, (off_t)hstart);
  struct stat st;
  int strc = fstat(fd, &st);
  close(fd);
  if (got != (ssize_t)hlen || strc != 0) {
    free(h);
    return ld_array_error(LD_ARR_EIO, "npy: %s: short header", path);
  }
  h[hlen] = 0;
  int rc = 0;
  memset(info, 0, sizeof *info);
  const char *p = find_key(h, "descr");
  const char *q = p && *p == '\'' ? strchr(p + 1, '\'') : NULL;
  if (!q) {
    rc = ld_array_error(LD_ARR_EINVAL, "npy: %s: header has no 'descr'", path);
    goto done;
  }
  info->dtype = parse_descr(p + 1, (size_t)(q - p - 1));
  if (info->dtype < 0) {
    rc = ld_array_error(LD_ARR_EINVAL,
                        "npy: %s: unsupported dtype '%.*s' (supported: <f8 <f4 <i8 <i4 |u1 |b1)",
                        path, (int)(q - p - 1), p + 1);
    goto done;
  }
  p = find_key(h, "fortran_order");
  if (!p || (strncmp(p, "True", 4) != 0 && strncmp(p, "False", 5) != 0)) {
    rc = ld_array_error(LD_ARR_EINVAL, "npy: %s: header has no valid 'fortran_order'", path);
    goto done;
  }
  info->fortran = strncmp(p, "True", 4) == 0;
  p = find_key(h, "shape");
  if (!p || *p != '(') {
    rc = ld_array_error(LD_ARR_EINVAL, "npy: %s: header has no 'shape'", path);
    goto done;
  }
  p++;
  int nd = 0;
  for (;;) {
    while (*p == ' ' || *p == ',') p++;
    if (*p == ')') break;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 0 || errno == ERANGE || nd >= LD_MAXDIM) {
      rc = ld_array_error(LD_ARR_EINVAL, "npy: %s: bad shape in header (or more than %d dims)",
                          path, LD_MAXDIM);
      goto done;
    }
    info->shape[nd++] = v;
    p = end;
    while (*p == 'L') p++;
  }
  info->ndim = nd;
  info->data_offset = (int64_t)(hstart + hlen);
  /* The data's size, refused when it overflows (a shape no file holds). */
  int64_t nbytes = (int64_t)ld_dtype_size(info->dtype), zero = 0;
  for (int d = 0; d < nd; d++) zero |= info->shape[d] == 0;
  for (int d = 0; d < nd && !zero; d++)
    if (__builtin_mul_overflow(nbytes, info->shape[d], &nbytes) ||
        nbytes > INT64_MAX - info->data_offset) {
      rc =
          ld_array_error(LD_ARR_EINVAL, "npy: %s: shape in header is too large for any file", path);
      goto done;
    }
  if (zero) nbytes = 0;
  if ((int64_t)st.st_size < info->data_offset + nbytes)
    rc = ld_array_error(LD_ARR_EIO, "npy: %s: file is shorter (%lld bytes) than its header says",
                        path, (long long)st.st_size);
done:
  free(h);
  return rc;
}

typedef struct {
  void *base;
  size_t len;
} mapping;

static void unmap_release(void *ctx, void *data, size_t size) {
  (void)data, (void)size;
  mapping *m = ctx;
  munmap(m->base, m->len);
  free(m);
}

static int check_block(const char *what, const char *path, const ld_npy_info *info,
                       const int64_t *start, const int64_t *shape, int ndim) {
  if (ndim != info->ndim)
    return ld_array_error(LD_ARR_EINVAL, "%s: %s has %d dims, block has %d", what, path,
                          (int)info->ndim, ndim);
  for (int d = 0; d < ndim; d++)
    if (start[d] < 0 || shape[d] < 0 || start[d] + shape[d] > info->shape[d])
      return ld_array_error(
          LD_ARR_EINVAL, "%s: %s: block [%lld, %lld) out of range 0..%lld at axis %d", what, path,
          (long long)start[d], (long long)(start[d] + shape[d]), (long long)info->shape[d], d);
  return 0;
}

int ld_npy_read_block(const char *path, const ld_npy_info *info, const int64_t *start,
                      const int64_t *shape, ld_ndarray *out) {
  int nd = info->ndim, rc;
  if ((rc = check_block("from_npy", path, info, start, shape, nd)) < 0) return rc;
  size_t isz = ld_dtype_size(info->dtype);
  int64_t gstr[LD_MAXDIM], s = 1;
  /* element strides of the file; they may wrap only when an axis is empty
   * (the header check bounds the others), and are unused then */
  for (int d = nd - 1; d >= 0; d--) gstr[d] = s, __builtin_mul_overflow(s, info->shape[d], &s);
  int64_t total = 1;
  for (int d = 0; d < nd; d++) total = shape[d] == 0 || total == 0 ? 0 : total * shape[d];
  /* contiguous: some axis k with every later axis full and every earlier 1 */
  int contiguous = 1, k = nd - 1;
  while (k > 0 && shape[k] == info->shape[k]) k--;
  for (int d = 0; d < k; d++)
    if (shape[d] != 1) contiguous = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ld_array_error(LD_ARR_EIO, "npy: cannot open %s: %s", path, strerror(errno));
  int64_t first = 0;
  for (int d = 0; d < nd; d++) first += start[d] * gstr[d];
  if (contiguous && total > 0) {
    off_t off = (off_t)(info->data_offset + first * (int64_t)isz);
    long pg = sysconf(_SC_PAGESIZE);
    off_t aligned = off - off % pg;
    size_t len = (size_t)(off - aligned) + (size_t)total * isz;
    /* a file that shrank since its header was read would fault on access */
    struct stat fs;
    if (fstat(fd, &fs) != 0 || fs.st_size < off + (off_t)((size_t)total * isz)) {
      close(fd);
      return ld_array_error(LD_ARR_EIO, "npy: %s is shorter than the array (changed since read?)",
                            path);
    }
    void *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, aligned);
    close(fd);
    if (base == MAP_FAILED)
      return ld_array_error(LD_ARR_EIO, "npy: cannot map %s: %s", path, strerror(errno));
    madvise(base, len, MADV_SEQUENTIAL);
    ld_nd_note_alloc(len);
    mapping *m = malloc(sizeof *m);
    ld_buffer *b =
        m ? ld_buffer_wrap((char *)base + (off - aligned), (size_t)total * isz, unmap_release, m)
          : NULL;
    if (!b) {
      munmap(base, len);
      free(m);
      return ld_array_error(LD_ARR_ENOMEM, "npy: out of memory");
    }
    m->base = base, m->len = len;
    memset(out, 0, sizeof *out);
    out->dtype = info->dtype;
    out->ndim = nd;
    int64_t st = 1;
    for (int d = nd - 1; d >= 0; d--)
      out->shape[d] = shape[d], out->strides[d] = st, st *= shape[d];
    out->buf = b;
    return 0;
  }
  if ((rc = ld_nd_alloc(out, info->dtype, nd, shape, 0)) < 0) {
    close(fd);
    return rc;
  }
  if (total == 0) {
    close(fd);
    return 0;
  }
  int64_t row = nd ? shape[nd - 1] : 1;
  int64_t idx[LD_MAXDIM] = {0};
  char *dst = ld_nd_data(out);
  for (int64_t r = 0; r * row < total; r++) {
    int64_t e = 0;
    for (int d = 0; d < nd; d++) e += (start[d] + idx[d]) * gstr[d];
    size_t want = (size_t)row * isz;
    ssize_t got = pread(fd, dst + (size_t)(r * row) * isz, want,
                        (off_t)(info->data_offset + e * (int64_t)isz));
    if (got != (ssize_t)want) {
      close(fd);
      ld_nd_clear(out);
      return ld_array_error(LD_ARR_EIO, "npy: short read from %s", path);
    }
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  close(fd);
  return 0;
}

int ld_npy_create(const char *path, int dtype, int ndim, const int64_t *shape, ld_npy_info *info) {
  if (dtype < 0 || dtype >= LD_NDTYPES || ndim < 0 || ndim > LD_MAXDIM)
    return ld_array_error(LD_ARR_EINVAL, "to_npy: bad dtype %d or ndim %d", dtype, ndim);
  char dict[512], sh[256];
  size_t k = 0;
  sh[0] = 0;
  for (int d = 0; d < ndim; d++)
    k += (size_t)snprintf(sh + k, sizeof sh - k, "%lld,%s", (long long)shape[d],
                          d + 1 < ndim ? " " : "");
  if (ndim > 1) sh[k - 1] = 0; /* "(2, 3)" not "(2, 3,)" */
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                   descrs[dtype], sh);
  size_t total = 10 + (size_t)n + 1;
  size_t pad = (64 - total % 64) % 64;
  size_t hlen = (size_t)n + pad + 1;
  char *hdr = malloc(10 + hlen);
  if (!hdr) return ld_array_error(LD_ARR_ENOMEM, "to_npy: out of memory");
  memcpy(hdr, "\x93NUMPY\x01\x00", 8);
  hdr[8] = (char)(hlen & 0xff);
  hdr[9] = (char)(hlen >> 8);
  memcpy(hdr + 10, dict, (size_t)n);
  memset(hdr + 10 + n, ' ', pad);
  hdr[10 + hlen - 1] = '\n';
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    free(hdr);
    return ld_array_error(LD_ARR_EIO, "to_npy: cannot create %s: %s", path, strerror(errno));
  }
  int64_t cnt = 1;
  for (int d = 0; d < ndim; d++) cnt *= shape[d];
  ssize_t w = write(fd, hdr, 10 + hlen);
  int trc = ftruncate(fd, (off_t)(10 + hlen + (size_t)cnt * ld_dtype_size(dtype)));
  free(hdr);
  int crc = close(fd);
  if (w != (ssize_t)(10 + hlen) || trc != 0 || crc != 0)
    return ld_array_error(LD_ARR_EIO, "to_npy: cannot write %s: %s", path, strerror(errno));
  memset(info, 0, sizeof *info);
  info->dtype = dtype;
  info->ndim = ndim;
  for (int d = 0; d < ndim; d++) info->shape[d] = shape[d];
  info->data_offset = (int64_t)(10 + hlen);
  return 0;
}

/* pwrite of all N bytes (pwrite may write less, e.g. above 2 GiB). */
static int pwrite_all(int fd, const char *p, size_t n, off_t off) {
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, off);
    if (w <= 0) {
      if (w < 0 && errno == EINTR) continue;
      return -1;
    }
    p += w, n -= (size_t)w, off += w;
  }
  return 0;
}

int ld_npy_write_block(const char *path, const ld_npy_info *info, const int64_t *start,
                       const ld_ndarray *block) {
  int nd = info->ndim, rc;
  if ((rc = ld_nd_check(block, "to_npy")) < 0) return rc;
  if ((rc = check_block("to_npy", path, info, start, block->shape, block->ndim)) < 0) return rc;
  ld_ndarray c = {0};
  if (block->dtype != info->dtype || !ld_nd_is_contiguous(block)) {
    if ((rc = ld_nd_astype(block, info->dtype, &c)) < 0) return rc;
    block = &c;
  }
  size_t isz = ld_dtype_size(info->dtype);
  int64_t gstr[LD_MAXDIM], s = 1;
  /* element strides of the file; they may wrap only when an axis is empty
   * (the header check bounds the others), and are unused then */
  for (int d = nd - 1; d >= 0; d--) gstr[d] = s, __builtin_mul_overflow(s, info->shape[d], &s);
  int64_t total = ld_nd_size(block);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    ld_nd_clear(&c);
    return ld_array_error(LD_ARR_EIO, "to_npy: cannot open %s: %s", path, strerror(errno));
  }
  /* a block covering whole trailing axes is one contiguous byte range */
  int k = nd - 1;
  while (k > 0 && block->shape[k] == info->shape[k]) k--;
  int whole = 1;
  for (int d = 0; d < k; d++)
    if (block->shape[d] != 1) whole = 0;
  int64_t row = nd ? block->shape[nd - 1] : 1;
  if (whole) row = total;
  int64_t idx[LD_MAXDIM] = {0};
  const char *src = ld_nd_data(block);
  rc = 0;
  for (int64_t r = 0; total > 0 && r * row < total; r++) {
    int64_t e = 0;
    for (int d = 0; d < nd; d++) e += (start[d] + idx[d]) * gstr[d];
    size_t want = (size_t)row * isz;
    if (pwrite_all(fd, src + (size_t)(r * row) * isz, want,
                   (off_t)(info->data_offset + e * (int64_t)isz)) != 0) {
      rc = ld_array_error(LD_ARR_EIO, "to_npy: short write to %s: %s", path, strerror(errno));
      break;
    }
    for (int d = nd - 2; d >= 0; d--) {
      if (++idx[d] < block->shape[d]) break;
      idx[d] = 0;
    }
  }
  if (close(fd) != 0 && rc == 0)
    rc = ld_array_error(LD_ARR_EIO, "to_npy: cannot close %s: %s", path, strerror(errno));
  ld_nd_clear(&c);
  return rc;
}
