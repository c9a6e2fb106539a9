import CoreMetrics
import Synchronization

/// A metrics backend that really records, without allocating per call: counters and timers are
/// atomics. Benchmarks run with it so that the figures include the cost of the metrics, as a
/// program with a real backend pays it.
final class RecordingMetrics: MetricsFactory, Sendable {
    final class Count: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler, Sendable {
        let total = Atomic<Int64>(0)
        let sum = Atomic<Int64>(0)
        func increment(by amount: Int64) { total.add(amount, ordering: .relaxed) }
        func increment(by amount: Double) { total.add(Int64(amount), ordering: .relaxed) }
        func reset() { total.store(0, ordering: .relaxed) }
        func set(_ value: Int64) { total.store(value, ordering: .relaxed) }
        func set(_ value: Double) { total.store(Int64(value), ordering: .relaxed) }
        func decrement(by amount: Double) { total.subtract(Int64(amount), ordering: .relaxed) }
        func record(_ value: Int64) {
            total.add(1, ordering: .relaxed)
            sum.add(value, ordering: .relaxed)
        }
        func record(_ value: Double) { record(Int64(value)) }
        func recordNanoseconds(_ duration: Int64) { record(duration) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Count() }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler { Count() }
    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler { Count() }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Count() }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Count() }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
