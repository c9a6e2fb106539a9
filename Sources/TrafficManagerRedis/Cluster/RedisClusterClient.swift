import Foundation
import Logging
import CoreMetrics
import ServiceLifecycle
import TrafficManager

/// The cache's commands sent to a Redis Cluster: each to the master that owns its key's slot,
/// through a ``RedisRouteCache`` per node (its connections, pipelining, deadlines and script
/// loading).
///
/// - The slot map comes from `CLUSTER SHARDS`, asked of the known masters and then the seeds,
///   on first use, after a `MOVED`, after a node fails a call, and at least every
///   ``RedisRouteCache/Configuration-swift.struct/clusterMapRefresh``; one refresh at a time.
/// - `MOVED` points the slot at the node named and retries there; `ASK` retries there once,
///   after `ASKING`, and leaves the map alone; `TRYAGAIN` and `CLUSTERDOWN` retry after a short
///   pause. At most ``maximumRedirects`` of them per call, all within its deadline.
/// - A batch get sends one pipeline per node (one round trip each, the nodes in parallel);
///   keys that answer a redirect are retried one by one.
/// - Nodes are connected on first use; a node that leaves the map keeps its connections until
///   shutdown.
final class RedisClusterClient: Sendable {
    private let configuration: RedisRouteCache.Configuration
    private let seeds: [RedisClusterMap.Node]
    private let logger: Logger
    private let metricsFactory: any MetricsFactory
    private let hosted: (AsyncStream<RedisRouteCache>, AsyncStream<RedisRouteCache>.Continuation)

    private struct State {
        var map: RedisClusterMap?
        var nodes: [RedisClusterMap.Node: RedisRouteCache] = [:]
        /// A refresh under way, which callers join.
        var refresh: Task<RedisClusterMap?, Never>?
        var lastRefresh: ContinuousClock.Instant?
        var closed = false
    }

    private let state = Locked(State())
    /// Redirects followed since creation; for tests.
    private let redirects = Locked((moved: 0, asked: 0))
    var redirectsForTests: (moved: Int, asked: Int) { redirects.withLock { $0 } }

    /// How many redirects and retries one call follows.
    static let maximumRedirects = 5

    init(configuration: RedisRouteCache.Configuration, seeds: [RedisClusterMap.Node], logger: Logger, metricsFactory: any MetricsFactory) {
        self.configuration = configuration
        self.seeds = seeds
        self.logger = logger
        self.metricsFactory = metricsFactory
        hosted = AsyncStream.makeStream(of: RedisRouteCache.self)
    }

    // MARK: Lifecycle

    /// Hosts every node's connections until ``shutdown()``, graceful shutdown or cancellation,
    /// and refreshes the map periodically.
    func run() async throws {
        try await withGracefulShutdownHandler {
            try await hostNodes()
        } onGracefulShutdown: { [self] in
            Task { await shutdown() }
        }
    }

