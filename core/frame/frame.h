/* frame.h — the column kernels of ldask.dataframe: the column type codes,
 * CSV blocks parsed straight into typed columns (csv.c), and the
 * partition kernels (group.c: factorize, hash aggregation, argsort; ops.c:
 * take, masks, datetime fields, string compares). A column is numeric data
 * (int64, float64, bool as uint8, datetime as int64 ns with NaT = INT64_MIN)
 * or strings (int64 offsets + bytes, or int32 dictionary codes into
 * categories stored the same way). Missing values: NaN for float64, NaT for
 * datetime, a validity byte mask (1 = present) for the others; dictionary
 * codes use -1. See docs/dataframe.md.
 *
 * Ownership: kernels read borrowed arrays and write caller-owned outputs
 * unless a function says it returns new ld_buffers (then the caller owns one
 * reference to each). */
#ifndef LDASK_FRAME_H
#define LDASK_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "util/buffer.h"

enum {
  LD_COL_F64 = 0,
  LD_COL_I64 = 2,
  LD_COL_BOOL = 5,
  LD_COL_DT = 16,
  LD_COL_STR = 17,
  LD_COL_AUTO = 18 /* inference only */
};

#define LD_NAT INT64_MIN

/* One output column of a CSV block. TYPE is set by the caller; the rest is
 * filled by ld_csv_read, each buffer a new reference owned by the caller
 * (NULL when absent). */
typedef struct ld_csv_out {
  int32_t type;       /* LD_COL_*: F64, I64, BOOL, DT or STR */
  int32_t dict;       /* out (STR): 1 = dictionary form */
  ld_buffer *data;    /* values; STR plain: bytes; STR dict: int32 codes */
  ld_buffer *offsets; /* STR: int64 offsets (plain: n + 1; dict: ncats + 1) */
  ld_buffer *cats;    /* STR dict: the categories' bytes */
  ld_buffer *valid;   /* NULL (all present) or n bytes (I64, BOOL, STR plain) */
  int64_t ncats;      /* STR dict: number of categories */
  int64_t nbytes;     /* STR: bytes used in data (plain) or cats (dict) */
} ld_csv_out;

/* A block of a CSV file and what to read from it. */
typedef struct ld_csv_spec {
  const char *path;
  int32_t compression;   /* LD_TEXT_PLAIN or LD_TEXT_GZIP */
  int64_t start, stop;   /* byte range (gzip: 0, -1) */
  int32_t sep, quote;    /* bytes */
  int32_t skip_header;   /* drop the first line of the block */
  int32_t nfields;       /* fields a line should have (0: unchecked) */
  int32_t ncols;         /* output columns */
  const int32_t *fields; /* ncols field indices (0-based), increasing */
  ld_csv_out *out;       /* ncols outputs */
  const char *na;        /* NUL-separated missing-value strings, ends with "" */
  int32_t dict_max;      /* strings: keep the dictionary form up to this many categories */
  /* results */
  int64_t nrows;
  int64_t err_line; /* error: 0-based line of the block (the header counts) */
  int32_t err_col;  /* error: output column index, -1 when not about one */
  char err_value[200];
  char err[512];
} ld_csv_spec;

enum { LD_CSV_EVALUE = -10, LD_CSV_EFIELDS = -11 };

/* Parses the block S describes into S->out. Returns 0, a negative
 * LD_TEXT_E* code (S->err says what) or LD_CSV_EVALUE (S->err_line,
 * err_col, err_value say where) or LD_CSV_EFIELDS (a line with too many
 * fields). On failure no output buffer is left in S->out. */
int ld_csv_read(ld_csv_spec *s);

/* Infers a type per field from the first MAXLINES lines of the block S
 * describes (S->fields, out and ncols unused): TYPES[f] for f < NFIELDS is
 * I64, F64 (int with missing values, as pandas), BOOL, DT (only where
 * TYPES[f] comes in as LD_COL_DT: parse_dates) or STR. A column with no
 * value in the sample is F64. Returns the number of lines seen or < 0. */
int64_t ld_csv_infer(ld_csv_spec *s, int64_t maxlines, int32_t nfields, int32_t *types);

