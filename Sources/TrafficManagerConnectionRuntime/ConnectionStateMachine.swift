/// Every decision of a connection that one thread owns — queueing, batching, idle and wake,
/// deadlines, cancellation, close and reconnect — as a pure value: events in, actions out.
///
/// The thread that owns the C handle asks ``next(now:)`` what to do and does it; callers on
/// other threads ``enqueue(_:deadline:now:)`` requests and executor jobs; a timer calls
/// ``expire(now:)``. All of them run under one lock around this value, so a decision to sleep
/// and a request that arrives are ordered: the machine decides ``ThreadAction/wait`` only when
/// nothing is queued, and every event that queues work for a waiting thread answers "wake it".
/// Nothing here reads a clock or touches a socket, so tests drive it with any interleaving.
///
/// Each request is completed exactly once — by the thread with its reply, or by the machine
/// with a ``Failure`` — and whoever takes it out of the machine owns that completion.
public struct ConnectionStateMachine<Payload, Job, Instant: InstantProtocol> where Instant.Duration == Duration {
    /// A queued or in-flight request.
    public struct Request {
        public let id: UInt64
        public let payload: Payload
        public let deadline: Instant
        /// When the request was queued.
        public let enqueuedAt: Instant

        @usableFromInline init(id: UInt64, payload: Payload, deadline: Instant, enqueuedAt: Instant) {
            self.id = id
            self.payload = payload
            self.deadline = deadline
            self.enqueuedAt = enqueuedAt
        }
    }

    /// Why the machine completed a request itself.
    public enum Failure: Equatable, Sendable {
        /// Its deadline passed before it was sent.
        case deadlineExceeded
        /// Its deadline passed after it was sent: the server may have acted on it.
        case timedOutInFlight
        /// The server could not be reached; the text says why.
        case unavailable(String)
        /// Closed, or never started before the deadline.
        case notRunning
        /// The queue was full.
        case overloaded
        /// The caller was cancelled.
        case cancelled
    }

    /// Limits and back-off.
    public struct Configuration: Sendable {
        /// Requests that may wait at once; more fail with ``Failure/overloaded``.
        public var maximumQueueDepth: Int
        /// Requests sent together at most.
        public var maximumBatchSize: Int
        /// The first wait after a failed connection attempt.
        public var initialBackOff: Duration
        /// The longest wait between attempts.
        public var maximumBackOff: Duration

        @inlinable public init(maximumQueueDepth: Int, maximumBatchSize: Int, initialBackOff: Duration, maximumBackOff: Duration) {
            self.maximumQueueDepth = maximumQueueDepth
            self.maximumBatchSize = maximumBatchSize
            self.initialBackOff = initialBackOff
            self.maximumBackOff = maximumBackOff
        }
    }

    /// What the owning thread does next.
    public enum ThreadAction {
        /// Run the executor jobs now in the `jobs` buffer.
        case runJobs
        /// Complete these requests with `failure`.
        case fail([Request], Failure)
        /// Connect, then report ``connectSucceeded(now:)`` or ``connectFailed(_:now:)``.
        case connect
        /// Send the requests now in the `batch` buffer and read their replies, then report
        /// ``completeBatch(connectionLost:now:)``.
        case execute
        /// Free the connection (a request timed out on it, so its replies are out of step),
        /// then ask again.
        case discardConnection
        /// Sleep until woken.
        case wait
        /// Free the connection and stop: the machine is closed and drained.
        case stop
    }

    /// What a caller does after ``enqueue(_:deadline:now:)``.
    public enum EnqueueAction {
        /// Nothing: the thread will see the request.
        case none
        /// Wake the thread.
        case wake
        /// Complete the request at once with this failure.
        case fail(Failure)
    }

    /// Which requests of a finished batch the thread still completes.
    public enum BatchCompletion: Equatable {
        /// All of them.
        case all
        /// Those whose flag is `true`; the others were completed already (timed out or cancelled).
        case only([Bool])
    }

