import Foundation
import Synchronization

/// A complete ``RouteStore`` in process memory.
///
/// It keeps the same tables as the PostgreSQL schema — tenants, services, environments,
/// endpoints, route events and idempotency keys, with the same uniqueness rules — and applies
/// each write as a transaction that rolls back entirely when any step fails. Fault points
/// (``FaultInjector/failNext(_:at:with:)``) are named after the steps: `"tenant"`,
/// `"service"`, `"environment"`, `"endpoint"`, `"event"`, `"idempotency"`.
///
/// Idempotency keys are scoped per tenant and kept for ``idempotencyKeyRetention``; after it a
/// key may be used again for another request.
public final class InMemoryRouteStore: RouteStore, EventOutbox, RetentionPruning, LeaseStore {
    private struct ServiceKey: Hashable { var tenantID: Int64; var name: String }
    private struct EnvironmentKey: Hashable { var serviceID: Int64; var name: String }
    private struct EndpointKey: Hashable { var environmentID: Int64; var version: String }

    /// A row of the `route_events` table.
    public struct EventRow: Hashable, Sendable {
        /// The event.
        public var event: RouteEvent
        /// When the event was confirmed published; `nil` until then.
        public var processedAt: Date?
        /// Its place in the change history (writes are serialised here, so commit order).
        public var position: Int64 = 0
    }

    private struct StoredKey {
        var fingerprint: String
        var result: RouteWriteResult
        var expiresAt: Date
    }

    private struct Tables {
        var tenants: [String: Int64] = [:]
        var services: [ServiceKey: Int64] = [:]
        var environments: [EnvironmentKey: Int64] = [:]
        var endpoints: [EndpointKey: RouteEndpoint] = [:]
        var events: [EventRow] = []
        /// By tenant and key: `tenant|key` (a tenant name cannot hold `|`).
        var idempotency: [String: StoredKey] = [:]
        var nextID: Int64 = 1
        var nextPosition: Int64 = 1
        /// The newest position pruned: a reader behind it missed changes.
        var prunedUpTo: Int64 = 0
        var leases: [String: (holder: String, expiresAt: Duration)] = [:]
    }

    /// Row counts of each table, for tests that check nothing was half-written.
    public struct RowCounts: Hashable, Sendable {
        public var tenants, services, environments, endpoints, events, idempotencyKeys: Int

        /// Creates a set of counts.
        public init(tenants: Int, services: Int, environments: Int, endpoints: Int, events: Int, idempotencyKeys: Int) {
            (self.tenants, self.services, self.environments) = (tenants, services, environments)
            (self.endpoints, self.events, self.idempotencyKeys) = (endpoints, events, idempotencyKeys)
        }
    }

    private let tables = Locked(Tables())
    private let time: any TimeSource
    private let lookups = Atomic<Int>(0)
    private let batchLookups = Atomic<Int>(0)
    /// Faults to inject into this store's calls and transaction steps.
    public let faults = FaultInjector()

    /// How long a result stays stored under its idempotency key.
    public let idempotencyKeyRetention: Duration

    /// Creates an empty store reading wall time from `time`.
    ///
    /// - Parameters:
    ///   - time: the clock for timestamps and key expiry.
    ///   - idempotencyKeyRetention: how long a key's result is kept; default 24 h.
    public init(time: any TimeSource = SystemTimeSource(), idempotencyKeyRetention: Duration = .seconds(86_400)) {
        self.time = time
        self.idempotencyKeyRetention = idempotencyKeyRetention
    }

    public func lookup(_ route: RouteID) async throws -> RouteLookup {
        lookups.add(1, ordering: .relaxed)
        try await faults.check("lookup")
        return tables.withLock { tables in
            guard let endpoint = Self.find(route, in: tables) else { return .neverExisted }
            return RouteLookup(url: endpoint.isActive ? endpoint.url : nil, revision: endpoint.revision)
        }
    }

    /// Every route's lookup under one lock: one call, as PostgreSQL answers them in one query
    /// (counted in ``batchLookupCount``, not ``lookupCount``).
    public func lookup(_ routes: [RouteID]) async throws -> [RouteLookup] {
        batchLookups.add(1, ordering: .relaxed)
        try await faults.check("lookup")
        return tables.withLock { tables in
            routes.map { route in
                guard let endpoint = Self.find(route, in: tables) else { return .neverExisted }
                return RouteLookup(url: endpoint.isActive ? endpoint.url : nil, revision: endpoint.revision)
            }
        }
    }

    public func endpoint(_ route: RouteID) async throws -> RouteEndpoint? {
        try await faults.check("endpoint")
        return tables.withLock { Self.find(route, in: $0) }
    }

