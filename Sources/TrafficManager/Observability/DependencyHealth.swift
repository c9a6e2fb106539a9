import Logging
import Synchronization

/// Logs a dependency going down and coming back once per change of state, instead of once
/// per failed call: a 5 s outage under load is two lines, the second with the number of calls
/// that failed meanwhile. A long outage adds one reminder a minute.
///
/// Recovery is declared only after calls have succeeded without a failure for
/// `recoveryQuietPeriod` (1 s): while a server restarts, some connections answer and others
/// still fail, and that flapping stays one outage.
///
/// While the dependency answers, a success costs one relaxed atomic load.
final class DependencyHealth: Sendable {
    private struct Outage {
        var since: Duration
        var failedCalls: Int
        var lastReport: Duration
        /// The first success since the last failure.
        var answeringSince: Duration?
    }

    /// What the dependency is called in messages, e.g. `"route store"`.
    let name: String
    private let logger: Logger
    private let reminderInterval: Duration
    private let recoveryQuietPeriod: Duration
    private let time: any TimeSource
    private let failing = Atomic<Bool>(false)
    private let outage = Locked<Outage?>(nil)

    init(
        name: String, logger: Logger, time: any TimeSource = SystemTimeSource(), reminderInterval: Duration = .seconds(60),
        recoveryQuietPeriod: Duration = .seconds(1)
    ) {
        self.time = time
        self.recoveryQuietPeriod = recoveryQuietPeriod
        self.name = name
        self.logger = logger
        self.reminderInterval = reminderInterval
    }

    /// A call to the dependency failed with `error` while doing `operation` (e.g. `"read"`).
    func failed(_ operation: String, _ error: any Error) {
        let now = time.monotonicNow()
        enum Report { case down, stillDown(Int, Duration) }
        var recovered: Outage?
        let report = outage.withLock { outage -> Report? in
            // Answering for the quiet period before this failure: the last outage ended then,
            // and this is a new one (with little traffic no success came to say so).
            if let current = outage, let since = current.answeringSince, now - since >= recoveryQuietPeriod {
                recovered = current
                outage = nil
            }
            guard var current = outage else {
                outage = Outage(since: now, failedCalls: 1, lastReport: now)
                failing.store(true, ordering: .relaxed)
                return .down
            }
            current.failedCalls += 1
            current.answeringSince = nil
            defer { outage = current }
            guard now - current.lastReport >= reminderInterval else { return nil }
            current.lastReport = now
            return .stillDown(current.failedCalls, now - current.since)
        }
        if let recovered { logRecovery(recovered, at: now) }
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
        let now = time.monotonicNow()
        let ended = outage.withLock { outage -> Outage? in
            guard var current = outage else { return nil }
            guard let since = current.answeringSince else {
                current.answeringSince = now
                outage = current
                return recoveryQuietPeriod == .zero ? finish(&outage, current) : nil
            }
            guard now - since >= recoveryQuietPeriod else { return nil }
            return finish(&outage, current)
        }
        guard let ended else { return }
        logRecovery(ended, at: now)
    }

    private func logRecovery(_ ended: Outage, at now: Duration) {
        logger.notice(
            "\(name) answers again",
            metadata: [
                "failed_calls": "\(ended.failedCalls)",
                "outage": "\(((ended.answeringSince ?? now) - ended.since).formattedMilliseconds)",
            ])
    }

    private func finish(_ outage: inout Outage?, _ current: Outage) -> Outage {
        outage = nil
        failing.store(false, ordering: .relaxed)
        return current
    }

    /// Whether the last call failed.
    var isFailing: Bool { failing.load(ordering: .relaxed) }
}
