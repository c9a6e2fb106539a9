import CRdKafka
import Foundation
import TrafficManagerKafka

/// A message as it sits in Kafka, read without TrafficManager's decoding.
struct RawMessage {
    var key: String
    var value: Data
    var headers: [String: String]
    var partition: Int32
}

/// Plain librdkafka calls for tests: what a foreign producer or consumer would see or send.
enum RawKafka {
    /// Reads `count` messages of `topic` from the beginning, within `timeout`, on a thread of
    /// its own (librdkafka's poll blocks).
    static func read(_ count: Int, topic: String, bootstrap: String, timeout: Duration = .seconds(20)) async -> [RawMessage] {
        await withCheckedContinuation { (done: CheckedContinuation<[RawMessage], Never>) in
            Thread { done.resume(returning: readBlocking(count, topic: topic, bootstrap: bootstrap, timeout: timeout)) }.start()
        }
    }

    private static func readBlocking(_ count: Int, topic: String, bootstrap: String, timeout: Duration) -> [RawMessage] {
        guard let conf = rd_kafka_conf_new() else { return [] }
        var errorText = [CChar](repeating: 0, count: 256)
        for (name, value) in [
            ("bootstrap.servers", bootstrap), ("group.id", "raw-\(UUID())"), ("auto.offset.reset", "earliest"), ("log_level", "3"),
        ] {
            rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
        }
        guard let consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errorText, errorText.count) else { return [] }
        defer {
            rd_kafka_consumer_close(consumer)
            rd_kafka_destroy(consumer)
        }
        rd_kafka_poll_set_consumer(consumer)
        let topics = rd_kafka_topic_partition_list_new(1)
        rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA)
        rd_kafka_subscribe(consumer, topics)
        rd_kafka_topic_partition_list_destroy(topics)
        var messages: [RawMessage] = []
        let deadline = ContinuousClock.now + timeout
        while messages.count < count, ContinuousClock.now < deadline {
            guard let message = rd_kafka_consumer_poll(consumer, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            let key = message.pointee.key.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: message.pointee.key_len), as: UTF8.self) } ?? ""
            let value = message.pointee.payload.map { Data(bytes: $0, count: message.pointee.len) } ?? Data()
            var headers: [String: String] = [:]
            var list: OpaquePointer?
            if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
                var index = 0
                var name: UnsafePointer<CChar>?
                var valuePointer: UnsafeRawPointer?
                var size = 0
                while rd_kafka_header_get_all(list, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                    if let name, let valuePointer {
                        headers[String(cString: name)] = String(decoding: UnsafeRawBufferPointer(start: valuePointer, count: size), as: UTF8.self)
                    }
                    index += 1
                }
            }
            messages.append(RawMessage(key: key, value: value, headers: headers, partition: message.pointee.partition))
        }
        return messages
    }

    /// The offsets `group` has committed for each partition of `topic` (-1001, librdkafka's
    /// invalid offset, for none), asked on a thread of its own.
    static func committed(group: String, topic: String, partitions: Int32, bootstrap: String) async -> [Int64] {
        await withCheckedContinuation { (done: CheckedContinuation<[Int64], Never>) in
            Thread { done.resume(returning: committedBlocking(group: group, topic: topic, partitions: partitions, bootstrap: bootstrap)) }.start()
        }
    }

    private static func committedBlocking(group: String, topic: String, partitions: Int32, bootstrap: String) -> [Int64] {
        guard let conf = rd_kafka_conf_new() else { return [] }
        var errorText = [CChar](repeating: 0, count: 256)
        for (name, value) in [("bootstrap.servers", bootstrap), ("group.id", group), ("log_level", "3")] {
            rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
        }
        guard let consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errorText, errorText.count) else { return [] }
        defer { rd_kafka_destroy(consumer) }
        guard let list = rd_kafka_topic_partition_list_new(partitions) else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in 0..<partitions { rd_kafka_topic_partition_list_add(list, topic, partition) }
        guard rd_kafka_committed(consumer, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR else { return [] }
        return (0..<Int(partitions)).map { list.pointee.elems[$0].offset }
    }

    /// Produces raw messages (not necessarily route events) and waits for them, on a thread of
    /// its own: librdkafka's flush blocks, and must not hold a Swift concurrency thread.
    /// With `partition`, every message goes to that partition, in order.
    static func produce(_ texts: [String], topic: String, bootstrap: String, partition: Int32? = nil) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                produceBlocking(texts, topic: topic, bootstrap: bootstrap, partition: partition)
                done.resume()
            }.start()
        }
    }

    private static func produceBlocking(_ texts: [String], topic: String, bootstrap: String, partition: Int32?) {
        guard let conf = rd_kafka_conf_new() else { return }
        var errorText = [CChar](repeating: 0, count: 256)
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, &errorText, errorText.count)
        guard let producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorText, errorText.count) else { return }
        defer { rd_kafka_destroy(producer) }
        for text in texts {
            var bytes = Array(text.utf8)
            topic.withCString { topicName in
                bytes.withUnsafeMutableBytes { value in
                    var fields = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: partition == nil ? 3 : 4)
                    fields[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    fields[0].u.cstr = topicName
                    fields[1].vtype = RD_KAFKA_VTYPE_VALUE
                    fields[1].u.mem.ptr = value.baseAddress
                    fields[1].u.mem.size = value.count
                    fields[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    fields[2].u.i = RD_KAFKA_MSG_F_COPY
                    if let partition {
                        fields[3].vtype = RD_KAFKA_VTYPE_PARTITION
                        fields[3].u.i32 = partition
                    }
                    if let error = rd_kafka_produceva(producer, fields, fields.count) { rd_kafka_error_destroy(error) }
                }
            }
        }
        rd_kafka_flush(producer, 10_000)
    }

    /// Kafka's Java client partition for `key`: murmur2, positive, modulo the partition count.
    static func javaPartition(of key: String, partitions: Int32) -> Int32 {
        let data = Array(key.utf8)
        let seed: UInt32 = 0x9747_b28c
        let m: UInt32 = 0x5bd1_e995
        var h: UInt32 = seed ^ UInt32(data.count)
        let blocks = data.count / 4
        for index in 0..<blocks {
            let base = index * 4
            var k = UInt32(data[base]) | UInt32(data[base + 1]) << 8 | UInt32(data[base + 2]) << 16 | UInt32(data[base + 3]) << 24
            k = k &* m
            k ^= k >> 24
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = blocks * 4
        switch data.count & 3 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h = h &* m
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h = h &* m
        case 1:
            h ^= UInt32(data[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h & 0x7fff_ffff) % partitions
    }
}
