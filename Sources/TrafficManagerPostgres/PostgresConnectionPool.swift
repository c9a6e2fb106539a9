import Dispatch
import Foundation
import Logging
import TrafficManager

/// Connections to PostgreSQL, each owned by a thread of its own, sharing one queue.
///
/// A thread that wakes takes every queued statement (up to the pipeline depth) and runs them on
/// its connection in one pipeline, so concurrent callers share round trips. No libpq call runs
/// on a Swift concurrency thread.
final class PostgresConnectionPool: Sendable {
    private struct Request {
        var statement: PostgresStatement
        var continuation: CheckedContinuation<PostgresRows, any Error>
    }

    private struct State {
        var pending: [Request] = []
        var waitingThreads = 0
        var closed = false
        var runningThreads = 0
        var finished: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Locked(State())
    private let wakeUp = DispatchSemaphore(value: 0)
    private let configuration: PostgresRouteStore.Configuration

    init(configuration: PostgresRouteStore.Configuration, logger: Logger) {
        self.configuration = configuration
        let size = max(1, configuration.poolSize)
        state.withLock { $0.runningThreads = size }
        for index in 0..<size {
            let thread = Thread { [self] in
                var connection = PostgresConnection(configuration: configuration, logger: logger)
                serve(&connection)
            }
            thread.name = "tm-postgres-\(index)"
            thread.start()
        }
    }

    /// Runs `statement` on some connection and returns its rows.
    ///
    /// - Throws: ``PostgresFailure``, or ``TrafficManagerError/storeUnavailable(_:)`` after
    ///   ``close()``.
    func run(_ statement: PostgresStatement) async throws -> PostgresRows {
        try await withCheckedThrowingContinuation { continuation in
            let wake = state.withLock { state -> Bool? in
                guard !state.closed else { return nil }
                state.pending.append(Request(statement: statement, continuation: continuation))
                guard state.waitingThreads > 0 else { return false }
                state.waitingThreads -= 1
                return true
            }
            switch wake {
            case nil: continuation.resume(throwing: TrafficManagerError.storeUnavailable("the PostgreSQL store was shut down"))
            case true?: wakeUp.signal()
            case false?: break
            }
        }
    }

    /// Lets the threads finish what is queued, closes every connection, and returns when all
    /// threads have stopped.
    func close() async {
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            let (done, wakes) = state.withLock { state -> (Bool, Int) in
                state.closed = true
                if state.runningThreads == 0 { return (true, 0) }
                state.finished.append(finished)
                defer { state.waitingThreads = 0 }
                return (false, state.waitingThreads)
            }
            if done { finished.resume() }
            for _ in 0..<wakes { wakeUp.signal() }
        }
    }

    private func serve(_ connection: inout PostgresConnection) {
        let depth = max(1, configuration.maximumPipelineDepth)
        while true {
            let (batch, closed) = state.withLock { state -> ([Request], Bool) in
                if state.pending.isEmpty {
                    if !state.closed { state.waitingThreads += 1 }
                    return ([], state.closed)
                }
                let count = min(depth, state.pending.count)
                let batch = Array(state.pending.prefix(count))
                state.pending.removeFirst(count)
                return (batch, false)
            }
            if batch.isEmpty {
                if closed { break }
                wakeUp.wait()
                continue
            }
            let results = connection.run(batch.map(\.statement))
            for (request, result) in zip(batch, results) {
                request.continuation.resume(with: result.mapError { $0 as any Error })
            }
        }
        connection.disconnect()
        let finished = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.runningThreads -= 1
            guard state.runningThreads == 0 else { return [] }
            defer { state.finished = [] }
            return state.finished
        }
        for continuation in finished { continuation.resume() }
    }
}
