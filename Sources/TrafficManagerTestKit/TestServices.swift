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

/// The repository's root, for running its scripts.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Runs one of the repository's scripts with extra environment, returning its exit status.
///
/// It spawns and reaps the child itself: the scripts start daemons, and waiting through
/// Foundation's `Process` was seen to miss the script's exit.
@discardableResult
public func runScript(_ path: String, environment: [String: String], arguments extra: [String] = []) throws -> Int32 {
    let script = repositoryRoot.appendingPathComponent(path).path
    let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
    let arguments = ["/bin/bash", script] + extra
    var argv = arguments.map { strdup($0) } + [nil]
    var envp = variables.map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var pid = pid_t()
    let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, &argv, &envp)
    guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return (status >> 8) & 0xff
}
