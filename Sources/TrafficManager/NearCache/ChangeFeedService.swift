import Foundation
import Logging
import ServiceLifecycle

/// Follows a ``RouteChangeFeed`` for the manager that made it
/// (``TrafficManager/changeFeedService``): every change moves the near cache's entry to the
/// change's revision, and every proof of being caught up lets the near cache answer.
///
/// Run it in the program's `ServiceGroup`. While it is not running — or its feed cannot prove
/// it is caught up — the near cache answers only from entries younger than
/// ``NearCacheConfiguration/unprovenTTL``. When the feed fails, it is followed again after a
/// pause (100 ms, doubling to 5 s); each new start drops the near cache's entries, since what
/// was published in between is unknown.
public final class ChangeFeedService: Service, Sendable {
    private let feed: any RouteChangeFeed
    private let near: NearCache
    private let fanOut: ChangeFanOut
    private let configuration: TrafficManagerConfiguration
    private let metrics: TrafficManagerMetrics
    private let time: any TimeSource
    private let health: DependencyHealth
    private let logger: Logger

    init(
        feed: any RouteChangeFeed, near: NearCache, fanOut: ChangeFanOut, configuration: TrafficManagerConfiguration,
        metrics: TrafficManagerMetrics, time: any TimeSource, logger: Logger
    ) {
        self.feed = feed
        self.near = near
        self.fanOut = fanOut
        self.configuration = configuration
        self.metrics = metrics
        self.time = time
        self.logger = logger
        health = DependencyHealth(name: "change feed", logger: logger, time: time)
    }

    /// Follows the feed until cancelled or asked to shut down gracefully.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.reportGauges() }
            group.addTask { await self.follow() }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        fanOut.finishAll()
    }

    private func follow() async {
        var pause = Duration.milliseconds(100)
        var first = true
        while !Task.isCancelled {
            near.reset()
            // Started over: watchers may have missed changes in between.
            if !first { fanOut.resyncAll() }
            first = false
            do {
                try await feed.follow { [near, fanOut, configuration, time] element in
                    let now = time.monotonicNanoseconds()
                    switch element {
                    case .change(let event):
                        // The near cache first, so a watcher that resolves on hearing of the
                        // change gets it.
                        near.advance(event.route, to: NearCache.Entry(event, now: now, wallNow: time.wallNow(), configuration: configuration))
                        fanOut.publish(event)
                    case .caughtUp(let lag):
                        near.proven(upTo: now &- lag.wholeNanoseconds)
                    }
                }
                if Task.isCancelled { return }
                pause = .milliseconds(100)
            } catch {
                if Task.isCancelled { return }
                health.failed("follow", error)
                logger.debug("change feed failed; following it again", metadata: ["error": "\(error)", "pause": "\(pause)"])
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
        }
    }

    private func reportGauges() async {
        var evicted = 0
        while !Task.isCancelled {
            let now = time.monotonicNanoseconds()
            metrics.nearCacheEntries.record(near.count)
            let total = near.evictions
            if total > evicted { metrics.nearCacheEvictions.increment(by: Int64(total - evicted)) }
            evicted = total
            if let age = near.proofAge(at: now) {
                metrics.changeFeedLag.record(Double(age) / 1e9)
                if near.isProven(at: now) {
                    health.succeeded()
                } else {
                    health.failed(
                        "prove caught up",
                        TrafficManagerError.eventsUnavailable(
                            "the change feed has not proved it is caught up for \(Duration.nanoseconds(age)); the near cache answers only young entries"))
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }
}

extension NearCache.Entry {
    /// The entry a delivered change leaves: its URL, or not found, at its revision — or, for an
    /// event of a newer schema version whose action or URL this version may misread, a
    /// tombstone at its revision (the next resolve reads it again). Its age is the event's.
    init(_ event: RouteEvent, now: Int64, wallNow: Date, configuration: TrafficManagerConfiguration) {
        let age = max(0, Int64(wallNow.timeIntervalSince(event.occurredAt) * 1e9))
        let understood = event.writtenSchemaVersion <= RouteEvent.schemaVersion
        if understood && event.action == .deactivated {
            self.init(
                url: "", revision: event.revision,
                expiresAt: now &+ configuration.jittered(configuration.negativeTTL).wholeNanoseconds, readAt: now &- age,
                kind: .notFound)
        } else if understood && !event.url.isEmpty {
            self.init(
                url: event.url, revision: event.revision,
                expiresAt: now &+ configuration.jittered(configuration.positiveTTL).wholeNanoseconds, readAt: now &- age,
                kind: .endpoint, cost: Self.assumedCost)
        } else {
            self = .tombstone(event.revision, now: now)
        }
    }

    /// The entry a store read (begun at `readAt`) or a write leaves; `cost`: how long fetching
    /// it took, when not `now - readAt`.
    init(_ lookup: RouteLookup, now: Int64, readAt: Int64, cost: Int64? = nil, configuration: TrafficManagerConfiguration) {
        let micros = UInt16(clamping: max(0, (cost ?? (now &- readAt)) / 1_000))
        if let url = lookup.url {
            self.init(
                url: url, revision: lookup.revision,
                expiresAt: now &+ configuration.jittered(configuration.positiveTTL).wholeNanoseconds, readAt: readAt, kind: .endpoint,
                cost: micros)
        } else {
            self.init(
                url: "", revision: lookup.revision,
                expiresAt: now &+ configuration.jittered(configuration.negativeTTL).wholeNanoseconds, readAt: readAt, kind: .notFound,
                cost: micros)
        }
    }

    /// The fetch cost assumed for an answer that was not fetched (a delivered change, an own
    /// write), so that early refresh still works for it: a shared-cache read's order, 1 ms.
    static let assumedCost: UInt16 = 1_000

    /// A tombstone at `revision`: never served, it refuses older fills.
    static func tombstone(_ revision: UInt64, now: Int64) -> Self {
        Self(url: "", revision: revision, expiresAt: now, readAt: now, kind: .tombstone)
    }
}
