// FullStack: TrafficManager on PostgreSQL, Redis and Kafka in one ServiceGroup, configured from
// the environment — the wiring a production program uses (the README shows the part between
// the "wiring" marks).
//
//   TM_PG_HOST, TM_PG_PORT, TM_PG_USER, TM_PG_DATABASE   PostgreSQL (password: TM_PG_PASSWORD)
//   TM_REDIS_HOST, TM_REDIS_PORT                         Redis
//   TM_KAFKA_BOOTSTRAP                                   Kafka; unset: a mock cluster in process
//   TM_INSTANCE                                          this instance's name (consumer groups)
//
// It migrates, writes and resolves a route, then serves until SIGTERM or SIGINT; with --once
// it stops after the demonstration, shutting everything down gracefully.
import Foundation
import Logging
import ServiceLifecycle
import TrafficManager
import TrafficManagerKafka
import TrafficManagerPostgres
import TrafficManagerRedis

let environment = ProcessInfo.processInfo.environment
let once = CommandLine.arguments.contains("--once")
let logger = Logger(label: "FullStack")
let instanceID = environment["TM_INSTANCE"] ?? ProcessInfo.processInfo.hostName
let secret = environment["TM_PG_PASSWORD"]

// Kafka: the given cluster, or librdkafka's mock cluster on loopback for a laptop.
var mockCluster: KafkaMockCluster?
let bootstrap: String
if let given = environment["TM_KAFKA_BOOTSTRAP"] {
    bootstrap = given
} else {
    let cluster = try KafkaMockCluster()
    try cluster.createTopic("route-events")
    mockCluster = cluster
    bootstrap = cluster.bootstrapServers
}

// wiring: begin
let store = PostgresRouteStore(configuration: .init(
    endpoint: .tcp(host: environment["TM_PG_HOST"] ?? "127.0.0.1", port: Int(environment["TM_PG_PORT"] ?? "") ?? 5432),
    user: environment["TM_PG_USER"] ?? "tm", password: secret, database: environment["TM_PG_DATABASE"] ?? "routes"))
let cache = RedisRouteCache(configuration: .init(
    endpoint: .tcp(host: environment["TM_REDIS_HOST"] ?? "127.0.0.1", port: Int(environment["TM_REDIS_PORT"] ?? "") ?? 6379)))
let kafka = try KafkaEventPublisher(configuration: .init(bootstrapServers: bootstrap))
let events = KafkaEventSource(configuration: .init(bootstrapServers: bootstrap))
// Every change, from every partition: the near cache answers from memory while it is caught up.
let changes = KafkaChangeFeed(configuration: .init(bootstrapServers: bootstrap))
let manager = TrafficManager(
    store: store, cache: cache, publisher: OutboxPublisher(publisher: kafka, outbox: store), changeFeed: changes)

// The adapters' connection threads live in their run(); calls made before the group starts
// wait for it within their deadline, so migrating first works.
let services = ServiceGroup(
    services: [
        store, cache, kafka, manager.changeFeedService!,
        // Every instance runs a relay; the lease lets one of them publish at a time.
        OutboxRelay(
            outbox: store, publisher: OutboxPublisher(publisher: kafka, outbox: store), lease: .init(store: store, holder: instanceID)),
        // Every instance invalidates its cache on every change, with the manager's tombstone TTL.
        EventConsumerService(source: events, group: "cache-\(instanceID)", handler: manager.cacheInvalidationConsumer()),
        // One audit log for all instances: one group.
        EventConsumerService(source: events, group: "audit", handler: AuditConsumer(log: PostgresAuditLog(store: store))),
        RetentionService(target: store),
    ],
    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
// wiring: end

try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { try await services.run() }
    let versions = try await store.migrate()
    let route = try RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "v1")
    let written = try await manager.createRoute(route, url: "http://chat-service.prod:4002", idempotencyKey: "fullstack-\(instanceID)")
    let url = try await manager.resolve(route)
    print("schema \(versions.map(String.init).joined(separator: ",")); \(route) at revision \(written.endpoint.revision) resolves to \(url)")
    if once {
        await services.triggerGracefulShutdown()
    } else {
        print("serving; SIGTERM or Ctrl-C stops it")
    }
    try await group.waitForAll()
}
mockCluster?.shutdown()
print("stopped")
