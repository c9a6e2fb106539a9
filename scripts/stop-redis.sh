#!/usr/bin/env bash
# Stop the test Redis: SHUTDOWN NOSAVE, then TERM/KILL through its pidfile if it does not go away.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
dir="${TM_REDIS_DIR:-/tmp/tm-redis}"

pid="$(cat "$dir/redis.pid" 2>/dev/null || true)"
ours() { [ -n "$pid" ] && grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null; }
if ours; then kill -CONT "$pid" 2>/dev/null || true; fi   # in case a test paused it
timeout 5 redis-cli -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true

for sig in TERM KILL; do
  for ((i = 0; i < 50; i++)); do ours || break; sleep 0.1; done
  ours || break
  kill -"$sig" "$pid" 2>/dev/null || true
done
for ((i = 0; i < 50; i++)); do ours || break; sleep 0.1; done
if ours; then echo "stop-redis: process $pid is still alive" >&2; exit 1; fi
rm -f "$dir/redis.pid"
echo "stop-redis: stopped" >&2
