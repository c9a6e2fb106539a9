import Foundation
import Testing
@testable import TrafficManager
import TrafficManagerTestKit

/// `changes()` and `watch(_:)`: one stream fanned out, gap markers for the slow, never a silent drop.
@Suite struct WatchTests {
    private struct Instance {
        let bus = InMemoryEventBus(redeliveryDelay: .milliseconds(1), heartbeatInterval: .milliseconds(5))
        let manager: TrafficManager
        init() {
            manager = TrafficManager(store: InMemoryRouteStore(), cache: InMemoryRouteCache(), publisher: bus, changeFeed: bus)
        }

        func following(_ body: () async throws -> Void) async throws {
            let feed = Task { try await manager.changeFeedService!.run() }
            defer { feed.cancel() }
            // A few heartbeats: the feed follows the bus.
            try await Task.sleep(for: .milliseconds(30))
            try await body()
        }
    }

    private func route(_ index: Int) throws -> RouteID {
        try RouteID(tenant: "chat-app", service: "service-\(index)", environment: "prod", version: "v1")
    }

    @Test func theInMemoryBusPassesTheChangeFeedContract() async throws {
        let bus = InMemoryEventBus(heartbeatInterval: .milliseconds(5))
        try await ChangeFeedContract(patience: .seconds(5)) { (feed: bus, publish: { try await bus.publish($0) }) }.run()
    }

    @Test func everyWatcherGetsEveryChangeInOrder() async throws {
        let i = Instance()
        try await i.following {
            let first = i.manager.changes()
            let second = i.manager.changes()
            for change in 1...5 { try await i.manager.createRoute(chatProd, url: "http://chat:\(4000 + change)") }
            for watcher in [first, second] {
                var revisions: [UInt64] = []
                for await notification in watcher {
                    guard case .changed(let event) = notification else { Issue.record("unexpected \(notification)"); break }
                    revisions.append(event.revision)
                    if revisions.count == 5 { break }
                }
                #expect(revisions == [1, 2, 3, 4, 5])
            }
        }
    }

    @Test func aSlowWatcherGetsAResyncMarkerNotASilentDropAndDoesNotSlowTheOthers() async throws {
        let i = Instance()
        try await i.following {
            let slow = i.manager.changes(bufferSize: 3)
            let fast = i.manager.changes(bufferSize: 3)
            let fastSeen = Task {
                var count = 0
                for await notification in fast {
                    if case .changed = notification { count += 1 }
                    if count == 10 { break }
                }
                return count
            }
            for change in 1...10 {
                try await i.manager.createRoute(try route(change), url: "http://chat:4002")
                try await Task.sleep(for: .milliseconds(2))
            }
            // The fast one kept up while the slow one took nothing.
            #expect(await fastSeen.value == 10)

            // The slow one gets what its buffer held, then a resync marker instead of the rest.
            var iterator = slow.makeAsyncIterator()
            var got: [RouteChangeNotification] = []
            for _ in 0..<4 { if let next = await iterator.next() { got.append(next) } }
            #expect(got.prefix(3).allSatisfy { if case .changed = $0 { true } else { false } })
            #expect(got.last == .resync)
            // After resyncing, changes flow again.
            try await i.manager.createRoute(try route(11), url: "http://chat:4002")
            guard case .changed(let event)? = await iterator.next() else { Issue.record("no change after the resync"); return }
            #expect(event.route == (try route(11)))
        }
    }

    @Test func watchingARouteGivesItsResolutionThenEachChange() async throws {
        let i = Instance()
        try await i.following {
            try await i.manager.createRoute(chatProd, url: "http://chat:4001")
            let updates = Task {
                var seen: [String?] = []
                for await update in i.manager.watch(chatProd) {
                    seen.append(try update.get()?.url)
                    if seen.count == 4 { break }
                }
                return seen
            }
            try await Task.sleep(for: .milliseconds(50))
            try await i.manager.createRoute(try route(7), url: "http://other:1")  // another route: no update
            try await i.manager.createRoute(chatProd, url: "http://chat:4002")
            try await Task.sleep(for: .milliseconds(20))
            try await i.manager.deactivateRoute(chatProd)
            try await Task.sleep(for: .milliseconds(20))
            try await i.manager.activateRoute(chatProd)
            #expect(try await updates.value == ["http://chat:4001", "http://chat:4002", nil, "http://chat:4002"])
        }
    }

    @Test func withoutAChangeFeedChangesIsEmptyAndWatchGivesOnlyTheCurrentAnswer() async throws {
        let manager = TrafficManager(store: InMemoryRouteStore(), cache: InMemoryRouteCache(), publisher: InMemoryEventBus())
        try await manager.createRoute(chatProd, url: "http://chat:4002")
        var count = 0
        for await _ in manager.changes() { count += 1 }
        #expect(count == 0)
        var answers: [String?] = []
        for await update in manager.watch(chatProd) { answers.append(try update.get()?.url) }
        #expect(answers == ["http://chat:4002"])
    }

    @Test func aWatcherThatStopsIsForgotten() async throws {
        let i = Instance()
        try await i.following { () async throws in
            let task = Task<Void, Never> { for await _ in i.manager.changes() {} }
            #expect(try await eventually { i.manager.fanOut.watcherCount == 1 })
            task.cancel()
            #expect(try await eventually { i.manager.fanOut.watcherCount == 0 })
        }
    }
}
