import Foundation
import Logging
import ServiceLifecycle

/// Deletes the rows a store keeps only for a while — expired idempotency keys, published
/// route events past the event window, and optionally audit entries past the audit window — in
/// bounded batches, as a swift-service-lifecycle `Service` that runs until shutdown.
///
/// The event window is a promise to readers of `route_events`: a watcher that resumes from a
/// position inside the window misses nothing; one older than the window must resync from the
/// current routes. Events not yet published are never pruned, so the outbox relay loses
/// nothing.
public struct RetentionService: Service {
    /// How long rows are kept and how often the service prunes.
    public struct Configuration: Sendable, Hashable {
        /// How long a published route event is kept. Default 7 days.
        public var eventRetention: Duration
        /// How long an audit entry is kept; `nil` (the default) keeps the audit log whole.
        public var auditRetention: Duration?
        /// The pause between passes. Default 10 minutes.
        public var interval: Duration
        /// The most rows of each kind one statement deletes; a pass repeats until a batch comes
        /// back short. Default 1,000.
        public var batchSize: Int

        /// Creates a configuration.
        public init(
            eventRetention: Duration = .seconds(7 * 86_400), auditRetention: Duration? = nil,
            interval: Duration = .seconds(600), batchSize: Int = 1_000
        ) {
            self.eventRetention = eventRetention
            self.auditRetention = auditRetention
            self.interval = interval
            self.batchSize = batchSize
        }
    }

    private let target: any RetentionPruning
    private let configuration: Configuration
    private let time: any TimeSource
    private let logger: Logger

    /// Creates a service pruning `target`.
    public init(
        target: any RetentionPruning, configuration: Configuration = .init(), time: any TimeSource = SystemTimeSource(),
        logger: Logger = Logger(label: "TrafficManager.Retention")
    ) {
        self.target = target
        self.configuration = configuration
        self.time = time
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    _ = try await pruneOnce()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("retention pass failed; the next pass tries again", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: configuration.interval)
            }
        }
    }

    /// One pass: batches until every kind is pruned up to its cut-off.
    ///
    /// - Returns: the rows deleted.
    public func pruneOnce() async throws -> PrunedRows {
        let now = time.wallNow()
        let cutoffs = RetentionCutoffs(
            publishedEventsBefore: now.addingTimeInterval(-configuration.eventRetention.timeInterval),
            auditEntriesBefore: configuration.auditRetention.map { now.addingTimeInterval(-$0.timeInterval) })
        let limit = max(1, configuration.batchSize)
        var total = PrunedRows()
        while true {
            try Task.checkCancellation()
            let batch = try await target.prune(cutoffs, limit: limit)
            total.idempotencyKeys += batch.idempotencyKeys
            total.events += batch.events
            total.auditEntries += batch.auditEntries
            if max(batch.idempotencyKeys, batch.events, batch.auditEntries) < limit { break }
        }
        if total.total > 0 {
            logger.info(
                "pruned retained rows",
                metadata: [
                    "idempotency_keys": "\(total.idempotencyKeys)", "events": "\(total.events)",
                    "audit_entries": "\(total.auditEntries)",
                ])
        }
        return total
    }
}
