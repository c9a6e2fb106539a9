/// The fields of a configuration with its secrets already replaced, rendered the same way by
/// `description`, `debugDescription` and `customMirror` (which `dump()` and `Mirror` use).
///
/// A configuration that holds a password lists its fields here with ``secret(_:)`` in place of
/// the password, so no rendering of it — interpolation, `String(reflecting:)`, `dump()`, a
/// recursive `Mirror` walk, a log line — can show the secret.
package struct RedactedFields {
    /// What stands in for a secret that is set.
    package static let placeholder = "<redacted>"

    private let typeName: String
    private let fields: [(label: String, value: Any)]

    /// Fields in the order they are shown; every secret must already be replaced.
    package init(_ typeName: String, _ fields: [(label: String, value: Any)]) {
        self.typeName = typeName
        self.fields = fields
    }

    /// ``placeholder`` when `value` is set, `nil` otherwise: whether a secret is configured
    /// is worth showing, the secret is not.
    package static func secret(_ value: String?) -> String? {
        value.map { _ in placeholder }
    }

    /// `TypeName(label: value, …)`.
    package var description: String {
        let rendered = fields.map { field in "\(field.label): \(Self.render(field.value))" }
        return "\(typeName)(\(rendered.joined(separator: ", ")))"
    }

    /// A mirror of `subject` with these fields as its children.
    package func mirror(of subject: Any) -> Mirror {
        Mirror(subject, children: fields.map { (label: $0.label as String?, value: $0.value) }, displayStyle: .struct)
    }

    private static func render(_ value: Any) -> String {
        switch value {
        case let text as String: return String(reflecting: text)
        case let text as String?: return text.map { String(reflecting: $0) } ?? "nil"
        default: return String(describing: value)
        }
    }
}
