import Testing
import TrafficManager
import TrafficManagerTestKit

/// An outage is logged when it starts and when it ends, not once per failed call.
@Suite struct OutageLogTests {
    @Test func flappingWhileTheServerRestartsStaysOneOutage() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        for _ in 0..<20 {
            h.store.faults.failNext(1, with: TrafficManagerError.storeUnavailable("the database system is starting up"))
            _ = try? await h.manager.resolve(chatProd)
            h.cache.removeAll()
            _ = try? await h.manager.resolve(chatProd)
            h.cache.removeAll()
            h.time.advance(by: .milliseconds(100))
        }
        h.time.advance(by: .seconds(1))
        _ = try await h.manager.resolve(chatProd)
        h.cache.removeAll()
        _ = try await h.manager.resolve(chatProd)
        #expect(h.logs.entries.filter { $0.level >= .info }.map(\.message) == [
            "route store is failing; further failures are counted, not logged, until it answers again",
            "route store answers again",
        ])
        #expect(h.logs.entries.last { $0.message == "route store answers again" }?.metadata["failed_calls"] == "20")
    }

    @Test func withLittleTrafficAFailureLongAfterARecoveryStartsANewOutage() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        h.store.faults.failNext(1, with: TrafficManagerError.storeUnavailable("connection refused"))
        _ = try? await h.manager.resolve(chatProd)
        h.cache.removeAll()
        _ = try await h.manager.resolve(chatProd)  // one success, then silence
        h.time.advance(by: .seconds(3600))
        h.cache.removeAll()
        h.store.faults.failNext(1, with: TrafficManagerError.storeUnavailable("connection refused"))
        _ = try? await h.manager.resolve(chatProd)
        #expect(h.logs.entries.filter { $0.level >= .info }.map(\.message) == [
            "route store is failing; further failures are counted, not logged, until it answers again",
            "route store answers again",
            "route store is failing; further failures are counted, not logged, until it answers again",
        ])
    }

    @Test func aStoreOutageUnderManyCallersWritesTwoLinesAtInfoOrAbove() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        // The write's tombstone makes every resolve read the store, which is down.
        h.store.faults.failNext(100_000, with: TrafficManagerError.storeUnavailable("connection refused"))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask { for _ in 0..<100 { _ = try? await h.manager.resolve(chatProd) } }
            }
        }
        #expect(h.store.lookupCount >= 100)
        h.store.faults.reset()
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")
        h.time.advance(by: .seconds(1))
        h.cache.removeAll()
        #expect(try await h.manager.resolve(chatProd) == "http://chat:4002")

        let loud = h.logs.entries.filter { $0.level >= .info }
        #expect(loud.count <= 4, "\(loud.map(\.message))")
        let down = try #require(loud.first { $0.message.hasPrefix("route store is failing") })
        #expect(down.level == .error && down.metadata["error"]?.contains("connection refused") == true)
        let up = try #require(loud.first { $0.message == "route store answers again" })
        #expect(Int(up.metadata["failed_calls"] ?? "") ?? 0 >= 100)
    }
}
