import Foundation

/// What a cache holds for one route.
public enum CachedRoute: Hashable, Sendable {
    /// The route resolved to `url` when the store was at `revision`.
    case endpoint(url: String, revision: UInt64)
    /// The route did not resolve (absent or inactive) when the store was at `revision`.
    case notFound(revision: UInt64)
    /// A write moved the route to `revision`; whatever was cached before is gone.
    /// A tombstone reads as a miss.
    case tombstone(revision: UInt64)

    /// The revision the entry speaks for.
    public var revision: UInt64 {
        switch self {
        case .endpoint(_, let revision), .notFound(let revision), .tombstone(let revision):
            return revision
        }
    }
}

/// A cache entry with when its answer was read from the store: what a resolution's age is
/// measured from (``RouteCache/entry(_:)``).
public struct CachedEntry: Hashable, Sendable {
    /// The entry.
    public var value: CachedRoute
    /// When the answer was read from the store (the fill said so), possibly rounded down by up
    /// to a tenth of a second (so an age is never understated); `nil` when the cache does not
    /// know (an entry written without it, or a cache that keeps no time).
    public var readAt: Date?

    /// Creates an entry.
    public init(value: CachedRoute, readAt: Date? = nil) {
        self.value = value
        self.readAt = readAt
    }
}

/// The shared cache in front of the ``RouteStore``.
///
/// Entries carry the route's revision, and both writing operations are conditional on it —
/// atomically in every implementation — so that a slow reader can never put back a value that
/// a newer write has already invalidated.
///
/// Implementations throw ``TrafficManagerError/Code/cacheUnavailable`` when the cache cannot be
/// reached or does not answer in time.
public protocol RouteCache: Sendable {
    /// The entry for `route`, or `nil` when there is none (or it expired).
    func get(_ route: RouteID) async throws -> CachedRoute?

    /// Stores `value` (an endpoint or a not-found entry) for `ttl`, unless the cache holds an
    /// entry with a newer revision than `value`'s.
    ///
    /// - Returns: `true` when stored, `false` when refused.
    @discardableResult
    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool

    /// As ``fill(_:with:ttl:)``, and refused as well when the cache receives it after
    /// `notAfter` by its own clock — so a fill delayed in transit cannot land after the
    /// tombstone that should refuse it has expired.
    ///
    /// The default implementation checks `notAfter` against this process's clock before
    /// sending, which cannot see time spent in transit; a backend that can check on arrival
    /// should.
    @discardableResult
    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date) async throws -> Bool

    /// Replaces the entry with a tombstone at `revision` for `ttl`, unless the entry already
    /// speaks for `revision` or a newer one. Invalidating at an old revision never undoes a
    /// newer state, and invalidating twice is the same as once.
    func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws

    /// ``get(_:)-(RouteID)`` for each of `routes`, in the same order: for a batch resolve.
    ///
    /// The default implementation sends every get at once and waits for them all; the first
    /// failure is thrown. The Redis adapter writes them as one pipeline on one connection: one
    /// round trip.
    func get(_ routes: [RouteID]) async throws -> [CachedRoute?]

    /// ``get(_:)-(RouteID)`` with when the answer was read from the store, if the cache knows.
    ///
    /// The default implementation answers ``get(_:)-(RouteID)`` with no read time.
    func entry(_ route: RouteID) async throws -> CachedEntry?

    /// ``entry(_:)`` for each of `routes`, in the same order: what a batch resolve reads, so that
    /// its shared-cache answers have ages too.
    ///
    /// The default implementation answers ``get(_:)-([RouteID])`` with no read times.
    func entries(_ routes: [RouteID]) async throws -> [CachedEntry?]

    /// As ``fill(_:with:ttl:notAfter:)``, keeping `readAt` — when the answer was read from the
    /// store — for ``entry(_:)``.
    ///
    /// The default implementation drops `readAt` and calls ``fill(_:with:ttl:notAfter:)``.
    @discardableResult
    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date, readAt: Date) async throws -> Bool
}

extension RouteCache {
    public func entry(_ route: RouteID) async throws -> CachedEntry? {
        try await get(route).map { CachedEntry(value: $0) }
    }

    public func entries(_ routes: [RouteID]) async throws -> [CachedEntry?] {
        try await get(routes).map { $0.map { CachedEntry(value: $0) } }
    }

    @discardableResult
    public func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date, readAt: Date) async throws -> Bool {
        try await fill(route, with: value, ttl: ttl, notAfter: notAfter)
    }

    public func get(_ routes: [RouteID]) async throws -> [CachedRoute?] {
        try await withThrowingTaskGroup(of: (Int, CachedRoute?).self) { group in
            for (index, route) in routes.enumerated() { group.addTask { (index, try await get(route)) } }
            var entries = [CachedRoute?](repeating: nil, count: routes.count)
            for try await (index, entry) in group { entries[index] = entry }
            return entries
        }
    }

    @discardableResult
    public func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date) async throws -> Bool {
        guard Date() <= notAfter else { return false }
        return try await fill(route, with: value, ttl: ttl)
    }
}

extension CachedRoute {
    /// Whether `self`, already in the cache, makes a fill with `incoming` stale.
    @inlinable
    public func refusesFill(at incoming: UInt64) -> Bool { revision > incoming }

    /// Whether `self`, already in the cache, is as new as an invalidation at `incoming`.
    @inlinable
    public func survivesInvalidation(at incoming: UInt64) -> Bool { revision >= incoming }
}
