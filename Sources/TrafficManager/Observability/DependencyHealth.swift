import Logging
import Synchronization

/// Logs a dependency going down and coming back once per change of state, instead of once
/// per failed call: a 5 s outage under load is two lines, the second with the number of calls
/// that failed meanwhile. A long outage adds one reminder a minute.
///
/// While the dependency answers, a success costs one relaxed atomic load.
final class DependencyHealth: Sendable {
    private struct Outage {
        var since: ContinuousClock.Instant
        var failedCalls: Int
        var lastReport: ContinuousClock.Instant
    }

    /// What the dependency is called in messages, e.g. `"route store"`.
    let name: String
    private let logger: Logger
    private let reminderInterval: Duration
    private let failing = Atomic<Bool>(false)
    private let outage = Locked<Outage?>(nil)

    init(name: String, logger: Logger, reminderInterval: Duration = .seconds(60)) {
        self.name = name
        self.logger = logger
        self.reminderInterval = reminderInterval
    }

    /// A call to the dependency failed with `error` while doing `operation` (e.g. `"read"`).
    func failed(_ operation: String, _ error: any Error) {
        let now = ContinuousClock.now
        enum Report { case down, stillDown(Int, Duration) }
        let report = outage.withLock { outage -> Report? in
            guard var current = outage else {
                outage = Outage(since: now, failedCalls: 1, lastReport: now)
                failing.store(true, ordering: .relaxed)
                return .down
            }
            current.failedCalls += 1
            defer { outage = current }
            guard now - current.lastReport >= reminderInterval else { return nil }
            current.lastReport = now
            return .stillDown(current.failedCalls, now - current.since)
        }
        switch report {
        case .down?:
            logger.error(
                "\(name) is failing; further failures are counted, not logged, until it answers again",
                metadata: ["operation": "\(operation)", "error": "\(error)"])
        case .stillDown(let calls, let elapsed)?:
            logger.error(
                "\(name) is still failing",
                metadata: [
                    "failed_calls": "\(calls)", "for": "\(elapsed.formattedMilliseconds)", "operation": "\(operation)",
                    "error": "\(error)",
                ])
        case nil:
            break
        }
    }

    /// A call to the dependency succeeded.
    func succeeded() {
        guard failing.load(ordering: .relaxed) else { return }
        let ended = outage.withLock { outage -> Outage? in
            defer { outage = nil }
            failing.store(false, ordering: .relaxed)
            return outage
        }
        guard let ended else { return }
        logger.notice(
            "\(name) answers again",
            metadata: [
                "failed_calls": "\(ended.failedCalls)",
                "outage": "\(ended.since.duration(to: .now).formattedMilliseconds)",
            ])
    }

    /// Whether the last call failed.
    var isFailing: Bool { failing.load(ordering: .relaxed) }
}
