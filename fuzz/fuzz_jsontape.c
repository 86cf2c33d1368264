/* fuzz_jsontape.c — libFuzzer harness of the JSON-lines tokenizer
 * (core/io/jsontape.c): the input's lines are tokenized in two calls on
 * one tape (interned strings, shapes and signatures carry over, as they do
 * across a bag's partitions). Checks the tape of every line the tokenizer
 * took: one balanced value, string spans inside the line, interned ids
 * known, object sizes and array lengths equal to what follows, signatures
 * matching the tokens. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "io/jsontape.h"

/* Checks the tokens of one accepted line [A, B) of LEN bytes at START. */
static void check_line(const ld_jsontape *t, size_t a, size_t b, uint32_t start, uint32_t len) {
  int32_t count[LD_JSONTAPE_DEPTH + 2]; /* elements seen in each open container */
  int32_t want[LD_JSONTAPE_DEPTH + 2];
  uint8_t kind[LD_JSONTAPE_DEPTH + 2];
  int depth = 0, values = 0;
  fz_check(b > a, "an accepted line without tokens");
  for (size_t i = a; i < b; i++) {
    uint8_t k = t->kind[i];
    fz_check(k >= LD_JT_OBJ && k <= LD_JT_NULL, "token %zu has kind %d", i, k);
    if (k != LD_JT_END && k != LD_JT_KEY) {
      if (depth == 0)
        values++;
      else
        count[depth]++;
    }
    if (k == LD_JT_KEY || k == LD_JT_STR) {
      if (t->ival[i] >= 0) {
        fz_check((size_t)t->ival[i] < t->nstr, "string id %d of %zu", t->ival[i], t->nstr);
      } else {
        fz_check(t->off[i] >= start && (uint64_t)t->off[i] + t->len[i] <= (uint64_t)start + len,
                 "string span outside its line");
      }
      fz_check(k == LD_JT_STR || (depth > 0 && kind[depth] == LD_JT_OBJ),
               "a key outside an object");
    } else if (k == LD_JT_OBJ || k == LD_JT_ARR) {
      fz_check(depth < LD_JSONTAPE_DEPTH + 1, "nesting deeper than LD_JSONTAPE_DEPTH");
      depth++;
      count[depth] = 0, want[depth] = t->ival[i], kind[depth] = k;
    } else if (k == LD_JT_END) {
      fz_check(depth > 0, "END without an open container");
      fz_check(count[depth] == want[depth], "container of %d elements announced %d", count[depth],
               want[depth]);
      depth--;
    }
  }
  fz_check(depth == 0 && values == 1, "a line is not one balanced value (depth %d, %d values)",
           depth, values);
}

static void check_tape(const ld_jsontape *t, const uint32_t *starts, const uint32_t *lens,
                       size_t n) {
  fz_check(t->line_first[n] == (int32_t)t->ntok, "line_first[n] is not ntok");
  for (size_t i = 0; i < n; i++) {
    if (t->line_first[i] < 0) {
      fz_check(t->line_sig[i] < 0, "a refused line has a signature");
      continue;
    }
    size_t a = (size_t)t->line_first[i], b = t->ntok;
    for (size_t j = i + 1; j <= n; j++)
      if (t->line_first[j] >= 0) {
        b = (size_t)t->line_first[j];
        break;
      }
    fz_check(a <= b && b <= t->ntok, "line tokens out of order");
    check_line(t, a, b, starts[i], lens[i]);
    int32_t g = t->line_sig[i];
    if (g >= 0) {
      fz_check((size_t)g < t->nsig && t->sig_n[g] == b - a, "signature length");
      for (size_t j = a; j < b; j++)
        fz_check(t->sig_codes[t->sig_first[g] + (j - a)] % 16 == t->kind[j], "signature code");
    }
  }
}

static void parse(ld_jsontape *t, const char *data, size_t size) {
  size_t n = 0;
  for (size_t i = 0; i < size; i++) n += data[i] == '\n';
  n++;
  uint32_t *starts = malloc(n * sizeof *starts), *lens = malloc(n * sizeof *lens);
  fz_check(starts && lens, "allocation");
  size_t line = 0, s = 0;
  for (size_t i = 0; i <= size; i++)
    if (i == size || data[i] == '\n') {
      starts[line] = (uint32_t)s, lens[line] = (uint32_t)(i - s), line++;
      s = i + 1;
    }
  if (ld_jsontape_parse(t, data, starts, lens, n) == 0) check_tape(t, starts, lens, n);
  free(starts);
  free(lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Copied so that reads past the end are caught. */
  char *copy = malloc(size ? size : 1);
  fz_check(copy != NULL, "allocation");
  memcpy(copy, data, size);
  ld_jsontape *t = ld_jsontape_new();
  fz_check(t != NULL, "tape allocation");
  size_t half = size / 2;
  while (half < size && copy[half] != '\n') half++;
  parse(t, copy, half);
  if (half < size) parse(t, copy + half + 1, size - half - 1);
  ld_jsontape_free(t);
  free(copy);
  return 0;
}
