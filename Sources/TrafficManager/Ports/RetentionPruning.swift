import Foundation

/// What a ``RetentionService`` asks a store to delete.
public struct RetentionCutoffs: Hashable, Sendable {
    /// Published route events that occurred before this are deleted; unpublished ones never.
    public var publishedEventsBefore: Date
    /// Audit entries recorded before this are deleted; `nil` keeps the audit log whole.
    public var auditEntriesBefore: Date?

    /// Creates a set of cut-offs.
    public init(publishedEventsBefore: Date, auditEntriesBefore: Date? = nil) {
        self.publishedEventsBefore = publishedEventsBefore
        self.auditEntriesBefore = auditEntriesBefore
    }
}

/// How many rows one pruning pass deleted, of each kind.
public struct PrunedRows: Hashable, Sendable {
    /// Idempotency keys past their retention.
    public var idempotencyKeys: Int
    /// Published route events older than the event window.
    public var events: Int
    /// Audit entries older than the audit window.
    public var auditEntries: Int

    /// Creates a count.
    public init(idempotencyKeys: Int = 0, events: Int = 0, auditEntries: Int = 0) {
        self.idempotencyKeys = idempotencyKeys
        self.events = events
        self.auditEntries = auditEntries
    }

    /// Rows deleted in all.
    public var total: Int { idempotencyKeys + events + auditEntries }
}

/// A store whose bookkeeping rows — idempotency keys, published events, audit entries — can
/// be pruned by a ``RetentionService``.
public protocol RetentionPruning: Sendable {
    /// Deletes at most `limit` rows of each kind: idempotency keys whose retention has passed,
    /// published events that occurred before `cutoffs.publishedEventsBefore`, and audit entries
    /// recorded before `cutoffs.auditEntriesBefore` when it is set. Routes are never touched.
    func prune(_ cutoffs: RetentionCutoffs, limit: Int) async throws -> PrunedRows
}
