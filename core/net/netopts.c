/* netopts.c — the shared connection options of the programs (see
 * netopts.h). */
#include "net/netopts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/conn.h"
#include "net/frame.h"
#include "util/size.h"

const char LD_NET_OPTIONS_USAGE[] =
    "  --max-message-size SIZE  largest message a peer may send (default 4GiB; units\n"
    "                           as in 512MB, 2GiB); larger ones close the connection\n"
    "  --max-buffered SIZE      bytes all connections together may hold in messages\n"
    "                           being received (default: half the machine's memory,\n"
    "                           at least 1GiB)\n"
    "  --handshake-timeout S    close a connection whose peer has not finished its\n"
    "                           handshake (hello, token proof) S seconds after\n"
    "                           connecting (default 10; 0: never)\n"
    "  --idle-timeout S         close an accepted connection that sent nothing for S\n"
    "                           seconds (default 0: never)\n";

int ld_net_option(int argc, char **argv, int *i, char *err, size_t errlen) {
  const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
  int size_opt = strcmp(a, "--max-message-size") == 0 || strcmp(a, "--max-buffered") == 0;
  int time_opt = strcmp(a, "--handshake-timeout") == 0 || strcmp(a, "--idle-timeout") == 0;
  if (!size_opt && !time_opt) return 0;
  if (size_opt) {
    int64_t n;
    /* at least a hello and its handshake must fit */
    if (v == NULL || ld_parse_size(v, &n) != 0 || n < (int64_t)LD_NET_HELLO_MAX) {
      snprintf(err, errlen, "%s expects a size of at least %u bytes like 512MB or 2GiB, got '%s'",
               a, LD_NET_HELLO_MAX, v ? v : "(nothing)");
      return -1;
    }
    uint64_t maxmsg, maxbuf;
    ld_frame_budgets(&maxmsg, &maxbuf, NULL);
    if (strcmp(a, "--max-message-size") == 0)
      maxmsg = (uint64_t)n;
    else
      maxbuf = (uint64_t)n;
    ld_frame_set_budgets(maxmsg, maxbuf);
  } else {
    char *end;
    double s = v ? strtod(v, &end) : -1;
    if (v == NULL || end == v || *end != '\0' || !(s >= 0 && s <= 1e6)) {
      snprintf(err, errlen, "%s expects seconds in 0..1e6 (0: never), got '%s'", a,
               v ? v : "(nothing)");
      return -1;
    }
    double hs, idle;
    ld_net_timeouts(&hs, &idle);
    if (strcmp(a, "--handshake-timeout") == 0)
      hs = s;
    else
      idle = s;
    ld_net_set_timeouts(hs, idle);
  }
  *i += 1;
  return 1;
}

int ld_net_option_or_fail(const char *prog, int argc, char **argv, int *i, const char *usage) {
  char err[200];
  int r = ld_net_option(argc, argv, i, err, sizeof err);
  if (r < 0) fprintf(stderr, "%s: %s\n", prog, err);
  if (r == 0)
    fprintf(stderr, "%s: unknown option or missing argument '%s'\n%s%s", prog, argv[*i], usage,
            LD_NET_OPTIONS_USAGE);
  return r > 0 ? 1 : -1;
}
