import CRdKafka
import CoreMetrics
import Dispatch
import Foundation
import Logging
import Tracing
import TrafficManager

/// Delivers route events from Kafka to a handler, at least once, as a consumer group member.
///
/// Each ``consume(group:handler:)`` call runs one consumer on a thread of its own (librdkafka's
/// poll blocks). It takes messages in batches and hands their events to the handler in order,
/// one task per batch. A message's offset is stored only after the handler returned, and
/// stored offsets are committed every ``commitInterval``, when a partition is revoked and when
/// the consumer leaves. A handler that throws gets the same event again after
/// ``redeliveryDelay``; an event whose offset was not committed goes to the group's next
/// consumer — so after a rebalance or a crash an event may be handled twice, and a route's older
/// event after its newer one: handlers compare revisions (`CacheInvalidationConsumer` does).
///
/// Reading is tolerant (see `RouteEvent`): unknown fields are ignored and an event of a newer
/// schema version that carries the route and revision is delivered. A message that still
/// cannot be read is counted in `event_undecodable_total`, handed to the dead-letter handler
/// and committed, so it never stalls its partition; the default handler logs the first message
/// of each kind of failure (`RouteEventDecodingError/kind`) and counts the rest.
///
/// Cancelling `consume` stops the consumer: it leaves the group (`rd_kafka_consumer_close_queue`,
/// served by its thread) and returns within ``shutdownTimeout`` however the broker behaves —
/// down or frozen. A consumer that could not leave in time is destroyed without leaving; the
/// group then reassigns its partitions after its session times out.
public final class KafkaEventSource: RouteEventSource {
    private let configuration: KafkaConfiguration
    /// How long to wait before handing a failed event to the handler again.
    public let redeliveryDelay: Duration
    /// How long a cancelled `consume` may take to leave the group before it returns anyway.
    public let shutdownTimeout: Duration
    /// How often handled events' offsets are committed (`auto.commit.interval.ms`); a consumer
    /// that dies without leaving its group hands at most this much of its work to be delivered
    /// again.
    public let commitInterval: Duration
    private let undecodable: Counter
    private let deadLetters: @Sendable (UndecodableEvent) async -> Void
    private let logger: Logger
    private let metricsFactory: any MetricsFactory

    /// The consumer-lag metric's name, after ``KafkaConfiguration/metricsPrefix``: messages of
    /// the topic not yet handled by this consumer, summed over its partitions (the partition's
    /// high watermark as last fetched, less the next offset to handle), with dimension `group`.
    /// 0 once the consumer reached the end of every partition it reads.
    public static let consumerLagMetric = "event_consumer_lag_messages"

    /// Creates a source reading ``KafkaConfiguration/topic``.
    ///
    /// - Parameters:
    ///   - configuration: the brokers and topic.
    ///   - redeliveryDelay: how long to wait before handing a failed event to the handler again.
    ///   - shutdownTimeout: how long a cancelled `consume` may take to leave its group.
    ///   - commitInterval: how often handled events' offsets are committed.
    ///   - deadLetters: gets each message that is not a readable route event, after it
    ///     is counted and before its offset is committed; `nil` logs the first of each kind.
    ///   - logger: where the consumer logs.
    ///   - metricsFactory: where `event_undecodable_total` goes.
    public init(
        configuration: KafkaConfiguration, redeliveryDelay: Duration = .milliseconds(500), shutdownTimeout: Duration = .seconds(5),
        commitInterval: Duration = .seconds(1),
        deadLetters: (@Sendable (UndecodableEvent) async -> Void)? = nil,
        logger: Logger = Logger(label: "TrafficManager.Kafka"), metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        let logOnce = DeadLetterLog.oncePerKind(logger)
        self.deadLetters = deadLetters ?? { letter in logOnce(letter) }
        self.configuration = configuration
        self.redeliveryDelay = redeliveryDelay
        self.shutdownTimeout = shutdownTimeout
        self.commitInterval = commitInterval
        self.logger = logger
        self.metricsFactory = metricsFactory
        undecodable = Counter(label: configuration.metricsPrefix + "event_undecodable_total", dimensions: [], factory: metricsFactory)
    }

