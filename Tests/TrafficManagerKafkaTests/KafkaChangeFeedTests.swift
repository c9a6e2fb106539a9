import Foundation
import Testing
import TrafficManager
import TrafficManagerKafka
import TrafficManagerTestKit

/// What a follower saw: changes and caught-up marks, with when each arrived.
private final class FeedRecord: Sendable {
    private let state = Locked<(changes: [RouteEvent], marks: [ContinuousClock.Instant])>(([], []))

    func observe(_ element: RouteChangeFeedElement) {
        state.withLock { state in
            switch element {
            case .change(let event): state.changes.append(event)
            case .caughtUp: state.marks.append(.now)
            }
        }
    }

    var changes: [RouteEvent] { state.withLock { $0.changes } }
    var markCount: Int { state.withLock { $0.marks.count } }
    var lastMark: ContinuousClock.Instant? { state.withLock { $0.marks.last } }
}

@Suite(.timeLimit(.minutes(3))) struct KafkaChangeFeedTests {
    private func event(_ route: RouteID, revision: UInt64) -> RouteEvent {
        RouteEvent(eventID: UUID(), action: .updated, route: route, url: "http://\(route.service):\(revision)", revision: revision, occurredAt: Date())
    }

    @Test func aFollowerReadsEveryPartitionWithoutAGroupAndProvesItIsCaughtUp() async throws {
        let cluster = try #require(sharedCluster)
        let configuration = try kafkaConfiguration(cluster)  // 4 partitions
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let feed = KafkaChangeFeed(configuration: configuration, probeInterval: .milliseconds(50))
        let record = FeedRecord()
        let following = Task { try await feed.follow(record.observe) }
        defer { following.cancel() }
        #expect(try await eventually(timeout: .seconds(30)) { record.markCount > 0 })

        var sent: [RouteEvent] = []
        for index in 0..<40 {
            let route = try RouteID(tenant: "chat-app", service: "svc\(index)", environment: "prod", version: "v1")
            sent.append(event(route, revision: 1))
        }
        for event in sent { try await publisher.publish(event) }
        let count = sent.count
        // A second follower, of the same topic at the same time, gets everything too: no group
        // splits the partitions between them.
        #expect(try await eventually(timeout: .seconds(30)) { record.changes.count == count })
        #expect(Set(record.changes.map(\.eventID)) == Set(sent.map(\.eventID)))
        let before = record.markCount
        #expect(try await eventually(timeout: .seconds(10)) { record.markCount > before + 3 })
        await publisher.shutdown()
    }

    @Test func theKafkaFeedPassesTheChangeFeedContract() async throws {
        let cluster = try #require(sharedCluster)
        let configuration = try kafkaConfiguration(cluster)
        let publisher = try KafkaEventPublisher(configuration: configuration)
        try await ChangeFeedContract {
            (feed: KafkaChangeFeed(configuration: configuration, probeInterval: .milliseconds(50)), publish: { try await publisher.publish($0) })
        }.run()
        await publisher.shutdown()
    }

    @Test func twoFollowersEachGetEveryChange() async throws {
        let cluster = try #require(sharedCluster)
        let configuration = try kafkaConfiguration(cluster)
        let publisher = try KafkaEventPublisher(configuration: configuration)
        let records = [FeedRecord(), FeedRecord()]
        let tasks = records.map { record in
            Task { try await KafkaChangeFeed(configuration: configuration, probeInterval: .milliseconds(50)).follow(record.observe) }
        }
        defer { for task in tasks { task.cancel() } }
        #expect(try await eventually(timeout: .seconds(30)) { records.allSatisfy { $0.markCount > 0 } })
        for index in 0..<20 {
            try await publisher.publish(event(try RouteID(tenant: "t", service: "s\(index)", environment: "prod", version: "v1"), revision: 1))
        }
        #expect(try await eventually(timeout: .seconds(30)) { records.allSatisfy { $0.changes.count == 20 } })
        await publisher.shutdown()
    }

    enum Fault: CaseIterable, Sendable { case brokerDown, pathFrozen }

    @Test(arguments: Fault.allCases) func withTheBrokerDownOrFrozenNoProofComesAndProofsResumeAfter(_ fault: Fault) async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        defer { cluster.shutdown() }
        let configuration = try kafkaConfiguration(cluster)
        let feed = KafkaChangeFeed(configuration: configuration, probeInterval: .milliseconds(50), probeTimeout: .milliseconds(200))
        let record = FeedRecord()
        let following = Task { try await feed.follow(record.observe) }
        defer { following.cancel() }
        #expect(try await eventually(timeout: .seconds(30)) { record.markCount > 2 })

        switch fault {
        case .brokerDown: cluster.setBrokersAvailable(false)
        case .pathFrozen: cluster.setResponseDelay(.seconds(30))
        }
        let cut = ContinuousClock.now
        try await Task.sleep(for: .seconds(2))
        // Probes begun before the cut may still be reached just after it; none later.
        let last = try #require(record.lastMark)
        #expect(last < cut + .milliseconds(500), "a proof arrived \(cut.duration(to: last)) after the cut")

        switch fault {
        case .brokerDown: cluster.setBrokersAvailable(true)
        case .pathFrozen: cluster.setResponseDelay(.zero)
        }
        let count = record.markCount
        #expect(try await eventually(timeout: .seconds(30)) { record.markCount > count })
    }

    @Test func aMessageThatIsNotARouteEventIsCountedAndTheFeedGoesOn() async throws {
        let cluster = try #require(sharedCluster)
        let configuration = try kafkaConfiguration(cluster)
        let letters = Locked<[UndecodableEvent]>([])
        let record = FeedRecord()
        let feed = KafkaChangeFeed(configuration: configuration, probeInterval: .milliseconds(50), deadLetters: { letter in
            letters.withLock { $0.append(letter) }
        })
        let following = Task { try await feed.follow(record.observe) }
        defer { following.cancel() }
        #expect(try await eventually(timeout: .seconds(30)) { record.markCount > 0 })
        await RawKafka.produce(["not json"], topic: configuration.topic, bootstrap: configuration.bootstrapServers)
        let publisher = try KafkaEventPublisher(configuration: configuration)
        try await publisher.publish(event(try UniqueNames.route(), revision: 1))
        #expect(try await eventually(timeout: .seconds(30)) { record.changes.count == 1 && letters.withLock { $0.count } == 1 })
        await publisher.shutdown()
    }
}

