import Dispatch
import Foundation
import CoreMetrics
import Synchronization
import TrafficManager

/// A connection and the thread that owns it, driven by a ``ConnectionStateMachine``.
///
/// Callers ``send(_:timeout:)`` a command and suspend; the thread carries out what the machine
/// decides — run executor jobs, connect, send a batch, fail what timed out, sleep — and resumes
/// each caller once. The blocking calls of the C client run on this thread only.
///
/// - Deadlines: every call completes within its timeout, measured from the call. The thread
///   fails requests that time out in its queue; a timer fails them even while the thread is
///   stuck in a C call, and the connection is then discarded, since its replies are out of step.
/// - Cancellation: a caller cancelled while its request is queued leaves at once with
///   `CancellationError` and the request is never sent; one cancelled while its request is in
///   flight leaves at once too, and the reply is dropped.
/// - The thread is also a `TaskExecutor`: tasks that prefer it run between its batches.
// Unchecked sendability is safe: the mutable state lives in `state` (a `Locked`) and `ids` (an
// `Atomic`); `timer` is only scheduled, which Dispatch allows from any thread; the connection
// itself is a local of the owning thread.
public final class ConnectionThread<Connection: RuntimeConnection>: TaskExecutor, @unchecked Sendable {
    /// A queued command and its caller.
    public struct Pending {
        @usableFromInline let command: Connection.Command
        @usableFromInline let continuation: CheckedContinuation<Connection.Reply, any Error>

        @usableFromInline init(command: Connection.Command, continuation: CheckedContinuation<Connection.Reply, any Error>) {
            self.command = command
            self.continuation = continuation
        }
    }

    public typealias Machine = ConnectionStateMachine<Pending, UnownedJob, ContinuousClock.Instant>

    @usableFromInline struct State {
        @usableFromInline var machine: Machine
        @usableFromInline var armedAt: ContinuousClock.Instant?
        @usableFromInline var threadStarted = false
        @usableFromInline var stopWaiters: [CheckedContinuation<Void, Never>] = []
        /// The stopping thread has taken `stopWaiters`: later closers wait on `threadAlive`.
        @usableFromInline var stopWaitersTaken = false

        @usableFromInline init(machine: Machine) {
            self.machine = machine
        }
    }

    @usableFromInline let state: Locked<State>
    /// The thread's waits; its `wake()` reaches the thread in any of them.
    @usableFromInline let io = ConnectionIO()
    /// Jobs taken in a socket wait; the owning thread's alone.
    @usableFromInline var socketWaitJobs: [UnownedJob] = []
    @usableFromInline let timer: any DispatchSourceTimer
    @usableFromInline let ids = Atomic<UInt64>(0)
    /// Whether the thread runs: set as it starts, cleared as the last thing it does.
    @usableFromInline let threadAlive = Atomic(false)
    @usableFromInline let connectTimeout: Duration
    @usableFromInline let makeError: @Sendable (Machine.Failure, Connection.Command) -> any Error
    @usableFromInline let metrics: ConnectionMetrics?

    /// Creates the runtime; ``start(name:connection:)`` starts its thread.
    ///
    /// - Parameter makeError: the error a caller of a command gets for each failure the
    ///   machine decides (``Machine/Failure/cancelled`` always becomes `CancellationError`).
    @inlinable public init(
        configuration: Machine.Configuration, connectTimeout: Duration, metrics: ConnectionMetrics? = nil,
        makeError: @escaping @Sendable (Machine.Failure, Connection.Command) -> any Error
    ) {
        self.metrics = metrics
        state = Locked(State(machine: Machine(configuration: configuration, now: .now)))
        self.connectTimeout = connectTimeout
        self.makeError = makeError
        timer = DispatchSource.makeTimerSource(queue: .global())
        timer.setEventHandler { [weak self] in self?.timerFired() }
        timer.schedule(deadline: .distantFuture)
        timer.activate()
    }

    deinit {
        timer.cancel()
    }

    /// Starts the thread, which makes and owns the connection. Adapters start it from their
    /// `Service.run()` (``ConnectionThreadGroup``); calls made before it queue.
    @inlinable public func start(name: String, connection makeConnection: @escaping @Sendable () -> Connection) {
        let first = state.withLock { state -> Bool in
            // Once only, and never after a close without a thread.
            guard !state.threadStarted && !state.machine.isStopped else { return false }
            state.threadStarted = true
            return true
        }
        guard first else { return }
        threadAlive.store(true, ordering: .releasing)
        let thread = Thread { [self] in
            // A write to a connection the peer reset raises SIGPIPE in the writing thread, whose
            // default action ends the process; blocked here, the write fails with EPIPE instead.
            var pipe = sigset_t()
            sigemptyset(&pipe)
            sigaddset(&pipe, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipe, nil)
            let waiters: [CheckedContinuation<Void, Never>]
            do {
                var connection = makeConnection()
                waiters = serve(&connection)
            }
            // The connection is freed; whoever waits for the stop may go on.
            threadAlive.store(false, ordering: .releasing)
            for waiter in waiters { waiter.resume() }
        }
        thread.name = name
        thread.start()
    }

