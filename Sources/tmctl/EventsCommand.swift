import ArgumentParser
import Foundation
import TrafficManager
import TrafficManagerKafka

/// `tmctl events …`.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "events", abstract: "Follow route events.", subcommands: [TailEvents.self])
}

/// `tmctl events tail`: prints route events from Kafka as they arrive.
struct TailEvents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print route events as they arrive on the Kafka topic, until interrupted.",
        discussion: """
            It reads as a consumer group of its own (tmctl-tail-…), so it takes nothing from the \
            consumers that invalidate caches or keep the audit log.
            """)

    @Flag(name: .customLong("from-beginning"), help: "Start with the oldest event the topic keeps, not the next new one.")
    var fromBeginning = false
    @Option(help: "Stop after this many events.") var count: Int?
    @Option(help: "Only this tenant's events.") var tenant: String?
    @Flag(help: "Print one JSON object per line.") var json = false
    @OptionGroup var kafka: KafkaOptions
    @OptionGroup var log: LogOptions

    func validate() throws {
        if let count, count < 1 { throw ArgumentParser.ValidationError("--count must be at least 1") }
    }

    func run() async throws {
        try await reportingFailures {
            let servers = try kafka.requireBootstrapServers(for: "events tail")
            let configuration = KafkaConfiguration(
                bootstrapServers: servers, topic: kafka.topicName, clientID: "tmctl",
                properties: ["auto.offset.reset": fromBeginning ? "earliest" : "latest", "fetch.wait.max.ms": "100"])
            let source = KafkaEventSource(configuration: configuration, logger: try log.logger())
            let group = "tmctl-tail-\(UUID().uuidString.prefix(8).lowercased())"
            Console.error("following \(kafka.topicName) at \(servers) as group \(group); Ctrl-C stops")
            var printed = 0
            for try await delivery in source.deliveries(group: group) {
                let event = delivery.event
                delivery.acknowledge()
                if let tenant, event.route.tenant != tenant { continue }
                if json {
                    Console.out(
                        RouteJSON.encode(
                            RouteJSON.Event(
                                eventId: event.eventID.uuidString.lowercased(), action: event.action.rawValue, route: event.route.description,
                                url: event.url, revision: event.revision, occurredAt: RouteJSON.timestamp(event.occurredAt))))
                } else {
                    Console.out("\(RouteJSON.timestamp(event.occurredAt))  \(event.action.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(event.route)  r\(event.revision)  \(event.url)")
                }
                printed += 1
                if let count, printed >= count { break }
            }
        }
    }
}
