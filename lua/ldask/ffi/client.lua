-- ldask.ffi.client: C declarations of runtime/lib/client_conn.h (the
-- client's background network thread) and runtime/lib/spawn.h (a local
-- cluster's processes and their lifeline).
local ffi = require "ffi"
require "ldask.ffi.net"

ffi.cdef [[
typedef struct ld_client ld_client;
ld_client *ld_client_new(const char *addr, double timeout, char *err, size_t errlen);
ld_client *ld_client_connect(const char *addr, double timeout, const char *token_file,
                             const char *tls_ca, const char *tls_cert, const char *tls_key,
                             char *err, size_t errlen);
int ld_auth_random_hex(char *out, size_t nbytes);
int ld_valid_file_name(const char *name, size_t len, char *err, size_t errlen);
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
int ld_lifeline_parent_fd(char *err, size_t errlen);
int ld_spawn_detached(const char *cmd, int lifeline, char *err, size_t errlen);
]]

return true
