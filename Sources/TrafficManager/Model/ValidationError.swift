/// A value given to TrafficManager broke one of its input rules.
///
/// The error names the field and the rule, so a caller can show it to a user as is:
/// `tenant must not be empty`, `url must use the http or https scheme`.
public struct ValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input field that was rejected.
    public enum Field: String, Hashable, Sendable {
        case tenant, service, environment, version, url
        case idempotencyKey = "idempotency key"
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
        /// The URL could not be parsed.
        case malformedURL
        /// The URL's scheme is not `http` or `https`.
        case unsupportedScheme(String)
        /// The URL has no host.
        case missingHost
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
            return "\(field.rawValue) contains the character \(String(reflecting: String(character))), which is not allowed"
        case .mustStartAndEndWithLetterOrDigit:
            return "\(field.rawValue) must start and end with a letter or digit"
        case .malformedURL:
            return "\(field.rawValue) is not a well-formed URL"
        case .unsupportedScheme(let scheme):
            return "\(field.rawValue) must use the http or https scheme, not \(String(reflecting: scheme))"
        case .missingHost:
            return "\(field.rawValue) must name a host"
        }
    }
}
