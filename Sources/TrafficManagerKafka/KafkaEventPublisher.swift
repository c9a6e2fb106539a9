import CRdKafka
import Foundation
import Logging
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
            ("log_level", "3"),
        ]
        properties += configuration.properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        properties += [("enable.idempotence", "true"), ("acks", "all")]
        let handle = try KafkaHandle.make(RD_KAFKA_PRODUCER, properties: properties) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, deliveryReport)
        }
        producer = ProducerHandle(pointer: handle)
        let thread = Thread { [self] in pollLoop() }
        thread.name = "tm-kafka-producer"
        thread.start()
    }

    public func publish(_ event: RouteEvent) async throws {
        let value = try event.encoded()
        let key = Array(event.route.description.utf8)
        var headers = KafkaHeaders(fields: [("event_id", event.eventID.uuidString)])
        // The writer's trace context travels with the event, so a consumer's span joins the
        // write's trace (the instrument decides which headers: `traceparent` for W3C).
        if let context = ServiceContext.current {
            InstrumentationSystem.instrument.inject(context, into: &headers, using: KafkaHeaders.Writer())
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let delivery = Unmanaged.passRetained(Delivery(continuation)).toOpaque()
            // Under the lock, so the poll thread cannot close the producer mid-call;
            // produceva only queues the message, it does not wait for the network.
            let failure = state.withLock { state -> String? in
                guard !state.closing else { return "the Kafka publisher was shut down" }
                return produce(value: value, key: key, headers: headers, opaque: delivery)
            }
            if let failure {
                Unmanaged<Delivery>.fromOpaque(delivery).release()
                continuation.resume(throwing: TrafficManagerError.eventsUnavailable(failure))
            }
        }
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

    /// Queues one message; returns librdkafka's refusal, if any.
    private func produce(value: Data, key: [UInt8], headers: KafkaHeaders, opaque: UnsafeMutableRawPointer) -> String? {
        guard let list = headers.makeList() else { return "librdkafka could not allocate message headers" }
        return configuration.topic.withCString { topic in
            value.withUnsafeBytes { valueBytes in
                key.withUnsafeBytes { keyBytes in
                    var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 6)
                    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    fields[0].u.cstr = topic
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
                    // librdkafka copies the value (it copies key and topic anyway).
                    fields[5].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    fields[5].u.i = RD_KAFKA_MSG_F_COPY
                    guard let error = rd_kafka_produceva(producer.pointer, fields, fields.count) else { return nil }
                    defer { rd_kafka_error_destroy(error) }
                    rd_kafka_headers_destroy(list)
                    return String(cString: rd_kafka_error_string(error))
                }
            }
        }
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
            while rd_kafka_outq_len(producer.pointer) > 0 && rounds < 50 {
                rd_kafka_poll(producer.pointer, 10)
                rounds += 1
            }
        }
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

/// What a message's delivery report resumes.
private final class Delivery {
    let continuation: CheckedContinuation<Void, any Error>
    init(_ continuation: CheckedContinuation<Void, any Error>) { self.continuation = continuation }
}

/// Called by librdkafka on the poll thread, once per message.
private func deliveryReport(_ handle: OpaquePointer?, _ message: UnsafePointer<rd_kafka_message_t>?, _ opaque: UnsafeMutableRawPointer?) {
    guard let message, let context = message.pointee._private else { return }
    let delivery = Unmanaged<Delivery>.fromOpaque(context).takeRetainedValue()
    let error = message.pointee.err
    if error == RD_KAFKA_RESP_ERR_NO_ERROR {
        delivery.continuation.resume()
    } else {
        delivery.continuation.resume(throwing: TrafficManagerError.eventsUnavailable("Kafka did not acknowledge the event: \(KafkaHandle.describe(error))"))
    }
}