/* Parses the decimal number in [P, P+LEN) (C locale, surrounding blanks
 * allowed): 0 and *OUT or -1. Plain forms on a fast path, the rest through
 * strtod_l. */
int ld_parse_f64(const char *p, size_t len, double *out);

/* The same two with P[LEN] readable and not a digit (a terminator the
 * caller guarantees): the digit loops run without bounds checks. */
int ld_parse_f64_term(const char *p, size_t len, double *out);
int ld_parse_i64_term(const char *p, size_t len, int64_t *out);

/* Parses a decimal integer (optional sign, blanks around): 0 and *OUT or -1
 * (not an integer, or out of the int64 range). */
int ld_parse_i64(const char *p, size_t len, int64_t *out);

/* Parses True/False (also true/false, TRUE/FALSE) into *OUT: 0 or -1. */
int ld_parse_bool(const char *p, size_t len, uint8_t *out);

/* Parses an ISO 8601 date-time "YYYY-MM-DD[( |T)HH:MM[:SS[.fffffffff]]][Z]"
 * into ns since the epoch: 0 or -1. */
int ld_parse_datetime(const char *p, size_t len, int64_t *out);

/* ---- group.c ---------------------------------------------------------- */

/* Factorizes N keys into CODES (group numbers 0.. in order of first
 * appearance; -1 for a missing key) and FIRST (the first row of each
 * group, N entries of room). Returns the number of groups or < 0 (out of
 * memory). _i64: VALID may be NULL; NA_SENTINEL nonzero treats INT64_MIN as
 * missing (datetimes). _f64: NaN is missing. _str: offsets + bytes.
 * _codes: dictionary codes (-1 missing) with NCATS categories. */
int64_t ld_fr_factorize_i64(const int64_t *keys, const uint8_t *valid, int32_t na_sentinel,
                            int64_t n, int64_t *codes, int64_t *first);
int64_t ld_fr_factorize_f64(const double *keys, int64_t n, int64_t *codes, int64_t *first);
int64_t ld_fr_factorize_str(const int64_t *offsets, const char *bytes, const uint8_t *valid,
                            int64_t n, int64_t *codes, int64_t *first);
int64_t ld_fr_factorize_codes(const int32_t *keys, int64_t ncats, int64_t n, int64_t *codes,
                              int64_t *first);

/* Combines two code arrays (NA -1 stays -1) into A*NB + B. */
void ld_fr_codes_combine(const int64_t *a, const int64_t *b, int64_t nb, int64_t n, int64_t *out);

/* Per-group partial aggregates of N values (VTYPE LD_COL_F64, I64, BOOL or
 * DT) under CODES (NULL: one group; code -1 rows are skipped). Missing
 * values (NaN, NaT, VALID 0) are skipped. Outputs have NGROUPS entries and
 * are ACCUMULATED into (initialise them: sums/counts 0, min +inf/INT64_MAX,
 * max -inf/INT64_MIN); any output may be NULL. Integer types fill ISUM,
 * IMIN, IMAX exactly and SUM/SUMSQ as doubles; floats fill SUM, SUMSQ, MIN,
 * MAX. COUNT counts the non-missing values. FIRST/LAST (row numbers, -1
 * initially) record the first and last non-missing row of each group. */
typedef struct ld_fr_aggout {
  double *sum, *sumsq, *min, *max;
  int64_t *isum, *imin, *imax, *count, *first, *last;
} ld_fr_aggout;
void ld_fr_group_agg(const int64_t *codes, int64_t ngroups, int32_t vtype, const void *vals,
                     const uint8_t *valid, int64_t n, ld_fr_aggout *out);

/* Group sizes (rows per code, NA codes skipped) into SIZE (ngroups, added). */
void ld_fr_group_size(const int64_t *codes, int64_t n, int64_t *size);

/* Sorts IDX[0..n) (row numbers) by the keys they point to, ascending,
 * missing keys last. Returns 0 or < 0 (out of memory). */
