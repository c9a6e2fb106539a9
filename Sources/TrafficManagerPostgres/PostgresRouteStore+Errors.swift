import TrafficManager

extension PostgresRouteStore {
    /// The error of a statement that writes no route — a lookup, an outbox or audit query, a
    /// migration: always `storeUnavailable`, with the server's SQLSTATE when it sent one.
    func readError(_ failure: PostgresFailure, operation: String) -> TrafficManagerError {
        .storeUnavailable(
            "\(operation) failed at \(configuration.endpointDescription): \(failure.message)\(Self.advice(failure))",
            sqlState: failure.sqlState, underlying: failure)
    }

    /// The error of a `tm_apply` call.
    ///
    /// `routeNotFound`, `idempotencyConflict` and `revisionConflict` come from the function itself
    /// (SQLSTATEs `TMNF0`, `TMIC0` and `TMRC0`); a lost connection, a timeout or a missing schema leaves the store
    /// unavailable; any other error the server sent rolled the transaction back: `writeFailed`.
    func writeError(
        _ failure: PostgresFailure, route: RouteID, key: IdempotencyKey?, expected: UInt64?
    ) -> TrafficManagerError {
        switch failure.sqlState {
        case "TMNF0":
            return .routeNotFound(route)
        case "TMIC0" where key != nil:
            return .idempotencyConflict(key: key?.value ?? "", route: route)
        case "TMIU0" where key != nil:
            return .idempotencyKeyInUse(key: key?.value ?? "", route: route)
        case "TMRC0":
            // "route revision conflict: current revision N"
            let current = failure.message.split(separator: " ").last.flatMap { UInt64($0) } ?? 0
            return .revisionConflict(route, expected: expected ?? 0, current: current)
        default:
            break
        }
        if failure.connectionLost && failure.sent {
            return .outcomeUnknown(
                "the connection to PostgreSQL at \(configuration.endpointDescription) failed after writing route \(route) was sent: \(failure.message)",
                sqlState: failure.sqlState, route: route, underlying: failure)
        }
        if failure.connectionLost || failure.sqlState == "57014" || Self.schemaMissing(failure) {
            return .storeUnavailable(
                "writing route \(route) failed at \(configuration.endpointDescription): \(failure.message)\(Self.advice(failure))",
                sqlState: failure.sqlState, route: route, underlying: failure)
        }
        return .writeFailed(failure.message, sqlState: failure.sqlState, route: route, underlying: failure)
    }

    /// What to do about failures whose cure is known.
    private static func advice(_ failure: PostgresFailure) -> String {
        if schemaMissing(failure) { return " (the schema is missing or out of date: run PostgresRouteStore.migrate())" }
        if failure.sqlState == "57014" { return " (the statement ran past statement_timeout and was cancelled)" }
        return ""
    }

    /// Undefined table, function or schema: the migrations have not run against this database.
    private static func schemaMissing(_ failure: PostgresFailure) -> Bool {
        ["42P01", "42883", "3F000"].contains(failure.sqlState)
    }
}
