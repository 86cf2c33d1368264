/* readline.h — line editing and history for the REPL (libedit). */
#ifndef LDASK_READLINE_H
#define LDASK_READLINE_H
#include <lua.h>

/* Registers package.preload["ldask.readline"], a module with
 * readline(prompt) -> line | nil at end of input, add_history(line),
 * read_history(file), write_history(file), isatty(fd). */
void ld_readline_register(lua_State *L);

#endif
