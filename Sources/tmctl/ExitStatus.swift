import ArgumentParser
import Foundation
import TrafficManager

/// The exit codes tmctl promises scripts (Docs/tmctl.md lists them).
enum ExitStatus: Int32, CaseIterable {
    /// Done.
    case success = 0
    /// A failure no other code describes.
    case failure = 1
    /// The route does not exist or is inactive.
    case notFound = 2
    /// A compare-and-set write found another revision, or an idempotency key was reused with a
    /// different request.
    case conflict = 3
    /// The command line is wrong (ArgumentParser's own code for usage errors).
    case usage = 64
    /// An input broke a rule: a route name, a URL, a topology file. Nothing was written.
    case invalidInput = 65
    /// A file to read does not exist or cannot be read.
    case noInput = 66
    /// PostgreSQL, Redis or Kafka could not be reached or did not answer in time.
    case unavailable = 69
    /// A write reached the store but its outcome is unknown, or its idempotency key is being
    /// applied elsewhere right now: retry with the same idempotency key.
    case outcomeUnknown = 75
}

/// A failure tmctl reports as one line on standard error and an exit code.
struct CommandFailure: Error, CustomStringConvertible {
    var status: ExitStatus
    var message: String

    init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    var description: String { message }

    /// `error` as tmctl reports it: TrafficManager's errors keep their message and get the exit
    /// code of their kind.
    static func from(_ error: any Error) -> CommandFailure {
        if let failure = error as? CommandFailure { return failure }
        guard let error = error as? TrafficManagerError else {
            return CommandFailure(.failure, "\(error)")
        }
        let status: ExitStatus
        switch error.code {
        case .routeNotFound: status = .notFound
        case .revisionConflict, .idempotencyConflict: status = .conflict
        case .invalidInput: status = .invalidInput
        case .outcomeUnknown, .idempotencyKeyInUse: status = .outcomeUnknown
        case .storeUnavailable, .cacheUnavailable, .eventsUnavailable, .deadlineExceeded, .notRunning, .overloaded:
            status = .unavailable
        default: status = .failure
        }
        return CommandFailure(status, error.description)
    }
}

/// Runs a command's body, reporting a failure on standard error and exiting with its code.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch is CancellationError {
        throw ExitCode(ExitStatus.failure.rawValue)
    } catch {
        let failure = CommandFailure.from(error)
        Console.error("tmctl: \(failure.message)")
        throw ExitCode(failure.status.rawValue)
    }
}

/// Standard output for results, standard error for progress, warnings and errors.
enum Console {
    static func out(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Writes `text` to standard error as it is, without a line end.
    static func errorRaw(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Whether standard error is a terminal (progress bars only draw there).
    static var errorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
}
