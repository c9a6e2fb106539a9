#!/usr/bin/env bash
# Side-by-side throughput: TrafficManager against the raw servers, on the same local servers, in one run.
# Each pair runs alternately ROUNDS times (default 3) and the medians are compared.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root=..
bash "$root/scripts/install-deps.sh" >&2
bash "$root/scripts/start-redis.sh" >/dev/null
bash "$root/scripts/start-postgres.sh" >/dev/null
source "$root/scripts/env.sh"
rounds="${ROUNDS:-3}"
seconds="${SECONDS_PER_RUN:-4}"

swift build -c release --product tm-load >&2
load=".build/release/tm-load"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# redis-benchmark's GET reads one key; give it a value the size of a cached route.
redis-cli -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" set 'key:__rand_int__' 'E|1|http://svc1.load.internal:8080' >/dev/null

redis_rps() { # redis-benchmark arguments...
  redis-benchmark -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" -t get -q "$@" 2>/dev/null |
    tr '\r' '\n' | awk '/requests per second/ {print $2}' | tail -1
}
pgbench_tps() { # clients, script
  PGOPTIONS='-c search_path=tm_load' PGPASSWORD="$TM_PG_PASSWORD" pgbench -h "$TM_PG_HOST" -p "$TM_PG_PORT" \
    -U "$TM_PG_USER" -n -M prepared -c "$1" -j "$1" -T "$seconds" -f "pgbench/$2.sql" "$TM_PG_DATABASE" 2>/dev/null |
    awk '/^tps/ {print $3; exit}'
}
library_rps() { # tm-load arguments...
  "$load" --quiet --duration "$seconds" "$@" | awk '{print $1}'
}

rows=()
compare() { # label, raw-command-function and args, then "--" and library args
  local label="$1"; shift
  local raw_args=() lib_args=()
  while [ "$1" != "--" ]; do raw_args+=("$1"); shift; done
  shift
  lib_args=("$@")
  local raw_runs=() lib_runs=()
  for ((i = 0; i < rounds; i++)); do
    raw_runs+=("$("${raw_args[@]}")")
    lib_runs+=("$(library_rps "${lib_args[@]}")")
  done
  local raw lib
  raw=$(printf '%s\n' "${raw_runs[@]}" | median)
  lib=$(printf '%s\n' "${lib_runs[@]}" | median)
  rows+=("$(printf '%-70s %12.0f %12.0f %7.2f' "$label" "$raw" "$lib" "$(awk -v l="$lib" -v r="$raw" 'BEGIN {print l / r}')")")
  echo "  $label: raw ${raw_runs[*]} | library ${lib_runs[*]}" >&2
}

compare "cache-hit resolve, 16 callers vs redis-benchmark -c 16" \
  redis_rps -c 16 -n 300000 -- --backend redis --concurrency 16
compare "cache-hit resolve, 64 tasks on 2 connection executors vs -c 4 -P 16" \
  redis_rps -c 4 -P 16 -n 3000000 -- --backend redis --concurrency 64 --on-cache-executor --redis-connections 2
compare "cache-hit resolve, 64 tasks on 2 connection executors vs -c 64 -P 16" \
  redis_rps -c 64 -P 16 -n 3000000 -- --backend redis --concurrency 64 --on-cache-executor --redis-connections 2
compare "cache-hit resolve, 64 tasks on the global pool vs -c 64 -P 16" \
  redis_rps -c 64 -P 16 -n 3000000 -- --backend redis --concurrency 64

# The routes the pgbench scripts read and write: tm-load creates them in schema tm_load.
"$load" --quiet --backend postgres --workload lookup --duration 1 >/dev/null
for clients in 1 4; do
  compare "store lookup, $clients connection(s) vs pgbench -M prepared" \
    pgbench_tps "$clients" lookup -- --backend postgres --workload lookup --concurrency "$clients" --pg-connections "$clients"
  compare "store create-route, $clients connection(s) vs pgbench tm_apply" \
    pgbench_tps "$clients" create -- --backend postgres --workload create --concurrency "$clients" --pg-connections "$clients"
done
compare "store lookup, 4 callers on the 4 connection executors vs pgbench -c 4" \
  pgbench_tps 4 lookup -- --backend postgres --workload lookup --concurrency 4 --pg-connections 4 --on-store-executor
compare "store lookup, 16 callers on 4 connections vs pgbench -c 16" \
  pgbench_tps 16 lookup -- --backend postgres --workload lookup --concurrency 16 --pg-connections 4

printf '\n%-70s %12s %12s %7s\n' "workload (ops/s, median of $rounds)" "raw server" "library" "ratio"
printf '%s\n' "${rows[@]}"
