/// The one error type TrafficManager's read path, write path and adapters throw.
///
/// Switch on ``code`` — a stable, extensible set of kinds that new releases add to without
/// breaking an exhaustive `switch` — and show ``message`` to people: it says what failed and what
/// to do. ``sqlState`` carries PostgreSQL's SQLSTATE when the server sent one, ``underlying``
/// the error that caused this one.
///
/// ```swift
/// do {
///     url = try await manager.resolve(route)
/// } catch let error as TrafficManagerError where error.code == .routeNotFound {
///     // no such route
/// } catch TrafficManagerError.Code.storeUnavailable {
///     // codes match errors directly in `catch` patterns too
/// }
/// ```
///
/// No error holds a password: messages name hosts and ports, never credentials, and
/// ``description``, ``debugDescription`` and ``customMirror`` show only the fields below.
///
/// Two errors are equal when their code, message, route, validation error, idempotency key and
/// SQLSTATE are; ``underlying`` is not compared.
public struct TrafficManagerError: Error, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The kind of failure: a stable name to branch on.
    ///
    /// Codes are static properties rather than enum cases, so a release can add one without
    /// breaking code that handles the others.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case routeNotFound, invalidInput, idempotencyConflict, idempotencyKeyInUse, revisionConflict
            case storeUnavailable, cacheUnavailable, eventsUnavailable
            case writeFailed, outcomeUnknown, deadlineExceeded, notRunning, overloaded
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// The route does not exist or is inactive.
        public static let routeNotFound = Code(.routeNotFound)
        /// An input broke a rule (``TrafficManagerError/validationError`` says which); nothing
        /// was written.
        public static let invalidInput = Code(.invalidInput)
        /// The idempotency key was used before with a different request; nothing was written.
        public static let idempotencyConflict = Code(.idempotencyConflict)
        /// Another request with the same idempotency key is being applied right now (by this
        /// process or another); nothing was written. Retry shortly: once the first commits, the
        /// retry replays its result (the IETF Idempotency-Key draft answers this with 409).
        public static let idempotencyKeyInUse = Code(.idempotencyKeyInUse)
        /// A compare-and-set write found the route at another revision than it expected
        /// (``TrafficManagerError/currentRevision`` says which); nothing was written.
        public static let revisionConflict = Code(.revisionConflict)
        /// The source of truth could not be reached or refused to answer.
        public static let storeUnavailable = Code(.storeUnavailable)
        /// The shared cache could not be reached or answered something unexpected.
        public static let cacheUnavailable = Code(.cacheUnavailable)
        /// The event system could not be reached or did not confirm an event.
        public static let eventsUnavailable = Code(.eventsUnavailable)
        /// The store refused the write and rolled it back; nothing was written.
        public static let writeFailed = Code(.writeFailed)
        /// A write reached the store but whether it committed is not known. Retry it with the
        /// same idempotency key: it is applied once either way.
        public static let outcomeUnknown = Code(.outcomeUnknown)
        /// The call did not finish within its deadline.
        public static let deadlineExceeded = Code(.deadlineExceeded)
        /// The component is not running: its `run()` has not started, or it has shut down.
        public static let notRunning = Code(.notRunning)
        /// Too many calls wait for a backend already; this one was refused at once.
        public static let overloaded = Code(.overloaded)

        /// The code's name, such as `routeNotFound`.
        public var description: String { base.rawValue }

        /// Whether `error` is a ``TrafficManagerError`` with this code, so that a code can
        /// stand as a `catch` pattern: `catch TrafficManagerError.Code.routeNotFound { … }`.
        public static func ~= (code: Code, error: any Error) -> Bool {
            (error as? TrafficManagerError)?.code == code
        }
    }

    /// The kind of failure.
    public let code: Code
    /// What failed and what to do, in a sentence for people.
    public let message: String
    /// The route concerned, where there is one.
    public let route: RouteID?
    /// The rule an input broke, for ``Code/invalidInput``.
    public let validationError: ValidationError?
    /// The idempotency key concerned, for ``Code/idempotencyConflict``.
    public let idempotencyKey: String?
    /// PostgreSQL's SQLSTATE, when the server sent one.
    public let sqlState: String?
    /// The route's revision when a compare-and-set write found it elsewhere, for
    /// ``Code/revisionConflict`` (0: the route does not exist).
    public let currentRevision: UInt64?
    /// The error this one was made from, when there is one.
    public let underlying: (any Error)?

    /// Creates an error. Prefer the static functions, which write a consistent message.
    public init(
        code: Code, message: String, route: RouteID? = nil, validationError: ValidationError? = nil,
        idempotencyKey: String? = nil, sqlState: String? = nil, currentRevision: UInt64? = nil,
        underlying: (any Error)? = nil
    ) {
        self.currentRevision = currentRevision
        self.code = code
        self.message = message
        self.route = route
        self.validationError = validationError
        self.idempotencyKey = idempotencyKey
        self.sqlState = sqlState
        self.underlying = underlying
    }

    /// ``message``, followed by the SQLSTATE when there is one.
    public var description: String {
        sqlState.map { "\(message) [SQLSTATE \($0)]" } ?? message
    }

    public var debugDescription: String {
        var fields = ["code: \(code)", "message: \(String(reflecting: message))"]
        if let route { fields.append("route: \(route)") }
        if let validationError { fields.append("validationError: \(validationError)") }
        if let idempotencyKey { fields.append("idempotencyKey: \(String(reflecting: idempotencyKey))") }
        if let sqlState { fields.append("sqlState: \(sqlState)") }
        if let currentRevision { fields.append("currentRevision: \(currentRevision)") }
        if let underlying { fields.append("underlying: \(String(reflecting: underlying))") }
        return "TrafficManagerError(\(fields.joined(separator: ", ")))"
    }

    public var customMirror: Mirror {
        var children: [(label: String?, value: Any)] = [("code", code), ("message", message)]
        if let route { children.append(("route", route)) }
        if let validationError { children.append(("validationError", validationError)) }
        if let idempotencyKey { children.append(("idempotencyKey", idempotencyKey)) }
        if let sqlState { children.append(("sqlState", sqlState)) }
        if let currentRevision { children.append(("currentRevision", currentRevision)) }
        if let underlying { children.append(("underlying", underlying)) }
        return Mirror(self, children: children, displayStyle: .struct)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.route == rhs.route
            && lhs.validationError == rhs.validationError && lhs.idempotencyKey == rhs.idempotencyKey
            && lhs.sqlState == rhs.sqlState && lhs.currentRevision == rhs.currentRevision
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(route)
        hasher.combine(sqlState)
    }
}

