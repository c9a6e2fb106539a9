import Foundation
import Testing
import TrafficManager
import TrafficManagerKafka
import TrafficManagerTestKit

/// Shutdown never leaves a publish waiting.
@Suite(.timeLimit(.minutes(1))) struct KafkaShutdownTests {
    @Test func aPublishInFlightAtShutdownFailsAndShutdownReturnsAfterTheGracePeriod() async throws {
        // No broker listens here: the message stays queued until it is purged.
        let publisher = try KafkaEventPublisher(
            configuration: KafkaConfiguration(bootstrapServers: "127.0.0.1:1", deliveryTimeout: .seconds(60)),
            flushTimeout: .milliseconds(200))
        let event = RouteEvent(
            eventID: UUID(), action: .created, route: try UniqueNames.route(), url: "http://a:1", revision: 1,
            occurredAt: Date())
        let inFlight = Task { try await publisher.publish(event) }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        await publisher.shutdown()
        #expect(start.duration(to: .now) < .seconds(2), "shutdown took \(start.duration(to: .now))")
        let error = await #expect(throws: TrafficManagerError.self) { try await inFlight.value }
        #expect(error?.code == .eventsUnavailable)
        let after = await #expect(throws: TrafficManagerError.self) { try await publisher.publish(event) }
        #expect(after?.code == .eventsUnavailable)
    }
}

/// A consumer stops within its shutdown timeout whatever the broker does.
@Suite(.timeLimit(.minutes(2))) struct KafkaSourceShutdownBoundTests {
    enum Fault: CaseIterable, Sendable { case down, frozen }

    @Test(arguments: Fault.allCases) func aConsumerStopsWithinItsShutdownTimeout(_ fault: Fault) async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        defer { cluster.shutdown() }
        let configuration = try kafkaConfiguration(cluster)
        let publisher = try KafkaEventPublisher(configuration: configuration, flushTimeout: .milliseconds(200))
        let source = KafkaEventSource(configuration: configuration, shutdownTimeout: .seconds(1))
        let received = ConcurrentCount()
        let consumer = Task { try await source.consume(group: "shutdown-\(UUID())") { _ in received.bump() } }
        let event = RouteEvent(
            eventID: UUID(), action: .created, route: try UniqueNames.route(), url: "http://a:1", revision: 1, occurredAt: Date())
        try await publisher.publish(event)
        #expect(try await eventually(timeout: .seconds(30)) { received.current == 1 })
        await publisher.shutdown()

        switch fault {
        case .down: cluster.setBrokersAvailable(false)
        case .frozen: cluster.setResponseDelay(.seconds(60))
        }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        consumer.cancel()
        _ = try? await consumer.value
        let took = start.duration(to: .now)
        #expect(took < .seconds(1) + .milliseconds(750), "the consumer took \(took) to stop")
        cluster.setResponseDelay(.zero)
    }
}
