#!/usr/bin/env bash
# A million routes. Loads LARGE routes (default 1,000,000) through the store's batch path with a
# progress bar (a second run finds them there and writes nothing), then measures at SMALL
# (10,000) and LARGE routes, alternating, ROUNDS times (default 3), in the same run:
#   - resolves answered by Redis (16 callers; Redis holds only the routes of the run),
#   - resolves answered by the near cache (16 callers, each yielding every 64 calls as a
#     server's handlers would, so the change feed's tasks run and keep the cache proven),
#   - store lookups (16 callers, PostgreSQL),
# and reports medians, the 1 M / 10 K ratio of each p99, Redis memory per cached route (also
# with 34-byte URLs, from a second schema loaded once),
# PostgreSQL size per route and near-cache memory per entry. Uses Redis database 15, which it
# flushes before each Redis run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root=..
bash "$root/scripts/install-deps.sh" >&2
bash "$root/scripts/start-postgres.sh" >/dev/null
bash "$root/scripts/start-redis.sh" >/dev/null
source "$root/scripts/env.sh"
rounds="${ROUNDS:-3}"
seconds="${SECONDS_PER_RUN:-5}"
small="${SMALL:-10000}"
large="${LARGE:-1000000}"
schema=tm_scale
db=15

swift build -c release --product tm-load >&2
load=".build/release/tm-load"
redis() { redis-cli -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" -n "$db" "$@"; }
psql_() { PGPASSWORD="$TM_PG_PASSWORD" psql -X -q -h "$TM_PG_HOST" -p "$TM_PG_PORT" -U "$TM_PG_USER" -d "$TM_PG_DATABASE" -tAc "$1"; }
per_key() { # bytes, keys: bytes per key, or a clear failure when Redis holds none
  [ "${2:-0}" -gt 0 ] || { echo "$(basename "$0"): Redis holds no keys after the run; nothing to divide by" >&2; exit 1; }
  echo $(($1 / $2))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
used_memory() { redis info memory | tr -d '\r' | awk -F: '/^used_memory:/ {print $2}'; }

have="$(psql_ "SELECT count(*) FROM $schema.endpoints" 2>/dev/null || echo 0)"
if [ "${have:-0}" -ge "$large" ]; then
  loaded="$have routes there already"
else
  echo "loading $large routes through the store's batch path (schema $schema)" >&2
  loaded="$("$load" --workload load-routes --backend postgres --schema "$schema" --keys "$large" --pg-connections 2)"
fi
echo "  $loaded" >&2
# The same routes with 34-byte URLs at every count (the tool's own are 35 bytes from the
# 100,000th route on, which takes a cached value past the 44 bytes Redis keeps inside the
# string's object): Redis memory per route at LARGE is measured with both.
have_fixed="$(psql_ "SELECT count(*) FROM ${schema}_fixed.endpoints" 2>/dev/null || echo 0)"
if [ "${have_fixed:-0}" -lt "$large" ]; then
  echo "loading $large routes with 34-byte URLs (schema ${schema}_fixed)" >&2
  "$load" --workload load-routes --backend postgres --schema "${schema}_fixed" --keys "$large" --pg-connections 2 --fixed-url-length >/dev/null
fi
psql_ "ANALYZE $schema.endpoints" >/dev/null
pg_per_route="$(psql_ "SELECT (pg_total_relation_size('$schema.endpoints') + pg_total_relation_size('$schema.environments')
  + pg_total_relation_size('$schema.services') + pg_total_relation_size('$schema.tenants')) / count(*) FROM $schema.endpoints")"
events_per_route="$(psql_ "SELECT pg_total_relation_size('$schema.route_events') / greatest(1, (SELECT count(*) FROM $schema.endpoints))")"

declare -A p99 rate
redis_memory=""
for ((round = 0; round < rounds; round++)); do
  for n in "$small" "$large"; do
    redis flushdb >/dev/null
    before="$(used_memory)"
    read -r ops _ _ p _ errors < <("$load" --quiet --backend redis+postgres --schema "$schema" --preloaded --keys "$n" \
      --redis-database "$db" --concurrency 16 --duration "$seconds")
    after="$(used_memory)"
    [ "$errors" = 0 ] || echo "  redis n=$n: $errors errors" >&2
    p99[redis,$n]+="$p "; rate[redis,$n]+="$ops "
    # Per key Redis holds (a value older than its TTL may have expired by the end).
    if [ "$n" = "$large" ] && [ "$round" = 0 ]; then redis_memory="$(per_key $((after - before)) "$(redis dbsize)")"; fi
    read -r ops _ _ p _ _ < <("$load" --quiet --backend redis+postgres --schema "$schema" --preloaded --keys "$n" \
      --redis-database "$db" --near-cache --yield-every 64 --concurrency 16 --duration "$seconds")
    p99[near,$n]+="$p "; rate[near,$n]+="$ops "
    read -r ops _ _ p _ _ < <("$load" --quiet --backend postgres --workload lookup --schema "$schema" --preloaded --keys "$n" \
      --concurrency 16 --duration "$seconds")
    p99[store,$n]+="$p "; rate[store,$n]+="$ops "
    echo "  round $((round + 1)), $n routes: p99 µs so far: redis ${p99[redis,$n]}, near ${p99[near,$n]}, store ${p99[store,$n]}" >&2
  done
done
redis flushdb >/dev/null
before="$(used_memory)"
"$load" --quiet --backend redis+postgres --schema "${schema}_fixed" --preloaded --keys "$large" --redis-database "$db" --duration 1 >/dev/null
redis_memory_fixed="$(per_key $(($(used_memory) - before)) "$(redis dbsize)")"
redis flushdb >/dev/null
read -r near_entries near_bytes < <("$load" --quiet --workload near-memory --keys "$large")

echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores; medians of $rounds, ${seconds} s runs, 16 callers; $loaded"
printf '%-34s %14s %14s %14s %14s %8s\n' "" "$small ops/s" "p99 µs" "$large ops/s" "p99 µs" "p99 ratio"
for kind in redis near store; do
  label=$([ "$kind" = redis ] && echo "resolve, Redis hits" || { [ "$kind" = near ] && echo "resolve, near-cache hits" || echo "store lookup (PostgreSQL)"; })
  sr=$(tr ' ' '\n' <<<"${rate[$kind,$small]}" | grep . | median); sp=$(tr ' ' '\n' <<<"${p99[$kind,$small]}" | grep . | median)
  lr=$(tr ' ' '\n' <<<"${rate[$kind,$large]}" | grep . | median); lp=$(tr ' ' '\n' <<<"${p99[$kind,$large]}" | grep . | median)
  printf '%-34s %14.0f %14.1f %14.0f %14.1f %8.2f\n' "$label" "$sr" "$sp" "$lr" "$lp" "$(awk -v a="$lp" -v b="$sp" 'BEGIN {print a / b}')"
done
echo "Redis memory per cached route at $large: $redis_memory bytes; with 34-byte URLs: $redis_memory_fixed bytes"
echo "PostgreSQL per route: $pg_per_route bytes (endpoints and the name tables, with indexes); route_events $events_per_route bytes per route"
echo "near-cache memory per entry at $near_entries entries: $near_bytes bytes"
