import Testing
import TrafficManager
import TrafficManagerTestKit

/// Writes with an expected revision, through the manager.
@Suite struct CompareAndSetTests {
    @Test func aWriteAtTheExpectedRevisionApplies() async throws {
        let h = Harness()
        let created = try await h.manager.createRoute(chatProd, url: "http://a:1", expectedRevision: 0)
        let updated = try await h.manager.createRoute(chatProd, url: "http://b:2", expectedRevision: created.endpoint.revision)
        #expect(updated.endpoint.revision == 2 && updated.event?.action == .updated)
        let off = try await h.manager.deactivateRoute(chatProd, expectedRevision: 2)
        #expect(off.endpoint.revision == 3 && !off.endpoint.isActive)
    }

    @Test func aWriteAtAnotherRevisionConflictsWritesNothingAndLeavesTheCache() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://a:1")
        try await h.manager.createRoute(chatProd, url: "http://b:2")
        #expect(try await h.manager.resolve(chatProd) == "http://b:2")
        let published = h.bus.publishedEvents.count

        let error = await managerError { try await h.manager.createRoute(chatProd, url: "http://c:3", expectedRevision: 1) }
        #expect(error?.code == .revisionConflict && error?.currentRevision == 2 && error?.route == chatProd)
        #expect(error?.message.contains("expected at revision 1 but is at revision 2") == true)
        #expect(try await h.store.lookup(chatProd) == RouteLookup(url: "http://b:2", revision: 2))
        #expect(h.bus.publishedEvents.count == published)
        #expect(try await h.cache.get(chatProd) == .endpoint(url: "http://b:2", revision: 2))
        #expect(h.writeCounters == [3, 2, 1])
        // A caller's own conflict is not an outage: nothing at warning or above.
        #expect(h.logs.entries.allSatisfy { $0.level < .warning })
    }

    @Test func expectingNoRouteConflictsWithAnExistingOneAndTheReverse() async throws {
        let h = Harness()
        let absent = await managerError { try await h.manager.activateRoute(chatProd, expectedRevision: 4) }
        #expect(absent?.code == .revisionConflict && absent?.currentRevision == 0)
        #expect(absent?.message.contains("does not exist (revision 0)") == true)
        try await h.manager.createRoute(chatProd, url: "http://a:1")
        let exists = await managerError { try await h.manager.createRoute(chatProd, url: "http://b:2", expectedRevision: 0) }
        #expect(exists?.currentRevision == 1)
    }

    @Test func aRetriedCompareAndSetWithItsKeyReplaysInsteadOfConflictingWithItself() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://a:1")
        let first = try await h.manager.createRoute(chatProd, url: "http://b:2", idempotencyKey: "cas-1", expectedRevision: 1)
        let retry = try await h.manager.createRoute(chatProd, url: "http://b:2", idempotencyKey: "cas-1", expectedRevision: 1)
        #expect(retry.replayed && retry.endpoint == first.endpoint)
        // The same key for the same write without the expectation is a different request.
        let other = await managerError { try await h.manager.createRoute(chatProd, url: "http://b:2", idempotencyKey: "cas-1") }
        #expect(other?.code == .idempotencyConflict)
    }

    @Test func anExpectedRevisionPastTheStoresRangeIsInvalidInput() async throws {
        let h = Harness()
        let error = await managerError { try await h.manager.createRoute(chatProd, url: "http://a:1", expectedRevision: .max) }
        #expect(error?.code == .invalidInput && error?.validationError?.field == .expectedRevision)
        #expect(error?.message.contains("expected revision must be at most 9223372036854775807") == true)
        #expect(h.store.rowCounts.endpoints == 0)
    }
}
