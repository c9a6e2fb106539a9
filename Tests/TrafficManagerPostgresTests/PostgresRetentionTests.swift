import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresRetentionTests {
    @Test func expiredKeysOldPublishedEventsAndOldAuditEntriesArePrunedAndAKeyIsFreeAfterItsRetention() async throws {
        let schema = freshSchema()
        var configuration = testConfiguration(schema: schema, poolSize: 2)
        // Long enough for the checks within it even under the thread sanitizer.
        let retention = Duration.seconds(3)
        configuration.idempotencyKeyRetention = retention
        let store = running(PostgresRouteStore(configuration: configuration))
        try await store.migrate()
        let route = try UniqueNames.route()
        var events: [RouteEvent] = []
        for index in 1...3 {
            let result = try await store.apply(
                try RouteCommand(route: route, operation: .upsert(url: "http://a:\(index)")),
                idempotencyKey: IdempotencyKey("key-\(index)"))
            events.append(try #require(result.event))
        }
        let lastKeyWritten = ContinuousClock.now
        try await store.markPublished([events[0].eventID, events[1].eventID])
        try await store.recordAudit(events[0])

        // Within the retention, the key still guards its request.
        let conflict = await #expect(throws: TrafficManagerError.self) {
            try await store.apply(try RouteCommand(route: route, operation: .deactivate), idempotencyKey: IdempotencyKey("key-1"))
        }
        #expect(conflict?.code == .idempotencyConflict)

        try await Task.sleep(until: lastKeyWritten + retention + .milliseconds(300), clock: .continuous)
        let service = RetentionService(
            target: store, configuration: .init(eventRetention: .zero, auditRetention: .zero, batchSize: 2))
        let pruned = try await service.pruneOnce()
        #expect(pruned == PrunedRows(idempotencyKeys: 3, events: 2, auditEntries: 1))
        let left = try await store.execute(
            "SELECT (SELECT count(*) FROM \(schema).route_events), (SELECT count(*) FROM \(schema).route_events WHERE processed_at IS NULL)")
        #expect(left.rows.first == ["1", "1"], "the unpublished event stays for the relay")

        // Past its retention the key names a new request.
        let reused = try await store.apply(
            try RouteCommand(route: route, operation: .deactivate), idempotencyKey: IdempotencyKey("key-1"))
        #expect(!reused.replayed && reused.event?.action == .deactivated)
        _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
        await store.shutdown()
    }

    @Test func upgradingFromGlobalKeysScopesThemByTenantAndTheOldFunctionStillWrites() async throws {
        let schema = freshSchema()
        let store = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 1)))
        // A schema as the previous release left it, with one key stored the old way.
        _ = try await store.execute("SET search_path TO \(schema); " + PostgresMigrations.script(schema: schema, through: 2, statementTimeout: .seconds(59)))
        let route = try UniqueNames.route()
        let command = try RouteCommand(route: route, operation: .upsert(url: "http://old:1"))
        _ = try await store.execute(
            """
            SET search_path TO \(schema);
            SELECT * FROM tm_apply('\(route.tenant)', '\(route.service)', '\(route.environment)', '\(route.version)',
                                   'upsert', 'http://old:1', 'deploy-1', '\(command.fingerprint)')
            """)

        #expect(try await store.migrate() == [1, 2, 3, 4, 5, 6, 7])
        let rows = try await store.execute("SELECT tenant, key, expires_at > now() FROM \(schema).idempotency_keys")
        #expect(rows.rows == [[route.tenant, "deploy-1", "t"]])
        let replay = try await store.apply(command, idempotencyKey: IdempotencyKey("deploy-1"))
        #expect(replay.replayed && replay.endpoint.revision == 1)

        // An instance not yet upgraded calls the eight-argument function; it still writes.
        let old = try await store.execute(
            """
            SET search_path TO \(schema);
            SELECT revision, action FROM tm_apply('\(route.tenant)', '\(route.service)', '\(route.environment)',
                                                  '\(route.version)', 'upsert', 'http://new:2', NULL, NULL)
            """)
        #expect(old.rows.last == ["2", "updated"])
        _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
        await store.shutdown()
    }
}
