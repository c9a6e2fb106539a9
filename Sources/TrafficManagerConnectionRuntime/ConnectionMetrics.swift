import CoreMetrics

/// What one connection of an adapter records through swift-metrics, with dimensions
/// `backend` (`redis`, `postgres`) and `connection` (its index in the adapter).
///
/// Recorded per batch, not per call, so a busy connection pays for them once per round trip.
public struct ConnectionMetrics: Sendable {
    /// Calls in a batch as it goes out: the queue depth, unless the queue is longer than the
    /// batch size (`connection_queue_depth`).
    public let queueDepth: Gauge
    /// How long the oldest call of a batch waited before it went out (`connection_wait_seconds`).
    public let wait: CoreMetrics.Timer
    /// Calls that ran past their deadline, queued or in flight (`connection_deadline_misses_total`).
    public let deadlineMisses: Counter
    /// Connections made, the first included (`connection_connects_total`).
    public let connects: Counter
    /// Attempts to connect that failed (`connection_connect_failures_total`).
    public let connectFailures: Counter
    /// 1 while connected, 0 otherwise (`connection_up`).
    public let up: Gauge

    /// The metric names without prefix.
    public enum Name {
        public static let queueDepth = "connection_queue_depth"
        public static let wait = "connection_wait_seconds"
        public static let deadlineMisses = "connection_deadline_misses_total"
        public static let connects = "connection_connects_total"
        public static let connectFailures = "connection_connect_failures_total"
        public static let up = "connection_up"
    }

    /// Creates the metrics of connection `index` of `backend`.
    public init(backend: String, index: Int, prefix: String = "", factory: any MetricsFactory = MetricsSystem.factory) {
        let dimensions = [("backend", backend), ("connection", String(index))]
        queueDepth = Gauge(label: prefix + Name.queueDepth, dimensions: dimensions, factory: factory)
        wait = CoreMetrics.Timer(label: prefix + Name.wait, dimensions: dimensions, factory: factory)
        deadlineMisses = Counter(label: prefix + Name.deadlineMisses, dimensions: dimensions, factory: factory)
        connects = Counter(label: prefix + Name.connects, dimensions: dimensions, factory: factory)
        connectFailures = Counter(label: prefix + Name.connectFailures, dimensions: dimensions, factory: factory)
        up = Gauge(label: prefix + Name.up, dimensions: dimensions, factory: factory)
    }
}
