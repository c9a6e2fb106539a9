import Testing
import TrafficManager
import TrafficManagerKafka
import TrafficManagerTestKit

/// Secret librdkafka properties show in no rendering of the configuration or of an error.
@Suite struct KafkaNoSecretTests {
    static let secret = "kafka-S3cret-pw"

    @Test func secretPropertiesAreRedactedInEveryRendering() {
        let configuration = KafkaConfiguration(
            bootstrapServers: "kafka-1:9093", topic: "route-events",
            properties: [
                "sasl.password": Self.secret, "sasl.username": "svc-routes", "ssl.key.password": Self.secret,
                "ssl.keystore.password": Self.secret, "sasl.oauthbearer.client.secret": Self.secret,
                "ssl.key.pem": Self.secret, "security.protocol": "sasl_ssl", "ssl.ca.location": "/etc/ssl/ca.pem",
            ])
        #expect(SecretScan.leaks(of: [Self.secret, "svc-routes"], in: [configuration]) == [])
        let text = "\(configuration)"
        #expect(text.contains("security.protocol=sasl_ssl") && text.contains("ssl.ca.location=/etc/ssl/ca.pem"))
        #expect(text.contains("sasl.password=<redacted>"))
    }

    @Test func whichPropertiesAreSecret() {
        for name in ["sasl.password", "SASL.USERNAME", "ssl.key.password", "ssl.key.pem", "ssl.keystore.password", "client.secret", "x.Password.y"] {
            #expect(KafkaConfiguration.isSecretProperty(name), "\(name)")
        }
        for name in ["bootstrap.servers", "security.protocol", "ssl.ca.location", "ssl.certificate.location", "client.id"] {
            #expect(!KafkaConfiguration.isSecretProperty(name), "\(name)")
        }
    }

    @Test func aRefusedSecretPropertysValueDoesNotShowInTheError() throws {
        // librdkafka names a refused value in its message; the adapter takes it out again.
        let configuration = KafkaConfiguration(
            bootstrapServers: "127.0.0.1:1", properties: ["sasl.kerberos.min.time.before.relogin": Self.secret])
        let error = #expect(throws: TrafficManagerError.self) { try KafkaEventPublisher(configuration: configuration) }
        #expect(error?.code == .eventsUnavailable, "\(String(describing: error))")
        #expect(error?.message.contains("sasl.kerberos.min.time.before.relogin") == true)
        #expect(SecretScan.leaks(of: [Self.secret], in: [error as Any]) == [])
    }

    @Test func aClientRefusedAtCreationNamesNoSecret() throws {
        let configuration = KafkaConfiguration(
            bootstrapServers: "127.0.0.1:1",
            properties: ["security.protocol": "sasl_plaintext", "sasl.mechanisms": "NOPE-\(Self.secret)"])
        let error = #expect(throws: TrafficManagerError.self) { try KafkaEventPublisher(configuration: configuration) }
        #expect(SecretScan.leaks(of: [Self.secret], in: [error as Any]) == [])
    }
}
