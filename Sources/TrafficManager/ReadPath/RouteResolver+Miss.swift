import CoreMetrics
import Foundation
import Logging

/// The read path past both caches: the store load (single-flight, with the revision checks
/// that keep a late load from filling an older answer), its cost estimate, and its errors.
extension RouteResolver {
    /// The miss path, apart so that the hit path's frame stays small: a shared load, and one
    /// more if it read the store before revision `minimum` — or, when the cache could not be
    /// asked (`freshSince` set), if it started before this resolve: with no tombstone to
    /// compare with, only a load that began after the call is sure to see every write that
    /// finished before it.
    @inline(never)
    func miss(
        _ route: RouteID, knowing minimum: UInt64, freshSince: ContinuousClock.Instant?, start: ContinuousClock.Instant,
        timeout: Duration?
    ) async throws -> RouteResolution {
        let allowed = timeout ?? configuration.resolveTimeout
        let deadline = start + allowed
        let expired: @Sendable () -> any Error = { TrafficManagerError.deadlineExceeded("resolve", deadline: allowed, route: route) }
        // A leader whose own cache get just failed does not also wait on a fill: one cache
        // timeout per resolve, not two.
        let fill = freshSince == nil
        // A store that may answer from a lagging copy does so only with the cache's evidence
        // (it answered); without it the load asks the source of truth.
        let first = try await loads.run(route, deadline: deadline, expired: expired) { [self] in
            try await load(route, fill: fill, atLeast: fill ? minimum : nil)
        }
        var lookup = first.value
        if lookup.revision < minimum || freshSince.map({ first.started < $0 }) == true {
            // The load read the store before a write this caller knows of, or may have. A
            // second load starts after the first one ended, so after that write committed; it
            // asks the source of truth.
            logger.debug(
                "a shared load may answer from before a known write; loading again",
                metadata: ["route": "\(route)", "revision": "\(lookup.revision)", "known": "\(minimum)"])
            lookup = try await loads.run(route, deadline: deadline, expired: expired) { [self] in
                try await load(route, fill: fill, atLeast: nil)
            }.value
        }
        guard let url = lookup.url else { throw TrafficManagerError.routeNotFound(route) }
        return RouteResolution(url: url, revision: lookup.revision, source: .store)
    }

    /// The cache's entry (`nil` when there is none), and whether the cache answered at all.
    func cachedEntry(_ route: RouteID) async -> (CachedEntry?, answered: Bool) {
        guard breaker.allowsRequest() else { return (nil, false) }
        do {
            let entry = try await cache.entry(route)
            breaker.recordSuccess()
            cacheHealth.succeeded()
            return (entry, true)
        } catch is CancellationError {
            // The caller left: says nothing about the cache's health.
            return (nil, false)
        } catch {
            cacheFailed(error, operation: "get", route: route)
            return (nil, false)
        }
    }

    /// Reads the store and caches the answer unless a newer one is cached already.
    ///
    /// The fill guard covers the read and the fill together: a fill is sent only while the
    /// read began less than the fill window ago, and carries the window's end, past which the
    /// cache refuses it on arrival. With `atLeast` the store may answer from a copy that lags
    /// by up to its ``RouteStore/maximumReadLag``: the read counts as that much older, for the
    /// window and for the answer's age.
    func load(_ route: RouteID, fill: Bool, atLeast: UInt64?) async throws -> RouteLookup {
        let lag = atLeast == nil ? Duration.zero : store.maximumReadLag
        let window = configuration.effectiveFillWindow - lag
        let epoch = near?.epoch ?? 0
        let started = time.monotonicNow()
        // When the answer may be from: the read, less the lag it may have.
        let readAt = time.wallNow().addingTimeInterval(-lag.timeInterval)
        let notAfter = readAt.addingTimeInterval(configuration.effectiveFillWindow.timeInterval)
        let lookup: RouteLookup
        do {
            if let atLeast {
                lookup = try await store.lookup(route, atLeast: atLeast)
            } else {
                lookup = try await store.lookup(route)
            }
        } catch {
            let failure = Self.storeError(error)
            storeHealth.failed("read", failure)
            throw failure
        }
        recordStoreReadCost((time.monotonicNow() - started).wholeNanoseconds)
        storeHealth.succeeded()
        if let near {
            let now = time.monotonicNanoseconds()
            near.fill(
                route, with: NearCache.Entry(lookup, now: now, readAt: (started - lag).wholeNanoseconds, configuration: configuration),
                epoch: epoch)
        }

        guard fill, time.monotonicNow() - started < window, breaker.allowsRequest() else {
            return lookup
        }
        let entry: CachedRoute
        let ttl: Duration
        if let url = lookup.url {
            (entry, ttl) = (.endpoint(url: url, revision: lookup.revision), configuration.jittered(configuration.positiveTTL))
        } else {
            (entry, ttl) = (.notFound(revision: lookup.revision), configuration.jittered(configuration.negativeTTL))
        }
        do {
            let stored = try await cache.fill(route, with: entry, ttl: ttl, notAfter: notAfter, readAt: readAt)
            breaker.recordSuccess()
            cacheHealth.succeeded()
            if stored {
                unconfirmed.confirm(route, revision: lookup.revision)
            } else {
                logger.debug("cache fill refused: a newer revision is cached, or it arrived too late", metadata: ["route": "\(route)"])
            }
        } catch {
            cacheFailed(error, operation: "fill", route: route)
        }
        return lookup
    }

    /// Folds one store read's duration into ``storeReadCost`` (weight 1/8).
    func recordStoreReadCost(_ nanoseconds: Int64) {
        let sample = max(0, nanoseconds)
        var current = storeReadCost.load(ordering: .relaxed)
        while true {
            let next = current + (sample - current) / 8
            let (exchanged, original) = storeReadCost.compareExchange(expected: current, desired: next, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    func cacheFailed(_ error: any Error, operation: String, route: RouteID) {
        breaker.recordFailure()
        metrics.cacheErrors.increment()
        cacheHealth.failed(operation, error)
        logger.debug(
            "route cache \(operation) failed; answering from the store",
            metadata: ["route": "\(route)", "error": "\(error)"])
    }

    /// A store failure as a read error: whatever the store threw, a failed read is
    /// `storeUnavailable` (`deadlineExceeded`, `overloaded` and `notRunning` pass as they are).
    /// The load runs in a task of its own, so a `CancellationError` from the store is not the
    /// caller's cancellation.
    static func storeError(_ error: any Error) -> TrafficManagerError {
        if let error = error as? TrafficManagerError {
            switch error.code {
            case .storeUnavailable, .deadlineExceeded, .notRunning, .overloaded: return error
            default: return .storeUnavailable("the store failed a read: \(error.message)", sqlState: error.sqlState, underlying: error)
            }
        }
        if error is CancellationError { return .storeUnavailable("the store read was cancelled", underlying: error) }
        return .storeUnavailable("the store threw \(String(describing: error))", underlying: error)
    }
}