    @usableFromInline enum Link: Equatable {
        case disconnected(retryAt: Instant)
        case connecting
        case connected
        /// Connected, but a request timed out in flight: discard when the thread is back.
        case broken
    }

    @usableFromInline let configuration: Configuration
    @usableFromInline var queue: [Request] = []
    @usableFromInline var jobs: [Job] = []
    /// The batch being executed; `nil` marks a request completed by someone else.
    /// The batch being executed: the same buffer the thread reads (shared, never mutated here),
    /// and which of its requests were completed by someone else (timed out or cancelled).
    @usableFromInline var inFlight: [Request] = []
    @usableFromInline var inFlightDone: [Bool] = []
    @usableFromInline var inFlightDoneCount = 0
    /// No later than the earliest deadline in `queue` (`nil` when it is empty), so that
    /// `next(now:)` looks for expired requests only when one may be there.
    @usableFromInline var earliestQueued: Instant?
    @usableFromInline var executing = false
    @usableFromInline var waiting = false
    @usableFromInline var started = false
    @usableFromInline var closing = false
    @usableFromInline var stopped = false
    @usableFromInline var link: Link
    @usableFromInline var backOff: Duration
    @usableFromInline var lastError = "not connected yet"
    @usableFromInline var jobsFirst = true

    @inlinable public init(configuration: Configuration, now: Instant) {
        self.configuration = configuration
        link = .disconnected(retryAt: now)
        backOff = configuration.initialBackOff
    }

    // MARK: Callers

    /// Queues a request that must complete by `deadline`; `id` is the caller's, unique.
    @inlinable public mutating func enqueue(_ payload: Payload, id: UInt64, deadline: Instant, now: Instant) -> EnqueueAction {
        if closing || stopped { return .fail(.notRunning) }
        if deadline <= now { return .fail(started ? .deadlineExceeded : .notRunning) }
        if queue.count >= configuration.maximumQueueDepth { return .fail(.overloaded) }
        queue.append(Request(id: id, payload: payload, deadline: deadline, enqueuedAt: now))
        earliestQueued = min(earliestQueued ?? deadline, deadline)
        return takeWaitingThread() ? .wake : .none
    }

    /// Queues an executor job; `false` when no thread runs (not started yet, or stopped) and
    /// the job must run elsewhere. Sets `wake` when the thread must be woken.
    @inlinable public mutating func enqueueJob(_ job: Job) -> (accepted: Bool, wake: Bool) {
        if stopped || !started { return (false, false) }
        jobs.append(job)
        return (true, takeWaitingThread())
    }

    /// The caller of request `id` was cancelled: the request, when it is still queued or in
    /// flight, for the caller to complete with ``Failure/cancelled``. A queued request is never
    /// sent; an in-flight one runs on, and its reply is dropped.
    @inlinable public mutating func cancel(_ id: UInt64) -> Request? {
        if let index = queue.firstIndex(where: { $0.id == id }) { return queue.remove(at: index) }
        if let index = inFlight.firstIndex(where: { $0.id == id }), !inFlightDone[index] {
            inFlightDone[index] = true
            inFlightDoneCount += 1
            return inFlight[index]
        }
        return nil
    }

    /// Takes every queued (not yet sent) request out, for the caller to hand to another
    /// connection — a redirect (Redis Cluster's `MOVED`) or a connection that cannot serve
    /// them. In-flight requests stay.
    @inlinable public mutating func takeQueued() -> [Request] {
        var taken: [Request] = []
        swap(&taken, &queue)
        earliestQueued = nil
        return taken
    }

