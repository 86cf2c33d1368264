/* common.h — helpers shared by the libFuzzer harnesses of fuzz/: a cursor
 * over the fuzz input (structured inputs are read from it field by field;
 * past the end every read gives zeros / empty slices, never an error) and
 * a check that aborts with a message (a harness invariant broken: libFuzzer
 * saves the input as a crash). See docs/fuzzing.md. */
#ifndef LDASK_FUZZ_COMMON_H
#define LDASK_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct fz_in {
  const uint8_t *p;
  size_t n;
} fz_in;

uint8_t fz_u8(fz_in *in);
uint16_t fz_u16(fz_in *in); /* little endian */
/* Takes up to N bytes (fewer at the end); *OUT points into the input. */
size_t fz_take(fz_in *in, size_t n, const uint8_t **out);

/* Aborts with MSG (printf format) when COND is false. */
void fz_check(int cond, const char *fmt, ...);

/* connect / accept that ride out EINTR (libFuzzer's timer signals).
 * Return what connect / accept return. */
int fz_connect(int fd, const struct sockaddr *sa, socklen_t len);
int fz_accept(int lfd);

/* Defined by each harness (libFuzzer's entry points). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
