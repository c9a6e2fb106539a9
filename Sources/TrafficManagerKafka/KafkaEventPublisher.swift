import CRdKafka
import Foundation
import Logging
import Synchronization
import Tracing
import ServiceLifecycle
import TrafficManager

/// Publishes route events to Kafka through librdkafka's idempotent producer.
///
/// - `enable.idempotence=true`, `acks=all`: a retried send is never written twice.
/// - The message key is the route (`tenant/service/environment@version`), so one route's
///   events stay in order on one partition; the `murmur2_random` partitioner puts a key where a
///   Java client would.
/// - The value is the event's versioned JSON; the event id is also in the `event_id` header.
/// - ``publish(_:)`` returns once the broker acknowledged the message, or throws
///   `TrafficManagerError/Code/eventsUnavailable` when it was not acknowledged within
///   ``KafkaConfiguration/deliveryTimeout``.
///
/// Delivery reports are served by a thread of the publisher's own that polls librdkafka. As a
/// swift-service-lifecycle `Service`, ``run()`` waits for shutdown, then flushes what is in
/// flight and closes the producer; outside a service group call ``shutdown()``.
public final class KafkaEventPublisher: EventPublisher, Service {
    private struct State {
        var closing = false
        var closed: [CheckedContinuation<Void, Never>] = []
        var didClose = false
    }

    /// The producer handle; thread-safe in librdkafka, destroyed once by the poll thread.
    private let producer: ProducerHandle
    /// The topic's handle, so a message names its topic without a lookup by name.
    private let topicHandle: ProducerHandle
    private let state = Locked(State())
    private let configuration: KafkaConfiguration
    private let logger: Logger
    private let flushTimeout: Duration

