/* h5.c — HDF5 datasets for ldask.array through Debian's libhdf5 (see h5.h):
 * metadata, hyperslab reads and writes, dataset creation. Every call takes
 * the process-wide mutex (libhdf5 is built without thread safety), an flock
 * on the file (processes sharing it take turns), opens what it needs and
 * closes all of it through one cleanup path (call_end). */
#include "io/h5.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array/kernels.h"

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;
static int h5_ready;

/* Everything one call opened; call_end closes what is open (>= 0). */
typedef struct {
  int fd; /* holds the flock */
  hid_t fapl, file, dset, ftype, fspace, mspace, dcpl, lcpl, mtype_owned;
  hid_t mtype; /* memory type (a library constant or mtype_owned) */
} h5_call;

/* Starts a call on PATH: takes the mutex and an flock on PATH (exclusive
 * when WRITE; CREATE creates a missing file). The caller ends it with
 * call_end whatever happens. Returns 0 or a negative code (then the call is
 * already ended). */
static int call_begin(h5_call *c, const char *path, int write, int create) {
  c->fd = -1;
  c->fapl = c->file = c->dset = c->ftype = c->fspace = c->mspace = c->dcpl = c->lcpl =
      c->mtype_owned = H5I_INVALID_HID;
  c->mtype = H5I_INVALID_HID;
  pthread_mutex_lock(&h5_mutex);
  if (!h5_ready) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* errors come back as messages, not prints */
    h5_ready = 1;
  }
  int flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT : 0);
  c->fd = open(path, flags, 0666);
  if (c->fd < 0) {
    int e = errno;
    pthread_mutex_unlock(&h5_mutex);
    return ld_array_error(LD_ARR_EIO, "cannot open %s: %s", path, strerror(e));
  }
  /* Blocks until other processes are done; file systems without flock
   * (ENOLCK, EOPNOTSUPP) are used as they are. */
  while (flock(c->fd, write ? LOCK_EX : LOCK_SH) != 0 && errno == EINTR) {
  }
  c->fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (c->fapl >= 0) {
    H5Pset_file_locking(c->fapl, 0, 1); /* ours replaces HDF5's */
    /* datasets we allocate (64 KiB and more) start on a page: mappable */
    if (write) H5Pset_alignment(c->fapl, 65536, 4096);
  }
  return 0;
}

static void close_id(hid_t *id, herr_t (*fn)(hid_t)) {
  if (*id >= 0) fn(*id);
  *id = H5I_INVALID_HID;
}

/* Closes every handle of C, drops the flock and the mutex. Returns RC. */
static int call_end(h5_call *c, int rc) {
  close_id(&c->mspace, H5Sclose);
  close_id(&c->fspace, H5Sclose);
  close_id(&c->mtype_owned, H5Tclose);
  close_id(&c->ftype, H5Tclose);
  close_id(&c->dcpl, H5Pclose);
  close_id(&c->lcpl, H5Pclose);
  close_id(&c->dset, H5Dclose);
  close_id(&c->file, H5Fclose);
  close_id(&c->fapl, H5Pclose);
  if (c->fd >= 0) {
    flock(c->fd, LOCK_UN);
    close(c->fd);
    c->fd = -1;
  }
  pthread_mutex_unlock(&h5_mutex);
  return rc;
}

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0 && e->desc) snprintf(data, 160, "%s", e->desc);
  return 0;
}

/* The innermost message of HDF5's error stack (under the mutex). */
static const char *h5_reason(char *buf) {
  buf[0] = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, buf);
  H5Eclear2(H5E_DEFAULT);
  return buf[0] ? buf : "unknown HDF5 error";
}

/* Opens PATH as an HDF5 file (read-write when WRITE) into C. */
static int open_file(h5_call *c, const char *path, int write) {
  char why[160];
  if (H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return ld_array_error(LD_ARR_EIO, "%s is not an HDF5 file", path);
  }
  c->file = H5Fopen(path, write ? H5F_ACC_RDWR : H5F_ACC_RDONLY, c->fapl);
  if (c->file < 0) return ld_array_error(LD_ARR_EIO, "cannot open %s: %s", path, h5_reason(why));
  return 0;
}

