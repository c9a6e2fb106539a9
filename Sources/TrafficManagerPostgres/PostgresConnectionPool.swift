import Dispatch
import Foundation
import Logging
import TrafficManager

/// Connections to PostgreSQL, each owned by a thread of its own, sharing one queue.
///
/// A thread that wakes takes every queued statement (up to the pipeline depth) and runs them on
/// its connection in one pipeline, so concurrent callers share round trips. No libpq call runs
/// on a Swift concurrency thread.
///
/// Each thread is also a `TaskExecutor` (``executors``): a task that prefers one runs on that
/// thread between its pipelines, and its statements go to that thread's connection, so a round
/// trip resumes it without waking any other thread.
final class PostgresConnectionPool: Sendable {
    fileprivate struct Request {
        var statement: PostgresStatement
        var continuation: CheckedContinuation<PostgresRows, any Error>
    }

    private struct Worker {
        var jobs: [UnownedJob] = []
        var local: [Request] = []
        var waiting = false
        var finished = false
    }

    private struct State {
        var pending: [Request] = []
        var workers: [Worker]
        var idle: [Int] = []
        var closed = false
        var running: Int
        var finished: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Locked<State>
    private let wakeUps: [DispatchSemaphore]
    private let configuration: PostgresRouteStore.Configuration
    /// The connection threads' executors; emptied when the pool has closed, which breaks the
    /// reference cycle between them and the pool.
    private let executorsStorage = Locked<[PoolThreadExecutor]>([])

    private enum Wake {
        case none, thread(Int), closed
    }

    init(configuration: PostgresRouteStore.Configuration, logger: Logger) {
        self.configuration = configuration
        let size = max(1, configuration.poolSize)
        state = Locked(State(workers: Array(repeating: Worker(), count: size), running: size))
        wakeUps = (0..<size).map { _ in DispatchSemaphore(value: 0) }
        let executors = (0..<size).map { PoolThreadExecutor(pool: self, index: $0) }
        self.executorsStorage.withLock { $0 = executors }
        for index in 0..<size {
            let thread = Thread { [self] in
                pthread_setspecific(poolThreadKey, Unmanaged.passUnretained(executors[index]).toOpaque())
                var connection = PostgresConnection(configuration: configuration, logger: logger)
                serve(index, &connection)
            }
            thread.name = "tm-postgres-\(index)"
            thread.start()
        }
    }

    /// The executors of the connection threads.
    var threadExecutors: [any TaskExecutor] { executorsStorage.withLock { $0 } }

    /// Runs `statement` on some connection — the current thread's, when called from a task
    /// running on one — and returns its rows.
    ///
    /// - Throws: ``PostgresFailure``, or ``TrafficManagerError`` `notRunning` after
    ///   ``close()``.
    func run(_ statement: PostgresStatement) async throws -> PostgresRows {
        let current = PoolThreadExecutor.current.flatMap { $0.pool === self ? $0.index : nil }
        return try await withCheckedThrowingContinuation { continuation in
            let wake = state.withLock { state -> Wake in
                guard !state.closed else { return .closed }
                let request = Request(statement: statement, continuation: continuation)
                if let current, !state.workers[current].finished {
                    // This thread runs the caller now; it sends the statement next.
                    state.workers[current].local.append(request)
                    return .none
                }
                state.pending.append(request)
                return Self.takeIdle(&state).map { .thread($0) } ?? .none
            }
            switch wake {
            case .closed: continuation.resume(throwing: TrafficManagerError.notRunning("the PostgreSQL route store"))
            case .thread(let index): wakeUps[index].signal()
            case .none: break
            }
        }
    }

    fileprivate func enqueue(_ job: UnownedJob, on index: Int) {
        let wake = state.withLock { state -> Bool? in
            guard !state.workers[index].finished else { return nil }
            state.workers[index].jobs.append(job)
            guard state.workers[index].waiting else { return false }
            state.workers[index].waiting = false
            state.idle.removeAll { $0 == index }
            return true
        }
        switch wake {
        case nil: globalConcurrentExecutor.enqueue(ExecutorJob(job))
        case true?: wakeUps[index].signal()
        case false?: break
        }
    }

    /// Lets the threads finish what is queued, closes every connection, and returns when all
    /// threads have stopped.
    func close() async {
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            let (done, wakes) = state.withLock { state -> (Bool, [Int]) in
                state.closed = true
                if state.running == 0 { return (true, []) }
                state.finished.append(finished)
                let idle = state.idle
                for index in idle { state.workers[index].waiting = false }
                state.idle = []
                return (false, idle)
            }
            if done { finished.resume() }
            for index in wakes { wakeUps[index].signal() }
        }
    }

    private static func takeIdle(_ state: inout State) -> Int? {
        guard let index = state.idle.popLast() else { return nil }
        state.workers[index].waiting = false
        return index
    }

    private func serve(_ index: Int, _ connection: inout PostgresConnection) {
        let depth = max(1, configuration.maximumPipelineDepth)
        let executor = threadExecutors[index].asUnownedTaskExecutor()
        var jobs: [UnownedJob] = []
        while true {
            // Tasks running on this thread; they may queue statements on it.
            state.withLock { swap(&jobs, &$0.workers[index].jobs) }
            for job in jobs { job.runSynchronously(on: executor) }
            let ranJobs = !jobs.isEmpty
            jobs.removeAll(keepingCapacity: true)

            let (batch, stop, sleep) = state.withLock { state -> ([Request], Bool, Bool) in
                var batch = state.workers[index].local
                state.workers[index].local = []
                let shared = min(max(0, depth - batch.count), state.pending.count)
                batch += state.pending.prefix(shared)
                state.pending.removeFirst(shared)
                guard batch.isEmpty && !ranJobs && state.workers[index].jobs.isEmpty else { return (batch, false, false) }
                if state.closed { return ([], true, false) }
                state.workers[index].waiting = true
                state.idle.append(index)
                return ([], false, true)
            }
            if stop { break }
            if sleep {
                // A wake-up given after the lock was released is kept by the semaphore.
                wakeUps[index].wait()
                continue
            }
            if batch.isEmpty { continue }
            let results = connection.run(batch.map(\.statement))
            for (request, result) in zip(batch, results) {
                request.continuation.resume(with: result.mapError { $0 as any Error })
            }
        }
        connection.disconnect()
        let (finished, leftovers) = state.withLock { state -> ([CheckedContinuation<Void, Never>], [UnownedJob]) in
            state.workers[index].finished = true
            let leftovers = state.workers[index].jobs
            state.workers[index].jobs = []
            state.running -= 1
            guard state.running == 0 else { return ([], leftovers) }
            defer { state.finished = [] }
            return (state.finished, leftovers)
        }
        for job in leftovers { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
        if !finished.isEmpty { executorsStorage.withLock { $0 = [] } }
        for continuation in finished { continuation.resume() }
    }
}

/// The thread-local slot naming the pool thread a thread is.
private let poolThreadKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// The `TaskExecutor` of one pool thread.
private final class PoolThreadExecutor: TaskExecutor {
    let pool: PostgresConnectionPool
    let index: Int

    init(pool: PostgresConnectionPool, index: Int) {
        self.pool = pool
        self.index = index
    }

    func enqueue(_ job: consuming ExecutorJob) {
        pool.enqueue(UnownedJob(job), on: index)
    }

    /// The executor whose thread is the current thread, if any.
    static var current: PoolThreadExecutor? {
        guard let pointer = pthread_getspecific(poolThreadKey) else { return nil }
        return Unmanaged<PoolThreadExecutor>.fromOpaque(pointer).takeUnretainedValue()
    }
}
