import Foundation
import ServiceLifecycle
import Testing
import TrafficManager
import TrafficManagerTestKit

/// Spec §6 and §7: the consumers, idempotent under at-least-once delivery.
@Suite struct ConsumerTests {
    private func event(_ action: RouteAction, revision: UInt64, url: String = "http://chat:4002") -> RouteEvent {
        RouteEvent(eventID: UUID(), action: action, route: chatProd, url: url, revision: revision, occurredAt: Date(unixMilliseconds: 0))
    }

    @Test func theInvalidationConsumerRemovesPositiveAndNegativeEntries() async throws {
        let cache = InMemoryRouteCache(time: ManualTimeSource())
        let consumer = CacheInvalidationConsumer(cache: cache)
        try await cache.fill(chatProd, with: .endpoint(url: "http://old:1", revision: 1), ttl: .seconds(60))
        try await cache.fill(authStaging, with: .notFound(revision: 0), ttl: .seconds(10))
        try await consumer.handle(event(.updated, revision: 2))
        var created = event(.created, revision: 1)
        created.route = authStaging
        try await consumer.handle(created)
        #expect(try await cache.get(chatProd) == .tombstone(revision: 2))
        #expect(try await cache.get(authStaging) == .tombstone(revision: 1))
    }

    /// Case 5, step by step: during a rolling upgrade a newer producer changes a route and says
    /// so in a version-2 event, with an action and a field this version does not know. The
    /// tolerant reader still reads the route and revision, so the event invalidates; before,
    /// it was skipped and the old URL stayed cached for its TTL.
    @Test func anEventOfANewerSchemaVersionStillInvalidatesStepByStep() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://old:1")
        #expect(try await h.manager.resolve(chatProd) == "http://old:1")

        // The upgraded instance commits revision 2; its own invalidation does not reach this cache.
        _ = try await h.store.apply(try RouteCommand(route: chatProd, operation: .upsert(url: "http://new:2")), idempotencyKey: nil)
        #expect(try await h.manager.resolve(chatProd) == "http://old:1")

        // Its event, as the bytes arrive.
        let payload = try JSONSerialization.data(withJSONObject: [
            "schema_version": 2, "event_id": UUID().uuidString, "tenant": "chat-app", "service": "chat", "env": "prod",
            "version": "v1", "revision": 2, "action": "rerouted", "url": "http://new:2", "canary": ["weight": 10],
            "occurred_at": 1_767_225_600_000,
        ] as [String: Any])
        let event = try RouteEvent.decode(payload)
        #expect(event.writtenSchemaVersion == 2 && event.revision == 2)

