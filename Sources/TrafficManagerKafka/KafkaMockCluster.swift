import CRdKafka
import TrafficManager

/// librdkafka's mock Kafka cluster, in process, on loopback: it speaks the Kafka protocol, so
/// the publisher and source work against it exactly as against a real cluster.
///
/// For tests, examples and `tm-dev-kafka`; it is not a broker to keep data in.
public final class KafkaMockCluster: Sendable {
    // Unchecked sendability is safe: both pointers are created in init and destroyed once in
    // shutdown(); they are only read or changed inside `state.withLock`, and librdkafka's mock
    // cluster calls are thread-safe.
    private struct Handles: @unchecked Sendable {
        var owner: OpaquePointer?
        var cluster: OpaquePointer?
    }

    private let state: Locked<Handles>
    /// The `bootstrap.servers` string for clients.
    public let bootstrapServers: String

    /// Starts a cluster of `brokers` brokers.
    public init(brokers: Int = 1) throws {
        // The cluster needs a handle to belong to; a producer that is never used will do. Its
        // brokers take their socket settings from it: without TCP_NODELAY (which Kafka's own
        // brokers set), responses pipelined on one connection wait out the client's delayed ACK,
        // about 40 ms each.
        let owner = try KafkaHandle.make(RD_KAFKA_PRODUCER, properties: [("log_level", "3"), ("socket.nagle.disable", "true")])
        guard let cluster = rd_kafka_mock_cluster_new(owner, Int32(brokers)) else {
            rd_kafka_destroy(owner)
            throw TrafficManagerError.eventsUnavailable("librdkafka could not start a mock cluster")
        }
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        state = Locked(Handles(owner: owner, cluster: cluster))
    }

    deinit {
        shutdown()
    }

    /// Creates `topic` with `partitions` partitions, each kept on `replicationFactor` brokers
    /// (at most the cluster's broker count).
    public func createTopic(_ topic: String, partitions: Int = 4, replicationFactor: Int = 1) throws {
        let error = state.withLock { handles -> rd_kafka_resp_err_t in
            guard let cluster = handles.cluster else { return RD_KAFKA_RESP_ERR__DESTROY }
            return rd_kafka_mock_topic_create(cluster, topic, Int32(partitions), Int32(replicationFactor))
        }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw TrafficManagerError.eventsUnavailable("could not create topic \(topic): \(KafkaHandle.describe(error))")
        }
    }

    /// Takes every broker down (connections closed, new ones refused) or brings them back.
    ///
    /// Bringing a broker back binds its old port again; should another socket have taken that
    /// port meanwhile, librdkafka aborts the process. For an outage a process recovers from
    /// while other sockets come and go, prefer ``setResponseDelay(_:)``.
    public func setBrokersAvailable(_ available: Bool) {
        state.withLock { handles in
            guard let cluster = handles.cluster else { return }
            _ = available ? rd_kafka_mock_broker_set_up(cluster, -1) : rd_kafka_mock_broker_set_down(cluster, -1)
        }
    }

    /// Delays every broker's responses by `delay` (zero for none): a path that freezes while
    /// its connections stay open.
    public func setResponseDelay(_ delay: Duration) {
        state.withLock { handles in
            guard let cluster = handles.cluster else { return }
            _ = rd_kafka_mock_broker_set_rtt(cluster, -1, Int32(clamping: delay.wholeMilliseconds))
        }
    }

    /// Stops the cluster. Clients connected to it see their brokers go away.
    public func shutdown() {
        state.withLock { handles in
            // The cluster must go before the handle it belongs to.
            if let cluster = handles.cluster { rd_kafka_mock_cluster_destroy(cluster) }
            if let owner = handles.owner { rd_kafka_destroy(owner) }
            handles = Handles()
        }
    }
}
