#!/bin/sh
# scripts/slurm_local.sh start|stop|status DIR — a one-node SLURM cluster on
# 127.0.0.1 for the deploy specs (spec/functional/deploy_slurm_spec.lua) and
# for trying ldask.deploy.SLURMCluster by hand: munged, slurmctld and slurmd
# (Debian's slurm-wlm + munge) with every file (config, state, logs,
# sockets, munge key) under DIR, free ports, no cgroups, no systemd.
#   sh scripts/slurm_local.sh start /tmp/myslurm   # prints SLURM_CONF=...
#   SLURM_CONF=/tmp/myslurm/slurm.conf sbatch ...
#   sh scripts/slurm_local.sh stop /tmp/myslurm
# Exits non-zero with the reason (and the daemons' logs) when the cluster
# does not come up within 30 s.
set -eu
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop|status DIR" >&2
  exit 2
fi
die() { echo "slurm_local.sh: $*" >&2; exit 1; }

stop_all() {
  for p in slurmd slurmctld munged; do
    if [ -f "$dir/$p.pid" ]; then
      pid=$(cat "$dir/$p.pid" 2>/dev/null || true)
      [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    fi
  done
  # wait for them to go (up to 10 s)
  i=0
  while [ $i -lt 100 ]; do
    up=0
    for p in slurmd slurmctld munged; do
      if [ -f "$dir/$p.pid" ]; then
        pid=$(cat "$dir/$p.pid" 2>/dev/null || true)
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && up=1
      fi
    done
    [ $up = 0 ] && break
    sleep 0.1; i=$((i + 1))
  done
  for p in slurmd slurmctld munged; do
    if [ -f "$dir/$p.pid" ]; then
      pid=$(cat "$dir/$p.pid" 2>/dev/null || true)
      [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$p.pid"
    fi
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$cmd" in
start)
  for b in munged mungekey slurmctld slurmd sinfo; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
      die "'$b' not found: install slurm-wlm and munge (scripts/deps.sh)"
  done
  [ "$(id -u)" = 0 ] || die "needs root (slurmd runs jobs as their users; SlurmUser=root)"
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge" "$dir/logs"
  chmod 700 "$dir/munge"
  PATH="$PATH:/usr/sbin"
  export PATH
  # munge: a key of our own, our own socket
  if [ ! -f "$dir/munge/munge.key" ]; then
    mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 ||
      dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
    chmod 400 "$dir/munge/munge.key"
  fi
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" \
    --pid-file="$dir/munged.pid" --log-file="$dir/logs/munged.log" \
    --seed-file="$dir/munge/seed" ||
    die "munged did not start: $(cat "$dir/logs/munged.log" 2>/dev/null)"
  mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.8 }' /proc/meminfo)
  cpus=$(nproc)
  cport=$(free_port)
  dport=$(free_port)
  cat > "$dir/slurm.conf" <<CONF
ClusterName=ldasklocal
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$cport
SlurmdPort=$dport
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/logs/slurmctld.log
SlurmdLogFile=$dir/logs/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=2
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=$(hostname) CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  : > "$dir/cgroup.conf"
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$dir/slurm.conf" -i >"$dir/logs/slurmctld.out" 2>&1 ||
    die "slurmctld did not start: $(cat "$dir/logs/slurmctld.out" "$dir/logs/slurmctld.log" 2>/dev/null | tail -20)"
  slurmd -f "$dir/slurm.conf" -N localhost >"$dir/logs/slurmd.out" 2>&1 ||
    die "slurmd did not start: $(cat "$dir/logs/slurmd.out" "$dir/logs/slurmd.log" 2>/dev/null | tail -20)"
  i=0
  while [ $i -lt 300 ]; do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case "$state" in
    idle* | mix* | alloc*) echo "SLURM_CONF=$dir/slurm.conf"; exit 0 ;;
    esac
    sleep 0.1; i=$((i + 1))
  done
  echo "slurm_local.sh: the node is not idle after 30 s (state '${state:-none}'); logs:" >&2
  tail -20 "$dir/logs/slurmctld.log" "$dir/logs/slurmd.log" >&2 2>/dev/null || true
  stop_all
  exit 1
  ;;
stop)
  stop_all
  ;;
status)
  SLURM_CONF="$dir/slurm.conf" sinfo -N
  ;;
*)
  die "unknown command '$cmd' (start|stop|status)"
  ;;
esac
