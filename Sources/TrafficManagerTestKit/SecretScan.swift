import Logging

/// Finds secrets in the ways a value can reach a screen or a log: `description`,
/// `debugDescription`, `String(reflecting:)`, `dump()`, a recursive `Mirror` walk, and a log
/// line at trace level (message and metadata).
///
/// ```swift
/// #expect(SecretScan.leaks(of: ["hunter2"], in: [configuration, error]) == [])
/// ```
public enum SecretScan {
    /// The renderings of `value`, each named by how it was made.
    public static func renderings(of value: Any) -> [(way: String, text: String)] {
        var result: [(way: String, text: String)] = [("String(describing:)", String(describing: value))]
        if let value = value as? any CustomStringConvertible { result.append(("description", value.description)) }
        if let value = value as? any CustomDebugStringConvertible { result.append(("debugDescription", value.debugDescription)) }
        result.append(("String(reflecting:)", String(reflecting: value)))
        var dumped = ""
        dump(value, to: &dumped, maxDepth: 12)
        result.append(("dump()", dumped))
        var walked: [String] = []
        walk(Mirror(reflecting: value), path: "", depth: 0, into: &walked)
        result.append(("Mirror", walked.joined(separator: "\n")))
        return result
    }

    /// Where any of `secrets` shows in a rendering of any of `values`, or in what a logger at
    /// trace level recorded when each value was logged as message and as metadata. Empty when
    /// nothing leaks.
    public static func leaks(of secrets: [String], in values: [Any]) -> [String] {
        let recorder = LogRecorder()
        let logger = recorder.logger(level: .trace)
        var found: [String] = []
        for (index, value) in values.enumerated() {
            let name = "value \(index) (\(type(of: value)))"
            for (way, text) in renderings(of: value) {
                for secret in secrets where text.contains(secret) { found.append("\(name), \(way): \(text)") }
            }
            let metadata: Logger.Metadata = ["value": "\(value)", "reflected": "\(String(reflecting: value))"]
            logger.trace("\(value)", metadata: metadata)
        }
        for entry in recorder.entries {
            let text = entry.message + " " + entry.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            for secret in secrets where text.contains(secret) { found.append("log at \(entry.level): \(text)") }
        }
        return found
    }

    private static func walk(_ mirror: Mirror, path: String, depth: Int, into lines: inout [String]) {
        guard depth < 12 else { return }
        for child in mirror.children {
            let childPath = path + "." + (child.label ?? "_")
            lines.append("\(childPath) = \(String(describing: child.value))")
            walk(Mirror(reflecting: child.value), path: childPath, depth: depth + 1, into: &lines)
        }
        if let superclass = mirror.superclassMirror { walk(superclass, path: path, depth: depth + 1, into: &lines) }
    }
}
