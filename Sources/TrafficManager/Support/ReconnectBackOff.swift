/// How long an adapter waits between attempts to reach a server that is down: the first wait,
/// doubled after each failed attempt up to a limit, and reset by a success.
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

/// When an adapter's connection thread may next try to connect, per ``ReconnectBackOff``.
/// Between attempts calls fail at once instead of waiting on a server that is down.
package struct ReconnectSchedule {
    private let backOff: ReconnectBackOff
    private var next = ContinuousClock.now
    private var wait: Duration

    package init(_ backOff: ReconnectBackOff) {
        self.backOff = backOff
        wait = backOff.initial
    }

    /// Whether an attempt is due now.
    package var isDue: Bool { ContinuousClock.now >= next }

    /// The attempt succeeded: the next failure starts from the first wait again.
    package mutating func succeeded() {
        wait = backOff.initial
    }

    /// The attempt failed: wait before the next one, longer each time.
    package mutating func failed() {
        next = ContinuousClock.now + wait
        wait = min(wait * 2, backOff.maximum)
    }

    /// A working connection broke: try again at once.
    package mutating func connectionLost() {
        next = ContinuousClock.now
    }
}
