import Foundation

extension RouteResolver {
    /// Resolves every route of `routes`, by the same rules as ``resolution(_:consistency:timeout:)``:
    /// a result per route, in the same order.
    ///
    /// One pass over the near cache; one shared-cache call for the rest (`RouteCache.get(_:)` for many routes:
    /// pipelined gets, one round trip per connection); one store call for what is still missing
    /// (`RouteStore.lookup(_:)` for many routes: one query on PostgreSQL), whose answers fill both caches.
    ///
    /// - Returns: per route, its resolution or the ``TrafficManagerError`` a single resolve would
    ///   throw (`routeNotFound`, `storeUnavailable`, `deadlineExceeded`, …).
    /// - Throws: `CancellationError` when the calling task is cancelled; nothing else.
    public func resolutions(
        _ routes: [RouteID], consistency: ReadConsistency = .default, timeout: Duration? = nil
    ) async throws -> [Result<RouteResolution, TrafficManagerError>] {
        metrics.resolveRequests.increment(by: Int64(routes.count))
        let started = MonotonicClock.nanoseconds()
        defer { metrics.resolveLatency.recordNanoseconds(MonotonicClock.nanoseconds() &- started) }
        try Task.checkCancellation()
        var results = [Result<RouteResolution, TrafficManagerError>?](repeating: nil, count: routes.count)
        var floors = [UInt64](repeating: 0, count: routes.count)
        var held = [NearCache.Entry?](repeating: nil, count: routes.count)

        // The near cache.
        var rest: [Int] = []
        let now = time.monotonicNanoseconds()
        for (index, route) in routes.enumerated() {
            floors[index] = unconfirmed.floor(route) ?? 0
            if let near {
                switch near.lookup(route, now: now) {
                case .fresh(let entry) where consistency.usesNearCache && entry.revision >= floors[index]:
                    if entry.kind == .endpoint {
                        metrics.nearCacheHits.increment()
                        results[index] = .success(
                            RouteResolution(url: entry.url, revision: entry.revision, source: .nearCache, ageNanoseconds: now &- entry.readAt))
                    } else {
                        metrics.negativeCacheHits.increment()
                        results[index] = .failure(.routeNotFound(route))
                    }
                    continue
                case .fresh(let entry), .held(let entry):
                    held[index] = entry
                    floors[index] = max(floors[index], entry.revision)
                case .absent:
                    break
                }
            }
            rest.append(index)
        }
        if rest.isEmpty { return results.map { $0! } }

        let allowed = timeout ?? configuration.resolveTimeout
        let deadline = ContinuousClock.now + allowed - .nanoseconds(MonotonicClock.nanoseconds() &- started)
        let answered = try await sharedThenStore(routes, rest, floors: floors, held: held, deadline: deadline, allowed: allowed)
        for (index, result) in answered { results[index] = result }
        return results.map { $0! }
    }

