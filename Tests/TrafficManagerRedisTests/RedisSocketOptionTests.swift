import Foundation
import Testing
import TrafficManager
import TrafficManagerConnectionRuntime
import TrafficManagerTestKit
import TrafficManagerTestSupport
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
        #expect(connection.connect(deadline: .now + .seconds(5), io: ConnectionIO()) == nil)
        defer { connection.disconnect() }
        let socket = connection.socketDescriptor
        #expect(socketOption(socket, level: SOL_SOCKET, name: SO_KEEPALIVE) == 1)
        #expect(socketOption(socket, level: Int32(IPPROTO_TCP), name: TCP_USER_TIMEOUT) == 7_000)
        // Pipelined batches go out at once, never held back by Nagle's algorithm.
        #expect(socketOption(socket, level: Int32(IPPROTO_TCP), name: TCP_NODELAY) == 1)
        #expect(fcntl(socket, F_GETFL) & O_NONBLOCK != 0)
    }
}
