import TrafficManager

/// How routes and cache entries are laid out in Redis.
///
/// - Key: `prefix + "{" + tenant|service|environment|version + "}"`. Names cannot contain `|`,
///   `{` or `}`, so no two routes share a key, and the braces are a Redis Cluster hash tag that
///   keeps everything about one route in one slot.
/// - Value: `E|<revision>|<url>` for an endpoint, `N|<revision>|` for not found,
///   `T|<revision>|` for a tombstone. The URL is last, so it may contain any character.
enum RedisCacheEncoding {
    static func key(_ route: RouteID, prefix: String) -> String {
        "\(prefix){\(route.tenant)|\(route.service)|\(route.environment)|\(route.version)}"
    }

    static func encode(_ entry: CachedRoute) -> String {
        switch entry {
        case .endpoint(let url, let revision): return "E|\(revision)|\(url)"
        case .notFound(let revision): return "N|\(revision)|"
        case .tombstone(let revision): return "T|\(revision)|"
        }
    }

    /// The entry `value` encodes, or `nil` when it is not one of ours.
    static func decode(_ value: String) -> CachedRoute? {
        var value = value
        return value.withUTF8 { decode(UnsafeRawBufferPointer($0)) }
    }

    /// The entry the bytes encode, or `nil` when they are not one of ours.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> CachedRoute? {
        guard bytes.count >= 4, bytes[1] == UInt8(ascii: "|") else { return nil }
        var index = 2
        var revision: UInt64 = 0
        while index < bytes.count, bytes[index] != UInt8(ascii: "|") {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times10, overflow1) = revision.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            guard !overflow1, !overflow2 else { return nil }
            revision = sum
            index += 1
        }
        guard index > 2, index < bytes.count else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[(index + 1)...])
        switch bytes[0] {
        case UInt8(ascii: "E"): return .endpoint(url: String(decoding: rest, as: UTF8.self), revision: revision)
        case UInt8(ascii: "N") where rest.isEmpty: return .notFound(revision: revision)
        case UInt8(ascii: "T") where rest.isEmpty: return .tombstone(revision: revision)
        default: return nil
        }
    }

    /// Sets KEYS[1] to ARGV[1] for ARGV[3] milliseconds unless the entry there has a revision
    /// newer than ARGV[2] — or, when ARGV[4] is "1" (an invalidation), the same revision —
    /// or, when ARGV[5] is not "0", the server's clock is past ARGV[5] (Unix milliseconds: a
    /// fill that arrived too late). Returns 1 when set, 0 when refused. Runs atomically on the
    /// server.
    static let conditionalSetScript = """
        if ARGV[5] ~= '0' then
          -- Redis before 5 replicates scripts verbatim and refuses a write after TIME unless
          -- the script's effects are replicated instead (the only mode from Redis 7).
          if redis.replicate_commands then redis.replicate_commands() end
          local now = redis.call('TIME')
          if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[5]) then
            return 0
          end
        end
        local current = redis.call('GET', KEYS[1])
        if current then
          local separator = string.find(current, '|', 3, true)
          local revision = separator and tonumber(string.sub(current, 3, separator - 1))
          local incoming = tonumber(ARGV[2])
          if revision and (revision > incoming or (ARGV[4] == '1' and revision == incoming)) then
            return 0
          end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
        return 1
        """
}
