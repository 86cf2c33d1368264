/* h5.h — HDF5 datasets for ldask.array (Debian's libhdf5, serial build):
 * dataset metadata, hyperslab reads into new ndarrays, dataset creation and
 * hyperslab writes. Debian's libhdf5 is not thread-safe, so every HDF5 call
 * of this layer runs under one process-wide mutex; each call opens the file,
 * does its work and closes every handle it opened (on every path), holding
 * an flock on the file meanwhile (shared to read, exclusive to create and
 * write) so processes of a cluster that share the file take turns. HDF5's
 * own file locking is switched off for our opens (ours replaces it).
 *
 * Errors: negative LD_ARR_* codes of array/ndarray.h (one error space), with
 * a message naming the file and the dataset in ld_array_errmsg(). This
 * header does not include hdf5.h: callers (and the Lua ffi) see plain C. */
#ifndef LDASK_H5_H
#define LDASK_H5_H

#include <stdint.h>

#include "array/ndarray.h"

typedef struct ld_h5_info {
  int32_t dtype;             /* the ldask dtype the data reads as */
  int32_t ndim;              /* 0 for a scalar dataset */
  int64_t shape[LD_MAXDIM];  /* dataset extent */
  int64_t chunks[LD_MAXDIM]; /* the dataset's chunk shape when chunked */
  int32_t chunked;           /* 1: chunked layout, 0: contiguous/compact */
  int32_t filtered;          /* 1: the dataset has filters (compression) */
  int64_t raw_offset;        /* >= 0: the data is one contiguous little-endian
                                run of DTYPE's bytes (C order) at this byte
                                offset of the file, readable without HDF5;
                                -1 otherwise */
  char stored[32];           /* the stored type as text, e.g. "int16 (read as int32)" */
} ld_h5_info;

/* Reads the metadata of dataset DSET (absolute path in the file, e.g. "/x")
 * of file PATH into INFO (caller-owned). Types: floats of 2, 4 or 8 bytes
 * (2 reads as float32), signed integers of 1-8 bytes (1 and 2 read as
 * int32), unsigned of 1, 2, 4 bytes (2 as int32, 4 as int64), h5py's bool
 * enum; any byte order. Returns 0, LD_ARR_EIO (missing or unreadable file,
 * not HDF5) or LD_ARR_EINVAL (no such dataset, unsupported type, more than
 * 8 dimensions). Opens and closes everything it uses. */
int ld_h5_info_read(const char *path, const char *dset, ld_h5_info *info);

/* Fills OUT (empty, caller-owned struct) with a new C-contiguous ndarray of
 * INFO->dtype holding the hyperslab of PATH:DSET at START with SHAPE (INFO
 * from ld_h5_info_read; START+SHAPE inside the extent). OUT owns its new
 * buffer on success and stays empty on failure. Returns 0 or a negative
 * code. */
int ld_h5_read(const char *path, const char *dset, const ld_h5_info *info, const int64_t *start,
               const int64_t *shape, ld_ndarray *out);

/* Creates dataset DSET (and its missing parent groups) of DTYPE and SHAPE in
 * PATH (opened read-write when it exists, else created). CHUNKS: the chunk
 * shape (each >= 1, clipped to SHAPE), or NULL for a contiguous dataset
 * whose storage is allocated now (its blocks can then be written without
 * HDF5: INFO->raw_offset). GZIP: deflate level 0-9 (needs CHUNKS), or -1 for
 * none. An existing dataset of the same shape and dtype is reused (h5py's
 * require_dataset, as dask's to_hdf5 does); another one is LD_ARR_EINVAL.
 * Fills INFO (caller-owned) as ld_h5_info_read does. Returns 0 or a negative
 * code. */
int ld_h5_create(const char *path, const char *dset, int dtype, int ndim, const int64_t *shape,
                 const int64_t *chunks, int gzip, ld_h5_info *info);

/* Writes BLOCK (borrowed; any strides and dtype: converted to INFO->dtype
 * first when needed) into PATH:DSET at START (INFO from ld_h5_create or
 * ld_h5_info_read). Returns 0 or a negative code. */
int ld_h5_write(const char *path, const char *dset, const ld_h5_info *info, const int64_t *start,
                const ld_ndarray *block);

#endif
