import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// The PostgreSQL password shows in no rendering of the configuration, the store or its errors.
@Suite struct PostgresNoSecretTests {
    static let secret = "pg-S3cret-pw"

    @Test func theConfigurationRedactsItsPasswordInEveryRendering() {
        let configuration = PostgresRouteStore.Configuration(
            endpoint: .tcp(host: "db.internal", port: 5433), user: "tm", password: Self.secret, database: "routes")
        #expect(SecretScan.leaks(of: [Self.secret], in: [configuration]) == [])
        #expect("\(configuration)".contains("password: \"<redacted>\""))
        #expect("\(configuration)".contains("db.internal"))
    }

    @Test func anUnreachableServersErrorAndTheStoreItselfHoldNoPassword() async throws {
        var configuration = testConfiguration(port: 1, poolSize: 1)
        configuration.password = Self.secret
        let store = running(PostgresRouteStore(configuration: configuration))
        let error = await #expect(throws: TrafficManagerError.self) { try await store.lookup(try UniqueNames.route()) }
        #expect(error?.code == .storeUnavailable)
        #expect(SecretScan.leaks(of: [Self.secret], in: [error as Any, store]) == [])
        await store.shutdown()
    }

    @Test(.enabled(if: TestServices.postgres.shouldRun, postgresSkip))
    func aRefusedPasswordsErrorHoldsNoPassword() async throws {
        var configuration = testConfiguration(poolSize: 1)
        configuration.password = Self.secret
        let store = running(PostgresRouteStore(configuration: configuration))
        let error = await #expect(throws: TrafficManagerError.self) { try await store.lookup(try UniqueNames.route()) }
        #expect(error?.code == .storeUnavailable)
        #expect(error?.message.contains("password authentication failed") == true)
        #expect(SecretScan.leaks(of: [Self.secret], in: [error as Any, store]) == [])
        await store.shutdown()
    }
}
