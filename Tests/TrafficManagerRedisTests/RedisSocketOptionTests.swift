import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
@testable import TrafficManagerRedis

#if canImport(Glibc)
import Glibc
#endif

/// Keepalives and TCP_USER_TIMEOUT reach the socket; read back from the kernel, since a frozen
/// userspace proxy cannot show them work.
@Suite(.enabled(if: TestServices.redis.shouldRun, redisSkip))
struct RedisSocketOptionTests {
    @Test func theConnectionsSocketCarriesKeepalivesAndTheUserTimeout() throws {
        let configuration = RedisRouteCache.Configuration(
            endpoint: .tcp(host: TestServices.redis.host, port: TestServices.redis.port), tcpUserTimeout: .seconds(7))
        var connection = RedisConnection(configuration: configuration, logger: .init(label: "test"))
        #expect(connection.connect(deadline: .now + .seconds(5)) == nil)
        defer { connection.disconnect() }
        let socket = connection.socketDescriptor
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(socket, SOL_SOCKET, SO_KEEPALIVE, &value, &length) == 0 && value == 1)
        #expect(getsockopt(socket, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &value, &length) == 0 && value == 7_000)
    }
}
