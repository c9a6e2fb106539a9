#!/usr/bin/env bash
# Redis Cluster beside one Redis node, in one run, and resharding under load.
#
# 1. Cache-hit resolves with 16 callers on one node and on the local cluster (3 masters,
#    3 replicas), alternating ROUNDS times (default 3), each beside redis-benchmark on the same
#    servers (-c 16; --cluster for the cluster); medians and ratios.
# 2. Resharding under load: tm-load resolves (1 % of them writes) over the cluster for
#    RESHARD_SECONDS while `redis-cli --cluster reshard` moves RESHARD_SLOTS slots from one
#    master to another and back. Prints each second's operations, errors and slowest call,
#    then throughput before, during and after the moves and the errors in all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root=..
bash "$root/scripts/install-deps.sh" >&2
bash "$root/scripts/start-redis.sh" >/dev/null
bash "$root/scripts/start-redis-cluster.sh" >/dev/null
source "$root/scripts/env.sh"
rounds="${ROUNDS:-3}"
seconds="${SECONDS_PER_RUN:-4}"
reshard_seconds="${RESHARD_SECONDS:-40}"
reshard_slots="${RESHARD_SLOTS:-2000}"
keys="${KEYS:-20000}"

swift build -c release --product tm-load >&2
load=".build/release/tm-load"
first_seed="${TM_REDIS_CLUSTER_SEEDS%%,*}"
seed_host="${first_seed%:*}"
seed_port="${first_seed##*:}"

