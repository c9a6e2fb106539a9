/// The identity of a route: which tenant's service, in which environment, at which version.
///
/// A `RouteID` is validated when it is made, so every value of this type is a valid route:
///
/// - `tenant`, `service`, `environment`: 1–63 characters of lowercase letters, digits, `-`, `.`
///   and `_`, starting and ending with a letter or digit (DNS-label-like).
/// - `version`: 1–64 characters of letters, digits, `.`, `-`, `_` and `+`, starting and ending
///   with a letter or digit (`v1`, `1.4.2`, `2.0.0-rc.1+build.7`).
///
/// None of the allowed characters is `|`, `{`, `}`, `:` or white space, which is what lets the
/// cache build an unambiguous key from the four parts.
public struct RouteID: Hashable, Sendable, CustomStringConvertible {
    /// The tenant that owns the service.
    public let tenant: String
    /// The service's name.
    public let service: String
    /// The environment, such as `dev`, `staging` or `prod`.
    public let environment: String
    /// The version of the service.
    public let version: String

    /// The longest tenant, service or environment name.
    public static let maximumNameLength = 63
    /// The longest version.
    public static let maximumVersionLength = 64

    /// Creates a route identity, validating each part.
    ///
    /// - Throws: ``ValidationError`` naming the first part that breaks a rule.
    public init(tenant: String, service: String, environment: String, version: String) throws(ValidationError) {
        try Self.validateName(tenant, field: .tenant)
        try Self.validateName(service, field: .service)
        try Self.validateName(environment, field: .environment)
        try Self.validateVersion(version)
        self.tenant = tenant
        self.service = service
        self.environment = environment
        self.version = version
    }

    /// `tenant/service/environment@version`.
    /// A route from names already validated (copies of another route's).
    init(validTenant tenant: String, service: String, environment: String, version: String) {
        self.tenant = tenant
        self.service = service
        self.environment = environment
        self.version = version
    }

    public var description: String {
        "\(tenant)/\(service)/\(environment)@\(version)"
    }

    static func validateName(_ value: String, field: ValidationError.Field) throws(ValidationError) {
        try validate(value, field: field, maximum: maximumNameLength) { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_")
        }
    }

    static func validateVersion(_ value: String) throws(ValidationError) {
        try validate(value, field: .version, maximum: maximumVersionLength) { byte in
            isLetter(byte) || isDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "+")
        }
    }

    private static func validate(
        _ value: String,
        field: ValidationError.Field,
        maximum: Int,
        allowed: (UInt8) -> Bool
    ) throws(ValidationError) {
        let utf8 = value.utf8
        guard let first = utf8.first, let last = utf8.last else {
            throw ValidationError(field: field, rule: .empty)
        }
        for byte in utf8 where !allowed(byte) {
            // Report the whole character, not a UTF-8 fragment of it.
            let character = value.first { !$0.utf8.allSatisfy(allowed) } ?? Character(Unicode.Scalar(byte))
            throw ValidationError(field: field, rule: .invalidCharacter(character))
        }
        guard utf8.count <= maximum else {
            throw ValidationError(field: field, rule: .tooLong(maximum: maximum))
        }
        let edgeOK = { (byte: UInt8) in isLetter(byte) || isDigit(byte) }
        guard edgeOK(first), edgeOK(last) else {
            throw ValidationError(field: field, rule: .mustStartAndEndWithLetterOrDigit)
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}
