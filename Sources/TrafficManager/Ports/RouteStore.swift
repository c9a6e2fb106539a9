/// The source of truth for routes.
///
/// Every write is one transaction: it changes the route, records the change's event and, when
/// a key is given, stores the result under the idempotency key — all or nothing.
///
/// Implementations throw ``TrafficManagerError``. A read (``lookup(_:)-(RouteID)``, ``endpoint(_:)``)
/// that fails for any reason is `storeUnavailable`, with the SQLSTATE when the server sent one.
/// A write throws `routeNotFound` when activating or deactivating a route that does not exist,
/// `idempotencyConflict`, `idempotencyKeyInUse` (a store that can see a request with the same
/// key still being applied elsewhere may refuse the second at once instead of waiting), `storeUnavailable` when the store cannot be reached, `writeFailed`
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

    /// Routes that pass `filter`, in listing order (``RouteID/listingOrder(_:_:)``), starting
    /// after `cursor` (`nil`: from the first), at most `limit` of them (1 to
    /// ``RoutePage/maximumLimit``; other values are clamped into that range).
    ///
    /// The default implementation throws ``TrafficManagerError/Code/storeUnavailable``: the
    /// store cannot list.
    func routes(matching filter: RouteFilter, after cursor: RouteID?, limit: Int) async throws -> RoutePage

    /// Applies `commands` in one transaction, in order: all of them or none. Each change makes
    /// one event, as a single ``apply(_:idempotencyKey:)`` would; a command that finds its route
    /// in the requested state changes nothing. The first command that fails rolls the whole batch
    /// back and its error is thrown, with `command N of M` in its message.
    ///
    /// The default implementation applies the commands one at a time — not atomically — and
    /// stops at the first failure; stores that can should override it.
    func applyBatch(_ commands: [RouteCommand]) async throws -> [RouteWriteResult]
    /// ``lookup(_:)-(RouteID)`` for each of `routes`, in the same order: for a batch resolve's misses.
    ///
    /// The default implementation looks the routes up one at a time; stores that can answer in
    /// one query should override it.
    func lookup(_ routes: [RouteID]) async throws -> [RouteLookup]
    /// The changes after `position` (`nil`: from the oldest the store keeps), at most `limit`, in
    /// position order: what a watcher resumes from (``ChangePosition``).
    ///
    /// The default implementation throws ``TrafficManagerError/Code/storeUnavailable``: the
    /// store keeps no readable history.
    func changes(after position: ChangePosition?, limit: Int) async throws -> ChangePage

    /// ``lookup(_:)-(RouteID)`` for a read path that has evidence of how new the answer must
    /// be: the shared cache answered (an entry, a tombstone, or nothing at all), and `revision`
    /// is the newest revision of the route the caller knows (a tombstone's, an event's, its own
    /// write's; 0 when it knows none). A store may answer from a copy that lags it — a read
    /// replica — by at most ``maximumReadLag``, but never below `revision` while it holds a
    /// newer one: it asks its primary then. A write's tombstone outlives that lag, so an answer
    /// from before a write either meets the tombstone's revision here or is refused by it when
    /// filled.
    ///
    /// The default implementation is ``lookup(_:)-(RouteID)``.
    func lookup(_ route: RouteID, atLeast revision: UInt64) async throws -> RouteLookup
    /// ``lookup(_:atLeast:)-(RouteID,_)`` for each of `routes`, with `revisions` in the same
    /// order. The default implementation is ``lookup(_:)-([RouteID])``.
    func lookup(_ routes: [RouteID], atLeast revisions: [UInt64]) async throws -> [RouteLookup]
    /// How much older than the call an answer of ``lookup(_:atLeast:)-(RouteID,_)`` may be: a
    /// read path dates such answers back by it (so an age is never understated) and shortens
    /// its fill window by it. The default is zero: the store answers from its source of truth.
    var maximumReadLag: Duration { get }
}

extension RouteStore {
    public func lookup(_ route: RouteID, atLeast revision: UInt64) async throws -> RouteLookup {
        try await lookup(route)
    }

    public func lookup(_ routes: [RouteID], atLeast revisions: [UInt64]) async throws -> [RouteLookup] {
        try await lookup(routes)
    }

    public var maximumReadLag: Duration { .zero }

    public func changes(after position: ChangePosition?, limit: Int) async throws -> ChangePage {
        throw TrafficManagerError.storeUnavailable("this store keeps no change history (\(type(of: self)) has no changes(after:limit:))")
    }

    public func lookup(_ routes: [RouteID]) async throws -> [RouteLookup] {
        var lookups: [RouteLookup] = []
        lookups.reserveCapacity(routes.count)
        for route in routes { lookups.append(try await lookup(route)) }
        return lookups
    }

    public func routes(matching filter: RouteFilter, after cursor: RouteID?, limit: Int) async throws -> RoutePage {
        throw TrafficManagerError.storeUnavailable("this store cannot list routes (\(type(of: self)) has no routes(matching:after:limit:))")
    }

    public func applyBatch(_ commands: [RouteCommand]) async throws -> [RouteWriteResult] {
        var results: [RouteWriteResult] = []
        results.reserveCapacity(commands.count)
        for (index, command) in commands.enumerated() {
            do {
                results.append(try await apply(command, idempotencyKey: nil))
            } catch let error as TrafficManagerError {
                throw error.inBatch(index, of: commands.count)
            }
        }
        return results
    }
}

extension TrafficManagerError {
    /// This error as the failure of command `index` (from 0) of a batch of `count`.
    public func inBatch(_ index: Int, of count: Int) -> TrafficManagerError {
        TrafficManagerError(
            code: code, message: "command \(index + 1) of \(count): \(message)", route: route,
            validationError: validationError, idempotencyKey: idempotencyKey, sqlState: sqlState,
            currentRevision: currentRevision, underlying: underlying)
    }
}
