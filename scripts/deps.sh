#!/bin/sh
# Installs the Debian packages ldask needs to build and test, and only those
# that are missing. Safe to run again; runs apt-get only when needed.
set -e
PKGS="build-essential pkg-config luajit libluajit-5.1-dev libuv1-dev lua-cjson
lua-busted libmsgpack-dev libopenblas-dev zlib1g-dev libedit-dev libxxhash-dev luarocks
python3-numpy python3-pandas lua-ldoc libssl-dev openssl clang libclang-rt-dev
libhdf5-dev libblosc-dev python3-h5py python3-zarr python3-numcodecs python3-dask
libhttp-parser-dev liblapacke-dev"
# the dashboard: headless Chromium renders the pages in the specs; LuaSocket
# reads a cluster's dashboard API for performance_report
PKGS="$PKGS chromium lua-socket"
# ldask.deploy: the specs start a one-node SLURM (slurm-wlm, munge) and an
# sshd on loopback (openssh-server; the ssh client for SSHCluster)
PKGS="$PKGS slurm-wlm munge openssh-server openssh-client"
# ldask.ml's specs compare with scikit-learn
PKGS="$PKGS python3-sklearn"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "scripts/deps.sh: installing$missing"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
