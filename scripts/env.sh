#!/usr/bin/env bash
# Connection defaults for the local test servers; source this file (values already set are kept).
export TM_PG_HOST="${TM_PG_HOST:-127.0.0.1}"
export TM_PG_PORT="${TM_PG_PORT:-55432}"
export TM_PG_USER="${TM_PG_USER:-tm}"
export TM_PG_PASSWORD="${TM_PG_PASSWORD:-tm}"
export TM_PG_REPLICA_PORT="${TM_PG_REPLICA_PORT:-55433}"
export TM_PG_REPLICATION_USER="${TM_PG_REPLICATION_USER:-tm_replicator}"
export TM_PG_REPLICATION_PASSWORD="${TM_PG_REPLICATION_PASSWORD:-tm_replicator}"
export TM_PG_DATABASE="${TM_PG_DATABASE:-${TM_PG_DB:-trafficmanager_test}}"
export TM_REDIS_HOST="${TM_REDIS_HOST:-127.0.0.1}"
export TM_REDIS_PORT="${TM_REDIS_PORT:-56379}"
# The certificate authority scripts/start-postgres.sh made for its server's TLS certificate.
export TM_PG_SSLROOTCERT="${TM_PG_SSLROOTCERT:-${TM_PG_DIR:-/tmp/tm-pg}/tls/ca.crt}"
# The local Redis Cluster scripts/start-redis-cluster.sh starts (3 masters, 3 replicas).
export TM_REDIS_CLUSTER_SEEDS="${TM_REDIS_CLUSTER_SEEDS:-127.0.0.1:47001,127.0.0.1:47002,127.0.0.1:47003}"