    /// Creates the producer and starts its poll thread.
    ///
    /// - Parameters:
    ///   - configuration: the brokers, topic and delivery timeout.
    ///   - flushTimeout: how long shutdown waits for messages in flight; past it they
    ///     are purged and their `publish` calls fail with
    ///     `TrafficManagerError/Code/eventsUnavailable`.
    ///   - logger: where the producer logs.
    /// - Throws: `TrafficManagerError/Code/eventsUnavailable` when librdkafka refuses the
    ///   configuration.
    public init(
        configuration: KafkaConfiguration, flushTimeout: Duration = .seconds(10),
        logger: Logger = Logger(label: "TrafficManager.Kafka")
    ) throws {
        self.configuration = configuration
        self.logger = logger
        self.flushTimeout = flushTimeout
        var properties: [(String, String)] = [
            ("bootstrap.servers", configuration.bootstrapServers),
            ("client.id", configuration.clientID),
            ("message.timeout.ms", String(configuration.deliveryTimeoutMilliseconds)),
            ("partitioner", "murmur2_random"),
            ("linger.ms", "1"),
            // Nagle's algorithm holds a request while an earlier one is unacknowledged, and
            // the peer's delayed ACK makes that about 40 ms: a batch's acknowledgements took
            // 47 ms with it, 6 ms without.
            ("socket.nagle.disable", "true"),
            ("log_level", "3"),
        ]
        properties += configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        properties += [("enable.idempotence", "true"), ("acks", "all")]
        let handle = try KafkaHandle.make(RD_KAFKA_PRODUCER, properties: properties) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReport)
        }
        guard let topic = rd_kafka_topic_new(handle, configuration.topic, nil) else {
            rd_kafka_destroy(handle)
            throw TrafficManagerError.eventsUnavailable("librdkafka refused the topic name \(configuration.topic)")
        }
        producer = ProducerHandle(pointer: handle)
        topicHandle = ProducerHandle(pointer: topic)
        let thread = Thread { [self] in pollLoop() }
        thread.name = "tm-kafka-producer"
        thread.start()
    }

    public func publish(_ event: RouteEvent) async throws {
        let traceHeaders = Self.traceHeaders()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let delivery = Unmanaged.passRetained(SingleDelivery(continuation) as Delivery).toOpaque()
            // Under the lock, so the poll thread cannot close the producer mid-call;
            // produceva only queues the message, it does not wait for the network.
            let failure = state.withLock { state -> ProduceFailure? in
                guard !state.closing else { return .refused("the Kafka publisher was shut down") }
                return produce(event, traceHeaders: traceHeaders, opaque: delivery)
            }
            if let failure {
                Unmanaged<Delivery>.fromOpaque(delivery).release()
                continuation.resume(throwing: TrafficManagerError.eventsUnavailable(failure.message))
            }
        }
    }

    /// Queues every event at once and waits for their acknowledgements together: one
    /// suspension for the batch, and librdkafka batches the messages per partition
    /// (`linger.ms`). Events of one route keep their order (one partition, idempotent producer).
    /// An event librdkafka has no room for waits until there is room, at most the delivery
    /// timeout.
    public func publish(contentsOf events: [RouteEvent]) async -> [Result<Void, any Error>] {
        guard !events.isEmpty else { return [] }
        let batch = BatchDelivery(count: events.count)
        let traceHeaders = Self.traceHeaders()
        let roomDeadline = ContinuousClock.now + configuration.deliveryTimeout
        var next = 0
        while next < events.count {
            // A chunk at a time under the lock: one lock per chunk, and the poll thread still
            // gets its turn.
            let (queued, failure) = state.withLock { state -> (Int, ProduceFailure?) in
                guard !state.closing else { return (0, .refused("the Kafka publisher was shut down")) }
                var queued = 0
                while next + queued < events.count && queued < 256 {
                    let index = next + queued
                    if let failure = produce(events[index], traceHeaders: traceHeaders, opaque: batch.opaque(for: index)) {
                        return (queued, failure)
                    }
                    queued += 1
                }
                return (queued, nil)
            }
            next += queued
            guard let failure else { continue }
            // A full queue empties as the broker acknowledges; wait outside the lock.
            if case .queueFull = failure, ContinuousClock.now < roomDeadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(1))
                continue
            }
            batch.complete(next, TrafficManagerError.eventsUnavailable(failure.message))
            next += 1
        }
        return await batch.results()
    }

    /// The writer's trace context, as headers: a consumer's span joins the write's trace (the
    /// instrument decides which headers: `traceparent` for W3C).
    private static func traceHeaders() -> [(String, String)] {
        guard let context = ServiceContext.current else { return [] }
        var headers = KafkaHeaders(fields: [])
        InstrumentationSystem.instrument.inject(context, into: &headers, using: KafkaHeaders.Writer())
        return headers.fields
    }

    /// Waits for graceful shutdown or cancellation, then flushes and closes the producer.
    public func run() async throws {
        // Returns on graceful shutdown, throws on cancellation: either way, close.
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Flushes the messages in flight (for at most the flush timeout) and closes the producer.
    public func shutdown() async {
        await withCheckedContinuation { (closed: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                state.closing = true
                if state.didClose { return true }
                state.closed.append(closed)
                return false
            }
            if done { closed.resume() }
        }
    }

    /// Why a message was not queued.
    private enum ProduceFailure {
        /// librdkafka's queue is full (`queue.buffering.max.messages` or `.kbytes`).
        case queueFull(String)
        case refused(String)

        var message: String {
            switch self {
            case .queueFull(let message), .refused(let message): message
            }
        }
    }

    /// Queues one message for `event`; returns librdkafka's refusal, if any. Key, value and
    /// event id are written into temporary memory: librdkafka copies them.
    private func produce(_ event: RouteEvent, traceHeaders: [(String, String)], opaque: UnsafeMutableRawPointer) -> ProduceFailure? {
        guard let list = rd_kafka_headers_new(1 + traceHeaders.count) else {
            return .refused("librdkafka could not allocate message headers")
        }
        RouteEventJSON.withIDText(of: event.eventID) { id in _ = rd_kafka_header_add(list, "event_id", -1, id.baseAddress, id.count) }
        for (name, value) in traceHeaders {
            _ = value.withCString { text in rd_kafka_header_add(list, name, -1, UnsafeRawPointer(text), -1) }
        }
        var failure: ProduceFailure?
        RouteEventJSON.withEncoded(event) { valueBytes in
            RouteEventJSON.withKey(of: event.route) { keyBytes in
                failure = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 6) { fields -> ProduceFailure? in
                    fields.initialize(repeating: rd_kafka_vu_t())
                    fields[0].vtype = RD_KAFKA_VTYPE_RKT
                    fields[0].u.rkt = topicHandle.pointer
                    fields[1].vtype = RD_KAFKA_VTYPE_KEY
                    fields[1].u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                    fields[1].u.mem.size = keyBytes.count
                    fields[2].vtype = RD_KAFKA_VTYPE_VALUE
                    fields[2].u.mem.ptr = UnsafeMutableRawPointer(mutating: valueBytes.baseAddress)
                    fields[2].u.mem.size = valueBytes.count
                    // librdkafka owns the headers once the message is queued.
                    fields[3].vtype = RD_KAFKA_VTYPE_HEADERS
                    fields[3].u.headers = list
                    fields[4].vtype = RD_KAFKA_VTYPE_OPAQUE
                    fields[4].u.ptr = opaque
                    // librdkafka copies the value (it copies the key anyway).
                    fields[5].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    fields[5].u.i = RD_KAFKA_MSG_F_COPY
                    guard let error = rd_kafka_produceva(producer.pointer, fields.baseAddress, fields.count) else { return nil }
                    defer { rd_kafka_error_destroy(error) }
                    rd_kafka_headers_destroy(list)
                    let text = String(cString: rd_kafka_error_string(error))
                    return rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL ? .queueFull(text) : .refused(text)
                }
            }
        }
        return failure
    }

    private func pollLoop() {
        while !state.withLock({ $0.closing }) {
            rd_kafka_poll(producer.pointer, 100)
        }
        let milliseconds = Int32(clamping: flushTimeout.wholeMilliseconds)
        let flushed = rd_kafka_flush(producer.pointer, milliseconds)
        if flushed != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning(
                "Kafka publisher closed with messages still in flight; the outbox relay will publish them",
                metadata: ["in_flight": "\(rd_kafka_outq_len(producer.pointer))"])
            // rd_kafka_destroy reports nothing for what flush left behind: purge it, then serve
            // the purged messages' reports, so every waiting publish fails instead of hanging.
            _ = rd_kafka_purge(producer.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            var rounds = 0
            while rd_kafka_outq_len(producer.pointer) > 0 && rounds < 500 {
                rd_kafka_poll(producer.pointer, 10)
                rounds += 1
            }
        }
        rd_kafka_topic_destroy(topicHandle.pointer)
        rd_kafka_destroy(producer.pointer)
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.didClose = true
            defer { state.closed = [] }
            return state.closed
        }
        for continuation in waiting { continuation.resume() }
    }
}

