#!/usr/bin/env bash
# Start (or reuse) a streaming replica of the local PostgreSQL (scripts/start-postgres.sh) on
# loopback, port TM_PG_REPLICA_PORT (default 55433): a replication role and pg_hba.conf entry on
# the primary, a base backup with `pg_basebackup -R`, then the standby. Grants the test role
# what the tests need to delay or pause replay (ALTER SYSTEM on recovery_min_apply_delay,
# pg_reload_conf, pg_wal_replay_pause/resume). Prints eval-able TM_PG_REPLICA_* lines.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
bash "$here/start-postgres.sh" >/dev/null
source "$here/env.sh"

primary_dir="${TM_PG_DIR:-/tmp/tm-pg}"
dir="${TM_PG_REPLICA_DIR:-/tmp/tm-pg-replica}"
data="$dir/data"
port="$TM_PG_REPLICA_PORT"
timeout="${TM_PG_TIMEOUT:-60}"
ver="$(cat "$primary_dir/data/PG_VERSION")"
bin="/usr/lib/postgresql/$ver/bin"
as=()
[ "$(id -u)" -ne 0 ] || as=(runuser -u postgres --)
cd /
ready() { "$bin/pg_isready" -q -h "$TM_PG_HOST" -p "$port" -t 2; }
superuser() { "${as[@]}" "$bin/psql" -X -q -h "$primary_dir" -p "$TM_PG_PORT" -d postgres -v ON_ERROR_STOP=1 "$@"; }
replicating() {
  [ "$(PGPASSWORD="$TM_PG_PASSWORD" "$bin/psql" -X -h "$TM_PG_HOST" -p "$port" -U "$TM_PG_USER" -d "$TM_PG_DATABASE" \
    -tAc 'select pg_is_in_recovery()' 2>/dev/null)" = t ]
}

if ready && replicating; then
  echo "start-postgres-replica: reusing the replica on $TM_PG_HOST:$port" >&2
else
  [ -S "$primary_dir/.s.PGSQL.$TM_PG_PORT" ] || { echo "start-postgres-replica: the primary is not ours ($primary_dir)" >&2; exit 1; }
  # The replication role and its pg_hba.conf entry on the primary.
  superuser -v u="$TM_PG_REPLICATION_USER" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I REPLICATION LOGIN', :'u') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'u') \gexec
SQL
  superuser -v u="$TM_PG_REPLICATION_USER" -v pw="$TM_PG_REPLICATION_PASSWORD" >/dev/null <<'SQL'
SELECT format('ALTER ROLE %I WITH REPLICATION LOGIN PASSWORD %L', :'u', :'pw') \gexec
SQL
  hba="$primary_dir/data/pg_hba.conf"
  entry="host    replication     $TM_PG_REPLICATION_USER    127.0.0.1/32    scram-sha-256"
  if ! grep -qF "$entry" "$hba"; then
    # Before the catch-all lines, which pg_hba.conf matches first to last.
    sed -i "0,/^local[[:space:]]\+replication/s||$entry\n&|" "$hba"
    grep -qF "$entry" "$hba" || echo "$entry" >>"$hba"
    "${as[@]}" "$bin/pg_ctl" -D "$primary_dir/data" reload >/dev/null
    sleep 0.5
  fi
  # A standby that is not running: start it if its data is whole, else make it again.
  if [ -f "$data/standby.signal" ]; then
    rm -f "$data/postmaster.pid"
  else
    if [ -f "$data/postmaster.pid" ]; then "${as[@]}" "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true; fi
    rm -rf "$data"
    mkdir -p "$dir"
    [ ${#as[@]} -eq 0 ] || chown postgres: "$dir"
    "${as[@]}" env PGPASSWORD="$TM_PG_REPLICATION_PASSWORD" "$bin/pg_basebackup" -h "$TM_PG_HOST" -p "$TM_PG_PORT" \
      -U "$TM_PG_REPLICATION_USER" -D "$data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1 \
      || { cat "$dir/basebackup.log" >&2; exit 1; }
  fi
  "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t "$timeout" start \
    -o "-c listen_addresses=$TM_PG_HOST -p $port -k $dir -c hot_standby_feedback=on" >&2 \
    || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
fi

for ((i = 0; i < timeout; i++)); do ready && replicating && break; sleep 1; done
replicating || { echo "start-postgres-replica: $TM_PG_HOST:$port is not a replica after ${timeout}s" >&2; exit 1; }

# What the tests may change on the replica (granted on the primary; replicated).
superuser -d "$TM_PG_DATABASE" -v u="$TM_PG_USER" >/dev/null <<'SQL'
SELECT format('GRANT ALTER SYSTEM ON PARAMETER recovery_min_apply_delay TO %I', :'u') \gexec
SELECT format('GRANT EXECUTE ON FUNCTION pg_reload_conf() TO %I', :'u') \gexec
SELECT format('GRANT EXECUTE ON FUNCTION pg_wal_replay_pause() TO %I', :'u') \gexec
SELECT format('GRANT EXECUTE ON FUNCTION pg_wal_replay_resume() TO %I', :'u') \gexec
SQL
# Replay as a test may have left it: delayed or paused.
PGPASSWORD="$TM_PG_PASSWORD" "$bin/psql" -X -q -h "$TM_PG_HOST" -p "$port" -U "$TM_PG_USER" -d "$TM_PG_DATABASE" \
  -c 'ALTER SYSTEM RESET recovery_min_apply_delay' -c 'SELECT pg_reload_conf()' -c 'SELECT pg_wal_replay_resume()' >/dev/null
echo "start-postgres-replica: replica of $TM_PG_HOST:$TM_PG_PORT ready on $TM_PG_HOST:$port (data $data, log $dir/postgres.log)" >&2
printf 'export TM_PG_REPLICA_PORT=%q\n' "$port"
