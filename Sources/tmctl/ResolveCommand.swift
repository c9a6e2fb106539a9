import ArgumentParser
import Foundation
import TrafficManager

/// `tmctl resolve`: the URL a route resolves to, through the cache as the library resolves it.
struct ResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve", abstract: "Print the URL a route resolves to, read through the Redis cache as TrafficManager reads it.")

    @Argument(help: "tenant/service/environment@version") var route: String
    @Option(help: "Give up after this long (500ms, 2s, …).") var timeout = DurationArgument(.seconds(10), "10s")
    @Flag(help: "Also print the revision, where the answer came from (the shared cache or the store) and its age.") var explain = false
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var store: StoreOptions
    @OptionGroup var cache: CacheOptions
    @OptionGroup var log: LogOptions

    func run() async throws {
        try await reportingFailures {
            let id = try RouteArgument.parse(route)
            let timeout = timeout.duration
            let backends = try Backends(store: store, cache: cache, logger: try log.logger())
            let resolution = try await backends.run { backends in
                try await backends.manager(invalidations: InvalidationRecord()).resolution(id, timeout: timeout)
            }
            if json {
                Console.out(
                    RouteJSON.encode(
                        RouteJSON.Resolution(
                            route: id.description, url: resolution.url, revision: explain ? resolution.revision : nil,
                            source: explain ? resolution.source.description : nil,
                            ageMs: explain ? resolution.age.wholeMilliseconds : nil)))
            } else if explain {
                let source = resolution.source == .sharedCache ? "shared cache" : "store"
                let age = resolution.source == .store ? "" : ", read from the store \(Self.describe(resolution.age)) ago"
                Console.out("\(resolution.url)\nrevision \(resolution.revision), from the \(source)\(age)")
            } else {
                Console.out(resolution.url)
            }
        }
    }

    /// `850 ms`, `12.4 s`, `3 min 20 s`.
    static func describe(_ age: Duration) -> String {
        let milliseconds = age.wholeMilliseconds
        if milliseconds < 1_000 { return "\(milliseconds) ms" }
        if milliseconds < 60_000 { return String(format: "%.1f s", Double(milliseconds) / 1_000) }
        return "\(milliseconds / 60_000) min \(milliseconds % 60_000 / 1_000) s"
    }
}
