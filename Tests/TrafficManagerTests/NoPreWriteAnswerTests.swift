import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit

/// A resolve that starts after a write returned never answers from before the write — driven
/// step by step on the in-memory backends.
@Suite struct NoPreWriteAnswerTests {
    /// Makes every fill wait at the gate: the load has read the store and holds its answer.
    private func pauseFills(_ h: Harness) -> Gate {
        let gate = Gate()
        h.cache.faults.setHook { operation in if operation == "fill" { await gate.wait() } }
        return gate
    }

    @Test func aCallerThatSawTheTombstoneRejectsASharedLoadThatReadBeforeTheWrite() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        let fills = pauseFills(h)

        // A load reads revision 1 and waits before filling; the first caller waits on it.
        let early = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.store.lookupCount == 1 })

        // The write commits revision 2 and leaves its tombstone; it has returned.
        try await h.manager.createRoute(chatProd, url: "http://new:2")
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 2))

        // A resolve that starts now sees the tombstone and joins the load still in flight.
        let late = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.manager.resolver.loadWaiters(chatProd) == 2 })

        fills.open()
        // The first caller started before the write: the old URL is a fair answer for it.
        #expect(try await early.value == "http://old:1")
        // The second must not get it: it loads once more and answers the write's URL.
        #expect(try await late.value == "http://new:2")
        #expect(h.store.lookupCount == 2)
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://new:2", revision: 2))
    }

    @Test func theEarlyCallersLoadMayAnswerItButLeavesNothingOldBehind() async throws {
        // The caller that began before the write may get the old URL (it started first); its
        // load's fill meets the write's tombstone and is refused, so no later caller finds it.
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        let fills = pauseFills(h)
        let early = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.store.lookupCount == 1 })
        try await h.manager.createRoute(chatProd, url: "http://new:2")
        fills.open()
        #expect(try await early.value == "http://old:1")
        // The load's fill was refused by the tombstone: nothing old is left behind either.
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 2))
    }

    @Test func aWriteWhoseInvalidationFailedIsNotContradictedByTheCachedOldURL() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        #expect(try await h.manager.resolve(chatProd) == "http://old:1")
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://old:1", revision: 1))

        // The write commits, but its invalidation does not reach the cache.
        h.cache.faults.failNext(1, with: TrafficManagerError.cacheUnavailable("timeout"))
        try await h.manager.createRoute(chatProd, url: "http://new:2")
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://old:1", revision: 1))

        // The old URL is still cached, but this process knows revision 2: it reads the store,
        // and its fill repairs the cache.
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://new:2", revision: 2))
        #expect(h.manager.resolver.unconfirmedRouteCount == 0)
        let lookups = h.store.lookupCount
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
        #expect(h.store.lookupCount == lookups, "after the repair, hits come from the cache again")
    }

    /// Reads the store, then holds the answer until the gate opens: a read in flight.
    private struct HoldsReads: RouteStore {
        let inner: InMemoryRouteStore
        let gate: Gate
        func lookup(_ route: RouteID) async throws -> RouteLookup {
            let answer = try await inner.lookup(route)
            await gate.wait()
            return answer
        }
        func endpoint(_ route: RouteID) async throws -> RouteEndpoint? { try await inner.endpoint(route) }
        func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
            try await inner.apply(command, idempotencyKey: idempotencyKey)
        }
    }

    @Test func withTheCacheUnusableACallerDoesNotTakeALoadThatBeganBeforeIt() async throws {
        // Another instance's write: this process learns of it from nobody, and its cache
        // cannot be asked, so the caller has no revision to compare with.
        let h = Harness()
        let gate = Gate()
        let manager = TrafficManager(
            store: HoldsReads(inner: h.store, gate: gate), cache: h.cache, publisher: h.bus,
            configuration: .init(cacheBreaker: .init(failureThreshold: 1, coolDown: .seconds(60))), time: h.time)
        _ = try await h.store.apply(try RouteCommand(route: chatProd, operation: .upsert(url: "http://old:1")), idempotencyKey: nil)
        h.cache.faults.failNext(1_000, with: TrafficManagerError.cacheUnavailable("down"))

        // A load reads revision 1 and holds it.
        let early = Task { try await manager.resolve(chatProd) }
        #expect(try await eventually { h.store.lookupCount == 1 })
        // The other instance's write commits, straight to the shared store, and returns.
        _ = try await h.store.apply(try RouteCommand(route: chatProd, operation: .upsert(url: "http://new:2")), idempotencyKey: nil)
        // A resolve that starts now joins the load in flight.
        let late = Task { try await manager.resolve(chatProd) }
        #expect(try await eventually { manager.resolver.loadWaiters(chatProd) == 2 })
        gate.open()
        #expect(try await early.value == "http://old:1")
        // The late caller joined a load older than itself: it loaded again, after the write.
        #expect(try await late.value == "http://new:2")
        #expect(h.store.lookupCount == 2)
    }

    @Test func aCallerThatJoinsALoadLeavesAtItsOwnDeadline() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let store = Gate()
        h.store.faults.setHook { operation in if operation == "lookup" { await store.wait() } }

        let patient = Task { try await h.manager.resolve(chatProd, timeout: .seconds(60)) }
        #expect(try await eventually { h.manager.resolver.loadWaiters(chatProd) == 1 })
        let started = ContinuousClock.now
        let hurried = await managerError { try await h.manager.resolve(chatProd, timeout: .milliseconds(100)) }
        let waited = started.duration(to: .now)
        #expect(hurried?.code == .deadlineExceeded && hurried?.route == chatProd)
        #expect(waited >= .milliseconds(100) && waited < .seconds(2), "waited \(waited)")

        // The load the hurried caller left runs on for the patient one.
        store.open()
        #expect(try await patient.value == "http://chat:4002")
        #expect(h.store.lookupCount == 1)
    }

    @Test func theReloadStaysWithinTheCallersDeadline() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        let fills = pauseFills(h)
        let early = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.store.lookupCount == 1 })
        try await h.manager.createRoute(chatProd, url: "http://new:2")

        // The late caller joins, then its deadline passes while the shared load still waits.
        let started = ContinuousClock.now
        let late = await managerError { try await h.manager.resolve(chatProd, timeout: .milliseconds(100)) }
        #expect(late?.code == .deadlineExceeded)
        #expect(started.duration(to: .now) < .seconds(2))
        fills.open()
        _ = try await early.value
    }

    @Test func aFillDelayedInTransitPastTheTombstoneIsRefusedOnArrival() async throws {
        let h = Harness(configuration: .init(tombstoneTTL: .seconds(30), fillWindow: .seconds(10)))
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        let fills = pauseFills(h)

        // The load read revision 1 quickly; its fill is on its way.
        let reader = Task { try await h.manager.resolve(chatProd) }
        #expect(try await eventually { h.store.lookupCount == 1 })
        try await h.manager.createRoute(chatProd, url: "http://new:2")

        // The fill spends longer in transit than the tombstone lives.
        h.time.advance(by: .seconds(31))
        #expect(try await h.cache.get(chatProd) == nil)
        fills.open()
        _ = try await reader.value

        // It arrived past its window and was refused: the old URL is not cached for 60 s.
        #expect(try await h.cache.get(chatProd) == nil)
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
    }

    @Test func theFillWindowIsAtMostHalfTheTombstoneLifetime() {
        let configuration = TrafficManagerConfiguration(tombstoneTTL: .seconds(4), fillWindow: .seconds(10))
        #expect(configuration.effectiveFillWindow == .seconds(2))
        #expect(TrafficManagerConfiguration().effectiveFillWindow == .seconds(10))
    }

    @Test func consumersMadeByTheManagerUseItsTombstoneTTL() async throws {
        let h = Harness(configuration: .init(tombstoneTTL: .seconds(7)))
        let result = try await h.store.apply(
            try RouteCommand(route: chatProd, operation: .upsert(url: "http://a:1")), idempotencyKey: nil)
        try await h.manager.cacheInvalidationConsumer().handle(try #require(result.event))
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 1))
        #expect(h.cache.timeToLive(chatProd) == .seconds(7))
    }
}
