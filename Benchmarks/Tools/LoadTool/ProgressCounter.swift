import Foundation
import Synchronization

/// Counts operations and errors across workers and prints a progress line once a second — or,
/// as a timeline, one line per second with that second's operations, errors and slowest call.
final class ProgressCounter: Sendable {
    private let count = Atomic<UInt64>(0)
    private let errors = Atomic<UInt64>(0)
    private let slowest = Atomic<UInt64>(0)
    private let timeline: Bool

    init(timeline: Bool = false) { self.timeline = timeline }

    func add(_ amount: UInt64) { count.add(amount, ordering: .relaxed) }

    func addError() { errors.add(1, ordering: .relaxed) }

    /// Keeps the slowest call of the current second (nanoseconds); only a timeline asks.
    func recordSlowest(_ nanoseconds: UInt64) {
        guard timeline else { return }
        var seen = slowest.load(ordering: .relaxed)
        while nanoseconds > seen {
            let (exchanged, original) = slowest.compareExchange(expected: seen, desired: nanoseconds, ordering: .relaxed)
            if exchanged { return }
            seen = original
        }
    }

    func report(until deadline: ContinuousClock.Instant) async {
        var last: UInt64 = 0
        var lastErrors: UInt64 = 0
        var second = 0
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .seconds(1))
            second += 1
            let now = count.load(ordering: .relaxed)
            let failed = errors.load(ordering: .relaxed)
            if timeline {
                let worst = Double(slowest.exchange(0, ordering: .relaxed)) / 1_000_000
                FileHandle.standardError.write(
                    Data(String(format: "t=%d ops=%llu errors=%llu slowest_ms=%.1f\n", second, now - last, failed - lastErrors, worst).utf8))
            } else {
                FileHandle.standardError.write(Data("\r  … \(now - last) ops in the last second, \(now) so far   ".utf8))
            }
            last = now
            lastErrors = failed
        }
    }
}
