// ResolverService: the HTTP API of ResolverServiceCore on PostgreSQL and Redis, configured from
// the environment, stopped gracefully by SIGTERM or SIGINT.
//
//   TM_HTTP_HOST, TM_HTTP_PORT                           where to listen (127.0.0.1:8080)
//   TM_API_TOKEN or TM_API_TOKEN_FILE                    the bearer token writes need
//   TM_PG_HOST, TM_PG_PORT, TM_PG_USER, TM_PG_DATABASE   PostgreSQL (password: TM_PG_PASSWORD)
//   TM_REDIS_HOST, TM_REDIS_PORT                         Redis
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ResolverServiceCore
import TrafficManager
import TrafficManagerPostgres
import TrafficManagerRedis

let environment = ProcessInfo.processInfo.environment
let logger = Logger(label: "ResolverService")
let token = environment["TM_API_TOKEN"]
    ?? environment["TM_API_TOKEN_FILE"].flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?
    .trimmingCharacters(in: .whitespacesAndNewlines)
guard let token, !token.isEmpty else {
    FileHandle.standardError.write(Data("ResolverService: set TM_API_TOKEN or TM_API_TOKEN_FILE (the token writes need)\n".utf8))
    exit(64)
}

let registry = PrometheusCollectorRegistry()
MetricsSystem.bootstrap(ResolverAPI.metricsFactory(registry: registry))

let store = PostgresRouteStore(configuration: .init(
    endpoint: .tcp(host: environment["TM_PG_HOST"] ?? "127.0.0.1", port: Int(environment["TM_PG_PORT"] ?? "") ?? 5432),
    user: environment["TM_PG_USER"] ?? "tm", password: environment["TM_PG_PASSWORD"],
    database: environment["TM_PG_DATABASE"] ?? "routes"))
let cache = RedisRouteCache(configuration: .init(
    endpoint: .tcp(host: environment["TM_REDIS_HOST"] ?? "127.0.0.1", port: Int(environment["TM_REDIS_PORT"] ?? "") ?? 6379)))
let manager = TrafficManager(store: store, cache: cache, publisher: OutboxOnly())
let api = ResolverAPI(manager: manager, settings: .init(writeToken: token), registry: registry)
let app = Application(
    router: api.router(),
    configuration: .init(
        address: .hostname(environment["TM_HTTP_HOST"] ?? "127.0.0.1", port: Int(environment["TM_HTTP_PORT"] ?? "") ?? 8080)),
    services: [store, cache], logger: logger)
try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])

/// Writes leave their events in the outbox; an `OutboxRelay` (`tmctl relay`) publishes them.
struct OutboxOnly: EventPublisher {
    func publish(_ event: RouteEvent) async throws {}
}
