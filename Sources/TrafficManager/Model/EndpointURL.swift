import Foundation

/// Validation of the URLs that routes resolve to.
///
/// An endpoint URL is an absolute `http` or `https` URL with a host, at most
/// ``maximumLength`` characters, without white space or control characters. It is stored and
/// returned exactly as given.
public enum EndpointURL {
    /// The longest URL accepted.
    public static let maximumLength = 2048

    /// Checks that `value` is an acceptable endpoint URL.
    ///
    /// - Throws: ``ValidationError`` with field `url` and the rule it broke.
    public static func validate(_ value: String) throws(ValidationError) {
        guard !value.isEmpty else { throw ValidationError(field: .url, rule: .empty) }
        guard value.utf8.count <= maximumLength else {
            throw ValidationError(field: .url, rule: .tooLong(maximum: maximumLength))
        }
        if let bad = value.first(where: { $0.isWhitespace || $0.unicodeScalars.contains { $0.properties.generalCategory == .control } }) {
            throw ValidationError(field: .url, rule: .invalidCharacter(bad))
        }
        guard let url = URL(string: value), let scheme = url.scheme else {
            throw ValidationError(field: .url, rule: .malformedURL)
        }
        guard ["http", "https"].contains(scheme.lowercased()) else {
            throw ValidationError(field: .url, rule: .unsupportedScheme(scheme))
        }
        guard let host = url.host, !host.isEmpty else {
            throw ValidationError(field: .url, rule: .missingHost)
        }
    }
}
