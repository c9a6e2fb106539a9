import Foundation
import Testing
import TrafficManager
@testable import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// The cache over the local Redis Cluster (`scripts/start-redis-cluster.sh`: 3 masters, 3
/// replicas): the contract, batches over every master, and slots that move under it.
@Suite(.serialized, .enabled(if: TestServices.redisCluster.shouldRun, Comment(rawValue: TestServices.redisCluster.skipMessage)))
struct RedisClusterCacheTests {
    private static var seeds: [RedisRouteCache.Configuration.Endpoint] {
        TestServices.redisClusterSeeds.map { .tcp(host: $0.host, port: $0.port) }
    }

    private func clusterCache(prefix: String = "tm:test:\(UniqueNames.tenant()):") -> RedisRouteCache {
        running(RedisRouteCache(configuration: .init(endpoint: .cluster(seeds: Self.seeds), commandTimeout: functionalTestTimeout, keyPrefix: prefix)))
    }

    /// A plain connection to one node, for the commands the test itself sends.
    private func node(_ address: RedisClusterMap.Node) -> RedisRouteCache {
        running(RedisRouteCache(configuration: .init(endpoint: .tcp(host: address.host, port: address.port), commandTimeout: .seconds(5))))
    }

    @Test func theClusterPassesTheCacheContract() async throws {
        let cache = clusterCache()
        defer { Task { await cache.shutdown() } }
        try await RouteCacheContract(makeCache: { cache }, letTimePass: { try await Task.sleep(for: $0) }).run()
    }

    @Test func aBatchOverEveryMasterIsOnePipelinePerNode() async throws {
        let prefix = "tm:test:\(UniqueNames.tenant()):"
        let cache = clusterCache(prefix: prefix)
        defer { Task { await cache.shutdown() } }
        let tenant = UniqueNames.tenant()
        let routes = try (0..<60).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
        for (index, route) in routes.enumerated() where index % 3 != 2 {
            try await cache.fill(route, with: .endpoint(url: "http://svc\(index):1", revision: UInt64(index + 1)), ttl: .seconds(60))
        }
        let entries = try await cache.get(routes)
        for (index, entry) in entries.enumerated() {
            #expect(entry == (index % 3 == 2 ? nil : .endpoint(url: "http://svc\(index):1", revision: UInt64(index + 1))), "\(index)")
        }
        // The routes' keys spread over all three masters, and each was asked of its own.
        let map = try #require(cache.clusterForTests?.mapForTests)
        let owners = Set(routes.compactMap { map.owner(ofSlot: RedisClusterSlot.of(RedisCacheEncoding.key($0, prefix: prefix))) })
        #expect(owners.count == 3)
        #expect(cache.clusterForTests?.nodeCount ?? 0 >= 3)
    }

    /// Moves `slot` from its master to `target` by hand, as `redis-cli --cluster reshard`
    /// would: importing and migrating, then the keys, then the new owner announced to every
    /// master.
    private struct SlotMove {
        let slot: Int
        let source: RedisRouteCache
        let target: RedisRouteCache
        let masters: [RedisRouteCache]
        let sourceID: String
        let targetID: String
        let targetAddress: RedisClusterMap.Node

        func begin() async throws {
            _ = try await target.send(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", sourceID])
            _ = try await source.send(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", targetID])
        }

        func migrateKeys() async throws {
            while true {
                guard case .array(let keys) = try await source.send(["CLUSTER", "GETKEYSINSLOT", String(slot), "100"]), !keys.isEmpty else { return }
                let names = keys.compactMap { key -> String? in if case .string(let name) = key { return name } else { return nil } }
                _ = try await source.send(["MIGRATE", targetAddress.host, String(targetAddress.port), "", "0", "5000", "KEYS"] + names)
            }
        }

        func finish() async throws {
            for master in masters { _ = try await master.send(["CLUSTER", "SETSLOT", String(slot), "NODE", targetID]) }
        }
    }

    private func id(of node: RedisRouteCache) async throws -> String {
        guard case .string(let id) = try await node.send(["CLUSTER", "MYID"]) else { throw TrafficManagerError.cacheUnavailable("no id") }
        return id
    }

    private func move(_ slot: Int, from source: RedisClusterMap.Node, to target: RedisClusterMap.Node, masters: [RedisClusterMap.Node]) async throws -> SlotMove {
        let (from, to) = (node(source), node(target))
        return SlotMove(
            slot: slot, source: from, target: to, masters: masters.map { node($0) }, sourceID: try await id(of: from), targetID: try await id(of: to),
            targetAddress: target)
    }

    @Test func aSlotMovedUnderTheCacheIsFollowedThroughAskAndMoved() async throws {
        let prefix = "tm:test:\(UniqueNames.tenant()):"
        let cache = clusterCache(prefix: prefix)
        defer { Task { await cache.shutdown() } }
        let route = try UniqueNames.route()
        try await cache.fill(route, with: .endpoint(url: "http://before:1", revision: 1), ttl: .seconds(60))
        let map = try #require(cache.clusterForTests?.mapForTests)
        let slot = RedisClusterSlot.of(RedisCacheEncoding.key(route, prefix: prefix))
        let source = try #require(map.owner(ofSlot: slot))
        let target = try #require(map.masters.first { $0 != source })
        let there = try await move(slot, from: source, to: target, masters: map.masters)
        let back = try await move(slot, from: target, to: source, masters: map.masters)
        do {
            // Migrating: the key went already, so the source answers ASK, and the cache asks the target.
            try await there.begin()
            try await there.migrateKeys()
            #expect(try await cache.get(route) == .endpoint(url: "http://before:1", revision: 1))
            #expect(cache.clusterForTests?.redirectsForTests.asked == 1)
            // A write during the migration lands on the target too, revision-checked there.
            #expect(try await cache.fill(route, with: .endpoint(url: "http://during:1", revision: 2), ttl: .seconds(60)))
            #expect(cache.clusterForTests?.redirectsForTests.asked == 2)
            // Moved: the source answers MOVED; the cache follows and updates its map.
            try await there.finish()
            #expect(try await cache.get(route) == .endpoint(url: "http://during:1", revision: 2))
            #expect(cache.clusterForTests?.mapForTests?.owner(ofSlot: slot) == target)
            #expect(cache.clusterForTests?.redirectsForTests.moved == 1)
            try await cache.invalidate(route, revision: 3, ttl: .seconds(60))
            #expect(try await cache.get(route) == .tombstone(revision: 3))
        } catch {
            Issue.record("moving slot \(slot): \(error)")
        }
        // And back, so the cluster is as it was.
        try await back.begin()
        try await back.migrateKeys()
        try await back.finish()
        #expect(try await cache.get(route) == .tombstone(revision: 3))
        for node in [there.source, there.target, back.source, back.target] + there.masters + back.masters { await node.shutdown() }
    }
}