/// The librdkafka producer handle.
// Unchecked sendability is safe: librdkafka's rd_kafka_t is thread-safe for produce, poll and
// flush; it is destroyed once, by the poll thread, after the publisher stops accepting messages.
private struct ProducerHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// What a message's delivery report completes.
private class Delivery {
    /// Called once, on the poll thread, with the report's error (`nil` when acknowledged).
    func delivered(_ error: (any Error)?) {}
}

/// One ``KafkaEventPublisher/publish(_:)`` call, resumed by its message's report.
private final class SingleDelivery: Delivery {
    let continuation: CheckedContinuation<Void, any Error>
    init(_ continuation: CheckedContinuation<Void, any Error>) { self.continuation = continuation }

    override func delivered(_ error: (any Error)?) {
        if let error { continuation.resume(throwing: error) } else { continuation.resume() }
    }
}

/// A batch's outcome, filled in as reports arrive; its caller resumes once with all of them.
///
/// Each message's opaque points at its slot in one buffer — the batch and the message's index —
/// rather than at an object of its own, with the low bit set to tell it from a single
/// publish's ``Delivery`` (slots, like objects, are at least 8-byte aligned).
// Unchecked sendability is safe: `slots` is written once per message before it is queued and
// only read by that message's report; `remaining` is atomic and everything else is under
// `state`'s lock.
private final class BatchDelivery: @unchecked Sendable {
    struct Slot {
        var batch: Unmanaged<BatchDelivery>
        var index: Int
    }

    private struct State {
        var failures: [Int: any Error] = [:]
        var done = false
        var waiter: CheckedContinuation<[Result<Void, any Error>], Never>?
    }

    private let count: Int
    private let slots: UnsafeMutablePointer<Slot>
    /// Reports still to come: an acknowledgement only counts down; the lock is taken for a
    /// failure and by the last report.
    private let remaining: Atomic<Int>
    private let state = Locked(State())

    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        remaining = Atomic(count)
    }

    deinit { slots.deallocate() }

    /// The opaque for message `index`; the caller stays alive until every report arrived, as
    /// it waits in ``results()``.
    func opaque(for index: Int) -> UnsafeMutableRawPointer {
        (slots + index).initialize(to: Slot(batch: Unmanaged.passUnretained(self), index: index))
        return UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: slots + index) | 1)!
    }

    /// The slot an opaque of ``opaque(for:)`` points at, or `nil` for a single publish's.
    static func slot(_ opaque: UnsafeMutableRawPointer) -> Slot? {
        let bits = UInt(bitPattern: opaque)
        guard bits & 1 == 1 else { return nil }
        return UnsafeMutablePointer<Slot>(bitPattern: bits & ~1)!.pointee
    }

    func complete(_ index: Int, _ error: (any Error)?) {
        if let error { state.withLock { $0.failures[index] = error } }
        // The failure is recorded before the count goes down, so the last report sees it.
        guard remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 else { return }
        let finished = state.withLock { state -> (CheckedContinuation<[Result<Void, any Error>], Never>, [Result<Void, any Error>])? in
            state.done = true
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, Self.results(count, state.failures))
        }
        if let (waiter, results) = finished { waiter.resume(returning: results) }
    }

    private static func results(_ count: Int, _ failures: [Int: any Error]) -> [Result<Void, any Error>] {
        if failures.isEmpty { return Array(repeating: .success(()), count: count) }
        return (0..<count).map { index in failures[index].map { .failure($0) } ?? .success(()) }
    }

    func results() async -> [Result<Void, any Error>] {
        await withCheckedContinuation { (waiter: CheckedContinuation<[Result<Void, any Error>], Never>) in
            let done = state.withLock { state -> [Result<Void, any Error>]? in
                guard !state.done else { return Self.results(count, state.failures) }
                state.waiter = waiter
                return nil
            }
            if let done { waiter.resume(returning: done) }
        }
    }
}

/// Called by librdkafka on the poll thread, once per message.
private func deliveryReport(_ handle: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let message, let context = message.pointee._private else { return }
    let code = message.pointee.err
    let error =
        code == RD_KAFKA_RESP_ERR_NO_ERROR
        ? nil : TrafficManagerError.eventsUnavailable("Kafka did not acknowledge the event: \(KafkaHandle.describe(code))")
    if let slot = BatchDelivery.slot(context) {
        slot.batch.takeUnretainedValue().complete(slot.index, error)
    } else {
        Unmanaged<Delivery>.fromOpaque(context).takeRetainedValue().delivered(error)
    }
}
