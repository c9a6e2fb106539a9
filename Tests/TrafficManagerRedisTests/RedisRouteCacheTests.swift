import Foundation
import MetricsTestKit
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerRedis

@Suite(.enabled(if: TestServices.redis.shouldRun, redisSkip))
struct RedisRouteCacheTests {
    @Test func theRedisCachePassesTheCacheContract() async throws {
        let cache = makeTestCache()
        defer { Task { await cache.shutdown() } }
        try await RouteCacheContract(makeCache: { cache }, letTimePass: { try await Task.sleep(for: $0) }).run()
    }

    @Test func aFillsReadTimeIsKeptSoASharedAnswerHasAnAge() async throws {
        let cache = makeTestCache()
        defer { Task { await cache.shutdown() } }
        let route = try UniqueNames.route()
        // A whole tenth of a second: format 3 keeps tenths.
        let readAt = Date(unixMilliseconds: (Date().unixMilliseconds - 4_000) / 100 * 100)
        try await cache.fill(route, with: .endpoint(url: "http://a:1", revision: 3), ttl: .seconds(60), notAfter: .distantFuture, readAt: readAt)
        #expect(try await cache.entry(route) == CachedEntry(value: .endpoint(url: "http://a:1", revision: 3), readAt: readAt))
        // Through the manager: the age is the fill's.
        let manager = TrafficManager(store: InMemoryRouteStore(), cache: cache, publisher: InMemoryEventBus())
        let answer = try await manager.resolution(route)
        #expect(answer.source == .sharedCache && answer.age >= .seconds(4) && answer.age < .seconds(30))
    }

    @Test func aValueOfANewerFormatIsAMissAndTheRevisionCheckStillHolds() async throws {
        let cache = makeTestCache()
        defer { Task { await cache.shutdown() } }
        let route = try UniqueNames.route()
        let key = RedisCacheEncoding.key(route, prefix: cache.configurationForTests.keyPrefix)
        // As a later version might write it: same <kind>|<revision>| prefix, unknown kind.
        _ = try await cache.send(["SET", key, "z|9|something new", "PX", "60000"])
        #expect(try await cache.get(route) == nil)
        // An older fill is still refused by revision, an invalidation at a newer one lands.
        #expect(try await cache.fill(route, with: .endpoint(url: "http://old:1", revision: 8), ttl: .seconds(60)) == false)
        try await cache.invalidate(route, revision: 10, ttl: .seconds(30))
        #expect(try await cache.get(route) == .tombstone(revision: 10))
    }

    @Test func theResolverSetsSixtyAndTenSecondTTLsInRedis() async throws {
        let cache = makeTestCache()
        defer { Task { await cache.shutdown() } }
        let store = InMemoryRouteStore()
        let manager = TrafficManager(store: store, cache: cache, publisher: InMemoryEventBus(), metricsFactory: TestMetrics())
        let found = try RouteID(tenant: UniqueNames.tenant(), service: "chat", environment: "prod", version: "v1")
        let missing = try RouteID(tenant: UniqueNames.tenant(), service: "chat", environment: "prod", version: "v1")
        try await manager.createRoute(found, url: "http://chat:4002")
        #expect(try await manager.resolve(found) == "http://chat:4002")
        _ = try? await manager.resolve(missing)

        let prefix = (cache.configurationForTests.keyPrefix)
        let positive = try await cache.send(["PTTL", RedisCacheEncoding.key(found, prefix: prefix)])
        let negative = try await cache.send(["PTTL", RedisCacheEncoding.key(missing, prefix: prefix)])
        guard case .integer(let positiveTTL) = positive, case .integer(let negativeTTL) = negative else {
            Issue.record("PTTL replies: \(positive), \(negative)")
            return
        }
        #expect((50_000...60_000).contains(positiveTTL))
        #expect((5_000...10_000).contains(negativeTTL))
        #expect(try await manager.resolve(found) == "http://chat:4002")
        #expect(store.lookupCount == 2)
    }

