import Foundation
import MetricsTestKit
import Synchronization
import TrafficManager
import TrafficManagerTestKit

/// A TrafficManager on in-memory backends, with a manual clock, recorded metrics and logs.
struct Harness {
    let time = ManualTimeSource()
    let store: InMemoryRouteStore
    let cache: InMemoryRouteCache
    let bus = InMemoryEventBus(redeliveryDelay: .milliseconds(1))
    let metrics = TestMetrics()
    let logs = LogRecorder()
    let manager: TrafficManager
    let configuration: TrafficManagerConfiguration

    init(configuration: TrafficManagerConfiguration = .init()) {
        store = InMemoryRouteStore(time: time)
        cache = InMemoryRouteCache(time: time)
        self.configuration = configuration
        manager = TrafficManager(
            store: store, cache: cache, publisher: bus, configuration: configuration, logger: logs.logger(),
            metricsFactory: metrics, time: time)
    }

    func counter(_ name: String) -> Int64 {
        metrics.counterTotal(label: configuration.metricsPrefix + name)
    }

    func timerCount(_ name: String) -> Int {
        (try? metrics.expectTimer(configuration.metricsPrefix + name).values.count) ?? 0
    }

    /// The counters of the read path: requests, hits, negative hits, misses.
    var readCounters: [Int64] {
        [
            counter(TrafficManagerMetrics.Name.resolveRequests), counter(TrafficManagerMetrics.Name.cacheHits),
            counter(TrafficManagerMetrics.Name.negativeCacheHits), counter(TrafficManagerMetrics.Name.cacheMisses),
        ]
    }

    /// The counters of the write path: requests, successes, failures.
    var writeCounters: [Int64] {
        [
            counter(TrafficManagerMetrics.Name.writeRequests), counter(TrafficManagerMetrics.Name.writeSuccesses),
            counter(TrafficManagerMetrics.Name.writeFailures),
        ]
    }
}

let chatProd = try! RouteID(tenant: "chat-app", service: "chat", environment: "prod", version: "v1")
let authStaging = try! RouteID(tenant: "chat-app", service: "auth", environment: "staging", version: "v1")

/// Errors thrown by `body`, as a TrafficManagerError.
func managerError(_ body: () async throws -> some Any) async -> TrafficManagerError? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error as? TrafficManagerError
    }
}

