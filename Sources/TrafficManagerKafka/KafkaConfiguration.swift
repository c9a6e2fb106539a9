import Foundation
import TrafficManager

/// Where and how to reach Kafka, shared by ``KafkaEventPublisher`` and ``KafkaEventSource``.
public struct KafkaConfiguration: Sendable {
    /// `host:port` pairs, comma-separated (librdkafka's `bootstrap.servers`).
    public var bootstrapServers: String
    /// The topic route events go to. Default `route-events`.
    public var topic: String
    /// The client id the brokers see. Default `traffic-manager`.
    public var clientID: String
    /// How long a publish may take, retries included, before it fails (`message.timeout.ms`).
    /// Default 10 s.
    public var deliveryTimeout: Duration
    /// More librdkafka properties, passed through as they are: `security.protocol`,
    /// `sasl.mechanisms`, `ssl.ca.location`, … for a real cluster. They win over the defaults
    /// TrafficManager sets, except the ones its guarantees rest on (idempotence, `acks=all`,
    /// manual offset commits). Values of secret properties (``isSecretProperty(_:)``) never show
    /// in a description, a dump, a log line or an error.
    public var properties: [String: String]
    /// Put before every metric name of the publisher and source. Default
    /// `TrafficManagerMetrics.defaultPrefix`, `trafficmanager_`.
    public var metricsPrefix: String

    /// Creates a configuration.
    public init(
        bootstrapServers: String, topic: String = "route-events", clientID: String = "traffic-manager",
        deliveryTimeout: Duration = .seconds(10), properties: [String: String] = [:],
        metricsPrefix: String = TrafficManagerMetrics.defaultPrefix
    ) {
        self.metricsPrefix = metricsPrefix
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.clientID = clientID
        self.deliveryTimeout = deliveryTimeout
        self.properties = properties
    }

    var deliveryTimeoutMilliseconds: Int { Int(deliveryTimeout.wholeMilliseconds) }

    /// Whether a librdkafka property holds a secret: its name contains `password` or `secret`,
    /// or starts with `sasl.` or `ssl.key` (any letter case).
    public static func isSecretProperty(_ name: String) -> Bool {
        let name = name.lowercased()
        return name.contains("password") || name.contains("secret") || name.hasPrefix("sasl.") || name.hasPrefix("ssl.key")
    }

    /// `text` with the value of every secret property in `properties` replaced.
    static func redacting(_ text: String, secretsOf properties: [(String, String)]) -> String {
        properties.reduce(text) { text, property in
            guard isSecretProperty(property.0), !property.1.isEmpty else { return text }
            return text.replacingOccurrences(of: property.1, with: RedactedFields.placeholder)
        }
    }
}

extension KafkaConfiguration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Every field, with the values of secret properties shown as `<redacted>`.
    public var description: String { redactedFields.description }
    /// The same as ``description``: no secret shows.
    public var debugDescription: String { redactedFields.description }
    /// Every field, with secret property values replaced, for `dump()` and `Mirror`.
    public var customMirror: Mirror { redactedFields.mirror(of: self) }

    private var redactedFields: RedactedFields {
        let redacted = properties.sorted { $0.key < $1.key }.map { name, value in
            "\(name)=\(Self.isSecretProperty(name) ? RedactedFields.placeholder : value)"
        }
        return RedactedFields(
            "KafkaConfiguration",
            [
                ("bootstrapServers", bootstrapServers), ("topic", topic), ("clientID", clientID),
                ("deliveryTimeout", deliveryTimeout), ("properties", redacted),
            ])
    }
}
