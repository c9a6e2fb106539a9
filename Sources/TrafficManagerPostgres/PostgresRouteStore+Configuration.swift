import TrafficManager

extension PostgresRouteStore {
    /// Where and how to reach PostgreSQL.
    public struct Configuration: Sendable {
        /// How to reach the server.
        public enum Endpoint: Sendable, Hashable {
            /// A TCP host and port.
            case tcp(host: String, port: Int)
            /// The Unix socket in `directory` for `port` (the socket file is `.s.PGSQL.<port>`).
            case unixSocket(directory: String, port: Int = 5432)
        }

        /// libpq's `sslmode`.
        public enum SSLMode: String, Sendable, Hashable {
            case disable, allow, prefer, require
            case verifyCA = "verify-ca"
            case verifyFull = "verify-full"
        }

        /// The server.
        public var endpoint: Endpoint
        /// The role to connect as.
        public var user: String
        /// The role's password, if the server asks for one. Never logged, never in an error.
        public var password: String?
        /// The database.
        public var database: String
        /// The schema the tables live in, created by ``PostgresRouteStore/migrate()``; `nil`
        /// uses the server's default search path (normally `public`). Letters, digits and `_`.
        public var schema: String?
        /// TLS use. Default `prefer`.
        public var sslMode: SSLMode
        /// Connections, each owned by a thread of its own. Default 4.
        public var poolSize: Int
        /// How long connecting may take (libpq rounds to whole seconds, at least 2). Default 5 s.
        public var connectTimeout: Duration
        /// The server-side `statement_timeout` of every statement. Default 5 s.
        public var statementTimeout: Duration
        /// How long a call may take, measured from the call: queue wait, connecting, the one
        /// retry of a read and the reply included. Past it a read fails with
        /// `TrafficManagerError/Code/deadlineExceeded` and a write whose statement was sent
        /// with `TrafficManagerError/Code/outcomeUnknown`. Default: `statementTimeout` + 1 s,
        /// so the server gives up on a slow statement first. Migrations get at least 60 s.
        public var callTimeout: Duration {
            get { callTimeoutOverride ?? statementTimeout + .seconds(1) }
            set { callTimeoutOverride = newValue }
        }
        private var callTimeoutOverride: Duration?
        /// Calls that may wait for one connection at once; more fail at once with
        /// `TrafficManagerError/Code/overloaded`. Default 10,000.
        public var maximumQueueDepth: Int
        /// TCP keepalive and `tcp_user_timeout`: a connection whose peer stops acknowledging
        /// is closed by the kernel after this long. Default 10 s.
        public var tcpUserTimeout: Duration
        /// The most statements a connection sends in one pipeline. Default 128.
        public var maximumPipelineDepth: Int
        /// How many times a write that hit a serialization failure or deadlock is retried.
        /// Default 3.
        public var serializationRetries: Int
        /// How reconnection backs off: each failed attempt waits this step times a random 0.5–1,
        /// the step doubling from `initial` to `maximum`. Default 50 ms up to 500 ms, so service
        /// returns within about half a second of the server, however long it was away.
        public var reconnectBackOff: ReconnectBackOff
        /// How long a write's result stays stored under its idempotency key (keys are scoped
        /// per tenant); after it the key may be used for another request, as the IETF
        /// Idempotency-Key draft expects. A `RetentionService` deletes expired keys. Default 24 h.
        public var idempotencyKeyRetention: Duration
        /// The PEM file of certificate authorities that `verify-ca` and `verify-full` check the
        /// server's certificate against (libpq's `sslrootcert`); `nil`: libpq's default,
        /// `~/.postgresql/root.crt`.
        public var sslRootCertificate: String?
        /// Put before every metric name of the store's connections. Default
        /// `TrafficManagerMetrics.defaultPrefix`, `trafficmanager_`.
        public var metricsPrefix: String
        /// Streaming replicas of ``endpoint`` that the read path's lookups may go to
        /// (``PostgresRouteStore/lookup(_:atLeast:)-(RouteID,_)``); writes, idempotency keys,
        /// leases, the outbox, the change history and plain ``PostgresRouteStore/lookup(_:)-(RouteID)``
        /// always go to ``endpoint``. Each has ``poolSize`` connections and the primary's user,
        /// password, database, schema and TLS settings. Default none.
        public var replicas: [Endpoint]
        /// The most a replica may lag and still answer. Lag is measured, not trusted: every
        /// ``replicaLagProbeInterval`` the store reads the primary's WAL position and each
        /// replica's replayed position, and a replica is as old as the newest primary position
        /// it has replayed. Past this bound (a slow or paused replay, a frozen path, a replica
        /// that stopped answering) lookups go to the primary until it catches up. Keep it well
        /// under `TrafficManagerConfiguration.tombstoneTTL` less the fill window: a replica
        /// answer then never outlives the tombstone that would refuse it. Default 1 s.
        public var replicaMaxLag: Duration
        /// How often replica lag is measured. Default 100 ms.
        public var replicaLagProbeInterval: Duration
        /// How long a lookup waits for a replica before it asks the primary instead. Default 250 ms.
        public var replicaReadTimeout: Duration

