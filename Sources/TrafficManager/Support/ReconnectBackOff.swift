/// How long an adapter waits between attempts to reach a server that is down: the first step,
/// doubled after each failed attempt up to a limit, and reset by a success; each wait is the
/// step times a random 0.5–1 (see the connection runtime).
public struct ReconnectBackOff: Sendable, Hashable {
    /// The first wait.
    public var initial: Duration
    /// The longest wait.
    public var maximum: Duration

    /// Creates a back-off.
    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }
}
