import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit

/// Idempotency keys per tenant with a retention period, and the service that prunes.
@Suite struct RetentionTests {
    @Test func theSameKeyInTwoTenantsNamesTwoRequests() async throws {
        let h = Harness()
        let other = try RouteID(tenant: "file-platform", service: "upload", environment: "prod", version: "v1")
        let a = try await h.manager.createRoute(chatProd, url: "http://a:1", idempotencyKey: "deploy-1")
        let b = try await h.manager.createRoute(other, url: "http://b:2", idempotencyKey: "deploy-1")
        #expect(!a.replayed && !b.replayed)
        #expect(try await h.manager.resolve(other) == "http://b:2")
        #expect(h.store.rowCounts.idempotencyKeys == 2)
    }

    @Test func aKeyReplaysWithinItsRetentionAndIsFreeAfterIt() async throws {
        let h = Harness()
        let store = InMemoryRouteStore(time: h.time, idempotencyKeyRetention: .seconds(3600))
        let manager = TrafficManager(store: store, cache: h.cache, publisher: h.bus, time: h.time)
        let first = try await manager.createRoute(chatProd, url: "http://a:1", idempotencyKey: "k")
        h.time.advance(by: .seconds(3599))
        let replay = try await manager.createRoute(chatProd, url: "http://a:1", idempotencyKey: "k")
        #expect(replay.replayed && replay.endpoint == first.endpoint)
        #expect(await managerError { try await manager.deactivateRoute(chatProd, idempotencyKey: "k") }?.code == .idempotencyConflict)

        // Past the retention the key names a new request.
        h.time.advance(by: .seconds(2))
        let reused = try await manager.deactivateRoute(chatProd, idempotencyKey: "k")
        #expect(!reused.replayed && reused.event?.action == .deactivated)
        #expect(store.rowCounts.idempotencyKeys == 1)
    }

    @Test func thePassPrunesExpiredKeysAndOldPublishedEventsOnly() async throws {
        let h = Harness()
        let store = InMemoryRouteStore(time: h.time, idempotencyKeyRetention: .seconds(86_400))
        for index in 0..<5 {
            _ = try await store.apply(
                try RouteCommand(route: chatProd, operation: .upsert(url: "http://a:\(index + 1)")),
                idempotencyKey: IdempotencyKey("key-\(index)"))
        }
        // Three events published, two not.
        try await store.markPublished(store.eventRows.prefix(3).map(\.event.eventID))
        h.time.advance(by: .seconds(8 * 86_400))
        _ = try await store.apply(try RouteCommand(route: chatProd, operation: .deactivate), idempotencyKey: IdempotencyKey("fresh"))

        let service = RetentionService(
            target: store, configuration: .init(eventRetention: .seconds(7 * 86_400), batchSize: 2), time: h.time,
            logger: h.logs.logger())
        let pruned = try await service.pruneOnce()
        #expect(pruned == PrunedRows(idempotencyKeys: 5, events: 3))
        #expect(store.rowCounts.idempotencyKeys == 1)
        // The unpublished events stay for the relay, old as they are; the new one stays too.
        #expect(store.eventRows.count == 3 && store.eventRows.filter { $0.processedAt == nil }.count == 3)
        #expect(h.logs.messages(at: .info) == ["pruned retained rows"])
        #expect(try await service.pruneOnce() == PrunedRows())
    }

    @Test func theServiceStopsAtGracefulShutdownAndSurvivesAFailingPass() async throws {
        let h = Harness()
        let store = InMemoryRouteStore(time: h.time)
        store.faults.failNext(1, with: TrafficManagerError.storeUnavailable("down"))
        let service = RetentionService(
            target: store, configuration: .init(interval: .milliseconds(20)), time: h.time, logger: h.logs.logger())
        let running = Task { try await service.run() }
        #expect(try await eventually { h.logs.messages(at: .warning).contains { $0.hasPrefix("retention pass failed") } })
        running.cancel()
        try await running.value
    }
}
