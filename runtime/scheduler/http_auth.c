/* http_auth.c — the dashboard's token check (docs/dashboard.md): with a
 * cluster token every path but /health needs it, from the cookie set once
 * by ?token=... or the login form, or an "Authorization: Bearer" header
 * (scrapers). The cookie holds a value derived from the token (HMAC), not
 * the token; comparisons take constant time. Also the URL decoding of
 * query strings and forms. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_impl.h"

/* ---- URLs ---- */

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Decodes the N bytes at S (%XX; '+' as space when FORM) into OUT (room
 * for N + 1). Returns the decoded length, or -1 for a bad escape. */
long h_url_decode(const char *s, size_t n, char *out, int form) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      int a = i + 2 < n ? hexval(s[i + 1]) : -1, b = i + 2 < n ? hexval(s[i + 2]) : -1;
      if (a < 0 || b < 0) return -1;
      out[k++] = (char)(a * 16 + b);
      i += 2;
    } else {
      out[k++] = form && s[i] == '+' ? ' ' : s[i];
    }
  }
  out[k] = '\0';
  return (long)k;
}

/* Finds parameter NAME in the query string Q (name=value&...): its raw
 * value and length, or NULL. */
const char *h_query_param(const char *q, const char *name, size_t *len) {
  size_t nl = strlen(name);
  for (const char *p = q; p && *p;) {
    const char *amp = strchr(p, '&');
    size_t seg = amp ? (size_t)(amp - p) : strlen(p);
    if (seg > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      *len = seg - nl - 1;
      return p + nl + 1;
    }
    p = amp ? amp + 1 : NULL;
  }
  return NULL;
}

/* ---- the token ---- */

/* Whether the request carries the cluster's token: the dashboard cookie,
 * or "Authorization: Bearer TOKEN" (Prometheus, scripts). */
int h_authorized(hconn *c) {
  const ld_sec *sec = c->srv->sec;
  if (!ld_sec_has_token(sec)) return 1;
  char want[65];
  if (ld_sec_token_cookie(sec, want) != 0) return 0;
  for (const char *p = c->cookie; (p = strstr(p, H_COOKIE "=")) != NULL; p++) {
    if (p != c->cookie && p[-1] != ' ' && p[-1] != ';') continue;
    const char *v = p + sizeof H_COOKIE;
    if (strlen(v) >= 64 && (v[64] == '\0' || v[64] == ';') && CRYPTO_memcmp(v, want, 64) == 0)
      return 1;
  }
  if (c->authzlen > 7 && strncmp(c->authz, "Bearer ", 7) == 0)
    return ld_sec_token_equal(sec, c->authz + 7, c->authzlen - 7);
  return 0;
}

/* The login page: a form posting the token to /login, back to NEXT. */
void h_respond_login(hconn *c, int status, const char *next, const char *msg) {
  hbuf b = {0};
  hb_str(&b,
         "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ldask dashboard: "
         "login</title></head>\n<body style=\"font-family:sans-serif;margin:3em\">\n"
         "<h1>ldask dashboard</h1>\n<p>This cluster has a token (docs/security.md). Paste it "
         "(the contents of the token file) to see the dashboard.</p>\n");
  if (msg) {
    hb_str(&b, "<p style=\"color:#b00\">");
    hb_html(&b, msg, strlen(msg));
    hb_str(&b, "</p>\n");
  }
  hb_str(&b,
         "<form method=\"post\" action=\"/login\">\n<input type=\"password\" name=\"token\" "
         "autofocus size=\"70\">\n<input type=\"hidden\" name=\"next\" value=\"");
  hb_html(&b, next, strlen(next));
  hb_str(&b, "\">\n<button type=\"submit\">Log in</button>\n</form>\n</body></html>\n");
  h_respond(c, status, "text/html; charset=utf-8", b.p, b.n, NULL, 0);
  hb_free(&b);
}

/* Redirects to LOCATION (a local path) setting the dashboard cookie. */
static void redirect_with_cookie(hconn *c, int status, const char *location) {
  char cookie[65], extra[PATH_MAX + 256];
  if (ld_sec_token_cookie(c->srv->sec, cookie) != 0) {
    h_respond_text(c, 500, "500: no token to derive a cookie from\n");
    return;
  }
  snprintf(extra, sizeof extra,
           "Set-Cookie: " H_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict\r\nLocation: %s\r\n",
           cookie, location);
  h_respond(c, status, "text/plain; charset=utf-8", "", 0, extra, 0);
}

/* A redirect target from the user: a local path only (no scheme, no
 * "//host", no control bytes), else /status. */
const char *h_safe_next(const char *next) {
  if (next[0] != '/' || next[1] == '/' || next[1] == '\\') return "/status";
  for (const char *p = next; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == '\\') return "/status";
  return next;
}

/* ?token=... on any path: right, the cookie is set and the browser comes
 * back to the same URL without it; wrong, the login page says so. */
void h_token_in_query(hconn *c, const char *path, const char *query, const char *tok,
                      size_t toklen) {
  char *given = malloc(toklen + 1);
  long glen = given ? h_url_decode(tok, toklen, given, 1) : -1;
  int ok = glen >= 0 && ld_sec_token_equal(c->srv->sec, given, (size_t)glen);
  free(given);
  if (!ok) {
    h_respond_login(c, 401, path, "That token is not this cluster's.");
    return;
  }
  hbuf loc = {0};
  hb_str(&loc, path);
  int first = 1;
  for (const char *p = query; p && *p;) { /* the other parameters, kept */
    const char *amp = strchr(p, '&');
    size_t seg = amp ? (size_t)(amp - p) : strlen(p);
    if (!(seg >= 6 && strncmp(p, "token=", 6) == 0) && seg > 0) {
      hb_add(&loc, first ? "?" : "&", 1);
      hb_add(&loc, p, seg);
      first = 0;
    }
    p = amp ? amp + 1 : NULL;
  }
  hb_add(&loc, "", 1);
  redirect_with_cookie(c, 302, h_safe_next(loc.p));
  hb_free(&loc);
}

/* POST /login with token=...&next=... (a form). */
void h_login_post(hconn *c) {
  size_t tl = 0, nl = 0;
  const char *tok = h_query_param(c->body, "token", &tl);
  const char *nxt = h_query_param(c->body, "next", &nl);
  char next[H_BODY_MAX + 1] = "/status";
  if (nxt && h_url_decode(nxt, nl, next, 1) < 0) snprintf(next, sizeof next, "/status");
  char given[H_BODY_MAX + 1];
  long glen = tok ? h_url_decode(tok, tl, given, 1) : -1;
  /* trailing white space, as in a token file */
  while (glen > 0 && (given[glen - 1] == '\n' || given[glen - 1] == '\r' ||
                      given[glen - 1] == ' ' || given[glen - 1] == '\t'))
    glen--;
  if (glen <= 0 || !ld_sec_token_equal(c->srv->sec, given, (size_t)glen)) {
    h_respond_login(c, 401, h_safe_next(next), "That token is not this cluster's.");
    return;
  }
  redirect_with_cookie(c, 303, h_safe_next(next));
}
