import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
    /// ``monotonicNow()`` in nanoseconds: what the near cache's hit path reads, where the
    /// arithmetic of `Duration` would show. The default converts ``monotonicNow()``.
    func monotonicNanoseconds() -> Int64
}

extension TimeSource {
    public func monotonicNanoseconds() -> Int64 { monotonicNow().wholeNanoseconds }
}

/// The system's clocks.
public struct SystemTimeSource: TimeSource {
    /// ``MonotonicClock/nanoseconds()`` when the source was made.
    let origin = MonotonicClock.nanoseconds()

    /// Creates a source reading the system's clocks.
    public init() {}

    public func monotonicNow() -> Duration { .nanoseconds(MonotonicClock.nanoseconds() &- origin) }
    public func wallNow() -> Date { Date() }
    public func monotonicNanoseconds() -> Int64 { MonotonicClock.nanoseconds() &- origin }
}

/// The monotonic clock read directly, in nanoseconds: the clock `ContinuousClock` reads
/// (`CLOCK_BOOTTIME` on Linux, which keeps counting through suspension), without `Duration`'s
/// 128-bit arithmetic.
package enum MonotonicClock {
    @inline(__always)
    package static func nanoseconds() -> Int64 {
        var now = timespec()
        #if os(Linux)
        clock_gettime(CLOCK_BOOTTIME, &now)
        #else
        clock_gettime(CLOCK_MONOTONIC_RAW, &now)
        #endif
        return Int64(now.tv_sec) &* 1_000_000_000 &+ Int64(now.tv_nsec)
    }
}
