import Foundation
import Testing
import TrafficManager
import TrafficManagerKafka
import TrafficManagerTestKit

/// librdkafka's mock cluster, in this process, for the tool to connect to over loopback.
let mockCluster: KafkaMockCluster? = try? KafkaMockCluster()

/// `tmctl events tail` and `tmctl relay`, run as the built binary against a mock Kafka cluster.
@Suite(.enabled(if: servicesRun && mockCluster != nil, "needs PostgreSQL, Redis and librdkafka's mock cluster"))
struct TmctlEventCommandTests {
    private func topic() throws -> String {
        let name = "route-events-\(UUID().uuidString.prefix(8).lowercased())"
        try mockCluster!.createTopic(name, partitions: 2)
        return name
    }

    private func publish(_ events: [RouteEvent], topic: String) async throws {
        let publisher = try KafkaEventPublisher(configuration: .init(bootstrapServers: mockCluster!.bootstrapServers, topic: topic))
        for event in events { try await publisher.publish(event) }
        await publisher.shutdown()
    }

    private func event(_ route: RouteID, revision: UInt64) -> RouteEvent {
        RouteEvent(
            eventID: UUID(), action: revision == 1 ? .created : .updated, route: route, url: "http://chat:\(revision)", revision: revision,
            occurredAt: Date(unixMilliseconds: 1_780_000_000_000 + Int64(revision)))
    }

    @Test func tailPrintsEventsFromTheBeginningAsJSONLines() async throws {
        let topic = try topic()
        let route = try UniqueNames.route()
        let events = [event(route, revision: 1), event(route, revision: 2)]
        try await publish(events, topic: topic)
        let outcome = try await Tmctl().run(
            ["events", "tail", "--from-beginning", "--count", "2", "--json", "--kafka-bootstrap", mockCluster!.bootstrapServers, "--kafka-topic", topic])
        #expect(outcome.status == 0, "\(outcome)")
        let lines = try outcome.lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(lines.map { $0["revision"] as? Int } == [1, 2], "\(outcome)")
        #expect(lines.map { $0["event_id"] as? String } == events.map { $0.eventID.uuidString.lowercased() })
        #expect(lines.first?["route"] as? String == route.description && lines.first?["action"] as? String == "created")
        #expect(lines.first?["occurred_at"] as? String == "2026-05-28T20:26:40.001Z", "\(outcome)")
    }

    @Test func tailFollowsNewEventsLiveAndFiltersByTenant() async throws {
        let topic = try topic()
        let other = try UniqueNames.route()
        let route = try UniqueNames.route()
        let tail = try Tmctl().start(
            ["events", "tail", "--count", "1", "--tenant", route.tenant, "--kafka-bootstrap", mockCluster!.bootstrapServers, "--kafka-topic", topic])
        #expect(try await tail.waitFor("following \(topic)"))
        // It starts at the end of the topic once its group is assigned: publish until it prints.
        var revision: UInt64 = 0
        while !tail.standardOutput.contains(route.description) && revision < 100 {
            revision += 1
            try await publish([event(other, revision: revision), event(route, revision: revision)], topic: topic)
            try await Task.sleep(for: .milliseconds(300))
        }
        let outcome = try await tail.finish(within: .seconds(20))
        #expect(outcome.status == 0, "\(outcome)")
        #expect(outcome.lines.count == 1 && outcome.lines[0].contains("\(route)  r") && !outcome.output.contains(other.tenant), "\(outcome)")
    }

    @Test func eventCommandsWithoutKafkaExitWith64() async throws {
        for command in [["events", "tail"], ["relay"]] {
            let outcome = try await Tmctl().run(command)
            #expect(outcome.status == 64 && outcome.errors.contains("needs Kafka: pass --kafka-bootstrap or set TM_KAFKA_BOOTSTRAP"), "\(outcome)")
        }
        let bound = try await Tmctl().run(["relay", "--lease-duration", "5s", "--publish-bound", "5s"])
        #expect(bound.status == 64 && bound.errors.contains("must be shorter than --lease-duration"), "\(bound)")
    }

    @Test func twoRelaysTakeTurnsOnTheLeaseAndEachEventIsPublished() async throws {
        let topic = try topic()
        var tool = Tmctl()
        tool.environment["TM_KAFKA_TOPIC"] = topic
        tool.environment["TM_LOG_LEVEL"] = "info"
        try await tool.migrate()
        let relayArguments = ["relay", "--kafka-bootstrap", mockCluster!.bootstrapServers, "--grace-period", "0s", "--interval", "100ms",
            "--lease-duration", "3s", "--publish-bound", "1s"]
        let first = try tool.start(relayArguments + ["--holder", "relay-a"])
        #expect(try await first.waitFor("holding the relay lease; publishing"), "\(first.standardError)")
        let second = try tool.start(relayArguments + ["--holder", "relay-b"])
        #expect(try await second.waitFor("another relay holds the lease; standing by"), "\(second.standardError)")

        // Writes without Kafka leave their events in the outbox, for the relay.
        let route = "\(UniqueNames.tenant())/chat/prod@v1"
        #expect(try await tool.run(["routes", "create", route, "http://chat:1"]).status == 0)
        let tailArguments = ["events", "tail", "--from-beginning", "--json", "--kafka-bootstrap", mockCluster!.bootstrapServers]
        let firstEvent = try await tool.run(tailArguments + ["--count", "1"], timeout: .seconds(30))
        #expect(firstEvent.output.contains("\"revision\":1"), "\(firstEvent)")

        first.signal(SIGTERM)
        let stopped = try await first.finish(within: .seconds(20))
        #expect(stopped.status == 0 && stopped.errors.contains("relay stopped"), "\(stopped)")
        #expect(try await second.waitFor("holding the relay lease; publishing", timeout: .seconds(10)), "\(second.standardError)")
        #expect(try await tool.run(["routes", "create", route, "http://chat:2"]).status == 0)
        let both = try await tool.run(tailArguments + ["--count", "2"], timeout: .seconds(30))
        let revisions = both.lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["revision"] as? Int }
        #expect(revisions == [1, 2], "\(both)")
        // Relay A published only while it held the lease, and B only after: no event twice.
        let extra = try tool.start(tailArguments + ["--count", "3"])
        #expect(try await extra.waitFor("\"revision\":2"), "\(extra.standardError)")
        try await Task.sleep(for: .seconds(2))
        #expect(extra.standardOutput.split(separator: "\n").count == 2, "an event was published twice: \(extra.standardOutput)")
        extra.signal(SIGKILL)
        _ = try await extra.finish(within: .seconds(10))
        second.signal(SIGINT)
        let secondStopped = try await second.finish(within: .seconds(20))
        #expect(secondStopped.status == 0 && secondStopped.errors.contains("relay stopped"), "\(secondStopped)")
    }
}
