import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// The PostgreSQL store behind a fault proxy: a path that freezes with its sockets open, and
/// one that resets. Every call returns within its deadline plus max(10 %, 250 ms).
@Suite(.serialized, .enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresFaultTests {
    static let timeout = Duration.seconds(1)
    static let slack = Duration.milliseconds(250)

    private func store(through proxy: FaultProxy, poolSize: Int = 2) async throws -> PostgresRouteStore {
        var configuration = testConfiguration(schema: "tm_test_shared", poolSize: poolSize)
        configuration.endpoint = .tcp(host: "127.0.0.1", port: proxy.port)
        configuration.callTimeout = Self.timeout
        configuration.connectTimeout = .seconds(2)
        let store = running(PostgresRouteStore(configuration: configuration))
        try await store.migrate()
        return store
    }

    /// Runs lookups of `route` from `callers` tasks while `during` runs and for `duration` after.
    private func load(_ store: PostgresRouteStore, _ route: RouteID, callers: Int, for duration: Duration, during: @Sendable () async throws -> Void)
        async throws -> LoadResult<TrafficManagerError.Code?>
    {
        try await LoadRun.run(
            callers: callers, for: duration, classify: { ($0 as? TrafficManagerError)?.code },
            operation: { _ = try await store.lookup(route) }, during: during)
    }

    private func timeToService(_ store: PostgresRouteStore, _ route: RouteID) async throws -> Duration {
        let start = ContinuousClock.now
        while start.duration(to: .now) < .seconds(10) {
            if (try? await store.lookup(route)) != nil { return start.duration(to: .now) }
            try await Task.sleep(for: .milliseconds(10))
        }
        return .seconds(10)
    }

    @Test func aReadThatMeetsAConnectionResetWhileIdleIsRetriedOnceOnAFreshConnection() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.postgres.port)
        defer { proxy.close() }
        let store = try await store(through: proxy, poolSize: 1)
        let route = try UniqueNames.route()
        _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        #expect(try await store.lookup(route).url == "http://a:1")
        // The one connection is reset while idle; the store learns of it only on its next read.
        proxy.mode = .drop
        try await Task.sleep(for: .milliseconds(100))
        proxy.mode = .pass
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await store.lookup(route).url == "http://a:1")
        await store.shutdown()
    }

    @Test func aFrozenPathFailsEveryCallWithinItsDeadlineAndServiceReturnsOnceItThaws() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.postgres.port)
        defer { proxy.close() }
        let store = try await store(through: proxy)
        let route = try UniqueNames.route()
        _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        let frozen = try await load(store, route, callers: 16, for: .milliseconds(2500)) {
            try await Task.sleep(for: .milliseconds(300))
            proxy.mode = .freeze
        }
        #expect(frozen.longest <= Self.timeout + Self.slack, "the longest call took \(frozen.longest)")
        #expect(frozen.succeeded > 0)
        #expect(frozen.failed[.deadlineExceeded, default: 0] > 0, "\(frozen.failed)")
        proxy.mode = .pass
        let back = try await timeToService(store, route)
        #expect(back < .seconds(1), "service came back after \(back)")
        await store.shutdown()
    }

    @Test func batchLookupsAndTheChangeHistoryOnAFrozenPathFailWithinTheirDeadline() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.postgres.port)
        defer { proxy.close() }
        let store = try await store(through: proxy, poolSize: 1)
        let routes = try (0..<3).map { _ in try UniqueNames.route() }
        for route in routes {
            _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        }
        // Both statements prepared on the connection first, so the frozen calls are sent whole.
        #expect(try await store.lookup(routes).map(\.url) == ["http://a:1", "http://a:1", "http://a:1"])
        _ = try await store.changes(after: nil, limit: 10)
        proxy.mode = .freeze
        for call in ["batch lookup", "change history"] {
            let start = ContinuousClock.now
            let error = await #expect(throws: TrafficManagerError.self, "\(call)") {
                if call == "batch lookup" { _ = try await store.lookup(routes) } else { _ = try await store.changes(after: nil, limit: 10) }
            }
            #expect(start.duration(to: .now) <= Self.timeout + Self.slack, "\(call) took \(start.duration(to: .now))")
            #expect([.deadlineExceeded, .storeUnavailable].contains(error?.code), "\(call): \(String(describing: error))")
        }
        proxy.mode = .pass
        #expect(try await timeToService(store, routes[0]) < .seconds(1))
        #expect(try await store.lookup(routes).count == 3)
        _ = try await store.changes(after: nil, limit: 10)
        await store.shutdown()
    }

    @Test func aWriteOnAFrozenPathIsOutcomeUnknownInTimeAndItsRetryAppliesOnce() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.postgres.port)
        defer { proxy.close() }
        let store = try await store(through: proxy, poolSize: 1)
        let route = try UniqueNames.route()
        let command = try RouteCommand(route: route, operation: .upsert(url: "http://a:1"))
        let key = try IdempotencyKey("fault-\(UUID())")
        // A write first, so the connection has prepared the write statement: the frozen write is
        // then sent whole. (On a fresh connection the prepare alone would be lost: nothing sent,
        // which the connection reports as storeUnavailable — or the runtime's deadline, if it
        // notices first, as outcomeUnknown.)
        _ = try await store.apply(try RouteCommand(route: try UniqueNames.route(), operation: .upsert(url: "http://warm:1")), idempotencyKey: nil)
        proxy.mode = .freeze
        let start = ContinuousClock.now
        let error = await #expect(throws: TrafficManagerError.self) { try await store.apply(command, idempotencyKey: key) }
        #expect(start.duration(to: .now) <= Self.timeout + Self.slack)
        #expect(error?.code == .outcomeUnknown, "\(String(describing: error))")
        proxy.mode = .pass
        var result: RouteWriteResult?
        for _ in 0..<100 where result == nil {
            result = try? await store.apply(command, idempotencyKey: key)
            if result == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(result?.endpoint.revision == 1)
        #expect(try await store.lookup(route) == RouteLookup(url: "http://a:1", revision: 1))
        await store.shutdown()
    }

    @Test func aResetPathFailsCallsFastAndServiceReturnsWithinASecond() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.postgres.port)
        defer { proxy.close() }
        let store = try await store(through: proxy)
        let route = try UniqueNames.route()
        _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        let dropped = try await load(store, route, callers: 16, for: .seconds(1)) {
            try await Task.sleep(for: .milliseconds(100))
            proxy.mode = .drop
        }
        #expect(dropped.longest <= Self.timeout + Self.slack, "the longest call took \(dropped.longest)")
        #expect(dropped.failed[.storeUnavailable, default: 0] > 0, "\(dropped.failed)")
        proxy.mode = .pass
        let back = try await timeToService(store, route)
        #expect(back < .seconds(1), "service came back after \(back)")
        await store.shutdown()
    }

    @Test func shutdownWithAStatementInFlightOnAFrozenPathReturnsByItsDeadline() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.postgres.port)
        defer { proxy.close() }
        let store = try await store(through: proxy, poolSize: 1)
        proxy.mode = .freeze
        let inFlight = Task { try await store.lookup(try UniqueNames.route()) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        await store.shutdown()
        #expect(start.duration(to: .now) <= Self.timeout + Self.slack, "shutdown took \(start.duration(to: .now))")
        let error = await #expect(throws: TrafficManagerError.self) { try await inFlight.value }
        #expect(error?.code == .deadlineExceeded)
        let after = await #expect(throws: TrafficManagerError.self) { try await store.lookup(try UniqueNames.route()) }
        #expect(after?.code == .notRunning)
    }

    @Test func aLookupCancelledWhileQueuedLeavesAtOnce() async throws {
        let proxy = try FaultProxy(upstreamPort: TestServices.postgres.port)
        defer { proxy.close() }
        var configuration = testConfiguration(schema: "tm_test_shared", poolSize: 1)
        configuration.endpoint = .tcp(host: "127.0.0.1", port: proxy.port)
        configuration.callTimeout = .seconds(10)
        let store = running(PostgresRouteStore(configuration: configuration))
        try await store.migrate()
        proxy.mode = .freeze
        let stuck = Task { try await store.lookup(try UniqueNames.route()) }
        try await Task.sleep(for: .milliseconds(100))
        let queued = Task { try await store.lookup(try UniqueNames.route()) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        queued.cancel()
        await #expect(throws: CancellationError.self) { try await queued.value }
        stuck.cancel()
        await #expect(throws: CancellationError.self) { try await stuck.value }
        #expect(start.duration(to: .now) < .milliseconds(200))
        proxy.mode = .pass
        await store.shutdown()
    }
}

