import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import TrafficManager

/// A `RouteStore` in PostgreSQL, over libpq.
///
/// - Reads are one prepared statement; concurrent reads queued on one connection go out
///   together in libpq's pipeline mode.
/// - Each write is one call of the `tm_apply` function that ``migrate()`` installs: one
///   transaction that gets or inserts the tenant, service and environment, inserts or updates
///   the endpoint and bumps its revision, inserts the `route_events` row, and stores the
///   idempotency key's result — all or nothing. Serialization failures and deadlocks are
///   retried (``Configuration-swift.struct/serializationRetries``).
/// - Connections are made on first use and again after they break; while the server is
///   unreachable calls fail fast with `TrafficManagerError/Code/storeUnavailable`, naming the
///   host and port but never the password.
///
/// - With ``Configuration-swift.struct/replicas``, the read path's lookups
///   (``lookup(_:atLeast:)-(RouteID,_)``) go to a replica whose measured lag is under
///   ``Configuration-swift.struct/replicaMaxLag``, and to the primary when none is, when the
///   replica fails or is slow, or when its answer is older than a revision the caller knows.
///
/// It is a swift-service-lifecycle `Service`: ``run()`` hosts the connection threads until
/// shutdown. Run it in a `ServiceGroup`, or as `Task { try await store.run() }` and call
/// ``shutdown()`` when done. Calls made before `run()` — `migrate()` included — wait for it
/// within their deadline; calls after shutdown fail with `TrafficManagerError/Code/notRunning`.
public final class PostgresRouteStore: RouteStore, EventOutbox, RetentionPruning, LeaseStore, Service {
    let configuration: Configuration
    let pool: PostgresConnectionPool
    /// The read replicas; `nil` without any.
    let replicas: PostgresReplicaSet?
    let logger: Logger

    /// Creates the store; ``run()`` starts its connection threads.
    ///
    /// - Precondition: `configuration.schema`, if set, is letters, digits and `_`.
    /// - Parameters:
    ///   - configuration: the server, credentials, pool and deadlines.
    ///   - logger: where the store logs.
    ///   - metricsFactory: where each connection's `ConnectionMetrics` go
    ///     (`backend` = `postgres`): queue depth, wait, deadline misses, connects, up.
    public init(
        configuration: Configuration, logger: Logger = Logger(label: "TrafficManager.Postgres"),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        if let schema = configuration.schema {
            precondition(PostgresMigrations.isValidIdentifier(schema), "schema must be letters, digits and _")
        }
        self.configuration = configuration
        self.logger = logger
        pool = PostgresConnectionPool(configuration: configuration, logger: logger, metricsFactory: metricsFactory)
        replicas =
            configuration.replicas.isEmpty
            ? nil : PostgresReplicaSet(configuration: configuration, primary: pool, logger: logger, metricsFactory: metricsFactory)
    }

    /// One executor per connection thread.
    ///
    /// Tasks that prefer one (`Task(executorPreference:)`, `withTaskExecutorPreference`) run on
    /// that connection's thread between its pipelines, and their statements go to that
    /// connection, so a round trip resumes them without waking another thread. Such tasks must
    /// not block: while one runs, its connection waits.
    public var taskExecutors: [any TaskExecutor] { pool.threadExecutors }

    /// Creates or upgrades the schema: runs every migration not yet recorded, under an
    /// advisory lock, so running it twice or from two processes at once is safe.
    ///
    /// The call may take up to `max(callTimeout, 60 s)`, waiting for the lock included: when
    /// several instances start at once, each waits for the one migrating (the server's
    /// `statement_timeout` is raised to that budget for this statement alone).
    ///
    /// - Returns: the versions the schema is at afterwards.
    @discardableResult
    public func migrate() async throws -> [Int] {
        let budget = max(configuration.callTimeout, .seconds(60))
        let deadline = ContinuousClock.now + budget
        let script = PostgresMigrations.script(schema: configuration.schema, statementTimeout: budget - .seconds(1))
        _ = try await run(.simple(script), "migrating the schema", deadline: deadline)
        let rows = try await run(.simple(PostgresMigrations.recordedVersions), "reading the schema version", deadline: deadline)
        let versions = rows.rows.first?.first??.split(separator: ",").compactMap { Int($0) } ?? []
        logger.info("schema migrated", metadata: ["versions": "\(versions)"])
        return versions
    }

