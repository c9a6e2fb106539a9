import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerRedis

/// A cache on the test Redis, under a key prefix of its own.
func makeTestCache(connections: Int = 1, port: Int = TestServices.redis.port) -> RedisRouteCache {
    running(RedisRouteCache(
        configuration: .init(
            endpoint: .tcp(host: TestServices.redis.host, port: port), connectionCount: connections, commandTimeout: functionalTestTimeout,
            keyPrefix: "tm:test:\(UUID().uuidString.prefix(8)):")))
}

let redisSkip = Comment(rawValue: TestServices.redis.skipMessage)

/// The deadline of calls in suites that test behaviour, not deadlines: generous, since they share
/// two cores with every other suite, under ThreadSanitizer too, where a whole run starting at once
/// has held a first connect and fill past 2 s. The fault suites test deadlines, outside the sanitizer.
let functionalTestTimeout: Duration = .seconds(15)

/// `cache`, running, once every connection thread is up: for suites whose first calls have
/// deadlines too short to also cover `run()`'s start.
func started(_ cache: RedisRouteCache) async throws -> RedisRouteCache {
    running(cache)
    let threads = max(1, cache.configurationForTests.connectionCount)
    #expect(try await eventually(timeout: .seconds(10)) { cache.runningThreadCount == threads })
    return cache
}