    public func consume(group: String, handler: @escaping @Sendable (RouteEvent) async throws -> Void) async throws {
        var properties: [(String, String)] = [
            ("bootstrap.servers", configuration.bootstrapServers),
            ("client.id", configuration.clientID),
            ("auto.offset.reset", "earliest"),
            ("log_level", "3"),
            // No ~40 ms Nagle/delayed-ACK stalls on fetches and commits.
            ("socket.nagle.disable", "true"),
            // The end of a partition is reported, so the lag gauge reaches 0 when caught up.
            ("enable.partition.eof", "true"),
        ]
        properties += configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        // Offsets are stored only for handled events and committed by librdkafka in the
        // background, on revocation and on leaving: at least once, without a broker round trip
        // per event.
        properties += [
            ("group.id", group), ("enable.auto.commit", "true"), ("enable.auto.offset.store", "false"),
            ("auto.commit.interval.ms", String(max(1, commitInterval.wholeMilliseconds))),
        ]
        let consumer = ConsumerHandle(pointer: try KafkaHandle.make(RD_KAFKA_CONSUMER, properties: properties))
        rd_kafka_poll_set_consumer(consumer.pointer)
        guard let topics = rd_kafka_topic_partition_list_new(1) else {
            rd_kafka_destroy(consumer.pointer)
            throw TrafficManagerError.eventsUnavailable("librdkafka could not allocate a topic list")
        }
        rd_kafka_topic_partition_list_add(topics, configuration.topic, RD_KAFKA_PARTITION_UA)
        let subscribed = rd_kafka_subscribe(consumer.pointer, topics)
        rd_kafka_topic_partition_list_destroy(topics)
        guard subscribed == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_destroy(consumer.pointer)
            throw TrafficManagerError.eventsUnavailable("could not subscribe to \(configuration.topic): \(KafkaHandle.describe(subscribed))")
        }

        let loop = ConsumerLoop(
            consumer: consumer, group: group, handler: handler, redeliveryDelay: redeliveryDelay, undecodable: undecodable,
            deadLetters: deadLetters, topic: configuration.topic,
            closeTimeout: shutdownTimeout, tracer: TrafficManagerTracing.activeTracer(),
            lag: Gauge(label: configuration.metricsPrefix + Self.consumerLagMetric, dimensions: [("group", group)], factory: metricsFactory),
            logger: logger)
        let finished = Finish()
        let thread = Thread {
            loop.run()
            finished.fire()
        }
        thread.name = "tm-kafka-consumer"
        thread.start()
        let (timeout, logger) = (shutdownTimeout, logger)
        await withTaskCancellationHandler {
            await finished.wait()
        } onCancel: {
            loop.stop()
            // The thread leaves the group within the timeout; should librdkafka hold it longer
            // (a commit to a frozen broker), the caller goes on and the thread frees the handle
            // when it is back.
            Task {
                try? await Task.sleep(for: timeout + .milliseconds(250))
                if finished.fire() {
                    logger.warning("Kafka consumer still closing after the shutdown timeout; returning without it", metadata: ["group": "\(group)"])
                }
            }
        }
        try Task.checkCancellation()
    }
}

/// Fires once, by the consumer thread or by the shutdown timeout, whichever comes first.
private final class Finish: Sendable {
    private let state = Locked<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Resumes the waiter; `true` when this call fired it.
    @discardableResult func fire() -> Bool {
        let (first, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.fired else { return (false, nil) }
            state.fired = true
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        return first
    }

    func wait() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiter = waiter
                return false
            }
            if now { waiter.resume() }
        }
    }
}

/// The librdkafka consumer handle, used only by its consumer thread.
// Unchecked sendability is safe: created by consume(), then used and destroyed only by the one ConsumerLoop thread.
private struct ConsumerHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// One consumer's poll-handle-commit loop, on its own thread.
private final class ConsumerLoop: Sendable {
    private struct State {
        var stopped = false
        var running: Task<Void, Never>?
        /// Each partition's lag as last seen.
        var lag: [Int32: Int64] = [:]
    }

