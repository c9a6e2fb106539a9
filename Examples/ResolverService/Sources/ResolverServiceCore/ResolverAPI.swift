import Foundation
import Hummingbird
import Prometheus
import TrafficManager

/// The HTTP API over a ``TrafficManager``:
///
/// - `GET /v1/routes/{tenant}/{service}/{environment}/{version}` → 200 `{"url", "revision",
///   "source", "age_ms"}` (source `near`, `shared`, `store` or `stale`; age: how long ago the
///   answer was read from the store); 404 when the route does not exist or is inactive; 503 when neither cache nor
///   store can answer; 400 naming the bad field.
/// - `PUT` of the same path with `{"url": …}` (optional `"expected_revision"`), and
///   `POST …/activate`, `POST …/deactivate`: need `Authorization: Bearer <token>`; bodies up to
///   ``Settings/maximumBodySize``. `Idempotency-Key` makes a retry apply once, as the IETF
///   draft says: 422 when a key comes back with a different request, 409 while the first
///   request with it is still being applied (the store checks, so across instances too).
/// - `GET /metrics` (Prometheus text), `GET /health/live`, `GET /health/ready` (200 while a
///   resolve can be answered, from the cache or the store).
public struct ResolverAPI: Sendable {
    /// What the API needs besides the manager.
    public struct Settings: Sendable {
        /// The bearer token writes need. Writes are refused (401) without a match.
        public var writeToken: String
        /// The largest request body accepted. Default 4 KiB.
        public var maximumBodySize: Int
        /// How long a resolve may take before the API answers 503. Default 2 s.
        public var resolveTimeout: Duration

        /// Creates settings.
        public init(writeToken: String, maximumBodySize: Int = 4_096, resolveTimeout: Duration = .seconds(2)) {
            self.writeToken = writeToken
            self.maximumBodySize = maximumBodySize
            self.resolveTimeout = resolveTimeout
        }
    }

    let manager: TrafficManager
    let settings: Settings
    let registry: PrometheusCollectorRegistry

    /// Creates the API.
    ///
    /// - Parameter registry: where `/metrics` reads from; bootstrap swift-metrics with a
    ///   `PrometheusMetricsFactory` of the same registry (see ``ResolverAPI/metricsFactory(registry:)``).
    public init(manager: TrafficManager, settings: Settings, registry: PrometheusCollectorRegistry) {
        self.manager = manager
        self.settings = settings
        self.registry = registry
    }

