#!/usr/bin/env bash
# Stop the local Redis Cluster that scripts/start-redis-cluster.sh started.
set -euo pipefail
dir="${TM_REDIS_CLUSTER_DIR:-/tmp/tm-redis-cluster}"
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
echo "stop-redis-cluster: stopped" >&2
