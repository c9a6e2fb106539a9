import Foundation
import PropertyBased
import TrafficManager

/// Generators of hostile input for the validators and the event decoder: mostly plausible
/// values, with every hostile class mixed in — control and invisible characters, bidi marks,
/// percent signs, characters RFC 3986 forbids, non-ASCII letters, out-of-range ports, user info
/// and very long inputs.
///
/// Strings are drawn from weighted character mixes in one loop per string (the library's
/// per-character combinators cost about a millisecond a case here); they shrink by dropping
/// characters.
enum HostileInput {
    /// A token that marks user info's password; no error may echo it.
    static let secret = "Zq9SECRETpw"

    static let controls: [Character] =
        (0x00...0x1F).map { Character(Unicode.Scalar(UInt8($0))) } + [Character(Unicode.Scalar(UInt8(0x7F)))]
        + (0x80...0x9F).map { Character(Unicode.Scalar(UInt8($0))) }
    static let invisible: [Character] = ["\u{200B}", "\u{200C}", "\u{200D}", "\u{2060}", "\u{FEFF}", "\u{00AD}", "\u{180E}"]
    static let bidi: [Character] = [
        "\u{200E}", "\u{200F}", "\u{061C}", "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}", "\u{2066}",
        "\u{2067}", "\u{2068}", "\u{2069}",
    ]
    static let forbiddenASCII: [Character] = [" ", "\"", "<", ">", "\\", "^", "`", "{", "|", "}"]
    static let uriSpecial: [Character] = Array(":/?#[]@!$&'()*+,;=-._~%")
    static let nonASCII: [Character] = ["é", "ß", "а", "你", "🙂", "e\u{301}", "Ω", "ﬁ", "１"]

    /// Characters drawn by group weight, then uniformly within the group, from a table of
    /// their UTF-8 bytes (four draws from each random number).
    struct Mix: Sendable {
        private let units: [[UInt8]]

        init(_ groups: [(Int, [Character])]) {
            let total = groups.reduce(0) { $0 + $1.0 }
            var units: [[UInt8]] = []
            for (weight, characters) in groups {
                let copies = max(1, weight * 1024 / (total * characters.count))
                for character in characters {
                    units += Array(repeating: Array(String(character).utf8), count: copies)
                }
            }
            self.units = units
        }

        func append(_ count: Int, to bytes: inout [UInt8], using rng: inout any SeededRandomNumberGenerator) {
            var remaining = count
            while remaining > 0 {
                var bits = rng.next()
                for _ in 0..<min(4, remaining) {
                    bytes += units[Int(bits & 0xFFFF) % units.count]
                    bits >>= 16
                    remaining -= 1
                }
            }
        }
    }

    static let lowercase = Array("abcdefghijklmnopqrstuvwxyz")
    static let digits = Array("0123456789")

    /// Every hostile class, among mostly ordinary characters.
    static let anyCharacter = Mix([
        (6, lowercase), (2, digits), (1, Array("ABCXYZ")), (3, uriSpecial), (1, controls), (1, invisible), (1, bidi),
        (1, forbiddenASCII), (1, nonASCII),
    ])

    /// Strings of `length` characters from `mix`, shrinking towards shorter strings.
    static func text(_ mix: Mix, _ length: ClosedRange<Int>) -> Generator<String, [String]> {
        Generator(
            run: { rng in
                var bytes: [UInt8] = []
                mix.append(Int.random(in: length, using: &rng), to: &bytes, using: &rng)
                return String(decoding: bytes, as: UTF8.self)
            },
            shrink: { text in
                let characters = Array(text)
                guard characters.count > length.lowerBound, characters.count <= 4096 else { return [] }
                var smaller: [String] = []
                let half = max(length.lowerBound, characters.count / 2)
                if half < characters.count { smaller.append(String(characters.prefix(half))) }
                for index in characters.indices.prefix(48) {
                    var copy = characters
                    copy.remove(at: index)
                    smaller.append(String(copy))
                }
                return smaller
            })
    }

    static func pick(_ strings: [String]) -> Generator<String, Shrink.None<String>> {
        Generator { rng in strings.randomElement(using: &rng) ?? "" }
    }

    static let shortText = text(anyCharacter, 0...24)
    static let longText = text(anyCharacter, 200...3000)

    // MARK: URLs

