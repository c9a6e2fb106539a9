import TrafficManager

/// An `AuditLog` in the `audit_log` table (migration 2), on the connections of a
/// ``PostgresRouteStore``. An event id is recorded once; redelivery adds nothing.
public struct PostgresAuditLog: AuditLog {
    private let store: PostgresRouteStore

    /// Creates an audit log in `store`'s database; run ``PostgresRouteStore/migrate()`` first.
    public init(store: PostgresRouteStore) {
        self.store = store
    }

    public func record(_ event: RouteEvent) async throws {
        try await store.recordAudit(event)
    }

    /// The recorded events' ids, oldest first; for tests and tools.
    func recordedEventIDs() async throws -> [String] {
        try await store.execute("SELECT event_id FROM audit_log ORDER BY recorded_at, event_id").rows.compactMap { $0.first ?? nil }
    }
}
