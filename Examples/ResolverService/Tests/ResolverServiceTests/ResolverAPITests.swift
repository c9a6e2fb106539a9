import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import ResolverServiceCore
import Testing
import TrafficManager
import TrafficManagerTestKit

/// The HTTP API on the in-memory backends, through HummingbirdTesting.
@Suite struct ResolverAPITests {
    static let token = "test-token-0123456789"

    private func app(_ routes: InMemoryTrafficManager = InMemoryTrafficManager(), maximumBodySize: Int = 4_096) -> some ApplicationProtocol {
        let registry = PrometheusCollectorRegistry()
        let api = ResolverAPI(
            manager: routes.manager, settings: .init(writeToken: Self.token, maximumBodySize: maximumBodySize), registry: registry)
        return Application(router: api.router())
    }

    private var writer: HTTPFields { [.authorization: "Bearer \(Self.token)", .contentType: "application/json"] }

    private func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])
    }

    @Test func aRouteIsWrittenThenResolvedWithItsRevisionAndSource() async throws {
        try await app().test(.router) { client in
            try await client.execute(
                uri: "/v1/routes/chat-app/chat/prod/v1", method: .put, headers: writer, body: ByteBuffer(string: #"{"url": "http://chat:4002"}"#)
            ) { response in
                #expect(response.status == .created)
                let body = try object(response)
                #expect(body["revision"] as? Int == 1 && body["change"] as? String == "created" && body["replayed"] as? Bool == false)
            }
            try await client.execute(uri: "/v1/routes/chat-app/chat/prod/v1", method: .get) { response in
                #expect(response.status == .ok)
                let body = try object(response)
                #expect(body["url"] as? String == "http://chat:4002" && body["revision"] as? Int == 1 && body["source"] as? String == "store")
            }
            try await client.execute(uri: "/v1/routes/chat-app/chat/prod/v1", method: .get) { response in
                let fields = try object(response)
                #expect(fields["source"] as? String == "shared")
            }
            try await client.execute(uri: "/v1/routes/chat-app/chat/prod/v1/deactivate", method: .post, headers: writer) { response in
                let body = try object(response)
                #expect(response.status == .ok && body["change"] as? String == "deactivated")
            }
            try await client.execute(uri: "/v1/routes/chat-app/chat/prod/v1", method: .get) { response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/routes/chat-app/chat/prod/v1/activate", method: .post, headers: writer) { response in
                let body = try object(response)
                #expect(response.status == .ok && body["revision"] as? Int == 3)
            }
        }
    }

    @Test func withAChangeFeedTheSecondReadComesFromTheNearCache() async throws {
        let bus = InMemoryEventBus(heartbeatInterval: .milliseconds(5))
        let manager = TrafficManager(store: InMemoryRouteStore(), cache: InMemoryRouteCache(), publisher: bus, changeFeed: bus)
        let feed = Task { try await manager.changeFeedService?.run() }
        defer { feed.cancel() }
        try await Task.sleep(for: .milliseconds(30))
        let api = ResolverAPI(manager: manager, settings: .init(writeToken: Self.token), registry: PrometheusCollectorRegistry())
        try await Application(router: api.router()).test(.router) { client in
            try await client.execute(
                uri: "/v1/routes/chat-app/chat/prod/v1", method: .put, headers: writer, body: ByteBuffer(string: #"{"url": "http://chat:4002"}"#)
            ) { response in
                #expect(response.status == .created)
            }
            try await client.execute(uri: "/v1/routes/chat-app/chat/prod/v1", method: .get) { response in
                let body = try object(response)
                #expect(body["source"] as? String == "near" && body["url"] as? String == "http://chat:4002")
                #expect(body["age_ms"] is Int)
            }
        }
    }

    @Test func badInputIs400NamingTheField() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/v1/routes/Chat-App/chat/prod/v1", method: .get) { response in
                #expect(response.status == .badRequest)
                let fields = try object(response)
                #expect(fields["field"] as? String == "tenant")
            }
            try await client.execute(
                uri: "/v1/routes/chat-app/chat/prod/v1", method: .put, headers: writer, body: ByteBuffer(string: #"{"url": "ftp://x"}"#)
            ) { response in
                #expect(response.status == .badRequest)
                let fields = try object(response)
                #expect(fields["field"] as? String == "url")
            }
            try await client.execute(uri: "/v1/routes/chat-app/chat/prod/v1", method: .put, headers: writer, body: ByteBuffer(string: "not json")) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test func writesNeedTheTokenAndBodiesHaveALimit() async throws {
        try await app(maximumBodySize: 64).test(.router) { client in
            let body = ByteBuffer(string: #"{"url": "http://chat:4002"}"#)
            try await client.execute(uri: "/v1/routes/a/b/c/v1", method: .put, body: body) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/routes/a/b/c/v1", method: .put, headers: [.authorization: "Bearer wrong"], body: body) {
                #expect($0.status == .unauthorized)
            }
            let large = ByteBuffer(string: #"{"url": "http://chat:4002/"# + String(repeating: "x", count: 100) + #""}"#)
            try await client.execute(uri: "/v1/routes/a/b/c/v1", method: .put, headers: writer, body: large) {
                #expect($0.status == .contentTooLarge)
            }
            try await client.execute(uri: "/v1/routes/a/b/c/v1", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test func anIdempotencyKeyReplaysAndIs422WithAnotherRequest() async throws {
        try await app().test(.router) { client in
            var headers = writer
            headers[.init("Idempotency-Key")!] = "deploy-42"
            for _ in 0..<2 {
                try await client.execute(
                    uri: "/v1/routes/a/b/c/v1", method: .put, headers: headers, body: ByteBuffer(string: #"{"url": "http://a:1"}"#)
                ) { response in
                    let body = try object(response)
                    #expect(response.status == .created || body["replayed"] as? Bool == true)
                }
            }
            try await client.execute(
                uri: "/v1/routes/a/b/c/v1", method: .put, headers: headers, body: ByteBuffer(string: #"{"url": "http://a:2"}"#)
            ) { response in
                #expect(response.status == .unprocessableContent)
                let fields = try object(response)
                #expect(fields["code"] as? String == "idempotencyConflict")
            }
            try await client.execute(
                uri: "/v1/routes/a/b/c/v1", method: .put, headers: writer,
                body: ByteBuffer(string: #"{"url": "http://a:3", "expected_revision": 7}"#)
            ) { response in
                #expect(response.status == .conflict)
                let fields = try object(response)
                #expect(fields["current_revision"] as? Int == 1)
            }
        }
    }

    @Test func aKeyStillBeingAppliedIs409() async throws {
        let routes = InMemoryTrafficManager()
        let route = try RouteID(tenant: "a", service: "b", environment: "c", version: "v1")
        routes.store.faults.failNext(1, with: TrafficManagerError.idempotencyKeyInUse(key: "deploy-9", route: route))
        try await app(routes).test(.router) { client in
            var headers = writer
            headers[.init("Idempotency-Key")!] = "deploy-9"
            try await client.execute(
                uri: "/v1/routes/a/b/c/v1", method: .put, headers: headers, body: ByteBuffer(string: #"{"url": "http://a:1"}"#)
            ) { response in
                #expect(response.status == .conflict)
                let fields = try object(response)
                #expect(fields["code"] as? String == "idempotencyKeyInUse")
            }
        }
    }

    @Test func unavailableBackendsAre503AndNotReadyWhileACachedAnswerStaysReady() async throws {
        let routes = InMemoryTrafficManager()
        try await routes.manager.createRoute(RouteID(tenant: "a", service: "b", environment: "c", version: "v1"), url: "http://a:1")
        try await app(routes).test(.router) { client in
            try await client.execute(uri: "/health/live", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/health/ready", method: .get) { #expect($0.status == .ok) }  // caches the probe's 404
            try await client.execute(uri: "/v1/routes/a/b/c/v1", method: .get) { #expect($0.status == .ok) }  // cached now
            routes.store.faults.failNext(100, with: TrafficManagerError.storeUnavailable("down"))
            try await client.execute(uri: "/health/ready", method: .get) { #expect($0.status == .ok) }  // the cache answers
            try await client.execute(uri: "/v1/routes/a/b/c/v1", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/routes/a/b/c/v2", method: .get) { #expect($0.status == .serviceUnavailable) }
            routes.cache.faults.failNext(100, with: TrafficManagerError.cacheUnavailable("down"))
            try await client.execute(uri: "/health/ready", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
    }

    @Test func metricsArePrometheusTextWithMicrosecondBuckets() async throws {
        let registry = PrometheusCollectorRegistry()
        let factory = ResolverAPI.metricsFactory(registry: registry)
        let routes = InMemoryTrafficManager(metricsFactory: factory)
        let api = ResolverAPI(manager: routes.manager, settings: .init(writeToken: Self.token), registry: registry)
        try await Application(router: api.router()).test(.router) { client in
            try await client.execute(uri: "/v1/routes/a/b/c/v1", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(response.status == .ok)
                #expect(text.contains("trafficmanager_resolve_requests_total 1"), "\(text)")
                #expect(text.contains("trafficmanager_resolve_latency_seconds_bucket{le=\"0.000005\"}"), "\(text)")
            }
        }
    }
}
