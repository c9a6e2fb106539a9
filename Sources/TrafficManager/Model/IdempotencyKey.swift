/// A caller-chosen key that makes a write safe to retry.
///
/// The first write with a key is applied and its result stored with the key, in the same
/// transaction. A later write with the same key and the same request gets that result again,
/// without writing or publishing anything; with a different request it fails with
/// ``TrafficManagerError/Code/idempotencyConflict``.
///
/// Keys are 1–255 printable ASCII characters and are global to the store.
public struct IdempotencyKey: Hashable, Sendable, CustomStringConvertible {
    /// The key's text.
    public let value: String

    /// The longest key accepted.
    public static let maximumLength = 255

    /// Creates a key.
    ///
    /// - Throws: ``ValidationError`` with field `idempotency key`.
    public init(_ value: String) throws(ValidationError) {
        guard !value.isEmpty else { throw ValidationError(field: .idempotencyKey, rule: .empty) }
        guard value.utf8.count <= Self.maximumLength else {
            throw ValidationError(field: .idempotencyKey, rule: .tooLong(maximum: Self.maximumLength))
        }
        if let bad = value.first(where: { !($0.isASCII && $0.unicodeScalars.allSatisfy { $0.value >= 0x21 && $0.value < 0x7F }) }) {
            throw ValidationError(field: .idempotencyKey, rule: .invalidCharacter(bad))
        }
        self.value = value
    }

    public var description: String { value }
}
