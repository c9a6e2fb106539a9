/// Validation of the URLs that routes resolve to.
///
/// A write's URL must be `scheme://host[:port][path][?query][#fragment]` where
///
/// - the scheme is one of the allowed schemes (``defaultSchemes`` unless
///   ``TrafficManagerConfiguration/allowedURLSchemes`` says otherwise), in any letter case;
/// - the host is a DNS name (labels of letters, digits, `-` and `_`, each starting and ending
///   with a letter or digit, at most 63 characters, 253 in all; a last label is never all
///   digits) or an IP literal (dotted-quad IPv4, or IPv6 in brackets);
/// - the port, when given, is a number from 1 to 65535;
/// - there is no user info (`user:password@`): credentials would be stored, cached and
///   published with the route;
/// - every character is one RFC 3986 allows, and every `%` starts a `%XX` escape that does not
///   encode a control character;
/// - it is at most ``maximumLength`` bytes long.
///
/// The URL is stored and returned exactly as given. Validation applies to writes only: a URL
/// already stored still resolves.
public enum EndpointURL {
    /// The longest URL accepted, in bytes.
    public static let maximumLength = 2048

    /// The schemes accepted when a configuration names none: `http` and `https`.
    public static let defaultSchemes: Set<String> = ["http", "https"]

    /// Checks that `value` is an acceptable endpoint URL.
    ///
    /// - Parameters:
    ///   - value: the URL text.
    ///   - allowedSchemes: lowercase scheme names.
    /// - Throws: ``ValidationError`` with field `url` and the rule it broke.
    public static func validate(_ value: String, allowedSchemes: Set<String> = defaultSchemes) throws(ValidationError) {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty else { throw failure(.empty) }
        guard bytes.count <= maximumLength else { throw failure(.tooLong(maximum: maximumLength)) }
        try checkCharacters(value, bytes)

        // scheme ":" "//"
        guard let colon = bytes.firstIndex(of: ascii(":")), colon > 0, isLetter(bytes[0]),
            bytes[1..<colon].allSatisfy({ isLetter($0) || isDigit($0) || $0 == ascii("+") || $0 == ascii("-") || $0 == ascii(".") })
        else { throw failure(.malformedURL) }
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self)
        guard allowedSchemes.contains(scheme.lowercased()) else {
            throw failure(.unsupportedScheme(scheme, allowed: allowedSchemes.sorted()))
        }
        guard bytes.count >= colon + 3, bytes[colon + 1] == ascii("/"), bytes[colon + 2] == ascii("/") else {
            throw failure(.missingHost)
        }

        // authority = host [":" port], up to the path, query or fragment
        let authorityStart = colon + 3
        let authorityEnd = bytes[authorityStart...].firstIndex { $0 == ascii("/") || $0 == ascii("?") || $0 == ascii("#") } ?? bytes.count
        let authority = bytes[authorityStart..<authorityEnd]
        guard !authority.contains(ascii("@")) else { throw failure(.userInfoNotAllowed) }
        let host: ArraySlice<UInt8>
        let port: ArraySlice<UInt8>?
        if authority.first == ascii("[") {
            guard let close = authority.firstIndex(of: ascii("]")) else { throw failure(.invalidHost(text(authority))) }
            host = authority[authority.startIndex...close]
            let rest = authority[(close + 1)...]
            guard rest.isEmpty || rest.first == ascii(":") else { throw failure(.invalidHost(text(authority))) }
            port = rest.isEmpty ? nil : rest.dropFirst()
            guard isIPv6(host.dropFirst().dropLast()) else { throw failure(.invalidHost(text(host))) }
        } else {
            let portColon = authority.firstIndex(of: ascii(":"))
            host = authority[..<(portColon ?? authorityEnd)]
            port = portColon.map { authority[($0 + 1)...] }
            guard !host.isEmpty else { throw failure(.missingHost) }
            guard isHostName(host) else { throw failure(.invalidHost(text(host))) }
        }
        if let port {
            guard (1...5).contains(port.count), port.allSatisfy(isDigit), let number = Int(text(port)), (1...65535).contains(number)
            else { throw failure(.invalidPort(text(port))) }
        }

