import ArgumentParser
import TrafficManager

/// `tmctl resolve`: the URL a route resolves to, through the cache as the library resolves it.
struct ResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve", abstract: "Print the URL a route resolves to, read through the Redis cache as TrafficManager reads it.")

    @Argument(help: "tenant/service/environment@version") var route: String
    @Option(help: "Give up after this long (500ms, 2s, …).") var timeout = DurationArgument(.seconds(10), "10s")
    @Flag(help: "Also print the revision and where the answer came from (the shared cache or the store).") var explain = false
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
                            source: explain ? resolution.source.description : nil)))
            } else if explain {
                Console.out("\(resolution.url)\nrevision \(resolution.revision), from the \(resolution.source == .sharedCache ? "shared cache" : "store")")
            } else {
                Console.out(resolution.url)
            }
        }
    }
}
