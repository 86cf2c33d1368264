-- ldask.ffi.xstate: C declarations of runtime/lib/xstate.h (executor states).
local ffi = require "ffi"

ffi.cdef [[
typedef struct ld_xstate ld_xstate;
ld_xstate *ld_xstate_new(const char *path, const char *cpath, char **err);
int ld_xstate_call(ld_xstate *xs, const char *module, const char *fn, const char *in, size_t inlen,
                   char **out, size_t *outlen);
void ld_xstate_free(ld_xstate *xs);
void free(void *p);
]]

return true
