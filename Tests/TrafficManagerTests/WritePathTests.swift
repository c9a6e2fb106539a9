import Testing
import TrafficManager
import TrafficManagerTestKit

/// Spec §3 and §12: every branch of the write path, with its metrics, events and cache effects.
@Suite struct WritePathTests {
    @Test func creatingARouteCommitsPublishesAndCounts() async throws {
        let h = Harness()
        let result = try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(result.event?.action == .created && result.endpoint.revision == 1 && !result.replayed)
        #expect(h.bus.publishedEvents == [try #require(result.event)])
        #expect(h.writeCounters == [1, 1, 0])
        #expect(h.timerCount(TrafficManagerMetrics.Name.writeLatency) == 1)
        #expect(h.store.rowCounts == .init(tenants: 1, services: 1, environments: 1, endpoints: 1, events: 1, idempotencyKeys: 0))
        // Per-call success is debug: an operator's log stays quiet while all is well.
        #expect(h.logs.messages(at: .debug).contains("route changed"))
        #expect(h.logs.entries.allSatisfy { $0.level < .info })
    }

    @Test func aWriteInvalidatesTheCachedEntryRightAway() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        #expect(try await h.manager.resolve(chatProd) == "http://old:1")
        try await h.manager.createRoute(chatProd, url: "http://new:2")
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 2))
        #expect(h.cache.timeToLive(chatProd) == h.configuration.tombstoneTTL)
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
    }

    @Test func aRetryAfterALostReplyInvalidatesWhetherReplayedOrUnchanged() async throws {
        // The write commits but its reply never reaches the writer (here: it went to the store
        // directly), so nothing invalidated the cached old URL. The caller's retry must.
        for key in ["deploy-9", nil] as [String?] {
            let h = Harness()
            try await h.manager.createRoute(chatProd, url: "http://old:1")
            #expect(try await h.manager.resolve(chatProd) == "http://old:1")
            let command = try RouteCommand(route: chatProd, operation: .upsert(url: "http://new:2"))
            _ = try await h.store.apply(command, idempotencyKey: try key.map { try IdempotencyKey($0) })
            #expect(try await h.manager.resolve(chatProd) == "http://old:1", "the lost reply left the old URL cached")

            let retry = try await h.manager.createRoute(chatProd, url: "http://new:2", idempotencyKey: key)
            #expect(key == nil ? (retry.event == nil && !retry.replayed) : retry.replayed)
            #expect(try await h.cache.get(chatProd) == .tombstone(revision: 2))
            #expect(try await h.manager.resolve(chatProd) == "http://new:2")
            // A retry publishes nothing new: the change's event was recorded with its commit.
            #expect(h.bus.publishedEvents.count == 1)
        }
    }

    @Test func aWriteWithAnUnknownOutcomeIsReconciledWithoutARetry() async throws {
        // A store whose write commits but whose reply is lost: the writer hears outcomeUnknown.
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        #expect(try await h.manager.resolve(chatProd) == "http://old:1")
        let lossy = TrafficManager(store: LosesReplies(inner: h.store), cache: h.cache, publisher: h.bus)
        let error = await managerError { try await lossy.createRoute(chatProd, url: "http://new:2") }
        #expect(error?.code == .outcomeUnknown)
        // Nobody retries; the writer reads the route again and invalidates at what it finds.
        var entry = try await h.cache.get(chatProd)
        for _ in 0..<1000 where entry != .tombstone(revision: 2) {
            try await Task.sleep(for: .milliseconds(5))
            entry = try await h.cache.get(chatProd)
        }
        #expect(entry == .tombstone(revision: 2))
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
    }

    @Test func theReconcileReadIsRetriedWhileTheStoreStaysUnreachable() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        #expect(try await h.manager.resolve(chatProd) == "http://old:1")
        // The store stops answering right after the commit: the next three reads fail too.
        let lossy = TrafficManager(store: LosesReplies(inner: h.store, failedReadsAfter: 3), cache: h.cache, publisher: h.bus)
        #expect(await managerError { try await lossy.createRoute(chatProd, url: "http://new:2") }?.code == .outcomeUnknown)
        // Three failed reads later (100 + 200 + 400 ms of back-off), the fourth invalidates.
        var entry = try await h.cache.get(chatProd)
        for _ in 0..<600 where entry != .tombstone(revision: 2) {
            try await Task.sleep(for: .milliseconds(5))
            entry = try await h.cache.get(chatProd)
        }
        #expect(entry == .tombstone(revision: 2))
        #expect(h.store.lookupCount >= 5, "the reconcile read was tried \(h.store.lookupCount - 1) times")
    }

    @Test func aReplayOfAnOlderWriteNeverUndoesANewerCachedState() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://a:1", idempotencyKey: "k-1")
        try await h.manager.createRoute(chatProd, url: "http://b:2")
        #expect(try await h.manager.resolve(chatProd) == "http://b:2")
        let replay = try await h.manager.createRoute(chatProd, url: "http://a:1", idempotencyKey: "k-1")
        #expect(replay.replayed && replay.endpoint.revision == 1)
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://b:2", revision: 2))
        #expect(try await h.manager.resolve(chatProd) == "http://b:2")
    }

    @Test func creatingARouteRemovesItsNegativeEntry() async throws {
        let h = Harness()
        _ = await managerError { try await h.manager.resolve(chatProd) }
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
    }

    @Test func deactivatingARouteStopsItResolvingAndActivatingBringsItBack() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        _ = try await h.manager.resolve(chatProd)
        let off = try await h.manager.deactivateRoute(chatProd)
        #expect(off.event?.action == .deactivated)
        #expect(await managerError { try await h.manager.resolve(chatProd) } == .routeNotFound(chatProd))
        let on = try await h.manager.activateRoute(chatProd)
        #expect(on.event?.action == .activated && on.endpoint.revision == 3)
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(h.bus.publishedEvents.map(\.action) == [.created, .deactivated, .activated])
    }

    @Test func invalidInputIsRejectedBeforeTheStoreAndCountedAsAFailure() async throws {
        let h = Harness()
        let error = await managerError {
            try await h.manager.createRoute(tenant: "chat-app", service: "chat", environment: "prod", version: "v1", url: "ftp://x")
        }
        #expect(error == .invalidInput(ValidationError(field: .url, rule: .unsupportedScheme("ftp", allowed: ["http", "https"]))))
        let keyError = await managerError { try await h.manager.createRoute(chatProd, url: "http://a:1", idempotencyKey: "") }
        #expect(keyError == .invalidInput(ValidationError(field: .idempotencyKey, rule: .empty)))
        #expect(h.writeCounters == [2, 0, 2])
        #expect(h.store.rowCounts == .init(tenants: 0, services: 0, environments: 0, endpoints: 0, events: 0, idempotencyKeys: 0))
        #expect(h.bus.publishedEvents.isEmpty)
    }

    @Test(arguments: ["tenant", "service", "environment", "endpoint", "event", "idempotency"])
    func aTransactionFailingAtAnyStepLeavesNothingBehind(step: String) async throws {
        let h = Harness()
        struct DiskFull: Error {}
        h.store.faults.failNext(1, at: step, with: DiskFull())
        let error = await managerError { try await h.manager.createRoute(chatProd, url: "http://chat:4002", idempotencyKey: "k1") }
        guard error?.code == .writeFailed else {
            Issue.record("expected writeFailed, got \(String(describing: error))")
            return
        }
        #expect(h.store.rowCounts == .init(tenants: 0, services: 0, environments: 0, endpoints: 0, events: 0, idempotencyKeys: 0))
        #expect(h.bus.publishedEvents.isEmpty)
        #expect(try await h.cache.get(chatProd) == nil)
        #expect(h.writeCounters == [1, 0, 1])
        #expect(h.timerCount(TrafficManagerMetrics.Name.writeLatency) == 1)

        // The same call succeeds once the fault is gone, and the key was not burnt.
        let retry = try await h.manager.createRoute(chatProd, url: "http://chat:4002", idempotencyKey: "k1")
        #expect(retry.event?.action == .created && !retry.replayed)
    }

    @Test func aFailedUpdateKeepsThePreviousState() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        struct Boom: Error {}
        h.store.faults.failNext(1, at: "event", with: Boom())
        _ = await managerError { try await h.manager.createRoute(chatProd, url: "http://new:2") }
        #expect(try await h.store.lookup(chatProd) == RouteLookup(url: "http://old:1", revision: 1))
        #expect(h.store.rowCounts.events == 1)
    }

    @Test func anUnreachableStoreIsStoreUnavailable() async throws {
        let h = Harness()
        h.store.faults.failNext(1, with: TrafficManagerError.storeUnavailable("connection refused"))
        #expect(await managerError { try await h.manager.createRoute(chatProd, url: "http://a:1") } == .storeUnavailable("connection refused"))
        #expect(h.writeCounters == [1, 0, 1])
        // The outage is logged once, and its end with the count of calls that failed meanwhile.
        #expect(await managerError { try await h.manager.createRoute(chatProd, url: "http://a:1") } == nil)
        // Recovery is declared after a quiet second of successes.
        #expect(!h.logs.messages(at: .notice).contains("route store answers again"))
        h.time.advance(by: .seconds(1))
        #expect(await managerError { try await h.manager.createRoute(chatProd, url: "http://a:1") } == nil)
        let errors = h.logs.entries.filter { $0.level >= .warning }
        #expect(errors.map(\.message) == ["route store is failing; further failures are counted, not logged, until it answers again"])
        let recovered = try #require(h.logs.entries.first { $0.message == "route store answers again" })
        #expect(recovered.level == .notice && recovered.metadata["failed_calls"] == "1")
    }

    @Test func aPublishFailureIsLoggedAndCountedAndTheWriteStands() async throws {
        let h = Harness()
        h.bus.faults.failNext(1, with: TrafficManagerError.eventsUnavailable("broker down"))
        let result = try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(result.event != nil)
        #expect(h.writeCounters == [1, 1, 0])
        #expect(h.counter(TrafficManagerMetrics.Name.publishFailures) == 1)
        let debug = try #require(h.logs.entries.first { $0.level == .debug && $0.message.contains("not published") })
        #expect(debug.metadata["event_id"] == result.event?.eventID.uuidString)
        #expect(h.logs.messages(at: .error).contains { $0.hasPrefix("event publisher is failing") })
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(h.store.eventRows.first?.processedAt == nil)
    }

    @Test func aCacheFailureAfterCommitIsLoggedAndTheWriteStands() async throws {
        let h = Harness()
        h.cache.faults.failNext(1, with: TrafficManagerError.cacheUnavailable("down"))
        let result = try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(result.event?.action == .created)
        #expect(h.counter(TrafficManagerMetrics.Name.cacheErrors) == 1)
        #expect(h.logs.messages(at: .debug).contains { $0.contains("cache invalidation after a write failed") })
        #expect(h.logs.messages(at: .error).contains { $0.hasPrefix("route cache is failing") })
        #expect(h.bus.publishedEvents.count == 1)
    }

    @Test func retryingTheSameWriteGivesTheSameResultAndNoSecondEvent() async throws {
        let h = Harness()
        let first = try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let second = try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(second.endpoint == first.endpoint && second.event == nil)
        let off1 = try await h.manager.deactivateRoute(chatProd)
        let off2 = try await h.manager.deactivateRoute(chatProd)
        #expect(off1.endpoint == off2.endpoint && off2.event == nil)
        #expect(h.bus.publishedEvents.count == 2)
        #expect(h.writeCounters == [4, 4, 0])
    }

    @Test func anIdempotencyKeyReplaysTheFirstResultWithoutWritingOrPublishing() async throws {
        let h = Harness()
        let first = try await h.manager.createRoute(chatProd, url: "http://chat:4002", idempotencyKey: "deploy-17")
        try await h.manager.createRoute(chatProd, url: "http://other:1")
        let replay = try await h.manager.createRoute(chatProd, url: "http://chat:4002", idempotencyKey: "deploy-17")
        #expect(replay.replayed && replay.endpoint == first.endpoint && replay.event == first.event)
        #expect(h.bus.publishedEvents.count == 2)
        #expect(try await h.store.lookup(chatProd) == RouteLookup(url: "http://other:1", revision: 2))
        #expect(h.store.rowCounts.idempotencyKeys == 1)
        #expect(h.writeCounters == [3, 3, 0])
    }

    @Test func anIdempotencyKeyWithADifferentRequestIsAConflict() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002", idempotencyKey: "deploy-17")
        let error = await managerError { try await h.manager.deactivateRoute(chatProd, idempotencyKey: "deploy-17") }
        #expect(error == .idempotencyConflict(key: "deploy-17", route: chatProd))
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(h.writeCounters == [2, 1, 1])
        #expect(h.bus.publishedEvents.count == 1)
    }

    @Test func activatingOrDeactivatingAnUnknownRouteIsNotFound() async throws {
        let h = Harness()
        #expect(await managerError { try await h.manager.activateRoute(chatProd) } == .routeNotFound(chatProd))
        #expect(await managerError { try await h.manager.deactivateRoute(chatProd) } == .routeNotFound(chatProd))
        #expect(h.store.rowCounts.tenants == 0)
        #expect(h.writeCounters == [2, 0, 2])
    }

    @Test func eightConcurrentWritersOfOneRouteConvergeOnOneRecord() async throws {
        let h = Harness()
        let results = try await withThrowingTaskGroup(of: RouteWriteResult.self) { group in
            for _ in 0..<8 { group.addTask { try await h.manager.createRoute(chatProd, url: "http://chat:4002") } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results.map(\.endpoint)).count == 1)
        #expect(results.filter { $0.event != nil }.count == 1)
        #expect(h.store.rowCounts == .init(tenants: 1, services: 1, environments: 1, endpoints: 1, events: 1, idempotencyKeys: 0))
    }
}

/// A store whose writes commit but whose replies are lost: the writer hears `outcomeUnknown`.
/// With `failedReadsAfter`, that many reads after each write fail as well.
private struct LosesReplies: RouteStore {
    let inner: InMemoryRouteStore
    var failedReadsAfter = 0

    func lookup(_ route: RouteID) async throws -> RouteLookup { try await inner.lookup(route) }
    func endpoint(_ route: RouteID) async throws -> RouteEndpoint? { try await inner.endpoint(route) }
    func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
        _ = try await inner.apply(command, idempotencyKey: idempotencyKey)
        if failedReadsAfter > 0 {
            inner.faults.failNext(failedReadsAfter, with: TrafficManagerError.storeUnavailable("connection refused"))
        }
        throw TrafficManagerError.outcomeUnknown("the reply was lost")
    }
}
