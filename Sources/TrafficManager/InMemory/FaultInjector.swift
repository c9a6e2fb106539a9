import Synchronization

/// Makes an in-memory backend misbehave on purpose, for tests: fail the next calls, answer
/// slowly, or stop at a hook the test controls.
///
/// Every in-memory backend owns one, as its `faults` property.
public final class FaultInjector: Sendable {
    private struct State {
        var failuresLeft = 0
        var error: any Error = TrafficManagerError.storeUnavailable("injected fault")
        var latency: Duration = .zero
        var hook: (@Sendable (String) async -> Void)?
        var pointFailures: [String: (count: Int, error: any Error)] = [:]
        var armed: Bool { failuresLeft > 0 || latency > .zero || hook != nil || !pointFailures.isEmpty }
    }

    private let state = Locked(State())
    private let armed = Atomic(false)

    /// Creates an injector that injects nothing.
    public init() {}

    /// Makes the next `count` calls throw `error`.
    public func failNext(_ count: Int, with error: any Error) {
        update { $0.failuresLeft = count; $0.error = error }
    }

    /// Makes the next `count` passes through the named point inside an operation throw `error`
    /// (for example `"environment"`, after a transaction has inserted the tenant, service and
    /// environment rows), to show that the operation leaves nothing behind.
    public func failNext(_ count: Int, at point: String, with error: any Error) {
        update { $0.pointFailures[point] = (count, error) }
    }

    /// Delays every call by `latency` (real time) before it runs.
    public func addLatency(_ latency: Duration) {
        update { $0.latency = latency }
    }

    /// Calls `hook` with the operation's name before every call runs; the call waits for it.
    public func setHook(_ hook: (@Sendable (String) async -> Void)?) {
        update { $0.hook = hook }
    }

    /// Removes every injected fault.
    public func reset() {
        update { $0 = State() }
    }

    private func update(_ body: (inout State) -> Void) {
        state.withLock { state in
            body(&state)
            armed.store(state.armed, ordering: .releasing)
        }
    }

    /// Throws when a failure was injected at `point`. Backends call this at their named points.
    public func checkPoint(_ point: String) throws {
        guard armed.load(ordering: .acquiring) else { return }
        let failure = state.withLock { state -> (any Error)? in
            guard let planned = state.pointFailures[point] else { return nil }
            state.pointFailures[point] = planned.count > 1 ? (planned.count - 1, planned.error) : nil
            armed.store(state.armed, ordering: .releasing)
            return planned.error
        }
        if let failure { throw failure }
    }

    /// Applies the injected faults to a call named `operation`. Backends call this first.
    public func check(_ operation: String) async throws {
        guard armed.load(ordering: .acquiring) else { return }
        let (latency, hook, failure) = state.withLock { state -> (Duration, (@Sendable (String) async -> Void)?, (any Error)?) in
            var failure: (any Error)?
            if state.failuresLeft > 0 {
                state.failuresLeft -= 1
                failure = state.error
            }
            armed.store(state.armed, ordering: .releasing)
            return (state.latency, state.hook, failure)
        }
        if let hook { await hook(operation) }
        if latency > .zero { try await Task.sleep(for: latency) }
        if let failure { throw failure }
    }
}
