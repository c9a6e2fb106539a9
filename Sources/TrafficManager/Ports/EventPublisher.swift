/// Publishes route events to consumers after a write commits.
public protocol EventPublisher: Sendable {
    /// Publishes `event` and returns once the event system has accepted it.
    ///
    /// - Throws: ``TrafficManagerError/Code/eventsUnavailable`` when it was not accepted in time.
    func publish(_ event: RouteEvent) async throws
}
