import Foundation
import CoreMetrics
import Synchronization
import Logging
import Tracing

/// The read path: resolves a route to its URL through the cache, falling
/// back to the store.
///
/// - A positive cache entry answers with its URL; a negative one throws
///   ``TrafficManagerError/Code/routeNotFound``.
/// - On a miss (no entry, a tombstone, or a cache that failed) the store is read — once for
///   all concurrent misses of the same route — and the answer is cached with the revision it
///   was read at: the URL for ``TrafficManagerConfiguration/positiveTTL``, a not-found entry for
///   ``TrafficManagerConfiguration/negativeTTL``.
/// - A failing cache is skipped (``CircuitBreaker``); a failing store on a miss throws
///   ``TrafficManagerError/Code/storeUnavailable``.
public final class RouteResolver: Sendable {
    let store: any RouteStore
    let cache: any RouteCache
    let configuration: TrafficManagerConfiguration
    let breaker: CircuitBreaker
    let metrics: TrafficManagerMetrics
    let time: any TimeSource
    let logger: Logger
    let loads = SingleFlight<RouteID, RouteLookup>()
    let unconfirmed: UnconfirmedInvalidations
    let storeHealth: DependencyHealth
    let cacheHealth: DependencyHealth
    private let tracer: (any Tracer)?
    let near: NearCache?
    /// The system clock's origin when `time` is the system's, so the hit path reads the clock once.
    private let systemClockOrigin: Int64?
    private let earlyRefreshBeta: Double
    /// Routes whose near-cache entry is being refreshed early.
    private let nearRefreshes = RefreshClaims()
    /// Routes whose shared-cache entry is being refreshed early.
    let sharedRefreshes = RefreshClaims()
    /// What a store read costs, in nanoseconds: a moving average of this process's reads
    /// (XFetch's δ for the shared cache), 10 ms until the first.
    let storeReadCost = Atomic<Int64>(10_000_000)

    /// Creates a resolver.
    ///
    /// - Parameters:
    ///   - store: the source of truth, read on a miss.
    ///   - cache: the shared cache.
    ///   - configuration: TTLs, deadlines and the fill window.
    ///   - breaker: shared with the ``RouteWriter`` of the same cache, so both see its health.
    ///   - metrics: where resolves are counted.
    ///   - time: the clock for TTLs and deadlines.
    ///   - logger: where the read path logs.
    public convenience init(
        store: any RouteStore,
        cache: any RouteCache,
        configuration: TrafficManagerConfiguration,
        breaker: CircuitBreaker,
        metrics: TrafficManagerMetrics,
        time: any TimeSource = SystemTimeSource(),
        logger: Logger
    ) {
        self.init(
            store: store, cache: cache, configuration: configuration, breaker: breaker, metrics: metrics,
            storeHealth: nil, cacheHealth: nil, time: time, logger: logger)
    }

    init(
        store: any RouteStore,
        cache: any RouteCache,
        configuration: TrafficManagerConfiguration,
        breaker: CircuitBreaker,
        metrics: TrafficManagerMetrics,
        storeHealth: DependencyHealth?,
        cacheHealth: DependencyHealth?,
        time: any TimeSource,
        tracer: (any Tracer)? = nil,
        near: NearCache? = nil,
        logger: Logger
    ) {
        self.near = near
        self.systemClockOrigin = (time as? SystemTimeSource)?.origin
        self.earlyRefreshBeta = configuration.nearCache?.earlyRefresh ?? 0
        self.tracer = tracer
        self.unconfirmed = breaker.unconfirmed
        self.storeHealth = storeHealth ?? DependencyHealth(name: "route store", logger: logger, time: time)
        self.cacheHealth = cacheHealth ?? DependencyHealth(name: "route cache", logger: logger, time: time)
        self.store = store
        self.cache = cache
        self.configuration = configuration
        self.breaker = breaker
        self.metrics = metrics
        self.time = time
        self.logger = logger
    }

    /// How many callers wait for a load of `route` now; for tests of interleavings.
    package func loadWaiters(_ route: RouteID) -> Int { loads.waiterCount(for: route) }

    /// How many routes this process wrote whose invalidation the cache has not confirmed.
    package var unconfirmedRouteCount: Int { unconfirmed.routeCount }

    /// Where the cache's breaker stands: closed while the cache answers.
    public var cacheBreakerState: CircuitBreaker.State { breaker.currentState }

