import ArgumentParser

/// `tmctl migrate`: creates or upgrades the schema.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade TrafficManager's schema in PostgreSQL (safe to run twice, or from two hosts at once).")

    @OptionGroup var store: StoreOptions
    @OptionGroup var log: LogOptions

    func run() async throws {
        try await reportingFailures {
            let backends = try Backends(store: store, logger: try log.logger())
            let versions = try await backends.run { try await $0.store.migrate() }
            Console.out("schema at version \(versions.last ?? 0) (migrations \(versions.map(String.init).joined(separator: ", ")))")
        }
    }
}
