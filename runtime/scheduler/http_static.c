/* http_static.c — the dashboard's pages and static files from the
 * installed folder (share/ldask/dashboard): finding the folder, refusing
 * paths that could leave it, the Content-Type by extension. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_impl.h"

/* ---- static files ---- */

static const char *content_type(const char *name) {
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  const char *dot = strrchr(base, '.');
  if (dot == NULL)
    return strcmp(base, "LICENSE") == 0 ? "text/plain; charset=utf-8" : "application/octet-stream";
  static const char *const map[][2] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(dot, map[i][0]) == 0) return map[i][1];
  return "application/octet-stream";
}

/* Whether REL (decoded) is a safe path inside the folder: not empty, not
 * absolute, no NUL or backslash, no segment that is empty or starts with
 * '.' (so no "..", no hidden files). */
int h_safe_rel(const char *rel, size_t len) {
  if (len == 0 || rel[0] == '/' || memchr(rel, '\0', len) || memchr(rel, '\\', len)) return 0;
  const char *seg = rel;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || rel[i] == '/') {
      if (rel + i == seg || seg[0] == '.') return 0;
      seg = rel + i + 1;
    }
  }
  return 1;
}

void h_serve_file(hconn *c, const char *rel) {
  sc_http *h = c->srv;
  if (!h->have_static) {
    char msg[1400];
    snprintf(msg, sizeof msg,
             "500: the dashboard's pages are not installed: no folder at %s "
             "(set LDASK_DASHBOARD_DIR, or run make install); the JSON API at /api/v1/ works\n",
             h->looked);
    h_respond_text(c, 500, msg);
    return;
  }
  char path[PATH_MAX * 2];
  snprintf(path, sizeof path, "%s/%s", h->static_dir, rel);
  FILE *f = fopen(path, "rb");
  struct stat sb;
  if (f == NULL || fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > H_FILE_MAX) {
    if (f) fclose(f);
    h_respond_text(c, 404, "404: no such file in the dashboard\n");
    return;
  }
  char *data = malloc((size_t)sb.st_size + 1);
  size_t n = data ? fread(data, 1, (size_t)sb.st_size, f) : 0;
  fclose(f);
  if (data == NULL || n != (size_t)sb.st_size) {
    free(data);
    h_respond_text(c, 500, "500: cannot read the file\n");
    return;
  }
  h_respond(c, 200, content_type(rel), data, n, NULL, 0);
  free(data);
}

int sc_http_find_static(char *out, size_t outlen) {
  const char *env = getenv("LDASK_DASHBOARD_DIR");
  struct stat sb;
  if (env && *env) {
    snprintf(out, outlen, "%s", env);
    return stat(env, &sb) == 0 && S_ISDIR(sb.st_mode) ? 0 : -1;
  }
  char dir[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
  if (n <= 0) {
    snprintf(out, outlen, "(the program's location is unknown)");
    return -1;
  }
  dir[n] = '\0';
  char looked[1024] = "";
  static const char *const rels[] = {"share/ldask/dashboard", "share/lua/5.1/ldask/dashboard"};
  for (int up = 0; up < 5; up++) {
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) break;
    *slash = '\0'; /* bin/ldask-scheduler -> bin -> prefix -> ... */
    if (up == 0) continue;
    for (int r = 0; r < 2; r++) {
      char probe[PATH_MAX + 64];
      snprintf(probe, sizeof probe, "%s/%s", dir, rels[r]);
      if (stat(probe, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(out, outlen, "%s", probe);
        return 0;
      }
      if (up == 1 && r == 0) snprintf(looked, sizeof looked, "%.900s", probe);
    }
  }
  snprintf(out, outlen, "%s (and the same under the folders above it)", looked);
  return -1;
}
