import Logging
import ServiceLifecycle

/// Runs a ``RouteEventHandler`` over a ``RouteEventSource`` as a swift-service-lifecycle
/// `Service`: it consumes until graceful shutdown or cancellation.
public struct EventConsumerService: Service {
    private let source: any RouteEventSource
    private let group: String
    private let handler: any RouteEventHandler
    private let logger: Logger

    /// Creates a service consuming `source` as `group`, handing each event to `handler`.
    public init(
        source: any RouteEventSource, group: String, handler: any RouteEventHandler,
        logger: Logger = Logger(label: "TrafficManager.Consumer")
    ) {
        self.source = source
        self.group = group
        self.handler = handler
        self.logger = logger
    }

    public func run() async throws {
        let handler = handler
        let logger = logger
        let group = group
        do {
            try await cancelWhenGracefulShutdown {
                try await source.consume(group: group) { event in
                    do {
                        try await handler.handle(event)
                    } catch {
                        logger.warning(
                            "route event handler failed; the event will be delivered again",
                            metadata: ["group": "\(group)", "event_id": "\(event.eventID)", "error": "\(error)"])
                        throw error
                    }
                }
            }
        } catch is CancellationError {
            logger.debug("consumer stopped", metadata: ["group": "\(group)"])
        }
    }
}