        /// Creates a configuration.
        public init(
            endpoint: Endpoint = .tcp(host: "127.0.0.1", port: 5432),
            user: String,
            password: String? = nil,
            database: String,
            schema: String? = nil,
            sslMode: SSLMode = .prefer,
            poolSize: Int = 4,
            connectTimeout: Duration = .seconds(5),
            statementTimeout: Duration = .seconds(5),
            maximumPipelineDepth: Int = 128,
            serializationRetries: Int = 3,
            reconnectBackOff: ReconnectBackOff = .init(initial: .milliseconds(50), maximum: .milliseconds(500)),
            callTimeout: Duration? = nil,
            maximumQueueDepth: Int = 10_000,
            tcpUserTimeout: Duration = .seconds(10),
            idempotencyKeyRetention: Duration = .seconds(86_400),
            sslRootCertificate: String? = nil,
            metricsPrefix: String = TrafficManagerMetrics.defaultPrefix,
            replicas: [Endpoint] = [],
            replicaMaxLag: Duration = .seconds(1),
            replicaLagProbeInterval: Duration = .milliseconds(100),
            replicaReadTimeout: Duration = .milliseconds(250)
        ) {
            self.replicas = replicas
            self.replicaMaxLag = replicaMaxLag
            self.replicaLagProbeInterval = replicaLagProbeInterval
            self.replicaReadTimeout = replicaReadTimeout
            self.metricsPrefix = metricsPrefix
            self.sslRootCertificate = sslRootCertificate
            self.idempotencyKeyRetention = idempotencyKeyRetention
            self.callTimeoutOverride = callTimeout
            self.maximumQueueDepth = maximumQueueDepth
            self.tcpUserTimeout = tcpUserTimeout
            self.endpoint = endpoint
            self.user = user
            self.password = password
            self.database = database
            self.schema = schema
            self.sslMode = sslMode
            self.poolSize = poolSize
            self.connectTimeout = connectTimeout
            self.statementTimeout = statementTimeout
            self.maximumPipelineDepth = maximumPipelineDepth
            self.serializationRetries = serializationRetries
            self.reconnectBackOff = reconnectBackOff
        }

        /// The server, for messages: host and port or socket directory, never the password.
        var endpointDescription: String { Self.describe(endpoint) }

        static func describe(_ endpoint: Endpoint) -> String {
            switch endpoint {
            case .tcp(let host, let port): return "\(host):\(port)"
            case .unixSocket(let directory, let port): return "\(directory)/.s.PGSQL.\(port)"
            }
        }

        /// This configuration for replica `endpoint`: the same but for the server.
        func replica(_ endpoint: Endpoint) -> Self {
            var copy = self
            copy.endpoint = endpoint
            copy.replicas = []
            return copy
        }

        /// libpq connection keywords and values.
        var connectionParameters: [(String, String)] {
            var parameters: [(String, String)] = []
            switch endpoint {
            case .tcp(let host, let port):
                parameters += [("host", host), ("port", String(port))]
            case .unixSocket(let directory, let port):
                parameters += [("host", directory), ("port", String(port))]
            }
            parameters += [("user", user), ("dbname", database), ("sslmode", sslMode.rawValue)]
            if let password { parameters.append(("password", password)) }
            if let sslRootCertificate { parameters.append(("sslrootcert", sslRootCertificate)) }
            parameters.append(("application_name", "TrafficManager"))
            parameters.append(("connect_timeout", String(max(2, connectTimeout.components.seconds))))
            var options = "-c statement_timeout=\(max(1, statementTimeout.wholeMilliseconds)) -c client_min_messages=warning"
            if let schema { options += " -c search_path=\(schema)" }
            parameters.append(("options", options))
            parameters.append(("keepalives", "1"))
            let idle = max(1, tcpUserTimeout.components.seconds / 2)
            parameters.append(("keepalives_idle", String(idle)))
            parameters.append(("keepalives_interval", String(max(1, idle / 3))))
            parameters.append(("keepalives_count", "3"))
            parameters.append(("tcp_user_timeout", String(max(1, tcpUserTimeout.wholeMilliseconds))))
            return parameters
        }
    }
}

extension PostgresRouteStore.Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Every field, with the password shown as `<redacted>` when set.
    public var description: String { redactedFields.description }
    /// The same as ``description``: the password never shows.
    public var debugDescription: String { redactedFields.description }
    /// Every field, with the password replaced, for `dump()` and `Mirror`.
    public var customMirror: Mirror { redactedFields.mirror(of: self) }

    private var redactedFields: RedactedFields {
        RedactedFields(
            "PostgresRouteStore.Configuration",
            [
                ("endpoint", endpoint), ("user", user), ("password", RedactedFields.secret(password) as Any),
                ("database", database), ("schema", schema as Any), ("sslMode", sslMode), ("poolSize", poolSize),
                ("connectTimeout", connectTimeout), ("statementTimeout", statementTimeout),
                ("maximumPipelineDepth", maximumPipelineDepth), ("serializationRetries", serializationRetries),
                ("reconnectBackOff", reconnectBackOff), ("callTimeout", callTimeout), ("maximumQueueDepth", maximumQueueDepth),
                ("tcpUserTimeout", tcpUserTimeout), ("sslRootCertificate", sslRootCertificate as Any),
                ("metricsPrefix", metricsPrefix), ("replicas", replicas), ("replicaMaxLag", replicaMaxLag),
                ("replicaLagProbeInterval", replicaLagProbeInterval), ("replicaReadTimeout", replicaReadTimeout),
            ])
    }
}
