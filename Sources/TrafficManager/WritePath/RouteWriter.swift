import CoreMetrics
import Logging
import Tracing

/// The write path: applies a command to the store in one transaction, then —
/// best effort — invalidates the route's cache entry at the record's revision and publishes the
/// change's event.
///
/// - A failed transaction leaves nothing behind and throws a ``TrafficManagerError``.
/// - Neither a cache nor an event failure fails a committed write: each is counted, and
///   logged once per outage. Consumers of the event invalidate the entry
///   again, everywhere; in this process, the read path does not serve an entry older than a
///   write whose invalidation failed.
/// - Per-call success is logged at `debug`; a caller's own error (invalid input, a conflict,
///   a missing route) at `debug` too — the caller has it.
/// - A write that changes nothing, or that replays an idempotency key, publishes nothing but
///   still invalidates: its caller may be retrying a write whose first reply was lost.
public final class RouteWriter: Sendable {
    private let store: any RouteStore
    private let cache: any RouteCache
    private let publisher: any EventPublisher
    private let configuration: TrafficManagerConfiguration
    private let breaker: CircuitBreaker
    private let metrics: TrafficManagerMetrics
    private let logger: Logger
    private let unconfirmed: UnconfirmedInvalidations
    private let storeHealth: DependencyHealth
    private let cacheHealth: DependencyHealth
    private let publisherHealth: DependencyHealth
    private let tracer: (any Tracer)?
    private let near: NearCache?
    private let time: any TimeSource

    /// Creates a writer.
    public convenience init(
        store: any RouteStore,
        cache: any RouteCache,
        publisher: any EventPublisher,
        configuration: TrafficManagerConfiguration,
        breaker: CircuitBreaker,
        metrics: TrafficManagerMetrics,
        logger: Logger
    ) {
        self.init(
            store: store, cache: cache, publisher: publisher, configuration: configuration, breaker: breaker,
            metrics: metrics, storeHealth: DependencyHealth(name: "route store", logger: logger),
            cacheHealth: DependencyHealth(name: "route cache", logger: logger), time: SystemTimeSource(), logger: logger)
    }

    init(
        store: any RouteStore,
        cache: any RouteCache,
        publisher: any EventPublisher,
        configuration: TrafficManagerConfiguration,
        breaker: CircuitBreaker,
        metrics: TrafficManagerMetrics,
        storeHealth: DependencyHealth,
        cacheHealth: DependencyHealth,
        time: any TimeSource,
        tracer: (any Tracer)? = nil,
        near: NearCache? = nil,
        logger: Logger
    ) {
        self.near = near
        self.time = time
        self.tracer = tracer
        self.unconfirmed = breaker.unconfirmed
        self.storeHealth = storeHealth
        self.cacheHealth = cacheHealth
        self.publisherHealth = DependencyHealth(name: "event publisher", logger: logger, time: time)
        self.store = store
        self.cache = cache
        self.publisher = publisher
        self.configuration = configuration
        self.breaker = breaker
        self.metrics = metrics
        self.logger = logger
    }

    /// Validates with `makeCommand`, then applies the command.
    ///
    /// Validation happens inside the counted request, so a rejected input counts as a request
    /// and a failure.
    ///
    /// - Throws: ``TrafficManagerError`` with code `invalidInput`, `routeNotFound` (activating
    ///   or deactivating a route that does not exist), `revisionConflict` (a compare-and-set
    ///   write found another revision), `idempotencyConflict`, `idempotencyKeyInUse` (the same
    ///   key is being applied right now: retry shortly), `storeUnavailable`,
    ///   `writeFailed` or `outcomeUnknown`; `CancellationError` when the calling task is
    ///   cancelled: before the call, nothing is written; after it, the caller stops waiting at
    ///   once, while the write runs on and, if it commits, still invalidates the cache and
    ///   publishes its event.
    public func write(
        idempotencyKey: String? = nil,
        _ makeCommand: () throws(ValidationError) -> RouteCommand
    ) async throws -> RouteWriteResult {
        metrics.writeRequests.increment()
        let start = ContinuousClock.now
        defer { metrics.writeLatency.recordInterval(since: start) }

        let command: RouteCommand
        let key: IdempotencyKey?
        do {
            command = try makeCommand()
            key = try idempotencyKey.map { (value) throws(ValidationError) in try IdempotencyKey(value) }
        } catch {
            metrics.writeFailures.increment()
            throw TrafficManagerError.invalidInput(error)
        }

        if Task.isCancelled {
            metrics.writeFailures.increment()
            throw CancellationError()
        }
        // Once sent, the write and the work after its commit finish whatever the caller does:
        // a cancelled caller leaves at once, and the cache is still invalidated and the event
        // still published.
        return try await traced(tracer, TrafficManagerTracing.writeSpan, route: command.route) {
            try await Shielded.run { [self] in try await apply(command, idempotencyKey: key) }
        }
    }

