import TrafficManager

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. For tests
/// that wait on work other tasks or threads do.
public func eventually(timeout: Duration = .seconds(30), _ condition: @Sendable () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(2))
    }
    return true
}

/// A counter safe to bump from any task or thread.
public final class ConcurrentCount: Sendable {
    private let value = Locked(0)

    /// Creates a counter at zero.
    public init() {}

    /// Adds one.
    public func bump() { value.withLock { $0 += 1 } }

    /// The count now.
    public var current: Int { value.withLock { $0 } }
}
