/* zarr.c — zarr v2 chunk files (see zarr.h): decoding with libblosc's and
 * zlib's reentrant calls (blosc_*_ctx, one z_stream per call), so executor
 * threads read and write chunks in parallel without a lock. */
#include "io/zarr.h"

#include <blosc.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "array/kernels.h"

/* Decoded size of one chunk of M in bytes, or -1 when it is out of bounds. */
static int64_t chunk_bytes(const ld_zarr_meta *m) {
  if (m->dtype < 0 || m->dtype >= LD_NDTYPES || m->ndim < 0 || m->ndim > LD_MAXDIM) return -1;
  int64_t n = (int64_t)ld_dtype_size(m->dtype);
  for (int d = 0; d < m->ndim; d++) {
    if (m->chunks[d] < 1 || m->chunks[d] > LD_ZARR_MAX_CHUNK_BYTES) return -1;
    n *= m->chunks[d];
    if (n > LD_ZARR_MAX_CHUNK_BYTES) return -1;
  }
  return n;
}

static void swap_bytes(char *p, int64_t n, size_t isz) {
  for (int64_t i = 0; i < n; i++, p += isz)
    for (size_t a = 0, b = isz - 1; a < b; a++, b--) {
      char t = p[a];
      p[a] = p[b];
      p[b] = t;
    }
}

/* Reads exactly N bytes of FD at offset 0 into BUF. Returns 0 or -1. */
static int read_all(int fd, char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

/* Inflates SRC (zlib or gzip stream) into exactly N bytes at DST. */
static int inflate_exact(const char *src, size_t sn, char *dst, size_t n, int gzip) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, gzip ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK) return -1;
  z.next_in = (Bytef *)src;
  z.avail_in = (uInt)sn;
  z.next_out = (Bytef *)dst;
  z.avail_out = (uInt)n;
  int rc = inflate(&z, Z_FINISH);
  int ok = rc == Z_STREAM_END && z.total_out == n;
  inflateEnd(&z);
  return ok ? 0 : -1;
}

/* Makes OUT's F-order layout: the C array of reversed shape, transposed. */
static void to_fortran_view(ld_ndarray *out) {
  for (int a = 0, b = out->ndim - 1; a < b; a++, b--) {
    int64_t s = out->shape[a], t = out->strides[a];
    out->shape[a] = out->shape[b], out->strides[a] = out->strides[b];
    out->shape[b] = s, out->strides[b] = t;
  }
}

int ld_zarr_read_chunk(const char *path, const ld_zarr_meta *m, ld_ndarray *out) {
  int64_t nbytes = chunk_bytes(m);
  if (nbytes < 0) return ld_array_error(LD_ARR_EINVAL, "zarr: %s: bad chunk shape or dtype", path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return 1;
    return ld_array_error(LD_ARR_EIO, "zarr: cannot open chunk %s: %s", path, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return ld_array_error(LD_ARR_EIO, "zarr: cannot stat chunk %s: %s", path, strerror(errno));
  }
  /* a compressed chunk is never much larger than its data (zlib, gzip and
   * blosc add headers and at most a few bytes per 16 KiB) */
  int64_t most = m->codec == LD_ZARR_NONE ? nbytes : nbytes + nbytes / 8 + 1024;
  if ((m->codec == LD_ZARR_NONE && st.st_size != nbytes) || st.st_size > most) {
    close(fd);
    return ld_array_error(LD_ARR_EINVAL,
                          "zarr: corrupt chunk %s: %lld bytes for a chunk of %lld bytes", path,
                          (long long)st.st_size, (long long)nbytes);
  }
  int64_t shape[LD_MAXDIM];
  for (int d = 0; d < m->ndim; d++) shape[d] = m->chunks[m->fortran ? m->ndim - 1 - d : d];
  int rc = ld_nd_alloc(out, m->dtype, m->ndim, shape, 0);
  if (rc) {
    close(fd);
    return rc;
  }
  char *dst = ld_nd_data(out), *src = NULL;
  size_t sn = (size_t)st.st_size;
  if (m->codec == LD_ZARR_NONE) {
    rc = read_all(fd, dst, sn);
  } else {
    src = malloc(sn ? sn : 1);
    rc = src ? read_all(fd, src, sn) : -1;
  }
  close(fd);
  const char *why = "short read";
  if (rc == 0 && m->codec == LD_ZARR_BLOSC) {
    size_t dn = 0;
    if (sn < BLOSC_MIN_HEADER_LENGTH || blosc_cbuffer_validate(src, sn, &dn) != 0 ||
        dn != (size_t)nbytes)
      rc = -1, why = "bad blosc header or size";
    else if (blosc_decompress_ctx(src, dst, (size_t)nbytes, 1) != (int)nbytes)
      rc = -1, why = "blosc decompression failed";
  } else if (rc == 0 && (m->codec == LD_ZARR_ZLIB || m->codec == LD_ZARR_GZIP)) {
    if (inflate_exact(src, sn, dst, (size_t)nbytes, m->codec == LD_ZARR_GZIP) != 0)
      rc = -1, why = m->codec == LD_ZARR_GZIP ? "gzip decompression failed or wrong size"
                                              : "zlib decompression failed or wrong size";
  } else if (rc == 0 && m->codec != LD_ZARR_NONE) {
    rc = -1, why = "unknown compressor";
  }
  free(src);
  if (rc != 0) {
    ld_nd_clear(out);
    return ld_array_error(LD_ARR_EINVAL, "zarr: corrupt chunk %s (%s)", path, why);
  }
  size_t isz = ld_dtype_size(m->dtype);
  if (m->swap && isz > 1) swap_bytes(dst, nbytes / (int64_t)isz, isz);
  if (m->dtype == LD_BOOL)
    for (int64_t i = 0; i < nbytes; i++) dst[i] = dst[i] != 0; /* only 0/1 are bools */
  if (m->fortran) to_fortran_view(out);
  return 0;
}

int ld_zarr_mkdirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return ld_array_error(LD_ARR_EINVAL, "zarr: bad directory path");
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    char keep = buf[i];
    buf[i] = 0;
    struct stat st;
    if (mkdir(buf, 0777) != 0 && (errno != EEXIST || stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)))
      return ld_array_error(LD_ARR_EIO, "zarr: cannot create directory %s: %s", buf,
                            errno == EEXIST ? "a file is in the way" : strerror(errno));
    buf[i] = keep;
  }
  return 0;
}

