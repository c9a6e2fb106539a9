import Logging

/// An ``EventPublisher`` that marks each event published in the ``EventOutbox`` once the inner
/// publisher confirmed it. Events it could not publish stay unmarked for the ``OutboxRelay``.
public struct OutboxPublisher: EventPublisher {
    private let publisher: any EventPublisher
    private let outbox: any EventOutbox
    private let logger: Logger

    /// Creates a publisher that publishes through `publisher` and marks in `outbox`.
    public init(publisher: any EventPublisher, outbox: any EventOutbox, logger: Logger = Logger(label: "TrafficManager.Outbox")) {
        self.publisher = publisher
        self.outbox = outbox
        self.logger = logger
    }

    public func publish(_ event: RouteEvent) async throws {
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