    public func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
        try await faults.check("apply")
        let now = Date(unixMilliseconds: time.wallNow().unixMilliseconds)
        let expiresAt = now.addingTimeInterval(idempotencyKeyRetention.timeInterval)
        let scopedKey = idempotencyKey.map { "\(command.route.tenant)|\($0.value)" }
        return try tables.withLock { tables throws -> RouteWriteResult in
            if let scopedKey, let key = idempotencyKey, let stored = tables.idempotency[scopedKey] {
                if stored.expiresAt > now {
                    guard stored.fingerprint == command.fingerprint else {
                        throw TrafficManagerError.idempotencyConflict(key: key.value, route: command.route)
                    }
                    var replay = stored.result
                    replay.replayed = true
                    return replay
                }
                // Past its retention the key is free again.
                tables.idempotency[scopedKey] = nil
            }
            var undo: [(inout Tables) -> Void] = []
            do {
                let stored = scopedKey.map { (key: $0, expiresAt: expiresAt) }
                let result = try Self.transaction(command, key: stored, now: now, tables: &tables, undo: &undo, faults: faults)
                return result
            } catch {
                for step in undo.reversed() { step(&tables) }
                throw error
            }
        }
    }

    public func routes(matching filter: RouteFilter, after cursor: RouteID?, limit: Int) async throws -> RoutePage {
        try await faults.check("routes")
        let limit = min(max(limit, 1), RoutePage.maximumLimit)
        let all = tables.withLock { Array($0.endpoints.values) }
        var matching = all.filter { endpoint in
            filter.matches(endpoint) && cursor.map { RouteID.listingOrder($0, endpoint.route) } ?? true
        }
        matching.sort { RouteID.listingOrder($0.route, $1.route) }
        let page = Array(matching.prefix(limit))
        return RoutePage(routes: page, nextCursor: matching.count > limit ? page.last?.route : nil)
    }

    /// Applies every command under one lock; a failing one undoes the whole batch.
    public func applyBatch(_ commands: [RouteCommand]) async throws -> [RouteWriteResult] {
        try await faults.check("applyBatch")
        let now = Date(unixMilliseconds: time.wallNow().unixMilliseconds)
        return try tables.withLock { tables throws -> [RouteWriteResult] in
            var undo: [(inout Tables) -> Void] = []
            var results: [RouteWriteResult] = []
            for (index, command) in commands.enumerated() {
                do {
                    results.append(try Self.transaction(command, key: nil, now: now, tables: &tables, undo: &undo, faults: faults))
                } catch {
                    for step in undo.reversed() { step(&tables) }
                    if let error = error as? TrafficManagerError { throw error.inBatch(index, of: commands.count) }
                    throw error
                }
            }
            return results
        }
    }

    /// How many lookups this store has served (fault-injected ones included).
    public var lookupCount: Int { lookups.load(ordering: .relaxed) }

    /// How many batch lookups were made.
    public var batchLookupCount: Int { batchLookups.load(ordering: .relaxed) }

    /// The rows in each table.
    public var rowCounts: RowCounts {
        tables.withLock { t in
            RowCounts(
                tenants: t.tenants.count, services: t.services.count, environments: t.environments.count,
                endpoints: t.endpoints.count, events: t.events.count, idempotencyKeys: t.idempotency.count)
        }
    }

    /// The `route_events` rows, oldest first.
    public var eventRows: [EventRow] { tables.withLock { $0.events } }

    public func markPublished(_ eventIDs: [UUID]) async throws {
        try await faults.check("markPublished")
        let now = time.wallNow()
        let ids = Set(eventIDs)
        tables.withLock { tables in
            for index in tables.events.indices where tables.events[index].processedAt == nil && ids.contains(tables.events[index].event.eventID) {
                tables.events[index].processedAt = now
            }
        }
    }

    public func unpublishedEvents(olderThan age: Duration, limit: Int) async throws -> [RouteEvent] {
        try await faults.check("unpublishedEvents")
        let (seconds, attoseconds) = age.components
        let cutoff = time.wallNow().addingTimeInterval(-(Double(seconds) + Double(attoseconds) / 1e18))
        return tables.withLock { tables in
            Array(tables.events.lazy.filter { $0.processedAt == nil && $0.event.occurredAt <= cutoff }.prefix(limit).map(\.event))
        }
    }

    /// The change history: events in position order (a position is the event's sequence number).
    public func changes(after position: ChangePosition?, limit: Int) async throws -> ChangePage {
        try await faults.check("changes")
        let after: Int64
        if let position {
            guard let number = Int64(position.token), number >= 0 else {
                let bad = position.token.first { !$0.isASCII || !$0.isNumber } ?? "-"
                throw TrafficManagerError.invalidInput(ValidationError(field: .changePosition, rule: .invalidCharacter(bad)))
            }
            after = number
        } else {
            after = 0
        }
        return tables.withLock { tables in
            let head = tables.events.last.map { ChangePosition(token: String($0.position)) }
            if position != nil && tables.prunedUpTo > after { return ChangePage(changes: [], resync: true, head: head) }
            let changes = tables.events.lazy.filter { $0.position > after }.prefix(max(1, limit))
                .map { PositionedChange(position: ChangePosition(token: String($0.position)), event: $0.event) }
            return ChangePage(changes: Array(changes), head: head)
        }
    }

    /// Deletes expired idempotency keys and published events older than the cut-off, at most
    /// `limit` of each. This store keeps no audit log: `auditEntries` is always 0.
    public func prune(_ cutoffs: RetentionCutoffs, limit: Int) async throws -> PrunedRows {
        try await faults.check("prune")
        let now = time.wallNow()
        return tables.withLock { tables in
            let expired = tables.idempotency.lazy.filter { $0.value.expiresAt <= now }.prefix(limit).map(\.key)
            let keys = Array(expired)
            for key in keys { tables.idempotency[key] = nil }
            var events = 0
            var pruned = tables.prunedUpTo
            tables.events.removeAll { row in
                guard events < limit, row.processedAt != nil, row.event.occurredAt < cutoffs.publishedEventsBefore else {
                    return false
                }
                events += 1
                pruned = max(pruned, row.position)
                return true
            }
            tables.prunedUpTo = pruned
            return PrunedRows(idempotencyKeys: keys.count, events: events)
        }
    }

    /// Takes or renews a lease, timed by the store's monotonic clock.
    public func acquireLease(_ name: String, holder: String, duration: Duration) async throws -> String {
        try LeaseArguments.validate(name: name, holder: holder, duration: duration)
        try await faults.check("acquireLease")
        let now = time.monotonicNow()
        return tables.withLock { tables in
            if let lease = tables.leases[name], lease.holder != holder, lease.expiresAt > now { return lease.holder }
            tables.leases[name] = (holder, now + duration)
            return holder
        }
    }

    public func releaseLease(_ name: String, holder: String) async throws {
        try LeaseArguments.validate(name: name, holder: holder)
        try await faults.check("releaseLease")
        tables.withLock { tables in
            if tables.leases[name]?.holder == holder { tables.leases[name] = nil }
        }
    }

    private static func find(_ route: RouteID, in tables: Tables) -> RouteEndpoint? {
        guard let tenantID = tables.tenants[route.tenant],
            let serviceID = tables.services[ServiceKey(tenantID: tenantID, name: route.service)],
            let environmentID = tables.environments[EnvironmentKey(serviceID: serviceID, name: route.environment)]
        else { return nil }
        return tables.endpoints[EndpointKey(environmentID: environmentID, version: route.version)]
    }

    // The steps of one write. Every change appends its inverse to `undo`.
    private static func transaction(
        _ command: RouteCommand, key: (key: String, expiresAt: Date)?, now: Date,
        tables: inout Tables, undo: inout [(inout Tables) -> Void], faults: FaultInjector
    ) throws -> RouteWriteResult {
        let route = command.route
        let tenantID = getOrInsert(route.tenant, in: \.tenants, tables: &tables, undo: &undo)
        try faults.checkPoint("tenant")
        let serviceID = getOrInsert(ServiceKey(tenantID: tenantID, name: route.service), in: \.services, tables: &tables, undo: &undo)
        try faults.checkPoint("service")
        let environmentID = getOrInsert(
            EnvironmentKey(serviceID: serviceID, name: route.environment), in: \.environments, tables: &tables, undo: &undo)
        try faults.checkPoint("environment")

        let endpointKey = EndpointKey(environmentID: environmentID, version: route.version)
        let existing = tables.endpoints[endpointKey]
        let endpoint: RouteEndpoint
        let action: RouteAction
        switch try RouteTransition.next(from: existing, command: command, now: now) {
        case .unchanged(let current):
            let result = RouteWriteResult(endpoint: current, event: nil)
            try storeKey(key, command: command, result: result, tables: &tables, undo: &undo, faults: faults)
            return result
        case .changed(let changed, let change):
            (endpoint, action) = (changed, change)
        }
        tables.endpoints[endpointKey] = endpoint
        undo.append { $0.endpoints[endpointKey] = existing }
        try faults.checkPoint("endpoint")

        let event = RouteEvent(
            eventID: UUID(), action: action, route: route, url: endpoint.url, revision: endpoint.revision, occurredAt: now)
        tables.events.append(EventRow(event: event, processedAt: nil, position: tables.nextPosition))
        tables.nextPosition += 1
        undo.append { $0.events.removeLast() }
        try faults.checkPoint("event")

        let result = RouteWriteResult(endpoint: endpoint, event: event)
        try storeKey(key, command: command, result: result, tables: &tables, undo: &undo, faults: faults)
        return result
    }

    private static func storeKey(
        _ key: (key: String, expiresAt: Date)?, command: RouteCommand, result: RouteWriteResult,
        tables: inout Tables, undo: inout [(inout Tables) -> Void], faults: FaultInjector
    ) throws {
        guard let key else { return }
        tables.idempotency[key.key] = StoredKey(fingerprint: command.fingerprint, result: result, expiresAt: key.expiresAt)
        undo.append { $0.idempotency[key.key] = nil }
        try faults.checkPoint("idempotency")
    }

    private static func getOrInsert<Key: Hashable>(
        _ key: Key, in table: WritableKeyPath<Tables, [Key: Int64]>,
        tables: inout Tables, undo: inout [(inout Tables) -> Void]
    ) -> Int64 {
        if let id = tables[keyPath: table][key] { return id }
        let id = tables.nextID
        tables.nextID += 1
        tables[keyPath: table][key] = id
        undo.append { $0[keyPath: table][key] = nil }
        return id
    }
}