    /// The route's lookup, from the primary.
    public func lookup(_ route: RouteID) async throws -> RouteLookup {
        try Self.lookup(from: try await run(.prepared(.lookup, Self.parameters(route)), "looking up route \(route)"))
    }

    /// Every route's lookup in one query (`unnest` of the names, joined by position), from the
    /// primary.
    public func lookup(_ routes: [RouteID]) async throws -> [RouteLookup] {
        guard !routes.isEmpty else { return [] }
        let result = try await run(.prepared(.lookupMany, Self.parameters(routes)), "looking up \(routes.count) routes")
        return try Self.lookups(from: result, count: routes.count)
    }

    static func lookup(from rows: PostgresRows) throws -> RouteLookup {
        guard let row = rows.rows.first else { return .neverExisted }
        return RouteLookup(url: row[0], revision: try integer(row[1]))
    }

    static func lookups(from result: PostgresRows, count: Int) throws -> [RouteLookup] {
        guard result.rows.count == count else {
            throw TrafficManagerError.storeUnavailable("a batch lookup of \(count) routes returned \(result.rows.count) rows")
        }
        return try result.rows.map { row in
            guard let revision = row[2] else { return .neverExisted }
            return RouteLookup(url: row[1], revision: try integer(revision))
        }
    }

    /// The four name arrays of a batch lookup. Names are validated (letters, digits, `-._+`),
    /// so they need no escaping inside the array literals' quotes.
    static func parameters(_ routes: [RouteID]) -> [String?] {
        func array(_ names: [String]) -> String { "{" + names.map { "\"\($0)\"" }.joined(separator: ",") + "}" }
        return [array(routes.map(\.tenant)), array(routes.map(\.service)), array(routes.map(\.environment)), array(routes.map(\.version))]
    }

    public func endpoint(_ route: RouteID) async throws -> RouteEndpoint? {
        let rows = try await run(.prepared(.endpoint, Self.parameters(route)), "reading route \(route)")
        guard let row = rows.rows.first else { return nil }
        return RouteEndpoint(
            route: route, url: row[0] ?? "", isActive: row[1] == "t", createdAt: Date(unixMilliseconds: try Self.integer(row[3])),
            updatedAt: Date(unixMilliseconds: try Self.integer(row[4])), revision: try Self.integer(row[2]))
    }