/* 1 when every link of DSET's path exists in C's file, else 0 with MISSING
 * (size 256) naming the first missing group or dataset. */
static int links_exist(h5_call *c, const char *dset, char *missing) {
  char buf[1024];
  size_t n = strlen(dset);
  if (n == 0 || n >= sizeof buf) {
    snprintf(missing, 256, "%s", n ? "(path too long)" : "(empty path)");
    return 0;
  }
  memcpy(buf, dset, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    char keep = buf[i];
    buf[i] = 0;
    htri_t ok = H5Lexists(c->file, buf, H5P_DEFAULT);
    if (ok <= 0) {
      H5Eclear2(H5E_DEFAULT);
      snprintf(missing, 256, "%s", buf);
      return 0;
    }
    buf[i] = keep;
  }
  return 1;
}

static int open_dataset(h5_call *c, const char *path, const char *dset) {
  char missing[256];
  if (!links_exist(c, dset, missing)) {
    if (strcmp(missing, dset) == 0)
      return ld_array_error(LD_ARR_EINVAL, "%s has no dataset %s", path, dset);
    return ld_array_error(LD_ARR_EINVAL, "%s has no dataset %s (no %s)", path, dset, missing);
  }
  c->dset = H5Dopen2(c->file, dset, H5P_DEFAULT);
  if (c->dset < 0) {
    H5Eclear2(H5E_DEFAULT);
    return ld_array_error(LD_ARR_EINVAL, "%s: %s is not a dataset (a group?)", path, dset);
  }
  return 0;
}

/* The ldask dtype a stored type FT reads as, with the memory type to read it
 * (set in C) and whether the stored bytes are already that dtype's (NATIVE).
 * Returns the dtype, or -1 with DESC saying what the type is. */
static int map_type(h5_call *c, hid_t ft, int *native, char *desc, size_t dn) {
  H5T_class_t cls = H5Tget_class(ft);
  size_t size = H5Tget_size(ft);
  int le = H5Tget_order(ft) == H5T_ORDER_LE;
  *native = 0;
  if (cls == H5T_FLOAT && (size == 8 || size == 4 || size == 2)) {
    snprintf(desc, dn, "float%d%s", (int)size * 8, size == 2 ? " (read as float32)" : "");
    c->mtype = size == 8 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_FLOAT;
    *native = size != 2 && le && H5Tequal(ft, size == 8 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE) > 0;
    return size == 8 ? LD_F64 : LD_F32;
  }
  if (cls == H5T_INTEGER) {
    int sgn = H5Tget_sign(ft) == H5T_SGN_2;
    snprintf(desc, dn, "%sint%d", sgn ? "" : "u", (int)size * 8);
    int dt = -1;
    if (sgn && size == 8) dt = LD_I64, c->mtype = H5T_NATIVE_INT64;
    if (sgn && size == 4) dt = LD_I32, c->mtype = H5T_NATIVE_INT32;
    if (!sgn && size == 1) dt = LD_U8, c->mtype = H5T_NATIVE_UINT8;
    if (dt >= 0) {
      *native = le || size == 1;
      return dt;
    }
    if (size <= 2 || (!sgn && size == 4)) {
      dt = size <= 2 ? LD_I32 : LD_I64;
      c->mtype = dt == LD_I32 ? H5T_NATIVE_INT32 : H5T_NATIVE_INT64;
      size_t k = strlen(desc);
      snprintf(desc + k, dn - k, " (read as %s)", ld_dtype_name(dt));
      return dt;
    }
    return -1; /* uint64: no ldask dtype holds it */
  }
  if (cls == H5T_ENUM && size == 1 && H5Tget_nmembers(ft) == 2) {
    /* h5py's bool: enum FALSE = 0, TRUE = 1 over a one-byte integer */
    char *n0 = H5Tget_member_name(ft, 0), *n1 = H5Tget_member_name(ft, 1);
    int ok = n0 && n1 && strcmp(n0, "FALSE") == 0 && strcmp(n1, "TRUE") == 0;
    signed char v0 = -1, v1 = -1;
    ok = ok && H5Tget_member_value(ft, 0, &v0) >= 0 && H5Tget_member_value(ft, 1, &v1) >= 0 &&
         v0 == 0 && v1 == 1;
    H5free_memory(n0);
    H5free_memory(n1);
    if (ok) {
      c->mtype_owned = H5Tget_native_type(ft, H5T_DIR_ASCEND);
      c->mtype = c->mtype_owned;
      *native = 1;
      snprintf(desc, dn, "bool");
      return c->mtype >= 0 ? LD_BOOL : -1;
    }
  }
  static const char *classes[] = {"integer",  "float",           "time",     "string",
                                  "bitfield", "opaque",          "compound", "reference",
                                  "enum",     "variable-length", "array"};
  snprintf(desc, dn, "%s of %zu bytes",
           cls >= 0 && cls < (int)(sizeof classes / sizeof *classes) ? classes[cls] : "unknown",
           size);
  return -1;
}

