import Foundation
import Testing
@testable import TrafficManager
import TrafficManagerTestKit

/// Watches that resume: `changes(after:)` reads the store's history in position order.
@Suite struct ChangeHistoryTests {
    @Test func theInMemoryStorePassesTheHistoryContract() async throws {
        try await RouteStoreContract { InMemoryRouteStore() }.run()
    }

    @Test func aWatcherThatRestartsAfterItsLastPositionMissesNothing() async throws {
        let bus = InMemoryEventBus(heartbeatInterval: .milliseconds(5))
        let store = InMemoryRouteStore()
        let manager = TrafficManager(store: store, cache: InMemoryRouteCache(), publisher: bus, changeFeed: bus)
        let feed = Task { try await manager.changeFeedService!.run() }
        defer { feed.cancel() }
        try await Task.sleep(for: .milliseconds(30))
        for change in 1...3 { try await manager.createRoute(chatProd, url: "http://chat:\(4000 + change)") }

        // The first watcher handles two changes, keeps the position, and stops.
        var kept: ChangePosition?
        var handled: [UInt64] = []
        for await notification in manager.changes(after: nil) {
            guard case .stored(let change) = notification else { continue }
            handled.append(change.event.revision)
            kept = change.position
            if handled.count == 2 { break }
        }
        #expect(handled == [1, 2])

        // Changes happen while no watcher runs.
        for change in 4...5 { try await manager.createRoute(chatProd, url: "http://chat:\(4000 + change)") }

        // The next one resumes after the kept position: 3, 4, 5, then a live change.
        let resumed = Task {
            var revisions: [UInt64] = []
            for await notification in manager.changes(after: kept) {
                if case .stored(let change) = notification { revisions.append(change.event.revision) }
                if revisions.count == 4 { break }
            }
            return revisions
        }
        try await Task.sleep(for: .milliseconds(50))
        try await manager.createRoute(chatProd, url: "http://chat:4006")
        #expect(await resumed.value == [3, 4, 5, 6])
    }

    @Test func aPositionOlderThanTheRetentionWindowAnswersResyncNotAPartialHistory() async throws {
        let time = ManualTimeSource()
        let store = InMemoryRouteStore(time: time)
        let bus = InMemoryEventBus()
        let manager = TrafficManager(store: store, cache: InMemoryRouteCache(time: time), publisher: OutboxPublisher(publisher: bus, outbox: store), time: time)
        try await manager.createRoute(chatProd, url: "http://chat:4001")
        let first = try #require(try await store.changes(after: nil, limit: 10).changes.first)
        for change in 2...4 { try await manager.createRoute(chatProd, url: "http://chat:\(4000 + change)") }
        // The retention window passes for the first three changes, which are pruned.
        time.advance(by: .seconds(3600))
        try await manager.createRoute(chatProd, url: "http://chat:4005")
        let pruned = try await store.prune(RetentionCutoffs(publishedEventsBefore: time.wallNow().addingTimeInterval(-60)), limit: 100)
        #expect(pruned.events == 4)
        let page = try await store.changes(after: first.position, limit: 10)
        #expect(page.resync && page.changes.isEmpty && page.head != nil)

        var notifications: [RouteChangeNotification] = []
        for await notification in manager.changes(after: first.position) {
            notifications.append(notification)
            if notifications.count == 1 { break }
        }
        #expect(notifications == [.resync])
    }

    @Test func aBadPositionIsInvalidInput() async throws {
        let store = InMemoryRouteStore()
        let error = await #expect(throws: TrafficManagerError.self) { try await store.changes(after: ChangePosition(token: "x1"), limit: 1) }
        #expect(error?.code == .invalidInput)
    }
}
