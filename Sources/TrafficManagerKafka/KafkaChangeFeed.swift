import CRdKafka
import CoreMetrics
import Dispatch
import Foundation
import Logging
import TrafficManager

/// Every route change from Kafka, for the near cache and watches: a `RouteChangeFeed` that
/// reads **every** partition of ``KafkaConfiguration/topic`` itself.
///
/// Partitions are assigned by hand (`rd_kafka_assign`) from their end: no consumer group is
/// joined and no offset is committed — a group would hand each instance only some partitions.
///
/// Proof of being caught up comes from watermark probes: every ``probeInterval`` a thread of its
/// own asks the brokers for each partition's high watermark (`rd_kafka_query_watermark_offsets`,
/// at most ``probeTimeout`` each). Once the consumer's position in every partition reaches the
/// watermarks of a probe begun at instant *t*, every change published before *t* has been
/// delivered, and the feed reports `RouteChangeFeedElement/caughtUp(lag:)` with the time since
/// *t*. With a broker down or its path frozen the probes fail or time out, no proof comes, and
/// the near cache stops answering from memory once its `maxLag` has passed.
///
/// `follow` throws when the topic's partitions cannot be learned, when the partition count
/// changes (a new partition would not be read), or when a position is lost
/// (`auto.offset.reset` is `error`, so a reset is reported, not skipped): following again
/// starts afresh, and `ChangeFeedService` drops what the near cache held.
///
/// librdkafka blocks, so the consumer and the probes run on threads of their own, never on a
/// Swift concurrency thread. Cancelling `follow` stops both; it returns within
/// ``shutdownTimeout`` whatever the broker does.
public final class KafkaChangeFeed: RouteChangeFeed {
    private let configuration: KafkaConfiguration
    /// How often the brokers' high watermarks are probed.
    public let probeInterval: Duration
    /// How long one partition's probe may take.
    public let probeTimeout: Duration
    /// How long a cancelled `follow` may take to return.
    public let shutdownTimeout: Duration
    private let undecodable: Counter
    private let deadLetters: @Sendable (UndecodableEvent) -> Void
    private let logger: Logger

    /// Creates a feed of ``KafkaConfiguration/topic``.
    ///
    /// - Parameters:
    ///   - configuration: the brokers and topic.
    ///   - probeInterval: how often to probe the high watermarks. Default 100 ms; it bounds
    ///     how fresh a proof can be, so keep it well under the near cache's `maxLag`.
    ///   - probeTimeout: how long one partition's probe may take. Default 500 ms.
    ///   - shutdownTimeout: how long a cancelled `follow` may take to return. Default 5 s.
    ///   - deadLetters: gets each message that is not a readable route event (counted in
    ///     `event_undecodable_total` with `reader=change_feed`); `nil` logs the first of each kind.
    ///   - logger: where the feed logs.
    ///   - metricsFactory: where the counter goes.
    public init(
        configuration: KafkaConfiguration, probeInterval: Duration = .milliseconds(100), probeTimeout: Duration = .milliseconds(500),
        shutdownTimeout: Duration = .seconds(5), deadLetters: (@Sendable (UndecodableEvent) -> Void)? = nil,
        logger: Logger = Logger(label: "TrafficManager.KafkaChangeFeed"), metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.deadLetters = deadLetters ?? DeadLetterLog.oncePerKind(logger)
        self.configuration = configuration
        self.probeInterval = probeInterval
        self.probeTimeout = probeTimeout
        self.shutdownTimeout = shutdownTimeout
        self.logger = logger
        undecodable = Counter(
            label: configuration.metricsPrefix + "event_undecodable_total", dimensions: [("reader", "change_feed")], factory: metricsFactory)
    }

    public func follow(_ observe: @escaping @Sendable (RouteChangeFeedElement) -> Void) async throws {
        var properties: [(String, String)] = [
            ("bootstrap.servers", configuration.bootstrapServers),
            ("client.id", configuration.clientID),
            ("log_level", "3"),
            ("enable.partition.eof", "true"),
            // Changes should arrive within milliseconds: an idle fetch returns after 10 ms.
            ("fetch.wait.max.ms", "10"),
        ]
        properties += configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        // Never joined (partitions are assigned by hand) and never committed to; librdkafka
        // wants a group id for a consumer all the same.
        properties += [
            ("group.id", "tm-change-feed-\(UUID().uuidString.lowercased())"), ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"), ("auto.offset.reset", "error"),
        ]
        let handle = FeedHandle(pointer: try KafkaHandle.make(RD_KAFKA_CONSUMER, properties: properties))
        rd_kafka_poll_set_consumer(handle.pointer)
        let loop = FeedLoop(
            handle: handle, topic: configuration.topic, observe: observe, probeInterval: probeInterval, probeTimeout: probeTimeout,
            undecodable: undecodable, deadLetters: deadLetters, logger: logger)
        let finished = Completion()
        let thread = Thread {
            let outcome = loop.run()
            finished.fire(outcome)
        }
        thread.name = "tm-kafka-change-feed"
        thread.start()
        let timeout = shutdownTimeout
        let outcome = await withTaskCancellationHandler {
            await finished.wait()
        } onCancel: {
            loop.stop()
            Task {
                try? await Task.sleep(for: timeout + .milliseconds(250))
                finished.fire(nil)
            }
        }
        try Task.checkCancellation()
        if let failure = outcome ?? nil { throw failure }
    }
}

