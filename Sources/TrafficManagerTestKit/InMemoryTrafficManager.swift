import CoreMetrics
import Logging
import TrafficManager

/// A `TrafficManager/TrafficManager` on the in-memory backends, every part on one manual
/// clock — the one call a test of your own code needs:
///
/// ```swift
/// let routes = InMemoryTrafficManager()
/// try await routes.manager.createRoute(route, url: "http://chat:4002")
/// routes.advance(by: .seconds(61))          // past the cache TTL, for store, cache and manager alike
/// #expect(try await routes.manager.resolve(route) == "http://chat:4002")
/// #expect(routes.bus.publishedEvents.count == 1)
/// ```
///
/// Inject faults through ``store``'s, ``cache``'s and ``bus``'s `faults`.
public struct InMemoryTrafficManager: Sendable {
    /// The clock every part reads.
    public let time: ManualTimeSource
    /// The source of truth.
    public let store: InMemoryRouteStore
    /// The shared cache.
    public let cache: InMemoryRouteCache
    /// The event bus the manager publishes to; consume from it to test your consumers.
    public let bus: InMemoryEventBus
    /// The manager over them.
    public let manager: TrafficManager

    /// Creates the backends and the manager.
    ///
    /// - Parameters:
    ///   - configuration: the manager's configuration.
    ///   - time: the clock; by default a new one starting at 2026-01-01T00:00:00Z.
    ///   - logger: the manager's logger; by default it logs nothing.
    ///   - metricsFactory: where metrics go (swift-metrics' `TestMetrics` records them); by
    ///     default nowhere.
    public init(
        configuration: TrafficManagerConfiguration = .init(), time: ManualTimeSource = ManualTimeSource(),
        logger: Logger = Logger(label: "TrafficManager", factory: { _ in SwiftLogNoOpLogHandler() }),
        metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.time = time
        store = InMemoryRouteStore(time: time)
        cache = InMemoryRouteCache(time: time)
        bus = InMemoryEventBus(redeliveryDelay: .milliseconds(1))
        manager = TrafficManager(
            store: store, cache: cache, publisher: bus, configuration: configuration, logger: logger, metricsFactory: metricsFactory,
            time: time)
    }

    /// Moves the shared clock forward.
    public func advance(by duration: Duration) {
        time.advance(by: duration)
    }
}