        try await h.manager.cacheInvalidationConsumer().handle(event)
        #expect(try await h.cache.get(chatProd) == .tombstone(revision: 2))
        #expect(try await h.manager.resolve(chatProd) == "http://new:2")
    }

    @Test func aMessageThatIsNoEventAtAllIsRefusedWithItsKindAndLeavesTheCacheAlone() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        #expect(throws: RouteEventDecodingError.self) { try RouteEvent.decode(Data("{\"schema_version\": 2}".utf8)) }
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://chat:4002", revision: 1))
    }

    @Test func theInvalidationConsumerIsIdempotentUnderRedelivery() async throws {
        let cache = InMemoryRouteCache(time: ManualTimeSource())
        let consumer = CacheInvalidationConsumer(cache: cache)
        let update = event(.updated, revision: 2)
        try await consumer.handle(update)
        try await cache.fill(chatProd, with: .endpoint(url: "http://chat:4002", revision: 2), ttl: .seconds(60))
        try await consumer.handle(update)
        #expect(try await cache.get(chatProd) == .endpoint(url: "http://chat:4002", revision: 2))
    }

    @Test func theAuditConsumerRecordsEachEventOnce() async throws {
        let log = InMemoryAuditLog()
        let consumer = AuditConsumer(log: log)
        let first = event(.created, revision: 1)
        let second = event(.deactivated, revision: 2)
        for delivery in [first, first, second, first, second] { try await consumer.handle(delivery) }
        #expect(log.entries == [first, second])
    }

    @Test func consumersOnTheBusInvalidateAnotherInstancesCacheAndAudit() async throws {
        // Two instances share the store and the bus; each has a cache of its own.
        let writer = Harness()
        let readerCache = InMemoryRouteCache(time: writer.time)
        let reader = TrafficManager(store: writer.store, cache: readerCache, publisher: writer.bus, time: writer.time)
        let audit = InMemoryAuditLog()

        try await writer.manager.createRoute(chatProd, url: "http://old:1")
        #expect(try await reader.resolve(chatProd) == "http://old:1")

        let services = ServiceGroup(
            services: [
                EventConsumerService(source: writer.bus, group: "invalidate", handler: CacheInvalidationConsumer(cache: readerCache)),
                EventConsumerService(source: writer.bus, group: "audit", handler: AuditConsumer(log: audit)),
            ],
            gracefulShutdownSignals: [], cancellationSignals: [], logger: writer.logs.logger())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            try await writer.manager.createRoute(chatProd, url: "http://new:2")
            #expect(try await eventually { writer.bus.committedCount(group: "invalidate") == 2 })
            #expect(try await reader.resolve(chatProd) == "http://new:2")
            #expect(try await eventually { audit.entries.count == 2 })
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
        #expect(audit.entries.map(\.action) == [.created, .updated])
    }

    @Test func aFailingHandlerGetsTheEventAgainAndNothingIsSkipped() async throws {
        let bus = InMemoryEventBus(redeliveryDelay: .milliseconds(1))
        let audit = InMemoryAuditLog()
        audit.faults.failNext(3, with: TrafficManagerError.storeUnavailable("audit database down"))
        let logs = LogRecorder()
        let service = EventConsumerService(source: bus, group: "audit", handler: AuditConsumer(log: audit), logger: logs.logger())
        let first = event(.created, revision: 1)
        let second = event(.updated, revision: 2)
        try await bus.publish(first)
        try await bus.publish(second)
        let task = Task { try await service.run() }
        #expect(try await eventually { audit.entries.count == 2 })
        task.cancel()
        try await task.value
        #expect(audit.entries == [first, second])
        #expect(logs.messages(at: .warning).filter { $0.contains("delivered again") }.count == 3)
    }
}

/// The `AsyncSequence` face of an event source.
@Suite struct DeliveriesTests {
    private func event(_ revision: UInt64) -> RouteEvent {
        RouteEvent(eventID: UUID(), action: .updated, route: chatProd, url: "http://chat:\(revision)", revision: revision, occurredAt: Date(unixMilliseconds: 0))
    }

    @Test func acknowledgedEventsAreCommittedAndARejectedOneComesAgain() async throws {
        let bus = InMemoryEventBus(redeliveryDelay: .milliseconds(1))
        let events = [event(1), event(2)]
        for event in events { try await bus.publish(event) }
        var seen: [RouteEvent] = []
        var rejectedOnce = false
        for try await delivery in bus.deliveries(group: "g") {
            seen.append(delivery.event)
            if delivery.event == events[1] && !rejectedOnce {
                rejectedOnce = true
                delivery.reject()
                continue
            }
            delivery.acknowledge()
            if seen.count == 3 { break }
        }
        #expect(seen == [events[0], events[1], events[1]])
        #expect(try await eventually { bus.committedCount(group: "g") == 2 })
    }

    @Test func endingTheIterationLeavesTheUnacknowledgedEventForTheNextConsumer() async throws {
        let bus = InMemoryEventBus(redeliveryDelay: .milliseconds(1))
        let first = event(1)
        try await bus.publish(first)
        for try await delivery in bus.deliveries(group: "g") {
            #expect(delivery.event == first)
            break  // neither acknowledged nor rejected
        }
        #expect(bus.committedCount(group: "g") == 0)
        for try await delivery in bus.deliveries(group: "g") {
            #expect(delivery.event == first)
            delivery.acknowledge()
            break
        }
        #expect(try await eventually { bus.committedCount(group: "g") == 1 })
    }
}
