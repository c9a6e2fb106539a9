import Synchronization

/// Runs one operation per key at a time and hands its result to every caller that asked for
/// that key meanwhile (request coalescing).
///
/// The operation runs in a task of its own, so a caller that leaves — cancelled (with
/// `CancellationError`) or at its own deadline — stops waiting without cancelling the work the
/// other callers wait for.
///
/// A caller that gets a result and asks again joins only an operation that started after the
/// first one ended.
final class SingleFlight<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    /// An operation's result and when the operation started.
    struct Landed: Sendable {
        var value: Value
        var started: ContinuousClock.Instant
    }

    private typealias Waiter = CheckedContinuation<Landed, any Error>

    private struct State {
        var flights: [Key: [UInt64: Waiter]] = [:]
        var nextWaiterID: UInt64 = 0
    }

    private let state = Locked(State())

    /// The result of `operation` for `key`, shared with concurrent callers for the same key.
    ///
    /// - Parameters:
    ///   - deadline: when this caller stops waiting; it then gets `expired()`'s error while
    ///     the operation runs on for the others.
    func run(
        _ key: Key, deadline: ContinuousClock.Instant, expired: @escaping @Sendable () -> any Error,
        operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Landed {
        let id = state.withLock { state in
            state.nextWaiterID &+= 1
            return state.nextWaiterID
        }
        let timer = Task {
            try await Task.sleep(until: deadline, clock: .continuous)
            leave(key, id, with: expired())
        }
        defer { timer.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: Waiter) in
                let leads = state.withLock { state -> Bool in
                    if Task.isCancelled {
                        waiter.resume(throwing: CancellationError())
                        return false
                    }
                    if ContinuousClock.now >= deadline {
                        waiter.resume(throwing: expired())
                        return false
                    }
                    if state.flights[key] != nil {
                        state.flights[key]?[id] = waiter
                        return false
                    }
                    state.flights[key] = [id: waiter]
                    return true
                }
                guard leads else { return }
                let started = ContinuousClock.now
                Task {
                    let result: Result<Landed, any Error>
                    do {
                        result = .success(Landed(value: try await operation(), started: started))
                    } catch {
                        result = .failure(error)
                    }
                    let waiters = self.state.withLock { $0.flights.removeValue(forKey: key) } ?? [:]
                    for waiter in waiters.values { waiter.resume(with: result) }
                }
            }
        } onCancel: {
            leave(key, id, with: CancellationError())
        }
    }

    /// Resumes caller `id` with `error` if it still waits for `key`; the operation runs on.
    private func leave(_ key: Key, _ id: UInt64, with error: any Error) {
        let waiter = state.withLock { $0.flights[key]?.removeValue(forKey: id) }
        waiter?.resume(throwing: error)
    }

    /// How many callers wait for `key` now.
    func waiterCount(for key: Key) -> Int {
        state.withLock { $0.flights[key]?.count ?? 0 }
    }
}
