/// A value given to TrafficManager broke one of its input rules.
///
/// The error names the field and the rule, so a caller can show it to a user as is:
/// `tenant must not be empty`, `url must not carry user info (user:password@)`.
public struct ValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input field that was rejected.
    public enum Field: String, Hashable, Sendable {
        case tenant, service, environment, version, url
        case idempotencyKey = "idempotency key"
        case expectedRevision = "expected revision"
        case changePosition = "change position"
    }

    /// The rule the value broke.
    public enum Rule: Hashable, Sendable {
        /// The value is empty.
        case empty
        /// The value is longer than `maximum` characters.
        case tooLong(maximum: Int)
        /// The value holds a character outside the allowed set.
        case invalidCharacter(Character)
        /// The value must begin (and end) with a letter or digit.
        case mustStartAndEndWithLetterOrDigit
        /// The URL does not start with a scheme and `://`.
        case malformedURL
        /// The URL's scheme is not one of `allowed` (see
        /// ``TrafficManagerConfiguration/allowedURLSchemes``).
        case unsupportedScheme(String, allowed: [String])
        /// The URL has no host.
        case missingHost
        /// The URL's host is neither a DNS name nor an IP literal.
        case invalidHost(String)
        /// The URL's port is not a number from 1 to 65535.
        case invalidPort(String)
        /// The URL carries user info (`user:password@`), which would travel to every backend.
        case userInfoNotAllowed
        /// The number is larger than `maximum`.
        case outOfRange(maximum: UInt64)
        /// A `%` is not followed by two hexadecimal digits, or encodes a control character.
        case invalidPercentEncoding(String)
    }

    /// The field that was rejected.
    public let field: Field
    /// The rule it broke.
    public let rule: Rule

    /// Creates an error for `field` breaking `rule`.
    public init(field: Field, rule: Rule) {
        self.field = field
        self.rule = rule
    }

    public var description: String {
        switch rule {
        case .empty:
            return "\(field.rawValue) must not be empty"
        case .tooLong(let maximum):
            return "\(field.rawValue) must be at most \(maximum) characters long"
        case .invalidCharacter(let character):
            return "\(field.rawValue) contains the character \(Self.describe(character)), which is not allowed"
        case .mustStartAndEndWithLetterOrDigit:
            return "\(field.rawValue) must start and end with a letter or digit"
        case .malformedURL:
            return "\(field.rawValue) is not an absolute URL: it must start with a scheme and ://, as in http://host:8080/path"
        case .unsupportedScheme(let scheme, let allowed):
            return "\(field.rawValue) must use one of the schemes \(allowed.joined(separator: ", ")), not \(String(reflecting: scheme))"
        case .missingHost:
            return "\(field.rawValue) must name a host"
        case .invalidHost(let host):
            return "\(field.rawValue) host \(String(reflecting: host)) is neither a DNS name nor an IP address"
        case .invalidPort(let port):
            return "\(field.rawValue) port \(String(reflecting: port)) is not a number from 1 to 65535"
        case .userInfoNotAllowed:
            return "\(field.rawValue) must not carry user info (user:password@): credentials would be stored and published with the route"
        case .outOfRange(let maximum):
            return "\(field.rawValue) must be at most \(maximum)"
        case .invalidPercentEncoding(let sequence):
            return "\(field.rawValue) contains \(String(reflecting: sequence)): % must be followed by two hexadecimal digits that do not encode a control character"
        }
    }

    /// A printable ASCII character in quotes; anything else by code point and name, so that a
    /// control character, an invisible one or a bidi override cannot garble the message.
    static func describe(_ character: Character) -> String {
        if character.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) {
            return String(reflecting: String(character))
        }
        return character.unicodeScalars.map { scalar in
            let hex = String(scalar.value, radix: 16, uppercase: true)
            let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            return scalar.properties.name.map { "\(code) \($0)" } ?? code
        }.joined(separator: " ")
    }
}
