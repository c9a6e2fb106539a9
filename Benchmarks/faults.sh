#!/usr/bin/env bash
# The reliability report: each fault injected into real local servers under load, and what
# callers saw. Writes Docs/Reliability.md (or the file given as $1).
#   KAFKA_DOWN_SECONDS (default 30), CALLERS (default 16)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
root=..
bash "$root/scripts/install-deps.sh" >&2
bash "$root/scripts/start-redis.sh" >/dev/null
bash "$root/scripts/start-postgres.sh" >/dev/null
source "$root/scripts/env.sh"
out="${1:-$root/Docs/Reliability.md}"

swift build -c release --product tm-faults >&2
# The tool fails when a fault broke its goal (a run failed, or the log budget was exceeded);
# the report is written either way, then this script fails too.
status=0
table="$(.build/release/tm-faults --callers "${CALLERS:-16}" --kafka-down "${KAFKA_DOWN_SECONDS:-30}")" || status=$?

{
  cat "$root/Docs/Reliability.header.md"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -sr); Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2),"
  echo "PostgreSQL $(cat /tmp/tm-pg/data/PG_VERSION 2>/dev/null || echo '?'), librdkafka's mock cluster. Rerun: \`Benchmarks/faults.sh\`."
  echo
  echo "$table"
} >"$out"
echo "faults: wrote $out" >&2
exit "$status"
