import Foundation
import Histogram
import TrafficManager
import TrafficManagerKafka

/// Sustained publishing: concurrent publishers, each awaiting its broker acknowledgement.
enum PublishWorkload {
    static func run(concurrency: Int, duration: Duration, quiet: Bool) async throws {
        let cluster = try KafkaMockCluster(brokers: 1)
        try cluster.createTopic("route-events", partitions: 4)
        let publisher = try KafkaEventPublisher(configuration: .init(bootstrapServers: cluster.bootstrapServers))
        let routes = try (0..<256).map { try RouteID(tenant: "load", service: "svc\($0)", environment: "prod", version: "v1") }
        let start = ContinuousClock.now
        let deadline = start + duration
        var total = Workload.Result(operations: 0, errors: 0, elapsed: .zero, latency: Workload.histogram())
        try await withThrowingTaskGroup(of: Workload.Result.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var result = Workload.Result(operations: 0, errors: 0, elapsed: .zero, latency: Workload.histogram())
                    var revision: UInt64 = 0
                    while ContinuousClock.now < deadline {
                        revision += 1
                        let event = RouteEvent(
                            eventID: UUID(), action: .updated, route: routes[(worker + Int(revision)) % routes.count],
                            url: "http://svc.load.internal:\(8000 + revision % 1000)", revision: revision, occurredAt: Date())
                        let began = ContinuousClock.now
                        do { try await publisher.publish(event) } catch { result.errors += 1 }
                        _ = result.latency.record(UInt64(max(1, began.duration(to: .now).components.attoseconds / 1_000_000_000)))
                        result.operations += 1
                    }
                    return result
                }
            }
            for try await part in group {
                total.operations += part.operations
                total.errors += part.errors
                total.latency.add(part.latency)
            }
        }
        total.elapsed = start.duration(to: .now)
        await publisher.shutdown()
        cluster.shutdown()
        total.print(quiet: quiet, label: "publish to the mock cluster c=\(concurrency)")
    }
}
