/* recycle.c — ldask-worker's records of the loop thread (tasks and data
 * entries, store.c) come from free lists by size class instead of malloc
 * each: a task's record is freed and another one of the same size made
 * many thousands of times a second, and glibc's allocator spends more on
 * that than the rest of the record's handling. Loop thread only. Under
 * AddressSanitizer every record goes to malloc and free (use after free
 * stays detected). */
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define CLASS_BYTES 64       /* size classes: multiples of this */
#define NCLASS 16            /* up to NCLASS * CLASS_BYTES bytes; larger: malloc */
#define KEEP_BYTES (8 << 20) /* what the lists hold at most, in all */

#if defined(__SANITIZE_ADDRESS__)
#define RECYCLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECYCLE 0
#endif
#endif
#ifndef RECYCLE
#define RECYCLE 1
#endif

/* Each record is preceded by its class (0: from malloc, not kept). */
typedef union rec_head {
  size_t cls;
  union rec_head *next; /* in a free list */
  max_align_t align;
} rec_head;

static rec_head *lists[NCLASS + 1];
static size_t kept; /* bytes in the lists */

void *wk_rec_alloc(size_t size) {
  size_t cls = RECYCLE ? (size + CLASS_BYTES - 1) / CLASS_BYTES : 0;
  if (cls > NCLASS) cls = 0;
  rec_head *h = cls ? lists[cls] : NULL;
  if (h != NULL) {
    lists[cls] = h->next;
    kept -= cls * CLASS_BYTES;
    memset(h + 1, 0, cls * CLASS_BYTES);
  } else {
    h = calloc(1, sizeof *h + (cls ? cls * CLASS_BYTES : size));
    if (h == NULL) return NULL;
  }
  h->cls = cls;
  return h + 1;
}

void wk_rec_free(void *p) {
  if (p == NULL) return;
  rec_head *h = (rec_head *)p - 1;
  size_t cls = h->cls;
  if (cls == 0 || kept + cls * CLASS_BYTES > KEEP_BYTES) {
    free(h);
    return;
  }
  h->next = lists[cls];
  lists[cls] = h;
  kept += cls * CLASS_BYTES;
}
