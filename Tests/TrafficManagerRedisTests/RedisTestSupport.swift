import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TrafficManager
import TrafficManagerTestKit
@testable import TrafficManagerRedis

/// A cache on the test Redis, under a key prefix of its own.
func makeTestCache(connections: Int = 1, port: Int = TestServices.redis.port) -> RedisRouteCache {
    RedisRouteCache(
        configuration: .init(
            endpoint: .tcp(host: TestServices.redis.host, port: port), connectionCount: connections,
            keyPrefix: "tm:test:\(UUID().uuidString.prefix(8)):"))
}

/// The repository's root, for running its scripts.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Runs one of the repository's scripts with extra environment, returning its exit status.
///
/// It spawns and reaps the child itself: the scripts start daemons, and waiting through
/// Foundation's `Process` was seen to miss the script's exit.
@discardableResult
func runScript(_ path: String, environment: [String: String]) throws -> Int32 {
    let script = repositoryRoot.appendingPathComponent(path).path
    let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0)=\($1)" }
    let arguments = ["/bin/bash", script]
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

let redisSkip = Comment(rawValue: TestServices.redis.skipMessage)