    private let consumer: ConsumerHandle
    private let group: String
    private let handler: @Sendable (RouteEvent) async throws -> Void
    private let redeliveryDelay: Duration
    private let undecodable: Counter
    private let deadLetters: @Sendable (UndecodableEvent) async -> Void
    private let topic: String
    private let closeTimeout: Duration
    private let tracer: (any Tracer)?
    private let lagGauge: Gauge
    private let logger: Logger
    private let state = Locked(State())

    init(
        consumer: ConsumerHandle, group: String, handler: @escaping @Sendable (RouteEvent) async throws -> Void,
        redeliveryDelay: Duration, undecodable: Counter, deadLetters: @escaping @Sendable (UndecodableEvent) async -> Void,
        topic: String, closeTimeout: Duration, tracer: (any Tracer)?, lag: Gauge, logger: Logger
    ) {
        self.tracer = tracer
        self.lagGauge = lag
        self.closeTimeout = closeTimeout
        self.consumer = consumer
        self.group = group
        self.handler = handler
        self.redeliveryDelay = redeliveryDelay
        self.undecodable = undecodable
        self.deadLetters = deadLetters
        self.topic = topic
        self.logger = logger
    }

    /// Stops the loop; a handler running now is cancelled and its event left uncommitted.
    func stop() {
        let running = state.withLock { state -> Task<Void, Never>? in
            state.stopped = true
            return state.running
        }
        running?.cancel()
    }

    private var stopped: Bool { state.withLock { $0.stopped } }

    func run() {
        var messages: [UnsafeMutablePointer<rd_kafka_message_t>] = []
        messages.reserveCapacity(Self.batchLimit)
        while !stopped {
            // The first message waits (at most 100 ms), the rest of the batch is what is there
            // already. Not rd_kafka_consume_batch_queue: in librdkafka 2.0 it may lose or
            // repeat messages when a rebalance runs beside it (fixed in 2.1), and it waits for
            // a full batch or its timeout.
            guard let first = rd_kafka_consumer_poll(consumer.pointer, 100) else { continue }
            messages.append(first)
            while messages.count < Self.batchLimit, let next = rd_kafka_consumer_poll(consumer.pointer, 0) {
                messages.append(next)
            }
            let finished = consume(messages)
            for message in messages { rd_kafka_message_destroy(message) }
            messages.removeAll(keepingCapacity: true)
            if !finished { break }
        }
        close()
    }

    /// The most messages taken from librdkafka at once.
    private static let batchLimit = 512

