-- ldask.ffi.storage: C declarations of core/io/h5.h (HDF5 datasets) and
-- core/io/zarr.h (zarr v2 chunk coding) for ldask.array.hdf5 and
-- ldask.array.zarr.
local ffi = require "ffi"
require "ldask.ffi.array"

ffi.cdef [[
typedef struct ld_h5_info {
  int32_t dtype;
  int32_t ndim;
  int64_t shape[8];
  int64_t chunks[8];
  int32_t chunked;
  int32_t filtered;
  int64_t raw_offset;
  char stored[32];
} ld_h5_info;
int ld_h5_info_read(const char *path, const char *dset, ld_h5_info *info);
int ld_h5_read(const char *path, const char *dset, const ld_h5_info *info, const int64_t *start,
               const int64_t *shape, ld_ndarray *out);
int ld_h5_create(const char *path, const char *dset, int dtype, int ndim, const int64_t *shape,
                 const int64_t *chunks, int gzip, ld_h5_info *info);
int ld_h5_write(const char *path, const char *dset, const ld_h5_info *info, const int64_t *start,
                const ld_ndarray *block);
typedef struct ld_zarr_meta {
  int32_t dtype;
  int32_t swap;
  int32_t fortran;
  int32_t ndim;
  int64_t chunks[8];
  int32_t codec;
  int32_t level;
  int32_t shuffle;
  int32_t blocksize;
  char cname[16];
} ld_zarr_meta;
int ld_zarr_read_chunk(const char *path, const ld_zarr_meta *m, ld_ndarray *out);
int ld_zarr_write_chunk(const char *path, const ld_zarr_meta *m, const ld_ndarray *chunk);
int ld_zarr_mkdirs(const char *path);
]]

return {
  -- the LD_ZARR_* codec numbers of core/io/zarr.h
  zarr_codec = { none = 0, blosc = 1, zlib = 2, gzip = 3 },
}
