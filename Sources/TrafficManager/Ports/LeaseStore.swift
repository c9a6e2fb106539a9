/// Named, expiring leases, so that of several processes only one does a job at a time — the
/// outbox relay (``OutboxRelay/Lease``) is the first user.
///
/// A lease is taken for a duration measured by the store's own clock. Its holder renews it
/// before it ends; once it has ended anyone may take it. A holder that can no longer reach the
/// store must assume the lease gone when the duration has passed since it *asked* for it: the
/// store granted it later, so the holder's bound is the earlier one whatever the two clocks
/// read (their rates are assumed equal).
public protocol LeaseStore: Sendable {
    /// Takes the lease `name` for `holder`, or renews it when `holder` has it, for `duration`
    /// from now. Returns who holds the lease after the call: `holder` when it has it now.
    ///
    /// - Throws: ``TrafficManagerError/Code/invalidInput`` when `name` or `holder` is empty or
    ///   longer than 200 bytes or `duration` is under a millisecond; `storeUnavailable` when the
    ///   store cannot be reached.
    func acquireLease(_ name: String, holder: String, duration: Duration) async throws -> String
    /// Ends the lease `name` when `holder` has it, so another process can take it at once.
    /// Does nothing otherwise.
    func releaseLease(_ name: String, holder: String) async throws
}

/// Checks shared by every ``LeaseStore``.
public enum LeaseArguments {
    /// The longest lease or holder name, in UTF-8 bytes.
    public static let maximumNameLength = 200

    /// Throws the ``TrafficManagerError`` a store reports for bad arguments.
    public static func validate(name: String, holder: String, duration: Duration? = nil) throws {
        for (field, value) in [("lease name", name), ("lease holder", holder)] {
            if value.isEmpty {
                throw TrafficManagerError(code: .invalidInput, message: "the \(field) is empty")
            }
            if value.utf8.count > maximumNameLength {
                throw TrafficManagerError(
                    code: .invalidInput, message: "the \(field) is \(value.utf8.count) bytes long; at most \(maximumNameLength) are allowed")
            }
        }
        if let duration, duration < .milliseconds(1) {
            throw TrafficManagerError(code: .invalidInput, message: "a lease lasts at least 1 ms, not \(duration)")
        }
    }
}
