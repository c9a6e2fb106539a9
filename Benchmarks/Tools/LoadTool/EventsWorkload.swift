import Foundation
import RawKafka
import Synchronization
import TrafficManager
import TrafficManagerKafka

/// Events at volume, on an in-process mock cluster (several brokers, every partition on each):
/// the same messages published by a raw librdkafka producer and by ``KafkaEventPublisher``,
/// alternating, in one run; then every event id read back through ``KafkaEventSource`` to count
/// what was lost or duplicated, and the consumer's rate beside a raw librdkafka consumer's.
enum EventsWorkload {
    struct Options {
        var events: Int
        var rounds: Int
        var partitions: Int
        var brokers: Int
        var publishers: Int
        var lingerMilliseconds: Int
        var batchSize: Int
        /// Callers of the second batch step; 1 leaves it out.
        var batchCallers: Int
        var quiet: Bool
    }

    static func run(_ options: Options) async throws {
        let cluster = try KafkaMockCluster(brokers: options.brokers)
        defer { cluster.shutdown() }
        let events = makeEvents(options.events)
        let messages = RawMessages(events)
        if !options.quiet { codecCosts(events) }
        var figures: [String: [Double]] = [:]
        func record(_ name: String, _ value: Double) {
            figures[name, default: []].append(value)
            if !options.quiet { print(String(format: "  %@: %.0f", name, value)) }
        }
        for round in 1...options.rounds {
            if !options.quiet { print("round \(round) of \(options.rounds)") }
            let rawTopic = "raw-\(round)"
            let batchTopic = "batch-\(round)"
            let singleTopic = "single-\(round)"
            let callersTopic = "batch-callers-\(round)"
            for topic in [rawTopic, batchTopic, singleTopic, callersTopic] {
                try cluster.createTopic(topic, partitions: options.partitions, replicationFactor: options.brokers)
            }
            // ABAB: the raw producer goes first in odd rounds, the library first in even ones.
            var steps: [() async throws -> Void] = [
                {
                    let raw = try messages.produce(bootstrap: cluster.bootstrapServers, topic: rawTopic, linger: options.lingerMilliseconds)
                    record("raw producer events/s", Double(raw.ok) / raw.seconds)
                    record("raw producer lost", Double(options.events) - Double(raw.ok))
                },
                {
                    let (seconds, failed) = try await publishBatch(
                        events, bootstrap: cluster.bootstrapServers, topic: batchTopic, linger: options.lingerMilliseconds,
                        batchSize: options.batchSize)
                    record("publisher, batch, events/s", Double(events.count) / seconds)
                    record("publisher, batch, failed", Double(failed))
                },
                {
                    guard options.batchCallers > 1 else { return }
                    let (seconds, failed) = try await publishBatch(
                        events, bootstrap: cluster.bootstrapServers, topic: callersTopic, linger: options.lingerMilliseconds,
                        batchSize: options.batchSize, callers: options.batchCallers)
                    record("publisher, batch, \(options.batchCallers) callers, events/s", Double(events.count) / seconds)
                    record("publisher, batch, \(options.batchCallers) callers, failed", Double(failed))
                },
                {
                    let (seconds, errors) = try await publishSingly(
                        events, bootstrap: cluster.bootstrapServers, topic: singleTopic, linger: options.lingerMilliseconds,
                        publishers: options.publishers)
                    record("publisher, \(options.publishers) concurrent singles, events/s", Double(events.count) / seconds)
                    record("publisher, singles, failed", Double(errors))
                },
            ]
            if round % 2 == 0 { steps.reverse() }
            for step in steps { try await step() }

            let batchRead = try await consume(events, bootstrap: cluster.bootstrapServers, topic: batchTopic)
            record("publisher, batch, lost", Double(batchRead.lost))
            record("publisher, batch, duplicated", Double(batchRead.duplicated))
            record("KafkaEventSource events/s", batchRead.perSecond)
            if options.batchCallers > 1 {
                let callersRead = try await consume(events, bootstrap: cluster.bootstrapServers, topic: callersTopic)
                record("publisher, batch, \(options.batchCallers) callers, lost", Double(callersRead.lost))
                record("publisher, batch, \(options.batchCallers) callers, duplicated", Double(callersRead.duplicated))
            }
            let singleRead = try await consume(events, bootstrap: cluster.bootstrapServers, topic: singleTopic)
            record("publisher, singles, lost", Double(singleRead.lost))
            record("publisher, singles, duplicated", Double(singleRead.duplicated))
            var raw = raw_kafka_result()
            var error = [CChar](repeating: 0, count: 512)
            guard raw_kafka_consume(cluster.bootstrapServers, rawTopic, "raw-reader-\(round)", options.events, 10_000, &raw, &error, error.count) == 0 else {
                throw EventsWorkloadError(String(cString: error))
            }
            record("raw consumer events/s", Double(raw.ok) / raw.seconds)
            record("raw consumer, not read back", Double(options.events - raw.ok))
        }
        print("events at volume: \(options.events) events (batches of \(options.batchSize)), \(options.partitions) partitions on \(options.brokers) brokers, acks=all, idempotent, linger.ms=\(options.lingerMilliseconds); medians of \(options.rounds)")
        for (name, values) in figures.sorted(by: { $0.key < $1.key }) {
            let sorted = values.sorted()
            print(String(format: "  %@: %.0f (runs: %@)", name, sorted[sorted.count / 2], values.map { String(format: "%.0f", $0) }.joined(separator: ", ")))
        }
        if let raw = figures["raw producer events/s"], let batch = figures["publisher, batch, events/s"],
            let single = figures["publisher, \(options.publishers) concurrent singles, events/s"]
        {
            let median = { (values: [Double]) in values.sorted()[values.count / 2] }
            let ratios = zip(raw, batch).map { $1 / $0 }
            let singleRatios = zip(raw, single).map { $1 / $0 }
            if let callers = figures["publisher, batch, \(options.batchCallers) callers, events/s"] {
                let callerRatios = zip(raw, callers).map { $1 / $0 }
                print(String(format: "  publisher batch, %d callers / raw: median %.2f (runs: %@)", options.batchCallers, median(callerRatios), callerRatios.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
            }
            print(String(format: "  publisher batch / raw: median %.2f (runs: %@)", median(ratios), ratios.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
            print(String(format: "  publisher singles / raw: median %.2f (runs: %@)", median(singleRatios), singleRatios.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
        }
    }

    /// What writing and reading one event costs, against Foundation's coders.
    static func codecCosts(_ events: [RouteEvent]) {
        let sample = Array(events.prefix(20_000))
        func perEvent(_ body: () -> Int) -> Double {
            let start = ContinuousClock.now
            let total = body()
            precondition(total > 0)
            return seconds(since: start) / Double(sample.count) * 1e6
        }
        let encoded = sample.map { try! $0.encoded() }
        let write = perEvent { sample.reduce(0) { $0 + (try! $1.encoded()).count } }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let writeFoundation = perEvent { sample.reduce(0) { $0 + (try! encoder.encode($1)).count } }
        let read = perEvent { encoded.reduce(0) { $0 + Int((try! RouteEvent.decode($1)).revision) } }
        let readFoundation = perEvent { encoded.reduce(0) { $0 + Int((try! JSONDecoder().decode(RouteEvent.self, from: $1)).revision) } }
        print(String(format: "  encode %.2f µs (JSONEncoder %.2f), decode %.2f µs (JSONDecoder %.2f) per event", write, writeFoundation, read, readFoundation))
    }

    /// `count` events over 10,000 routes, each route's revisions rising.
    static func makeEvents(_ count: Int) -> [RouteEvent] {
        let routes = (0..<min(count, 10_000)).map { try! RouteID(tenant: "load", service: "svc\($0 % 97)", environment: "prod", version: "v\($0)") }
        let now = Date()
        return (0..<count).map { index in
            RouteEvent(
                eventID: UUID(), action: .updated, route: routes[index % routes.count],
                url: "http://svc\(index % routes.count).load.internal:\(8000 + index / routes.count % 1000)",
                revision: UInt64(index / routes.count + 1), occurredAt: now)
        }
    }

    private static func publisher(bootstrap: String, topic: String, linger: Int) throws -> KafkaEventPublisher {
        try KafkaEventPublisher(
            configuration: .init(bootstrapServers: bootstrap, topic: topic, deliveryTimeout: .seconds(60), properties: ["linger.ms": "\(linger)"]))
    }

    /// Publishes every event through batch calls of `batchSize` events, by `callers` callers
    /// at once, each with the events of its own routes (so each route's events keep their
    /// order); the seconds it took and the events that failed.
    ///
    /// One caller waits out each batch's tail (`linger.ms` and the acknowledgement's round
    /// trip) before queueing the next; with two, one queues while the other waits.
    static func publishBatch(
        _ events: [RouteEvent], bootstrap: String, topic: String, linger: Int, batchSize: Int, callers: Int = 1
    ) async throws -> (Double, Int) {
        let publisher = try publisher(bootstrap: bootstrap, topic: topic, linger: linger)
        var shares = [[RouteEvent]](repeating: [], count: callers)
        for event in events { shares[Int(UInt(bitPattern: event.route.hashValue) % UInt(callers))].append(event) }
        let start = ContinuousClock.now
        let failed = await withTaskGroup(of: Int.self) { group in
            for share in shares {
                group.addTask {
                    var failed = 0
                    for start in stride(from: 0, to: share.count, by: batchSize) {
                        let results = await publisher.publish(contentsOf: Array(share[start..<min(start + batchSize, share.count)]))
                        failed += results.filter { if case .failure = $0 { true } else { false } }.count
                    }
                    return failed
                }
            }
            return await group.reduce(0, +)
        }
        let seconds = seconds(since: start)
        await publisher.shutdown()
        return (seconds, failed)
    }

    /// Publishes every event by a call of its own, `publishers` calls in flight; the seconds it
    /// took and the calls that failed.
    static func publishSingly(_ events: [RouteEvent], bootstrap: String, topic: String, linger: Int, publishers: Int) async throws -> (Double, Int) {
        let publisher = try publisher(bootstrap: bootstrap, topic: topic, linger: linger)
        let next = NextIndex()
        let start = ContinuousClock.now
        let errors = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<publishers {
                group.addTask {
                    var errors = 0
                    while true {
                        let index = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard index < events.count else { return errors }
                        do { try await publisher.publish(events[index]) } catch { errors += 1 }
                    }
                }
            }
            return await group.reduce(0, +)
        }
        let seconds = seconds(since: start)
        await publisher.shutdown()
        return (seconds, errors)
    }

    struct ReadBack {
        var lost: Int
        var duplicated: Int
        var perSecond: Double
    }

    /// Reads `topic` through a ``KafkaEventSource`` of a new group until every event id was
    /// seen or 10 s pass with nothing new.
    static func consume(_ events: [RouteEvent], bootstrap: String, topic: String) async throws -> ReadBack {
        struct Seen {
            var ids = Set<UUID>()
            var deliveries = 0
            var first: ContinuousClock.Instant?
            var last: ContinuousClock.Instant?
        }
        let seen = Mutex(Seen())
        let expected = Set(events.map(\.eventID))
        let source = KafkaEventSource(configuration: .init(bootstrapServers: bootstrap, topic: topic))
        let consumer = Task {
            try await source.consume(group: "reader-\(topic)") { event in
                seen.withLock { seen in
                    let now = ContinuousClock.now
                    if seen.first == nil { seen.first = now }
                    seen.deliveries += 1
                    if seen.ids.insert(event.eventID).inserted { seen.last = now }
                }
            }
        }
        var idleSince = ContinuousClock.now
        var count = 0
        while ContinuousClock.now - idleSince < .seconds(10) {
            try await Task.sleep(for: .milliseconds(20))
            let now = seen.withLock { $0.ids.count }
            if now != count { (count, idleSince) = (now, .now) }
            if count >= expected.count { break }
        }
        consumer.cancel()
        _ = try? await consumer.value
        return seen.withLock { seen in
            let elapsed = seen.first.flatMap { first in seen.last.map { first.duration(to: $0) } } ?? .zero
            let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return ReadBack(
                lost: expected.subtracting(seen.ids).count, duplicated: seen.deliveries - seen.ids.count,
                perSecond: secondsElapsed > 0 ? Double(seen.ids.count) / secondsElapsed : 0)
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = start.duration(to: .now)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// The next event a single publisher takes.
final class NextIndex: Sendable {
    let value = Atomic<Int>(0)
}

struct EventsWorkloadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The events as the raw producer sends them: the publisher's key, value and `event_id` header,
/// laid end to end.
struct RawMessages {
    var keys: [UInt8] = []
    var keyOffsets: [Int] = [0]
    var values: [UInt8] = []
    var valueOffsets: [Int] = [0]
    var ids: [UInt8] = []
    var idOffsets: [Int] = [0]
    let count: Int

    init(_ events: [RouteEvent]) {
        count = events.count
        for event in events {
            keys += Array(event.route.description.utf8)
            keyOffsets.append(keys.count)
            values += Array(try! event.encoded())
            valueOffsets.append(values.count)
            ids += Array(event.eventID.uuidString.utf8)
            idOffsets.append(ids.count)
        }
    }

    func produce(bootstrap: String, topic: String, linger: Int) throws -> raw_kafka_result {
        var result = raw_kafka_result()
        var error = [CChar](repeating: 0, count: 512)
        let status = raw_kafka_produce(
            bootstrap, topic, "\(linger)", count, keys, keyOffsets, values, valueOffsets, ids, idOffsets, &result, &error, error.count)
        guard status == 0 else { throw EventsWorkloadError(String(cString: error)) }
        return result
    }
}