/// Fires once with the loop's failure (`nil`: none), by the thread or the shutdown timeout.
private final class Completion: Sendable {
    private let state = Locked<(fired: Bool, outcome: (any Error)??, waiter: CheckedContinuation<(any Error)??, Never>?)>((false, nil, nil))

    func fire(_ failure: (any Error)?) {
        let waiter = state.withLock { state -> CheckedContinuation<(any Error)??, Never>? in
            guard !state.fired else { return nil }
            state.fired = true
            state.outcome = .some(failure)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .some(failure))
    }

    func wait() async -> (any Error)?? {
        await withCheckedContinuation { (waiter: CheckedContinuation<(any Error)??, Never>) in
            let ready = state.withLock { state -> (any Error)??? in
                if state.fired { return .some(state.outcome) }
                state.waiter = waiter
                return nil
            }
            if let ready { waiter.resume(returning: ready) }
        }
    }
}

// Unchecked sendability is safe: created by follow(), then used only by the FeedLoop's two
// threads — librdkafka's handle is thread-safe — and destroyed by the consumer thread after
// the probe thread has stopped.
private struct FeedHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// The consumer thread (poll, deliver, check proofs) and the probe thread.
private final class FeedLoop: Sendable {
    private struct Probe {
        var started: ContinuousClock.Instant
        var highs: [Int32: Int64]
    }

    private struct State {
        var stopped = false
        /// Each partition's next offset to deliver, once known.
        var positions: [Int32: Int64] = [:]
        /// Probes not yet reached, oldest first.
        var probes: [Probe] = []
        var partitionCount = 0
        var partitionsChanged = false
    }

    private let handle: FeedHandle
    private let topic: String
    private let observe: @Sendable (RouteChangeFeedElement) -> Void
    private let probeInterval: Duration
    private let probeTimeout: Duration
    private let undecodable: Counter
    private let deadLetters: @Sendable (UndecodableEvent) -> Void
    private let logger: Logger
    private let state = Locked(State())
    private let probing = DispatchSemaphore(value: 0)

    init(
        handle: FeedHandle, topic: String, observe: @escaping @Sendable (RouteChangeFeedElement) -> Void, probeInterval: Duration,
        probeTimeout: Duration, undecodable: Counter, deadLetters: @escaping @Sendable (UndecodableEvent) -> Void, logger: Logger
    ) {
        self.handle = handle
        self.topic = topic
        self.observe = observe
        self.probeInterval = probeInterval
        self.probeTimeout = probeTimeout
        self.undecodable = undecodable
        self.deadLetters = deadLetters
        self.logger = logger
    }

    func stop() { state.withLock { $0.stopped = true } }

    private var stopped: Bool { state.withLock { $0.stopped } }

