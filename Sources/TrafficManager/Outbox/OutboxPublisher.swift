import Foundation
import Logging

/// An ``EventPublisher`` that marks each event published in the ``EventOutbox`` once the inner
/// publisher confirmed it. Events it could not publish stay unmarked for the ``OutboxRelay``.
///
/// A write waits for its event's acknowledgement at most ``publishWait``: past it the write
/// returns (the publish counts as failed for it), while the publish runs on and, when it is
/// acknowledged, still marks the event; if it never is, the relay publishes it.
public struct OutboxPublisher: EventPublisher {
    private let publisher: any EventPublisher
    private let outbox: any EventOutbox
    private let logger: Logger
    /// How long a write waits for its event's acknowledgement. Default 500 ms.
    public let publishWait: Duration

    /// Creates a publisher that publishes through `publisher` and marks in `outbox`.
    public init(
        publisher: any EventPublisher, outbox: any EventOutbox, publishWait: Duration = .milliseconds(500),
        logger: Logger = Logger(label: "TrafficManager.Outbox")
    ) {
        self.publisher = publisher
        self.outbox = outbox
        self.publishWait = publishWait
        self.logger = logger
    }

    /// Publishes `event` and marks it in the outbox; waits at most ``publishWait``.
    ///
    /// - Throws: ``TrafficManagerError/Code/eventsUnavailable`` when the event was refused or
    ///   not acknowledged within ``publishWait`` (it stays in the outbox until it is).
    public func publish(_ event: RouteEvent) async throws {
        let wait = publishWait
        try await Shielded.run(
            waitingAtMost: wait,
            timeout: {
                TrafficManagerError.eventsUnavailable(
                    "event \(event.eventID) was not acknowledged within \(wait.formattedMilliseconds); it is marked when it is")
            }
        ) { [self] in try await publishAndMark(event) }
    }

    /// Publishes `events` as one batch through the inner publisher and marks those it
    /// acknowledged in one call; no ``publishWait`` (no write waits on a batch).
    public func publish(contentsOf events: [RouteEvent]) async -> [Result<Void, any Error>] {
        let results = await publisher.publish(contentsOf: events)
        let acknowledged = zip(events, results).compactMap { event, result -> UUID? in
            if case .success = result { return event.eventID }
            return nil
        }
        if !acknowledged.isEmpty {
            do {
                try await outbox.markPublished(acknowledged)
            } catch {
                logger.warning("published events not marked in the outbox", metadata: ["count": "\(acknowledged.count)", "error": "\(error)"])
            }
        }
        return results
    }

    private func publishAndMark(_ event: RouteEvent) async throws {
        try await publisher.publish(event)
        do {
            try await outbox.markPublished([event.eventID])
        } catch {
            // The event is out; the relay may publish it once more, which consumers tolerate.
            logger.warning(
                "published event not marked in the outbox", metadata: ["event_id": "\(event.eventID)", "error": "\(error)"])
        }
    }
}
