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
    /// manual offset commits).
    public var properties: [String: String]

    /// Creates a configuration.
    public init(
        bootstrapServers: String, topic: String = "route-events", clientID: String = "traffic-manager",
        deliveryTimeout: Duration = .seconds(10), properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.topic = topic
        self.clientID = clientID
        self.deliveryTimeout = deliveryTimeout
        self.properties = properties
    }

    var deliveryTimeoutMilliseconds: Int { Int(deliveryTimeout.wholeMilliseconds) }
}