        // Brackets belong to an IPv6 host only; a second `#` cannot stand in a fragment.
        let rest = bytes[authorityEnd...]
        if let bad = rest.first(where: { $0 == ascii("[") || $0 == ascii("]") }) {
            throw failure(.invalidCharacter(Character(Unicode.Scalar(bad))))
        }
        if let fragment = rest.firstIndex(of: ascii("#")), rest[(fragment + 1)...].contains(ascii("#")) {
            throw failure(.invalidCharacter("#"))
        }
    }

    /// Every character is an RFC 3986 character, and every `%` starts a printable `%XX` escape.
    /// Characters first, so that an escape named in an error is ASCII.
    private static func checkCharacters(_ value: String, _ bytes: [UInt8]) throws(ValidationError) {
        if !bytes.allSatisfy({ isURICharacter($0) || $0 == ascii("%") }) {
            // Name the whole character, not a UTF-8 fragment of it.
            let character = value.first { !$0.utf8.allSatisfy { isURICharacter($0) || $0 == ascii("%") } } ?? "\u{FFFD}"
            throw failure(.invalidCharacter(character))
        }
        var index = bytes.startIndex
        while let percent = bytes[index...].firstIndex(of: ascii("%")) {
            let escape = bytes[percent..<min(percent + 3, bytes.count)]
            guard escape.count == 3, let high = hexValue(escape[percent + 1]), let low = hexValue(escape[percent + 2]),
                case let decoded = high << 4 | low, decoded >= 0x20, decoded != 0x7F
            else { throw failure(.invalidPercentEncoding(String(decoding: escape, as: UTF8.self))) }
            index = percent + 3
        }
    }

    /// A DNS name, or a dotted-quad IPv4 address when its last label is all digits.
    private static func isHostName(_ host: ArraySlice<UInt8>) -> Bool {
        var name = host
        if name.last == ascii(".") { name = name.dropLast() }  // a fully qualified name
        guard !name.isEmpty, name.count <= 253 else { return false }
        let labels = name.split(separator: ascii("."), omittingEmptySubsequences: false)
        if let last = labels.last, last.allSatisfy(isDigit) { return isIPv4(name) }
        return labels.allSatisfy { label in
            guard let first = label.first, let last = label.last, label.count <= 63 else { return false }
            return isLetterOrDigit(first) && isLetterOrDigit(last)
                && label.allSatisfy { isLetterOrDigit($0) || $0 == ascii("-") || $0 == ascii("_") }
        }
    }

    /// Four decimal octets 0–255, without leading zeros.
    private static func isIPv4(_ text: ArraySlice<UInt8>) -> Bool {
        let octets = text.split(separator: ascii("."), omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { octet in
            guard (1...3).contains(octet.count), octet.allSatisfy(isDigit) else { return false }
            guard octet.count == 1 || octet.first != ascii("0") else { return false }
            return octet.reduce(0) { $0 * 10 + Int($1 - ascii("0")) } <= 255
        }
    }

    /// RFC 4291 text form: eight groups of 1–4 hex digits, one `::` for a run of zero groups,
    /// the last two groups optionally written as IPv4. No zone identifier.
    private static func isIPv6(_ text: ArraySlice<UInt8>) -> Bool {
        guard text.count >= 2, text.count <= 45 else { return false }
        let bytes = Array(text)
        var doubleColon: Int?
        for i in 0..<(bytes.count - 1) where bytes[i] == ascii(":") && bytes[i + 1] == ascii(":") {
            if doubleColon != nil { return false }
            doubleColon = i
        }
        func groups(_ part: ArraySlice<UInt8>) -> Int? {
            if part.isEmpty { return 0 }
            var count = 0
            let pieces = part.split(separator: ascii(":"), omittingEmptySubsequences: false)
            for (n, piece) in pieces.enumerated() {
                if n == pieces.count - 1, piece.contains(ascii(".")) {
                    guard isIPv4(piece) else { return nil }
                    count += 2
                } else {
                    guard (1...4).contains(piece.count), piece.allSatisfy({ hexValue($0) != nil }) else { return nil }
                    count += 1
                }
            }
            return count
        }
        if let split = doubleColon {
            let head = bytes[..<split], tail = bytes[(split + 2)...]
            // An IPv4 tail may only end the address.
            if head.contains(ascii(".")) { return false }
            guard let h = groups(head), let t = groups(tail) else { return false }
            return h + t <= 7
        }
        return groups(bytes[...]) == 8
    }

    private static func isURICharacter(_ byte: UInt8) -> Bool {
        if isLetterOrDigit(byte) { return true }
        switch byte {
        // unreserved, gen-delims and sub-delims (RFC 3986 §2.2, §2.3)
        case ascii("-"), ascii("."), ascii("_"), ascii("~"),
            ascii(":"), ascii("/"), ascii("?"), ascii("#"), ascii("["), ascii("]"), ascii("@"),
            ascii("!"), ascii("$"), ascii("&"), ascii("'"), ascii("("), ascii(")"), ascii("*"), ascii("+"), ascii(","),
            ascii(";"), ascii("="):
            return true
        default:
            return false
        }
    }

    private static func failure(_ rule: ValidationError.Rule) -> ValidationError {
        ValidationError(field: .url, rule: rule)
    }

    private static func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }
    private static func ascii(_ scalar: Unicode.Scalar) -> UInt8 { UInt8(ascii: scalar) }
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }
    private static func isLetterOrDigit(_ byte: UInt8) -> Bool { isLetter(byte) || isDigit(byte) }
    private static func hexValue(_ byte: UInt8) -> UInt8? {
        if isDigit(byte) { return byte - 0x30 }
        let lower = byte | 0x20
        return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : nil
    }
}
