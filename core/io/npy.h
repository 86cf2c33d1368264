/* npy.h — NumPy .npy files for ldask.array: header parsing and writing,
 * block reads (a block spanning contiguous bytes is memory-mapped without a
 * copy and unmapped when its last reference goes; other blocks are read
 * with pread), block writes with pwrite so several threads can fill one
 * file. Little-endian, C or Fortran order (ld_npy_info.fortran: the caller
 * reads the C-order array of reversed shape and transposes it); dtypes f8 f4
 * i8 i4 u1 b1. */
#ifndef LDASK_NPY_H
#define LDASK_NPY_H

#include <stdint.h>

#include "array/ndarray.h"

typedef struct ld_npy_info {
  int32_t dtype;
  int32_t ndim;
  int64_t shape[LD_MAXDIM];
  int64_t data_offset; /* bytes from the start of the file */
  int32_t fortran;     /* 1: column-major data (read it as the C-order
                          array of reversed shape, then transpose) */
} ld_npy_info;

/* Reads the header of PATH into INFO. Returns 0, LD_ARR_EIO (cannot open or
 * read, short file) or LD_ARR_EINVAL (not .npy, unsupported dtype, bad
 * shape), with a message naming the file. */
int ld_npy_read_header(const char *path, ld_npy_info *info);

/* Fills OUT (empty) with the block of PATH starting at START with SHAPE
 * (INFO from ld_npy_read_header). When the block is one contiguous byte
 * range it is memory-mapped read-only (OUT's buffer unmaps on release);
 * otherwise it is read into a new buffer. Returns 0 or a negative code. */
int ld_npy_read_block(const char *path, const ld_npy_info *info, const int64_t *start,
                      const int64_t *shape, ld_ndarray *out);

/* Creates (truncates) PATH as a .npy of DTYPE and SHAPE with the data area
 * sized (sparse, zero) so blocks can be written in any order; fills INFO.
 * Returns 0 or a negative code. */
int ld_npy_create(const char *path, int dtype, int ndim, const int64_t *shape, ld_npy_info *info);

/* Writes BLOCK (borrowed, any strides, converted to the file's dtype) at
 * START into the existing file PATH described by INFO. Returns 0 or a
 * negative code. */
int ld_npy_write_block(const char *path, const ld_npy_info *info, const int64_t *start,
                       const ld_ndarray *block);

#endif