    private func hostNodes() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { [self] in
                while !Task.isCancelled, !state.withLock({ $0.closed }) {
                    try? await Task.sleep(for: configuration.clusterMapRefresh)
                    if state.withLock({ $0.closed }) { break }
                    _ = await refreshMap()
                }
            }
            for await node in hosted.0 {
                group.addTask { try await node.run() }
            }
            group.cancelAll()
        }
    }

    /// Closes every node's connections after what is queued; later calls fail with
    /// `notRunning`.
    func shutdown() async {
        let nodes = state.withLock { state in
            state.closed = true
            return Array(state.nodes.values)
        }
        hosted.1.finish()
        for node in nodes { await node.shutdown() }
    }

    /// The node client for `address`, made (and hosted) on first use.
    private func node(_ address: RedisClusterMap.Node) throws -> RedisRouteCache {
        let (node, made) = try state.withLock { state throws -> (RedisRouteCache, Bool) in
            if state.closed { throw TrafficManagerError.notRunning("the Redis route cache") }
            if let node = state.nodes[address] { return (node, false) }
            var nodeConfiguration = configuration
            nodeConfiguration.endpoint = .tcp(host: address.host, port: address.port)
            let node = RedisRouteCache(
                configuration: nodeConfiguration, logger: logger, metricsFactory: metricsFactory, connectionIndexBase: state.nodes.count * 1_000)
            state.nodes[address] = node
            return (node, true)
        }
        if made { hosted.1.yield(node) }
        return node
    }

    // MARK: The map

    /// The current map, discovering it first if there is none.
    private func currentMap() async -> RedisClusterMap? {
        if let map = state.withLock({ $0.map }) { return map }
        return await refreshMap()
    }

    /// Asks the cluster for its map (joining a refresh under way); the new map, or the old one
    /// when no node answered.
    @discardableResult
    func refreshMap() async -> RedisClusterMap? {
        let task = state.withLock { state -> Task<RedisClusterMap?, Never> in
            if let refresh = state.refresh { return refresh }
            let refresh = Task { [self] in await discoverMap() }
            state.refresh = refresh
            return refresh
        }
        let map = await task.value
        state.withLock { state in
            if state.refresh == task { state.refresh = nil }
        }
        return map
    }

    /// A refresh unless one ran in the last 100 ms: after a node failed a call.
    private func refreshSoon() {
        let due = state.withLock { state -> Bool in
            guard state.refresh == nil else { return false }
            if let last = state.lastRefresh, last.duration(to: .now) < .milliseconds(100) { return false }
            return true
        }
        if due { Task { await refreshMap() } }
    }

    private func discoverMap() async -> RedisClusterMap? {
        let known = state.withLock { $0.map?.masters ?? [] }
        var candidates = known
        for seed in seeds where !candidates.contains(seed) { candidates.append(seed) }
        // Every candidate at once, the first answer taken and the others left to finish on
        // their own: a master that just died must not hold the refresh up for a call timeout.
        let deadline = ContinuousClock.now + configuration.commandTimeout
        let found: (RedisClusterMap, RedisClusterMap.Node)? = candidates.isEmpty ? nil : await withCheckedContinuation { continuation in
            let pending = Locked((left: candidates.count, answered: false))
            for candidate in candidates {
                Task { [self] in
                    var answer: (RedisClusterMap, RedisClusterMap.Node)?
                    do {
                        let map = try RedisClusterMap(shards: try await node(candidate).send(["CLUSTER", "SHARDS"], deadline: deadline))
                        if map.coveredSlots > 0 { answer = (map, candidate) }
                    } catch {
                        logger.debug("a Redis Cluster node did not give its map", metadata: ["node": "\(candidate)", "error": "\(error)"])
                    }
                    let resumes = pending.withLock { pending -> Bool in
                        pending.left -= 1
                        guard !pending.answered, answer != nil || pending.left == 0 else { return false }
                        pending.answered = true
                        return true
                    }
                    if resumes { continuation.resume(returning: answer) }
                }
            }
        }
        return state.withLock { state in
            state.lastRefresh = .now
            if let (map, from) = found {
                state.map = map
                logger.debug("Redis Cluster map refreshed", metadata: ["masters": "\(map.masters)", "slots": "\(map.coveredSlots)", "from": "\(from)"])
            }
            return state.map
        }
    }

    /// Points `slot` at `node` at once (a `MOVED`), before the refresh that follows.
    private func noteMoved(_ slot: Int, to node: RedisClusterMap.Node) {
        state.withLock { state in state.map = state.map?.moving(slot, to: node) }
        refreshSoon()
    }

    // MARK: Routing

    /// Runs `send` on the node that owns `route`'s slot, following redirects, within `deadline`;
    /// returns the first reply that is not a redirect.
    func routed(
        _ route: RouteID, deadline: ContinuousClock.Instant,
        _ send: (RedisRouteCache, _ asking: Bool) async throws -> RedisReply
    ) async throws -> RedisReply {
        guard !seeds.isEmpty else {
            throw TrafficManagerError.cacheUnavailable("a Redis Cluster endpoint needs at least one TCP seed node")
        }
        let slot = RedisClusterSlot.of(RedisCacheEncoding.key(route, prefix: configuration.keyPrefix))
        var target = await owner(of: slot)
        var asking = false
        for _ in 0...Self.maximumRedirects {
            guard let address = target else {
                refreshSoon()
                throw TrafficManagerError.cacheUnavailable("no Redis Cluster master serves slot \(slot) now")
            }
            let reply: RedisReply
            do {
                reply = try await send(try node(address), asking)
            } catch {
                // The node may have failed over: look again soon.
                refreshSoon()
                throw error
            }
            switch RedisClusterRedirect(reply) {
            case .moved(let movedSlot, let to)?:
                redirects.withLock { $0.moved += 1 }
                noteMoved(movedSlot, to: to)
                (target, asking) = (to, false)
            case .ask(_, let to)?:
                redirects.withLock { $0.asked += 1 }
                (target, asking) = (to, true)
            case .tryAgain(let message)?:
                guard ContinuousClock.now + .milliseconds(20) < deadline else {
                    throw TrafficManagerError.cacheUnavailable("the Redis Cluster answered \(message) until the deadline")
                }
                try await Task.sleep(for: .milliseconds(20))
                if message.hasPrefix("CLUSTERDOWN") { await refreshMap() }
                (target, asking) = (await owner(of: slot), false)
            case nil:
                return reply
            }
        }
        throw TrafficManagerError.cacheUnavailable("more than \(Self.maximumRedirects) Redis Cluster redirects for slot \(slot)")
    }

    private func owner(of slot: Int) async -> RedisClusterMap.Node? {
        await currentMap()?.owner(ofSlot: slot)
    }

    /// The entries of `routes`: one pipeline per node, the nodes at once; a key that answers a
    /// redirect is retried on its own.
    func entries(
        _ routes: [RouteID], deadline: ContinuousClock.Instant, decode: @Sendable (RedisReply, RouteID) throws -> CachedEntry?
    ) async throws -> [CachedEntry?] {
        guard !routes.isEmpty else { return [] }
        let map = await currentMap()
        var byNode: [RedisClusterMap.Node: [Int]] = [:]
        var unowned: [Int] = []
        for (index, route) in routes.enumerated() {
            let slot = RedisClusterSlot.of(RedisCacheEncoding.key(route, prefix: configuration.keyPrefix))
            if let owner = map?.owner(ofSlot: slot) { byNode[owner, default: []].append(index) } else { unowned.append(index) }
        }
        var replies = [RedisReply?](repeating: nil, count: routes.count)
        try await withThrowingTaskGroup(of: [(Int, RedisReply)].self) { group in
            for (address, indices) in byNode {
                let node = try node(address)
                group.addTask { [self] in
                    do {
                        let got = try await node.entriesReply(indices.map { routes[$0] }, deadline: deadline)
                        return Array(zip(indices, got))
                    } catch {
                        refreshSoon()
                        throw error
                    }
                }
            }
            for try await answered in group {
                for (index, reply) in answered { replies[index] = reply }
            }
        }
        var entries: [CachedEntry?] = []
        entries.reserveCapacity(routes.count)
        for (index, route) in routes.enumerated() {
            var reply = replies[index]
            if reply == nil || RedisClusterRedirect(reply!) != nil || unowned.contains(index) {
                reply = try await routed(route, deadline: deadline) { node, asking in
                    try await node.entryReply(route, asking: asking, deadline: deadline)
                }
            }
            entries.append(try decode(reply!, route))
        }
        return entries
    }

    /// The nodes connected so far; for tests.
    var nodeCount: Int { state.withLock { $0.nodes.count } }

    /// The map in use; for tests.
    var mapForTests: RedisClusterMap? { state.withLock { $0.map } }
}
