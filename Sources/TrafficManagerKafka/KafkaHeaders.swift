import CRdKafka
import Tracing

/// A message's headers as name–value text: what TrafficManager writes (`event_id`, and the
/// trace context the instrument injects) and reads back.
struct KafkaHeaders: Sendable {
    var fields: [(String, String)]

    /// Writes trace context into the headers.
    struct Writer: Injector {
        func inject(_ value: String, forKey key: String, into carrier: inout KafkaHeaders) {
            carrier.fields.append((key, value))
        }
    }

    /// Reads trace context from the headers.
    struct Reader: Extractor {
        func extract(key: String, from carrier: KafkaHeaders) -> String? {
            carrier.fields.first { $0.0 == key }?.1
        }
    }

    /// A librdkafka header list holding these fields; the caller owns it.
    func makeList() -> OpaquePointer? {
        guard let list = rd_kafka_headers_new(fields.count) else { return nil }
        for (name, value) in fields {
            _ = value.withCString { text in rd_kafka_header_add(list, name, -1, UnsafeRawPointer(text), -1) }
        }
        return list
    }

    /// The text headers of a consumed message.
    init(of message: UnsafeMutablePointer<rd_kafka_message_t>) {
        fields = []
        var list: OpaquePointer?
        guard rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list else { return }
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(list, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            index += 1
            guard let name, let value else { continue }
            let bytes = UnsafeRawBufferPointer(start: value, count: size)
            fields.append((String(cString: name), String(decoding: bytes, as: UTF8.self)))
        }
    }

    init(fields: [(String, String)]) {
        self.fields = fields
    }
}
