import Testing
import TrafficManager
import TrafficManagerTestKit

/// An outage is logged when it starts and when it ends, not once per failed call.
@Suite struct OutageLogTests {
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

        let loud = h.logs.entries.filter { $0.level >= .info }
        #expect(loud.count <= 4, "\(loud.map(\.message))")
        let down = try #require(loud.first { $0.message.hasPrefix("route store is failing") })
        #expect(down.level == .error && down.metadata["error"]?.contains("connection refused") == true)
        let up = try #require(loud.first { $0.message == "route store answers again" })
        #expect(Int(up.metadata["failed_calls"] ?? "") ?? 0 >= 100)
    }
}
