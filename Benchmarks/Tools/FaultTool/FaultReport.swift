import Foundation
import Synchronization
import TrafficManager

/// One row of the reliability report.
struct FaultRow {
    var fault: String
    var load: String
    var errors: String
    var longest: Duration
    var logLines: Int
    var lost: String
    var notes: String

    var markdown: String {
        "| \(fault) | \(load) | \(errors) | \(longest.milliseconds) | \(logLines) | \(lost) | \(notes) |"
    }

    static let header = """
        | Fault | Load held | Errors callers saw (code: count) | Longest call (ms) | Log lines ≥ info | Lost | Notes |
        |---|---|---|---|---|---|---|
        """
}

/// What callers saw during a run: calls answered, errors by code, wrong answers, the longest call.
final class CallerTally: Sendable {
    private struct State {
        var succeeded = 0
        var wrong = 0
        var errors: [String: Int] = [:]
        var longest: Duration = .zero
    }

    private let state = Mutex(State())

    func record(_ started: ContinuousClock.Instant, _ outcome: Result<Bool, any Error>) {
        let elapsed = started.duration(to: .now)
        state.withLock { state in
            state.longest = max(state.longest, elapsed)
            switch outcome {
            case .success(true): state.succeeded += 1
            case .success(false): state.wrong += 1
            case .failure(let error):
                let code = (error as? TrafficManagerError)?.code.description ?? String(describing: type(of: error))
                state.errors[code, default: 0] += 1
            }
        }
    }

    var succeeded: Int { state.withLock { $0.succeeded } }
    var wrong: Int { state.withLock { $0.wrong } }
    var longest: Duration { state.withLock { $0.longest } }
    var errorSummary: String {
        let errors = state.withLock { $0.errors }
        guard !errors.isEmpty else { return "none" }
        return errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    }
}

/// Runs `callers` tasks calling `operation` until `stop` is set.
func runCallers(
    _ callers: Int, tally: CallerTally, stop: StopFlag, operation: @escaping @Sendable (Int) async throws -> Bool
) -> Task<Void, Never> {
    Task {
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    var round = 0
                    while !stop.isSet {
                        let started = ContinuousClock.now
                        do {
                            tally.record(started, .success(try await operation(caller &+ round)))
                        } catch {
                            tally.record(started, .failure(error))
                        }
                        round &+= callers
                    }
                }
            }
        }
    }
}

extension Duration {
    var milliseconds: String {
        let (seconds, attoseconds) = components
        return String(format: "%.0f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }
    var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// Tells callers to stop.
final class StopFlag: Sendable {
    private let flag = Atomic(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// Runs SQL with `psql` against the test database; rows as fields split on `|`.
func psql(_ sql: String) throws -> [[String]] {
    let env = ProcessInfo.processInfo.environment
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
        "psql", "-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", env["TM_PG_HOST"] ?? "127.0.0.1",
        "-p", env["TM_PG_PORT"] ?? "55432", "-U", env["TM_PG_USER"] ?? "tm", "-d", env["TM_PG_DATABASE"] ?? "trafficmanager_test",
        "-c", sql,
    ]
    process.environment = env.merging(["PGPASSWORD": env["TM_PG_PASSWORD"] ?? "tm"]) { $1 }
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw Failure("psql failed: \(sql.prefix(80))") }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
}
