#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL cluster on loopback; prints eval-able TM_PG_* lines on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

dir="${TM_PG_DIR:-/tmp/tm-pg}"          # data in $dir/data, Unix socket and log in $dir
data="$dir/data"
timeout="${TM_PG_TIMEOUT:-60}"
ver="$(cat "$data/PG_VERSION" 2>/dev/null || ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1 || true)"
bin="/usr/lib/postgresql/$ver/bin"
[ -x "$bin/pg_ctl" ] || { echo "start-postgres: PostgreSQL not found in $bin (run scripts/install-deps.sh)" >&2; exit 1; }

# As root the cluster belongs to the postgres user; otherwise to the current user.
as=()
[ "$(id -u)" -ne 0 ] || as=(runuser -u postgres --)
cd /
ready() { "$bin/pg_isready" -q -h "$TM_PG_HOST" -p "$TM_PG_PORT" -t 2; }

if ready; then
  echo "start-postgres: reusing server on $TM_PG_HOST:$TM_PG_PORT" >&2
else
  mkdir -p "$dir"
  [ ${#as[@]} -eq 0 ] || chown postgres: "$dir"
  if [ ! -f "$data/PG_VERSION" ]; then
    "${as[@]}" "$bin/initdb" -D "$data" -E UTF8 --locale=C.UTF-8 \
      --auth-local=peer --auth-host=scram-sha-256 >"$dir/initdb.log" \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    printf '%s\n' "max_connections = 200" "shared_buffers = 256MB" >>"$data/postgresql.conf"
  fi
  # Lock files naming a process that is gone (killed, a zombie, or a reused pid) would block the start.
  alive() { [ -n "$1" ] && grep -qa postgres "/proc/$1/cmdline" 2>/dev/null; }
  if ! alive "$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"; then
    for lock in "$data/postmaster.pid" "$dir/.s.PGSQL.$TM_PG_PORT.lock"; do
      alive "$(head -n 1 "$lock" 2>/dev/null || true)" || rm -f "$lock"
    done
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t "$timeout" start \
      -o "-c listen_addresses=$TM_PG_HOST -p $TM_PG_PORT -k $dir" >&2 \
      || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
  fi
fi

for ((i = 0; i < timeout; i++)); do ready && break; sleep 1; done
ready || { echo "start-postgres: no answer on $TM_PG_HOST:$TM_PG_PORT after ${timeout}s" >&2; exit 1; }

# TLS when the server is ours: a throwaway certificate authority and a server certificate for
# 127.0.0.1 and localhost under $dir/tls (ca.crt is what clients verify against), turned on by
# a reload, so a server started before this step gets it too.
if [ -S "$dir/.s.PGSQL.$TM_PG_PORT" ] && command -v openssl >/dev/null; then
  tls="$dir/tls"
  if [ ! -f "$tls/server.crt" ]; then
    mkdir -p "$tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=TrafficManager test CA" \
      -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tls/san.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial -days 3650 \
      -extfile "$tls/san.ext" -out "$tls/server.crt" 2>/dev/null
    chmod 600 "$tls/server.key" "$tls/ca.key"
    chmod 644 "$tls/ca.crt" "$tls/server.crt"
    [ ${#as[@]} -eq 0 ] || chown -R postgres: "$tls"
  fi
  if ! grep -q "^ssl = on" "$data/postgresql.conf" 2>/dev/null; then
    printf '%s\n' "ssl = on" "ssl_cert_file = '$tls/server.crt'" "ssl_key_file = '$tls/server.key'" >>"$data/postgresql.conf"
    "${as[@]}" "$bin/pg_ctl" -D "$data" reload >/dev/null
    for ((i = 0; i < 10; i++)); do
      PGPASSWORD="$TM_PG_PASSWORD" PGSSLMODE=require "$bin/psql" -X -q -h "$TM_PG_HOST" -p "$TM_PG_PORT" -U "$TM_PG_USER" \
        -d postgres -tAc 'select 1' >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
fi

# Create the role and database when the server is ours (reachable through our socket as superuser).
if [ -S "$dir/.s.PGSQL.$TM_PG_PORT" ]; then
  "${as[@]}" env TM_PG_PASSWORD="$TM_PG_PASSWORD" "$bin/psql" -X -q -h "$dir" -p "$TM_PG_PORT" -d postgres \
    -v ON_ERROR_STOP=1 -v u="$TM_PG_USER" -v d="$TM_PG_DATABASE" >/dev/null <<'SQL'
\getenv pw TM_PG_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'u') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'u', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'d', :'u') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'d') \gexec
SQL
fi

PGPASSWORD="$TM_PG_PASSWORD" "$bin/psql" -X -q -h "$TM_PG_HOST" -p "$TM_PG_PORT" -U "$TM_PG_USER" \
  -d "$TM_PG_DATABASE" -tAc 'select 1' >/dev/null \
  || { echo "start-postgres: cannot log in as $TM_PG_USER to $TM_PG_DATABASE" >&2; exit 1; }
echo "start-postgres: $("$bin/postgres" --version) ready (data $data, log $dir/postgres.log)" >&2
for v in TM_PG_HOST TM_PG_PORT TM_PG_USER TM_PG_DATABASE; do printf 'export %s=%q\n' "$v" "${!v}"; done
[ ! -f "$dir/tls/ca.crt" ] || printf 'export TM_PG_SSLROOTCERT=%q\n' "$dir/tls/ca.crt"