    @Test func keysCarryTheRouteAsAClusterHashTagUnderThePrefix() throws {
        let route = try RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "1.2.0")
        #expect(RedisCacheEncoding.key(route, prefix: "tm:route:") == "tm:route:{chat-app|chat|prod|1.2.0}")
    }

    @Test func sixtyFourConcurrentTasksOnOneConnectionEachGetTheirOwnAnswer() async throws {
        let cache = makeTestCache(connections: 1)
        defer { Task { await cache.shutdown() } }
        let tenant = UniqueNames.tenant()
        let routes = try (0..<64).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
        for (index, route) in routes.enumerated() {
            try await cache.fill(route, with: .endpoint(url: "http://svc\(index):\(4000 + index)", revision: UInt64(index + 1)), ttl: .seconds(60))
        }
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, route) in routes.enumerated() {
                group.addTask {
                    var wrong = 0
                    for _ in 0..<50 {
                        let entry = try await cache.get(route)
                        if entry != .endpoint(url: "http://svc\(index):\(4000 + index)", revision: UInt64(index + 1)) { wrong += 1 }
                    }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test func aValueOfTheWrongTypeIsAnErrorNotACrash() async throws {
        let cache = makeTestCache()
        defer { Task { await cache.shutdown() } }
        let (listRoute, foreignRoute) = try (UniqueNames.route(), UniqueNames.route())
        let prefix = cache.configurationForTests.keyPrefix
        _ = try await cache.send(["RPUSH", RedisCacheEncoding.key(listRoute, prefix: prefix), "x"])
        _ = try await cache.send(["SET", RedisCacheEncoding.key(foreignRoute, prefix: prefix), "written by someone else"])
        for route in [listRoute, foreignRoute] {
            await #expect(throws: TrafficManagerError.self) { try await cache.get(route) }
        }
        // A script run on the list key is an error too; the connection stays usable, and a
        // foreign string value is simply replaced by a fill.
        await #expect(throws: TrafficManagerError.self) { try await cache.fill(listRoute, with: .notFound(revision: 0), ttl: .seconds(5)) }
        #expect(try await cache.fill(foreignRoute, with: .notFound(revision: 0), ttl: .seconds(5)))
        #expect(try await cache.get(foreignRoute) == .notFound(revision: 0))
    }

    @Test func aLostScriptIsLoadedAgain() async throws {
        let cache = makeTestCache()
        defer { Task { await cache.shutdown() } }
        let route = try UniqueNames.route()
        #expect(try await cache.fill(route, with: .notFound(revision: 0), ttl: .seconds(5)))
        _ = try await cache.send(["SCRIPT", "FLUSH"])
        #expect(try await cache.fill(route, with: .notFound(revision: 1), ttl: .seconds(5)))
        #expect(try await cache.get(route) == .notFound(revision: 1))
    }

    @Test func anAbsentRedisFailsFastWithCacheUnavailableNamingTheEndpoint() async throws {
        let cache = running(RedisRouteCache(configuration: .init(endpoint: .tcp(host: "127.0.0.1", port: 1), password: "s3cret", commandTimeout: functionalTestTimeout)))
        defer { Task { await cache.shutdown() } }
        for _ in 0..<3 {
            do {
                _ = try await cache.get(try UniqueNames.route())
                Issue.record("a get against a closed port succeeded")
            } catch let error as TrafficManagerError where error.code == .cacheUnavailable {
                #expect(error.message.contains("127.0.0.1:1"))
                #expect(!"\(error) \(String(reflecting: error))".contains("s3cret"))
            }
        }
    }

    @Test func theResolverAnswersFromTheStoreWhileRedisIsAbsent() async throws {
        let cache = running(RedisRouteCache(configuration: .init(endpoint: .tcp(host: "127.0.0.1", port: 1), commandTimeout: functionalTestTimeout)))
        defer { Task { await cache.shutdown() } }
        let metrics = TestMetrics()
        let manager = TrafficManager(store: InMemoryRouteStore(), cache: cache, publisher: InMemoryEventBus(), metricsFactory: metrics)
        try await manager.createRoute(chatRoute, url: "http://chat:4002")
        for _ in 0..<20 { #expect(try await manager.resolve(chatRoute) == "http://chat:4002") }
        #expect(metrics.counterTotal(label: "trafficmanager_cache_errors_total") >= 1)
    }

    @Test func aShutDownCacheRefusesCalls() async throws {
        let cache = makeTestCache()
        await cache.shutdown()
        await #expect(throws: TrafficManagerError.self) { try await cache.get(try UniqueNames.route()) }
    }
}

let chatRoute = try! RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "v1")

@Suite(.enabled(if: TestServices.redis.shouldRun, redisSkip))
struct RedisTaskExecutorTests {
    @Test func tasksOnTheConnectionExecutorsGetTheirOwnAnswers() async throws {
        let cache = running(RedisRouteCache(
            configuration: .init(
                endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), connectionCount: 2,
                commandTimeout: functionalTestTimeout, keyPrefix: "tm:test:\(UniqueNames.tenant()):")))
        let tenant = UniqueNames.tenant()
        let routes = try (0..<32).map { try RouteID(tenant: tenant, service: "svc\($0)", environment: "prod", version: "v1") }
        for (index, route) in routes.enumerated() {
            try await cache.fill(route, with: .endpoint(url: "http://svc\(index):1", revision: 1), ttl: .seconds(60))
        }
        let executors = cache.taskExecutors
        #expect(executors.count == 2)
        let wrong = try await withThrowingTaskGroup(of: Int.self) { group in
            for (index, route) in routes.enumerated() {
                group.addTask(executorPreference: executors[index % 2]) {
                    var wrong = 0
                    for _ in 0..<100 where try await cache.get(route) != .endpoint(url: "http://svc\(index):1", revision: 1) {
                        wrong += 1
                    }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(wrong == 0)
        await cache.shutdown()
        // A task that prefers a closed connection's executor still runs, elsewhere.
        let ran = await Task(executorPreference: executors[0]) { (try? await cache.get(routes[0])) == nil }.value
        #expect(ran)
    }
}
