import Synchronization

/// Stops the read path from waiting on a cache that keeps failing.
///
/// After ``Configuration-swift.struct/failureThreshold`` failures in a row the breaker opens:
/// calls skip the cache for ``Configuration-swift.struct/coolDown``. Then one call probes the
/// cache; its success closes the breaker, its failure opens it for another cool-down.
///
/// A healthy breaker costs one atomic load per call.
public final class CircuitBreaker: Sendable {
    /// When to open and for how long.
    public struct Configuration: Sendable, Hashable {
        /// Failures in a row that open the breaker.
        public var failureThreshold: Int
        /// How long an open breaker skips the cache before probing it.
        public var coolDown: Duration

        /// Creates a configuration; the defaults open after 5 failures for 5 seconds.
        public init(failureThreshold: Int = 5, coolDown: Duration = .seconds(5)) {
            self.failureThreshold = max(1, failureThreshold)
            self.coolDown = coolDown
        }
    }

    /// Where the breaker stands.
    public enum State: Hashable, Sendable {
        /// The cache is used; `failures` failed in a row so far.
        case closed(failures: Int)
        /// The cache is skipped until `until` (monotonic time).
        case open(until: Duration)
        /// One probe call is using the cache; the others skip it.
        case probing
    }

    private let configuration: Configuration
    private let time: any TimeSource
    private let state = Locked(State.closed(failures: 0))
    private let healthy = Atomic(true)
    /// Writes whose invalidation did not reach this cache. Kept here because the breaker is
    /// what a resolver and a writer of one cache share, however they were built.
    let unconfirmed: UnconfirmedInvalidations

    /// Creates a closed breaker.
    public init(configuration: Configuration = .init(), time: any TimeSource = SystemTimeSource()) {
        self.configuration = configuration
        self.time = time
        self.unconfirmed = UnconfirmedInvalidations(time: time)
    }

    /// The current state.
    public var currentState: State { state.withLock { $0 } }

    /// Whether this call may use the cache. A `true` answer must be followed by
    /// ``recordSuccess()`` or ``recordFailure()``.
    public func allowsRequest() -> Bool {
        if healthy.load(ordering: .relaxed) { return true }
        let now = time.monotonicNow()
        return state.withLock { state in
            switch state {
            case .closed:
                return true
            case .open(let until) where now >= until:
                state = .probing
                return true
            case .open, .probing:
                return false
            }
        }
    }

    /// The cache answered.
    public func recordSuccess() {
        if healthy.load(ordering: .relaxed) { return }
        state.withLock { state in
            state = .closed(failures: 0)
            healthy.store(true, ordering: .relaxed)
        }
    }

    /// The cache failed.
    public func recordFailure() {
        let now = time.monotonicNow()
        state.withLock { state in
            healthy.store(false, ordering: .relaxed)
            switch state {
            case .closed(let failures) where failures + 1 < configuration.failureThreshold:
                state = .closed(failures: failures + 1)
            case .closed, .probing:
                state = .open(until: now + configuration.coolDown)
            case .open:
                break
            }
        }
    }
}
