import Foundation
import Logging
import ServiceLifecycle
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// `run()` hosts the store's threads: calls before it wait for it, none run after shutdown.
@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresLifecycleTests {
    @Test func migrateBeforeAServiceGroupStartsWorksOnceTheGroupRunsTheStore() async throws {
        let schema = freshSchema()
        let store = PostgresRouteStore(configuration: testConfiguration(schema: schema, poolSize: 2))
        let services = ServiceGroup(services: [store], gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.migrate() }
            try await Task.sleep(for: .milliseconds(100))
            #expect(store.runningThreadCount == 0)
            group.addTask { try await services.run() }
            try await group.next()
            _ = try await store.execute("DROP SCHEMA \(schema) CASCADE")
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        #expect(store.runningThreadCount == 0)
    }

    @Test func aStoreNeverRunFailsCallsAsNotRunningAtTheirDeadline() async throws {
        var configuration = testConfiguration(poolSize: 1)
        configuration.callTimeout = .milliseconds(300)
        let store = PostgresRouteStore(configuration: configuration)
        let start = ContinuousClock.now
        let error = await #expect(throws: TrafficManagerError.self) { try await store.lookup(try UniqueNames.route()) }
        #expect(error?.code == .notRunning)
        #expect(start.duration(to: .now) >= .milliseconds(300))
        await store.shutdown()
    }

    @Test func noThreadOutlivesShutdownAndLaterCallsAreNotRunning() async throws {
        let store = PostgresRouteStore(configuration: testConfiguration(schema: "tm_test_shared", poolSize: 3))
        let run = Task { try await store.run() }
        try await store.migrate()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 { group.addTask { _ = try await store.lookup(try UniqueNames.route()) } }
            try await group.waitForAll()
        }
        #expect(store.runningThreadCount == 3)
        await store.shutdown()
        #expect(store.runningThreadCount == 0)
        try await run.value
        let error = await #expect(throws: TrafficManagerError.self) { try await store.lookup(try UniqueNames.route()) }
        #expect(error?.code == .notRunning)
    }
}