    /// Hands one batch to the handler, in order; `false` when the loop was stopped first.
    ///
    /// Consecutive readable events go to the handler in one task (one thread hand-off per run
    /// of events, not per event); their offsets are stored once the run is handled, and
    /// librdkafka commits stored offsets in the background, when a partition is revoked and
    /// when the consumer leaves.
    private func consume(_ messages: [UnsafeMutablePointer<rd_kafka_message_t>]) -> Bool {
        var run: [(event: RouteEvent, message: UnsafeMutablePointer<rd_kafka_message_t>)] = []
        func handleRun() -> Bool {
            defer { run.removeAll(keepingCapacity: true) }
            let handled = handle(run)
            store(run.prefix(handled).map { ($0.message.pointee.partition, $0.message.pointee.offset) })
            return handled == run.count
        }
        for message in messages {
            let error = message.pointee.err
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                if error == RD_KAFKA_RESP_ERR__PARTITION_EOF {
                    guard handleRun() else { return false }
                    recordLag(partition: message.pointee.partition, lag: 0)
                } else {
                    logger.debug("Kafka consumer error", metadata: ["group": "\(group)", "error": "\(KafkaHandle.describe(error))"])
                }
                continue
            }
            switch decode(message) {
            case .success(let event):
                run.append((event, message))
            case .failure(let letter):
                guard handleRun(), !stopped else { return false }
                undecodable.increment()
                let deadLetters = deadLetters
                if !wait(atMost: .seconds(5), { await deadLetters(letter) }) {
                    logger.warning(
                        "the dead-letter handler did not return within 5 s; the message is committed and consuming goes on",
                        metadata: ["group": "\(group)", "origin": "\(letter.origin)"])
                }
                // Stopped meanwhile: the handler was cancelled, so the message stays for the next consumer.
                guard !stopped else { return false }
                store([(message.pointee.partition, message.pointee.offset)])
                recordLag(partition: message.pointee.partition, handled: message.pointee.offset)
            }
        }
        return handleRun()
    }

    /// Runs the handler on each event in turn, each until it succeeds; how many were handled
    /// before the loop was stopped. With a tracer, each attempt is a consumer span whose parent
    /// is the trace context in the message's headers.
    private func handle(_ run: [(event: RouteEvent, message: UnsafeMutablePointer<rd_kafka_message_t>)]) -> Int {
        guard !run.isEmpty else { return 0 }
        // Trace context is read only when spans are recorded.
        let spans = tracer
        var items: [(event: RouteEvent, headers: KafkaHeaders?, partition: Int32, offset: Int64)] = []
        items.reserveCapacity(run.count)
        for (event, message) in run {
            items.append((event, spans == nil ? nil : KafkaHeaders(of: message), message.pointee.partition, message.pointee.offset))
        }
        let handled = Locked(0)
        let (eventHandler, delay, log, groupName) = (handler, redeliveryDelay, logger, group)
        _ = wait { [items, self] in
            var stored = 0
            for (index, item) in items.enumerated() {
                guard
                    await Self.handle(
                        item.event, headers: item.headers, handler: eventHandler, tracer: spans, redeliveryDelay: delay, logger: log,
                        group: groupName,
                        beforeRetry: {
                            // An event whose handler keeps failing holds back no event handled
                            // before it (a local call: librdkafka commits in the background).
                            guard stored < index else { return }
                            store(items[stored..<index].map { ($0.partition, $0.offset) })
                            stored = index
                        })
                else { return }
                handled.withLock { $0 += 1 }
                // On the task, so the gauge moves per event: rd_kafka_get_watermark_offsets
                // reads librdkafka's cached watermark under its lock, with no I/O and no wait.
                recordLag(partition: item.partition, handled: item.offset)
            }
        }
        return handled.withLock { $0 }
    }

    /// Leaves the group within `closeTimeout` (uncommitted events go to the group's next
    /// consumer), then frees the handle without the blocking close `rd_kafka_destroy` would do.
    private func close() {
        let handle = consumer.pointer
        if let queue = rd_kafka_queue_new(handle) {
            if let error = rd_kafka_consumer_close_queue(handle, queue) {
                logger.warning("Kafka consumer close failed", metadata: ["group": "\(group)", "error": "\(String(cString: rd_kafka_error_string(error)))"])
                rd_kafka_error_destroy(error)
            } else {
                let deadline = ContinuousClock.now + closeTimeout
                while rd_kafka_consumer_closed(handle) == 0 && ContinuousClock.now < deadline {
                    guard let event = rd_kafka_queue_poll(queue, 50) else { continue }
                    // Leaving the group revokes the assignment; the application hands it back.
                    if rd_kafka_event_type(event) == RD_KAFKA_EVENT_REBALANCE {
                        if let protocolName = rd_kafka_rebalance_protocol(handle), String(cString: protocolName) == "COOPERATIVE" {
                            if let error = rd_kafka_incremental_unassign(handle, rd_kafka_event_topic_partition_list(event)) {
                                rd_kafka_error_destroy(error)
                            }
                        } else {
                            rd_kafka_assign(handle, nil)
                        }
                    }
                    rd_kafka_event_destroy(event)
                }
                if rd_kafka_consumer_closed(handle) == 0 {
                    logger.warning(
                        "Kafka consumer did not leave its group within the shutdown timeout; the group reassigns its partitions after the session timeout",
                        metadata: ["group": "\(group)"])
                }
            }
            rd_kafka_queue_destroy(queue)
        }
        rd_kafka_destroy_flags(handle, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE)
    }

    /// Runs the handler on `event` until it succeeds; `false` when cancelled first.
    private static func handle(
        _ event: RouteEvent, headers: KafkaHeaders?, handler: @Sendable (RouteEvent) async throws -> Void, tracer: (any Tracer)?,
        redeliveryDelay: Duration, logger: Logger, group: String, beforeRetry: () -> Void
    ) async -> Bool {
        while !Task.isCancelled {
            do {
                if let tracer, let headers {
                    var context = ServiceContext.topLevel
                    tracer.extract(headers, into: &context, using: KafkaHeaders.Reader())
                    try await ServiceContext.withValue(context) {
                        try await traced(tracer, TrafficManagerTracing.handleEventSpan, kind: .consumer, route: event.route) {
                            try await handler(event)
                        }
                    }
                } else {
                    try await handler(event)
                }
                return true
            } catch {
                if Task.isCancelled { return false }
                logger.warning(
                    "route event handler failed; delivering the event again",
                    metadata: ["group": "\(group)", "event_id": "\(event.eventID)", "error": "\(error)"])
                beforeRetry()
                try? await Task.sleep(for: redeliveryDelay)
            }
        }
        return false
    }

    private enum Decoded {
        case success(RouteEvent)
        case failure(UndecodableEvent)
    }

    private func decode(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> Decoded {
        let origin = "\(topic)[\(message.pointee.partition)]@\(message.pointee.offset)"
        guard let payload = message.pointee.payload, message.pointee.len > 0 else {
            return .failure(
                UndecodableEvent(
                    payload: Data(), error: RouteEventDecodingError(kind: "empty message", detail: "the message has no value"),
                    origin: origin))
        }
        let data = Data(bytes: payload, count: message.pointee.len)
        do throws(RouteEventDecodingError) {
            return .success(try RouteEvent.decode(data))
        } catch {
            return .failure(UndecodableEvent(payload: data, error: error, origin: origin))
        }
    }

    /// Runs `body` on a task and waits for it on this thread, which is the consumer's own (so
    /// no Swift concurrency thread blocks), at most `limit` when given; ``stop()`` cancels it.
    /// `false` when it did not finish in time.
    private func wait(atMost limit: Duration? = nil, _ body: @escaping @Sendable () async -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let task = Task {
            await body()
            done.signal()
        }
        let accepted = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.running = task
            return true
        }
        if !accepted { task.cancel() }
        let finished: Bool
        if let limit {
            finished = done.wait(timeout: .now() + .milliseconds(Int(limit.wholeMilliseconds))) == .success
        } else {
            done.wait()
            finished = true
        }
        state.withLock { $0.running = nil }
        if !finished { task.cancel() }
        return finished
    }

    /// The partition's lag after the message at `offset` was handled, from librdkafka's cached
    /// high watermark (no broker round trip).
    private func recordLag(partition: Int32, handled offset: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        guard rd_kafka_get_watermark_offsets(consumer.pointer, topic, partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0
        else { return }
        recordLag(partition: partition, lag: max(0, high - (offset + 1)))
    }

    private func recordLag(partition: Int32, lag: Int64) {
        let total = state.withLock { state -> Int64 in
            state.lag[partition] = lag
            return state.lag.values.reduce(0, +)
        }
        lagGauge.record(total)
    }

    /// Stores each message's next offset for librdkafka's background commit. A partition
    /// revoked meanwhile refuses it (its new owner reads the events again), which is what keeps
    /// a late store from moving another consumer's progress.
    private func store(_ positions: [(partition: Int32, offset: Int64)]) {
        guard !positions.isEmpty, let list = rd_kafka_topic_partition_list_new(Int32(min(positions.count, 64))) else { return }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        var next: [Int32: Int64] = [:]
        for (partition, offset) in positions {
            next[partition] = max(next[partition] ?? 0, offset + 1)
        }
        for (partition, offset) in next {
            rd_kafka_topic_partition_list_add(list, topic, partition).pointee.offset = offset
        }
        let result = rd_kafka_offsets_store(consumer.pointer, list)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.debug("Kafka offset store refused; the events may be delivered again", metadata: ["error": "\(KafkaHandle.describe(result))"])
        }
    }
}
