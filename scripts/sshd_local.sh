#!/bin/sh
# scripts/sshd_local.sh start|stop DIR — an sshd of its own on a free
# loopback port for the SSH deploy specs (spec/functional/deploy_ssh_spec.lua)
# and for trying ldask.deploy.SSHCluster / ldask-ssh by hand: a host key and
# a user key made by ssh-keygen in DIR, login by that key only (this user,
# root included), no PAM. `start` prints the port and the ssh options to
# use:
#   PORT=41234
#   SSH_OPTIONS=-p 41234 -i DIR/id_ed25519 -o BatchMode=yes ...
# Exits non-zero with the reason when sshd does not come up within 10 s.
set -eu
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
die() { echo "sshd_local.sh: $*" >&2; exit 1; }
case "$cmd" in
start)
  [ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd not found: install openssh-server (scripts/deps.sh)"
  command -v ssh-keygen >/dev/null || die "ssh-keygen not found: install openssh-client (scripts/deps.sh)"
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  chmod 600 "$dir/authorized_keys"
  # sshd's privilege separation directory (made by the service normally)
  mkdir -p /run/sshd 2>/dev/null || true
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
CONF
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" ||
    die "sshd did not start: $(cat "$dir/sshd.log" 2>/dev/null)"
  opts="-p $port -i $dir/id_ed25519 -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=$dir/known_hosts -o LogLevel=ERROR"
  i=0
  while [ $i -lt 100 ]; do
    # shellcheck disable=SC2086
    if ssh $opts 127.0.0.1 true 2>/dev/null; then
      echo "PORT=$port"
      echo "SSH_OPTIONS=$opts"
      exit 0
    fi
    sleep 0.1; i=$((i + 1))
  done
  echo "sshd_local.sh: cannot log in to the sshd on port $port after 10 s; its log:" >&2
  cat "$dir/sshd.log" >&2 2>/dev/null || true
  [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null
  exit 1
  ;;
stop)
  if [ -f "$dir/sshd.pid" ]; then
    kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
    rm -f "$dir/sshd.pid"
  fi
  ;;
*)
  die "unknown command '$cmd' (start|stop)"
  ;;
esac