int ld_fr_argsort_i64(const int64_t *keys, const uint8_t *valid, int64_t n, int64_t *idx);
int ld_fr_argsort_f64(const double *keys, int64_t n, int64_t *idx);
int ld_fr_argsort_str(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                      int64_t *idx);

/* ---- ops.c ------------------------------------------------------------ */

/* Row numbers where MASK (N bytes) is nonzero (and VALID, when given,
 * nonzero) into IDX; returns their count. */
int64_t ld_fr_mask_idx(const uint8_t *mask, const uint8_t *valid, int64_t n, int64_t *idx);

/* DST[i] = SRC[IDX[i]] for items of ITEMSIZE bytes (1, 4 or 8 or any). */
void ld_fr_take(const void *src, size_t itemsize, const int64_t *idx, int64_t n, void *dst);

/* Bytes the strings at IDX take; then the gather into OUT_OFF (n + 1) and
 * OUT_BYTES. */
int64_t ld_fr_str_take_size(const int64_t *offsets, const int64_t *idx, int64_t n);
void ld_fr_str_take(const int64_t *offsets, const char *bytes, const int64_t *idx, int64_t n,
                    int64_t *out_off, char *out_bytes);

/* Decodes dictionary CODES (N, -1 missing) into plain strings: the size,
 * then OUT_OFF (n + 1), OUT_BYTES and OUT_VALID (n bytes). */
int64_t ld_fr_dict_size(const int32_t *codes, const int64_t *cat_off, int64_t n);
void ld_fr_dict_decode(const int32_t *codes, const int64_t *cat_off, const char *cat_bytes,
                       int64_t n, int64_t *out_off, char *out_bytes, uint8_t *out_valid);

/* OUT[i] = 1 when string i equals S (LEN bytes), else 0 (missing: 0). */
void ld_fr_str_eq(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                  const char *s, size_t len, uint8_t *out);
/* The index of category S in a dictionary, -1 when absent. */
int64_t ld_fr_str_find(const int64_t *offsets, const char *bytes, int64_t ncats, const char *s,
                       size_t len);
/* OUT[i] = CODES[i] == CODE. */
void ld_fr_codes_eq(const int32_t *codes, int64_t n, int32_t code, uint8_t *out);

/* Datetime fields of N ns timestamps: FIELD 0 year, 1 month, 2 day, 3 hour,
 * 4 minute, 5 second, 6 dayofweek (Monday 0), 7 date (ns at midnight),
 * 8 floor to UNIT ns. Into IOUT (int64; NaT rows get LD_NAT for 7/8 and 0
 * otherwise) or, when FOUT is given, doubles with NaN for NaT. Returns the
 * number of NaT rows. */
int64_t ld_fr_dt_field(const int64_t *ns, int64_t n, int32_t field, int64_t unit, int64_t *iout,
                       double *fout);

/* Formats ns timestamp V as "YYYY-MM-DD HH:MM:SS[.fffffffff]" (or
 * "YYYY-MM-DD" when DATE_ONLY) into OUT (>= 40 bytes); returns the length. */
int ld_fr_dt_format(int64_t v, int32_t date_only, char *out);

/* ---- str.c ------------------------------------------------------------ */

enum {
  LD_STR_LOWER = 0,
  LD_STR_UPPER = 1,
  LD_STR_STRIP = 2,
  LD_STR_LSTRIP = 3,
  LD_STR_RSTRIP = 4,
  LD_STR_SLICE = 5
};

/* A string transform: MODE (LD_STR_*); strips: CHARS (NCHARS bytes, NULL:
 * whitespace); slice: START, STOP (LD_NAT: None) and STEP (nonzero), in
 * characters, Python's rules. */
typedef struct ld_fr_strmap {
  int32_t mode;
  const char *chars;
  size_t nchars;
  int64_t start, stop, step;
} ld_fr_strmap;

/* Transforms N strings (OFFSETS n + 1, BYTES) by M. With OUT_BYTES NULL it
 * returns the bytes the result needs (OUT_OFF may be NULL too); else it
 * writes OUT_OFF (n + 1) and OUT_BYTES (caller-owned) and returns the size. */
