import CoreMetrics
import Logging
import Synchronization
import TrafficManager

/// The read replicas of a ``PostgresRouteStore``: a connection pool each, and how far behind
/// the primary each is, measured.
///
/// Lag is measured from WAL positions, not replay timestamps (which grow while the primary is
/// idle): every probe interval the primary's write position is sampled with the time just before
/// it was asked, and each replica's replayed position is compared with the samples. A replica
/// that has replayed sample *s* holds every transaction that committed before *s* was taken,
/// so its answers are at most `now − s.time` old. A replica is used while that bound is under
/// ``PostgresRouteStore/Configuration-swift.struct/replicaMaxLag``; a replica that stops
/// answering, or a primary that does, stops the bound from moving, so it ages out by itself.
final class PostgresReplicaSet: Sendable {
    /// One replica.
    final class Replica: Sendable {
        let pool: PostgresConnectionPool
        let endpoint: String
        /// When (``MonotonicClock``) the newest primary position this replica has replayed was
        /// sampled; 0 before the first.
        let caughtUpTo = Atomic<Int64>(0)
        let lag: Gauge

        init(pool: PostgresConnectionPool, endpoint: String, lag: Gauge) {
            self.pool = pool
            self.endpoint = endpoint
            self.lag = lag
        }
    }

    /// A sample of the primary's WAL position.
    struct Sample: Sendable {
        var at: Int64
        var position: UInt64
    }

    /// Why a read-path lookup went where it went, for `postgres_replica_reads_total{outcome}`.
    enum Outcome: String, CaseIterable {
        /// A replica answered.
        case replica
        /// No replica was within the lag bound: the primary answered.
        case lagging
        /// The replica's answer was older than a revision the caller knew: the primary answered.
        case older
        /// The replica failed or took longer than the replica read timeout: the primary answered.
        case failed
    }

    let replicas: [Replica]
    private let primary: PostgresConnectionPool
    private let samples = Mutex<[Sample]>([])
    private let turn = Atomic<Int>(0)
    private let maxLag: Int64
    private let interval: Duration
    private let outcomes: [Outcome: Counter]
    private let logger: Logger

    /// The most samples kept: more than the lag bound's worth at the probe interval.
    private let capacity: Int

    init(configuration: PostgresRouteStore.Configuration, primary: PostgresConnectionPool, logger: Logger, metricsFactory: any MetricsFactory) {
        self.primary = primary
        self.logger = logger
        maxLag = configuration.replicaMaxLag.wholeNanoseconds
        interval = max(configuration.replicaLagProbeInterval, .milliseconds(1))
        capacity = max(16, Int(configuration.replicaMaxLag.wholeNanoseconds / max(1, interval.wholeNanoseconds)) * 2 + 8)
        let prefix = configuration.metricsPrefix
        replicas = configuration.replicas.enumerated().map { index, endpoint in
            let number = index + 1
            return Replica(
                pool: PostgresConnectionPool(
                    configuration: configuration.replica(endpoint), logger: logger, metricsFactory: metricsFactory,
                    indexBase: 1000 * number, role: "replica \(number)"),
                endpoint: PostgresRouteStore.Configuration.describe(endpoint),
                lag: Gauge(label: prefix + Self.lagMetric, dimensions: [("replica", String(number))], factory: metricsFactory))
        }
        outcomes = Dictionary(
            uniqueKeysWithValues: Outcome.allCases.map {
                ($0, Counter(label: prefix + Self.readsMetric, dimensions: [("outcome", $0.rawValue)], factory: metricsFactory))
            })
    }

    /// Each replica's measured lag in seconds, the bound on how old its answers are
    /// (`postgres_replica_lag_seconds{replica}`, replicas numbered from 1; 0 before the first
    /// measurement, when the replica is not used either).
    static let lagMetric = "postgres_replica_lag_seconds"
    /// Read-path lookups by where they were answered and why (`postgres_replica_reads_total{outcome}`).
    static let readsMetric = "postgres_replica_reads_total"

    /// How old replica `index`'s answers may be now (nanoseconds); `nil` before its first measurement.
    func staleness(_ index: Int, now: Int64 = MonotonicClock.nanoseconds()) -> Int64? {
        let caughtUp = replicas[index].caughtUpTo.load(ordering: .relaxed)
        return caughtUp == 0 ? nil : now &- caughtUp
    }

    /// A replica within the lag bound, taken in turn; `nil` when none is.
    func pick() -> Int? {
        let now = MonotonicClock.nanoseconds()
        let start = turn.add(1, ordering: .relaxed).newValue
        for step in 0..<replicas.count {
            let index = (start &+ step) % replicas.count
            if let staleness = staleness(index, now: now), staleness < maxLag { return index }
        }
        return nil
    }

    func count(_ outcome: Outcome) { outcomes[outcome]?.increment() }

    /// Hosts the replicas' connection threads and the lag probes until cancelled or shut down.
    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for replica in replicas { group.addTask { try await replica.pool.run() } }
            group.addTask { await self.samplePrimary() }
            for index in replicas.indices { group.addTask { await self.probe(index) } }
            try await group.next()
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    func close() async {
        for replica in replicas { await replica.pool.close() }
    }

    /// Samples the primary's WAL position every interval.
    private func samplePrimary() async {
        while !Task.isCancelled {
            let began = ContinuousClock.now
            let at = MonotonicClock.nanoseconds()
            do {
                let rows = try await primary.run(.prepared(.walPosition, []), deadline: began + .nanoseconds(maxLag))
                if let text = rows.rows.first?.first ?? nil, let position = UInt64(text) {
                    samples.withLock { samples in
                        samples.append(Sample(at: at, position: position))
                        if samples.count > capacity { samples.removeFirst(samples.count - capacity) }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                logger.debug("sampling the primary's WAL position failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(until: began + interval)
        }
    }

    /// Measures replica `index` every interval.
    private func probe(_ index: Int) async {
        let replica = replicas[index]
        var warned = false
        while !Task.isCancelled {
            let began = ContinuousClock.now
            do {
                let rows = try await replica.pool.run(.prepared(.replayPosition, []), deadline: began + .nanoseconds(maxLag))
                if let text = rows.rows.first?.first ?? nil, let replayed = UInt64(text) {
                    advance(replica, replayed: replayed)
                    warned = false
                } else if !warned {
                    // NULL: the server is not replaying (promoted, or never a standby). Never used.
                    logger.warning("a PostgreSQL replica is not in recovery; lookups will not use it", metadata: ["replica": "\(replica.endpoint)"])
                    warned = true
                }
            } catch is CancellationError {
                return
            } catch {
                logger.debug("measuring a replica's lag failed", metadata: ["replica": "\(replica.endpoint)", "error": "\(error)"])
            }
            let now = MonotonicClock.nanoseconds()
            let caughtUp = replica.caughtUpTo.load(ordering: .relaxed)
            replica.lag.record(Double(caughtUp == 0 ? 0 : now &- caughtUp) / 1e9)
            try? await Task.sleep(until: began + interval)
        }
    }

    /// The newest sample at or behind `replayed` is what the replica holds.
    private func advance(_ replica: Replica, replayed: UInt64) {
        let newest = samples.withLock { samples in samples.last { $0.position <= replayed }?.at }
        guard let newest else { return }
        var current = replica.caughtUpTo.load(ordering: .relaxed)
        while newest > current {
            let (exchanged, original) = replica.caughtUpTo.compareExchange(expected: current, desired: newest, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}
