import Foundation

extension Date {
    /// A date at a whole number of milliseconds since 1970, the precision events carry.
    public init(unixMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(unixMilliseconds) / 1000)
    }

    /// Milliseconds since 1970, rounded, and clamped to `Int64`'s range (a date from an
    /// event's `occurred_at` can be anything the producer wrote).
    public var unixMilliseconds: Int64 {
        let milliseconds = (timeIntervalSince1970 * 1000).rounded()
        guard milliseconds.isFinite else { return milliseconds < 0 ? .min : .max }
        if milliseconds >= 0x1p63 { return .max }
        if milliseconds < -0x1p63 { return .min }
        return Int64(milliseconds)
    }
}
