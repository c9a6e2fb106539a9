import ArgumentParser
import Foundation
import TrafficManagerPostgres
import TrafficManagerRedis

/// Where a setting comes from: the flag, else the `TM_*` environment variable, else a default.
enum Setting {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    static func value(_ flag: String?, _ variable: String, default fallback: String) -> String {
        flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
    }

    static func port(_ flag: Int?, _ variable: String, default fallback: Int) throws -> Int {
        if let flag { return try checkedPort(flag, source: "the port flag") }
        guard let text = environment[variable], !text.isEmpty else { return fallback }
        guard let port = Int(text) else {
            throw CommandFailure(.usage, "\(variable) is \(String(reflecting: text)), not a port number")
        }
        return try checkedPort(port, source: variable)
    }

    private static func checkedPort(_ port: Int, source: String) throws -> Int {
        guard (1...65_535).contains(port) else { throw CommandFailure(.usage, "\(source) gives port \(port); ports are 1 to 65535") }
        return port
    }
}

/// PostgreSQL settings. The password never comes from a flag (it would show in `ps`): it comes
/// from `TM_PG_PASSWORD`, from the file `--pg-password-file` or `TM_PG_PASSWORD_FILE` names, or
/// from standard input with `--pg-password-stdin`.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("pg-host"), help: "PostgreSQL host, or a directory holding its Unix socket (TM_PG_HOST; default 127.0.0.1).")
    var host: String?
    @Option(name: .customLong("pg-port"), help: "PostgreSQL port (TM_PG_PORT; default 5432).")
    var port: Int?
    @Option(name: .customLong("pg-user"), help: "PostgreSQL user (TM_PG_USER; default tm).")
    var user: String?
    @Option(name: .customLong("pg-database"), help: "PostgreSQL database (TM_PG_DATABASE; default routes).")
    var database: String?
    @Option(name: .customLong("pg-schema"), help: "PostgreSQL schema for TrafficManager's tables (TM_PG_SCHEMA; default: the search path).")
    var schema: String?
    @Option(name: .customLong("pg-sslmode"), help: "disable, allow, prefer, require, verify-ca or verify-full (TM_PG_SSLMODE; default prefer).")
    var sslMode: String?
    @Option(name: .customLong("pg-sslrootcert"), help: "The CA certificates (PEM) verify-ca and verify-full check the server against (TM_PG_SSLROOTCERT).")
    var sslRootCertificate: String?
    @Option(name: .customLong("pg-password-file"), help: "A file holding the PostgreSQL password (TM_PG_PASSWORD_FILE).")
    var passwordFile: String?
    @Flag(name: .customLong("pg-password-stdin"), help: "Read the PostgreSQL password from the first line of standard input.")
    var passwordFromStandardInput = false

    func configuration() throws -> PostgresRouteStore.Configuration {
        let host = Setting.value(host, "TM_PG_HOST", default: "127.0.0.1")
        let port = try Setting.port(port, "TM_PG_PORT", default: 5432)
        let endpoint: PostgresRouteStore.Configuration.Endpoint =
            host.hasPrefix("/") ? .unixSocket(directory: host, port: port) : .tcp(host: host, port: port)
        let modeText = Setting.value(sslMode, "TM_PG_SSLMODE", default: "prefer")
        guard let mode = PostgresRouteStore.Configuration.SSLMode(rawValue: modeText) else {
            throw CommandFailure(.usage, "the SSL mode \(String(reflecting: modeText)) is not one of disable, allow, prefer, require, verify-ca, verify-full")
        }
        let schemaText = Setting.value(schema, "TM_PG_SCHEMA", default: "")
        return PostgresRouteStore.Configuration(
            endpoint: endpoint, user: Setting.value(user, "TM_PG_USER", default: "tm"), password: try password(),
            database: Setting.value(database, "TM_PG_DATABASE", default: "routes"), schema: schemaText.isEmpty ? nil : schemaText,
            sslMode: mode, sslRootCertificate: sslRootCertificate ?? Setting.environment["TM_PG_SSLROOTCERT"].flatMap { $0.isEmpty ? nil : $0 })
    }

    private func password() throws -> String? {
        if passwordFromStandardInput {
            guard let line = readLine(strippingNewline: true) else {
                throw CommandFailure(.noInput, "--pg-password-stdin: standard input ended before a password line")
            }
            return line
        }
        if let path = passwordFile ?? Setting.environment["TM_PG_PASSWORD_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw CommandFailure(.noInput, "cannot read the password file \(path)")
            }
            return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        return Setting.environment["TM_PG_PASSWORD"]
    }
}

