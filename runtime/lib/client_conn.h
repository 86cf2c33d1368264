/* client_conn.h — the client's background network thread (see
 * client_conn.c for the functions; ownership is stated there). */
#ifndef LDASK_CLIENT_CONN_H
#define LDASK_CLIENT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "net/frame.h"

typedef struct ld_client ld_client;

ld_client *ld_client_new(const char *addr, double timeout, char *err, size_t errlen);
ld_client *ld_client_connect(const char *addr, double timeout, const char *token_file,
                             const char *tls_ca, const char *tls_cert, const char *tls_key,
                             char *err, size_t errlen);
int ld_client_send(ld_client *cl, const char *hdr, size_t len, ld_buffer *const *bufs, uint32_t n);
int ld_client_send_parts(ld_client *cl, const char *hdr, size_t len, const char *const *ptrs,
                         const size_t *lens, ld_buffer *const *bufs, uint32_t n);
ld_msg *ld_client_recv(ld_client *cl, double timeout);
ld_msg *ld_client_recv_spin(ld_client *cl, double timeout, double spin);
size_t ld_client_pending(ld_client *cl);
int ld_client_closed(ld_client *cl);
const char *ld_client_error(ld_client *cl);
void ld_client_free(ld_client *cl);
double ld_client_now(void);
int ld_client_pid(void);

#endif
