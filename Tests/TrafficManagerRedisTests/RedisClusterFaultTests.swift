import Foundation
import Testing
import TrafficManager
@testable import TrafficManagerRedis
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// The cache over the local Redis Cluster when nodes fail: a replica that stops acknowledging,
/// and a master killed right after an invalidation. The cluster runs with
/// `cluster-node-timeout` 2 s (`scripts/start-redis-cluster.sh`).
@Suite(.serialized, .timeLimit(.minutes(1)), .enabled(if: TestServices.redisCluster.shouldRun, Comment(rawValue: TestServices.redisCluster.skipMessage)))
struct RedisClusterFaultTests {
    static let nodeTimeout = Duration.seconds(2)
    static let directory = ProcessInfo.processInfo.environment["TM_REDIS_CLUSTER_DIR"] ?? "/tmp/tm-redis-cluster"

    private func clusterCache() -> RedisRouteCache {
        let seeds = TestServices.redisClusterSeeds.map { RedisRouteCache.Configuration.Endpoint.tcp(host: $0.host, port: $0.port) }
        return running(RedisRouteCache(configuration: .init(
            endpoint: .cluster(seeds: seeds), commandTimeout: .milliseconds(500), keyPrefix: "tm:test:\(UniqueNames.tenant()):",
            clusterMapRefresh: .seconds(1))))
    }

    private func node(_ port: Int) -> RedisRouteCache {
        running(RedisRouteCache(configuration: .init(endpoint: .tcp(host: "127.0.0.1", port: port), commandTimeout: .seconds(5))))
    }

    /// The master and replica ports of the shard that serves `slot`, as the cluster reports it.
    private func shard(of slot: Int) async throws -> (master: Int, replicas: [Int]) {
        for seed in TestServices.redisClusterSeeds {
            let client = node(seed.port)
            defer { Task { await client.shutdown() } }
            guard case .array(let shards)? = try? await client.send(["CLUSTER", "SHARDS"]) else { continue }
            for case .array(let fields) in shards {
                let shard = Dictionary(stride(from: 0, to: fields.count - 1, by: 2).compactMap { index -> (String, RedisReply)? in
                    if case .string(let name) = fields[index] { return (name, fields[index + 1]) }
                    return nil
                }, uniquingKeysWith: { first, _ in first })
                guard case .array(let ranges)? = shard["slots"], case .array(let nodes)? = shard["nodes"] else { continue }
                let owns = stride(from: 0, to: ranges.count - 1, by: 2).contains { index in
                    if case .integer(let start) = ranges[index], case .integer(let end) = ranges[index + 1] { return Int(start)...Int(end) ~= slot }
                    return false
                }
                guard owns else { continue }
                var master: Int?
                var replicas: [Int] = []
                for case .array(let node) in nodes {
                    let fields = Dictionary(stride(from: 0, to: node.count - 1, by: 2).compactMap { index -> (String, RedisReply)? in
                        if case .string(let name) = node[index] { return (name, node[index + 1]) }
                        return nil
                    }, uniquingKeysWith: { first, _ in first })
                    guard case .integer(let port)? = fields["port"], case .string("online")? = fields["health"] else { continue }
                    if case .string("master")? = fields["role"] { master = Int(port) } else { replicas.append(Int(port)) }
                }
                if let master { return (master, replicas) }
            }
        }
        throw TrafficManagerError.cacheUnavailable("no shard serves slot \(slot)")
    }

