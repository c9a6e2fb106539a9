import CoreMetrics
import Foundation
import Logging
import Synchronization
import TrafficManager
import TrafficManagerConnectionRuntime

/// Connections to PostgreSQL, each a ``PostgresConnection`` owned by a ``ConnectionThread``.
///
/// A statement goes to the connection whose thread runs the caller (a task on one of
/// ``threadExecutors``), else to the connection with the fewest statements outstanding. A
/// thread that wakes sends every statement queued for it (up to the pipeline depth) in one
/// pipeline, so concurrent callers share round trips. No libpq call runs on a Swift concurrency
/// thread.
final class PostgresConnectionPool: Sendable {
    private let connections: [ConnectionThread<PostgresConnection>]
    private let load: [LoadCounter]
    private let threads: ConnectionThreadGroup

    /// Creates the pool of `configuration.poolSize` connections to `configuration.endpoint`;
    /// their metrics' `connection` dimension counts from `indexBase`, and `role` names the
    /// server in thread names and errors (`primary`, `replica 1`).
    init(
        configuration: PostgresRouteStore.Configuration, logger: Logger, metricsFactory: any MetricsFactory, indexBase: Int = 0,
        role: String = "primary"
    ) {
        let endpoint = configuration.endpointDescription
        let depth = configuration.maximumQueueDepth
        let connections = (0..<max(1, configuration.poolSize)).map { index in
            let runtime = ConnectionThread<PostgresConnection>(
                configuration: .init(
                    maximumQueueDepth: depth, maximumBatchSize: max(1, configuration.maximumPipelineDepth),
                    initialBackOff: configuration.reconnectBackOff.initial, maximumBackOff: configuration.reconnectBackOff.maximum),
                connectTimeout: configuration.connectTimeout,
                metrics: ConnectionMetrics(backend: "postgres", index: indexBase + index, prefix: configuration.metricsPrefix, factory: metricsFactory),
                makeError: { failure, statement in
                    Self.error(failure, statement, endpoint: endpoint, depth: depth, timeout: configuration.callTimeout)
                })
            return runtime
        }
        self.connections = connections
        load = connections.map { _ in LoadCounter() }
        threads = ConnectionThreadGroup(
            name: role == "primary" ? "the PostgreSQL route store at \(endpoint)" : "the PostgreSQL \(role) at \(endpoint)",
            members: connections.enumerated().map { index, runtime in
                .thread(runtime, name: role == "primary" ? "tm-postgres-\(index)" : "tm-pg-r\(indexBase / 1000)-\(index)") { PostgresConnection(configuration: configuration, logger: logger) }
            })
    }

    /// The executors of the connection threads.
    var threadExecutors: [any TaskExecutor] { connections }

    /// Runs `statement` by `deadline` and returns its rows.
    ///
    /// - Throws: ``PostgresFailure`` from the server or the connection, or a
    ///   ``TrafficManagerError`` the runtime decided (`deadlineExceeded`, `outcomeUnknown`,
    ///   `storeUnavailable`, `notRunning`, `overloaded`), or `CancellationError`.
    func run(_ statement: PostgresStatement, deadline: ContinuousClock.Instant) async throws -> PostgresRows {
        let index = pick()
        load[index].value.add(1, ordering: .relaxed)
        defer { load[index].value.subtract(1, ordering: .relaxed) }
        return try await connections[index].send(statement, deadline: deadline).get()
    }

    /// Starts the threads and hosts them until shutdown (``ConnectionThreadGroup/run()``).
    func run() async throws {
        try await threads.run()
    }

    /// Lets the threads finish what is queued, closes every connection, and returns when all
    /// threads have stopped.
    func close() async {
        await threads.shutdown()
    }

    /// Threads running now; for tests.
    var runningThreadCount: Int { threads.runningThreadCount }

    /// The current thread's connection, else the least loaded one.
    private func pick() -> Int {
        if connections.count == 1 { return 0 }
        if let current = ConnectionThread<PostgresConnection>.current,
            let index = connections.firstIndex(where: { $0 === current })
        {
            return index
        }
        var best = 0
        var lowest = Int.max
        for index in load.indices {
            let value = load[index].value.load(ordering: .relaxed)
            if value < lowest { (best, lowest) = (index, value) }
            if value == 0 { break }
        }
        return best
    }

    private static func error(
        _ failure: ConnectionThread<PostgresConnection>.Machine.Failure, _ statement: PostgresStatement, endpoint: String, depth: Int,
        timeout: Duration
    ) -> any Error {
        let isWrite: Bool
        switch statement {
        case .prepared(let name, _): isWrite = !name.isReadOnly
        case .simple: isWrite = true
        }
        switch failure {
        case .deadlineExceeded:
            return TrafficManagerError.deadlineExceeded("a PostgreSQL statement at \(endpoint) (never sent)", deadline: timeout)
        case .timedOutInFlight where isWrite:
            return TrafficManagerError.outcomeUnknown("PostgreSQL at \(endpoint) did not confirm the write by its deadline")
        case .timedOutInFlight:
            return TrafficManagerError.deadlineExceeded("a PostgreSQL read at \(endpoint)", deadline: timeout)
        case .unavailable(let reason):
            return PostgresFailure(sqlState: nil, message: reason, connectionLost: true)
        case .notRunning:
            return TrafficManagerError.notRunning("the PostgreSQL route store")
        case .overloaded:
            return TrafficManagerError.overloaded("the PostgreSQL connection to \(endpoint)", queueDepth: depth)
        case .cancelled:
            return CancellationError()
        }
    }
}

/// Statements outstanding on one connection.
private final class LoadCounter: Sendable {
    let value = Atomic(0)
}
