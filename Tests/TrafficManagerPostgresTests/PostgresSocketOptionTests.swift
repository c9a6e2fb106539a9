import Foundation
import Testing
import TrafficManager
import TrafficManagerConnectionRuntime
import TrafficManagerTestKit
import TrafficManagerTestSupport
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
        #expect(connection.connect(deadline: .now + .seconds(5), io: ConnectionIO()) == nil)
        defer { connection.disconnect() }
        let socket = connection.socketDescriptor
        #expect(socket >= 0)
        #expect(socketOption(socket, level: SOL_SOCKET, name: SO_KEEPALIVE) == 1)
        #expect(socketOption(socket, level: Int32(IPPROTO_TCP), name: TCP_USER_TIMEOUT) == 7_000)
        #expect(socketOption(socket, level: Int32(IPPROTO_TCP), name: TCP_KEEPIDLE) == 3)
    }
}