    /// Assigns every partition, then delivers until stopped or failed; frees the handle.
    /// Returns the failure, if any.
    func run() -> (any Error)? {
        defer { rd_kafka_destroy_flags(handle.pointer, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE) }
        let count: Int
        switch partitionCount(timeout: .seconds(5)) {
        case .success(let found): count = found
        case .failure(let error): return error
        }
        guard let list = rd_kafka_topic_partition_list_new(Int32(count)) else {
            return TrafficManagerError.eventsUnavailable("librdkafka could not allocate a partition list")
        }
        for partition in 0..<Int32(count) {
            rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = Int64(RD_KAFKA_OFFSET_END)
        }
        let assigned = rd_kafka_assign(handle.pointer, list)
        rd_kafka_topic_partition_list_destroy(list)
        guard assigned == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return TrafficManagerError.eventsUnavailable("could not assign the partitions of \(topic): \(KafkaHandle.describe(assigned))")
        }
        state.withLock { $0.partitionCount = count }
        let prober = Thread { [self] in
            probe()
            probing.signal()
        }
        prober.name = "tm-kafka-change-feed-probe"
        prober.start()
        defer {
            stop()
            probing.wait()
            rd_kafka_assign(handle.pointer, nil)
        }
        return consume()
    }

    private func consume() -> (any Error)? {
        while true {
            let (stopped, changed) = state.withLock { ($0.stopped, $0.partitionsChanged) }
            if stopped { return nil }
            if changed {
                return TrafficManagerError.eventsUnavailable("the partition count of \(topic) changed; following it again")
            }
            guard let message = rd_kafka_consumer_poll(handle.pointer, 50) else {
                checkProofs()
                continue
            }
            defer { rd_kafka_message_destroy(message) }
            let partition = message.pointee.partition
            let error = message.pointee.err
            if error == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                state.withLock { $0.positions[partition] = message.pointee.offset }
            } else if error == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || error == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE {
                return TrafficManagerError.eventsUnavailable(
                    "the change feed lost its position in \(topic)[\(partition)]: \(KafkaHandle.describe(error))")
            } else if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.debug("Kafka change feed error", metadata: ["error": "\(KafkaHandle.describe(error))"])
            } else {
                deliver(message)
                state.withLock { $0.positions[partition] = message.pointee.offset + 1 }
            }
            checkProofs()
        }
    }

    private func deliver(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let origin = "\(topic)[\(message.pointee.partition)]@\(message.pointee.offset)"
        guard let payload = message.pointee.payload, message.pointee.len > 0 else {
            undecodable.increment()
            deadLetters(
                UndecodableEvent(
                    payload: Data(), error: RouteEventDecodingError(kind: "empty message", detail: "the message has no value"), origin: origin))
            return
        }
        let data = Data(bytes: payload, count: message.pointee.len)
        do throws(RouteEventDecodingError) {
            observe(.change(try RouteEvent.decode(data)))
        } catch {
            undecodable.increment()
            deadLetters(UndecodableEvent(payload: data, error: error, origin: origin))
        }
    }

    /// Reports the newest probe every partition's position has reached, and drops it and the
    /// older ones.
    private func checkProofs() {
        let reached = state.withLock { state -> ContinuousClock.Instant? in
            var newest: Int?
            for (index, probe) in state.probes.enumerated()
            where probe.highs.allSatisfy({ partition, high in (state.positions[partition] ?? -1) >= high }) {
                newest = index
            }
            guard let newest else { return nil }
            defer { state.probes.removeFirst(newest + 1) }
            return state.probes[newest].started
        }
        if let reached { observe(.caughtUp(lag: reached.duration(to: .now))) }
    }

    /// Probes every partition's high watermark each interval until stopped.
    private func probe() {
        let timeout = Int32(clamping: probeTimeout.wholeMilliseconds)
        var rounds = 0
        while !stopped {
            let started = ContinuousClock.now
            let count = state.withLock { $0.partitionCount }
            var highs: [Int32: Int64] = [:]
            for partition in 0..<Int32(count) {
                if stopped { return }
                var low: Int64 = 0
                var high: Int64 = 0
                guard rd_kafka_query_watermark_offsets(handle.pointer, topic, partition, &low, &high, timeout) == RD_KAFKA_RESP_ERR_NO_ERROR
                else { break }
                highs[partition] = high
            }
            if highs.count == count {
                state.withLock { state in
                    state.probes.append(Probe(started: started, highs: highs))
                    if state.probes.count > 16 { state.probes.removeFirst() }
                }
            }
            // A partition added later would not be read: look for one every 50 rounds.
            rounds += 1
            if rounds % 50 == 0, case .success(let now) = partitionCount(timeout: probeTimeout), now != count {
                state.withLock { $0.partitionsChanged = true }
            }
            let next = started + probeInterval
            while !stopped && ContinuousClock.now < next { usleep(10_000) }
        }
    }

    /// The topic's partition count, from the brokers' metadata.
    private func partitionCount(timeout: Duration) -> Result<Int, any Error> {
        guard let topicHandle = rd_kafka_topic_new(handle.pointer, topic, nil) else {
            return .failure(TrafficManagerError.eventsUnavailable("librdkafka could not make a handle for \(topic)"))
        }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        let error = rd_kafka_metadata(handle.pointer, 0, topicHandle, &metadata, Int32(clamping: timeout.wholeMilliseconds))
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(TrafficManagerError.eventsUnavailable("could not read the metadata of \(topic): \(KafkaHandle.describe(error))"))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt == 1, metadata.pointee.topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR,
            metadata.pointee.topics[0].partition_cnt > 0
        else {
            let topicError = metadata.pointee.topic_cnt == 1 ? KafkaHandle.describe(metadata.pointee.topics[0].err) : "not found"
            return .failure(TrafficManagerError.eventsUnavailable("the topic \(topic) has no readable partitions: \(topicError)"))
        }
        return .success(Int(metadata.pointee.topics[0].partition_cnt))
    }
}
