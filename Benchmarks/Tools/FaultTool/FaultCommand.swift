import ArgumentParser
import Foundation
import Logging
import TrafficManager
import TrafficManagerPostgres

/// Runs each fault of the reliability report against real servers and prints the report's
/// table as Markdown.
@main
struct FaultCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tm-faults",
        abstract: "Injects faults into real servers under load and reports what callers saw.",
        subcommands: [Report.self, ChildWrite.self], defaultSubcommand: Report.self)

    struct Report: AsyncParsableCommand {
        @Option(help: "Concurrent callers for the read faults.")
        var callers = 16
        @Option(help: "How long Kafka stays down during writes, in seconds.")
        var kafkaDown = 30
        @Option(help: "Only the faults whose name contains this text.")
        var only: String?

        func run() async throws {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = .critical
                return handler
            }
            let scenarios = Scenarios(callers: callers, kafkaDown: .seconds(kafkaDown))
            let executable = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
            let all: [(String, () async throws -> FaultRow)] = [
                ("redis-killed", scenarios.redisKilled),
                ("postgres-stopped", scenarios.postgresStopped),
                ("redis-frozen", scenarios.redisFrozen),
                ("postgres-frozen", scenarios.postgresFrozen),
                ("kafka-down", scenarios.kafkaDownDuringWrites),
                ("kafka-frozen", scenarios.kafkaFrozenDuringWrites),
                ("writer-killed", { try await scenarios.writerKilled(executable: executable) }),
                ("concurrent-creates", scenarios.concurrentCreates),
                ("one-key-two-requests", scenarios.oneKeyTwoRequests),
                ("fuzzed-inputs", scenarios.fuzzedInputs),
            ]
            print(FaultRow.header)
            var broken: [String] = []
            for (name, scenario) in all where only.map({ name.contains($0) }) ?? true {
                FileHandle.standardError.write(Data("tm-faults: \(name)\n".utf8))
                do {
                    let row = try await scenario()
                    print(row.markdown)
                    // The log budget: a 5 s PostgreSQL stop under load writes at most 50 lines.
                    if name == "postgres-stopped" && row.logLines > 50 {
                        broken.append("\(name) wrote \(row.logLines) log lines at info or above (at most 50)")
                    }
                } catch {
                    print("| \(name) | — | the run failed: \(error) | — | — | — | — |")
                    broken.append("\(name) failed: \(error)")
                }
            }
            if !broken.isEmpty {
                FileHandle.standardError.write(Data("tm-faults: \(broken.joined(separator: "; "))\n".utf8))
                throw ExitCode(1)
            }
        }
    }

    /// The process the writer-killed fault kills: commits a write, then hangs publishing it.
    struct ChildWrite: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "child-write", shouldDisplay: false)
        @Option var schema: String
        @Option var tenant: String

        func run() async throws {
            let scenarios = Scenarios(callers: 1, kafkaDown: .zero)
            let store = PostgresRouteStore(configuration: scenarios.pgConfiguration(schema: schema))
            Task { try await store.run() }
            let manager = TrafficManager(store: store, cache: InMemoryRouteCache(), publisher: HangingPublisher())
            try await manager.createRoute(
                RouteID(tenant: tenant, service: "svc0", environment: "prod", version: "v1"), url: Scenarios.url(0))
        }
    }
}

/// A publisher that never returns: the process dies while "publishing".
struct HangingPublisher: EventPublisher {
    func publish(_ event: RouteEvent) async throws {
        try await Task.sleep(for: .seconds(3600))
    }
}