/* Compresses the N bytes at SRC with M's codec into a new malloc'ed buffer
 * (*OUT, *ON; the caller frees it). Returns 0 or -1 with *WHY set. */
static int compress_chunk(const ld_zarr_meta *m, const char *src, size_t n, char **out, size_t *on,
                          const char **why) {
  size_t isz = ld_dtype_size(m->dtype);
  if (m->codec == LD_ZARR_BLOSC) {
    size_t cap = n + BLOSC_MAX_OVERHEAD;
    char *dst = malloc(cap);
    int shuffle = m->shuffle >= 0 ? m->shuffle : (isz == 1 ? BLOSC_BITSHUFFLE : BLOSC_SHUFFLE);
    int r = dst ? blosc_compress_ctx(m->level, shuffle, isz, n, src, dst, cap, m->cname,
                                     (size_t)m->blocksize, 1)
                : -1;
    if (r <= 0) {
      free(dst);
      *why = "blosc compression failed (unknown cname?)";
      return -1;
    }
    *out = dst, *on = (size_t)r;
    return 0;
  }
  z_stream z;
  memset(&z, 0, sizeof z);
  int gzip = m->codec == LD_ZARR_GZIP;
  if (deflateInit2(&z, m->level, Z_DEFLATED, gzip ? 16 + MAX_WBITS : MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    *why = "bad zlib level";
    return -1;
  }
  size_t cap = deflateBound(&z, (uLong)n) + 32;
  char *dst = malloc(cap);
  z.next_in = (Bytef *)src, z.avail_in = (uInt)n;
  z.next_out = (Bytef *)dst, z.avail_out = (uInt)cap;
  int r = dst ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
  size_t total = z.total_out;
  deflateEnd(&z);
  if (r != Z_STREAM_END) {
    free(dst);
    *why = "zlib compression failed";
    return -1;
  }
  *out = dst, *on = total;
  return 0;
}

/* Writes the N bytes at DATA to PATH through a temporary file and a rename;
 * creates PATH's directory when missing. */
static int write_file(const char *path, const char *data, size_t n) {
  static atomic_uint seq;
  char tmp[4200];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%d.%u", path, (int)getpid(), atomic_fetch_add(&seq, 1)) >=
      (int)sizeof tmp)
    return ld_array_error(LD_ARR_EINVAL, "zarr: path too long: %s", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0 && errno == ENOENT) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
      *slash = 0;
      int rc = ld_zarr_mkdirs(dir);
      if (rc) return rc;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  }
  if (fd < 0) return ld_array_error(LD_ARR_EIO, "zarr: cannot write %s: %s", tmp, strerror(errno));
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += (size_t)w;
  }
  int e = errno;
  if (close(fd) != 0 && done == n) done = n + 1, e = errno;
  if (done != n) {
    unlink(tmp);
    return ld_array_error(LD_ARR_EIO, "zarr: writing chunk %s failed: %s", path, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    e = errno;
    unlink(tmp);
    return ld_array_error(LD_ARR_EIO, "zarr: cannot rename %s to %s: %s", tmp, path, strerror(e));
  }
  return 0;
}

int ld_zarr_write_chunk(const char *path, const ld_zarr_meta *m, const ld_ndarray *chunk) {
  int64_t nbytes = chunk_bytes(m);
  if (nbytes < 0) return ld_array_error(LD_ARR_EINVAL, "zarr: %s: bad chunk shape or dtype", path);
  if (chunk->ndim != m->ndim)
    return ld_array_error(LD_ARR_EINVAL, "zarr: %s: a %d-d chunk for a %d-d array", path,
                          chunk->ndim, m->ndim);
  for (int d = 0; d < m->ndim; d++)
    if (chunk->shape[d] != m->chunks[d])
      return ld_array_error(LD_ARR_EINVAL, "zarr: %s: chunk of size %lld on axis %d, not %lld",
                            path, (long long)chunk->shape[d], d, (long long)m->chunks[d]);
  /* the values in the store's order: Fortran order is the C order of the
   * transposed view */
  ld_ndarray view = *chunk, tmp = {0};
  view.buf = NULL;
  if (m->fortran) to_fortran_view(&view);
  view.buf = chunk->buf;
  int rc = ld_nd_astype(&view, m->dtype, &tmp);
  if (rc) return rc;
  char *data = ld_nd_data(&tmp), *packed = NULL;
  size_t isz = ld_dtype_size(m->dtype), n = (size_t)nbytes;
  if (m->swap && isz > 1) swap_bytes(data, nbytes / (int64_t)isz, isz);
  const char *why = NULL;
  if (m->codec != LD_ZARR_NONE) {
    if (compress_chunk(m, data, n, &packed, &n, &why) != 0) {
      ld_nd_clear(&tmp);
      return ld_array_error(LD_ARR_EINVAL, "zarr: %s: %s", path, why);
    }
  }
  rc = write_file(path, packed ? packed : data, n);
  free(packed);
  ld_nd_clear(&tmp);
  return rc;
}
