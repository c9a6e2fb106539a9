import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresRouteStoreTests {
    @Test func thePostgresStorePassesTheStoreContract() async throws {
        let store = try await migratedStore(schema: freshSchema())
        try await RouteStoreContract { store }.run()
        await store.shutdown()
    }

    @Test func thePostgresStorePassesTheLeaseContract() async throws {
        let store = try await migratedStore()
        try await LeaseStoreContract { store }.run()
        await store.shutdown()
    }

    @Test func migrationsAreSafeTwiceAndFromTwoProcessesAtOnce() async throws {
        let schema = freshSchema()
        let first = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 1)))
        let second = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 1)))
        async let a = first.migrate()
        async let b = second.migrate()
        let (versionsA, versionsB) = try await (a, b)
        let all = PostgresMigrations.all.map(\.version)
        #expect(versionsA == all && versionsB == all)
        #expect(try await first.migrate() == all)
        let recorded = try await first.execute("SELECT count(*) FROM tm_schema_migrations")
        #expect(recorded.rows == [[String(all.count)]])
        _ = try await first.execute("DROP SCHEMA \(schema) CASCADE")
        await first.shutdown()
        await second.shutdown()
    }

    /// Instances started together each wait for the one migrating, past their own statement
    /// timeout (the migration's budget is 60 s), and keep that timeout for every other statement.
    @Test func aMigrationWaitsForAnotherPastTheStatementTimeoutAndLeavesTheTimeoutAlone() async throws {
        let schema = freshSchema()
        var configuration = testConfiguration(schema: schema, poolSize: 1)
        configuration.statementTimeout = .seconds(1)
        let store = running(PostgresRouteStore(configuration: configuration))
        let other = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 1)))
        // Its one connection's backend, so that the wait below is for its lock and not another
        // suite's migration.
        let pid = try #require(try await other.execute("SELECT pg_backend_pid()").rows.first?.first ?? nil)
        // Another instance migrating: it holds the migrations' lock for 2.5 s.
        let holding = Task {
            try await other.pool.run(
                .simple("SELECT pg_advisory_xact_lock(\(PostgresMigrations.lockKey)); SELECT pg_sleep(2.5)"), deadline: .now + .seconds(10))
        }
        let waiting = ContinuousClock.now
        var seen = false
        while !seen && waiting.duration(to: .now) < .seconds(10) {
            let held = try await store.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid = \(pid) AND "
                    + "((classid::bigint << 32) | objid::bigint) = \(PostgresMigrations.lockKey)")
            seen = !held.rows.isEmpty
            if !seen { try await Task.sleep(for: .milliseconds(20)) }
        }
        try #require(seen, "the other instance never took the migrations' lock")
        let started = ContinuousClock.now
        #expect(try await store.migrate() == PostgresMigrations.all.map(\.version))
        #expect(started.duration(to: .now) > .seconds(1), "the migration did not wait for the lock")
        _ = try await holding.value
        #expect(try await store.execute("SHOW statement_timeout").rows == [["1s"]])
        await #expect(throws: TrafficManagerError.self) { _ = try await store.execute("SELECT pg_sleep(1.5)") }
        _ = try await other.execute("DROP SCHEMA \(schema) CASCADE")
        await other.shutdown()
        await store.shutdown()
    }

    @Test func eightConcurrentWritersOfANewRouteMakeOneRowAndIdenticalResults() async throws {
        let store = try await migratedStore(poolSize: 8)
        let route = try UniqueNames.route()
        let command = try RouteCommand(route: route, operation: .upsert(url: "http://chat:4002"))
        let results = try await withThrowingTaskGroup(of: RouteWriteResult.self) { group in
            for _ in 0..<8 { group.addTask { try await store.apply(command, idempotencyKey: nil) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results.map(\.endpoint)).count == 1)
        #expect(results.filter { $0.event?.action == .created }.count == 1)
        let rows = try await store.execute(
            "SELECT count(*) FROM endpoints e JOIN environments en ON en.id = e.environment_id JOIN services s ON s.id = en.service_id JOIN tenants t ON t.id = s.tenant_id WHERE t.name = '\(route.tenant)'")
        #expect(rows.rows == [["1"]])
        let events = try await store.execute("SELECT count(*) FROM route_events WHERE tenant = '\(route.tenant)'")
        #expect(events.rows == [["1"]])
        await store.shutdown()
    }

    @Test func eightConcurrentWritersWithOneIdempotencyKeyWriteOnce() async throws {
        let store = try await migratedStore(poolSize: 8)
        let route = try UniqueNames.route()
        let command = try RouteCommand(route: route, operation: .upsert(url: "http://chat:4002"))
        let key = try IdempotencyKey("deploy-\(UUID().uuidString)")
        // Each of the others replays the first, or — while the first is still being applied —
        // is refused at once with idempotencyKeyInUse.
        let results = try await withThrowingTaskGroup(of: RouteWriteResult?.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do {
                        return try await store.apply(command, idempotencyKey: key)
                    } catch let error as TrafficManagerError where error.code == .idempotencyKeyInUse {
                        return nil
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let answered = results.compactMap { $0 }
        #expect(answered.filter { !$0.replayed }.count == 1)
        #expect(Set(answered.map(\.event)).count == 1)
        let retry = try await store.apply(command, idempotencyKey: key)
        #expect(retry.replayed && retry.event == answered.first?.event)
        #expect(try await store.lookup(route).revision == 1)
        await store.shutdown()
    }

    @Test func aFailureMidTransactionLeavesNoRowsBehind() async throws {
        let schema = freshSchema()
        let store = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 1)))
        try await store.migrate()
        // A trigger that fails the event insert, after the tenant, service, environment and
        // endpoint rows were written in the same transaction.
        _ = try await store.execute(
            """
            CREATE FUNCTION fail_event() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.url = 'http://fail.example/' THEN RAISE EXCEPTION 'forced failure'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER fail_event BEFORE INSERT ON route_events FOR EACH ROW EXECUTE FUNCTION fail_event();
            """)
        let route = try UniqueNames.route()
        do {
            _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://fail.example/")), idempotencyKey: try IdempotencyKey("k"))
            Issue.record("the forced failure did not fail the write")
        } catch let error as TrafficManagerError where error.code == .writeFailed {
            #expect(error.message.contains("forced failure"))
            #expect(error.sqlState != nil)
        }
        let counts = try await store.execute(
            "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM services), (SELECT count(*) FROM environments), (SELECT count(*) FROM endpoints), (SELECT count(*) FROM route_events), (SELECT count(*) FROM idempotency_keys)")
        #expect(counts.rows == [["0", "0", "0", "0", "0", "0"]])
        #expect(try await store.lookup(route) == .neverExisted)
        _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
        await store.shutdown()
    }

    @Test func writesRecordTheirEventInTheOutboxUnprocessed() async throws {
        let store = try await migratedStore()
        let route = try UniqueNames.route()
        let result = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        let event = try #require(result.event)
        let rows = try await store.execute(
            "SELECT action, url, revision, processed_at IS NULL FROM route_events WHERE event_id = '\(event.eventID.uuidString)'")
        #expect(rows.rows == [["created", "http://a:1", "1", "t"]])
        await store.shutdown()
    }

    @Test func metacharactersAreRejectedInNamesAndStoredVerbatimInURLs() async throws {
        let store = try await migratedStore()
        #expect(throws: ValidationError.self) { try RouteID(tenant: "a'; DROP TABLE tenants;--", service: "s", environment: "e", version: "v1") }
        #expect(throws: ValidationError.self) { try RouteID(tenant: "a", service: "s\\", environment: "e", version: "v1") }
        #expect(throws: ValidationError.self) { try RouteID(tenant: "a", service: "s", environment: "$1", version: "v1") }
        let route = try UniqueNames.route()
        let url = "http://evil.example/a';DROP%20TABLE%20tenants;--?q=$1&b=%5Cx00%27(x)*!"
        _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: url)), idempotencyKey: try IdempotencyKey("k-'\";--\(UUID())"))
        #expect(try await store.lookup(route) == RouteLookup(url: url, revision: 1))
        #expect(try await store.endpoint(route)?.url == url)
        await store.shutdown()
    }

    @Test func theStatementTimeoutIsHonoured() async throws {
        var configuration = testConfiguration(poolSize: 1)
        configuration.statementTimeout = .milliseconds(100)
        // The server gives up at 100 ms; the call's own deadline only needs to outlast it,
        // and connecting while the whole suite starts at once can take more than a second.
        configuration.callTimeout = .seconds(10)
        let store = running(PostgresRouteStore(configuration: configuration))
        do {
            _ = try await store.execute("SELECT pg_sleep(2)")
            Issue.record("pg_sleep(2) finished despite a 100 ms statement timeout")
        } catch let error as TrafficManagerError where error.code == .storeUnavailable {
            #expect(error.message.contains("statement_timeout"))
            #expect(error.sqlState == "57014")
        }
        #expect(try await store.execute("SELECT 1").rows == [["1"]])
        await store.shutdown()
    }

    @Test func anAbsentServerIsAClearErrorNamingHostAndPortButNotThePassword() async throws {
        var configuration = testConfiguration(port: 1, poolSize: 1)
        configuration.password = "pa55word-secret"
        let store = running(PostgresRouteStore(configuration: configuration))
        do {
            try await store.migrate()
            Issue.record("migrate succeeded against port 1")
        } catch let error as TrafficManagerError where error.code == .storeUnavailable {
            #expect(error.message.contains("127.0.0.1:1"))
            #expect(!"\(error) \(String(reflecting: error))".contains("pa55word"))
        }
        await store.shutdown()
    }

    @Test func aShutDownStoreRefusesCallsAsNotRunning() async throws {
        let store = running(PostgresRouteStore(configuration: testConfiguration(poolSize: 1)))
        await store.shutdown()
        let error = await #expect(throws: TrafficManagerError.self) { try await store.lookup(try UniqueNames.route()) }
        #expect(error?.code == .notRunning)
    }

    @Test func aReadOnAnUnmigratedSchemaFailsAsAReadAndSaysToMigrate() async throws {
        let store = running(PostgresRouteStore(configuration: testConfiguration(schema: freshSchema(), poolSize: 1)))
        defer { Task { await store.shutdown() } }
        let route = try UniqueNames.route()
        for read in [{ _ = try await store.lookup(route) }, { _ = try await store.endpoint(route) }] as [() async throws -> Void] {
            let error = await #expect(throws: TrafficManagerError.self) { try await read() }
            #expect(error?.code == .storeUnavailable)
            #expect(error?.sqlState == "42P01")
            #expect(error?.underlying != nil)
            #expect(error?.message.contains("migrate()") == true)
            #expect(error?.message.contains("write failed") == false)
            #expect(error?.message.contains(route.description) == true)
        }
        let write = await #expect(throws: TrafficManagerError.self) {
            try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        }
        #expect(write?.code == .storeUnavailable)
        #expect(write?.message.contains("migrate()") == true)
    }

    @Test func aURLStoredBeforeTheURLRulesStillReads() async throws {
        let store = try await migratedStore(poolSize: 1)
        let route = try UniqueNames.route()
        _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        _ = try await store.execute(
            """
            UPDATE endpoints SET url = 'http://user:pw@legacy:0/<x>' WHERE environment_id IN (
              SELECT e.id FROM environments e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id
              WHERE t.name = '\(route.tenant)')
            """)
        #expect(try await store.lookup(route).url == "http://user:pw@legacy:0/<x>")
        await store.shutdown()
    }
}