    /// A Prometheus factory whose duration histograms resolve microseconds: buckets from 5 µs
    /// to 1 s (a cache hit takes tens of microseconds).
    public static func metricsFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(5), .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
            .microseconds(500), .milliseconds(1), .microseconds(2_500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        ]
        return factory
    }

    /// The router with every endpoint.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let routePath = "/v1/routes/:tenant/:service/:environment/:version"
        router.get(RouterPath(routePath)) { _, context in try await resolve(context) }
        router.put(RouterPath(routePath)) { request, context in try await write(request, context, operation: .upsert) }
        router.post(RouterPath(routePath + "/activate")) { request, context in try await write(request, context, operation: .activate) }
        router.post(RouterPath(routePath + "/deactivate")) { request, context in try await write(request, context, operation: .deactivate) }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("/health/live") { _, _ in json(.ok, ["status": "live"]) }
        router.get("/health/ready") { _, _ in try await ready() }
        return router
    }

    // MARK: Reads

    private func resolve(_ context: BasicRequestContext) async throws -> Response {
        let route = try routeID(context)
        do {
            let resolution = try await manager.resolution(route, timeout: settings.resolveTimeout)
            return json(
                .ok,
                ResolutionBody(
                    url: resolution.url, revision: resolution.revision, source: resolution.source.description,
                    ageMs: resolution.age.components.seconds * 1_000 + resolution.age.components.attoseconds / 1_000_000_000_000_000))
        } catch {
            return failure(error)
        }
    }

    /// Ready while a resolve gets an answer — a probe route that does not exist answers 404 from
    /// the cache or the store; only when neither can answer is the service not ready.
    private func ready() async throws -> Response {
        let probe = try RouteID(tenant: "health-probe", service: "probe", environment: "probe", version: "v0")
        do {
            _ = try await manager.resolution(probe, timeout: settings.resolveTimeout)
            return json(.ok, ["status": "ready"])
        } catch TrafficManagerError.Code.routeNotFound {
            return json(.ok, ["status": "ready"])
        } catch {
            return json(.serviceUnavailable, ["status": "unavailable", "error": "\(error)"])
        }
    }

    // MARK: Writes

    private enum Operation {
        case upsert, activate, deactivate
    }

    private struct WriteRequest: Decodable {
        var url: String
        var expectedRevision: UInt64?
    }

    private func write(_ request: Request, _ context: BasicRequestContext, operation: Operation) async throws -> Response {
        guard authorized(request) else {
            return json(.unauthorized, ErrorBody(error: "writes need Authorization: Bearer <token>", field: nil))
        }
        let route = try routeID(context)
        let key = request.headers[.init("Idempotency-Key")!]
        var body = WriteRequest(url: "", expectedRevision: nil)
        if operation == .upsert {
            let bytes: ByteBuffer
            do {
                bytes = try await request.body.collect(upTo: settings.maximumBodySize)
            } catch {
                return json(.contentTooLarge, ErrorBody(error: "the body is larger than \(settings.maximumBodySize) bytes", field: nil))
            }
            do {
                let decoder = JSONDecoder()
                decoder.keyDecodingStrategy = .convertFromSnakeCase
                body = try decoder.decode(WriteRequest.self, from: Data(buffer: bytes))
            } catch {
                return json(.badRequest, ErrorBody(error: "the body must be JSON {\"url\": \"…\"}: \(error)", field: "url"))
            }
        }
        let expected = body.expectedRevision
        let url = body.url
        do {
            let result = try await manager.writer.write(idempotencyKey: key) { () throws(ValidationError) in
                switch operation {
                case .upsert: try RouteCommand(route: route, operation: .upsert(url: url), expectedRevision: expected)
                case .activate: try RouteCommand(route: route, operation: .activate, expectedRevision: expected)
                case .deactivate: try RouteCommand(route: route, operation: .deactivate, expectedRevision: expected)
                }
            }
            let change = result.event?.action.rawValue ?? "unchanged"
            let status: HTTPResponse.Status = result.event?.action == .created && !result.replayed ? .created : .ok
            return json(
                status,
                WriteBody(
                    url: result.endpoint.url, revision: result.endpoint.revision, active: result.endpoint.isActive, change: change,
                    replayed: result.replayed))
        } catch {
            return failure(error)
        }
    }

    private func authorized(_ request: Request) -> Bool {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { return false }
        let given = Array(header.dropFirst("Bearer ".count).utf8)
        let expected = Array(settings.writeToken.utf8)
        // Compares every byte whatever the first difference, so timing says nothing.
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for index in 0..<max(given.count, expected.count) {
            difference |= (index < given.count ? given[index] : 0) ^ (index < expected.count ? expected[index] : 0)
        }
        return difference == 0 && !expected.isEmpty
    }

    // MARK: Shared

    private func routeID(_ context: BasicRequestContext) throws -> RouteID {
        let parameters = context.parameters
        do {
            return try RouteID(
                tenant: parameters.get("tenant") ?? "", service: parameters.get("service") ?? "",
                environment: parameters.get("environment") ?? "", version: parameters.get("version") ?? "")
        } catch {
            throw BadRequest(body: ErrorBody(error: "\(error)", field: error.field.rawValue))
        }
    }

    /// A TrafficManager error as an HTTP answer.
    private func failure(_ error: any Error) -> Response {
        guard let error = error as? TrafficManagerError else {
            return json(.internalServerError, ErrorBody(error: "\(error)", field: nil))
        }
        let status: HTTPResponse.Status
        switch error.code {
        case .routeNotFound: status = .notFound
        case .invalidInput: status = .badRequest
        case .idempotencyConflict: status = .unprocessableContent
        case .idempotencyKeyInUse, .revisionConflict: status = .conflict
        default: status = .serviceUnavailable
        }
        return json(
            status,
            ErrorBody(
                error: error.message, field: error.validationError?.field.rawValue, code: error.code.description,
                currentRevision: error.currentRevision))
    }
}

/// A bad route in the path, answered 400 with the field it names.
struct BadRequest: HTTPResponseError {
    var body: ErrorBody
    var status: HTTPResponse.Status { .badRequest }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        json(.badRequest, body)
    }
}

struct ResolutionBody: Encodable {
    var url: String
    var revision: UInt64
    var source: String
    var ageMs: Int64
}

struct WriteBody: Encodable {
    var url: String
    var revision: UInt64
    var active: Bool
    var change: String
    var replayed: Bool
}

struct ErrorBody: Encodable {
    var error: String
    var field: String?
    var code: String?
    var currentRevision: UInt64?

    init(error: String, field: String?, code: String? = nil, currentRevision: UInt64? = nil) {
        self.error = error
        self.field = field
        self.code = code
        self.currentRevision = currentRevision
    }
}

func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
