import Foundation
import Synchronization
import TrafficManager

/// The behaviour every `EventPublisher` and its `RouteEventSource` must show together.
///
/// `makeBus` returns a publisher and the source that reads what it publishes; each check
/// calls it once and uses consumer groups of its own.
public struct EventBusContract: Sendable {
    /// A publisher and the source that reads its events.
    public typealias Bus = (publisher: any EventPublisher, source: any RouteEventSource)

    private let makeBus: @Sendable () async throws -> Bus
    private let timeout: Duration

    /// Creates the contract; `timeout` bounds how long a check waits for a delivery.
    public init(timeout: Duration = .seconds(20), makeBus: @escaping @Sendable () async throws -> Bus) {
        self.makeBus = makeBus
        self.timeout = timeout
    }

    /// Runs every check; throws ``ContractViolations`` listing each one that failed.
    public func run() async throws {
        try await runChecks(checks, contract: "EventBus contract")
    }

    /// The checks, by name.
    public var checks: [ContractCheck] {
        let timeout = timeout
        return [
            check("published events reach a consumer intact and in order") { bus, name in
                // One route: ordering is promised per route.
                let route = try UniqueNames.route()
                let events = (1...5).map { Self.event(route: route, revision: UInt64($0)) }
                for event in events { try await bus.publisher.publish(event) }
                let seen = Recorder()
                let group = UniqueNames.tenant("g")
                let received = try await Self.consume(bus.source, group: group, until: { $0.count >= events.count }, timeout: timeout) {
                    seen.append($0)
                }
                try expect(Array(received.prefix(events.count)) == events, "received \(received.map(\.revision))", check: name)
            },
            check("an event whose handler throws is delivered again") { bus, name in
                let event = try Self.event(revision: 1)
                try await bus.publisher.publish(event)
                let attempts = Recorder()
                let received = try await Self.consume(bus.source, group: UniqueNames.tenant("g"), until: { $0.count >= 2 }, timeout: timeout) {
                    attempts.append($0)
                    if attempts.count == 1 { throw ContractFailure(check: name, message: "planned handler failure") }
                }
                try expect(received.prefix(2).allSatisfy { $0 == event }, "received \(received)", check: name)
            },
            check("an event not yet handled when its consumer stops goes to the group's next consumer") { bus, name in
                let event = try Self.event(revision: 1)
                try await bus.publisher.publish(event)
                let group = UniqueNames.tenant("g")
                let started = Recorder()
                let first = Task {
                    try await bus.source.consume(group: group) { event in
                        started.append(event)
                        try await Task.sleep(for: .seconds(3600))
                    }
                }
                try await Self.waitUntil(timeout: timeout) { started.count >= 1 }
                first.cancel()
                _ = await first.result
                let received = try await Self.consume(bus.source, group: group, until: { $0.count >= 1 }, timeout: timeout) { _ in }
                try expect(received.first == event, "the next consumer received \(received)", check: name)
            },
            check("every group sees every event") { bus, name in
                let event = try Self.event(revision: 1)
                try await bus.publisher.publish(event)
                for group in [UniqueNames.tenant("g"), UniqueNames.tenant("g")] {
                    let received = try await Self.consume(bus.source, group: group, until: { $0.count >= 1 }, timeout: timeout) { _ in }
                    try expect(received.first == event, "group \(group) received \(received)", check: name)
                }
            },
        ]
    }

    /// An event of a fresh route.
    static func event(revision: UInt64) throws -> RouteEvent {
        event(route: try UniqueNames.route(), revision: revision)
    }

    /// An event of `route`.
    static func event(route: RouteID, revision: UInt64) -> RouteEvent {
        RouteEvent(
            eventID: UUID(), action: revision == 1 ? .created : .updated, route: route,
            url: "http://chat.prod:4002/v\(revision)", revision: revision,
            occurredAt: Date(unixMilliseconds: 1_767_225_600_000 + Int64(revision)))
    }

    /// Consumes as `group` until `done` holds for the handled events, then stops the consumer.
    static func consume(
        _ source: any RouteEventSource, group: String, until done: @escaping @Sendable ([RouteEvent]) -> Bool,
        timeout: Duration, handler: @escaping @Sendable (RouteEvent) async throws -> Void
    ) async throws -> [RouteEvent] {
        let delivered = Recorder()
        let consumer = Task {
            try await source.consume(group: group) { event in
                delivered.append(event)
                try await handler(event)
            }
        }
        defer { consumer.cancel() }
        try await waitUntil(timeout: timeout) { done(delivered.events) }
        consumer.cancel()
        _ = await consumer.result
        return delivered.events
    }

    /// Polls `condition` until it holds, failing after `timeout`.
    static func waitUntil(timeout: Duration, _ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else {
                throw ContractFailure(check: "wait", message: "condition not met within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    private func check(_ name: String, _ body: @escaping @Sendable (Bus, String) async throws -> Void) -> ContractCheck {
        let makeBus = makeBus
        return ContractCheck(name: name) { try await body(makeBus(), name) }
    }
}

/// A thread-safe list of events, for handlers that run on other tasks.
final class Recorder: Sendable {
    private let list = Locked<[RouteEvent]>([])
    func append(_ event: RouteEvent) { list.withLock { $0.append(event) } }
    var events: [RouteEvent] { list.withLock { $0 } }
    var count: Int { list.withLock { $0.count } }
}
