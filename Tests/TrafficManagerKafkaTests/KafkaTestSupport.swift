import Foundation
import TrafficManager
import TrafficManagerKafka
import TrafficManagerTestKit

/// One mock cluster for the whole test process; each test uses topics of its own.
let sharedCluster: KafkaMockCluster? = try? KafkaMockCluster(brokers: 1)

/// A configuration for a fresh topic on `cluster`, with short timeouts for tests.
func kafkaConfiguration(_ cluster: KafkaMockCluster, topic: String = "route-events-\(UUID().uuidString.prefix(8))") throws -> KafkaConfiguration {
    try cluster.createTopic(topic, partitions: 4)
    return KafkaConfiguration(
        bootstrapServers: cluster.bootstrapServers, topic: topic, deliveryTimeout: .seconds(5),
        properties: [
            "reconnect.backoff.ms": "20", "reconnect.backoff.max.ms": "200", "topic.metadata.refresh.interval.ms": "1000",
            "session.timeout.ms": "6000", "heartbeat.interval.ms": "500",
        ])
}
