#!/usr/bin/env bash
# Stop the local Redis Cluster that scripts/start-redis-cluster.sh started: the nodes its pid
# files name, then any node still answering on the cluster's ports (one a test restarted).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
dir="${TM_REDIS_CLUSTER_DIR:-/tmp/tm-redis-cluster}"
host="$TM_REDIS_HOST"
base="${TM_REDIS_CLUSTER_PORT:-47001}"
for pidfile in "$dir"/*/redis.pid; do
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid"; fi
done
for pidfile in "$dir"/*/redis.pid; do
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  for ((i = 0; i < 50; i++)); do grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null || break; sleep 0.1; done
done
for ((port = base; port < base + 6; port++)); do
  for ((i = 0; i < 50; i++)); do
    [ "$(timeout 2 redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = PONG ] || break
    pid="$(timeout 2 redis-cli -h "$host" -p "$port" info server 2>/dev/null | tr -d '\r' | awk -F: '/^process_id:/ {print $2}')"
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
done
echo "stop-redis-cluster: stopped" >&2
