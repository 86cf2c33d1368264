/* names.c — validation of names that reach file paths (see names.h). */
#include "util/names.h"

#include <stdio.h>

int ld_valid_file_name(const char *name, size_t len, char *err, size_t errlen) {
  const char *why = NULL;
  if (len == 0)
    why = "it is empty";
  else if (len > 200)
    why = "it is longer than 200 bytes";
  for (size_t i = 0; why == NULL && i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
             (i > 0 && c >= '0' && c <= '9');
    if (!ok)
      why = i == 0 && c >= '0' && c <= '9' ? "it starts with a digit"
                                           : "it has a byte other than a letter, a "
                                             "digit or '_'";
  }
  if (why == NULL) return 1;
  if (err)
    snprintf(err, errlen, "'%.*s' is not a module name (%s; NAME must be a Lua identifier)",
             (int)(len > 60 ? 60 : len), name, why);
  return 0;
}
