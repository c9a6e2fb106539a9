import Foundation

/// Where TrafficManager reads the time: monotonic time for TTLs, cool-downs and deadlines, and
/// wall time for record timestamps.
///
/// Tests inject a manual source (`TrafficManagerTestKit`'s `ManualTimeSource`) so that TTLs
/// expire without sleeping.
public protocol TimeSource: Sendable {
    /// Monotonic time since an arbitrary, fixed origin.
    func monotonicNow() -> Duration
    /// The wall-clock time.
    func wallNow() -> Date
}

/// The system's clocks.
public struct SystemTimeSource: TimeSource {
    private let origin = ContinuousClock.now

    /// Creates a source reading the system's clocks.
    public init() {}

    public func monotonicNow() -> Duration { origin.duration(to: .now) }
    public func wallNow() -> Date { Date() }
}