/// A follow's shutdown bound, in a test-script phase of its own (other suites beside it would
/// starve it, and its frozen broker would starve them).
@Suite(.timeLimit(.minutes(2))) struct KafkaChangeFeedShutdownBoundTests {
    @Test func cancellingAFollowReturnsPromptlyEvenWithTheBrokerFrozen() async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        defer { cluster.shutdown() }
        let configuration = try kafkaConfiguration(cluster)
        let feed = KafkaChangeFeed(configuration: configuration, probeInterval: .milliseconds(50), shutdownTimeout: .seconds(1))
        let record = FeedRecord()
        let following = Task { try await feed.follow(record.observe) }
        #expect(try await eventually(timeout: .seconds(30)) { record.markCount > 0 })
        cluster.setResponseDelay(.seconds(60))
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        following.cancel()
        _ = try? await following.value
        #expect(start.duration(to: .now) < .seconds(1) + .milliseconds(750))
        cluster.setResponseDelay(.zero)
    }
}

/// The near cache over a Kafka change feed: with the broker down or its path frozen, memory
/// stops answering within the stated bound, and answers again once the feed proves itself.
@Suite(.timeLimit(.minutes(3))) struct NearCacheOverKafkaTests {
    enum Fault: CaseIterable, Sendable { case brokerDown, pathFrozen }

    @Test(arguments: Fault.allCases) func memoryStopsAnsweringWithinTheBoundWhileTheStreamIsCut(_ fault: Fault) async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        defer { cluster.shutdown() }
        let configuration = try kafkaConfiguration(cluster)
        let feed = KafkaChangeFeed(configuration: configuration, probeInterval: .milliseconds(50), probeTimeout: .milliseconds(200))
        let bound = NearCacheConfiguration(maxLag: .milliseconds(500), unprovenTTL: .milliseconds(100))
        let manager = TrafficManager(
            store: InMemoryRouteStore(), cache: InMemoryRouteCache(), publisher: InMemoryEventBus(), changeFeed: feed,
            configuration: .init(nearCache: bound))
        let following = Task { try await manager.changeFeedService!.run() }
        defer { following.cancel() }
        let route = try UniqueNames.route()
        try await manager.createRoute(route, url: "http://chat:4002")
        var proven = false
        for _ in 0..<600 where !proven {
            proven = try await manager.resolution(route).source == .nearCache
            if !proven { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(proven, "the near cache never answered")

        switch fault {
        case .brokerDown: cluster.setBrokersAvailable(false)
        case .pathFrozen: cluster.setResponseDelay(.seconds(30))
        }
        let cut = ContinuousClock.now
        // Past maxLag (plus a probe in flight at the cut, and unprovenTTL for an entry the
        // resolves themselves refill), memory no longer answers.
        try await Task.sleep(for: .milliseconds(500 + 300 + 100))
        var fromMemory = 0
        for _ in 0..<50 {
            if try await manager.resolution(route).source == .nearCache { fromMemory += 1 }
            try await Task.sleep(for: .milliseconds(20))
        }
        // What the resolves refill from the shared cache is as old as the shared entry's store
        // read (seconds by now), so it is not young enough to serve without a proof either.
        #expect(fromMemory == 0, "\(fromMemory) of 50 answers came from memory \(cut.duration(to: .now)) after the cut")

        switch fault {
        case .brokerDown: cluster.setBrokersAvailable(true)
        case .pathFrozen: cluster.setResponseDelay(.zero)
        }
        var back = false
        for _ in 0..<600 where !back {
            // Two memory answers in a row, 200 ms apart: proven again, not merely young.
            let first = try await manager.resolution(route).source
            try await Task.sleep(for: .milliseconds(200))
            let second = try await manager.resolution(route).source
            back = first == .nearCache && second == .nearCache
        }
        #expect(back, "the near cache did not answer again after the stream came back")
    }
}