/// Redis settings, for commands that write or resolve: a write must invalidate the shared
/// cache, or the old URL stays cached until its TTL.
struct CacheOptions: ParsableArguments {
    @Option(name: .customLong("redis-host"), help: "Redis host or Unix socket path (TM_REDIS_HOST; default 127.0.0.1; password: TM_REDIS_PASSWORD).")
    var host: String?
    @Option(name: .customLong("redis-port"), help: "Redis port (TM_REDIS_PORT; default 6379).")
    var port: Int?
    @Option(name: .customLong("redis-database"), help: "Redis database number (TM_REDIS_DATABASE; default 0).")
    var database: Int?
    @Option(
        name: .customLong("redis-cluster"),
        help: "Redis Cluster seed nodes, host:port[,host:port…], instead of --redis-host and --redis-port (TM_REDIS_CLUSTER).")
    var cluster: String?
    @Flag(name: .customLong("no-cache"), help: "Use no Redis cache: only when no TrafficManager instance caches these routes in Redis.")
    var noCache = false

    func configuration() throws -> RedisRouteCache.Configuration? {
        if noCache { return nil }
        let password = Setting.environment["TM_REDIS_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        let seeds = Setting.value(cluster, "TM_REDIS_CLUSTER", default: "")
        if !seeds.isEmpty {
            guard try databaseNumber() == 0 else {
                throw CommandFailure(.usage, "a Redis Cluster has only database 0: drop --redis-database (or TM_REDIS_DATABASE) with --redis-cluster")
            }
            return RedisRouteCache.Configuration(endpoint: .cluster(seeds: try Self.seedNodes(seeds)), password: password)
        }
        let host = Setting.value(host, "TM_REDIS_HOST", default: "127.0.0.1")
        let port = try Setting.port(port, "TM_REDIS_PORT", default: 6379)
        return RedisRouteCache.Configuration(
            endpoint: host.hasPrefix("/") ? .unixSocket(path: host) : .tcp(host: host, port: port), password: password,
            database: try databaseNumber())
    }

    /// `host:port[,host:port…]`, each checked.
    static func seedNodes(_ list: String) throws -> [RedisRouteCache.Configuration.Endpoint] {
        try list.split(separator: ",", omittingEmptySubsequences: false).map { item in
            let seed = item.trimmingCharacters(in: .whitespaces)
            guard let colon = seed.lastIndex(of: ":"), colon != seed.startIndex, let port = Int(seed[seed.index(after: colon)...]) else {
                throw CommandFailure(.usage, "the Redis Cluster seed \(String(reflecting: seed)) is not host:port")
            }
            guard (1...65_535).contains(port) else {
                throw CommandFailure(.usage, "the Redis Cluster seed \(seed) gives port \(port); ports are 1 to 65535")
            }
            return .tcp(host: String(seed[..<colon]), port: port)
        }
    }

    private func databaseNumber() throws -> Int {
        if let database {
            guard database >= 0 else { throw CommandFailure(.usage, "--redis-database must be 0 or more, not \(database)") }
            return database
        }
        let text = Setting.value(nil, "TM_REDIS_DATABASE", default: "0")
        guard let number = Int(text), number >= 0 else {
            throw CommandFailure(.usage, "TM_REDIS_DATABASE is \(String(reflecting: text)), not a database number")
        }
        return number
    }
}

/// Kafka settings.
struct KafkaOptions: ParsableArguments {
    @Option(name: .customLong("kafka-bootstrap"), help: "Kafka bootstrap servers, host:port[,host:port] (TM_KAFKA_BOOTSTRAP).")
    var bootstrap: String?
    @Option(name: .customLong("kafka-topic"), help: "The route event topic (TM_KAFKA_TOPIC; default route-events).")
    var topic: String?

    /// The bootstrap servers, if given.
    var bootstrapServers: String? {
        let value = Setting.value(bootstrap, "TM_KAFKA_BOOTSTRAP", default: "")
        return value.isEmpty ? nil : value
    }

    var topicName: String { Setting.value(topic, "TM_KAFKA_TOPIC", default: "route-events") }

    func requireBootstrapServers(for command: String) throws -> String {
        guard let servers = bootstrapServers else {
            throw CommandFailure(.usage, "\(command) needs Kafka: pass --kafka-bootstrap or set TM_KAFKA_BOOTSTRAP")
        }
        return servers
    }
}
