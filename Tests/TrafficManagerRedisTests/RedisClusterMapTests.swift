import Foundation
import Testing
import TrafficManager
@testable import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// Slot hashing and the slot map, checked against the specification's examples and against a
/// live cluster's own answers.
@Suite struct RedisClusterSlotTests {
    private func slot(_ key: String) -> Int { RedisClusterSlot.of(key) }

    @Test func crc16IsXMODEM() {
        var check = "123456789"
        // The standard check value of CRC-16/XMODEM, which the cluster specification uses.
        #expect(check.withUTF8 { RedisClusterSlot.crc16(UnsafeRawBufferPointer($0)) } == 0x31C3)
    }

    @Test func hashTagsFollowTheSpecification() {
        // Only what lies between the first { and the next } counts, when it is not empty.
        #expect(slot("{user1000}.following") == slot("{user1000}.followers"))
        #expect(slot("{user1000}.following") == slot("user1000"))
        #expect(slot("foo{}{bar}") == Int(crc("foo{}{bar}")) & 16_383)
        #expect(slot("foo{{bar}}zap") == slot("{bar"))
        #expect(slot("foo{bar}{zap}") == slot("bar"))
        #expect(slot("no tag") == Int(crc("no tag")) & 16_383)
        #expect(slot("") == 0)
    }

    @Test func everyKeyOfARouteSharesItsSlotWhateverThePrefix() throws {
        let route = try RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "1.2.0")
        #expect(Set(["tm:route:", "tm:load:", ""].map { slot(RedisCacheEncoding.key(route, prefix: $0)) }).count == 1)
    }

    private func crc(_ text: String) -> UInt16 {
        var text = text
        return text.withUTF8 { RedisClusterSlot.crc16(UnsafeRawBufferPointer($0)) }
    }
}

@Suite struct RedisClusterMapParsingTests {
    /// A node of a `CLUSTER SHARDS` reply.
    private func node(_ port: Int, role: String, health: String = "online", endpoint: String = "127.0.0.1") -> RedisReply {
        .array([
            .string("id"), .string("id\(port)"), .string("port"), .integer(Int64(port)), .string("ip"), .string("127.0.0.1"),
            .string("endpoint"), .string(endpoint), .string("role"), .string(role), .string("replication-offset"), .integer(0),
            .string("health"), .string(health),
        ])
    }

    private func shard(_ ranges: [Int64], _ nodes: [RedisReply]) -> RedisReply {
        .array([.string("slots"), .array(ranges.map { .integer($0) }), .string("nodes"), .array(nodes)])
    }

    @Test func eachSlotGoesToItsShardsOnlineMaster() throws {
        let reply = RedisReply.array([
            shard([0, 5460], [node(7001, role: "master"), node(7004, role: "replica")]),
            shard([5461, 10922], [node(7005, role: "replica"), node(7002, role: "master", endpoint: "?")]),
            shard([10923, 16000, 16001, 16383], [node(7003, role: "master"), node(7006, role: "replica")]),
        ])
        let map = try RedisClusterMap(shards: reply)
        #expect(map.masters.map(\.port) == [7001, 7002, 7003])
        #expect(map.owner(ofSlot: 0)?.port == 7001 && map.owner(ofSlot: 5460)?.port == 7001)
        #expect(map.owner(ofSlot: 5461) == .init(host: "127.0.0.1", port: 7002))
        #expect(map.owner(ofSlot: 16001)?.port == 7003 && map.owner(ofSlot: 16383)?.port == 7003)
        #expect(map.coveredSlots == 16_384)
        #expect(map.owner(ofSlot: 16_384) == nil && map.owner(ofSlot: -1) == nil)
    }

    @Test func aShardWithoutAnOnlineMasterLeavesItsSlotsUnowned() throws {
        let reply = RedisReply.array([
            shard([0, 99], [node(7001, role: "master", health: "failed"), node(7004, role: "replica")]),
            shard([100, 16383], [node(7002, role: "master")]),
        ])
        let map = try RedisClusterMap(shards: reply)
        #expect(map.owner(ofSlot: 50) == nil && map.owner(ofSlot: 100)?.port == 7002)
        #expect(map.coveredSlots == 16_284)
    }

    @Test func malformedRepliesAreRefusedWithTheReason() {
        for reply in [
            RedisReply.string("nope"), .array([.array([.string("slots")])]), .array([shard([1], [node(7001, role: "master")])]),
            .array([shard([5, 2], [node(7001, role: "master")])]), .array([shard([0, 16_384], [node(7001, role: "master")])]),
        ] {
            #expect(throws: RedisClusterMapError.self, "\(reply)") { try RedisClusterMap(shards: reply) }
        }
    }
}

/// Against the local cluster (`scripts/start-redis-cluster.sh`).
@Suite(.enabled(if: TestServices.redisCluster.shouldRun, Comment(rawValue: TestServices.redisCluster.skipMessage)))
struct RedisClusterLiveMapTests {
    private func node(_ seed: (host: String, port: Int)) -> RedisRouteCache {
        running(RedisRouteCache(configuration: .init(endpoint: .tcp(host: seed.host, port: seed.port), commandTimeout: .seconds(5))))
    }

    @Test func theMapOfTheLocalClusterHasThreeMastersCoveringEverySlot() async throws {
        let seed = try #require(TestServices.redisClusterSeeds.first)
        let cache = node(seed)
        defer { Task { await cache.shutdown() } }
        let map = try RedisClusterMap(shards: try await cache.send(["CLUSTER", "SHARDS"]))
        #expect(map.masters.count == 3 && map.coveredSlots == 16_384)
    }

    @Test func ourSlotsAreTheClustersOwn() async throws {
        let seed = try #require(TestServices.redisClusterSeeds.first)
        let cache = node(seed)
        defer { Task { await cache.shutdown() } }
        var keys = ["", "a", "{", "}", "{}", "foo{}{bar}", "foo{{bar}}zap", "ünïcødé{ø}"]
        for index in 0..<200 {
            let route = try RouteID(tenant: "tenant-\(index)", service: "svc\(index % 7)", environment: "prod", version: "v\(index)")
            keys.append(RedisCacheEncoding.key(route, prefix: "tm:route:"))
        }
        for key in keys {
            guard case .integer(let theirs) = try await cache.send(["CLUSTER", "KEYSLOT", key]) else {
                Issue.record("CLUSTER KEYSLOT \(key) did not answer an integer")
                continue
            }
            #expect(RedisClusterSlot.of(key) == Int(theirs), "\(key)")
        }
    }
}
