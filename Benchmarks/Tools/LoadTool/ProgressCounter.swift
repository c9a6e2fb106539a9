import Foundation
import Synchronization

/// Counts operations across workers and prints a progress line once a second.
final class ProgressCounter: Sendable {
    private let count = Atomic<UInt64>(0)

    func add(_ amount: UInt64) { count.add(amount, ordering: .relaxed) }

    func report(until deadline: ContinuousClock.Instant) async {
        var last: UInt64 = 0
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .seconds(1))
            let now = count.load(ordering: .relaxed)
            FileHandle.standardError.write(Data("\r  … \(now - last) ops in the last second, \(now) so far   ".utf8))
            last = now
        }
    }
}
