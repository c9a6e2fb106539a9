import Logging
import ServiceLifecycle

/// Publishes the events a write committed but nobody confirmed publishing, oldest first, and
/// marks them — a swift-service-lifecycle `Service` that runs until shutdown.
///
/// An event becomes the relay's after ``Configuration-swift.struct/gracePeriod``, which leaves
/// the write path time to publish it itself. A batch stops at its first failure, so events of
/// one route go out in order; the next round starts again from the oldest.
public struct OutboxRelay: Service {
    /// How often and how much the relay publishes.
    public struct Configuration: Sendable, Hashable {
        /// How old an unpublished event must be before the relay takes it. Default 5 s.
        public var gracePeriod: Duration
        /// The pause between rounds. Default 1 s.
        public var interval: Duration
        /// The most events one round publishes. Default 100.
        public var batchSize: Int

        /// Creates a configuration.
        public init(gracePeriod: Duration = .seconds(5), interval: Duration = .seconds(1), batchSize: Int = 100) {
            self.gracePeriod = gracePeriod
            self.interval = interval
            self.batchSize = batchSize
        }
    }

    private let outbox: any EventOutbox
    private let publisher: any EventPublisher
    private let configuration: Configuration
    private let logger: Logger

    /// Creates a relay from `outbox` to `publisher`.
    public init(
        outbox: any EventOutbox, publisher: any EventPublisher, configuration: Configuration = .init(),
        logger: Logger = Logger(label: "TrafficManager.OutboxRelay")
    ) {
        self.outbox = outbox
        self.publisher = publisher
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = await relayOnce()
                try? await Task.sleep(for: configuration.interval)
            }
        }
    }

    /// One round: publishes and marks what is due. Returns how many events it published.
    @discardableResult
    public func relayOnce() async -> Int {
        let due: [RouteEvent]
        do {
            due = try await outbox.unpublishedEvents(olderThan: configuration.gracePeriod, limit: configuration.batchSize)
        } catch {
            logger.warning("could not read the outbox", metadata: ["error": "\(error)"])
            return 0
        }
        var published = 0
        for event in due {
            do {
                try await publisher.publish(event)
                try await outbox.markPublished([event.eventID])
                published += 1
            } catch {
                logger.warning(
                    "outbox relay could not publish; will try again",
                    metadata: ["event_id": "\(event.eventID)", "error": "\(error)"])
                break
            }
        }
        if published > 0 { logger.info("relayed unpublished events", metadata: ["count": "\(published)"]) }
        return published
    }
}
