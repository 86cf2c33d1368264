/* readline.h — line editing and history for the REPL (libedit). */
#ifndef LDASK_READLINE_H
#define LDASK_READLINE_H
#include <lua.h>

/* The loader of the module "ldask.readline" (main.c puts it in package.preload), a module with
 * readline(prompt) -> line | nil at end of input, add_history(line),
 * read_history(file), write_history(file), isatty(fd). */
int ld_readline_open(lua_State *L);

#endif
