import Synchronization

/// What a ``LoadRun`` saw: the longest call, the failures by kind, and the successes.
public struct LoadResult<Kind: Hashable & Sendable>: Sendable {
    /// The longest single call.
    public var longest: Duration = .zero
    /// Failed calls, by what `classify` made of their error.
    public var failed: [Kind: Int] = [:]
    /// Calls that returned.
    public var succeeded = 0

    /// Every failed call.
    public var failures: Int { failed.values.reduce(0, +) }
}

/// Calls an operation from many tasks in a loop, for fault tests that check every call's
/// duration while a fault comes and goes.
public enum LoadRun {
    /// Runs `operation` from `callers` tasks until `during` has returned and `duration` more has
    /// passed; returns the longest call and the outcomes.
    public static func run<Kind: Hashable & Sendable>(
        callers: Int, for duration: Duration, classify: @escaping @Sendable (any Error) -> Kind,
        operation: @escaping @Sendable () async throws -> Void, during: @Sendable () async throws -> Void
    ) async throws -> LoadResult<Kind> {
        let stop = StopSignal()
        return try await withThrowingTaskGroup(of: LoadResult<Kind>.self) { group in
            for _ in 0..<callers {
                group.addTask {
                    var result = LoadResult<Kind>()
                    while !stop.isSet {
                        let start = ContinuousClock.now
                        do {
                            try await operation()
                            result.succeeded += 1
                        } catch {
                            result.failed[classify(error), default: 0] += 1
                        }
                        result.longest = max(result.longest, start.duration(to: .now))
                    }
                    return result
                }
            }
            try await during()
            try await Task.sleep(for: duration)
            stop.set()
            return try await group.reduce(into: LoadResult<Kind>()) { total, one in
                total.longest = max(total.longest, one.longest)
                total.failed.merge(one.failed, uniquingKeysWith: +)
                total.succeeded += one.succeeded
            }
        }
    }

    private final class StopSignal: Sendable {
        private let flag = Atomic(false)
        var isSet: Bool { flag.load(ordering: .relaxed) }
        func set() { flag.store(true, ordering: .relaxed) }
    }
}
