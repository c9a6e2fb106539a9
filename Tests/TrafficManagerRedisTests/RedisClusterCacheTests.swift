import Foundation
import Logging
import ServiceLifecycle
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

    @Test func aServiceGroupsGracefulShutdownEndsTheClusterCachesRun() async throws {
        let cache = RedisRouteCache(configuration: .init(endpoint: .cluster(seeds: Self.seeds), commandTimeout: functionalTestTimeout))
        let group = ServiceGroup(services: [cache], gracefulShutdownSignals: [], logger: Logger(label: "cluster-lifecycle"))
        let running = Task { try await group.run() }
        let route = try UniqueNames.route()
        #expect(try await cache.fill(route, with: .endpoint(url: "http://a:1", revision: 1), ttl: .seconds(60)))
        let asked = ContinuousClock.now
        await group.triggerGracefulShutdown()
        let ended = await withTaskGroup(of: Bool.self) { race in
            race.addTask { _ = await running.result; return true }
            race.addTask { try? await Task.sleep(for: .seconds(5)); return false }
            let first = await race.next() ?? false
            race.cancelAll()
            return first
        }
        #expect(ended, "run() still running 5 s after graceful shutdown")
        #expect(asked.duration(to: .now) < .seconds(2))
        await #expect(throws: TrafficManagerError.self) { try await cache.get(route) }
        running.cancel()
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

        /// The target first, then the source, then the rest: were the source told first, it
        /// would answer MOVED while the target, still importing, sent callers back.
        func finish() async throws {
            for master in [target, source] + masters { _ = try await master.send(["CLUSTER", "SETSLOT", String(slot), "NODE", targetID]) }
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

    @Test func slotsMovedUnderLoadCostNoErrorAndNeverAnOlderAnswer() async throws {
        let prefix = "tm:test:\(UniqueNames.tenant()):"
        let cache = clusterCache(prefix: prefix)
        defer { Task { await cache.shutdown() } }
        let tenant = UniqueNames.tenant()
        let routes = try (0..<12).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
        for route in routes { try await cache.fill(route, with: .endpoint(url: "http://r1:1", revision: 1), ttl: .seconds(60)) }
        let map = try #require(cache.clusterForTests?.mapForTests)
        // The slots of half the routes move, each to another master, and back.
        var moves: [(there: SlotMove, back: SlotMove)] = []
        for route in routes.prefix(6) {
            let slot = RedisClusterSlot.of(RedisCacheEncoding.key(route, prefix: prefix))
            guard !moves.contains(where: { $0.there.slot == slot }) else { continue }
            let source = try #require(map.owner(ofSlot: slot))
            let target = try #require(map.masters.first { $0 != source })
            moves.append((try await move(slot, from: source, to: target, masters: map.masters), try await move(slot, from: target, to: source, masters: map.masters)))
        }
        let load = ClusterLoad(routes: routes)
        let readers = (0..<4).map { reader in
            Task {
                var index = reader
                while !load.stopped {
                    index = (index + 5) % routes.count
                    let floor = load.floor(index)
                    do {
                        let entry = try await cache.get(routes[index])
                        load.read(entry?.revision ?? 0, floor: floor)
                    } catch {
                        load.failed("get: \(error)")
                    }
                }
            }
        }
        // One writer: every route to the next revision, a tombstone or a URL in turn, each
        // acknowledged write raising the floor no later read may go under.
        let writer = Task {
            var revision: UInt64 = 1
            while !load.stopped {
                revision += 1
                for (index, route) in routes.enumerated() {
                    do {
                        if revision % 2 == 0 {
                            try await cache.invalidate(route, revision: revision, ttl: .seconds(60))
                        } else {
                            _ = try await cache.fill(route, with: .endpoint(url: "http://r\(revision):1", revision: revision), ttl: .seconds(60))
                        }
                        load.raise(index, to: revision)
                    } catch {
                        load.failed("write r\(revision): \(error)")
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        do {
            for move in moves {
                try await move.there.begin()
                try await move.there.migrateKeys()
                try await Task.sleep(for: .milliseconds(50))
                try await move.there.finish()
            }
            try await Task.sleep(for: .milliseconds(200))
        } catch {
            Issue.record("moving slots: \(error)")
        }
        for move in moves {
            try await move.back.begin()
            try await move.back.migrateKeys()
            try await move.back.finish()
        }
        try await Task.sleep(for: .milliseconds(200))
        load.stop()
        for reader in readers { await reader.value }
        await writer.value
        let redirects = try #require(cache.clusterForTests?.redirectsForTests)
        #expect(load.failures.isEmpty, "\(load.failures.prefix(5))")
        #expect(load.older.isEmpty, "older answers: \(load.older.prefix(5))")
        #expect(load.reads > 100 && load.writes > 50, "reads \(load.reads), writes \(load.writes)")
        #expect(redirects.moved >= 1, "the moves were not seen: \(redirects)")
        for move in moves {
            for node in [move.there.source, move.there.target, move.back.source, move.back.target] + move.there.masters + move.back.masters {
                await node.shutdown()
            }
        }
    }
}

/// What the readers and the writer of a load over moving slots share: per route, the revision
/// of the last acknowledged write, and what went wrong.
private final class ClusterLoad: @unchecked Sendable {
    private let lock = NSLock()
    private var floors: [UInt64]
    private var stopFlag = false
    private(set) var failures: [String] = []
    private(set) var older: [String] = []
    private(set) var reads = 0
    private(set) var writes = 0

    init(routes: [RouteID]) { floors = Array(repeating: 1, count: routes.count) }

    var stopped: Bool { lock.withLock { stopFlag } }
    func stop() { lock.withLock { stopFlag = true } }
    func floor(_ index: Int) -> UInt64 { lock.withLock { floors[index] } }
    func raise(_ index: Int, to revision: UInt64) {
        lock.withLock {
            floors[index] = max(floors[index], revision)
            writes += 1
        }
    }
    func read(_ revision: UInt64, floor: UInt64) {
        lock.withLock {
            reads += 1
            if revision < floor { older.append("r\(revision) after r\(floor) was acknowledged") }
        }
    }
    func failed(_ what: String) { lock.withLock { failures.append(what) } }
}
