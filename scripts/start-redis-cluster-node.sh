#!/usr/bin/env bash
# Start one node of the local Redis Cluster again from its configuration (a node a test
# killed): scripts/start-redis-cluster-node.sh PORT. It rejoins the cluster by itself.
set -euo pipefail
dir="${TM_REDIS_CLUSTER_DIR:-/tmp/tm-redis-cluster}"
port="${1:?usage: start-redis-cluster-node.sh PORT}"
[ -f "$dir/$port/redis.conf" ] || { echo "start-redis-cluster-node: no node on port $port in $dir" >&2; exit 1; }
redis-server "$dir/$port/redis.conf"
for ((i = 0; i < 100; i++)); do
  [ "$(timeout 2 redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && exit 0
  sleep 0.1
done
echo "start-redis-cluster-node: the node on port $port did not answer" >&2
exit 1
