import Tracing

/// The span names and attributes TrafficManager records when a tracer is active.
public enum TrafficManagerTracing {
    /// A resolve, from call to answer.
    public static let resolveSpan = "trafficmanager.resolve"
    /// A write or a batch, from call to commit (and the invalidation and publication after it).
    public static let writeSpan = "trafficmanager.write"
    /// Store calls: `trafficmanager.store.` + `lookup`, `endpoint`, `apply`, `apply_batch`, `list`.
    public static let storeSpanPrefix = "trafficmanager.store."
    /// Cache calls: `trafficmanager.cache.` + `get`, `fill`, `invalidate`.
    public static let cacheSpanPrefix = "trafficmanager.cache."
    /// Handling one consumed event (a consumer span; its parent is the write that published it).
    public static let handleEventSpan = "trafficmanager.event.handle"
    /// The attribute naming the route: `tenant/service/environment@version`.
    public static let routeAttribute = "trafficmanager.route"

    /// The tracer to record spans with: `tracer` when given, else the active one (bootstrapped,
    /// or bound with `withTracer`); `nil` when that is the no-op tracer, so that nothing is
    /// created at all.
    public static func activeTracer(_ tracer: (any Tracer)? = nil) -> (any Tracer)? {
        let candidate = tracer ?? InstrumentationSystem.tracer
        return candidate is NoOpTracer ? nil : candidate
    }
}

/// Runs `body` in a span named `name` when `tracer` is set; else runs it as it is.
@inline(__always)
package func traced<T>(
    _ tracer: (any Tracer)?, _ name: String, kind: SpanKind = .internal, route: RouteID? = nil, _ body: () async throws -> T
) async throws -> T {
    guard let tracer else { return try await body() }
    return try await tracer.withSpan(name, ofKind: kind) { span in
        if let route { span.attributes[TrafficManagerTracing.routeAttribute] = route.description }
        return try await body()
    }
}
