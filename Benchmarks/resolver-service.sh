#!/usr/bin/env bash
# The HTTP service under load beside a static route of the same Hummingbird process, in one
# run: GET /v1/routes/… (a resolve through TrafficManager, answered by the Redis cache) against
# GET /health/live (a constant JSON body, no TrafficManager call). Both on PostgreSQL and Redis
# started by the scripts; wrk drives them, ROUNDS times each, alternating; medians are printed.
#   ROUNDS (default 3), SECONDS_PER_RUN (default 5), CONNECTIONS (default 16)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root="$(cd .. && pwd)"
bash "$root/scripts/install-deps.sh" >&2
bash "$root/scripts/start-redis.sh" >/dev/null
bash "$root/scripts/start-postgres.sh" >/dev/null
source "$root/scripts/env.sh"
if ! command -v wrk >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2
fi
rounds="${ROUNDS:-3}"
seconds="${SECONDS_PER_RUN:-5}"
connections="${CONNECTIONS:-16}"
port="${TM_HTTP_PORT:-18080}"

swift build -c release --package-path "$root/Examples/ResolverService" >&2
swift build --package-path "$root" --product tmctl >&2
export TM_API_TOKEN="bench-$(date +%s)" TM_HTTP_PORT="$port"
"$root/.build/debug/tmctl" migrate >&2

"$root/Examples/ResolverService/.build/release/ResolverService" >/tmp/tm-resolver-service.log 2>&1 &
service=$!
trap 'kill "$service" 2>/dev/null; wait "$service" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.1
done
route="http://127.0.0.1:$port/v1/routes/bench-tenant/chat-service/production/v1"
curl -sf -X PUT -H "Authorization: Bearer $TM_API_TOKEN" -H 'Content-Type: application/json' \
  -d '{"url": "http://chat-service.production.internal:4002"}' "$route" >/dev/null
curl -sf "$route" >/dev/null  # fills the cache

rps() { # url
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$1" 2>/dev/null | awk '/Requests\/sec/ {print $2}'
}
p99() { # url
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$1" 2>/dev/null | awk '$1 == "99%" {print $2}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

resolve=(); static=()
for _ in $(seq 1 "$rounds"); do
  resolve+=("$(rps "$route")")
  static+=("$(rps "http://127.0.0.1:$port/health/live")")
done
r=$(printf '%s\n' "${resolve[@]}" | median)
s=$(printf '%s\n' "${static[@]}" | median)
echo "| route | requests/s (median of $rounds, wrk -t2 -c$connections, ${seconds} s) | runs |"
echo "| --- | ---: | --- |"
echo "| GET /v1/routes/… (resolve through the Redis cache) | $r | ${resolve[*]} |"
echo "| GET /health/live (static) | $s | ${static[*]} |"
awk -v r="$r" -v s="$s" 'BEGIN { printf "ratio resolve/static: %.2f\n", r / s }'
echo "p99 latency, one more run each: resolve $(p99 "$route"), static $(p99 "http://127.0.0.1:$port/health/live")"
