/// One event handed out by ``RouteEventSource/deliveries(group:)``. It counts as handled only
/// once ``acknowledge()`` is called; ``reject(_:)`` has it delivered again.
public struct RouteEventDelivery: Sendable {
    /// The event.
    public let event: RouteEvent
    private let settle: OneShot

    init(event: RouteEvent, settle: OneShot) {
        self.event = event
        self.settle = settle
    }

    /// The event was handled: its offset may be committed. Later calls do nothing.
    public func acknowledge() { settle.finish(with: nil) }

    /// The event was not handled: deliver it again. Later calls do nothing.
    public func reject(_ reason: any Error = RejectedDelivery()) { settle.finish(with: reason) }
}

/// The error a ``RouteEventDelivery/reject(_:)`` without a reason reports.
public struct RejectedDelivery: Error, Sendable {
    public init() {}
}

extension RouteEventSource {
    /// The group's events as an `AsyncSequence`, at least once: the next event comes only after
    /// the current one was acknowledged or rejected, and only an acknowledged event's progress
    /// is committed. Ending the iteration stops the consumer; an event neither acknowledged nor
    /// rejected by then is delivered again to the group's next consumer.
    ///
    /// ```swift
    /// for try await delivery in source.deliveries(group: "audit") {
    ///     try await auditLog.record(delivery.event)
    ///     delivery.acknowledge()
    /// }
    /// ```
    public func deliveries(group: String) -> AsyncThrowingStream<RouteEventDelivery, any Error> {
        AsyncThrowingStream { continuation in
            let consumer = Task {
                do {
                    try await consume(group: group) { event in
                        let settle = OneShot()
                        try await withTaskCancellationHandler {
                            try await settle.wait(after: {
                                continuation.yield(RouteEventDelivery(event: event, settle: settle))
                            })
                        } onCancel: {
                            settle.finish(with: CancellationError())
                        }
                    }
                    continuation.finish()
                } catch is CancellationError {
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in consumer.cancel() }
        }
    }
}

/// A result that is set once and awaited once.
final class OneShot: Sendable {
    private struct State {
        var outcome: Result<Void, any Error>?
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private let state = Locked(State())

    /// Runs `start`, then waits until ``finish(with:)`` was called (before or after).
    func wait(after start: () -> Void) async throws {
        start()
        try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
            let ready = state.withLock { state -> Result<Void, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.waiter = waiter
                return nil
            }
            if let ready { waiter.resume(with: ready) }
        }
    }

    /// Sets the outcome: `nil` for success, else the error. Only the first call counts.
    func finish(with error: (any Error)?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard state.outcome == nil else { return nil }
            state.outcome = error.map { .failure($0) } ?? .success(())
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: error.map { .failure($0) } ?? .success(()))
    }
}
