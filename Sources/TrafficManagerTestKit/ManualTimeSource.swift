import Foundation
import Synchronization
import TrafficManager

/// A `TimeSource` that moves only when told to, so tests expire TTLs without sleeping.
public final class ManualTimeSource: TimeSource {
    private struct State {
        var monotonic: Duration = .zero
        var wall: Date
    }

    private let state: Locked<State>

    /// Creates a source at monotonic zero and the given wall time.
    public init(wall: Date = Date(unixMilliseconds: 1_767_225_600_000)) {
        state = Locked(State(wall: wall))
    }

    /// Moves both clocks forward by `duration`.
    public func advance(by duration: Duration) {
        state.withLock { state in
            state.monotonic += duration
            let (seconds, attoseconds) = duration.components
            state.wall += Double(seconds) + Double(attoseconds) / 1e18
        }
    }

    public func monotonicNow() -> Duration { state.withLock { $0.monotonic } }
    public func wallNow() -> Date { state.withLock { $0.wall } }
}
