import CLibPQ
import Foundation
import Logging
import TrafficManager

/// A libpq connection, used only by the pool thread that owns it.
///
/// `run(_:)` sends every prepared statement of a batch in one pipeline, each followed by a Sync
/// so that each commits or fails on its own, then reads the results in order.
struct PostgresConnection {
    private let configuration: PostgresRouteStore.Configuration
    private let logger: Logger
    private var connection: OpaquePointer?
    private var prepared: Set<PreparedStatement> = []
    private var schedule: ReconnectSchedule
    private var lastError = "not connected yet"

    init(configuration: PostgresRouteStore.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.schedule = ReconnectSchedule(configuration.reconnectBackOff)
    }

    /// Runs `statements` and returns one result per statement, in order.
    ///
    /// A batch of reads that finds its connection broken — an idle connection whose server
    /// restarted — runs once more on a new connection: reads are safe to repeat. Writes are not
    /// repeated: whether a lost write committed is unknown, so it fails as `storeUnavailable`.
    mutating func run(_ statements: [PostgresStatement]) -> [Result<PostgresRows, PostgresFailure>] {
        let hadConnection = connection != nil
        let results = runOnce(statements)
        let onlyReads = statements.allSatisfy { if case .prepared(let name, _) = $0 { name.isReadOnly } else { false } }
        guard hadConnection, connection == nil, onlyReads,
            results.allSatisfy({ if case .failure(let failure) = $0 { failure.connectionLost } else { false } })
        else { return results }
        return runOnce(statements)
    }

    private mutating func runOnce(_ statements: [PostgresStatement]) -> [Result<PostgresRows, PostgresFailure>] {
        guard let connection = connectIfDue() else {
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
                if let failure = prepare(name, on: connection) {
                    results[index] = .failure(failure)
                } else {
                    pipelined.append((index, name, parameters))
                }
            case .simple(let sql):
                results[index] = simple(sql, on: connection)
            }
            if self.connection == nil { break }
        }
        if self.connection != nil, !pipelined.isEmpty {
            let outcomes = pipeline(pipelined.map { ($0.statement, $0.parameters) }, on: connection)
            for (slot, outcome) in zip(pipelined, outcomes) { results[slot.index] = outcome }
            // Reads skipped because a neighbour failed run again, each in a group of its own.
            for slot in pipelined where self.connection != nil {
                guard case .failure(let failure)? = results[slot.index], failure.message == Self.aborted.message else { continue }
                results[slot.index] = pipeline([(slot.statement, slot.parameters)], on: connection)[0]
            }
        }
        let lost = PostgresFailure(
            sqlState: nil, message: "the connection to PostgreSQL at \(configuration.endpointDescription) was lost: \(lastError)",
            connectionLost: true)
        return results.map { $0 ?? .failure(lost) }
    }

    mutating func disconnect() {
        if let connection { PQfinish(connection) }
        connection = nil
        prepared = []
    }

    // MARK: Connecting

    private mutating func connectIfDue() -> OpaquePointer? {
        if let connection { return connection }
        guard schedule.isDue else { return nil }
        if let made = connect() {
            connection = made
            schedule.succeeded()
            logger.info("connected to PostgreSQL", metadata: ["endpoint": "\(configuration.endpointDescription)"])
            return made
        }
        schedule.failed()
        return nil
    }

    private mutating func connect() -> OpaquePointer? {
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
                        PQconnectdbParams(k.baseAddress, v.baseAddress, 0)
                    }
                }
            }
        }
        guard let made else {
            lastError = "libpq could not allocate a connection"
            return nil
        }
        guard PQstatus(made) == CONNECTION_OK else {
            lastError = Self.message(PQerrorMessage(made))
            PQfinish(made)
            return nil
        }
        return made
    }

    private mutating func lose(_ reason: String) {
        lastError = reason
        logger.warning("PostgreSQL connection lost", metadata: ["error": "\(reason)"])
        disconnect()
        schedule.connectionLost()
    }

    // MARK: Running

    private mutating func prepare(_ statement: PreparedStatement, on connection: OpaquePointer) -> PostgresFailure? {
        if prepared.contains(statement) { return nil }
        let result = PQprepare(connection, statement.rawValue, statement.sql, statement.parameterCount, nil)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            let failure = failure(of: result, on: connection)
            if failure.connectionLost { lose(failure.message) }
            return failure
        }
        prepared.insert(statement)
        return nil
    }

    private mutating func simple(_ sql: String, on connection: OpaquePointer) -> Result<PostgresRows, PostgresFailure> {
        let result = PQexec(connection, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
            let failure = failure(of: result, on: connection)
            if failure.connectionLost { lose(failure.message) }
            return .failure(failure)
        }
        return .success(Self.rows(of: result))
    }

    private mutating func pipeline(
        _ statements: [(PreparedStatement, [String?])], on connection: OpaquePointer
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
            for index in group where !Self.send(statements[index].0, statements[index].1, on: connection) { break sending }
            guard PQpipelineSync(connection) == 1 else { break }
            sentGroups += 1
        }
        for group in groups.prefix(sentGroups) {
            for index in group {
                guard let outcome = readResult(on: connection) else {
                    lose(Self.message(PQerrorMessage(connection)))
                    return outcomes
                }
                outcomes[index] = outcome
            }
            guard readSync(on: connection) else {
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
    private func readResult(on connection: OpaquePointer) -> Result<PostgresRows, PostgresFailure>? {
        guard let result = PQgetResult(connection) else { return nil }
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
        while let extra = PQgetResult(connection) { PQclear(extra) }
        return PQstatus(connection) == CONNECTION_OK ? outcome : nil
    }

    /// Reads the `PGRES_PIPELINE_SYNC` that ends a group; `false` when the connection broke.
    private func readSync(on connection: OpaquePointer) -> Bool {
        guard let sync = PQgetResult(connection) else { return false }
        defer { PQclear(sync) }
        return PQresultStatus(sync) == PGRES_PIPELINE_SYNC
    }

    /// The failure of a read skipped because another read of its group failed; it is run again.
    static let aborted = PostgresFailure(sqlState: nil, message: "skipped: another statement of the pipeline failed", connectionLost: false)

    private static func send(_ statement: PreparedStatement, _ parameters: [String?], on connection: OpaquePointer) -> Bool {
        var values = parameters.map { $0.map { strdup($0) } ?? nil }
        defer { values.forEach { free($0) } }
        return values.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { pointers in
                PQsendQueryPrepared(connection, statement.rawValue, Int32(parameters.count), pointers.baseAddress, nil, nil, 0) == 1
            }
        }
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
