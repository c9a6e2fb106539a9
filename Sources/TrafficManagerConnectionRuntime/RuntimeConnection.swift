/// A connection to a server, as the runtime drives it: every method runs on the connection's
/// own thread, and may block.
public protocol RuntimeConnection: SendableMetatype {
    /// What a caller asks.
    associatedtype Command: Sendable
    /// What the server answers to one command.
    associatedtype Reply: Sendable

    /// Connects; `nil` on success, else what went wrong (no secret in it). Every wait for the
    /// server goes through `io`, bounded by `deadline`.
    mutating func connect(deadline: ContinuousClock.Instant, io: ConnectionIO) -> String?

    /// Sends the `count` commands `command(0)`, `command(1)`, … and appends one reply per
    /// command to `replies`, in order. When the connection breaks it stops and returns why; the
    /// commands without a reply then fail. By `deadline` (the batch's latest) it gives up,
    /// frees the connection and returns why: every caller has been answered by then. Every
    /// wait for the server goes through `io`, so the thread's executor jobs run meanwhile.
    mutating func execute(
        _ count: Int, command: (Int) -> Command, replies: inout [Reply], deadline: ContinuousClock.Instant, io: ConnectionIO
    ) -> String?

    /// Frees the connection; the next request connects again.
    mutating func disconnect()
}
