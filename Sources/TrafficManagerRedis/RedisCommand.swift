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
    /// `ASKING`, then a `getEntry` or `arguments` command, in one request (a Redis Cluster `ASK`
    /// redirect: the target node serves the one command that follows `ASKING` on the connection).
    /// Its reply is the command's.
    indirect case asking(RedisCommand)
    /// Commands written together and answered as one ``RedisReply/array(_:)`` of their replies,
    /// in order, on one connection (so `WAIT` follows the write it waits for, and `ASKING` the
    /// command it is for).
    case pipeline([[String]])

    /// How many replies the server sends to it.
    var replyCount: Int {
        switch self {
        case .getEntries(let routes, _): return routes.count
        case .asking(let inner): return 1 + inner.replyCount
        case .pipeline(let commands): return commands.count
        case .getEntry, .arguments: return 1
        }
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
        case .asking(let inner):
            append(["ASKING"])
            append(inner)
        case .pipeline(let commands):
            for arguments in commands { append(arguments) }
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
