import Foundation
import Tracing

/// A ``RouteCache`` whose every call is a span.
struct TracingRouteCache: RouteCache {
    let inner: any RouteCache
    let tracer: any Tracer

    private func span<T>(_ operation: String, _ route: RouteID, _ body: () async throws -> T) async throws -> T {
        try await traced(tracer, TrafficManagerTracing.cacheSpanPrefix + operation, kind: .client, route: route, body)
    }

    func get(_ route: RouteID) async throws -> CachedRoute? {
        try await span("get", route) { try await inner.get(route) }
    }

    func entry(_ route: RouteID) async throws -> CachedEntry? {
        try await span("get", route) { try await inner.entry(route) }
    }

    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date, readAt: Date) async throws -> Bool {
        try await span("fill", route) { try await inner.fill(route, with: value, ttl: ttl, notAfter: notAfter, readAt: readAt) }
    }

    func get(_ routes: [RouteID]) async throws -> [CachedRoute?] {
        try await traced(tracer, TrafficManagerTracing.cacheSpanPrefix + "get_many", kind: .client) { try await inner.get(routes) }
    }

    func entries(_ routes: [RouteID]) async throws -> [CachedEntry?] {
        try await traced(tracer, TrafficManagerTracing.cacheSpanPrefix + "get_many", kind: .client) { try await inner.entries(routes) }
    }

    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration) async throws -> Bool {
        try await span("fill", route) { try await inner.fill(route, with: value, ttl: ttl) }
    }

    func fill(_ route: RouteID, with value: CachedRoute, ttl: Duration, notAfter: Date) async throws -> Bool {
        try await span("fill", route) { try await inner.fill(route, with: value, ttl: ttl, notAfter: notAfter) }
    }

    func invalidate(_ route: RouteID, revision: UInt64, ttl: Duration) async throws {
        try await span("invalidate", route) { try await inner.invalidate(route, revision: revision, ttl: ttl) }
    }
}
