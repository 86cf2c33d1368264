/* zarr.h — chunk files of zarr v2 directory stores for ldask.array: one
 * chunk file decoded into an ndarray (decompressed with libblosc or zlib,
 * byte-swapped from big-endian, viewed in Fortran order when the store says
 * so) and an ndarray encoded into one chunk file (written to a temporary
 * file and renamed, so readers never see half a chunk). The .zarray
 * metadata is parsed and bounded by the Lua side (lua/ldask/array/zarr.lua);
 * these functions trust only what ld_zarr_meta says and check every chunk
 * file against it (sizes, blosc header), naming the file on error.
 * Errors: the negative LD_ARR_* codes of array/ndarray.h with a message in
 * ld_array_errmsg(). */
#ifndef LDASK_ZARR_H
#define LDASK_ZARR_H

#include <stdint.h>

#include "array/ndarray.h"

enum { LD_ZARR_NONE = 0, LD_ZARR_BLOSC = 1, LD_ZARR_ZLIB = 2, LD_ZARR_GZIP = 3 };

/* The largest chunk (decoded bytes) this layer handles: blosc's limit. */
#define LD_ZARR_MAX_CHUNK_BYTES 2147483000LL

typedef struct ld_zarr_meta {
  int32_t dtype;             /* ldask dtype of the values */
  int32_t swap;              /* 1: stored big-endian (bytes swapped on both ways) */
  int32_t fortran;           /* 1: chunk bytes in Fortran (column-major) order */
  int32_t ndim;              /* 0 for a 0-d array (one chunk "0") */
  int64_t chunks[LD_MAXDIM]; /* chunk shape, each >= 1 */
  int32_t codec;             /* LD_ZARR_* */
  int32_t level;             /* compression level (blosc clevel 0-9, zlib -1..9) */
  int32_t shuffle;           /* blosc: 0 none, 1 byte, 2 bit, -1 bit for 1-byte items else byte */
  int32_t blocksize;         /* blosc: 0 automatic */
  char cname[16];            /* blosc compressor name: lz4, lz4hc, blosclz, zstd, zlib */
} ld_zarr_meta;

/* Reads chunk file PATH of a store described by M into OUT (empty,
 * caller-owned struct): a new ndarray of M->dtype and M's chunk shape (a
 * Fortran-order view when M->fortran). Returns 0; 1 when PATH does not
 * exist (a missing chunk: the caller uses the fill value; OUT stays empty);
 * or a negative code (corrupt or truncated chunk, I/O error) with a message
 * naming PATH, OUT empty. */
int ld_zarr_read_chunk(const char *path, const ld_zarr_meta *m, ld_ndarray *out);

/* Writes CHUNK (borrowed; M's chunk shape, any strides and dtype: converted
 * to M->dtype) as chunk file PATH of a store described by M: encoded in M's
 * order and byte order, compressed with M's codec, written to PATH.tmp.<pid>
 * then renamed to PATH. Missing parent directories are created. Returns 0
 * or a negative code with a message naming PATH. */
int ld_zarr_write_chunk(const char *path, const ld_zarr_meta *m, const ld_ndarray *chunk);

/* Creates directory PATH and its missing parents (mode 0777 & ~umask).
 * Returns 0 or LD_ARR_EIO naming the directory that could not be made. */
int ld_zarr_mkdirs(const char *path);

#endif
