/// Records every route event in an ``AuditLog``. The log ignores an event id it has
/// already recorded, so redelivery adds nothing.
public struct AuditConsumer: RouteEventHandler {
    private let log: any AuditLog

    /// Creates a consumer writing to `log`.
    public init(log: any AuditLog) {
        self.log = log
    }

    public func handle(_ event: RouteEvent) async throws {
        try await log.record(event)
    }
}
