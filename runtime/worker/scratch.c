/* scratch.c — ldask-worker's scratch directories: where spill files
 * (spill.c) and uploaded modules (requests.c) go, each in a fresh
 * directory of its own under --local-directory, else $TMPDIR, else /tmp. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

const char *wk_scratch_base(const wk_state *w) {
  const char *base = w->local_dir;
  if (base == NULL) base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  return base;
}

char *wk_fresh_dir(const char *base, const char *prefix) {
  size_t n = strlen(base) + strlen(prefix) + sizeof "/-XXXXXX";
  char *dir = malloc(n);
  if (dir == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  snprintf(dir, n, "%s/%s-XXXXXX", base, prefix);
  if (mkdtemp(dir) == NULL) {
    int e = errno;
    free(dir);
    errno = e;
    return NULL;
  }
  return dir;
}
