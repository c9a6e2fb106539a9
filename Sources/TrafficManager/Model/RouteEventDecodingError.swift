import Foundation

/// Why a message could not be read as a ``RouteEvent``.
public struct RouteEventDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A short, stable name for the kind of failure — `not a JSON object`, `missing revision`,
    /// `unsupported schema version 0` — for counting and for logging once per kind.
    public var kind: String
    /// What exactly was wrong, for people.
    public var detail: String

    /// Creates an error.
    public init(kind: String, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { "\(kind): \(detail)" }
}

/// A message on the event stream that is not a route event this version can read, handed to
/// a dead-letter handler instead of stopping its partition.
public struct UndecodableEvent: Sendable {
    /// The message's bytes, as received.
    public var payload: Data
    /// Why it could not be read.
    public var error: RouteEventDecodingError
    /// Where it came from, e.g. `route-events[2]@1187` (topic, partition, offset).
    public var origin: String

    /// Creates a dead letter.
    public init(payload: Data, error: RouteEventDecodingError, origin: String) {
        self.payload = payload
        self.error = error
        self.origin = origin
    }
}
