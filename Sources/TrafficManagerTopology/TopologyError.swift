/// Why a topology file could not be read: it is missing or unreadable, or every problem found
/// in it, each with its line.
public struct TopologyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: Hashable, Sendable {
        /// The file does not exist or cannot be read.
        case unreadable
        /// The file was read but is not a valid topology; ``TopologyError/problems`` says why.
        case invalid
    }

    /// One problem, at a line of the file (1-based) when it has one.
    public struct Problem: Hashable, Sendable {
        /// The line, `nil` for a problem of the whole file.
        public var line: Int?
        /// What is wrong, in a sentence for people.
        public var message: String

        /// Creates a problem.
        public init(line: Int?, message: String) {
            self.line = line
            self.message = message
        }
    }

    /// The kind of failure.
    public var kind: Kind
    /// The file's path, or the name given to the text parsed.
    public var source: String
    /// Every problem found, in file order.
    public var problems: [Problem]

    /// Creates an error.
    public init(kind: Kind, source: String, problems: [Problem]) {
        self.kind = kind
        self.source = source
        self.problems = problems
    }

    /// Each problem as `source:line: message`, the form compilers and editors understand.
    public var lines: [String] {
        problems.map { problem in problem.line.map { "\(source):\($0): \(problem.message)" } ?? "\(source): \(problem.message)" }
    }

    public var description: String { lines.joined(separator: "\n") }
}