    /// Applies `commands` in one transaction (``RouteStore/applyBatch(_:)``), then invalidates
    /// every route at its new revision and publishes each change's event, as single writes do.
    ///
    /// Each command counts as a write request; a failed batch counts each as a failure. Upsert
    /// URLs are checked against `allowedURLSchemes` first: one bad URL rejects the batch with
    /// `invalidInput` naming its command, and nothing is written.
    ///
    /// - Throws: as ``write(idempotencyKey:_:)``, with `command N of M` in the message of the
    ///   command that failed.
    public func writeBatch(_ commands: [RouteCommand], allowedURLSchemes: Set<String>) async throws -> [RouteWriteResult] {
        metrics.writeRequests.increment(by: Int64(commands.count))
        let start = ContinuousClock.now
        defer { metrics.writeLatency.recordInterval(since: start) }
        for (index, command) in commands.enumerated() {
            guard case .upsert(let url) = command.operation else { continue }
            do {
                try EndpointURL.validate(url, allowedSchemes: allowedURLSchemes)
            } catch {
                metrics.writeFailures.increment(by: Int64(commands.count))
                throw TrafficManagerError.invalidInput(error).inBatch(index, of: commands.count)
            }
        }
        if Task.isCancelled {
            metrics.writeFailures.increment(by: Int64(commands.count))
            throw CancellationError()
        }
        return try await traced(tracer, TrafficManagerTracing.writeSpan) { try await Shielded.run { [self] in
            let results: [RouteWriteResult]
            do {
                results = try await store.applyBatch(commands)
            } catch {
                metrics.writeFailures.increment(by: Int64(commands.count))
                throw failed(error, routes: Set(commands.map(\.route)))
            }
            metrics.writeSuccesses.increment(by: Int64(commands.count))
            storeHealth.succeeded()
            // The last result of each route carries its newest revision.
            var newest: [RouteID: UInt64] = [:]
            for result in results {
                newest[result.endpoint.route] = result.endpoint.revision
                keepNear(result)
            }
            await withTaskGroup(of: Void.self) { group in
                for (route, revision) in newest { group.addTask { await self.invalidate(route, revision: revision) } }
                group.addTask {
                    for result in results { if let event = result.event { await self.publish(event) } }
                }
            }
            return results
        } }
    }

    /// The store write, then — after a commit — invalidation and publication; counts the outcome.
    private func apply(_ command: RouteCommand, idempotencyKey key: IdempotencyKey?) async throws -> RouteWriteResult {
        let result: RouteWriteResult
        do {
            result = try await store.apply(command, idempotencyKey: key)
        } catch is CancellationError {
            metrics.writeFailures.increment()
            throw CancellationError()
        } catch {
            metrics.writeFailures.increment()
            throw failed(error, routes: [command.route])
        }
        metrics.writeSuccesses.increment()
        storeHealth.succeeded()

        // Every successful write invalidates, changed or not, replayed or not: a retry after a
        // lost reply must not leave the pre-write URL cached. At the record's revision, so an
        // invalidation never undoes a newer state. Only a new change is published.
        let route = command.route
        let revision = result.endpoint.revision
        keepNear(result)
        if !result.replayed, let event = result.event {
            logger.debug(
                "route changed",
                metadata: ["route": "\(event.route)", "action": "\(event.action.rawValue)", "revision": "\(event.revision)"])
            async let invalidated: Void = invalidate(route, revision: revision)
            async let published: Void = publish(event)
            _ = await (invalidated, published)
        } else {
            await invalidate(route, revision: revision)
        }
        return result
    }