extension TrafficManagerError {
    /// `route` does not exist or is inactive.
    public static func routeNotFound(_ route: RouteID) -> Self {
        Self(
            code: .routeNotFound,
            message: "route \(route) not found: it does not exist or is inactive; create or activate it to make it resolve",
            route: route)
    }

    /// An input broke `rule`; nothing was written.
    public static func invalidInput(_ error: ValidationError) -> Self {
        Self(
            code: .invalidInput, message: "invalid input: \(error); nothing was written, correct the value and try again",
            validationError: error)
    }

    /// `key` was used before with a different request; nothing was written.
    public static func idempotencyConflict(key: String, route: RouteID? = nil) -> Self {
        Self(
            code: .idempotencyConflict,
            message: "idempotency key \(String(reflecting: key)) was already used for a different request; "
                + "nothing was written, use a new key for a new request",
            route: route, idempotencyKey: key)
    }

    /// Another request under `key` is being applied now.
    public static func idempotencyKeyInUse(key: String, route: RouteID? = nil) -> Self {
        Self(
            code: .idempotencyKeyInUse,
            message: "a request with idempotency key \(String(reflecting: key)) is still being applied; "
                + "nothing was written, retry shortly to get its result",
            route: route, idempotencyKey: key)
    }

    /// A compare-and-set write expected `route` at revision `expected`; it is at `current`.
    public static func revisionConflict(_ route: RouteID, expected: UInt64, current: UInt64) -> Self {
        let state = current == 0 ? "does not exist (revision 0)" : "is at revision \(current)"
        return Self(
            code: .revisionConflict,
            message: "route \(route) was expected at revision \(expected) but \(state); nothing was written, "
                + "read the route again and retry with its current revision",
            route: route, currentRevision: current)
    }

    /// The store could not be reached or refused to answer; `detail` says how.
    public static func storeUnavailable(
        _ detail: String, sqlState: String? = nil, route: RouteID? = nil, underlying: (any Error)? = nil
    ) -> Self {
        Self(
            code: .storeUnavailable,
            message: "route store unavailable: \(detail); retry later (a write retried with the same idempotency key is applied once)",
            route: route, sqlState: sqlState, underlying: underlying)
    }

    /// The shared cache could not be reached or answered something unexpected.
    public static func cacheUnavailable(_ detail: String, route: RouteID? = nil, underlying: (any Error)? = nil) -> Self {
        Self(
            code: .cacheUnavailable,
            message: "route cache unavailable: \(detail); resolves fall back to the store until it recovers",
            route: route, underlying: underlying)
    }

    /// The event system could not be reached or did not confirm an event.
    public static func eventsUnavailable(_ detail: String, underlying: (any Error)? = nil) -> Self {
        Self(
            code: .eventsUnavailable,
            message: "route events unavailable: \(detail); events of committed writes stay in the outbox for the relay to publish",
            underlying: underlying)
    }

    /// The store refused the write and rolled it back.
    public static func writeFailed(
        _ detail: String, sqlState: String? = nil, route: RouteID? = nil, underlying: (any Error)? = nil
    ) -> Self {
        Self(
            code: .writeFailed,
            message: "write failed and was rolled back: \(detail); nothing was written",
            route: route, sqlState: sqlState, underlying: underlying)
    }

    /// A write reached the store but whether it committed is not known.
    public static func outcomeUnknown(
        _ detail: String, sqlState: String? = nil, route: RouteID? = nil, underlying: (any Error)? = nil
    ) -> Self {
        Self(
            code: .outcomeUnknown,
            message: "the write's outcome is unknown: \(detail); retry it with the same idempotency key, which applies it once",
            route: route, sqlState: sqlState, underlying: underlying)
    }

    /// `operation` did not finish within `deadline`.
    public static func deadlineExceeded(_ operation: String, deadline: Duration, route: RouteID? = nil) -> Self {
        Self(
            code: .deadlineExceeded,
            message: "\(operation) did not finish within its deadline of \(deadline.formattedMilliseconds); retry later",
            route: route)
    }

    /// Too many calls wait for `backend` already.
    public static func overloaded(_ backend: String, queueDepth: Int) -> Self {
        Self(
            code: .overloaded,
            message: "\(backend) has \(queueDepth) calls waiting already; this one was refused at once, retry later or raise the queue bound")
    }

    /// `component` is not running.
    public static func notRunning(_ component: String) -> Self {
        Self(
            code: .notRunning,
            message: "\(component) is not running: it has shut down or its run() has not started; "
                + "run it in a ServiceGroup before calling it")
    }
}
