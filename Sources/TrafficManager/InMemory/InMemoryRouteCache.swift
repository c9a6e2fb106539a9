import Foundation
import Synchronization

/// A complete ``RouteCache`` in process memory: TTLs on an injectable clock, revision-checked
/// fills and invalidations under one lock, and fault injection.
public final class InMemoryRouteCache: RouteCache {
    private struct Entry {
        var value: CachedRoute
        var expiresAt: Duration
        var readAt: Date? = nil
    }

    private struct State {
        var entries: [RouteID: Entry] = [:]
        var nextSweepAt = 1024
    }

    private let state = Locked(State())
    private let time: any TimeSource
    /// Faults to inject into this cache's calls.
    public let faults = FaultInjector()

    /// Creates an empty cache reading time from `time`.
    public init(time: any TimeSource = SystemTimeSource()) {
        self.time = time
    }

    public func get(_ route: RouteID) async throws -> CachedRoute? {
        try await entry(route)?.value
    }

    public func entry(_ route: RouteID) async throws -> CachedEntry? {
        try await faults.check("get")
        let now = time.monotonicNow()
        return state.withLock { state in
            guard let entry = state.entries[route] else { return nil }
            guard entry.expiresAt > now else {
                state.entries[route] = nil
                return nil
            }
            return CachedEntry(value: entry.value, readAt: entry.readAt)
        }
    }

    /// Every route's entry under one lock: one call, as Redis answers them in one round trip.
    public func entries(_ routes: [RouteID]) async throws -> [CachedEntry?] {
        try await faults.check("get")
        let now = time.monotonicNow()
        return state.withLock { state in
            routes.map { route in
                guard let entry = state.entries[route], entry.expiresAt > now else { return nil }
                return CachedEntry(value: entry.value, readAt: entry.readAt)
            }
        }
    }

    public func get(_ routes: [RouteID]) async throws -> [CachedRoute?] {
        try await entries(routes).map { $0?.value }
    }

    @discardableResult
    public func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool {
        try await fill(route, with: value, ttl: ttl, notAfter: .distantFuture)
    }

    /// Checks `notAfter` against the cache's clock when the fill arrives, after any injected
    /// delay.
    @discardableResult
    public func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date) async throws -> Bool {
        try await fill(route, with: value, ttl: ttl, notAfter: notAfter, readAt: nil)
    }

    /// As ``fill(_:with:ttl:notAfter:)``, keeping `readAt` to the millisecond.
    @discardableResult
    public func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date, readAt: Date) async throws -> Bool {
        try await fill(route, with: value, ttl: ttl, notAfter: notAfter, readAt: Optional(readAt))
    }

    private func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date, readAt: Date?) async throws -> Bool {
        precondition(!Self.isTombstone(value), "fill takes an endpoint or a not-found entry")
        try await faults.check("fill")
        guard time.wallNow() <= notAfter else { return false }
        let now = time.monotonicNow()
        return state.withLock { state in
            if let current = state.entries[route], current.expiresAt > now,
                current.value.refusesFill(at: value.revision)
            {
                return false
            }
            let kept = readAt.map { Date(unixMilliseconds: $0.unixMilliseconds) }
            state.entries[route] = Entry(value: value, expiresAt: now + ttl, readAt: kept)
            Self.sweepIfDue(&state, now: now)
            return true
        }
    }

    public func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {
        try await faults.check("invalidate")
        let now = time.monotonicNow()
        state.withLock { state in
            if let current = state.entries[route], current.expiresAt > now,
                current.value.survivesInvalidation(at: revision)
            {
                return
            }
            state.entries[route] = Entry(value: .tombstone(revision: revision), expiresAt: now + ttl)
            Self.sweepIfDue(&state, now: now)
        }
    }

    /// The number of entries held, expired ones not yet swept included.
    public var count: Int { state.withLock { $0.entries.count } }

    /// The time left before `route`'s entry expires, or `nil` when there is none.
    public func timeToLive(_ route: RouteID) -> Duration? {
        let now = time.monotonicNow()
        return state.withLock { state in
            guard let entry = state.entries[route], entry.expiresAt > now else { return nil }
            return entry.expiresAt - now
        }
    }

    /// Drops every entry.
    public func removeAll() {
        state.withLock { $0.entries.removeAll() }
    }

    private static func isTombstone(_ value: CachedRoute) -> Bool {
        if case .tombstone = value { return true }
        return false
    }

    /// Drops expired entries once the table has doubled since the last sweep, so memory stays
    /// bounded by the live entries without a background task.
    private static func sweepIfDue(_ state: inout State, now: Duration) {
        guard state.entries.count >= state.nextSweepAt else { return }
        state.entries = state.entries.filter { $0.value.expiresAt > now }
        state.nextSweepAt = max(1024, state.entries.count * 2)
    }
}
