/* fuzz_npy.c — libFuzzer harness of the .npy header parser
 * (core/io/npy.c): the input is a whole .npy file (in a memfd, read by
 * path as from_npy does). When the header is accepted, the file must hold
 * the data it announces, and a block of the first (at most 2) elements of
 * every axis must read back the file's bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("fuzz.npy", MFD_CLOEXEC);
  fz_check(fd >= 0, "memfd_create");
  fz_check(write(fd, data, size) == (ssize_t)size, "writing the memfd");
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ld_npy_info info;
  if (ld_npy_read_header(path, &info) == 0) {
    fz_check(info.ndim >= 0 && info.ndim <= LD_MAXDIM, "ndim %d", info.ndim);
    fz_check(info.dtype >= 0 && info.dtype < LD_NDTYPES, "dtype %d", info.dtype);
    fz_check(info.data_offset >= 10 && (size_t)info.data_offset <= size, "data offset");
    size_t isz = ld_dtype_size(info.dtype), avail = (size - (size_t)info.data_offset) / isz;
    int64_t start[LD_MAXDIM] = {0}, shape[LD_MAXDIM];
    int empty = 0;
    for (int d = 0; d < info.ndim; d++) empty |= info.shape[d] == 0;
    for (int d = 0; d < info.ndim; d++) {
      fz_check(info.shape[d] >= 0, "axis %d of negative length", d);
      fz_check(empty || (uint64_t)info.shape[d] <= avail,
               "axis %d of %lld elements in a file of %zu", d, (long long)info.shape[d], avail);
      shape[d] = info.shape[d] < 2 ? info.shape[d] : 2;
    }
    ld_ndarray out;
    if (ld_npy_read_block(path, &info, start, shape, &out) == 0) {
      /* element (i0, i1, ...) of the block is element at sum(i_d * gstride_d) */
      int64_t n = 1, gstr[LD_MAXDIM], s = 1;
      for (int d = info.ndim - 1; d >= 0; d--)
        gstr[d] = s, __builtin_mul_overflow(s, info.shape[d], &s); /* wraps: see npy.c */
      for (int d = 0; d < info.ndim; d++) n *= shape[d];
      const char *got = ld_nd_data(&out);
      int64_t idx[LD_MAXDIM] = {0};
      for (int64_t e = 0; e < n; e++) {
        int64_t at = 0, bo = 0;
        for (int d = 0; d < info.ndim; d++) at += idx[d] * gstr[d], bo += idx[d] * out.strides[d];
        fz_check(
            memcmp(got + bo * (int64_t)isz, data + info.data_offset + at * (int64_t)isz, isz) == 0,
            "element %lld reads other bytes than the file's", (long long)e);
        for (int d = info.ndim - 1; d >= 0; d--) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
      ld_nd_clear(&out);
    }
  }
  close(fd);
  return 0;
}