    /// Queues requests taken from another machine, keeping their ids and deadlines; returns
    /// those refused (closed, expired, or past the queue bound) with why, and whether to wake
    /// the thread.
    @inlinable public mutating func adopt(_ requests: [Request], now: Instant) -> (refused: [(Request, Failure)], wake: Bool) {
        var refused: [(Request, Failure)] = []
        var wake = false
        for request in requests {
            switch enqueue(request.payload, id: request.id, deadline: request.deadline, now: now) {
            case .fail(let failure): refused.append((request, failure))
            case .wake: wake = true
            case .none: break
            }
        }
        return (refused, wake)
    }

    /// The thread has started: requests queued before it now go out; ones that time out
    /// from now on fail as ``Failure/deadlineExceeded`` rather than ``Failure/notRunning``.
    @inlinable public mutating func start() {
        started = true
    }

    /// Stop accepting requests; the thread finishes what is queued, then stops.
    /// - Returns: whether the thread must be woken.
    @inlinable public mutating func close() -> Bool {
        closing = true
        return takeWaitingThread()
    }

    /// Closes a machine whose thread never started: the queued requests, for the caller to
    /// fail with ``Failure/notRunning``.
    @inlinable public mutating func closeWithoutThread() -> [Request] {
        precondition(!started, "the thread has started: use close()")
        closing = true
        stopped = true
        var failed: [Request] = []
        swap(&failed, &queue)
        earliestQueued = nil
        return failed
    }

    /// Whether the thread has stopped.
    @inlinable public var isStopped: Bool { stopped }

    /// Executor jobs queued now.
    @inlinable public var jobCount: Int { jobs.count }

    /// Requests queued now (for metrics).
    @inlinable public var queueDepth: Int { queue.count }

    // MARK: Timer

    /// Completes every request whose deadline has passed: queued ones are removed (failing
    /// as ``Failure/deadlineExceeded``, or ``Failure/notRunning`` before the thread started);
    /// an in-flight one is marked done (``Failure/timedOutInFlight``) and the connection is
    /// discarded when the thread is back, since its replies would be out of step. Also returns
    /// the earliest deadline still pending, for the timer's next wake.
    @inlinable public mutating func expire(now: Instant) -> (expired: [(Request, Failure)], next: Instant?) {
        var expired: [(Request, Failure)] = []
        let queuedFailure: Failure = started ? .deadlineExceeded : .notRunning
        var next: Instant?
        if queue.contains(where: { $0.deadline <= now }) {
            var kept: [Request] = []
            for request in queue {
                if request.deadline <= now { expired.append((request, queuedFailure)) } else { kept.append(request) }
            }
            queue = kept
            earliestQueued = queue.lazy.map(\.deadline).min()
        }
        for index in inFlight.indices where !inFlightDone[index] {
            let request = inFlight[index]
            if request.deadline <= now {
                expired.append((request, .timedOutInFlight))
                inFlightDone[index] = true
                inFlightDoneCount += 1
                if link == .connected { link = .broken }
            } else {
                next = min(next ?? request.deadline, request.deadline)
            }
        }
        for request in queue { next = min(next ?? request.deadline, request.deadline) }
        return (expired, next)
    }

    /// The earliest deadline pending, queued or in flight.
    @inlinable public var earliestDeadline: Instant? {
        var earliest: Instant?
        for request in queue { earliest = min(earliest ?? request.deadline, request.deadline) }
        for index in inFlight.indices where !inFlightDone[index] {
            earliest = min(earliest ?? inFlight[index].deadline, inFlight[index].deadline)
        }
        return earliest
    }

    // MARK: The owning thread

    /// Moves the queued executor jobs into `taken` (empty on entry) while the thread is inside
    /// a connect or a batch — waiting for its socket, it runs them rather than let them wait;
    /// `false` when there were none.
    @inlinable public mutating func takeJobs(into taken: inout [Job]) -> Bool {
        precondition(taken.isEmpty, "the thread's job buffer must be empty")
        if jobs.isEmpty { return false }
        swap(&taken, &jobs)
        return true
    }

