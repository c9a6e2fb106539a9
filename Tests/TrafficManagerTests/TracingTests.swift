import InMemoryTracing
import Testing
import Tracing
import TrafficManager
import TrafficManagerTestKit

/// Spans around resolves, writes and each store and cache call — only when a tracer is active.
@Suite struct TracingTests {
    private func manager(_ h: Harness, tracer: InMemoryTracer?) -> TrafficManager {
        TrafficManager(
            store: h.store, cache: h.cache, publisher: h.bus, logger: h.logs.logger(), metricsFactory: h.metrics, time: h.time,
            tracer: tracer)
    }

    @Test func aMissIsAResolveSpanWithCacheAndStoreSpansInside() async throws {
        let h = Harness()
        try await h.manager.createRoute(chatProd, url: "http://chat:4002")
        let tracer = InMemoryTracer()
        let manager = manager(h, tracer: tracer)
        #expect(try await manager.resolve(chatProd) == "http://chat:4002")
        let spans = tracer.finishedSpans
        let resolve = try #require(spans.first { $0.operationName == TrafficManagerTracing.resolveSpan })
        #expect(resolve.attributes[TrafficManagerTracing.routeAttribute]?.toSpanAttribute() == .string(chatProd.description))
        let children = spans.filter { $0.spanContext.parentSpanID == resolve.spanContext.spanID }.map(\.operationName)
        #expect(
            Set(children) == ["trafficmanager.cache.get", "trafficmanager.store.lookup", "trafficmanager.cache.fill"],
            "\(spans.map(\.operationName))")
        #expect(spans.allSatisfy { $0.traceID == resolve.traceID })
    }

    @Test func aWriteIsAWriteSpanWithTheStoreAndTheInvalidationInside() async throws {
        let h = Harness()
        let tracer = InMemoryTracer()
        let manager = manager(h, tracer: tracer)
        try await manager.createRoute(chatProd, url: "http://chat:4002")
        let spans = tracer.finishedSpans
        let write = try #require(spans.first { $0.operationName == TrafficManagerTracing.writeSpan })
        let children = spans.filter { $0.spanContext.parentSpanID == write.spanContext.spanID }.map(\.operationName)
        #expect(Set(children) == ["trafficmanager.store.apply", "trafficmanager.cache.invalidate"], "\(spans.map(\.operationName))")
    }

    @Test func aFailedCallIsRecordedOnItsSpan() async throws {
        let h = Harness()
        let tracer = InMemoryTracer()
        let manager = manager(h, tracer: tracer)
        h.store.faults.failNext(1, with: TrafficManagerError.storeUnavailable("down"))
        await #expect(throws: TrafficManagerError.self) { try await manager.resolve(chatProd) }
        let lookup = try #require(tracer.finishedSpans.first { $0.operationName == "trafficmanager.store.lookup" })
        #expect(lookup.errors.count == 1)
    }

    @Test func withTheNoOpTracerNoSpanIsMadeAndABoundTracerIsPickedUpAtCreation() async throws {
        let h = Harness()
        #expect(TrafficManagerTracing.activeTracer() == nil)
        let tracer = InMemoryTracer()
        let bound = withTracer(tracer) { manager(h, tracer: nil) }
        try await bound.createRoute(chatProd, url: "http://chat:4002")
        #expect(tracer.finishedSpans.contains { $0.operationName == TrafficManagerTracing.writeSpan })
        let before = tracer.finishedSpans.count
        try await h.manager.createRoute(chatProd, url: "http://chat:4003")  // made outside any tracer
        #expect(tracer.finishedSpans.count == before)
    }
}
