import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle

/// Publishes the events a write committed but nobody confirmed publishing, oldest first, and
/// marks them — a swift-service-lifecycle `Service` that runs until shutdown.
///
/// An event becomes the relay's after ``Configuration-swift.struct/gracePeriod``, which leaves
/// the write path time to publish it itself. A batch stops at its first failure, so events of
/// one route go out in order; the next round starts again from the oldest.
///
/// With a ``Lease``, relays of several processes take turns: each round first takes or renews
/// the lease, and only its holder publishes. The holder stops publishing once less than
/// ``Lease/publishBound`` of the lease is left by its own clock (measured from when it asked),
/// so two relays never publish side by side as long as one publish takes less than that bound.
/// On shutdown the holder releases the lease and a standby takes over at its next round.
public struct OutboxRelay: Service {
    /// The lease relays of several processes share; see ``OutboxRelay``.
    public struct Lease: Sendable {
        /// Where the lease lives: normally the route store, which every relay reaches anyway.
        public var store: any LeaseStore
        /// The lease's name. Default `outbox-relay`.
        public var name: String
        /// This relay's name, unique among the relays (host name and process id, say).
        public var holder: String
        /// How long one take or renewal lasts. Default 30 s; renewed every round.
        public var duration: Duration
        /// How much of the lease must be left for a publish to start: more than one publish
        /// may take (the publisher's delivery timeout, 10 s for Kafka). Default 15 s.
        public var publishBound: Duration

        /// Creates a lease setting.
        public init(
            store: any LeaseStore, name: String = "outbox-relay", holder: String, duration: Duration = .seconds(30),
            publishBound: Duration = .seconds(15)
        ) {
            self.store = store
            self.name = name
            self.holder = holder
            self.duration = duration
            self.publishBound = publishBound
        }
    }

    /// How often and how much the relay publishes.
    public struct Configuration: Sendable, Hashable {
        /// How old an unpublished event must be before the relay takes it. Default 5 s.
        public var gracePeriod: Duration
        /// The pause between rounds. Default 1 s.
        public var interval: Duration
        /// The most events one round publishes. Default 100.
        public var batchSize: Int
        /// Put before the relay's metric name. Default ``TrafficManagerMetrics/defaultPrefix``.
        public var metricsPrefix: String

        /// Creates a configuration.
        public init(
            gracePeriod: Duration = .seconds(5), interval: Duration = .seconds(1), batchSize: Int = 100,
            metricsPrefix: String = TrafficManagerMetrics.defaultPrefix
        ) {
            self.metricsPrefix = metricsPrefix
            self.gracePeriod = gracePeriod
            self.interval = interval
            self.batchSize = batchSize
        }
    }

    private let outbox: any EventOutbox
    private let publisher: any EventPublisher
    private let configuration: Configuration
    private let lease: Lease?
    private let time: any TimeSource
    private let leaseState = Locked(LeaseState())
    private let backlogAge: Gauge
    private let logger: Logger

    /// The relay's metric name, after the prefix: how old the oldest unpublished event was
    /// when a round began, in seconds (0 when none was waiting). Recorded by the relay that
    /// publishes (the lease holder).
    public static let backlogAgeMetric = "outbox_backlog_age_seconds"

    private struct LeaseState {
        /// The holder seen last, to log each change of holder once.
        var lastHolder: String?
    }

    /// Creates a relay from `outbox` to `publisher`.
    ///
    /// - Parameters:
    ///   - outbox: where unpublished events wait.
    ///   - publisher: what publishes them.
    ///   - configuration: how often and how much the relay publishes.
    ///   - lease: when set, the relay publishes only while it holds this lease.
    ///   - time: the clock the lease and the backlog's age are measured by.
    ///   - logger: where the relay logs.
    ///   - metricsFactory: where ``backlogAgeMetric`` goes.
    public init(
        outbox: any EventOutbox, publisher: any EventPublisher, configuration: Configuration = .init(), lease: Lease? = nil,
        time: any TimeSource = SystemTimeSource(), logger: Logger = Logger(label: "TrafficManager.OutboxRelay"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        backlogAge = Gauge(label: configuration.metricsPrefix + Self.backlogAgeMetric, dimensions: [], factory: metricsFactory)
        self.outbox = outbox
        self.publisher = publisher
        self.configuration = configuration
        self.lease = lease
        self.time = time
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = await relayOnce()
                try? await Task.sleep(for: configuration.interval)
            }
        }
        await releaseLease()
    }

    /// Gives up the lease, if this relay holds one, so a standby need not wait for it to end.
    public func releaseLease() async {
        guard let lease else { return }
        do {
            try await lease.store.releaseLease(lease.name, holder: lease.holder)
        } catch {
            logger.warning(
                "could not release the relay lease; another relay takes it when it ends",
                metadata: ["lease": "\(lease.name)", "error": "\(error)"])
        }
    }

    /// Takes or renews the lease: until when this relay may start a publish, by `time`'s
    /// monotonic clock; `nil` when another relay holds it or the store did not answer.
    private func holdLease(_ lease: Lease) async -> Duration? {
        let asked = time.monotonicNow()
        let holder: String
        do {
            holder = try await lease.store.acquireLease(lease.name, holder: lease.holder, duration: lease.duration)
        } catch {
            logger.warning("could not take the relay lease; not publishing this round", metadata: ["lease": "\(lease.name)", "error": "\(error)"])
            return nil
        }
        let changed = leaseState.withLock { state -> Bool in
            defer { state.lastHolder = holder }
            return state.lastHolder != holder
        }
        if changed {
            if holder == lease.holder {
                logger.info("holding the relay lease; publishing", metadata: ["lease": "\(lease.name)", "holder": "\(holder)"])
            } else {
                logger.info("another relay holds the lease; standing by", metadata: ["lease": "\(lease.name)", "holder": "\(holder)"])
            }
        }
        return holder == lease.holder ? asked + lease.duration - lease.publishBound : nil
    }

    /// One round: publishes and marks what is due. Returns how many events it published.
    @discardableResult
    public func relayOnce() async -> Int {
        var publishUntil: Duration?
        if let lease {
            guard let until = await holdLease(lease) else { return 0 }
            publishUntil = until
        }
        let due: [RouteEvent]
        do {
            let oldest = try await outbox.unpublishedEvents(olderThan: .zero, limit: 1).first
            backlogAge.record(oldest.map { max(0, time.wallNow().timeIntervalSince($0.occurredAt)) } ?? 0)
            due = try await outbox.unpublishedEvents(olderThan: configuration.gracePeriod, limit: configuration.batchSize)
        } catch {
            logger.warning("could not read the outbox", metadata: ["error": "\(error)"])
            return 0
        }
        var published = 0
        for event in due {
            if let publishUntil, time.monotonicNow() >= publishUntil {
                logger.info("the relay lease is running out; the rest waits for the next round", metadata: ["left": "\(due.count - published)"])
                break
            }
            do {
                try await publisher.publish(event)
                try await outbox.markPublished([event.eventID])
                published += 1
            } catch {
                logger.warning(
                    "outbox relay could not publish; will try again",
                    metadata: ["event_id": "\(event.eventID)", "error": "\(error)"])
                break
            }
        }
        if published > 0 { logger.info("relayed unpublished events", metadata: ["count": "\(published)"]) }
        return published
    }
}
