import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
@testable import TrafficManagerRedis

/// A cache on the test Redis, under a key prefix of its own.
func makeTestCache(connections: Int = 1, port: Int = TestServices.redis.port) -> RedisRouteCache {
    RedisRouteCache(
        configuration: .init(
            endpoint: .tcp(host: TestServices.redis.host, port: port), connectionCount: connections,
            keyPrefix: "tm:test:\(UUID().uuidString.prefix(8)):"))
}

let redisSkip = Comment(rawValue: TestServices.redis.skipMessage)
