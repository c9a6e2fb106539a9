import Testing
@testable import TrafficManager
import TrafficManagerTestKit

/// Spec §2 and §11: every branch of the read path, with the metrics each one moves.
@Suite struct ReadPathTests {
    @Test func aPositiveCacheHitReturnsTheURLWithoutReadingTheStore() async throws {
        let h = Harness()
        try await h.cache.fill(chatProd, with: .endpoint(url: "http://cached:1", revision: 1), ttl: .seconds(60))
        #expect(try await h.manager.resolve(chatProd) == "http://cached:1")
        #expect(h.store.lookupCount == 0)
        #expect(h.readCounters == [1, 1, 0, 0])
        #expect(h.timerCount(TrafficManagerMetrics.Name.resolveLatency) == 1)
    }

    @Test func aNegativeCacheHitThrowsRouteNotFoundWithoutReadingTheStore() async throws {
        let h = Harness()
        try await h.cache.fill(chatProd, with: .notFound(revision: 0), ttl: .seconds(10))
        #expect(await managerError { try await h.manager.resolve(chatProd) } == .routeNotFound(chatProd))
        #expect(h.store.lookupCount == 0)
        #expect(h.readCounters == [1, 0, 1, 0])
        #expect(h.timerCount(TrafficManagerMetrics.Name.resolveLatency) == 1)
    }

    @Test func aMissReadsTheStoreAndCachesTheURLForSixtySeconds() async throws {
        let h = Harness(configuration: .init(ttlJitter: 0))
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(h.store.lookupCount == 1)
        #expect(h.readCounters == [1, 0, 0, 1])
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://chat:4002", revision: 1))
        #expect(h.cache.timeToLive(chatProd) == .seconds(60))

        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(h.store.lookupCount == 1)
        #expect(h.readCounters == [2, 1, 0, 1])
    }

    @Test func aMissOfAnUnknownRouteCachesNotFoundForTenSeconds() async throws {
        let h = Harness(configuration: .init(ttlJitter: 0))
        #expect(await managerError { try await h.manager.resolve(chatProd) } == .routeNotFound(chatProd))
        #expect(try await h.cache.get(chatProd) == .notFound(revision: 0))
        #expect(h.cache.timeToLive(chatProd) == .seconds(10))
        #expect(await managerError { try await h.manager.resolve(chatProd) } == .routeNotFound(chatProd))
        #expect(h.store.lookupCount == 1)
        #expect(h.readCounters == [2, 0, 1, 1])
    }

