import Foundation
import TrafficManager

/// The behaviour every `RouteChangeFeed` must show:
///
/// ```swift
/// let bus = InMemoryEventBus()
/// try await ChangeFeedContract { (feed: bus, publish: { try await bus.publish($0) }) }.run()
/// ```
///
/// Each check follows a feed of its own and publishes events of routes of its own, so one
/// event system can serve every check.
public struct ChangeFeedContract: Sendable {
    /// A feed and a way to publish to what it follows.
    public typealias Setup = (feed: any RouteChangeFeed, publish: @Sendable (RouteEvent) async throws -> Void)

    private let makeFeed: @Sendable () async throws -> Setup
    private let patience: Duration

    /// Creates the contract for feeds made by `makeFeed`; `patience` bounds each wait (a broker
    /// may take seconds to assign partitions).
    public init(patience: Duration = .seconds(30), makeFeed: @escaping @Sendable () async throws -> Setup) {
        self.makeFeed = makeFeed
        self.patience = patience
    }

    /// Runs every check; throws ``ContractViolations`` listing each one that failed.
    public func run() async throws {
        try await runChecks(checks, contract: "RouteChangeFeed contract")
    }

    /// The checks, by name.
    public var checks: [ContractCheck] {
        let patience = patience
        return [
            check("a follower proves it is caught up, then gets every change published after, in order per route") { setup, name in
                let record = Record()
                let following = Task { try await setup.feed.follow(record.observe) }
                defer { following.cancel() }
                let marked = try await eventually(timeout: patience) { record.marks > 0 }
                try expect(marked, "no caught-up mark came", check: name)
                let (a, b) = try (UniqueNames.route(), UniqueNames.route())
                let events = [(a, 1), (b, 1), (a, 2), (a, 3), (b, 2)].map { route, revision in
                    RouteEvent(
                        eventID: UUID(), action: revision == 1 ? .created : .updated, route: route, url: "http://s:\(revision)",
                        revision: UInt64(revision), occurredAt: Date())
                }
                for event in events { try await setup.publish(event) }
                let ids = Set(events.map(\.eventID))
                let arrived = try await eventually(timeout: patience) { Set(record.changes.map(\.eventID)).isSuperset(of: ids) }
                try expect(arrived, "got \(record.changes.count) of \(events.count) changes", check: name)
                for route in [a, b] {
                    let revisions = record.changes.filter { $0.route == route }.map(\.revision)
                    try expect(revisions == revisions.sorted(), "\(route) arrived as \(revisions)", check: name)
                }
                let marks = record.marks
                let markedAgain = try await eventually(timeout: patience) { record.marks > marks }
                try expect(markedAgain, "no mark after the changes", check: name)
            },
            check("a cancelled follow returns") { setup, name in
                let following = Task { try await setup.feed.follow { _ in } }
                try await Task.sleep(for: .milliseconds(200))
                following.cancel()
                let started = ContinuousClock.now
                _ = await following.result
                try expect(started.duration(to: .now) < patience, "follow took \(started.duration(to: .now)) to return", check: name)
            },
        ]
    }

    private func check(_ name: String, _ body: @escaping @Sendable (Setup, String) async throws -> Void) -> ContractCheck {
        let makeFeed = makeFeed
        return ContractCheck(name: name) { try await body(makeFeed(), name) }
    }

    private final class Record: Sendable {
        private let state = Locked<(changes: [RouteEvent], marks: Int)>(([], 0))
        func observe(_ element: RouteChangeFeedElement) {
            state.withLock { state in
                switch element {
                case .change(let event): state.changes.append(event)
                case .caughtUp: state.marks += 1
                }
            }
        }
        var changes: [RouteEvent] { state.withLock { $0.changes } }
        var marks: Int { state.withLock { $0.marks } }
    }
}
