/* size.c — byte sizes from command lines (see size.h). */
#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int ld_parse_size(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || errno || !(v >= 0)) return -1;
  while (isspace((unsigned char)*end)) end++;
  static const struct {
    const char *suffix;
    double mult;
  } units[] = {{"", 1},
               {"b", 1},
               {"kb", 1e3},
               {"mb", 1e6},
               {"gb", 1e9},
               {"tb", 1e12},
               {"kib", 1024.0},
               {"mib", 1048576.0},
               {"gib", 1073741824.0},
               {"tib", 1099511627776.0},
               {"k", 1e3},
               {"m", 1e6},
               {"g", 1e9}};
  char low[8];
  size_t n = strlen(end);
  if (n >= sizeof low) return -1;
  for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)end[i]);
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(low, units[i].suffix) == 0) {
      double bytes = v * units[i].mult;
      if (!(bytes < 9.2e18)) return -1; /* also NaN: no int64 for it */
      *out = (int64_t)bytes;
      return 0;
    }
  }
  return -1;
}
