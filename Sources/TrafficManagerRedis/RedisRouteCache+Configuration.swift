import TrafficManager

extension RedisRouteCache {
    /// Where and how to reach Redis.
    public struct Configuration: Sendable {
        /// How to reach the server.
        public enum Endpoint: Sendable, Hashable {
            /// A TCP host and port.
            case tcp(host: String, port: Int)
            /// A Unix domain socket.
            case unixSocket(path: String)
            /// A Redis Cluster, found through any of its nodes (TCP endpoints): each command goes
            /// to the master that owns its key's slot, with ``connectionCount`` connections per
            /// master. Needs Redis 7 (`CLUSTER SHARDS`).
            case cluster(seeds: [Endpoint])
        }

        /// The server.
        public var endpoint: Endpoint
        /// The password for `AUTH`, if the server wants one. Never logged.
        public var password: String?
        /// The database index for `SELECT`. Default 0.
        public var database: Int
        /// Connections, each with a thread of its own. Default 1: with auto-pipelining one
        /// connection carries many concurrent callers.
        public var connectionCount: Int
        /// How long connecting may take. Default 1 s.
        public var connectTimeout: Duration
        /// How long a call may take, measured from the call: queue wait, reconnect and reply
        /// included. Past it the call fails with `TrafficManagerError/Code/deadlineExceeded`;
        /// a connection whose reply is that late is dropped. Default 250 ms.
        public var commandTimeout: Duration
        /// TCP keepalive and `TCP_USER_TIMEOUT`: a connection whose peer stops acknowledging
        /// is closed by the kernel after this long. Default 10 s.
        public var tcpUserTimeout: Duration
        /// Calls that may wait for one connection at once; more fail at once with
        /// `TrafficManagerError/Code/overloaded`. Default 10,000.
        public var maximumQueueDepth: Int
        /// Put before every key. Default `"tm:route:"`.
        public var keyPrefix: String
        /// How reconnection backs off: each failed attempt waits this step times a random 0.5–1,
        /// the step doubling from `initial` to `maximum`. Default 50 ms up to 500 ms, so service
        /// returns within about half a second of the server, however long it was away.
        public var reconnectBackOff: ReconnectBackOff
        /// Put before every metric name of the cache's connections. Default
        /// `TrafficManagerMetrics.defaultPrefix`, `trafficmanager_`.
        public var metricsPrefix: String
        /// With a ``Endpoint-swift.enum/cluster(seeds:)`` endpoint: how often the slot map is
        /// asked for even when nothing suggests it changed. It is also refreshed after a
        /// `MOVED` and after a node fails a call. Default 10 s.
        public var clusterMapRefresh: Duration
        /// With a cluster endpoint: how many replicas must have an invalidation before it counts
        /// as made (`WAIT` after the tombstone, on the same connection). Redis replicates
        /// asynchronously, so a master that fails right after a tombstone could otherwise lose
        /// it and its replica serve the old URL. An invalidation not acknowledged in
        /// ``invalidationReplicaTimeout`` fails, and the writer handles it as any failed
        /// invalidation (the event's consumers invalidate again; this process serves nothing
        /// older meanwhile). Default 1; 0 for a cluster without replicas.
        public var invalidationReplicas: Int
        /// How long an invalidation waits for ``invalidationReplicas``. Default 100 ms.
        public var invalidationReplicaTimeout: Duration

        /// Creates a configuration.
        public init(
            endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 6379),
            password: String? = nil,
            database: Int = 0,
            connectionCount: Int = 1,
            connectTimeout: Duration = .seconds(1),
            commandTimeout: Duration = .milliseconds(250),
            keyPrefix: String = "tm:route:",
            reconnectBackOff: ReconnectBackOff = .init(initial: .milliseconds(50), maximum: .milliseconds(500)),
            maximumQueueDepth: Int = 10_000,
            tcpUserTimeout: Duration = .seconds(10),
            metricsPrefix: String = TrafficManagerMetrics.defaultPrefix,
            clusterMapRefresh: Duration = .seconds(10),
            invalidationReplicas: Int = 1,
            invalidationReplicaTimeout: Duration = .milliseconds(100)
        ) {
            self.invalidationReplicas = max(0, invalidationReplicas)
            self.invalidationReplicaTimeout = invalidationReplicaTimeout
            self.clusterMapRefresh = clusterMapRefresh
            self.metricsPrefix = metricsPrefix
            self.maximumQueueDepth = maximumQueueDepth
            self.tcpUserTimeout = tcpUserTimeout
            self.endpoint = endpoint
            self.password = password
            self.database = database
            self.connectionCount = connectionCount
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
            self.keyPrefix = keyPrefix
            self.reconnectBackOff = reconnectBackOff
        }

        /// The endpoint, for messages: host and port or socket path, never the password.
        var endpointDescription: String {
            switch endpoint {
            case .tcp(let host, let port): return "\(host):\(port)"
            case .unixSocket(let path): return path
            case .cluster(let seeds): return "the cluster of " + seeds.map { Self(endpoint: $0).endpointDescription }.joined(separator: ", ")
            }
        }
    }
}

extension RedisRouteCache.Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Every field, with the password shown as `<redacted>` when set.
    public var description: String { redactedFields.description }
    /// The same as ``description``: the password never shows.
    public var debugDescription: String { redactedFields.description }
    /// Every field, with the password replaced, for `dump()` and `Mirror`.
    public var customMirror: Mirror { redactedFields.mirror(of: self) }

    private var redactedFields: RedactedFields {
        RedactedFields(
            "RedisRouteCache.Configuration",
            [
                ("endpoint", endpoint), ("password", RedactedFields.secret(password) as Any), ("database", database),
                ("connectionCount", connectionCount), ("connectTimeout", connectTimeout), ("commandTimeout", commandTimeout),
                ("keyPrefix", keyPrefix), ("reconnectBackOff", reconnectBackOff), ("maximumQueueDepth", maximumQueueDepth),
                ("tcpUserTimeout", tcpUserTimeout), ("metricsPrefix", metricsPrefix),
            ])
    }
}