per_key() { # bytes, keys: bytes per key, or a clear failure when Redis holds none
  [ "${2:-0}" -gt 0 ] || { echo "$(basename "$0"): Redis holds no keys after the run; nothing to divide by" >&2; exit 1; }
  echo $(($1 / $2))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rps() { tr '\r' '\n' | awk '/requests per second/ {print $2}' | tail -1; }

# A value the size of a cached route under the key redis-benchmark reads on one node (on the
# cluster it reads keys it tags per node, absent: a nil reply, a little less work).
redis-cli -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" set 'key:__rand_int__' 'u|1|AAAAAAhttp://svc1.load.internal:8080' >/dev/null

single_raw=() single_lib=() cluster_raw=() cluster_lib=() single_p99=() cluster_p99=()
for ((i = 0; i < rounds; i++)); do
  single_raw+=("$(redis-benchmark -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" -t get -c 16 -n 300000 -q 2>/dev/null | rps)")
  read -r ops _ _ p99 _ < <("$load" --quiet --backend redis --concurrency 16 --duration "$seconds")
  single_lib+=("$ops") single_p99+=("$p99")
  cluster_raw+=("$(redis-benchmark --cluster -h "$seed_host" -p "$seed_port" -t get -c 16 -n 300000 -q 2>/dev/null | rps)")
  read -r ops _ _ p99 _ < <("$load" --quiet --backend redis --redis-cluster --concurrency 16 --duration "$seconds")
  cluster_lib+=("$ops") cluster_p99+=("$p99")
done
echo "  one node: redis-benchmark ${single_raw[*]} | library ${single_lib[*]}, p99 µs ${single_p99[*]}" >&2
echo "  cluster:  redis-benchmark ${cluster_raw[*]} | library ${cluster_lib[*]}, p99 µs ${cluster_p99[*]}" >&2

# Memory per cached route: MEMORY_KEYS routes written and resolved through the library, each
# master's memory before and after, divided by the keys they hold. The replication backlog and
# the replicas' output buffers are left out: a master's backlog fills up to its 1 MB as writes
# are sent to its replica, whatever the keys it keeps.
memory_keys="${MEMORY_KEYS:-20000}"
masters_ports() { redis-cli -h "$seed_host" -p "$seed_port" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ {split($2, a, "[:@]"); print a[2]}'; }
cache_memory() { # host port
  redis-cli -h "$1" -p "$2" info memory | tr -d '\r' | awk -F: '
    /^used_memory:/ {used = $2} /^mem_replication_backlog:/ {backlog = $2} /^mem_clients_slaves:/ {replicas = $2}
    END {print used - backlog - replicas}'
}
cluster_sum() { # memory or keys, summed over the masters
  local total=0 port
  for port in $(masters_ports); do
    if [ "$1" = keys ]; then total=$((total + $(redis-cli -h "$seed_host" -p "$port" dbsize)))
    else total=$((total + $(cache_memory "$seed_host" "$port"))); fi
  done
  echo "$total"
}
flush_cluster() { local port; for port in $(masters_ports); do redis-cli -h "$seed_host" -p "$port" flushall >/dev/null; done; }
single_db=13
redis-cli -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" -n "$single_db" flushdb >/dev/null
before="$(cache_memory "$TM_REDIS_HOST" "$TM_REDIS_PORT")"
"$load" --quiet --backend redis --redis-database "$single_db" --keys "$memory_keys" --duration 1 >/dev/null
single_memory="$(per_key $(($(cache_memory "$TM_REDIS_HOST" "$TM_REDIS_PORT") - before)) "$(redis-cli -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" -n "$single_db" dbsize)")"
redis-cli -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" -n "$single_db" flushdb >/dev/null
flush_cluster
before="$(cluster_sum memory)"
"$load" --quiet --backend redis --redis-cluster --keys "$memory_keys" --duration 1 >/dev/null
cluster_memory="$(per_key $(($(cluster_sum memory) - before)) "$(cluster_sum keys)")"
flush_cluster
row() { # label, raw runs, library runs
  local raw lib
  raw=$(tr ' ' '\n' <<<"$2" | median)
  lib=$(tr ' ' '\n' <<<"$3" | median)
  printf '%-48s %12.0f %12.0f %7.2f\n' "$1" "$raw" "$lib" "$(awk -v l="$lib" -v r="$raw" 'BEGIN {print l / r}')"
}
echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores; medians of $rounds, ${seconds} s runs"
printf '%-48s %12s %12s %7s\n' "cache-hit resolve, 16 callers" "raw ops/s" "library" "ratio"
row "one node (vs redis-benchmark -c 16)" "${single_raw[*]}" "${single_lib[*]}"
row "cluster, 3 masters (vs redis-benchmark --cluster)" "${cluster_raw[*]}" "${cluster_lib[*]}"
echo "library p99 µs: one node $(tr ' ' '\n' <<<"${single_p99[*]}" | median), cluster $(tr ' ' '\n' <<<"${cluster_p99[*]}" | median)"
echo "Redis memory per cached route ($memory_keys routes): one node $single_memory bytes, cluster $cluster_memory bytes (masters only)"

# Resharding under load.
# From the master with the most slots to another, at most half its slots (a master left with
# none would turn into a replica), and back.
masters="$(redis-cli -h "$seed_host" -p "$seed_port" cluster nodes | awk '$3 ~ /master/ && $3 !~ /fail/ {
  slots = 0
  for (i = 9; i <= NF; i++) { if ($i ~ /^\[/) continue; n = split($i, r, "-"); slots += (n == 2 ? r[2] - r[1] + 1 : 1) }
  print slots, $1 }' | sort -rn)"
from="$(awk 'NR == 1 {print $2}' <<<"$masters")"
to="$(awk 'NR == 2 {print $2}' <<<"$masters")"
most="$(awk 'NR == 1 {print $1}' <<<"$masters")"
[ "$reshard_slots" -le $((most / 2)) ] || reshard_slots=$((most / 2))
timeline="$(mktemp)"
"$load" --quiet --timeline --backend redis --redis-cluster --concurrency 16 --keys "$keys" --write-ratio 0.01 \
  --duration "$reshard_seconds" >"$timeline.result" 2>"$timeline" &
loader=$!
# Wait until the load runs (its routes are made first), then a few seconds more for a baseline.
until grep -q '^t=5 ' "$timeline" 2>/dev/null; do
  kill -0 "$loader" 2>/dev/null || { cat "$timeline" >&2; exit 1; }
  sleep 0.2
done
# After a reshard the nodes take a moment to agree on the new owners; the next one refuses until then.
settled() {
  for ((i = 0; i < 100; i++)); do
    redis-cli --cluster check "$seed_host:$seed_port" 2>&1 | grep -q -e '\[ERR\]' -e '\[WARNING\]' || return 0
    sleep 0.2
  done
  echo "cluster.sh: the cluster did not settle after a reshard" >&2
  return 1
}
reshard() { # from, to
  local log
  log="$(mktemp)"
  for ((attempt = 1; attempt <= 5; attempt++)); do
    settled
    if redis-cli --cluster reshard "$seed_host:$seed_port" --cluster-from "$1" --cluster-to "$2" --cluster-slots "$reshard_slots" \
      --cluster-yes --cluster-pipeline 100 >"$log" 2>&1; then
      rm -f "$log"
      return 0
    fi
    # Its own check before it starts can still catch the nodes disagreeing: try again.
    echo "cluster.sh: reshard attempt $attempt: $(grep -E 'ERR|WARN|\*\*\*' "$log" | head -3 | tr '\n' ' ')" >&2
    sleep 1
  done
  rm -f "$log"
  return 1
}
began=$(grep -c '^t=' "$timeline")
started=$(date +%s.%N)
reshard "$from" "$to"
reshard "$to" "$from"
settled
ended=$(grep -c '^t=' "$timeline")
took=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
wait "$loader"
cat "$timeline" >&2
awk -v began="$began" -v ended="$ended" -v slots="$reshard_slots" -v took="$took" '
  /^t=/ {
    split($1, t, "="); split($2, o, "="); split($3, e, "="); split($4, w, "=")
    second = t[2]; errors += e[2]
    if (second <= began) { before += o[2]; nb++ } else if (second <= ended + 1) { during += o[2]; nd++; if (w[2] > worst) worst = w[2] } else { after += o[2]; na++ }
  }
  END {
    printf "resharding under load: %d slots there and back in %s s; resolves/s before %.0f, during %.0f (%.2f), after %.0f; errors %d; slowest call during %.1f ms\n",
      slots, took, before / nb, during / nd, (during / nd) / (before / nb), (na ? after / na : 0), errors, worst
  }' "$timeline"
rm -f "$timeline" "$timeline.result"
