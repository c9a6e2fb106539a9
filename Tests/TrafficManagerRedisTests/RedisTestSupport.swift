import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
@testable import TrafficManagerRedis

/// A cache on the test Redis, under a key prefix of its own.
func makeTestCache(connections: Int = 1, port: Int = TestServices.redis.port) -> RedisRouteCache {
    RedisRouteCache(
        configuration: .init(
            // A generous deadline: these tests share two cores with every other suite.
            endpoint: .tcp(host: TestServices.redis.host, port: port), connectionCount: connections, commandTimeout: .seconds(2),
            keyPrefix: "tm:test:\(UUID().uuidString.prefix(8)):"))
}

let redisSkip = Comment(rawValue: TestServices.redis.skipMessage)
