/* bigbuf.c — huge-page anonymous maps for big ndarray blocks, with a
 * bounded pool of released maps for reuse (see bigbuf.h). */
#include "array/bigbuf.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define ALIGN ((size_t)2 << 20)
#define POOL_SLOTS 8
#define POOL_BYTES ((size_t)256 << 20)

typedef struct {
  void *base; /* the mmap'ed region */
  size_t len; /* its length */
  void *data; /* 2 MiB aligned start inside it */
} big_map;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static big_map *pool[POOL_SLOTS];
static size_t pool_bytes;

static void big_release(void *ctx, void *data, size_t size) {
  (void)data, (void)size;
  big_map *m = ctx;
  pthread_mutex_lock(&pool_lock);
  if (pool_bytes + m->len <= POOL_BYTES) {
    for (int i = 0; i < POOL_SLOTS; i++)
      if (pool[i] == NULL) {
        pool[i] = m;
        pool_bytes += m->len;
        pthread_mutex_unlock(&pool_lock);
        return;
      }
  }
  pthread_mutex_unlock(&pool_lock);
  munmap(m->base, m->len);
  free(m);
}

/* A pooled map of exactly LEN bytes, or NULL. */
static big_map *pool_take(size_t len) {
  big_map *m = NULL;
  pthread_mutex_lock(&pool_lock);
  for (int i = 0; i < POOL_SLOTS; i++)
    if (pool[i] != NULL && pool[i]->len == len) {
      m = pool[i];
      pool[i] = NULL;
      pool_bytes -= len;
      break;
    }
  pthread_mutex_unlock(&pool_lock);
  return m;
}

ld_buffer *ld_bigbuf_new(size_t bytes, int zero) {
  size_t body = (bytes + ALIGN - 1) & ~(ALIGN - 1);
  size_t len = body + ALIGN;
  big_map *m = pool_take(len);
  if (m != NULL) {
    if (zero) memset(m->data, 0, bytes);
  } else {
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return NULL;
    m = malloc(sizeof *m);
    if (m == NULL) {
      munmap(base, len);
      return NULL;
    }
    m->base = base, m->len = len;
    m->data = (void *)(((uintptr_t)base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1));
#ifdef MADV_HUGEPAGE
    madvise(m->data, body, MADV_HUGEPAGE);
#endif
    /* a fresh anonymous map reads as zeros already */
  }
  ld_buffer *b = ld_buffer_wrap(m->data, bytes, big_release, m);
  if (b == NULL) big_release(m, m->data, bytes);
  return b;
}
