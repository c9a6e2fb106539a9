import TrafficManager

/// A route on the command line: `tenant/service/environment@version`, as TrafficManager prints
/// routes. Commands take it as text and parse it themselves, so a bad route is invalid input
/// (exit 65) with a message naming the part that is wrong.
enum RouteArgument {
    /// The route `text` names, or a failure that says what is wrong with it.
    static func parse(_ text: String) throws -> RouteID {
        guard let at = text.lastIndex(of: "@") else {
            throw CommandFailure(.invalidInput, "\(String(reflecting: text)) is not a route: write tenant/service/environment@version")
        }
        let names = text[..<at].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard names.count == 3 else {
            throw CommandFailure(.invalidInput, "\(String(reflecting: text)) is not a route: write tenant/service/environment@version")
        }
        do {
            return try RouteID(tenant: names[0], service: names[1], environment: names[2], version: String(text[text.index(after: at)...]))
        } catch {
            throw CommandFailure(.invalidInput, "\(String(reflecting: text)) is not a valid route: \(error)")
        }
    }
}