    /// The URL `route` resolves to.
    ///
    /// A resolve that starts after a write returned never answers from before that write:
    /// a cached entry older than a revision this process wrote is not served, and a load that
    /// read the store before a revision the caller knows (from a tombstone or its own writes)
    /// is not accepted — the caller loads once more, within its deadline.
    ///
    /// - Parameters:
    ///   - route: the route to resolve.
    ///   - consistency: ``ReadConsistency/default`` lets the near cache answer within its bound;
    ///     ``ReadConsistency/strong`` skips it.
    ///   - timeout: how long the call may take in all; ``TrafficManagerConfiguration/resolveTimeout``
    ///     when `nil`.
    /// - Throws: ``TrafficManagerError`` with code `routeNotFound` when the route does not exist
    ///   or is inactive; when the answer is not cached and the store cannot answer,
    ///   `storeUnavailable` (with the SQLSTATE when the server sent one), `deadlineExceeded`
    ///   (the store's call or this resolve timed out), `overloaded` (the store's queue is full)
    ///   or `notRunning` (the store was shut down or never run); `CancellationError` when the
    ///   calling task is cancelled before the call or while it waits. Nothing else.
    public func resolve(_ route: RouteID, consistency: ReadConsistency = .default, timeout: Duration? = nil) async throws -> String {
        if let hit = try nearHit(route, consistency: consistency) { return hit.url }
        return try await resolutionPastNearHit(route, consistency: consistency, timeout: timeout).url
    }

    /// The URL `route` resolves to, with its revision, where the answer came from and its age;
    /// the same rules and errors as ``resolve(_:consistency:timeout:)``.
    public func resolution(
        _ route: RouteID, consistency: ReadConsistency = .default, timeout: Duration? = nil
    ) async throws -> RouteResolution {
        if let hit = try nearHit(route, consistency: consistency) { return hit }
        return try await resolutionPastNearHit(route, consistency: consistency, timeout: timeout)
    }

    /// A near-cache hit, answered synchronously — no async frame, no suspension, no allocation —
    /// or `nil` when the near cache cannot answer now (the full path then runs; it looks again
    /// and takes held entries into account), when the caller is cancelled, or with a tracer
    /// active (spans need the full path).
    @usableFromInline
    func nearHit(_ route: RouteID, consistency: ReadConsistency) throws -> RouteResolution? {
        guard let near, tracer == nil, consistency.usesNearCache else { return nil }
        let started = MonotonicClock.nanoseconds()
        let now = systemClockOrigin.map { started &- $0 } ?? time.monotonicNanoseconds()
        guard case .fresh(let entry) = near.lookup(route, now: now), entry.revision >= (unconfirmed.floor(route) ?? 0),
            !Task.isCancelled
        else { return nil }
        metrics.resolveRequests.increment()
        defer { metrics.resolveLatency.recordNanoseconds(MonotonicClock.nanoseconds() &- started) }
        if now &+ earlyWindow(entry) >= entry.expiresAt { considerEarlyRefresh(route, entry, now: now) }
        return try nearAnswer(entry, route: route, now: now)
    }

    /// The longest time before expiry XFetch can fire for `entry`: β·δ·12 (−ln u exceeds 12
    /// with probability 6·10⁻⁶). A hit outside it costs one comparison.
    @inline(__always)
    private func earlyWindow(_ entry: NearCache.Entry) -> Int64 {
        earlyRefreshBeta == 0 ? Int64.min / 2 : Int64(earlyRefreshBeta * Double(entry.cost) * 12_000)
    }

    /// XFetch: refreshes when `now + β·δ·(−ln u) ≥ expiry`, u uniform in (0, 1] (from the clock's
    /// low bits, mixed: no generator state on the hit path), in the background, once per route.
    @inline(never)
    private func considerEarlyRefresh(_ route: RouteID, _ entry: NearCache.Entry, now: Int64) {
        guard let near else { return }
        let mixed = (UInt64(bitPattern: now) ^ UInt64(bitPattern: Int64(route.hashValue))) &* 0x9E37_79B9_7F4A_7C15
        let u = Double((mixed >> 11) | 1) / Double(1 << 53)
        let reach = earlyRefreshBeta * Double(entry.cost) * 1_000 * -log(u)
        guard Double(now) + reach >= Double(entry.expiresAt), nearRefreshes.begin(route) else { return }
        metrics.earlyRefreshes.increment()
        Task { [self] in
            defer { nearRefreshes.end(route) }
            // Past the near cache, as a resolve would go; its answer refills the entry — unless
            // a newer revision arrived meanwhile, which the fill's revision check refuses to undo.
            _ = try? await sharedOrStore(route, floor: entry.revision, held: entry, timeout: nil)
        }
    }

