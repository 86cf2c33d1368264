/* csvblock.h — one line-aligned block of a CSV file in memory (see
 * csvblock.c): the bytes [begin, end) of BUF are the block's whole lines.
 * BUF is a mapping of the file (MAP_LEN > 0) or malloc'ed memory with 64
 * zero bytes after END; readers must not rely on either. */
#ifndef LDASK_CSVBLOCK_H
#define LDASK_CSVBLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef struct ld_csv_block {
  char *buf;      /* owned by the block (ld_csv_block_free) */
  size_t map_len; /* > 0: BUF is a mapping of this length */
  size_t begin, end;
} ld_csv_block;

/* Loads the lines of PATH starting in [START, STOP) (STOP < 0: to the end;
 * gzip: 0, -1, the whole file inflated). Returns 0 or a negative
 * LD_TEXT_E* code with a message in ERR. */
int ld_csv_load_block(const char *path, int compression, int64_t start, int64_t stop,
                      ld_csv_block *b, char *err, size_t errlen);

/* Frees the block's buffer. */
void ld_csv_block_free(ld_csv_block *b);

#endif
