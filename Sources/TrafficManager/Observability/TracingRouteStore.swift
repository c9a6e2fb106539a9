import Tracing
import Foundation

/// A ``RouteStore`` whose every call is a span: what ``TrafficManager/TrafficManager`` puts in
/// front of its store when a tracer is active.
struct TracingRouteStore: RouteStore {
    let inner: any RouteStore
    let tracer: any Tracer

    private func span<T>(_ operation: String, _ route: RouteID?, _ body: () async throws -> T) async throws -> T {
        try await traced(tracer, TrafficManagerTracing.storeSpanPrefix + operation, kind: .client, route: route, body)
    }

    func lookup(_ route: RouteID) async throws -> RouteLookup {
        try await span("lookup", route) { try await inner.lookup(route) }
    }

    func changes(after position: ChangePosition?, limit: Int) async throws -> ChangePage {
        try await span("changes", nil) { try await inner.changes(after: position, limit: limit) }
    }

    func lookup(_ routes: [RouteID]) async throws -> [RouteLookup] {
        try await span("lookup_many", nil) { try await inner.lookup(routes) }
    }

    func lookup(_ route: RouteID, atLeast revision: UInt64) async throws -> RouteLookup {
        try await span("lookup", route) { try await inner.lookup(route, atLeast: revision) }
    }

    func lookup(_ routes: [RouteID], atLeast revisions: [UInt64]) async throws -> [RouteLookup] {
        try await span("lookup_many", nil) { try await inner.lookup(routes, atLeast: revisions) }
    }

    var maximumReadLag: Duration { inner.maximumReadLag }

    func endpoint(_ route: RouteID) async throws -> RouteEndpoint? {
        try await span("endpoint", route) { try await inner.endpoint(route) }
    }

    func apply(_ command: RouteCommand, idempotencyKey: IdempotencyKey?) async throws -> RouteWriteResult {
        try await span("apply", command.route) { try await inner.apply(command, idempotencyKey: idempotencyKey) }
    }

    func routes(matching filter: RouteFilter, after cursor: RouteID?, limit: Int) async throws -> RoutePage {
        try await span("list", nil) { try await inner.routes(matching: filter, after: cursor, limit: limit) }
    }

    func applyBatch(_ commands: [RouteCommand]) async throws -> [RouteWriteResult] {
        try await span("apply_batch", nil) { try await inner.applyBatch(commands) }
    }
}