    public func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
        let route = command.route
        let (operation, url): (String, String?)
        switch command.operation {
        case .upsert(let target): (operation, url) = ("upsert", target)
        case .activate: (operation, url) = ("activate", nil)
        case .deactivate: (operation, url) = ("deactivate", nil)
        }
        let parameters: [String?] =
            Self.parameters(route) + [
                operation, url, idempotencyKey?.value, idempotencyKey.map { _ in command.fingerprint },
                command.expectedRevision.map { String($0) },
                String(max(1, configuration.idempotencyKeyRetention.wholeMilliseconds)),
            ]
        var attempt = 0
        let deadline = ContinuousClock.now + configuration.callTimeout
        while true {
            do {
                let rows = try await pool.run(.prepared(.apply, parameters), deadline: deadline)
                return try Self.writeResult(rows, route: route)
            } catch let failure as PostgresFailure where failure.isRetryable && attempt < configuration.serializationRetries {
                attempt += 1
                logger.debug("retrying a write after \(failure)", metadata: ["route": "\(route)", "attempt": "\(attempt)"])
            } catch let failure as PostgresFailure {
                throw writeError(failure, route: route, key: idempotencyKey, expected: command.expectedRevision)
            }
        }
    }

    public func routes(matching filter: RouteFilter, after cursor: RouteID?, limit: Int) async throws -> RoutePage {
        let limit = min(max(limit, 1), RoutePage.maximumLimit)
        let parameters: [String?] = [
            filter.tenant, filter.service, filter.environment, filter.includeInactive ? "t" : "f",
            cursor?.tenant, cursor?.service, cursor?.environment, cursor?.version, String(limit + 1),
        ]
        let rows = try await run(.prepared(.list, parameters), "listing routes")
        var routes: [RouteEndpoint] = []
        for row in rows.rows.prefix(limit) {
            guard row.count == 9, let tenant = row[0], let service = row[1], let environment = row[2], let version = row[3],
                let url = row[4]
            else { throw TrafficManagerError.storeUnavailable("listing routes returned an unexpected row") }
            routes.append(
                RouteEndpoint(
                    route: try RouteID(tenant: tenant, service: service, environment: environment, version: version), url: url,
                    isActive: row[5] == "t", createdAt: Date(unixMilliseconds: try Self.integer(row[7])),
                    updatedAt: Date(unixMilliseconds: try Self.integer(row[8])), revision: try Self.integer(row[6])))
        }
        return RoutePage(routes: routes, nextCursor: rows.rows.count > limit ? routes.last?.route : nil)
    }

    /// One statement, one transaction: `tm_apply_batch` applies every command or none.
    public func applyBatch(_ commands: [RouteCommand]) async throws -> [RouteWriteResult] {
        guard !commands.isEmpty else { return [] }
        let items = commands.map(BatchItem.init)
        let json = String(decoding: try JSONEncoder().encode(items), as: UTF8.self)
        var attempt = 0
        let deadline = ContinuousClock.now + configuration.callTimeout
        while true {
            do {
                let rows = try await pool.run(.prepared(.applyBatch, [json]), deadline: deadline)
                guard rows.rows.count == commands.count else {
                    throw TrafficManagerError.outcomeUnknown(
                        "tm_apply_batch returned \(rows.rows.count) rows for \(commands.count) commands", route: commands[0].route)
                }
                return try rows.rows.enumerated().map { index, row in
                    try Self.writeResult(PostgresRows(rows: [Array(row.dropFirst())]), route: commands[index].route)
                }
            } catch let failure as PostgresFailure where failure.isRetryable && attempt < configuration.serializationRetries {
                attempt += 1
                logger.debug("retrying a batch after \(failure)", metadata: ["commands": "\(commands.count)", "attempt": "\(attempt)"])
            } catch let failure as PostgresFailure {
                // "command N of M: …" names the command whose route and expectation the error is about.
                guard failure.message.hasPrefix("command "),
                    let number = failure.message.split(separator: " ").dropFirst().first.flatMap({ Int($0) }),
                    commands.indices.contains(number - 1)
                else {
                    throw writeError(failure, route: commands[0].route, key: nil, expected: nil)
                }
                let command = commands[number - 1]
                var inner = failure
                if let colon = failure.message.range(of: ": ") { inner.message = String(failure.message[colon.upperBound...]) }
                throw writeError(inner, route: command.route, key: nil, expected: command.expectedRevision)
                    .inBatch(number - 1, of: commands.count)
            }
        }
    }

    /// One command of a batch, as `tm_apply_batch` reads it.
    private struct BatchItem: Encodable {
        var tenant, service, env, version, operation: String
        var url: String?
        var expected: UInt64?

        init(_ command: RouteCommand) {
            let route = command.route
            (tenant, service, env, version) = (route.tenant, route.service, route.environment, route.version)
            switch command.operation {
            case .upsert(let target): (operation, url) = ("upsert", target)
            case .activate: (operation, url) = ("activate", nil)
            case .deactivate: (operation, url) = ("deactivate", nil)
            }
            expected = command.expectedRevision
        }
    }

    /// Takes or renews a lease in `tm_leases`, timed by the server's clock.
    public func acquireLease(_ name: String, holder: String, duration: Duration) async throws -> String {
        try LeaseArguments.validate(name: name, holder: holder, duration: duration)
        // A taker that lost a race for a free lease waited for the winner's insert, but its
        // snapshot predates that row, so it sees no holder: it asks again, with a new snapshot.
        for _ in 0..<3 {
            let rows = try await run(
                .prepared(.acquireLease, [name, holder, String(duration.wholeMilliseconds)]), "taking the lease \(name)")
            if let current = rows.rows.first?.first ?? nil { return current }
        }
        throw TrafficManagerError.storeUnavailable("taking the lease \(name) returned no holder three times")
    }

    public func releaseLease(_ name: String, holder: String) async throws {
        try LeaseArguments.validate(name: name, holder: holder)
        _ = try await run(.prepared(.releaseLease, [name, holder]), "releasing the lease \(name)")
    }

    public func markPublished(_ eventIDs: [UUID]) async throws {
        guard !eventIDs.isEmpty else { return }
        let list = "{" + eventIDs.map(\.uuidString).joined(separator: ",") + "}"
        _ = try await run(.prepared(.markPublished, [list]), "marking \(eventIDs.count) events published")
    }

    public func unpublishedEvents(olderThan age: Duration, limit: Int) async throws -> [RouteEvent] {
        let rows = try await run(
            .prepared(.unpublished, [String(age.wholeMilliseconds), String(limit)]), "reading unpublished events")
        return try rows.rows.map { row in
            guard let id = row[0].flatMap(UUID.init(uuidString:)), let action = row[1].flatMap(RouteAction.init(rawValue:)),
                let tenant = row[2], let service = row[3], let environment = row[4], let version = row[5], let url = row[6]
            else { throw TrafficManagerError.storeUnavailable("route_events holds a row TrafficManager cannot read") }
            return RouteEvent(
                eventID: id, action: action,
                route: try RouteID(tenant: tenant, service: service, environment: environment, version: version),
                url: url, revision: try Self.integer(row[7]), occurredAt: Date(unixMilliseconds: try Self.integer(row[8])))
        }
    }

    /// The change history after `position`, in (transaction id, row id) order, handed out only
    /// up to the oldest transaction still running — so a change committed later can never land
    /// behind a position already given out. A position behind what the retention prune deleted
    /// answers `resync`.
    public func changes(after position: ChangePosition?, limit: Int) async throws -> ChangePage {
        var after: (txid: String, id: String)?
        if let position {
            let parts = position.token.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 2, let txid = UInt64(parts[0]), let id = Int64(parts[1]), id >= 0 else {
                let bad = position.token.first { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? "."
                throw TrafficManagerError.invalidInput(ValidationError(field: .changePosition, rule: .invalidCharacter(bad)))
            }
            after = (String(txid), String(id))
        }
        let rows = try await run(
            .prepared(.changes, [after?.txid, after?.id, String(max(1, min(limit, 10_000)))]), "reading the change history")
        // Read after the page: a prune in between shows in the horizon, and the page is dropped.
        let horizon = try await run(.prepared(.changeHorizon, []), "reading the change horizon")
        let row = horizon.rows.first ?? []
        func makePosition(_ txid: String?, _ id: String?) -> ChangePosition? {
            guard let txid, let id else { return nil }
            return ChangePosition(token: "\(txid).\(id)")
        }
        let head = row.count == 4 ? makePosition(row[2], row[3]) : nil
        if let after, row.count == 4, let prunedTxid = row[0].flatMap(UInt64.init), let prunedID = row[1].flatMap(Int64.init),
            let afterTxid = UInt64(after.txid), let afterID = Int64(after.id),
            (prunedTxid, prunedID) > (afterTxid, afterID)
        {
            return ChangePage(changes: [], resync: true, head: head)
        }
        let changes = try rows.rows.map { row -> PositionedChange in
            guard let txid = row[0], let id = row[1], let eventID = row[2].flatMap(UUID.init(uuidString:)),
                let action = row[3].flatMap(RouteAction.init(rawValue:)), let tenant = row[4], let service = row[5],
                let environment = row[6], let version = row[7], let url = row[8]
            else { throw TrafficManagerError.storeUnavailable("route_events holds a row TrafficManager cannot read") }
            let event = RouteEvent(
                eventID: eventID, action: action,
                route: try RouteID(tenant: tenant, service: service, environment: environment, version: version),
                url: url, revision: try Self.integer(row[9]), occurredAt: Date(unixMilliseconds: try Self.integer(row[10])))
            return PositionedChange(position: ChangePosition(token: "\(txid).\(id)"), event: event)
        }
        return ChangePage(changes: changes, head: head)
    }

    /// Deletes at most `limit` expired idempotency keys, published events older than the
    /// cut-off and, when asked, audit entries older than theirs, in one statement.
    public func prune(_ cutoffs: RetentionCutoffs, limit: Int) async throws -> PrunedRows {
        let rows = try await run(
            .prepared(
                .prune,
                [
                    String(max(1, limit)), String(cutoffs.publishedEventsBefore.unixMilliseconds),
                    cutoffs.auditEntriesBefore.map { String($0.unixMilliseconds) },
                ]), "pruning retained rows")
        guard let row = rows.rows.first, row.count == 4 else {
            throw TrafficManagerError.storeUnavailable("pruning returned an unexpected row")
        }
        return PrunedRows(
            idempotencyKeys: try Self.integer(row[0]), events: try Self.integer(row[1]), auditEntries: try Self.integer(row[2]))
    }

    /// Records `event` in the `audit_log` table; see ``PostgresAuditLog``.
    func recordAudit(_ event: RouteEvent) async throws {
        let route = event.route
        _ = try await run(
            .prepared(
                .audit,
                [
                    event.eventID.uuidString, event.action.rawValue, route.tenant, route.service, route.environment, route.version,
                    event.url, String(event.revision), String(event.occurredAt.unixMilliseconds),
                ]), "recording audit event \(event.eventID)")
    }

    /// Starts the connection threads and hosts them until graceful shutdown, cancellation or
    /// ``shutdown()``; returns when every thread has stopped.
    ///
    /// - Throws: `TrafficManagerError/Code/notRunning` when the store was shut down already.
    public func run() async throws {
        guard let replicas else { return try await pool.run() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.pool.run() }
            group.addTask { try await replicas.run() }
            // Either ends only at shutdown or cancellation: the other follows.
            try await group.next()
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    /// Closes every connection after the statements already queued (each within its
    /// deadline) and returns when every thread has stopped; ``run()`` returns too. Later calls
    /// fail with `TrafficManagerError/Code/notRunning`.
    public func shutdown() async {
        await pool.close()
        await replicas?.close()
    }

    /// Connection threads running now; for tests.
    var runningThreadCount: Int { pool.runningThreadCount + (replicas?.replicas.reduce(0) { $0 + $1.pool.runningThreadCount } ?? 0) }

    /// Runs SQL in the simple query protocol; for tests and tools.
    func execute(_ sql: String) async throws -> PostgresRows {
        try await run(.simple(sql), "running SQL")
    }

    /// Runs a statement that writes no route; any failure is `storeUnavailable`, but for the
    /// runtime's own (`deadlineExceeded`, `notRunning`, `overloaded`, cancellation).
    func run(
        _ statement: PostgresStatement, _ operation: @autoclosure () -> String, deadline: ContinuousClock.Instant? = nil
    ) async throws -> PostgresRows {
        do {
            return try await pool.run(statement, deadline: deadline ?? .now + configuration.callTimeout)
        } catch let failure as PostgresFailure {
            throw readError(failure, operation: operation())
        }
    }

    static func parameters(_ route: RouteID) -> [String?] {
        [route.tenant, route.service, route.environment, route.version]
    }

    private static func writeResult(_ rows: PostgresRows, route: RouteID) throws -> RouteWriteResult {
        guard let row = rows.rows.first, row.count == 8, let url = row[0] else {
            throw TrafficManagerError.outcomeUnknown("tm_apply returned an unexpected row", route: route)
        }
        let endpoint = RouteEndpoint(
            route: route, url: url, isActive: row[1] == "t", createdAt: Date(unixMilliseconds: try integer(row[3])),
            updatedAt: Date(unixMilliseconds: try integer(row[4])), revision: try integer(row[2]))
        var event: RouteEvent?
        if let id = row[5], let action = row[6] {
            guard let eventID = UUID(uuidString: id), let action = RouteAction(rawValue: action) else {
                throw TrafficManagerError.outcomeUnknown("tm_apply returned an unknown event \(id) \(action)", route: route)
            }
            event = RouteEvent(
                eventID: eventID, action: action, route: route, url: url, revision: endpoint.revision,
                occurredAt: endpoint.updatedAt)
        }
        return RouteWriteResult(endpoint: endpoint, event: event, replayed: row[7] == "t")
    }

    private static func integer<T: FixedWidthInteger>(_ text: String?) throws -> T {
        guard let text, let value = T(text) else {
            throw TrafficManagerError.storeUnavailable("PostgreSQL returned \(String(describing: text)) where a number was expected")
        }
        return value
    }
}
