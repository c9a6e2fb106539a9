#!/usr/bin/env bash
# Reports public API changes that would break users, against the last release (the newest v*
# tag) or the commit given: scripts/check-api.sh [COMMIT]. Exit 0: nothing breaks; 1: something
# does (the list is printed); 2: no baseline to compare with.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

baseline="${1:-$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || true)}"
if [ -z "$baseline" ]; then
  echo "check-api: no release tag (v*) yet; pass the commit to compare with: scripts/check-api.sh COMMIT" >&2
  exit 2
fi
git rev-parse --verify -q "$baseline^{commit}" >/dev/null || { echo "check-api: $baseline is not a commit" >&2; exit 2; }

# The library products users depend on; executables and test plumbing have no API to keep.
products=(TrafficManager TrafficManagerTestKit TrafficManagerRedis TrafficManagerPostgres TrafficManagerKafka)
# Products added after the baseline have nothing to break.
present=()
for product in "${products[@]}" TrafficManagerTopology; do
  git show "$baseline:Package.swift" | grep -q "\.library(name: \"$product\"" && present+=("$product")
done
echo "check-api: comparing ${present[*]} with $baseline ($(git log -1 --format=%h "$baseline"))" >&2
swift package --scratch-path .build-api diagnose-api-breaking-changes "$baseline" --products "${present[@]}" --baseline-dir .build-api/baseline