    private func pid(ofNodeOn port: Int) throws -> Int32 {
        let text = try String(contentsOfFile: "\(Self.directory)/\(port)/redis.pid", encoding: .utf8)
        return try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// Invalidates until a replica acknowledges it (within 10 s).
    private func invalidateOnceAcknowledged(_ cache: RedisRouteCache, _ route: RouteID, revision: UInt64) async throws {
        let start = ContinuousClock.now
        while true {
            do {
                return try await cache.invalidate(route, revision: revision, ttl: .seconds(60))
            } catch let error as TrafficManagerError where error.message.contains("replica") && start.duration(to: .now) < .seconds(10) {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private func slot(of route: RouteID, in cache: RedisRouteCache) -> Int {
        RedisClusterSlot.of(RedisCacheEncoding.key(route, prefix: cache.configurationForTests.keyPrefix))
    }

    @Test func anInvalidationNoReplicaAcknowledgesFailsSoTheWriterKnowsItMayBeLost() async throws {
        let cache = clusterCache()
        defer { Task { await cache.shutdown() } }
        let route = try UniqueNames.route()
        try await cache.fill(route, with: .endpoint(url: "http://old:1", revision: 1), ttl: .seconds(60))
        // A shard whose replica is online (one restarted lately may still be loading).
        var (_, replicas) = try await shard(of: slot(of: route, in: cache))
        for _ in 0..<100 where replicas.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            replicas = try await shard(of: slot(of: route, in: cache)).replicas
        }
        let replica = try pid(ofNodeOn: try #require(replicas.first))
        // The replica stops (well within the node timeout, so no failover starts).
        kill(replica, SIGSTOP)
        let start = ContinuousClock.now
        let error = await #expect(throws: TrafficManagerError.self) { try await cache.invalidate(route, revision: 2, ttl: .seconds(30)) }
        let took = start.duration(to: .now)
        kill(replica, SIGCONT)
        #expect(error?.code == .cacheUnavailable && error?.message.contains("replica") == true, "\(String(describing: error))")
        #expect(took < .milliseconds(500), "the invalidation took \(took)")
        // With the replica back, the same invalidation is acknowledged.
        try await invalidateOnceAcknowledged(cache, route, revision: 2)
        #expect(try await cache.get(route) == .tombstone(revision: 2))
    }

    @Test func aMasterKilledRightAfterAnInvalidationLosesNothingAndServiceResumesRightAfterThePromotion() async throws {
        let cache = clusterCache()
        defer { Task { await cache.shutdown() } }
        let route = try UniqueNames.route()
        try await cache.fill(route, with: .endpoint(url: "http://old:1", revision: 1), ttl: .seconds(60))
        let (master, replicas) = try await shard(of: slot(of: route, in: cache))
        let replica = node(try #require(replicas.first))
        defer { Task { await replica.shutdown() } }
        // Acknowledged by the replica (one that rejoined lately may still be catching up).
        try await invalidateOnceAcknowledged(cache, route, revision: 2)
        // Killed at once: no chance to replicate anything later than what WAIT confirmed.
        kill(try pid(ofNodeOn: master), SIGKILL)
        let killed = ContinuousClock.now
        // When the cluster itself promoted the replica: what Redis takes, apart from this client.
        let promotion = Task { () -> Duration? in
            while killed.duration(to: .now) < .seconds(15) {
                if case .array(let role)? = try? await replica.send(["ROLE"]), case .string("master")? = role.first {
                    return killed.duration(to: .now)
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return nil
        }
        var lastError: ContinuousClock.Instant?
        var answer: CachedRoute??
        while killed.duration(to: .now) < .seconds(15) {
            do {
                answer = .some(try await cache.get(route))
                break
            } catch {
                lastError = .now
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let outage = lastError.map { killed.duration(to: $0) } ?? .zero
        // Restart the killed node: it rejoins as a replica of its shard's new master.
        let restarted = try runScript("scripts/start-redis-cluster-node.sh", environment: [:], arguments: [String(master)])
        #expect(restarted == 0)
        #expect(answer == .some(.tombstone(revision: 2)), "after the failover the route read \(String(describing: answer))")
        let promoted = try #require(await promotion.value, "the replica was never promoted")
        // Redis itself takes the node timeout, the FAIL agreement and an election delay of
        // 0.5–1 s (3.5–4.5 s here); past the promotion this client adds at most a refresh.
        #expect(outage <= promoted + .seconds(1), "callers got errors for \(outage), the replica was promoted after \(promoted)")
        #expect(outage <= Self.nodeTimeout + .seconds(3), "callers got errors for \(outage) (promoted after \(promoted))")
        // The cluster heals: the restarted node answers and sees all six.
        let healedNode = node(master)
        defer { Task { await healedNode.shutdown() } }
        var healed = false
        let healing = ContinuousClock.now
        while !healed, healing.duration(to: .now) < .seconds(20) {
            if case .string(let info)? = try? await healedNode.send(["CLUSTER", "INFO"]),
                case .string(let replication)? = try? await healedNode.send(["INFO", "replication"])
            {
                // In the cluster, and a replica that has caught up with its new master.
                healed = info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6")
                    && replication.contains("master_link_status:up") && replication.contains("master_sync_in_progress:0")
            }
            if !healed { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(healed, "the cluster did not heal within 20 s of the restart")
    }
}
