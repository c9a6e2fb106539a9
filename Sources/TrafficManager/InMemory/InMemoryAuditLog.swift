import Foundation
import Synchronization

/// An ``AuditLog`` in process memory: one entry per event id, in the order first recorded.
public final class InMemoryAuditLog: AuditLog {
    private struct State {
        var entries: [RouteEvent] = []
        var seen: Set<UUID> = []
    }

    private let state = Locked(State())
    /// Faults to inject into ``record(_:)``.
    public let faults = FaultInjector()

    /// Creates an empty log.
    public init() {}

    public func record(_ event: RouteEvent) async throws {
        try await faults.check("record")
        state.withLock { state in
            guard state.seen.insert(event.eventID).inserted else { return }
            state.entries.append(event)
        }
    }

    /// The recorded events, oldest first.
    public var entries: [RouteEvent] { state.withLock { $0.entries } }
}
