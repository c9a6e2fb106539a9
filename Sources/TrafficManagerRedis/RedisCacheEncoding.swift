import TrafficManager

/// How routes and cache entries are laid out in Redis.
///
/// - Key: `prefix + "{" + tenant|service|environment|version + "}"`. Names cannot contain `|`,
///   `{` or `}`, so no two routes share a key, and the braces are a Redis Cluster hash tag that
///   keeps everything about one route in one slot.
/// - Value: `<kind>|<revision>|…`. Every format keeps that prefix — one kind byte, `|`, the
///   revision in decimal, `|` — so the revision-checked script of any version compares
///   revisions of any other, and a rolling upgrade never lets an old fill undo a newer state.
///   - Format 3, written now: `u|<revision>|<read at><url>` for an endpoint and
///     `x|<revision>|<read at>` for not found, where *read at* is when the answer was read from
///     the store — what a resolution's age is measured from — in tenths of a second since the
///     Unix epoch, as exactly 6 digits of base 64 (`0-9A-Za-z-_`, good until 2187), rounded
///     down, so an age is never understated. Fixed width and no separator keep the value 6
///     bytes longer than format 1, so a value with a one-digit revision and a URL of up to 34
///     bytes stays within Redis's 44-byte embedded strings: no more memory than format 1.
///   - Format 2, still read: `e|<revision>|<read at><url>` and `n|<revision>|<read at>`, with
///     Unix milliseconds in 7 base-64 digits. Its extra byte took a typical value out of the
///     embedded strings: 15 more bytes of memory per route.
///   - Tombstones: `T|<revision>|` (nothing to date).
///   - Format 1, still read: `E|<revision>|<url>` and `N|<revision>|`.
///   - Any other kind byte is a format this version does not know (a newer writer's): it reads
///     as a miss, never as an error, so the next format can roll out the same way.
///
///   The URL is last, so it may contain any character.
enum RedisCacheEncoding {
    static func key(_ route: RouteID, prefix: String) -> String {
        "\(prefix){\(route.tenant)|\(route.service)|\(route.environment)|\(route.version)}"
    }

    /// What a value decodes to.
    enum Decoded: Hashable, Sendable {
        /// One of ours, with its read time (Unix milliseconds) when the format carries it.
        case entry(CachedRoute, readAt: Int64?)
        /// A format this version does not know, from a newer writer: a miss.
        case newerFormat
    }

    /// `entry` in format 3 when `readAt` (Unix milliseconds) is given, in format 1 otherwise.
    static func encode(_ entry: CachedRoute, readAt: Int64? = nil) -> String {
        switch (entry, readAt) {
        case (.endpoint(let url, let revision), let readAt?): return "u|\(revision)|\(time(readAt))\(url)"
        case (.notFound(let revision), let readAt?): return "x|\(revision)|\(time(readAt))"
        case (.endpoint(let url, let revision), nil): return "E|\(revision)|\(url)"
        case (.notFound(let revision), nil): return "N|\(revision)|"
        case (.tombstone(let revision), _): return "T|\(revision)|"
        }
    }

    /// The entry `value` encodes, or `nil` when it is not one of ours (or of a newer format).
    static func decode(_ value: String) -> CachedRoute? {
        var value = value
        guard case .entry(let entry, _)? = value.withUTF8({ decodeEntry(UnsafeRawBufferPointer($0)) }) else { return nil }
        return entry
    }

    /// What the bytes encode; `nil` when they are not one of ours.
    static func decodeEntry(_ bytes: UnsafeRawBufferPointer) -> Decoded? {
        guard bytes.count >= 4, bytes[1] == UInt8(ascii: "|"), let (revision, end) = number(bytes, from: 2, base: 10) else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[(end + 1)...])
        switch bytes[0] {
        case UInt8(ascii: "E"): return .entry(.endpoint(url: String(decoding: rest, as: UTF8.self), revision: revision), readAt: nil)
        case UInt8(ascii: "N") where rest.isEmpty: return .entry(.notFound(revision: revision), readAt: nil)
        case UInt8(ascii: "T") where rest.isEmpty: return .entry(.tombstone(revision: revision), readAt: nil)
        case UInt8(ascii: "u"), UInt8(ascii: "x"):
            return dated(revision, rest, width: timeWidth, unit: 100, endpoint: bytes[0] == UInt8(ascii: "u"))
        case UInt8(ascii: "e"), UInt8(ascii: "n"):
            return dated(revision, rest, width: formatTwoTimeWidth, unit: 1, endpoint: bytes[0] == UInt8(ascii: "e"))
        case let kind where kind >= 0x21 && kind <= 0x7e:
            return .newerFormat
        default:
            return nil
        }
    }

    /// A format 2 or 3 entry: its read time in `width` digits of `unit` milliseconds, then the
    /// URL of an endpoint or nothing.
    private static func dated(_ revision: UInt64, _ rest: UnsafeRawBufferPointer, width: Int, unit: Int64, endpoint: Bool) -> Decoded? {
        guard rest.count >= width, let units = time(UnsafeRawBufferPointer(rebasing: rest.prefix(width))) else { return nil }
        let readAt = units * unit
        let tail = UnsafeRawBufferPointer(rebasing: rest.dropFirst(width))
        if !endpoint {
            return tail.isEmpty ? .entry(.notFound(revision: revision), readAt: readAt) : nil
        }
        return .entry(.endpoint(url: String(decoding: tail, as: UTF8.self), revision: revision), readAt: readAt)
    }

    /// The decimal digits from `start` up to the next `|` (which must exist), and that
    /// separator's index.
    private static func number(_ bytes: UnsafeRawBufferPointer, from start: Int, base: UInt64) -> (UInt64, Int)? {
        var index = start
        var value: UInt64 = 0
        while index < bytes.count, bytes[index] != UInt8(ascii: "|") {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            let (times, overflow1) = value.multipliedReportingOverflow(by: base)
            let (sum, overflow2) = times.addingReportingOverflow(digit)
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            index += 1
        }
        guard index > start, index < bytes.count else { return nil }
        return (value, index)
    }

    /// The read time's width in format 3: tenths of a second.
    static let timeWidth = 6
    /// The read time's width in format 2: milliseconds.
    static let formatTwoTimeWidth = 7
    private static let digits = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_".utf8)

    /// Unix milliseconds as format 3 writes them: whole tenths of a second (rounded down), in 6
    /// base-64 digits, most significant first.
    static func time(_ milliseconds: Int64) -> String {
        base64(max(0, milliseconds) / 100, width: timeWidth)
    }

    /// `value` in `width` base-64 digits, most significant first (its low `6 × width` bits).
    static func base64(_ value: Int64, width: Int) -> String {
        var value = UInt64(clamping: max(0, value))
        var out = [UInt8](repeating: digits[0], count: width)
        for index in stride(from: width - 1, through: 0, by: -1) {
            out[index] = digits[Int(value & 63)]
            value >>= 6
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The number base-64 digits encode; `nil` for another byte.
    static func time(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var value: Int64 = 0
        for byte in bytes {
            let digit: Int64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = Int64(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = Int64(byte - UInt8(ascii: "a")) + 36
            case UInt8(ascii: "-"): digit = 62
            case UInt8(ascii: "_"): digit = 63
            default: return nil
            }
            value = value << 6 | digit
        }
        return value
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
