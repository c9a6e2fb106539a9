import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The local servers integration tests use, from the environment `scripts/env.sh` sets.
///
/// A test suite runs when its server answers, or when `TM_REQUIRE_SERVICES=1` (then a missing
/// server fails the tests instead of skipping them):
///
/// ```swift
/// @Suite(.enabled(if: TestServices.redis.shouldRun, TestServices.redis.skipMessage))
/// ```
public struct TestServices: Sendable {
    /// The server's name, for messages.
    public let name: String
    /// Its host.
    public let host: String
    /// Its port.
    public let port: Int
    /// The script that starts it.
    public let startScript: String

    /// Redis: `TM_REDIS_HOST` / `TM_REDIS_PORT` (127.0.0.1:56379).
    public static let redis = TestServices(
        name: "Redis", host: environment("TM_REDIS_HOST", "127.0.0.1"),
        port: Int(environment("TM_REDIS_PORT", "56379")) ?? 56379, startScript: "scripts/start-redis.sh")

    /// PostgreSQL: `TM_PG_HOST` / `TM_PG_PORT` (127.0.0.1:55432).
    public static let postgres = TestServices(
        name: "PostgreSQL", host: environment("TM_PG_HOST", "127.0.0.1"),
        port: Int(environment("TM_PG_PORT", "55432")) ?? 55432, startScript: "scripts/start-postgres.sh")

    /// The streaming replica of the local PostgreSQL: `TM_PG_HOST` / `TM_PG_REPLICA_PORT`
    /// (127.0.0.1:55433), which `scripts/start-postgres-replica.sh` starts.
    public static let postgresReplica = TestServices(
        name: "PostgreSQL replica", host: environment("TM_PG_HOST", "127.0.0.1"),
        port: Int(environment("TM_PG_REPLICA_PORT", "55433")) ?? 55433, startScript: "scripts/start-postgres-replica.sh")

    /// The local Redis Cluster: the first of `TM_REDIS_CLUSTER_SEEDS`
    /// (127.0.0.1:47001,127.0.0.1:47002,127.0.0.1:47003), which `scripts/start-redis-cluster.sh`
    /// starts with 3 masters and 3 replicas.
    public static let redisCluster: TestServices = {
        let first = redisClusterSeeds.first ?? (host: "127.0.0.1", port: 47001)
        return TestServices(name: "Redis Cluster", host: first.host, port: first.port, startScript: "scripts/start-redis-cluster.sh")
    }()

    /// The cluster's seed nodes, from `TM_REDIS_CLUSTER_SEEDS`.
    public static var redisClusterSeeds: [(host: String, port: Int)] {
        environment("TM_REDIS_CLUSTER_SEEDS", "127.0.0.1:47001,127.0.0.1:47002,127.0.0.1:47003").split(separator: ",").compactMap { seed in
            guard let colon = seed.lastIndex(of: ":"), let port = Int(seed[seed.index(after: colon)...]) else { return nil }
            return (String(seed[..<colon]), port)
        }
    }

    /// Whether `TM_REQUIRE_SERVICES=1` is set.
    public static var servicesRequired: Bool { environment("TM_REQUIRE_SERVICES", "0") == "1" }

    /// Whether tests of this server should run: it answers, or it is required.
    public var shouldRun: Bool { Self.servicesRequired || isReachable }

    /// Why tests of this server are skipped.
    public var skipMessage: String {
        "\(name) is not reachable at \(host):\(port); start it with \(startScript) (TM_REQUIRE_SERVICES=1 turns this skip into a failure)"
    }

    /// Whether a TCP connection to the server succeeds.
    public var isReachable: Bool {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var results: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &results) == 0, let first = results else { return false }
        defer { freeaddrinfo(results) }
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                let connected = connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0
                close(fd)
                if connected { return true }
            }
            candidate = info.pointee.ai_next
        }
        return false
    }

    private static func environment(_ name: String, _ fallback: String) -> String {
        ProcessInfo.processInfo.environment[name] ?? fallback
    }
}
