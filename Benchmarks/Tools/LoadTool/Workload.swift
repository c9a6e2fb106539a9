import Foundation
import Histogram
import TrafficManager

/// The operations one run performs, split over concurrent tasks.
struct Workload: Sendable {
    let manager: TrafficManager
    let cache: any RouteCache
    let store: any RouteStore
    let routes: [RouteID]
    let kind: LoadCommand.Kind
    let hitRatio: Double
    let writeRatio: Double
    var yieldEvery = 0

    struct Result {
        var operations: UInt64
        var errors: UInt64
        var elapsed: Duration
        var latency: Histogram<UInt64>

        var perSecond: Double {
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Double(operations) / seconds
        }

        func print(quiet: Bool, label: String) {
            let percentiles = [50.0, 90.0, 99.0, 99.9].map { Double(latency.valueAtPercentile($0)) / 1000 }
            if quiet {
                Swift.print(
                    String(format: "%.0f %.1f %.1f %.1f %.1f %llu", perSecond, percentiles[0], percentiles[1], percentiles[2], percentiles[3], errors))
                return
            }
            Swift.print(
                String(
                    format: "%@: %.0f ops/s (%llu ops, %llu errors) latency µs p50 %.1f p90 %.1f p99 %.1f p99.9 %.1f",
                    label, perSecond, operations, errors, percentiles[0], percentiles[1], percentiles[2], percentiles[3]))
        }
    }

    func run(concurrency: Int, duration: Duration, executors: [any TaskExecutor], progress: Bool, timeline: Bool = false) async throws -> Result {
        let start = ContinuousClock.now
        let deadline = start + duration
        let counter = ProgressCounter(timeline: timeline)
        let reporter = progress || timeline ? Task { await counter.report(until: deadline) } : nil
        var merged = Result(operations: 0, errors: 0, elapsed: .zero, latency: Self.histogram())
        try await withThrowingTaskGroup(of: Result.self) { group in
            for worker in 0..<concurrency {
                group.addTask(executorPreference: executors.isEmpty ? nil : executors[worker % executors.count]) {
                    try await runWorker(worker, deadline: deadline, counter: counter)
                }
            }
            for try await part in group {
                merged.operations += part.operations
                merged.errors += part.errors
                merged.latency.add(part.latency)
            }
        }
        merged.elapsed = start.duration(to: .now)
        reporter?.cancel()
        if progress { Swift.print("") }
        return merged
    }

    private func runWorker(_ worker: Int, deadline: ContinuousClock.Instant, counter: ProgressCounter) async throws -> Result {
        var generator = SplitMix(seed: UInt64(worker) &* 0x9E37_79B9_7F4A_7C15 &+ 1)
        var result = Result(operations: 0, errors: 0, elapsed: .zero, latency: Self.histogram())
        var index = worker % routes.count
        while true {
            // Check the clock every 64 operations, not every one.
            if result.operations & 63 == 0 {
                if ContinuousClock.now >= deadline { break }
                counter.add(64)
            }
            if yieldEvery > 0, result.operations % UInt64(yieldEvery) == 0 { await Task.yield() }
            index = (index &+ 1 &+ Int(generator.next() % 7)) % routes.count
            let route = routes[index]
            let roll = Double(generator.next() >> 11) / Double(1 << 53)
            let began = ContinuousClock.now
            do {
                if kind == .lookup {
                    _ = try await store.lookup(route)
                } else if kind == .create {
                    let port = 8080 + Int(generator.next() % 2)
                    let url = "http://svc\(index).load.internal:\(port)"
                    _ = try await store.apply(try RouteCommand(route: route, operation: .upsert(url: url)), idempotencyKey: nil)
                } else if roll < writeRatio {
                    try await manager.createRoute(route, url: "http://svc\(index).load.internal:\(8080 + Int(generator.next() % 1000))")
                } else {
                    if hitRatio < 1, roll - writeRatio < (1 - hitRatio) * (1 - writeRatio) {
                        try await cache.invalidate(route, revision: try await store.lookup(route).revision, ttl: .seconds(30))
                    }
                    _ = try await manager.resolve(route)
                }
            } catch {
                result.errors += 1
                counter.addError()
            }
            let nanoseconds = began.duration(to: .now).components.attoseconds / 1_000_000_000
            _ = result.latency.record(UInt64(max(1, nanoseconds)))
            counter.recordSlowest(UInt64(max(1, nanoseconds)))
            result.operations += 1
        }
        return result
    }

    static func histogram() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }
}

/// A small, fast, seedable random generator, so workers do not contend on one.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
