/* netopts.h — the connection options ldask-scheduler and ldask-worker share
 * (budgets and timeouts of core/net, docs/protocol.md "Limits and
 * timeouts"): parsed in one place, applied to the process at once. */
#ifndef LDASK_NET_NETOPTS_H
#define LDASK_NET_NETOPTS_H

#include <stddef.h>

/* Their lines of the programs' --help. */
extern const char LD_NET_OPTIONS_USAGE[];

/* Looks at ARGV[*I] (of ARGC). Returns 1 when it is one of the options
 * (--max-message-size SIZE, --max-buffered SIZE, --handshake-timeout S,
 * --idle-timeout S): its value is applied to this process (frame.h
 * budgets, conn.h timeouts) and *I moved past it. Returns 0 when ARGV[*I]
 * is something else, -1 with a message naming the option in ERR when its
 * value is missing or bad. */
int ld_net_option(int argc, char **argv, int *i, char *err, size_t errlen);

/* The last branch of a program's option loop: ld_net_option, and when
 * ARGV[*I] is not one of them or its value is bad, a message to stderr
 * naming PROG (and for an unknown option, USAGE and the options' lines).
 * Returns 1 when consumed, else -1 (the program exits with status 2). */
int ld_net_option_or_fail(const char *prog, int argc, char **argv, int *i, const char *usage);

#endif