@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresTaskExecutorTests {
    @Test func tasksOnTheConnectionThreadsReadAndWriteCorrectly() async throws {
        let store = try await migratedStore(poolSize: 2)
        let executors = store.taskExecutors
        #expect(executors.count == 2)
        let tenant = UniqueNames.tenant()
        let routes = try (0..<16).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
        let wrong = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, route) in routes.enumerated() {
                group.addTask(executorPreference: executors[index % 2]) {
                    let url = "http://svc\(index):1"
                    _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: url)), idempotencyKey: nil)
                    var wrong = 0
                    for _ in 0..<20 where try await store.lookup(route) != RouteLookup(url: url, revision: 1) { wrong += 1 }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(wrong == 0)
        await store.shutdown()
        // A stopped connection's executor hands tasks to the global pool rather than strand them.
        #expect(await Task(executorPreference: executors[0]) { 42 }.value == 42)
    }
}

@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresRetryTests {
    @Test func aSerializationFailureIsRetriedAndTheWriteLandsOnce() async throws {
        let schema = freshSchema()
        let store = running(PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 1)))
        try await store.migrate()
        // The first event insert fails as a serialization failure; sequences are not rolled
        // back, so the retry passes.
        _ = try await store.execute(
            """
            CREATE SEQUENCE fail_once;
            CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF nextval('fail_once') = 1 THEN RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$;
            CREATE TRIGGER fail_once BEFORE INSERT ON route_events FOR EACH ROW EXECUTE FUNCTION fail_once();
            """)
        let route = try UniqueNames.route()
        let result = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        #expect(result.event?.action == .created && result.endpoint.revision == 1)
        #expect(try await store.execute("SELECT count(*) FROM route_events").rows == [["1"]])
        #expect(try await store.execute("SELECT last_value FROM fail_once").rows == [["2"]])
        _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
        await store.shutdown()
    }
}
