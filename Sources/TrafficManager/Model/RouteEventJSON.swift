import Foundation

/// The event's JSON without `JSONEncoder` and, for the layout this version writes,
/// without `JSONDecoder`: events are written and read once per change on every consumer, and
/// Foundation's coders cost tens of microseconds an event.
///
/// The writer produces byte for byte what `JSONEncoder` with sorted keys produces (a test
/// holds it to that). The reader takes a flat object of strings, integers, booleans and nulls;
/// whatever it does not take — a nested value, a number with a fraction, a duplicated field, an
/// invalid value — it leaves to the `Decodable` path, so errors and tolerance rules stay in one
/// place.
package enum RouteEventJSON {
    /// The route's `description` (`tenant/service/environment@version`) as bytes: the event's
    /// message key.
    package static func key(of route: RouteID) -> [UInt8] {
        var key: [UInt8] = []
        withKey(of: route) { key = Array($0) }
        return key
    }

    /// Calls `body` with the route's message key, written into temporary memory. (Not
    /// generic, so a caller in another module pays no generic metadata lookup per call.)
    package static func withKey(of route: RouteID, _ body: (UnsafeRawBufferPointer) -> Void) {
        let capacity = route.tenant.utf8.count + route.service.utf8.count + route.environment.utf8.count + route.version.utf8.count + 3
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var writer = Writer(buffer: buffer)
            writer.verbatim(route.tenant)
            writer.byte(UInt8(ascii: "/"))
            writer.verbatim(route.service)
            writer.byte(UInt8(ascii: "/"))
            writer.verbatim(route.environment)
            writer.byte(UInt8(ascii: "@"))
            writer.verbatim(route.version)
            body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: writer.count))
        }
    }

    /// Calls `body` with the event id as `uuidString` writes it, in temporary memory.
    package static func withIDText(of id: UUID, _ body: (UnsafeRawBufferPointer) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { buffer in
            var writer = Writer(buffer: buffer)
            writer.uuid(id)
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// The event as `JSONEncoder` (`.sortedKeys`) writes it.
    package static func encode(_ event: RouteEvent) -> [UInt8] {
        var bytes: [UInt8] = []
        withEncoded(event) { bytes = Array($0) }
        return bytes
    }

    /// Calls `body` with the event as ``encode(_:)`` writes it, in temporary memory (on the
    /// stack when it is small): no allocation for a producer that copies the bytes anyway.
    package static func withEncoded(_ event: RouteEvent, _ body: (UnsafeRawBufferPointer) -> Void) {
        let strings = (
            event.action.rawValue, event.route.environment, event.route.service, event.route.tenant, event.url, event.route.version
        )
        // Every byte of a string may become a six-byte \u escape. The rest is at most 224: the
        // keys and punctuation (about 130), the id (36) and three numbers of at most 20.
        let capacity =
            224 + 6 * (strings.0.utf8.count + strings.1.utf8.count + strings.2.utf8.count + strings.3.utf8.count + strings.4.utf8.count + strings.5.utf8.count)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var writer = Writer(buffer: buffer)
            // The keys in sorted order, as JSONEncoder's .sortedKeys puts them.
            writer.raw(#"{"action":"#)
            writer.string(strings.0)
            writer.raw(#","env":"#)
            writer.string(strings.1)
            writer.raw(#","event_id":""#)
            writer.uuid(event.eventID)
            writer.raw(#"","occurred_at":"#)
            writer.integer(event.occurredAt.unixMilliseconds)
            writer.raw(#","revision":"#)
            writer.integer(event.revision)
            writer.raw(#","schema_version":"#)
            writer.integer(RouteEvent.schemaVersion)
            writer.raw(#","service":"#)
            writer.string(strings.2)
            writer.raw(#","tenant":"#)
            writer.string(strings.3)
            writer.raw(#","url":"#)
            writer.string(strings.4)
            writer.raw(#","version":"#)
            writer.string(strings.5)
            writer.byte(UInt8(ascii: "}"))
            precondition(writer.count <= capacity, "RouteEventJSON wrote past its buffer")
            return body(UnsafeRawBufferPointer(start: buffer.baseAddress, count: writer.count))
        }
    }

    /// `uuidString`'s form: upper-case hex, 8-4-4-4-12.
    package static func appendUUID(_ id: UUID, to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 36))
        out.withUnsafeMutableBufferPointer { buffer in
            var writer = Writer(buffer: UnsafeMutableBufferPointer(rebasing: buffer[start...]))
            writer.uuid(id)
        }
    }


    /// Writes into a buffer sized for the worst case; no bounds or capacity checks per byte.
    private struct Writer {
        let buffer: UnsafeMutableBufferPointer<UInt8>
        var count = 0

        init(buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

        @inline(__always) mutating func byte(_ value: UInt8) {
            buffer[count] = value
            count += 1
        }

        mutating func raw(_ text: StaticString) {
            let length = text.utf8CodeUnitCount
            (buffer.baseAddress! + count).update(from: text.utf8Start, count: length)
            count += length
        }

        @inline(__always) static func hex(_ nibble: UInt8) -> UInt8 {
            nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10
        }

        mutating func verbatim(_ text: String) {
            var text = text
            text.withUTF8 { bytes in
                (buffer.baseAddress! + count).update(from: bytes.baseAddress!, count: bytes.count)
                count += bytes.count
            }
        }

        /// Whether JSONEncoder writes `byte` as an escape: `"`, `\`, `/` and control characters.
        @inline(__always) static func needsEscape(_ byte: UInt8) -> Bool {
            byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/")
        }

        /// A JSON string as JSONEncoder escapes it: runs of plain bytes are copied at once.
        mutating func string(_ text: String) {
            byte(UInt8(ascii: "\""))
            var text = text
            text.withUTF8 { bytes in
                var start = 0
                var index = 0
                while index < bytes.count {
                    let value = bytes[index]
                    guard Self.needsEscape(value) else {
                        index += 1
                        continue
                    }
                    if index > start {
                        (buffer.baseAddress! + count).update(from: bytes.baseAddress! + start, count: index - start)
                        count += index - start
                    }
                    escape(value)
                    index += 1
                    start = index
                }
                if index > start {
                    (buffer.baseAddress! + count).update(from: bytes.baseAddress! + start, count: index - start)
                    count += index - start
                }
            }
            byte(UInt8(ascii: "\""))
        }

        private mutating func escape(_ value: UInt8) {
            byte(UInt8(ascii: "\\"))
            switch value {
            case 0x08: byte(UInt8(ascii: "b"))
            case 0x0C: byte(UInt8(ascii: "f"))
            case 0x0A: byte(UInt8(ascii: "n"))
            case 0x0D: byte(UInt8(ascii: "r"))
            case 0x09: byte(UInt8(ascii: "t"))
            case 0..<0x20:
                // JSONEncoder writes these with lower-case hex digits.
                byte(UInt8(ascii: "u"))
                byte(UInt8(ascii: "0"))
                byte(UInt8(ascii: "0"))
                byte(UInt8(ascii: "0") + (value >> 4))
                let low = value & 0xF
                byte(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            default: byte(value)
            }
        }

        mutating func uuid(_ id: UUID) {
            withUnsafeBytes(of: id.uuid) { bytes in
                for index in 0..<16 {
                    if index == 4 || index == 6 || index == 8 || index == 10 { byte(UInt8(ascii: "-")) }
                    byte(Self.hex(bytes[index] >> 4))
                    byte(Self.hex(bytes[index] & 0xF))
                }
            }
        }

        mutating func integer(_ value: some FixedWidthInteger) {
            if value < 0 { byte(UInt8(ascii: "-")) }
            // Through the magnitude, so Int64.min does not overflow.
            var rest = UInt64(value.magnitude)
            var digits = 0
            var probe = rest
            repeat {
                digits += 1
                probe /= 10
            } while probe > 0
            var index = count + digits - 1
            repeat {
                buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                index -= 1
            } while rest > 0
            count += digits
        }
    }

    // MARK: - Reading

    /// The event, when `bytes` is a flat object this reader takes and it holds a valid event;
    /// `nil` otherwise (the `Decodable` path then decides, and names what is wrong).
    package static func decode(_ bytes: UnsafeRawBufferPointer) -> RouteEvent? {
        var reader = Reader(bytes: bytes)
        var fields = Fields()
        guard reader.skipSpace(), reader.take(UInt8(ascii: "{")) else { return nil }
        reader.skipSpace()
        if !reader.take(UInt8(ascii: "}")) {
            while true {
                guard let key = reader.key(), reader.skipSpace(), reader.take(UInt8(ascii: ":")), reader.skipSpace() else { return nil }
                guard let value = reader.value() else { return nil }
                guard fields.set(key, value) else { return nil }
                reader.skipSpace()
                if reader.take(UInt8(ascii: ",")) {
                    reader.skipSpace()
                    continue
                }
                guard reader.take(UInt8(ascii: "}")) else { return nil }
                break
            }
        }
        reader.skipSpace()
        guard reader.atEnd else { return nil }
        return fields.event()
    }

    /// A field's value as read.
    fileprivate enum Value {
        case string(String)
        case integer(negative: Bool, magnitude: UInt64)
        /// `true`, `false` or `null`: skipped in unknown fields, not taken in known ones.
        case other
    }

    fileprivate struct Fields {
        var schemaVersion: Value?
        var eventID: Value?
        var action: Value?
        var tenant: Value?
        var service: Value?
        var env: Value?
        var version: Value?
        var url: Value?
        var revision: Value?
        var occurredAt: Value?

        /// Records a field; `false` for a known field seen twice.
        mutating func set(_ key: Key, _ value: Value) -> Bool {
            func put(_ slot: inout Value?) -> Bool {
                guard slot == nil else { return false }
                slot = value
                return true
            }
            switch key {
            case .schemaVersion: return put(&schemaVersion)
            case .eventID: return put(&eventID)
            case .action: return put(&action)
            case .tenant: return put(&tenant)
            case .service: return put(&service)
            case .env: return put(&env)
            case .version: return put(&version)
            case .url: return put(&url)
            case .revision: return put(&revision)
            case .occurredAt: return put(&occurredAt)
            case .unknown: return true
            }
        }

        func event() -> RouteEvent? {
            guard case .integer(false, let schemaMagnitude)? = schemaVersion, schemaMagnitude >= 1, schemaMagnitude <= UInt64(Int.max),
                case .string(let idText)? = eventID, let id = Self.uuid(idText) ?? UUID(uuidString: idText),
                case .string(let tenant)? = tenant, case .string(let service)? = service, case .string(let env)? = env,
                case .string(let version)? = version, let route = try? RouteID(tenant: tenant, service: service, environment: env, version: version),
                case .integer(false, let revision)? = revision
            else { return nil }
            let schema = Int(schemaMagnitude)
            guard schema == RouteEvent.schemaVersion,
                case .string(let actionName)? = action, let action = RouteAction(rawValue: actionName),
                case .string(let url)? = url,
                case .integer(let negative, let magnitude)? = occurredAt,
                let milliseconds = Self.int64(negative: negative, magnitude: magnitude)
            else {
                // A newer layout's optional fields follow rules the Decodable path keeps.
                return nil
            }
            var event = RouteEvent(eventID: id, action: action, route: route, url: url, revision: revision, occurredAt: Date(unixMilliseconds: milliseconds))
            event.writtenSchemaVersion = schema
            return event
        }

        /// The canonical 8-4-4-4-12 hex form, either case; other forms go to `UUID(uuidString:)`.
        static func uuid(_ text: String) -> UUID? {
            var text = text
            return text.withUTF8 { bytes -> UUID? in
                guard bytes.count == 36 else { return nil }
                var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
                let valid = withUnsafeMutableBytes(of: &raw) { out -> Bool in
                    var index = 0
                    for slot in 0..<16 {
                        if slot == 4 || slot == 6 || slot == 8 || slot == 10 {
                            guard bytes[index] == UInt8(ascii: "-") else { return false }
                            index += 1
                        }
                        guard let high = nibble(bytes[index]), let low = nibble(bytes[index + 1]) else { return false }
                        out[slot] = high << 4 | low
                        index += 2
                    }
                    return true
                }
                return valid ? UUID(uuid: raw) : nil
            }
        }

        static func nibble(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        static func int64(negative: Bool, magnitude: UInt64) -> Int64? {
            if negative {
                if magnitude == UInt64(Int64.max) + 1 { return Int64.min }
                return magnitude <= UInt64(Int64.max) ? -Int64(magnitude) : nil
            }
            return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
        }
    }

    fileprivate enum Key {
        case schemaVersion, eventID, action, tenant, service, env, version, url, revision, occurredAt, unknown

        init(_ bytes: UnsafeRawBufferPointer) {
            switch bytes.count {
            case 3 where bytes.elementsEqual("env".utf8): self = .env
            case 3 where bytes.elementsEqual("url".utf8): self = .url
            case 6 where bytes.elementsEqual("action".utf8): self = .action
            case 6 where bytes.elementsEqual("tenant".utf8): self = .tenant
            case 7 where bytes.elementsEqual("service".utf8): self = .service
            case 7 where bytes.elementsEqual("version".utf8): self = .version
            case 8 where bytes.elementsEqual("event_id".utf8): self = .eventID
            case 8 where bytes.elementsEqual("revision".utf8): self = .revision
            case 11 where bytes.elementsEqual("occurred_at".utf8): self = .occurredAt
            case 14 where bytes.elementsEqual("schema_version".utf8): self = .schemaVersion
            default: self = .unknown
            }
        }
    }

    fileprivate struct Reader {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        var atEnd: Bool { index == bytes.count }

        /// Skips JSON whitespace; always `true`, for use in conditions.
        @discardableResult mutating func skipSpace() -> Bool {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return true
                }
            }
            return true
        }

        mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// A key without escapes (a key with one is left to the Decodable path).
        mutating func key() -> Key? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let key = Key(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                    index += 1
                    return key
                }
                // Escapes and non-ASCII keys (whose UTF-8 Foundation checks) go to the Decodable path.
                if byte == UInt8(ascii: "\\") || byte < 0x20 || byte >= 0x80 { return nil }
                index += 1
            }
            return nil
        }

        mutating func value() -> Value? {
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "\""): return string().map(Value.string)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return integer()
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            default: return nil
            }
        }

        private mutating func literal(_ word: StaticString) -> Value? {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { return nil }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return nil }
            index += count
            return .other
        }

        /// An integer as JSON writes it: no leading zero, no fraction or exponent (those go to
        /// the Decodable path), at most UInt64's range.
        private mutating func integer() -> Value? {
            let negative = take(UInt8(ascii: "-"))
            guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { return nil }
            if bytes[index] == UInt8(ascii: "0"), index + 1 < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index + 1]) {
                return nil
            }
            var magnitude: UInt64 = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                let (times, overflowA) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflowB) = times.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
                guard !overflowA, !overflowB else { return nil }
                magnitude = sum
                index += 1
            }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) { return nil }
            return .integer(negative: negative, magnitude: magnitude)
        }

        /// A string, its escapes resolved; `nil` for invalid UTF-8 or escapes.
        private mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            let start = index
            // The common case: no escape, read in place.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                    index += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { return nil }
                index += 1
            }
            var out = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(validating: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard var scalar = hex4() else { return nil }
                        if (0xD800..<0xDC00).contains(scalar) {
                            guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            return nil
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { return nil }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: return nil
                    }
                case 0..<0x20:
                    return nil
                default:
                    out.append(byte)
                }
            }
            return nil
        }

        private mutating func hex4() -> UInt32? {
            guard bytes.count - index >= 4 else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: return nil
                }
                value = value << 4 | digit
                index += 1
            }
            return value
        }
    }
}