int64_t ld_fr_str_map(const int64_t *offsets, const char *bytes, int64_t n, const ld_fr_strmap *m,
                      int64_t *out_off, char *out_bytes);
/* OUT[i] = characters (UTF-8) of string i. */
void ld_fr_str_len(const int64_t *offsets, const char *bytes, int64_t n, int64_t *out);
/* OUT[i] = string i starts (AT_END: ends) with S (LEN bytes). */
void ld_fr_str_affix(const int64_t *offsets, const char *bytes, int64_t n, const char *s,
                     size_t len, int32_t at_end, uint8_t *out);
/* OUT[i] = string i contains PAT: a literal (REGEX 0) or a POSIX extended
 * regular expression with \d \D \s \S; ICASE ignores case. 0, or -1 with
 * ERR (ERRLEN bytes) saying why (a bad pattern). */
int ld_fr_str_contains(const int64_t *offsets, const char *bytes, int64_t n, const char *pat,
                       size_t len, int32_t regex, int32_t icase, uint8_t *out, char *err,
                       size_t errlen);
/* OUT[i] = MAP[CODES[i]] (-1 stays -1): dictionary codes after categories merged. */
void ld_fr_codes_remap(const int32_t *codes, int64_t n, const int64_t *map, int32_t *out);

/* ---- hash.c ----------------------------------------------------------- */

/* Row hashes of key columns, folded into ACC (N entries; start from zeros,
 * then one call per key column). Missing keys hash alike. _str with
 * ACCUMULATE 0 writes the plain hashes (a dictionary's categories, for
 * _codes: CAT_HASH[code]), so both string forms hash the same. */
void ld_fr_hash_i64(const int64_t *keys, const uint8_t *valid, int64_t n, uint64_t *acc);
void ld_fr_hash_f64(const double *keys, int64_t n, uint64_t *acc);
void ld_fr_hash_str(const int64_t *offsets, const char *bytes, const uint8_t *valid, int64_t n,
                    uint64_t *out, int32_t accumulate);
void ld_fr_hash_codes(const int32_t *codes, int64_t n, const uint64_t *cat_hash, uint64_t *acc);

/* Rows grouped by output partition (HASH % NPARTS), stable: IDX (N row
 * numbers) and BOUNDS (NPARTS + 1): partition p's rows are
 * IDX[BOUNDS[p] .. BOUNDS[p + 1]). Caller-owned outputs. */
void ld_fr_partition_rows(const uint64_t *hash, int64_t n, int32_t nparts, int64_t *idx,
                          int64_t *bounds);

/* ---- join.c ----------------------------------------------------------- */

enum { LD_JOIN_INNER = 0, LD_JOIN_LEFT = 1, LD_JOIN_RIGHT = 2, LD_JOIN_OUTER = 3 };

/* The row pairs of a hash join: LCODES (NL) and RCODES (NR) are group codes
 * of the keys of both sides factorized together (NGROUPS groups; -1, a
 * missing key, matches -1 as in pandas). Writes LIDX/RIDX (-1: no row on
 * that side) in left order (then the unmatched right rows for RIGHT and
 * OUTER) and returns the pair count; with LIDX NULL only counts. < 0: out of
 * memory. Outputs caller-owned. */
int64_t ld_fr_join_pairs(const int64_t *lcodes, int64_t nl, const int64_t *rcodes, int64_t nr,
                         int64_t ngroups, int32_t how, int64_t *lidx, int64_t *ridx);

/* OUT[i] = the number of cut points <= VALS[i] (CUTS sorted, NCUTS of
 * them): range partition numbers; NaN goes last (NCUTS). */
void ld_fr_range_parts(const double *vals, int64_t n, const double *cuts, int64_t ncuts,
                       int64_t *out);
/* The same for strings (byte order; missing last), the cut points a plain
 * string column (CUT_OFF ncuts + 1, CUT_BYTES). */
void ld_fr_range_parts_str(const int64_t *offsets, const char *bytes, const uint8_t *valid,
                           int64_t n, const int64_t *cut_off, const char *cut_bytes, int64_t ncuts,
                           int64_t *out);

#endif
