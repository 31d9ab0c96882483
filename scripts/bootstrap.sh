#!/usr/bin/env bash
# Installs every Debian package that mnemo's build, tests and benchmarks need.
# Idempotent: does nothing (and needs no network) when everything is already installed.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang-14 libclang-rt-14-dev
  # libraries linked by mnemo
  libhwy-dev libcli11-dev nlohmann-json3-dev libcurl4-openssl-dev libpcre2-dev
  libsqlite3-dev libcpp-httplib-dev libopenblas-dev liblapacke-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy python3-torch
  libhnswlib-dev libfaiss-dev curl jq time
  # data-parallel training (mpirun -np N mnemo train; tests labelled mpi)
  libopenmpi-dev openmpi-bin
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "bootstrap: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "bootstrap: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