    static let scheme = Gen<String>.frequency(
        (8, pick(["http", "https", "HTTP", "hTtPs"])),
        (2, pick(["ftp", "wss", "javascript", "", "1http", "h+t.t-p", "data", "http "])), (1, shortText))
    static let separator = Gen<String>.frequency((12, Gen.always("://")), (1, pick([":", ":/", "//", "", ":///", "::/"])))
    static let userInfo = Gen<String>.frequency(
        (8, Gen.always("")), (1, Gen.always("user:\(secret)@")), (1, Gen.always("\(secret)@")), (1, shortText.map { "\($0)@" }))
    static let host = Gen<String>.frequency(
        (4, text(Mix([(6, Array("abcxyz")), (2, Array("0159")), (1, Array("-_.")), (1, Array("AZ"))]), 0...30)),
        (2, pick(["chat-service", "a", "x.example.com", "svc_1.internal", "localhost", "h.", "-", "a..b", "host.123"])),
        (2, Gen.int(in: 0...300).array(of: 1...5).map { $0.map(String.init).joined(separator: ".") }),
        (2, text(Mix([(5, Array("0123456789abcdefABCDEF")), (3, [":"]), (1, ["."]), (1, ["%"])]), 0...45).map { "[\($0)]" }),
        (1, pick(["[::1]", "[2001:db8::7]", "[::ffff:10.0.0.1]", "[1:2:3:4:5:6:7:8]", "[fe80::1%25eth0]", "[::1"])),
        (2, shortText), (1, Gen.always(String(repeating: "a", count: 64))))
    static let port = Gen<String>.frequency(
        (4, Gen.always("")), (4, Gen.int(in: -5...99_999).map { ":\($0)" }), (1, Gen.always(":")),
        (1, shortText.map { ":" + $0 }), (1, Gen.always(":99999999")), (1, Gen.int(in: 1...65535).map { ":0\($0)" }))
    static let percent = pick(["%", "%2", "%20", "%zz", "%00", "%7F", "%0a", "%41", "%%", "%C3%A9", "%25", "%1F"])
    static let path = Gen<String>.frequency(
        (2, Gen.always("")), (6, shortText.map { "/" + $0 }), (2, percent.array(of: 1...4).map { "/" + $0.joined() }),
        (0.3, longText.map { "/" + $0 }))
    static let url = Gen<String>.frequency(
        (12, zip(scheme, separator, userInfo, host, port, path).map { parts in
            parts.0 + parts.1 + parts.2 + parts.3 + parts.4 + parts.5
        }),
        (1, shortText), (0.3, longText))

    // MARK: Names and keys

    static let name = Gen<String>.frequency(
        (6, text(Mix([(8, Array("abcxyz")), (3, Array("0159")), (2, Array("-._")), (1, Array("AZ+"))]), 0...70)),
        (2, shortText), (0.1, longText))
    static let route = zip(name, name, name, name)
    static let key = Gen<String>.frequency(
        (6, text(Mix([(1, (0x21...0x7E).map { Character(Unicode.Scalar(UInt8($0))) })]), 0...260)), (3, shortText), (0.3, longText))

    // MARK: Events

    /// JSON that is or resembles a route event: valid fields, missing ones, wrong types,
    /// hostile strings, extreme numbers, other schema versions, and bytes mutated at random.
    /// Keys are written sorted, so a seed always gives the same bytes.
    static let eventData = Generator<Data, Shrink.None<Data>> { rng in
        func choose<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &rng)] }
        func text() -> String { shortText.run(using: &rng) }
        func number() -> Any {
            choose([0, 1, -1, Int.max, Int.min, Int64.max, 1_767_225_600_123, Int.random(in: -1_000_000...1_000_000, using: &rng)] as [Any])
        }
        func uuid() -> String {
            let (a, b) = (rng.next(), rng.next())
            let bytes = (0..<8).map { UInt8(truncatingIfNeeded: a >> ($0 * 8)) } + (0..<8).map { UInt8(truncatingIfNeeded: b >> ($0 * 8)) }
            return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                               bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15])).uuidString
        }
        func field(_ valid: Any) -> Any? {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: return nil
            case 1: return NSNull()
            case 2: return text()
            case 3: return number()
            case 4: return [text()]
            default: return valid
            }
        }
        let valid: [(String, Any)] = [
            ("schema_version", choose([1, 1, 1, 2, 0, -1] as [Any])), ("event_id", uuid()),
            ("action", choose(["created", "updated", "activated", "deactivated", "deleted", "CREATED"])),
            ("tenant", choose(["chat-app", "acme", text()])), ("service", choose(["chat", text()])), ("env", "prod"),
            ("version", choose(["v1", "2.0.0-rc.1+build.7", text()])), ("url", choose(["http://chat:4002", url.run(using: &rng)])),
            ("revision", choose([1, 7, -3, Int.max] as [Any])), ("occurred_at", number()),
        ]
        var object: [String: Any] = [:]
        for (key, value) in valid { object[key] = field(value) }
        if Int.random(in: 0..<8, using: &rng) == 0 { object[text()] = text() }
        var data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        if Int.random(in: 0..<5, using: &rng) == 0, !data.isEmpty {
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !data.isEmpty {
                let index = Int.random(in: 0..<data.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: data[data.startIndex + index] = UInt8.random(in: 0...255, using: &rng)
                case 1: data.remove(at: data.startIndex + index)
                default: data = Data(data.prefix(index))
                }
            }
        }
        return data
    }
}
