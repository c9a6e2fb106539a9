import Foundation
import TrafficManager

/// The behaviour every `LeaseStore` must show, timed by the real clock (a check waits for a
/// 300 ms lease to end):
///
/// ```swift
/// try await LeaseStoreContract { InMemoryRouteStore() }.run()
/// ```
///
/// Each check uses a lease of its own name, so one store can serve every check.
public struct LeaseStoreContract: Sendable {
    private let makeStore: @Sendable () async throws -> any LeaseStore

    /// Creates the contract for stores made by `makeStore`.
    public init(makeStore: @escaping @Sendable () async throws -> any LeaseStore) {
        self.makeStore = makeStore
    }

    /// Runs every check; throws ``ContractViolations`` listing each one that failed.
    public func run() async throws {
        try await runChecks(checks, contract: "LeaseStore contract")
    }

    /// The checks, by name.
    public var checks: [ContractCheck] {
        [
            check("a free lease is taken; while it lasts another holder is refused and told who has it") { store, name in
                let lease = UniqueNames.tenant("lease")
                let first = try await store.acquireLease(lease, holder: "a", duration: .seconds(30))
                try expect(first == "a", "the first taker got \(first)", check: name)
                let second = try await store.acquireLease(lease, holder: "b", duration: .seconds(30))
                try expect(second == "a", "a second holder was answered \(second)", check: name)
            },
            check("the holder renews its lease") { store, name in
                let lease = UniqueNames.tenant("lease")
                _ = try await store.acquireLease(lease, holder: "a", duration: .milliseconds(300))
                try await Task.sleep(for: .milliseconds(150))
                let renewed = try await store.acquireLease(lease, holder: "a", duration: .seconds(30))
                try expect(renewed == "a", "the renewal was answered \(renewed)", check: name)
                try await Task.sleep(for: .milliseconds(300))
                let other = try await store.acquireLease(lease, holder: "b", duration: .seconds(30))
                try expect(other == "a", "the renewed lease went to \(other) after the first term", check: name)
            },
            check("an ended lease goes to the next taker") { store, name in
                let lease = UniqueNames.tenant("lease")
                _ = try await store.acquireLease(lease, holder: "a", duration: .milliseconds(300))
                try await Task.sleep(for: .milliseconds(400))
                let next = try await store.acquireLease(lease, holder: "b", duration: .seconds(30))
                try expect(next == "b", "after the lease ended the next taker was answered \(next)", check: name)
            },
            check("a released lease is free at once; a release by another holder does nothing") { store, name in
                let lease = UniqueNames.tenant("lease")
                _ = try await store.acquireLease(lease, holder: "a", duration: .seconds(30))
                try await store.releaseLease(lease, holder: "b")
                let kept = try await store.acquireLease(lease, holder: "b", duration: .seconds(30))
                try expect(kept == "a", "a release by a non-holder freed the lease (answered \(kept))", check: name)
                try await store.releaseLease(lease, holder: "a")
                let next = try await store.acquireLease(lease, holder: "b", duration: .seconds(30))
                try expect(next == "b", "after its release the lease was answered \(next)", check: name)
            },
            check("of concurrent takers of a free lease exactly one gets it") { store, name in
                let lease = UniqueNames.tenant("lease")
                let answers = try await withThrowingTaskGroup(of: (String, String).self) { group in
                    for taker in 0..<8 {
                        group.addTask { ("r\(taker)", try await store.acquireLease(lease, holder: "r\(taker)", duration: .seconds(30))) }
                    }
                    var answers: [(String, String)] = []
                    for try await answer in group { answers.append(answer) }
                    return answers
                }
                let winners = answers.filter { $0.0 == $0.1 }
                try expect(winners.count == 1, "\(winners.count) takers were granted the lease: \(answers)", check: name)
                try expect(Set(answers.map(\.1)).count == 1, "takers were told different holders: \(answers)", check: name)
            },
            check("an empty name, an empty holder or a zero duration is invalid input") { store, name in
                for (lease, holder, duration) in [("", "a", Duration.seconds(1)), ("x", "", .seconds(1)), ("x", "a", .zero)] {
                    let error = try await expectError(check: name) { try await store.acquireLease(lease, holder: holder, duration: duration) }
                    try expect(
                        (error as? TrafficManagerError)?.code == .invalidInput,
                        "acquireLease(\(String(reflecting: lease)), \(String(reflecting: holder)), \(duration)) threw \(error)", check: name)
                }
            },
        ]
    }

    private func check(
        _ name: String, _ body: @escaping @Sendable (any LeaseStore, String) async throws -> Void
    ) -> ContractCheck {
        let makeStore = makeStore
        return ContractCheck(name: name) { try await body(makeStore(), name) }
    }
}
