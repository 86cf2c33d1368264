#!/bin/sh
# ldask-ssh: starts an ldask cluster over ssh (the scheduler on the first
# host, workers on the others) and keeps it until Ctrl-C; installed beside
# ldask, ldask-scheduler and ldask-worker (Makefile). The work is done by
# the Lua module ldask.deploy.ssh_cli, found through the package path of
# the ldask program beside this script (build tree, install prefix or
# luarocks tree alike). `ldask-ssh --help` for the options.
here=$(cd "$(dirname "$0")" && pwd)
cli=$("$here/ldask" -e 'io.write(package.searchpath("ldask.deploy.ssh_cli", package.path) or "")' 2>/dev/null)
if [ -z "$cli" ]; then
  echo "ldask-ssh: $here/ldask cannot find the module ldask.deploy.ssh_cli" >&2
  exit 2
fi
exec "$here/ldask" "$cli" -- "$@"
