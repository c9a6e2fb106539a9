import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerRedis

/// The Redis password shows in no rendering of the configuration, the cache or its errors.
@Suite struct RedisNoSecretTests {
    static let secret = "redis-S3cret-pw"

    @Test func theConfigurationRedactsItsPasswordInEveryRendering() {
        let configuration = RedisRouteCache.Configuration(endpoint: .tcp(host: "cache.internal", port: 6380), password: Self.secret)
        #expect(SecretScan.leaks(of: [Self.secret], in: [configuration]) == [])
        #expect("\(configuration)".contains("password: \"<redacted>\""))
        #expect("\(configuration)".contains("cache.internal"))
        let none = RedisRouteCache.Configuration(password: nil)
        #expect("\(none)".contains("password: nil"))
    }

    @Test func anUnreachableServersErrorAndTheCacheItselfHoldNoPassword() async throws {
        let cache = running(RedisRouteCache(configuration: .init(endpoint: .tcp(host: "127.0.0.1", port: 1), password: Self.secret, commandTimeout: functionalTestTimeout)))
        let error = await #expect(throws: TrafficManagerError.self) { try await cache.get(try UniqueNames.route()) }
        #expect(SecretScan.leaks(of: [Self.secret], in: [error as Any, cache]) == [])
        await cache.shutdown()
    }

    @Test(.enabled(if: TestServices.redis.shouldRun, redisSkip))
    func aRefusedPasswordsErrorHoldsNoPassword() async throws {
        let cache = running(RedisRouteCache(
            configuration: .init(
                endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), password: Self.secret,
                commandTimeout: functionalTestTimeout)))
        let error = await #expect(throws: TrafficManagerError.self) { try await cache.get(try UniqueNames.route()) }
        #expect(error?.code == .cacheUnavailable)
        #expect(SecretScan.leaks(of: [Self.secret], in: [error as Any, cache]) == [])
        await cache.shutdown()
    }
}