    /// What the owning thread does next.
    ///
    /// `batch` and `jobs` are the thread's buffers, empty on entry: ``ThreadAction/execute``
    /// and ``ThreadAction/runJobs`` swap the work into them, and the machine keeps the emptied
    /// buffers, so a busy connection allocates nothing per batch.
    @inlinable public mutating func next(now: Instant, batch: inout [Request], jobs taken: inout [Job]) -> ThreadAction {
        precondition(!executing, "next(now:) while a batch is out: report completeBatch first")
        precondition(batch.isEmpty && taken.isEmpty, "the thread's buffers must be empty")
        waiting = false
        // Alternate jobs and requests, so neither starves the other.
        if !jobs.isEmpty && (jobsFirst || queue.isEmpty) {
            jobsFirst = false
            swap(&taken, &jobs)
            return .runJobs
        }
        jobsFirst = true
        if let earliest = earliestQueued, earliest <= now {
            var expired: [Request] = []
            queue.removeAll { request in
                guard request.deadline <= now else { return false }
                expired.append(request)
                return true
            }
            earliestQueued = queue.lazy.map(\.deadline).min()
            if !expired.isEmpty { return .fail(expired, .deadlineExceeded) }
        }
        if link == .broken {
            link = .disconnected(retryAt: now)
            return .discardConnection
        }
        if !queue.isEmpty {
            switch link {
            case .connected:
                if queue.count <= configuration.maximumBatchSize {
                    swap(&batch, &queue)
                    earliestQueued = nil
                } else {
                    batch.append(contentsOf: queue.prefix(configuration.maximumBatchSize))
                    queue.removeFirst(configuration.maximumBatchSize)
                }
                // Share the thread's buffer: no copy of any request.
                inFlight = batch
                inFlightDone.removeAll(keepingCapacity: true)
                inFlightDone.append(contentsOf: repeatElement(false, count: batch.count))
                inFlightDoneCount = 0
                executing = true
                return .execute
            case .disconnected(let retryAt) where now >= retryAt:
                link = .connecting
                return .connect
            case .disconnected:
                // Between attempts, fail at once rather than wait on a server that is down.
                var failed: [Request] = []
                swap(&failed, &queue)
                earliestQueued = nil
                return .fail(failed, .unavailable(lastError))
            case .connecting, .broken:
                preconditionFailure("unreachable: connecting and broken are handled before")
            }
        }
        if closing {
            stopped = true
            return .stop
        }
        waiting = true
        return .wait
    }

    /// The connection attempt succeeded.
    @inlinable public mutating func connectSucceeded(now: Instant) {
        link = .connected
        backOff = configuration.initialBackOff
    }

    /// The connection attempt failed with `error`: wait before the next one, longer each time.
    ///
    /// The wait is the current back-off (`initialBackOff`, doubling up to `maximumBackOff`)
    /// times `jitter` (the caller draws it from 0.5...1), so that connections and processes
    /// that lost a server together do not all try again at the same instant.
    @inlinable public mutating func connectFailed(_ error: String, now: Instant, jitter: Double = 1) {
        lastError = error
        link = .disconnected(retryAt: now.advanced(by: backOff * min(1, max(0, jitter))))
        backOff = min(backOff * 2, configuration.maximumBackOff)
    }

    /// The batch from ``ThreadAction/execute(_:)`` is done; which replies the thread still
    /// delivers. `connectionLost` (with the reason) frees the connection: the next attempt is
    /// due at once.
    @inlinable public mutating func completeBatch(connectionLost reason: String? = nil, now: Instant) -> BatchCompletion {
        executing = false
        if let reason {
            lastError = reason
            link = .disconnected(retryAt: now)
        }
        // Drop the shared buffer, so the thread's copy is unique again when it empties it.
        inFlight = []
        if inFlightDoneCount == 0 { return .all }
        return .only(inFlightDone.map { !$0 })
    }

    @inlinable mutating func takeWaitingThread() -> Bool {
        guard waiting else { return false }
        waiting = false
        return true
    }
}
