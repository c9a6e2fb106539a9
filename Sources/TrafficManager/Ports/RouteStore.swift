/// The source of truth for routes.
///
/// Every write is one transaction: it changes the route, records the change's event and, when
/// a key is given, stores the result under the idempotency key — all or nothing.
///
/// Implementations throw ``TrafficManagerError``. A read (``lookup(_:)``, ``endpoint(_:)``)
/// that fails for any reason is `storeUnavailable`, with the SQLSTATE when the server sent one.
/// A write throws `routeNotFound` when activating or deactivating a route that does not exist,
/// `idempotencyConflict`, `storeUnavailable` when the store cannot be reached, `writeFailed`
/// when it refused and rolled back the write, and `outcomeUnknown` when the write may have
/// committed.
public protocol RouteStore: Sendable {
    /// The route's URL when it exists and is active, with its current revision
    /// (0 when it has never existed).
    func lookup(_ route: RouteID) async throws -> RouteLookup

    /// The route's full record, active or not; `nil` when it has never existed.
    func endpoint(_ route: RouteID) async throws -> RouteEndpoint?

    /// Applies `command` in one transaction.
    ///
    /// - A change bumps the route's revision by one and returns the event describing it.
    /// - A command that finds the route already in the requested state changes nothing and
    ///   returns the record with a `nil` event, so a retry returns the same record.
    /// - With `idempotencyKey`, a repeated request returns the first result with
    ///   `replayed == true`; a different request under the same key throws
    ///   ``TrafficManagerError/Code/idempotencyConflict``.
    func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult
}