    /// XFetch for the shared cache: after a hit on an entry `age` old, refreshes it in the
    /// background when `age + β·δ·(−ln u)` reaches the earliest expiry its TTL allows (the
    /// TTL less the most jitter can take), δ the measured store read; once per route at a
    /// time. The refresh is a load as a miss would run — one per route with any misses that
    /// join it — and its fill goes through the same revision check and fill window, so a
    /// refresh that read before a write cannot undo it.
    func considerSharedRefresh(_ route: RouteID, revision: UInt64, age: Int64, ttl: Duration) {
        let beta = configuration.sharedCacheEarlyRefresh
        guard beta > 0 else { return }
        let earliestExpiry = Double(ttl.wholeNanoseconds) * (1 - configuration.ttlJitter)
        let cost = Double(storeReadCost.load(ordering: .relaxed))
        // −ln u exceeds 12 with probability 6·10⁻⁶: outside that reach a hit costs one comparison.
        guard Double(age) + beta * cost * 12 >= earliestExpiry else { return }
        let reach = beta * cost * -log(Double.random(in: Double.leastNonzeroMagnitude...1))
        guard Double(age) + reach >= earliestExpiry, sharedRefreshes.begin(route) else { return }
        metrics.earlyRefreshes.increment()
        let allowed = configuration.resolveTimeout
        Task { [self] in
            defer { sharedRefreshes.end(route) }
            let expired: @Sendable () -> any Error = { TrafficManagerError.deadlineExceeded("refresh", deadline: allowed, route: route) }
            _ = try? await loads.run(route, deadline: .now + allowed, expired: expired) { [self] in
                try await load(route, fill: true, atLeast: revision)
            }
        }
    }

    /// Everything but the synchronous near-cache hit.
    @usableFromInline
    func resolutionPastNearHit(
        _ route: RouteID, consistency: ReadConsistency, timeout: Duration?
    ) async throws -> RouteResolution {
        guard let tracer else { return try await resolveUntraced(route, consistency: consistency, timeout: timeout) }
        return try await traced(tracer, TrafficManagerTracing.resolveSpan, route: route) {
            try await resolveUntraced(route, consistency: consistency, timeout: timeout)
        }
    }

    @inline(__always)
    private func resolveUntraced(_ route: RouteID, consistency: ReadConsistency, timeout: Duration?) async throws -> RouteResolution {
        metrics.resolveRequests.increment()
        let started = MonotonicClock.nanoseconds()
        defer { metrics.resolveLatency.recordNanoseconds(MonotonicClock.nanoseconds() &- started) }
        try Task.checkCancellation()

        // A revision this process wrote that the cache has not confirmed (normally none).
        var floor = unconfirmed.floor(route) ?? 0
        var held: NearCache.Entry?
        if let near {
            let now = systemClockOrigin.map { started &- $0 } ?? time.monotonicNanoseconds()
            switch near.lookup(route, now: now) {
            case .fresh(let entry) where consistency.usesNearCache && entry.revision >= floor:
                return try nearAnswer(entry, route: route, now: now)
            case .fresh(let entry), .held(let entry):
                // Not served, but the route is at least at its revision.
                held = entry
                floor = max(floor, entry.revision)
            case .absent:
                break
            }
        }
        return try await sharedOrStore(route, floor: floor, held: held, timeout: timeout)
    }

    @inline(__always)
    private func nearAnswer(_ entry: NearCache.Entry, route: RouteID, now: Int64) throws -> RouteResolution {
        guard entry.kind == .endpoint else {
            metrics.negativeCacheHits.increment()
            throw TrafficManagerError.routeNotFound(route)
        }
        metrics.nearCacheHits.increment()
        return RouteResolution(url: entry.url, revision: entry.revision, source: .nearCache, ageNanoseconds: now &- entry.readAt)
    }

