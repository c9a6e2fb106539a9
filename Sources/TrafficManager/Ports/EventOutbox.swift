import Foundation

/// The `route_events` rows every write records in its transaction, seen as an
/// outbox: an event stays unpublished until an ``EventPublisher`` confirmed it.
///
/// ``OutboxPublisher`` marks events as they are confirmed; ``OutboxRelay`` publishes the ones
/// still unmarked after a grace period — the broker was down, or the process died between
/// commit and publish — so no committed change is lost.
public protocol EventOutbox: Sendable {
    /// Marks the events as published. Marking one twice changes nothing.
    func markPublished(_ eventIDs: [UUID]) async throws

    /// Events not yet marked published that were recorded at least `age` ago, oldest first.
    func unpublishedEvents(olderThan age: Duration, limit: Int) async throws -> [RouteEvent]
}