    /// A failed store write as the caller's error: an outage is reported to the store's health,
    /// a refusal logged at debug; after `outcomeUnknown` the written routes are reconciled.
    private func failed(_ error: any Error, routes: Set<RouteID>) -> TrafficManagerError {
        let failure = Self.writeError(error)
        if Self.isOutage(failure) {
            storeHealth.failed("write", failure)
        } else {
            logger.debug("route write refused", metadata: ["routes": "\(routes.count)", "error": "\(failure)"])
        }
        if failure.code == .outcomeUnknown {
            // Nothing this process holds for the routes may be served until they are read again.
            if let near { for route in routes { near.remove(route) } }
            // The write may have committed: read the routes again and invalidate at the
            // revision found, so that a caller who never retries still never keeps the old
            // URL cached. In the background: the caller hears of the outcome at once.
            Task { [self] in for route in routes { await reconcile(route) } }
        }
        return failure
    }

    /// After a write whose outcome is unknown: the route's revision as the store has it now,
    /// and an invalidation at that revision (a no-op when nothing changed).
    ///
    /// The store may still be unreachable — the outcome is unknown because it stopped
    /// answering — so the read is tried again, backing off from 100 ms to 5 s, for as long as
    /// an entry cached before the write could live (`positiveTTL`).
    private func reconcile(_ route: RouteID) async {
        let started = ContinuousClock.now
        var pause = Duration.milliseconds(100)
        while true {
            do {
                let readAt = time.monotonicNanoseconds()
                let lookup = try await store.lookup(route)
                if let near {
                    let now = time.monotonicNanoseconds()
                    near.advance(route, to: NearCache.Entry(lookup, now: now, readAt: readAt, configuration: configuration))
                }
                await invalidate(route, revision: lookup.revision)
                return
            } catch {
                guard started.duration(to: .now) + pause < configuration.positiveTTL else {
                    storeHealth.failed("read", error)
                    logger.debug(
                        "could not read a route whose write has an unknown outcome; its cache entry expires by its TTL",
                        metadata: ["route": "\(route)", "error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(5))
            }
        }
    }

    /// Applies a successful write to the near cache at once: the record, as the store has it
    /// now — or, for a replay (whose record may be older than the route's state), a tombstone
    /// at its revision, so nothing older is served and the next resolve reads it again.
    private func keepNear(_ result: RouteWriteResult) {
        guard let near else { return }
        let now = time.monotonicNanoseconds()
        let endpoint = result.endpoint
        if result.replayed {
            near.advance(endpoint.route, to: .tombstone(endpoint.revision, now: now))
        } else {
            let lookup = RouteLookup(url: endpoint.isActive ? endpoint.url : nil, revision: endpoint.revision)
            near.advance(
                endpoint.route,
                to: NearCache.Entry(
                    lookup, now: now, readAt: now, cost: Int64(NearCache.Entry.assumedCost) * 1_000, configuration: configuration))
        }
    }

    private func invalidate(_ route: RouteID, revision: UInt64) async {
        do {
            try await cache.invalidate(route, revision: revision, ttl: configuration.tombstoneTTL)
            breaker.recordSuccess()
            cacheHealth.succeeded()
            unconfirmed.confirm(route, revision: revision)
        } catch {
            // Until a fill at this revision reaches the cache, this process's resolves serve
            // nothing older; other instances have the event.
            unconfirmed.record(
                route, revision: revision,
                lifetime: max(configuration.positiveTTL, configuration.negativeTTL) + configuration.effectiveFillWindow)
            breaker.recordFailure()
            metrics.cacheErrors.increment()
            cacheHealth.failed("invalidate", error)
            logger.debug(
                "cache invalidation after a write failed; the event's consumers will retry it",
                metadata: ["route": "\(route)", "revision": "\(revision)", "error": "\(error)"])
        }
    }

    private func publish(_ event: RouteEvent) async {
        do {
            try await publisher.publish(event)
            publisherHealth.succeeded()
        } catch {
            metrics.publishFailures.increment()
            publisherHealth.failed("publish", error)
            logger.debug(
                "route event not published; the write stands",
                metadata: ["route": "\(event.route)", "event_id": "\(event.eventID)", "error": "\(error)"])
        }
    }

    /// Whether `failure` says the store is failing, rather than refusing this caller's request.
    static func isOutage(_ failure: TrafficManagerError) -> Bool {
        [.storeUnavailable, .outcomeUnknown, .deadlineExceeded, .notRunning, .overloaded, .writeFailed].contains(failure.code)
    }

    static func writeError(_ error: any Error) -> TrafficManagerError {
        if let error = error as? TrafficManagerError { return error }
        return .writeFailed("the store threw \(String(describing: error))", underlying: error)
    }
}
