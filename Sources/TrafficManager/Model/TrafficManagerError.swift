/// The errors TrafficManager's read and write paths throw.
///
/// Every case says what failed; none carries a password or a connection string.
public enum TrafficManagerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The route does not exist or is inactive.
    case routeNotFound(RouteID)
    /// An input broke a rule; nothing was written.
    case invalidInput(ValidationError)
    /// The source of truth could not be reached or did not answer in time; nothing was written.
    case storeUnavailable(String)
    /// The cache could not be reached or did not answer in time.
    case cacheUnavailable(String)
    /// The event system could not be reached or did not confirm in time.
    case eventsUnavailable(String)
    /// The idempotency key was used before with a different request; nothing was written.
    case idempotencyConflict(key: String)
    /// The store refused the write (a constraint, a conflict that retries did not resolve);
    /// the transaction was rolled back and nothing was written.
    case writeFailed(String)

    public var description: String {
        switch self {
        case .routeNotFound(let route):
            return "route \(route) not found (it does not exist or is inactive)"
        case .invalidInput(let error):
            return "invalid input: \(error)"
        case .storeUnavailable(let reason):
            return "route store unavailable: \(reason)"
        case .cacheUnavailable(let reason):
            return "route cache unavailable: \(reason)"
        case .eventsUnavailable(let reason):
            return "route events unavailable: \(reason)"
        case .idempotencyConflict(let key):
            return "idempotency key \(String(reflecting: key)) was already used for a different request"
        case .writeFailed(let reason):
            return "write failed and was rolled back: \(reason)"
        }
    }
}
