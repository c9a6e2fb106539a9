import TrafficManager

/// A command for a connection's thread to send.
enum RedisCommand: Sendable {
    /// `GET` of a route's key, written straight into the output buffer; the reply comes back
    /// decoded as ``RedisReply/cacheEntry(_:readAt:)`` when it is one of ours.
    case getEntry(RouteID, prefix: String)
    /// Any command, as its arguments.
    case arguments([String])
}

extension RESPEncoder {
    mutating func append(_ command: RedisCommand) {
        switch command {
        case .arguments(let arguments):
            append(arguments)
        case .getEntry(let route, let prefix):
            appendHeader(count: 2)
            appendBulk("GET")
            let parts = [route.tenant, route.service, route.environment, route.version]
            let length = prefix.utf8.count + 2 + parts.reduce(3) { $0 + $1.utf8.count }
            appendBulkHeader(length: length)
            appendRaw(prefix)
            appendByte(UInt8(ascii: "{"))
            appendRaw(route.tenant)
            appendByte(UInt8(ascii: "|"))
            appendRaw(route.service)
            appendByte(UInt8(ascii: "|"))
            appendRaw(route.environment)
            appendByte(UInt8(ascii: "|"))
            appendRaw(route.version)
            appendByte(UInt8(ascii: "}"))
            appendCRLF()
        }
    }
}
