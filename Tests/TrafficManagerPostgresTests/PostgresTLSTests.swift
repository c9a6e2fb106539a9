import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport
@testable import TrafficManagerPostgres

/// The certificate authority `scripts/start-postgres.sh` made for the test server.
let testCertificateAuthority = ProcessInfo.processInfo.environment["TM_PG_SSLROOTCERT"] ?? "/tmp/tm-pg/tls/ca.crt"

/// PostgreSQL over TLS with the server's certificate checked (`sslmode=verify-full`): host name
/// and chain, against the start script's certificate authority.
@Suite(
    .enabled(
        if: TestServices.postgres.shouldRun && (TestServices.servicesRequired || FileManager.default.fileExists(atPath: testCertificateAuthority)),
        "needs PostgreSQL with TLS (scripts/start-postgres.sh makes its certificates)"))
struct PostgresTLSTests {
    private func configuration(root: String) -> PostgresRouteStore.Configuration {
        var configuration = testConfiguration(schema: freshSchema(), poolSize: 1)
        configuration.sslMode = .verifyFull
        configuration.sslRootCertificate = root
        return configuration
    }

    @Test func verifyFullConnectsWhenTheServersCertificateChecksOut() async throws {
        let store = running(PostgresRouteStore(configuration: configuration(root: testCertificateAuthority)))
        defer { Task { await store.shutdown() } }
        try await store.migrate()
        let route = try UniqueNames.route()
        _ = try await store.apply(RouteCommand(route: route, operation: .upsert(url: "https://chat:4002")), idempotencyKey: nil)
        #expect(try await store.lookup(route) == RouteLookup(url: "https://chat:4002", revision: 1))
        #expect(configuration(root: testCertificateAuthority).connectionParameters.contains { $0 == ("sslmode", "verify-full") })
    }

    @Test func verifyFullRefusesAServerItsAuthoritiesDidNotSign() async throws {
        // The server's own certificate is no authority: nothing it trusts signed the certificate.
        let notAnAuthority = URL(fileURLWithPath: testCertificateAuthority).deletingLastPathComponent().appendingPathComponent("server.crt").path
        let store = running(PostgresRouteStore(configuration: configuration(root: notAnAuthority)))
        defer { Task { await store.shutdown() } }
        let error = await #expect(throws: TrafficManagerError.self) { try await store.migrate() }
        #expect(error?.code == .storeUnavailable)
        #expect(error?.message.contains("certificate verify failed") == true, "\(String(describing: error))")
    }

    @Test func aMissingAuthorityFileIsReportedNotIgnored() async throws {
        let store = running(PostgresRouteStore(configuration: configuration(root: "/nonexistent/ca.crt")))
        defer { Task { await store.shutdown() } }
        let error = await #expect(throws: TrafficManagerError.self) { try await store.migrate() }
        #expect(error?.message.contains("/nonexistent/ca.crt") == true, "\(String(describing: error))")
    }
}
