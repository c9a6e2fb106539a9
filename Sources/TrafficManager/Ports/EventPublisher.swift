/// Publishes route events to consumers after a write commits.
public protocol EventPublisher: Sendable {
    /// Publishes `event` and returns once the event system has accepted it.
    ///
    /// - Throws: ``TrafficManagerError/eventsUnavailable(_:)`` when it was not accepted in time.
    func publish(_ event: RouteEvent) async throws
}
