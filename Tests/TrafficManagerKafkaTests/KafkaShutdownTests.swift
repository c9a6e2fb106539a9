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
