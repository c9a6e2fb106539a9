/// Runs work that must finish once it has started — a write, and what follows its commit — in
/// a task of its own, so the caller's cancellation cannot cut it short.
///
/// The caller waits for the result, but a caller that is cancelled stops waiting at once with
/// `CancellationError` while the work runs on to its end (each backend call under its own
/// deadline).
enum Shielded {
    private struct State<Value: Sendable> {
        var result: Result<Value, any Error>?
        var waiter: CheckedContinuation<Value, any Error>?
        var timedOut = false
    }

    /// Runs `operation` to its end; the caller waits for it, at most `limit` when one is given
    /// (then it gets `timeout`'s error while the operation runs on).
    static func run<Value: Sendable>(
        waitingAtMost limit: Duration? = nil, timeout: @escaping @Sendable () -> any Error = { CancellationError() },
        _ operation: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let state = Locked(State<Value>())
        let timer = limit.map { limit in
            Task {
                try await Task.sleep(for: limit)
                let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                    state.timedOut = true
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume(throwing: timeout())
            }
        }
        Task {
            let result: Result<Value, any Error>
            do {
                result = .success(try await operation())
            } catch {
                result = .failure(error)
            }
            let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                state.result = result
                defer { state.waiter = nil }
                return state.waiter
            }
            timer?.cancel()
            waiter?.resume(with: result)
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Value, any Error>) in
                let ready = state.withLock { state -> Result<Value, any Error>? in
                    if let result = state.result { return result }
                    if state.timedOut { return .failure(timeout()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiter = waiter
                    return nil
                }
                if let ready { waiter.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
