import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
@testable import TrafficManagerPostgres

#if canImport(Glibc)
import Glibc
#endif

/// Keepalives and tcp_user_timeout reach the socket. A frozen userspace proxy cannot show them
/// work (it acknowledges every byte for the server), so this reads them back from the kernel.
@Suite(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
struct PostgresSocketOptionTests {
    @Test func theConnectionsSocketCarriesKeepalivesAndTheUserTimeout() throws {
        var configuration = testConfiguration(poolSize: 1)
        configuration.tcpUserTimeout = .seconds(7)
        var connection = PostgresConnection(configuration: configuration, logger: .init(label: "test"))
        #expect(connection.connect(deadline: .now + .seconds(5)) == nil)
        defer { connection.disconnect() }
        let socket = connection.socketDescriptor
        #expect(socket >= 0)
        #expect(option(socket, SOL_SOCKET, SO_KEEPALIVE) == 1)
        #expect(option(socket, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT) == 7_000)
        #expect(option(socket, Int32(IPPROTO_TCP), TCP_KEEPIDLE) == 3)
    }
}

/// An integer socket option, as the kernel holds it.
func option(_ socket: Int32, _ level: Int32, _ name: Int32) -> Int32 {
    var value: Int32 = -1
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(socket, level, name, &value, &length) == 0 else { return -1 }
    return value
}
