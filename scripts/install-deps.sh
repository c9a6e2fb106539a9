#!/usr/bin/env bash
# Install the Debian packages needed to build, test and benchmark TrafficManager (only those missing).
set -euo pipefail

# postgresql-15 ships initdb/pg_ctl and pgbench; postgresql-contrib is its (meta) extension package.
pkgs=(postgresql postgresql-contrib libpq-dev redis-server redis-tools libhiredis-dev librdkafka-dev pkg-config)

missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present" >&2
  exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
apt_opts=(-y -q -o DPkg::Lock::Timeout=300)
echo "install-deps: installing ${missing[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"
