import CHiredis
import TrafficManager

/// A Redis reply, copied out of hiredis's reply tree so it can leave the connection's thread.
enum RedisReply: Hashable, Sendable {
    case string(String)
    case status(String)
    case integer(Int64)
    case null
    case error(String)
    case array([RedisReply])
    /// A bulk string that decoded as a cache entry (replies to ``RedisCommand/getEntry(_:prefix:)``),
    /// with its read time in Unix milliseconds when the format carries one.
    case cacheEntry(CachedRoute, readAt: Int64?)
    /// A bulk string in a cache-entry format this version does not know (a newer writer's).
    case newerCacheEntry

    /// Copies `reply`, decoding a bulk string as a cache entry when `decodesEntry` and it is
    /// one; the caller frees `reply`.
    init(_ reply: UnsafePointer<redisReply>, decodesEntry: Bool = false) {
        let r = reply.pointee
        if decodesEntry, r.type == REDIS_REPLY_STRING, let pointer = r.str,
            let decoded = RedisCacheEncoding.decodeEntry(UnsafeRawBufferPointer(start: pointer, count: r.len))
        {
            switch decoded {
            case .entry(let entry, let readAt): self = .cacheEntry(entry, readAt: readAt)
            case .newerFormat: self = .newerCacheEntry
            }
            return
        }
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .string(Self.text(r))
        case REDIS_REPLY_STATUS:
            self = .status(Self.text(r))
        case REDIS_REPLY_ERROR:
            self = .error(Self.text(r))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(r.elements)
            for index in 0..<r.elements {
                if let element = r.element[index] {
                    elements.append(RedisReply(element))
                } else {
                    elements.append(.null)
                }
            }
            self = .array(elements)
        default:
            self = .null
        }
    }

    private static func text(_ r: redisReply) -> String {
        guard let pointer = r.str else { return "" }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: r.len)
        return String(decoding: bytes, as: UTF8.self)
    }
}
