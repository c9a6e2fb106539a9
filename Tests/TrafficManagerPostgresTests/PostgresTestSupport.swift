import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

let postgresSkip = Comment(rawValue: TestServices.postgres.skipMessage)

/// The test server's settings from the environment `scripts/env.sh` sets.
func testConfiguration(
    port: Int = TestServices.postgres.port, schema: String? = nil, poolSize: Int = 4
) -> PostgresRouteStore.Configuration {
    let environment = ProcessInfo.processInfo.environment
    return PostgresRouteStore.Configuration(
        endpoint: .tcp(host: TestServices.postgres.host, port: port),
        user: environment["TM_PG_USER"] ?? "tm",
        password: environment["TM_PG_PASSWORD"] ?? "tm",
        database: environment["TM_PG_DATABASE"] ?? "trafficmanager_test",
        schema: schema,
        sslMode: .disable,
        poolSize: poolSize,
        reconnectBackOff: .init(initial: .milliseconds(20), maximum: .milliseconds(500)))
}

/// A fresh schema name for one test.
func freshSchema() -> String {
    "tm_test_\(UInt32.random(in: 0...UInt32.max))"
}

/// A migrated store in the shared test schema, or in `schema`: the change history's checks take
/// a schema of their own, since another suite's retention prune in the shared one moves its
/// pruned horizon and makes every reader there resync.
func migratedStore(poolSize: Int = 4, schema: String = "tm_test_shared") async throws -> PostgresRouteStore {
    let store = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: poolSize)))
    try await store.migrate()
    return store
}
