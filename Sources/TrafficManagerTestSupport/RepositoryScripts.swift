import Foundation

/// The repository's root, for running its scripts: the nearest folder above this file that
/// holds `scripts/start-postgres.sh` (the benchmark package compiles this file through a link).
public let repositoryRoot: URL = {
    var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while folder.path != "/" {
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent("scripts/start-postgres.sh").path) { return folder }
        folder.deleteLastPathComponent()
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}()

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
