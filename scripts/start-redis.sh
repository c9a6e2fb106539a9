#!/usr/bin/env bash
# Start (or reuse) a non-persistent Redis on loopback; prints eval-able TM_REDIS_* lines on stdout.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/env.sh"

dir="${TM_REDIS_DIR:-/tmp/tm-redis}"    # config, pidfile and log
timeout="${TM_REDIS_TIMEOUT:-30}"
command -v redis-server >/dev/null || { echo "start-redis: redis-server not found (run scripts/install-deps.sh)" >&2; exit 1; }
pong() { [ "$(timeout 2 redis-cli -h "$TM_REDIS_HOST" -p "$TM_REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

if pong; then
  echo "start-redis: reusing server on $TM_REDIS_HOST:$TM_REDIS_PORT" >&2
else
  # An instance of ours that is alive but not answering here (hung, paused, other address) is stopped first.
  pid="$(cat "$dir/redis.pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null; then
    bash "$here/stop-redis.sh"
  fi
  if ! pong; then
    mkdir -p "$dir"
    cat >"$dir/redis.conf" <<CONF
bind $TM_REDIS_HOST
port $TM_REDIS_PORT
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
save ""
appendonly no
CONF
    redis-server "$dir/redis.conf"
  fi
fi

for ((i = 0; i < timeout * 10; i++)); do pong && break; sleep 0.1; done
pong || { echo "start-redis: no PONG on $TM_REDIS_HOST:$TM_REDIS_PORT after ${timeout}s" >&2; tail -n 20 "$dir/redis.log" >&2 || true; exit 1; }
echo "start-redis: $(redis-server --version | cut -d' ' -f1-3) ready (log $dir/redis.log)" >&2
for v in TM_REDIS_HOST TM_REDIS_PORT; do printf 'export %s=%q\n' "$v" "${!v}"; done