    /// The shared cache for `indices`, then the store for what it did not answer.
    /// Each layer within `deadline`: a shared cache that does not answer in time counts as
    /// failed (its routes go to the store); routes the store does not answer in time are
    /// `deadlineExceeded`, while those answered already keep their answers.
    private func sharedThenStore(
        _ routes: [RouteID], _ indices: [Int], floors: [UInt64], held: [NearCache.Entry?], deadline: ContinuousClock.Instant,
        allowed: Duration
    ) async throws -> [(Int, Result<RouteResolution, TrafficManagerError>)] {
        var answers: [(Int, Result<RouteResolution, TrafficManagerError>)] = []
        let epoch = near?.epoch ?? 0
        var entries = [CachedEntry?](repeating: nil, count: indices.count)
        var cacheAnswered = false
        let asked = time.monotonicNanoseconds()
        if breaker.allowsRequest() {
            let batch = indices.map { routes[$0] }
            let cache = cache
            do {
                if let got = try await withDeadline(deadline, { try await cache.entries(batch) }) {
                    entries = got
                    breaker.recordSuccess()
                    cacheHealth.succeeded()
                    cacheAnswered = true
                } else {
                    cacheFailed(TrafficManagerError.cacheUnavailable("the shared cache did not answer a batch get in time"), operation: "get", route: batch[0])
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                cacheFailed(error, operation: "get", route: batch[0])
            }
        }
        var misses: [Int] = []
        var missRevisions: [UInt64] = []
        // Misses the shared cache had nothing for (no tombstone, no newer entry): the only ones
        // an expired near-cache entry may answer when the store fails too.
        var emptyHanded: Set<Int> = []
        for (position, index) in indices.enumerated() {
            let route = routes[index]
            let age = entries[position].flatMap { sharedAge($0) }
            switch entries[position]?.value {
            case .endpoint(let url, let revision)? where revision >= floors[index]:
                metrics.cacheHits.increment()
                keepNear(route, .endpoint(url: url, revision: revision), epoch: epoch, askedAt: asked, age: age)
                if let age { considerSharedRefresh(route, revision: revision, age: age, ttl: configuration.positiveTTL) }
                answers.append((index, .success(RouteResolution(url: url, revision: revision, source: .sharedCache, ageNanoseconds: age ?? 0))))
            case .notFound(let revision)? where revision >= floors[index]:
                metrics.negativeCacheHits.increment()
                keepNear(route, .notFound(revision: revision), epoch: epoch, askedAt: asked, age: age)
                if let age { considerSharedRefresh(route, revision: revision, age: age, ttl: configuration.negativeTTL) }
                answers.append((index, .failure(.routeNotFound(route))))
            default:
                metrics.cacheMisses.increment()
                misses.append(index)
                missRevisions.append(entries[position]?.value.revision ?? 0)
                if entries[position] == nil { emptyHanded.insert(index) }
            }
        }
        guard !misses.isEmpty else { return answers }

        // One store call for the misses; it begins after this resolve did, so it sees every
        // write that finished before.
        // With the cache's evidence (it answered) the store may answer from a lagging copy, no
        // older than each route's known revision; the read then counts as that lag older.
        let lag = cacheAnswered ? store.maximumReadLag : .zero
        let window = configuration.effectiveFillWindow - lag
        let readStarted = time.monotonicNow()
        let readAt = time.monotonicNanoseconds() &- lag.wholeNanoseconds
        let readAtWall = time.wallNow().addingTimeInterval(-lag.timeInterval)
        let notAfter = readAtWall.addingTimeInterval(configuration.effectiveFillWindow.timeInterval)
        let lookups: [RouteLookup]
        do {
            let (store, batch) = (store, misses.map { routes[$0] })
            let known = misses.enumerated().map { position, index in max(floors[index], missRevisions[position]) }
            let evidence = cacheAnswered
            guard
                let found = try await withDeadline(
                    deadline, { evidence ? try await store.lookup(batch, atLeast: known) : try await store.lookup(batch) })
            else {
                for index in misses { answers.append((index, .failure(.deadlineExceeded("resolve", deadline: allowed, route: routes[index])))) }
                return answers
            }
            lookups = found
            storeHealth.succeeded()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let failure = Self.storeError(error)
            storeHealth.failed("read", failure)
            for index in misses {
                if emptyHanded.contains(index), Self.isOutage(failure),
                    let stale = staleAnswer(held[index], floor: floors[index], route: routes[index])
                {
                    answers.append((index, .success(stale)))
                } else {
                    answers.append((index, .failure(failure)))
                }
            }
            return answers
        }
        let fill = cacheAnswered && time.monotonicNow() - readStarted < window && breaker.allowsRequest()
        await withTaskGroup(of: Void.self) { group in
            for (position, index) in misses.enumerated() {
                let (route, lookup) = (routes[index], lookups[position])
                if let near {
                    let now = time.monotonicNanoseconds()
                    near.fill(route, with: NearCache.Entry(lookup, now: now, readAt: readAt, configuration: configuration), epoch: epoch)
                }
                if let url = lookup.url {
                    answers.append((index, .success(RouteResolution(url: url, revision: lookup.revision, source: .store))))
                } else {
                    answers.append((index, .failure(.routeNotFound(route))))
                }
                guard fill else { continue }
                group.addTask { [self] in
                    let (entry, ttl): (CachedRoute, Duration) =
                        lookup.url.map { (.endpoint(url: $0, revision: lookup.revision), configuration.jittered(configuration.positiveTTL)) }
                        ?? (.notFound(revision: lookup.revision), configuration.jittered(configuration.negativeTTL))
                    do {
                        if try await cache.fill(route, with: entry, ttl: ttl, notAfter: notAfter, readAt: readAtWall) {
                            unconfirmed.confirm(route, revision: lookup.revision)
                        }
                    } catch {
                        cacheFailed(error, operation: "fill", route: route)
                    }
                }
            }
        }
        return answers
    }

    /// `body`'s result, or `nil` when `deadline` passes first (the body is then cancelled).
    private func withDeadline<T: Sendable>(
        _ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T? {
        guard deadline > .now else { return nil }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            let first = try await group.next() ?? nil
            try Task.checkCancellation()
            return first
        }
    }
}
