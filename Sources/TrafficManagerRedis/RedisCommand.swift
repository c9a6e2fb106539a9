import TrafficManager

/// A command for a connection's thread to send.
enum RedisCommand: Sendable {
    /// `GET` of a route's key, written straight into the output buffer; the reply comes back
    /// decoded as ``RedisReply/cacheEntry(_:readAt:)`` when it is one of ours.
    case getEntry(RouteID, prefix: String)
    /// One `GET` per route, written together and answered as one ``RedisReply/array(_:)`` of
    /// their replies in order, each decoded as for ``getEntry(_:prefix:)``: a pipeline in one
    /// request, so one write and one round trip whatever else shares the batch. Never empty.
    case getEntries([RouteID], prefix: String)
    /// Any command, as its arguments.
    case arguments([String])

    /// How many replies the server sends to it.
    var replyCount: Int {
        if case .getEntries(let routes, _) = self { return routes.count }
        return 1
    }
}

extension RESPEncoder {
    mutating func append(_ command: RedisCommand) {
        switch command {
        case .arguments(let arguments):
            append(arguments)
        case .getEntry(let route, let prefix):
            appendGet(route, prefix: prefix)
        case .getEntries(let routes, let prefix):
            for route in routes { appendGet(route, prefix: prefix) }
        }
    }

    private mutating func appendGet(_ route: RouteID, prefix: String) {
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
