import Foundation
import Testing
import TrafficManager
import TrafficManagerTestKit
import TrafficManagerTestSupport

/// The `tmctl` binary built beside this test bundle, run as a script would run it.
struct Tmctl {
    /// Settings every run gets: the local test servers, a schema and Redis database of the test's own.
    var environment: [String: String]

    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("tmctl")
    }

    /// A tool bound to a fresh schema (`tmctl migrate` not yet run) and Redis database `redisDatabase`.
    init(redisDatabase: Int = 0) {
        var environment = ProcessInfo.processInfo.environment
        environment["TM_PG_HOST"] = TestServices.postgres.host
        environment["TM_PG_PORT"] = "\(TestServices.postgres.port)"
        environment["TM_PG_DATABASE"] = environment["TM_PG_DATABASE"] ?? "trafficmanager_test"
        environment["TM_PG_PASSWORD"] = environment["TM_PG_PASSWORD"] ?? "tm"
        environment["TM_PG_USER"] = environment["TM_PG_USER"] ?? "tm"
        environment["TM_PG_SCHEMA"] = "tmctl_\(UUID().uuidString.prefix(8).lowercased())"
        environment["TM_REDIS_HOST"] = TestServices.redis.host
        environment["TM_REDIS_PORT"] = "\(TestServices.redis.port)"
        environment["TM_REDIS_DATABASE"] = "\(redisDatabase)"
        environment["TM_KAFKA_BOOTSTRAP"] = nil
        environment["TM_LOG_LEVEL"] = nil
        self.environment = environment
    }

    var schema: String { environment["TM_PG_SCHEMA"]! }

    /// Runs `tmctl arguments…` to its end (at most `timeout`) and returns what it printed.
    @discardableResult
    func run(_ arguments: [String], input: String? = nil, environment extra: [String: String?] = [:], timeout: Duration = .seconds(60))
        async throws -> Outcome
    {
        let process = try start(arguments, input: input, environment: extra)
        return try await process.finish(within: timeout)
    }

    /// Runs `tmctl migrate` and fails the test, with what the tool printed, unless it succeeded.
    func migrate(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let outcome = try await run(["migrate"])
        try #require(outcome.status == 0, "tmctl migrate failed: \(outcome)", sourceLocation: sourceLocation)
    }

    /// Starts `tmctl arguments…` and returns at once.
    func start(_ arguments: [String], input: String? = nil, environment extra: [String: String?] = [:]) throws -> RunningTool {
        var environment = environment
        for (name, value) in extra { environment[name] = value }
        return try RunningTool(executable: Self.executable, arguments: arguments, environment: environment, input: input)
    }

    /// An exit status and the two streams.
    struct Outcome: CustomStringConvertible {
        var status: Int32
        var output: String
        var errors: String
        var description: String { "exit \(status)\nstdout:\n\(output)\nstderr:\n\(errors)" }
        var lines: [String] { output.split(separator: "\n").map(String.init) }
    }
}

/// A running `tmctl` whose output is collected as it comes.
final class RunningTool: Sendable {
    private let process: Process
    private let output = Locked(Data())
    private let errors = Locked(Data())
    private let exited = Locked<(done: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init(executable: URL, arguments: [String], environment: [String: String], input: String?) throws {
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        let (outPipe, errPipe, inPipe) = (Pipe(), Pipe(), Pipe())
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        let (output, errors, exited) = (output, errors, exited)
        // Two reader threads drain the pipes until end of file; the run counts as over once the
        // process exited and both pipes are drained.
        let over = DispatchGroup()
        for (pipe, buffer) in [(outPipe, output), (errPipe, errors)] {
            over.enter()
            let reader = Thread {
                while true {
                    let data = pipe.fileHandleForReading.availableData
                    if data.isEmpty { break }
                    buffer.withLock { $0.append(data) }
                }
                over.leave()
            }
            reader.start()
        }
        over.enter()
        process.terminationHandler = { _ in over.leave() }
        over.notify(queue: .global()) {
            let waiters = exited.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.done = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try? inPipe.fileHandleForWriting.close()
    }

    var standardOutput: String { String(decoding: output.withLock { $0 }, as: UTF8.self) }
    var standardError: String { String(decoding: errors.withLock { $0 }, as: UTF8.self) }

    /// Sends `signal` (SIGTERM by default).
    func signal(_ signal: Int32 = SIGTERM) { kill(process.processIdentifier, signal) }

    /// Waits until standard error or output contains `text`, at most `timeout`.
    func waitFor(_ text: String, timeout: Duration = .seconds(30)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if standardError.contains(text) || standardOutput.contains(text) { return true }
            if exited.withLock({ $0.done }) { return standardError.contains(text) || standardOutput.contains(text) }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Waits for the exit, killing the process after `timeout`.
    func finish(within timeout: Duration) async throws -> Tmctl.Outcome {
        let watchdog = Task { [process] in
            try await Task.sleep(for: timeout)
            process.interrupt()
            try await Task.sleep(for: .seconds(2))
            kill(process.processIdentifier, SIGKILL)
        }
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = exited.withLock { state -> Bool in
                if state.done { return true }
                state.waiters.append(waiter)
                return false
            }
            if done { waiter.resume() }
        }
        watchdog.cancel()
        return Tmctl.Outcome(status: process.terminationStatus, output: standardOutput, errors: standardError)
    }
}

/// A file in the temporary directory holding `text`.
func temporaryFile(_ text: String, suffix: String = ".yaml") throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tmctl-\(UUID().uuidString)\(suffix)").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The repository's `Examples/Topologies` file `name`.
func topologyFile(_ name: String) -> String {
    repositoryRoot.appendingPathComponent("Examples/Topologies/\(name)").path
}

/// Empties Redis database `database` of the test server, so a test's routes start uncached.
func flushRedis(database: Int) async throws {
    let tool = try RunningTool(
        executable: URL(fileURLWithPath: "/usr/bin/redis-cli"),
        arguments: ["-h", TestServices.redis.host, "-p", "\(TestServices.redis.port)", "-n", "\(database)", "FLUSHDB"],
        environment: ProcessInfo.processInfo.environment, input: nil)
    let outcome = try await tool.finish(within: .seconds(10))
    guard outcome.status == 0 else { throw TrafficManagerError.cacheUnavailable("redis-cli FLUSHDB failed: \(outcome)") }
}