/* Fills INFO from the open dataset of C. */
static int fill_info(h5_call *c, const char *path, const char *dset, ld_h5_info *info) {
  char why[160];
  memset(info, 0, sizeof *info);
  info->raw_offset = -1;
  c->ftype = H5Dget_type(c->dset);
  c->fspace = H5Dget_space(c->dset);
  c->dcpl = H5Dget_create_plist(c->dset);
  if (c->ftype < 0 || c->fspace < 0 || c->dcpl < 0)
    return ld_array_error(LD_ARR_EIO, "%s: cannot read the metadata of %s: %s", path, dset,
                          h5_reason(why));
  int native;
  info->dtype = map_type(c, c->ftype, &native, info->stored, sizeof info->stored);
  if (info->dtype < 0)
    return ld_array_error(LD_ARR_EINVAL,
                          "%s: dataset %s has an unsupported dtype: %s (supported: floats, "
                          "integers up to int64 and uint32, h5py's bool)",
                          path, dset, info->stored);
  if (H5Sget_simple_extent_type(c->fspace) == H5S_NULL)
    return ld_array_error(LD_ARR_EINVAL, "%s: dataset %s has no dataspace (H5S_NULL)", path, dset);
  int nd = H5Sget_simple_extent_ndims(c->fspace);
  if (nd < 0 || nd > LD_MAXDIM)
    return ld_array_error(LD_ARR_EINVAL, "%s: dataset %s has %d dimensions (at most %d)", path,
                          dset, nd, LD_MAXDIM);
  hsize_t dims[LD_MAXDIM] = {0}, cdims[LD_MAXDIM] = {0};
  if (nd > 0) H5Sget_simple_extent_dims(c->fspace, dims, NULL);
  info->ndim = nd;
  for (int d = 0; d < nd; d++) {
    if (dims[d] > (hsize_t)INT64_MAX / 16)
      return ld_array_error(LD_ARR_EINVAL, "%s: dataset %s: dimension %d too large", path, dset, d);
    info->shape[d] = (int64_t)dims[d];
  }
  H5D_layout_t layout = H5Pget_layout(c->dcpl);
  info->chunked = layout == H5D_CHUNKED;
  if (info->chunked && nd > 0) {
    if (H5Pget_chunk(c->dcpl, nd, cdims) != nd)
      return ld_array_error(LD_ARR_EIO, "%s: dataset %s: cannot read its chunking", path, dset);
    for (int d = 0; d < nd; d++) info->chunks[d] = (int64_t)cdims[d];
  }
  info->filtered = H5Pget_nfilters(c->dcpl) > 0;
  if (layout == H5D_CONTIGUOUS && !info->filtered && native) {
    /* H5Dget_offset counts from the start of the file (a userblock included) */
    haddr_t off = H5Dget_offset(c->dset);
    hsize_t stored = H5Dget_storage_size(c->dset);
    hsize_t want = ld_dtype_size(info->dtype);
    for (int d = 0; d < nd; d++) want *= dims[d];
    /* (blocks are mapped from there: their elements must be aligned) */
    if (off != HADDR_UNDEF && stored == want && want > 0 && off % ld_dtype_size(info->dtype) == 0)
      info->raw_offset = (int64_t)off;
  }
  H5Eclear2(H5E_DEFAULT);
  return 0;
}

