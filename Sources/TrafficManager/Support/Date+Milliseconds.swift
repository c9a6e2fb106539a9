import Foundation

extension Date {
    /// A date at a whole number of milliseconds since 1970, the precision events carry.
    public init(unixMilliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(unixMilliseconds) / 1000)
    }

    /// Milliseconds since 1970, rounded.
    public var unixMilliseconds: Int64 {
        Int64((timeIntervalSince1970 * 1000).rounded())
    }
}
