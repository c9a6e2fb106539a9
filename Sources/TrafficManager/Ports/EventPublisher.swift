/// Publishes route events to consumers after a write commits.
public protocol EventPublisher: Sendable {
    /// Publishes `event` and returns once the event system has accepted it.
    ///
    /// - Throws: ``TrafficManagerError/Code/eventsUnavailable`` when it was not accepted in time.
    func publish(_ event: RouteEvent) async throws

    /// Publishes `events` together and returns once each was accepted or failed: one result
    /// per event, in the order given.
    ///
    /// Events of one route go out in the order given. An event that failed may be published
    /// again later, after newer events of its route — consumers compare revisions, so that
    /// does no harm. The default publishes the events one at a time with ``publish(_:)`` and
    /// stops at the first failure (the rest fail unattempted, so order holds); event systems
    /// that batch (Kafka) queue them all at once.
    func publish(contentsOf events: [RouteEvent]) async -> [Result<Void, any Error>]
}

extension EventPublisher {
    public func publish(contentsOf events: [RouteEvent]) async -> [Result<Void, any Error>] {
        var results: [Result<Void, any Error>] = []
        results.reserveCapacity(events.count)
        for event in events {
            do {
                try await publish(event)
                results.append(.success(()))
            } catch {
                results.append(.failure(error))
                let skipped = TrafficManagerError.eventsUnavailable("not published: an earlier event of the batch failed")
                results += Array(repeating: .failure(skipped), count: events.count - results.count)
                break
            }
        }
        return results
    }
}
