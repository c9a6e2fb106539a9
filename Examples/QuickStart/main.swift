// QuickStart: the chat application's routes (gateway, auth, user and chat services in dev,
// staging and prod, from Examples/Topologies/chat-application.yaml) on the in-memory backends.
// It resolves a miss, a hit, a negative hit and a deactivated route, then prints the metrics
// it recorded. `swift run QuickStart FILE` loads another topology file.
import Foundation
import Logging
import MetricsTestKit
import TrafficManager
import TrafficManagerTopology

let metrics = TestMetrics()
var logger = Logger(label: "QuickStart")
logger.logLevel = .warning

let bus = InMemoryEventBus()
let manager = TrafficManager(
    store: InMemoryRouteStore(),
    cache: InMemoryRouteCache(),
    publisher: bus,
    logger: logger,
    metricsFactory: metrics
)

// The chat application: four services, each on its own port, in three environments, plus the
// gateway's local ports — read from its topology file and written in one batch.
let file = CommandLine.arguments.dropFirst().first
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Topologies/chat-application.yaml").path
let topology: Topology
do {
    topology = try Topology(contentsOfFile: file)
} catch {
    // Every problem, with its line.
    print(error)
    exit(65)
}
try await manager.applyBatch(topology.commands())
print("Loaded \(topology.routes.count) routes from \(URL(fileURLWithPath: file).lastPathComponent); \(bus.publishedEvents.count) route events published.\n")

func show(_ label: String, _ service: String, _ environment: String, _ version: String = "v1") async {
    do {
        let url = try await manager.resolve(tenant: "chat-app", service: service, environment: environment, version: version)
        print("\(label.padding(toLength: 26, withPad: " ", startingAt: 0)) chat-app/\(service)/\(environment)@\(version) -> \(url)")
    } catch let error as TrafficManagerError {
        // Branch on the stable code; show the message to people.
        print("\(label.padding(toLength: 26, withPad: " ", startingAt: 0)) chat-app/\(service)/\(environment)@\(version) -> \(error.code)")
    } catch {
        print("cancelled: \(error)")
    }
}

await show("miss (read from store)", "chat", "prod")
await show("hit (from cache)", "chat", "prod")
await show("miss", "auth", "staging")
await show("not found (from store)", "chat", "prod", "v2")
await show("negative hit (cached)", "chat", "prod", "v2")

let gateway = try RouteID(tenant: "chat-app", service: "gateway", environment: "dev", version: "v1")
await show("before deactivation", "gateway", "dev")
try await manager.deactivateRoute(gateway)
await show("after deactivation", "gateway", "dev")
try await manager.createRoute(gateway, url: "http://gateway-service.dev.svc.cluster.local:4100")
await show("after re-creation on 4100", "gateway", "dev")

// Bad input is refused with an error that names the field and the rule; nothing is written.
do {
    try await manager.createRoute(gateway, url: "http://admin:hunter2@gateway-service:4100/")
} catch TrafficManagerError.Code.invalidInput {
    print("\nrefused: a URL with user info (the route still resolves to the old URL)")
}

print("\nMetrics:")
for name in [
    TrafficManagerMetrics.Name.resolveRequests, TrafficManagerMetrics.Name.cacheHits,
    TrafficManagerMetrics.Name.negativeCacheHits, TrafficManagerMetrics.Name.cacheMisses,
    TrafficManagerMetrics.Name.writeRequests, TrafficManagerMetrics.Name.writeSuccesses,
    TrafficManagerMetrics.Name.writeFailures,
] {
    let label = TrafficManagerMetrics.defaultPrefix + name
    print("  \(label.padding(toLength: 42, withPad: " ", startingAt: 0)) \(metrics.counterTotal(label: label))")
}
for name in [TrafficManagerMetrics.Name.resolveLatency, TrafficManagerMetrics.Name.writeLatency] {
    let label = TrafficManagerMetrics.defaultPrefix + name
    let values = (try? metrics.expectTimer(label).values) ?? []
    let median = values.sorted()[values.count / 2]
    print("  \(label.padding(toLength: 42, withPad: " ", startingAt: 0)) \(values.count) samples, median \(Double(median) / 1000) µs")
}
