/// Where a reader of the store's change history stands (``RouteStore/changes(after:limit:)``).
///
/// Opaque and store-defined: keep it and give it back. Positions follow an order in which no
/// change can appear behind one already handed out, so resuming after a position never misses
/// a change. On PostgreSQL a position is the writing transaction's id and the event's row id,
/// handed out only once every older transaction has finished: a `bigserial` alone does not
/// follow commit order, since a transaction that commits late can hold a lower id.
public struct ChangePosition: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The store's encoding of the position.
    public let token: String

    /// A position from its token (as ``token`` gave it).
    public init(token: String) { self.token = token }

    public var description: String { token }
}

/// A change read from the store's history, with the position to resume after.
public struct PositionedChange: Hashable, Sendable {
    /// Resume after this to get the changes that follow.
    public var position: ChangePosition
    /// The change.
    public var event: RouteEvent

    /// Creates a positioned change.
    public init(position: ChangePosition, event: RouteEvent) {
        self.position = position
        self.event = event
    }
}

/// One page of the store's change history.
public struct ChangePage: Hashable, Sendable {
    /// The changes after the position asked for, in position order.
    public var changes: [PositionedChange]
    /// The position asked for is older than the history the store keeps (its retention window
    /// pruned changes after it): ``changes`` is empty, since a partial history would mislead.
    /// Read again what you track, then go on after ``head``.
    public var resync: Bool
    /// The newest position the store can hand out now; `nil` when it has no changes.
    public var head: ChangePosition?

    /// Creates a page.
    public init(changes: [PositionedChange], resync: Bool = false, head: ChangePosition? = nil) {
        self.changes = changes
        self.resync = resync
        self.head = head
    }
}
