/// A durable record of every route change, written by ``AuditConsumer``.
public protocol AuditLog: Sendable {
    /// Records `event`. Recording the same event (same id) again changes nothing.
    func record(_ event: RouteEvent) async throws
}
