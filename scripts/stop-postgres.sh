#!/usr/bin/env bash
# Stop the throwaway PostgreSQL cluster; with --purge also delete its directory.
set -euo pipefail
dir="${TM_PG_DIR:-/tmp/tm-pg}"
data="$dir/data"
as=()
[ "$(id -u)" -ne 0 ] || as=(runuser -u postgres --)
cd /

if [ -f "$data/PG_VERSION" ]; then
  bin="/usr/lib/postgresql/$(cat "$data/PG_VERSION")/bin"
  pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && grep -qa postgres "/proc/$pid/cmdline" 2>/dev/null; then
    "${as[@]}" "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >&2 \
      || "${as[@]}" "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop >&2
  else
    rm -f "$data/postmaster.pid"   # stale: its process is gone
    echo "stop-postgres: not running" >&2
  fi
else
  echo "stop-postgres: no cluster in $data" >&2
fi
if [ "${1:-}" = "--purge" ]; then rm -rf "$dir"; fi
