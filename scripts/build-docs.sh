#!/usr/bin/env bash
# Builds the DocC documentation of every library product with warnings as errors, into
# .build/docs/<target>; open .build/docs/TrafficManager/documentation/trafficmanager/index.html
# through a web server, or pass --hosting-base-path to host it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .build/docs
for target in TrafficManager TrafficManagerTestKit TrafficManagerTopology TrafficManagerPostgres TrafficManagerRedis TrafficManagerKafka; do
  swift package --allow-writing-to-directory ".build/docs/$target" \
    generate-documentation --target "$target" --warnings-as-errors --output-path ".build/docs/$target" "$@" \
    >".build/docs/$target.log" 2>&1 \
    || { grep -v '^\[' ".build/docs/$target.log" >&2; echo "build-docs: $target's documentation has warnings (above)" >&2; exit 1; }
  echo "build-docs: $target" >&2
done
