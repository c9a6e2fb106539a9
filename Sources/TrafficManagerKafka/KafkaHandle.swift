import CRdKafka
import TrafficManager

/// Building librdkafka handles from property lists.
enum KafkaHandle {
    /// A new producer or consumer handle with `properties` (later entries win).
    ///
    /// - Throws: ``TrafficManagerError/Code/eventsUnavailable`` naming the property librdkafka
    ///   refused (never its value, which may be a secret).
    static func make(
        _ type: rd_kafka_type_t, properties: [(String, String)], configure: (OpaquePointer) -> Void = { _ in }
    ) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw TrafficManagerError.eventsUnavailable("librdkafka could not allocate a configuration") }
        var errorText = [CChar](repeating: 0, count: 512)
        for (name, value) in properties {
            let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let reason = KafkaConfiguration.redacting(Self.text(errorText), secretsOf: properties)
                throw TrafficManagerError.eventsUnavailable("librdkafka refused the property \(name): \(reason)")
            }
        }
        configure(conf)
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let reason = KafkaConfiguration.redacting(Self.text(errorText), secretsOf: properties)
            throw TrafficManagerError.eventsUnavailable("librdkafka could not create a client: \(reason)")
        }
        return handle
    }

    /// The NUL-terminated text in `buffer`.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// librdkafka's name and text for `error`.
    static func describe(_ error: rd_kafka_resp_err_t) -> String {
        "\(String(cString: rd_kafka_err2name(error))): \(String(cString: rd_kafka_err2str(error)))"
    }
}
