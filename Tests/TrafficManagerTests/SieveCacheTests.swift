import Testing
@testable import TrafficManager

/// SIEVE's rules, step by step, and the sharded cache under concurrent use.
@Suite struct SieveCacheTests {
    @Test func anUnvisitedEntryIsEvictedOldestFirst() {
        var cache = SieveCache<String, Int>(capacity: 3)
        for (index, key) in ["a", "b", "c"].enumerated() { cache.set(key, index) }
        #expect(cache.set("d", 3) == "a")
        #expect(cache.set("e", 4) == "b")
        #expect(cache.count == 3 && cache.evictions == 2)
        #expect(cache.peek("a") == nil && cache.peek("c") == 2)
    }

    @Test func aVisitedEntryIsSparedOnceAndTheHandMovesOn() {
        var cache = SieveCache<String, Int>(capacity: 3)
        for (index, key) in ["a", "b", "c"].enumerated() { cache.set(key, index) }
        #expect(cache.get("a") == 0)  // visited
        #expect(cache.set("d", 3) == "b")  // the hand clears a's mark and takes b
        // The hand stays where it stopped (at c, newer than b): c goes next, not a.
        #expect(cache.set("e", 4) == "c")
        // The hand goes on towards the head: d, unvisited, goes before a (its mark cleared).
        #expect(cache.set("f", 5) == "d")
        #expect(cache.set("g", 6) == "e")
        #expect(cache.set("h", 7) == "f")  // a stays behind the hand until it wraps round
        #expect(cache.peek("a") == 0)

    }

    @Test func whenEveryEntryIsVisitedTheHandClearsThemAllAndEvictsTheOldest() {
        var cache = SieveCache<Int, Int>(capacity: 4)
        for key in 0..<4 { cache.set(key, key) }
        for key in 0..<4 { _ = cache.get(key) }
        #expect(cache.set(9, 9) == 0)
        #expect(cache.set(10, 10) == 1)
    }

    @Test func updatesKeepTheirPlaceAndRemovalsFreeRoom() {
        var cache = SieveCache<String, Int>(capacity: 2)
        cache.set("a", 1)
        cache.set("b", 2)
        #expect(cache.set("a", 10) == nil && cache.peek("a") == 10)
        #expect(cache.remove("a") == 10 && cache.count == 1)
        #expect(cache.set("c", 3) == nil && cache.count == 2)
        #expect(cache.set("d", 4) == "b")
        cache.removeAll()
        #expect(cache.count == 0 && cache.get("c") == nil)
        #expect(cache.set("e", 5) == nil && cache.peek("e") == 5)
    }

    @Test func manyRandomOperationsNeverExceedTheBoundAndAgreeWithAModel() {
        var cache = SieveCache<Int, Int>(capacity: 50)
        var model: [Int: Int] = [:]
        var random = SplitMix64(seed: 7)
        for step in 0..<20_000 {
            let key = Int(random.next() % 200)
            switch random.next() % 4 {
            case 0:
                if let evicted = cache.set(key, step) { model[evicted] = nil }
                model[key] = step
            case 1:
                #expect(cache.get(key) == model[key])
            case 2:
                #expect(cache.remove(key) == model.removeValue(forKey: key))
            default:
                #expect(cache.peek(key) == model[key])
            }
            #expect(cache.count == model.count && cache.count <= 50)
        }
    }

    @Test func theNearCacheHoldsItsBoundUnderConcurrentCallers() async throws {
        let cache = NearCache(configuration: .init(capacity: 1_000, shards: 16))
        let routes = try (0..<5_000).map { try RouteID(tenant: "tenant-\($0)", service: "chat", environment: "prod", version: "v1") }
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<8 {
                group.addTask {
                    var random = SplitMix64(seed: UInt64(caller))
                    for _ in 0..<20_000 {
                        let route = routes[Int(random.next() % 5_000)]
                        if case .absent = cache.lookup(route, now: 0) {
                            cache.fill(route, with: .init(url: "http://a:1", revision: 1, expiresAt: 1, readAt: 0, kind: .endpoint), epoch: 0)
                        }
                    }
                }
            }
        }
        // The bound is per shard: 16 shards of 63.
        #expect(cache.count <= 1_008 && cache.count > 900)
        #expect(cache.evictions > 0)
        cache.remove(routes[42])
        guard case .absent = cache.lookup(routes[42], now: 0) else { Issue.record("removed, yet found"); return }
    }
}

/// A small, seeded generator: the same trace on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
