import Synchronization

/// A complete in-process event system: an ``EventPublisher`` and the ``RouteEventSource`` its
/// consumers read from.
///
/// Events are kept in one ordered log (one partition). Each consumer group has a committed
/// position, advanced only after the handler returns, so a handler that throws sees the event
/// again after ``redeliveryDelay``, and a consumer cancelled mid-event leaves it to the next
/// consumer of the group. Run one consumer per group; a second one of the same group would
/// see the same events (at-least-once, never lost).
///
/// It is also a ``RouteChangeFeed``: every follower gets each event as it is published, in log
/// order, then a ``RouteChangeFeedElement/caughtUp(lag:)`` mark; a heartbeat repeats the mark
/// every ``heartbeatInterval`` while nothing is published. ``cutFeed()`` holds deliveries and
/// marks back — a stream that stopped — until ``restoreFeed()``.
public final class InMemoryEventBus: EventPublisher, RouteEventSource, RouteChangeFeed {
    private struct Follower {
        var observe: @Sendable (RouteChangeFeedElement) -> Void
        /// The next log position to deliver.
        var next: Int
    }

    private struct State {
        var followers: [UInt64: Follower] = [:]
        var feedCut = false
        var log: [RouteEvent] = []
        var committed: [String: Int] = [:]
        var waiters: [UInt64: CheckedContinuation<Void, any Error>] = [:]
        var nextWaiterID: UInt64 = 0
    }

    private let state = Locked(State())
    /// How long a consumer waits before delivering an event its handler threw on.
    public let redeliveryDelay: Duration
    /// Faults to inject into ``publish(_:)``.
    public let faults = FaultInjector()

    /// How often followers get a caught-up mark while nothing is published.
    public let heartbeatInterval: Duration

    /// Creates an empty bus.
    public init(redeliveryDelay: Duration = .milliseconds(100), heartbeatInterval: Duration = .milliseconds(50)) {
        self.redeliveryDelay = redeliveryDelay
        self.heartbeatInterval = heartbeatInterval
    }

    public func publish(_ event: RouteEvent) async throws {
        try await faults.check("publish")
        let waiters = state.withLock { state in
            state.log.append(event)
            Self.deliver(&state)
            defer { state.waiters.removeAll() }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Delivers to every follower what it has not had yet, then a caught-up mark: under the
    /// state's lock, so marks never pass an event.
    private static func deliver(_ state: inout State) {
        guard !state.feedCut else { return }
        for (id, follower) in state.followers {
            for position in follower.next..<state.log.count { follower.observe(.change(state.log[position])) }
            state.followers[id]?.next = state.log.count
            follower.observe(.caughtUp(lag: .zero))
        }
    }

    public func follow(_ observe: @escaping @Sendable (RouteChangeFeedElement) -> Void) async throws {
        let id = state.withLock { state in
            state.nextWaiterID &+= 1
            state.followers[state.nextWaiterID] = Follower(observe: observe, next: state.log.count)
            Self.deliver(&state)
            return state.nextWaiterID
        }
        defer { _ = state.withLock { $0.followers.removeValue(forKey: id) } }
        while !Task.isCancelled {
            try? await Task.sleep(for: heartbeatInterval)
            state.withLock { Self.deliver(&$0) }
        }
        throw CancellationError()
    }

    /// Holds every follower's deliveries and caught-up marks back, as a stream that stopped
    /// would; publishing goes on.
    public func cutFeed() { state.withLock { $0.feedCut = true } }

    /// Delivers what was held back, and marks again.
    public func restoreFeed() {
        state.withLock { state in
            state.feedCut = false
            Self.deliver(&state)
        }
    }

    public func consume(group: String, handler: @escaping @Sendable (RouteEvent) async throws -> Void) async throws {
        while true {
            try Task.checkCancellation()
            let (offset, event) = state.withLock { state -> (Int, RouteEvent?) in
                let offset = state.committed[group, default: 0]
                return (offset, offset < state.log.count ? state.log[offset] : nil)
            }
            guard let event else {
                try await waitForEvent(after: offset)
                continue
            }
            do {
                try await handler(event)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                try await Task.sleep(for: redeliveryDelay)
                continue
            }
            state.withLock { state in
                if state.committed[group, default: 0] == offset { state.committed[group] = offset + 1 }
            }
        }
    }

    /// Every event published so far, oldest first.
    public var publishedEvents: [RouteEvent] { state.withLock { $0.log } }

    /// How many events `group` has handled.
    public func committedCount(group: String) -> Int {
        state.withLock { $0.committed[group, default: 0] }
    }

    private func waitForEvent(after offset: Int) async throws {
        let id = state.withLock { state in
            state.nextWaiterID &+= 1
            return state.nextWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
                state.withLock { state in
                    if Task.isCancelled {
                        waiter.resume(throwing: CancellationError())
                    } else if state.log.count > offset {
                        waiter.resume()
                    } else {
                        state.waiters[id] = waiter
                    }
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
