import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import TrafficManager
import TrafficManagerKafka
import TrafficManagerPostgres

/// `tmctl relay`: the outbox relay as a long-lived process.
struct RelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Publish committed events nobody published (the outbox relay), until SIGTERM or Ctrl-C.",
        discussion: """
            Relays hold a lease in PostgreSQL (the tm_leases table), so of several relays only one \
            publishes at a time; the others stand by and take over within one lease duration when it \
            stops, at once when it shuts down cleanly.
            """)

    @Option(help: "This relay's name among the relays (default: host name and process id).") var holder: String?
    @Option(name: .customLong("lease-duration"), help: "How long one take of the lease lasts.")
    var leaseDuration = DurationArgument(.seconds(30), "30s")
    @Option(name: .customLong("publish-bound"), help: "Start no publish with less than this much of the lease left.")
    var publishBound = DurationArgument(.seconds(15), "15s")
    @Option(help: "The pause between rounds.") var interval = DurationArgument(.seconds(1), "1s")
    @Option(name: .customLong("grace-period"), help: "How old an unpublished event must be before the relay takes it.")
    var gracePeriod = DurationArgument(.seconds(5), "5s")
    @Option(name: .customLong("batch-size"), help: "The most events one round publishes.") var batchSize = 100
    @OptionGroup var store: StoreOptions
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard batchSize >= 1 else { throw ArgumentParser.ValidationError("--batch-size must be at least 1") }
        guard publishBound.duration < leaseDuration.duration else {
            throw ArgumentParser.ValidationError("--publish-bound (\(publishBound)) must be shorter than --lease-duration (\(leaseDuration))")
        }
    }

    func run() async throws {
        try await reportingFailures {
            let servers = try kafka.requireBootstrapServers(for: "relay")
            let logger = try log.logger(defaultLevel: .info)
            let store = PostgresRouteStore(configuration: try store.configuration(), logger: logger)
            let publisher = try KafkaEventPublisher(configuration: .init(bootstrapServers: servers, topic: kafka.topicName), logger: logger)
            let name = holder ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"
            let relay = OutboxRelay(
                outbox: store, publisher: publisher,
                configuration: .init(gracePeriod: gracePeriod.duration, interval: interval.duration, batchSize: batchSize),
                lease: .init(store: store, holder: name, duration: leaseDuration.duration, publishBound: publishBound.duration),
                logger: logger)
            logger.info("relay starting", metadata: ["holder": "\(name)", "topic": "\(kafka.topicName)"])
            // The relay comes last, so on shutdown it stops (and releases its lease) before the
            // store and the publisher go.
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: store), .init(service: publisher), .init(service: relay)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            logger.info("relay stopped", metadata: ["holder": "\(name)"])
        }
    }
}
