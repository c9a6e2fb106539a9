import Logging
import ServiceLifecycle
import Testing
import TrafficManager
import TrafficManagerTestKit
@testable import TrafficManagerConnectionRuntime

/// The run-and-shutdown shim both adapters share: threads live exactly while `run()` does.
@Suite struct ConnectionThreadGroupTests {
    /// A group of `count` runtimes over mock connections, and the runtimes.
    static func group(_ count: Int, timeout: Duration = .seconds(5)) -> (ConnectionThreadGroup, [ConnectionThread<MockConnection>]) {
        let control = MockConnection.Control()
        let runtimes = (0..<count).map { _ in
            ConnectionThread<MockConnection>(
                configuration: .init(maximumQueueDepth: 100, maximumBatchSize: 16, initialBackOff: .milliseconds(10), maximumBackOff: .milliseconds(100)),
                connectTimeout: .seconds(1), makeError: { failure, _ in RuntimeFailure(failure: failure) })
        }
        let group = ConnectionThreadGroup(
            name: "the test adapter",
            members: runtimes.enumerated().map { index, runtime in
                .thread(runtime, name: "tm-test-\(index)") { MockConnection(control: control) }
            })
        return (group, runtimes)
    }

    @Test func noThreadRunsBeforeRunAndNoneOutlivesShutdown() async throws {
        let (group, runtimes) = Self.group(3)
        #expect(group.runningThreadCount == 0)
        let run = Task { try await group.run() }
        #expect(try await eventually(timeout: .seconds(10)) { group.runningThreadCount == 3 })
        for runtime in runtimes { #expect(try await runtime.send(5, timeout: .seconds(5)) == 5) }
        await group.shutdown()
        #expect(group.runningThreadCount == 0)
        try await run.value
        await #expect(throws: RuntimeFailure(failure: .notRunning)) { try await runtimes[0].send(1, timeout: .seconds(1)) }
    }

    @Test func aCallBeforeRunWaitsForItWithinItsDeadline() async throws {
        let (group, runtimes) = Self.group(1)
        let early = Task { try await runtimes[0].send(7, timeout: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(100))
        let run = Task { try await group.run() }
        #expect(try await early.value == 7)
        await group.shutdown()
        try await run.value
    }

    @Test func aCallToAGroupNeverRunFailsAsNotRunningAtItsDeadline() async throws {
        let (_, runtimes) = Self.group(1)
        let start = ContinuousClock.now
        await #expect(throws: RuntimeFailure(failure: .notRunning)) { try await runtimes[0].send(7, timeout: .milliseconds(200)) }
        #expect(start.duration(to: .now) >= .milliseconds(200))
    }

    @Test func cancellingRunStopsTheThreads() async throws {
        let (group, _) = Self.group(2)
        let run = Task { try await group.run() }
        #expect(try await eventually(timeout: .seconds(10)) { group.runningThreadCount == 2 })
        run.cancel()
        try await run.value
        #expect(group.runningThreadCount == 0)
    }

    @Test func aServiceGroupsGracefulShutdownEndsRun() async throws {
        let (threads, runtimes) = Self.group(2)
        let services = ServiceGroup(
            services: [Hosted(group: threads)], gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            #expect(try await runtimes[1].send(3, timeout: .seconds(10)) == 3)
            await services.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(threads.runningThreadCount == 0)
    }

    @Test func runAfterShutdownThrowsNotRunning() async throws {
        let (group, runtimes) = Self.group(1)
        await group.shutdown()
        await #expect(throws: TrafficManagerError.self) { try await group.run() }
        #expect(group.runningThreadCount == 0)
        await #expect(throws: RuntimeFailure(failure: .notRunning)) { try await runtimes[0].send(1, timeout: .seconds(1)) }
    }

    /// A service hosting the group, as an adapter does.
    struct Hosted: Service {
        let group: ConnectionThreadGroup
        func run() async throws { try await group.run() }
    }
}