    @Test func anInactiveRouteResolvesToNotFound() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        try await h.manager.deactivateRoute(chatProd)
        #expect(await managerError { try await h.manager.resolve(chatProd) } == .routeNotFound(chatProd))
        #expect(try await h.cache.get(chatProd) == .notFound(revision: 2))
    }

    @Test func positiveEntriesExpireAfterTheirTTL() async throws {
        let h = Harness(configuration: .init(ttlJitter: 0))
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        _ = try await h.manager.resolve(chatProd)
        h.time.advance(by: .seconds(59))
        _ = try await h.manager.resolve(chatProd)
        #expect(h.store.lookupCount == 1)
        h.time.advance(by: .seconds(1))
        _ = try await h.manager.resolve(chatProd)
        #expect(h.store.lookupCount == 2)
        #expect(h.readCounters == [3, 1, 0, 2])
    }

    @Test func negativeEntriesExpireAfterTheirTTL() async throws {
        let h = Harness(configuration: .init(ttlJitter: 0))
        _ = await managerError { try await h.manager.resolve(chatProd) }
        h.time.advance(by: .seconds(9))
        _ = await managerError { try await h.manager.resolve(chatProd) }
        #expect(h.store.lookupCount == 1)
        h.time.advance(by: .seconds(1))
        _ = await managerError { try await h.manager.resolve(chatProd) }
        #expect(h.store.lookupCount == 2)
    }

    @Test func configuredTTLsAreUsed() async throws {
        let h = Harness(configuration: .init(positiveTTL: .seconds(5), negativeTTL: .seconds(2), ttlJitter: 0))
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        _ = try await h.manager.resolve(chatProd)
        _ = await managerError { try await h.manager.resolve(authStaging) }
        #expect(h.cache.timeToLive(chatProd) == .seconds(5))
        #expect(h.cache.timeToLive(authStaging) == .seconds(2))
    }

    @Test func fillsGetJitteredTTLsWithinTheConfiguredFraction() async throws {
        let h = Harness(configuration: .init(positiveTTL: .seconds(60), ttlJitter: 0.1))
        var ttls: Set<Duration> = []
        for index in 0..<50 {
            let route = try RouteID(tenant: "tenant-\(index)", service: "chat", environment: "prod", version: "v1")
            try await h.manager.createRoute(route, url: "http://chat:4002")
            _ = try await h.manager.resolve(route)
            let ttl = try #require(h.cache.timeToLive(route))
            #expect(ttl > .seconds(54) && ttl <= .seconds(60))
            ttls.insert(ttl)
        }
        // Entries filled together do not expire together.
        #expect(ttls.count > 40)
    }

    @Test func aResolveWhoseCacheGetFailedDoesNotWaitOnAFillToo() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let fills = Locked(0)
        h.cache.faults.setHook { operation in if operation == "fill" { fills.withLock { $0 += 1 } } }
        h.cache.faults.failNext(1, with: TrafficManagerError.cacheUnavailable("timed out"))
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(fills.withLock { $0 } == 0, "a resolve paid a second cache call after its get failed")
        // With the cache answering again, a miss fills as before.
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(fills.withLock { $0 } == 1)
    }

    @Test func aFailingCacheFallsBackToTheStore() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        h.cache.faults.failNext(1, with: TrafficManagerError.cacheUnavailable("down"))
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(h.store.lookupCount == 1)
        // The get failed; the load then skips its fill rather than wait on the cache again.
        #expect(h.counter(TrafficManagerMetrics.Name.cacheErrors) == 1)
        #expect(h.readCounters == [1, 0, 0, 1])
        #expect(h.logs.messages(at: .debug).contains { $0.contains("route cache get failed") })
        #expect(h.logs.messages(at: .error) == ["route cache is failing; further failures are counted, not logged, until it answers again"])
    }

    @Test func aCacheThatKeepsFailingIsSkippedUntilTheCoolDownEnds() async throws {
        let h = Harness(configuration: .init(cacheBreaker: .init(failureThreshold: 3, coolDown: .seconds(5))))
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let cacheCalls = ConcurrentCount()
        h.cache.faults.setHook { _ in cacheCalls.bump() }
        h.cache.faults.failNext(1000, with: TrafficManagerError.cacheUnavailable("down"))

        // Each resolve's get fails (its load then skips the fill): three failures open it.
        _ = try await h.manager.resolve(chatProd)
        _ = try await h.manager.resolve(chatProd)
        _ = try await h.manager.resolve(chatProd)
        #expect(h.manager.resolver.cacheBreakerState == .open(until: .seconds(5)))
        let callsWhenOpened = cacheCalls.current
        for _ in 0..<10 { #expect(try await h.manager.resolve(chatProd) == "http://chat:4002") }
        #expect(cacheCalls.current == callsWhenOpened)

        // After the cool-down one probe reaches the cache; the cache is back, so it closes.
        h.cache.faults.reset()
        h.cache.faults.setHook { _ in cacheCalls.bump() }
        h.time.advance(by: .seconds(5))
        _ = try await h.manager.resolve(chatProd)
        #expect(h.manager.resolver.cacheBreakerState == .closed(failures: 0))
        #expect(cacheCalls.current > callsWhenOpened)
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(h.counter(TrafficManagerMetrics.Name.cacheHits) == 1)
    }

    @Test func aFailedProbeOpensTheBreakerForAnotherCoolDown() async throws {
        let h = Harness(configuration: .init(cacheBreaker: .init(failureThreshold: 1, coolDown: .seconds(5))))
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        h.cache.faults.failNext(1000, with: TrafficManagerError.cacheUnavailable("down"))
        _ = try await h.manager.resolve(chatProd)
        #expect(h.manager.resolver.cacheBreakerState == .open(until: .seconds(5)))
        h.time.advance(by: .seconds(5))
        _ = try await h.manager.resolve(chatProd)
        #expect(h.manager.resolver.cacheBreakerState == .open(until: .seconds(10)))
    }

    @Test func aStoreFailureOnAMissIsStoreUnavailable() async throws {
        let h = Harness()
        h.store.faults.failNext(1, with: TrafficManagerError.storeUnavailable("connection refused"))
        #expect(await managerError { try await h.manager.resolve(chatProd) } == .storeUnavailable("connection refused"))
        #expect(try await h.cache.get(chatProd) == nil)
        #expect(h.readCounters == [1, 0, 0, 1])
        #expect(h.timerCount(TrafficManagerMetrics.Name.resolveLatency) == 1)

        struct Refused: Error {}
        h.store.faults.failNext(1, with: Refused())
        let error = await managerError { try await h.manager.resolve(chatProd) }
        guard error?.code == .storeUnavailable else {
            Issue.record("expected storeUnavailable, got \(String(describing: error))")
            return
        }
    }

    @Test func aStoreFailureDoesNotAffectCachedRoutes() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        _ = try await h.manager.resolve(chatProd)
        h.store.faults.failNext(100, with: TrafficManagerError.storeUnavailable("down"))
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
    }

    @Test func aHundredConcurrentMissesShareOneStoreRead() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let gate = Gate()
        h.store.faults.setHook { operation in if operation == "lookup" { await gate.wait() } }

        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<100 { group.addTask { try await h.manager.resolve(chatProd) } }
            #expect(try await eventually { h.manager.resolver.loads.waiterCount(for: chatProd) == 100 })
            gate.open()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 100 && results.allSatisfy { $0 == "http://chat:4002" })
        #expect(h.store.lookupCount == 1)
        #expect(h.readCounters == [100, 0, 0, 100])
    }

    @Test func aCancelledCallerDoesNotDisturbTheOthersWaitingForTheSameRead() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let gate = Gate()
        h.store.faults.setHook { operation in if operation == "lookup" { await gate.wait() } }

        let leader = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.manager.resolver.loads.waiterCount(for: chatProd) == 1 })
        let follower = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.manager.resolver.loads.waiterCount(for: chatProd) == 2 })
        leader.cancel()
        await #expect(throws: CancellationError.self) { try await leader.value }
        #expect(h.manager.resolver.loads.waiterCount(for: chatProd) == 1)
        gate.open()
        #expect(try await follower.value == "http://chat:4002")
        #expect(h.store.lookupCount == 1)
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://chat:4002", revision: 1))
    }

    @Test func metricsUseTheConfiguredPrefix() async throws {
        let h = Harness(configuration: .init(metricsPrefix: "tm_"))
        _ = await managerError { try await h.manager.resolve(chatProd) }
        #expect(h.metrics.counterTotal(label: "tm_resolve_requests_total") == 1)
        #expect(h.metrics.counterTotal(label: "tm_cache_miss_total") == 1)
        #expect(h.metrics.counterTotal(label: "resolve_requests_total") == 0)
    }

    @Test func invalidNamesAreRejectedBeforeAnyLookup() async throws {
        let h = Harness()
        let error = await managerError { try await h.manager.resolve(tenant: "ACME", service: "chat", environment: "prod", version: "v1") }
        #expect(error == .invalidInput(ValidationError(field: .tenant, rule: .invalidCharacter("A"))))
        #expect(h.store.lookupCount == 0)
    }
}
