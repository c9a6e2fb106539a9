#!/usr/bin/env bash
# Install dependencies, start local PostgreSQL and Redis, then build and run the Swift tests ("$@" goes to swift test).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Without TM_REQUIRE_SERVICES=1 a service that cannot be set up only warns (tests needing it skip).
step() {
  "$@" >&2 && return 0
  if [ "${TM_REQUIRE_SERVICES:-0}" = 1 ]; then echo "test.sh: '$*' failed" >&2; exit 1; fi
  echo "test.sh: warning: '$*' failed; continuing" >&2
}
# Runs a phase and prints how long it took; the timings are listed again at the end.
timings=()
phase() {
  local name=$1 started=$SECONDS
  shift
  "$@"
  timings+=("$(printf '%-28s %5d s' "$name" $((SECONDS - started)))")
  echo "test.sh: phase '$name' took $((SECONDS - started)) s" >&2
}
report() {
  [ ${#timings[@]} -gt 0 ] || return 0
  echo "test.sh: phase timings" >&2
  printf '  %s\n' "${timings[@]}" >&2
}
trap report EXIT

phase "install packages" step bash scripts/install-deps.sh
phase "start PostgreSQL" step bash scripts/start-postgres.sh
phase "start PostgreSQL replica" step bash scripts/start-postgres-replica.sh
phase "start Redis" step bash scripts/start-redis.sh
phase "start Redis Cluster" step bash scripts/start-redis-cluster.sh
source scripts/env.sh

phase "build" swift build --build-tests
if [ $# -gt 0 ]; then
  phase "tests (filtered)" swift test --skip-build "$@"
else
  # The fault suites measure every call against its deadline, and the fuzz properties keep
  # both cores busy for ~25 s: each runs alone, so that neither starves the other suites nor
  # is starved by them (the restart suites block test threads while scripts run).
  # tmctl's tests start dozens of processes and the eviction study keeps both cores busy for
  # seconds: each runs apart too, so that the suites with deadlines are not starved.
  # The replica suites pause and delay the one replica's replay: one at a time, after the rest.
  phase "tests" swift test --skip-build --skip FuzzTests --skip FaultTests --skip TmctlTests --skip EvictionStudyTests \
    --skip ShutdownBoundTests --skip PostgresReplicaTests --skip ReplicaReadPathTests
  phase "replica tests" swift test --skip-build --no-parallel --filter 'PostgresReplicaTests|ReplicaReadPathTests'
  phase "fault tests" swift test --skip-build --filter FaultTests
  # Kafka consumers' shutdown bounds, alone: with mock brokers frozen they starve whatever runs beside them.
  phase "Kafka shutdown bounds" swift test --skip-build --filter ShutdownBoundTests
  phase "fuzz tests" swift test --skip-build --filter FuzzTests
  phase "tmctl tests" swift test --skip-build --filter TmctlTests
  phase "eviction study" swift test --skip-build --filter EvictionStudyTests
  # The DocC documentation of every library, warnings as errors.
  phase "documentation" bash scripts/build-docs.sh
  # The HTTP example is a package of its own (Hummingbird): built and tested here.
  phase "build ResolverService" swift build --package-path Examples/ResolverService --build-tests
  phase "test ResolverService" swift test --package-path Examples/ResolverService --skip-build
fi

# The same suite under ThreadSanitizer, in a build folder of its own (TM_SKIP_TSAN=1 skips it).
# The Kafka suites stay out: librdkafka starts its threads with C11 thrd_create, which the
# sanitizer does not intercept, so its first allocation on such a thread crashes the sanitizer.
# So do tmctl's: they run the tool as a process (and a mock Kafka cluster in the test).
# So does the PostgreSQL TLS suite: libpq's OpenSSL is not instrumented, and its locking crashed
# the sanitizer inside CRYPTO_THREAD_unlock during a TLS handshake (nothing of ours is concurrent
# there; the suite checks certificate verification and runs in the plain run).
if [ "${TM_SKIP_TSAN:-0}" != 1 ]; then
  phase "build (ThreadSanitizer)" swift build --build-tests --sanitize=thread --scratch-path .build-tsan
  # The fault suites' time bounds do not hold under the sanitizer's slowdown; they run above.
  # The fuzz properties run apart again (5,000 cases each here, where each costs ~10x more).
  # The eviction study is single-threaded arithmetic (nothing for the sanitizer to find) that
  # would keep both cores busy for a minute under it, starving the time-bound suites.
  # The replica suites' time bounds (a paused replica left within its lag bound) do not hold either.
  tsan=(swift test --skip-build --sanitize=thread --scratch-path .build-tsan --skip TrafficManagerKafkaTests --skip TmctlTests
    --skip EvictionStudyTests --skip PostgresTLSTests --skip PostgresReplicaTests)
  if [ $# -gt 0 ]; then
    phase "tests (ThreadSanitizer)" env TM_FUZZ_CASES="${TM_FUZZ_CASES_TSAN:-5000}" "${tsan[@]}" --skip FaultTests "$@"
  else
    # One test target at a time: all of them at once, each slowed several times by the
    # sanitizer, starved the cooperative pool on 2 cores until services missed their start.
    for target in TrafficManagerTests TrafficManagerRedisTests TrafficManagerPostgresTests \
      'TrafficManagerConnectionRuntimeTests|TrafficManagerTopologyTests|TrafficManagerTestKitTests'; do
      phase "tests (ThreadSanitizer: ${target//|/, })" "${tsan[@]}" --skip FaultTests --skip FuzzTests --filter "^($target)\\."
    done
    phase "fuzz (ThreadSanitizer)" env TM_FUZZ_CASES="${TM_FUZZ_CASES_TSAN:-5000}" "${tsan[@]}" --filter FuzzTests
  fi
fi

# The benchmarks and load tools are a package of their own: make sure they still build
# (TM_SKIP_BENCHMARK_BUILD=1 skips it). Running them is Benchmarks/compare.sh's job.
if [ "${TM_SKIP_BENCHMARK_BUILD:-0}" != 1 ]; then
  phase "build benchmarks" swift build --package-path Benchmarks
fi
