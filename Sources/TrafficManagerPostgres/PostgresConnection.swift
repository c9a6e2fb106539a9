import CLibPQ
import Foundation
import Logging
import TrafficManager
import TrafficManagerConnectionRuntime

/// A libpq connection in non-blocking mode, as the connection runtime drives it: every method
/// runs on the connection's own thread (``ConnectionThread``).
///
/// A batch's prepared statements go out in one pipeline, each write followed by a Sync of its
/// own so that it commits or fails alone. Every wait for the server is a `poll()` on the
/// socket bounded by the batch's deadline, so a path that freezes with the socket open costs a
/// call its deadline, never the thread: past it the connection is freed and the thread moves on.
struct PostgresConnection: RuntimeConnection {
    typealias Reply = Result<PostgresRows, PostgresFailure>

    private let configuration: PostgresRouteStore.Configuration
    private let logger: Logger
    private var connection: OpaquePointer?
    private var prepared: Set<PreparedStatement> = []
    private var lastError = "not connected yet"
    /// Set when a wait for the server ran past the deadline.
    private var timedOut = false
    /// The owning thread's waits, from the runtime's latest call.
    private var io: ConnectionIO?

    init(configuration: PostgresRouteStore.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    mutating func connect(deadline: ContinuousClock.Instant, io: ConnectionIO) -> String? {
        self.io = io
        disconnect()
        if let made = open(deadline: deadline) {
            connection = made
            logger.info("connected to PostgreSQL", metadata: ["endpoint": "\(configuration.endpointDescription)"])
            return nil
        }
        return "PostgreSQL at \(configuration.endpointDescription) is unreachable: \(lastError)"
    }

    /// Runs the statements and appends one result per statement, in order.
    ///
    /// A batch of reads that finds its connection broken — an idle connection whose server
    /// restarted — runs once more on a new connection: reads are safe to repeat. Writes are not
    /// repeated: one lost after it was sent may have committed (``PostgresFailure/sent``).
    mutating func execute(
        _ count: Int, command: (Int) -> PostgresStatement, replies: inout [Reply], deadline: ContinuousClock.Instant,
        io: ConnectionIO
    ) -> String? {
        self.io = io
        let statements = (0..<count).map(command)
        timedOut = false
        var results = runOnce(statements, deadline: deadline)
        let onlyReads = statements.allSatisfy { if case .prepared(let name, _) = $0 { name.isReadOnly } else { false } }
        if connection == nil, !timedOut, onlyReads,
            results.allSatisfy({ if case .failure(let failure) = $0 { failure.connectionLost } else { false } }),
            connect(deadline: deadline, io: io) == nil
        {
            results = runOnce(statements, deadline: deadline)
        }
        replies.append(contentsOf: results)
        if timedOut { return "PostgreSQL at \(configuration.endpointDescription) did not answer by the deadline" }
        return connection == nil ? lastError : nil
    }

    private mutating func runOnce(_ statements: [PostgresStatement], deadline: ContinuousClock.Instant) -> [Reply] {
        guard let connection else {
            let failure = PostgresFailure(
                sqlState: nil, message: "PostgreSQL at \(configuration.endpointDescription) is unreachable: \(lastError)",
                connectionLost: true)
            return statements.map { _ in .failure(failure) }
        }
        var results = [Result<PostgresRows, PostgresFailure>?](repeating: nil, count: statements.count)
        var pipelined: [(index: Int, statement: PreparedStatement, parameters: [String?])] = []
        for (index, statement) in statements.enumerated() {
            switch statement {
            case .prepared(let name, let parameters):
                if let failure = prepare(name, on: connection, deadline: deadline) {
                    results[index] = .failure(failure)
                } else {
                    pipelined.append((index, name, parameters))
                }
            case .simple(let sql):
                results[index] = simple(sql, on: connection, deadline: deadline)
            }
            if self.connection == nil { break }
        }
        if self.connection != nil, !pipelined.isEmpty {
            let outcomes = pipeline(pipelined.map { ($0.statement, $0.parameters) }, on: connection, deadline: deadline)
            for (slot, outcome) in zip(pipelined, outcomes) { results[slot.index] = outcome }
            // Reads skipped because a neighbour failed run again, each in a group of its own.
            for slot in pipelined where self.connection != nil {
                guard case .failure(let failure)? = results[slot.index], failure.message == Self.aborted.message else { continue }
                results[slot.index] = pipeline([(slot.statement, slot.parameters)], on: connection, deadline: deadline)[0]
            }
        }
        // A statement without a result was sent, or queued to be sent, on a connection that
        // then failed: it may have run.
        let lost = PostgresFailure(
            sqlState: nil, message: "the connection to PostgreSQL at \(configuration.endpointDescription) was lost: \(lastError)",
            connectionLost: true, sent: true)
        return results.map { $0 ?? .failure(lost) }
    }

    /// The connection's socket, or -1; for tests.
    var socketDescriptor: Int32 { connection.map { PQsocket($0) } ?? -1 }

    mutating func disconnect() {
        if let connection { PQfinish(connection) }
        connection = nil
        prepared = []
    }

    // MARK: Connecting

    /// A new connection through `PQconnectStartParams` and `PQconnectPoll`, each wait a
    /// `poll()` bounded by `deadline`; `nil` with `lastError` set when it fails.
    private mutating func open(deadline: ContinuousClock.Instant) -> OpaquePointer? {
        let parameters = configuration.connectionParameters
        var keywords = parameters.map { strdup($0.0) } + [nil]
        var values = parameters.map { strdup($0.1) } + [nil]
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let made = keywords.withUnsafeMutableBufferPointer { keywordPointers in
            values.withUnsafeMutableBufferPointer { valuePointers in
                keywordPointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { k in
                    valuePointers.withMemoryRebound(to: UnsafePointer<CChar>?.self) { v in
                        PQconnectStartParams(k.baseAddress, v.baseAddress, 0)
                    }
                }
            }
        }
        guard let made else {
            lastError = "libpq could not allocate a connection"
            return nil
        }
        var status = PGRES_POLLING_WRITING
        while status != PGRES_POLLING_OK {
            if PQstatus(made) == CONNECTION_BAD || status == PGRES_POLLING_FAILED {
                lastError = Self.message(PQerrorMessage(made))
                PQfinish(made)
                return nil
            }
            let events = status == PGRES_POLLING_READING ? Int16(POLLIN) : Int16(POLLOUT)
            guard wait(PQsocket(made), for: events, deadline: deadline) else {
                lastError = "connecting took longer than the deadline"
                PQfinish(made)
                return nil
            }
            status = PQconnectPoll(made)
        }
        guard PQsetnonblocking(made, 1) == 0 else {
            lastError = Self.message(PQerrorMessage(made))
            PQfinish(made)
            return nil
        }
        return made
    }

    /// Waits until `socket` is ready for `events`, or `deadline` passes (`false`); the
    /// thread's executor jobs run meanwhile.
    private func wait(_ socket: Int32, for events: Int16, deadline: ContinuousClock.Instant) -> Bool {
        guard let io else { preconditionFailure("a wait outside the runtime's connect or execute") }
        return io.wait(socket, for: events, deadline: deadline)
    }

    /// Sends what libpq has buffered, by `deadline`.
    private mutating func flush(_ connection: OpaquePointer, deadline: ContinuousClock.Instant) -> Bool {
        while true {
            switch PQflush(connection) {
            case 0: return true
            case 1:
                guard wait(PQsocket(connection), for: Int16(POLLOUT) | Int16(POLLIN), deadline: deadline) else {
                    timedOut = true
                    return false
                }
                // The server may be waiting for us to read before it reads more.
                guard PQconsumeInput(connection) == 1 else { return false }
            default: return false
            }
        }
    }

    /// The next result (`nil` between statements), once libpq has it; `.none` when the
    /// connection broke or the deadline passed.
    private mutating func nextResult(_ connection: OpaquePointer, deadline: ContinuousClock.Instant) -> OpaquePointer?? {
        while PQisBusy(connection) == 1 {
            guard wait(PQsocket(connection), for: Int16(POLLIN), deadline: deadline) else {
                timedOut = true
                return .none
            }
            guard PQconsumeInput(connection) == 1 else { return .none }
        }
        return .some(PQgetResult(connection))
    }

    private mutating func lose(_ reason: String) {
        lastError = timedOut ? "no answer by the deadline" : reason
        logger.warning("PostgreSQL connection lost", metadata: ["error": "\(lastError)"])
        disconnect()
    }

    // MARK: Running

    private mutating func prepare(
        _ statement: PreparedStatement, on connection: OpaquePointer, deadline: ContinuousClock.Instant
    ) -> PostgresFailure? {
        if prepared.contains(statement) { return nil }
        guard PQsendPrepare(connection, statement.rawValue, statement.sql, statement.parameterCount, nil) == 1,
            flush(connection, deadline: deadline), case .some(let result) = nextResult(connection, deadline: deadline)
        else {
            lose(Self.message(PQerrorMessage(connection)))
            return PostgresFailure(sqlState: nil, message: lastError, connectionLost: true)
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            let failure = failure(of: result, on: connection)
            drain(connection, deadline: deadline)
            if failure.connectionLost { lose(failure.message) }
            return failure
        }
        drain(connection, deadline: deadline)
        prepared.insert(statement)
        return nil
    }

    private mutating func simple(
        _ sql: String, on connection: OpaquePointer, deadline: ContinuousClock.Instant
    ) -> Result<PostgresRows, PostgresFailure> {
        guard PQsendQuery(connection, sql) == 1, flush(connection, deadline: deadline) else {
            lose(Self.message(PQerrorMessage(connection)))
            return .failure(PostgresFailure(sqlState: nil, message: lastError, connectionLost: true, sent: true))
        }
        // The outcome of the last statement, or of the first that failed.
        var outcome: Result<PostgresRows, PostgresFailure> = .success(PostgresRows(rows: []))
        while true {
            guard case .some(let next) = nextResult(connection, deadline: deadline) else {
                lose(Self.message(PQerrorMessage(connection)))
                return .failure(PostgresFailure(sqlState: nil, message: lastError, connectionLost: true, sent: true))
            }
            guard let result = next else { break }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            if case .failure = outcome { continue }
            if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK {
                outcome = .success(Self.rows(of: result))
            } else {
                outcome = .failure(failure(of: result, on: connection))
            }
        }
        if case .failure(let failure) = outcome, failure.connectionLost { lose(failure.message) }
        return outcome
    }

    /// Reads and frees results up to the NULL that ends the current command.
    private mutating func drain(_ connection: OpaquePointer, deadline: ContinuousClock.Instant) {
        while case .some(let next) = nextResult(connection, deadline: deadline), let result = next { PQclear(result) }
    }

    private mutating func pipeline(
        _ statements: [(PreparedStatement, [String?])], on connection: OpaquePointer, deadline: ContinuousClock.Instant
    ) -> [Result<PostgresRows, PostgresFailure>?] {
        var outcomes = [Result<PostgresRows, PostgresFailure>?](repeating: nil, count: statements.count)
        guard PQenterPipelineMode(connection) == 1 else {
            lose(Self.message(PQerrorMessage(connection)))
            return outcomes
        }
        // Groups of statements that end in one Sync: a run of reads, or one write.
        var groups: [Range<Int>] = []
        var start = 0
        for index in statements.indices {
            let last = index == statements.count - 1
            if !statements[index].0.isReadOnly || last || !statements[index + 1].0.isReadOnly {
                groups.append(start..<(index + 1))
                start = index + 1
            }
        }
        var sentGroups = 0
        sending: for group in groups {
            for index in group where !send(statements[index].0, statements[index].1, on: connection, deadline: deadline) {
                break sending
            }
            guard PQpipelineSync(connection) == 1 else { break }
            sentGroups += 1
        }
        guard flush(connection, deadline: deadline) else {
            lose(Self.message(PQerrorMessage(connection)))
            return outcomes
        }
        for group in groups.prefix(sentGroups) {
            for index in group {
                guard let outcome = readResult(on: connection, deadline: deadline) else {
                    lose(Self.message(PQerrorMessage(connection)))
                    return outcomes
                }
                outcomes[index] = outcome
            }
            guard readSync(on: connection, deadline: deadline) else {
                lose(Self.message(PQerrorMessage(connection)))
                return outcomes
            }
        }
        if sentGroups < groups.count {
            lose(Self.message(PQerrorMessage(connection)))
            return outcomes
        }
        _ = PQexitPipelineMode(connection)
        return outcomes
    }

    /// Reads one statement's result and the NULL that ends it; `nil` when the connection broke.
    /// A statement skipped because an earlier one in its group failed reads as `aborted`.
    private mutating func readResult(
        on connection: OpaquePointer, deadline: ContinuousClock.Instant
    ) -> Result<PostgresRows, PostgresFailure>? {
        guard case .some(let next) = nextResult(connection, deadline: deadline), let result = next else { return nil }
        let status = PQresultStatus(result)
        let outcome: Result<PostgresRows, PostgresFailure>
        if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK {
            outcome = .success(Self.rows(of: result))
        } else if status == PGRES_PIPELINE_ABORTED {
            outcome = .failure(Self.aborted)
        } else {
            outcome = .failure(failure(of: result, on: connection))
        }
        PQclear(result)
        while true {
            guard case .some(let next) = nextResult(connection, deadline: deadline) else { return nil }
            guard let extra = next else { break }
            PQclear(extra)
        }
        return PQstatus(connection) == CONNECTION_OK ? outcome : nil
    }

    /// Reads the `PGRES_PIPELINE_SYNC` that ends a group; `false` when the connection broke.
    private mutating func readSync(on connection: OpaquePointer, deadline: ContinuousClock.Instant) -> Bool {
        guard case .some(let next) = nextResult(connection, deadline: deadline), let sync = next else { return false }
        defer { PQclear(sync) }
        return PQresultStatus(sync) == PGRES_PIPELINE_SYNC
    }

    /// The failure of a read skipped because another read of its group failed; it is run again.
    static let aborted = PostgresFailure(sqlState: nil, message: "skipped: another statement of the pipeline failed", connectionLost: false)

    /// Queues one statement in the pipeline; in non-blocking mode a full buffer is flushed
    /// (by the deadline) and the statement queued again.
    private mutating func send(
        _ statement: PreparedStatement, _ parameters: [String?], on connection: OpaquePointer, deadline: ContinuousClock.Instant
    ) -> Bool {
        var values = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { values.forEach { free($0) } }
        let queue = {
            values.withUnsafeMutableBufferPointer { buffer in
                buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { pointers in
                    PQsendQueryPrepared(connection, statement.rawValue, Int32(parameters.count), pointers.baseAddress, nil, nil, 0) == 1
                }
            }
        }
        if queue() { return true }
        return flush(connection, deadline: deadline) && queue()
    }

    private func failure(of result: OpaquePointer?, on connection: OpaquePointer) -> PostgresFailure {
        let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let text = result.flatMap { PQresultErrorMessage($0) }.map { Self.message($0) } ?? ""
        let message = text.isEmpty ? Self.message(PQerrorMessage(connection)) : text
        let lost = PQstatus(connection) != CONNECTION_OK || sqlState?.hasPrefix("08") == true
            || ["57P01", "57P02", "57P03"].contains(sqlState ?? "")
        return PostgresFailure(sqlState: sqlState, message: message, connectionLost: lost)
    }

    private static func rows(of result: OpaquePointer?) -> PostgresRows {
        let rowCount = PQntuples(result)
        let columnCount = PQnfields(result)
        var rows: [[String?]] = []
        rows.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var values: [String?] = []
            values.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(result, row, column) == 1 {
                    values.append(nil)
                } else {
                    values.append(String(cString: PQgetvalue(result, row, column)))
                }
            }
            rows.append(values)
        }
        return PostgresRows(rows: rows)
    }

    /// The first line of a libpq message, without the `ERROR:` prefix.
    private static func message(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "unknown error" }
        var line = String(cString: text).split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init) ?? ""
        for prefix in ["ERROR:  ", "FATAL:  "] where line.hasPrefix(prefix) { line.removeFirst(prefix.count) }
        return line.trimmingCharacters(in: .whitespaces)
    }

    private static func message(_ text: UnsafeMutablePointer<CChar>?) -> String {
        message(UnsafePointer(text))
    }
}