int ld_h5_info_read(const char *path, const char *dset, ld_h5_info *info) {
  h5_call c;
  int rc = call_begin(&c, path, 0, 0);
  if (rc) return rc;
  rc = open_file(&c, path, 0);
  if (!rc) rc = open_dataset(&c, path, dset);
  if (!rc) rc = fill_info(&c, path, dset, info);
  return call_end(&c, rc);
}

static int shape_str(char *buf, size_t n, int nd, const int64_t *s) {
  size_t k = (size_t)snprintf(buf, n, "(");
  for (int d = 0; d < nd && k < n; d++)
    k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)s[d]);
  if (k < n) k += (size_t)snprintf(buf + k, n - k, nd == 1 ? ",)" : ")");
  return (int)k;
}

/* Checks that the region START+SHAPE lies inside INFO's extent. */
static int check_region(const char *path, const char *dset, const ld_h5_info *info, int ndim,
                        const int64_t *start, const int64_t *shape) {
  if (ndim != info->ndim)
    return ld_array_error(LD_ARR_EINVAL, "%s: dataset %s is %d-d, the block %d-d", path, dset,
                          info->ndim, ndim);
  for (int d = 0; d < ndim; d++)
    if (start[d] < 0 || shape[d] < 0 || start[d] > info->shape[d] - shape[d]) {
      char s[200];
      shape_str(s, sizeof s, info->ndim, info->shape);
      return ld_array_error(LD_ARR_EINVAL,
                            "%s: block at %lld of size %lld on axis %d is outside dataset %s of "
                            "shape %s",
                            path, (long long)start[d], (long long)shape[d], d, dset, s);
    }
  return 0;
}

/* Selects the hyperslab START+SHAPE of C's dataset and makes the memory
 * space; checks that the dataset still has INFO's shape and dtype. */
static int select_region(h5_call *c, const char *path, const char *dset, const ld_h5_info *info,
                         const int64_t *start, const int64_t *shape) {
  char desc[32], why[160];
  int native;
  c->ftype = H5Dget_type(c->dset);
  c->fspace = H5Dget_space(c->dset);
  if (c->ftype < 0 || c->fspace < 0)
    return ld_array_error(LD_ARR_EIO, "%s: %s: %s", path, dset, h5_reason(why));
  int dt = map_type(c, c->ftype, &native, desc, sizeof desc);
  int nd = H5Sget_simple_extent_ndims(c->fspace);
  hsize_t dims[LD_MAXDIM] = {0}, hs[LD_MAXDIM], hc[LD_MAXDIM];
  int same = dt == info->dtype && nd == info->ndim;
  if (same && nd > 0) H5Sget_simple_extent_dims(c->fspace, dims, NULL);
  for (int d = 0; same && d < nd; d++) same = (int64_t)dims[d] == info->shape[d];
  if (!same)
    return ld_array_error(LD_ARR_EINVAL,
                          "%s: dataset %s changed (shape or dtype) since the array was made", path,
                          dset);
  for (int d = 0; d < nd; d++) hs[d] = (hsize_t)start[d], hc[d] = (hsize_t)shape[d];
  if (nd > 0 && H5Sselect_hyperslab(c->fspace, H5S_SELECT_SET, hs, NULL, hc, NULL) < 0)
    return ld_array_error(LD_ARR_EIO, "%s: %s: %s", path, dset, h5_reason(why));
  c->mspace = nd > 0 ? H5Screate_simple(nd, hc, NULL) : H5Screate(H5S_SCALAR);
  if (c->mspace < 0) return ld_array_error(LD_ARR_ENOMEM, "%s: %s: %s", path, dset, h5_reason(why));
  return 0;
}