    /// Past the near cache: the shared cache, then the store; the answer refreshes the near
    /// cache. `floor` is the newest revision this process knows of for the route.
    @inline(never)
    private func sharedOrStore(
        _ route: RouteID, floor: UInt64, held: NearCache.Entry?, timeout: Duration?
    ) async throws -> RouteResolution {
        let start = ContinuousClock.now
        let epoch = near?.epoch ?? 0
        let asked = time.monotonicNanoseconds()
        let (cached, answered) = await cachedEntry(route)
        let entry = cached?.value
        // How old the shared cache's answer is, when the entry says when it was read.
        let age = cached.flatMap { sharedAge($0) }
        switch entry {
        case .endpoint(let url, let revision)? where revision >= floor:
            metrics.cacheHits.increment()
            keepNear(route, CachedRoute.endpoint(url: url, revision: revision), epoch: epoch, askedAt: asked, age: age)
            if let age { considerSharedRefresh(route, revision: revision, age: age, ttl: configuration.positiveTTL) }
            return RouteResolution(url: url, revision: revision, source: .sharedCache, ageNanoseconds: age ?? 0)
        case .notFound(let revision)? where revision >= floor:
            metrics.negativeCacheHits.increment()
            keepNear(route, .notFound(revision: revision), epoch: epoch, askedAt: asked, age: age)
            if let age { considerSharedRefresh(route, revision: revision, age: age, ttl: configuration.negativeTTL) }
            throw TrafficManagerError.routeNotFound(route)
        default:
            try Task.checkCancellation()
            metrics.cacheMisses.increment()
            do {
                return try await miss(
                    route, knowing: max(entry?.revision ?? 0, floor), freshSince: answered ? nil : start, start: start,
                    timeout: timeout)
            } catch let error as TrafficManagerError where entry == nil && Self.isOutage(error) {
                // The store failed and the shared cache had nothing (it failed, or its entry
                // expired; a tombstone or a newer entry would be there): an entry that merely
                // expired may still serve, within maxStale.
                guard let stale = staleAnswer(held, floor: floor, route: route) else { throw error }
                return stale
            }
        }
    }

    /// How old a shared-cache entry's answer is (nanoseconds), when the entry says when it was
    /// read from the store.
    func sharedAge(_ entry: CachedEntry) -> Int64? {
        entry.readAt.map { max(0, Int64(time.wallNow().timeIntervalSince($0) * 1e9)) }
    }

    /// A shared-cache answer kept in the near cache, unless the feed started over since `epoch`.
    /// `age` is how old the answer is; unknown (a cache that keeps no read time), it counts as
    /// older than ``NearCacheConfiguration/unprovenTTL``, so the entry serves only while the
    /// feed is proven.
    func keepNear(_ route: RouteID, _ cached: CachedRoute, epoch: UInt64, askedAt: Int64, age: Int64?) {
        guard let near else { return }
        let now = time.monotonicNanoseconds()
        let age = age ?? (near.configuration.unprovenTTL.wholeNanoseconds &+ 1)
        let lookup: RouteLookup
        switch cached {
        case .endpoint(let url, let revision): lookup = RouteLookup(url: url, revision: revision)
        case .notFound(let revision): lookup = RouteLookup(url: nil, revision: revision)
        case .tombstone: return
        }
        near.fill(
            route, with: NearCache.Entry(lookup, now: now, readAt: now &- age, cost: now &- askedAt, configuration: configuration),
            epoch: epoch)
    }

    /// An expired near-cache entry served under ``TrafficManagerConfiguration/maxStale``.
    func staleAnswer(_ held: NearCache.Entry?, floor: UInt64, route: RouteID) -> RouteResolution? {
        guard configuration.maxStale > .zero, let held, held.kind == .endpoint, held.revision >= floor else { return nil }
        let now = time.monotonicNanoseconds()
        guard now < held.expiresAt &+ configuration.maxStale.wholeNanoseconds else { return nil }
        metrics.staleAnswers.increment()
        logger.debug("serving a stale answer: the shared cache and the store both failed", metadata: ["route": "\(route)"])
        return RouteResolution(url: held.url, revision: held.revision, source: .stale, ageNanoseconds: now &- held.readAt)
    }

    /// Whether a failed read says the backends are down, rather than that the route is absent.
    static func isOutage(_ error: TrafficManagerError) -> Bool {
        [.storeUnavailable, .deadlineExceeded, .overloaded, .notRunning].contains(error.code)
    }
}

extension CoreMetrics.Timer {
    /// Records the time elapsed since `start`.
    func recordInterval(since start: ContinuousClock.Instant) {
        recordNanoseconds(start.duration(to: .now).wholeNanoseconds)
    }
}