    /// Sends `command` and returns its reply, or throws within `timeout`.
    ///
    /// - Throws: what `makeError` makes of the machine's failure, or `CancellationError`.
    @inlinable public func send(_ command: Connection.Command, timeout: Duration) async throws -> Connection.Reply {
        try await send(command, deadline: .now + timeout)
    }

    /// Sends `command` and returns its reply, or throws by `deadline`.
    ///
    /// - Throws: what `makeError` makes of the machine's failure, or `CancellationError`.
    @inlinable public func send(_ command: Connection.Command, deadline: ContinuousClock.Instant) async throws -> Connection.Reply {
        let id = ids.add(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Connection.Reply, any Error>) in
                let now = ContinuousClock.now
                let action = state.withLock { state -> Machine.EnqueueAction in
                    if Task.isCancelled { return .fail(.cancelled) }
                    let action = state.machine.enqueue(Pending(command: command, continuation: continuation), id: id, deadline: deadline, now: now)
                    if case .fail = action { return action }
                    if state.armedAt.map({ deadline < $0 }) ?? true {
                        state.armedAt = deadline
                        timer.schedule(deadline: Self.dispatchTime(deadline, now: now))
                    }
                    return action
                }
                switch action {
                case .none: break
                case .wake: io.wake()
                case .fail(let failure): continuation.resume(throwing: error(failure, command))
                }
            }
        } onCancel: {
            if let request = state.withLock({ $0.machine.cancel(id) }) {
                request.payload.continuation.resume(throwing: CancellationError())
            }
        }
    }

    /// Moves every command still queued here (none in flight) to `other`, which sends them on
    /// its connection under their own deadlines: the way to follow a redirect, or to drain a
    /// connection that cannot serve. A caller cancelled after the move leaves by its deadline
    /// rather than at once.
    @inlinable public func handOffQueued(to other: ConnectionThread) {
        let taken = state.withLock { $0.machine.takeQueued() }
        guard !taken.isEmpty else { return }
        let now = ContinuousClock.now
        let (refused, wake) = other.state.withLock { state -> ([(Machine.Request, Machine.Failure)], Bool) in
            let result = state.machine.adopt(taken, now: now)
            if let earliest = taken.lazy.map(\.deadline).min(), state.armedAt.map({ earliest < $0 }) ?? true {
                state.armedAt = earliest
                other.timer.schedule(deadline: Self.dispatchTime(earliest, now: now))
            }
            return result
        }
        for (request, failure) in refused { fail(request, failure) }
        if wake { other.io.wake() }
    }

    /// Stops accepting commands, lets the thread finish what is queued (each within its
    /// deadline), and returns when the thread has stopped and freed the connection.
    @inlinable public func close() async {
        await withCheckedContinuation { (stopped: CheckedContinuation<Void, Never>) in
            let (wake, abandoned, done) = state.withLock { state -> (Bool, [Machine.Request], Bool) in
                if state.stopWaitersTaken { return (false, [], true) }
                if !state.threadStarted {
                    return (false, state.machine.closeWithoutThread(), true)
                }
                state.stopWaiters.append(stopped)
                return (state.machine.close(), [], false)
            }
            for request in abandoned { fail(request, .notRunning) }
            if wake { io.wake() }
            if done { stopped.resume() }
        }
        // Only a thread in its last instructions is still alive here.
        while isThreadAlive { await Task.yield() }
    }

    /// Whether the thread is running: from ``start(name:connection:)`` until it has stopped.
    @inlinable public var isThreadAlive: Bool { threadAlive.load(ordering: .acquiring) }

    /// Requests queued now.
    @inlinable public var queueDepth: Int { state.withLock { $0.machine.queueDepth } }

    // MARK: TaskExecutor

    @inlinable public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let (accepted, wake) = state.withLock { $0.machine.enqueueJob(job) }
        guard accepted else {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
            return
        }
        io.jobQueued()
        if wake { io.wake() }
    }

    /// The runtime whose thread is the current thread, if any.
    @inlinable public static var current: ConnectionThread? {
        guard let pointer = pthread_getspecific(currentThreadKey) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(pointer).takeUnretainedValue() as? ConnectionThread
    }

    // MARK: The owning thread

    /// Runs the thread until the machine stops; returns who waits for the stop.
    @inlinable func serve(_ connection: inout Connection) -> [CheckedContinuation<Void, Never>] {
        // The thread's closure holds `self`, so the unretained pointer stays valid while it runs.
        pthread_setspecific(currentThreadKey, Unmanaged.passUnretained(self as AnyObject).toOpaque())
        let executor = asUnownedTaskExecutor()
        io.runQueuedJobs = { [unowned self] in
            let taken = state.withLock { $0.machine.takeJobs(into: &socketWaitJobs) }
            guard taken else { return }
            io.jobsTaken(socketWaitJobs.count)
            for job in socketWaitJobs { job.runSynchronously(on: executor) }
            socketWaitJobs.removeAll(keepingCapacity: true)
        }
        defer { io.runQueuedJobs = {} }
        var batch: [Machine.Request] = []
        var jobs: [UnownedJob] = []
        var replies: [Connection.Reply] = []
        state.withLock { $0.machine.start() }
        running: while true {
            let now = ContinuousClock.now
            let action = state.withLock { $0.machine.next(now: now, batch: &batch, jobs: &jobs) }
            switch action {
            case .runJobs:
                io.jobsTaken(jobs.count)
                for job in jobs { job.runSynchronously(on: executor) }
                jobs.removeAll(keepingCapacity: true)
            case .fail(let requests, let failure):
                if failure == .deadlineExceeded { metrics?.deadlineMisses.increment(by: requests.count) }
                for request in requests { fail(request, failure) }
            case .connect:
                let failure = connection.connect(deadline: .now + connectTimeout, io: io)
                state.withLock { state in
                    if let failure { state.machine.connectFailed(failure, now: .now, jitter: .random(in: 0.5...1)) } else { state.machine.connectSucceeded(now: .now) }
                }
                if failure == nil { metrics?.connects.increment() } else { metrics?.connectFailures.increment() }
                metrics?.up.record(failure == nil ? 1 : 0)
            case .execute:
                if let metrics, let oldest = batch.first {
                    // A batch takes the whole queue unless it is longer than the batch size.
                    metrics.queueDepth.record(batch.count)
                    metrics.wait.recordNanoseconds(oldest.enqueuedAt.duration(to: now).wholeNanoseconds)
                }
                let deadline = batch.lazy.map(\.deadline).max() ?? .now
                let lost = connection.execute(
                    batch.count, command: { index in batch.withUnsafeBufferPointer { $0[index].payload.command } },
                    replies: &replies, deadline: deadline, io: io)
                if lost != nil {
                    connection.disconnect()
                    metrics?.up.record(0)
                }
                let completion = state.withLock { $0.machine.completeBatch(connectionLost: lost, now: lost == nil ? now : .now) }
                deliver(batch, replies, completion, lost: lost)
                batch.removeAll(keepingCapacity: true)
                replies.removeAll(keepingCapacity: true)
            case .discardConnection:
                connection.disconnect()
                metrics?.up.record(0)
            case .wait:
                io.sleep()
            case .stop:
                connection.disconnect()
                break running
            }
        }
        timer.cancel()
        return state.withLock { state in
            defer {
                state.stopWaiters = []
                state.stopWaitersTaken = true
            }
            return state.stopWaiters
        }
    }

    @inlinable func deliver(_ batch: [Machine.Request], _ replies: [Connection.Reply], _ completion: Machine.BatchCompletion, lost: String?) {
        // Through the buffer, so each request is borrowed rather than copied.
        // Read only when a request went unanswered: a full batch costs no clock read.
        let now = replies.count < batch.count ? ContinuousClock.now : nil
        batch.withUnsafeBufferPointer { requests in
            for index in requests.indices {
                if case .only(let owned) = completion, !owned[index] { continue }
                if index < replies.count {
                    requests[index].payload.continuation.resume(returning: replies[index])
                } else if let now, requests[index].deadline <= now {
                    // The connection gave up at this request's deadline (the timer may not have
                    // fired yet): a timeout, as the timer would have said, not an outage.
                    fail(requests[index], .timedOutInFlight)
                } else {
                    fail(requests[index], .unavailable(lost ?? "the connection gave no reply"))
                }
            }
        }
    }

    // MARK: Timer

    @inlinable func timerFired() {
        let now = ContinuousClock.now
        let expired = state.withLock { state -> [(Machine.Request, Machine.Failure)] in
            let result = state.machine.expire(now: now)
            state.armedAt = result.next
            if let next = result.next { timer.schedule(deadline: Self.dispatchTime(next, now: now)) }
            return result.expired
        }
        if !expired.isEmpty { metrics?.deadlineMisses.increment(by: expired.count) }
        for (request, failure) in expired { fail(request, failure) }
    }

    @inlinable func fail(_ request: Machine.Request, _ failure: Machine.Failure) {
        request.payload.continuation.resume(throwing: error(failure, request.payload.command))
    }

    @inlinable func error(_ failure: Machine.Failure, _ command: Connection.Command) -> any Error {
        failure == .cancelled ? CancellationError() : makeError(failure, command)
    }

    @inlinable static func dispatchTime(_ instant: ContinuousClock.Instant, now: ContinuousClock.Instant) -> DispatchTime {
        let delay = max(.zero, now.duration(to: instant))
        return .now() + .nanoseconds(Int(delay.wholeNanoseconds))
    }
}

/// The thread-local slot naming the runtime a thread belongs to.
@usableFromInline let currentThreadKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()
