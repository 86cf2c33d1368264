#!/bin/sh
# ldask-ssh: starts an ldask cluster over ssh (the scheduler on the first
# host, workers on the others) and keeps it until Ctrl-C; installed beside
# ldask, ldask-scheduler and ldask-worker (Makefile). The work is done by
# the Lua module ldask.deploy.ssh_cli, run by the ldask program found
# beside this script. `ldask-ssh --help` for the options.
here=$(cd "$(dirname "$0")" && pwd)
for f in "$here/../lua/ldask/deploy/ssh_cli.lua" "$here/../../../lua/ldask/deploy/ssh_cli.lua" \
  "$here/../share/lua/5.1/ldask/deploy/ssh_cli.lua"; do
  if [ -f "$f" ]; then exec "$here/ldask" "$f" -- "$@"; fi
done
echo "ldask-ssh: cannot find ldask/deploy/ssh_cli.lua beside $here" >&2
exit 2