int ld_h5_read(const char *path, const char *dset, const ld_h5_info *info, const int64_t *start,
               const int64_t *shape, ld_ndarray *out) {
  int rc = check_region(path, dset, info, info->ndim, start, shape);
  if (rc) return rc;
  rc = ld_nd_alloc(out, info->dtype, info->ndim, shape, 0);
  if (rc) return rc;
  if (ld_nd_size(out) == 0) return 0;
  h5_call c;
  rc = call_begin(&c, path, 0, 0);
  if (!rc) {
    char why[160];
    rc = open_file(&c, path, 0);
    if (!rc) rc = open_dataset(&c, path, dset);
    if (!rc) rc = select_region(&c, path, dset, info, start, shape);
    if (!rc && H5Dread(c.dset, c.mtype, c.mspace, c.fspace, H5P_DEFAULT, ld_nd_data(out)) < 0)
      rc = ld_array_error(LD_ARR_EIO, "%s: reading dataset %s failed: %s", path, dset,
                          h5_reason(why));
    rc = call_end(&c, rc);
  }
  if (rc) ld_nd_clear(out);
  return rc;
}

/* The stored type of a new dataset of DTYPE (a new type in C->ftype). */
static int make_ftype(h5_call *c, int dtype) {
  static const hid_t *types[] = {&H5T_IEEE_F64LE_g, &H5T_IEEE_F32LE_g, &H5T_STD_I64LE_g,
                                 &H5T_STD_I32LE_g,  &H5T_STD_U8LE_g,   NULL};
  if (dtype == LD_BOOL) {
    signed char f = 0, t = 1;
    c->ftype = H5Tenum_create(H5T_NATIVE_SCHAR);
    if (c->ftype < 0 || H5Tenum_insert(c->ftype, "FALSE", &f) < 0 ||
        H5Tenum_insert(c->ftype, "TRUE", &t) < 0)
      return -1;
    return 0;
  }
  H5open(); /* the H5T_*_g globals are set when the library initialises */
  c->ftype = H5Tcopy(*types[dtype]);
  return c->ftype < 0 ? -1 : 0;
}

