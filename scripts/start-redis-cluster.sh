#!/usr/bin/env bash
# Start (or reuse) a non-persistent Redis Cluster on loopback: 3 masters and 3 replicas, on
# TM_REDIS_CLUSTER_PORT … +5 (default 47001–47006). Prints eval-able TM_REDIS_CLUSTER_* lines.
# A cluster that is up but not healthy (a node missing, slots unassigned) is wiped and made again.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/env.sh"

dir="${TM_REDIS_CLUSTER_DIR:-/tmp/tm-redis-cluster}"
host="$TM_REDIS_HOST"
base="${TM_REDIS_CLUSTER_PORT:-47001}"
# How long a master may be unreachable before its replica takes over (milliseconds).
node_timeout="${TM_REDIS_CLUSTER_NODE_TIMEOUT:-2000}"
timeout="${TM_REDIS_TIMEOUT:-30}"
command -v redis-server >/dev/null || { echo "start-redis-cluster: redis-server not found (run scripts/install-deps.sh)" >&2; exit 1; }
ports=()
for ((i = 0; i < 6; i++)); do ports+=($((base + i))); done

cli() { timeout 3 redis-cli -h "$host" -p "$1" "${@:2}" 2>/dev/null; }
healthy() {
  for port in "${ports[@]}"; do
    cli "$port" cluster info | tr -d '\r' | grep -qx 'cluster_state:ok' || return 1
  done
  # Every node knows all six, three of them masters with slots.
  [ "$(cli "$base" cluster nodes | grep -c 'connected')" = 6 ] || return 1
  [ "$(cli "$base" cluster nodes | grep 'master' | grep -vc 'fail' )" = 3 ] || return 1
  # Every replica in sync with its master (one a test restarted may still be loading).
  for port in "${ports[@]}"; do
    local replication
    replication="$(cli "$port" info replication | tr -d '\r')"
    if grep -qx 'role:slave' <<<"$replication"; then
      grep -qx 'master_link_status:up' <<<"$replication" || return 1
      grep -qx 'master_sync_in_progress:0' <<<"$replication" || return 1
    fi
  done
}

all_answer() {
  for port in "${ports[@]}"; do [ "$(cli "$port" ping)" = PONG ] || return 1; done
}
# Nodes that all answer may be settling (a replica a test restarted, catching up): give them time.
if all_answer; then
  for ((i = 0; i < 100; i++)); do healthy && break; sleep 0.1; done
fi

if healthy; then
  echo "start-redis-cluster: reusing the cluster on $host:${ports[0]}–${ports[5]}" >&2
else
  bash "$here/stop-redis-cluster.sh" >/dev/null 2>&1 || true
  rm -rf "$dir"
  for port in "${ports[@]}"; do
    mkdir -p "$dir/$port"
    cat >"$dir/$port/redis.conf" <<CONF
bind $host
port $port
daemonize yes
pidfile $dir/$port/redis.pid
logfile $dir/$port/redis.log
dir $dir/$port
save ""
appendonly no
cluster-enabled yes
cluster-config-file $dir/$port/nodes.conf
cluster-node-timeout $node_timeout
CONF
    redis-server "$dir/$port/redis.conf"
  done
  for port in "${ports[@]}"; do
    for ((i = 0; i < timeout * 10; i++)); do
      [ "$(cli "$port" ping)" = PONG ] && break
      # A node that exited (a bad port, say) will never answer: stop waiting.
      pid="$(cat "$dir/$port/redis.pid" 2>/dev/null || true)"
      if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
      [ -z "$pid" ] && [ "$i" -gt 20 ] && break
      sleep 0.1
    done
    [ "$(cli "$port" ping)" = PONG ] || {
      echo "start-redis-cluster: the node on port $port did not start" >&2
      tail -n 5 "$dir/$port/redis.log" >&2
      exit 1
    }
  done
  addresses=()
  for port in "${ports[@]}"; do addresses+=("$host:$port"); done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 ||
    { echo "start-redis-cluster: cluster create failed" >&2; tail -n 20 "$dir/create.log" >&2; exit 1; }
  for ((i = 0; i < timeout * 10; i++)); do healthy && break; sleep 0.1; done
  healthy || { echo "start-redis-cluster: the cluster is not healthy after ${timeout}s" >&2; cli "$base" cluster nodes >&2 || true; exit 1; }
fi
echo "start-redis-cluster: $(redis-server --version | cut -d' ' -f1-3), 3 masters and 3 replicas ready (logs in $dir)" >&2
printf 'export TM_REDIS_CLUSTER_SEEDS=%s\n' "$host:${ports[0]},$host:${ports[1]},$host:${ports[2]}"
printf 'export TM_REDIS_CLUSTER_DIR=%q\n' "$dir"
