import ArgumentParser
import Foundation
import Logging

/// `tmctl`: operates TrafficManager's routes in PostgreSQL — schema, routes, topology files,
/// events and the outbox relay.
@main
struct TMCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tmctl",
        abstract: "Operate TrafficManager: migrate the schema, list and write routes, import and export topologies, follow events, run the outbox relay.",
        discussion: """
            Settings come from flags or TM_* environment variables (a flag wins). Passwords come only \
            from the environment (TM_PG_PASSWORD, TM_REDIS_PASSWORD), a file (--pg-password-file) or \
            standard input (--pg-password-stdin), never from a flag.

            Exit codes: 0 done; 1 other failure; 2 route not found; 3 revision or idempotency \
            conflict; 64 usage; 65 invalid input; 66 unreadable file; 69 a server unavailable; \
            75 outcome unknown or key in use (retry with the same --idempotency-key).
            """,
        version: "0.3.0",
        subcommands: [
            MigrateCommand.self, RoutesCommand.self, ResolveCommand.self, ImportCommand.self, ExportCommand.self,
            EventsCommand.self, RelayCommand.self,
        ])
}

/// Options every command that talks to a server has.
struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (TM_LOG_LEVEL; default warning).")
    var level: String?

    /// A logger writing to standard error at the chosen level.
    func logger(label: String = "tmctl", defaultLevel: Logger.Level = .warning) throws -> Logger {
        let text = Setting.value(level, "TM_LOG_LEVEL", default: defaultLevel.rawValue)
        guard let parsed = Logger.Level(rawValue: text) else {
            throw CommandFailure(.usage, "the log level \(String(reflecting: text)) is not one of trace, debug, info, notice, warning, error, critical")
        }
        var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = parsed
        return logger
    }
}

/// A duration on the command line: `500ms`, `30s`, `5m`, `1h`.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible {
    let duration: Duration
    let description: String

    init?(argument: String) {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        for (unit, milliseconds) in units where argument.hasSuffix(unit) {
            guard let value = Int64(argument.dropLast(unit.count)), value >= 0 else { return nil }
            let (total, overflow) = value.multipliedReportingOverflow(by: milliseconds)
            guard !overflow else { return nil }
            duration = .milliseconds(total)
            description = argument
            return
        }
        return nil
    }

    init(_ duration: Duration, _ text: String) {
        self.duration = duration
        description = text
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