int ld_h5_create(const char *path, const char *dset, int dtype, int ndim, const int64_t *shape,
                 const int64_t *chunks, int gzip, ld_h5_info *info) {
  if (dtype < 0 || dtype >= LD_NDTYPES || ndim < 0 || ndim > LD_MAXDIM)
    return ld_array_error(LD_ARR_EINVAL, "bad dtype %d or ndim %d", dtype, ndim);
  if (gzip > 9 || gzip < -1)
    return ld_array_error(LD_ARR_EINVAL, "gzip level %d is not in 0-9", gzip);
  if (gzip >= 0 && !chunks)
    return ld_array_error(LD_ARR_EINVAL, "compression needs a chunked dataset");
  if (ndim == 0 && chunks) return ld_array_error(LD_ARR_EINVAL, "a 0-d dataset cannot be chunked");
  hsize_t dims[LD_MAXDIM], cdims[LD_MAXDIM];
  double cbytes = (double)ld_dtype_size(dtype);
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return ld_array_error(LD_ARR_EINVAL, "negative dimension");
    dims[d] = (hsize_t)shape[d];
    if (chunks) {
      if (chunks[d] < 1)
        return ld_array_error(LD_ARR_EINVAL, "chunk size %lld on axis %d is not >= 1",
                              (long long)chunks[d], d);
      int64_t cd = chunks[d] < shape[d] ? chunks[d] : shape[d];
      cdims[d] = (hsize_t)(cd < 1 ? 1 : cd);
      cbytes *= (double)cdims[d];
    }
  }
  if (chunks && cbytes >= 4294967296.0)
    return ld_array_error(LD_ARR_EINVAL,
                          "HDF5 chunks must be under 4 GiB (%.0f bytes asked): pass "
                          "smaller chunks",
                          cbytes);
  h5_call c;
  int rc = call_begin(&c, path, 1, 1);
  if (rc) return rc;
  char why[160], missing[256];
  struct stat st;
  if (fstat(c.fd, &st) == 0 && st.st_size == 0) {
    c.file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, c.fapl);
    if (c.file < 0)
      return call_end(&c, ld_array_error(LD_ARR_EIO, "cannot create %s: %s", path, h5_reason(why)));
  } else if ((rc = open_file(&c, path, 1)) != 0) {
    return call_end(&c, rc);
  }
  if (links_exist(&c, dset, missing)) {
    rc = open_dataset(&c, path, dset);
    if (!rc) rc = fill_info(&c, path, dset, info);
    int same = !rc && info->dtype == dtype && info->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = info->shape[d] == shape[d];
    if (!rc && !same) {
      char want[200], have[200];
      shape_str(want, sizeof want, ndim, shape);
      shape_str(have, sizeof have, info->ndim, info->shape);
      rc = ld_array_error(LD_ARR_EINVAL,
                          "%s already has dataset %s of shape %s and dtype %s, not %s "
                          "%s (delete it or write another dataset)",
                          path, dset, have, ld_dtype_name(info->dtype), want, ld_dtype_name(dtype));
    }
    return call_end(&c, rc);
  }
  c.lcpl = H5Pcreate(H5P_LINK_CREATE);
  c.dcpl = H5Pcreate(H5P_DATASET_CREATE);
  c.fspace = ndim > 0 ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
  int bad = c.lcpl < 0 || c.dcpl < 0 || c.fspace < 0 || make_ftype(&c, dtype) < 0 ||
            H5Pset_create_intermediate_group(c.lcpl, 1) < 0;
  if (!bad && chunks) {
    bad = H5Pset_chunk(c.dcpl, ndim, cdims) < 0 || (gzip >= 0 && H5Pset_deflate(c.dcpl, gzip) < 0);
  } else if (!bad) {
    bad = H5Pset_layout(c.dcpl, H5D_CONTIGUOUS) < 0 ||
          H5Pset_alloc_time(c.dcpl, H5D_ALLOC_TIME_EARLY) < 0;
  }
  if (!bad) {
    c.dset = H5Dcreate2(c.file, dset, c.ftype, c.fspace, c.lcpl, c.dcpl, H5P_DEFAULT);
    bad = c.dset < 0;
  }
  if (bad)
    return call_end(&c, ld_array_error(LD_ARR_EIO, "cannot create dataset %s in %s: %s", dset, path,
                                       h5_reason(why)));
  close_id(&c.ftype, H5Tclose);
  close_id(&c.fspace, H5Sclose);
  close_id(&c.dcpl, H5Pclose);
  rc = fill_info(&c, path, dset, info);
  if (!rc && H5Fflush(c.file, H5F_SCOPE_GLOBAL) < 0)
    rc = ld_array_error(LD_ARR_EIO, "%s: %s", path, h5_reason(why));
  return call_end(&c, rc);
}

int ld_h5_write(const char *path, const char *dset, const ld_h5_info *info, const int64_t *start,
                const ld_ndarray *block) {
  int rc = check_region(path, dset, info, block->ndim, start, block->shape);
  if (rc) return rc;
  if (ld_nd_size(block) == 0) return 0;
  ld_ndarray tmp = {0};
  const ld_ndarray *src = block;
  if (block->dtype != info->dtype || !ld_nd_is_contiguous(block)) {
    rc = ld_nd_astype(block, info->dtype, &tmp);
    if (rc) return rc;
    src = &tmp;
  }
  h5_call c;
  rc = call_begin(&c, path, 1, 0);
  if (!rc) {
    char why[160];
    rc = open_file(&c, path, 1);
    if (!rc) rc = open_dataset(&c, path, dset);
    if (!rc) rc = select_region(&c, path, dset, info, start, block->shape);
    if (!rc && H5Dwrite(c.dset, c.mtype, c.mspace, c.fspace, H5P_DEFAULT, ld_nd_data(src)) < 0)
      rc = ld_array_error(LD_ARR_EIO, "%s: writing dataset %s failed: %s", path, dset,
                          h5_reason(why));
    rc = call_end(&c, rc);
  }
  ld_nd_clear(&tmp);
  return rc;
}
